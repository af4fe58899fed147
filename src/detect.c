/* detect.c - per-source sliding-window detectors in fixed memory.
 *
 * Each detector counts the events of one class (half-open SYNs, UDP
 * datagrams, ICMP echo requests, distinct destination ports, all packets)
 * from one source, or for ddos towards one destination, over an exact
 * sliding window (t - W, t] of packet time, and fires at the very packet
 * that brings the count to its threshold. Packet time is the only clock,
 * so a replay decides what live capture decided.
 *
 * Everything is allocated by detect_new and never grows:
 *
 *  - Sources live in a set-associative table of `capacity` slots: buckets
 *    of WAYS slots chosen by a hash of the source masked to its grouping
 *    prefix, keyed with secrets from a seed an attacker cannot know. A
 *    bucket keeps the tags, activity scores and last-seen ticks of its ways
 *    in one cache line, so a lookup is one miss there and one in the 64-byte
 *    slot, and choosing a way to evict never touches the slots.
 *
 *  - Exact windows need every event's time, and a window of `threshold`
 *    events is all an alert needs to know, so a class's stamps go in a ring
 *    of `threshold` entries. Rings are drawn from a fixed pool per class
 *    (a ring per slot would cost thresholds x capacity). The first event of
 *    a class is kept in the slot itself: a source takes a ring only on its
 *    second event in the window, and a spoofed flood of one packet per
 *    source takes none.
 *
 *  - Stamps are the low 32 bits of ts_us. A ring anchors its stamps with
 *    the full time of its newest push (all its stamps are within one window
 *    of it); a slot anchors the stamps it holds itself with its last packet
 *    time and is swept whenever its packets cross a 2^29 us boundary, which
 *    drops what is stale before any stamp can be 2^32 us old. Windows and
 *    the cooldown are capped at an hour (< 2^32 - 2^29 us) for that.
 *
 * A service may have a bar of its own ([udp_flood port=53]): its packets
 * go to an instance of this module with that one detector (and to its
 * flows both ways), and are not counted here for that kind. The packet
 * path pays one predictable branch when there are none.
 *
 * Speed: the table spans megabytes, and a lookup that waits for its lines
 * is what bounds the rate, so detect_batch looks at packets ahead of their
 * turn (prep_packet, prep_slot) and asks for the lines they will need while
 * earlier ones are counted. Packets are still counted one by one in order,
 * so the verdicts are those of detect_packet. The per-packet path (run_packet)
 * is inlined into one function, specialized per class, and avoids branches
 * on what comes at random (IPv4 or IPv6, known source or not, SYN or ACK):
 * a mispredicted branch costs more than the few instructions that replace it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* DETECT_PORTABLE builds the fallbacks of the SSE2 and 128-bit paths, so
 * tests compile and run them on machines that have both (make's
 * test_*_portable binaries). Either path gives the same verdicts. */
#if defined(__SSE2__) && !defined(DETECT_PORTABLE)
#define DETECT_SSE2 1
#endif
#if defined(__SIZEOF_INT128__) && !defined(DETECT_PORTABLE)
#define DETECT_INT128 1
#endif

#include "bigmem.h"
#include "detect.h"
#include "flows.h"

#define WAYS		8	/* slots per bucket */
#define NCLS		5	/* per-source classes, numbered as their kinds */
#define DCLS		4	/* destination classes: syn, udp, icmp (ddos,
				   same numbers), then reflection */
#define C_REFL		3	/* the reflection class of a destination */
#define PROBES		8	/* rings a reclaim looks at */
#define NONE		UINT32_MAX
#define EPOCH_SHIFT	29	/* a slot is swept when it crosses 2^29 us */
/* Bucket ages count 16 us ticks: fine enough that a flood of a million
 * packets a second rarely leaves two ways of a bucket with the same age
 * (least recently seen must mean something), coarse enough that 32 bits
 * last 19 hours; a way idle that long may look recent again, which only
 * delays its eviction. */
#define TICK_SHIFT	4
#define COOL_SHIFT	(2 * NCLS)	/* slot.flags: cooldown bits after states */

#define MAX_WINDOW_MS	DETECT_MAX_WINDOW_MS
#define MAX_THRESHOLD	DETECT_MAX_THRESHOLD
#define MAX_CAPACITY	DETECT_MAX_CAPACITY
#define MAX_DST_CAP	DETECT_MAX_DST_CAP
#define MAX_POOL	DETECT_MAX_RINGS
#define MAX_POOL_BYTES	(256ull << 20)	/* one pool's ring storage */

/* Packets between asking for a bucket line and for the slot it points to,
 * and again between that and counting the packet: enough for a line from
 * memory to arrive while the packets between are counted. */
#define AHEAD		16
#define PREP_RING	64	/* a power of two > 2 AHEAD */
#define DST_MEMO	8	/* destinations whose place is kept: a power of two */
#define CHUNK		1024	/* packets whose flows are looked up in one go */

#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_ACK		0x10

_Static_assert(KIND_SYN_FLOOD == 0 && KIND_UDP_FLOOD == 1 && KIND_ICMP_FLOOD == 2 &&
	       KIND_PORT_SCAN == 3 && KIND_RATE_FLOOD == 4 && KIND_DDOS == NCLS &&
	       KIND_REFLECTION == NCLS + 1,
	       "per-source classes are numbered as their kinds");

enum { C_SYN, C_UDP, C_ICMP, C_SCAN, C_RATE };

/* What a slot holds for one class. */
enum {
	ST_EMPTY,	/* no event in the window */
	ST_ONE,		/* one event: stamp in v[], ports in aux[] */
	ST_RING,	/* v[] is a ring of the class's pool */
	ST_OVER,	/* pool exhausted: n[] events since stamp v[], a
			   priority for the next ring, never an alert */
};

/* How a class counts. */
enum {
	M_COUNT,	/* every event */
	M_SYN,		/* SYNs; a matching pure ACK takes them back */
	M_SCAN,		/* distinct (protocol, port) keys */
};

struct slot {
	struct ip_addr key;	/* source (masked) or destination */
	uint64_t last_us;	/* last packet: anchors v[] and the cooldowns */
	uint32_t v[NCLS];	/* per class, as its state says */
	uint32_t aux[2];	/* ST_ONE's key: [0] syn ports, [1] scan port */
	uint16_t n[NCLS];	/* ST_OVER's event count */
	uint16_t flags;		/* 2 state bits per class, then cooldown bits */
};
_Static_assert(sizeof(struct slot) == 64, "a slot is one cache line");

/* What eviction looks at, one cache line per bucket. */
struct bucket {
	uint16_t tag[WAYS];	/* hash bits of the way's key; 0: free */
	uint16_t score[WAYS];	/* packets in the way's current activity */
	uint32_t seen[WAYS];	/* last packet, in ticks */
};
_Static_assert(sizeof(struct bucket) == 64, "a bucket is one cache line");

struct ring {
	uint64_t newest;	/* ts_us of the last push: anchors the stamps */
	uint32_t owner;		/* slot index, NONE when free */
	uint32_t head, count;
	uint32_t alerted;	/* its owner alerted for the class since it got it */
};
_Static_assert(sizeof(struct ring) == 24, "padding used, not grown");

struct table;

struct pool {
	struct table *tab;	/* whose slots own the rings */
	struct ring *ring;
	uint32_t *ent;		/* nrings * cap entries of stride words */
	size_t ent_bytes;
	uint32_t *free;		/* stack of ring ids given back */
	uint32_t nrings, nfree, cap, stride, hand;
	uint32_t fresh;		/* rings below this one were ever handed out */
	uint32_t floor;		/* fewest events a denying probe found, */
	uint64_t floor_t;	/* and when: see pool_reclaim */
	uint32_t win_us;
	uint8_t cls, mode;
};

struct table {
	struct slot *slot;
	struct bucket *bk;
	uint32_t *cool;		/* ncool alert stamps per slot */
	size_t slot_bytes, bk_bytes;
	struct pool *pool[NCLS];	/* NULL: class not counted */
	uint32_t win_us[NCLS];
	uint64_t horizon_us;	/* longest window or cooldown */
	uint32_t horizon_ticks;
	uint64_t secret[2];	/* key_hash's, from the seed */
	uint32_t nbuckets, ncool;
	uint64_t tracked, evictions;
};

/* A destination hashed lately, and where it lives. */
struct dst_memo {
	struct ip_addr addr;
	uint32_t b;
	uint16_t tag;
};

struct detect {
	struct detect_cfg cfg;
	detect_cb cb;
	void *ctx;
	uint64_t now;		/* time of the packet being counted */
	uint64_t clock;		/* detect's clock (see detect_clock) */
	uint64_t raw;		/* the packet time it last followed */
	struct flows *flows;
	uint32_t cool_us;
	uint64_t mask[2][2];	/* grouping masks: [0] IPv6, [1] IPv4 */
	uint8_t len4, len6;
	uint8_t src_ev;		/* bit per source class counted */
	uint8_t thr_one;	/* bit per source class alerting at its first event */
	uint8_t dst_ev;		/* bit per destination class counted */
	uint8_t nsvc;		/* cfg.nsvc, where the packet path looks */
	bool local_pfx;		/* cfg.local has a prefix shorter than 128 */
	uint64_t local_bits;	/* local_bit of each full-length cfg.local */
	struct dst_memo dst_memo[DST_MEMO];
	detect_dst_cb dst_sink;	/* ddos counted elsewhere: shares go here */
	void *dst_ctx;
	struct table src, dst;
	struct pool pool[NCLS + DCLS];	/* source classes, then destination */
	struct detect_stats st;
	/* Per-service bars: service i's packets are counted by svc[i], an
	 * instance of its own with the one detector (NULL: disabled, never
	 * counted); a service's instance tells its verdicts to its parent. */
	struct detect *svc[DETECT_MAX_SERVICES];
	struct detect *parent;
	const struct detect_service *svc_of;
};

/* What one packet counts for. */
struct pkt_ev {
	uint8_t ev;		/* bit per source class */
	bool ack;		/* a pure ACK: may complete a half-open SYN */
	int8_t dcls;		/* ddos class, -1 for none */
};

/* The key a SYN is completed by, and the key scan counts distinct:
 * taken from the packet when needed (see detect_classify). */
static inline uint32_t syn_aux(const struct pkt *p)
{
	return (uint32_t)p->sport << 16 | p->dport;
}

static inline uint32_t scan_aux(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return p->dport;
	if (p->proto == IPPROTO_UDP)
		return 0x10000u | p->dport;
	return 0x20000u | p->proto;	/* an IP protocol scan's probe */
}

static const char *const kind_names[KIND__MAX] = {
	[KIND_SYN_FLOOD]	= "syn_flood",
	[KIND_UDP_FLOOD]	= "udp_flood",
	[KIND_ICMP_FLOOD]	= "icmp_flood",
	[KIND_PORT_SCAN]	= "port_scan",
	[KIND_RATE_FLOOD]	= "rate_flood",
	[KIND_DDOS]		= "ddos",
	[KIND_REFLECTION]	= "reflection",
	[KIND_SPOOFED]		= "spoofed",
};

/* Rings per pool when the configuration leaves it at 0 (auto): one per
 * slot for the classes a flood of many sources hits (AUTO_SLOTS: every
 * tracked source counts exactly, however many flood at once); the rate
 * ring holds 20000 stamps (80 KiB) by default, so fewer of those. Rings
 * are mmap'ed and handed out lowest first, so the pages of rings never
 * used cost address space, not memory. */
#define AUTO_SLOTS	0
static const uint32_t pool_default[KIND__MAX] = {
	AUTO_SLOTS, AUTO_SLOTS, AUTO_SLOTS, AUTO_SLOTS, 128, 32, 64, 0
};

/* ---- configuration ---- */

void detect_cfg_defaults(struct detect_cfg *cfg)
{
	static const struct detector_cfg det[KIND__MAX] = {
		[KIND_SYN_FLOOD]	= { true, 100, 5000 },
		[KIND_UDP_FLOOD]	= { true, 200, 5000 },
		[KIND_ICMP_FLOOD]	= { true, 50, 5000 },
		[KIND_PORT_SCAN]	= { true, 20, 5000 },
		/* 20000 packets in 1 s from one source: a gigabit of full
		 * frames is ~80000 pps, a busy client or proxy a few
		 * thousand; only a flood comes near. */
		[KIND_RATE_FLOOD]	= { true, 20000, 1000 },
		/* 5000 per second of one class towards one destination, from
		 * everyone together. */
		[KIND_DDOS]		= { true, 5000, 1000 },
		/* Answers no one here asked for, from DNS, NTP, SSDP,
		 * memcached... ports, by 20 distinct reflectors in 5 s, towards
		 * one unicast target: a resolver or time server answering this
		 * host's questions is no part of it. */
		[KIND_REFLECTION]	= { true, 20, 5000 },
		/* Not a detector: what a syn_flood becomes (see detect.h). */
		[KIND_SPOOFED]		= { false, 0, 0 },
	};

	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->det, det, sizeof(det));
	cfg->cooldown_ms = 5000;
	cfg->capacity = DETECT_CAPACITY;
	cfg->dst_capacity = 4096;
	cfg->v4_prefix = 32;
	cfg->v6_prefix = 64;
	cfg->seed = 0;
	cfg->flow_capacity = 262144;
	cfg->flow_timeout_ms = 120000;
}

static int check_detector(const struct detector_cfg *dc, const char **why)
{
	if (!dc->enabled)
		return 0;
	if (dc->threshold == 0 || dc->threshold > MAX_THRESHOLD) {
		*why = "detector threshold must be 1 to 100000000";
		return -EINVAL;
	}
	if (dc->window_ms == 0 || dc->window_ms > MAX_WINDOW_MS) {
		*why = "detector window must be 1 ms to 3600 s";
		return -EINVAL;
	}
	return 0;
}

/* Service i of cfg: a kind that has bars per service, a port or protocol
 * that fits it, a detector's limits, and no other bar of its kind for the
 * same service. */
static void check_service(const struct detect_cfg *cfg, unsigned i, const char **why)
{
	const struct detect_service *sv = &cfg->svc[i];

	if (sv->kind != KIND_SYN_FLOOD && sv->kind != KIND_UDP_FLOOD &&
	    sv->kind != KIND_RATE_FLOOD)
		*why = "per-service bars are for syn_flood, udp_flood and rate_flood";
	else if ((sv->kind == KIND_SYN_FLOOD && (sv->proto != IPPROTO_TCP || !sv->port)) ||
		 (sv->kind == KIND_UDP_FLOOD && (sv->proto != IPPROTO_UDP || !sv->port)) ||
		 (sv->kind == KIND_RATE_FLOOD && !sv->port == !sv->proto))
		*why = "a service is a port (syn_flood, udp_flood, rate_flood) or a protocol (rate_flood)";
	else if (check_detector(&sv->det, why) < 0)
		return;
	for (unsigned j = 0; !*why && j < i; j++)
		if (cfg->svc[j].kind == sv->kind && cfg->svc[j].port == sv->port &&
		    cfg->svc[j].proto == sv->proto)
			*why = "the same service twice for one detector";
}

int detect_cfg_check(const struct detect_cfg *cfg, const char **why)
{
	*why = NULL;
	for (int k = 0; k < KIND__MAX; k++) {
		if (check_detector(&cfg->det[k], why) < 0)
			return -EINVAL;
		if (cfg->pool[k] > MAX_POOL) {
			*why = "ring pool size must be at most 1048576";
			return -EINVAL;
		}
	}
	if (cfg->cooldown_ms > MAX_WINDOW_MS)
		*why = "cooldown must be at most 3600 s";
	else if (cfg->capacity < WAYS || cfg->capacity > MAX_CAPACITY)
		*why = "capacity must be 8 to 67108864 sources";
	else if (cfg->det[KIND_DDOS].enabled &&
		 (cfg->dst_capacity == 0 || cfg->dst_capacity > MAX_DST_CAP))
		*why = "dst_capacity must be 1 to 1048576 destinations";
	else if (cfg->v4_prefix < 8 || cfg->v4_prefix > 32)
		*why = "IPv4 grouping prefix must be 8 to 32";
	else if (cfg->v6_prefix < 16 || cfg->v6_prefix > 128)
		*why = "IPv6 grouping prefix must be 16 to 128";
	else if (cfg->flow_capacity < 64 || cfg->flow_capacity > MAX_CAPACITY)
		*why = "flow_capacity must be 64 to 67108864 flows";
	else if (cfg->flow_timeout_ms < 1000 || cfg->flow_timeout_ms > 86400000)
		*why = "flow_timeout must be 1 s to 1 day";
	else if (cfg->nlocal > DETECT_LOCAL_MAX)
		*why = "at most 16 local prefixes";
	else if (cfg->det[KIND_SPOOFED].enabled)
		*why = "spoofed is what a syn_flood becomes, not a detector";
	else if (cfg->nsvc > DETECT_MAX_SERVICES)
		*why = "at most 8 per-service sections";
	for (unsigned i = 0; !*why && i < cfg->nsvc; i++)
		check_service(cfg, i, why);
	return *why ? -EINVAL : 0;
}

const char *detect_kind_name(enum detect_kind k)
{
	if (k == KIND_MANUAL)
		return "manual";
	if (k == KIND_CROWDSEC)
		return "crowdsec";
	return (unsigned)k < KIND__MAX ? kind_names[k] : "unknown";
}

int detect_kind_parse(const char *s)
{
	for (int k = 0; k < KIND__MAX; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return -1;
}

/* ---- slot state ---- */

static inline unsigned st_get(const struct slot *s, unsigned c)
{
	return (s->flags >> (2 * c)) & 3u;
}

static inline void st_set(struct slot *s, unsigned c, unsigned st)
{
	s->flags = (uint16_t)((s->flags & ~(3u << (2 * c))) | st << (2 * c));
}

static inline void one_set(struct slot *s, const struct pool *pl, uint32_t t32,
			   uint32_t aux)
{
	s->v[pl->cls] = t32;
	if (pl->mode != M_COUNT)
		s->aux[pl->mode == M_SCAN] = aux;
	st_set(s, pl->cls, ST_ONE);
}

/* ---- rings ---- */

static inline uint32_t *ring_ent(const struct pool *pl, uint32_t r, uint32_t i)
{
	uint32_t pos = pl->ring[r].head + i;

	if (pos >= pl->cap)
		pos -= pl->cap;
	return pl->ent + ((size_t)r * pl->cap + pos) * pl->stride;
}

/* Pops the stamps at or before t - W. Ages are taken from the ring's own
 * 64-bit anchor, so a ring untouched for hours is judged right. */
static void ring_expire(struct pool *pl, uint32_t r, uint64_t t)
{
	struct ring *rg = &pl->ring[r];
	uint64_t base = t - rg->newest;
	uint32_t n32 = (uint32_t)rg->newest;

	if (base >= pl->win_us) {
		rg->head = 0;
		rg->count = 0;
		return;
	}
	while (rg->count) {
		uint32_t s = ring_ent(pl, r, 0)[0];

		if (base + (uint32_t)(n32 - s) < pl->win_us)
			break;
		if (++rg->head == pl->cap)
			rg->head = 0;
		rg->count--;
	}
}

/* Appends an event. A full ring drops its oldest: it then holds the newest
 * `threshold` events, enough to know whether the window holds that many,
 * so the count it gives saturates at the threshold. */
static void ring_push(struct pool *pl, uint32_t r, uint64_t t, uint32_t aux)
{
	struct ring *rg = &pl->ring[r];
	uint32_t *e;

	if (rg->count == pl->cap) {
		if (++rg->head == pl->cap)
			rg->head = 0;
		rg->count--;
	}
	e = ring_ent(pl, r, rg->count++);
	e[0] = (uint32_t)t;
	if (pl->stride > 1)
		e[1] = aux;
	rg->newest = t;
}

/* Index of the newest entry keyed aux, or NONE. */
static uint32_t ring_find(const struct pool *pl, uint32_t r, uint32_t aux)
{
	for (uint32_t i = pl->ring[r].count; i-- > 0;)
		if (ring_ent(pl, r, i)[1] == aux)
			return i;
	return NONE;
}

/* Removes entry i, keeping the rest in time order. */
static void ring_remove(struct pool *pl, uint32_t r, uint32_t i)
{
	struct ring *rg = &pl->ring[r];

	for (; i + 1 < rg->count; i++)
		memcpy(ring_ent(pl, r, i), ring_ent(pl, r, i + 1),
		       pl->stride * sizeof(uint32_t));
	rg->count--;
}

/* Removes every entry keyed aux (a SYN and its retransmissions). */
static void ring_remove_all(struct pool *pl, uint32_t r, uint32_t aux)
{
	struct ring *rg = &pl->ring[r];
	uint32_t j = 0;

	for (uint32_t i = 0; i < rg->count; i++) {
		uint32_t *e = ring_ent(pl, r, i);

		if (e[1] == aux)
			continue;
		if (j != i)
			memcpy(ring_ent(pl, r, j), e, pl->stride * sizeof(uint32_t));
		j++;
	}
	rg->count = j;
}

/* ---- pools ---- */

static void pool_put(struct pool *pl, uint32_t r)
{
	pl->ring[r].owner = NONE;
	pl->free[pl->nfree++] = r;
}

/* Takes ring r from its owner, who keeps its oldest live stamp and its
 * count as an ST_OVER priority (a lower bound of what it had: never a
 * false alert later). */
static void pool_disown(struct pool *pl, uint32_t r, uint64_t t)
{
	struct slot *s = &pl->tab->slot[pl->ring[r].owner];
	uint32_t n;

	ring_expire(pl, r, t);
	n = pl->ring[r].count;
	if (n == 0) {
		st_set(s, pl->cls, ST_EMPTY);
		return;
	}
	s->v[pl->cls] = ring_ent(pl, r, 0)[0];
	s->n[pl->cls] = (uint16_t)(n < UINT16_MAX ? n : UINT16_MAX);
	st_set(s, pl->cls, ST_OVER);
}

/* With the pool empty, looks at PROBES rings from a clock hand: the first
 * whose stamps have all left the window is recycled; else the one holding
 * the fewest events goes to the requester if it has fewer than prio (the
 * requester's own count), so busy owners keep their rings and a flood
 * takes them from quiet ones. An owner that has alerted for the class
 * since it got the ring (soon banned, and its next alert waits for the
 * cooldown anyway) counts as holding nothing: a ban storm does not keep
 * the pool from the next flooders. NONE when every probed ring is busier. */
static uint32_t pool_reclaim(struct detect *d, struct pool *pl, uint64_t t,
			     uint32_t prio)
{
	const struct ring *ring = pl->ring;
	uint32_t best = NONE, bestc = UINT32_MAX, hand = pl->hand, nr = pl->nrings;
	uint32_t probes = nr < PROBES ? nr : PROBES, win = pl->win_us;
	bool live = false;

	/* A probe found every ring busier than this a moment ago: so will
	 * this one, most likely. Requests come at every doubling of every
	 * source's count while a pool is short; each probe costs 8 lines. */
	if (prio <= pl->floor && t - pl->floor_t < win / 16) {
		d->st.ring_denied++;
		return NONE;
	}
	for (uint32_t k = 0; k < probes; k++) {
		uint32_t r = hand, c = ring[r].count;

		hand = hand + 1 == nr ? 0 : hand + 1;
		if (t - ring[r].newest >= win) {
			best = r;
			bestc = 0;
			live = false;
			break;
		}
		c = ring[r].alerted ? 0 : c;
		live |= c < bestc;
		best = c < bestc ? r : best;	/* which way goes at random */
		bestc = c < bestc ? c : bestc;
	}
	pl->hand = hand;
	if (bestc >= prio) {
		d->st.ring_denied++;
		pl->floor = bestc;
		pl->floor_t = t;
		return NONE;
	}
	if (live)
		d->st.ring_reclaims++;
	pool_disown(pl, best, t);
	return best;
}

/* An empty ring for slot owner, or NONE (see pool_reclaim). */
static uint32_t pool_get(struct detect *d, struct pool *pl, uint32_t owner,
			 uint64_t t, uint32_t prio)
{
	uint32_t r;

	if (pl->nfree)
		r = pl->free[--pl->nfree];
	else if (pl->fresh < pl->nrings)
		r = pl->fresh++;
	else if ((r = pool_reclaim(d, pl, t, prio)) == NONE)
		return NONE;
	pl->ring[r].owner = owner;
	pl->ring[r].head = 0;
	pl->ring[r].count = 0;
	pl->ring[r].alerted = 0;
	pl->ring[r].newest = t;
	return r;
}

/* ---- one class of one slot ---- */

/* Whether slot si has alerted for pl's class within the cooldown: a ring
 * it gets now is the first to go again (see pool_reclaim). */
static bool cooling(const struct detect *d, const struct pool *pl, uint32_t si, uint64_t t)
{
	const struct table *tb = pl->tab;
	unsigned ci = tb == &d->src ? pl->cls : 0;

	return (tb->slot[si].flags & 1u << (COOL_SHIFT + ci)) &&
	       (uint32_t)t - tb->cool[(size_t)si * tb->ncool + ci] < d->cool_us;
}

/* What a class without a ring counts, n events in a run all within the
 * window: a lower bound of its count, so an alert on it is never false
 * (a SYN run loses one for every pure ACK; see syn_complete). Distinct
 * ports are not known without a ring: 0, no alert. */
static inline uint32_t over_count(unsigned mode, uint32_t n)
{
	return mode == M_SCAN ? 0 : n;
}

/* Second event in the window: the inline one and this one move to a ring. */
static uint32_t cls_grow(struct detect *d, struct pool *pl, uint32_t si,
			 uint64_t t, uint32_t aux)
{
	struct slot *s = &pl->tab->slot[si];
	unsigned c = pl->cls;
	uint32_t r = pool_get(d, pl, si, t, 2), *e;

	if (r == NONE) {
		s->n[c] = 2;
		st_set(s, c, ST_OVER);
		return over_count(pl->mode, 2);
	}
	e = ring_ent(pl, r, 0);
	e[0] = s->v[c];
	if (pl->stride > 1)
		e[1] = s->aux[pl->mode == M_SCAN];
	pl->ring[r].count = 1;
	ring_push(pl, r, t, aux);
	s->v[c] = r;
	st_set(s, c, ST_RING);
	return pl->ring[r].count;
}

static uint32_t cls_ring(struct pool *pl, uint32_t si, uint64_t t, uint32_t aux)
{
	struct slot *s = &pl->tab->slot[si];
	uint32_t r = s->v[pl->cls], i;

	ring_expire(pl, r, t);
	if (pl->ring[r].count == 0) {
		pool_put(pl, r);
		one_set(s, pl, (uint32_t)t, aux);
		return 1;
	}
	if (pl->mode == M_SCAN && (i = ring_find(pl, r, aux)) != NONE)
		ring_remove(pl, r, i);	/* a port seen again moves to the end */
	ring_push(pl, r, t, aux);
	return pl->ring[r].count;
}

/* cls_ring for a counting class (one word per stamp): the expiry and the
 * push done on locals in one pass, as floods of one class take it at
 * every packet. */
static inline __attribute__((always_inline)) uint32_t
cls_ring_count(struct pool *pl, struct slot *s, uint64_t t)
{
	unsigned c = pl->cls;
	uint32_t r = s->v[c], cap = pl->cap, win = pl->win_us, pos, full;
	struct ring *rg = &pl->ring[r];
	uint32_t *e = pl->ent + (size_t)r * cap;
	uint32_t head = rg->head, count = rg->count, n32 = (uint32_t)rg->newest;
	uint64_t base = t - rg->newest;

	if (base >= win)
		head = count = 0;
	while (count && base + (uint32_t)(n32 - e[head]) >= win) {
		if (++head == cap)
			head = 0;
		count--;
	}
	rg->head = head;
	if (count == 0) {
		rg->count = 0;
		pool_put(pl, r);
		s->v[c] = (uint32_t)t;
		st_set(s, c, ST_ONE);
		return 1;
	}
	/* A full ring (a flood's, most of the time) drops its oldest. */
	full = count == cap;
	head += full;
	head = head == cap ? 0 : head;
	count -= full;
	rg->head = head;
	pos = head + count < cap ? head + count : head + count - cap;
	e[pos] = (uint32_t)t;
	rg->count = ++count;
	rg->newest = t;
	return count;
}

/* Pool exhausted earlier: count coarsely and ask again each time the count
 * doubles. A ring granted to a counting or SYN class starts with the events
 * so far stamped at the run's first, the earliest they can be: they leave
 * the window no later than the real ones, so the count can only be low
 * (SYNs so carried are keyed 0: ports 0 to 0, which no ACK completes in
 * practice). Port scan counts distinct ports, which a run does not know:
 * its ring starts from the one port at hand. */
static uint32_t cls_over(struct detect *d, struct pool *pl, uint32_t si,
			 uint64_t t, uint32_t aux)
{
	struct slot *s = &pl->tab->slot[si];
	unsigned c = pl->cls;
	uint32_t first = s->v[c], n, r;

	if ((uint32_t)t - first >= pl->win_us) {
		one_set(s, pl, (uint32_t)t, aux);
		return 1;
	}
	n = s->n[c] == UINT16_MAX ? 0x8000u : s->n[c] + 1u;
	s->n[c] = (uint16_t)n;
	if (n & (n - 1))
		return over_count(pl->mode, n);
	if ((r = pool_get(d, pl, si, t, n)) == NONE)
		return over_count(pl->mode, n);
	pl->ring[r].alerted = cooling(d, pl, si, t);
	if (pl->mode != M_SCAN) {
		uint32_t fill = n - 1 < pl->cap - 1 ? n - 1 : pl->cap - 1;

		for (uint32_t i = 0; i < fill; i++) {
			uint32_t *e = ring_ent(pl, r, i);

			e[0] = first;
			if (pl->stride > 1)
				e[1] = 0;
		}
		pl->ring[r].count = fill;
	}
	ring_push(pl, r, t, aux);
	s->v[c] = r;
	st_set(s, c, ST_RING);
	return pl->ring[r].count;
}

/* Counts one event of class c (mode mode, pool pl) for slot si (at s);
 * returns the count in the window, 0 while the class has no ring to count
 * exactly. Inlined with c and mode known, the cases most packets take
 * cost a few instructions; the others are calls. */
static inline __attribute__((always_inline)) uint32_t
cls_event(struct detect *d, struct pool *pl, struct slot *s, uint32_t si,
	  unsigned c, unsigned mode, uint64_t t, uint32_t aux)
{
	uint32_t n;

	switch ((s->flags >> (2 * c)) & 3u) {
	case ST_ONE:
		if ((uint32_t)t - s->v[c] >= pl->win_us)
			break;
		if (mode == M_SCAN && s->aux[1] == aux) {
			s->v[c] = (uint32_t)t;
			return 1;
		}
		return cls_grow(d, pl, si, t, aux);
	case ST_RING:
		if (mode == M_COUNT)
			return cls_ring_count(pl, s, t);
		return cls_ring(pl, si, t, aux);
	case ST_OVER:
		/* Most of an over-run: not yet a power of two to ask at. */
		n = s->n[c] + 1u;
		if (((uint32_t)t - s->v[c] < pl->win_us) & ((n & (n - 1)) != 0) &
		    (n <= UINT16_MAX)) {
			s->n[c] = (uint16_t)n;
			return over_count(mode, n);
		}
		return cls_over(d, pl, si, t, aux);
	}
	s->v[c] = (uint32_t)t;
	if (mode != M_COUNT)
		s->aux[mode == M_SCAN] = aux;
	s->flags = (uint16_t)((s->flags & ~(3u << (2 * c))) | ST_ONE << (2 * c));
	return 1;
}

/* A pure ACK from sport to dport completes the half-open SYNs with those
 * ports: they no longer count. */
static void syn_complete(struct pool *pl, uint32_t si, uint64_t t, uint32_t aux)
{
	struct slot *s = &pl->tab->slot[si];
	uint32_t r;

	switch (st_get(s, C_SYN)) {
	case ST_ONE:
		if (s->aux[0] == aux)
			st_set(s, C_SYN, ST_EMPTY);
		return;
	case ST_OVER:
		/* Which SYN it completes is not known: one fewer, so the run
		 * stays a lower bound of the half-open ones. */
		s->n[C_SYN] -= s->n[C_SYN] > 0;
		return;
	case ST_RING:
		r = s->v[C_SYN];
		ring_expire(pl, r, t);
		if (ring_find(pl, r, aux) != NONE)
			ring_remove_all(pl, r, aux);
		if (pl->ring[r].count == 0) {
			pool_put(pl, r);
			st_set(s, C_SYN, ST_EMPTY);
		}
		return;
	}
}

/* ---- table ---- */

/* The high bit of every class's state: set for ST_RING and ST_OVER. */
#define ST_HIGH_BITS	0x2aau

static void slot_clear(struct table *tb, struct slot *s)
{
	if (s->flags & ST_HIGH_BITS)
		for (unsigned c = 0; c < NCLS; c++)
			if (st_get(s, c) == ST_RING)
				pool_put(tb->pool[c], s->v[c]);
	s->flags = 0;
}

/* Drops the stale stamps a slot holds itself, judged against its last
 * packet time, so that none of those left can reach 2^32 us of age before
 * the next sweep (see the top of the file). Rings anchor themselves. */
static void slot_sweep(const struct detect *d, struct table *tb, uint32_t si,
		       uint64_t t)
{
	struct slot *s = &tb->slot[si];
	uint64_t gap = t - s->last_us;
	uint32_t l32 = (uint32_t)s->last_us;
	uint32_t *cool = &tb->cool[(size_t)si * tb->ncool];

	for (unsigned c = 0; c < NCLS; c++) {
		unsigned st = st_get(s, c);

		if ((st == ST_ONE || st == ST_OVER) &&
		    gap + (uint32_t)(l32 - s->v[c]) >= tb->win_us[c])
			st_set(s, c, ST_EMPTY);
	}
	for (unsigned k = 0; k < tb->ncool; k++)
		if ((s->flags & 1u << (COOL_SHIFT + k)) &&
		    gap + (uint32_t)(l32 - cool[k]) >= d->cool_us)
			s->flags &= (uint16_t)~(1u << (COOL_SHIFT + k));
}

/* A slot idle for the whole horizon starts a new activity. */
static __attribute__((noinline)) void tab_renew(struct table *tb, struct bucket *bk,
						unsigned w, struct slot *s)
{
	slot_clear(tb, s);
	bk->score[w] = 1;
}

static inline void tab_touch(const struct detect *d, struct table *tb,
			     struct bucket *bk, unsigned w, uint32_t si, uint64_t t)
{
	struct slot *s = &tb->slot[si];

	if (__builtin_expect(t - s->last_us >= tb->horizon_us, 0)) {
		tab_renew(tb, bk, w, s);
	} else {
		bk->score[w] += bk->score[w] != UINT16_MAX;
		if (__builtin_expect((t ^ s->last_us) >> EPOCH_SHIFT, 0))
			slot_sweep(d, tb, si, t);
	}
	bk->seen[w] = (uint32_t)(t >> TICK_SHIFT);
	s->last_us = t;
}

/* The way a new key takes in a full bucket. First one idle for the whole
 * horizon: its windows and cooldowns are empty, nothing is lost. Else the
 * one with the fewest packets in its current activity, the least recently
 * seen among equals (the first of those): under a spoofed flood of one
 * packet per source that is always another spoofed source, never an
 * attacker or a client already seen many times, who keep their slots and
 * their counts. */
#ifdef DETECT_SSE2
/* Signed 32-bit lanes: the larger of a and b (SSE2 has no pmaxsd). */
static inline __m128i max_epi32(__m128i a, __m128i b)
{
	return _mm_xor_si128(a, _mm_and_si128(_mm_xor_si128(a, b), _mm_cmpgt_epi32(b, a)));
}

/* The eight ways side by side: the fewest packets, then among those the
 * longest idle. Unsigned lanes are compared as signed with the sign bit
 * flipped. */
static unsigned tab_victim(const struct table *tb, const struct bucket *bk,
			   uint32_t now)
{
	const __m128i b32 = _mm_set1_epi32(INT32_MIN), b16 = _mm_set1_epi16(INT16_MIN);
	__m128i nowv = _mm_set1_epi32((int)now);
	__m128i hor = _mm_set1_epi32((int)(tb->horizon_ticks ^ 0x80000000u));
	__m128i i0 = _mm_sub_epi32(nowv, _mm_loadu_si128((const __m128i *)bk->seen));
	__m128i i1 = _mm_sub_epi32(nowv, _mm_loadu_si128((const __m128i *)(bk->seen + 4)));
	__m128i k0 = _mm_xor_si128(i0, b32), k1 = _mm_xor_si128(i1, b32);
	__m128i live = _mm_packs_epi32(_mm_cmpgt_epi32(hor, k0), _mm_cmpgt_epi32(hor, k1));
	__m128i sc = _mm_xor_si128(_mm_and_si128(live, _mm_loadu_si128((const __m128i *)bk->score)),
				   b16);
	__m128i m = _mm_min_epi16(sc, _mm_shuffle_epi32(sc, 0x4e));
	__m128i c, c0, c1, mx;

	m = _mm_min_epi16(m, _mm_shuffle_epi32(m, 0xb1));
	m = _mm_min_epi16(m, _mm_shufflelo_epi16(m, 0xb1));
	c = _mm_cmpeq_epi16(sc, _mm_shuffle_epi32(_mm_unpacklo_epi16(m, m), 0));
	c0 = _mm_unpacklo_epi16(c, c);
	c1 = _mm_unpackhi_epi16(c, c);
	/* Ways with more packets drop to the least idle time there is. */
	k0 = _mm_or_si128(_mm_and_si128(c0, k0), _mm_andnot_si128(c0, b32));
	k1 = _mm_or_si128(_mm_and_si128(c1, k1), _mm_andnot_si128(c1, b32));
	mx = max_epi32(k0, k1);
	mx = max_epi32(mx, _mm_shuffle_epi32(mx, 0x4e));
	mx = max_epi32(mx, _mm_shuffle_epi32(mx, 0xb1));
	c0 = _mm_and_si128(c0, _mm_cmpeq_epi32(k0, mx));
	c1 = _mm_and_si128(c1, _mm_cmpeq_epi32(k1, mx));
	c = _mm_packs_epi16(_mm_packs_epi32(c0, c1), _mm_setzero_si128());
	return (unsigned)__builtin_ctz((unsigned)_mm_movemask_epi8(c));
}

/* About the way of bk seen least recently, most often tab_victim's choice:
 * idle times saturated to 16 bits (0.5 s of ticks), a prefetch hint for a
 * fraction of tab_victim's work. */
static inline unsigned tab_lru(const struct bucket *bk, uint32_t now)
{
	__m128i nowv = _mm_set1_epi32((int)now);
	__m128i i0 = _mm_sub_epi32(nowv, _mm_loadu_si128((const __m128i *)bk->seen));
	__m128i i1 = _mm_sub_epi32(nowv, _mm_loadu_si128((const __m128i *)(bk->seen + 4)));
	__m128i idle = _mm_packs_epi32(_mm_srli_epi32(i0, 1), _mm_srli_epi32(i1, 1));
	__m128i mx = _mm_max_epi16(idle, _mm_shuffle_epi32(idle, 0x4e));

	mx = _mm_max_epi16(mx, _mm_shuffle_epi32(mx, 0xb1));
	mx = _mm_max_epi16(mx, _mm_shufflelo_epi16(mx, 0xb1));
	mx = _mm_shuffle_epi32(_mm_unpacklo_epi16(mx, mx), 0);
	idle = _mm_packs_epi16(_mm_cmpeq_epi16(idle, mx), _mm_setzero_si128());
	return (unsigned)__builtin_ctz((unsigned)_mm_movemask_epi8(idle) | 0x100);
}

/* Bits 0-7: the ways of bk tagged tag; bits 8-15: its free ways. */
static inline unsigned tags_scan(const struct bucket *bk, uint16_t tag)
{
	__m128i v = _mm_loadu_si128((const __m128i *)bk->tag);
	__m128i eq = _mm_cmpeq_epi16(v, _mm_set1_epi16((short)tag));
	__m128i fr = _mm_cmpeq_epi16(v, _mm_setzero_si128());

	return (unsigned)_mm_movemask_epi8(_mm_packs_epi16(eq, fr));
}
#else
static unsigned tab_victim(const struct table *tb, const struct bucket *bk,
			   uint32_t now)
{
	unsigned best = 0;
	uint64_t best_rank = UINT64_MAX;

	/* Fewest packets first, then longest idle: one 64-bit rank. */
	for (unsigned w = 0; w < WAYS; w++) {
		uint32_t idle = now - bk->seen[w];
		uint64_t score = idle >= tb->horizon_ticks ? 0 : bk->score[w];
		uint64_t rank = score << 32 | (uint32_t)~idle;

		if (rank < best_rank) {
			best = w;
			best_rank = rank;
		}
	}
	return best;
}

/* One bit per 16-bit lane of x that is zero, in the lane's top bit. */
static inline uint64_t lanes_zero(uint64_t x)
{
	const uint64_t low = 0x7fff7fff7fff7fffull;

	return ~(((x & low) + low) | x | low);
}

/* The lane flags of lanes_zero gathered into bits 0-3, lane 0 first. */
static inline unsigned lanes_bits(uint64_t z)
{
	return (unsigned)(((z >> 15) * 0x0001000200040008ull) >> 48) & 0xfu;
}

static inline uint64_t tags_word(const uint16_t *t)
{
	return (uint64_t)t[0] | (uint64_t)t[1] << 16 | (uint64_t)t[2] << 32 |
	       (uint64_t)t[3] << 48;
}

static inline unsigned tags_equal(const struct bucket *bk, uint16_t tag)
{
	uint64_t pat = tag * 0x0001000100010001ull;

	return lanes_bits(lanes_zero(tags_word(bk->tag) ^ pat)) |
	       lanes_bits(lanes_zero(tags_word(bk->tag + 4) ^ pat)) << 4;
}

/* Bits 0-7: the ways of bk tagged tag; bits 8-15: its free ways. */
static inline unsigned tags_scan(const struct bucket *bk, uint16_t tag)
{
	return tags_equal(bk, tag) | tags_equal(bk, 0) << 8;
}

/* The way of bk seen least recently: a prefetch hint (see above). */
static inline unsigned tab_lru(const struct bucket *bk, uint32_t now)
{
	unsigned best = 0;
	uint32_t best_idle = 0;

	for (unsigned w = 0; w < WAYS; w++) {
		uint32_t idle = now - bk->seen[w];

		best = idle > best_idle ? w : best;
		best_idle = idle > best_idle ? idle : best_idle;
	}
	return best;
}
#endif

/* key's slot in a bucket that has none for it: the first free way, else
 * tab_victim's. */
static inline __attribute__((always_inline)) uint32_t
tab_insert(struct table *tb, struct bucket *bk, uint32_t base, unsigned empty,
	   uint16_t tag, const struct ip_addr *key, uint64_t t)
{
	uint32_t now = (uint32_t)(t >> TICK_SHIFT);
	unsigned w;
	struct slot *s;

	if (empty) {
		w = (unsigned)__builtin_ctz(empty);
		tb->tracked++;
	} else {
		w = tab_victim(tb, bk, now);
		slot_clear(tb, &tb->slot[base + w]);
		tb->evictions++;
	}
	s = &tb->slot[base + w];
	s->key = *key;
	s->last_us = t;
	s->flags = 0;
	bk->tag[w] = tag;
	bk->score[w] = 1;
	bk->seen[w] = now;
	return base + w;
}

#ifdef DETECT_INT128
/* A keyed hash of a's two words, on every packet's path: each word offset
 * by a secret, the two multiplied to 128 bits and the halves folded
 * (wyhash's mum). The secrets are odd, so neither an IPv4 key (first word
 * 0) nor a /64 one (second word 0) zeroes the product. */
static inline uint32_t key_hash(const struct table *tb, const struct ip_addr *a)
{
	uint64_t w[2], x;
	unsigned __int128 m;

	memcpy(w, a->b, 16);
	m = (unsigned __int128)(w[0] ^ tb->secret[0]) * (w[1] ^ tb->secret[1]);
	x = (uint64_t)m ^ (uint64_t)(m >> 64);
	return (uint32_t)(x ^ x >> 32);
}
#else
static inline uint32_t key_hash(const struct table *tb, const struct ip_addr *a)
{
	uint64_t w[2];

	memcpy(w, a->b, 16);
	return (uint32_t)mix64(mix64(w[0] ^ tb->secret[0]) ^ w[1] ^ tb->secret[1]);
}
#endif

/* Where key lives in tb: its bucket and the tag it leaves there. */
static inline void tab_hash(const struct table *tb, const struct ip_addr *key,
			    uint32_t *b, uint16_t *tag)
{
	uint32_t h = key_hash(tb, key);

	*b = (uint32_t)(((uint64_t)h * tb->nbuckets) >> 32);
	*tag = (uint16_t)h ? (uint16_t)h : 1;
}

/* The slot of key (bucket b, tag tag), taken, maybe from another key, if
 * key had none. */
static inline __attribute__((always_inline)) uint32_t
tab_get(const struct detect *d, struct table *tb, uint32_t b, uint16_t tag,
	const struct ip_addr *key, uint64_t t, unsigned hint)
{
	struct bucket *bk = &tb->bk[b];
	uint32_t base = b * WAYS;
	unsigned m;

	/* The way prep_slot saw: right for most known keys, and whatever
	 * way holds key is its only one, whatever happened since. */
	if (bk->tag[hint] == tag && addr_eq(&tb->slot[base + hint].key, key)) {
		tab_touch(d, tb, bk, hint, base + hint, t);
		return base + hint;
	}
	m = tags_scan(bk, tag);
	for (unsigned h = m & 0xff; h; h &= h - 1) {
		unsigned w = (unsigned)__builtin_ctz(h);

		if (addr_eq(&tb->slot[base + w].key, key)) {
			tab_touch(d, tb, bk, w, base + w, t);
			return base + w;
		}
	}
	return tab_insert(tb, bk, base, m >> 8, tag, key, t);
}

/* ---- alerts ---- */

/* What nmap calls the probe p, by its flags (a connect scan's probe is a
 * SYN, a window scan's an ACK: the wire does not tell them apart). */
static const char *scan_technique(const struct pkt *p)
{
	if (p->proto == IPPROTO_UDP)
		return "udp";
	if (p->proto != IPPROTO_TCP)
		return "ipproto";
	switch (p->tcp_flags & 0x3f) {
	case TCP_SYN:		return "syn";
	case 0:			return "null";
	case 0x01:		return "fin";
	case 0x29:		return "xmas";
	case TCP_ACK:		return "ack";
	case TCP_ACK | 0x01:	return "maimon";
	}
	return "tcp";
}

/* Hands a verdict on unless slot si alerted for this kind within the
 * cooldown (cooldown index ci of the slot). */
static void detect_fire(struct detect *d, struct table *tb, uint32_t si,
			unsigned ci, enum detect_kind k, uint32_t count,
			const struct pkt *p)
{
	struct slot *s = &tb->slot[si];
	uint32_t *cool = &tb->cool[(size_t)si * tb->ncool + ci];
	uint16_t bit = (uint16_t)(1u << (COOL_SHIFT + ci));
	uint32_t t32 = (uint32_t)d->now;
	struct verdict v;

	if ((s->flags & bit) && t32 - *cool < d->cool_us) {
		d->st.suppressed++;
		return;
	}
	s->flags |= bit;
	*cool = t32;
	if (tb == &d->src && st_get(s, ci) == ST_RING)
		d->pool[ci].ring[s->v[ci]].alerted = 1;	/* first to go, see pool_reclaim */
	memset(&v, 0, sizeof(v));
	v.kind = k;
	if (k != KIND_DDOS && k != KIND_REFLECTION) {
		v.src.addr = s->key;
		v.src.len = addr_is_v4(&s->key) ? d->len4 : d->len6;
	}
	/* Half-open SYNs alone are no evidence against a source that holds a
	 * two-way exchange with the host: anyone may forge its address. A
	 * service's instance asks its parent, whose flows see every service:
	 * an SSH session proves its client's address as well for port 443. */
	if (k == KIND_SYN_FLOOD &&
	    flows_peer(d->parent ? d->parent->flows : d->flows, &s->key, d->now))
		v.kind = KIND_SPOOFED;
	if (k == KIND_PORT_SCAN)
		v.technique = scan_technique(p);
	if (k == KIND_REFLECTION)
		v.port = p->sport;
	v.dst = p->dst;
	v.ts_us = p->ts_us;
	v.count = count;
	v.threshold = d->cfg.det[k].threshold;
	v.window_ms = d->cfg.det[k].window_ms;
	v.proto = p->proto;
	v.pkt = p;
	d->st.alerts[v.kind]++;
	if (d->cb)
		d->cb(&v, d->ctx);
}

/* ---- packets ---- */

/* What p counts for: the source classes among src_ev, the ddos class. */
static inline __attribute__((always_inline)) struct pkt_ev
detect_classify(const struct pkt *p, unsigned src_ev)
{
	struct pkt_ev pe = { .ev = 1u << C_RATE, .ack = false, .dcls = -1 };

	if (!(p->flags & PKT_L4)) {
	} else if (p->proto == IPPROTO_TCP) {
		/* Most packets: decided without a branch on the flags. */
		bool syn = (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;

		pe.ev |= (uint8_t)((1u << C_SYN | 1u << C_SCAN) * syn);
		pe.ack = (p->tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK;
		pe.dcls = (int8_t)(syn ? C_SYN : -1);
	} else if (p->proto == IPPROTO_UDP) {
		/* Every datagram counts against its destination (reflection
		 * floods look like replies); a service's reply (low source
		 * port to a high one) is no flood or probe by its sender. */
		pe.dcls = C_UDP;
		if (p->sport >= 1024 || p->dport < 1024)
			pe.ev |= 1u << C_UDP | 1u << C_SCAN;
	} else if ((p->family == AF_INET && p->proto == IPPROTO_ICMP && p->icmp_type == 8) ||
		   (p->family == AF_INET6 && p->proto == IPPROTO_ICMPV6 && p->icmp_type == 128)) {
		pe.ev |= 1u << C_ICMP;
		pe.dcls = C_ICMP;
	}
	pe.ev &= (uint8_t)src_ev;
	return pe;
}

/* a masked to its family's grouping prefix. The family test is done on
 * words, without a branch: v4 and v6 sources come mixed. */
static inline void src_key(const struct detect *d, const struct ip_addr *a,
			   struct ip_addr *key)
{
	static const uint8_t pfx[8] = { 0, 0, 0xff, 0xff, 0, 0, 0, 0 };
	static const uint8_t pfx_mask[8] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	uint64_t w[2], p, pm;
	const uint64_t *m;

	memcpy(w, a->b, sizeof(w));
	memcpy(&p, pfx, 8);
	memcpy(&pm, pfx_mask, 8);
	m = d->mask[(w[0] | ((w[1] & pm) ^ p)) == 0];
	w[0] &= m[0];
	w[1] &= m[1];
	memcpy(key->b, w, sizeof(w));
}

/* A packet of a batch, looked at before its turn. */
struct prep {
	struct ip_addr key;	/* source masked to its grouping prefix */
	uint32_t sb, db;	/* source and destination buckets */
	uint16_t stag, dtag;	/* and their tags */
	struct pkt_ev pe;
	uint8_t way;		/* the source's way as prep_slot saw it */
};
_Static_assert(sizeof(struct prep) == 32, "a power of two: cheap to index");

/* Floods aim at few destinations: their places are kept, which spares most
 * ddos packets the hash. Looked up for every packet, filled only for those
 * that count for ddos: the one branch is then seldom taken, where a test
 * of the class first would go either way at random. */
static inline void prep_dst(struct detect *d, const struct pkt *p, struct prep *x)
{
	struct dst_memo *m = &d->dst_memo[(p->dst.b[15] ^ p->dst.b[11]) & (DST_MEMO - 1)];

	if (__builtin_expect(!addr_eq(&p->dst, &m->addr) && x->pe.dcls >= 0, 0)) {
		m->addr = p->dst;
		tab_hash(&d->dst, &p->dst, &m->b, &m->tag);
		__builtin_prefetch(&d->dst.bk[m->b], 1);
	}
	x->db = m->b;
	x->dtag = m->tag;
}

/* First look: what p counts for and where its source and destination
 * live; their bucket lines are asked for. Depends on p alone. */
static inline __attribute__((always_inline)) void
prep_packet(struct detect *d, const struct pkt *p, struct prep *x)
{
	x->pe = detect_classify(p, d->src_ev);
	if (d->src.nbuckets) {
		src_key(d, &p->src, &x->key);
		tab_hash(&d->src, &x->key, &x->sb, &x->stag);
		__builtin_prefetch(&d->src.bk[x->sb], 1);
	}
	if (d->dst.nbuckets)
		prep_dst(d, p, x);
}

/* Second look, once the bucket line is near: asks for the slot the source
 * will use as the bucket stands now, its own or the one it would take, and
 * notes its way (a hint: the packets before it may still change the
 * bucket). */
static inline void prep_slot(const struct detect *d, struct prep *x)
{
	const struct table *tb = &d->src;
	const struct bucket *bk;
	unsigned m, w;

	if (!tb->nbuckets)
		return;
	bk = &tb->bk[x->sb];
	m = tags_scan(bk, x->stag);
	/* Known or not is a coin toss for the predictor: no branch on it. */
	w = tab_lru(bk, (uint32_t)(d->now >> TICK_SHIFT));
	w = m >> 8 ? (unsigned)__builtin_ctz(m >> 8 | 0x100) : w;
	w = m & 0xff ? (unsigned)__builtin_ctz(m | 0x10000) : w;
	x->way = (uint8_t)w;
	__builtin_prefetch(&tb->slot[x->sb * WAYS + w], 1);
}

/* The ST_ONE state of every class in ev (their 2-bit fields set to 01). */
static inline unsigned st_ones(unsigned ev)
{
#define O(e) (((e) & 1) | ((e) & 2) << 1 | ((e) & 4) << 2 | ((e) & 8) << 3 | ((e) & 16) << 4)
#define O4(e) O(e), O((e) + 1), O((e) + 2), O((e) + 3)
	static const uint16_t ones[1u << NCLS] = {
		O4(0), O4(4), O4(8), O4(12), O4(16), O4(20), O4(24), O4(28),
	};
#undef O4
#undef O

	return ones[ev];
}

/* First event of each class in ev, which all hold none (a new source, or
 * one back after its windows emptied): one_set for each at once. */
static inline __attribute__((always_inline)) void
src_first(struct detect *d, struct table *tb, uint32_t si, const struct pkt_ev *pe,
	  const struct pkt *p)
{
	struct slot *s = &tb->slot[si];
	uint32_t t32 = (uint32_t)d->now;
	unsigned ev = pe->ev;

	for (unsigned m = ev; m; m &= m - 1)
		s->v[__builtin_ctz(m)] = t32;
	if (ev & 1u << C_SYN)
		s->aux[0] = syn_aux(p);
	if (ev & 1u << C_SCAN)
		s->aux[1] = scan_aux(p);
	s->flags |= (uint16_t)st_ones(ev);
	for (unsigned m = ev & d->thr_one; __builtin_expect(m, 0); m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);

		detect_fire(d, tb, si, c, (enum detect_kind)c, 1, p);
	}
}

/* Hands a verdict on for a count at the threshold, unless the cooldown
 * holds it back (checked here, inline: a flood reaches this at every
 * packet). */
static inline void detect_check(struct detect *d, struct table *tb, uint32_t si,
				unsigned ci, enum detect_kind k, uint32_t n,
				const struct pkt *p, uint64_t t)
{
	const struct slot *s = &tb->slot[si];

	if (n < d->cfg.det[k].threshold)
		return;
	if ((s->flags & 1u << (COOL_SHIFT + ci)) &&
	    (uint32_t)t - tb->cool[(size_t)si * tb->ncool + ci] < d->cool_us) {
		d->st.suppressed++;
		return;
	}
	detect_fire(d, tb, si, ci, k, n, p);
}

/* Class c of a source's packet, c known where this is inlined. */
static inline __attribute__((always_inline)) void
src_class(struct detect *d, struct slot *s, uint32_t si, unsigned c,
	  unsigned mode, uint32_t aux, const struct pkt *p, uint64_t t)
{
	uint32_t n = cls_event(d, &d->pool[c], s, si, c, mode, t, aux);

	detect_check(d, &d->src, si, c, (enum detect_kind)c, n, p, t);
}

/* Counts p against its source; true when that source has alerted within
 * about a cooldown (a sweep clears the bits late, never early). */
static inline __attribute__((always_inline)) bool
src_packet(struct detect *d, const struct pkt *p, const struct prep *x, uint64_t t)
{
	struct table *tb = &d->src;
	const struct pkt_ev *pe = &x->pe;
	uint32_t si = tab_get(d, tb, x->sb, x->stag, &x->key, t, x->way);
	struct slot *s = &tb->slot[si];
	unsigned ev = pe->ev;

	/* SYN's state is never set when its detector is off. One test, and
	 * seldom true, where testing ack first would go either way. */
	if (s->flags & 3u & -(unsigned)pe->ack)
		syn_complete(tb->pool[C_SYN], si, t, syn_aux(p));
	if (!(s->flags & st_ones(ev) * 3)) {
		src_first(d, tb, si, pe, p);
		return s->flags >> COOL_SHIFT;
	}
	if (ev & 1u << C_SYN)
		src_class(d, s, si, C_SYN, M_SYN, syn_aux(p), p, t);
	if (ev & 1u << C_UDP)
		src_class(d, s, si, C_UDP, M_COUNT, 0, p, t);
	if (ev & 1u << C_ICMP)
		src_class(d, s, si, C_ICMP, M_COUNT, 0, p, t);
	if (ev & 1u << C_SCAN)
		src_class(d, s, si, C_SCAN, M_SCAN, scan_aux(p), p, t);
	if (ev & 1u << C_RATE)
		src_class(d, s, si, C_RATE, M_COUNT, 0, p, t);
	return s->flags >> COOL_SHIFT;
}

/* An unsolicited answer from a service port to p's destination: counts the
 * distinct reflectors (32 bits of their address: a collision can only
 * undercount), as one host answering out of turn is no reflection. */
static __attribute__((noinline)) void
refl_packet(struct detect *d, const struct pkt *p, const struct prep *x, uint64_t t)
{
	struct table *tb = &d->dst;
	uint32_t si = tab_get(d, tb, x->db, x->dtag, &p->dst, t, 0);
	uint64_t w[2];
	uint32_t n;

	memcpy(w, p->src.b, 16);
	w[0] ^= w[1];
	n = cls_event(d, &d->pool[NCLS + C_REFL], &tb->slot[si], si, C_REFL, M_SCAN, t,
		      (uint32_t)w[0] ^ (uint32_t)(w[0] >> 32));
	detect_check(d, tb, si, 1, KIND_REFLECTION, n, p, t);
}

/* Both ends of a two-way exchange hold one: a syn_flood in their name is
 * then spoofed (see detect_fire). */
static __attribute__((noinline)) void peer_touch(struct detect *d, const struct pkt *p,
						 uint64_t t)
{
	struct ip_addr k;

	src_key(d, &p->src, &k);
	flows_peer_touch(d->flows, &k, t);
	src_key(d, &p->dst, &k);
	flows_peer_touch(d->flows, &k, t);
}

static inline __attribute__((always_inline)) void
dst_packet(struct detect *d, const struct pkt *p, const struct prep *x, uint64_t t)
{
	struct table *tb = &d->dst;
	unsigned c = (unsigned)x->pe.dcls;
	uint32_t si, n;

	if (__builtin_expect(c == C_REFL, 0)) {
		refl_packet(d, p, x, t);
		return;
	}
	si = tab_get(d, tb, x->db, x->dtag, &p->dst, t, 0);
	n = cls_event(d, &d->pool[NCLS + c], &tb->slot[si], si, c, M_COUNT, t, 0);

	detect_check(d, tb, si, 0, KIND_DDOS, n, p, t);
}

/* A packet's share of ddos, for the detector of another instance. */
static __attribute__((noinline)) void dst_share(struct detect *d, const struct pkt *p,
						 const struct prep *x, uint64_t t)
{
	struct detect_dst_ev e = {
		.dst = p->dst, .ts_us = p->ts_us, .proto = p->proto, .cls = (uint8_t)x->pe.dcls,
	};

	d->dst_sink(&e, p, d->dst_ctx);
}

/* Packet time as detect counts it: it follows the packets forward, stands
 * still when a stamp is a little early (reordering), and when packet time
 * steps back by more than a second (an NTP step, merged captures) carries
 * on from where it was instead of freezing until the packets catch up. */
static inline uint64_t detect_clock(struct detect *d, uint64_t ts)
{
	if (ts > d->raw) {
		d->clock += ts - d->raw;
		d->raw = ts;
	} else if (__builtin_expect(d->raw - ts > 1000000, 0)) {
		d->raw = ts;
	}
	return d->clock;
}

/* A host address's bit in local_bits: a byte of each of its two low
 * words, so that addresses differing only in their upper half (a v4 and a
 * v6 address ending alike, a host's v6 addresses on several prefixes) seldom
 * share it by more than chance. */
static inline unsigned local_bit(const struct ip_addr *a)
{
	return (a->b[15] ^ a->b[11] ^ a->b[7]) & 63;
}

/* True when a is in one of the local prefixes (a host's addresses are
 * full-length: one compare each). */
static __attribute__((noinline)) bool local_search(const struct detect *d,
						   const struct ip_addr *a)
{
	for (unsigned i = 0; i < d->cfg.nlocal; i++) {
		const struct ip_prefix *l = &d->cfg.local[i];

		if (l->len == 128 ? addr_eq(&l->addr, a) : prefix_contains(l, a))
			return true;
	}
	return false;
}

/* local_search, asked live by every packet whose direction the link does
 * not give, most of them from elsewhere: when the local list is the host's
 * own addresses, one bit, inline, turns away all but about nlocal in 64 of
 * those without a call. */
static inline bool is_local(const struct detect *d, const struct ip_addr *a)
{
	if (!d->local_pfx && !(d->local_bits >> local_bit(a) & 1))
		return false;
	return local_search(d, a);
}

/* True for a multicast or broadcast destination: the answers of a LAN's
 * devices (SSDP, mDNS) go there, unasked, every day. */
static inline bool addr_group(const struct ip_addr *a)
{
	return addr_is_v4(a) ? a->b[12] >= 224 : a->b[0] == 0xff;
}

/* The service ports that answer a small question with a large answer: an
 * answer from one that no one here asked for is reflected at its target. */
static bool reflect_port(uint16_t port)
{
	switch (port) {
	case 17: case 19: case 53: case 69: case 111: case 123: case 137: case 161:
	case 389: case 520: case 1434: case 1900: case 3283: case 3702: case 5353:
	case 5683: case 10001: case 11211: case 27015:
		return true;
	}
	return false;
}

/* What the flow p belongs to changes what p counts for: an answered
 * conversation is held to the rate flood bar only; the first packet of a
 * flow that is not a SYN (FIN, Xmas, NULL, ACK, Maimon and window scans)
 * or of another IP protocol probes a port or protocol; an unsolicited
 * answer from a service port is reflected. */
static inline void flow_adjust(const struct detect *d, const struct pkt *p,
			       struct pkt_ev *pe, const struct flow_info *fi)
{
	if (fi->answered && p->proto != IPPROTO_TCP) {
		pe->ev &= (uint8_t)~(1u << C_UDP | 1u << C_SCAN);
		pe->dcls = -1;
		return;
	}
	if (fi->role == FLOW_NEW && !(p->flags & (PKT_ICMP_ERR | PKT_FRAG))) {
		bool probe = p->proto == IPPROTO_TCP ?
			!(p->tcp_flags & (TCP_SYN | TCP_RST)) &&
			(p->sport >= 1024 || p->dport < 1024) :
			p->proto != IPPROTO_UDP && p->proto != IPPROTO_ICMP &&
			p->proto != IPPROTO_ICMPV6;

		pe->ev |= (uint8_t)((probe ? 1u << C_SCAN : 0) & d->src_ev);
	}
	if (pe->dcls == C_UDP && (d->dst_ev & 1u << C_REFL) && reflect_port(p->sport) &&
	    p->sport != p->dport && !addr_group(&p->dst))
		pe->dcls = C_REFL;
}

/* Whether p belongs to service sv by its port (the destination port, or
 * the source port for the host's answers) or by its protocol. */
static inline bool svc_match(const struct detect_service *sv, const struct pkt *p,
			     uint16_t port)
{
	if (!sv->port)
		return p->proto == sv->proto;
	return (p->flags & PKT_L4) && port == sv->port &&
	       (sv->proto ? p->proto == sv->proto :
			    p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP);
}

/* Hands p to the instances of the services it is to or from, both ways so
 * that their flows see the host's answers; what p is to a service is not
 * counted here for that service's kind. */
static __attribute__((noinline)) void svc_packet(struct detect *d, const struct pkt *p,
						 struct pkt_ev *pe)
{
	for (unsigned i = 0; i < d->nsvc; i++) {
		const struct detect_service *sv = &d->cfg.svc[i];
		bool to = svc_match(sv, p, p->dport);

		if (to)
			pe->ev &= (uint8_t)~(1u << sv->kind);
		if (d->svc[i] && (to || svc_match(sv, p, p->sport)))
			detect_packet(d->svc[i], p);
	}
}

/* A service instance's verdict, told as its parent's with the service. */
static void svc_verdict(const struct verdict *v, void *ctx)
{
	struct detect *s = ctx, *d = s->parent;
	struct verdict sv = *v;

	sv.service = true;
	sv.port = s->svc_of->port;
	if (!sv.port)
		sv.proto = s->svc_of->proto;
	if (d->cb)
		d->cb(&sv, d->ctx);
}

/* Counts p, whose first and second looks are in x. The flow decides first
 * whether p is counted at all (see detect_packet). */
static inline __attribute__((always_inline)) void
run_packet(struct detect *d, const struct pkt *p, struct prep *x, uint64_t t,
	   struct flow_info fi)
{
	uint8_t dir = p->dir;
	bool offender = false;

	d->now = t;
	d->st.packets++;
	if (__builtin_expect(d->nsvc != 0, 0))
		svc_packet(d, p, &x->pe);
	if (__builtin_expect(fi.peer_due, 0))
		peer_touch(d, p, t);
	if (dir == PKT_DIR_UNKNOWN && d->cfg.nlocal)
		dir = is_local(d, &p->src) ? PKT_DIR_OUT : PKT_DIR_UNKNOWN;
	if (dir == PKT_DIR_OUT || fi.role == FLOW_ANSWER) {
		d->st.not_subject++;
		return;
	}
	if (fi.role == FLOW_NEW || fi.answered || x->pe.dcls == C_UDP)
		flow_adjust(d, p, &x->pe, &fi);
	if (d->src.nbuckets && (x->pe.ev || x->pe.ack))
		offender = src_packet(d, p, x, t);
	/* A source that alerted is its own alert (and soon banned, though the
	 * capture still sees it): its packets do not make a distributed
	 * flood of what is one flood. */
	if (d->dst.nbuckets && x->pe.dcls >= 0 && (d->dst_ev >> x->pe.dcls & 1) && !offender)
		dst_packet(d, p, x, t);
	else if (__builtin_expect(d->dst_sink != NULL, 0) && x->pe.dcls >= 0 &&
		 x->pe.dcls < C_REFL && !offender)
		dst_share(d, p, x, t);	/* reflection is counted per instance */
}

/* run_packet out of line, for the few packets not in the main loop. */
static __attribute__((noinline)) void run_one(struct detect *d, const struct pkt *p,
					      struct prep *x, uint64_t t, struct flow_info fi)
{
	run_packet(d, p, x, t, fi);
}

void detect_packet(struct detect *d, const struct pkt *p)
{
	struct prep x;
	struct flow_info fi;
	uint64_t t = detect_clock(d, p->ts_us);

	flows_batch(d->flows, p, &t, 1, &fi);
	prep_packet(d, p, &x);
	prep_slot(d, &x);	/* too late to fetch anything, but it sets x.way */
	run_one(d, p, &x, t, fi);
}

/* Packets are taken in order; what is looked at ahead only asks for cache
 * lines, so the verdicts are those of detect_packet on each in turn. The
 * lines of packet i + 2 AHEAD are asked for while packet i is counted:
 * sources spread over megabytes of table, and waiting for each line in
 * turn is what would bound the rate. */
static void detect_chunk(struct detect *d, const struct pkt *p, size_t n)
{
	struct prep x[PREP_RING];
	uint64_t t[CHUNK];
	struct flow_info fi[CHUNK];
	size_t i, j;

	/* The clock and the flows first, in order, each in its own loop: a
	 * packet's flow depends on the flows before it, never on counting.
	 * (n >= 1: the first stamp outside the loop tells the compiler so.) */
	t[0] = detect_clock(d, p[0].ts_us);
	for (i = 1; i < n; i++)
		t[i] = detect_clock(d, p[i].ts_us);
	flows_batch(d->flows, p, t, n, fi);
	for (i = 0; i < n; i++) {
		prep_packet(d, &p[i], &x[i % PREP_RING]);
		if (i >= AHEAD)
			prep_slot(d, &x[(i - AHEAD) % PREP_RING]);
		if (i >= 2 * AHEAD) {
			j = i - 2 * AHEAD;
			run_packet(d, &p[j], &x[j % PREP_RING], t[j], fi[j]);
		}
	}
	for (i = n > AHEAD ? n - AHEAD : 0; i < n; i++)
		prep_slot(d, &x[i % PREP_RING]);
	for (i = n > 2 * AHEAD ? n - 2 * AHEAD : 0; i < n; i++)
		run_one(d, &p[i], &x[i % PREP_RING], t[i], fi[i]);
}

void detect_batch(struct detect *d, const struct pkt *p, size_t n)
{
	for (size_t o = 0; o < n; o += CHUNK)
		detect_chunk(d, p + o, n - o < CHUNK ? n - o : CHUNK);
}

void detect_set_dst_sink(struct detect *d, detect_dst_cb cb, void *ctx)
{
	d->dst_sink = cb;
	d->dst_ctx = ctx;
}

/* The share's packet is remade from what a ddos verdict reports of it. */
void detect_dst_events(struct detect *d, const struct detect_dst_ev *e, size_t n)
{
	if (!d->dst.nbuckets)
		return;
	for (size_t i = 0; i < n; i++) {
		struct pkt p = { .dst = e[i].dst, .ts_us = e[i].ts_us, .proto = e[i].proto };
		struct prep x = { .pe = { .dcls = (int8_t)e[i].cls } };
		uint64_t t = detect_clock(d, p.ts_us);

		if (!(d->dst_ev >> e[i].cls & 1))
			continue;
		d->now = t;
		prep_dst(d, &p, &x);
		dst_packet(d, &p, &x, t);
	}
}

void detect_get_stats(const struct detect *d, struct detect_stats *st)
{
	*st = d->st;
	st->tracked = d->src.tracked;
	st->evictions = d->src.evictions;
	st->dst_tracked = d->dst.tracked;
	st->dst_evictions = d->dst.evictions;
	flows_counts(d->flows, &st->flows_tracked, &st->flows_evicted);
	for (unsigned i = 0; i < d->nsvc; i++) {
		if (!d->svc[i])
			continue;
		for (int k = 0; k < KIND__MAX; k++)
			st->alerts[k] += d->svc[i]->st.alerts[k];
		st->suppressed += d->svc[i]->st.suppressed;
		st->ring_reclaims += d->svc[i]->st.ring_reclaims;
		st->ring_denied += d->svc[i]->st.ring_denied;
	}
}

/* ---- a view for people ---- */

/* Events of class c that slot s holds within the window ending at now. */
static inline __attribute__((always_inline)) uint32_t
slot_window_count(const struct table *tb, const struct slot *s, unsigned c,
		  uint64_t now)
{
	const struct pool *pl = tb->pool[c];
	uint64_t win = tb->win_us[c];

	switch (st_get(s, c)) {
	case ST_ONE:
		return now - (s->last_us - (uint32_t)((uint32_t)s->last_us - s->v[c])) < win;
	case ST_OVER:
		return now - s->last_us < win ? s->n[c] : 0;
	case ST_RING: {
		const struct ring *rg = &pl->ring[s->v[c]];
		uint64_t base = now - rg->newest;
		uint32_t n = 0, n32 = (uint32_t)rg->newest;

		for (uint32_t i = rg->count; i-- > 0; n++)
			if (base + (uint32_t)(n32 - ring_ent(pl, s->v[c], i)[0]) >= win)
				break;
		return n;
	}
	}
	return 0;
}

/* Inserts (src, n) into the busiest-first list top[0..max). */
static void top_insert(struct detect_top *top, size_t max, const struct ip_prefix *src,
		       uint32_t n)
{
	size_t i = max;

	if (!n || n <= top[max - 1].count)
		return;
	while (i > 0 && top[i - 1].count < n)
		i--;
	memmove(&top[i + 1], &top[i], (max - i - 1) * sizeof(*top));
	top[i] = (struct detect_top){ *src, n };
}

/* The slot of key in table tb, or NULL: tab_get's search, read only. */
static const struct slot *tab_find(const struct table *tb, const struct ip_addr *key)
{
	uint32_t b;
	uint16_t tag;

	if (!tb->nbuckets)
		return NULL;
	tab_hash(tb, key, &b, &tag);
	for (unsigned h = tags_scan(&tb->bk[b], tag) & 0xff; h; h &= h - 1) {
		const struct slot *s = &tb->slot[b * WAYS + (unsigned)__builtin_ctz(h)];

		if (addr_eq(&s->key, key))
			return s;
	}
	return NULL;
}

/* The instances that count class c for d's sources: d itself, then the
 * services of that kind (a service's packets count there, not in d). */
static unsigned top_instances(const struct detect *d, unsigned c, const struct detect **x)
{
	unsigned k = 0;

	if (d->src.pool[c])
		x[k++] = d;
	for (unsigned i = 0; i < d->nsvc; i++)
		if (d->svc[i] && d->svc[i]->src.pool[c])
			x[k++] = d->svc[i];
	return k;
}

/* Slot s's events of class c in instance x's window as of now, scaled to
 * d's window for the kind (a service's bar may have a window of its own). */
static uint32_t top_count(const struct detect *d, const struct detect *x, const struct slot *s,
			  unsigned c, uint64_t now)
{
	uint64_t n;

	if (!s)
		return 0;
	n = slot_window_count(&x->src, s, c, now);
	if (x != d)
		n = n * d->cfg.det[c].window_ms / x->cfg.det[c].window_ms;
	return n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
}

/* Each source of the table of instance xi (0: d, i + 1: service i), for
 * the classes it counts: its events summed over the instances that count
 * them. A source an earlier instance holds was summed there. */
static void top_scan(const struct detect *d, unsigned xi, struct detect_top top[][8],
		     size_t n, uint64_t now)
{
	const struct detect *in[NCLS][1 + DETECT_MAX_SERVICES];
	const struct detect *x = xi ? d->svc[xi - 1] : d;
	unsigned nin[NCLS], pos[NCLS];

	for (unsigned c = 0; c < NCLS; c++) {
		nin[c] = top_instances(d, c, in[c]);
		pos[c] = UINT32_MAX;	/* x does not count c */
		for (unsigned j = 0; j < nin[c]; j++)
			pos[c] = in[c][j] == x ? j : pos[c];
	}
	for (uint32_t b = 0; b < x->src.nbuckets; b++) {
		for (unsigned w = 0; w < WAYS; w++) {
			const struct slot *s = &x->src.slot[b * WAYS + w];
			struct ip_prefix p;

			if (!x->src.bk[b].tag[w])
				continue;
			p.addr = s->key;
			p.len = addr_is_v4(&s->key) ? d->len4 : d->len6;
			for (unsigned c = 0; c < NCLS; c++) {
				uint64_t sum;
				unsigned j;

				if (pos[c] == UINT32_MAX)
					continue;
				for (j = 0; j < pos[c] && !tab_find(&in[c][j]->src, &s->key); j++)
					;
				if (j < pos[c])
					continue;
				sum = top_count(d, x, s, c, now);
				for (j = pos[c] + 1; j < nin[c]; j++)
					sum += top_count(d, in[c][j], tab_find(&in[c][j]->src, &s->key),
							 c, now);
				top_insert(top[c], n, &p, sum < UINT32_MAX ? (uint32_t)sum : UINT32_MAX);
			}
		}
	}
}

/* d's table alone, without services: what top_scan of d would give,
 * without its per-class bookkeeping, which more than doubled the cost of a
 * look at a full table (65,536 sources; callgrind). */
static void top_plain(const struct detect *d, struct detect_top top[][8], size_t n)
{
	const struct table *tb = &d->src;

	for (uint32_t b = 0; b < tb->nbuckets; b++) {
		for (unsigned w = 0; w < WAYS; w++) {
			const struct slot *s = &tb->slot[b * WAYS + w];
			struct ip_prefix p;

			if (!tb->bk[b].tag[w])
				continue;
			p.addr = s->key;
			p.len = addr_is_v4(&s->key) ? d->len4 : d->len6;
			for (unsigned c = 0; c < NCLS; c++)
				if (tb->pool[c])
					top_insert(top[c], n, &p,
						   slot_window_count(tb, s, c, d->now));
		}
	}
}

/* With per-service bars a source's events of a kind are in more than one
 * instance: its entry sums them, each scaled to the detector's window. */
void detect_top_sources(const struct detect *d, struct detect_top top[][8], size_t n)
{
	uint64_t now = d->now;
	bool svc = false;

	n = n > 8 ? 8 : n;
	memset(top, 0, NCLS * sizeof(top[0]));
	if (!n)
		return;
	for (unsigned i = 0; i < d->nsvc; i++) {
		if (!d->svc[i])
			continue;
		svc = true;
		now = d->svc[i]->now > now ? d->svc[i]->now : now;
	}
	if (!svc) {
		top_plain(d, top, n);
		return;
	}
	top_scan(d, 0, top, n, now);
	for (unsigned i = 0; i < d->nsvc; i++)
		if (d->svc[i])
			top_scan(d, i + 1, top, n, now);
}

void detect_top_merge(struct detect_top top[][8], const struct detect_top add[][8], size_t n)
{
	n = n > 8 ? 8 : n;
	for (unsigned c = 0; n && c < NCLS; c++)
		for (size_t i = 0; i < n && add[c][i].count; i++)
			top_insert(top[c], n, &add[c][i].src, add[c][i].count);
}

/* ---- set-up ---- */

static int pool_init(struct pool *pl, struct table *tb, unsigned cls, uint8_t mode,
		     uint32_t nrings, uint32_t cap, uint32_t window_ms)
{
	pl->tab = tb;
	pl->cls = (uint8_t)cls;
	pl->mode = mode;
	pl->cap = cap;
	pl->stride = mode == M_COUNT ? 1 : 2;
	pl->win_us = window_ms * 1000u;
	if ((uint64_t)nrings * cap * pl->stride * sizeof(uint32_t) > MAX_POOL_BYTES)
		nrings = (uint32_t)(MAX_POOL_BYTES / ((uint64_t)cap * pl->stride *
						      sizeof(uint32_t)));
	pl->nrings = nrings ? nrings : 1;
	pl->ent_bytes = (size_t)pl->nrings * cap * pl->stride * sizeof(uint32_t);
	pl->ent = bigmem_alloc(pl->ent_bytes, BIGMEM_SPARSE);
	pl->ring = bigmem_alloc(pl->nrings * sizeof(*pl->ring), BIGMEM_SPARSE);
	pl->free = bigmem_alloc(pl->nrings * sizeof(*pl->free), BIGMEM_SPARSE);
	if (!pl->ent || !pl->ring || !pl->free)
		return -ENOMEM;
	tb->pool[cls] = pl;
	return 0;
}

static void pool_fini(struct pool *pl)
{
	bigmem_free(pl->ent, pl->ent_bytes, BIGMEM_SPARSE);
	bigmem_free(pl->ring, pl->nrings * sizeof(*pl->ring), BIGMEM_SPARSE);
	bigmem_free(pl->free, pl->nrings * sizeof(*pl->free), BIGMEM_SPARSE);
}

static int tab_init(struct table *tb, uint32_t capacity, uint32_t seed,
		    uint32_t ncool, uint64_t horizon_us)
{
	tb->nbuckets = (capacity + WAYS - 1) / WAYS;
	tb->secret[0] = mix64(seed ^ 0x9e3779b97f4a7c15ull) | 1;
	tb->secret[1] = mix64(tb->secret[0] ^ 0xc4ceb9fe1a85ec53ull) | 1;
	tb->ncool = ncool;
	tb->horizon_us = horizon_us ? horizon_us : 1;
	/* Two ticks of margin: a way that many ticks idle is idle for the
	 * whole horizon in microseconds too. */
	tb->horizon_ticks = (uint32_t)(tb->horizon_us >> TICK_SHIFT) + 2;
	tb->slot_bytes = (size_t)tb->nbuckets * WAYS * sizeof(struct slot);
	tb->bk_bytes = (size_t)tb->nbuckets * sizeof(struct bucket);
	tb->slot = bigmem_alloc(tb->slot_bytes, BIGMEM_HOT);
	tb->bk = bigmem_alloc(tb->bk_bytes, BIGMEM_HOT);
	tb->cool = bigmem_alloc((size_t)tb->nbuckets * WAYS * ncool * sizeof(uint32_t),
				BIGMEM_SPARSE);
	return tb->slot && tb->bk && tb->cool ? 0 : -ENOMEM;
}

static void tab_fini(struct table *tb)
{
	bigmem_free(tb->slot, tb->slot_bytes, BIGMEM_HOT);
	bigmem_free(tb->bk, tb->bk_bytes, BIGMEM_HOT);
	bigmem_free(tb->cool, (size_t)tb->nbuckets * WAYS * tb->ncool * sizeof(uint32_t),
		    BIGMEM_SPARSE);
}

static uint32_t pick_seed(uint32_t fixed)
{
	uint32_t s;
	struct timespec ts;

	if (fixed)
		return fixed;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
}

static void make_mask(uint64_t m[2], unsigned bits128)
{
	struct ip_addr a;

	memset(&a, 0xff, sizeof(a));
	addr_mask(&a, bits128);
	memcpy(m, a.b, 16);
}

static uint32_t pool_size(const struct detect_cfg *cfg, int k, uint32_t slots)
{
	uint32_t n = cfg->pool[k] ? cfg->pool[k] : pool_default[k];

	if (n == AUTO_SLOTS || n > slots)
		n = slots;	/* more rings than owners is waste */
	return n < MAX_POOL ? n : MAX_POOL;
}

static int src_init(struct detect *d, uint32_t seed)
{
	const struct detect_cfg *cfg = &d->cfg;
	uint64_t horizon = d->cool_us;
	uint32_t slots;
	int r;

	for (int c = 0; c < NCLS; c++)
		if (cfg->det[c].enabled && cfg->det[c].window_ms * 1000ull > horizon)
			horizon = cfg->det[c].window_ms * 1000ull;
	if ((r = tab_init(&d->src, cfg->capacity, seed, NCLS, horizon)) < 0)
		return r;
	slots = d->src.nbuckets * WAYS;
	for (int c = 0; c < NCLS; c++) {
		uint8_t mode = c == C_SYN ? M_SYN : c == C_SCAN ? M_SCAN : M_COUNT;

		if (!cfg->det[c].enabled)
			continue;
		d->src.win_us[c] = cfg->det[c].window_ms * 1000u;
		r = pool_init(&d->pool[c], &d->src, (unsigned)c, mode, pool_size(cfg, c, slots),
			      cfg->det[c].threshold, cfg->det[c].window_ms);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The detector of destination class c: ddos for syn, udp and icmp. */
static int dst_kind(unsigned c)
{
	return c == C_REFL ? KIND_REFLECTION : KIND_DDOS;
}

static int dst_init(struct detect *d, uint32_t seed)
{
	uint64_t horizon = d->cool_us;
	uint32_t slots;
	int r;

	for (unsigned c = 0; c < DCLS; c++)
		if (d->dst_ev & 1u << c && d->cfg.det[dst_kind(c)].window_ms * 1000ull > horizon)
			horizon = d->cfg.det[dst_kind(c)].window_ms * 1000ull;
	if ((r = tab_init(&d->dst, d->cfg.dst_capacity, seed, 2, horizon)) < 0)
		return r;
	for (int i = 0; i < DST_MEMO; i++)	/* each holds :: */
		tab_hash(&d->dst, &d->dst_memo[i].addr, &d->dst_memo[i].b,
			 &d->dst_memo[i].tag);
	slots = d->dst.nbuckets * WAYS;
	for (unsigned c = 0; c < DCLS; c++) {
		const struct detector_cfg *dc = &d->cfg.det[dst_kind(c)];

		if (!(d->dst_ev & 1u << c))
			continue;
		d->dst.win_us[c] = dc->window_ms * 1000u;
		r = pool_init(&d->pool[NCLS + c], &d->dst, c, c == C_REFL ? M_SCAN : M_COUNT,
			      pool_size(&d->cfg, dst_kind(c), slots), dc->threshold,
			      dc->window_ms);
		if (r < 0)
			return r;
	}
	return 0;
}

/* An instance per enabled service, with its one detector and the rest of
 * the configuration: the same sources, grouping, flows and cooldown. */
static int svc_init(struct detect *d)
{
	d->nsvc = d->cfg.nsvc;
	for (unsigned i = 0; i < d->nsvc; i++) {
		const struct detect_service *sv = &d->cfg.svc[i];
		struct detect_cfg c = d->cfg;
		int r;

		if (!sv->det.enabled)
			continue;
		for (int k = 0; k < KIND__MAX; k++)
			c.det[k].enabled = false;
		c.det[sv->kind] = sv->det;
		c.nsvc = 0;
		c.seed = d->cfg.seed ? d->cfg.seed + i + 1 : 0;
		if ((r = detect_new(&c, svc_verdict, NULL, &d->svc[i])) < 0)
			return r;
		d->svc[i]->ctx = d->svc[i];
		d->svc[i]->parent = d;
		d->svc[i]->svc_of = sv;
	}
	return 0;
}

int detect_new(const struct detect_cfg *cfg, detect_cb cb, void *ctx,
	       struct detect **out)
{
	struct detect *d;
	const char *why;
	uint32_t seed;
	bool any_src = false;
	int r;

	*out = NULL;
	if (detect_cfg_check(cfg, &why) < 0)
		return -EINVAL;
	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	d->cfg = *cfg;
	d->cb = cb;
	d->ctx = ctx;
	d->cool_us = cfg->cooldown_ms * 1000u;
	d->len4 = (uint8_t)(96 + cfg->v4_prefix);
	d->len6 = cfg->v6_prefix;
	make_mask(d->mask[1], d->len4);
	make_mask(d->mask[0], d->len6);
	for (unsigned i = 0; i < cfg->nlocal; i++) {
		if (cfg->local[i].len == 128)
			d->local_bits |= 1ull << local_bit(&cfg->local[i].addr);
		else
			d->local_pfx = true;
	}
	seed = pick_seed(cfg->seed);
	for (int c = 0; c < NCLS; c++) {
		if (cfg->det[c].enabled)
			d->src_ev |= (uint8_t)(1u << c);
		if (cfg->det[c].enabled && cfg->det[c].threshold == 1)
			d->thr_one |= (uint8_t)(1u << c);
	}
	if (cfg->det[KIND_DDOS].enabled)
		d->dst_ev = 1u << C_SYN | 1u << C_UDP | 1u << C_ICMP;
	if (cfg->det[KIND_REFLECTION].enabled)
		d->dst_ev |= 1u << C_REFL;
	any_src = d->src_ev != 0;
	r = flows_new(cfg->flow_capacity, cfg->flow_timeout_ms, seed * 0x85ebca6bu + 7,
		      &d->flows);
	if (r == 0 && any_src)
		r = src_init(d, seed);
	if (r == 0 && d->dst_ev)
		r = dst_init(d, seed * 0x9e3779b1u + 1);
	if (r == 0)
		r = svc_init(d);
	if (r < 0) {
		detect_free(d);
		return r;
	}
	*out = d;
	return 0;
}

void detect_free(struct detect *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < DETECT_MAX_SERVICES; i++)
		detect_free(d->svc[i]);
	for (int i = 0; i < NCLS + DCLS; i++)
		pool_fini(&d->pool[i]);
	tab_fini(&d->src);
	tab_fini(&d->dst);
	flows_free(d->flows);
	free(d);
}
