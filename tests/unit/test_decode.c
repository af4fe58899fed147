/* test_decode.c - frames built byte by byte, decoded, every field checked.
 *
 * Each frame is handed to decode_packet in a heap buffer of exactly caplen
 * bytes, so under ASan (make BUILD=asan) any read past caplen is caught.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pcap/dlt.h>
#include <cmocka.h>

#include "decode.h"

#define TS 1700000000123456ull

/* A frame under construction, with the offsets the tests patch. */
struct frame {
	uint8_t b[1024];
	uint32_t n;
	uint32_t l3;	/* IP header */
	uint32_t l4;	/* transport header, where the IP header chain ends */
	int ipv;	/* 4 or 6 once an IP header is written */
};

static const uint8_t v4_src[4] = { 198, 18, 0, 1 };
static const uint8_t v4_dst[4] = { 198, 18, 0, 2 };
static const uint8_t v6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t v6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static void put8(struct frame *f, uint8_t v)
{
	assert_true(f->n < sizeof(f->b));
	f->b[f->n++] = v;
}

static void put16(struct frame *f, uint16_t v)
{
	put8(f, v >> 8);
	put8(f, v & 0xff);
}

static void putmem(struct frame *f, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put8(f, ((const uint8_t *)p)[i]);
}

static void putzero(struct frame *f, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put8(f, 0);
}

static void eth(struct frame *f, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };

	putmem(f, macs, sizeof(macs));
	put16(f, type);
}

/* One VLAN tag after a TPID: TCI, then the inner ethertype. */
static void tag(struct frame *f, uint16_t vid, uint16_t type)
{
	put16(f, vid & 0x0fff);
	put16(f, type);
}

static void sll(struct frame *f, uint16_t proto)
{
	put16(f, 0);		/* packet type: to us */
	put16(f, 1);		/* ARPHRD_ETHER */
	put16(f, 6);
	putmem(f, "\x02\0\0\0\0\x01\0\0", 8);
	put16(f, proto);
}

static void sll2(struct frame *f, uint16_t proto)
{
	put16(f, proto);
	put16(f, 0);
	putmem(f, "\0\0\0\x02", 4);	/* ifindex */
	put16(f, 1);
	put8(f, 0);
	put8(f, 6);
	putmem(f, "\x02\0\0\0\0\x01\0\0", 8);
}

static void null_hdr(struct frame *f, uint32_t af, int little)
{
	for (int i = 0; i < 4; i++)
		put8(f, little ? af >> (8 * i) : af >> (8 * (3 - i)));
}

/* IPv4 with optwords 4-byte option words; fix() sets the total length. */
static void ip4o(struct frame *f, uint8_t proto, uint16_t frag, unsigned optwords)
{
	f->l3 = f->n;
	f->ipv = 4;
	put8(f, 0x45 + optwords);
	put8(f, 0);
	put16(f, 0);
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	putmem(f, v4_src, 4);
	putmem(f, v4_dst, 4);
	for (unsigned i = 0; i < optwords * 4; i++)
		put8(f, 1);	/* NOP */
	f->l4 = f->n;
}

static void ip4(struct frame *f, uint8_t proto, uint16_t frag)
{
	ip4o(f, proto, frag, 0);
}

static void ip6(struct frame *f, uint8_t nh)
{
	f->l3 = f->n;
	f->ipv = 6;
	put8(f, 0x60);
	putzero(f, 3);
	put16(f, 0);
	put8(f, nh);
	put8(f, 64);
	putmem(f, v6_src, 16);
	putmem(f, v6_dst, 16);
	f->l4 = f->n;
}

/* A generic extension header of (len8 + 1) * 8 bytes (Pad1 options). */
static void ext6(struct frame *f, uint8_t nh, uint8_t len8)
{
	put8(f, nh);
	put8(f, len8);
	putzero(f, (len8 + 1u) * 8 - 2);
	f->l4 = f->n;
}

static void ah6(struct frame *f, uint8_t nh, uint8_t len4)
{
	put8(f, nh);
	put8(f, len4);
	putzero(f, (len4 + 2u) * 4 - 2);
	f->l4 = f->n;
}

static void frag6(struct frame *f, uint8_t nh, uint16_t offset8, int more)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	putmem(f, "\xde\xad\xbe\xef", 4);
	f->l4 = f->n;
}

static void tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags)
{
	put16(f, sport);
	put16(f, dport);
	putmem(f, "\0\0\0\x01\0\0\0\0", 8);
	put8(f, 5 << 4);
	put8(f, flags);
	put16(f, 65535);
	putzero(f, 4);
}

static void udp(struct frame *f, uint16_t sport, uint16_t dport)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, 8);
	put16(f, 0);
}

static void icmp(struct frame *f, uint8_t type, uint8_t code)
{
	put8(f, type);
	put8(f, code);
	putzero(f, 6);
}

/* Sets the IP length field from what was written after the IP header. */
static void fix(struct frame *f)
{
	uint32_t len = f->n - f->l3;

	if (f->ipv == 6)
		len -= 40;
	f->b[f->l3 + (f->ipv == 4 ? 2 : 4)] = len >> 8;
	f->b[f->l3 + (f->ipv == 4 ? 3 : 5)] = len & 0xff;
}

/* Decodes the first caplen bytes of f from an exact-size heap copy; out
 * starts as garbage so that fields left unset show. */
static enum decode_result run(int dlt, const struct frame *f, uint32_t caplen,
			      struct pkt *out)
{
	uint8_t *buf = malloc(caplen ? caplen : 1);
	enum decode_result r;

	assert_non_null(buf);
	memcpy(buf, f->b, caplen);
	memset(out, 0xa5, sizeof(*out));
	r = decode_packet(dlt, buf, caplen, f->n, TS, out);
	free(buf);
	assert_true((unsigned)r < DEC__MAX);
	return r;
}

static enum decode_result dec(int dlt, const struct frame *f, struct pkt *out)
{
	return run(dlt, f, f->n, out);
}

struct want {
	int family;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t tcp_flags, icmp_type, icmp_code, flags;
	uint32_t len;
};

static void check(const struct pkt *p, const struct want *w)
{
	struct ip_addr s, d;

	if (w->family == AF_INET) {
		addr_from_v4(&s, v4_src);
		addr_from_v4(&d, v4_dst);
	} else {
		addr_from_v6(&s, v6_src);
		addr_from_v6(&d, v6_dst);
	}
	assert_int_equal(p->family, w->family);
	assert_true(addr_eq(&p->src, &s));
	assert_true(addr_eq(&p->dst, &d));
	assert_true(p->ts_us == TS);
	assert_int_equal(p->len, w->len);
	assert_int_equal(p->proto, w->proto);
	assert_int_equal(p->sport, w->sport);
	assert_int_equal(p->dport, w->dport);
	assert_int_equal(p->tcp_flags, w->tcp_flags);
	assert_int_equal(p->icmp_type, w->icmp_type);
	assert_int_equal(p->icmp_code, w->icmp_code);
	assert_int_equal(p->flags, w->flags);
}

static void expect_ok(int dlt, const struct frame *f, const struct want *w)
{
	struct pkt p;

	assert_int_equal(dec(dlt, f, &p), DEC_OK);
	check(&p, w);
}

static void expect_fail(int dlt, const struct frame *f, enum decode_result want)
{
	struct pkt p;

	assert_string_equal(decode_result_name(dec(dlt, f, &p)),
			    decode_result_name(want));
}

static void test_eth_ipv4(void **state)
{
	struct frame f = { 0 };

	eth(&f, 0x0800);
	ip4(&f, 6, 0x4000);	/* DF */
	tcp(&f, 40000, 80, 0x02);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 6, 40000, 80, 0x02,
		  0, 0, PKT_L4, 40 });

	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 17, 0);
	udp(&f, 53, 5353);
	putzero(&f, 10);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 17, 53, 5353, 0,
		  0, 0, PKT_L4, 38 });

	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 1, 0);
	icmp(&f, 8, 0);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 1, 0, 0, 0,
		  8, 0, PKT_L4, 28 });

	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 1, 0);
	icmp(&f, 3, 3);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 1, 0, 0, 0,
		  3, 3, PKT_L4, 28 });
}

static void test_eth_ipv6(void **state)
{
	struct frame f = { 0 };

	eth(&f, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 1025, 443, 0x12);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 6, 1025, 443, 0x12,
		  0, 0, PKT_L4, 60 });

	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 17);
	udp(&f, 123, 123);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 17, 123, 123, 0,
		  0, 0, PKT_L4, 48 });

	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 58);
	icmp(&f, 128, 0);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 58, 0, 0, 0,
		  128, 0, PKT_L4, 48 });
}

static void test_vlan(void **state)
{
	static const uint16_t tpids[] = { 0x8100, 0x88a8, 0x9100 };
	struct want w = { AF_INET, 17, 7, 9, 0, 0, 0, PKT_L4, 28 };
	struct frame f;

	for (unsigned i = 0; i < 3; i++) {
		memset(&f, 0, sizeof(f));
		eth(&f, tpids[i]);
		tag(&f, 100, 0x0800);
		ip4(&f, 17, 0);
		udp(&f, 7, 9);
		fix(&f);
		expect_ok(DLT_EN10MB, &f, &w);
	}

	/* QinQ: 802.1ad outer, 802.1Q inner. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x88a8);
	tag(&f, 10, 0x8100);
	tag(&f, 20, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 5, 6, 0x10);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 6, 5, 6, 0x10,
		  0, 0, PKT_L4, 60 });

	/* Four tags is the most we walk; a fifth is refused. */
	for (unsigned ntags = 4; ntags <= 5; ntags++) {
		memset(&f, 0, sizeof(f));
		eth(&f, 0x88a8);
		for (unsigned t = 1; t < ntags; t++)
			tag(&f, t, 0x8100);
		tag(&f, 99, 0x0800);
		ip4(&f, 17, 0);
		udp(&f, 7, 9);
		fix(&f);
		if (ntags == 4)
			expect_ok(DLT_EN10MB, &f, &w);
		else
			expect_fail(DLT_EN10MB, &f, DEC_VLAN_DEPTH);
	}

	/* A tagged ARP frame is not IP. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x8100);
	tag(&f, 1, 0x0806);
	putzero(&f, 28);
	expect_fail(DLT_EN10MB, &f, DEC_NOT_IP);
}

static void test_not_ip(void **state)
{
	struct frame f = { 0 };

	eth(&f, 0x0806);	/* ARP */
	putmem(&f, "\0\x01\x08\0\x06\x04\0\x01", 8);
	putzero(&f, 20);
	expect_fail(DLT_EN10MB, &f, DEC_NOT_IP);

	memset(&f, 0, sizeof(f));
	eth(&f, 46);		/* 802.3 length field, LLC follows */
	putmem(&f, "\x42\x42\x03", 3);
	putzero(&f, 43);
	expect_fail(DLT_EN10MB, &f, DEC_NOT_IP);

	memset(&f, 0, sizeof(f));
	sll(&f, 0x0806);
	putzero(&f, 28);
	expect_fail(DLT_LINUX_SLL, &f, DEC_NOT_IP);

	memset(&f, 0, sizeof(f));
	sll2(&f, 0x0004);	/* ETH_P_802_2 */
	putzero(&f, 28);
	expect_fail(DLT_LINUX_SLL2, &f, DEC_NOT_IP);

	/* An ethertype that says IPv4 over an IPv6 packet, and back. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip6(&f, 59);
	fix(&f);
	expect_fail(DLT_EN10MB, &f, DEC_BAD_IP_VERSION);
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip4(&f, 17, 0);
	udp(&f, 1, 2);
	fix(&f);
	expect_fail(DLT_EN10MB, &f, DEC_BAD_IP_VERSION);
}

static void test_sll(void **state)
{
	struct frame f = { 0 };

	sll(&f, 0x0800);
	ip4(&f, 6, 0);
	tcp(&f, 22, 50000, 0x18);
	fix(&f);
	expect_ok(DLT_LINUX_SLL, &f, &(struct want){ AF_INET, 6, 22, 50000,
		  0x18, 0, 0, PKT_L4, 40 });

	memset(&f, 0, sizeof(f));
	sll(&f, 0x86dd);
	ip6(&f, 17);
	udp(&f, 1, 2);
	fix(&f);
	expect_ok(DLT_LINUX_SLL, &f, &(struct want){ AF_INET6, 17, 1, 2,
		  0, 0, 0, PKT_L4, 48 });

	/* libpcap puts a stripped VLAN tag back behind the SLL header. */
	memset(&f, 0, sizeof(f));
	sll(&f, 0x8100);
	tag(&f, 7, 0x0800);
	ip4(&f, 17, 0);
	udp(&f, 3, 4);
	fix(&f);
	expect_ok(DLT_LINUX_SLL, &f, &(struct want){ AF_INET, 17, 3, 4,
		  0, 0, 0, PKT_L4, 28 });

	memset(&f, 0, sizeof(f));
	sll2(&f, 0x0800);
	ip4(&f, 1, 0);
	icmp(&f, 0, 0);
	fix(&f);
	expect_ok(DLT_LINUX_SLL2, &f, &(struct want){ AF_INET, 1, 0, 0,
		  0, 0, 0, PKT_L4, 28 });

	memset(&f, 0, sizeof(f));
	sll2(&f, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 8080, 1, 0x04);
	fix(&f);
	expect_ok(DLT_LINUX_SLL2, &f, &(struct want){ AF_INET6, 6, 8080, 1,
		  0x04, 0, 0, PKT_L4, 60 });
}

static void test_raw(void **state)
{
	static const int any[] = { DLT_RAW, 101 };
	struct want w4 = { AF_INET, 17, 10, 20, 0, 0, 0, PKT_L4, 28 };
	struct want w6 = { AF_INET6, 6, 10, 20, 0x02, 0, 0, PKT_L4, 60 };
	struct frame f4 = { 0 }, f6 = { 0 };

	ip4(&f4, 17, 0);
	udp(&f4, 10, 20);
	fix(&f4);
	ip6(&f6, 6);
	tcp(&f6, 10, 20, 0x02);
	fix(&f6);

	for (unsigned i = 0; i < 2; i++) {
		expect_ok(any[i], &f4, &w4);
		expect_ok(any[i], &f6, &w6);
	}
	expect_ok(DLT_IPV4, &f4, &w4);
	expect_ok(DLT_IPV6, &f6, &w6);
	expect_fail(DLT_IPV4, &f6, DEC_BAD_IP_VERSION);
	expect_fail(DLT_IPV6, &f4, DEC_BAD_IP_VERSION);

	f4.b[0] = 0x55;		/* neither 4 nor 6 */
	expect_fail(DLT_RAW, &f4, DEC_BAD_IP_VERSION);
	f4.n = 0;
	expect_fail(DLT_RAW, &f4, DEC_TRUNC_IP);
}

static void test_null_loop(void **state)
{
	static const uint32_t af6[] = { 24, 28, 30 };
	struct want w4 = { AF_INET, 17, 10, 20, 0, 0, 0, PKT_L4, 28 };
	struct want w6 = { AF_INET6, 58, 0, 0, 0, 135, 0, PKT_L4, 48 };
	struct frame f;

	for (int little = 0; little <= 1; little++) {
		memset(&f, 0, sizeof(f));
		null_hdr(&f, 2, little);
		ip4(&f, 17, 0);
		udp(&f, 10, 20);
		fix(&f);
		expect_ok(DLT_NULL, &f, &w4);
		/* DLT_LOOP is network order only. */
		if (little)
			expect_fail(DLT_LOOP, &f, DEC_NOT_IP);
		else
			expect_ok(DLT_LOOP, &f, &w4);

		for (unsigned i = 0; i < 3; i++) {
			memset(&f, 0, sizeof(f));
			null_hdr(&f, af6[i], little);
			ip6(&f, 58);
			icmp(&f, 135, 0);
			fix(&f);
			expect_ok(DLT_NULL, &f, &w6);
			if (!little)
				expect_ok(DLT_LOOP, &f, &w6);
		}
	}

	/* AF_INET over an IPv6 packet; an unknown family. */
	memset(&f, 0, sizeof(f));
	null_hdr(&f, 2, 1);
	ip6(&f, 59);
	fix(&f);
	expect_fail(DLT_NULL, &f, DEC_BAD_IP_VERSION);
	f.b[0] = 7;
	expect_fail(DLT_NULL, &f, DEC_NOT_IP);
	expect_fail(DLT_LOOP, &f, DEC_NOT_IP);
}

static void test_unsupported_link(void **state)
{
	static const int bad[] = { DLT_IEEE802_11, DLT_IEEE802_11_RADIO,
				   DLT_PPP, DLT_FDDI, -1, 100000 };
	static const int good[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2,
				    DLT_RAW, 101, DLT_IPV4, DLT_IPV6,
				    DLT_NULL, DLT_LOOP };
	struct frame f = { 0 };

	ip4(&f, 17, 0);
	udp(&f, 1, 2);
	fix(&f);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(decode_link_supported(bad[i]));
		expect_fail(bad[i], &f, DEC_LINK_UNSUPP);
	}
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(decode_link_supported(good[i]));
}

static void test_ipv4_malformed(void **state)
{
	struct frame f = { 0 };
	struct pkt p;

	eth(&f, 0x0800);
	ip4(&f, 6, 0);
	tcp(&f, 1, 2, 0x02);
	fix(&f);

	f.b[f.l3] = 0x44;	/* IHL 4 */
	expect_fail(DLT_EN10MB, &f, DEC_BAD_IP_HDR);
	f.b[f.l3] = 0x40;
	expect_fail(DLT_EN10MB, &f, DEC_BAD_IP_HDR);
	f.b[f.l3] = 0x4f;	/* 60 bytes, only 40 captured */
	expect_fail(DLT_EN10MB, &f, DEC_TRUNC_IP);
	f.b[f.l3] = 0x45;

	f.b[f.l3 + 2] = 0;	/* total length 19 < header */
	f.b[f.l3 + 3] = 19;
	expect_fail(DLT_EN10MB, &f, DEC_BAD_IP_HDR);

	/* Total length ends inside the TCP header though caplen goes on. */
	f.b[f.l3 + 3] = 30;
	expect_fail(DLT_EN10MB, &f, DEC_TRUNC_L4);

	/* 0 is a TSO/GSO super-packet: the wire size is its length. */
	f.b[f.l3 + 3] = 0;
	assert_int_equal(run(DLT_EN10MB, &f, f.n, &p), DEC_OK);
	assert_int_equal(p.len, f.n - f.l3);
	assert_int_equal(p.flags, PKT_L4);

	/* Wrong version nibble behind an IPv4 ethertype. */
	f.b[f.l3 + 3] = 40;
	f.b[f.l3] = 0x55;
	expect_fail(DLT_EN10MB, &f, DEC_BAD_IP_VERSION);
}

static void test_ipv4_options_padding(void **state)
{
	struct frame f = { 0 };

	eth(&f, 0x0800);
	ip4o(&f, 6, 0, 3);
	tcp(&f, 4444, 22, 0x02);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 6, 4444, 22, 0x02,
		  0, 0, PKT_L4, 52 });

	/* Ethernet pads short frames to 60 bytes: len stays the IP one. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 17, 0);
	udp(&f, 1, 2);
	fix(&f);
	putmem(&f, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10);
	putzero(&f, 8);
	assert_int_equal(f.n, 60);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 17, 1, 2, 0,
		  0, 0, PKT_L4, 28 });

	/* Unknown upper protocol: decoded, no L4 fields. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 47, 0);		/* GRE */
	putmem(&f, "\0\0\x08\0", 4);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 47, 0, 0, 0,
		  0, 0, 0, 24 });
}

static void test_ipv4_fragments(void **state)
{
	struct frame f = { 0 };

	/* A non-first fragment: its first bytes look like ports but are not. */
	eth(&f, 0x0800);
	ip4(&f, 17, 185);
	udp(&f, 1111, 2222);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 17, 0, 0, 0,
		  0, 0, PKT_FRAG, 28 });
	f.b[f.l3 + 6] = 0x20;	/* MF as well, still not first */
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 17, 0, 0, 0,
		  0, 0, PKT_FRAG, 28 });

	/* Only the top offset bit set (offset 4096, 32768 bytes in). */
	f.b[f.l3 + 6] = 0x10;
	f.b[f.l3 + 7] = 0;
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 17, 0, 0, 0,
		  0, 0, PKT_FRAG, 28 });

	/* The first fragment (MF, offset 0) carries the ports. */
	f.b[f.l3 + 6] = 0x20;
	f.b[f.l3 + 7] = 0;
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 17, 1111, 2222, 0,
		  0, 0, PKT_L4, 28 });

	/* A non-first fragment too short for any transport header is fine. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 6, 0x0001);
	put8(&f, 0xaa);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 6, 0, 0, 0,
		  0, 0, PKT_FRAG, 21 });
}

static void test_ipv6_ext(void **state)
{
	struct frame f = { 0 };

	/* HBH, routing, destination options, AH, then TCP. */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 43, 0);
	ext6(&f, 60, 1);
	ext6(&f, 51, 0);
	ah6(&f, 6, 4);
	tcp(&f, 999, 25, 0x02);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 6, 999, 25, 0x02,
		  0, 0, PKT_L4, 40 + 8 + 16 + 8 + 24 + 20 });

	/* Mobility header, then no next header. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 135);
	ext6(&f, 59, 1);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 59, 0, 0, 0,
		  0, 0, 0, 56 });

	/* No next header at once, with an empty payload. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 59);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 59, 0, 0, 0,
		  0, 0, 0, 40 });

	/* ESP ends the walk, behind AH too. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 51);
	ah6(&f, 50, 4);
	putmem(&f, "\0\0\x01\0\0\0\0\x01", 8);
	putzero(&f, 16);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 50, 0, 0, 0,
		  0, 0, 0, 40 + 24 + 24 });
}

static void test_ipv6_ext_limit(void **state)
{
	struct frame f;

	/* Eight extension headers are walked, nine are refused; the
	 * "loop" is a chain of hop-by-hop headers naming one another. */
	for (unsigned n = 8; n <= 9; n++) {
		memset(&f, 0, sizeof(f));
		eth(&f, 0x86dd);
		ip6(&f, 0);
		for (unsigned i = 1; i < n; i++)
			ext6(&f, 0, 0);
		ext6(&f, 17, 0);
		udp(&f, 1, 2);
		fix(&f);
		if (n == 8)
			expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 17,
				  1, 2, 0, 0, 0, PKT_L4, 40 + 8 * 8 + 8 });
		else
			expect_fail(DLT_EN10MB, &f, DEC_V6_EXT_LIMIT);
	}

	/* An extension header that claims more than the payload length,
	 * with captured bytes behind it: malformed, not truncated. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 60);
	ext6(&f, 17, 0);
	udp(&f, 1, 2);
	fix(&f);
	f.b[f.l3 + 41] = 3;	/* 32 bytes, 16 in the payload */
	putzero(&f, 32);
	expect_fail(DLT_EN10MB, &f, DEC_V6_EXT_LIMIT);

	/* Payload length too short for the extension header's first bytes. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 6, 0);
	tcp(&f, 1, 2, 0x02);
	f.b[f.l3 + 5] = 1;
	expect_fail(DLT_EN10MB, &f, DEC_V6_EXT_LIMIT);
}

static void test_ipv6_fragments(void **state)
{
	struct frame f = { 0 };

	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 17, 181, 1);
	udp(&f, 1111, 2222);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 17, 0, 0, 0,
		  0, 0, PKT_FRAG, 56 });

	/* Last fragment, M clear. */
	f.b[f.l4 - 5] &= ~1;
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 17, 0, 0, 0,
		  0, 0, PKT_FRAG, 56 });

	/* First fragment carries the ports. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 44, 0);
	frag6(&f, 6, 0, 1);
	tcp(&f, 3333, 4444, 0x02);
	fix(&f);
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET6, 6, 3333, 4444,
		  0x02, 0, 0, PKT_L4, 76 });
}

static void test_l4_malformed(void **state)
{
	struct frame f = { 0 };

	eth(&f, 0x0800);
	ip4(&f, 6, 0);
	tcp(&f, 1, 2, 0x02);
	fix(&f);
	f.b[f.l4 + 12] = 4 << 4;
	expect_fail(DLT_EN10MB, &f, DEC_BAD_L4_HDR);
	f.b[f.l4 + 12] = 0;
	expect_fail(DLT_EN10MB, &f, DEC_BAD_L4_HDR);
	f.b[f.l4 + 12] = 15 << 4;	/* options we do not need */
	expect_ok(DLT_EN10MB, &f, &(struct want){ AF_INET, 6, 1, 2, 0x02,
		  0, 0, PKT_L4, 40 });

	/* Cut after the ports, before the flags: still truncated. */
	f.n = f.l4 + 8;
	fix(&f);
	expect_fail(DLT_EN10MB, &f, DEC_TRUNC_L4);
	f.n = f.l4 + 13;
	fix(&f);
	expect_fail(DLT_EN10MB, &f, DEC_TRUNC_L4);

	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 17);
	put16(&f, 53);
	put8(&f, 0);
	fix(&f);
	expect_fail(DLT_EN10MB, &f, DEC_TRUNC_L4);

	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 1, 0);
	put8(&f, 8);
	fix(&f);
	expect_fail(DLT_EN10MB, &f, DEC_TRUNC_L4);
}

/* A frame and where its parts end, for the truncation sweep. */
struct cut {
	int dlt;
	struct frame f;
	uint32_t link_end;	/* below: DEC_TRUNC_LINK */
	uint32_t l4_need;	/* transport bytes needed after f.l4 */
};

/* Every caplen from 0 to the full frame gives the reason for the part
 * it ends in, and from the last needed byte on the full packet. */
static void sweep(const struct cut *c)
{
	const struct frame *f = &c->f;
	struct pkt full, p;

	assert_int_equal(dec(c->dlt, f, &full), DEC_OK);
	for (uint32_t len = 0; len <= f->n; len++) {
		enum decode_result r = run(c->dlt, f, len, &p), want;

		if (len < c->link_end)
			want = DEC_TRUNC_LINK;
		else if (len < f->l4)
			want = DEC_TRUNC_IP;
		else if (len < f->l4 + c->l4_need)
			want = DEC_TRUNC_L4;
		else
			want = DEC_OK;
		if (r != want)
			fail_msg("caplen %u: %s, want %s", len,
				 decode_result_name(r), decode_result_name(want));
		if (r == DEC_OK)
			assert_true(addr_eq(&p.src, &full.src) &&
				    addr_eq(&p.dst, &full.dst) &&
				    p.sport == full.sport &&
				    p.dport == full.dport &&
				    p.tcp_flags == full.tcp_flags &&
				    p.icmp_type == full.icmp_type &&
				    p.flags == full.flags &&
				    p.len == full.len &&
				    p.proto == full.proto);
	}
}

static void test_truncation(void **state)
{
	struct cut *c = calloc(8, sizeof(*c));
	unsigned n = 0;

	assert_non_null(c);
	c[n] = (struct cut){ DLT_EN10MB, .link_end = 14, .l4_need = 14 };
	eth(&c[n].f, 0x0800);
	ip4(&c[n].f, 6, 0);
	tcp(&c[n].f, 1, 80, 0x02);
	fix(&c[n++].f);

	c[n] = (struct cut){ DLT_EN10MB, .link_end = 22, .l4_need = 4 };
	eth(&c[n].f, 0x88a8);
	tag(&c[n].f, 1, 0x8100);
	tag(&c[n].f, 2, 0x86dd);
	ip6(&c[n].f, 0);
	ext6(&c[n].f, 17, 1);
	udp(&c[n].f, 1, 2);
	fix(&c[n++].f);

	c[n] = (struct cut){ DLT_LINUX_SLL, .link_end = 16, .l4_need = 2 };
	sll(&c[n].f, 0x0800);
	ip4o(&c[n].f, 1, 0x2000, 2);
	icmp(&c[n].f, 8, 0);
	fix(&c[n++].f);

	c[n] = (struct cut){ DLT_LINUX_SLL2, .link_end = 20, .l4_need = 14 };
	sll2(&c[n].f, 0x86dd);
	ip6(&c[n].f, 44);
	frag6(&c[n].f, 51, 0, 1);
	ah6(&c[n].f, 6, 1);
	tcp(&c[n].f, 1, 2, 0x11);
	fix(&c[n++].f);

	c[n] = (struct cut){ DLT_NULL, .link_end = 4, .l4_need = 4 };
	null_hdr(&c[n].f, 2, 1);
	ip4(&c[n].f, 17, 0);
	udp(&c[n].f, 1, 2);
	fix(&c[n++].f);

	c[n] = (struct cut){ DLT_RAW, .link_end = 0, .l4_need = 2 };
	ip6(&c[n].f, 58);
	icmp(&c[n].f, 128, 0);
	fix(&c[n++].f);

	c[n] = (struct cut){ DLT_LOOP, .link_end = 4, .l4_need = 14 };
	null_hdr(&c[n].f, 30, 0);
	ip6(&c[n].f, 6);
	tcp(&c[n].f, 1, 2, 0x02);
	fix(&c[n++].f);

	/* Non-first fragment: no transport bytes needed at all. */
	c[n] = (struct cut){ DLT_EN10MB, .link_end = 18, .l4_need = 0 };
	eth(&c[n].f, 0x8100);
	tag(&c[n].f, 5, 0x86dd);
	ip6(&c[n].f, 44);
	frag6(&c[n].f, 6, 100, 0);
	tcp(&c[n].f, 1, 2, 0x02);
	c[n].f.l4 -= 4;		/* its offset is in the first 4 bytes */
	fix(&c[n++].f);

	for (unsigned i = 0; i < n; i++)
		sweep(&c[i]);
	free(c);
}

/* Malformed frames, cut at every length: a reason or OK, never a crash
 * (ASan watches the reads). */
static void test_truncation_malformed(void **state)
{
	struct frame f = { 0 };
	struct pkt p;

	eth(&f, 0x86dd);
	ip6(&f, 0);
	for (unsigned i = 0; i < 12; i++)
		ext6(&f, 0, (uint8_t)(i & 3));
	fix(&f);
	for (uint32_t len = 0; len <= f.n; len++)
		assert_int_not_equal(run(DLT_EN10MB, &f, len, &p), DEC_OK);

	memset(&f, 0, sizeof(f));
	null_hdr(&f, 24, 1);
	ip4o(&f, 6, 0, 10);	/* IHL 15 */
	tcp(&f, 1, 2, 0x02);
	f.b[f.l4 + 12] = 0x30;
	fix(&f);
	for (uint32_t len = 0; len <= f.n; len++)
		run(DLT_NULL, &f, len, &p);
	assert_int_equal(run(DLT_NULL, &f, f.n, &p), DEC_BAD_IP_VERSION);
	f.b[0] = 2;
	assert_int_equal(run(DLT_NULL, &f, f.n, &p), DEC_BAD_L4_HDR);
}

static void test_result_names(void **state)
{
	for (int i = 0; i < DEC__MAX; i++) {
		const char *s = decode_result_name(i);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, decode_result_name(j));
	}
	assert_string_equal(decode_result_name(DEC_OK), "ok");
	assert_string_equal(decode_result_name(DEC_NOT_IP), "not_ip");
	assert_string_equal(decode_result_name(DEC_TRUNC_IP), "trunc_ip");
	assert_string_equal(decode_result_name(DEC__MAX), "unknown");
	assert_string_equal(decode_result_name(-1), "unknown");
}

/* A frame whose IPv4 source (at f.l3 + 12) or IPv6 source (f.l3 + 8) is
 * patched to src. */
static enum decode_result dec_src(int v6, const uint8_t *src, struct pkt *p)
{
	struct frame f = { 0 };

	eth(&f, v6 ? 0x86dd : 0x0800);
	if (v6)
		ip6(&f, 17);
	else
		ip4(&f, 17, 0);
	udp(&f, 68, 67);
	fix(&f);
	memcpy(f.b + f.l3 + (v6 ? 8 : 12), src, v6 ? 16 : 4);
	return dec(DLT_EN10MB, &f, p);
}

/* Sources no host can hold are decoded in full but given a reason of
 * their own; ordinary ones (64:ff9b::/96 included) are not. */
static void test_bogus_sources(void **state)
{
	static const struct { uint8_t a[4]; enum decode_result r; } v4[] = {
		{ { 0, 0, 0, 0 }, DEC_SRC_UNSPEC },
		{ { 0, 1, 2, 3 }, DEC_SRC_UNSPEC },
		{ { 127, 0, 0, 1 }, DEC_SRC_LOOPBACK },
		{ { 224, 0, 0, 5 }, DEC_SRC_MULTICAST },
		{ { 239, 255, 255, 250 }, DEC_SRC_MULTICAST },
		{ { 255, 255, 255, 255 }, DEC_SRC_BROADCAST },
		{ { 240, 0, 0, 1 }, DEC_SRC_MARTIAN },
		{ { 1, 2, 3, 4 }, DEC_OK },
		{ { 223, 255, 255, 254 }, DEC_OK },
		{ { 126, 0, 0, 1 }, DEC_OK },
	};
	static const struct { uint8_t a[16]; enum decode_result r; } v6[] = {
		{ { 0 }, DEC_SRC_UNSPEC },
		{ { [15] = 1 }, DEC_SRC_LOOPBACK },
		{ { 0xff, 0x02, [15] = 1 }, DEC_SRC_MULTICAST },
		{ { [10] = 0xff, 0xff, 198, 18, 0, 3 }, DEC_SRC_MAPPED },
		{ { [12] = 198, 18, 0, 3 }, DEC_SRC_MAPPED },
		{ { 0, 0x64, 0xff, 0x9b, [12] = 198, 18, 0, 3 }, DEC_OK },
		{ { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, DEC_OK },
		{ { 0xfe, 0x80, [15] = 1 }, DEC_OK },
	};
	struct pkt p;

	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		assert_int_equal(dec_src(0, v4[i].a, &p), v4[i].r);
		assert_int_equal(p.proto, 17);	/* decoded in full all the same */
		assert_int_equal(p.dport, 67);
	}
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		assert_int_equal(dec_src(1, v6[i].a, &p), v6[i].r);
		assert_int_equal(p.dport, 67);
	}
	assert_string_equal(decode_result_name(DEC_SRC_UNSPEC), "src_unspecified");
	assert_string_equal(decode_result_name(DEC_SRC_MAPPED), "src_v4_in_v6");
}

/* Linux cooked headers say which way a packet went; Ethernet does not. */
static void test_direction(void **state)
{
	static const struct { uint8_t type; uint8_t dir; } t[] = {
		{ 0, PKT_DIR_IN }, { 1, PKT_DIR_IN }, { 2, PKT_DIR_IN },
		{ 3, PKT_DIR_UNKNOWN }, { 4, PKT_DIR_OUT },
	};
	struct frame f;
	struct pkt p;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&f, 0, sizeof(f));
		sll(&f, 0x0800);
		f.b[1] = t[i].type;
		ip4(&f, 17, 0);
		udp(&f, 3, 4);
		fix(&f);
		assert_int_equal(dec(DLT_LINUX_SLL, &f, &p), DEC_OK);
		assert_int_equal(p.dir, t[i].dir);
		memset(&f, 0, sizeof(f));
		sll2(&f, 0x0800);
		f.b[10] = t[i].type;
		ip4(&f, 17, 0);
		udp(&f, 3, 4);
		fix(&f);
		assert_int_equal(dec(DLT_LINUX_SLL2, &f, &p), DEC_OK);
		assert_int_equal(p.dir, t[i].dir);
	}
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 17, 0);
	udp(&f, 3, 4);
	fix(&f);
	assert_int_equal(dec(DLT_EN10MB, &f, &p), DEC_OK);
	assert_int_equal(p.dir, PKT_DIR_UNKNOWN);
	assert_int_equal(p.inner_proto, 0);
}

/* An echo names its flow by its identifier; an ICMP error by the ports of
 * the packet it quotes, as its sender sees them. */
static void test_icmp_flows(void **state)
{
	struct frame f = { 0 };
	struct pkt p;

	eth(&f, 0x0800);
	ip4(&f, 1, 0);
	put8(&f, 8);
	put8(&f, 0);
	put16(&f, 0);
	put16(&f, 0x4d2);	/* identifier */
	put16(&f, 7);		/* sequence */
	fix(&f);
	assert_int_equal(dec(DLT_EN10MB, &f, &p), DEC_OK);
	assert_int_equal(p.sport, 0x4d2);
	assert_int_equal(p.dport, 0x4d2);
	assert_int_equal(p.flags, PKT_L4);

	/* Port unreachable quoting UDP 40000 -> 53 (inner header: 20 bytes). */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ip4(&f, 1, 0);
	put8(&f, 3);
	put8(&f, 3);
	putzero(&f, 6);
	ip4(&f, 17, 0);
	udp(&f, 40000, 53);
	f.l3 = 14;
	fix(&f);
	assert_int_equal(dec(DLT_EN10MB, &f, &p), DEC_OK);
	assert_int_equal(p.icmp_type, 3);
	assert_int_equal(p.flags, PKT_L4 | PKT_ICMP_ERR);
	assert_int_equal(p.inner_proto, 17);
	assert_int_equal(p.sport, 53);
	assert_int_equal(p.dport, 40000);

	/* ICMPv6 time exceeded quoting TCP 1025 -> 443. */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ip6(&f, 58);
	put8(&f, 3);
	put8(&f, 0);
	putzero(&f, 6);
	ip6(&f, 6);
	tcp(&f, 1025, 443, 0x02);
	f.l3 = 14;
	f.ipv = 6;
	fix(&f);
	assert_int_equal(dec(DLT_EN10MB, &f, &p), DEC_OK);
	assert_int_equal(p.flags, PKT_L4 | PKT_ICMP_ERR);
	assert_int_equal(p.inner_proto, 6);
	assert_int_equal(p.sport, 443);
	assert_int_equal(p.dport, 1025);

	/* A quote cut short names no flow. */
	f.n = 14 + 40 + 8 + 40 + 2;
	fix(&f);
	assert_int_equal(dec(DLT_EN10MB, &f, &p), DEC_OK);
	assert_int_equal(p.flags, PKT_L4);
	assert_int_equal(p.sport, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_ipv4),
		cmocka_unit_test(test_eth_ipv6),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_not_ip),
		cmocka_unit_test(test_sll),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_null_loop),
		cmocka_unit_test(test_unsupported_link),
		cmocka_unit_test(test_ipv4_malformed),
		cmocka_unit_test(test_ipv4_options_padding),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv6_ext),
		cmocka_unit_test(test_ipv6_ext_limit),
		cmocka_unit_test(test_ipv6_fragments),
		cmocka_unit_test(test_l4_malformed),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_malformed),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_bogus_sources),
		cmocka_unit_test(test_direction),
		cmocka_unit_test(test_icmp_flows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
