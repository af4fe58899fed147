/* mitigate.c - what happens to a verdict: alert, whitelist, ban, escalate.
 *
 * Active bans live in a hash table, each with an ev_timer for its end. The
 * kernel removes an expired element by itself, so expiry only forgets the
 * ban here (a delete of our own would race with the kernel's). Repeat
 * offenders are remembered for memory_s after their last ban ended, in a
 * table of bounded size whose least recently banned entry goes first. */
#include <errno.h>
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
};

struct offender {
	struct offender *hnext;     /* hash chain */
	struct offender *older, *newer;
	struct ip_prefix src;
	uint32_t offences;
	ev_tstamp forget_at;        /* end of its last ban + memory_s */
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
	double pending_mono;        /* oldest uncommitted ban: verdict time */
	uint64_t pending_pkt_us;    /* and its packet's capture time */
	struct mitigate_stats st;
};

void mitigate_cfg_defaults(struct mitigate_cfg *cfg)
{
	*cfg = (struct mitigate_cfg){
		.ban_s = 60, .ban_max_s = 86400, .escalate = 2, .memory_s = 3600,
		.max_bans = MITIGATE_MAX_BANS, .memory_max = MITIGATE_MEMORY_MAX,
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

/* True when p touches the whitelist (there may be none). */
static bool wl_covers(const struct mitigate *m, const struct ip_prefix *p)
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
static void lift_inside(struct mitigate *m, const struct ip_prefix *p)
{
	bool any = false;

	for (unsigned len = p->len + 1u; len <= 128 && !any; len++)
		any = m->lens[len] > 0;
	for (uint32_t i = 0; any && i <= m->bmask; i++) {
		struct ban *b = m->bans[i], *next;

		for (; b; b = next) {
			next = b->next;
			if (b->src.len > p->len && prefix_contains(p, &b->src.addr))
				ban_lift(m, b, "superseded");
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
	snprintf(reason, sizeof(reason), "%u active bans, max_bans: no new ban until one ends",
		 m->nbans);
	emit(m, &(struct event){ .type = EVT_BAN_CAP, .ts_us = ts_us, .src = *p, .reason = reason });
	return -ENOSPC;
}

/* Sends p's ban (new or restarted) to the firewall and arms its timer. */
static int ban_apply(struct mitigate *m, struct ban *b, const struct verdict *v)
{
	int r = fw_ban(m->fw, &b->src, (uint64_t)b->duration_s * 1000);

	if (r < 0) {
		char buf[ADDR_STRLEN];

		log_err("firewall: cannot queue ban of %s: %s", prefix_fmt(&b->src, buf),
			strerror(-r));
		return r;
	}
	ev_timer_stop(m->loop, &b->timer);
	ev_timer_set(&b->timer, b->duration_s, 0.);
	ev_timer_start(m->loop, &b->timer);
	note_pending(m, v);
	ban_event(m, b, v ? v->ts_us : wall_us(m));
	m->st.bans++;
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

	if (m->nbans >= m->cfg.max_bans)
		return cap_refuse(m, p, v ? v->ts_us : wall_us(m));
	lift_inside(m, p);
	if (!(b = ban_insert(m, p, kind, d, offences, d)))
		return -ENOMEM;
	if ((r = ban_apply(m, b, v)) < 0) {
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
	b->duration_s = d;
	b->offences = offences;
	b->kind = v->kind;
	if (ban_apply(m, b, v) == 0)
		off_store(m, &b->src, offences, ev_now(m->loop) + d + m->cfg.memory_s);
}

void mitigate_verdict(const struct verdict *v, void *ctx)
{
	struct mitigate *m = ctx;
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

int mitigate_ban(struct mitigate *m, const struct ip_prefix *p, uint32_t duration_s)
{
	struct ip_prefix q = *p;
	struct ban *b;

	addr_mask(&q.addr, q.len);
	if (!duration_s)
		duration_s = m->cfg.ban_s;
	if (wl_covers(m, &q))
		return -EPERM;
	if ((b = ban_find(m, &q))) {
		b->duration_s = duration_s;
		return ban_apply(m, b, NULL);
	}
	if (ban_covering(m, &q))
		return -EEXIST;
	return ban_start(m, &q, KIND_MANUAL, NULL, duration_s);
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

/* Latency of the batch just committed, from its oldest ban. */
static void note_committed(struct mitigate *m)
{
	struct timespec ts;
	uint64_t now_us;

	m->st.commits++;
	m->st.last_latency_us = (uint64_t)((mono_now() - m->pending_mono) * 1e6);
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
	int r = fw_commit(m->fw);

	if (r < 0) {
		m->st.commit_errors++;
		log_err("firewall: changes of this round not all applied: %s", strerror(-r));
	}
	if (m->pending_mono > 0)
		note_committed(m);
	return r;
}

/* ---- start-up, table loss, reload ---- */

static void adopt_one(const struct ip_prefix *p, uint64_t remaining_ms, void *ctx)
{
	struct mitigate *m = ctx;
	double secs = remaining_ms / 1000.0;
	struct ban *b;

	if (remaining_ms == FW_NO_TIMEOUT || ban_covering(m, p))
		return;  /* a permanent element is the operator's, not ours */
	if (wl_covers(m, p)) {
		fw_unban(m->fw, p);
		note_pending(m, NULL);
		return;
	}
	lift_inside(m, p);
	/* The remaining time, not a fresh ban: a restart neither forgets nor
	 * extends a ban. */
	b = ban_insert(m, p, KIND_MANUAL, (uint32_t)((remaining_ms + 999) / 1000), 1,
		       secs);
	if (!b)
		return;
	off_store(m, p, 1, ev_now(m->loop) + secs + m->cfg.memory_s);
	m->st.adopted++;
}

int mitigate_adopt(struct mitigate *m)
{
	return fw_adopt(m->fw, adopt_one, m);
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
			if ((r = fw_ban(m->fw, &b->src, (uint64_t)(rem * 1000))) < 0 && !first)
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
			if (wl && whitelist_overlaps(wl, &b->src))
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
	if (!(m->bans = calloc(nb, sizeof(*m->bans))) || !(m->offs = calloc(no, sizeof(*m->offs)))) {
		mitigate_free(m);
		return -ENOMEM;
	}
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
	free(m);
}
