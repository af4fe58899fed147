/* ctl.h - the control socket: dosipsctl's requests, answered in the loop.
 *
 * Protocol: the client sends one line ("ban 198.18.0.7/32 600\n"); the
 * daemon answers with text lines, the last of which is "ok" or
 * "error: MESSAGE", and closes the connection. */
#ifndef DOSIPS_CTL_H
#define DOSIPS_CTL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"
#include "detect.h"

#define CTL_LINE_MAX 512     /* longest request line, newline included */

struct capture;
struct events;
struct feeds;
struct feed_info;
struct crowdsec;
struct hooks;
struct notify;
struct store;

/* The daemon as the control socket sees it. The caller owns everything
 * and keeps the pointers current (a reload may replace det); none may be
 * NULL but reload, store and bus. */
struct ctl_view {
	struct capture *cap;               /* NULL when workers capture */
	struct detect *det;                /* NULL with workers */
	struct workers *wk;                /* workers > 1, else NULL */
	struct mitigate *mit;
	struct fw *fw;
	struct hooks *hooks;
	struct notify *notify;
	struct store *store;               /* NULL: no history */
	struct events *bus;                /* for control actions (NULL: none) */
	/* Lists the feeds (feeds_foreach), or NULL: a pointer, so that
	 * dosipsctl, which links ctl.c, does not pull in the feeds code. */
	void (*feeds_foreach)(const struct feeds *f,
			      void (*cb)(const struct feed_info *, void *), void *ctx);
	const struct feeds *feeds;
	struct crowdsec *crowdsec;         /* NULL: no fleet link */
	struct bgp *bgp;                   /* NULL: no FlowSpec upstream */
	const struct config *cfg;
	uint64_t alerts_before[KIND__MAX]; /* of detectors a reload replaced */
	double started;                    /* ev_time() at start */
	const char *source;                /* interface or replayed file */
	bool dry_run;
	/* Reloads configuration and whitelist; 0 or -errno, why in err. */
	int (*reload)(void *ctx, char *err, size_t errlen);
	void *ctx;
};

struct ctl;

/* Listens on path: a stale socket there is replaced, a live one is an
 * error. Mode 0660 with group group (if not "") else 0600. Read-only
 * commands are for root and group members, changes for root only.
 * 0 or -errno with a sentence in err. */
int ctl_open(struct ev_loop *loop, const char *path, const char *group,
	     const struct ctl_view *view, struct ctl **out, char *err, size_t errlen);

/* Answers one request line for a caller; returns the reply (malloc'd, its
 * length in *len) ending with the status line, or NULL without memory. */
char *ctl_answer(const struct ctl_view *v, const char *line, uid_t uid, bool member,
		 size_t *len);

/* Finds the gid of control_group group; 0, or -errno with
 * "control_group NAME: why" in err. */
int ctl_group_id(const char *group, gid_t *gid, char *err, size_t errlen);

/* Drops clients, stops listening and removes the socket; NULL is fine. */
void ctl_close(struct ctl *c);

#endif
