/* crowdsec.h - bans shared with a fleet through CrowdSec's Local API. */
#ifndef DOSIPS_CROWDSEC_H
#define DOSIPS_CROWDSEC_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include "events.h"

struct mitigate;
struct webclient;

struct crowdsec_cfg {
	const char *url;            /* "http://198.18.0.2:8080"; "" = off */
	const char *credentials;    /* watcher: "login: ID" / "password: PW" lines */
	const char *api_key_file;   /* bouncer: the key on its first line */
	const char *queue_path;     /* pushes not yet sent survive restarts here */
	const char *cainfo;         /* CA bundle for https; NULL = the system's */
	uint32_t poll_ms;           /* decisions stream and push retry period */
	uint32_t queue_max;         /* pushes kept while the API is away */
};

/* The link's state, for dosipsctl peers and the metrics. */
struct crowdsec_stats {
	int api_up;                 /* the last request got an HTTP answer */
	char last_error[160];
	uint64_t pushed, push_failures, queued, queue_dropped;
	uint64_t pulled_new, pulled_deleted, applied, lifted, own, refused;
	double last_push, last_pull;   /* ev_now() of the last success, 0 never */
};

struct crowdsec;

/* Reads the credentials and the key, loads the queue; watcher when
 * credentials are given, bouncer when the key is; bans go through m.
 * 0, or -errno with the reason in err. */
int crowdsec_new(struct ev_loop *loop, struct webclient *wc, struct mitigate *m,
		 const struct crowdsec_cfg *cfg, struct crowdsec **out, char *err,
		 size_t errlen);

/* The bus subscriber (ctx: the struct crowdsec): every ban made here, by
 * a detector or by hand, is pushed as an alert with its decision. */
void crowdsec_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* Copies the state. */
void crowdsec_get_stats(const struct crowdsec *cs, struct crowdsec_stats *st);

/* Parses a Go duration ("3h59m58.5s", "59s", "-1.2s") into milliseconds,
 * rounded up; -EINVAL when s is not one. */
int crowdsec_parse_duration(const char *s, int64_t *ms);

/* Saves the queue, cancels requests, frees; NULL is fine. */
void crowdsec_free(struct crowdsec *cs);

#endif
