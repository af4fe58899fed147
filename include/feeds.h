/* feeds.h - blocklist feeds: parsed, checked, kept, loaded into the kernel,
 * and looked up when an alert names a source. */
#ifndef DOSIPS_FEEDS_H
#define DOSIPS_FEEDS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "config.h"
#include "events.h"
#include "whitelist.h"

enum feed_format { FEED_NETSET, FEED_DROP, FEED_PLAIN, FEED_JSON, FEED__MAX };

/* Prefixes parsed from one feed body (a growing array). */
struct feed_list {
	struct ip_prefix *p;
	size_t n, cap;
};

/* The format named s ("netset", "drop", "plain", "json"), or -1. */
int feed_format_parse(const char *s);

/* Parses len bytes of buf (need not end in NUL) in format fmt, appending
 * to out, at most max entries. 0; -EINVAL with "line N: why" (text) or
 * "byte N: why" (json) in err; -E2BIG past max; -ENOMEM. */
int feed_parse(enum feed_format fmt, const char *buf, size_t len, size_t max,
	       struct feed_list *out, char *err, size_t errlen);

/* Frees the entries of l (not l itself) and empties it. */
void feed_list_clear(struct feed_list *l);

/* Writes the ranges of a (sorted, disjoint, na) that lie outside every
 * range of w (sorted, disjoint, nw) to out (room for na + nw); returns the
 * count. cb(a_i, w_j, ctx) is called once per pair that overlaps. */
size_t feed_ranges_subtract(const struct ip_range *a, size_t na, const struct ip_range *w,
			    size_t nw, struct ip_range *out,
			    void (*cb)(const struct ip_range *a, const struct ip_range *w, void *ctx),
			    void *ctx);

/* True when x lies in one of the n sorted disjoint ranges r (binary search). */
bool feed_ranges_contain(const struct ip_range *r, size_t n, const struct ip_addr *x);

/* Most feeds one configuration may have. */
#define FEEDS_MAX 32

/* A positive whole number of at most 2^40 ("max_bytes"); 0 or -EINVAL. */
int feed_parse_size(const char *s, size_t *v);

/* A fraction from 0 to 1 ("max_shrink"); 0 or -EINVAL. */
int feed_parse_fraction(const char *s, double *v);

/* True when the [feed] sections of a and b differ (a reload warns: they
 * take effect at restart). */
bool feeds_cfg_changed(const struct config *a, const struct config *b);

/* Checks every [feed NAME] section of cfg (config.c's named_types row);
 * 0 or -EINVAL with "file:line: message" in err. */
int feeds_cfg_check(const struct config *cfg, char *err, size_t errlen);

struct feeds;
struct fw_feeds;
struct webclient;

/* Reads the [feed] sections of cfg, loads each feed's last good copy from
 * state_dir at once, and schedules the refreshes in loop. kernel may be
 * NULL (dry run: nothing is loaded into nftables); web may be NULL (no url
 * feeds possible). 0 or -errno with a sentence in err. */
int feeds_new(struct ev_loop *loop, const struct config *cfg, struct fw_feeds *kernel,
	      struct webclient *web, const struct whitelist *wl, struct feeds **out,
	      char *err, size_t errlen);

/* fn(ctx) runs after each feed load into the kernel: the monitor left the
 * nftables group meanwhile, so main has the table looked at. */
void feeds_on_load(struct feeds *f, void (*fn)(void *ctx), void *ctx);

/* Takes a new whitelist (reload): drop feeds are split around it again. */
void feeds_set_whitelist(struct feeds *f, const struct whitelist *wl);

/* Loads every feed into the kernel again (the table was re-created). */
void feeds_restore(struct feeds *f);

/* True when any feed lists a. */
bool feeds_listed(const struct feeds *f, const struct ip_addr *a);

/* Writes into buf the names of the feeds that list a, as a JSON array
 * (["a","b"]); returns the number of feeds, 0 leaving buf "[]". */
size_t feeds_lookup_json(const struct feeds *f, const struct ip_addr *a, char *buf, size_t len);

/* An event tagger (events_set_tagger): when feeds are configured, alerts
 * and bans get "feeds" (the list of those that list the source). */
size_t feeds_tag_event(const struct event *e, char *buf, size_t len, void *ctx);

/* One feed as dosipsctl feeds shows it. */
struct feed_info {
	const char *name, *source, *action, *last_error;
	size_t entries;
	double last_refresh;      /* wall time of the last good load, 0 never */
	double last_attempt;
	uint64_t loads, failures;
};

/* Calls cb for each feed, in configuration order. */
void feeds_foreach(const struct feeds *f, void (*cb)(const struct feed_info *, void *),
		   void *ctx);

/* Stops the timers and cancels downloads; the kernel sets stay. NULL ok. */
void feeds_free(struct feeds *f);

#endif
