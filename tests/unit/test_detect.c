/* test_detect.c - exact sliding windows, thresholds, cooldowns, replies,
 * SYN completion, grouping, bounded memory under spoofed floods, ddos. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "detect.h"

#define T0	(1700000000ull * 1000000ull)	/* a multiple of every window */
#define MAXREC	4096

#define F_SYN	0x02
#define F_RST	0x04
#define F_PSH	0x08
#define F_ACK	0x10

struct rec {
	struct verdict v[MAXREC];
	uint64_t at[MAXREC];	/* index of the packet that fired */
	unsigned n;
	unsigned kind_n[KIND__MAX];
	uint64_t idx;		/* packets fed so far */
};

static void rec_cb(const struct verdict *v, void *ctx)
{
	struct rec *r = ctx;

	r->kind_n[v->kind]++;
	if (r->n < MAXREC) {
		r->v[r->n] = *v;
		r->at[r->n] = r->idx;
		r->n++;
	}
}

static struct rec *rec_new(void)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	return r;
}

static void feed(struct detect *d, struct rec *r, const struct pkt *p)
{
	detect_packet(d, p);
	r->idx++;
}

static struct detect *mk_detect(const struct detect_cfg *cfg, struct rec *r)
{
	struct detect *d;

	assert_int_equal(detect_new(cfg, rec_cb, r, &d), 0);
	return d;
}

static struct detect *mk_default(struct rec *r)
{
	struct detect_cfg cfg;

	detect_cfg_defaults(&cfg);
	return mk_detect(&cfg, r);
}

static void v4(struct ip_addr *a, uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
	const uint8_t b[4] = { x, y, z, w };

	addr_from_v4(a, b);
}

static struct pkt mk(const struct ip_addr *src, const struct ip_addr *dst,
		     uint8_t proto, uint16_t sport, uint16_t dport, uint64_t ts)
{
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.src = *src;
	p.dst = *dst;
	p.family = addr_is_v4(src) ? AF_INET : AF_INET6;
	p.proto = proto;
	p.sport = sport;
	p.dport = dport;
	p.ts_us = ts;
	p.len = 60;
	p.flags = PKT_L4;
	return p;
}

static struct pkt mk_tcp(const struct ip_addr *src, const struct ip_addr *dst,
			 uint16_t sport, uint16_t dport, uint8_t flags, uint64_t ts)
{
	struct pkt p = mk(src, dst, IPPROTO_TCP, sport, dport, ts);

	p.tcp_flags = flags;
	return p;
}

static struct pkt mk_icmp(const struct ip_addr *src, const struct ip_addr *dst,
			  uint8_t type, uint8_t code, uint64_t ts)
{
	bool six = !addr_is_v4(src);
	struct pkt p = mk(src, dst, six ? IPPROTO_ICMPV6 : IPPROTO_ICMP, 0, 0, ts);

	p.icmp_type = type;
	p.icmp_code = code;
	return p;
}

static struct ip_addr target(void)
{
	struct ip_addr a;

	v4(&a, 198, 18, 255, 1);
	return a;
}

/* ---- one generic battery for every detector ---- */

struct kdesc {
	enum detect_kind kind;
	/* The i-th event for this detector, at ts. */
	void (*gen)(struct pkt *p, uint32_t i, uint64_t ts);
};

static void gen_syn(struct pkt *p, uint32_t i, uint64_t ts)
{
	struct ip_addr s, t = target();

	v4(&s, 198, 18, 1, 1);
	*p = mk_tcp(&s, &t, (uint16_t)(10000 + i % 50000), 80, F_SYN, ts);
}

static void gen_udp(struct pkt *p, uint32_t i, uint64_t ts)
{
	struct ip_addr s, t = target();

	v4(&s, 198, 18, 1, 2);
	*p = mk(&s, &t, IPPROTO_UDP, (uint16_t)(20000 + i % 40000), 9999, ts);
}

static void gen_icmp(struct pkt *p, uint32_t i, uint64_t ts)
{
	struct ip_addr s, t = target();

	v4(&s, 198, 18, 1, 3);
	*p = mk_icmp(&s, &t, 8, 0, ts);
}

static void gen_scan(struct pkt *p, uint32_t i, uint64_t ts)
{
	struct ip_addr s, t = target();

	v4(&s, 198, 18, 1, 4);
	*p = mk_tcp(&s, &t, 40000, (uint16_t)(1 + i % 60000), F_SYN, ts);
}

static void gen_rate(struct pkt *p, uint32_t i, uint64_t ts)
{
	struct ip_addr s, t = target();

	v4(&s, 198, 18, 1, 5);
	*p = mk_tcp(&s, &t, 40001, 443, F_ACK | F_PSH, ts);
}

/* 1000 sources in turn, each far below its own thresholds. */
static void gen_ddos(struct pkt *p, uint32_t i, uint64_t ts)
{
	struct ip_addr s, t;

	v4(&s, 198, 18, (uint8_t)(10 + i % 1000 / 250), (uint8_t)(i % 250));
	v4(&t, 198, 18, 255, 9);
	*p = mk_tcp(&s, &t, (uint16_t)(1024 + i % 60000), 80, F_SYN, ts);
}

static const struct kdesc kd_syn = { KIND_SYN_FLOOD, gen_syn };
static const struct kdesc kd_udp = { KIND_UDP_FLOOD, gen_udp };
static const struct kdesc kd_icmp = { KIND_ICMP_FLOOD, gen_icmp };
static const struct kdesc kd_scan = { KIND_PORT_SCAN, gen_scan };
static const struct kdesc kd_rate = { KIND_RATE_FLOOD, gen_rate };
static const struct kdesc kd_ddos = { KIND_DDOS, gen_ddos };

struct battery {
	const struct kdesc *kd;
	struct detect_cfg cfg;
	struct detect *d;
	struct rec *r;
	uint32_t thr;
	uint64_t win_us, dt;	/* dt: spacing that puts 2 x thr in a window */
};

static void bat_init(struct battery *b, void **state)
{
	b->kd = *state;
	b->r = rec_new();
	detect_cfg_defaults(&b->cfg);
	b->cfg.seed = 42;
	b->d = mk_detect(&b->cfg, b->r);
	b->thr = b->cfg.det[b->kd->kind].threshold;
	b->win_us = b->cfg.det[b->kd->kind].window_ms * 1000ull;
	b->dt = b->win_us / (2 * b->thr);
}

static void bat_fini(struct battery *b)
{
	detect_free(b->d);
	free(b->r);
}

static void bat_event(struct battery *b, uint32_t i, uint64_t ts)
{
	struct pkt p;

	b->kd->gen(&p, i, ts);
	feed(b->d, b->r, &p);
}

/* Verdicts of the kind under test, and no other kind fired meanwhile. */
static unsigned bat_alerts(const struct battery *b)
{
	unsigned total = 0;

	for (int k = 0; k < KIND__MAX; k++)
		total += b->r->kind_n[k];
	assert_int_equal(total, b->r->kind_n[b->kd->kind]);
	return total;
}

static void test_below_threshold(void **state)
{
	struct battery b;

	bat_init(&b, state);
	for (uint32_t i = 0; i + 1 < b.thr; i++)
		bat_event(&b, i, T0 + i * b.dt);
	assert_int_equal(bat_alerts(&b), 0);
	bat_fini(&b);
}

static void test_at_threshold(void **state)
{
	struct battery b;
	struct pkt p;
	const struct verdict *v;

	bat_init(&b, state);
	for (uint32_t i = 0; i < b.thr; i++) {
		bat_event(&b, i, T0 + i * b.dt);
		assert_int_equal(bat_alerts(&b), i + 1 == b.thr);
	}
	v = &b.r->v[0];
	b.kd->gen(&p, b.thr - 1, T0 + (b.thr - 1) * b.dt);
	assert_int_equal(b.r->at[0], b.thr - 1);
	assert_int_equal(v->kind, b.kd->kind);
	assert_int_equal(v->count, b.thr);
	assert_int_equal(v->threshold, b.thr);
	assert_int_equal(v->window_ms, b.win_us / 1000);
	assert_int_equal(v->ts_us, p.ts_us);
	assert_true(addr_eq(&v->dst, &p.dst));
	assert_int_equal(v->proto, p.proto);
	if (b.kd->kind == KIND_DDOS) {
		struct ip_addr zero;

		memset(&zero, 0, sizeof(zero));
		assert_int_equal(v->src.len, 0);
		assert_true(addr_eq(&v->src.addr, &zero));
	} else {
		assert_int_equal(v->src.len, 128);
		assert_true(addr_eq(&v->src.addr, &p.src));
	}
	bat_fini(&b);
}

/* Half the burst just before a multiple of W and half just after: a sliding
 * window sees it all, a tumbling one would see halves. */
static void test_straddle(void **state)
{
	struct battery b;
	uint64_t edge;
	uint32_t half;

	bat_init(&b, state);
	edge = T0 + 1000 * b.win_us;
	half = b.thr / 2;
	for (uint32_t i = 0; i < half; i++)
		bat_event(&b, i, edge - (half - i) * b.dt);
	assert_int_equal(bat_alerts(&b), 0);
	for (uint32_t i = half; i < b.thr; i++)
		bat_event(&b, i, edge + (i - half) * b.dt);
	assert_int_equal(bat_alerts(&b), 1);
	assert_int_equal(b.r->at[0], b.thr - 1);
	bat_fini(&b);
}

/* threshold-1 events, the last at exactly t0 + W: the first has left the
 * window (t0, t0 + W], so no alert; one more at t0 + W does it. */
static void test_window_edge(void **state)
{
	struct battery b;
	uint32_t i;

	bat_init(&b, state);
	bat_event(&b, 0, T0);
	for (i = 1; i + 1 < b.thr; i++)
		bat_event(&b, i, T0 + i * b.dt);
	bat_event(&b, i++, T0 + b.win_us);
	assert_int_equal(bat_alerts(&b), 0);
	bat_event(&b, i, T0 + b.win_us);
	assert_int_equal(bat_alerts(&b), 1);
	assert_int_equal(b.r->v[0].count, b.thr);
	bat_fini(&b);
}

static void test_cooldown(void **state)
{
	struct battery b;
	uint64_t cool, ta = 0, ts;
	uint32_t i = 0;

	bat_init(&b, state);
	cool = b.cfg.cooldown_ms * 1000ull;
	for (ts = T0; !ta || ts <= ta + cool + b.dt; ts += b.dt, i++) {
		bat_event(&b, i, ts);
		if (!ta && b.r->n)
			ta = ts;
		if (ta && ts < ta + cool)
			assert_int_equal(bat_alerts(&b), 1);
	}
	assert_int_equal(bat_alerts(&b), 2);
	assert_int_equal(b.r->v[1].ts_us, ta + cool);
	assert_int_equal(b.r->v[1].count, b.thr);
	bat_fini(&b);
}

/* ---- specific behaviour ---- */

static void test_cfg_check(void **state)
{
	struct detect_cfg cfg;
	const char *why;
	struct detect *d;

	detect_cfg_defaults(&cfg);
	assert_int_equal(detect_cfg_check(&cfg, &why), 0);
	assert_null(why);
	cfg.det[KIND_UDP_FLOOD].threshold = 0;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(detect_new(&cfg, NULL, NULL, &d), -EINVAL);
	assert_null(d);
	cfg.det[KIND_UDP_FLOOD].enabled = false;	/* disabled: not checked */
	assert_int_equal(detect_cfg_check(&cfg, &why), 0);
	detect_cfg_defaults(&cfg);
	cfg.det[KIND_SYN_FLOOD].window_ms = 0;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg.det[KIND_SYN_FLOOD].window_ms = 3600001;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg.det[KIND_SYN_FLOOD].window_ms = 3600000;
	assert_int_equal(detect_cfg_check(&cfg, &why), 0);
	cfg.cooldown_ms = 3600001;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	detect_cfg_defaults(&cfg);
	cfg.v4_prefix = 33;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg.v4_prefix = 24;
	cfg.v6_prefix = 129;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg.v6_prefix = 0;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	detect_cfg_defaults(&cfg);
	cfg.capacity = 0;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg.capacity = 0xffffffffu;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	detect_cfg_defaults(&cfg);
	cfg.dst_capacity = 0;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg.det[KIND_DDOS].enabled = false;
	assert_int_equal(detect_cfg_check(&cfg, &why), 0);
}

static void test_kind_names(void **state)
{
	for (int k = 0; k < KIND__MAX; k++)
		assert_int_equal(detect_kind_parse(detect_kind_name(k)), k);
	assert_string_equal(detect_kind_name(KIND_SYN_FLOOD), "syn_flood");
	assert_string_equal(detect_kind_name(KIND_PORT_SCAN), "port_scan");
	assert_string_equal(detect_kind_name(KIND_DDOS), "ddos");
	assert_int_equal(detect_kind_parse("nope"), -1);
	detect_free(NULL);
}

/* A host's replies never feed the per-source detectors. */
static void test_replies_not_counted(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&s, 198, 18, 3, 1);
	for (uint16_t i = 0; i < 300; i++, ts += 1000) {
		p = mk_tcp(&s, &t, 80, (uint16_t)(30000 + i), F_SYN | F_ACK, ts);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, 80, (uint16_t)(30000 + i), F_RST | F_ACK, ts);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, 80, (uint16_t)(31000 + i), F_RST, ts);
		feed(d, r, &p);
		p = mk_icmp(&s, &t, 3, 3, ts);
		feed(d, r, &p);
		p = mk(&s, &t, IPPROTO_UDP, 53, (uint16_t)(1024 + i), ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	/* The same source probing high ports from a high port is a scan. */
	for (uint16_t i = 0; i < 20; i++, ts += 1000) {
		p = mk(&s, &t, IPPROTO_UDP, 5353, (uint16_t)(2000 + i), ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, KIND_PORT_SCAN);
	assert_int_equal(r->v[0].proto, IPPROTO_UDP);
	detect_free(d);
	free(r);
}

/* A port seen again is no new port. */
static void test_scan_distinct(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&s, 198, 18, 3, 2);
	for (int round = 0; round < 10; round++)
		for (uint16_t port = 1; port < 20; port++, ts += 1000) {
			p = mk(&s, &t, IPPROTO_UDP, (uint16_t)(40000 + round), port, ts);
			feed(d, r, &p);
		}
	assert_int_equal(r->n, 0);
	p = mk_tcp(&s, &t, 40000, 1, F_SYN, ts);	/* TCP 1 is not UDP 1 */
	feed(d, r, &p);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, KIND_PORT_SCAN);
	assert_int_equal(r->v[0].count, 20);
	detect_free(d);
	free(r);
}

static void handshake(struct detect *d, struct rec *r, const struct ip_addr *s,
		      uint16_t sport, uint64_t ts)
{
	struct ip_addr t = target();
	struct pkt p = mk_tcp(s, &t, sport, 443, F_SYN, ts);

	feed(d, r, &p);
	p = mk_tcp(s, &t, sport, 443, F_ACK, ts + 300);
	feed(d, r, &p);
	p = mk_tcp(s, &t, sport, 443, F_ACK | F_PSH, ts + 400);
	feed(d, r, &p);
}

/* 1000 completed handshakes in 5 s, one at a time, then 50 at a time,
 * then with retransmitted SYNs: never a syn flood. */
static void test_syn_completion(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&s, 198, 18, 4, 1);
	for (uint16_t i = 0; i < 1000; i++, ts += 5000)
		handshake(d, r, &s, (uint16_t)(20000 + i), ts);
	for (int round = 0; round < 20; round++, ts += 100000) {
		for (uint16_t i = 0; i < 50; i++) {
			p = mk_tcp(&s, &t, (uint16_t)(30000 + i), 443, F_SYN, ts + i);
			feed(d, r, &p);
		}
		for (uint16_t i = 0; i < 50; i++) {
			p = mk_tcp(&s, &t, (uint16_t)(30000 + i), 443, F_ACK, ts + 100 + i);
			feed(d, r, &p);
		}
	}
	for (uint16_t i = 0; i < 120; i++, ts += 1000) {
		p = mk_tcp(&s, &t, (uint16_t)(40000 + i), 443, F_SYN, ts);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, (uint16_t)(40000 + i), 443, F_SYN, ts + 200);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, (uint16_t)(40000 + i), 443, F_ACK, ts + 400);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	detect_free(d);
	free(r);
}

/* An ACK completes only its own connection: other ports leave the SYN
 * half-open, and 100 of those are a flood, caught at the 100th. */
static void test_syn_wrong_ack(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&s, 198, 18, 4, 2);
	for (uint16_t i = 0; i < 100; i++, ts += 1000) {
		p = mk_tcp(&s, &t, (uint16_t)(20000 + i), 80, F_SYN, ts);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, (uint16_t)(20000 + i), 81, F_ACK, ts + 10);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, (uint16_t)(20001 + i), 80, F_ACK, ts + 20);
		feed(d, r, &p);
		p = mk_tcp(&s, &t, (uint16_t)(20000 + i), 80, F_ACK | F_RST, ts + 30);
		feed(d, r, &p);
		assert_int_equal(r->n, i == 99);
	}
	assert_int_equal(r->v[0].kind, KIND_SYN_FLOOD);
	assert_int_equal(r->at[0], 99 * 4);
	detect_free(d);
	free(r);
}

/* Rotating the lower 64 bits does not escape: one source, one /64. */
static void test_v6_grouping(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t, want;
	struct pkt p;
	char buf[ADDR_STRLEN];

	assert_int_equal(addr_parse("2001:db8:ffff::1", &t), 0);
	assert_int_equal(addr_parse("2001:db8:1:2::", &want), 0);
	for (int i = 0; i < 49; i++) {	/* another /64: its own count */
		assert_int_equal(addr_parse("2001:db8:1:3::7", &s), 0);
		s.b[15] = (uint8_t)i;
		p = mk_icmp(&s, &t, 128, 0, T0 + (uint64_t)i * 1000);
		feed(d, r, &p);
	}
	srand(7);
	for (int i = 0; i < 50; i++) {
		s = want;
		for (int j = 8; j < 16; j++)
			s.b[j] = (uint8_t)rand();
		p = mk_icmp(&s, &t, 128, 0, T0 + 100000 + (uint64_t)i * 1000);
		feed(d, r, &p);
		assert_int_equal(r->n, i == 49);
	}
	assert_int_equal(r->v[0].kind, KIND_ICMP_FLOOD);
	assert_int_equal(r->v[0].src.len, 64);
	assert_true(addr_eq(&r->v[0].src.addr, &want));
	assert_string_equal(prefix_fmt(&r->v[0].src, buf), "2001:db8:1:2::/64");
	assert_int_equal(r->v[0].proto, IPPROTO_ICMPV6);
	detect_free(d);
	free(r);
}

static void test_v4_prefix_grouping(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr s, t = target();
	struct pkt p;
	char buf[ADDR_STRLEN];

	detect_cfg_defaults(&cfg);
	cfg.v4_prefix = 24;
	d = mk_detect(&cfg, r);
	for (int i = 0; i < 200; i++) {
		v4(&s, 198, 18, 7, (uint8_t)(i % 37));
		p = mk(&s, &t, IPPROTO_UDP, 5000, 9999, T0 + (uint64_t)i * 1000);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, KIND_UDP_FLOOD);
	assert_string_equal(prefix_fmt(&r->v[0].src, buf), "198.18.7.0/24");
	detect_free(d);
	free(r);
}

/* 10^5 spoofed sources of one packet each through a 1024-slot table, then
 * more with a real attacker among them, sending `burst` SYNs at once and
 * then one per `gap` spoofed ones: the attacker keeps its slot and is
 * caught at its 100th SYN. With gap 1500 a bucket sees ~12 newcomers
 * between two of its SYNs, so only its packet count (not recency) saves it. */
static void spoof_run(uint32_t seed, uint32_t burst, uint32_t gap)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect_stats st;
	struct detect *d;
	struct ip_addr s, atk, t = target();
	struct pkt p;
	uint64_t ts = T0;
	uint32_t x = 12345, sent = 0, spoofs = 100000 + 100 * gap;

	detect_cfg_defaults(&cfg);
	cfg.capacity = 1024;
	cfg.seed = seed;
	cfg.det[KIND_DDOS].enabled = false;
	d = mk_detect(&cfg, r);
	v4(&atk, 198, 18, 66, 6);
	assert_int_equal(addr_parse("2001:db8::1", &s), 0);
	for (uint32_t i = 0; i < spoofs; i++, ts++) {
		uint32_t n = i < 100000 ? 0 : i == 100000 ? burst : (i - 100000) % gap == 0;

		x = x * 1664525u + 1013904223u;	/* a bijection: all distinct */
		memcpy(s.b + 4, &x, 4);
		p = mk_tcp(&s, &t, 1234, 80, F_SYN, ts);
		feed(d, r, &p);
		while (n-- && sent < 100) {
			p = mk_tcp(&atk, &t, (uint16_t)(1024 + sent++), 80, F_SYN, ts);
			feed(d, r, &p);
			assert_int_equal(r->n, sent >= 100);
		}
	}
	assert_int_equal(sent, 100);
	assert_int_equal(r->n, 1);
	assert_true(addr_eq(&r->v[0].src.addr, &atk));
	assert_int_equal(r->v[0].kind, KIND_SYN_FLOOD);
	assert_int_equal(r->v[0].count, 100);
	detect_get_stats(d, &st);
	assert_int_equal(st.tracked, 1024);
	assert_int_equal(st.evictions, spoofs + 1 - 1024);
	assert_int_equal(st.packets, spoofs + sent);
	detect_free(d);
	free(r);
}

static void test_eviction_spoofed(void **state)
{
	spoof_run(99, 1, 100);
	spoof_run(0, 1, 100);	/* a random seed */
	spoof_run(7, 10, 1500);
}

/* Too few rings: quiet sources hold them all, a flood still takes one from
 * them, and its count stays exact. */
static void test_pool_exhausted(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect_stats st;
	struct detect *d;
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	detect_cfg_defaults(&cfg);
	cfg.seed = 5;
	cfg.pool[KIND_UDP_FLOOD] = 4;
	cfg.pool[KIND_SYN_FLOOD] = 4;
	d = mk_detect(&cfg, r);
	for (uint8_t i = 0; i < 8; i++)
		for (int j = 0; j < 3; j++, ts += 100) {
			v4(&s, 198, 18, 20, i);
			p = mk(&s, &t, IPPROTO_UDP, 5000, 9999, ts);
			feed(d, r, &p);
			p = mk_tcp(&s, &t, (uint16_t)(5000 + j), 80, F_SYN, ts);
			feed(d, r, &p);
		}
	v4(&s, 198, 18, 20, 99);
	for (int i = 0; i < 200; i++, ts += 1000) {
		p = mk(&s, &t, IPPROTO_UDP, 5000, 9999, ts);
		feed(d, r, &p);
		assert_int_equal(r->kind_n[KIND_UDP_FLOOD], i == 199);
	}
	for (int i = 0; i < 200; i++, ts += 1000) {
		p = mk_tcp(&s, &t, (uint16_t)(6000 + i), 80, F_SYN, ts);
		feed(d, r, &p);
	}
	/* SYNs met before the ring came are carried into it at the run's
	 * first stamp: the alert comes at the 100th SYN, not later. */
	assert_int_equal(r->kind_n[KIND_SYN_FLOOD], 1);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->v[1].kind, KIND_SYN_FLOOD);
	assert_int_equal(r->v[1].count, 100);
	assert_int_equal(r->at[1], 48 + 200 + 99);
	detect_get_stats(d, &st);
	assert_true(st.ring_denied > 0);
	assert_true(st.ring_reclaims > 0);
	detect_free(d);
	free(r);
}

/* ---- many flooders at once ---- */

struct storm {
	uint32_t alerts, exact;	/* SYN or UDP alerts; those at the threshold */
	uint32_t thr;
	uint8_t seen[20000];	/* per source: alerted */
};

static void storm_cb(const struct verdict *v, void *ctx)
{
	struct storm *st = ctx;
	uint32_t i = (uint32_t)v->src.addr.b[14] << 8 | v->src.addr.b[15];

	if (v->kind != KIND_SYN_FLOOD && v->kind != KIND_UDP_FLOOD)
		return;
	st->alerts++;
	st->exact += v->count == st->thr;
	if (i < sizeof(st->seen))
		st->seen[i]++;
}

/* n sources from 198.18.x.y send k events each (SYNs to fresh ports, or
 * UDP datagrams), round-robin, 2 us apart: all at once. */
static void storm_run(struct detect *d, uint32_t n, uint32_t k, bool syn)
{
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	for (uint32_t j = 0; j < k; j++)
		for (uint32_t i = 0; i < n; i++, ts += 2) {
			v4(&s, 198, 18, (uint8_t)(i >> 8), (uint8_t)i);
			p = syn ? mk_tcp(&s, &t, (uint16_t)(10000 + j), 80, F_SYN, ts) :
				  mk(&s, &t, IPPROTO_UDP, 5000, 53, ts);
			detect_packet(d, &p);
		}
}

/* 10,000 sources flooding at once, each 150 SYNs (then 250 datagrams):
 * with the default configuration every one is caught, at its very
 * threshold-th event (the pools had 4,096 rings and caught 6,904 to 7,955).
 * The seed is one whose table spreads these sources over buckets of at
 * most 8 in both hash builds: with some seeds (about 1 in 10 here) a bucket
 * gets 9 or more and the extra ones evict each other, a chance that
 * dosips.conf(5) states under capacity. */
static void test_many_flooders(void **state)
{
	static const bool syn[2] = { true, false };

	for (int c = 0; c < 2; c++) {
		struct storm *st = calloc(1, sizeof(*st));
		struct detect_cfg cfg;
		struct detect *d;

		assert_non_null(st);
		detect_cfg_defaults(&cfg);
		cfg.seed = 1;
		st->thr = cfg.det[syn[c] ? KIND_SYN_FLOOD : KIND_UDP_FLOOD].threshold;
		assert_int_equal(detect_new(&cfg, storm_cb, st, &d), 0);
		storm_run(d, 10000, syn[c] ? 150 : 250, syn[c]);
		assert_int_equal(st->alerts, 10000);
		assert_int_equal(st->exact, 10000);
		for (uint32_t i = 0; i < 10000; i++)
			assert_int_equal(st->seen[i], 1);
		detect_free(d);
		free(st);
	}
}

/* One UDP ring for all: a hog sends hog_n datagrams 1 ms apart from
 * 198.18.30.1, then 198.18.30.2 sends 200, the hog still sending between
 * them when busy. */
static struct rec *one_ring(int hog_n, bool busy, struct detect_stats *st)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr hog, s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	detect_cfg_defaults(&cfg);
	cfg.seed = 5;
	cfg.pool[KIND_UDP_FLOOD] = 1;
	d = mk_detect(&cfg, r);
	v4(&hog, 198, 18, 30, 1);
	v4(&s, 198, 18, 30, 2);
	for (int i = 0; i < hog_n; i++, ts += 1000) {
		p = mk(&hog, &t, IPPROTO_UDP, 5000, 53, ts);
		feed(d, r, &p);
	}
	for (int i = 0; i < 200; i++, ts += 1000) {
		p = mk(&s, &t, IPPROTO_UDP, 5000, 53, ts);
		feed(d, r, &p);
		p = mk(&hog, &t, IPPROTO_UDP, 5000, 53, ts + 500);
		if (busy)
			feed(d, r, &p);
	}
	detect_get_stats(d, st);
	detect_free(d);
	return r;
}

/* A source that finds every ring held by a busier one still alerts, on the
 * lower bound its run counts: 200 datagrams are 200, never silence. */
static void test_over_alerts(void **state)
{
	struct detect_stats st;
	struct rec *r = one_ring(199, false, &st);	/* one short of alerting */
	struct ip_addr s;

	v4(&s, 198, 18, 30, 2);
	assert_int_equal(r->kind_n[KIND_UDP_FLOOD], 1);
	assert_int_equal(r->at[0], 199 + 199);	/* at its 200th */
	assert_int_equal(r->v[0].count, 200);
	assert_true(addr_eq(&r->v[0].src.addr, &s));
	assert_true(st.ring_denied > 0);	/* it really had no ring */
	free(r);
}

/* A source that has alerted gives its ring to the next flooder at once:
 * the pool of one ring serves a second flood without a request denied. */
static void test_alerted_gives_ring(void **state)
{
	struct detect_stats st;
	struct rec *r = one_ring(250, true, &st);
	struct ip_addr s;

	v4(&s, 198, 18, 30, 2);
	assert_int_equal(r->kind_n[KIND_UDP_FLOOD], 2);
	assert_true(addr_eq(&r->v[1].src.addr, &s));
	assert_int_equal(r->v[1].count, 200);
	assert_int_equal(st.ring_denied, 0);
	assert_true(st.ring_reclaims > 0);
	free(r);
}

/* 100 sources x 60 SYNs towards one host in 0.9 s: no source is a flood,
 * together they are a ddos, reported once with no source to ban. */
static void test_ddos_no_source(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	for (int j = 0; j < 60; j++)
		for (uint8_t i = 0; i < 100; i++, ts += 150) {
			v4(&s, 198, 18, 30, i);
			p = mk_tcp(&s, &t, (uint16_t)(2000 + j), 80, F_SYN, ts);
			feed(d, r, &p);
			assert_int_equal(r->n, r->idx >= 5000);
		}
	assert_int_equal(r->v[0].kind, KIND_DDOS);
	assert_int_equal(r->v[0].src.len, 0);
	assert_true(addr_eq(&r->v[0].dst, &t));
	assert_int_equal(r->v[0].proto, IPPROTO_TCP);
	assert_int_equal(r->v[0].count, 5000);
	assert_int_equal(r->v[0].threshold, 5000);
	assert_int_equal(r->v[0].window_ms, 1000);
	assert_int_equal(r->at[0], 4999);
	detect_free(d);
	free(r);
}

/* One source sends 6000 SYNs in 0.6 s: one syn_flood, no ddos, although
 * its destination sees past the ddos threshold. */
static void test_ddos_not_one_flooder(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&s, 198, 18, 31, 1);
	for (int j = 0; j < 6000; j++, ts += 100) {
		p = mk_tcp(&s, &t, (uint16_t)(1024 + j), 80, F_SYN, ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, KIND_SYN_FLOOD);
	assert_int_equal(r->kind_n[KIND_DDOS], 0);
	detect_free(d);
	free(r);
}

/* A mixed stream from a fixed PRNG, with table pressure. */
static void mixed_run(struct rec *r, uint32_t seed, uint32_t capacity)
{
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr s, t = target();
	struct pkt p;
	uint32_t x = 777;

	detect_cfg_defaults(&cfg);
	cfg.seed = seed;
	cfg.capacity = capacity;
	d = mk_detect(&cfg, r);
	for (uint32_t i = 0; i < 300000; i++) {
		uint32_t k;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = x % 10;
		v4(&s, 198, 18, (uint8_t)(k < 5 ? 40 + k : 50), (uint8_t)(k < 5 ? 1 : x >> 8));
		if (k == 9)
			s.b[13] = (uint8_t)(x >> 16);	/* spoofed */
		switch (x >> 28) {
		case 0: case 1: case 2: case 3:
			p = mk_tcp(&s, &t, (uint16_t)(x >> 10), (uint16_t)(k < 2 ? x >> 20 : 80),
				   F_SYN, T0 + i * 20ull);
			break;
		case 4: case 5: case 6: case 7:
			p = mk(&s, &t, IPPROTO_UDP, (uint16_t)(x >> 12), 53, T0 + i * 20ull);
			break;
		case 8: case 9:
			p = mk_icmp(&s, &t, 8, 0, T0 + i * 20ull);
			break;
		default:
			p = mk_tcp(&s, &t, (uint16_t)(x >> 10), 80, F_ACK, T0 + i * 20ull);
		}
		feed(d, r, &p);
	}
	detect_free(d);
}

static void assert_same_verdicts(const struct rec *a, const struct rec *b)
{
	assert_true(a->n > 10);
	assert_int_equal(a->n, b->n);
	for (unsigned i = 0; i < a->n; i++) {
		assert_int_equal(a->at[i], b->at[i]);
		assert_int_equal(a->v[i].kind, b->v[i].kind);
		assert_memory_equal(&a->v[i].src, &b->v[i].src, sizeof(a->v[i].src));
		assert_int_equal(a->v[i].count, b->v[i].count);
		assert_int_equal(a->v[i].ts_us, b->v[i].ts_us);
	}
}

static void test_determinism(void **state)
{
	struct rec *a = rec_new(), *b = rec_new();

	mixed_run(a, 11, 256);	/* same seed, table under pressure */
	mixed_run(b, 11, 256);
	assert_same_verdicts(a, b);
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	mixed_run(a, 0, 65536);	/* random seeds, room for everyone */
	mixed_run(b, 0, 65536);
	assert_same_verdicts(a, b);
	free(a);
	free(b);
}

/* ---- detect_batch ---- */

#define BATCH_N	100000

/* A stream that goes through every path: IPv4 and IPv6 sources, a few busy
 * ones among many one-packet ones, SYNs and the ACKs that complete some,
 * UDP to many ports, pings, fragments, towards a handful of destinations,
 * with stamps that sometimes go back. */
static void batch_stream(struct pkt *p, uint32_t n)
{
	struct ip_addr s, t;
	uint32_t x = 4242;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t k, src_k;
		uint64_t ts = T0 + i * 30ull - (i % 97 == 0 ? 5000 : 0);

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = x % 16;
		src_k = k < 6 ? k : x >> 12;	/* 6 busy sources, the rest spread */
		if (k % 2) {
			v4(&s, 198, 18, (uint8_t)(60 + (src_k >> 8 & 3)), (uint8_t)src_k);
		} else {
			assert_int_equal(addr_parse("2001:db8:60::1", &s), 0);
			memcpy(s.b + 4, &src_k, sizeof(src_k));
		}
		v4(&t, 198, 18, 255, (uint8_t)(1 + (x >> 24) % 12));
		switch (x >> 28) {
		case 0: case 1: case 2: case 3: case 4:
			p[i] = mk_tcp(&s, &t, (uint16_t)(1024 + (x >> 8) % 8), (uint16_t)(x >> 16) % 64,
				      F_SYN, ts);
			break;
		case 5: case 6: case 7:
			p[i] = mk_tcp(&s, &t, (uint16_t)(1024 + (x >> 8) % 8), (uint16_t)(x >> 16) % 64,
				      F_ACK | (x & 1 ? F_PSH : 0), ts);
			break;
		case 8: case 9: case 10:
			p[i] = mk(&s, &t, IPPROTO_UDP, (uint16_t)(x >> 4), (uint16_t)(x >> 14) % 300, ts);
			break;
		case 11: case 12: case 13:
			p[i] = mk_icmp(&s, &t, (x >> 4) % 3 ? (k % 2 ? 8 : 128) : 0, 0, ts);
			break;
		default:
			p[i] = mk(&s, &t, IPPROTO_TCP, 0, 0, ts);
			p[i].flags = PKT_FRAG;
		}
	}
}

/* Feeds p to a new detect for cfg, one by one (batch 0) or batch at a time. */
static void batch_feed(const struct detect_cfg *cfg, const struct pkt *p, uint32_t n,
		       size_t batch, struct rec *r, struct detect_stats *st)
{
	struct detect *d = mk_detect(cfg, r);

	for (uint32_t i = 0; i < n; i += batch ? batch : 1) {
		if (batch)
			detect_batch(d, p + i, n - i < batch ? n - i : batch);
		else
			feed(d, r, &p[i]);
	}
	detect_get_stats(d, st);
	detect_free(d);
}

/* detect_batch gives what detect_packet gives, verdict for verdict and
 * counter for counter, whatever the batch size, also with the table, the
 * ring pools and the destinations under pressure. */
static void test_batch_same_as_packet(void **state)
{
	static const size_t sizes[] = { 1, 2, 7, 33, 64, 1000, BATCH_N };
	struct pkt *p = calloc(BATCH_N, sizeof(*p));
	struct rec *a = rec_new(), *b = rec_new();
	struct detect_stats sa, sb;
	struct detect_cfg cfg[3];

	assert_non_null(p);
	batch_stream(p, BATCH_N);
	for (int c = 0; c < 3; c++) {
		detect_cfg_defaults(&cfg[c]);
		cfg[c].seed = 3 + (uint32_t)c;
	}
	cfg[1].capacity = 256;
	cfg[1].dst_capacity = 8;
	cfg[1].det[KIND_DDOS].threshold = 300;
	for (int k = 0; k < KIND__MAX; k++)
		cfg[1].pool[k] = 4;
	cfg[2].det[KIND_SYN_FLOOD].threshold = 1;
	cfg[2].det[KIND_PORT_SCAN].enabled = false;
	cfg[2].det[KIND_RATE_FLOOD].threshold = 50;
	for (int c = 0; c < 3; c++) {
		memset(a, 0, sizeof(*a));
		batch_feed(&cfg[c], p, BATCH_N, 0, a, &sa);
		assert_true(a->n > 10);
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			memset(b, 0, sizeof(*b));
			batch_feed(&cfg[c], p, BATCH_N, sizes[z], b, &sb);
			assert_int_equal(a->n, b->n);
			assert_memory_equal(a->kind_n, b->kind_n, sizeof(a->kind_n));
			for (unsigned i = 0; i < a->n; i++)
				assert_memory_equal(&a->v[i], &b->v[i], sizeof(a->v[i]));
			assert_memory_equal(&sa, &sb, sizeof(sa));
		}
		/* Each path was taken: the test compares something. */
		if (c == 1) {
			assert_true(sa.evictions > 0 && sa.dst_evictions > 0);
			assert_true(sa.ring_reclaims > 0 && sa.ring_denied > 0);
			assert_true(a->kind_n[KIND_DDOS] > 0);
		}
		if (c == 2)
			assert_true(a->kind_n[KIND_SYN_FLOOD] > 1000 && a->kind_n[KIND_RATE_FLOOD] > 0);
	}
	free(p);
	free(a);
	free(b);
}

/* A stamp a little earlier than one already seen (reordering, under a
 * second) counts as the latest time. (It stepped back 5 s here before
 * detect's clock carried on across steps back: see test_clock_step_back.) */
static void test_time_backwards(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;

	v4(&s, 198, 18, 5, 1);
	p = mk_tcp(&s, &t, 1000, 80, F_SYN, T0 + 10000000);
	feed(d, r, &p);
	for (uint16_t i = 0; i < 98; i++) {
		p = mk_tcp(&s, &t, (uint16_t)(1001 + i), 80, F_SYN, T0 + 9500000 - i);
		feed(d, r, &p);
	}
	p = mk_tcp(&s, &t, 2000, 80, F_SYN, T0 + 14999999);
	feed(d, r, &p);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].count, 100);
	p = mk_tcp(&s, &t, 2001, 80, F_SYN, 0);
	feed(d, r, &p);
	detect_free(d);
	free(r);
}

/* Stamps are 32-bit microseconds: an event 2^32 us (71.6 min) after another
 * must not look like its neighbour, whether the old one sits in a ring (s1)
 * or in the slot (s2), nor may an old cooldown hold an alert back (s3). The
 * sources stay busy meanwhile (a packet every 4 s, inside the 5 s horizon),
 * so their slots live on and only the sweeps keep their stamps honest. */
static void test_stamp_wrap(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr s1, s2, s3, t = target();
	struct pkt p;
	const uint64_t wrap = 1ull << 32;

	detect_cfg_defaults(&cfg);
	cfg.det[KIND_UDP_FLOOD].threshold = 3;
	cfg.det[KIND_ICMP_FLOOD].threshold = 2;
	d = mk_detect(&cfg, r);
	v4(&s1, 198, 18, 6, 1);
	v4(&s2, 198, 18, 6, 2);
	v4(&s3, 198, 18, 6, 3);
	for (int i = 0; i < 2; i++) {
		p = mk(&s1, &t, IPPROTO_UDP, 5000, 9999, T0 + i);
		feed(d, r, &p);
	}
	p = mk_icmp(&s2, &t, 8, 0, T0);
	feed(d, r, &p);
	for (int i = 0; i < 3; i++) {
		p = mk(&s3, &t, IPPROTO_UDP, 5000, 9999, T0 + i);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 1);
	for (uint64_t ts = T0 + 4000000; ts < T0 + wrap; ts += 4000000) {
		p = mk_tcp(&s1, &t, 1, 443, F_ACK, ts);
		feed(d, r, &p);
		p = mk_tcp(&s2, &t, 1, 443, F_ACK, ts);
		feed(d, r, &p);
		p = mk_tcp(&s3, &t, 1, 443, F_ACK, ts);
		feed(d, r, &p);
	}
	p = mk(&s1, &t, IPPROTO_UDP, 5000, 9999, T0 + wrap + 2);
	feed(d, r, &p);
	assert_int_equal(r->n, 1);	/* count 1, not 3 */
	p = mk_icmp(&s2, &t, 8, 0, T0 + wrap + 1);
	feed(d, r, &p);
	assert_int_equal(r->n, 1);	/* count 1, not 2 */
	for (int i = 0; i < 3; i++) {
		p = mk(&s3, &t, IPPROTO_UDP, 5000, 9999, T0 + wrap + 10 + i);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 2);	/* its cooldown is long over */
	assert_true(addr_eq(&r->v[1].src.addr, &s3));
	detect_free(d);
	free(r);
}

/* With threshold 2 the first event is still the slot's inline stamp when
 * the second comes: the same exact edge holds there. */
static void test_inline_edge(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr s, t = target();
	struct pkt p;

	detect_cfg_defaults(&cfg);
	cfg.det[KIND_UDP_FLOOD].threshold = 2;
	d = mk_detect(&cfg, r);
	v4(&s, 198, 18, 8, 1);
	p = mk(&s, &t, IPPROTO_UDP, 5000, 9999, T0);
	feed(d, r, &p);
	p = mk_tcp(&s, &t, 1, 443, F_ACK, T0 + 2500000);	/* slot stays live */
	feed(d, r, &p);
	p = mk(&s, &t, IPPROTO_UDP, 5000, 9999, T0 + 5000000);
	feed(d, r, &p);
	assert_int_equal(r->n, 0);
	p = mk(&s, &t, IPPROTO_UDP, 5000, 9999, T0 + 9999999);
	feed(d, r, &p);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].count, 2);
	detect_free(d);
	free(r);
}

static void test_disabled_and_stats(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect_stats st;
	struct detect *d;
	struct pkt p;

	detect_cfg_defaults(&cfg);
	cfg.det[KIND_SYN_FLOOD].enabled = false;
	cfg.det[KIND_SYN_FLOOD].threshold = 0;
	d = mk_detect(&cfg, r);
	for (uint32_t i = 0; i < 500; i++) {
		gen_syn(&p, i, T0 + i * 100);
		feed(d, r, &p);
	}
	assert_int_equal(r->kind_n[KIND_SYN_FLOOD], 0);
	detect_get_stats(d, &st);
	assert_int_equal(st.packets, 500);
	assert_int_equal(st.tracked, 1);
	assert_int_equal(st.dst_tracked, 1);
	assert_int_equal(st.evictions, 0);
	detect_free(d);
	free(r);
}

#define BATTERY(fn) \
	cmocka_unit_test_prestate(fn, (void *)&kd_syn), \
	cmocka_unit_test_prestate(fn, (void *)&kd_udp), \
	cmocka_unit_test_prestate(fn, (void *)&kd_icmp), \
	cmocka_unit_test_prestate(fn, (void *)&kd_scan), \
	cmocka_unit_test_prestate(fn, (void *)&kd_rate), \
	cmocka_unit_test_prestate(fn, (void *)&kd_ddos)

/* detect_top_sources: per class, the busiest sources with the events of
 * their window as of the last packet, busiest first; old events and
 * other classes do not count. */
static void test_top_sources(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct detect_top top[KIND__MAX][8];
	struct ip_addr a, b, c, dst;
	struct pkt p;
	uint64_t t = 1000000000;

	v4(&a, 198, 18, 0, 10);
	v4(&b, 198, 18, 0, 11);
	v4(&c, 198, 18, 0, 12);
	v4(&dst, 198, 18, 0, 1);
	/* c: 50 datagrams, then 6 s of silence: out of the 5 s window. */
	for (int i = 0; i < 50; i++)
		feed(d, r, (p = mk(&c, &dst, IPPROTO_UDP, 1000, 53, t + i), &p));
	t += 6000000;
	for (int i = 0; i < 30; i++)
		feed(d, r, (p = mk(&a, &dst, IPPROTO_UDP, 1000, 53, t + i * 1000), &p));
	for (int i = 0; i < 7; i++)
		feed(d, r, (p = mk(&b, &dst, IPPROTO_UDP, 1000, 53, t + i * 1000), &p));
	feed(d, r, (p = mk_icmp(&b, &dst, 8, 0, t + 50000), &p));
	detect_top_sources(d, top, 5);
	assert_true(addr_eq(&top[KIND_UDP_FLOOD][0].src.addr, &a));
	assert_int_equal(top[KIND_UDP_FLOOD][0].count, 30);
	assert_true(addr_eq(&top[KIND_UDP_FLOOD][1].src.addr, &b));
	assert_int_equal(top[KIND_UDP_FLOOD][1].count, 7);
	assert_int_equal(top[KIND_UDP_FLOOD][2].count, 0);    /* c's are stale */
	assert_true(addr_eq(&top[KIND_ICMP_FLOOD][0].src.addr, &b));
	assert_int_equal(top[KIND_ICMP_FLOOD][0].count, 1);
	assert_int_equal(top[KIND_ICMP_FLOOD][1].count, 0);
	assert_int_equal(top[KIND_SYN_FLOOD][0].count, 0);
	assert_int_equal(top[KIND_UDP_FLOOD][0].src.len, 128);
	detect_free(d);
	free(r);
}

/* ---- flows: answers, conversations, scans, forged and reflected ---- */

/* A UDP service that answers: its client's datagrams, 1000 a second for
 * 5 s, are a conversation, never a udp_flood or a scan, and its answers
 * never make the service a subject. The same stream unanswered is one. */
static void test_answered_udp(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr c, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&c, 198, 18, 7, 1);
	for (unsigned i = 0; i < 5000; i++, ts += 1000) {
		p = mk(&c, &t, IPPROTO_UDP, 40000, 4433, ts);
		feed(d, r, &p);
		p = mk(&t, &c, IPPROTO_UDP, 4433, 40000, ts + 100);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	/* Unanswered from another port: the strict bar. */
	for (unsigned i = 0; i < 200; i++, ts += 1000) {
		p = mk(&c, &t, IPPROTO_UDP, 40001, 4433, ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, KIND_UDP_FLOOD);
	detect_free(d);
	free(r);
}

/* The host's answers to a flood (RSTs to SYNs, port unreachables quoting
 * datagrams, echo replies) are never counted against the host, even in
 * numbers past every threshold; the flood is. */
static void test_host_answers(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr a, b, t = target();
	struct pkt p;
	uint64_t ts = T0;

	detect_cfg_defaults(&cfg);
	cfg.det[KIND_RATE_FLOOD].threshold = 500;
	d = mk_detect(&cfg, r);
	v4(&a, 198, 18, 8, 1);
	v4(&b, 198, 18, 8, 2);
	for (uint16_t i = 0; i < 400; i++, ts += 100) {
		p = mk_tcp(&a, &t, (uint16_t)(2000 + i), 81, F_SYN, ts);
		feed(d, r, &p);
		p = mk_tcp(&t, &a, 81, (uint16_t)(2000 + i), F_RST | F_ACK, ts + 10);
		feed(d, r, &p);
		p = mk(&a, &t, IPPROTO_UDP, (uint16_t)(3000 + i), 9, ts + 20);
		feed(d, r, &p);
		p = mk_icmp(&t, &a, 3, 3, ts + 30);
		p.flags |= PKT_ICMP_ERR;
		p.inner_proto = IPPROTO_UDP;
		p.sport = 9;
		p.dport = (uint16_t)(3000 + i);
		feed(d, r, &p);
		/* Pings from another source: answered, they would make a
		 * source of a two-way exchange, whose SYN flood is spoofed. */
		p = mk_icmp(&b, &t, 8, 0, ts + 40);
		p.sport = p.dport = i;
		feed(d, r, &p);
		p = mk_icmp(&t, &b, 0, 0, ts + 50);
		p.sport = p.dport = i;
		feed(d, r, &p);
	}
	for (unsigned i = 0; i < r->n; i++)
		assert_true(addr_eq(&r->v[i].src.addr, &a) || addr_eq(&r->v[i].src.addr, &b));
	assert_int_equal(r->kind_n[KIND_SYN_FLOOD], 1);
	assert_int_equal(r->kind_n[KIND_UDP_FLOOD], 1);
	assert_int_equal(r->kind_n[KIND_ICMP_FLOOD], 1);
	assert_int_equal(r->kind_n[KIND_RATE_FLOOD], 1);
	assert_int_equal(r->kind_n[KIND_SPOOFED], 0);
	detect_free(d);
	free(r);
}

/* The first packet of a flow never seen that is not a SYN probes a port:
 * FIN, Xmas, NULL, ACK and Maimon scans are port scans, named. Packets of
 * a connection under way are not probes, however many ports. */
static void test_stealth_scans(void **state)
{
	static const struct { uint8_t flags; const char *name; } t[] = {
		{ 0x01, "fin" }, { 0x29, "xmas" }, { 0x00, "null" }, { F_ACK, "ack" },
		{ F_ACK | 0x01, "maimon" },
	};
	struct ip_addr s, dst = target();
	struct pkt p;
	uint64_t ts = T0;

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct rec *r = rec_new();
		struct detect *d = mk_default(r);

		v4(&s, 198, 18, 9, (uint8_t)(1 + k));
		for (uint16_t port = 1; port <= 20; port++, ts += 1000) {
			p = mk_tcp(&s, &dst, 45000, port, t[k].flags, ts);
			feed(d, r, &p);
		}
		assert_int_equal(r->n, 1);
		assert_int_equal(r->v[0].kind, KIND_PORT_SCAN);
		assert_int_equal(r->at[0], 19);
		assert_string_equal(r->v[0].technique, t[k].name);
		detect_free(d);
		free(r);
	}
	{
		struct rec *r = rec_new();
		struct detect *d = mk_default(r);

		v4(&s, 198, 18, 9, 99);
		for (uint16_t port = 1; port <= 40; port++, ts += 1000) {
			p = mk_tcp(&s, &dst, (uint16_t)(50000 + port), port, F_SYN, ts);
			feed(d, r, &p);
			p = mk_tcp(&dst, &s, port, (uint16_t)(50000 + port), F_SYN | F_ACK, ts + 1);
			feed(d, r, &p);
		}
		assert_int_equal(r->n, 1);	/* the SYNs: a SYN scan */
		r->n = 0;
		for (uint16_t port = 1; port <= 40; port++, ts += 1000) {
			p = mk_tcp(&s, &dst, (uint16_t)(50000 + port), port, F_ACK, ts);
			feed(d, r, &p);
			p = mk_tcp(&s, &dst, (uint16_t)(50000 + port), port, F_ACK | 0x01, ts + 1);
			feed(d, r, &p);
		}
		assert_int_equal(r->n, 0);
		detect_free(d);
		free(r);
	}
}

/* Packet time stepping back an hour: the windows carry on, so a client
 * sending 20 datagrams a second (96 in 5 s, under 200) is never a flood
 * whatever the clock did; the old frozen clock banned it 10 s later. */
static void test_clock_step_back(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr c, t = target();
	struct pkt p;
	uint64_t ts = T0 + 3600 * 1000000ull;

	v4(&c, 198, 18, 10, 1);
	for (unsigned i = 0; i < 600; i++) {
		if (i == 300)
			ts -= 3600 * 1000000ull;	/* an NTP step */
		p = mk(&c, &t, IPPROTO_UDP, 40010, 9, ts);
		feed(d, r, &p);
		ts += 50000;
	}
	assert_int_equal(r->n, 0);
	/* And forward: an hour later, the windows are empty, not frozen. */
	ts += 3600 * 1000000ull;
	for (unsigned i = 0; i < 199; i++, ts += 1000) {
		p = mk(&c, &t, IPPROTO_UDP, 40010, 9, ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	p = mk(&c, &t, IPPROTO_UDP, 40010, 9, ts);
	feed(d, r, &p);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].count, 200);
	detect_free(d);
	free(r);
}

/* The forged-SYN scenario: client 198.18.11.1 completes a handshake to
 * port 22, then it and the idle 198.18.11.2 each send n SYNs to dport,
 * alternately, 1 ms apart. The verdicts go to r. */
static void forged_syn_run(struct detect *d, struct rec *r, uint16_t dport, uint16_t n)
{
	struct ip_addr c, idle, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&c, 198, 18, 11, 1);
	v4(&idle, 198, 18, 11, 2);
	p = mk_tcp(&c, &t, 40000, 22, F_SYN, ts);
	feed(d, r, &p);
	p = mk_tcp(&t, &c, 22, 40000, F_SYN | F_ACK, ts + 10);
	feed(d, r, &p);
	p = mk_tcp(&c, &t, 40000, 22, F_ACK, ts + 20);
	feed(d, r, &p);
	for (uint16_t i = 0; i < n; i++, ts += 1000) {
		p = mk_tcp(&c, &t, (uint16_t)(1024 + i), dport, F_SYN, ts + 1000);
		feed(d, r, &p);
		p = mk_tcp(&idle, &t, (uint16_t)(1024 + i), dport, F_SYN, ts + 1000);
		feed(d, r, &p);
	}
}

/* A SYN flood forged in the name of a source that completed a handshake
 * with the host is `spoofed`; from a silent source it is a syn_flood. */
static void test_forged_syn(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr c, idle;

	v4(&c, 198, 18, 11, 1);
	v4(&idle, 198, 18, 11, 2);
	forged_syn_run(d, r, 80, 100);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->v[0].kind, KIND_SPOOFED);
	assert_true(addr_eq(&r->v[0].src.addr, &c));
	assert_int_equal(r->v[1].kind, KIND_SYN_FLOOD);
	assert_true(addr_eq(&r->v[1].src.addr, &idle));
	assert_string_equal(detect_kind_name(KIND_SPOOFED), "spoofed");
	detect_free(d);
	free(r);
}

/* The same with a bar for port 443: the client's two-way exchange is on
 * port 22, which the service's instance never sees, and still makes the
 * flood forged in its name `spoofed`. */
static void test_forged_syn_service(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr c, idle;

	detect_cfg_defaults(&cfg);
	cfg.seed = 7;
	cfg.svc[0] = (struct detect_service){ KIND_SYN_FLOOD, IPPROTO_TCP, 443, { true, 50, 5000 } };
	cfg.nsvc = 1;
	d = mk_detect(&cfg, r);
	v4(&c, 198, 18, 11, 1);
	v4(&idle, 198, 18, 11, 2);
	forged_syn_run(d, r, 443, 60);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->v[0].kind, KIND_SPOOFED);
	assert_true(r->v[0].service);
	assert_int_equal(r->v[0].port, 443);
	assert_true(addr_eq(&r->v[0].src.addr, &c));
	assert_int_equal(r->v[1].kind, KIND_SYN_FLOOD);
	assert_true(r->v[1].service);
	assert_true(addr_eq(&r->v[1].src.addr, &idle));
	detect_free(d);
	free(r);
}

/* Unsolicited answers from DNS servers to one target: one reflection alert
 * at the 20th distinct reflector, naming the service; one reflector alone,
 * or answers to the target's own questions, are none. */
static void test_reflection(void **state)
{
	struct rec *r = rec_new();
	struct detect *d = mk_default(r);
	struct ip_addr s, t = target();
	struct pkt p;
	uint64_t ts = T0;

	v4(&s, 203, 0, 113, 1);
	for (unsigned i = 0; i < 100; i++, ts += 1000) {
		p = mk(&s, &t, IPPROTO_UDP, 53, (uint16_t)(30000 + i), ts);
		feed(d, r, &p);
	}
	for (unsigned i = 0; i < 100; i++, ts += 1000) {
		v4(&s, 203, 0, 114, (uint8_t)i);
		p = mk(&t, &s, IPPROTO_UDP, (uint16_t)(31000 + i), 53, ts);
		feed(d, r, &p);
		p = mk(&s, &t, IPPROTO_UDP, 53, (uint16_t)(31000 + i), ts + 1);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	for (unsigned i = 0; i < 30; i++, ts += 1000) {
		v4(&s, 203, 0, 115, (uint8_t)i);
		p = mk(&s, &t, IPPROTO_UDP, 53, 33333, ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, KIND_REFLECTION);
	assert_int_equal(r->v[0].src.len, 0);
	assert_true(addr_eq(&r->v[0].dst, &t));
	assert_int_equal(r->v[0].port, 53);
	assert_int_equal(r->v[0].count, 20);
	detect_free(d);
	free(r);
}

/* Packets from the local prefixes, or marked outgoing, are the host's own. */
static void test_local_and_direction(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr c, t = target();
	struct pkt p;
	uint64_t ts = T0;

	detect_cfg_defaults(&cfg);
	assert_int_equal(prefix_parse("198.18.255.0/24", &cfg.local[0]), 0);
	cfg.nlocal = 1;
	d = mk_detect(&cfg, r);
	v4(&c, 198, 18, 12, 1);
	for (unsigned i = 0; i < 300; i++, ts += 1000) {
		p = mk(&t, &c, IPPROTO_UDP, 5353, (uint16_t)(40000 + i), ts);
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	detect_free(d);
	d = mk_default(r);
	for (unsigned i = 0; i < 300; i++, ts += 1000) {
		p = mk(&t, &c, IPPROTO_UDP, 5353, (uint16_t)(40000 + i), ts);
		p.dir = PKT_DIR_OUT;
		feed(d, r, &p);
	}
	assert_int_equal(r->n, 0);
	for (unsigned i = 0; i < 200; i++, ts += 1000) {
		p = mk(&t, &c, IPPROTO_UDP, 5353, (uint16_t)(41000 + i), ts);
		feed(d, r, &p);
	}
	/* Nothing says these are the host's own. */
	assert_int_equal(r->kind_n[KIND_UDP_FLOOD], 1);
	assert_true(addr_eq(&r->v[0].src.addr, &t));
	detect_free(d);
	free(r);
}

/* Live, the local list is the host's own addresses, full-length, which
 * detect tells apart with a bit filter before it compares: each of them
 * is the host's whatever its family, and an address beside one is not. */
static void test_local_hosts(void **state)
{
	static const char *const host[] = {
		"198.18.12.1", "2001:db8::5", "fe80::1c:2ff:fe3d:4e5f", "203.0.113.9",
		"198.18.13.1", "2001:db8:1::5",
	};
	static const char *const other[] = { "198.18.12.2", "2001:db8::6", "2001:db8:2::5" };
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct ip_addr a, t;
	struct pkt p;
	uint64_t ts = T0;
	const size_t nh = sizeof(host) / sizeof(host[0]), no = sizeof(other) / sizeof(other[0]);

	detect_cfg_defaults(&cfg);
	for (size_t i = 0; i < nh; i++) {
		assert_int_equal(addr_parse(host[i], &cfg.local[i].addr), 0);
		cfg.local[i].len = 128;
	}
	cfg.nlocal = (uint8_t)nh;
	cfg.v6_prefix = 128;	/* each v6 source is its own */
	d = mk_detect(&cfg, r);
	for (size_t i = 0; i < nh + no; i++) {
		const char *s = i < nh ? host[i] : other[i - nh];

		assert_int_equal(addr_parse(s, &a), 0);
		assert_int_equal(addr_parse(addr_is_v4(&a) ? "198.18.200.1" : "2001:db8:ff::1", &t), 0);
		for (unsigned k = 0; k < 250; k++, ts += 100) {
			p = mk(&a, &t, IPPROTO_UDP, (uint16_t)(40000 + k), 9999, ts);
			feed(d, r, &p);
		}
		/* The host's datagrams are not counted; another's are. */
		assert_int_equal(r->kind_n[KIND_UDP_FLOOD], i < nh ? 0 : i - nh + 1);
		ts += 10 * 1000000ull;	/* past every window */
	}
	detect_free(d);
	free(r);
}

/* Per-service bars: a service's packets are counted against its bar, in
 * windows of their own, and not against the detector's; its answered
 * conversations are conversations there too. Expected counts come from
 * the scenario: each client's datagrams are sent 1 ms apart. */
static struct detect_cfg svc_cfg(void)
{
	struct detect_cfg cfg;

	detect_cfg_defaults(&cfg);
	cfg.seed = 7;
	cfg.svc[0] = (struct detect_service){ KIND_UDP_FLOOD, IPPROTO_UDP, 53, { true, 1000, 5000 } };
	cfg.svc[1] = (struct detect_service){ KIND_UDP_FLOOD, IPPROTO_UDP, 11211, { true, 10, 5000 } };
	cfg.svc[2] = (struct detect_service){ KIND_RATE_FLOOD, IPPROTO_GRE, 0, { false, 0, 0 } };
	cfg.nsvc = 3;
	return cfg;
}

/* With per-service bars a source's events of a kind are split between the
 * detector and the service's instance: its busiest-sources entry sums
 * them, the service's count scaled to the detector's window. A GRE service
 * of rate_flood with a 2 s window (the detector's: 1 s), a UDP service of
 * port 53 (5 s, as the detector). From the scenario, with now the last
 * packet at 1.798 s: c's 600 GRE packets (0 to 1.797 s) are all in the
 * service's window, 300 scaled; a's 400 GRE (from 1 s) are 200 scaled,
 * and its 100 TCP ACKs and 80 datagrams count in the detector: 380; b's
 * 300 ACKs: 300. For udp_flood, a's 50 datagrams to port 53 and 30 to
 * port 9999 are 80. */
static void test_top_services(void **state)
{
	struct rec *r = rec_new();
	struct detect_cfg cfg;
	struct detect *d;
	struct detect_top top[KIND__MAX][8];
	struct ip_addr a, b, c, t = target();
	struct pkt p;
	uint64_t ts = T0;

	detect_cfg_defaults(&cfg);
	cfg.seed = 7;
	cfg.svc[0] = (struct detect_service){ KIND_RATE_FLOOD, IPPROTO_GRE, 0, { true, 100000, 2000 } };
	cfg.svc[1] = (struct detect_service){ KIND_UDP_FLOOD, IPPROTO_UDP, 53, { true, 1000, 5000 } };
	cfg.nsvc = 2;
	d = mk_detect(&cfg, r);
	v4(&a, 198, 18, 7, 1);
	v4(&b, 198, 18, 7, 2);
	v4(&c, 198, 18, 7, 3);
	/* c: 600 GRE packets over 1.8 s. */
	for (unsigned i = 0; i < 600; i++)
		feed(d, r, (p = mk(&c, &t, IPPROTO_GRE, 0, 0, ts + i * 3000), &p));
	ts += 1000000;	/* a and b: from 1 s */
	for (unsigned i = 0; i < 400; i++)
		feed(d, r, (p = mk(&a, &t, IPPROTO_GRE, 0, 0, ts + i * 2000), &p));
	for (unsigned i = 0; i < 100; i++)
		feed(d, r, (p = mk_tcp(&a, &t, 40000, 443, 0x10, ts + 1 + i * 8000), &p));
	for (unsigned i = 0; i < 300; i++)
		feed(d, r, (p = mk_tcp(&b, &t, 40001, 443, 0x10, ts + 2 + i * 2600), &p));
	for (unsigned i = 0; i < 50; i++)
		feed(d, r, (p = mk(&a, &t, IPPROTO_UDP, 40002, 53, ts + 3 + i * 16000), &p));
	for (unsigned i = 0; i < 30; i++)
		feed(d, r, (p = mk(&a, &t, IPPROTO_UDP, 40003, 9999, ts + 4 + i * 26000), &p));
	assert_int_equal(r->n, 0);
	detect_top_sources(d, top, 5);
	assert_true(addr_eq(&top[KIND_RATE_FLOOD][0].src.addr, &a));
	assert_int_equal(top[KIND_RATE_FLOOD][0].count, 400 / 2 + 100 + 50 + 30);
	assert_int_equal(top[KIND_RATE_FLOOD][1].count, 300);
	assert_int_equal(top[KIND_RATE_FLOOD][2].count, 300);
	assert_int_equal(top[KIND_RATE_FLOOD][3].count, 0);
	assert_true((addr_eq(&top[KIND_RATE_FLOOD][1].src.addr, &b) &&
		     addr_eq(&top[KIND_RATE_FLOOD][2].src.addr, &c)) ||
		    (addr_eq(&top[KIND_RATE_FLOOD][1].src.addr, &c) &&
		     addr_eq(&top[KIND_RATE_FLOOD][2].src.addr, &b)));
	assert_true(addr_eq(&top[KIND_UDP_FLOOD][0].src.addr, &a));
	assert_int_equal(top[KIND_UDP_FLOOD][0].count, 80);
	assert_int_equal(top[KIND_UDP_FLOOD][1].count, 0);
	detect_free(d);
	free(r);
}

/* The scenario of test_service_bars, into p (at most 60000 packets). */
static uint32_t svc_stream(struct pkt *p)
{
	struct ip_addr c, t = target();
	uint64_t ts = T0;
	uint32_t n = 0;

	v4(&c, 198, 18, 9, 1);		/* 300 to DNS: under its bar of 1000 */
	for (unsigned i = 0; i < 300; i++, ts += 1000)
		p[n++] = mk(&c, &t, IPPROTO_UDP, 40000, 53, ts);
	v4(&c, 198, 18, 9, 2);		/* 1000 to DNS: its bar */
	for (unsigned i = 0; i < 1000; i++, ts += 1000)
		p[n++] = mk(&c, &t, IPPROTO_UDP, 40000, 53, ts);
	v4(&c, 198, 18, 9, 3);		/* 10 to memcached: its bar of 10 */
	for (unsigned i = 0; i < 10; i++, ts += 1000)
		p[n++] = mk(&c, &t, IPPROTO_UDP, 40000, 11211, ts);
	v4(&c, 198, 18, 9, 4);		/* 200 to mDNS: the detector's bar */
	for (unsigned i = 0; i < 200; i++, ts += 1000)
		p[n++] = mk(&c, &t, IPPROTO_UDP, 40000, 5353, ts);
	v4(&c, 198, 18, 9, 5);		/* 2000 answered to memcached: a conversation */
	for (unsigned i = 0; i < 2000; i++, ts += 1000) {
		p[n++] = mk(&c, &t, IPPROTO_UDP, 40001, 11211, ts);
		p[n++] = mk(&t, &c, IPPROTO_UDP, 11211, 40001, ts + 100);
	}
	v4(&c, 198, 18, 9, 6);		/* 25000 GRE in 0.5 s: not counted */
	for (unsigned i = 0; i < 25000; i++, ts += 20)
		p[n++] = mk(&c, &t, IPPROTO_GRE, 0, 0, ts);
	v4(&c, 198, 18, 9, 7);		/* 20000 ESP in 0.4 s: the rate bar */
	for (unsigned i = 0; i < 20000; i++, ts += 20)
		p[n++] = mk(&c, &t, IPPROTO_ESP, 0, 0, ts);
	return n;
}

static void test_service_bars(void **state)
{
	struct detect_cfg cfg = svc_cfg();
	struct pkt *p = calloc(60000, sizeof(*p));
	struct rec *r = rec_new(), *rb = rec_new();
	struct detect_stats st;
	struct detect *d;
	uint32_t n;

	assert_non_null(p);
	n = svc_stream(p);
	d = mk_detect(&cfg, r);
	for (uint32_t i = 0; i < n; i++)
		feed(d, r, &p[i]);
	assert_int_equal(r->n, 4);
	assert_int_equal(r->v[0].kind, KIND_UDP_FLOOD);		/* DNS at 1000 */
	assert_true(r->v[0].service);
	assert_int_equal(r->v[0].port, 53);
	assert_int_equal(r->v[0].threshold, 1000);
	assert_int_equal(r->v[0].count, 1000);
	assert_int_equal(r->at[0], 300 + 999);
	assert_int_equal(r->v[1].kind, KIND_UDP_FLOOD);		/* memcached at 10 */
	assert_true(r->v[1].service);
	assert_int_equal(r->v[1].port, 11211);
	assert_int_equal(r->v[1].threshold, 10);
	assert_int_equal(r->at[1], 1300 + 9);
	assert_int_equal(r->v[2].kind, KIND_UDP_FLOOD);		/* mDNS at 200 */
	assert_false(r->v[2].service);
	assert_int_equal(r->v[2].threshold, 200);
	assert_int_equal(r->at[2], 1310 + 199);
	assert_int_equal(r->v[3].kind, KIND_RATE_FLOOD);	/* ESP, not GRE */
	assert_false(r->v[3].service);
	assert_int_equal(r->at[3], 1510 + 4000 + 25000 + 19999);
	detect_get_stats(d, &st);
	assert_int_equal(st.alerts[KIND_UDP_FLOOD], 3);
	assert_int_equal(st.alerts[KIND_RATE_FLOOD], 1);
	detect_free(d);
	/* The batch path decides the same. */
	d = mk_detect(&cfg, rb);
	detect_batch(d, p, n);
	assert_int_equal(rb->n, r->n);
	for (unsigned i = 0; i < r->n; i++) {
		assert_int_equal(rb->v[i].kind, r->v[i].kind);
		assert_int_equal(rb->v[i].ts_us, r->v[i].ts_us);
		assert_int_equal(rb->v[i].port, r->v[i].port);
	}
	detect_free(d);
	/* Without the bars, the detectors' own: DNS at 200, and GRE too. */
	cfg.nsvc = 0;
	memset(r, 0, sizeof(*r));
	d = mk_detect(&cfg, r);
	for (uint32_t i = 0; i < n; i++)
		feed(d, r, &p[i]);
	assert_int_equal(r->kind_n[KIND_UDP_FLOOD], 3);	/* 9.1, 9.2, 9.4 */
	assert_int_equal(r->at[0], 199);
	assert_int_equal(r->kind_n[KIND_RATE_FLOOD], 2);
	detect_free(d);
	free(p);
	free(r);
	free(rb);
}

static void test_service_check(void **state)
{
	struct detect_cfg cfg = svc_cfg();
	const char *why;

	assert_int_equal(detect_cfg_check(&cfg, &why), 0);
	cfg.svc[1].port = 53;		/* DNS twice */
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	assert_string_equal(why, "the same service twice for one detector");
	cfg = svc_cfg();
	cfg.svc[0].kind = KIND_PORT_SCAN;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg = svc_cfg();
	cfg.svc[0].port = 0;		/* udp_flood by protocol: no */
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg = svc_cfg();
	cfg.svc[2].port = 80;		/* a port and a protocol */
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg = svc_cfg();
	cfg.svc[0].det.threshold = 0;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
	cfg = svc_cfg();
	cfg.nsvc = DETECT_MAX_SERVICES + 1;
	assert_int_equal(detect_cfg_check(&cfg, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BATTERY(test_below_threshold),
		BATTERY(test_at_threshold),
		BATTERY(test_straddle),
		BATTERY(test_window_edge),
		BATTERY(test_cooldown),
		cmocka_unit_test(test_cfg_check),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_replies_not_counted),
		cmocka_unit_test(test_scan_distinct),
		cmocka_unit_test(test_syn_completion),
		cmocka_unit_test(test_syn_wrong_ack),
		cmocka_unit_test(test_v6_grouping),
		cmocka_unit_test(test_v4_prefix_grouping),
		cmocka_unit_test(test_eviction_spoofed),
		cmocka_unit_test(test_pool_exhausted),
		cmocka_unit_test(test_many_flooders),
		cmocka_unit_test(test_over_alerts),
		cmocka_unit_test(test_alerted_gives_ring),
		cmocka_unit_test(test_ddos_no_source),
		cmocka_unit_test(test_ddos_not_one_flooder),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_time_backwards),
		cmocka_unit_test(test_answered_udp),
		cmocka_unit_test(test_host_answers),
		cmocka_unit_test(test_stealth_scans),
		cmocka_unit_test(test_clock_step_back),
		cmocka_unit_test(test_forged_syn),
		cmocka_unit_test(test_forged_syn_service),
		cmocka_unit_test(test_reflection),
		cmocka_unit_test(test_local_and_direction),
		cmocka_unit_test(test_local_hosts),
		cmocka_unit_test(test_top_services),
		cmocka_unit_test(test_stamp_wrap),
		cmocka_unit_test(test_inline_edge),
		cmocka_unit_test(test_disabled_and_stats),
		cmocka_unit_test(test_batch_same_as_packet),
		cmocka_unit_test(test_top_sources),
		cmocka_unit_test(test_service_bars),
		cmocka_unit_test(test_service_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
