/* notify.h - notifiers ([notify NAME] sections): chat webhooks, generic
 * webhooks and mail, rate-limited and folded into digests under attack. */
#ifndef DOSIPS_NOTIFY_H
#define DOSIPS_NOTIFY_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "events.h"

struct notify;
struct webclient;

/* Counters of one notifier, or of all together. */
struct notify_stats {
	uint64_t messages;      /* delivered, digests included */
	uint64_t digests;       /* of which digests */
	uint64_t events;        /* events delivered, in messages or digests */
	uint64_t folded;        /* events that went into a digest */
	uint64_t retries;
	uint64_t failed;        /* messages given up on */
	uint64_t failed_events; /* events those carried */
	uint32_t queued;        /* messages waiting or in flight */
	uint32_t pending;       /* events in the digest being gathered */
};

/* Notifiers of cfg on loop (libev's default: mail spawns sendmail),
 * posting through wc; hook_timeout bounds sendmail. 0 or -errno with a
 * sentence in err. */
int notify_new(struct ev_loop *loop, struct webclient *wc, const struct config *cfg,
	       struct notify **out, char *err, size_t errlen);

/* Reload: notifiers are matched by name; one that stays keeps its queue,
 * digest and rate, one that goes stops taking events (what it holds is
 * still delivered). 0, or -errno with err (the old settings kept). */
int notify_set_cfg(struct notify *n, const struct config *cfg, char *err, size_t errlen);

/* The bus subscriber (ctx: the struct notify). Never blocks. */
void notify_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Receives the answer of a test: rc 0 when delivered, answer in words
 * (status and the start of the endpoint's reply, or sendmail's status). */
typedef void (*notify_answer_fn)(void *arg, int rc, const char *answer);

/* Sends a test message through notifier name now (no rate, no retry);
 * done(arg) comes later, on the loop, unless notify_test_cancel(arg).
 * 0, or -ENOENT / -errno with err. */
int notify_test(struct notify *n, const char *name, notify_answer_fn done, void *arg,
		char *err, size_t errlen);

/* Forgets the tests of arg: their done is never called. */
void notify_test_cancel(struct notify *n, void *arg);

/* Adds up the counters of name (NULL: of every notifier). -ENOENT. */
int notify_get_stats(const struct notify *n, const char *name, struct notify_stats *st);

/* Logs what is still undelivered, waits for a running sendmail until its
 * deadline, cancels requests in flight and frees n. NULL is fine. */
void notify_free(struct notify *n);

#endif
