/* crowdsec.c - one attacker banned across a fleet, through CrowdSec's
 * Local API (LAPI), in both of its roles.
 *
 * As a watcher, dosips logs in (POST /v1/watchers/login, a JWT back) and
 * pushes every ban it made itself (POST /v1/alerts): an alert whose
 * decision is the ban, scenario "dosips/<kind>", scope Ip or Range, the
 * ban's remaining time as its duration. Only bans on the bus are pushed,
 * and mitigate publishes a ban only once the kernel holds it, so a ban
 * the kernel refused never reaches the fleet. While the API is away the
 * pushes wait in a bounded queue, saved to a file on every change, and
 * go out when it answers again, with what is left of their time; one
 * that has run out by then is dropped, not sent.
 *
 * As a bouncer (X-Api-Key), dosips polls the decisions stream
 * (GET /v1/decisions/stream, startup=true first, then the changes) and
 * bans each new decision in its own sets for the time the decision has
 * left, as kind "crowdsec". A decision for an address banned here already
 * (our own push coming back, or the same attacker seen here) changes
 * nothing: it is not doubled. The whitelist and the host's own addresses
 * win over any remote decision (mitigate refuses them). A decision deleted
 * at the API lifts the ban it made here; a ban this host made itself is
 * this host's to lift (dosipsctl unban), so the expiry of a pushed
 * decision never cuts a longer ban that was made since.
 *
 * Every request goes through the webclient: nothing here waits on the
 * network, capture and bans go on whatever the API does. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crowdsec.h"
#include "log.h"
#include "mitigate.h"
#include "webclient.h"

#define CS_PUSH_BATCH 50        /* alerts per POST */
#define CS_TIMEOUT_MS 10000
#define CS_SECRET 256

/* One ban waiting to be pushed. */
struct cs_push {
	struct ip_prefix src;
	enum detect_kind kind;
	uint32_t duration_s;        /* the ban's length */
	double until;               /* wall time its ban ends */
	double at;                  /* wall time it was made */
};

struct crowdsec {
	struct ev_loop *loop;
	struct webclient *wc;
	struct mitigate *m;
	char url[512], login[CS_SECRET], password[CS_SECRET], key[CS_SECRET];
	char queue_path[4096], cainfo[4096];
	char token[4096];
	struct cs_push *q;          /* a ring of queue_max */
	uint32_t qhead, qlen, qmax;
	uint32_t inflight;          /* pushes in the POST under way */
	int64_t push_req, pull_req, login_req;
	int started;                /* the first pull (startup=true) went through */
	ev_timer tick;
	struct crowdsec_stats st;
};

/* ---- set-up: files ---- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '"' || *s == '\'')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n\"'", e[-1]))
		*--e = '\0';
	return s;
}

/* "login: ID" and "password: PW" lines, as in CrowdSec's own
 * local_api_credentials.yaml (whose "url:" line is ignored: the url
 * setting says where to go). */
static int read_credentials(struct crowdsec *cs, const char *path, char *err, size_t errlen)
{
	char line[CS_SECRET + 32];
	unsigned n = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, errlen, "crowdsec.credentials %s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		n++;
		if (!colon || *trim(line) == '#')
			continue;
		*colon = '\0';
		if (strcmp(trim(line), "login") == 0)
			snprintf(cs->login, sizeof(cs->login), "%s", trim(colon + 1));
		else if (strcmp(trim(line), "password") == 0)
			snprintf(cs->password, sizeof(cs->password), "%s", trim(colon + 1));
	}
	fclose(f);
	if (!*cs->login || !*cs->password) {
		snprintf(err, errlen, "crowdsec.credentials %s:%u: needs login: and password: lines",
			 path, n);
		return -EINVAL;
	}
	return 0;
}

static int read_key(struct crowdsec *cs, const char *path, char *err, size_t errlen)
{
	char line[CS_SECRET];
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, errlen, "crowdsec.api_key_file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	snprintf(cs->key, sizeof(cs->key), "%s", trim(line));
	if (!*cs->key) {
		snprintf(err, errlen, "crowdsec.api_key_file %s:1: no key", path);
		return -EINVAL;
	}
	return 0;
}

/* ---- the push queue ---- */

static struct cs_push *q_at(struct crowdsec *cs, uint32_t i)
{
	return &cs->q[(cs->qhead + i) % cs->qmax];
}

/* The queue as text, one push a line, written aside and renamed over the
 * old file so a crash leaves one whole version. */
static void queue_save(struct crowdsec *cs)
{
	char tmp[4200], src[ADDR_STRLEN];
	FILE *f;

	if (!*cs->queue_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", cs->queue_path);
	if (!(f = fopen(tmp, "we"))) {
		log_warn("crowdsec: cannot save the push queue in %s: %s", tmp, strerror(errno));
		return;
	}
	for (uint32_t i = 0; i < cs->qlen; i++) {
		const struct cs_push *p = q_at(cs, i);

		fprintf(f, "%s %s %u %.3f %.3f\n", prefix_fmt(&p->src, src),
			detect_kind_name(p->kind), p->duration_s, p->until, p->at);
	}
	if (fclose(f) != 0 || rename(tmp, cs->queue_path) != 0)
		log_warn("crowdsec: cannot save the push queue in %s: %s", cs->queue_path,
			 strerror(errno));
}

static void queue_add(struct crowdsec *cs, const struct cs_push *p)
{
	if (cs->qlen == cs->qmax) {
		/* Full: the oldest, the nearest to its end, makes way. */
		cs->qhead = (cs->qhead + 1) % cs->qmax;
		cs->qlen--;
		cs->st.queue_dropped++;
		if (cs->inflight)
			cs->inflight--;
	}
	*q_at(cs, cs->qlen++) = *p;
	cs->st.queued = cs->qlen;
}

static void queue_drop(struct crowdsec *cs, uint32_t n)
{
	cs->qhead = (cs->qhead + n) % cs->qmax;
	cs->qlen -= n;
	cs->st.queued = cs->qlen;
}

static void queue_load(struct crowdsec *cs)
{
	char line[256], src[ADDR_STRLEN], kind[32];
	struct cs_push p;
	FILE *f;

	if (!*cs->queue_path || !(f = fopen(cs->queue_path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		int k;

		if (sscanf(line, "%51s %31s %u %lf %lf", src, kind, &p.duration_s, &p.until,
			   &p.at) != 5 || prefix_parse(src, &p.src) < 0)
			continue;
		k = detect_kind_parse(kind);
		p.kind = k < 0 ? KIND_MANUAL : (enum detect_kind)k;
		queue_add(cs, &p);
	}
	fclose(f);
	if (cs->qlen)
		log_info("crowdsec: %u bans from before the restart wait to be pushed", cs->qlen);
}

/* ---- requests ---- */

static void note_error(struct crowdsec *cs, const char *what, const struct web_response *r)
{
	char msg[sizeof(cs->st.last_error)];

	if (r->err)
		snprintf(msg, sizeof(msg), "%s: %s", what, r->error);
	else
		snprintf(msg, sizeof(msg), "%s: HTTP %d", what, r->status);
	cs->st.api_up = r->status != 0;
	/* Once per change of cause: the API away for an hour is one line. */
	if (strcmp(msg, cs->st.last_error) != 0)
		log_warn("crowdsec: %s", msg);
	memcpy(cs->st.last_error, msg, sizeof(msg));
}

static void note_ok(struct crowdsec *cs)
{
	if (*cs->st.last_error)
		log_info("crowdsec: the Local API answers again");
	cs->st.api_up = 1;
	cs->st.last_error[0] = '\0';
}

static int64_t request(struct crowdsec *cs, const char *method, const char *path,
		       const char *const *headers, const char *body, web_done_fn done)
{
	char url[1024];
	struct web_request rq = {
		.method = method, .url = url, .headers = headers, .body = body,
		.body_len = body ? strlen(body) : 0, .timeout_ms = CS_TIMEOUT_MS,
		.max_bytes = 64u << 20, .cainfo = *cs->cainfo ? cs->cainfo : NULL,
	};

	snprintf(url, sizeof(url), "%s%s", cs->url, path);
	return webclient_request(cs->wc, &rq, done, cs);
}

static void push_next(struct crowdsec *cs);

static void on_login(const struct web_response *r, void *ctx)
{
	struct crowdsec *cs = ctx;
	json_object *o, *tok;

	cs->login_req = 0;
	if (r->err || r->status != 200 || !(o = json_tokener_parse(r->body))) {
		note_error(cs, "watcher login", r);
		return;
	}
	if (json_object_object_get_ex(o, "token", &tok))
		snprintf(cs->token, sizeof(cs->token), "%s", json_object_get_string(tok));
	json_object_put(o);
	note_ok(cs);
	push_next(cs);
}

static void login(struct crowdsec *cs)
{
	static const char *const hdrs[] = { "Content-Type: application/json", NULL };
	json_object *o = json_object_new_object(), *sc = json_object_new_array();
	int64_t id;

	for (int k = 0; k < KIND__ALL; k++) {
		char name[64];

		snprintf(name, sizeof(name), "dosips/%s", detect_kind_name(k));
		json_object_array_add(sc, json_object_new_string(name));
	}
	json_object_object_add(o, "machine_id", json_object_new_string(cs->login));
	json_object_object_add(o, "password", json_object_new_string(cs->password));
	json_object_object_add(o, "scenarios", sc);
	id = request(cs, "POST", "/v1/watchers/login", hdrs, json_object_to_json_string(o),
		     on_login);
	json_object_put(o);
	cs->login_req = id > 0 ? id : 0;
}

static void rfc3339(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One ban as an alert with its decision, in the LAPI's Alert model. The
 * LAPI ends a decision its duration after the alert's stop_at, so stop_at
 * is now and the duration what is left. */
static json_object *push_alert(const struct cs_push *p, double now, uint32_t left_s)
{
	char src[ADDR_STRLEN], at[40], stop[40], scen[64], dur[32], msg[160];
	bool host = p->src.len == 128;
	const char *scope = host ? "Ip" : "Range";
	json_object *a = json_object_new_object(), *d = json_object_new_object();
	json_object *s = json_object_new_object(), *ev = json_object_new_object();
	json_object *meta = json_object_new_object(), *metas = json_object_new_array();
	json_object *evs = json_object_new_array(), *ds = json_object_new_array();

	prefix_fmt(&p->src, src);
	if (host)
		*strchrnul(src, '/') = '\0';
	rfc3339(p->at, at, sizeof(at));
	rfc3339(now, stop, sizeof(stop));
	snprintf(scen, sizeof(scen), "dosips/%s", detect_kind_name(p->kind));
	snprintf(dur, sizeof(dur), "%us", left_s);
	snprintf(msg, sizeof(msg), "dosips: %s from %s, banned for %us", detect_kind_name(p->kind),
		 src, p->duration_s);
	json_object_object_add(d, "origin", json_object_new_string("crowdsec"));
	json_object_object_add(d, "type", json_object_new_string("ban"));
	json_object_object_add(d, "scope", json_object_new_string(scope));
	json_object_object_add(d, "value", json_object_new_string(src));
	json_object_object_add(d, "duration", json_object_new_string(dur));
	json_object_object_add(d, "scenario", json_object_new_string(scen));
	json_object_array_add(ds, d);
	json_object_object_add(s, "scope", json_object_new_string(scope));
	json_object_object_add(s, "value", json_object_new_string(src));
	json_object_object_add(s, host ? "ip" : "range", json_object_new_string(src));
	json_object_object_add(meta, "key", json_object_new_string("source_ip"));
	json_object_object_add(meta, "value", json_object_new_string(src));
	json_object_array_add(metas, meta);
	json_object_object_add(ev, "timestamp", json_object_new_string(at));
	json_object_object_add(ev, "meta", metas);
	json_object_array_add(evs, ev);
	json_object_object_add(a, "scenario", json_object_new_string(scen));
	json_object_object_add(a, "scenario_hash", json_object_new_string(""));
	json_object_object_add(a, "scenario_version", json_object_new_string(DOSIPS_VERSION));
	json_object_object_add(a, "message", json_object_new_string(msg));
	json_object_object_add(a, "events_count", json_object_new_int(1));
	json_object_object_add(a, "start_at", json_object_new_string(at));
	json_object_object_add(a, "stop_at", json_object_new_string(stop));
	json_object_object_add(a, "capacity", json_object_new_int(0));
	json_object_object_add(a, "leakspeed", json_object_new_string("0"));
	json_object_object_add(a, "simulated", json_object_new_boolean(0));
	json_object_object_add(a, "remediation", json_object_new_boolean(1));
	json_object_object_add(a, "events", evs);
	json_object_object_add(a, "source", s);
	json_object_object_add(a, "decisions", ds);
	return a;
}

static void on_pushed(const struct web_response *r, void *ctx)
{
	struct crowdsec *cs = ctx;

	cs->push_req = 0;
	if (r->status == 401 || r->status == 403) {
		cs->token[0] = '\0';          /* expired: log in again, then resend */
		cs->inflight = 0;
		note_error(cs, "push", r);
		login(cs);
		return;
	}
	if (r->err || r->status < 200 || r->status >= 300) {
		cs->st.push_failures++;
		cs->inflight = 0;
		note_error(cs, "push", r);
		return;                       /* the tick tries again */
	}
	note_ok(cs);
	cs->st.pushed += cs->inflight;
	cs->st.last_push = ev_now(cs->loop);
	queue_drop(cs, cs->inflight);
	cs->inflight = 0;
	queue_save(cs);
	push_next(cs);
}

/* Sends the oldest waiting pushes, a batch at a time, one POST at once. */
static void push_next(struct crowdsec *cs)
{
	static const char *hdrs[] = { "Content-Type: application/json", NULL, NULL };
	char auth[4200];
	double now = ev_now(cs->loop);
	json_object *arr;
	int64_t id;

	if (cs->push_req || cs->login_req || !*cs->login)
		return;
	while (cs->qlen && q_at(cs, 0)->until - now < 1) {
		queue_drop(cs, 1);            /* over before it could be sent */
		queue_save(cs);
	}
	if (!cs->qlen)
		return;
	if (!*cs->token) {
		login(cs);
		return;
	}
	arr = json_object_new_array();
	for (cs->inflight = 0; cs->inflight < cs->qlen && cs->inflight < CS_PUSH_BATCH;
	     cs->inflight++) {
		const struct cs_push *p = q_at(cs, cs->inflight);
		double left = ceil(p->until - now);

		json_object_array_add(arr, push_alert(p, now, left < 1 ? 1 : (uint32_t)left));
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cs->token);
	hdrs[1] = auth;
	id = request(cs, "POST", "/v1/alerts", hdrs, json_object_to_json_string(arr), on_pushed);
	json_object_put(arr);
	if (id > 0)
		cs->push_req = id;
	else
		cs->inflight = 0;
}

void crowdsec_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct crowdsec *cs = ctx;
	double now;
	struct cs_push p;

	/* Our bans only: a decision from the API is the API's already. */
	if (e->type != EVT_BAN || e->kind == KIND_CROWDSEC || !*cs->login)
		return;
	now = ev_now(cs->loop);
	p = (struct cs_push){ .src = e->src, .kind = e->kind, .duration_s = e->duration_s,
			      .until = now + e->duration_s, .at = now };
	queue_add(cs, &p);
	queue_save(cs);
	push_next(cs);
}

/* ---- the decisions stream ---- */

int crowdsec_parse_duration(const char *s, int64_t *ms)
{
	static const struct { const char *unit; double ms; } units[] = {
		{ "ms", 1 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "ns", 1e-6 },
		{ "h", 3600e3 }, { "m", 60e3 }, { "s", 1e3 },
	};
	double total = 0;
	int neg = *s == '-';

	s += neg || *s == '+';
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		double v = strtod(s, &end);
		size_t i;

		if (end == s || v < 0)
			return -EINVAL;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strncmp(end, units[i].unit, strlen(units[i].unit)) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		total += v * units[i].ms;
		s = end + strlen(units[i].unit);
	}
	*ms = (int64_t)ceil(neg ? -total : total);
	return 0;
}

/* A decision's target, for the bans it can make: ban type, Ip or Range. */
static int decision_target(json_object *d, struct ip_prefix *p, int64_t *ms)
{
	json_object *v;
	const char *type = "", *scope = "", *value = "", *dur = "";

	if (json_object_object_get_ex(d, "type", &v))
		type = json_object_get_string(v);
	if (json_object_object_get_ex(d, "scope", &v))
		scope = json_object_get_string(v);
	if (json_object_object_get_ex(d, "value", &v))
		value = json_object_get_string(v);
	if (json_object_object_get_ex(d, "duration", &v))
		dur = json_object_get_string(v);
	if (!type || strcmp(type, "ban") != 0 || !scope || !value || !dur ||
	    (strcasecmp(scope, "ip") != 0 && strcasecmp(scope, "range") != 0))
		return -ENOTSUP;
	if (prefix_parse(value, p) < 0 || crowdsec_parse_duration(dur, ms) < 0)
		return -EINVAL;
	return 0;
}

static void apply_new(struct crowdsec *cs, json_object *d)
{
	struct ip_prefix p;
	struct ban_info bi;
	char src[ADDR_STRLEN];
	int64_t ms;
	int r;

	if (decision_target(d, &p, &ms) < 0 || ms < 1000)
		return;
	cs->st.pulled_new++;
	if (mitigate_find(cs->m, &p, &bi) == 0) {
		cs->st.own++;                 /* our own coming back, or known here */
		return;
	}
	r = mitigate_ban_remote(cs->m, &p, (uint32_t)((ms + 999) / 1000), KIND_CROWDSEC);
	if (r == 0) {
		cs->st.applied++;
	} else if (r == -EEXIST) {
		cs->st.own++;                 /* inside a wider ban of ours */
	} else {
		cs->st.refused++;
		log_info("crowdsec: decision for %s not applied: %s", prefix_fmt(&p, src),
			 r == -EPERM ? "whitelisted or this host's" : strerror(-r));
	}
}

static void apply_deleted(struct crowdsec *cs, json_object *d)
{
	struct ip_prefix p;
	struct ban_info bi;
	int64_t ms;

	if (decision_target(d, &p, &ms) < 0)
		return;
	cs->st.pulled_deleted++;
	if (mitigate_find(cs->m, &p, &bi) == 0 && bi.kind == KIND_CROWDSEC &&
	    mitigate_unban(cs->m, &p) == 0)
		cs->st.lifted++;
}

static void each_decision(struct crowdsec *cs, json_object *o, const char *list,
			  void (*fn)(struct crowdsec *, json_object *))
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(o, list, &arr) || !json_object_is_type(arr, json_type_array))
		return;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++)
		fn(cs, json_object_array_get_idx(arr, i));
}

static void on_stream(const struct web_response *r, void *ctx)
{
	struct crowdsec *cs = ctx;
	json_object *o;

	cs->pull_req = 0;
	if (r->err || r->status != 200 || !(o = json_tokener_parse(r->body))) {
		note_error(cs, "decisions stream", r);
		return;
	}
	note_ok(cs);
	cs->started = 1;
	cs->st.last_pull = ev_now(cs->loop);
	each_decision(cs, o, "deleted", apply_deleted);
	each_decision(cs, o, "new", apply_new);
	json_object_put(o);
	mitigate_flush(cs->m);              /* a startup's thousands: one batch */
}

static void pull(struct crowdsec *cs)
{
	char key[CS_SECRET + 16];
	const char *hdrs[] = { key, NULL };
	int64_t id;

	if (cs->pull_req || !*cs->key)
		return;
	snprintf(key, sizeof(key), "X-Api-Key: %s", cs->key);
	id = request(cs, "GET", cs->started ? "/v1/decisions/stream?startup=false&scopes=ip,range" :
		     "/v1/decisions/stream?startup=true&scopes=ip,range", hdrs, NULL, on_stream);
	cs->pull_req = id > 0 ? id : 0;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct crowdsec *cs = w->data;

	pull(cs);
	push_next(cs);
}

/* ---- life ---- */

static int cs_setup(struct crowdsec *cs, const struct crowdsec_cfg *cfg, char *err,
		    size_t errlen)
{
	int r;

	if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
		snprintf(err, errlen, "crowdsec.url %s: not an http:// or https:// URL", cfg->url);
		return -EINVAL;
	}
	snprintf(cs->url, sizeof(cs->url), "%s", cfg->url);
	cs->url[strcspn(cs->url, "\n")] = '\0';
	while (*cs->url && cs->url[strlen(cs->url) - 1] == '/')
		cs->url[strlen(cs->url) - 1] = '\0';
	if (cfg->credentials && *cfg->credentials &&
	    (r = read_credentials(cs, cfg->credentials, err, errlen)) < 0)
		return r;
	if (cfg->api_key_file && *cfg->api_key_file &&
	    (r = read_key(cs, cfg->api_key_file, err, errlen)) < 0)
		return r;
	if (!*cs->login && !*cs->key) {
		snprintf(err, errlen, "crowdsec.url is set but neither crowdsec.credentials "
			 "(to push) nor crowdsec.api_key_file (to pull) is");
		return -EINVAL;
	}
	snprintf(cs->queue_path, sizeof(cs->queue_path), "%s", cfg->queue_path ? cfg->queue_path : "");
	snprintf(cs->cainfo, sizeof(cs->cainfo), "%s", cfg->cainfo ? cfg->cainfo : "");
	cs->qmax = cfg->queue_max ? cfg->queue_max : 10000;
	if (!(cs->q = calloc(cs->qmax, sizeof(*cs->q)))) {
		snprintf(err, errlen, "crowdsec: out of memory");
		return -ENOMEM;
	}
	return 0;
}

int crowdsec_new(struct ev_loop *loop, struct webclient *wc, struct mitigate *m,
		 const struct crowdsec_cfg *cfg, struct crowdsec **out, char *err,
		 size_t errlen)
{
	struct crowdsec *cs = calloc(1, sizeof(*cs));
	double period = (cfg->poll_ms ? cfg->poll_ms : 10000) / 1000.0;
	int r;

	if (!cs) {
		snprintf(err, errlen, "crowdsec: out of memory");
		return -ENOMEM;
	}
	cs->loop = loop;
	cs->wc = wc;
	cs->m = m;
	if ((r = cs_setup(cs, cfg, err, errlen)) < 0) {
		free(cs->q);
		free(cs);
		return r;
	}
	queue_load(cs);
	ev_timer_init(&cs->tick, on_tick, 0., period);
	cs->tick.data = cs;
	ev_timer_start(loop, &cs->tick);    /* at once: the startup pull */
	*out = cs;
	return 0;
}

void crowdsec_get_stats(const struct crowdsec *cs, struct crowdsec_stats *st)
{
	*st = cs->st;
}

void crowdsec_free(struct crowdsec *cs)
{
	if (!cs)
		return;
	ev_timer_stop(cs->loop, &cs->tick);
	if (cs->push_req)
		webclient_cancel(cs->wc, cs->push_req);
	if (cs->pull_req)
		webclient_cancel(cs->wc, cs->pull_req);
	if (cs->login_req)
		webclient_cancel(cs->wc, cs->login_req);
	queue_save(cs);
	free(cs->q);
	free(cs);
}
