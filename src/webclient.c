/* webclient.c - HTTP(S) requests for feeds, notifications and the fleet,
 * run by libcurl's multi interface inside the libev loop.
 *
 * Nothing here may stall capture, so no call waits on the network: curl
 * tells us which sockets it wants watched (socket callback: one ev_io per
 * socket, kept with curl_multi_assign) and when it wants to be woken
 * (timer callback: one ev_timer), and we hand it each readiness with
 * curl_multi_socket_action. Name resolution happens in curl's resolver
 * thread (Debian's libcurl is built with the threaded resolver), so a slow
 * DNS server does not block either.
 *
 * A request's done callback runs once, from a watcher, never from inside
 * webclient_request: callers may start or cancel requests from it. Bodies
 * are capped (max_bytes) so a hostile or broken server cannot make the
 * daemon grow; TLS verification is always on, and only http and https are
 * spoken, redirects included. */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webclient.h"

#define WEB_TIMEOUT_MS 30000
#define WEB_MAX_BYTES (16u << 20)
#define WEB_MAX_HEADERS (64u << 10)

struct web_buf {
	char *p;
	size_t len, cap;
};

struct web_req {
	struct webclient *wc;
	struct web_req *prev, *next;
	int64_t id;
	CURL *easy;
	struct curl_slist *hdrs;
	struct web_buf body, head;
	size_t max_bytes;
	bool too_big;
	web_done_fn done;
	void *ctx;
	char errbuf[CURL_ERROR_SIZE];
};

/* The watcher of one socket curl uses. */
struct web_sock {
	ev_io io;
	struct webclient *wc;
	curl_socket_t fd;
};

struct webclient {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	struct web_req *reqs;
	int64_t next_id;
	unsigned pending;
};

/* Appends n bytes to b, keeping a NUL after them; false past max. */
static bool buf_add(struct web_buf *b, const char *s, size_t n, size_t max)
{
	if (b->len + n > max)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct web_req *q = ctx;

	if (!buf_add(&q->body, data, size * n, q->max_bytes)) {
		q->too_big = true;
		return 0;   /* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	return size * n;
}

/* Keeps only the last response's headers: a redirect or a 100 Continue
 * starts a new block with its status line. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct web_req *q = ctx;

	if (size * n > 5 && strncmp(data, "HTTP/", 5) == 0)
		q->head.len = 0;
	buf_add(&q->head, data, size * n, WEB_MAX_HEADERS);
	return size * n;
}

static int curl_errno(const struct web_req *q, CURLcode c)
{
	switch (c) {
	case CURLE_OK: return 0;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_FILESIZE_EXCEEDED: return -EFBIG;
	case CURLE_WRITE_ERROR: return q->too_big ? -EFBIG : -EIO;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	default: return -EIO;
	}
}

static void req_unlink(struct web_req *q)
{
	struct webclient *wc = q->wc;

	if (q->prev)
		q->prev->next = q->next;
	else
		wc->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	wc->pending--;
	curl_multi_remove_handle(wc->multi, q->easy);
}

static void req_free(struct web_req *q)
{
	curl_easy_cleanup(q->easy);
	curl_slist_free_all(q->hdrs);
	free(q->body.p);
	free(q->head.p);
	free(q);
}

/* Ends q: unlinks it first, so its done may start or cancel others. */
static void req_finish(struct web_req *q, int err, const char *words)
{
	struct web_response r = { .err = err, .error = err ? words : "" };
	long status = 0;

	req_unlink(q);
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(q->easy, CURLINFO_TOTAL_TIME, &r.seconds);
	r.status = (int)status;
	r.body = q->body.p ? q->body.p : "";
	r.len = q->body.len;
	r.headers = q->head.p ? q->head.p : "";
	if (err == -EFBIG && !*q->errbuf)
		words = "answer larger than the limit";
	r.error = err ? (*words ? words : "transfer failed") : "";
	q->done(&r, q->ctx);
	req_free(q);
}

static void check_done(struct webclient *wc)
{
	struct CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(wc->multi, &left))) {
		struct web_req *q;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		req_finish(q, curl_errno(q, m->data.result),
			   *q->errbuf ? q->errbuf : curl_easy_strerror(m->data.result));
	}
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct web_sock *s = w->data;
	struct webclient *wc = s->wc;
	int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(wc->multi, s->fd, action, &running);
	check_done(wc);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct webclient *wc = w->data;
	int running;

	curl_multi_socket_action(wc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(wc);
}

/* curl: watch fd for what (or stop watching it). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ctx, void *sockp)
{
	struct webclient *wc = ctx;
	struct web_sock *s = sockp;
	int ev = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(wc->loop, &s->io);
			free(s);
			curl_multi_assign(wc->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return -1;
		s->wc = wc;
		s->fd = fd;
		ev_init(&s->io, on_io);
		s->io.data = s;
		curl_multi_assign(wc->multi, fd, s);
	}
	ev_io_stop(wc->loop, &s->io);
	ev_io_set(&s->io, fd, ev);
	ev_io_start(wc->loop, &s->io);
	return 0;
}

/* curl: wake me in ms (-1: never). 0 runs on the next loop iteration. */
static int on_timeout(CURLM *multi, long ms, void *ctx)
{
	struct webclient *wc = ctx;

	ev_timer_stop(wc->loop, &wc->timer);
	if (ms >= 0) {
		ev_timer_set(&wc->timer, ms / 1000.0, 0.);
		ev_timer_start(wc->loop, &wc->timer);
	}
	return 0;
}

int webclient_new(struct ev_loop *loop, struct webclient **out, char *err, size_t errlen)
{
	static bool curl_ready;
	struct webclient *wc;

	/* Not thread-safe, so once, at set-up, before any worker starts. */
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			snprintf(err, errlen, "libcurl: global initialisation failed");
			return -EIO;
		}
		curl_ready = true;
	}
	if (!(wc = calloc(1, sizeof(*wc))) || !(wc->multi = curl_multi_init())) {
		free(wc);
		snprintf(err, errlen, "libcurl: out of memory");
		return -ENOMEM;
	}
	wc->loop = loop;
	ev_init(&wc->timer, on_timer);
	wc->timer.data = wc;
	curl_multi_setopt(wc->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(wc->multi, CURLMOPT_SOCKETDATA, wc);
	curl_multi_setopt(wc->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
	curl_multi_setopt(wc->multi, CURLMOPT_TIMERDATA, wc);
	*out = wc;
	return 0;
}

/* The options every request has; false when curl refuses one. */
static bool req_setopt(struct web_req *q, const struct web_request *rq)
{
	CURL *e = q->easy;
	const char *m = rq->method ? rq->method : "GET";
	uint32_t t = rq->timeout_ms ? rq->timeout_ms : WEB_TIMEOUT_MS;
	bool ok = true;

	ok &= !curl_easy_setopt(e, CURLOPT_URL, rq->url);
	ok &= !curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	ok &= !curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	ok &= !curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	ok &= !curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	ok &= !curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	ok &= !curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t);
	ok &= !curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(t < 10000 ? t : 10000));
	ok &= !curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	ok &= !curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	ok &= !curl_easy_setopt(e, CURLOPT_USERAGENT, "dosips/" DOSIPS_VERSION);
	ok &= !curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	ok &= !curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->max_bytes);
	ok &= !curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	ok &= !curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	ok &= !curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	ok &= !curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	ok &= !curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	ok &= !curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	if (rq->cainfo)
		ok &= !curl_easy_setopt(e, CURLOPT_CAINFO, rq->cainfo);
	if (rq->body) {
		ok &= !curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		ok &= !curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, rq->body);
	}
	if (strcmp(m, "POST") != 0 && (strcmp(m, "GET") != 0 || rq->body))
		ok &= !curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	if (q->hdrs)
		ok &= !curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->hdrs);
	return ok;
}

static bool method_ok(const char *m)
{
	static const char *const known[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return strcmp(m, "HEAD") != 0;   /* no body to give: not offered */
	return false;
}

int64_t webclient_request(struct webclient *wc, const struct web_request *rq,
			  web_done_fn done, void *ctx)
{
	struct web_req *q;

	if (!rq->url || (strncasecmp(rq->url, "http://", 7) != 0 &&
			 strncasecmp(rq->url, "https://", 8) != 0) ||
	    (rq->method && !method_ok(rq->method)) || !done)
		return -EINVAL;
	if (!(q = calloc(1, sizeof(*q))) || !(q->easy = curl_easy_init()))
		goto nomem;
	q->wc = wc;
	q->done = done;
	q->ctx = ctx;
	q->max_bytes = rq->max_bytes ? rq->max_bytes : WEB_MAX_BYTES;
	for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
		struct curl_slist *l = curl_slist_append(q->hdrs, rq->headers[i]);

		if (!l)
			goto nomem;
		q->hdrs = l;
	}
	if (!req_setopt(q, rq) || curl_multi_add_handle(wc->multi, q->easy) != CURLM_OK) {
		req_free(q);
		return -EINVAL;
	}
	q->id = ++wc->next_id;
	q->next = wc->reqs;
	if (wc->reqs)
		wc->reqs->prev = q;
	wc->reqs = q;
	wc->pending++;
	return q->id;
nomem:
	if (q)
		req_free(q);
	return -ENOMEM;
}

void webclient_cancel(struct webclient *wc, int64_t id)
{
	for (struct web_req *q = wc->reqs; q; q = q->next) {
		if (q->id == id) {
			req_unlink(q);
			req_free(q);
			return;
		}
	}
}

unsigned webclient_pending(const struct webclient *wc)
{
	return wc->pending;
}

const char *web_response_header(const struct web_response *r, const char *name, char *buf,
				size_t len)
{
	size_t nl = strlen(name);

	for (const char *l = r->headers; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
		const char *v, *end;

		if (strncasecmp(l, name, nl) != 0 || l[nl] != ':')
			continue;
		for (v = l + nl + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (end = v; *end && *end != '\r' && *end != '\n'; end++)
			;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (!len)
			return NULL;
		snprintf(buf, len, "%.*s", (int)(end - v), v);
		return buf;
	}
	return NULL;
}

void webclient_free(struct webclient *wc)
{
	if (!wc)
		return;
	while (wc->reqs)
		req_finish(wc->reqs, -ECANCELED, "cancelled: dosips is stopping");
	ev_timer_stop(wc->loop, &wc->timer);
	curl_multi_cleanup(wc->multi);
	free(wc);
}
