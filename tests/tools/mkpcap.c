/* mkpcap.c - writes synthetic, deterministic pcap files for benchmarks and
 * replay tests.
 *
 *   mkpcap -o FILE -s SCENARIO [-n PACKETS] [--sources N] [--seed S]
 *
 * Ethernet frames, microsecond stamps from 2023-11-14 22:13:20 UTC
 * (1700000000 s). Frames are captured up to the end of their transport
 * header; the wire length counts the payload. Addresses only in
 * 198.18.0.0/15 and 2001:db8::/32. The same arguments give the same file.
 *
 * Scenarios and what the default detectors make of them:
 *   mixed      the benchmark: -n packets at 1 Mpps of packet time. 67%
 *              benign: clients (16000 IPv4, 4000 IPv6 /64s, ~33 pps each)
 *              opening TCP sessions (SYN, ACK, 1-100 data, FIN) to six
 *              servers, DNS queries to four resolvers, pings; DNS replies
 *              from four upstream resolvers. 8% attackers: 198.19.0.1 SYN
 *              flood (10 kpps), 198.19.0.2 UDP flood (30 kpps, also a rate
 *              flood), 198.19.0.3 ICMP flood (10 kpps), 198.19.0.4 port
 *              scan (3 kpps, also a syn flood), ICMPv6 echo flood (27 kpps,
 *              also a rate flood) from 2001:db8:bad:1::/64 rotating its
 *              addresses. 25% spoofed SYNs from --sources distinct sources
 *              (default 1000000) in turn, to 198.18.255.1 or (IPv6)
 *              2001:db8:ffff::1. Alerts: those
 *              five sources (again after each cooldown), ddos on
 *              198.18.255.1 and 2001:db8:ffff::1; no benign source or
 *              destination.
 *   spoof      -n SYNs from -n distinct sources (or --sources, cycled), at
 *              1 Mpps, 1 in 32 IPv4 (up to 32768) and the rest from distinct
 *              IPv6 /64s: the memory bound. Alerts: ddos on 198.18.255.1
 *              and 2001:db8:ffff::1.
 *   synflood   -n (150) SYNs 1 ms apart from 198.19.0.1 to 198.18.255.1:80,
 *              a benign client's handshakes between them. Alert: syn_flood
 *              198.19.0.1 at its 100th SYN.
 *   udpflood   -n (300) datagrams 1 ms apart from 198.19.0.2 to port 9999.
 *              Alert: udp_flood 198.19.0.2 at the 200th.
 *   icmpflood  -n (100) echo requests 1 ms apart from 198.19.0.3. Alert:
 *              icmp_flood 198.19.0.3 at the 50th.
 *   portscan   -n (60) SYNs 1 ms apart from 198.19.0.4 to ports 1, 2, ...,
 *              each answered by the target (RST, or SYN-ACK then the
 *              scanner's RST for 22 and 80). Alert: port_scan 198.19.0.4 at
 *              the 20th port (and syn_flood at the 100th SYN if -n >= 100);
 *              never the target.
 *   benign     -n (20000) packets over 10 s from 50 clients: sessions, DNS
 *              and its replies, pings. No alert.
 *   v6flood    -n (100) ICMPv6 echo requests 1 ms apart, each from another
 *              address of 2001:db8:bad:1::/64. Alert: icmp_flood
 *              2001:db8:bad:1::/64 at the 50th.
 *   ddos       -n (8000) SYNs 100 us apart from 2000 sources in turn to
 *              198.18.255.1:80. Alert: one ddos on 198.18.255.1 at the
 *              5000th; no source.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0_S		1700000000ull
#define SNAPLEN		65535
#define OUTBUF		(4u << 20)

#define F_FIN		0x01
#define F_SYN		0x02
#define F_RST		0x04
#define F_PSH		0x08
#define F_ACK		0x10

struct ep {
	bool v6;
	uint8_t a[16];		/* IPv4 in the first 4 bytes */
};

struct gen {
	pcap_dumper_t *dump;
	uint64_t ts;		/* microseconds since T0 */
	uint64_t rng;
	uint64_t written;
	uint32_t ipid;
	uint8_t frame[128];
};

struct opts {
	const char *out, *scenario;
	uint64_t n;
	uint64_t sources;
	uint64_t seed;
	bool have_n;
};

/* ---- randomness: xorshift64*, deterministic per seed ---- */

static uint64_t rnd(struct gen *g)
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((rnd(g) >> 32) * n) >> 32);
}

/* A bijection of 31-bit values, so distinct indexes give distinct, random
 * looking spoofed prefixes. */
static uint32_t perm31(uint32_t x, uint32_t key)
{
	const uint32_t m = 0x7fffffffu;

	x = (x ^ key) & m;
	x = (x * 0x2c1b3c6du) & m;
	x ^= x >> 12;
	x = (x * 0x297a2d39u) & m;
	x ^= x >> 15;
	return x;
}

/* ---- addresses ---- */

static struct ep ep4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ep e = { .v6 = false, .a = { a, b, c, d } };

	return e;
}

/* 2001:db8:<w2>:<w3>::<iid> */
static struct ep ep6(uint16_t w2, uint16_t w3, uint64_t iid)
{
	struct ep e = { .v6 = true, .a = { 0x20, 0x01, 0x0d, 0xb8 } };

	e.a[4] = (uint8_t)(w2 >> 8);
	e.a[5] = (uint8_t)w2;
	e.a[6] = (uint8_t)(w3 >> 8);
	e.a[7] = (uint8_t)w3;
	for (int i = 0; i < 8; i++)
		e.a[8 + i] = (uint8_t)(iid >> (56 - 8 * i));
	return e;
}

/* Distinct source k of a spoofed flood: one in 32 from 198.19.128.0/17
 * while those last, the rest from distinct /64s of 2001:db8:8000::/33. */
static struct ep spoof_src(struct gen *g, uint32_t k, uint32_t key)
{
	uint32_t x;

	if (k % 32 == 0 && k / 32 < 32768) {
		uint32_t i = k / 32;

		return ep4(198, 19, (uint8_t)(128 + (i >> 8)), (uint8_t)i);
	}
	x = perm31(k, key);
	return ep6((uint16_t)(0x8000 | x >> 16), (uint16_t)x, rnd(g) | 1);
}

/* ---- frames ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t ip4_csum(const uint8_t *h)
{
	uint32_t s = 0;

	for (int i = 0; i < 20; i += 2)
		s += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Writes Ethernet and IP headers for l4len bytes of transport header plus
 * paylen of payload; returns the offset of the transport header. */
static size_t put_ip(struct gen *g, const struct ep *s, const struct ep *d,
		     uint8_t proto, size_t l4len, size_t paylen)
{
	static const uint8_t mac[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	uint8_t *f = g->frame, *ip = f + 14;

	if (s->v6 != d->v6) {
		fprintf(stderr, "mkpcap: bug: mixed address families\n");
		exit(1);
	}
	memcpy(f, mac, sizeof(mac));
	if (!s->v6) {
		put16(f + 12, 0x0800);
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + l4len + paylen));
		put16(ip + 4, (uint16_t)g->ipid++);
		ip[6] = 0x40;
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, s->a, 4);
		memcpy(ip + 16, d->a, 4);
		put16(ip + 10, ip4_csum(ip));
		return 14 + 20;
	}
	put16(f + 12, 0x86dd);
	put32(ip, 0x60000000u);
	put16(ip + 4, (uint16_t)(l4len + paylen));
	ip[6] = proto;
	ip[7] = 64;
	memcpy(ip + 8, s->a, 16);
	memcpy(ip + 24, d->a, 16);
	return 14 + 40;
}

static int emit(struct gen *g, size_t caplen, size_t paylen)
{
	struct pcap_pkthdr h;
	uint64_t us = T0_S * 1000000ull + g->ts;

	h.ts.tv_sec = (time_t)(us / 1000000);
	h.ts.tv_usec = (suseconds_t)(us % 1000000);
	h.caplen = (bpf_u_int32)caplen;
	h.len = (bpf_u_int32)(caplen + paylen);
	pcap_dump((u_char *)g->dump, &h, g->frame);
	g->written++;
	return 0;
}

static void tcp(struct gen *g, const struct ep *s, const struct ep *d, uint16_t sport,
		uint16_t dport, uint8_t flags, size_t paylen)
{
	size_t o = put_ip(g, s, d, 6, 20, paylen);
	uint8_t *t = g->frame + o;

	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, (uint32_t)rnd(g));
	put32(t + 8, flags & F_ACK ? (uint32_t)rnd(g) : 0);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 64240);
	put32(t + 16, 0);
	emit(g, o + 20, paylen);
}

static void udp(struct gen *g, const struct ep *s, const struct ep *d, uint16_t sport,
		uint16_t dport, size_t paylen)
{
	size_t o = put_ip(g, s, d, 17, 8, paylen);
	uint8_t *u = g->frame + o;

	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + paylen));
	put16(u + 6, 0);
	emit(g, o + 8, paylen);
}

/* An echo request (8 / 128 for IPv6) or another type. */
static void icmp(struct gen *g, const struct ep *s, const struct ep *d, uint8_t type,
		 uint8_t code, size_t paylen)
{
	size_t o = put_ip(g, s, d, s->v6 ? 58 : 1, 8, paylen);
	uint8_t *c = g->frame + o;

	c[0] = type;
	c[1] = code;
	put16(c + 2, 0);
	put32(c + 4, (uint32_t)rnd(g));
	emit(g, o + 8, paylen);
}

static void echo(struct gen *g, const struct ep *s, const struct ep *d)
{
	icmp(g, s, d, s->v6 ? 128 : 8, 0, 56);
}

static uint16_t eph(struct gen *g)
{
	return (uint16_t)(1024 + rnd_below(g, 64511));
}

/* ---- benign clients ---- */

struct client {
	struct ep addr;
	uint16_t sport;
	uint16_t dport;
	uint8_t state;		/* 0 idle, 1 SYN sent, 2 open */
	uint8_t left;		/* data packets before FIN */
};

struct world {
	struct client *cl;
	uint32_t ncl;
	struct ep srv4[4], srv6[2], resolver[4], upstream[4], host;
};

static int world_init(struct world *w, struct gen *g, uint32_t n4, uint32_t n6)
{
	w->ncl = n4 + n6;
	if (!(w->cl = calloc(w->ncl, sizeof(*w->cl))))
		return -ENOMEM;
	for (uint32_t i = 0; i < n4; i++)	/* 198.18.0.1 ... */
		w->cl[i].addr = ep4(198, 18, (uint8_t)((i + 1) >> 8), (uint8_t)(i + 1));
	for (uint32_t i = 0; i < n6; i++)	/* one /64 each in 2001:db8:1::/48 */
		w->cl[n4 + i].addr = ep6(1, (uint16_t)i, rnd(g) | 1);
	for (uint32_t i = 0; i < w->ncl; i++) {
		/* Mid-session, as a capture starting on a busy link finds
		 * them: all starting with a SYN would be a burst. */
		w->cl[i].state = 2;
		w->cl[i].sport = eph(g);
		w->cl[i].dport = rnd_below(g, 2) ? 443 : 80;
		w->cl[i].left = (uint8_t)rnd_below(g, 100);
	}
	for (uint8_t i = 0; i < 4; i++) {
		w->srv4[i] = ep4(198, 18, 255, (uint8_t)(1 + i));
		w->upstream[i] = ep4(198, 18, 254, (uint8_t)(1 + i));
		w->resolver[i] = ep4(198, 18, 255, (uint8_t)(53 + i));
	}
	w->srv6[0] = ep6(0xffff, 0, 1);
	w->srv6[1] = ep6(0xffff, 0, 2);
	w->host = w->srv4[0];
	return 0;
}

/* The next packet of a random client's TCP session. */
static void client_step(struct world *w, struct gen *g)
{
	struct client *c = &w->cl[rnd_below(g, w->ncl)];
	const struct ep *srv = c->addr.v6 ? &w->srv6[c->sport & 1] : &w->srv4[c->sport & 3];

	switch (c->state) {
	case 0:
		c->sport = eph(g);
		c->dport = rnd_below(g, 2) ? 443 : 80;
		c->left = (uint8_t)(1 + rnd_below(g, 100));
		srv = c->addr.v6 ? &w->srv6[c->sport & 1] : &w->srv4[c->sport & 3];
		tcp(g, &c->addr, srv, c->sport, c->dport, F_SYN, 0);
		c->state = 1;
		break;
	case 1:
		tcp(g, &c->addr, srv, c->sport, c->dport, F_ACK, 0);
		c->state = 2;
		break;
	default:
		if (c->left--) {
			tcp(g, &c->addr, srv, c->sport, c->dport, F_ACK | F_PSH,
			    rnd_below(g, 1400));
		} else {
			tcp(g, &c->addr, srv, c->sport, c->dport, F_FIN | F_ACK, 0);
			c->state = 0;
		}
	}
}

static void benign_other(struct world *w, struct gen *g, uint32_t roll)
{
	struct client *c = &w->cl[rnd_below(g, w->ncl)];

	if (roll < 80) {
		const struct ep *res = c->addr.v6 ? &w->srv6[0] : &w->resolver[rnd_below(g, 4)];

		udp(g, &c->addr, res, eph(g), 53, 40);
	} else if (roll < 83) {
		udp(g, &w->upstream[rnd_below(g, 4)], &w->host, 53, eph(g), 120);
	} else {
		echo(g, &c->addr, c->addr.v6 ? &w->srv6[0] : &w->srv4[0]);
	}
}

/* The protected host of a's family. */
static const struct ep *host_for(const struct world *w, const struct ep *a)
{
	return a->v6 ? &w->srv6[0] : &w->host;
}

/* ---- scenarios ---- */

static void sc_mixed(struct gen *g, const struct opts *o, struct world *w)
{
	const struct ep atk[4] = { ep4(198, 19, 0, 1), ep4(198, 19, 0, 2),
				   ep4(198, 19, 0, 3), ep4(198, 19, 0, 4) };
	uint32_t key = (uint32_t)o->seed * 2654435761u, spoofs = 0, scan = 0;

	for (uint64_t i = 0; i < o->n; i++, g->ts++) {
		uint32_t roll = rnd_below(g, 1000);

		if (roll < 660)			/* 66.0% sessions */
			client_step(w, g);
		else if (roll < 670)		/*  1.0% dns, replies, pings */
			benign_other(w, g, rnd_below(g, 100));
		else if (roll < 680)		/*  1.0% syn flood */
			tcp(g, &atk[0], &w->host, eph(g), 80, F_SYN, 0);
		else if (roll < 710)		/*  3.0% udp flood */
			udp(g, &atk[1], &w->host, eph(g), 27015, 512);
		else if (roll < 720)		/*  1.0% icmp flood */
			echo(g, &atk[2], &w->host);
		else if (roll < 723)		/*  0.3% port scan */
			tcp(g, &atk[3], &w->host, 41000, (uint16_t)(1 + scan++ % 65535), F_SYN, 0);
		else if (roll < 750) {		/*  2.7% v6 echo flood, rotating */
			struct ep s = ep6(0x0bad, 1, rnd(g));

			echo(g, &s, &w->srv6[0]);
		} else {			/* 25.0% spoofed syn flood */
			struct ep s = spoof_src(g, (uint32_t)(spoofs++ % o->sources), key);

			tcp(g, &s, host_for(w, &s), eph(g), 80, F_SYN, 0);
		}
	}
}

static void sc_spoof(struct gen *g, const struct opts *o, struct world *w)
{
	uint32_t key = (uint32_t)o->seed * 2654435761u;

	for (uint64_t i = 0; i < o->n; i++, g->ts++) {
		struct ep s = spoof_src(g, (uint32_t)(i % o->sources), key);

		tcp(g, &s, host_for(w, &s), eph(g), 80, F_SYN, 0);
	}
}

static void sc_synflood(struct gen *g, const struct opts *o, struct world *w)
{
	struct ep a = ep4(198, 19, 0, 1), c = ep4(198, 18, 0, 10);

	for (uint64_t i = 0; i < o->n; i++, g->ts += 1000) {
		tcp(g, &a, &w->host, (uint16_t)(1024 + i), 80, F_SYN, 0);
		if (i % 10 == 0) {
			uint16_t sp = (uint16_t)(50000 + i);

			tcp(g, &c, &w->host, sp, 443, F_SYN, 0);
			tcp(g, &c, &w->host, sp, 443, F_ACK, 0);
		}
	}
}

static void sc_udpflood(struct gen *g, const struct opts *o, struct world *w)
{
	struct ep a = ep4(198, 19, 0, 2);

	for (uint64_t i = 0; i < o->n; i++, g->ts += 1000)
		udp(g, &a, &w->host, 40000, 9999, 512);
}

static void sc_icmpflood(struct gen *g, const struct opts *o, struct world *w)
{
	struct ep a = ep4(198, 19, 0, 3);

	for (uint64_t i = 0; i < o->n; i++, g->ts += 1000)
		echo(g, &a, &w->host);
}

static void sc_portscan(struct gen *g, const struct opts *o, struct world *w)
{
	struct ep a = ep4(198, 19, 0, 4);

	for (uint64_t i = 0; i < o->n; i++, g->ts += 1000) {
		uint16_t port = (uint16_t)(1 + i % 65535);

		tcp(g, &a, &w->host, 41000, port, F_SYN, 0);
		if (port == 22 || port == 80) {
			tcp(g, &w->host, &a, port, 41000, F_SYN | F_ACK, 0);
			tcp(g, &a, &w->host, 41000, port, F_RST, 0);
		} else {
			tcp(g, &w->host, &a, port, 41000, F_RST | F_ACK, 0);
		}
	}
}

static void sc_benign(struct gen *g, const struct opts *o, struct world *w)
{
	uint64_t step = o->n ? 10000000 / o->n : 1;

	for (uint64_t i = 0; i < o->n; i++, g->ts += step ? step : 1) {
		uint32_t roll = rnd_below(g, 100);

		if (roll < 85)
			client_step(w, g);
		else
			benign_other(w, g, rnd_below(g, 100));
	}
}

static void sc_v6flood(struct gen *g, const struct opts *o, struct world *w)
{
	for (uint64_t i = 0; i < o->n; i++, g->ts += 1000) {
		struct ep s = ep6(0x0bad, 1, rnd(g));

		echo(g, &s, &w->srv6[0]);
	}
}

static void sc_ddos(struct gen *g, const struct opts *o, struct world *w)
{
	for (uint64_t i = 0; i < o->n; i++, g->ts += 100) {
		uint32_t k = (uint32_t)(i % 2000);
		struct ep s = ep4(198, 18, (uint8_t)(16 + k / 250), (uint8_t)(1 + k % 250));

		tcp(g, &s, &w->host, eph(g), 80, F_SYN, 0);
	}
}

struct scenario {
	const char *name;
	void (*run)(struct gen *, const struct opts *, struct world *);
	uint64_t n;		/* default packet (or event) count */
	uint32_t clients4, clients6;
};

static const struct scenario scenarios[] = {
	{ "mixed", sc_mixed, 1000000, 16000, 4000 },
	{ "spoof", sc_spoof, 1000000, 0, 0 },
	{ "synflood", sc_synflood, 150, 0, 0 },
	{ "udpflood", sc_udpflood, 300, 0, 0 },
	{ "icmpflood", sc_icmpflood, 100, 0, 0 },
	{ "portscan", sc_portscan, 60, 0, 0 },
	{ "benign", sc_benign, 20000, 40, 10 },
	{ "v6flood", sc_v6flood, 100, 0, 0 },
	{ "ddos", sc_ddos, 8000, 0, 0 },
};

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: mkpcap -o FILE -s SCENARIO [-n PACKETS] [--sources N] [--seed S]\n"
		   "scenarios:");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(f, " %s", scenarios[i].name);
	fprintf(f, "\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "sources", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	while ((c = getopt_long(argc, argv, "o:s:n:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 's': o->scenario = optarg; break;
		case 'n':
			if (parse_u64(optarg, &o->n) < 0)
				return -1;
			o->have_n = true;
			break;
		case 'S':
			if (parse_u64(optarg, &o->sources) < 0 || !o->sources ||
			    o->sources > (1ull << 31))
				return -1;
			break;
		case 'e':
			if (parse_u64(optarg, &o->seed) < 0)
				return -1;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	return o->out && o->scenario && optind == argc ? 0 : -1;
}

static const struct scenario *find_scenario(const char *name)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(scenarios[i].name, name) == 0)
			return &scenarios[i];
	return NULL;
}

static int run(const struct opts *o, const struct scenario *sc)
{
	struct gen g = { .rng = o->seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull };
	struct world w = { 0 };
	pcap_t *pd = pcap_open_dead(DLT_EN10MB, SNAPLEN);
	FILE *f = fopen(o->out, "wb");
	int r = -1;

	if (!pd || !f) {
		fprintf(stderr, "mkpcap: %s: %s\n", o->out, strerror(errno));
		goto out;
	}
	setvbuf(f, NULL, _IOFBF, OUTBUF);
	if (!(g.dump = pcap_dump_fopen(pd, f))) {
		fprintf(stderr, "mkpcap: %s\n", pcap_geterr(pd));
		goto out;
	}
	f = NULL;	/* the dumper owns it now */
	if (world_init(&w, &g, sc->clients4, sc->clients6) < 0) {
		fprintf(stderr, "mkpcap: out of memory\n");
		goto out;
	}
	sc->run(&g, o, &w);
	if (pcap_dump_flush(g.dump) < 0 || ferror(pcap_dump_file(g.dump))) {
		fprintf(stderr, "mkpcap: %s: write error\n", o->out);
		goto out;
	}
	r = 0;
	fprintf(stderr, "mkpcap: %s: %s, %" PRIu64 " packets\n", o->out, sc->name, g.written);
out:
	if (g.dump)
		pcap_dump_close(g.dump);
	if (f)
		fclose(f);
	if (pd)
		pcap_close(pd);
	free(w.cl);
	return r;
}

int main(int argc, char **argv)
{
	struct opts o;
	const struct scenario *sc;

	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (!(sc = find_scenario(o.scenario))) {
		fprintf(stderr, "mkpcap: unknown scenario %s\n", o.scenario);
		usage(stderr);
		return 2;
	}
	if (!o.have_n)
		o.n = sc->n;
	if (!o.sources)
		o.sources = strcmp(sc->name, "spoof") == 0 && o.n ? o.n : 1000000;
	if (o.sources > (1ull << 31)) {
		fprintf(stderr, "mkpcap: at most 2^31 distinct sources\n");
		return 2;
	}
	return run(&o, sc) < 0 ? 1 : 0;
}
