/* netwatch.h - rtnetlink tells when the host's addresses or default
 * routes change, so what is protected follows them live. */
#ifndef DOSIPS_NETWATCH_H
#define DOSIPS_NETWATCH_H

#include <ev.h>

struct netwatch;

/* Called once a burst of changes has settled. */
typedef void (*netwatch_fn)(void *ctx);

/* Watches address changes and default-route changes (IPv4 and IPv6) of
 * this network namespace on loop; changed(ctx) runs after each burst.
 * 0 or -errno. */
int netwatch_open(struct ev_loop *loop, netwatch_fn changed, void *ctx, struct netwatch **out);

/* Stops watching; NULL is fine. */
void netwatch_close(struct netwatch *w);

#endif
