/* mitigate.c - what happens to a verdict: alert, whitelist, ban, escalate.
 *
 * Active bans live in a hash table, each with an ev_timer for its end. The
 * kernel removes an expired element by itself, so expiry only forgets the
 * ban here (a delete of our own would race with the kernel's). Repeat
 * offenders are remembered for memory_s after their last ban ended, in a
 * table of bounded size whose least recently banned entry goes first.
 *
 * A ban is only what the kernel holds. A new or restarted ban is pending
 * until the commit's result for it comes back (fw_on_result): accepted, it
 * is announced (the ban event, hence on_ban); refused, it is rolled back
 * (a new ban forgotten with its offence, a restart back to the element the
 * kernel still holds) and a ban_failed event says why. A refusal that may
 * pass (buffers, a lost answer) is retried at once, a bounded number of
 * times; one that will not (an overlapping element of the operator's, the
 * set full) is not, but the source is not banned, so its next alert is
 * reported and tried again. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "mitigate.h"

struct ban {
	struct ban *next;           /* hash chain */
	struct mitigate *m;
	struct ip_prefix src;
	enum detect_kind kind;
	uint32_t duration_s, offences;
	ev_timer timer;
	bool pending;               /* asked of the kernel, not yet answered */
	bool held;                  /* the kernel holds an element of ours for it */
	bool announced;             /* its ban event went out */
	uint8_t tries;              /* retries of a pending ban */
	uint64_t ev_ts;             /* time of its ban event (packet time) */
	/* What the kernel holds while a restart is pending. */
	ev_tstamp held_until;
	uint32_t held_duration, held_offences;
	enum detect_kind held_kind;
};

struct offender {
	struct offender *hnext;     /* hash chain */
	struct offender *older, *newer;
	struct ip_prefix src;
	uint32_t offences;
	ev_tstamp forget_at;        /* end of its last ban + memory_s */
};

/* Sources the cap refused lately in one aggregation prefix: with the
 * bans already there they decide whether the prefix is banned whole. A
 * small table where a newer prefix takes an older one's slot. */
#define AGG_SLOTS 4096

struct agg_slot {
	struct ip_prefix a;
	uint32_t refused;
	ev_tstamp at;
};

struct mitigate {
	struct ev_loop *loop;
	struct mitigate_cfg cfg;
	struct fw *fw;
	const struct whitelist *wl;
	struct events *ev;
	uint32_t seed;
	struct ban **bans;
	uint32_t bmask;
	unsigned nbans;
	unsigned lens[129];         /* active bans per prefix length */
	struct offender **offs;
	uint32_t omask;
	unsigned noffs;
	struct offender *oldest, *newest;
	bool capped;
	unsigned queued;            /* bans queued since the last commit */
	double pending_mono;        /* oldest uncommitted ban: verdict time */
	uint64_t pending_pkt_us;    /* and its packet's capture time */
	bool requeued;              /* a refused ban or unban was queued again */
	bool readopt;               /* an unban was refused: the kernel still
				       holds a ban we let go (see on_result) */
	bool readopting;            /* ... being taken back: announced again */
	int round;                  /* commits so far in this flush */
	bool set_full;              /* the kernel's set refused a ban as full */
	struct agg_slot *agg;       /* sources refused at the cap, per prefix */
	unsigned adopted_known;     /* adopted bans whose note told what they were */
	struct ip_prefix refused;   /* the last ban the kernel refused */
	int refused_err;
	char refusal[160];          /* and why */
	struct mitigate_stats st;
	uint32_t (*rep_fn)(const struct ip_prefix *p, void *ctx);
	void *rep_ctx;
};

/* Bans per commit at most during a storm: every verdict of a commit waits
 * for the whole of it, at about 60 us a ban (the ban, its event and the
 * kernel's insertion, which also walks the interval set at every commit).
 * Replaying 10,000 flooders of 150 SYNs into real nftables, a verdict
 * waited (median / 90th percentile / max): 73 / 123 / 200 ms unbounded
 * (1,000 bans a commit), 16 / 25 / 57 ms at 256, 3.2 / 9 / 14-44 ms at 64,
 * 0.7 / 4-6 / 9-34 ms at 16, in about the same total time. */
#define COMMIT_BANS 32
#define MITIGATE_TRIES 2            /* retries of a ban refused for a passing reason */

void mitigate_set_reputation(struct mitigate *m, uint32_t (*fn)(const struct ip_prefix *p,
								 void *ctx), void *ctx)
{
	m->rep_fn = fn;
	m->rep_ctx = ctx;
}

void mitigate_cfg_defaults(struct mitigate_cfg *cfg)
{
	*cfg = (struct mitigate_cfg){
		.ban_s = 60, .ban_max_s = 86400, .escalate = 2, .memory_s = 3600,
		.max_bans = MITIGATE_MAX_BANS, .memory_max = MITIGATE_MEMORY_MAX,
		.aggregate_v4 = 24, .aggregate_v6 = 48, .aggregate_min = 4,
	};
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t wall_us(const struct mitigate *m)
{
	return (uint64_t)(ev_now(m->loop) * 1e6);
}

static void emit(struct mitigate *m, const struct event *e)
{
	events_publish(m->ev, e);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 64;

	while (p < n && p < (1u << 24))
		p <<= 1;
	return p;
}

/* True when all of p is whitelisted (there may be no whitelist). Merely
 * touching it is not enough: a /64 holding this host's address is not
 * immune, and the kernel's allow sets let the host's own address through
 * a ban of the prefix around it. */
static bool wl_covers(const struct mitigate *m, const struct ip_prefix *p)
{
	return m->wl && whitelist_contains(m->wl, p);
}

/* True when any of p is whitelisted: what a ban dosips widens on its own
 * (aggregation at the cap) must not touch. */
static bool wl_touches(const struct mitigate *m, const struct ip_prefix *p)
{
	return m->wl && whitelist_overlaps(m->wl, p);
}

/* ---- active bans ---- */

/* Bucket of p in a table of mask + 1 (a power of two) buckets. The high
 * bits of the hash: its low bits hardly change with an IPv4 address's last
 * bytes. */
static uint32_t pfx_bucket(const struct mitigate *m, const struct ip_prefix *p, uint32_t mask)
{
	return (uint32_t)(((uint64_t)addr_hash(&p->addr, m->seed ^ p->len) * (mask + 1ull)) >> 32);
}

static bool pfx_eq(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->len == b->len && addr_eq(&a->addr, &b->addr);
}

/* The link that points at p's ban, or at the end of its chain. */
static struct ban **ban_link(struct mitigate *m, const struct ip_prefix *p)
{
	struct ban **b = &m->bans[pfx_bucket(m, p, m->bmask)];

	while (*b && !pfx_eq(&(*b)->src, p))
		b = &(*b)->next;
	return b;
}

static struct ban *ban_find(struct mitigate *m, const struct ip_prefix *p)
{
	return *ban_link(m, p);
}

/* An active ban equal to p or holding all of it. */
static struct ban *ban_covering(struct mitigate *m, const struct ip_prefix *p)
{
	for (unsigned len = 0; len <= p->len; len++) {
		struct ip_prefix q = *p;
		struct ban *b;

		if (!m->lens[len])
			continue;
		q.len = (uint8_t)len;
		addr_mask(&q.addr, len);
		if ((b = ban_find(m, &q)))
			return b;
	}
	return NULL;
}

static void on_ban_end(struct ev_loop *loop, ev_timer *w, int revents);

static struct ban *ban_insert(struct mitigate *m, const struct ip_prefix *p,
			      enum detect_kind kind, uint32_t duration_s, uint32_t offences,
			      double secs)
{
	struct ban *b = calloc(1, sizeof(*b)), **link;

	if (!b)
		return NULL;
	*b = (struct ban){ .m = m, .src = *p, .kind = kind, .duration_s = duration_s,
			   .offences = offences };
	ev_timer_init(&b->timer, on_ban_end, secs, 0.);
	b->timer.data = b;
	ev_timer_start(m->loop, &b->timer);
	link = ban_link(m, p);
	*link = b;
	m->nbans++;
	m->lens[p->len]++;
	return b;
}

static void ban_remove(struct mitigate *m, struct ban *b)
{
	struct ban **link = ban_link(m, &b->src);

	*link = b->next;
	ev_timer_stop(m->loop, &b->timer);
	m->nbans--;
	m->lens[b->src.len]--;
	if (m->nbans < m->cfg.max_bans)
		m->capped = false;
	free(b);
}

/* ---- offence memory ---- */

static struct offender **off_link(struct mitigate *m, const struct ip_prefix *p)
{
	struct offender **o = &m->offs[pfx_bucket(m, p, m->omask)];

	while (*o && !pfx_eq(&(*o)->src, p))
		o = &(*o)->hnext;
	return o;
}

static void off_unlist(struct mitigate *m, struct offender *o)
{
	*(o->older ? &o->older->newer : &m->oldest) = o->newer;
	*(o->newer ? &o->newer->older : &m->newest) = o->older;
	o->older = o->newer = NULL;
}

static void off_enlist(struct mitigate *m, struct offender *o)
{
	o->older = m->newest;
	*(m->newest ? &m->newest->newer : &m->oldest) = o;
	m->newest = o;
}

static void off_drop(struct mitigate *m, struct offender *o)
{
	*off_link(m, &o->src) = o->hnext;
	off_unlist(m, o);
	m->noffs--;
	free(o);
}

/* Offences p had that are still remembered. */
static uint32_t off_count(struct mitigate *m, const struct ip_prefix *p)
{
	struct offender *o = *off_link(m, p);

	if (!o)
		return 0;
	if (o->forget_at > ev_now(m->loop))
		return o->offences;
	off_drop(m, o);
	return 0;
}

/* Remembers that p has offences until forget_at. */
static void off_store(struct mitigate *m, const struct ip_prefix *p, uint32_t offences,
		      ev_tstamp forget_at)
{
	struct offender *o = *off_link(m, p);

	if (!o) {
		while (m->oldest && (m->noffs >= m->cfg.memory_max ||
				     m->oldest->forget_at <= ev_now(m->loop)))
			off_drop(m, m->oldest);
		if (!(o = calloc(1, sizeof(*o))))
			return;  /* forgetting an offender is the lesser harm */
		o->src = *p;
		o->hnext = m->offs[pfx_bucket(m, p, m->omask)];
		m->offs[pfx_bucket(m, p, m->omask)] = o;
		m->noffs++;
	} else {
		off_unlist(m, o);
	}
	o->offences = offences;
	o->forget_at = forget_at;
	off_enlist(m, o);
}

/* A ban ended: its offender is remembered from now on. */
static void off_ban_ended(struct mitigate *m, const struct ip_prefix *p)
{
	struct offender *o = *off_link(m, p);

	if (o)
		o->forget_at = ev_now(m->loop) + m->cfg.memory_s;
}

/* ---- bans starting and ending ---- */

static uint32_t ban_length(const struct mitigate_cfg *c, uint32_t offences)
{
	uint64_t d = c->ban_s ? c->ban_s : 1, max = c->ban_max_s ? c->ban_max_s : UINT32_MAX;

	for (uint32_t i = 1; i < offences && c->escalate > 1 && d < max; i++)
		d *= c->escalate;
	return (uint32_t)(d < max ? d : max);
}

/* Notes that a ban waits for the next commit, for the latency figures. */
static void note_pending(struct mitigate *m, const struct verdict *v)
{
	if (m->pending_mono > 0)
		return;
	m->pending_mono = mono_now();
	m->pending_pkt_us = v ? v->ts_us : 0;
}

static void ban_event(struct mitigate *m, const struct ban *b, uint64_t ts_us)
{
	emit(m, &(struct event){
		.type = EVT_BAN, .ts_us = ts_us, .src = b->src, .kind = b->kind,
		.duration_s = b->duration_s, .offences = b->offences,
	});
}

static void unban_event(struct mitigate *m, const struct ban *b, const char *reason)
{
	if (!b->announced)
		return;  /* never in force: nothing to take back */
	emit(m, &(struct event){
		.type = EVT_UNBAN, .ts_us = wall_us(m), .src = b->src, .kind = b->kind,
		.reason = reason,
	});
}

static void on_ban_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ban *b = w->data;
	struct mitigate *m = b->m;

	/* The kernel drops the element by its own timeout: nothing to send. */
	unban_event(m, b, "expired");
	off_ban_ended(m, &b->src);
	m->st.unbans++;
	ban_remove(m, b);
}

/* Lifts a ban before its time: in the kernel too. */
static void ban_lift(struct mitigate *m, struct ban *b, const char *reason)
{
	int r = fw_unban(m->fw, &b->src);

	if (r < 0)
		log_err("firewall: cannot queue unban: %s", strerror(-r));
	note_pending(m, NULL);
	unban_event(m, b, reason);
	off_ban_ended(m, &b->src);
	m->st.unbans++;
	ban_remove(m, b);
}

/* Bans strictly inside p go: p's own ban replaces them (and an interval
 * set cannot hold both). */
static void lift_inside(struct mitigate *m, const struct ip_prefix *p, const char *reason)
{
	bool any = false;

	for (unsigned len = p->len + 1u; len <= 128 && !any; len++)
		any = m->lens[len] > 0;
	for (uint32_t i = 0; any && i <= m->bmask; i++) {
		struct ban *b = m->bans[i], *next;

		for (; b; b = next) {
			next = b->next;
			if (b->src.len > p->len && prefix_contains(p, &b->src.addr))
				ban_lift(m, b, reason);
		}
	}
}

/* The cap: refuse, and say so once each time it is reached. */
static int cap_refuse(struct mitigate *m, const struct ip_prefix *p, uint64_t ts_us)
{
	char reason[96];

	m->st.refused_cap++;
	if (m->capped)
		return -ENOSPC;
	m->capped = true;
	snprintf(reason, sizeof(reason), "%u active bans, %s: no new ban until one ends",
		 m->nbans, m->set_full ? "the kernel's ban set is full" : "max_bans");
	emit(m, &(struct event){ .type = EVT_BAN_CAP, .ts_us = ts_us, .src = *p, .reason = reason });
	return -ENOSPC;
}

/* How bad a ban is: repeat offences first, then its kind; a ban by hand
 * is never evicted. */
static uint32_t severity(enum detect_kind kind, uint32_t offences)
{
	static const uint8_t rank[KIND__MAX] = {
		[KIND_SYN_FLOOD] = 3, [KIND_UDP_FLOOD] = 3, [KIND_RATE_FLOOD] = 3,
		[KIND_DDOS] = 3, [KIND_ICMP_FLOOD] = 2, [KIND_PORT_SCAN] = 1,
	};

	if (kind >= KIND__MAX)
		return UINT32_MAX;
	return (offences < 0xffffff ? offences : 0xffffff) << 8 | rank[kind];
}

/* The prefix around p that bans are grouped into under pressure; len 0
 * when there is none (off, or p is that wide already). */
static struct ip_prefix agg_prefix(const struct mitigate *m, const struct ip_prefix *p)
{
	unsigned len = addr_is_v4(&p->addr) ? (m->cfg.aggregate_v4 ? 96u + m->cfg.aggregate_v4 : 0)
					    : m->cfg.aggregate_v6;
	struct ip_prefix a = *p;

	a.len = len && len < p->len ? (uint8_t)len : 0;
	addr_mask(&a.addr, a.len);
	return a;
}

/* Active bans inside a, and the least severe ban of all in *least. */
static unsigned scan_bans(struct mitigate *m, const struct ip_prefix *a, struct ban **least)
{
	unsigned k = 0;

	*least = NULL;
	for (uint32_t i = 0; i <= m->bmask; i++) {
		for (struct ban *b = m->bans[i]; b; b = b->next) {
			k += a->len && b->src.len > a->len && prefix_contains(a, &b->src.addr);
			if (!*least || severity(b->kind, b->offences) <
				       severity((*least)->kind, (*least)->offences) ||
			    (severity(b->kind, b->offences) ==
			     severity((*least)->kind, (*least)->offences) &&
			     ev_timer_remaining(m->loop, &b->timer) <
			     ev_timer_remaining(m->loop, &(*least)->timer)))
				*least = b;
		}
	}
	return k;
}

static void cap_event(struct mitigate *m, const struct ip_prefix *p, const struct verdict *v,
		      const char *reason)
{
	emit(m, &(struct event){ .type = EVT_BAN_CAP, .ts_us = v ? v->ts_us : wall_us(m),
				 .src = *p, .reason = reason });
}

static int ban_start(struct mitigate *m, const struct ip_prefix *p, enum detect_kind kind,
		     const struct verdict *v, uint32_t fixed_s);

/* Sources of a refused lately (within offence_memory); add: one more. */
static uint32_t agg_refused(struct mitigate *m, const struct ip_prefix *a, bool add)
{
	struct agg_slot *s = &m->agg[pfx_bucket(m, a, AGG_SLOTS - 1)];

	if (!pfx_eq(&s->a, a) || s->at + m->cfg.memory_s < ev_now(m->loop)) {
		if (!add)
			return 0;
		*s = (struct agg_slot){ .a = *a };
	}
	if (add) {
		s->refused++;
		s->at = ev_now(m->loop);
	}
	return s->refused;
}

/* Evicts the least severe ban if it is not more severe than (kind,
 * offences) (strictly less unless even), with a ban_cap event; true if
 * one went. */
static bool cap_evict(struct mitigate *m, const struct ip_prefix *p, enum detect_kind kind,
		      uint32_t offences, const struct verdict *v, bool even)
{
	char reason[192], pa[ADDR_STRLEN], pb[ADDR_STRLEN];
	struct ip_prefix none = { .len = 0 };
	struct ban *least;
	uint32_t sl;

	scan_bans(m, &none, &least);
	if (!least || (sl = severity(least->kind, least->offences)) > severity(kind, offences) ||
	    (!even && sl == severity(kind, offences)))
		return false;
	snprintf(reason, sizeof(reason), "%u active bans, cap: %s (%s, offence %u) evicted "
		 "for %s (%s, offence %u)", m->nbans, prefix_fmt(&least->src, pa),
		 detect_kind_name(least->kind), least->offences, prefix_fmt(p, pb),
		 detect_kind_name(kind), offences);
	cap_event(m, p, v, reason);
	m->st.evicted++;
	ban_lift(m, least, "evicted");
	return true;
}

/* At the cap, a new ban of p (kind, offences) may still go in, never by
 * lifting protection: its prefix's bans become one ban of the prefix if
 * aggregate_min of them are there and it covers nothing whitelisted
 * (*covered: p is banned by it), or the least severe ban makes way for a
 * more severe one. Each decision is a ban_cap event; -ENOSPC if none. */
static int cap_make_room(struct mitigate *m, const struct ip_prefix *p, enum detect_kind kind,
			 uint32_t offences, const struct verdict *v, bool *covered)
{
	struct ip_prefix a = agg_prefix(m, p);
	char reason[192], pa[ADDR_STRLEN], pb[ADDR_STRLEN];
	struct ban *least;
	unsigned k = scan_bans(m, &a, &least);
	uint32_t refused = a.len ? agg_refused(m, &a, false) : 0;

	if (a.len && k + refused + 1 >= (m->cfg.aggregate_min ? m->cfg.aggregate_min : 2) &&
	    !wl_touches(m, &a) && !ban_covering(m, &a)) {
		snprintf(reason, sizeof(reason), "%u active bans, cap: %u bans, %u refused sources "
			 "and %s become one ban of %s", m->nbans, k, refused, prefix_fmt(p, pb),
			 prefix_fmt(&a, pa));
		cap_event(m, &a, v, reason);
		m->st.aggregated++;
		lift_inside(m, &a, "aggregated");
		m->agg[pfx_bucket(m, &a, AGG_SLOTS - 1)] = (struct agg_slot){ .refused = 0 };
		/* Nothing of it banned yet: one prefix of many sources outweighs
		 * one source as severe as it. */
		if (m->nbans >= m->cfg.max_bans)
			cap_evict(m, &a, kind, offences, v, true);
		m->set_full = false;  /* room made, in the same commit */
		*covered = true;
		return ban_start(m, &a, kind, v, 0);
	}
	if (cap_evict(m, p, kind, offences, v, false))
		return 0;
	if (a.len)
		agg_refused(m, &a, true);
	return cap_refuse(m, p, v ? v->ts_us : wall_us(m));
}

/* What a ban is, kept with its element in the kernel so that a restart
 * adopts it as it was: "dosips kind=syn_flood offences=2 ban_s=120". */
static void ban_note(char note[FW_NOTE_MAX], enum detect_kind kind, uint32_t offences,
		     uint32_t duration_s)
{
	snprintf(note, FW_NOTE_MAX, "dosips kind=%s offences=%u ban_s=%u",
		 detect_kind_name(kind), offences, duration_s);
}

/* Reads a note back; false for anything else (an element of an older
 * dosips, or the operator's). */
static bool ban_note_parse(const char *note, enum detect_kind *kind, uint32_t *offences,
			   uint32_t *duration_s)
{
	char name[32];

	if (!note || sscanf(note, "dosips kind=%31s offences=%u ban_s=%u", name, offences,
			    duration_s) != 3 || *duration_s == 0)
		return false;
	for (int k = 0; k < KIND__ALL; k++) {
		if (strcmp(detect_kind_name((enum detect_kind)k), name) == 0) {
			*kind = (enum detect_kind)k;
			return true;
		}
	}
	return false;
}

static int ban_send(struct mitigate *m, const struct ban *b, uint64_t timeout_ms)
{
	char note[FW_NOTE_MAX];

	ban_note(note, b->kind, b->offences, b->duration_s);
	return fw_ban(m->fw, &b->src, timeout_ms, note);
}

/* Sends b's ban (new, or restarted as kind for duration_s) to the
 * firewall and arms its timer; it is announced once the kernel took it. */
static int ban_apply(struct mitigate *m, struct ban *b, const struct verdict *v,
		     enum detect_kind kind, uint32_t duration_s, uint32_t offences)
{
	char note[FW_NOTE_MAX];
	int r;

	ban_note(note, kind, offences, duration_s);
	if ((r = fw_ban(m->fw, &b->src, (uint64_t)duration_s * 1000, note)) < 0) {
		char buf[ADDR_STRLEN];

		log_err("firewall: cannot queue ban of %s: %s", prefix_fmt(&b->src, buf),
			strerror(-r));
		return r;
	}
	if (b->held && !b->pending) {
		b->held_until = ev_now(m->loop) + ev_timer_remaining(m->loop, &b->timer);
		b->held_duration = b->duration_s;
		b->held_offences = b->offences;
		b->held_kind = b->kind;
	}
	b->kind = kind;
	b->duration_s = duration_s;
	b->offences = offences;
	b->pending = true;
	b->tries = 0;
	b->ev_ts = v ? v->ts_us : wall_us(m);
	ev_timer_stop(m->loop, &b->timer);
	ev_timer_set(&b->timer, duration_s, 0.);
	ev_timer_start(m->loop, &b->timer);
	note_pending(m, v);
	m->queued++;	/* see COMMIT_BANS */
	return 0;
}

/* A new ban of p; fixed_s != 0 for a ban by hand (no offence counted). */
static int ban_start(struct mitigate *m, const struct ip_prefix *p, enum detect_kind kind,
		     const struct verdict *v, uint32_t fixed_s)
{
	uint32_t offences = fixed_s ? 0 : off_count(m, p) + 1;
	uint32_t d = fixed_s ? fixed_s : ban_length(&m->cfg, offences);
	struct ban *b;
	int r;

	if (offences == 1 && m->rep_fn) {  /* reputation: a longer first ban */
		uint64_t x = (uint64_t)d * m->rep_fn(p, m->rep_ctx);
		uint32_t max = m->cfg.ban_max_s ? m->cfg.ban_max_s : UINT32_MAX;

		d = x < max ? (uint32_t)x : max;
	}
	if (m->nbans >= m->cfg.max_bans || m->set_full) {
		bool covered = false;

		if ((r = cap_make_room(m, p, kind, offences, v, &covered)) < 0) {
			/* Counted all the same: a source that keeps coming back
			 * grows more severe than a flood of one-off ones. */
			if (offences)
				off_store(m, p, offences, ev_now(m->loop) + m->cfg.memory_s);
			return r;
		}
		if (covered)
			return 0;
	}
	lift_inside(m, p, "superseded");
	if (!(b = ban_insert(m, p, kind, d, offences, d)))
		return -ENOMEM;
	if ((r = ban_apply(m, b, v, kind, d, offences)) < 0) {
		ban_remove(m, b);
		return r;
	}
	if (offences)
		off_store(m, p, offences, ev_now(m->loop) + d + m->cfg.memory_s);
	return 0;
}

/* A verdict for a source already banned: only a longer ban changes it
 * (one made by hand or adopted, shorter than the policy would give). */
static void ban_escalate(struct mitigate *m, struct ban *b, const struct verdict *v)
{
	uint32_t offences = b->offences ? b->offences : 1;
	uint32_t d = ban_length(&m->cfg, offences);

	if (!pfx_eq(&b->src, &v->src) || d <= b->duration_s)
		return;
	if (ban_apply(m, b, v, v->kind, d, offences) == 0)
		off_store(m, &b->src, offences, ev_now(m->loop) + d + m->cfg.memory_s);
}

/* Acts on v (see mitigate_verdict). */
static void verdict_act(struct mitigate *m, const struct verdict *v)
{
	struct ban *b;

	m->st.verdicts++;
	/* A banned source's packets still reach the capture tap, which sits
	 * before the drop: a fresh alert each cooldown would only be noise. */
	if (v->src.len && (b = ban_covering(m, &v->src))) {
		m->st.alerts_while_banned++;
		ban_escalate(m, b, v);
		return;
	}
	emit(m, &(struct event){ .type = EVT_ALERT, .ts_us = v->ts_us, .src = v->src, .v = v,
				 .kind = v->kind });
	if (v->kind == KIND_DDOS || v->src.len == 0)
		return;  /* no single source to ban */
	if (v->kind == KIND_SPOOFED)
		return;  /* its real owner talks with us: a ban would cut it off */
	if (wl_covers(m, &v->src)) {
		m->st.whitelisted++;
		emit(m, &(struct event){ .type = EVT_WHITELISTED, .ts_us = v->ts_us,
					 .src = v->src, .v = v, .kind = v->kind });
		return;
	}
	ban_start(m, &v->src, v->kind, v, 0);
}

void mitigate_verdict(const struct verdict *v, void *ctx)
{
	struct mitigate *m = ctx;

	verdict_act(m, v);
	/* A ban storm goes out in commits of a bounded size, so the first
	 * verdicts of a large batch do not wait for the kernel to take the
	 * whole of it. Here, where no ban is held: a commit may end some. */
	if (m->queued >= COMMIT_BANS)
		mitigate_flush(m);
}

int mitigate_ban(struct mitigate *m, const struct ip_prefix *p, uint32_t duration_s)
{
	struct ip_prefix q = *p;
	struct ban *b;
	int r;

	addr_mask(&q.addr, q.len);
	m->refusal[0] = '\0';
	if (!duration_s)
		duration_s = m->cfg.ban_s;
	if (wl_covers(m, &q))
		return -EPERM;
	if ((b = ban_find(m, &q)))
		r = ban_apply(m, b, NULL, b->kind, duration_s, b->offences);
	else if (ban_covering(m, &q))
		return -EEXIST;
	else
		r = ban_start(m, &q, KIND_MANUAL, NULL, duration_s);
	if (r < 0)
		return r;
	/* The answer is the kernel's: commit now and look. */
	m->refused_err = 0;
	mitigate_flush(m);
	if (m->refused_err && pfx_eq(&m->refused, &q))
		return m->refused_err;
	m->refusal[0] = '\0';  /* another ban's, if any */
	return (b = ban_find(m, &q)) && !b->pending ? 0 : -EIO;
}

const char *mitigate_refusal(const struct mitigate *m)
{
	return m->refusal;
}

int mitigate_ban_remote(struct mitigate *m, const struct ip_prefix *p, uint32_t duration_s,
			enum detect_kind kind)
{
	struct ip_prefix q = *p;

	addr_mask(&q.addr, q.len);
	if (wl_covers(m, &q))
		return -EPERM;
	if (ban_find(m, &q))
		return -EALREADY;
	if (ban_covering(m, &q))
		return -EEXIST;
	return ban_start(m, &q, kind, NULL, duration_s ? duration_s : m->cfg.ban_s);
}

int mitigate_find(struct mitigate *m, const struct ip_prefix *p, struct ban_info *bi)
{
	struct ip_prefix q = *p;
	struct ban *b;

	addr_mask(&q.addr, q.len);
	if (!(b = ban_find(m, &q)))
		return -ENOENT;
	*bi = (struct ban_info){
		.src = b->src, .kind = b->kind, .duration_s = b->duration_s,
		.offences = b->offences,
		.remaining_ms = (uint64_t)(ev_timer_remaining(m->loop, &b->timer) * 1000),
	};
	return 0;
}

int mitigate_unban(struct mitigate *m, const struct ip_prefix *p)
{
	struct ip_prefix q = *p;
	struct ban *b;

	addr_mask(&q.addr, q.len);
	if (!(b = ban_find(m, &q)))
		return -ENOENT;
	ban_lift(m, b, "manual");
	return 0;
}

const uint64_t mitigate_lat_bounds_us[MITIGATE_LAT_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000,
};

/* Latency of the batch just committed, from its oldest ban. */
static void note_committed(struct mitigate *m)
{
	struct timespec ts;
	uint64_t now_us;
	unsigned b = 0;

	m->st.commits++;
	m->st.last_latency_us = (uint64_t)((mono_now() - m->pending_mono) * 1e6);
	while (b < MITIGATE_LAT_BUCKETS && m->st.last_latency_us > mitigate_lat_bounds_us[b])
		b++;
	m->st.lat_hist[b]++;
	m->st.lat_sum_us += m->st.last_latency_us;
	if (m->st.last_latency_us > m->st.max_latency_us)
		m->st.max_latency_us = m->st.last_latency_us;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	/* Only a live packet is stamped within the last minute. */
	if (m->pending_pkt_us && now_us >= m->pending_pkt_us &&
	    now_us - m->pending_pkt_us < 60000000) {
		m->st.last_pkt_latency_us = now_us - m->pending_pkt_us;
		if (m->st.last_pkt_latency_us > m->st.max_pkt_latency_us)
			m->st.max_pkt_latency_us = m->st.last_pkt_latency_us;
	}
	m->pending_mono = 0;
	m->pending_pkt_us = 0;
}

int mitigate_flush(struct mitigate *m)
{
	int r;

	m->round = 0;
	r = fw_commit(m->fw);
	m->queued = 0;
	/* Bans and unbans refused for a passing reason go again (bounded per
	 * ban; unbans within this flush). */
	for (int i = 0; i < MITIGATE_TRIES && m->requeued; i++) {
		m->requeued = false;
		m->round = i + 1;
		r = fw_commit(m->fw);
	}

	if (r < 0) {
		m->st.commit_errors++;
		log_err("firewall: changes of this round not all applied: %s", strerror(-r));
	}
	if (m->pending_mono > 0)
		note_committed(m);
	if (m->readopt) {
		m->readopt = false;
		m->readopting = true;
		(void)mitigate_adopt(m);
		m->readopting = false;
	}
	return r;
}

/* ---- the kernel's answers ---- */

static void ban_confirmed(struct mitigate *m, struct ban *b)
{
	if (!b->pending)
		return;
	b->pending = false;
	b->held = true;
	b->announced = true;
	ban_event(m, b, b->ev_ts);
	m->st.bans++;
}

/* A refusal that may not recur: buffers, a lost answer, a busy kernel. */
static bool passing(int err)
{
	return err == -ENOBUFS || err == -ENOMEM || err == -ENODATA || err == -EINTR ||
	       err == -EAGAIN || err == -EBUSY || err == -EIO;
}

/* Forgets the offence a refused new ban had counted. */
static void off_unstore(struct mitigate *m, const struct ip_prefix *p)
{
	struct offender *o = *off_link(m, p);

	if (o && o->offences > 1)
		o->offences--;
	else if (o)
		off_drop(m, o);
}

static void ban_failed_event(struct mitigate *m, const struct ban *b, const char *reason)
{
	emit(m, &(struct event){
		.type = EVT_BAN_FAILED, .ts_us = b->ev_ts ? b->ev_ts : wall_us(m), .src = b->src,
		.kind = b->kind, .duration_s = b->duration_s, .offences = b->offences,
		.reason = reason,
	});
}

/* The kernel refused b's element: retry, restore what it still holds, or
 * forget the ban. */
static void ban_refused(struct mitigate *m, struct ban *b, const struct fw_result *r)
{
	bool retry = b->pending && passing(r->err) && b->tries < MITIGATE_TRIES;
	char reason[sizeof(m->refusal)];
	struct ip_prefix src;
	enum detect_kind kind;
	double left;
	bool full;

	snprintf(reason, sizeof(reason), "%s%s%s%s", r->why ? r->why : strerror(-r->err),
		 r->why ? " (" : "", r->why ? strerror(-r->err) : "", r->why ? ")" : "");
	m->refused = b->src;
	m->refused_err = r->err;
	snprintf(m->refusal, sizeof(m->refusal), "%s", reason);
	m->st.ban_failed++;
	if (retry && ban_send(m, b, (uint64_t)b->duration_s * 1000) == 0) {
		b->tries++;
		m->requeued = true;
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason), "; retrying");
		ban_failed_event(m, b, reason);
		return;
	}
	ban_failed_event(m, b, reason);
	if (b->pending && b->held) {
		/* A restart refused: the kernel still has the element before it. */
		b->pending = false;
		b->duration_s = b->held_duration;
		b->offences = b->held_offences;
		b->kind = b->held_kind;
		left = b->held_until - ev_now(m->loop);
		ev_timer_stop(m->loop, &b->timer);
		ev_timer_set(&b->timer, left > 0.001 ? left : 0.001, 0.);
		ev_timer_start(m->loop, &b->timer);
		return;
	}
	if (b->pending && b->offences)
		off_unstore(m, &b->src);
	unban_event(m, b, "refused");
	full = r->err == -ENFILE && b->pending && b->kind < KIND__MAX;
	src = b->src;
	kind = b->kind;
	ban_remove(m, b);
	if (full) {
		/* The kernel's set is the cap here: degrade as at max_bans. */
		m->set_full = true;
		if (ban_start(m, &src, kind, NULL, 0) == 0)
			m->requeued = true;
		m->set_full = false;
	}
}

static void on_result(const struct fw_result *r, void *ctx)
{
	struct mitigate *m = ctx;
	char buf[ADDR_STRLEN];
	struct ban *b;

	if (r->op == FW_OP_UNBAN) {
		if (!r->err)
			return;
		/* A passing refusal goes again within this flush; any other,
		 * or the last try's, leaves the element in the kernel, and the
		 * ban it still is is taken back from there (after the commit:
		 * see mitigate_flush). */
		if (passing(r->err) && m->round < MITIGATE_TRIES && fw_unban(m->fw, &r->p) == 0) {
			m->requeued = true;
			return;
		}
		log_err("firewall: %s stays in the kernel until its timeout, and banned here: %s",
			prefix_fmt(&r->p, buf), r->why ? r->why : strerror(-r->err));
		m->readopt = true;
		return;
	}
	if (!(b = ban_find(m, &r->p)))
		return;  /* lifted since it was queued */
	if (r->err == 0)
		ban_confirmed(m, b);
	else
		ban_refused(m, b, r);
}

/* ---- start-up, table loss, reload ---- */

static void adopt_one(const struct ip_prefix *p, uint64_t remaining_ms, const char *note,
		      void *ctx)
{
	struct mitigate *m = ctx;
	double secs = remaining_ms / 1000.0;
	enum detect_kind kind = KIND_MANUAL;
	uint32_t offences = 1, d = (uint32_t)((remaining_ms + 999) / 1000);
	char buf[ADDR_STRLEN];
	bool known;
	struct ban *b;

	if (remaining_ms == FW_NO_TIMEOUT || ban_covering(m, p))
		return;  /* a permanent element is the operator's, not ours */
	if (wl_covers(m, p)) {
		/* Not again when the kernel has just refused to remove it. */
		if (!m->readopting) {
			fw_unban(m->fw, p);
			note_pending(m, NULL);
		}
		return;
	}
	lift_inside(m, p, "superseded");
	/* The remaining time, not a fresh ban: a restart neither forgets nor
	 * extends a ban. What it was comes from its note, if it has ours. */
	known = ban_note_parse(note, &kind, &offences, &d);
	if (!(b = ban_insert(m, p, kind, d, offences, secs)))
		return;
	b->held = b->announced = true;
	if (m->readopting)
		ban_event(m, b, wall_us(m));
	if (offences)
		off_store(m, p, offences, ev_now(m->loop) + secs + m->cfg.memory_s);
	m->st.adopted++;
	m->adopted_known += known;
	log_debug("adopted the ban of %s: %s, %.0fs left of %us, offence %u",
		  prefix_fmt(p, buf), detect_kind_name(kind), secs, d, offences);
}

int mitigate_adopt(struct mitigate *m)
{
	uint64_t before = m->st.adopted;
	int r;

	m->adopted_known = 0;
	r = fw_adopt(m->fw, adopt_one, m);
	if (m->st.adopted > before)
		log_info("adopted %" PRIu64 " bans from the kernel with their time left "
			 "(%u with their kind and offences, the rest as manual)",
			 m->st.adopted - before, m->adopted_known);
	return r;
}

int mitigate_restore(struct mitigate *m)
{
	int first = 0;

	for (uint32_t i = 0; i <= m->bmask; i++) {
		for (struct ban *b = m->bans[i]; b; b = b->next) {
			double rem = ev_timer_remaining(m->loop, &b->timer);
			int r;

			if (rem < 0.001)
				continue;
			if ((r = ban_send(m, b, (uint64_t)(rem * 1000))) < 0 && !first)
				first = r;
		}
	}
	note_pending(m, NULL);
	return first;
}

void mitigate_set_whitelist(struct mitigate *m, const struct whitelist *wl)
{
	m->wl = wl;
	for (uint32_t i = 0; i <= m->bmask; i++) {
		struct ban *b = m->bans[i], *next;

		for (; b; b = next) {
			next = b->next;
			if (wl && whitelist_contains(wl, &b->src))
				ban_lift(m, b, "whitelisted");
		}
	}
}

void mitigate_set_cfg(struct mitigate *m, const struct mitigate_cfg *cfg)
{
	uint32_t memory_max = m->cfg.memory_max;

	m->cfg = *cfg;
	m->cfg.memory_max = memory_max;
	if (!m->cfg.max_bans)
		m->cfg.max_bans = MITIGATE_MAX_BANS;
	m->capped = false;
}

void mitigate_foreach(struct mitigate *m, void (*cb)(const struct ban_info *, void *), void *ctx)
{
	for (uint32_t i = 0; i <= m->bmask; i++) {
		for (struct ban *b = m->bans[i]; b; b = b->next) {
			struct ban_info bi = {
				.src = b->src, .kind = b->kind, .duration_s = b->duration_s,
				.offences = b->offences,
				.remaining_ms = (uint64_t)(ev_timer_remaining(m->loop, &b->timer) * 1000),
			};

			cb(&bi, ctx);
		}
	}
}

unsigned mitigate_count(const struct mitigate *m)
{
	return m->nbans;
}

void mitigate_get_stats(const struct mitigate *m, struct mitigate_stats *st)
{
	*st = m->st;
}

int mitigate_new(struct ev_loop *loop, const struct mitigate_cfg *cfg, struct fw *fw,
		 const struct whitelist *wl, struct events *ev, struct mitigate **out)
{
	struct mitigate *m = calloc(1, sizeof(*m));
	uint32_t nb, no;

	if (!m)
		return -ENOMEM;
	*m = (struct mitigate){ .loop = loop, .cfg = *cfg, .fw = fw, .wl = wl, .ev = ev };
	if (!m->cfg.memory_max)
		m->cfg.memory_max = MITIGATE_MEMORY_MAX;
	if (!m->cfg.max_bans)
		m->cfg.max_bans = MITIGATE_MAX_BANS;
	nb = pow2_at_least(m->cfg.max_bans);
	no = pow2_at_least(m->cfg.memory_max);
	m->bmask = nb - 1;
	m->omask = no - 1;
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != sizeof(m->seed))
		m->seed = (uint32_t)mono_now() ^ (uint32_t)(uintptr_t)m;
	if (!(m->bans = calloc(nb, sizeof(*m->bans))) || !(m->offs = calloc(no, sizeof(*m->offs))) ||
	    !(m->agg = calloc(AGG_SLOTS, sizeof(*m->agg)))) {
		mitigate_free(m);
		return -ENOMEM;
	}
	fw_on_result(fw, on_result, m);
	*out = m;
	return 0;
}

void mitigate_free(struct mitigate *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; m->bans && i <= m->bmask; i++) {
		struct ban *b = m->bans[i], *next;

		for (; b; b = next) {
			next = b->next;
			ev_timer_stop(m->loop, &b->timer);
			free(b);
		}
	}
	while (m->offs && m->oldest)
		off_drop(m, m->oldest);
	free(m->bans);
	free(m->offs);
	free(m->agg);
	free(m);
}
