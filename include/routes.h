/* routes.h - the kernel's routing table as /proc shows it. */
#ifndef DOSIPS_ROUTES_H
#define DOSIPS_ROUTES_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include "addr.h"

#define ROUTES_V4 "/proc/net/route"
#define ROUTES_V6 "/proc/net/ipv6_route"

/* One route. */
struct route {
	char iface[IF_NAMESIZE];
	struct ip_prefix dst;       /* ::/0 or 0.0.0.0/0 for a default route */
	struct ip_addr gateway;     /* all zero when on-link */
	bool has_gateway;
	bool up;                    /* RTF_UP */
	uint32_t metric;
};

/* Calls fn for each route of the IPv4 table at path4 and the IPv6 table at
 * path6 (either may be NULL; a missing file is an empty table, a host
 * without IPv6 has none). Stops at fn's first non-zero, which it returns;
 * else 0, or -errno for a file that cannot be read. */
int routes_read(const char *path4, const char *path6,
		int (*fn)(const struct route *r, void *ctx), void *ctx);

/* The interface of the default route with the lowest metric, IPv4 before
 * IPv6, into name; 0 or -ENOENT. */
int routes_default_iface(const char *path4, const char *path6, char *name, size_t len);

#endif
