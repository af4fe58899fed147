/* http.c - libmicrohttpd driven by the libev loop: /metrics, the page and
 * its JSON API, for people and Prometheus.
 *
 * No thread of its own: each listener is an MHD daemon started with
 * MHD_USE_EPOLL, whose epoll descriptor is one ev_io, plus one ev_timer
 * armed from MHD_get_timeout after every MHD_run. Every answer is built in
 * memory at once from counters the loop already has (a scrape is a few
 * kilobytes), so a request costs the loop microseconds and a slow client
 * only ever holds its own socket buffer. Bounds: http_max_clients
 * connections per listener, 32 KiB of headers, 8 KiB of body, and an
 * idle connection closed after http_timeout.
 *
 * The live feed is server-sent events from a ring of the bus's JSON lines:
 * a reader callback writes what a client has not seen, and with nothing
 * left suspends its connection; the bus subscriber resumes the suspended
 * ones and runs the daemons on the next loop iteration (MHD's own
 * wake-up is not seen through its epoll descriptor), and a heartbeat
 * every 15 s does too, so a client that went away is noticed.
 * A client too slow for the ring skips what was overwritten.
 *
 * Roles: on a loopback address the page is read-only to anyone (viewer);
 * a token from the http_tokens file ("token role [name]" lines, roles
 * viewer and admin), given as "Authorization: Bearer TOKEN" or ?token=, is
 * required on any other address, and only admin may change anything
 * (POST); a viewer gets 403. The page's files are compiled in (web/), so
 * nothing is read from disk or fetched from anywhere at run time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "page.h"

#define HTTP_BODY_MAX 8192
#define HTTP_MEM_LIMIT (32 * 1024)
#define HTTP_RING 256            /* events kept for the live feed */
#define HTTP_EVENT_MAX 1024
#define HTTP_BACKLOG 50          /* events a new feed client starts with */
#define HTTP_PING_S 15.0
#define HTTP_TOKENS_MAX 64

/* The page's files, compiled in from web/ (see the Makefile). */
#define ASSET(sym, file)                                                     \
	extern const char sym[], sym##_end[];                                \
	__asm__(".pushsection .rodata\n.balign 16\n" #sym ":\n.incbin \"" file \
		"\"\n" #sym "_end:\n.byte 0\n.popsection")
ASSET(web_index, "web/index.html");
ASSET(web_app, "web/app.js");
ASSET(web_style, "web/style.css");

static const struct {
	const char *path, *type, *start, *end;
} assets[] = {
	{ "/", "text/html; charset=utf-8", web_index, web_index_end },
	{ "/app.js", "text/javascript; charset=utf-8", web_app, web_app_end },
	{ "/style.css", "text/css; charset=utf-8", web_style, web_style_end },
};

enum role { ROLE_NONE, ROLE_VIEWER, ROLE_ADMIN };

struct token {
	char token[128], name[64];
	enum role role;
};

struct sse {
	struct http *h;
	struct MHD_Connection *conn;
	uint64_t next;               /* sequence number of the next event to send */
	bool suspended, ping;
	struct sse *prev, *nxt;
};

struct http_srv {
	struct http *h;
	struct MHD_Daemon *d;
	bool loopback;
	bool kick;                   /* run again at once (see srv_kick) */
	ev_io io;
	ev_timer tm;
};

struct http {
	struct ev_loop *loop;
	struct http_view v;
	struct page *page;
	struct http_srv srv[2];
	int nsrv;
	struct token tokens[HTTP_TOKENS_MAX];
	int ntokens;
	struct { uint32_t len; char json[HTTP_EVENT_MAX]; } ring[HTTP_RING];
	uint64_t seq;                /* events queued so far */
	struct sse *feeds;
	ev_timer ping;
	bool closing;
};

/* What one request gathers before it is answered. */
struct req {
	char body[HTTP_BODY_MAX + 1];
	size_t len;
	bool too_big, seen;
};

/* ---- tokens ---------------------------------------------------------- */

/* Reads "token role [name]" lines; '#' starts a comment. */
static int load_tokens(struct http *h, const char *path, char *err, size_t errlen)
{
	char line[512], tok[128], role[16], name[64];
	unsigned lineno = 0;
	struct stat st;
	FILE *f;

	if (!*path)
		return 0;
	if (!(f = fopen(path, "re"))) {
		snprintf(err, errlen, "http_tokens %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0004))
		log_warn("http_tokens %s is readable by everyone: chmod o-r it", path);
	while (fgets(line, sizeof(line), f)) {
		int n;

		lineno++;
		*name = '\0';
		if ((n = sscanf(line, "%127s %15s %63s", tok, role, name)) <= 0 || *tok == '#')
			continue;
		if (n < 2 || (strcmp(role, "viewer") && strcmp(role, "admin")) ||
		    strlen(tok) < 16 || h->ntokens == HTTP_TOKENS_MAX) {
			snprintf(err, errlen, "%s:%u: expected TOKEN (16 characters or more) "
				 "viewer|admin [NAME]%s", path, lineno,
				 h->ntokens == HTTP_TOKENS_MAX ? " (64 tokens at most)" : "");
			fclose(f);
			return -EINVAL;
		}
		struct token *t = &h->tokens[h->ntokens++];
		snprintf(t->token, sizeof(t->token), "%s", tok);
		snprintf(t->name, sizeof(t->name), "%s", *name ? name : "token");
		t->role = *role == 'a' ? ROLE_ADMIN : ROLE_VIEWER;
	}
	fclose(f);
	return 0;
}

/* ---- the loop --------------------------------------------------------- */

static void srv_arm(struct http_srv *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(s->h->loop, &s->tm);
	if (s->kick || MHD_get_timeout(s->d, &ms) == MHD_YES) {
		ev_timer_set(&s->tm, s->kick ? 0. : ms / 1000.0, 0.);
		ev_timer_start(s->h->loop, &s->tm);
	}
}

static void srv_run(struct http_srv *s)
{
	s->kick = false;
	MHD_run(s->d);
	srv_arm(s);
}

static void on_srv_io(struct ev_loop *loop, ev_io *w, int revents)
{
	srv_run(w->data);
}

static void on_srv_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	srv_run(w->data);
}

/* After a resume (from the bus, the heartbeat, or a request's own
 * change): MHD's wake-up does not reach our epoll watcher, so each daemon
 * runs again on the next loop iteration, through its timer (kept at 0 by
 * srv_arm when the resume came from inside MHD_run). */
static void srv_kick(struct http *h)
{
	for (int i = 0; i < h->nsrv; i++) {
		h->srv[i].kick = true;
		srv_arm(&h->srv[i]);
	}
}

/* ---- answers ---------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const void *buf, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)buf, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON error: {"error":"message"}. */
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "{\"error\":\"%s\"}", msg);

	return reply(c, status, "application/json", buf, (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result reply_owned(struct MHD_Connection *c, unsigned status,
				   const char *type, char *buf, size_t len)
{
	if (!buf)
		return reply_error(c, 500, "out of memory");
	return reply(c, status, type, buf, len, MHD_RESPMEM_MUST_FREE);
}

/* ---- the live feed ---------------------------------------------------- */

void http_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct http *h = ctx;

	if (!len || len >= HTTP_EVENT_MAX)
		return;
	memcpy(h->ring[h->seq % HTTP_RING].json, json, len);
	h->ring[h->seq % HTTP_RING].len = (uint32_t)len;
	h->seq++;
	for (struct sse *s = h->feeds; s; s = s->nxt) {
		if (s->suspended) {
			s->suspended = false;
			MHD_resume_connection(s->conn);
		}
	}
	srv_kick(h);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	struct http *h = s->h;
	size_t n = 0;

	if (h->seq - s->next > HTTP_RING)
		s->next = h->seq - HTTP_RING;
	while (s->next < h->seq) {
		const char *json = h->ring[s->next % HTTP_RING].json;
		uint32_t len = h->ring[s->next % HTTP_RING].len;

		if (n + len + 40 > max)
			break;
		n += (size_t)sprintf(buf + n, "id: %" PRIu64 "\ndata: %.*s\n\n", s->next,
				     (int)len, json);
		s->next++;
	}
	if (n)
		return (ssize_t)n;
	if (h->closing)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (s->ping) {
		s->ping = false;
		memcpy(buf, ": ping\n\n", 8);
		return 8;
	}
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	return 0;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;

	if (s->prev)
		s->prev->nxt = s->nxt;
	else
		s->h->feeds = s->nxt;
	if (s->nxt)
		s->nxt->prev = s->prev;
	free(s);
}

static void on_ping(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http *h = w->data;

	for (struct sse *s = h->feeds; s; s = s->nxt) {
		s->ping = true;
		if (s->suspended) {
			s->suspended = false;
			MHD_resume_connection(s->conn);
		}
	}
	srv_kick(h);
}

static enum MHD_Result serve_feed(struct http *h, struct MHD_Connection *c)
{
	struct sse *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!s)
		return reply_error(c, 500, "out of memory");
	*s = (struct sse){ .h = h, .conn = c, .ping = true,
			   .next = h->seq > HTTP_BACKLOG ? h->seq - HTTP_BACKLOG : 0 };
	if (!(r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s,
						    sse_free))) {
		free(s);
		return MHD_NO;
	}
	s->nxt = h->feeds;
	if (h->feeds)
		h->feeds->prev = s;
	h->feeds = s;
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- requests --------------------------------------------------------- */

static bool token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* The caller's role: a valid token's, else viewer on loopback, else none
 * (*bad when a token was given but is unknown). */
static enum role caller_role(const struct http_srv *s, struct MHD_Connection *c,
			     const char **who, bool *bad)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *tok = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		tok = auth + 7;
	*bad = false;
	*who = "loopback";
	if (tok && *tok) {
		for (int i = 0; i < s->h->ntokens; i++) {
			if (token_eq(tok, s->h->tokens[i].token)) {
				*who = s->h->tokens[i].name;
				return s->h->tokens[i].role;
			}
		}
		*bad = true;
		return ROLE_NONE;
	}
	return s->loopback ? ROLE_VIEWER : ROLE_NONE;
}

static const char *query_get(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result serve_get(struct http_srv *s, struct MHD_Connection *c,
				 const char *url, const struct page_caller *pc)
{
	struct http *h = s->h;
	size_t len = 0;
	char *buf;
	int status = 200;

	if (strcmp(url, "/metrics") == 0) {
		buf = metrics_render(h->v.metrics, h->v.ctl, &len);
		return reply_owned(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	}
	if (strcmp(url, "/api/state") == 0) {
		buf = page_state_json(h->page, pc, &len);
		return reply_owned(c, 200, "application/json", buf, len);
	}
	if (strcmp(url, "/api/history") == 0) {
		buf = page_history_json(h->page, query_get, c, &status, &len);
		return reply_owned(c, (unsigned)status, "application/json", buf, len);
	}
	if (strcmp(url, "/api/events") == 0)
		return serve_feed(h, c);
	return reply_error(c, 404, "no such page");
}

static enum MHD_Result serve_post(struct http_srv *s, struct MHD_Connection *c,
				  const char *url, struct req *rq, const struct page_caller *pc)
{
	char *buf = NULL;
	size_t len = 0;
	int status;

	if (strncmp(url, "/api/", 5) != 0 || strchr(url + 5, '/'))
		return reply_error(c, 404, "no such action");
	if (rq->too_big)
		return reply_error(c, 413, "request body over 8 KiB");
	rq->body[rq->len] = '\0';
	status = page_action(s->h->page, url + 5, rq->body, pc, &buf, &len);
	return reply_owned(c, (unsigned)status, "application/json", buf, len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_srv *s = cls;
	struct req *rq = *con_cls;
	struct page_caller pc;
	bool post = strcmp(method, "POST") == 0, bad;
	enum role role;

	if (!rq) {
		if (!(rq = calloc(1, sizeof(*rq))))
			return MHD_NO;
		*con_cls = rq;
		if (post)
			return MHD_YES;  /* the body comes in the next calls */
	}
	if (post && *upload_size) {
		if (rq->len + *upload_size > HTTP_BODY_MAX)
			rq->too_big = true;
		else
			memcpy(rq->body + rq->len, upload, *upload_size), rq->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	/* The page's own files hold no data: anyone may load them, and the
	 * page then asks for a token where one is needed. */
	for (size_t i = 0; !post && i < sizeof(assets) / sizeof(assets[0]); i++)
		if (strcmp(url, assets[i].path) == 0)
			return reply(c, 200, assets[i].type, assets[i].start,
				     (size_t)(assets[i].end - assets[i].start),
				     MHD_RESPMEM_PERSISTENT);
	role = caller_role(s, c, &pc.who, &bad);
	pc.role = role == ROLE_ADMIN ? "admin" : "viewer";
	if (role == ROLE_NONE)
		return reply_error(c, 401, bad ? "unknown token" : "a token is needed here");
	if (post)
		return serve_post(s, c, url, rq, &pc);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_error(c, 405, "GET or POST only");
	return serve_get(s, c, url, &pc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	free(*con_cls);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: %s", line);
}

/* ---- set-up ----------------------------------------------------------- */

static int listen_socket(const struct http_addr *a, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, r;
	const void *ip = a->sa.ss_family == AF_INET ?
			 (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr :
			 (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) == 0 && listen(fd, 64) == 0)
		return fd;
fail:
	r = -errno;
	inet_ntop(a->sa.ss_family, ip, host, sizeof(host));
	snprintf(err, errlen, "http_listen: cannot listen on %s%s%s port %u: %s",
		 a->sa.ss_family == AF_INET6 ? "[" : "", host,
		 a->sa.ss_family == AF_INET6 ? "]" : "",
		 ntohs(((const struct sockaddr_in *)&a->sa)->sin_port), strerror(-r));
	if (fd >= 0)
		close(fd);
	return r;
}

static int srv_start(struct http *h, struct http_srv *s, const struct http_addr *a,
		     const struct config *cfg, char *err, size_t errlen)
{
	const union MHD_DaemonInfo *info;
	int fd = listen_socket(a, err, errlen);
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			 (a->sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);

	if (fd < 0)
		return fd;
	s->h = h;
	s->loopback = a->loopback;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_clients,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_timeout_s,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEM_LIMIT,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (!s->d || !(info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD))) {
		snprintf(err, errlen, "http: libmicrohttpd would not start");
		if (!s->d)
			close(fd);
		return -EIO;
	}
	ev_io_init(&s->io, on_srv_io, info->epoll_fd, EV_READ);
	s->io.data = s;
	ev_io_start(h->loop, &s->io);
	ev_init(&s->tm, on_srv_timer);
	s->tm.data = s;
	srv_arm(s);
	return 0;
}

int http_open(struct ev_loop *loop, const struct config *cfg, const struct http_view *v,
	      struct http **out, char *err, size_t errlen)
{
	struct http_addr a[2];
	struct http *h;
	const char *why;
	int n = http_listen_parse(cfg->http_listen, a, &why), r = -ENOMEM;

	if (n < 0) {
		snprintf(err, errlen, "http_listen %s: %s", cfg->http_listen, why);
		return n;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		snprintf(err, errlen, "http: out of memory");
		return -ENOMEM;
	}
	h->loop = loop;
	h->v = *v;
	if ((r = load_tokens(h, cfg->http_tokens, err, errlen)) < 0)
		goto fail;
	if ((r = page_new(loop, &h->v, &h->page)) < 0) {
		snprintf(err, errlen, "http: out of memory");
		goto fail;
	}
	for (h->nsrv = 0; h->nsrv < n; h->nsrv++)
		if ((r = srv_start(h, &h->srv[h->nsrv], &a[h->nsrv], cfg, err, errlen)) < 0)
			goto fail;
	ev_timer_init(&h->ping, on_ping, HTTP_PING_S, HTTP_PING_S);
	h->ping.data = h;
	ev_timer_start(loop, &h->ping);
	ev_unref(loop);  /* the heartbeat alone must not keep the loop alive */
	*out = h;
	return 0;
fail:
	http_close(h);
	return r;
}

void http_close(struct http *h)
{
	if (!h)
		return;
	h->closing = true;
	/* MHD must not be stopped with suspended connections. */
	for (struct sse *s = h->feeds; s; s = s->nxt)
		if (s->suspended)
			s->suspended = false, MHD_resume_connection(s->conn);
	for (int i = 0; i < h->nsrv + 1 && i < 2; i++) {
		struct http_srv *s = &h->srv[i];

		if (!s->d)
			continue;
		ev_io_stop(h->loop, &s->io);
		ev_timer_stop(h->loop, &s->tm);
		MHD_run(s->d);
		MHD_stop_daemon(s->d);
	}
	if (ev_is_active(&h->ping)) {
		ev_ref(h->loop);
		ev_timer_stop(h->loop, &h->ping);
	}
	page_free(h->page);
	free(h);
}
