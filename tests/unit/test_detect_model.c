/* test_detect_model.c - detect against a naive reference model on random
 * traffic.
 *
 * The model is the definition in dosips.conf(5), written the slow and
 * obvious way: for each source and detector, every event's time in a
 * list; an event at t counts the list's times in (t - window, t]; the
 * detector alerts when that count reaches its threshold, unless the same
 * source alerted for the same detector less than the cooldown ago.
 * detect's rings, packed stamps, sweeps and look-ahead must give the very
 * same verdicts, at the same packets, for thousands of random packets
 * from sources of mixed pace, with bursts and long pauses. Port scan and
 * ddos are off here: the model covers the counting detectors. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"

#define NSRC 40
#define NPKT 60000
#define MAXV 20000

struct seen {
	enum detect_kind kind;
	uint32_t src;          /* index of the source */
	uint64_t ts_us;
	uint32_t count;
};

struct run {
	struct seen v[MAXV];
	size_t n;
};

/* The model's state for one source and one detector. */
struct mwin {
	uint64_t *t;
	size_t n, cap;
	uint64_t last_alert;
	int alerted;
};

static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static struct detect_cfg model_cfg(void)
{
	struct detect_cfg c;

	detect_cfg_defaults(&c);
	c.det[KIND_SYN_FLOOD] = (struct detector_cfg){ true, 7, 200 };
	c.det[KIND_UDP_FLOOD] = (struct detector_cfg){ true, 9, 300 };
	c.det[KIND_ICMP_FLOOD] = (struct detector_cfg){ true, 5, 100 };
	c.det[KIND_RATE_FLOOD] = (struct detector_cfg){ true, 15, 250 };
	c.det[KIND_PORT_SCAN].enabled = false;
	c.det[KIND_DDOS].enabled = false;
	c.cooldown_ms = 150;
	c.seed = 12345;
	return c;
}

static struct ip_addr src_addr(uint32_t i)
{
	uint8_t v4[4] = { 198, 18, (uint8_t)(1 + i / 200), (uint8_t)(1 + i % 200) };
	struct ip_addr a;

	addr_from_v4(&a, v4);
	return a;
}

/* A random packet of source i at ts: a SYN, a RST, a UDP datagram to a
 * service, an echo request or an echo reply. */
static struct pkt random_pkt(uint32_t i, uint64_t ts)
{
	static const uint8_t victim[4] = { 198, 18, 0, 1 };
	struct pkt p = { .ts_us = ts, .len = 60, .family = AF_INET, .flags = PKT_L4 };

	p.src = src_addr(i);
	addr_from_v4(&p.dst, victim);
	switch (rnd() % 5) {
	case 0: p.proto = IPPROTO_TCP; p.tcp_flags = 0x02; p.dport = 80; break;
	case 1: p.proto = IPPROTO_TCP; p.tcp_flags = 0x04; p.dport = 80; break;
	case 2: p.proto = IPPROTO_UDP; p.dport = 53; break;
	case 3: p.proto = IPPROTO_ICMP; p.icmp_type = 8; break;
	default: p.proto = IPPROTO_ICMP; p.icmp_type = 0; break;
	}
	p.sport = (uint16_t)(1024 + rnd() % 60000);
	return p;
}

/* The detectors a packet counts for, by the documented definitions. */
static unsigned model_kinds(const struct pkt *p)
{
	unsigned k = 1u << KIND_RATE_FLOOD;

	if (p->proto == IPPROTO_TCP && (p->tcp_flags & 0x12) == 0x02)
		k |= 1u << KIND_SYN_FLOOD;
	if (p->proto == IPPROTO_UDP)
		k |= 1u << KIND_UDP_FLOOD;
	if (p->proto == IPPROTO_ICMP && p->icmp_type == 8)
		k |= 1u << KIND_ICMP_FLOOD;
	return k;
}

static void model_event(struct mwin *w, const struct detector_cfg *dc, uint64_t cool_us,
			enum detect_kind k, uint32_t src, uint64_t t, struct run *out)
{
	size_t in = 0;

	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->t = realloc(w->t, w->cap * sizeof(*w->t));
		assert_non_null(w->t);
	}
	w->t[w->n++] = t;
	for (size_t i = 0; i < w->n; i++)
		in += t - w->t[i] < (uint64_t)dc->window_ms * 1000;
	if (in < dc->threshold || (w->alerted && t - w->last_alert < cool_us))
		return;
	w->alerted = 1;
	w->last_alert = t;
	assert_true(out->n < MAXV);
	out->v[out->n++] = (struct seen){ k, src, t, dc->threshold };
}

static void on_verdict(const struct verdict *v, void *ctx)
{
	struct run *r = ctx;
	uint32_t i = (uint32_t)(v->src.addr.b[14] - 1) * 200 + (uint32_t)(v->src.addr.b[15] - 1);

	assert_true(r->n < MAXV);
	r->v[r->n++] = (struct seen){ v->kind, i, v->ts_us, v->count };
}

/* Random traffic: each source has its own pace (from a packet per
 * 100 ms to a burst a few hundred microseconds apart) that changes now and
 * then; the clock only goes forward, sometimes by seconds. */
static struct pkt *make_traffic(uint64_t seed)
{
	struct pkt *p = calloc(NPKT, sizeof(*p));
	uint32_t pace[NSRC];
	uint64_t t = 1700000000ull * 1000000;

	assert_non_null(p);
	rng = seed;
	for (int i = 0; i < NSRC; i++)
		pace[i] = 100 + rnd() % 100000;
	for (size_t n = 0; n < NPKT; n++) {
		uint32_t i = rnd() % NSRC;

		if (rnd() % 500 == 0)
			pace[i] = 100 + rnd() % 100000;
		t += rnd() % 3000 == 0 ? 2000000 + rnd() % 2000000 : rnd() % (pace[i] / NSRC + 1);
		p[n] = random_pkt(i, t);
	}
	return p;
}

static void model_run(const struct pkt *p, struct run *out)
{
	static struct mwin w[NSRC][KIND__MAX];
	struct detect_cfg c = model_cfg();

	memset(w, 0, sizeof(w));
	out->n = 0;
	for (size_t n = 0; n < NPKT; n++) {
		uint32_t i = (uint32_t)(p[n].src.b[14] - 1) * 200 + (uint32_t)(p[n].src.b[15] - 1);
		unsigned ks = model_kinds(&p[n]);

		/* detect reports a packet's kinds in this order. */
		static const enum detect_kind order[] = { KIND_SYN_FLOOD, KIND_UDP_FLOOD,
			KIND_ICMP_FLOOD, KIND_RATE_FLOOD };
		for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++)
			if (ks & 1u << order[j])
				model_event(&w[i][order[j]], &c.det[order[j]],
					    (uint64_t)c.cooldown_ms * 1000, order[j], i,
					    p[n].ts_us, out);
	}
	for (int i = 0; i < NSRC; i++)
		for (int k = 0; k < KIND__MAX; k++)
			free(w[i][k].t);
}

static void compare(const struct run *want, const struct run *got)
{
	size_t n = want->n < got->n ? want->n : got->n;

	for (size_t i = 0; i < n; i++) {
		const struct seen *a = &want->v[i], *b = &got->v[i];

		if (a->kind != b->kind || a->src != b->src || a->ts_us != b->ts_us ||
		    a->count != b->count)
			fail_msg("verdict %zu: model %s src %u at %llu count %u, detect %s src %u "
				 "at %llu count %u", i, detect_kind_name(a->kind), a->src,
				 (unsigned long long)a->ts_us, a->count, detect_kind_name(b->kind),
				 b->src, (unsigned long long)b->ts_us, b->count);
	}
	assert_int_equal(got->n, want->n);
}

static void check_seed(uint64_t seed, int batch)
{
	static struct run want, got;
	struct detect_cfg c = model_cfg();
	struct pkt *p = make_traffic(seed);
	struct detect *d;

	model_run(p, &want);
	got.n = 0;
	assert_int_equal(detect_new(&c, on_verdict, &got, &d), 0);
	if (batch) {
		for (size_t n = 0; n < NPKT; n += 700)
			detect_batch(d, p + n, NPKT - n < 700 ? NPKT - n : 700);
	} else {
		for (size_t n = 0; n < NPKT; n++)
			detect_packet(d, &p[n]);
	}
	detect_free(d);
	free(p);
	/* The traffic must exercise the detectors, or equality proves little. */
	assert_true(want.n > 50);
	compare(&want, &got);
}

static void test_model_per_packet(void **state)
{
	for (uint64_t s = 1; s <= 4; s++)
		check_seed(s * 0x9e3779b97f4a7c15ull, 0);
}

static void test_model_batch(void **state)
{
	for (uint64_t s = 5; s <= 8; s++)
		check_seed(s * 0x9e3779b97f4a7c15ull, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_per_packet),
		cmocka_unit_test(test_model_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
