/* feeds_parse.c - the formats blocklists come in, and range arithmetic.
 *
 * Pure functions, no I/O, so the fuzzer and the unit tests drive them
 * directly. A feed is all or nothing: one line that is neither a comment
 * nor an address or CIDR refuses the whole body (a truncated download or
 * an HTML error page must never replace a good list), and the error names
 * the line (text formats) or the byte offset (JSON) where it went wrong.
 *
 *  netset  FireHOL: '#' comment lines, one address or CIDR per line.
 *  drop    Spamhaus DROP/EDROP text: "CIDR ; SBLnnnn", ';' comments.
 *  plain   one address or CIDR per line, '#' comments anywhere.
 *  json    an array of strings or of objects with "ipAddress", "ip",
 *          "cidr" or "network", or an object whose "data" is such an
 *          array (AbuseIPDB's blacklist answer).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "feeds.h"

#define FEED_LINE_MAX 256

void feed_list_clear(struct feed_list *l)
{
	free(l->p);
	*l = (struct feed_list){ 0 };
}

static int feed_push(struct feed_list *l, const struct ip_prefix *p, size_t max)
{
	if (l->n >= max)
		return -E2BIG;
	if (l->n == l->cap) {
		size_t c = l->cap ? l->cap * 2 : 1024;
		struct ip_prefix *np = realloc(l->p, c * sizeof(*np));

		if (!np)
			return -ENOMEM;
		l->p = np;
		l->cap = c;
	}
	l->p[l->n++] = *p;
	return 0;
}

/* One token: an address or CIDR, nothing else. */
static int feed_token(const char *s, size_t n, struct ip_prefix *p)
{
	char buf[FEED_LINE_MAX];

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return prefix_parse(buf, p);
}

/* The token of one line with comments and blanks taken off; *tn is 0 for
 * a line with nothing on it. */
static const char *feed_line_token(enum feed_format fmt, const char *s, size_t n, size_t *tn)
{
	const char *c = fmt == FEED_DROP ? memchr(s, ';', n) : memchr(s, '#', n);

	if (c)
		n = (size_t)(c - s);
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	*tn = n;
	return s;
}

static int feed_parse_text(enum feed_format fmt, const char *buf, size_t len, size_t max,
			   struct feed_list *out, char *err, size_t errlen)
{
	size_t line = 0, off = 0;

	while (off < len) {
		const char *s = buf + off, *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off, tn;
		const char *t = feed_line_token(fmt, s, n, &tn);
		struct ip_prefix p;
		int r;

		line++;
		off += n + (nl != NULL);
		if (tn == 0)
			continue;
		if (feed_token(t, tn, &p) < 0) {
			snprintf(err, errlen, "line %zu: not an address or CIDR: \"%.*s\"", line,
				 (int)(tn > 40 ? 40 : tn), t);
			return -EINVAL;
		}
		if ((r = feed_push(out, &p, max)) < 0) {
			snprintf(err, errlen, "line %zu: %s", line,
				 r == -E2BIG ? "more entries than max_entries" : "out of memory");
			return r;
		}
	}
	return 0;
}

/* One element of a JSON list: a string, or an object naming the address. */
static const char *feed_json_addr(struct json_object *el)
{
	static const char *const keys[] = { "ipAddress", "ip", "cidr", "network" };
	struct json_object *v;

	if (json_object_is_type(el, json_type_string))
		return json_object_get_string(el);
	if (!json_object_is_type(el, json_type_object))
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_object_get_ex(el, keys[i], &v) &&
		    json_object_is_type(v, json_type_string))
			return json_object_get_string(v);
	return NULL;
}

static int feed_json_list(struct json_object *arr, size_t max, struct feed_list *out,
			  char *err, size_t errlen)
{
	size_t n = json_object_array_length(arr);

	for (size_t i = 0; i < n; i++) {
		const char *s = feed_json_addr(json_object_array_get_idx(arr, i));
		struct ip_prefix p;
		int r;

		if (!s || prefix_parse(s, &p) < 0) {
			snprintf(err, errlen, "element %zu: not an address or CIDR%s%.40s%s", i,
				 s ? ": \"" : "", s ? s : "", s ? "\"" : "");
			return -EINVAL;
		}
		if ((r = feed_push(out, &p, max)) < 0) {
			snprintf(err, errlen, "element %zu: %s", i,
				 r == -E2BIG ? "more entries than max_entries" : "out of memory");
			return r;
		}
	}
	return 0;
}

static int feed_parse_json(const char *buf, size_t len, size_t max, struct feed_list *out,
			   char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *data;
	int r = -EINVAL;

	if (!tok)
		return -ENOMEM;
	if (len > INT32_MAX) {
		snprintf(err, errlen, "byte 0: too large");
		goto out;
	}
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		snprintf(err, errlen, "byte %zu: %s", json_tokener_get_parse_end(tok),
			 e == json_tokener_continue ? "unexpected end of input" :
			 e == json_tokener_success ? "data after the JSON value" :
			 json_tokener_error_desc(e));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "data", &data))
		data = root;  /* borrowed from root either way */
	if (!json_object_is_type(data, json_type_array)) {
		snprintf(err, errlen, "byte 0: expected an array, or an object with \"data\"");
		goto out;
	}
	r = feed_json_list(data, max, out, err, errlen);
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int feed_parse(enum feed_format fmt, const char *buf, size_t len, size_t max,
	       struct feed_list *out, char *err, size_t errlen)
{
	if (fmt == FEED_JSON)
		return feed_parse_json(buf, len, max, out, err, errlen);
	if ((unsigned)fmt >= FEED__MAX) {
		snprintf(err, errlen, "unknown format");
		return -EINVAL;
	}
	return feed_parse_text(fmt, buf, len, max, out, err, errlen);
}

static int addr_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	return memcmp(a->b, b->b, 16);
}

/* x + 1 and x - 1 (callers know they do not wrap). */
static struct ip_addr addr_step(struct ip_addr x, int d)
{
	for (int i = 15; i >= 0; i--) {
		uint8_t old = x.b[i];

		x.b[i] = (uint8_t)(old + d);
		if ((d > 0 && x.b[i] != 0) || (d < 0 && old != 0))
			break;
	}
	return x;
}

size_t feed_ranges_subtract(const struct ip_range *a, size_t na, const struct ip_range *w,
			    size_t nw, struct ip_range *out,
			    void (*cb)(const struct ip_range *a, const struct ip_range *w, void *ctx),
			    void *ctx)
{
	size_t k = 0, j = 0;

	for (size_t i = 0; i < na; i++) {
		struct ip_range cur = a[i];
		bool live = true;

		while (j < nw && addr_cmp(&w[j].last, &cur.first) < 0)
			j++;
		for (size_t m = j; live && m < nw && addr_cmp(&w[m].first, &a[i].last) <= 0; m++) {
			if (cb)
				cb(&a[i], &w[m], ctx);
			if (addr_cmp(&w[m].first, &cur.first) > 0)
				out[k++] = (struct ip_range){ cur.first, addr_step(w[m].first, -1) };
			if (addr_cmp(&w[m].last, &cur.last) >= 0)
				live = false;
			else
				cur.first = addr_step(w[m].last, 1);
		}
		if (live)
			out[k++] = cur;
	}
	return k;
}

bool feed_ranges_contain(const struct ip_range *r, size_t n, const struct ip_addr *x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr_cmp(&r[mid].last, x) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && addr_cmp(&r[lo].first, x) <= 0;
}
