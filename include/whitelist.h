/* whitelist.h - prefixes that must never be banned. */
#ifndef DOSIPS_WHITELIST_H
#define DOSIPS_WHITELIST_H

#include <stdbool.h>
#include <stddef.h>
#include "addr.h"

struct whitelist;

/* An empty whitelist; 0 or -ENOMEM. */
int whitelist_new(struct whitelist **out);

/* Adds p. 0 or -ENOMEM. */
int whitelist_add(struct whitelist *wl, const struct ip_prefix *p);

/* Adds every prefix of file path: one address or CIDR per line, '#'
 * comments, blank lines. On error returns -EINVAL (or -errno for I/O) and
 * writes "path:line: message" into err. */
int whitelist_load(struct whitelist *wl, const char *path, char *err, size_t errlen);

/* Adds loopback, every address of this host's interfaces and the default
 * gateways. 0 or -errno. */
int whitelist_add_local(struct whitelist *wl);

/* Adds the next hops of the default routes listed in route4 (the format of
 * /proc/net/route) and route6 (/proc/net/ipv6_route); NULL or a missing
 * file is skipped. 0 or -errno. */
int whitelist_add_gateways(struct whitelist *wl, const char *route4, const char *route6);

/* True when a falls inside any prefix. */
bool whitelist_match(const struct whitelist *wl, const struct ip_addr *a);

/* True when any address of prefix p is whitelisted (p overlaps an entry). */
bool whitelist_overlaps(const struct whitelist *wl, const struct ip_prefix *p);

/* True when every address of prefix p is whitelisted: a flood from a /64
 * that merely holds this host's address is not immune. */
bool whitelist_contains(const struct whitelist *wl, const struct ip_prefix *p);

/* The prefixes, for the firewall's allow sets. */
const struct ip_prefix *whitelist_entries(const struct whitelist *wl, size_t *n);

/* Frees wl; NULL is fine. */
void whitelist_free(struct whitelist *wl);

#endif
