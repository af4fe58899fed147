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
 * Batches are built and answered by nlbatch.c, as nft.c's are, on a
 * socket of its own: a feed load never shares a batch with bans.
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
#include "nlbatch.h"
#include "nft_rule.h"

#define FWF_PRIO_STEP 1            /* after the ban chain */
#define FWF_CHAIN "feeds"

struct fw_feeds {
	struct mnl_socket *nl;
	char table[NFT_TABLE_MAXNAMELEN];
	char iface[IFNAMSIZ];
	enum fw_hook hook;
	int priority;
	int sndbuf;
	struct nlbatch b;
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

/* ---- one batch (nlbatch.c) ---- */

static int fwf_begin(struct fw_feeds *k)
{
	k->oom = false;
	return nlb_begin(&k->b);
}

/* A message of the batch; NULL (and k->oom) without memory. */
static struct nlmsghdr *fwf_msg(struct fw_feeds *k, uint16_t type, uint16_t flags,
				const char *what)
{
	struct nlmsghdr *nlh = nlb_msg_begin(&k->b, type, flags, -1, what);

	if (!nlh)
		k->oom = true;
	return nlh;
}

/* The first error of the batch in words: what, errno, meaning, kernel's text. */
static int fwf_error(struct fw_feeds *k, char *err, size_t errlen)
{
	const struct nlbatch *b = &k->b;
	const struct nlb_err *e = b->nerrs ? &b->errs[0] : NULL;
	const struct nlb_msg *m = e ? &b->msgs[e->msg] : NULL;
	int r = e ? e->err : b->rejected;
	const char *mean = nlb_meaning(m ? m->type : 0, r);

	snprintf(err, errlen, "%s%s%s%s%s%s%s%s", m ? m->what : "batch", ": ",
		 strerror(-r), mean ? " (" : "", mean ? mean : "", mean ? ")" : "",
		 e && *e->text ? ": " : "", e ? e->text : "");
	return r;
}

/* Ends and sends the batch: 0, or the first error with its words in err.
 * The socket's send buffer grows to the batch (one write, one skb). */
static int fwf_send(struct fw_feeds *k, char *err, size_t errlen)
{
	int r;

	if (k->oom || nlb_end(&k->b) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((int)k->b.len > k->sndbuf / 2) {
		int sz = (int)k->b.len * 2;

		if (setsockopt(mnl_socket_get_fd(k->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz,
			       sizeof(sz)) == 0)
			k->sndbuf = sz * 2;
	}
	if ((r = nlb_send(&k->b, mnl_socket_get_fd(k->nl))) < 0) {
		snprintf(err, errlen, "sending %zu bytes: %s", k->b.len, strerror(-r));
		return r;
	}
	return k->b.rejected || k->b.nerrs ? fwf_error(k, err, errlen) : 0;
}

/* ---- objects ---- */

static void fwf_put_set(struct fw_feeds *k, const char *feed, bool v6)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWSET, NLM_F_CREATE, "create feed set");
	char name[96];

	if (!s || !nlh) {
		k->oom = true;
		if (s)
			nftnl_set_free(s);
		return;
	}
	fwf_set_name(name, sizeof(name), feed, v6);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, k->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v6 ? 8 : 7);  /* ipv6_addr, ipv4_addr */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v6 ? 16 : 4);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_ID, k->b.seq);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nlb_msg_end(&k->b, nlh);
	nftnl_set_free(s);
}

static void fwf_put_chain(struct fw_feeds *k)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "create chain feeds");

	if (!c || !nlh) {
		k->oom = true;
		if (c)
			nftnl_chain_free(c);
		return;
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
	nlb_msg_end(&k->b, nlh);
	nftnl_chain_free(c);
}

/* <family> saddr @set counter accept|drop, appended to the chain. */
static void fwf_put_rule(struct fw_feeds *k, const char *set, bool v6, bool drop)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
				       "add rule to chain feeds");

	if (!r || !nlh || nft_rule_saddr(r, v6, set, 0, true, drop) < 0) {
		k->oom = true;
		if (r)
			nftnl_rule_free(r);
		return;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, k->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, FWF_CHAIN);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nlb_msg_end(&k->b, nlh);
	nftnl_rule_free(r);
}

int fw_feeds_setup(struct fw_feeds *k, const struct fw_feed_def *defs, size_t n, char *err,
		   size_t errlen)
{
	struct nlmsghdr *nlh;
	char set[96];
	int r;

	/* The sets first, so that the rules of the second batch find them
	 * by name. Creating an existing set with the same flags is a no-op. */
	if ((r = fwf_begin(k)) < 0)
		return r;
	fwf_put_chain(k);
	for (size_t i = 0; i < n; i++) {
		fwf_put_set(k, defs[i].name, false);
		fwf_put_set(k, defs[i].name, true);
	}
	if ((r = fwf_send(k, err, errlen)) < 0 || (r = fwf_begin(k)) < 0)
		return r;
	/* The chain flushed: its rules come whole. */
	if ((nlh = fwf_msg(k, NFT_MSG_DELRULE, 0, "flush chain feeds"))) {
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, k->table);
		mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, FWF_CHAIN);
		nlb_msg_end(&k->b, nlh);
	}
	fwf_put_rule(k, "allow4", false, false);
	fwf_put_rule(k, "allow6", true, false);
	for (size_t i = 0; i < n; i++) {
		if (!defs[i].drop)
			continue;
		fwf_set_name(set, sizeof(set), defs[i].name, false);
		fwf_put_rule(k, set, false, true);
		fwf_set_name(set, sizeof(set), defs[i].name, true);
		fwf_put_rule(k, set, true, true);
	}
	return fwf_send(k, err, errlen);
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

/* The set's elements as messages of at most NLB_ELEMS_MAX element bytes. */
static void fwf_put_elems(struct fw_feeds *k, const char *set, const struct ip_range *r,
			  size_t n, bool v6)
{
	size_t i = 0;

	while (i < n && !k->oom) {
		struct nlmsghdr *nlh = fwf_msg(k, NFT_MSG_NEWSETELEM, NLM_F_CREATE,
					       "add elements to feed set");
		struct nlattr *nest;

		if (!nlh)
			return;
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, k->table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
		nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (; i < n && nlh->nlmsg_len < NLB_ELEMS_MAX; i++)
			fwf_put_range(nlh, &r[i], v6);
		mnl_attr_nest_end(nlh, nest);
		nlb_msg_end(&k->b, nlh);
	}
}

int fw_feeds_replace(struct fw_feeds *k, const char *name, bool v6, const struct ip_range *r,
		     size_t n, char *err, size_t errlen)
{
	struct nlmsghdr *nlh;
	char set[96];
	int ret;

	fwf_set_name(set, sizeof(set), name, v6);
	if ((ret = fwf_begin(k)) < 0)
		return ret;
	/* A delete without elements flushes the set. */
	if ((nlh = fwf_msg(k, NFT_MSG_DELSETELEM, 0, "flush feed set"))) {
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, k->table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
		nlb_msg_end(&k->b, nlh);
	}
	fwf_put_elems(k, set, r, n, v6);
	fwf_quiet(k, true);
	ret = fwf_send(k, err, errlen);
	fwf_quiet(k, false);
	return ret;
}

int fw_feeds_open(const struct fw_cfg *cfg, int quiet_fd, struct fw_feeds **out)
{
	struct fw_feeds *k = calloc(1, sizeof(*k));
	int one = 1, rcv = 4 * 1024 * 1024, r;

	if (!k)
		return -ENOMEM;
	snprintf(k->table, sizeof(k->table), "%s", cfg->table && *cfg->table ? cfg->table : "dosips");
	snprintf(k->iface, sizeof(k->iface), "%s", cfg->iface ? cfg->iface : "");
	k->hook = cfg->hook;
	k->priority = cfg->priority;
	k->quiet_fd = quiet_fd;
	if (!(k->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC)) ||
	    mnl_socket_bind(k->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		fw_feeds_close(k);
		return r;
	}
	mnl_socket_setsockopt(k->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(k->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(k->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	*out = k;
	return 0;
}

void fw_feeds_close(struct fw_feeds *k)
{
	if (!k)
		return;
	if (k->nl)
		mnl_socket_close(k->nl);
	nlb_free(&k->b);
	free(k);
}
