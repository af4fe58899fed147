/* http.h - the HTTP side: /metrics, the live page and its JSON API. */
#ifndef DOSIPS_HTTP_H
#define DOSIPS_HTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "config.h"
#include "ctl.h"
#include "events.h"

struct metrics;

/* What the HTTP side reads and may change. The caller owns everything
 * and keeps it alive until http_close. */
struct http_view {
	const struct ctl_view *ctl;     /* the modules (and history), as dosipsctl sees them */
	struct metrics *metrics;
	struct events *bus;             /* where changes are published (audit) */
	/* Applies settings (key/value pairs as in the file) through the
	 * reload path, and with save also writes them into the configuration
	 * file; 0 or -errno with the message `dosips -n` would give in err. */
	int (*tune)(void *ctx, const struct config_setting *set, int n, bool save,
		    char *err, size_t errlen);
	void *ctx;
};

/* One address of http_listen. */
struct http_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	bool loopback;
};

/* Parses http_listen: "PORT" (127.0.0.1 and ::1), "ADDR:PORT" or
 * "[ADDR6]:PORT"; fills up to two addresses and returns how many, or
 * -EINVAL with *why set. */
int http_listen_parse(const char *s, struct http_addr out[2], const char **why);

/* Checks the http_* settings for config_check; 0 or -EINVAL with a
 * sentence in err. */
int http_cfg_check(const struct config *cfg, char *err, size_t errlen);

struct http;

/* Listens as cfg says (http_listen must be set) and serves from loop,
 * without a thread of its own. 0 or -errno with a sentence in err. */
int http_open(struct ev_loop *loop, const struct config *cfg, const struct http_view *v,
	      struct http **out, char *err, size_t errlen);

/* The bus subscriber (ctx: the struct http): queues the event's JSON for
 * the page's live feed and wakes its readers. */
void http_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Ends every connection and stops listening; NULL is fine. */
void http_close(struct http *h);

#endif
