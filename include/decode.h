/* decode.h - from a captured frame to the few fields detection needs. */
#ifndef DOSIPS_DECODE_H
#define DOSIPS_DECODE_H

#include <stdint.h>
#include "addr.h"

/* Why a frame was not decoded into a packet; DEC_OK when it was. */
enum decode_result {
	DEC_OK = 0,
	DEC_NOT_IP,        /* a valid frame that carries no IP (ARP, STP, ...) */
	DEC_LINK_UNSUPP,   /* a link type decode does not know */
	DEC_TRUNC_LINK,    /* caplen ends inside the link header or its tags */
	DEC_VLAN_DEPTH,    /* more stacked VLAN tags than we walk */
	DEC_TRUNC_IP,      /* caplen ends inside the IP header */
	DEC_BAD_IP_VERSION,/* version nibble disagrees with the link's claim */
	DEC_BAD_IP_HDR,    /* IPv4 IHL < 5, or total length < header */
	DEC_V6_EXT_LIMIT,  /* too many or malformed IPv6 extension headers */
	DEC_TRUNC_L4,      /* caplen ends inside the TCP/UDP/ICMP header */
	DEC_BAD_L4_HDR,    /* e.g. TCP data offset < 5 */
	/* Decoded, but from a source no host can be: never a subject of
	 * detection, never banned. The fields of the packet are filled. */
	DEC_SRC_UNSPEC,    /* 0.0.0.0/8, :: */
	DEC_SRC_LOOPBACK,  /* 127.0.0.0/8, ::1 seen on the wire */
	DEC_SRC_MULTICAST, /* 224.0.0.0/4, ff00::/8 */
	DEC_SRC_BROADCAST, /* 255.255.255.255 */
	DEC_SRC_MARTIAN,   /* 240.0.0.0/4 (reserved) */
	DEC_SRC_MAPPED,    /* IPv6 source ::ffff:a.b.c.d or ::a.b.c.d */
	DEC__MAX
};

/* The first of the bogus-source results: a packet whose result is at or
 * past it was decoded in full. */
#define DEC_SRC_BOGUS DEC_SRC_UNSPEC

/* pkt.dir: which way the packet went, when the link says so. */
enum pkt_dir {
	PKT_DIR_UNKNOWN = 0,
	PKT_DIR_IN,        /* to this host (SLL: host, broadcast, multicast) */
	PKT_DIR_OUT,       /* sent by this host (SLL: outgoing) */
};

/* pkt.flags */
#define PKT_FRAG   0x01 /* a non-first fragment: no L4 header, no ports */
#define PKT_L4     0x02 /* sport/dport/tcp_flags/icmp_* are valid */
#define PKT_ICMP_ERR 0x04 /* an ICMP error quoting a packet: see struct pkt */

/* A decoded packet: small, fixed, no pointers into the frame.
 *
 * ICMP echo requests and replies carry their identifier in both sport and
 * dport, so that a reply names the flow of its request. An ICMP error that
 * quotes a TCP or UDP header (PKT_ICMP_ERR) names the quoted packet's flow
 * as if its sender had sent in it: inner_proto is the quoted protocol,
 * sport the quoted destination port, dport the quoted source port. */
struct pkt {
	struct ip_addr src, dst;
	uint64_t ts_us;     /* capture timestamp, microseconds since the epoch */
	uint32_t len;       /* IP length from the header (wire size if absent) */
	uint16_t sport, dport;
	uint8_t family;     /* AF_INET or AF_INET6 */
	uint8_t proto;      /* final upper-layer protocol number */
	uint8_t tcp_flags;  /* TH_SYN, TH_ACK, ... as on the wire */
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint8_t flags;      /* PKT_* */
	uint8_t dir;        /* enum pkt_dir */
	uint8_t inner_proto;/* PKT_ICMP_ERR: the quoted packet's protocol */
};

/* Decodes one frame of link type dlt (a pcap DLT_ value); never reads past
 * caplen, never allocates. Returns DEC_OK and fills out, or a reason. */
enum decode_result decode_packet(int dlt, const uint8_t *data, uint32_t caplen,
				 uint32_t wirelen, uint64_t ts_us, struct pkt *out);

/* True when decode knows link type dlt. */
int decode_link_supported(int dlt);

/* Short stable name of a result ("ok", "not_ip", "trunc_ip", ...). */
const char *decode_result_name(enum decode_result r);

#endif
