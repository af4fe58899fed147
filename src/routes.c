/* routes.c - the routing table read from /proc, in one place.
 *
 * Two callers want it: capture, for the interface of the default route
 * when none is named, and the whitelist, for the gateways that must never
 * be banned. Both formats are fixed by the kernel: /proc/net/route prints
 * addresses as the hex of the network-order 32-bit value (so the bytes are
 * already in order in memory), /proc/net/ipv6_route as 32 hex digits. The
 * paths are parameters so tests can hand in tables of their own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

#define RTF_UP_FLAG 0x1
#define RTF_GATEWAY_FLAG 0x2

/* "Iface Destination Gateway Flags RefCnt Use Metric Mask ..."; 0 when
 * line is not a route (the header). */
static int route4_parse(const char *line, struct route *r)
{
	char ifn[IF_NAMESIZE];
	unsigned dst, gw, flags, refcnt, use, metric, mask;
	uint32_t be;

	if (sscanf(line, "%15s %x %x %x %u %u %u %x", ifn, &dst, &gw, &flags, &refcnt, &use,
		   &metric, &mask) != 8)
		return 0;
	memset(r, 0, sizeof(*r));
	snprintf(r->iface, sizeof(r->iface), "%s", ifn);
	be = dst;
	addr_from_v4(&r->dst.addr, &be);
	r->dst.len = (uint8_t)(96 + __builtin_popcount(mask));
	be = gw;
	addr_from_v4(&r->gateway, &be);
	r->has_gateway = gw != 0 && (flags & RTF_GATEWAY_FLAG);
	r->up = flags & RTF_UP_FLAG;
	r->metric = metric;
	return 1;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int hex16(const char *s, uint8_t *out)
{
	if (strlen(s) != 32)
		return 0;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

/* "dst dstlen src srclen nexthop metric refcnt use flags iface". */
static int route6_parse(const char *line, struct route *r)
{
	char dst[33], src[33], hop[33], ifn[IF_NAMESIZE];
	unsigned dlen, slen, metric, ref, use, flags;
	static const uint8_t zero[16];

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%32s %x %32s %x %32s %x %x %x %x %15s", dst, &dlen, src, &slen, hop,
		   &metric, &ref, &use, &flags, ifn) != 10 || dlen > 128 ||
	    !hex16(dst, r->dst.addr.b) || !hex16(hop, r->gateway.b))
		return 0;
	snprintf(r->iface, sizeof(r->iface), "%s", ifn);
	r->dst.len = (uint8_t)dlen;
	r->has_gateway = memcmp(r->gateway.b, zero, 16) != 0;
	r->up = flags & RTF_UP_FLAG;
	r->metric = metric;
	return 1;
}

static int routes_file(const char *path, int (*parse)(const char *, struct route *),
		       int (*fn)(const struct route *, void *), void *ctx)
{
	struct route rt;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int r = 0;

	if (!path)
		return 0;
	if (!(f = fopen(path, "re")))
		return errno == ENOENT ? 0 : -errno;
	while (r == 0 && getline(&line, &cap, f) >= 0)
		if (parse(line, &rt))
			r = fn(&rt, ctx);
	free(line);
	fclose(f);
	return r;
}

int routes_read(const char *path4, const char *path6,
		int (*fn)(const struct route *r, void *ctx), void *ctx)
{
	int r = routes_file(path4, route4_parse, fn, ctx);

	return r ? r : routes_file(path6, route6_parse, fn, ctx);
}

struct best {
	char *name;
	size_t len;
	uint32_t metric;
	int found;
};

/* A default route that is up, not the IPv6 "lo" reject route. */
static int best_default(const struct route *r, void *ctx)
{
	struct best *b = ctx;

	if (r->dst.len != (addr_is_v4(&r->dst.addr) ? 96 : 0) || !r->up ||
	    strcmp(r->iface, "lo") == 0 || (b->found && r->metric >= b->metric))
		return 0;
	snprintf(b->name, b->len, "%s", r->iface);
	b->metric = r->metric;
	b->found = 1;
	return 0;
}

int routes_default_iface(const char *path4, const char *path6, char *name, size_t len)
{
	struct best b = { .name = name, .len = len };

	/* IPv4's default wins over IPv6's: read them one at a time. */
	if (routes_read(path4, NULL, best_default, &b) == 0 && b.found)
		return 0;
	if (routes_read(NULL, path6, best_default, &b) == 0 && b.found)
		return 0;
	return -ENOENT;
}
