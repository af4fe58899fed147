/* ratelimit.c - a cap on lines per kind and per source, in fixed windows.
 *
 * A flood of forged sources turns every detector's verdict into a line:
 * 256 whitelisted sources made 1,536 lines in 15 s. Each subscriber that
 * writes for a person (the log) or keeps a file (the JSON lines) runs its
 * lines of the kinds that can flood through a limiter: per kind, at most
 * per_class lines in a window of interval_ms, and of those at most
 * per_source from one source. What is held back is counted and reported
 * once the window ends ("N suppressed from M sources"), so nothing is lost
 * without a trace. Bans and unbans never pass through here.
 *
 * Windows are timed by the events' own timestamps (packet time for
 * alerts), so a replay limits exactly as live capture would. Per-source
 * counts live in a fixed direct-mapped table: a collision only forgets a
 * count, which the per-kind cap still bounds. No allocation after set-up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define RL_SLOTS 4096

struct rl_slot {
	struct ip_prefix src;
	uint64_t win;           /* window start this count belongs to */
	uint32_t n;
	uint8_t cls;
	bool held;              /* counted in the window's sources already */
};

struct rl_class {
	uint64_t start_us;      /* 0: no window open */
	uint32_t n;
	uint64_t suppressed;
	uint32_t sources;
};

struct ratelimit {
	struct ratelimit_cfg cfg;
	uint64_t latest_us;
	struct rl_class cls[RATELIMIT_CLASSES];
	struct rl_slot slot[RL_SLOTS];
};

int ratelimit_new(const struct ratelimit_cfg *cfg, struct ratelimit **out)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return -ENOMEM;
	rl->cfg = *cfg;
	*out = rl;
	return 0;
}

void ratelimit_set_cfg(struct ratelimit *rl, const struct ratelimit_cfg *cfg)
{
	rl->cfg = *cfg;
}

/* Ends the window of c if it closed by now_us, reporting what it held. */
static void class_roll(struct ratelimit *rl, unsigned cls, uint64_t now_us, ratelimit_fn fn,
		       void *ctx)
{
	struct rl_class *c = &rl->cls[cls];
	uint64_t end = c->start_us + (uint64_t)rl->cfg.interval_ms * 1000;

	if (!c->start_us || now_us < end)
		return;
	if (c->suppressed && fn)
		fn(&(struct ratelimit_report){ .cls = cls, .suppressed = c->suppressed,
					       .sources = c->sources, .start_us = c->start_us,
					       .end_us = end }, ctx);
	*c = (struct rl_class){ 0 };
}

static struct rl_slot *slot_of(struct ratelimit *rl, unsigned cls, const struct ip_prefix *p)
{
	uint32_t h = addr_hash(&p->addr, 0x9e3779b9u ^ (uint32_t)p->len ^ cls << 8);

	return &rl->slot[h % RL_SLOTS];
}

/* The source's count in the open window of cls (a stale slot starts
 * afresh). */
static struct rl_slot *source_slot(struct ratelimit *rl, unsigned cls,
				   const struct ip_prefix *src)
{
	struct rl_class *c = &rl->cls[cls];
	struct rl_slot *s = slot_of(rl, cls, src);

	if (s->cls != cls || s->win != c->start_us || s->src.len != src->len ||
	    !addr_eq(&s->src.addr, &src->addr))
		*s = (struct rl_slot){ .src = *src, .win = c->start_us, .cls = (uint8_t)cls };
	return s;
}

bool ratelimit_allow(struct ratelimit *rl, unsigned cls, const struct ip_prefix *src,
		     uint64_t ts_us, ratelimit_fn fn, void *ctx)
{
	struct rl_slot *s = NULL;
	struct rl_class *c;
	bool ok;

	if (!rl || !rl->cfg.interval_ms || cls >= RATELIMIT_CLASSES)
		return true;
	if (ts_us < rl->latest_us)
		ts_us = rl->latest_us;
	rl->latest_us = ts_us;
	c = &rl->cls[cls];
	class_roll(rl, cls, ts_us, fn, ctx);
	if (!c->start_us)
		c->start_us = ts_us ? ts_us : 1;
	if (src && src->len)
		s = source_slot(rl, cls, src);
	ok = c->n < rl->cfg.per_class && (!s || s->n < rl->cfg.per_source);
	if (s && s->n < UINT32_MAX)
		s->n++;
	if (ok) {
		c->n++;
		return true;
	}
	c->suppressed++;
	if (s && !s->held) {
		s->held = true;
		c->sources++;
	}
	return false;
}

void ratelimit_tick(struct ratelimit *rl, uint64_t now_us, ratelimit_fn fn, void *ctx)
{
	if (!rl)
		return;
	for (unsigned i = 0; i < RATELIMIT_CLASSES; i++) {
		if (now_us == UINT64_MAX && rl->cls[i].start_us)
			class_roll(rl, i, rl->cls[i].start_us + (uint64_t)rl->cfg.interval_ms * 1000,
				   fn, ctx);
		else
			class_roll(rl, i, now_us, fn, ctx);
	}
}

void ratelimit_free(struct ratelimit *rl)
{
	free(rl);
}
