/* bgp.h - floods pushed upstream as BGP FlowSpec rules through gobgp. */
#ifndef DOSIPS_BGP_H
#define DOSIPS_BGP_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "detect.h"
#include "events.h"

struct mitigate;
struct whitelist;

struct bgp_cfg {
	const char *speaker;        /* path of the gobgp CLI; "" = off */
	const char *api;            /* gobgpd's gRPC address "host:port" */
	uint32_t pps;               /* announce a banned source above this */
	uint32_t max;               /* announcements at most */
	uint64_t rate_bps;          /* 0: discard, else rate-limit to this */
	uint32_t window_ms;         /* rate_flood's window (counts -> pps) */
	uint32_t audit_ms;          /* the speaker's table listed this often; 0: 30 s */
};

/* For dosipsctl peers and the stats. */
struct bgp_stats {
	uint64_t active, made, withdrawn, failed, over_max;
	uint64_t adopted;      /* routes of ours in the speaker no slot held */
	uint64_t lost;         /* announcements the speaker lost (announced again) */
	char last_error[160];
	char session[160];     /* "PEER STATE, ..." as gobgp neighbor says; "" unknown */
	int session_up;        /* a neighbor is Established */
};

/* The sessions in the text of `gobgp neighbor` into out ("198.18.0.2
 * Establ, ..."); returns how many are Established. */
int bgp_parse_neighbors(const char *text, char *out, size_t len);

/* The routes of our shape (a match on the source alone, cfg's action) in
 * `gobgp -j global rib -a ipv4-flowspec` (or ipv6) output json: their
 * count, the first n of them in out; -EINVAL when json is no such table. */
int bgp_parse_rib(const struct bgp_cfg *cfg, const char *json, struct ip_prefix *out, size_t n);

struct bgp;

/* Where the measured rates come from: fills top like detect_top_sources;
 * returns false when there is nothing to read (workers > 1). */
typedef bool (*bgp_top_fn)(struct detect_top top[][8], size_t n, void *ctx);

/* Parses "discard" (0) or "rate-limit N" (N bytes/s, N > 0) into *bps;
 * -EINVAL otherwise. */
int bgp_parse_action(const char *s, uint64_t *bps);

/* Splits "host:port" or "[v6]:port"; -EINVAL when it is not one. */
int bgp_parse_api(const char *api, char *host, size_t hostlen, char *port, size_t portlen);

/* Fills argv (at most n slots with the NULL; strings in buf) with the gobgp
 * command that adds (add true) or deletes the rule for src; the argument
 * count, or -ENOSPC. */
int bgp_argv(const struct bgp_cfg *cfg, const struct ip_prefix *src, bool add, char *buf,
	     size_t buflen, char **argv, size_t n);

/* Picks from top[KIND_RATE_FLOOD] the sources above cfg->pps (measured
 * over window_ms); writes them to out (at most n) and returns how many. */
size_t bgp_pick(const struct bgp_cfg *cfg, struct detect_top top[][8], size_t ntop,
		struct ip_prefix *out, size_t n);

/* Starts the once-a-second measurement; bans are checked in m, never a
 * source overlapping *wl (a pointer: reloads replace the whitelist).
 * 0, or -errno with the reason in err. */
int bgp_new(struct ev_loop *loop, const struct bgp_cfg *cfg, struct mitigate *m,
	    struct whitelist *const *wl, bgp_top_fn top, void *top_ctx, struct bgp **out,
	    char *err, size_t errlen);

/* The bus subscriber (ctx: the struct bgp): an unban withdraws, a ban
 * makes the next measurement come sooner. */
void bgp_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Copies the counters. */
void bgp_get_stats(const struct bgp *b, struct bgp_stats *st);

/* The speaker's path, for dosipsctl peers. */
const char *bgp_speaker(const struct bgp *b);

/* Withdraws every announcement (waiting for the CLI), frees; NULL is fine. */
void bgp_free(struct bgp *b);

#endif
