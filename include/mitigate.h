/* mitigate.h - policy between a verdict and the firewall. */
#ifndef DOSIPS_MITIGATE_H
#define DOSIPS_MITIGATE_H

#include <ev.h>
#include <stdint.h>
#include "detect.h"
#include "events.h"
#include "fw.h"
#include "whitelist.h"

struct mitigate_cfg {
	uint32_t ban_s;        /* first ban length */
	uint32_t ban_max_s;    /* cap of escalated bans */
	uint32_t escalate;     /* multiplier per repeat offence (1 = off) */
	uint32_t memory_s;     /* how long past offences are remembered */
	uint32_t max_bans;     /* active bans at most */
	uint32_t memory_max;   /* offenders remembered at most (0: the default) */
	/* At the cap, banned sources of one prefix this long (IPv4 length
	 * 1-32, IPv6 1-128; 0: never) become one ban of the prefix, once
	 * aggregate_min of them (the new one included) are in it. */
	uint8_t aggregate_v4, aggregate_v6;
	uint32_t aggregate_min;
};

#define MITIGATE_MAX_BANS 10000u     /* max_bans by default */
#define MITIGATE_MEMORY_MAX 65536u   /* memory_max by default */

/* Counters. Latency: from a verdict to the commit that carried its ban
 * (the oldest ban of the batch); pkt_latency: from the capture time of the
 * crossing packet to that commit (live capture only, 0 in replays). */
struct mitigate_stats {
	uint64_t verdicts, bans, unbans, whitelisted, refused_cap, adopted;
	uint64_t alerts_while_banned;  /* verdicts for banned sources, not reported */
	uint64_t commits, commit_errors;
	uint64_t ban_failed;           /* bans the kernel refused */
	uint64_t aggregated, evicted;  /* cap decisions: prefix bans made, bans evicted */
	uint64_t last_latency_us, max_latency_us;
	uint64_t last_pkt_latency_us, max_pkt_latency_us;
};

struct mitigate;

/* Ban state an operator may list. */
struct ban_info {
	struct ip_prefix src;
	enum detect_kind kind;
	uint64_t remaining_ms;
	uint32_t duration_s;
	uint32_t offences;
};

void mitigate_cfg_defaults(struct mitigate_cfg *cfg);

/* Uses loop for unban timers and publishes on the bus ev; fw, wl, ev stay
 * owned by the caller. */
int mitigate_new(struct ev_loop *loop, const struct mitigate_cfg *cfg,
		 struct fw *fw, const struct whitelist *wl, struct events *ev,
		 struct mitigate **out);

/* A first ban of p lasts fn(p, ctx) times the ban length (up to ban_max);
 * fn is asked once per first ban, never per packet. NULL fn: 1. */
void mitigate_set_reputation(struct mitigate *m, uint32_t (*fn)(const struct ip_prefix *p,
								 void *ctx), void *ctx);

/* Acts on one verdict (a detect_cb: ctx is the struct mitigate). */
void mitigate_verdict(const struct verdict *v, void *ctx);

/* Bans p by hand for duration_s (0: the configured ban length), or
 * restarts its ban with that length, and commits at once; 0 once the
 * kernel holds it, -EPERM (whitelisted), -ENOSPC (cap), -EEXIST (inside a
 * larger active ban), or the kernel's refusal (mitigate_refusal says why). */
int mitigate_ban(struct mitigate *m, const struct ip_prefix *p, uint32_t duration_s);

/* Why the kernel refused the last refused ban, in words ("" if none). */
const char *mitigate_refusal(const struct mitigate *m);

/* Bans p for duration_s on another system's word (kind names which, e.g.
 * KIND_CROWDSEC), queued for the next commit; otherwise as mitigate_ban
 * (never over the whitelist: -EPERM). A ban of p already here is left as
 * it is (-EALREADY). */
int mitigate_ban_remote(struct mitigate *m, const struct ip_prefix *p, uint32_t duration_s,
			enum detect_kind kind);

/* The active ban of exactly p into *bi: 0, or -ENOENT. */
int mitigate_find(struct mitigate *m, const struct ip_prefix *p, struct ban_info *bi);

/* Lifts a ban by hand; 0 or -ENOENT. */
int mitigate_unban(struct mitigate *m, const struct ip_prefix *p);

/* Sends queued firewall changes (call once per loop iteration). */
int mitigate_flush(struct mitigate *m);

/* Takes over bans found in the kernel at start-up (fw_adopt). */
int mitigate_adopt(struct mitigate *m);

/* Re-installs every active ban after the table was lost. */
int mitigate_restore(struct mitigate *m);

/* Swaps in a new whitelist (reload); active bans it covers are lifted. */
void mitigate_set_whitelist(struct mitigate *m, const struct whitelist *wl);

/* Takes new ban settings (reload). Running bans keep their length; the
 * hash tables keep the size chosen at start, which only lengthens chains. */
void mitigate_set_cfg(struct mitigate *m, const struct mitigate_cfg *cfg);

/* Calls cb for each active ban. */
void mitigate_foreach(struct mitigate *m, void (*cb)(const struct ban_info *, void *),
		      void *ctx);

/* Active ban count. */
unsigned mitigate_count(const struct mitigate *m);

/* Copies the counters. */
void mitigate_get_stats(const struct mitigate *m, struct mitigate_stats *st);

/* Stops the timers and frees m; bans stay in the kernel. NULL is fine. */
void mitigate_free(struct mitigate *m);

#endif
