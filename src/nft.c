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
 * send buffer). Each ban goes as add, delete, add of the same element: the
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
#include <sys/time.h>
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
#include "log.h"

#define NFT_RBUF (64 * 1024)        /* large enough for any dump message */
#define NFT_ELEMS_MAX (60 * 1024)   /* element bytes per message (nest < 64 KiB) */
#define NFT_MSG_ROOM (NFT_ELEMS_MAX + 4096)
#define NFT_SNDBUF (8 * 1024 * 1024)
#define NFT_RCVBUF (4 * 1024 * 1024)
#define NFT_ENTRY_BYTES 256         /* worst case of one ban's three phases */
#define NFT_TRIES 4                 /* attempts per batch, each drops what failed */
#define NFT_MAX_ERRS 16
#define NFT_PROBE_MS 1000           /* timeout of the add that precedes an unban */
#define NFT_RULES 4
#define NFT_MON_READS 256           /* reads per monitor wake-up */
#define OWNER_NONE SIZE_MAX
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
	uint32_t keylen, flags;
};

struct nft_qent {
	struct ip_prefix p;
	uint64_t timeout_ms;
	uint32_t order;
	uint8_t op, state;
};

/* One message of the batch being built, to tell what an error is about. */
struct nft_msg {
	size_t off;
	uint16_t type;
	int8_t set;
	const char *what;
	size_t first, count;        /* its elements' owners in nft_batch.owner */
};

struct nft_err {
	size_t msg;
	int err;
	bool has_offs;
	uint32_t offs;
	char text[160];
};

struct nft_batch {
	char *buf;
	size_t len, cap;
	struct nft_msg *msgs;
	size_t nmsgs, mcap;
	size_t *owner;              /* per element: queue index, OWNER_ALLOW|i */
	size_t nowner, ocap;
	uint32_t seq0;
	struct nft_err errs[NFT_MAX_ERRS];
	size_t nerrs;
	int rejected;               /* an error on the batch as a whole */
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
	uint32_t seq, set_id;
	size_t sndbuf;
	struct nft_setinfo sets[SET__MAX];
	struct nft_qent *q;
	size_t *sel;                /* scratch: queue indices of one phase */
	size_t nq, qcap, selcap;
	uint32_t order;
	struct ip_range *allow[2];
	size_t nallow[2];
	bool allow_dirty, allow_skip, recreated, flushed;
	struct nft_batch b;
	struct nftnl_set_elem *elem;  /* scratch, reused for every element */
	char *rbuf;
	char *err;                  /* set-up's error text (fw_open_nft), else NULL */
	size_t errlen;
};

static struct nft *to_nft(struct fw *fw)
{
	return (struct nft *)fw;
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

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(np = realloc(*p, c * size)))
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

static int nft_reserve(struct nft_batch *b)
{
	if (b->cap - b->len < NFT_MSG_ROOM &&
	    grow((void **)&b->buf, &b->cap, b->len + NFT_MSG_ROOM, 1) < 0)
		return -ENOMEM;
	return grow((void **)&b->msgs, &b->mcap, b->nmsgs + 1, sizeof(*b->msgs));
}

static int nft_batch_begin(struct nft *n)
{
	struct nft_batch *b = &n->b;

	b->len = b->nmsgs = b->nowner = b->nerrs = 0;
	b->rejected = 0;
	if (nft_reserve(b) < 0)
		return -ENOMEM;
	b->seq0 = ++n->seq;
	b->len += NLMSG_ALIGN(nftnl_batch_begin(b->buf, b->seq0)->nlmsg_len);
	return 0;
}

static int nft_batch_end(struct nft *n)
{
	struct nft_batch *b = &n->b;

	if (nft_reserve(b) < 0)
		return -ENOMEM;
	b->len += NLMSG_ALIGN(nftnl_batch_end(b->buf + b->len, ++n->seq)->nlmsg_len);
	return 0;
}

/* Starts message type of the batch; its ack tells about what/set. */
static struct nlmsghdr *nft_msg_begin(struct nft *n, uint16_t type, uint16_t flags,
				      int set, const char *what)
{
	struct nft_batch *b = &n->b;

	if (nft_reserve(b) < 0)
		return NULL;
	b->msgs[b->nmsgs++] = (struct nft_msg){
		.off = b->len, .type = type, .set = (int8_t)set, .what = what,
		.first = b->nowner,
	};
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET,
				     flags | NLM_F_ACK, ++n->seq);
}

static void nft_msg_end(struct nft *n, struct nlmsghdr *nlh)
{
	struct nft_batch *b = &n->b;
	struct nft_msg *m = &b->msgs[b->nmsgs - 1];

	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	m->count = b->nowner - m->first;
}

/* Starts a set element message and opens its element list. */
static struct nlmsghdr *nft_elems_begin(struct nft *n, uint16_t type, int set,
					const char *what, struct nlattr **nest)
{
	struct nlmsghdr *nlh = nft_msg_begin(n, type,
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
			size_t klen, uint64_t timeout_ms, bool end, size_t owner)
{
	struct nft_batch *b = &n->b;
	struct nlattr *nest;

	if (grow((void **)&b->owner, &b->ocap, b->nowner + 1, sizeof(*b->owner)) < 0)
		return -ENOMEM;
	nftnl_set_elem_set(n->elem, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
	if (timeout_ms)
		nftnl_set_elem_set_u64(n->elem, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
	else
		nftnl_set_elem_unset(n->elem, NFTNL_SET_ELEM_TIMEOUT);
	if (end)
		nftnl_set_elem_set_u32(n->elem, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	else
		nftnl_set_elem_unset(n->elem, NFTNL_SET_ELEM_FLAGS);
	nest = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	nftnl_set_elem_nlmsg_build_payload(nlh, n->elem);
	mnl_attr_nest_end(nlh, nest);
	b->owner[b->nowner++] = owner;
	return 0;
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
			 const struct ip_range *r, uint64_t timeout_ms, size_t owner)
{
	size_t klen = nft_setdef[set].v6 ? 16 : 4, off = 16 - klen;
	uint8_t end[16];
	int e;

	if (!n->sets[set].interval)
		return nft_put_elem(n, nlh, r->first.b + off, klen, timeout_ms, false, owner);
	if ((e = nft_put_elem(n, nlh, r->first.b + off, klen, timeout_ms, false, owner)) < 0)
		return e;
	memcpy(end, r->last.b + off, klen);
	if (!key_inc(end, klen))
		return 0;
	return nft_put_elem(n, nlh, end, klen, 0, true, owner);
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
		for (; i < cnt && nlh->nlmsg_len < NFT_ELEMS_MAX; i++) {
			const struct nft_qent *qe = &n->q[idx[i]];
			uint64_t t = type != NFT_MSG_NEWSETELEM ? 0 :
				     qe->op == Q_BAN ? qe->timeout_ms : NFT_PROBE_MS;
			struct ip_range r = { .first = qe->p.addr };

			prefix_last(&qe->p, &r.last);
			if (nft_put_range(n, nlh, set, &r, t, idx[i]) < 0)
				return -ENOMEM;
		}
		mnl_attr_nest_end(nlh, nest);
		nft_msg_end(n, nlh);
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
		nft_msg_end(n, nlh);
		while (i < n->nallow[f]) {
			struct nlattr *nest;

			if (!(nlh = nft_elems_begin(n, NFT_MSG_NEWSETELEM, set, "add elements to",
						    &nest)))
				return -ENOMEM;
			for (; i < n->nallow[f] && nlh->nlmsg_len < NFT_ELEMS_MAX; i++)
				if (nft_put_range(n, nlh, set, &n->allow[f][i], 0, OWNER_ALLOW | i) < 0)
					return -ENOMEM;
			mnl_attr_nest_end(nlh, nest);
			nft_msg_end(n, nlh);
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

static int nft_recv(struct nft *n)
{
	ssize_t len = mnl_socket_recvfrom(n->nl, n->rbuf, NFT_RBUF);

	if (len < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	return (int)len;
}

/* Keeps the kernel's own words and the offset of the attribute it blames. */
static void nft_note_err(struct nft_batch *b, size_t msg, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	struct nft_err *e;
	const struct nlattr *attr;
	size_t off = sizeof(*err);

	if (b->nerrs == NFT_MAX_ERRS)
		return;
	e = &b->errs[b->nerrs++];
	*e = (struct nft_err){ .msg = msg, .err = err->error };
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(e->text, sizeof(e->text), "%s", mnl_attr_get_str(attr));
		else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS &&
			 mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
			e->offs = mnl_attr_get_u32(attr);
			e->has_offs = true;
		}
	}
}

/* Handles one ack; returns 1 when it belongs to this batch. */
static int nft_take_ack(struct nft_batch *b, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	uint32_t seq = nlh->nlmsg_seq;

	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*err)))
		return 0;
	if (seq == b->seq0) {
		b->rejected = err->error ? err->error : -EPROTO;
		return 1;
	}
	if (seq <= b->seq0 || seq > b->seq0 + b->nmsgs)
		return 0;  /* a late reply to something older */
	if (err->error)
		nft_note_err(b, seq - b->seq0 - 1, nlh);
	return 1;
}

/* Sends the batch and collects one ack per message (or the batch's error).
 * The kernel handles a batch inside sendmsg, so the acks are already queued
 * when it returns. */
static int nft_talk(struct nft *n)
{
	struct nft_batch *b = &n->b;
	size_t acked = 0;

	if (mnl_socket_sendto(n->nl, b->buf, b->len) < 0) {
		int r = -errno;

		log_err("nftables: sending a batch of %zu bytes: %s", b->len, strerror(-r));
		return r;
	}
	n->base.st.batches++;
	while (acked < b->nmsgs && !b->rejected) {
		int len = nft_recv(n);
		const struct nlmsghdr *nlh = (const void *)n->rbuf;

		if (len < 0) {
			log_err("nftables: reading acknowledgements: %s", strerror(-len));
			return len;
		}
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
			acked += (size_t)nft_take_ack(b, nlh);
	}
	return 0;
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
		int len = nft_recv(n);
		const struct nlmsghdr *nlh = (const void *)n->rbuf;

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

static const char *nft_meaning(uint16_t type, int err)
{
	switch (-err) {
	case ENFILE:
		return type == NFT_MSG_NEWSETELEM ? "the set is full: raise set_size" : NULL;
	case ENOENT:
		return type == NFT_MSG_DELSETELEM ? "no such element: it expired" :
		       type == NFT_MSG_NEWCHAIN ? "no such interface" :
		       "no such table, set or chain";
	case EEXIST:
	case ENOTEMPTY:
		return type == NFT_MSG_NEWSETELEM ? "overlaps an element already in the set" :
		       "exists with other properties";
	case EINVAL: return "the kernel rejected it as invalid";
	case EPERM: return "needs root or CAP_NET_ADMIN";
	case EOPNOTSUPP: return "not supported by this kernel";
	case ENODEV: return "no such interface";
	case EBUSY: return "in use";
	case EMSGSIZE: return "larger than the socket's send buffer";
	case ENOBUFS: return "netlink socket buffer overrun";
	default: return NULL;
	}
}

/* One line per failure: what was tried on which object or element, the
 * errno's text, what it means here, and the kernel's own message if any. */
static void nft_log(const struct nft *n, const struct nft_msg *m, const struct nft_err *e,
		    const char *elem)
{
	const char *mean = nft_meaning(m ? m->type : 0, e->err);
	char what[160];

	if (!m)
		snprintf(what, sizeof(what), "batch");
	else if (elem)
		snprintf(what, sizeof(what), "%s element %s in set %s",
			 m->type == NFT_MSG_NEWSETELEM ? "add" : "delete", elem,
			 nft_setdef[m->set].name);
	else if (m->set >= 0)
		snprintf(what, sizeof(what), "%s set %s", m->what, nft_setdef[m->set].name);
	else
		snprintf(what, sizeof(what), "%s", m->what);
	nft_error(n, "%s (table inet %s) failed: %s%s%s%s%s%s", what, n->table,
		strerror(-e->err), mean ? " (" : "", mean ? mean : "", mean ? ")" : "",
		*e->text ? ": " : "", e->text);
}

/* The owner of the element the kernel blames, found by its offset. */
static size_t nft_owner_at(const struct nft *n, const struct nft_msg *m, uint32_t offs)
{
	const struct nlmsghdr *nlh = (const void *)(n->b.buf + m->off);
	const struct nlattr *attr, *el;
	size_t k = 0;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(el, attr) {
			if ((size_t)((const char *)el - (const char *)nlh) == offs)
				return k < m->count ? n->b.owner[m->first + k] : OWNER_NONE;
			k++;
		}
	}
	return OWNER_NONE;
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
	}
	nftnl_set_free(s);
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
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_ACK, ++n->seq);
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
						     NLM_F_DUMP, ++n->seq);

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
	if ((r = nft_get(n, NFT_MSG_GETTABLE, NULL, NULL, NULL)) <= 0) {
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
	return 0;
}

static int nft_put_table(struct nft *n, uint16_t type, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t || !(nlh = nft_msg_begin(n, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0,
					-1, what))) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, n->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nft_msg_end(n, nlh);
	nftnl_table_free(t);
	return 0;
}

static int nft_put_set(struct nft *n, int i)
{
	struct nftnl_set *s = nftnl_set_alloc();
	bool v6 = nft_setdef[i].v6, ban = nft_setdef[i].ban;
	struct nlmsghdr *nlh;

	if (!s || !(nlh = nft_msg_begin(n, NFT_MSG_NEWSET, NLM_F_CREATE, i, "create"))) {
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
	nft_msg_end(n, nlh);
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

	if (!c || !(nlh = nft_msg_begin(n, NFT_MSG_NEWCHAIN, NLM_F_CREATE, -1, n->chain_what))) {
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
	nft_msg_end(n, nlh);
	nftnl_chain_free(c);
	return 0;
}

static int nft_add_expr(struct nftnl_rule *r, const char *name, const uint32_t *kv, size_t nkv,
			uint16_t dattr, const void *data, uint32_t dlen)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i + 1 < nkv; i += 2)
		nftnl_expr_set_u32(e, (uint16_t)kv[i], kv[i + 1]);
	if (data)
		nftnl_expr_set(e, dattr, data, dlen);
	nftnl_rule_add_expr(r, e);
	return 0;
}

/* meta nfproto <family>, <family> saddr @set [counter] accept|drop */
static int nft_rule_exprs(struct nftnl_rule *r, int set, uint32_t set_id)
{
	bool v6 = nft_setdef[set].v6, ban = nft_setdef[set].ban;
	uint8_t proto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	const uint32_t meta[] = { NFTNL_EXPR_META_KEY, NFT_META_NFPROTO,
				  NFTNL_EXPR_META_DREG, NFT_REG_1 };
	const uint32_t cmp[] = { NFTNL_EXPR_CMP_SREG, NFT_REG_1, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ };
	const uint32_t pay[] = { NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER,
				 NFTNL_EXPR_PAYLOAD_OFFSET, v6 ? 8 : 12,
				 NFTNL_EXPR_PAYLOAD_LEN, v6 ? 16 : 4,
				 NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1 };
	/* The set id finds a set created in the same batch; 0: by name. */
	const uint32_t look[] = { NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1,
				  NFTNL_EXPR_LOOKUP_SET_ID, set_id };
	const uint32_t imm[] = { NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT,
				 NFTNL_EXPR_IMM_VERDICT, ban ? NF_DROP : NF_ACCEPT };
	const char *name = nft_setdef[set].name;

	if (nft_add_expr(r, "meta", meta, 4, 0, NULL, 0) < 0 ||
	    nft_add_expr(r, "cmp", cmp, 4, NFTNL_EXPR_CMP_DATA, &proto, 1) < 0 ||
	    nft_add_expr(r, "payload", pay, 8, 0, NULL, 0) < 0 ||
	    nft_add_expr(r, "lookup", look, set_id ? 4 : 2, NFTNL_EXPR_LOOKUP_SET, name,
			 (uint32_t)strlen(name) + 1) < 0 ||
	    (ban && nft_add_expr(r, "counter", NULL, 0, 0, NULL, 0) < 0) ||
	    nft_add_expr(r, "immediate", imm, 4, 0, NULL, 0) < 0)
		return -ENOMEM;
	return 0;
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
		    (nlh = nft_msg_begin(n, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
					 order[i], "add rule for"))) {
			nftnl_rule_set_str(r, NFTNL_RULE_TABLE, n->table);
			nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, nft_chain_name(n));
			nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
			nftnl_rule_nlmsg_build_payload(nlh, r);
			nft_msg_end(n, nlh);
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
	struct nlmsghdr *nlh = nft_msg_begin(n, NFT_MSG_DELRULE, 0, -1, "flush chain");

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, n->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, nft_chain_name(n));
	nft_msg_end(n, nlh);
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
	if ((r = nft_check_sets(n)) < 0)
		return r;
	if (chain && !repair)
		nft_check_chain(n, &ci);
	if ((r = nft_batch_begin(n)) < 0 || (r = nft_put_missing(n, table, chain, rules, made)) < 0)
		return r;
	if (n->b.nmsgs == 0)
		return 0;
	if ((r = nft_batch_end(n)) < 0 || (r = nft_talk(n)) < 0)
		return r;
	if (n->b.rejected || n->b.nerrs) {
		const struct nft_err *e = n->b.rejected ? &(struct nft_err){ .err = n->b.rejected } :
					  &n->b.errs[0];

		nft_log(n, n->b.rejected ? NULL : &n->b.msgs[e->msg], e, NULL);
		n->base.st.errors++;
		return e->err;
	}
	for (int i = 0; i < SET__MAX; i++)
		if (!n->sets[i].present)
			n->sets[i] = (struct nft_setinfo){ true, true, nft_setdef[i].ban,
							   nft_setdef[i].v6 ? 16 : 4, 0 };
	if (*made & MADE_ALLOWSET)
		n->allow_dirty = true;
	if (repair && *made)
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
			continue;
		}
		n->q[k++] = *qe;
	}
	n->nq = k;
}

static int nft_build(struct nft *n, size_t lo, size_t hi, bool with_allow)
{
	if (nft_batch_begin(n) < 0 || (with_allow && nft_put_allow(n) < 0) ||
	    nft_put_bans(n, lo, hi) < 0 || nft_batch_end(n) < 0)
		return -ENOMEM;
	return 0;
}

/* The set is full: every ban after this one would fail the same way, so
 * they all go, with one line for the lot instead of one batch each. */
static int nft_set_full(struct nft *n, const struct nft_msg *m, const struct nft_err *e,
			size_t from)
{
	char buf[ADDR_STRLEN];
	size_t k = 0;

	for (size_t i = from; i < n->nq; i++) {
		struct nft_qent *qe = &n->q[i];

		if (qe->state == Q_LIVE && qe->op == Q_BAN && set_of(&qe->p, true) == m->set) {
			qe->state = Q_DROPPED;
			k++;
		}
	}
	nft_log(n, m, e, prefix_fmt(&n->q[from].p, buf));
	log_err("nftables: set %s is full: %zu bans not installed", nft_setdef[m->set].name, k);
	n->base.st.errors += k;
	return e->err;
}

/* An error that names one element: drop that change and keep the rest. */
static int nft_elem_failed(struct nft *n, const struct nft_msg *m, const struct nft_err *e,
			   size_t owner)
{
	char buf[ADDR_STRLEN];
	struct nft_qent *qe;

	if (owner & OWNER_ALLOW) {
		const struct ip_range *r = &n->allow[m->set - SET_ALLOW4][owner & ~OWNER_ALLOW];

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
	n->base.st.errors++;
	return e->err;
}

/* An error of a whole message: the set is gone (re-create it and retry),
 * or drop every change the message carried. */
static int nft_msg_failed(struct nft *n, const struct nft_msg *m, const struct nft_err *e,
			  bool *lost)
{
	if (e->err == -ENOENT && m->set >= 0) {
		*lost = true;
		return 0;
	}
	nft_log(n, m, e, NULL);
	n->base.st.errors++;
	for (size_t k = 0; k < m->count; k++) {
		size_t o = n->b.owner[m->first + k];

		if (o & OWNER_ALLOW)
			n->allow_skip = true;
		else
			n->q[o].state = Q_DROPPED;
	}
	if (m->count == 0)
		n->allow_skip = true;  /* the flush of an allow set */
	return e->err;
}

/* Sorts out the errors of a failed batch; *fatal when retrying is useless. */
static int nft_settle(struct nft *n, bool *ensured, bool *fatal)
{
	struct nft_err errs[NFT_MAX_ERRS];
	size_t nerrs = n->b.nerrs;
	bool lost = false;
	unsigned made;
	int first = 0, r;

	if (n->b.rejected) {
		nft_log(n, NULL, &(struct nft_err){ .err = n->b.rejected }, NULL);
		*fatal = true;
		return n->b.rejected;
	}
	memcpy(errs, n->b.errs, nerrs * sizeof(errs[0]));
	for (size_t i = 0; i < nerrs; i++) {
		const struct nft_msg *m = &n->b.msgs[errs[i].msg];
		size_t o = errs[i].has_offs ? nft_owner_at(n, m, errs[i].offs) : OWNER_NONE;

		r = o == OWNER_NONE ? nft_msg_failed(n, m, &errs[i], &lost) :
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
static int nft_commit_chunk(struct nft *n, size_t lo, size_t hi, bool with_allow)
{
	bool ensured = false, fatal = false;
	int first = 0, r;

	n->allow_skip = false;
	for (int t = 0; t < NFT_TRIES && !fatal; t++) {
		bool allow = with_allow && !n->allow_skip;

		if (nft_count_live(n, lo, hi) == 0 && !allow)
			return first;
		if ((r = nft_build(n, lo, hi, allow)) < 0 || (r = nft_talk(n)) < 0)
			return r;
		if (!n->b.rejected && n->b.nerrs == 0)
			return first;
		r = nft_settle(n, &ensured, &fatal);
		if (r < 0 && first == 0)
			first = r;
	}
	if (!fatal)
		log_err("nftables: gave up after %d attempts: %zu changes not applied",
			NFT_TRIES, nft_count_live(n, lo, hi));
	return first ? first : -EIO;
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
	chunk = n->sndbuf > allow_bytes + NFT_MSG_ROOM * 2 ?
		(n->sndbuf - allow_bytes - NFT_MSG_ROOM * 2) / NFT_ENTRY_BYTES : 64;
	do {
		size_t hi = n->nq - lo > chunk ? lo + chunk : n->nq;

		r = nft_commit_chunk(n, lo, hi, lo == 0 && allow);
		if (r < 0 && first == 0)
			first = r;
		lo = hi;
	} while (lo < n->nq);
	n->nq = 0;
	return first;
}

static int nft_queue(struct nft *n, int op, const struct ip_prefix *p, uint64_t timeout_ms)
{
	if (grow((void **)&n->q, &n->qcap, n->nq + 1, sizeof(*n->q)) < 0 ||
	    grow((void **)&n->sel, &n->selcap, n->qcap, sizeof(*n->sel)) < 0)
		return -ENOMEM;
	n->q[n->nq++] = (struct nft_qent){
		.p = *p, .timeout_ms = timeout_ms, .order = n->order++, .op = (uint8_t)op,
	};
	return 0;
}

static int nft_ban(struct fw *fw, const struct ip_prefix *p, uint64_t timeout_ms)
{
	return nft_queue(to_nft(fw), Q_BAN, p, timeout_ms);
}

static int nft_unban(struct fw *fw, const struct ip_prefix *p)
{
	return nft_queue(to_nft(fw), Q_UNBAN, p, 0);
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
	bool end;
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
	if (grow((void **)&d->v, &d->cap, d->n + 1, sizeof(*d->v)) < 0) {
		d->err = -ENOMEM;
		return -1;
	}
	x = &d->v[d->n++];
	if (d->v6)
		addr_from_v6(&x->key, key);
	else
		addr_from_v4(&x->key, key);
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
						     NLM_F_ACK, ++n->seq);

	return nft_query(n, nlh, nft_gen_cb, gen);
}

static int nft_dump_set(struct nft *n, int set, struct nft_dump *d)
{
	char buf[1024];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
						     NLM_F_DUMP, ++n->seq);

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
			   uint64_t remaining, fw_elem_cb cb, void *ctx)
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
		cb(&p, remaining, ctx);
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
			nft_emit_range(d->v[i].key, &d->v[i].key, 128, d->v[i].remaining_ms, cb, ctx);
			continue;
		}
		if (i + 1 < d->n) {
			last = d->v[i + 1].key;
			for (int b = 15; b >= 0 && last.b[b]-- == 0; b--)
				;
		}
		nft_emit_range(d->v[i].key, &last, minlen, d->v[i].remaining_ms, cb, ctx);
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
		ssize_t got = recv(mnl_socket_get_fd(n->mon), n->rbuf, NFT_RBUF, MSG_DONTWAIT);
		int len = (int)got;
		const struct nlmsghdr *nlh = (const void *)n->rbuf;

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
	if (hit && (r = nft_ensure(n, true, &made)) < 0)
		return r;
	if (made & (MADE_TABLE | MADE_BANSET))
		n->recreated = true;
	r = n->recreated;
	n->recreated = false;
	return r;
}

/* ---- open, flush, close ---- */

static int nft_flush(struct fw *fw)
{
	struct nft *n = to_nft(fw);
	int r;

	n->nq = 0;
	n->flushed = true;
	if ((r = nft_batch_begin(n)) < 0 || (r = nft_put_table(n, NFT_MSG_DELTABLE, "delete table")) < 0 ||
	    (r = nft_batch_end(n)) < 0 || (r = nft_talk(n)) < 0)
		return r;
	r = n->b.rejected ? n->b.rejected : n->b.nerrs ? n->b.errs[0].err : 0;
	if (r == -ENOENT)
		return 0;  /* nothing to delete */
	if (r < 0) {
		nft_log(n, n->b.rejected ? NULL : &n->b.msgs[0],
			n->b.rejected ? &(struct nft_err){ .err = r } : &n->b.errs[0], NULL);
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
	free(n->b.buf);
	free(n->b.msgs);
	free(n->b.owner);
	free(n->rbuf);
	free(n);
}

static const struct fw_ops nft_ops = {
	.ban = nft_ban, .unban = nft_unban, .set_allow = nft_set_allow, .commit = nft_commit,
	.adopt = nft_adopt, .monitor_fd = nft_monitor_fd, .monitor_check = nft_monitor_check,
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
	struct timeval tv = { .tv_sec = 5 };
	int one = 1, grp = NFNLGRP_NFTABLES, fd, sz = 0;
	socklen_t len = sizeof(sz);

	if (!(n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC)) ||
	    mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    !(n->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK)) ||
	    mnl_socket_bind(n->mon, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(n->mon, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0)
		return -errno;
	fd = mnl_socket_get_fd(n->nl);
	/* Short acks that still say which attribute was wrong. */
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
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
	if (!(n->rbuf = malloc(NFT_RBUF)) || !(n->elem = nftnl_set_elem_alloc()))
		goto fail;
	if ((r = nft_cfg_copy(n, cfg)) < 0)
		goto fail;
	if ((r = nft_sockets(n)) < 0) {
		nft_error(n, "netlink socket: %s", strerror(-r));
		goto fail;
	}
	if ((r = nft_ensure(n, false, &made)) < 0)
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
