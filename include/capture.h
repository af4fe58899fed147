/* capture.h - packets from a live interface or a capture file, decoded. */
#ifndef DOSIPS_CAPTURE_H
#define DOSIPS_CAPTURE_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "decode.h"

struct sock_fprog;

#define CAPTURE_WAIT_AUTO UINT32_MAX

struct capture_cfg {
	const char *iface;      /* live interface, or NULL with file */
	const char *file;       /* capture file to replay ("-" stdin) */
	uint32_t snaplen;
	uint32_t buffer_kb;
	uint32_t wait_ms;       /* live: 0 immediate mode, CAPTURE_WAIT_AUTO
				   immediate while quiet, read every ms while
				   busy; else the longest a packet waits for
				   others to be read with (kernel blocks) */
	int inbound_only;       /* live: keep only packets to this host */
	int both_ways;          /* live: both directions, in Linux cooked v2
				   frames (which tell them apart) if offered */
	const struct sock_fprog *fanout_prog; /* live: join PACKET_FANOUT group
				   fanout_id, members chosen by this cBPF */
	uint16_t fanout_id;
};

/* Per-protocol and per-reason counts, plus the kernel's. */
struct capture_stats {
	uint64_t frames;                  /* frames handed to decode */
	uint64_t bytes;                   /* wire bytes of those frames */
	uint64_t decoded[DEC__MAX];       /* [DEC_OK] = decoded IP packets */
	uint64_t tcp, udp, icmp, icmp6, other, ipv4, ipv6, frags;
	uint64_t proto_bytes[5];          /* IP bytes: other, tcp, udp, icmp, icmp6 */
	uint64_t kernel_recv, kernel_drop, iface_drop;
	uint64_t reads;                   /* live: times the capture was read */
	int have_kernel;                  /* pcap_stats answered */
	uint64_t file_dir;                /* pcapng replay: packets with a recorded direction */
	int have_file_dir;                /* a pcapng replay */
};

/* Receives decoded packets n at a time, in capture order: up to a
 * thousand or so, each batch handed on before capture returns to the loop. */
typedef void (*capture_batch_cb)(const struct pkt *p, size_t n, void *ctx);

/* Called once when a replayed file ends, or live capture breaks. */
typedef void (*capture_eof_cb)(void *ctx);

struct capture;

/* Opens the source and arms its watcher on loop. On failure returns
 * -errno and a sentence for a person in err. */
int capture_open(struct ev_loop *loop, const struct capture_cfg *cfg, capture_batch_cb cb,
		 capture_eof_cb eof, void *ctx, struct capture **out,
		 char *err, size_t errlen);


/* Refreshes kernel counters and copies the stats. */
void capture_get_stats(struct capture *c, struct capture_stats *st);

/* True once live capture broke (device gone or down); the eof callback
 * has been called. */
int capture_failed(const struct capture *c);

/* Why capture or a replay ended early (libpcap's words), or "" when it
 * did not; for the caller to report once the eof callback came. */
const char *capture_error(const struct capture *c);

/* The pcap link type (DLT_ value). */
int capture_dlt(const struct capture *c);

/* The link type name ("EN10MB", ...). */
const char *capture_link_name(const struct capture *c);

/* Stops the watcher and closes the handle; NULL is fine. */
void capture_close(struct capture *c);

/* Finds the interface of the default route (IPv4, else IPv6) without
 * running anything; 0 or -ENOENT. */
int capture_default_iface(char *name, size_t len);

#endif
