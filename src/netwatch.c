/* netwatch.c - address and default-route changes from rtnetlink.
 *
 * The protected set (this host's addresses, its default gateways) was a
 * snapshot taken at start and reload: a DHCP or SLAAC address, or a new
 * gateway, added later could be banned. A NETLINK_ROUTE socket joined to
 * the address and route groups tells us of every change instead. Its
 * messages are only a signal: a burst (an interface coming up brings a
 * dozen) is let settle for SETTLE_S, then the owner rebuilds the set once
 * from the kernel's current state, which is simpler and more robust than
 * applying each delta. Routes other than default routes are not ours to
 * follow, so a router's routing churn wakes nobody. The socket is
 * non-blocking and drained on every wake-up; an overrun (ENOBUFS) means
 * messages were lost, which is just another reason to rebuild. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netwatch.h"

#define SETTLE_S 0.05

struct netwatch {
	struct ev_loop *loop;
	ev_io io;
	ev_timer settle;
	netwatch_fn changed;
	void *ctx;
};

/* Whether one message is news for the protected set. */
static bool msg_relevant(const struct nlmsghdr *h)
{
	const struct rtmsg *rt;

	switch (h->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return true;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
			return false;
		rt = NLMSG_DATA(h);
		return rt->rtm_dst_len == 0 && rt->rtm_table == RT_TABLE_MAIN;
	default:
		return false;
	}
}

/* Reads every queued message; true when one of them matters. */
static bool drain(struct netwatch *w)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	bool news = false;
	ssize_t n;

	while ((n = recv(w->io.fd, buf, sizeof(buf), MSG_DONTWAIT)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			news = true;    /* lost some: look at everything again */
			continue;
		}
		if (n < 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n))
			news |= msg_relevant(h);
	}
	return news;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct netwatch *nw = w->data;

	if (drain(nw) && !ev_is_active(&nw->settle))
		ev_timer_start(loop, &nw->settle);
}

static void on_settle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct netwatch *nw = w->data;

	nw->changed(nw->ctx);
}

int netwatch_open(struct ev_loop *loop, netwatch_fn changed, void *ctx, struct netwatch **out)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
			     RTMGRP_IPV6_ROUTE,
	};
	struct netwatch *w = calloc(1, sizeof(*w));
	int fd, r;

	if (!w)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		free(w);
		return r;
	}
	*w = (struct netwatch){ .loop = loop, .changed = changed, .ctx = ctx };
	ev_io_init(&w->io, on_io, fd, EV_READ);
	ev_timer_init(&w->settle, on_settle, SETTLE_S, 0);
	w->io.data = w->settle.data = w;
	ev_io_start(loop, &w->io);
	ev_unref(loop);     /* a watch alone must not keep a replay's loop alive */
	*out = w;
	return 0;
}

void netwatch_close(struct netwatch *w)
{
	if (!w)
		return;
	ev_ref(w->loop);
	ev_io_stop(w->loop, &w->io);
	ev_timer_stop(w->loop, &w->settle);
	close(w->io.fd);
	free(w);
}
