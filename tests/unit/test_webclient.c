/* test_webclient.c - the async HTTP client against a tiny HTTP server that
 * runs in the same loop on 127.0.0.1: answers, headers, POST bodies, the
 * size cap, time-outs, refused connections, cancel and free. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "webclient.h"

/* The server: one canned answer for every request, or silence. */
struct srv {
	int fd, port;
	ev_io accept_w;
	const char *answer;         /* NULL: read and never answer */
	char last_req[4096];        /* the last request, headers and body */
	size_t last_len;
	int conns;
};

struct conn {
	ev_io w;
	struct srv *s;
	int fd;
	char buf[4096];
	size_t len;
};

/* What the done callback saw. */
struct seen {
	int calls, status, err;
	char body[256], etag[64];
	size_t len;
};

static struct ev_loop *loop;

/* A request is whole once its headers ended and Content-Length bytes came. */
static int req_complete(const char *b, size_t len)
{
	const char *end = memmem(b, len, "\r\n\r\n", 4), *cl = strcasestr(b, "content-length:");
	size_t need = cl ? strtoul(cl + 15, NULL, 10) : 0;

	return end && (size_t)(b + len - (end + 4)) >= need;
}

static void on_conn(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = w->data;
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		if (!req_complete(c->buf, c->len))
			return;
		memcpy(c->s->last_req, c->buf, c->len + 1);
		c->s->last_len = c->len;
		if (!c->s->answer)
			return;   /* silent: the client's time-out ends it */
		assert_true(write(c->fd, c->s->answer, strlen(c->s->answer)) > 0);
	}
	ev_io_stop(l, w);
	close(c->fd);
	free(c);
}

static void on_accept(struct ev_loop *l, ev_io *w, int revents)
{
	struct srv *s = w->data;
	struct conn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->s = s;
	c->fd = accept(s->fd, NULL, NULL);
	assert_true(c->fd >= 0);
	s->conns++;
	ev_io_init(&c->w, on_conn, c->fd, EV_READ);
	c->w.data = c;
	ev_io_start(l, &c->w);
}

static void srv_start(struct srv *s, const char *answer)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	assert_true((s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	ev_io_init(&s->accept_w, on_accept, s->fd, EV_READ);
	s->accept_w.data = s;
	ev_io_start(loop, &s->accept_w);
}

static void srv_stop(struct srv *s)
{
	ev_io_stop(loop, &s->accept_w);
	close(s->fd);
}

static void done(const struct web_response *r, void *ctx)
{
	struct seen *s = ctx;
	char tag[64];

	s->calls++;
	s->status = r->status;
	s->err = r->err;
	s->len = r->len;
	snprintf(s->body, sizeof(s->body), "%s", r->body);
	if (web_response_header(r, "etag", tag, sizeof(tag)))
		snprintf(s->etag, sizeof(s->etag), "%s", tag);
	if (r->err)
		assert_true(*r->error);
}

/* Runs the loop until n callbacks came (or 10 s passed: a failure). */
static void run_until(struct seen *s, int n)
{
	ev_tstamp end = ev_time() + 10;

	while (s->calls < n && ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
	assert_int_equal(s->calls, n);
}

static char *url(char *buf, size_t len, int port, const char *path)
{
	snprintf(buf, len, "http://127.0.0.1:%d%s", port, path);
	return buf;
}

static void test_get_answer_and_headers(void **state)
{
	struct webclient *wc;
	struct srv s;
	struct seen seen = { 0 };
	char u[64], err[128];
	const char *hdrs[] = { "If-None-Match: \"v1\"", NULL };
	struct web_request rq = { .url = u, .headers = hdrs };

	srv_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nETag:  \"v2\" \r\n"
		  "Connection: close\r\n\r\n198.18.0.1\n");
	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	url(u, sizeof(u), s.port, "/feed.netset");
	assert_true(webclient_request(wc, &rq, done, &seen) > 0);
	assert_int_equal(seen.calls, 0);          /* never from inside the call */
	assert_int_equal(webclient_pending(wc), 1);
	run_until(&seen, 1);
	assert_int_equal(seen.err, 0);
	assert_int_equal(seen.status, 200);
	assert_string_equal(seen.body, "198.18.0.1\n");
	assert_string_equal(seen.etag, "\"v2\"");
	assert_non_null(strstr(s.last_req, "GET /feed.netset HTTP/1.1"));
	assert_non_null(strstr(s.last_req, "If-None-Match: \"v1\""));
	assert_int_equal(webclient_pending(wc), 0);
	webclient_free(wc);
	srv_stop(&s);
}

static void test_post_body_and_status(void **state)
{
	struct webclient *wc;
	struct srv s;
	struct seen seen = { 0 };
	char u[64], err[128];
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	const char *body = "{\"text\":\"ban 198.18.0.3\"}";
	struct web_request rq = { .method = "POST", .url = u, .headers = hdrs, .body = body,
				  .body_len = strlen(body) };

	srv_start(&s, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
		  "Content-Length: 0\r\nConnection: close\r\n\r\n");
	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	url(u, sizeof(u), s.port, "/");
	assert_true(webclient_request(wc, &rq, done, &seen) > 0);
	url(u, sizeof(u), 1, "");                 /* copied: changing it is harmless */
	run_until(&seen, 1);
	assert_int_equal(seen.err, 0);
	assert_int_equal(seen.status, 429);
	assert_non_null(strstr(s.last_req, "POST / HTTP/1.1"));
	assert_non_null(strstr(s.last_req, "\r\n\r\n{\"text\":\"ban 198.18.0.3\"}"));
	webclient_free(wc);
	srv_stop(&s);
}

static void test_size_cap(void **state)
{
	static char answer[8192];
	struct webclient *wc;
	struct srv s;
	struct seen seen = { 0 };
	char u[64], err[128];
	struct web_request rq = { .url = u, .max_bytes = 1000 };
	int n = snprintf(answer, sizeof(answer),
			 "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n");

	memset(answer + n, 'x', 4000);
	srv_start(&s, answer);
	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	url(u, sizeof(u), s.port, "/big");
	assert_true(webclient_request(wc, &rq, done, &seen) > 0);
	run_until(&seen, 1);
	assert_int_equal(seen.err, -EFBIG);
	assert_true(seen.len <= 1000);
	webclient_free(wc);
	srv_stop(&s);
}

static void test_timeout_and_refused(void **state)
{
	struct webclient *wc;
	struct srv s;
	struct seen slow = { 0 }, refused = { 0 };
	char u1[64], u2[64], err[128];
	struct web_request rq1 = { .url = u1, .timeout_ms = 300 }, rq2 = { .url = u2 };
	int closed;

	srv_start(&s, NULL);
	/* A port that was just free and is closed again refuses. */
	{
		struct srv tmp;

		srv_start(&tmp, NULL);
		closed = tmp.port;
		srv_stop(&tmp);
	}
	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	url(u1, sizeof(u1), s.port, "/hang");
	url(u2, sizeof(u2), closed, "/");
	assert_true(webclient_request(wc, &rq1, done, &slow) > 0);
	assert_true(webclient_request(wc, &rq2, done, &refused) > 0);
	run_until(&refused, 1);
	assert_int_equal(refused.err, -ECONNREFUSED);
	run_until(&slow, 1);
	assert_int_equal(slow.err, -ETIMEDOUT);
	assert_int_equal(slow.status, 0);
	webclient_free(wc);
	srv_stop(&s);
}

static void test_cancel_free_and_bad_requests(void **state)
{
	struct webclient *wc;
	struct srv s;
	struct seen a = { 0 }, b = { 0 };
	char u[64], err[128];
	struct web_request rq = { .url = u };
	int64_t id;

	srv_start(&s, NULL);
	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	url(u, sizeof(u), s.port, "/");
	assert_true((id = webclient_request(wc, &rq, done, &a)) > 0);
	assert_true(webclient_request(wc, &rq, done, &b) > id);
	webclient_cancel(wc, id);
	webclient_cancel(wc, 12345);              /* unknown: fine */
	assert_int_equal(webclient_pending(wc), 1);
	for (int i = 0; i < 20; i++)
		ev_run(loop, EVRUN_NOWAIT);
	webclient_free(wc);                       /* b ends as cancelled */
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, -ECANCELED);
	srv_stop(&s);

	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	rq.url = "file:///etc/passwd";
	assert_int_equal(webclient_request(wc, &rq, done, &a), -EINVAL);
	rq.url = "gopher://198.18.0.1/";
	assert_int_equal(webclient_request(wc, &rq, done, &a), -EINVAL);
	rq.url = "http://198.18.0.1/";
	rq.method = "TRACE";
	assert_int_equal(webclient_request(wc, &rq, done, &a), -EINVAL);
	assert_int_equal(webclient_pending(wc), 0);
	webclient_free(wc);
	webclient_free(NULL);
}

/* A redirect to a scheme other than http(s) is refused, not followed. */
static void test_redirect_to_file_refused(void **state)
{
	struct webclient *wc;
	struct srv s;
	struct seen seen = { 0 };
	char u[64], err[128];
	struct web_request rq = { .url = u };

	srv_start(&s, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
		  "Content-Length: 0\r\nConnection: close\r\n\r\n");
	assert_int_equal(webclient_new(loop, &wc, err, sizeof(err)), 0);
	url(u, sizeof(u), s.port, "/r");
	assert_true(webclient_request(wc, &rq, done, &seen) > 0);
	run_until(&seen, 1);
	assert_int_equal(seen.err, -EPROTO);
	assert_null(strstr(seen.body, "root:"));
	webclient_free(wc);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_answer_and_headers),
		cmocka_unit_test(test_post_body_and_status),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_timeout_and_refused),
		cmocka_unit_test(test_cancel_free_and_bad_requests),
		cmocka_unit_test(test_redirect_to_file_refused),
	};

	loop = ev_default_loop(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
