/* test_nlbatch.c - the netlink batch layer on synthetic acks, no root: acks
 * mapped back to their message by sequence number and to one element by
 * the offset the kernel blames, the kernel's own words kept, a batch
 * refused as a whole, late replies to older batches ignored, and missing
 * answers reported at once instead of waiting. The "kernel" is the other
 * end of a socketpair, answering before the batch is even sent, as the
 * real one has answered by the time its send returns. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>

#include "nlbatch.h"

struct kern {
	int fd[2];            /* [0] ours, [1] the kernel's */
	struct nlbatch b;
};

static int setup(void **state)
{
	struct kern *k = test_calloc(1, sizeof(*k));

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, k->fd), 0);
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct kern *k = *state;

	nlb_free(&k->b);
	close(k->fd[0]);
	close(k->fd[1]);
	test_free(k);
	return 0;
}

/* A set element message with n elements owned by owners[]. */
static void put_elems(struct nlbatch *b, uint16_t type, int tag, const size_t *owners, size_t n)
{
	struct nlmsghdr *nlh = nlb_msg_begin(b, type, 0, tag, "add elements to");
	struct nlattr *list;

	assert_non_null(nlh);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "dosips");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "ban4");
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < n; i++) {
		struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		uint32_t key = 0xc6120000u + (uint32_t)i;

		mnl_attr_put(nlh, NFTA_SET_ELEM_KEY, sizeof(key), &key);
		mnl_attr_nest_end(nlh, el);
		assert_int_equal(nlb_own(b, owners[i]), 0);
	}
	mnl_attr_nest_end(nlh, list);
	nlb_msg_end(b, nlh);
}

/* Offset of element k of message m, as the kernel reports it. */
static uint32_t elem_offs(const struct nlbatch *b, size_t m, size_t k)
{
	const struct nlmsghdr *nlh = (const void *)(b->buf + b->msgs[m].off);
	const struct nlattr *attr, *el;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(attr) == NFTA_SET_ELEM_LIST_ELEMENTS)
			mnl_attr_for_each_nested(el, attr)
				if (k-- == 0)
					return (uint32_t)((const char *)el - (const char *)nlh);
	fail_msg("no element");
	return 0;
}

/* Appends to buf an ack for seq: err, and with has_offs the blamed offset
 * and text, capped like NETLINK_CAP_ACK acks. Returns the new length. */
static size_t ack(char *buf, size_t len, uint32_t seq, int err, const uint32_t *offs,
		  const char *text)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + len);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags = NLM_F_CAPPED | (offs || text ? NLM_F_ACK_TLVS : 0);
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = err;
	e->msg = (struct nlmsghdr){ .nlmsg_len = sizeof(struct nlmsghdr), .nlmsg_seq = seq };
	if (text)
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	if (offs)
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, *offs);
	return len + NLMSG_ALIGN(nlh->nlmsg_len);
}

/* The kernel answers: acks queued for our end before the batch goes. */
static void answer(struct kern *k, const char *buf, size_t len)
{
	assert_int_equal(send(k->fd[1], buf, len, 0), (ssize_t)len);
}

/* The batch the "kernel" got is the one built. */
static void got_batch(struct kern *k)
{
	static char in[1 << 17];

	assert_int_equal(recv(k->fd[1], in, sizeof(in), MSG_DONTWAIT), (ssize_t)k->b.len);
	assert_memory_equal(in, k->b.buf, k->b.len);
}

static void build(struct kern *k)
{
	const size_t o1[] = { 10, 11, 12 }, o2[] = { 20, 21 };

	assert_int_equal(nlb_begin(&k->b), 0);
	put_elems(&k->b, NFT_MSG_NEWSETELEM, 0, o1, 3);
	put_elems(&k->b, NFT_MSG_NEWSETELEM, 1, o2, 2);
	assert_int_equal(nlb_end(&k->b), 0);
	assert_int_equal(k->b.nmsgs, 2);
}

static void test_all_acked(void **state)
{
	struct kern *k = *state;
	static char buf[4096];
	size_t len = 0;

	build(k);
	len = ack(buf, len, k->b.seq0 + 1, 0, NULL, NULL);
	len = ack(buf, len, k->b.seq0 + 2, 0, NULL, NULL);
	answer(k, buf, len);
	assert_int_equal(nlb_send(&k->b, k->fd[0]), 0);
	got_batch(k);
	assert_true(nlb_done(&k->b));
	assert_int_equal(k->b.nerrs, 0);
	assert_int_equal(k->b.rejected, 0);
}

/* EEXIST on the second element of the second message, with the kernel's
 * words: it maps to owner 21 and nothing else. */
static void test_element_blamed(void **state)
{
	struct kern *k = *state;
	static char buf[4096];
	size_t len = 0;
	uint32_t offs;

	build(k);
	offs = elem_offs(&k->b, 1, 1);
	len = ack(buf, len, k->b.seq0 + 1, 0, NULL, NULL);
	len = ack(buf, len, k->b.seq0 + 2, -EEXIST, &offs, "Could not process rule");
	answer(k, buf, len);
	assert_int_equal(nlb_send(&k->b, k->fd[0]), 0);
	assert_int_equal(k->b.nerrs, 1);
	assert_int_equal(k->b.errs[0].msg, 1);
	assert_int_equal(k->b.errs[0].err, -EEXIST);
	assert_true(k->b.errs[0].has_offs);
	assert_string_equal(k->b.errs[0].text, "Could not process rule");
	assert_int_equal(nlb_owner_at(&k->b, &k->b.msgs[1], k->b.errs[0].offs), 21);
	assert_int_equal(nlb_owner_at(&k->b, &k->b.msgs[0], elem_offs(&k->b, 0, 2)), 12);
	/* An offset that is no element's start names no owner. */
	assert_int_equal(nlb_owner_at(&k->b, &k->b.msgs[1], offs + 4), NLB_NONE);
	assert_string_equal(nlb_meaning(NFT_MSG_NEWSETELEM, -EEXIST),
			    "overlaps an element already in the set");
	assert_string_equal(nlb_meaning(NFT_MSG_NEWSETELEM, -ENFILE),
			    "the set is full: raise set_size");
}

/* Several bad elements in one message: the kernel reports the first only;
 * an error without an offset belongs to the whole message. */
static void test_message_error(void **state)
{
	struct kern *k = *state;
	static char buf[4096];
	size_t len = 0;

	build(k);
	len = ack(buf, len, k->b.seq0 + 1, -ENFILE, NULL, NULL);
	len = ack(buf, len, k->b.seq0 + 2, 0, NULL, NULL);
	answer(k, buf, len);
	assert_int_equal(nlb_send(&k->b, k->fd[0]), 0);
	assert_int_equal(k->b.nerrs, 1);
	assert_false(k->b.errs[0].has_offs);
	assert_int_equal(k->b.errs[0].msg, 0);
	assert_int_equal(k->b.errs[0].err, -ENFILE);
}

/* Replies to an older batch come first and are skipped; an error on the
 * batch-begin refuses the whole batch and ends the reading. */
static void test_rejected_and_late(void **state)
{
	struct kern *k = *state;
	static char buf[4096];
	size_t len = 0;

	build(k);
	len = ack(buf, len, k->b.seq0 - 1, -ENOENT, NULL, NULL);
	len = ack(buf, len, k->b.seq0, -EPERM, NULL, NULL);
	answer(k, buf, len);
	assert_int_equal(nlb_send(&k->b, k->fd[0]), 0);
	assert_int_equal(k->b.rejected, -EPERM);
	assert_int_equal(k->b.nerrs, 0);
	assert_int_equal(nlb_take(&k->b, buf, len), 1);  /* the late one is not ours */
}

/* Acks split over several datagrams are all read. */
static void test_split_reads(void **state)
{
	struct kern *k = *state;
	static char buf[4096];

	build(k);
	answer(k, buf, ack(buf, 0, k->b.seq0 + 1, 0, NULL, NULL));
	answer(k, buf, ack(buf, 0, k->b.seq0 + 2, -ENOENT, NULL, NULL));
	assert_int_equal(nlb_send(&k->b, k->fd[0]), 0);
	assert_int_equal(k->b.acked, 2);
	assert_int_equal(k->b.nerrs, 1);
	assert_int_equal(k->b.errs[0].msg, 1);
}

/* An answer missing after the send is an error at once: the loop is never
 * blocked waiting for the kernel. */
static void test_missing_answer(void **state)
{
	struct kern *k = *state;
	static char buf[4096];
	struct timespec t0, t1;

	build(k);
	answer(k, buf, ack(buf, 0, k->b.seq0 + 1, 0, NULL, NULL));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(nlb_send(&k->b, k->fd[0]), -ENODATA);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(k->b.acked, 1);
	/* Not a speed target: a blocking read would take its whole timeout. */
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_string_equal(nlb_meaning(0, -ENODATA), "the kernel's answer is missing");
}

/* A truncated or foreign message in the stream is not an ack. */
static void test_garbage(void **state)
{
	struct kern *k = *state;
	static char buf[4096];
	struct nlmsghdr *nlh;
	size_t len;

	build(k);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;   /* too short to hold an nlmsgerr */
	nlh->nlmsg_seq = k->b.seq0 + 1;
	len = NLMSG_ALIGN(nlh->nlmsg_len);
	assert_int_equal(nlb_take(&k->b, buf, len), 0);
	assert_int_equal(nlb_take(&k->b, buf, 7), 0);
	assert_false(nlb_done(&k->b));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_all_acked), T(test_element_blamed), T(test_message_error),
		T(test_rejected_and_late), T(test_split_reads), T(test_missing_answer),
		T(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
