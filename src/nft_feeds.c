/* nft_feeds.c - the kernel side of blocklist feeds: static interval sets
 * feed_<name>_4 and feed_<name>_6 in table inet <table>, and one base chain
 * "feeds" on the same hook as the ban chain, a step later.
 *
 * Feed sets never carry timeouts and never share a set with the timed
 * bans: auto-merge and timeouts together have corrupted sets elsewhere,
 * and a list that expires all at once leaves nothing enforced. A refresh
 * is one netlink batch: flush the set, add every range. nf_tables applies
 * a batch as one transaction, so a packet meets either the old list or the
 * new one, never neither; a batch the kernel refuses changes nothing, so
 * the old list stays. The elements travel in messages under 64 KiB each
 * (the limit of one element list) within that one batch, and the socket's
 * send buffer is raised to the batch's size (nft(8) does the same).
 *
 * The chain starts with the allow rules: an accept in the ban chain ends
 * only that chain, so this one needs its own `saddr @allow accept` before
 * any feed's drop. feeds.c also splits drop feeds around the whitelist.
 *
 * A socket of its own (not nft.c's) keeps this file independent of how
 * the ban batches are built; only the kernel's objects are shared.
 *
 * The kernel notifies every listener of the nftables group of each element
 * added or removed; for 100,000 ranges that is 200,000 messages built and
 * most of the load's cost (perf: skb allocation and nla_put in
 * nf_tables_fill_setelem). nft.c's monitor socket, our own listener, leaves
 * the group for the length of a load and joins again after it: our own
 * elements are the only thing it would miss.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "fw_feeds.h"
#include "nft_rule.h"

#define FWF_ELEMS_MAX (60 * 1024)  /* element bytes per message */
#define FWF_ELEM_BYTES 48          /* one element, nests and all */
#define FWF_MSG_ROOM 1024          /* headers of one message */
#define FWF_RBUF (64 * 1024)
#define FWF_PRIO_STEP 1            /* after the ban chain */
#define FWF_CHAIN "feeds"

struct fw_feeds {
	struct mnl_socket *nl;
	char table[NFT_TABLE_MAXNAMELEN];
	char iface[IFNAMSIZ];
	enum fw_hook hook;
	int priority;
	uint32_t seq;
	int sndbuf;
	char *buf;
	size_t len, cap;
	uint32_t first_seq, last_seq;
	char *rbuf;
	int quiet_fd;
	bool oom;                   /* an object could not be built: do not send */
};

static const uint32_t fwf_hooknum[] = {
	[FW_HOOK_INGRESS] = NF_INET_INGRESS, [FW_HOOK_PREROUTING] = NF_INET_PRE_ROUTING,
	[FW_HOOK_INPUT] = NF_INET_LOCAL_IN, [FW_HOOK_FORWARD] = NF_INET_FORWARD,
};

static void fwf_set_name(char *buf, size_t len, const char *feed, bool v6)
{
	snprintf(buf, len, "feed_%s_%d", feed, v6 ? 6 : 4);
}

/* ---- one batch in a growing buffer ---- */

static int fwf_begin(struct fw_feeds *k, size_t need)
{
	k->oom = false;
	need += 2 * FWF_MSG_ROOM;
	if (need > k->cap) {
		char *nb = realloc(k->buf, need);

		if (!nb)
			return -ENOMEM;
		k->buf = nb;
		k->cap = need;
	}
	k->len = NLMSG_ALIGN(nftnl_batch_begin(k->buf, ++k->seq)->nlmsg_len);
	k->first_seq = k->seq + 1;
	return 0;
}

static struct nlmsghdr *fwf_msg(struct fw_feeds *k, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(k->buf + k->len, type, NFPROTO_INET, flags, ++k->seq);
}

static void fwf_msg_end(struct fw_feeds *k, struct nlmsghdr *nlh)
{
	k->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* The last message asks for an ack: its arrival says the batch is done
 * (the kernel handles a batch inside sendmsg; errors come before it). */
static void fwf_end(struct fw_feeds *k, struct nlmsghdr *last)
{
	last->nlmsg_flags |= NLM_F_ACK;
	k->last_seq = last->nlmsg_seq;
	k->len += NLMSG_ALIGN(nftnl_batch_end(k->buf + k->len, ++k->seq)->nlmsg_len);
}

/* Keeps the first error: errno text and the kernel's own message. */
static void fwf_note(const struct nlmsghdr *nlh, int *first, char *err, size_t errlen)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off = sizeof(*e);

	if (!e->error || *first)
		return;
	*first = e->error;
	snprintf(err, errlen, "%s", strerror(-e->error));
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each(attr, nlh, off)
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(err + strlen(err), errlen - strlen(err), ": %s",
				 mnl_attr_get_str(attr));
}

/* Sends the batch; 0 or the first error of any of its messages. */
static int fwf_send(struct fw_feeds *k, char *err, size_t errlen)
{
	int first = 0;

	if ((int)k->len > k->sndbuf / 2) {
		int sz = (int)k->len * 2;

		if (setsockopt(mnl_socket_get_fd(k->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz,
			       sizeof(sz)) == 0)
			k->sndbuf = sz * 2;
	}
	if (mnl_socket_sendto(k->nl, k->buf, k->len) < 0) {
		snprintf(err, errlen, "sending %zu bytes: %s", k->len, strerror(errno));
		return -errno;
	}
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(k->nl, k->rbuf, FWF_RBUF);
		int len = (int)got;
		const struct nlmsghdr *nlh = (const void *)k->rbuf;

		if (got < 0) {
			if (errno == ENOBUFS)  /* acks were lost; the last one comes */
				continue;
			snprintf(err, errlen, "reading acknowledgements: %s", strerror(errno));
			return -errno;
		}
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < k->first_seq - 1 ||
			    nlh->nlmsg_seq > k->last_seq)
				continue;
			fwf_note(nlh, &first, err, errlen);
			if (nlh->nlmsg_seq == k->last_seq || nlh->nlmsg_seq == k->first_seq - 1)
				return first ? first : ((const struct nlmsgerr *)
						mnl_nlmsg_get_payload(nlh))->error;
		}
	}
}

/* ---- objects ---- */

static struct nlmsghdr *fwf_put_set(struct fw_feeds *k, const char *feed, bool v6)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWSET, NLM_F_CREATE);
	char name[96];

	if (!s) {
		k->oom = true;
		return nlh;
	}
	fwf_set_name(name, sizeof(name), feed, v6);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, k->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v6 ? 8 : 7);  /* ipv6_addr, ipv4_addr */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v6 ? 16 : 4);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_ID, k->seq);
	nftnl_set_nlmsg_build_payload(nlh, s);
	fwf_msg_end(k, nlh);
	nftnl_set_free(s);
	return nlh;
}

static struct nlmsghdr *fwf_put_chain(struct fw_feeds *k)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWCHAIN, NLM_F_CREATE);

	if (!c) {
		k->oom = true;
		return nlh;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, k->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, FWF_CHAIN);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, fwf_hooknum[k->hook]);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, k->priority + FWF_PRIO_STEP);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (k->hook == FW_HOOK_INGRESS)
		nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, k->iface);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	fwf_msg_end(k, nlh);
	nftnl_chain_free(c);
	return nlh;
}

/* <family> saddr @set counter accept|drop, appended to the chain. */
static struct nlmsghdr *fwf_put_rule(struct fw_feeds *k, const char *set, bool v6, bool drop)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);

	if (!r || nft_rule_saddr(r, v6, set, 0, true, drop) < 0) {
		k->oom = true;
		if (r)
			nftnl_rule_free(r);
		return nlh;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, k->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, FWF_CHAIN);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	fwf_msg_end(k, nlh);
	nftnl_rule_free(r);
	return nlh;
}

int fw_feeds_setup(struct fw_feeds *k, const struct fw_feed_def *defs, size_t n, char *err,
		   size_t errlen)
{
	struct nlmsghdr *nlh;
	char set[96];
	int r;

	/* The sets first, so that the rules of the second batch find them
	 * by name. Creating an existing set with the same flags is a no-op. */
	if ((r = fwf_begin(k, (n * 2 + 1) * FWF_MSG_ROOM)) < 0)
		return r;
	nlh = fwf_put_chain(k);
	for (size_t i = 0; i < n; i++) {
		fwf_put_set(k, defs[i].name, false);
		nlh = fwf_put_set(k, defs[i].name, true);
	}
	fwf_end(k, nlh);
	if (k->oom || (r = fwf_send(k, err, errlen)) < 0)
		return k->oom ? -ENOMEM : r;
	if ((r = fwf_begin(k, (n * 2 + 4) * FWF_MSG_ROOM)) < 0)
		return r;
	nlh = fwf_msg(k, NFT_MSG_DELRULE, 0);  /* flush the chain: rules come whole */
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, k->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, FWF_CHAIN);
	fwf_msg_end(k, nlh);
	fwf_put_rule(k, "allow4", false, false);
	nlh = fwf_put_rule(k, "allow6", true, false);
	for (size_t i = 0; i < n; i++) {
		if (!defs[i].drop)
			continue;
		fwf_set_name(set, sizeof(set), defs[i].name, false);
		fwf_put_rule(k, set, false, true);
		fwf_set_name(set, sizeof(set), defs[i].name, true);
		nlh = fwf_put_rule(k, set, true, true);
	}
	fwf_end(k, nlh);
	return k->oom ? -ENOMEM : fwf_send(k, err, errlen);
}

static void fwf_put_key(struct nlmsghdr *nlh, const uint8_t *key, size_t klen, bool end)
{
	struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	struct nlattr *kn = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, klen, key);
	mnl_attr_nest_end(nlh, kn);
	if (end)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(NFT_SET_ELEM_INTERVAL_END));
	mnl_attr_nest_end(nlh, el);
}

static struct nlmsghdr *fwf_elems_msg(struct fw_feeds *k, uint16_t type, const char *set,
				      struct nlattr **nest)
{
	struct nlmsghdr *nlh = fwf_msg(k, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, k->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	*nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	return nlh;
}

/* One range: its start, and an end element holding the first address
 * past it (none when the range runs to the top of the address space). */
static void fwf_put_range(struct nlmsghdr *nlh, const struct ip_range *r, bool v6)
{
	size_t klen = v6 ? 16 : 4, off = 16 - klen;
	uint8_t end[16];
	size_t i;

	fwf_put_key(nlh, r->first.b + off, klen, false);
	memcpy(end, r->last.b + off, klen);
	for (i = klen; i-- > 0;)
		if (++end[i])
			break;
	if (i != (size_t)-1)
		fwf_put_key(nlh, end, klen, true);
}

/* Takes the monitor out of the nftables group (on) or back in (off). */
static void fwf_quiet(struct fw_feeds *k, bool on)
{
	int grp = NFNLGRP_NFTABLES;

	if (k->quiet_fd >= 0)
		setsockopt(k->quiet_fd, SOL_NETLINK,
			   on ? NETLINK_DROP_MEMBERSHIP : NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp));
}

int fw_feeds_replace(struct fw_feeds *k, const char *name, bool v6, const struct ip_range *r,
		     size_t n, char *err, size_t errlen)
{
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	char set[96];
	size_t i = 0;
	int ret;

	fwf_set_name(set, sizeof(set), name, v6);
	if ((ret = fwf_begin(k, n * 2 * FWF_ELEM_BYTES +
			     (n / (FWF_ELEMS_MAX / (2 * FWF_ELEM_BYTES)) + 2) * FWF_MSG_ROOM)) < 0)
		return ret;
	nlh = fwf_msg(k, NFT_MSG_DELSETELEM, 0);  /* no elements: flush the set */
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, k->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	fwf_msg_end(k, nlh);
	while (i < n) {
		nlh = fwf_elems_msg(k, NFT_MSG_NEWSETELEM, set, &nest);
		for (; i < n && nlh->nlmsg_len < FWF_ELEMS_MAX; i++)
			fwf_put_range(nlh, &r[i], v6);
		mnl_attr_nest_end(nlh, nest);
		fwf_msg_end(k, nlh);
	}
	fwf_end(k, nlh);
	fwf_quiet(k, true);
	ret = fwf_send(k, err, errlen);
	fwf_quiet(k, false);
	return ret;
}

int fw_feeds_open(const struct fw_cfg *cfg, int quiet_fd, struct fw_feeds **out)
{
	struct fw_feeds *k = calloc(1, sizeof(*k));
	struct timeval tv = { .tv_sec = 10 };
	int one = 1, rcv = 4 * 1024 * 1024;

	if (!k || !(k->rbuf = malloc(FWF_RBUF)))
		goto nomem;
	snprintf(k->table, sizeof(k->table), "%s", cfg->table && *cfg->table ? cfg->table : "dosips");
	snprintf(k->iface, sizeof(k->iface), "%s", cfg->iface ? cfg->iface : "");
	k->hook = cfg->hook;
	k->priority = cfg->priority;
	k->quiet_fd = quiet_fd;
	if (!(k->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC)) ||
	    mnl_socket_bind(k->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		fw_feeds_close(k);
		return r;
	}
	mnl_socket_setsockopt(k->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(k->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(k->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(mnl_socket_get_fd(k->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	*out = k;
	return 0;
nomem:
	fw_feeds_close(k);
	return -ENOMEM;
}

void fw_feeds_close(struct fw_feeds *k)
{
	if (!k)
		return;
	if (k->nl)
		mnl_socket_close(k->nl);
	free(k->buf);
	free(k->rbuf);
	free(k);
}
