/* hooks.h - operator programs run on bans and unbans, never in the way. */
#ifndef DOSIPS_HOOKS_H
#define DOSIPS_HOOKS_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "events.h"
#include "ratelimit.h"

/* A command is a program path and arguments separated by blanks (no
 * quoting, no shell); "" runs nothing. */
struct hooks_cfg {
	const char *on_ban;
	const char *on_unban;
	uint32_t timeout_ms;    /* then SIGKILL to the hook's process group */
	uint32_t max_running;   /* more at once are dropped with a warning */
	struct ratelimit_cfg limit;   /* of those warnings, per source */
	bool as_user;           /* run hooks as uid:gid (needs CAP_SETUID/SETGID) */
	uid_t uid;
	gid_t gid;
};

struct hooks_stats {
	uint64_t started;       /* spawned */
	uint64_t failed;        /* could not start, or exited non-zero */
	uint64_t killed;        /* overran the timeout */
	uint64_t dropped;       /* over max_running */
	unsigned running;
};

struct hooks;

/* Watches hooks on loop, which must be libev's default loop (ev_child).
 * The strings of cfg are copied. 0, -EINVAL or -ENOMEM. */
int hooks_new(struct ev_loop *loop, const struct hooks_cfg *cfg, struct hooks **out);

/* Replaces the configuration (reload); running hooks keep their deadline.
 * 0 or -ENOMEM (old configuration kept). */
int hooks_set_cfg(struct hooks *h, const struct hooks_cfg *cfg);

/* The bus subscriber (ctx: the struct hooks): starts the hook for e (bans
 * and unbans only) with e in DOSIPS_* variables and json (one line, no
 * newline) on its stdin. Never blocks: the hook runs on while the bus
 * goes on. */
void hooks_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Logs the "N suppressed" summary of dropped-hook warnings whose window
 * ended by now_us (UINT64_MAX: all, at exit). */
void hooks_tick(struct hooks *h, uint64_t now_us);

/* Copies the counters. */
void hooks_get_stats(const struct hooks *h, struct hooks_stats *st);

/* Waits for running hooks until their own deadlines, kills the late ones,
 * and frees h. NULL is fine. */
void hooks_free(struct hooks *h);

#endif
