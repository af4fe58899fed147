/* page.h - what the live page shows and does, as JSON, without HTTP. */
#ifndef DOSIPS_PAGE_H
#define DOSIPS_PAGE_H

#include <ev.h>
#include <stddef.h>
#include "http.h"

struct page;

/* Who asks: the role of the token (or of loopback), and a name for the
 * audit trail. */
struct page_caller {
	const char *role;       /* "viewer" or "admin" */
	const char *who;        /* the token's name, or "loopback" */
};

/* Starts the once-a-second sampler of packet rates on loop; 0 or -ENOMEM. */
int page_new(struct ev_loop *loop, const struct http_view *v, struct page **out);

/* The page's state as one JSON object: bans with time left, the rules'
 * drop counters, top sources per class, packet rates of the last minutes,
 * tunable settings. malloc'd, its length in *len; NULL without memory. */
char *page_state_json(struct page *p, const struct page_caller *who, size_t *len);

/* The history selected by a query string's values (get: a function that
 * returns a parameter's value or NULL), as JSON; *status gets the HTTP
 * status. malloc'd, or NULL without memory. */
char *page_history_json(struct page *p, const char *(*get)(void *ctx, const char *key),
			void *ctx, int *status, size_t *len);

/* Runs a change (action "ban", "unban", "ack", "tune") with a JSON body
 * if the caller is an admin (else 403); audits it, done or refused. Returns the HTTP status and a JSON reply in
 * *reply (malloc'd, its length in *len). */
int page_action(struct page *p, const char *action, const char *body,
		const struct page_caller *who, char **reply, size_t *len);

/* Stops the sampler and frees p; NULL is fine. */
void page_free(struct page *p);

#endif
