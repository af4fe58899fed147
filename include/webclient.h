/* webclient.h - asynchronous HTTP(S) requests driven by the libev loop. */
#ifndef DOSIPS_WEBCLIENT_H
#define DOSIPS_WEBCLIENT_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* One request. Strings are copied by webclient_request. */
struct web_request {
	const char *method;           /* "GET" (NULL), "POST", "PUT", "DELETE" */
	const char *url;              /* http:// or https:// only */
	const char *const *headers;   /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;             /* sent as is (POST/PUT), or NULL */
	size_t body_len;
	uint32_t timeout_ms;          /* whole transfer; 0 = 30 s */
	size_t max_bytes;             /* answer body cap; 0 = 16 MiB */
	const char *cainfo;           /* CA bundle to trust; NULL = the system's */
};

/* The answer, valid only during the callback. */
struct web_response {
	int status;                   /* HTTP status; 0 when none came */
	int err;                      /* 0, or -errno-like: -ETIMEDOUT, -ECONNREFUSED,
					 -EFBIG (over max_bytes), -EPROTO (TLS, ...),
					 -ECANCELED (webclient_free) */
	const char *error;            /* words for err ("" when 0) */
	const char *body;             /* NUL-terminated, len bytes */
	size_t len;
	const char *headers;          /* the last response's header block */
	double seconds;               /* total time of the transfer */
};

/* Called once per request, on the loop, when it ends however it ends. */
typedef void (*web_done_fn)(const struct web_response *r, void *ctx);

struct webclient;

/* A client on loop (curl's global init is done once here); 0 or -errno,
 * with curl's words in err. */
int webclient_new(struct ev_loop *loop, struct webclient **out, char *err, size_t errlen);

/* Starts rq; done runs later (never from inside this call). Returns the
 * request's id (> 0) or -errno (-EINVAL for a bad method or URL scheme). */
int64_t webclient_request(struct webclient *wc, const struct web_request *rq,
			  web_done_fn done, void *ctx);

/* Abandons request id without calling its done; an unknown id is fine. */
void webclient_cancel(struct webclient *wc, int64_t id);

/* Requests in flight. */
unsigned webclient_pending(const struct webclient *wc);

/* The value of header name (case-insensitive) in r, copied into buf
 * (trimmed); NULL when absent. */
const char *web_response_header(const struct web_response *r, const char *name, char *buf,
				size_t len);

/* Ends every request (their done gets -ECANCELED) and frees wc; NULL is
 * fine. */
void webclient_free(struct webclient *wc);

#endif
