/* nlbatch.h - one nfnetlink batch: messages built in a buffer, sent in one
 * write, and every acknowledgement mapped back to the message (and the
 * element of a set element list) it answers. */
#ifndef DOSIPS_NLBATCH_H
#define DOSIPS_NLBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

#define NLB_MAX_ERRS 16
#define NLB_ELEMS_MAX (60 * 1024)   /* element bytes per message (nest < 64 KiB) */
#define NLB_MSG_ROOM (NLB_ELEMS_MAX + 4096)
#define NLB_RBUF (64 * 1024)        /* large enough for any one datagram */
#define NLB_NONE SIZE_MAX           /* no owner: the error is the message's */

/* One message of the batch, to tell what an error is about. */
struct nlb_msg {
	size_t off;                 /* in buf */
	uint16_t type;              /* NFT_MSG_* */
	int8_t tag;                 /* the caller's (a set index), -1 for none */
	const char *what;           /* "add elements to", "create table" */
	size_t first, count;        /* its elements' owners in owner[] */
};

/* One error ack: the message, the errno, and what the kernel said. */
struct nlb_err {
	size_t msg;
	int err;                    /* < 0 */
	bool has_offs;
	uint32_t offs;              /* of the attribute it blames, in the message */
	char text[160];
};

struct nlbatch {
	char *buf;
	size_t len, cap;
	struct nlb_msg *msgs;
	size_t nmsgs, mcap;
	size_t *owner;              /* per element: the caller's index */
	size_t nowner, ocap;
	uint32_t seq;               /* last sequence number used (queries use it too) */
	uint32_t seq0;              /* of the batch-begin message */
	size_t acked;               /* acks of this batch seen so far */
	struct nlb_err errs[NLB_MAX_ERRS];
	size_t nerrs;
	int rejected;               /* an error on the batch as a whole */
	char *rbuf;                 /* NLB_RBUF bytes for reading */
};

/* Empties b and opens a new batch; 0 or -ENOMEM. */
int nlb_begin(struct nlbatch *b);

/* Closes the batch; 0 or -ENOMEM. */
int nlb_end(struct nlbatch *b);

/* Starts a message of type (NFT_MSG_*, inet family, NLM_F_ACK added); tag
 * and what name it in errors. NULL without memory. */
struct nlmsghdr *nlb_msg_begin(struct nlbatch *b, uint16_t type, uint16_t flags, int tag,
			       const char *what);

/* Ends the message begun last. */
void nlb_msg_end(struct nlbatch *b, struct nlmsghdr *nlh);

/* Notes that the element just nested in the open message answers to owner. */
int nlb_own(struct nlbatch *b, size_t owner);

/* Reads the acks in buf (len bytes of netlink messages); returns how many
 * belonged to this batch. Errors go to errs/rejected. */
size_t nlb_take(struct nlbatch *b, const void *buf, size_t len);

/* True once every message is answered or the batch was rejected. */
bool nlb_done(const struct nlbatch *b);

/* Sends the batch on fd (a netlink socket, or anything a test feeds) and
 * collects its acks without ever waiting: the kernel answers a batch
 * inside the send, so acks missing afterwards are -ENODATA. 0 or -errno. */
int nlb_send(struct nlbatch *b, int fd);

/* One non-blocking read of fd into b->rbuf: its length, or -errno
 * (-ENODATA when nothing is there). */
int nlb_recv(struct nlbatch *b, int fd);

/* The owner of the element at offset offs of message m (a set element
 * list), or NLB_NONE. */
size_t nlb_owner_at(const struct nlbatch *b, const struct nlb_msg *m, uint32_t offs);

/* What errno err means for a message of type, in words, or NULL. */
const char *nlb_meaning(uint16_t type, int err);

/* Makes room for need items of size in *p (capacity *cap, doubled as
 * needed); 0 or -ENOMEM. */
int nlb_grow(void **p, size_t *cap, size_t need, size_t size);

/* Frees b's buffers (not b). */
void nlb_free(struct nlbatch *b);

#endif
