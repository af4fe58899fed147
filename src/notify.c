/* notify.c - notifiers: each [notify NAME] section is one channel (Slack,
 * Discord, Mattermost, Teams, a generic webhook, or mail through the
 * system's sendmail) that hears the bus and tells people what matters.
 *
 * Under attack a thousand bans must not become a thousand messages: the
 * chat service would rate-limit the webhook and the one message that
 * mattered would be lost among the rest. So each notifier sends at most
 * `rate` messages a minute; past that, events are folded into a digest
 * (counts by event and kind, the busiest sources) sent once per `digest`
 * interval. Folding goes on until the digest has gone, so messages never
 * overtake the digest of earlier events. Nothing is dropped silently: an
 * event is either in a message, counted in a digest, or -- after the last
 * retry -- named in a warning in the log with the count it carried.
 *
 * Nothing here waits. HTTP goes through the shared webclient (libcurl
 * multi in the loop), mail through a spawned `sendmail -t -i` with the
 * hooks' timeout (child.c), one message in flight per notifier so they
 * arrive in order. 5xx, 429 and transport errors are retried with
 * exponential backoff (Retry-After honoured, up to 10 minutes); any other
 * answer is final. The queue is bounded (`queue`): when it is full, new
 * events go into the digest, which waits for room. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "notify.h"
#include "notify_msg.h"
#include "webclient.h"

#define MAIL_WORDS 16
#define BACKOFF_MAX_S 60.0
#define RETRY_AFTER_MAX_S 600.0
#define ANSWER_MAX 200          /* of an endpoint's reply, in a test's answer */

extern char **environ;

struct msg {
	struct msg *next;
	char *body;
	size_t len;
	uint32_t events;            /* 1, or a digest's count */
	unsigned attempts;
	bool digest;
};

struct notifier {
	struct notify *n;
	struct notify_cfg c;
	bool gone;                  /* removed by a reload: drains, takes nothing */
	double sent[NOTIFY_RATE_MAX]; /* ev_now() of the latest messages, a ring */
	uint32_t nsent, sent_at;
	struct digest dg;
	ev_timer digest_timer, retry;
	struct msg *head, *tail;
	int64_t web_id;             /* request in flight */
	struct child *proc;         /* sendmail in flight */
	uint64_t seq;
	struct notify_stats st;
};

/* A `dosipsctl notify test` in flight. */
struct test {
	struct notify *n;
	struct test *next;
	notify_answer_fn done;      /* NULL once cancelled */
	void *arg;
	int64_t web_id;
	struct child *proc;
};

struct notify {
	struct ev_loop *loop;
	struct webclient *wc;
	uint32_t hook_timeout_ms;
	char host[256];
	struct notifier **v;
	size_t nv;
	struct test *tests;
};

/* ---- sending ---------------------------------------------------------------- */

static void pump(struct notifier *nf);

static void msg_pop(struct notifier *nf)
{
	struct msg *m = nf->head;

	if (!(nf->head = m->next))
		nf->tail = NULL;
	nf->st.queued--;
	free(m->body);
	free(m);
}

static int msg_push(struct notifier *nf, char *body, size_t len, uint32_t events, bool digest)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (!m) {
		free(body);
		return -ENOMEM;
	}
	*m = (struct msg){ .body = body, .len = len, .events = events, .digest = digest };
	if (nf->tail)
		nf->tail->next = m;
	else
		nf->head = m;
	nf->tail = m;
	nf->st.queued++;
	pump(nf);
	return 0;
}

/* A delivery's outcome: sent, worth another try (after at least delay s),
 * or given up. */
enum outcome { SENT, RETRY, FAILED };

static void settle(struct notifier *nf, enum outcome o, double delay, const char *why)
{
	struct msg *m = nf->head;
	double backoff = 1 << (m->attempts < 7 ? m->attempts - 1 : 6);

	if (o == RETRY && m->attempts <= nf->c.retries) {
		nf->st.retries++;
		delay = delay > backoff ? delay : backoff < BACKOFF_MAX_S ? backoff : BACKOFF_MAX_S;
		log_debug("notify %s: %s; trying again in %gs", nf->c.name, why, delay);
		ev_timer_set(&nf->retry, delay, 0);
		ev_timer_start(nf->n->loop, &nf->retry);
		return;
	}
	if (o == SENT) {
		nf->st.messages++;
		nf->st.events += m->events;
		nf->st.digests += m->digest;
	} else {
		nf->st.failed++;
		nf->st.failed_events += m->events;
		log_warn("notify %s: %s of %u event%s not delivered after %u attempt%s: %s",
			 nf->c.name, m->digest ? "digest" : "message", m->events,
			 m->events == 1 ? "" : "s", m->attempts, m->attempts == 1 ? "" : "s", why);
	}
	msg_pop(nf);
	pump(nf);
}

/* Retry-After: delta-seconds or an HTTP-date; 0 when absent or odd. */
static double retry_after(const struct web_response *r, double now)
{
	char buf[64], *end;
	struct tm tm = { 0 };
	double s = 0;

	if (!web_response_header(r, "Retry-After", buf, sizeof(buf)))
		return 0;
	s = strtod(buf, &end);
	if (end == buf || *end) {
		end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		s = end && !*end ? (double)timegm(&tm) - now : 0;
	}
	return s < 0 ? 0 : s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
}

static enum outcome http_outcome(const struct web_response *r, char *why, size_t len)
{
	if (r->err) {
		snprintf(why, len, "%s", r->error && *r->error ? r->error : strerror(-r->err));
		return RETRY;
	}
	snprintf(why, len, "HTTP %d", r->status);
	if (r->status >= 200 && r->status < 300)
		return SENT;
	return r->status == 429 || r->status >= 500 ? RETRY : FAILED;
}

static void on_http_done(const struct web_response *r, void *ctx)
{
	struct notifier *nf = ctx;
	char why[256];
	enum outcome o = http_outcome(r, why, sizeof(why));

	nf->web_id = 0;
	settle(nf, o, o == RETRY ? retry_after(r, ev_now(nf->n->loop)) : 0, why);
}

static enum outcome mail_outcome(int st, bool killed, uint32_t timeout_ms, char *why,
				 size_t len)
{
	if (killed)
		return snprintf(why, len, "sendmail still running after %gs: killed",
				timeout_ms / 1000.0), RETRY;
	if (WIFEXITED(st))
		snprintf(why, len, "sendmail exited with status %d", WEXITSTATUS(st));
	else
		snprintf(why, len, "sendmail died of signal %d", WTERMSIG(st));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return SENT;
	return WIFEXITED(st) && WEXITSTATUS(st) == 75 ? RETRY : FAILED;   /* EX_TEMPFAIL */
}

static void on_mail_done(struct child *s, int st, bool killed, void *ctx)
{
	struct notifier *nf = ctx;
	char why[128];
	enum outcome o = mail_outcome(st, killed, nf->n->hook_timeout_ms, why, sizeof(why));

	nf->proc = NULL;
	settle(nf, o, 0, why);
}

/* `sendmail -t -i`: recipients from the headers, a lone dot is text. */
static int mail_start(struct notify *n, const char *cmd, const char *body, size_t len,
		      child_done_fn done, void *ctx, struct child **out)
{
	char buf[512], *argv[MAIL_WORDS + 3], *save, *w;
	struct iovec in = { (void *)body, len };
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", cmd);
	for (w = strtok_r(buf, " \t", &save); w && argc < MAIL_WORDS; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	argv[argc++] = "-t";
	argv[argc++] = "-i";
	argv[argc] = NULL;
	return child_start(n->loop, &(struct child_req){
		.argv = argv, .env = environ, .in = &in, .nin = 1,
		.timeout_ms = n->hook_timeout_ms, .done = done, .ctx = ctx }, out);
}

static int64_t http_start(struct notify *n, const struct notify_cfg *c, const char *body,
			  size_t len, web_done_fn done, void *ctx)
{
	static const char *const hdrs[] = { "Content-Type: application/json",
					    "User-Agent: dosips/" DOSIPS_VERSION, NULL };
	struct web_request rq = {
		.method = "POST", .url = c->url, .headers = hdrs, .body = body, .body_len = len,
		.timeout_ms = c->timeout_ms, .max_bytes = 64 << 10,
		.cainfo = *c->cainfo ? c->cainfo : NULL,
	};

	return webclient_request(n->wc, &rq, done, ctx);
}

/* Starts the head message unless one is in flight or waiting to retry. */
static void pump(struct notifier *nf)
{
	struct msg *m = nf->head;
	char why[64];
	int64_t r;

	if (!m || nf->web_id || nf->proc || ev_is_active(&nf->retry))
		return;
	m->attempts++;
	if (nf->c.type == NOTIFY_MAIL)
		r = mail_start(nf->n, nf->c.sendmail, m->body, m->len, on_mail_done, nf, &nf->proc);
	else if ((r = http_start(nf->n, &nf->c, m->body, m->len, on_http_done, nf)) > 0)
		nf->web_id = r;
	if (r < 0) {
		snprintf(why, sizeof(why), "%s", strerror((int)-r));
		settle(nf, r == -ENOMEM || r == -EAGAIN ? RETRY : FAILED, 0, why);
	}
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	pump(w->data);
}

/* ---- events, rate and digests ------------------------------------------------ */

static uint64_t now_us(const struct notify *n)
{
	return (uint64_t)(ev_now(n->loop) * 1e6);
}

/* The body of note for nf: a service's JSON, or a whole mail. */
static char *body_of(struct notifier *nf, const struct note *note, size_t *len)
{
	if (nf->c.type == NOTIFY_MAIL)
		return note_mail(note, &(struct mail_hdr){ nf->c.from, nf->c.to, nf->n->host,
							   now_us(nf->n), ++nf->seq }, len);
	return note_payload(nf->c.type, note, len);
}

static bool wants(const struct notifier *nf, const struct event *e)
{
	const struct notify_cfg *c = &nf->c;
	bool has_kind = e->type != EVT_BAN_CAP;

	if (nf->gone || (unsigned)e->type >= 64)
		return false;
	if (!(c->types & 1ull << e->type) &&
	    !(e->type == EVT_ALERT && c->alert_kinds & 1ull << e->kind))
		return false;
	if (has_kind && (unsigned)e->kind < KIND__ALL && !(c->kinds & 1ull << e->kind))
		return false;
	return notify_event_sev(e) >= c->sev;
}

/* Room for one more message this minute. */
static bool rate_ok(const struct notifier *nf, double now)
{
	uint32_t rate = nf->c.rate;

	return nf->nsent < rate ||
	       now - nf->sent[(nf->sent_at + NOTIFY_RATE_MAX - rate) % NOTIFY_RATE_MAX] >= 60.0;
}

static void rate_note(struct notifier *nf, double now)
{
	nf->sent[nf->sent_at] = now;
	nf->sent_at = (nf->sent_at + 1) % NOTIFY_RATE_MAX;
	if (nf->nsent < NOTIFY_RATE_MAX)
		nf->nsent++;
}


/* Sends the digest gathered so far, if the queue has room; else it keeps
 * gathering until the next interval. */
static void digest_flush(struct notifier *nf)
{
	struct note note;
	char *body = NULL;
	size_t len = 0;

	if (!nf->dg.count)
		return;
	if (nf->st.queued >= nf->c.queue && !nf->gone) {
		ev_timer_set(&nf->digest_timer, nf->c.digest_ms / 1000.0, 0);
		ev_timer_start(nf->n->loop, &nf->digest_timer);
		return;
	}
	if (note_digest(&note, &nf->dg, now_us(nf->n), nf->n->host) == 0)
		body = body_of(nf, &note, &len);
	note_clear(&note);
	if (body && msg_push(nf, body, len, nf->dg.count, true) == 0) {
		memset(&nf->dg, 0, sizeof(nf->dg));
		nf->st.pending = 0;
		return;
	}
	log_warn("notify %s: no memory for a digest of %u events; trying again later",
		 nf->c.name, nf->dg.count);
	ev_timer_set(&nf->digest_timer, nf->c.digest_ms / 1000.0, 0);
	ev_timer_start(nf->n->loop, &nf->digest_timer);
}

static void on_digest(struct ev_loop *loop, ev_timer *w, int revents)
{
	digest_flush(w->data);
}

static void fold(struct notifier *nf, const struct event *e)
{
	digest_add(&nf->dg, e, now_us(nf->n));
	nf->st.folded++;
	nf->st.pending = nf->dg.count;
	if (!ev_is_active(&nf->digest_timer)) {
		ev_timer_set(&nf->digest_timer, nf->c.digest_ms / 1000.0, 0);
		ev_timer_start(nf->n->loop, &nf->digest_timer);
	}
}

static void notifier_event(struct notifier *nf, const struct event *e, const char *json,
			   size_t len)
{
	double now = ev_now(nf->n->loop);
	struct note note;
	char *body = NULL;
	size_t blen = 0;

	if (!wants(nf, e))
		return;
	/* Once folding has begun it goes on until the digest is out, so no
	 * message overtakes the digest of earlier events. */
	if (nf->dg.count || !rate_ok(nf, now) || nf->st.queued >= nf->c.queue) {
		fold(nf, e);
		return;
	}
	if (note_event(&note, e, json, len, nf->n->host) == 0)
		body = body_of(nf, &note, &blen);
	note_clear(&note);
	if (!body || msg_push(nf, body, blen, 1, false) < 0) {
		fold(nf, e);       /* counted in the next digest rather than lost */
		return;
	}
	rate_note(nf, now);
}

void notify_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct notify *n = ctx;

	for (size_t i = 0; i < n->nv; i++)
		notifier_event(n->v[i], e, json, len);
}

/* ---- set-up and reload ------------------------------------------------------- */

static struct notifier *notifier_find(const struct notify *n, const char *name)
{
	for (size_t i = 0; i < n->nv; i++)
		if (!strcmp(n->v[i]->c.name, name))
			return n->v[i];
	return NULL;
}

static int notifier_add(struct notify *n, const struct notify_cfg *c)
{
	struct notifier **v = realloc(n->v, (n->nv + 1) * sizeof(*v)), *nf;

	if (!v)
		return -ENOMEM;
	n->v = v;
	if (!(nf = calloc(1, sizeof(*nf))))
		return -ENOMEM;
	nf->n = n;
	nf->c = *c;
	ev_timer_init(&nf->digest_timer, on_digest, 0, 0);
	ev_timer_init(&nf->retry, on_retry, 0, 0);
	nf->digest_timer.data = nf->retry.data = nf;
	n->v[n->nv++] = nf;
	return 0;
}

int notify_set_cfg(struct notify *n, const struct config *cfg, char *err, size_t errlen)
{
	struct notify_cfg *v = NULL;
	struct notifier *nf;
	size_t nv = 0;
	int r = notify_cfg_parse(cfg, &v, &nv, err, errlen);

	for (size_t i = 0; r == 0 && i < n->nv; i++)
		n->v[i]->gone = true;
	for (size_t i = 0; r == 0 && i < nv; i++) {
		if ((nf = notifier_find(n, v[i].name))) {
			nf->c = v[i];
			nf->gone = false;
		} else if ((r = notifier_add(n, &v[i])) < 0) {
			snprintf(err, errlen, "notify: out of memory");
		}
	}
	/* A notifier that went sends what it gathered, then falls silent. */
	for (size_t i = 0; r == 0 && i < n->nv; i++)
		if (n->v[i]->gone)
			digest_flush(n->v[i]);
	n->hook_timeout_ms = cfg->hook_timeout_ms;
	free(v);
	return r;
}

int notify_new(struct ev_loop *loop, struct webclient *wc, const struct config *cfg,
	       struct notify **out, char *err, size_t errlen)
{
	struct notify *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return snprintf(err, errlen, "notify: out of memory"), -ENOMEM;
	n->loop = loop;
	n->wc = wc;
	if (gethostname(n->host, sizeof(n->host) - 1) < 0)
		snprintf(n->host, sizeof(n->host), "localhost");
	if ((r = notify_set_cfg(n, cfg, err, errlen)) < 0) {
		notify_free(n);
		return r;
	}
	for (size_t i = 0; i < n->nv; i++)
		log_debug("notify %s: %s", n->v[i]->c.name, notify_type_name(n->v[i]->c.type));
	*out = n;
	return 0;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_end(struct test *t, int rc, const char *answer)
{
	struct test **pp = &t->n->tests;

	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	if (t->done)
		t->done(t->arg, rc, answer);
	free(t);
}

static void on_test_http(const struct web_response *r, void *ctx)
{
	struct test *t = ctx;
	char answer[ANSWER_MAX + 128];
	int ok = !r->err && r->status >= 200 && r->status < 300;

	if (r->err)
		snprintf(answer, sizeof(answer), "no answer: %s", r->error);
	else
		snprintf(answer, sizeof(answer), "HTTP %d in %.2fs%s%.*s", r->status, r->seconds,
			 r->len ? ": " : "", (int)(r->len < ANSWER_MAX ? r->len : ANSWER_MAX),
			 r->body ? r->body : "");
	test_end(t, ok ? 0 : -EIO, answer);
}

static void on_test_mail(struct child *s, int st, bool killed, void *ctx)
{
	struct test *t = ctx;
	char answer[128];

	t->proc = NULL;
	test_end(t, mail_outcome(st, killed, t->n->hook_timeout_ms, answer, sizeof(answer)) ==
		 SENT ? 0 : -EIO, answer);
}

/* A test answers within dosipsctl's default 10 s wait. */
#define TEST_TIMEOUT_MS 8000

static int test_send(struct notify *n, struct notifier *nf, struct test *t)
{
	struct notify_cfg c = nf->c;
	struct note note;
	size_t len = 0;
	char *body = NULL;
	int64_t r = -ENOMEM;

	if (note_test(&note, nf->c.name, now_us(n), n->host) == 0)
		body = body_of(nf, &note, &len);
	note_clear(&note);
	if (body && nf->c.type == NOTIFY_MAIL)
		r = mail_start(n, nf->c.sendmail, body, len, on_test_mail, t, &t->proc);
	if (c.timeout_ms > TEST_TIMEOUT_MS)
		c.timeout_ms = TEST_TIMEOUT_MS;
	if (body && nf->c.type != NOTIFY_MAIL &&
	    (r = http_start(n, &c, body, len, on_test_http, t)) > 0)
		t->web_id = r;
	free(body);
	return r < 0 ? (int)r : 0;
}

int notify_test(struct notify *n, const char *name, notify_answer_fn done, void *arg,
		char *err, size_t errlen)
{
	struct notifier *nf = n ? notifier_find(n, name) : NULL;
	struct test *t;
	int r;

	if (!nf || nf->gone) {
		snprintf(err, errlen, "no notifier %s (a [notify %s] section)", name, name);
		return -ENOENT;
	}
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	*t = (struct test){ .n = n, .done = done, .arg = arg, .next = n->tests };
	if ((r = test_send(n, nf, t)) < 0) {
		snprintf(err, errlen, "cannot send through %s: %s", name, strerror(-r));
		free(t);
		return r;
	}
	n->tests = t;
	return 0;
}

void notify_test_cancel(struct notify *n, void *arg)
{
	struct test *t, *next;

	for (t = n ? n->tests : NULL; t; t = next) {
		next = t->next;
		if (t->arg != arg)
			continue;
		t->done = NULL;
		if (t->web_id) {       /* a mail test ends when sendmail does */
			webclient_cancel(n->wc, t->web_id);
			test_end(t, -ECANCELED, "");
		}
	}
}

int notify_get_stats(const struct notify *n, const char *name, struct notify_stats *st)
{
	bool found = false;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; n && i < n->nv; i++) {
		const struct notify_stats *s = &n->v[i]->st;

		if (name && strcmp(n->v[i]->c.name, name))
			continue;
		found = true;
		st->messages += s->messages, st->digests += s->digests, st->events += s->events;
		st->folded += s->folded, st->retries += s->retries, st->failed += s->failed;
		st->failed_events += s->failed_events, st->queued += s->queued;
		st->pending += s->pending;
	}
	return found || !name ? 0 : -ENOENT;
}

static void notifier_free(struct notifier *nf)
{
	uint32_t events = nf->dg.count;

	for (struct msg *m = nf->head; m; m = m->next)
		events += m->events;
	if (events)
		log_warn("notify %s: stopping with %u event%s not delivered", nf->c.name, events,
			 events == 1 ? "" : "s");
	if (nf->web_id)
		webclient_cancel(nf->n->wc, nf->web_id);
	if (nf->proc)
		child_finish(nf->proc);
	ev_timer_stop(nf->n->loop, &nf->digest_timer);
	ev_timer_stop(nf->n->loop, &nf->retry);
	while (nf->head)
		msg_pop(nf);
	free(nf);
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	while (n->tests) {
		struct test *t = n->tests;

		n->tests = t->next;
		if (t->web_id)
			webclient_cancel(n->wc, t->web_id);
		if (t->proc)
			child_finish(t->proc);
		free(t);
	}
	for (size_t i = 0; i < n->nv; i++)
		notifier_free(n->v[i]);
	free(n->v);
	free(n);
}
