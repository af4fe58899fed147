/* test_workers.c - the fanout program keeps each source on one worker: run
 * by a small classic-BPF interpreter (the kernel's semantics for what the
 * program uses: SKF_AD_PROTOCOL, loads relative to the network header,
 * out-of-bounds loads ending the program with 0) on synthetic IPv4 and
 * IPv6 headers, compared with workers_shard, and checked by the kernel's
 * own filter checker (SO_ATTACH_FILTER needs no privilege). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "workers.h"

/* A packet as the fanout program meets it: skb->protocol and the bytes
 * from the network header on. */
struct frame {
	uint16_t proto;
	uint8_t pkttype;	/* PACKET_HOST (0) unless set */
	uint8_t b[64];
	uint32_t len;
};

static bool load32(const struct frame *f, int32_t k, uint32_t *v)
{
	int64_t off;

	if (k == SKF_AD_OFF + SKF_AD_PROTOCOL) {
		*v = f->proto;
		return true;
	}
	if (k == SKF_AD_OFF + SKF_AD_PKTTYPE) {
		*v = f->pkttype;
		return true;
	}
	off = k >= SKF_NET_OFF && k < SKF_NET_OFF + 0x10000 ? (int64_t)k - SKF_NET_OFF : k;
	if (off < 0 || off + 4 > f->len)
		return false;
	*v = (uint32_t)f->b[off] << 24 | (uint32_t)f->b[off + 1] << 16 |
	     (uint32_t)f->b[off + 2] << 8 | f->b[off + 3];
	return true;
}

static uint32_t alu(uint16_t op, uint32_t a, uint32_t x)
{
	switch (BPF_OP(op)) {
	case BPF_AND: return a & x;
	case BPF_MUL: return a * x;
	case BPF_XOR: return a ^ x;
	case BPF_RSH: return a >> x;
	}
	fail_msg("ALU op %#x not interpreted", op);
	return 0;
}

/* Runs prog on f as the kernel would; what the program returns. */
static uint32_t run(const struct sock_filter *prog, unsigned len, const struct frame *f)
{
	uint32_t a = 0, x = 0;

	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *i = &prog[pc];

		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (!load32(f, (int32_t)i->k, &a))
				return 0;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
		case BPF_ALU | BPF_MUL | BPF_K:
		case BPF_ALU | BPF_XOR | BPF_K:
		case BPF_ALU | BPF_RSH | BPF_K:
			a = alu(i->code, a, i->k);
			break;
		case BPF_ALU | BPF_AND | BPF_X:
		case BPF_ALU | BPF_MUL | BPF_X:
		case BPF_ALU | BPF_XOR | BPF_X:
		case BPF_ALU | BPF_RSH | BPF_X:
			a = alu(i->code, a, x);
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_JMP | BPF_JA:
			pc += i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == i->k ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_A:
			return a;
		case BPF_RET | BPF_K:
			return i->k;
		default:
			fail_msg("instruction %#x at %u not interpreted", i->code, pc);
		}
		assert_true(pc < len);
	}
	fail_msg("the program ran off its end");
	return 0;
}

static struct frame ip4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto)
{
	struct frame f = { .proto = ETH_P_IP, .len = 40 };

	f.b[0] = 0x45;
	f.b[9] = proto;
	memcpy(f.b + 12, src, 4);
	memcpy(f.b + 16, dst, 4);
	f.b[20] = (uint8_t)rand();	/* ports */
	f.b[22] = (uint8_t)rand();
	return f;
}

static struct frame ip6(const uint8_t src[16], uint8_t next)
{
	struct frame f = { .proto = ETH_P_IPV6, .len = 60 };

	f.b[0] = 0x60;
	f.b[6] = next;
	memcpy(f.b + 8, src, 16);
	f.b[39] = 1;			/* 2001:db8::1 */
	f.b[24] = 0x20, f.b[25] = 0x01, f.b[26] = 0x0d, f.b[27] = 0xb8;
	return f;
}

static void rnd(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rand();
}

/* Every packet of a source, whatever its destination, protocol and ports,
 * goes where workers_shard says, for every worker count. */
static void test_v4_sources(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	unsigned len = workers_fanout_prog(32, 64, prog);

	srand(1);
	for (int s = 0; s < 2000; s++) {
		uint8_t src[4], dst[4];
		struct ip_addr a;

		rnd(src, 4);
		addr_from_v4(&a, src);
		for (int k = 0; k < 5; k++) {
			struct frame f;
			uint32_t h;

			rnd(dst, 4);
			f = ip4(src, dst, k & 1 ? 6 : 17);
			h = run(prog, len, &f);
			for (unsigned n = 2; n <= 8; n++)
				assert_int_equal(h % n, workers_shard(&a, n, 32, 64));
		}
	}
}

/* A packet this host sends goes to the shard of its destination, so that
 * a flow's two directions meet in one worker. */
static void test_outgoing_by_destination(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	unsigned len = workers_fanout_prog(32, 64, prog);

	srand(5);
	for (int s = 0; s < 2000; s++) {
		uint8_t src[16], dst[16];
		struct ip_addr a, b;
		struct frame f;

		rnd(src, 16);
		rnd(dst, 4);
		addr_from_v4(&b, dst);
		f = ip4(src, dst, 17);
		f.pkttype = PACKET_OUTGOING;
		assert_int_equal(run(prog, len, &f) % 4, workers_shard(&b, 4, 32, 64));
		f.pkttype = PACKET_HOST;
		addr_from_v4(&a, src);
		assert_int_equal(run(prog, len, &f) % 4, workers_shard(&a, 4, 32, 64));
		f = ip6(src, 17);
		memcpy(f.b + 24, dst, 16);
		rnd(dst, 16);
		memcpy(f.b + 24, dst, 16);
		addr_from_v6(&b, dst);
		f.pkttype = PACKET_OUTGOING;
		assert_int_equal(run(prog, len, &f) % 4, workers_shard(&b, 4, 32, 64));
	}
}

/* An IPv6 source is its /64: any interface id, the same worker. */
static void test_v6_prefix(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	unsigned len = workers_fanout_prog(32, 64, prog);

	srand(2);
	for (int s = 0; s < 1000; s++) {
		uint8_t src[16];
		struct ip_addr a;
		uint32_t first = 0;

		rnd(src, 16);
		for (int k = 0; k < 6; k++) {
			struct frame f;
			uint32_t h;

			rnd(src + 8, 8);	/* another address of the /64 */
			f = ip6(src, k & 1 ? 6 : 58);
			h = run(prog, len, &f);
			addr_from_v6(&a, src);
			assert_int_equal(h % 4, workers_shard(&a, 4, 32, 64));
			if (k == 0)
				first = h;
			assert_int_equal(h, first);
		}
	}
}

/* With ipv4_prefix = 24 a /24 is one source; with ipv6_prefix = 48 a /48. */
static void test_configured_prefix(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	unsigned len = workers_fanout_prog(24, 48, prog);
	uint8_t src[4] = { 198, 18, 7, 0 }, dst[4] = { 198, 18, 0, 1 }, src6[16];
	struct frame f;
	uint32_t h0, h;
	int differ = 0;

	f = ip4(src, dst, 6);
	h0 = run(prog, len, &f);
	for (int i = 1; i < 256; i++) {
		src[3] = (uint8_t)i;
		f = ip4(src, dst, 6);
		assert_int_equal(run(prog, len, &f), h0);
	}
	rnd(src6, 16);
	f = ip6(src6, 6);
	h0 = run(prog, len, &f);
	for (int i = 0; i < 64; i++) {
		rnd(src6 + 6, 10);
		f = ip6(src6, 6);
		assert_int_equal(run(prog, len, &f), h0);
	}
	/* and the prefix around it is not one source */
	for (int i = 0; i < 64; i++) {
		rnd(src6 + 4, 2);
		f = ip6(src6, 6);
		h = run(prog, len, &f);
		differ += h != h0;
	}
	assert_true(differ > 32);
}

/* Sources spread evenly: 20,000 random ones over 4 workers, each between
 * 22 % and 28 %, and so do consecutive addresses (a /18 of flooders). */
static void test_spread(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	unsigned len = workers_fanout_prog(32, 64, prog);
	unsigned cnt[2][4] = { { 0 } };
	uint8_t src[4], dst[4] = { 198, 18, 0, 1 };

	srand(3);
	for (uint32_t i = 0; i < 20000; i++) {
		struct frame f;

		rnd(src, 4);
		f = ip4(src, dst, 6);
		cnt[0][run(prog, len, &f) % 4]++;
		src[0] = 198, src[1] = 19, src[2] = (uint8_t)(i >> 8), src[3] = (uint8_t)i;
		f = ip4(src, dst, 6);
		cnt[1][run(prog, len, &f) % 4]++;
	}
	for (int k = 0; k < 2; k++)
		for (int w = 0; w < 4; w++)
			assert_true(cnt[k][w] > 4400 && cnt[k][w] < 5600);
}

/* Not IP, or too short to hold a source: worker 0. */
static void test_other(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	unsigned len = workers_fanout_prog(32, 64, prog);
	uint8_t src[4] = { 198, 18, 0, 3 }, dst[4] = { 198, 18, 0, 1 }, src6[16] = { 0x20 };
	struct frame f = ip4(src, dst, 6);

	f.proto = ETH_P_ARP;
	assert_int_equal(run(prog, len, &f), 0);
	f = ip4(src, dst, 6);
	f.len = 14;
	assert_int_equal(run(prog, len, &f), 0);
	f = ip6(src6, 6);
	f.len = 20;
	assert_int_equal(run(prog, len, &f), 0);
}

/* The kernel's checker takes the program (as a socket filter, which needs
 * no privilege; fanout programs go through the same check). */
static void no_verdict(const struct verdict *v, void *ctx)
{
	(void)v;
	(*(unsigned *)ctx)++;
}

/* The busiest sources of detection sharded over 4 workers are those of one
 * detector fed the same packets: every shard's lists, merged (a replay's
 * shards are read at once). 12 sources (v4 and v6) send 3, 6, ..., 36 UDP
 * datagrams, interleaved 1 ms apart: below every threshold, so the lists
 * hold the counts themselves. */
static void test_top_sources(void **state)
{
	enum { NSRC = 12, MAXP = NSRC * (NSRC + 1) / 2 * 3 };
	struct detect_cfg dc;
	struct workers_cfg wc = { .n = 4, .det = &dc, .cap = NULL };
	struct detect_top got[KIND__MAX][8], want[KIND__MAX][8];
	struct workers *ws;
	struct detect *one;
	struct ip_addr src[NSRC], dst;
	struct pkt *p = calloc(MAXP, sizeof(*p));
	unsigned shards = 0, verdicts = 0;
	size_t n = 0;
	char err[256];

	assert_non_null(p);
	detect_cfg_defaults(&dc);
	dc.seed = 7;
	assert_int_equal(workers_new(EV_DEFAULT, &wc, no_verdict, &verdicts, NULL, NULL, &ws, err,
				     sizeof(err)), 0);
	assert_int_equal(detect_new(&dc, no_verdict, &verdicts, &one), 0);
	assert_int_equal(addr_parse("198.18.200.1", &dst), 0);
	for (unsigned i = 0; i < NSRC; i++) {
		char a[64];

		snprintf(a, sizeof(a), i % 3 ? "198.18.%u.%u" : "2001:db8:%x::1", 10 + i, 3 * i + 1);
		assert_int_equal(addr_parse(a, &src[i]), 0);
		shards |= 1u << workers_shard(&src[i], 4, dc.v4_prefix, dc.v6_prefix);
	}
	assert_true(__builtin_popcount(shards) >= 3);	/* the sources are spread */
	for (unsigned round = 0; round < 3 * NSRC; round++) {
		for (unsigned i = 0; i < NSRC; i++) {
			if (round >= 3 * (i + 1))
				continue;
			p[n] = (struct pkt){
				.src = src[i], .dst = dst, .ts_us = 1700000000000000ull + n * 1000,
				.len = 60, .sport = (uint16_t)(40000 + i), .dport = 9999,
				.family = addr_is_v4(&src[i]) ? AF_INET : AF_INET6,
				.proto = IPPROTO_UDP, .flags = PKT_L4,
			};
			if (!addr_is_v4(&src[i]))
				assert_int_equal(addr_parse("2001:db8:ff::1", &p[n].dst), 0);
			n++;
		}
	}
	assert_int_equal(n, MAXP);
	workers_feed(ws, p, n);
	detect_batch(one, p, n);
	assert_true(workers_top_sources(ws, got, 5));
	detect_top_sources(one, want, 5);
	assert_int_equal(verdicts, 0);
	/* The same counts in the same order; a source where its count is
	 * unique (ties, as port_scan's 1 each, fall in table order). */
	for (int k = 0; k < KIND_DDOS; k++)
		for (int i = 0; i < 5; i++) {
			int same = 0;

			assert_int_equal(got[k][i].count, want[k][i].count);
			for (int j = 0; j < 5; j++)
				same += want[k][j].count == want[k][i].count;
			if (same == 1) {
				assert_true(addr_eq(&got[k][i].src.addr, &want[k][i].src.addr));
				assert_int_equal(got[k][i].src.len, want[k][i].src.len);
			}
		}
	/* The scenario's own truth: the last source sent 36, the next 33. */
	assert_true(addr_eq(&got[KIND_UDP_FLOOD][0].src.addr, &src[NSRC - 1]));
	assert_int_equal(got[KIND_PORT_SCAN][4].count, 1);
	assert_int_equal(got[KIND_UDP_FLOOD][0].count, 3 * NSRC);
	assert_int_equal(got[KIND_UDP_FLOOD][1].count, 3 * (NSRC - 1));
	assert_int_equal(got[KIND_UDP_FLOOD][4].count, 3 * (NSRC - 4));
	assert_int_equal(got[KIND_RATE_FLOOD][0].count, 3 * NSRC);
	workers_free(ws);
	detect_free(one);
	free(p);
}

static void test_kernel_accepts(void **state)
{
	struct sock_filter prog[WORKERS_PROG_MAX];
	struct sock_fprog fp = { .filter = prog };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	fp.len = (unsigned short)workers_fanout_prog(20, 56, prog);
	assert_true(fp.len <= WORKERS_PROG_MAX);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_sources),
		cmocka_unit_test(test_outgoing_by_destination),
		cmocka_unit_test(test_v6_prefix),
		cmocka_unit_test(test_configured_prefix),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_other),
		cmocka_unit_test(test_kernel_accepts),
		cmocka_unit_test(test_top_sources),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
