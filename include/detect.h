/* detect.h - per-source sliding-window detectors over decoded packets. */
#ifndef DOSIPS_DETECT_H
#define DOSIPS_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "decode.h"

enum detect_kind {
	KIND_SYN_FLOOD,   /* half-open SYNs from one source */
	KIND_UDP_FLOOD,   /* UDP datagrams from one source */
	KIND_ICMP_FLOOD,  /* ICMP/ICMPv6 echo requests from one source */
	KIND_PORT_SCAN,   /* distinct destination ports probed by one source */
	KIND_RATE_FLOOD,  /* all packets from one source */
	KIND_DDOS,        /* many sources together against one destination */
	KIND_REFLECTION,  /* unsolicited answers from service ports to one target */
	KIND_SPOOFED,     /* a syn_flood claiming a source that holds a two-way
			     exchange with the host: reported, never banned */
	KIND__MAX,        /* the number of detectors, for arrays of them */
	/* Not a detector: the reason of a ban made by hand or adopted from
	 * the kernel. Arrays of ban reasons have KIND__ALL entries. */
	KIND_MANUAL = KIND__MAX,
	KIND_CROWDSEC,    /* a decision of CrowdSec's Local API (crowdsec.c) */
	KIND__ALL
};

/* Limits of the settings, for detect_cfg_check and config's key table. */
#define DETECT_MAX_WINDOW_MS 3600000u
#define DETECT_MAX_THRESHOLD 100000000u
#define DETECT_MAX_CAPACITY (1u << 26)
#define DETECT_MIN_CAPACITY 64u
#define DETECT_MAX_DST_CAP (1u << 20)
#define DETECT_MAX_RINGS (1u << 20)   /* rings per detector (rings = ...) */
#define DETECT_CAPACITY 65536u      /* the default */

/* Prefixes the `local` setting may list. */
#define DETECT_LOCAL_MAX 16
/* Per-service bars ([udp_flood port=53] sections) at most. */
#define DETECT_MAX_SERVICES 8

/* One detector's knobs. */
struct detector_cfg {
	bool enabled;
	uint32_t threshold;  /* events in the window that raise an alert */
	uint32_t window_ms;  /* sliding window length */
};

/* A detector's bar for one service: the packets a source sends to that
 * destination port (TCP and UDP for rate_flood; port 0: to any port of IP
 * protocol proto) are counted against this bar instead of the detector's,
 * in windows of their own. Kinds: syn_flood, udp_flood, rate_flood. */
struct detect_service {
	uint8_t kind;          /* enum detect_kind */
	uint8_t proto;         /* IPPROTO_TCP, IPPROTO_UDP; rate_flood: 0 for
				  both, or the protocol of a port 0 service */
	uint16_t port;         /* destination port; 0 = by protocol */
	struct detector_cfg det; /* disabled: never counted for the kind */
};

struct detect_cfg {
	struct detector_cfg det[KIND__MAX];
	uint32_t cooldown_ms;  /* per source and kind, between two alerts */
	uint32_t capacity;     /* sources tracked at once (memory bound) */
	uint32_t dst_capacity; /* destinations tracked for ddos */
	uint8_t v4_prefix;     /* sources grouped per IPv4 prefix (32) */
	uint8_t v6_prefix;     /* sources grouped per IPv6 prefix (64) */
	uint32_t pool[KIND__MAX]; /* rings per detector (ddos: per class);
				     0 = default; see detect.c */
	uint32_t seed;         /* table hash seed; 0 = random at detect_new */
	uint32_t flow_capacity;/* conversations remembered (flows.c) */
	uint32_t flow_timeout_ms; /* how long an answer or a flow is remembered */
	uint8_t nlocal;        /* prefixes in local[] */
	struct ip_prefix local[DETECT_LOCAL_MAX]; /* this host's addresses: their
				  packets are outbound, never a subject */
	uint8_t nsvc;          /* services in svc[] */
	struct detect_service svc[DETECT_MAX_SERVICES];
};

/* What detect hands on when a threshold is crossed. */
struct verdict {
	enum detect_kind kind;
	struct ip_prefix src;  /* offender (masked to the grouping prefix);
				  for ddos, unset (len 0) */
	struct ip_addr dst;    /* destination of the crossing packet / target */
	uint64_t ts_us;        /* timestamp of the crossing packet */
	uint32_t count;        /* events in the window at the crossing */
	uint32_t threshold;
	uint32_t window_ms;
	uint8_t proto;         /* for ddos: the flood's protocol */
	uint16_t port;         /* for reflection: the reflected service's port;
				  for a service's bar: its port (0: by proto) */
	bool service;          /* threshold and window are a service's bar */
	const char *technique; /* for port_scan: the probe's kind ("syn", "fin",
				  "xmas", "null", "ack", "maimon", "udp",
				  "ipproto"); else NULL */
	const struct pkt *pkt; /* the crossing packet, during the callback only */
};

/* Receives verdicts; called synchronously from detect_packet or
 * detect_batch. */
typedef void (*detect_cb)(const struct verdict *v, void *ctx);

struct detect;

/* Counters a report may show. */
struct detect_stats {
	uint64_t packets;
	uint64_t alerts[KIND__MAX];
	uint64_t tracked;      /* sources currently holding a slot */
	uint64_t evictions;    /* slots taken from another source */
	uint64_t dst_tracked;  /* destinations holding a ddos slot */
	uint64_t dst_evictions;
	uint64_t ring_reclaims;/* rings taken from a live, quieter owner */
	uint64_t ring_denied;  /* ring requests refused: pool held by busier owners */
	uint64_t suppressed;   /* alerts held back by the cooldown */
	uint64_t not_subject;  /* packets of the host or answers: never counted
				  against their sender */
	uint64_t flows_tracked;/* conversations holding a flow entry */
	uint64_t flows_evicted;/* flow entries taken from another flow */
};

/* Fills cfg with the defaults (documented in dosips.conf(5)). */
void detect_cfg_defaults(struct detect_cfg *cfg);

/* Checks cfg for values detect cannot honour; 0 or -EINVAL, with a
 * static message in *why. */
int detect_cfg_check(const struct detect_cfg *cfg, const char **why);

/* Allocates all state for cfg up front, the flow memory (flows.h) of this
 * instance included; 0 or -errno. Sharding across instances (workers):
 * an instance must see both directions of every conversation it counts,
 * or it takes each of them for unanswered and the host's answers for
 * questions. Shard by the remote end (the source of a packet the host
 * receives, the destination of one it sends), or by a hash symmetric in
 * source and destination; not by the source address alone. */
int detect_new(const struct detect_cfg *cfg, detect_cb cb, void *ctx,
	       struct detect **out);

/* Feeds one packet (its ts_us is the only clock); may call cb. Packets
 * sent by this host (p->dir, cfg.local) and answers to what a flow's other
 * side sent (see flows.h) are remembered but never counted against their
 * sender. The clock follows packet time forward; when it steps back by
 * more than a second the windows carry on from where they were. */
void detect_packet(struct detect *d, const struct pkt *p);

/* Feeds p[0] to p[n - 1] in order, as n calls of detect_packet would (the
 * same verdicts, in the same order), but faster: the table lines of the
 * packets ahead are fetched while one is counted. */
void detect_batch(struct detect *d, const struct pkt *p, size_t n);

/* A packet's share of the ddos detector, for a detector elsewhere (the
 * sources of one destination are spread over the workers' shards). */
struct detect_dst_ev {
	struct ip_addr dst;
	uint64_t ts_us;
	uint8_t proto;
	uint8_t cls;           /* 0 SYN, 1 UDP, 2 ICMP echo */
};

/* Receives shares as detect_set_dst_sink asked; p is their packet. */
typedef void (*detect_dst_cb)(const struct detect_dst_ev *e, const struct pkt *p,
			      void *ctx);

/* Hands every share of a packet to the ddos detector (a SYN, UDP datagram
 * or echo request from a source that has not alerted) to cb, instead of
 * counting it here; for a d whose own ddos detector is off. */
void detect_set_dst_sink(struct detect *d, detect_dst_cb cb, void *ctx);

/* Counts shares from other detect instances, in their packets' order, as
 * d's ddos detector would have counted those packets; may call cb. */
void detect_dst_events(struct detect *d, const struct detect_dst_ev *e, size_t n);

/* Copies the counters. */
void detect_get_stats(const struct detect *d, struct detect_stats *st);

/* A source and its events in the current window of one class. */
struct detect_top {
	struct ip_prefix src;
	uint32_t count;
};

/* Fills top[c][0..n) with the n busiest sources of each per-source class
 * (kinds KIND_SYN_FLOOD to KIND_RATE_FLOOD), busiest first, as of the last
 * packet, a source's counts at its services' bars added (scaled to the
 * detector's window); unused entries get count 0. Reads the whole tables
 * without changing them: for a page at human pace, never the packet path. */
void detect_top_sources(const struct detect *d, struct detect_top top[][8], size_t n);

/* Adds the lists add[c][0..n) (as detect_top_sources gives them) into
 * top[c][0..n), keeping the n busiest of both per class: for detectors
 * whose sources are disjoint (the workers' shards). */
void detect_top_merge(struct detect_top top[][8], const struct detect_top add[][8], size_t n);

/* Frees everything detect_new allocated; NULL is fine. */
void detect_free(struct detect *d);

/* Stable event name of a kind ("syn_flood", "port_scan", ..., "manual"). */
const char *detect_kind_name(enum detect_kind k);

/* The kind named s, or -1. */
int detect_kind_parse(const char *s);

#endif
