/* nft.c - the only code that speaks netlink: table inet <table>, its sets
 * ban4/ban6 (bans, with kernel timeouts) and allow4/allow6 (the whitelist),
 * and one base chain that checks them. libmnl + libnftnl, never nft(8).
 *
 * Every set is an interval set, so a ban may be a prefix (an IPv6 /64, an
 * IPv4 /24 when detect groups sources that way). Linux keeps a prefix of a
 * non-concatenated interval set as two elements: the start, which carries
 * the timeout, and an end element (NFT_SET_ELEM_INTERVAL_END, no timeout)
 * holding the first address past the prefix; the kernel's garbage collector
 * drops the end with its expired start. A prefix that runs to the top of the
 * address space has no end element. The ban sets are created with room for
 * 2 * set_size elements because kernels differ on whether end elements count
 * against the size.
 *
 * One commit is one batch (split only when it would not fit the socket's
 * send buffer), built, sent and answered through nlbatch.c; this file
 * decides what goes in it and what an error means for each queued change. Each ban goes as add, delete, add of the same element: the
 * first add (no NLM_F_EXCL) makes sure the element exists so that the delete
 * cannot fail with ENOENT if it just expired, and delete-then-add restarts
 * its timeout on every kernel (re-adding alone refreshes it only since 6.12).
 * An unban is add then delete for the same reason. Unbans come first so a
 * ban of a prefix never collides with a smaller ban lifted in the same batch.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "fw_backend.h"
#include "nft_rule.h"
#include "log.h"
#include "nlbatch.h"

#define NFT_SNDBUF (8 * 1024 * 1024)
#define NFT_RCVBUF (4 * 1024 * 1024)
#define NFT_ENTRY_BYTES 256         /* worst case of one ban's three phases */
#define NFT_TRIES 4                 /* attempts per batch, each drops what failed */
#define NFT_PROBE_MS 1000           /* timeout of the add that precedes an unban */
#define NFT_RULES 4
#define NFT_MON_READS 256           /* reads per monitor wake-up */
#define OWNER_ALLOW ((size_t)1 << (sizeof(size_t) * 8 - 1))

enum { SET_BAN4, SET_BAN6, SET_ALLOW4, SET_ALLOW6, SET__MAX };
enum { MADE_TABLE = 1, MADE_BANSET = 2, MADE_ALLOWSET = 4, MADE_CHAIN = 8, MADE_RULES = 16 };
enum { Q_BAN, Q_UNBAN };
enum { Q_LIVE, Q_DONE, Q_DROPPED };

static const struct {
	const char *name;
	bool v6, ban;
} nft_setdef[SET__MAX] = {
	{ "ban4", false, true }, { "ban6", true, true },
	{ "allow4", false, false }, { "allow6", true, false },
};

struct nft_setinfo {
	bool present, interval, timeout;
	uint32_t keylen, flags, size;  /* size 0: none given */
};

struct nft_qent {
	struct ip_prefix p;
	uint64_t timeout_ms;
	uint32_t order;
	uint8_t op, state;
	int err;                    /* why a Q_DROPPED change was refused */
	const char *why;            /* err in nftables terms */
	char note[FW_NOTE_MAX];     /* a ban's, kept as the element's comment */
};

struct nft {
	struct fw base;
	char table[NFT_TABLE_MAXNAMELEN];
	char iface[IFNAMSIZ];
	char chain_what[64];        /* "create chain ingress on eth0" */
	enum fw_hook hook;
	uint32_t set_size;
	int priority;
	struct mnl_socket *nl, *mon;
	uint32_t set_id;
	size_t sndbuf;
	struct nft_setinfo sets[SET__MAX];
	struct nft_qent *q;
	size_t *sel;                /* scratch: queue indices of one phase */
	size_t nq, qcap, selcap;
	uint32_t order;
	struct ip_range *allow[2];
	size_t nallow[2];
	bool allow_dirty, allow_skip, recreated, flushed, mon_missed;
	bool ours;                  /* the table found carries our mark */
	struct nlbatch b;
	struct nftnl_set_elem *elem;  /* scratch, reused for every element */
	char *err;                  /* set-up's error text (fw_open_nft), else NULL */
	size_t errlen;
};

static struct nft *to_nft(struct fw *fw)
{
	return (struct nft *)fw;
}

/* nft's user data: type-length-value records; type 0 is the comment of a
 * table and of a set element, which `nft list` shows. */
#define NFT_UDATA_COMMENT 0
#define NFT_MARK "managed by dosips"

static uint32_t nft_udata_put(uint8_t *buf, const char *comment)
{
	size_t len = strlen(comment) + 1;

	buf[0] = NFT_UDATA_COMMENT;
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, comment, len);
	return (uint32_t)len + 2;
}

/* The comment in user data, or NULL. */
static const char *nft_udata_comment(const uint8_t *d, uint32_t len)
{
	for (uint32_t i = 0; d && i + 2 <= len && i + 2 + d[i + 1] <= len; i += 2 + d[i + 1])
		if (d[i] == NFT_UDATA_COMMENT && d[i + 1] > 0 && d[i + 2 + d[i + 1] - 1] == '\0')
			return (const char *)d + i + 2;
	return NULL;
}

static int set_of(const struct ip_prefix *p, bool ban)
{
	return (addr_is_v4(&p->addr) ? SET_BAN4 : SET_BAN6) + (ban ? 0 : 2);
}

static const char *nft_chain_name(const struct nft *n)
{
	return fw_hook_name(n->hook);
}

/* An error in words: during fw_open_nft into its caller's buffer (the
 * first one, the cause, wins), in the loop through log.c. */
__attribute__((format(printf, 2, 3)))
static void nft_error(const struct nft *n, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!n->err)
		log_err("nftables: %s", line);
	else if (!*n->err)
		snprintf(n->err, n->errlen, "%s", line);
}

/* ---- batch building ---- */

/* Starts a set element message and opens its element list. */
static struct nlmsghdr *nft_elems_begin(struct nft *n, uint16_t type, int set,
					const char *what, struct nlattr **nest)
{
	struct nlmsghdr *nlh = nlb_msg_begin(&n->b, type,
		type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, set, what);

	if (!nlh)
		return NULL;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, n->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nft_setdef[set].name);
	if (nest)
		*nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	return nlh;
}

static int nft_put_elem(struct nft *n, struct nlmsghdr *nlh, const uint8_t *key,
			size_t klen, uint64_t timeout_ms, bool end, const char *note, size_t owner)
{
	uint8_t ud[FW_NOTE_MAX + 2];
	struct nlattr *nest;

	nftnl_set_elem_set(n->elem, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
	if (timeout_ms)
		nftnl_set_elem_set_u64(n->elem, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
	else
		nftnl_set_elem_unset(n->elem, NFTNL_SET_ELEM_TIMEOUT);
	if (end)
		nftnl_set_elem_set_u32(n->elem, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	else
		nftnl_set_elem_unset(n->elem, NFTNL_SET_ELEM_FLAGS);
	if (note && *note)
		nftnl_set_elem_set(n->elem, NFTNL_SET_ELEM_USERDATA, ud, nft_udata_put(ud, note));
	else
		nftnl_set_elem_unset(n->elem, NFTNL_SET_ELEM_USERDATA);
	nest = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	nftnl_set_elem_nlmsg_build_payload(nlh, n->elem);
	mnl_attr_nest_end(nlh, nest);
	return nlb_own(&n->b, owner);
}

/* Adds one to a big-endian number; false when it wraps past the top. */
static bool key_inc(uint8_t *k, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++k[i])
			return true;
	return false;
}

/* [first, last] as a start and an end element of an interval set, or as the
 * one element a plain set can hold. */
static int nft_put_range(struct nft *n, struct nlmsghdr *nlh, int set,
			 const struct ip_range *r, uint64_t timeout_ms, const char *note, size_t owner)
{
	size_t klen = nft_setdef[set].v6 ? 16 : 4, off = 16 - klen;
	uint8_t end[16];
	int e;

	if (!n->sets[set].interval)
		return nft_put_elem(n, nlh, r->first.b + off, klen, timeout_ms, false, note, owner);
	if ((e = nft_put_elem(n, nlh, r->first.b + off, klen, timeout_ms, false, note, owner)) < 0)
		return e;
	memcpy(end, r->last.b + off, klen);
	if (!key_inc(end, klen))
		return 0;
	return nft_put_elem(n, nlh, end, klen, 0, true, NULL, owner);
}

/* The queue entries idx[0..cnt) of one set as messages of one type. */
static int nft_put_phase(struct nft *n, int set, uint16_t type, const size_t *idx, size_t cnt)
{
	const char *what = type == NFT_MSG_NEWSETELEM ? "add elements to" : "delete elements from";
	size_t i = 0;

	while (i < cnt) {
		struct nlattr *nest;
		struct nlmsghdr *nlh = nft_elems_begin(n, type, set, what, &nest);

		if (!nlh)
			return -ENOMEM;
		for (; i < cnt && nlh->nlmsg_len < NLB_ELEMS_MAX; i++) {
			const struct nft_qent *qe = &n->q[idx[i]];
			uint64_t t = type != NFT_MSG_NEWSETELEM ? 0 :
				     qe->op == Q_BAN ? qe->timeout_ms : NFT_PROBE_MS;
			struct ip_range r = { .first = qe->p.addr };

			prefix_last(&qe->p, &r.last);
			if (nft_put_range(n, nlh, set, &r, t, qe->op == Q_BAN ? qe->note : NULL,
					  idx[i]) < 0)
				return -ENOMEM;
		}
		mnl_attr_nest_end(nlh, nest);
		nlb_msg_end(&n->b, nlh);
	}
	return 0;
}

/* The whitelist: flush each allow set and fill it again, in the batch. */
static int nft_put_allow(struct nft *n)
{
	for (int f = 0; f < 2; f++) {
		int set = SET_ALLOW4 + f;
		struct nlmsghdr *nlh = nft_elems_begin(n, NFT_MSG_DELSETELEM, set,
						       "flush", NULL);
		size_t i = 0;

		if (!nlh)
			return -ENOMEM;
		nlb_msg_end(&n->b, nlh);
		while (i < n->nallow[f]) {
			struct nlattr *nest;

			if (!(nlh = nft_elems_begin(n, NFT_MSG_NEWSETELEM, set, "add elements to",
						    &nest)))
				return -ENOMEM;
			for (; i < n->nallow[f] && nlh->nlmsg_len < NLB_ELEMS_MAX; i++)
				if (nft_put_range(n, nlh, set, &n->allow[f][i], 0, NULL,
						  OWNER_ALLOW | i) < 0)
					return -ENOMEM;
			mnl_attr_nest_end(nlh, nest);
			nlb_msg_end(&n->b, nlh);
		}
	}
	return 0;
}

static size_t nft_select(struct nft *n, size_t lo, size_t hi, int set, int op, size_t *out)
{
	size_t k = 0;

	for (size_t i = lo; i < hi; i++) {
		const struct nft_qent *qe = &n->q[i];

		if (qe->state == Q_LIVE && qe->op == op && set_of(&qe->p, true) == set)
			out[k++] = i;
	}
	return k;
}

/* Queue entries lo..hi: unbans (add, delete) then bans (add, delete, add). */
static int nft_put_bans(struct nft *n, size_t lo, size_t hi)
{
	for (int set = SET_BAN4; set <= SET_BAN6; set++) {
		size_t nu = nft_select(n, lo, hi, set, Q_UNBAN, n->sel);
		size_t nb = nft_select(n, lo, hi, set, Q_BAN, n->sel + nu);
		const size_t *u = n->sel, *b = n->sel + nu;

		if (nft_put_phase(n, set, NFT_MSG_NEWSETELEM, u, nu) < 0 ||
		    nft_put_phase(n, set, NFT_MSG_DELSETELEM, u, nu) < 0 ||
		    nft_put_phase(n, set, NFT_MSG_NEWSETELEM, b, nb) < 0 ||
		    nft_put_phase(n, set, NFT_MSG_DELSETELEM, b, nb) < 0 ||
		    nft_put_phase(n, set, NFT_MSG_NEWSETELEM, b, nb) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* ---- talking to the kernel ---- */

/* Sends the batch built in n->b and collects its acks; what went wrong
 * with the sending itself is logged here. */
static int nft_talk(struct nft *n)
{
	int r = nlb_send(&n->b, mnl_socket_get_fd(n->nl));

	n->base.st.batches++;
	if (r < 0)
		nft_error(n, "sending a batch of %zu bytes and reading its "
			"acknowledgements: %s%s", n->b.len, strerror(-r),
			r == -ENODATA ? " (answers missing)" : "");
	return r;
}

typedef int (*nft_reply_cb)(const struct nlmsghdr *nlh, void *data);

/* Sends one request (a get or a dump) and feeds the replies to cb. */
static int nft_query(struct nft *n, struct nlmsghdr *req, nft_reply_cb cb, void *data)
{
	uint32_t seq = req->nlmsg_seq;
	bool intr = false;
	int r = 0;

	if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		int len = nlb_recv(&n->b, mnl_socket_get_fd(n->nl));
		const struct nlmsghdr *nlh = (const void *)n->b.rbuf;

		if (len < 0)
			return len;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return r ? r : intr ? -EINTR : 0;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				return e->error ? e->error : r ? r : intr ? -EINTR : 0;
			}
			if (r == 0 && cb)
				r = cb(nlh, data);
		}
	}
}

/* ---- errors, in words ---- */

/* One line per failure: what was tried on which object or element, the
 * errno's text, what it means here, and the kernel's own message if any. */
static void nft_log(const struct nft *n, const struct nlb_msg *m, const struct nlb_err *e,
		    const char *elem)
{
	const char *mean = nlb_meaning(m ? m->type : 0, e->err);
	char what[160];

	if (!m)
		snprintf(what, sizeof(what), "batch");
	else if (elem)
		snprintf(what, sizeof(what), "%s element %s in set %s",
			 m->type == NFT_MSG_NEWSETELEM ? "add" : "delete", elem,
			 nft_setdef[m->tag].name);
	else if (m->tag >= 0)
		snprintf(what, sizeof(what), "%s set %s", m->what, nft_setdef[m->tag].name);
	else
		snprintf(what, sizeof(what), "%s", m->what);
	nft_error(n, "%s (table inet %s) failed: %s%s%s%s%s%s", what, n->table,
		strerror(-e->err), mean ? " (" : "", mean ? mean : "", mean ? ")" : "",
		*e->text ? ": " : "", e->text);
}

/* ---- the table, its sets and chain ---- */

static int nft_get_cb_set(const struct nlmsghdr *nlh, void *data)
{
	struct nft_setinfo *si = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return -ENOMEM;
	if (nftnl_set_nlmsg_parse(nlh, s) == 0) {
		si->present = true;
		si->flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
		si->keylen = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
		si->interval = si->flags & NFT_SET_INTERVAL;
		si->timeout = si->flags & NFT_SET_TIMEOUT;
		if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE))
			si->size = nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE);
	}
	nftnl_set_free(s);
	return 0;
}

/* Whether a table carries our mark (read from the attribute itself: not
 * every libnftnl parses a table's user data). */
static int nft_get_cb_table(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr;
	const char *c;

	*(bool *)data = false;
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) != NFTA_TABLE_USERDATA)
			continue;
		c = nft_udata_comment(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
		*(bool *)data = c && strncmp(c, NFT_MARK, strlen(NFT_MARK)) == 0;
	}
	return 0;
}

/* Where an existing chain of ours is hooked. */
struct nft_chaininfo {
	bool hooked;
	uint32_t hooknum;
	char dev[IFNAMSIZ];
};

static int nft_get_cb_chain(const struct nlmsghdr *nlh, void *data)
{
	struct nft_chaininfo *ci = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	const char *const *devs;

	if (!c)
		return -ENOMEM;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 && nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		ci->hooked = true;
		ci->hooknum = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
		if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV))
			snprintf(ci->dev, sizeof(ci->dev), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_DEV));
		else if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEVICES) &&
			 (devs = nftnl_chain_get_array(c, NFTNL_CHAIN_DEVICES)) && devs[0])
			snprintf(ci->dev, sizeof(ci->dev), "%s", devs[0]);
	}
	nftnl_chain_free(c);
	return 0;
}

static int nft_get_cb_count(const struct nlmsghdr *nlh, void *data)
{
	++*(int *)data;
	return 0;
}

/* Asks for one object by name; 1 if it exists, 0 if not, or -errno. */
static int nft_get(struct nft *n, uint16_t type, const char *name, nft_reply_cb cb, void *data)
{
	char buf[1024];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_ACK, ++n->b.seq);
	int r;

	if (type == NFT_MSG_GETTABLE) {
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, n->table);
	} else if (type == NFT_MSG_GETSET) {
		mnl_attr_put_strz(nlh, NFTA_SET_TABLE, n->table);
		mnl_attr_put_strz(nlh, NFTA_SET_NAME, name);
	} else {
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, n->table);
		mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
	}
	r = nft_query(n, nlh, cb, data);
	return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

static int nft_count_rules(struct nft *n, int *count)
{
	char buf[1024];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
						     NLM_F_DUMP, ++n->b.seq);

	*count = 0;
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, n->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, nft_chain_name(n));
	return nft_query(n, nlh, nft_get_cb_count, count);
}

/* What exists of ours: table, sets (n->sets), chain and its rule count. */
static int nft_probe(struct nft *n, bool *table, bool *chain, int *rules,
		     struct nft_chaininfo *ci)
{
	int r;

	memset(n->sets, 0, sizeof(n->sets));
	*chain = false;
	*rules = 0;
	if ((r = nft_get(n, NFT_MSG_GETTABLE, NULL, nft_get_cb_table, &n->ours)) <= 0) {
		*table = false;
		return r;
	}
	*table = true;
	for (int i = 0; i < SET__MAX; i++)
		if ((r = nft_get(n, NFT_MSG_GETSET, nft_setdef[i].name, nft_get_cb_set,
				 &n->sets[i])) < 0)
			return r;
	if ((r = nft_get(n, NFT_MSG_GETCHAIN, nft_chain_name(n), nft_get_cb_chain, ci)) < 0)
		return r;
	if ((*chain = r))
		return nft_count_rules(n, rules);
	return 0;
}

/* A ban set made for a smaller set_size would fill before max_bans: the
 * kernel cannot resize a set, so say so and refuse. */
static int nft_check_sizes(const struct nft *n)
{
	for (int i = SET_BAN4; i <= SET_BAN6; i++) {
		const struct nft_setinfo *si = &n->sets[i];

		if (!si->present || si->size == 0 || si->size >= 2 * n->set_size)
			continue;
		nft_error(n, "set %s of table inet %s holds at most %u elements, "
			"set_size %u needs %u; lower set_size, or remove the table "
			"(dosips --flush: its bans go) to have it re-created",
			nft_setdef[i].name, n->table, si->size, n->set_size, 2 * n->set_size);
		return -ENOSPC;
	}
	return 0;
}

/* A table of that name that dosips did not make is the operator's: never
 * adopted, changed or deleted. */
static int nft_check_owner(const struct nft *n, const char *doing)
{
	if (n->ours)
		return 0;
	nft_error(n, "table inet %s exists and was not made by dosips (its comment is "
		"not \"" NFT_MARK "\"): refusing to %s it; name another table "
		"(table = in dosips.conf), or, if it is a dosips 0.1 table, delete it by "
		"hand (nft delete table inet %s)", n->table, doing, n->table);
	return -EEXIST;
}

/* An existing set must fit how this file writes to it. */
static int nft_check_sets(const struct nft *n)
{
	for (int i = 0; i < SET__MAX; i++) {
		const struct nft_setinfo *si = &n->sets[i];

		if (!si->present)
			continue;
		if (si->keylen == (nft_setdef[i].v6 ? 16u : 4u) &&
		    (nft_setdef[i].ban ? si->timeout : si->interval))
			continue;
		nft_error(n, "set %s of table inet %s has key length %u and flags %#x, "
			"not what dosips needs (%s address, flags %s); "
			"remove the table (dosips --flush) to have it re-created",
			nft_setdef[i].name, n->table, si->keylen, si->flags,
			nft_setdef[i].v6 ? "IPv6" : "IPv4", nft_setdef[i].ban ? "timeout" : "interval");
		return -EEXIST;
	}
	return nft_check_sizes(n);
}

static int nft_put_table(struct nft *n, uint16_t type, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t || !(nlh = nlb_msg_begin(&n->b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0,
					-1, what))) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, n->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (type == NFT_MSG_NEWTABLE) {
		static const char mark[] = NFT_MARK "; dosips --flush removes it";
		uint8_t ud[sizeof(mark) + 2];

		nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, ud, nft_udata_put(ud, mark));
	}
	nftnl_table_nlmsg_build_payload(nlh, t);
	nlb_msg_end(&n->b, nlh);
	nftnl_table_free(t);
	return 0;
}

static int nft_put_set(struct nft *n, int i)
{
	struct nftnl_set *s = nftnl_set_alloc();
	bool v6 = nft_setdef[i].v6, ban = nft_setdef[i].ban;
	struct nlmsghdr *nlh;

	if (!s || !(nlh = nlb_msg_begin(&n->b, NFT_MSG_NEWSET, NLM_F_CREATE, i, "create"))) {
		nftnl_set_free(s);
		return -ENOMEM;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, n->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, nft_setdef[i].name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v6 ? 8 : 7);  /* nft's ipv6_addr, ipv4_addr */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v6 ? 16 : 4);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | (ban ? NFT_SET_TIMEOUT : 0));
	nftnl_set_set_u32(s, NFTNL_SET_ID, ++n->set_id);
	if (ban)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, 2 * n->set_size);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nlb_msg_end(&n->b, nlh);
	nftnl_set_free(s);
	return 0;
}

static const uint32_t nft_hooknum[] = {
	[FW_HOOK_INGRESS] = NF_INET_INGRESS, [FW_HOOK_PREROUTING] = NF_INET_PRE_ROUTING,
	[FW_HOOK_INPUT] = NF_INET_LOCAL_IN, [FW_HOOK_FORWARD] = NF_INET_FORWARD,
};

/* An adopted chain that hooks elsewhere protects something else: say so. */
static void nft_check_chain(const struct nft *n, const struct nft_chaininfo *ci)
{
	if (ci->hooked && ci->hooknum == nft_hooknum[n->hook] &&
	    (n->hook != FW_HOOK_INGRESS || strcmp(ci->dev, n->iface) == 0))
		return;
	log_warn("nftables: chain %s of table inet %s is %s%s%s, not on %s: kept as it is; "
		 "dosips --flush re-creates it", nft_chain_name(n), n->table,
		 ci->hooked ? "on device " : "not a base chain", ci->hooked ? ci->dev : "",
		 ci->hooked && !*ci->dev ? "(none)" : "",
		 n->hook == FW_HOOK_INGRESS ? n->iface : fw_hook_name(n->hook));
}

static int nft_put_chain(struct nft *n)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c || !(nlh = nlb_msg_begin(&n->b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, -1, n->chain_what))) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, n->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, nft_chain_name(n));
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, nft_hooknum[n->hook]);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, n->priority);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (n->hook == FW_HOOK_INGRESS)
		nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, n->iface);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nlb_msg_end(&n->b, nlh);
	nftnl_chain_free(c);
	return 0;
}

/* meta nfproto <family>, <family> saddr @set [counter] accept|drop; the
 * set id finds a set created in the same batch (0: by name). */
static int nft_rule_exprs(struct nftnl_rule *r, int set, uint32_t set_id)
{
	return nft_rule_saddr(r, nft_setdef[set].v6, nft_setdef[set].name, set_id,
			      nft_setdef[set].ban, nft_setdef[set].ban);
}

/* Allow rules first: an accept there skips our drops (it ends only this
 * chain, which is all it has to do). */
static int nft_put_rules(struct nft *n, const uint32_t *set_ids)
{
	static const int order[NFT_RULES] = { SET_ALLOW4, SET_ALLOW6, SET_BAN4, SET_BAN6 };

	for (int i = 0; i < NFT_RULES; i++) {
		struct nftnl_rule *r = nftnl_rule_alloc();
		struct nlmsghdr *nlh;
		int e = -ENOMEM;

		if (r && nft_rule_exprs(r, order[i], set_ids[order[i]]) == 0 &&
		    (nlh = nlb_msg_begin(&n->b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
					 order[i], "add rule for"))) {
			nftnl_rule_set_str(r, NFTNL_RULE_TABLE, n->table);
			nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, nft_chain_name(n));
			nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
			nftnl_rule_nlmsg_build_payload(nlh, r);
			nlb_msg_end(&n->b, nlh);
			e = 0;
		}
		nftnl_rule_free(r);
		if (e < 0)
			return e;
	}
	return 0;
}

/* Removes every rule of our chain (they are re-added whole). */
static int nft_put_chain_flush(struct nft *n)
{
	struct nlmsghdr *nlh = nlb_msg_begin(&n->b, NFT_MSG_DELRULE, 0, -1, "flush chain");

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, n->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, nft_chain_name(n));
	nlb_msg_end(&n->b, nlh);
	return 0;
}

/* Puts whatever is missing into the batch; *made says what. */
static int nft_put_missing(struct nft *n, bool table, bool chain, int rules, unsigned *made)
{
	uint32_t ids[SET__MAX] = { 0 };
	int r = 0;

	*made = 0;
	if (!table && (r = nft_put_table(n, NFT_MSG_NEWTABLE, "create table")) < 0)
		return r;
	*made |= table ? 0 : MADE_TABLE;
	for (int i = 0; i < SET__MAX && r == 0; i++) {
		if (n->sets[i].present)
			continue;
		r = nft_put_set(n, i);
		ids[i] = n->set_id;
		*made |= nft_setdef[i].ban ? MADE_BANSET : MADE_ALLOWSET;
	}
	if (r == 0 && !chain && (r = nft_put_chain(n)) == 0)
		*made |= MADE_CHAIN;
	if (r == 0 && rules < NFT_RULES) {
		if (rules > 0)
			r = nft_put_chain_flush(n);
		if (r == 0 && (r = nft_put_rules(n, ids)) == 0)
			*made |= MADE_RULES;
	}
	return r;
}

static void nft_log_made(const struct nft *n, unsigned made)
{
	log_warn("nftables: table inet %s was damaged; re-created:%s%s%s%s%s", n->table,
		 made & MADE_TABLE ? " table" : "", made & MADE_BANSET ? " ban sets" : "",
		 made & MADE_ALLOWSET ? " allow sets" : "", made & MADE_CHAIN ? " chain" : "",
		 made & MADE_RULES ? " rules" : "");
}

/* Creates what is missing of the table, adopting what exists as it is.
 * repair: this is not the first look, so log what had to be re-created. */
static int nft_ensure(struct nft *n, bool repair, unsigned *made)
{
	struct nft_chaininfo ci = { .hooked = false };
	bool table, chain;
	int rules, r;

	*made = 0;
	if ((r = nft_probe(n, &table, &chain, &rules, &ci)) < 0) {
		nft_error(n, "reading table inet %s: %s%s", n->table, strerror(-r),
			r == -EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
		return r;
	}
	if ((table && (r = nft_check_owner(n, repair ? "repair" : "adopt")) < 0) ||
	    (r = nft_check_sets(n)) < 0)
		return r;
	if (chain && !repair)
		nft_check_chain(n, &ci);
	if ((r = nlb_begin(&n->b)) < 0 || (r = nft_put_missing(n, table, chain, rules, made)) < 0)
		return r;
	if (n->b.nmsgs == 0)
		return 0;
	if ((r = nlb_end(&n->b)) < 0 || (r = nft_talk(n)) < 0)
		return r;
	if (n->b.rejected || n->b.nerrs) {
		const struct nlb_err *e = n->b.rejected ? &(struct nlb_err){ .err = n->b.rejected } :
					  &n->b.errs[0];

		nft_log(n, n->b.rejected ? NULL : &n->b.msgs[e->msg], e, NULL);
		n->base.st.errors++;
		return e->err;
	}
	for (int i = 0; i < SET__MAX; i++)
		if (!n->sets[i].present)
			n->sets[i] = (struct nft_setinfo){ true, true, nft_setdef[i].ban,
							   nft_setdef[i].v6 ? 16 : 4, 0,
							   nft_setdef[i].ban ? 2 * n->set_size : 0 };
	if (*made & MADE_ALLOWSET)
		n->allow_dirty = true;
	/* A lost table or ban set is the caller's to report (fw_monitor_check
	 * returns 1 and it restores the bans): one warning for one event. */
	if (repair && *made && !(*made & (MADE_TABLE | MADE_BANSET)))
		nft_log_made(n, *made);
	return 0;
}

/* ---- commit ---- */

static int nft_qcmp(const void *a, const void *b)
{
	const struct nft_qent *x = a, *y = b;
	int c = memcmp(x->p.addr.b, y->p.addr.b, 16);

	if (c)
		return c;
	if (x->p.len != y->p.len)
		return x->p.len < y->p.len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts the queue by prefix and keeps only the last change of each. */
static void nft_coalesce(struct nft *n)
{
	size_t k = 0;

	if (n->nq == 0)
		return;
	qsort(n->q, n->nq, sizeof(*n->q), nft_qcmp);
	for (size_t i = 0; i < n->nq; i++) {
		struct nft_qent *qe = &n->q[i];
		char buf[ADDR_STRLEN];

		if (i + 1 < n->nq && qe->p.len == qe[1].p.len && addr_eq(&qe->p.addr, &qe[1].p.addr))
			continue;
		if (qe->p.len < 128 && !n->sets[set_of(&qe->p, true)].interval) {
			log_err("nftables: set %s of table inet %s has no flag interval: cannot "
				"hold %s (dosips --flush re-creates it)",
				nft_setdef[set_of(&qe->p, true)].name, n->table, prefix_fmt(&qe->p, buf));
			n->base.st.errors++;
			qe->state = Q_DROPPED;
			qe->err = -EINVAL;
			qe->why = "the set has no flag interval";
		}
		n->q[k++] = *qe;
	}
	n->nq = k;
}

static int nft_build(struct nft *n, size_t lo, size_t hi, bool with_allow)
{
	if (nlb_begin(&n->b) < 0 || (with_allow && nft_put_allow(n) < 0) ||
	    nft_put_bans(n, lo, hi) < 0 || nlb_end(&n->b) < 0)
		return -ENOMEM;
	return 0;
}

/* The set is full: every ban after this one would fail the same way, so
 * they all go, with one line for the lot instead of one batch each. */
static int nft_set_full(struct nft *n, const struct nlb_msg *m, const struct nlb_err *e,
			size_t from)
{
	char buf[ADDR_STRLEN];
	size_t k = 0;

	for (size_t i = from; i < n->nq; i++) {
		struct nft_qent *qe = &n->q[i];

		if (qe->state == Q_LIVE && qe->op == Q_BAN && set_of(&qe->p, true) == m->tag) {
			qe->state = Q_DROPPED;
			qe->err = e->err;
			qe->why = nlb_meaning(m->type, e->err);
			k++;
		}
	}
	nft_log(n, m, e, prefix_fmt(&n->q[from].p, buf));
	log_err("nftables: set %s is full: %zu bans not installed", nft_setdef[m->tag].name, k);
	n->base.st.errors += k;
	return e->err;
}

/* An error that names one element: drop that change and keep the rest. */
static int nft_elem_failed(struct nft *n, const struct nlb_msg *m, const struct nlb_err *e,
			   size_t owner)
{
	char buf[ADDR_STRLEN];
	struct nft_qent *qe;

	if (owner & OWNER_ALLOW) {
		const struct ip_range *r = &n->allow[m->tag - SET_ALLOW4][owner & ~OWNER_ALLOW];

		nft_log(n, m, e, addr_fmt(&r->first, buf));
		n->allow_skip = true;
		n->base.st.errors++;
		return e->err;
	}
	qe = &n->q[owner];
	if (qe->state != Q_LIVE)
		return 0;  /* already settled by an earlier error of this batch */
	/* An unban whose element is gone already: that is what it wants. Its
	 * leading add can only hit a full set when the element is absent. */
	if (qe->op == Q_UNBAN && ((e->err == -ENOENT && m->type == NFT_MSG_DELSETELEM) ||
				  (e->err == -ENFILE && m->type == NFT_MSG_NEWSETELEM))) {
		qe->state = Q_DONE;
		return 0;
	}
	if (e->err == -ENFILE && qe->op == Q_BAN)
		return nft_set_full(n, m, e, owner);
	nft_log(n, m, e, prefix_fmt(&qe->p, buf));
	qe->state = Q_DROPPED;
	qe->err = e->err;
	qe->why = nlb_meaning(m->type, e->err);
	n->base.st.errors++;
	return e->err;
}

/* An error of a whole message: the set is gone (re-create it and retry),
 * or drop every change the message carried. */
static int nft_msg_failed(struct nft *n, const struct nlb_msg *m, const struct nlb_err *e,
			  bool *lost)
{
	if (e->err == -ENOENT && m->tag >= 0) {
		*lost = true;
		return 0;
	}
	nft_log(n, m, e, NULL);
	n->base.st.errors++;
	for (size_t k = 0; k < m->count; k++) {
		size_t o = n->b.owner[m->first + k];

		if (o & OWNER_ALLOW) {
			n->allow_skip = true;
		} else if (n->q[o].state == Q_LIVE) {
			n->q[o].state = Q_DROPPED;
			n->q[o].err = e->err;
			n->q[o].why = nlb_meaning(m->type, e->err);
		}
	}
	if (m->count == 0)
		n->allow_skip = true;  /* the flush of an allow set */
	return e->err;
}

/* Sorts out the errors of a failed batch; *fatal when retrying is useless. */
static int nft_settle(struct nft *n, bool *ensured, bool *fatal)
{
	struct nlb_err errs[NLB_MAX_ERRS];
	size_t nerrs = n->b.nerrs;
	bool lost = false;
	unsigned made;
	int first = 0, r;

	if (n->b.rejected) {
		nft_log(n, NULL, &(struct nlb_err){ .err = n->b.rejected }, NULL);
		*fatal = true;
		return n->b.rejected;
	}
	memcpy(errs, n->b.errs, nerrs * sizeof(errs[0]));
	for (size_t i = 0; i < nerrs; i++) {
		const struct nlb_msg *m = &n->b.msgs[errs[i].msg];
		size_t o = errs[i].has_offs ? nlb_owner_at(&n->b, m, errs[i].offs) : NLB_NONE;

		r = o == NLB_NONE ? nft_msg_failed(n, m, &errs[i], &lost) :
				      nft_elem_failed(n, m, &errs[i], o);
		if (r < 0 && first == 0)
			first = r;
	}
	if (!lost)
		return first;
	if (*ensured || (r = nft_ensure(n, true, &made)) < 0) {
		*fatal = true;
		return first ? first : -ENOENT;
	}
	*ensured = true;
	if (made & (MADE_TABLE | MADE_BANSET))
		n->recreated = true;
	return first;
}

static size_t nft_count_live(const struct nft *n, size_t lo, size_t hi)
{
	size_t k = 0;

	for (size_t i = lo; i < hi; i++)
		k += n->q[i].state == Q_LIVE;
	return k;
}

/* Queue entries lo..hi (and the whitelist if due) in one batch; what the
 * kernel refuses is dropped, reported, and the rest sent again. */
/* The changes of lo..hi still live after the last batch: applied when it
 * went through (err 0), else not applied, for err. */
static void nft_settle_live(struct nft *n, size_t lo, size_t hi, int err)
{
	for (size_t i = lo; i < hi; i++) {
		struct nft_qent *qe = &n->q[i];

		if (qe->state != Q_LIVE)
			continue;
		qe->state = err ? Q_DROPPED : Q_DONE;
		qe->err = err;
		qe->why = err ? nlb_meaning(0, err) : NULL;
	}
}

/* Queue entries lo..hi (and the whitelist if due) in one batch; what the
 * kernel refuses is dropped, reported, and the rest sent again. */
static int nft_commit_chunk(struct nft *n, size_t lo, size_t hi, bool with_allow)
{
	bool ensured = false, fatal = false;
	int first = 0, r;

	n->allow_skip = false;
	for (int t = 0; t < NFT_TRIES && !fatal; t++) {
		bool allow = with_allow && !n->allow_skip;

		if (nft_count_live(n, lo, hi) == 0 && !allow)
			return first;
		if ((r = nft_build(n, lo, hi, allow)) < 0 || (r = nft_talk(n)) < 0) {
			nft_settle_live(n, lo, hi, r);
			return r;
		}
		if (!n->b.rejected && n->b.nerrs == 0) {
			nft_settle_live(n, lo, hi, 0);
			return first;
		}
		r = nft_settle(n, &ensured, &fatal);
		if (r < 0 && first == 0)
			first = r;
	}
	if (!fatal)
		log_err("nftables: gave up after %d attempts: %zu changes not applied",
			NFT_TRIES, nft_count_live(n, lo, hi));
	r = first ? first : -EIO;
	nft_settle_live(n, lo, hi, fatal && n->b.rejected ? n->b.rejected : r);
	return r;
}

/* Every change's outcome to the result callback, from the queue taken
 * aside: a callback may queue again. */
static void nft_report(struct nft *n)
{
	struct nft_qent *q = n->q;
	size_t nq = n->nq;

	n->q = NULL;
	n->nq = n->qcap = 0;
	for (size_t i = 0; i < nq; i++)
		fw_report(&n->base, q[i].op == Q_BAN ? FW_OP_BAN : FW_OP_UNBAN, &q[i].p,
			  q[i].state == Q_DROPPED ? q[i].err : 0, q[i].why);
	free(q);
}

static int nft_commit(struct fw *fw)
{
	struct nft *n = to_nft(fw);
	size_t lo = 0, allow_bytes = 0, chunk;
	bool allow = n->allow_dirty;
	int first = 0, r;

	if (n->nq == 0 && !allow)
		return 0;
	n->allow_dirty = false;  /* a re-creation during the commit sets it again */
	nft_coalesce(n);
	if (allow)
		allow_bytes = (n->nallow[0] + n->nallow[1]) * 2 * 48 + 4096;
	chunk = n->sndbuf > allow_bytes + NLB_MSG_ROOM * 2 ?
		(n->sndbuf - allow_bytes - NLB_MSG_ROOM * 2) / NFT_ENTRY_BYTES : 64;
	do {
		size_t hi = n->nq - lo > chunk ? lo + chunk : n->nq;

		r = nft_commit_chunk(n, lo, hi, lo == 0 && allow);
		if (r < 0 && first == 0)
			first = r;
		lo = hi;
	} while (lo < n->nq);
	nft_report(n);
	return first;
}

static int nft_queue(struct nft *n, int op, const struct ip_prefix *p, uint64_t timeout_ms,
		     const char *note)
{
	if (nlb_grow((void **)&n->q, &n->qcap, n->nq + 1, sizeof(*n->q)) < 0 ||
	    nlb_grow((void **)&n->sel, &n->selcap, n->qcap, sizeof(*n->sel)) < 0)
		return -ENOMEM;
	n->q[n->nq++] = (struct nft_qent){
		.p = *p, .timeout_ms = timeout_ms, .order = n->order++, .op = (uint8_t)op,
	};
	snprintf(n->q[n->nq - 1].note, FW_NOTE_MAX, "%s", note ? note : "");
	return 0;
}

static int nft_ban(struct fw *fw, const struct ip_prefix *p, uint64_t timeout_ms,
		   const char *note)
{
	return nft_queue(to_nft(fw), Q_BAN, p, timeout_ms, note);
}

static int nft_unban(struct fw *fw, const struct ip_prefix *p)
{
	return nft_queue(to_nft(fw), Q_UNBAN, p, 0, NULL);
}

static int nft_set_allow(struct fw *fw, const struct ip_prefix *p, size_t cnt)
{
	struct nft *n = to_nft(fw);
	struct ip_prefix *part[2] = { malloc((cnt + 1) * sizeof(*p)), malloc((cnt + 1) * sizeof(*p)) };
	struct ip_range *r[2] = { malloc((cnt + 1) * sizeof(**r)), malloc((cnt + 1) * sizeof(**r)) };
	size_t k[2] = { 0, 0 };
	int ret = -ENOMEM;

	if (!part[0] || !part[1] || !r[0] || !r[1])
		goto out;
	for (size_t i = 0; i < cnt; i++) {
		int f = !addr_is_v4(&p[i].addr);

		part[f][k[f]++] = p[i];
	}
	for (int f = 0; f < 2; f++) {
		n->nallow[f] = prefix_ranges(part[f], k[f], r[f]);
		free(n->allow[f]);
		n->allow[f] = r[f];
		r[f] = NULL;
	}
	n->allow_dirty = true;
	ret = 0;
out:
	free(part[0]);
	free(part[1]);
	free(r[0]);
	free(r[1]);
	return ret;
}

/* ---- reading bans back ---- */

struct nft_delem {
	struct ip_addr key;
	uint64_t remaining_ms;
	bool end, has_note;
	char note[FW_NOTE_MAX];
};

struct nft_dump {
	struct nft_delem *v;
	size_t n, cap;
	bool v6;
	int err;
};

static int nft_dump_elem(struct nftnl_set_elem *e, void *data)
{
	struct nft_dump *d = data;
	uint32_t klen = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	struct nft_delem *x;

	if (!key || klen != (d->v6 ? 16u : 4u))
		return 0;
	if (nlb_grow((void **)&d->v, &d->cap, d->n + 1, sizeof(*d->v)) < 0) {
		d->err = -ENOMEM;
		return -1;
	}
	x = &d->v[d->n++];
	if (d->v6)
		addr_from_v6(&x->key, key);
	else
		addr_from_v4(&x->key, key);
	x->has_note = false;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
		uint32_t len = 0;
		const uint8_t *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
		const char *c = nft_udata_comment(ud, len);

		if ((x->has_note = c != NULL))
			snprintf(x->note, sizeof(x->note), "%s", c);
	}
	x->end = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
		 (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END);
	x->remaining_ms = FW_NO_TIMEOUT;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION)) {
		uint64_t ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);

		x->remaining_ms = ms ? ms : 1;  /* less than a millisecond left */
	}
	return 0;
}

static int nft_dump_msg(const struct nlmsghdr *nlh, void *data)
{
	struct nft_dump *d = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		d->err = -EPROTO;
	else
		nftnl_set_elem_foreach(s, nft_dump_elem, d);
	nftnl_set_free(s);
	return d->err;
}

static int nft_gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return -ENOMEM;
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return 0;
}

static int nft_getgen(struct nft *n, uint32_t *gen)
{
	char buf[256];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC,
						     NLM_F_ACK, ++n->b.seq);

	return nft_query(n, nlh, nft_gen_cb, gen);
}

static int nft_dump_set(struct nft *n, int set, struct nft_dump *d)
{
	char buf[1024];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
						     NLM_F_DUMP, ++n->b.seq);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, n->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nft_setdef[set].name);
	d->n = 0;
	d->err = 0;
	d->v6 = nft_setdef[set].v6;
	return nft_query(n, nlh, nft_dump_msg, d);
}

/* Both ban sets as seen in one generation of the ruleset: -EAGAIN when the
 * ruleset changed during the dumps, -EINTR when a dump was interrupted. */
static int nft_dump_bans(struct nft *n, struct nft_dump *d)
{
	uint32_t g0 = 0, g1 = 0;
	int r;

	if ((r = nft_getgen(n, &g0)) < 0)
		return r;
	for (int s = SET_BAN4; s <= SET_BAN6; s++)
		if ((r = nft_dump_set(n, s, &d[s])) < 0)
			return r;
	if ((r = nft_getgen(n, &g1)) < 0)
		return r;
	return g0 == g1 ? 0 : -EAGAIN;
}

static int nft_delem_cmp(const void *a, const void *b)
{
	const struct nft_delem *x = a, *y = b;
	int c = memcmp(x->key.b, y->key.b, 16);

	return c ? c : (int)y->end - (int)x->end;  /* an end sorts before a start */
}

/* Calls cb for each prefix of [first, last]. */
static void nft_emit_range(struct ip_addr first, const struct ip_addr *last, unsigned minlen,
			   const struct nft_delem *x, fw_elem_cb cb, void *ctx)
{
	for (;;) {
		struct ip_prefix p = { .addr = first };
		struct ip_addr pl;

		for (p.len = (uint8_t)minlen; p.len < 128; p.len++) {
			struct ip_addr m = first;

			addr_mask(&m, p.len);
			prefix_last(&p, &pl);
			if (addr_eq(&m, &first) && memcmp(pl.b, last->b, 16) <= 0)
				break;
		}
		prefix_last(&p, &pl);
		cb(&p, x->remaining_ms, x->has_note ? x->note : NULL, ctx);
		if (memcmp(pl.b, last->b, 16) >= 0 || !key_inc(pl.b, 16))
			return;
		first = pl;
	}
}

/* Pairs each start with the next element (its end, or the next start when
 * the end is missing) and hands the prefixes on. */
static void nft_dump_emit(struct nft_dump *d, bool interval, fw_elem_cb cb, void *ctx)
{
	unsigned minlen = d->v6 ? 0 : 96;
	struct ip_addr top;

	memset(top.b, 0xff, 16);
	if (!d->v6)
		addr_from_v4(&top, top.b);
	if (d->n > 1) /* d->v is NULL while empty, and qsort wants non-NULL */
		qsort(d->v, d->n, sizeof(*d->v), nft_delem_cmp);
	for (size_t i = 0; i < d->n; i++) {
		struct ip_addr last = top;

		if (d->v[i].end)
			continue;
		if (!interval) {
			nft_emit_range(d->v[i].key, &d->v[i].key, 128, &d->v[i], cb, ctx);
			continue;
		}
		if (i + 1 < d->n) {
			last = d->v[i + 1].key;
			for (int b = 15; b >= 0 && last.b[b]-- == 0; b--)
				;
		}
		nft_emit_range(d->v[i].key, &last, minlen, &d->v[i], cb, ctx);
	}
}

static int nft_adopt(struct fw *fw, fw_elem_cb cb, void *ctx)
{
	struct nft *n = to_nft(fw);
	struct nft_dump d[2] = { { .v6 = false }, { .v6 = true } };
	int r, tries = 0;

	do
		r = nft_dump_bans(n, d);
	while ((r == -EINTR || r == -EAGAIN) && ++tries < 16);
	if (r < 0)
		log_err("nftables: listing the bans of table inet %s: %s", n->table, strerror(-r));
	else
		for (int s = SET_BAN4; s <= SET_BAN6; s++)
			nft_dump_emit(&d[s], n->sets[s].interval, cb, ctx);
	free(d[0].v);
	free(d[1].v);
	return r;
}

/* ---- monitor ---- */

/* True for a deletion in our table (table, chain, set or rule). */
static bool nft_mon_hits(const struct nft *n, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;

	_Static_assert(NFTA_TABLE_NAME == 1 && NFTA_CHAIN_TABLE == 1 && NFTA_SET_TABLE == 1 &&
		       NFTA_RULE_TABLE == 1, "the table name is attribute 1 of each");
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nfg)) || nfg->nfgen_family != NFPROTO_INET)
		return false;
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case NFT_MSG_DELTABLE: case NFT_MSG_DELCHAIN: case NFT_MSG_DELSET: case NFT_MSG_DELRULE:
		break;
	default:
		return false;
	}
	mnl_attr_for_each(attr, nlh, sizeof(*nfg))
		if (mnl_attr_get_type(attr) == 1 && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			return strcmp(mnl_attr_get_str(attr), n->table) == 0;
	return false;
}

static int nft_mon_drain(struct nft *n, bool *hit)
{
	for (int i = 0; i < NFT_MON_READS; i++) {
		ssize_t got = recv(mnl_socket_get_fd(n->mon), n->b.rbuf, NLB_RBUF, MSG_DONTWAIT);
		int len = (int)got;
		const struct nlmsghdr *nlh = (const void *)n->b.rbuf;

		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS)  /* events were lost: look at everything */
				*hit = true;
			else if (errno != EINTR)
				return -errno;
			continue;
		}
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
			*hit |= nft_mon_hits(n, nlh);
	}
	return 0;
}

static int nft_monitor_fd(struct fw *fw)
{
	return mnl_socket_get_fd(to_nft(fw)->mon);
}

static int nft_monitor_check(struct fw *fw)
{
	struct nft *n = to_nft(fw);
	bool hit = false;
	unsigned made = 0;
	int r;

	if ((r = nft_mon_drain(n, &hit)) < 0) {
		log_err("nftables: reading the monitor: %s", strerror(-r));
		return r;
	}
	if (n->flushed)
		return 0;
	hit |= n->mon_missed;
	n->mon_missed = false;
	if (hit && (r = nft_ensure(n, true, &made)) < 0)
		return r;
	if (made & (MADE_TABLE | MADE_BANSET))
		n->recreated = true;
	r = n->recreated;
	n->recreated = false;
	return r;
}

static void nft_monitor_missed(struct fw *fw)
{
	to_nft(fw)->mon_missed = true;
}

/* ---- open, flush, close ---- */

static int nft_flush(struct fw *fw)
{
	struct nft *n = to_nft(fw);
	int r;

	bool table, chain;
	int rules;
	struct nft_chaininfo ci;

	n->nq = 0;
	n->flushed = true;
	if ((r = nft_probe(n, &table, &chain, &rules, &ci)) < 0)
		return r;
	if (!table)
		return 0;  /* nothing to delete */
	if ((r = nft_check_owner(n, "delete")) < 0)
		return r;
	if ((r = nlb_begin(&n->b)) < 0 || (r = nft_put_table(n, NFT_MSG_DELTABLE, "delete table")) < 0 ||
	    (r = nlb_end(&n->b)) < 0 || (r = nft_talk(n)) < 0)
		return r;
	r = n->b.rejected ? n->b.rejected : n->b.nerrs ? n->b.errs[0].err : 0;
	if (r == -ENOENT)
		return 0;  /* nothing to delete */
	if (r < 0) {
		nft_log(n, n->b.rejected ? NULL : &n->b.msgs[0],
			n->b.rejected ? &(struct nlb_err){ .err = r } : &n->b.errs[0], NULL);
		n->base.st.errors++;
	}
	return r;
}

static void nft_close(struct fw *fw)
{
	struct nft *n = to_nft(fw);

	if (n->nl)
		mnl_socket_close(n->nl);
	if (n->mon)
		mnl_socket_close(n->mon);
	if (n->elem)
		nftnl_set_elem_free(n->elem);
	free(n->allow[0]);
	free(n->allow[1]);
	free(n->q);
	free(n->sel);
	nlb_free(&n->b);
	free(n);
}

static const struct fw_ops nft_ops = {
	.ban = nft_ban, .unban = nft_unban, .set_allow = nft_set_allow, .commit = nft_commit,
	.adopt = nft_adopt, .monitor_fd = nft_monitor_fd, .monitor_check = nft_monitor_check,
	.monitor_missed = nft_monitor_missed,
	.flush = nft_flush, .close = nft_close,
};

/* Big batches need big buffers: the FORCE variants pass the sysctl limits
 * (we hold CAP_NET_ADMIN anyway), the plain ones are the fallback. */
static void nft_bufsize(int fd, int force, int plain, int size)
{
	if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, plain, &size, sizeof(size));
}

static int nft_sockets(struct nft *n)
{
	int one = 1, grp = NFNLGRP_NFTABLES, fd, sz = 0;
	socklen_t len = sizeof(sz);

	/* Non-blocking: the kernel answers inside our send (nlbatch.c). */
	if (!(n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK)) ||
	    mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    !(n->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK)) ||
	    mnl_socket_bind(n->mon, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(n->mon, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0)
		return -errno;
	fd = mnl_socket_get_fd(n->nl);
	/* Short acks that still say which attribute was wrong. */
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	nft_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, NFT_SNDBUF);
	nft_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, NFT_RCVBUF);
	nft_bufsize(mnl_socket_get_fd(n->mon), SO_RCVBUFFORCE, SO_RCVBUF, NFT_RCVBUF);
	getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, &len);
	n->sndbuf = sz > 0 ? (size_t)sz - 64 : 65536;
	return 0;
}

static int nft_cfg_copy(struct nft *n, const struct fw_cfg *cfg)
{
	const char *table = cfg->table && *cfg->table ? cfg->table : "dosips";

	if (strlen(table) >= sizeof(n->table) || (unsigned)cfg->hook > FW_HOOK_FORWARD)
		return -EINVAL;
	if (cfg->hook == FW_HOOK_INGRESS &&
	    (!cfg->iface || !*cfg->iface || strlen(cfg->iface) >= sizeof(n->iface))) {
		nft_error(n, "the ingress hook needs an interface name");
		return -EINVAL;
	}
	strcpy(n->table, table);
	if (cfg->iface)
		snprintf(n->iface, sizeof(n->iface), "%s", cfg->iface);
	n->hook = cfg->hook;
	snprintf(n->chain_what, sizeof(n->chain_what), "create chain %s%s%s",
		 fw_hook_name(n->hook), n->hook == FW_HOOK_INGRESS ? " on " : "",
		 n->hook == FW_HOOK_INGRESS ? n->iface : "");
	n->set_size = cfg->set_size ? cfg->set_size : FW_SET_SIZE;
	n->priority = cfg->priority;
	return 0;
}

int fw_open_nft(const struct fw_cfg *cfg, struct fw **out, char *err, size_t errlen)
{
	struct nft *n = calloc(1, sizeof(*n));
	unsigned made;
	int r = -ENOMEM;

	snprintf(err, errlen, "out of memory");
	if (!n)
		return -ENOMEM;
	*err = '\0';
	n->err = err;
	n->errlen = errlen;
	n->base.ops = &nft_ops;
	if (!(n->b.rbuf = malloc(NLB_RBUF)) || !(n->elem = nftnl_set_elem_alloc()))
		goto fail;
	if ((r = nft_cfg_copy(n, cfg)) < 0)
		goto fail;
	if ((r = nft_sockets(n)) < 0) {
		nft_error(n, "netlink socket: %s", strerror(-r));
		goto fail;
	}
	if (!cfg->open_only && (r = nft_ensure(n, false, &made)) < 0)
		goto fail;
	n->err = NULL;
	*out = &n->base;
	return 0;
fail:
	if (!*err)
		snprintf(err, errlen, "%s", strerror(-r));
	nft_close(&n->base);
	return r;
}
