/* ratelimit.h - lines that may flood (alerts, whitelisted, dropped hooks)
 * kept to a rate per kind and per source, with what was held back summed. */
#ifndef DOSIPS_RATELIMIT_H
#define DOSIPS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include "addr.h"

#define RATELIMIT_CLASSES 8     /* kinds of line, 0 .. 7 */

struct ratelimit_cfg {
	uint32_t interval_ms;   /* the window the limits count in; 0: no limit */
	uint32_t per_class;     /* lines of one kind in a window */
	uint32_t per_source;    /* lines of one kind from one source in a window */
};

/* What a window held back of one kind: suppressed lines from sources
 * distinct sources (counted up to the table's size). */
struct ratelimit_report {
	unsigned cls;
	uint64_t suppressed;
	uint32_t sources;
	uint64_t start_us, end_us;
};

typedef void (*ratelimit_fn)(const struct ratelimit_report *r, void *ctx);

struct ratelimit;

/* A limiter; 0 or -ENOMEM. */
int ratelimit_new(const struct ratelimit_cfg *cfg, struct ratelimit **out);

/* New limits (reload); the windows open now go on. */
void ratelimit_set_cfg(struct ratelimit *rl, const struct ratelimit_cfg *cfg);

/* Whether a line of kind cls from src (NULL or length 0: no source) at
 * ts_us may go out. A window of cls that ended before ts_us is reported
 * to fn first. Time only moves forward: an earlier ts_us counts as the
 * latest seen. */
bool ratelimit_allow(struct ratelimit *rl, unsigned cls, const struct ip_prefix *src,
		     uint64_t ts_us, ratelimit_fn fn, void *ctx);

/* Reports every window that ended by now_us (UINT64_MAX: all of them, as
 * at exit) and had lines held back. */
void ratelimit_tick(struct ratelimit *rl, uint64_t now_us, ratelimit_fn fn, void *ctx);

/* Frees rl; NULL is fine. */
void ratelimit_free(struct ratelimit *rl);

#endif
