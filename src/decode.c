/* decode.c - link, IP and transport headers into a struct pkt, per packet.
 *
 * Every read is bounds-checked against caplen first and done byte by byte,
 * so frames may sit at any alignment. Nothing here allocates or keeps
 * state: it is called at line rate on every captured frame.
 *
 * Besides the headers, decode reads what tells an answer from a question:
 * the direction a Linux cooked header records (packet type), the
 * identifier of ICMP echoes, and the ports of the packet an ICMP error
 * quotes. A source no host can hold (unspecified, loopback, multicast,
 * broadcast, reserved, an IPv4 address inside an IPv6 header) is decoded in
 * full but given a reason of its own, so it is counted and never detected
 * on: a DHCP discover from 0.0.0.0 must never become a ban.
 */
#include <netinet/in.h>
#include <sys/socket.h>
#include <pcap/dlt.h>
#include <string.h>

#include "decode.h"

/* The stacked VLAN tags we walk before giving up (QinQ needs two). */
#define DEC_VLAN_MAX	4
/* The IPv6 extension headers we walk before giving up. */
#define DEC_V6_EXT_MAX	8

/* LINKTYPE_RAW as found in capture files, beside the host's DLT_RAW. */
#define DEC_LINKTYPE_RAW 101

/* Families a DLT_NULL/DLT_LOOP header may carry: AF_INET is 2 everywhere,
 * AF_INET6 is 24, 28 or 30 depending on the BSD that captured. */
#define DEC_BSD_AF_INET		2
#define DEC_BSD_AF_INET6_BSD	24
#define DEC_BSD_AF_INET6_FREEBSD 28
#define DEC_BSD_AF_INET6_DARWIN	30

#define ETH_HLEN	14
#define SLL_HLEN	16
#define SLL2_HLEN	20

static const char *const dec_names[DEC__MAX] = {
	[DEC_OK]		= "ok",
	[DEC_NOT_IP]		= "not_ip",
	[DEC_LINK_UNSUPP]	= "link_unsupp",
	[DEC_TRUNC_LINK]	= "trunc_link",
	[DEC_VLAN_DEPTH]	= "vlan_depth",
	[DEC_TRUNC_IP]		= "trunc_ip",
	[DEC_BAD_IP_VERSION]	= "bad_ip_version",
	[DEC_BAD_IP_HDR]	= "bad_ip_hdr",
	[DEC_V6_EXT_LIMIT]	= "v6_ext_limit",
	[DEC_TRUNC_L4]		= "trunc_l4",
	[DEC_BAD_L4_HDR]	= "bad_l4_hdr",
	[DEC_SRC_UNSPEC]	= "src_unspecified",
	[DEC_SRC_LOOPBACK]	= "src_loopback",
	[DEC_SRC_MULTICAST]	= "src_multicast",
	[DEC_SRC_BROADCAST]	= "src_broadcast",
	[DEC_SRC_MARTIAN]	= "src_reserved",
	[DEC_SRC_MAPPED]	= "src_v4_in_v6",
};

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void l4_none(struct pkt *out, uint8_t flags)
{
	out->sport = 0;
	out->dport = 0;
	out->tcp_flags = 0;
	out->icmp_type = 0;
	out->icmp_code = 0;
	out->flags = flags;
}

/* True for the ICMP and ICMPv6 errors that quote the packet they answer. */
static inline int icmp_is_error(uint8_t family, uint8_t type)
{
	if (family == AF_INET)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

/* The flow an ICMP error names: the TCP or UDP header it quotes at q
 * (avail bytes), seen from the error's sender (see struct pkt). */
static void icmp_quote(const uint8_t *q, uint32_t avail, struct pkt *out)
{
	uint32_t hl;
	uint8_t proto;

	if (avail < 1)
		return;
	if (q[0] >> 4 == 4 && out->family == AF_INET) {
		hl = (q[0] & 0x0fu) * 4;
		if (hl < 20 || avail < hl + 4 || (get16(q + 6) & 0x1fff))
			return;
		proto = q[9];
	} else if (q[0] >> 4 == 6 && out->family == AF_INET6) {
		hl = 40;
		if (avail < hl + 4)
			return;
		proto = q[6];
	} else {
		return;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return;
	out->inner_proto = proto;
	out->sport = get16(q + hl + 2);
	out->dport = get16(q + hl);
	out->flags |= PKT_ICMP_ERR;
}

/* Echo identifiers and quoted flows of the ICMP message at p (see struct
 * pkt); a message too short for them keeps ports 0. */
static void icmp_names(const uint8_t *p, uint32_t avail, struct pkt *out)
{
	uint8_t t = p[0];
	int echo = out->family == AF_INET ? (t == 0 || t == 8) : (t == 128 || t == 129);

	if (echo && avail >= 6) {
		out->sport = get16(p + 4);
		out->dport = out->sport;
	} else if (icmp_is_error(out->family, t) && avail > 8) {
		icmp_quote(p + 8, avail - 8, out);
	}
}

/* Reads the fields detection needs from the transport header at p, of
 * which avail bytes are both captured and inside the IP packet. A TCP
 * header cut after the ports is still DEC_TRUNC_L4: without its flags
 * byte a SYN cannot be told from an ACK. */
static inline __attribute__((always_inline)) enum decode_result
l4_decode(const uint8_t *p, uint32_t avail,
				    struct pkt *out)
{
	switch (out->proto) {
	case IPPROTO_TCP:
		if (avail < 14)
			return DEC_TRUNC_L4;
		if (p[12] >> 4 < 5)
			return DEC_BAD_L4_HDR;
		out->tcp_flags = p[13];
		out->icmp_type = 0;
		out->icmp_code = 0;
		break;
	case IPPROTO_UDP:
		if (avail < 4)
			return DEC_TRUNC_L4;
		out->tcp_flags = 0;
		out->icmp_type = 0;
		out->icmp_code = 0;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (avail < 2)
			return DEC_TRUNC_L4;
		out->sport = 0;
		out->dport = 0;
		out->tcp_flags = 0;
		out->icmp_type = p[0];
		out->icmp_code = p[1];
		out->flags = PKT_L4;
		icmp_names(p, avail, out);
		return DEC_OK;
	default:
		l4_none(out, 0);
		return DEC_OK;
	}
	out->sport = get16(p);
	out->dport = get16(p + 2);
	out->flags = PKT_L4;
	return DEC_OK;
}

/* IPv4 at p: avail captured bytes, wire bytes on the wire. */
static inline __attribute__((always_inline)) enum decode_result
ip4_decode(const uint8_t *p, uint32_t avail,
				     uint32_t wire, struct pkt *out)
{
	uint32_t hl, tot, end;

	if (avail < 20)
		return DEC_TRUNC_IP;
	hl = (p[0] & 0x0fu) * 4;
	if (hl < 20)
		return DEC_BAD_IP_HDR;
	if (hl > avail)
		return DEC_TRUNC_IP;
	tot = get16(p + 2);
	/* 0 is what TSO/GSO and BIG TCP leave in captured super-packets
	 * (tcpdump reads it the same way): the wire size stands in. */
	if (tot == 0)
		tot = wire;
	else if (tot < hl)
		return DEC_BAD_IP_HDR;
	end = tot < avail ? tot : avail;

	out->family = AF_INET;
	addr_from_v4(&out->src, p + 12);
	addr_from_v4(&out->dst, p + 16);
	out->len = tot;
	out->proto = p[9];
	if (get16(p + 6) & 0x1fff) {
		l4_none(out, PKT_FRAG);
		return DEC_OK;
	}
	return l4_decode(p + hl, end - hl, out);
}

/* True for the IPv6 next-header values that are extension headers we
 * step over; ESP (50) is not one: what follows it is encrypted. */
static inline int ip6_is_ext(uint8_t nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* shim6 */
		return 1;
	}
	return 0;
}

/* A header that does not fit: cut by caplen, or lying past the packet's
 * own payload length (a malformed chain). */
static inline enum decode_result ip6_short(uint32_t need, uint32_t avail)
{
	return need > avail ? DEC_TRUNC_IP : DEC_V6_EXT_LIMIT;
}

/* Walks the extension headers from *off (next header *nh) up to end.
 * Returns DEC_OK with *off and *nh at the final protocol, or sets
 * *frag (and *nh to the fragment's protocol) for a non-first fragment. */
static enum decode_result ip6_walk(const uint8_t *p, uint32_t avail,
				   uint32_t end, uint32_t *off, uint8_t *nh,
				   int *frag)
{
	uint32_t o = *off;
	uint8_t n = *nh;

	for (unsigned i = 0; ip6_is_ext(n); i++) {
		uint32_t need = n == IPPROTO_FRAGMENT ? 4 : 2;

		if (i == DEC_V6_EXT_MAX)
			return DEC_V6_EXT_LIMIT;
		if (end - o < need)
			return ip6_short(o + need, avail);
		if (n == IPPROTO_FRAGMENT) {
			if (get16(p + o + 2) & 0xfff8) {
				*frag = 1;
				*nh = p[o];
				return DEC_OK;
			}
			n = p[o];
			o += 8;
		} else if (n == IPPROTO_AH) {
			n = p[o];
			o += ((uint32_t)p[o + 1] + 2) * 4;
		} else {
			n = p[o];
			o += ((uint32_t)p[o + 1] + 1) * 8;
		}
		if (o > end)
			return ip6_short(o, avail);
	}
	*off = o;
	*nh = n;
	return DEC_OK;
}

/* IPv6 at p: avail captured bytes, wire bytes on the wire. */
static enum decode_result ip6_decode(const uint8_t *p, uint32_t avail,
				     uint32_t wire, struct pkt *out)
{
	uint32_t len, end, off = 40;
	uint8_t nh;
	int frag = 0;
	enum decode_result r;

	if (avail < 40)
		return DEC_TRUNC_IP;
	nh = p[6];
	len = 40 + (uint32_t)get16(p + 4);
	/* A zero payload length with a payload is a jumbogram or a BIG TCP
	 * super-packet: the wire size stands in. */
	if (len == 40 && nh != IPPROTO_NONE)
		len = wire;
	end = len < avail ? len : avail;

	r = ip6_walk(p, avail, end, &off, &nh, &frag);
	if (r != DEC_OK)
		return r;
	out->family = AF_INET6;
	addr_from_v6(&out->src, p + 8);
	addr_from_v6(&out->dst, p + 24);
	out->len = len;
	out->proto = nh;
	if (frag) {
		l4_none(out, PKT_FRAG);
		return DEC_OK;
	}
	return l4_decode(p + off, end - off, out);
}

/* The IP packet at p (avail > 0); want is 4 or 6 when the link said
 * which, else 0. */
static inline __attribute__((always_inline)) enum decode_result
ip_decode(const uint8_t *p, uint32_t avail,
				    uint32_t wire, unsigned want,
				    struct pkt *out)
{
	unsigned v = p[0] >> 4;

	if (want && v != want)
		return DEC_BAD_IP_VERSION;
	if (v == 4)
		return ip4_decode(p, avail, wire, out);
	if (v == 6)
		return ip6_decode(p, avail, wire, out);
	return DEC_BAD_IP_VERSION;
}

static inline int is_vlan_tpid(uint16_t type)
{
	return type == 0x8100 || type == 0x88a8 || type == 0x9100;
}

/* From an ethertype type whose payload starts at *off, steps over VLAN
 * tags (TCI, inner type) to the IP version it announces, in *want. */
static inline __attribute__((always_inline)) enum decode_result
ether_walk(const uint8_t *d, uint32_t caplen,
				     uint16_t type, uint32_t *off,
				     unsigned *want)
{
	uint32_t o = *off;

	for (unsigned i = 0; is_vlan_tpid(type); i++) {
		if (i == DEC_VLAN_MAX)
			return DEC_VLAN_DEPTH;
		if (caplen - o < 4)
			return DEC_TRUNC_LINK;
		type = get16(d + o + 2);
		o += 4;
	}
	if (type == 0x0800)
		*want = 4;
	else if (type == 0x86dd)
		*want = 6;
	else
		return DEC_NOT_IP;
	*off = o;
	return DEC_OK;
}

/* The IP version a BSD address family announces, or 0. */
static inline unsigned bsd_af_version(uint32_t af)
{
	switch (af) {
	case DEC_BSD_AF_INET:
		return 4;
	case DEC_BSD_AF_INET6_BSD:
	case DEC_BSD_AF_INET6_FREEBSD:
	case DEC_BSD_AF_INET6_DARWIN:
		return 6;
	}
	return 0;
}

/* DLT_NULL holds the family in the capturing host's byte order, DLT_LOOP
 * in network order; the byte orders of a small number never collide. */
static enum decode_result null_link(const uint8_t *d, uint32_t caplen,
				    int any_order, unsigned *want)
{
	uint32_t be, le;

	if (caplen < 4)
		return DEC_TRUNC_LINK;
	be = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
	     (uint32_t)d[2] << 8 | d[3];
	le = (uint32_t)d[3] << 24 | (uint32_t)d[2] << 16 |
	     (uint32_t)d[1] << 8 | d[0];
	*want = bsd_af_version(be);
	if (!*want && any_order)
		*want = bsd_af_version(le);
	return *want ? DEC_OK : DEC_NOT_IP;
}

/* The direction of a Linux cooked packet type (PACKET_HOST ... _OUTGOING);
 * PACKET_OTHERHOST, a frame for someone else, says nothing of this host. */
static inline uint8_t sll_dir(unsigned type)
{
	if (type <= 2)
		return PKT_DIR_IN;
	return type == 4 ? PKT_DIR_OUT : PKT_DIR_UNKNOWN;
}

/* The reason an IPv4 source (4 bytes at a) cannot be a host's. */
static __attribute__((noinline)) enum decode_result src_bogus4(const uint8_t *a)
{
	if (a[0] == 0)
		return DEC_SRC_UNSPEC;
	if (a[0] == 127)
		return DEC_SRC_LOOPBACK;
	if (a[0] < 240)
		return DEC_SRC_MULTICAST;
	if ((a[0] & a[1] & a[2] & a[3]) == 255)
		return DEC_SRC_BROADCAST;
	return DEC_SRC_MARTIAN;
}

/* The reason an IPv6 source starting with 0x00 or 0xff cannot be a host's,
 * or DEC_OK (64:ff9b::/96 and the like start with a zero byte too). */
static __attribute__((noinline)) enum decode_result src_bogus6(const uint8_t *a)
{
	static const uint8_t zero[16];

	if (a[0] == 0xff)
		return DEC_SRC_MULTICAST;
	if (memcmp(a, zero, 10) != 0)
		return DEC_OK;
	if (a[10] == 0xff && a[11] == 0xff)
		return DEC_SRC_MAPPED;
	if (a[10] || a[11])
		return DEC_OK;
	if (memcmp(a, zero, 16) == 0)
		return DEC_SRC_UNSPEC;
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return DEC_SRC_LOOPBACK;
	return DEC_SRC_MAPPED;	/* IPv4-compatible ::a.b.c.d */
}

/* DEC_OK for a source a host may hold, else why not. One test for most. */
static inline __attribute__((always_inline)) enum decode_result
src_check(const struct pkt *p)
{
	const uint8_t *a = p->src.b;

	if (p->family == AF_INET) {
		if (__builtin_expect(a[12] != 0 && a[12] != 127 && a[12] < 224, 1))
			return DEC_OK;
		return src_bogus4(a + 12);
	}
	if (__builtin_expect(a[0] != 0 && a[0] != 0xff, 1))
		return DEC_OK;
	return src_bogus6(a);
}

/* Finds where IP starts behind the link header, and which version the
 * link announces (0: the version nibble decides). */
static inline __attribute__((always_inline)) enum decode_result
link_decode(int dlt, const uint8_t *d,
				      uint32_t caplen, uint32_t *off,
				      unsigned *want, uint8_t *dir)
{
	*want = 0;
	*dir = PKT_DIR_UNKNOWN;
	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < ETH_HLEN)
			return DEC_TRUNC_LINK;
		*off = ETH_HLEN;
		return ether_walk(d, caplen, get16(d + 12), off, want);
	case DLT_LINUX_SLL:
		if (caplen < SLL_HLEN)
			return DEC_TRUNC_LINK;
		*off = SLL_HLEN;
		*dir = sll_dir(get16(d));
		return ether_walk(d, caplen, get16(d + 14), off, want);
	case DLT_LINUX_SLL2:
		if (caplen < SLL2_HLEN)
			return DEC_TRUNC_LINK;
		*off = SLL2_HLEN;
		*dir = sll_dir(d[10]);
		return ether_walk(d, caplen, get16(d), off, want);
	case DLT_RAW:
	case DEC_LINKTYPE_RAW:
		*off = 0;
		return DEC_OK;
	case DLT_IPV4:
	case DLT_IPV6:
		*off = 0;
		*want = dlt == DLT_IPV4 ? 4 : 6;
		return DEC_OK;
	case DLT_NULL:
	case DLT_LOOP:
		*off = 4;
		return null_link(d, caplen, dlt == DLT_NULL, want);
	}
	return DEC_LINK_UNSUPP;
}

enum decode_result decode_packet(int dlt, const uint8_t *data, uint32_t caplen,
				 uint32_t wirelen, uint64_t ts_us, struct pkt *out)
{
	uint32_t off;
	unsigned want;
	uint8_t dir;
	enum decode_result r;

	r = link_decode(dlt, data, caplen, &off, &want, &dir);
	if (r != DEC_OK)
		return r;
	if (off >= caplen)
		return DEC_TRUNC_IP;
	/* A damaged file may claim fewer wire bytes than it captured. */
	if (wirelen < caplen)
		wirelen = caplen;
	out->ts_us = ts_us;
	out->dir = dir;
	out->inner_proto = 0;
	r = ip_decode(data + off, caplen - off, wirelen - off, want, out);
	return r == DEC_OK ? src_check(out) : r;
}

int decode_link_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DEC_LINKTYPE_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return 1;
	}
	return 0;
}

const char *decode_result_name(enum decode_result r)
{
	if ((unsigned)r >= DEC__MAX)
		return "unknown";
	return dec_names[r];
}
