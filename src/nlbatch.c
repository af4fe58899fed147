/* nlbatch.c - the netlink batch layer under nft.c: building one nfnetlink
 * batch, sending it, and reading what the kernel said about each part.
 *
 * A batch is batch-begin, the messages, batch-end, sent with one write.
 * Every message asks for an ack (NLM_F_ACK); the kernel runs the whole
 * batch inside that write and queues one ack per message (or one error on
 * the batch-begin when it refused the batch as a whole), so by the time
 * the write returns every answer is waiting: reads never wait, and an
 * answer missing then is an error (-ENODATA), not a reason to block the
 * loop. An ack is matched to its message by sequence number (the
 * batch-begin's plus the message's position); with NETLINK_EXT_ACK the
 * kernel also names the offset of the attribute it blames, which for a set
 * element list is one element: owner[] maps it back to the caller's index
 * (a queue entry), so one refused element need not fail its neighbours.
 * Acks with an older sequence number (replies to something given up on)
 * are skipped. Nothing here prints: errors are kept for the caller, with
 * the kernel's own words, and nlb_meaning puts an errno in nftables terms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "nlbatch.h"

int nlb_grow(void **p, size_t *cap, size_t need, size_t size)
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

static int nlb_reserve(struct nlbatch *b)
{
	if (b->cap - b->len < NLB_MSG_ROOM &&
	    nlb_grow((void **)&b->buf, &b->cap, b->len + NLB_MSG_ROOM, 1) < 0)
		return -ENOMEM;
	return nlb_grow((void **)&b->msgs, &b->mcap, b->nmsgs + 1, sizeof(*b->msgs));
}

int nlb_begin(struct nlbatch *b)
{
	b->len = b->nmsgs = b->nowner = b->nerrs = b->acked = 0;
	b->rejected = 0;
	if (nlb_reserve(b) < 0)
		return -ENOMEM;
	b->seq0 = ++b->seq;
	b->len += NLMSG_ALIGN(nftnl_batch_begin(b->buf, b->seq0)->nlmsg_len);
	return 0;
}

int nlb_end(struct nlbatch *b)
{
	if (nlb_reserve(b) < 0)
		return -ENOMEM;
	b->len += NLMSG_ALIGN(nftnl_batch_end(b->buf + b->len, ++b->seq)->nlmsg_len);
	return 0;
}

struct nlmsghdr *nlb_msg_begin(struct nlbatch *b, uint16_t type, uint16_t flags, int tag,
			       const char *what)
{
	if (nlb_reserve(b) < 0)
		return NULL;
	b->msgs[b->nmsgs++] = (struct nlb_msg){
		.off = b->len, .type = type, .tag = (int8_t)tag, .what = what,
		.first = b->nowner,
	};
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET,
				     flags | NLM_F_ACK, ++b->seq);
}

void nlb_msg_end(struct nlbatch *b, struct nlmsghdr *nlh)
{
	struct nlb_msg *m = &b->msgs[b->nmsgs - 1];

	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	m->count = b->nowner - m->first;
}

int nlb_own(struct nlbatch *b, size_t owner)
{
	if (nlb_grow((void **)&b->owner, &b->ocap, b->nowner + 1, sizeof(*b->owner)) < 0)
		return -ENOMEM;
	b->owner[b->nowner++] = owner;
	return 0;
}

/* Keeps the kernel's own words and the offset of the attribute it blames. */
static void nlb_note_err(struct nlbatch *b, size_t msg, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off = sizeof(*err);
	struct nlb_err *e;

	if (b->nerrs == NLB_MAX_ERRS)
		return;
	e = &b->errs[b->nerrs++];
	*e = (struct nlb_err){ .msg = msg, .err = err->error };
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (NLMSG_LENGTH(off) > nlh->nlmsg_len)
		return;
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

/* Handles one message; true when it is an ack of this batch. */
static bool nlb_take_one(struct nlbatch *b, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	uint32_t seq = nlh->nlmsg_seq;

	if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*err)))
		return false;
	if (seq == b->seq0) {
		b->rejected = err->error ? err->error : -EPROTO;
		return true;
	}
	if (seq <= b->seq0 || seq > b->seq0 + b->nmsgs)
		return false;  /* a late reply to something older */
	if (err->error)
		nlb_note_err(b, seq - b->seq0 - 1, nlh);
	return true;
}

size_t nlb_take(struct nlbatch *b, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
	size_t k = 0;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		k += nlb_take_one(b, nlh);
	b->acked += k;
	return k;
}

bool nlb_done(const struct nlbatch *b)
{
	return b->rejected || b->acked >= b->nmsgs;
}

int nlb_recv(struct nlbatch *b, int fd)
{
	ssize_t len;

	if (!b->rbuf && !(b->rbuf = malloc(NLB_RBUF)))
		return -ENOMEM;
	do
		len = recv(fd, b->rbuf, NLB_RBUF, MSG_DONTWAIT);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ENODATA : -errno;
	return (int)len;
}

int nlb_send(struct nlbatch *b, int fd)
{
	ssize_t sent;

	do
		sent = send(fd, b->buf, b->len, 0);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	if ((size_t)sent != b->len)
		return -EMSGSIZE;
	while (!nlb_done(b)) {
		int len = nlb_recv(b, fd);

		if (len < 0)
			return len;
		nlb_take(b, b->rbuf, (size_t)len);
	}
	return 0;
}

size_t nlb_owner_at(const struct nlbatch *b, const struct nlb_msg *m, uint32_t offs)
{
	const struct nlmsghdr *nlh = (const void *)(b->buf + m->off);
	const struct nlattr *attr, *el;
	size_t k = 0;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(el, attr) {
			if ((size_t)((const char *)el - (const char *)nlh) == offs)
				return k < m->count ? b->owner[m->first + k] : NLB_NONE;
			k++;
		}
	}
	return NLB_NONE;
}

const char *nlb_meaning(uint16_t type, int err)
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
	case ENODATA: return "the kernel's answer is missing";
	default: return NULL;
	}
}

void nlb_free(struct nlbatch *b)
{
	free(b->buf);
	free(b->msgs);
	free(b->owner);
	free(b->rbuf);
	*b = (struct nlbatch){ .seq = b->seq };
}
