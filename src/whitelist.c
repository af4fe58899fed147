/* whitelist.c - prefixes that are never banned, and a fast test against them.
 *
 * The prefixes are kept as given (they feed the firewall's allow sets) and,
 * for lookups, as sorted disjoint ranges built once after a load: a binary
 * search answers both "is this address inside" and "does this prefix touch
 * any". Until that index is rebuilt, lookups scan the prefixes. */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "routes.h"
#include "whitelist.h"

struct whitelist {
	struct ip_prefix *ent;
	size_t n, cap;
	struct ip_range *ranges;    /* valid when !dirty */
	size_t nranges;
	bool dirty;
};

int whitelist_new(struct whitelist **out)
{
	struct whitelist *wl = calloc(1, sizeof(*wl));

	if (!wl)
		return -ENOMEM;
	*out = wl;
	return 0;
}

void whitelist_free(struct whitelist *wl)
{
	if (!wl)
		return;
	free(wl->ent);
	free(wl->ranges);
	free(wl);
}

int whitelist_add(struct whitelist *wl, const struct ip_prefix *p)
{
	if (wl->n == wl->cap) {
		size_t cap = wl->cap ? wl->cap * 2 : 32;
		struct ip_prefix *e = realloc(wl->ent, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		wl->ent = e;
		wl->cap = cap;
	}
	wl->ent[wl->n] = *p;
	addr_mask(&wl->ent[wl->n].addr, p->len);
	wl->n++;
	wl->dirty = true;
	return 0;
}

/* Sorted, merged ranges for the binary search. */
static int wl_build(struct whitelist *wl)
{
	struct ip_range *r = malloc((wl->n + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	free(wl->ranges);
	wl->ranges = r;
	wl->nranges = prefix_ranges(wl->ent, wl->n, r);
	wl->dirty = false;
	return 0;
}

/* The last range of the index starting at or before a, or NULL. */
static const struct ip_range *wl_floor(const struct whitelist *wl, const struct ip_addr *a)
{
	size_t lo = 0, hi = wl->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(wl->ranges[mid].first.b, a->b, 16) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? &wl->ranges[lo - 1] : NULL;
}

/* True when [first, last] meets a range of the index. */
static bool wl_search(const struct whitelist *wl, const struct ip_addr *first,
		      const struct ip_addr *last)
{
	/* The last range starting at or before last is the only candidate. */
	const struct ip_range *r = wl_floor(wl, last);

	return r && memcmp(r->last.b, first->b, 16) >= 0;
}

static bool wl_scan(const struct whitelist *wl, const struct ip_addr *first,
		    const struct ip_addr *last)
{
	for (size_t i = 0; i < wl->n; i++) {
		struct ip_addr l;

		prefix_last(&wl->ent[i], &l);
		if (memcmp(wl->ent[i].addr.b, last->b, 16) <= 0 && memcmp(l.b, first->b, 16) >= 0)
			return true;
	}
	return false;
}

bool whitelist_match(const struct whitelist *wl, const struct ip_addr *a)
{
	return wl->dirty ? wl_scan(wl, a, a) : wl_search(wl, a, a);
}

bool whitelist_overlaps(const struct whitelist *wl, const struct ip_prefix *p)
{
	struct ip_addr first = p->addr, last;

	addr_mask(&first, p->len);
	prefix_last(p, &last);
	return wl->dirty ? wl_scan(wl, &first, &last) : wl_search(wl, &first, &last);
}

bool whitelist_contains(const struct whitelist *wl, const struct ip_prefix *p)
{
	struct ip_addr first = p->addr, last;
	const struct ip_range *r;

	addr_mask(&first, p->len);
	prefix_last(p, &last);
	if (wl->dirty) {
		/* Before the index: one entry must hold it all. */
		for (size_t i = 0; i < wl->n; i++)
			if (wl->ent[i].len <= p->len &&
			    prefix_contains(&wl->ent[i], &first))
				return true;
		return false;
	}
	/* The ranges are merged: p lies inside one range or is not covered. */
	return (r = wl_floor(wl, &first)) && memcmp(r->last.b, last.b, 16) >= 0;
}

const struct ip_prefix *whitelist_entries(const struct whitelist *wl, size_t *n)
{
	*n = wl->n;
	return wl->ent;
}

/* ---- the file ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Parses one entry (a NUL-terminated word); 0 or -EINVAL with err set. */
static int wl_parse_entry(char *word, struct ip_prefix *p, char *err, size_t errlen)
{
	char *slash = strchr(word, '/');
	unsigned long len = 0;
	unsigned max;
	char *end;

	if (slash)
		*slash = '\0';
	if (addr_parse(word, &p->addr) < 0) {
		snprintf(err, errlen, "bad address '%s'", word);
		return -EINVAL;
	}
	max = addr_is_v4(&p->addr) ? 32 : 128;
	if (slash) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end || errno || len > max) {
			snprintf(err, errlen, "bad prefix length '/%s' (0 to %u)", slash + 1, max);
			return -EINVAL;
		}
	}
	p->len = (uint8_t)((slash ? len : max) + 128 - max);
	addr_mask(&p->addr, p->len);
	return 0;
}

/* One line: blank, a comment, or an entry with an optional comment. */
static int wl_parse_line(char *line, struct ip_prefix *p, bool *have, char *err, size_t errlen)
{
	char *s = line, *word, *rest;

	*have = false;
	while (is_space(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	word = s;
	while (*s && !is_space(*s) && *s != '#')
		s++;
	rest = s;
	while (is_space(*rest))
		rest++;
	if (*rest && *rest != '#') {
		char *e = rest + strlen(rest);

		while (e > rest && is_space(e[-1]))
			*--e = '\0';
		snprintf(err, errlen, "junk after entry: '%s'", rest);
		return -EINVAL;
	}
	*s = '\0';
	*have = true;
	return wl_parse_entry(word, p, err, errlen);
}

static int wl_load_stream(struct whitelist *wl, FILE *f, const char *path, char *err,
			  size_t errlen)
{
	char *line = NULL, msg[160];
	size_t cap = 0;
	unsigned lineno = 0;
	int r = 0;

	while (r == 0 && getline(&line, &cap, f) >= 0) {
		struct ip_prefix p;
		bool have;

		lineno++;
		if ((r = wl_parse_line(line, &p, &have, msg, sizeof(msg))) < 0)
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
		else if (have)
			r = whitelist_add(wl, &p);
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(EIO));
	}
	free(line);
	return r;
}

int whitelist_load(struct whitelist *wl, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	r = wl_load_stream(wl, f, path, err, errlen);
	fclose(f);
	if (r == 0 && (r = wl_build(wl)) < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	return r;
}

/* ---- this host ---- */

static int wl_add_addr(struct whitelist *wl, const char *text)
{
	struct ip_prefix p;

	if (prefix_parse(text, &p) < 0)
		return -EINVAL;
	return whitelist_add(wl, &p);
}

/* The broadcast address of i's IPv4 subnet: no host holds it, so a packet
 * "from" it is forged, and whoever it names is every host of the subnet.
 * Computed from the netmask: an address added without "brd" has none set. */
static int wl_add_broadcast(struct whitelist *wl, const struct ifaddrs *i)
{
	struct ip_prefix p = { .len = 128 };
	struct in_addr b;
	uint32_t a, m;

	if (!i->ifa_netmask || i->ifa_netmask->sa_family != AF_INET)
		return 0;
	a = ntohl(((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
	m = ntohl(((const struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
	if (m >= 0xfffffffeu)	/* /31 and /32 have none (RFC 3021) */
		return 0;
	b.s_addr = htonl(a | ~m);
	addr_from_v4(&p.addr, &b);
	return whitelist_add(wl, &p);
}

static int wl_add_ifaddrs(struct whitelist *wl)
{
	struct ifaddrs *ifa, *i;
	int r = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i && r == 0; i = i->ifa_next) {
		struct ip_prefix p = { .len = 128 };

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			addr_from_v4(&p.addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr);
			r = wl_add_broadcast(wl, i);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			addr_from_v6(&p.addr, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr);
		} else {
			continue;
		}
		if (r == 0)
			r = whitelist_add(wl, &p);
	}
	freeifaddrs(ifa);
	return r;
}

/* A default route's gateway is never banned. */
static int wl_gateway(const struct route *r, void *ctx)
{
	struct ip_prefix p = { .addr = r->gateway, .len = 128 };

	if (!r->has_gateway || r->dst.len != (addr_is_v4(&r->dst.addr) ? 96 : 0))
		return 0;
	return whitelist_add(ctx, &p);
}

int whitelist_add_gateways(struct whitelist *wl, const char *route4, const char *route6)
{
	int r;

	if ((r = routes_read(route4, route6, wl_gateway, wl)) < 0)
		return r;
	return wl_build(wl);
}

int whitelist_add_local(struct whitelist *wl)
{
	int r;

	if ((r = wl_add_addr(wl, "127.0.0.0/8")) < 0 || (r = wl_add_addr(wl, "::1")) < 0 ||
	    (r = wl_add_ifaddrs(wl)) < 0)
		return r;
	return whitelist_add_gateways(wl, ROUTES_V4, ROUTES_V6);
}
