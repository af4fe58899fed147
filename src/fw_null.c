/* fw_null.c - a firewall that only counts and remembers (--dry-run, tests). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_backend.h"
#include "fw_null.h"

#define NULL_HISTORY 1024  /* a ring: a long dry run must not grow */
#define NULL_REFUSE 16

struct null_refusal {
	struct ip_prefix p;
	int err;
	const char *why;
};

struct null_preset {
	struct ip_prefix p;
	uint64_t remaining_ms;
	char note[FW_NOTE_MAX];
	bool has_note;
};

struct fw_null {
	struct fw base;
	struct fw_null_rec *queue;
	size_t nqueue, qcap;
	struct fw_null_rec hist[NULL_HISTORY];
	uint64_t nhist;            /* ever committed; the ring holds the tail */
	struct null_preset *preset;
	size_t npreset;
	size_t nallow;
	int fail_err;              /* how the next fail_count commits fail */
	unsigned fail_count;
	struct null_refusal refuse[NULL_REFUSE];
	size_t nrefuse;
};

static const struct fw_ops fw_null_ops;

static struct fw_null *to_null(struct fw *fw)
{
	return fw && fw->ops == &fw_null_ops ? (struct fw_null *)fw : NULL;
}

static int null_push(struct fw_null *n, enum fw_op op, const struct ip_prefix *p,
		     uint64_t timeout_ms, const char *note)
{
	if (n->nqueue == n->qcap) {
		size_t cap = n->qcap ? n->qcap * 2 : 64;
		struct fw_null_rec *q = realloc(n->queue, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		n->queue = q;
		n->qcap = cap;
	}
	n->queue[n->nqueue] = (struct fw_null_rec){ op, *p, timeout_ms, "" };
	snprintf(n->queue[n->nqueue++].note, FW_NOTE_MAX, "%s", note ? note : "");
	return 0;
}

static int null_ban(struct fw *fw, const struct ip_prefix *p, uint64_t timeout_ms,
		    const char *note)
{
	return null_push(to_null(fw), FW_OP_BAN, p, timeout_ms, note);
}

static int null_unban(struct fw *fw, const struct ip_prefix *p)
{
	return null_push(to_null(fw), FW_OP_UNBAN, p, 0, NULL);
}

static int null_set_allow(struct fw *fw, const struct ip_prefix *p, size_t n)
{
	to_null(fw)->nallow = n;
	return 0;
}

static const struct null_refusal *null_refused(const struct fw_null *n,
					       const struct fw_null_rec *rec)
{
	for (size_t i = 0; rec->op == FW_OP_BAN && i < n->nrefuse; i++)
		if (n->refuse[i].p.len == rec->p.len && addr_eq(&n->refuse[i].p.addr, &rec->p.addr))
			return &n->refuse[i];
	return NULL;
}

/* Like the kernel: each change applied or refused, then its result told
 * (from a queue taken aside, as a result callback may queue again). */
static int null_commit(struct fw *fw)
{
	struct fw_null *n = to_null(fw);
	struct fw_null_rec *q = n->queue;
	size_t nq = n->nqueue;
	int r = n->fail_count ? n->fail_err : 0, first = 0;

	if (nq == 0 && r == 0)
		return 0;
	n->fail_count -= n->fail_count > 0;
	fw->st.batches++;
	n->queue = NULL;
	n->nqueue = n->qcap = 0;
	if (r < 0)
		fw->st.errors++;
	for (size_t i = 0; i < nq; i++) {
		const struct null_refusal *no = r < 0 ? NULL : null_refused(n, &q[i]);

		if (r == 0 && !no)
			n->hist[n->nhist++ % NULL_HISTORY] = q[i];
		if (no && first == 0)
			first = no->err;
		fw->st.errors += no != NULL;
		fw_report(fw, q[i].op, &q[i].p, r < 0 ? r : no ? no->err : 0, no ? no->why : NULL);
	}
	free(q);
	return r < 0 ? r : first;
}

static int null_adopt(struct fw *fw, fw_elem_cb cb, void *ctx)
{
	struct fw_null *n = to_null(fw);

	for (size_t i = 0; i < n->npreset; i++)
		cb(&n->preset[i].p, n->preset[i].remaining_ms,
		   n->preset[i].has_note ? n->preset[i].note : NULL, ctx);
	return 0;
}

static int null_monitor_fd(struct fw *fw)
{
	return -1;
}

static int null_monitor_check(struct fw *fw)
{
	return 0;
}

static int null_flush(struct fw *fw)
{
	to_null(fw)->nqueue = 0;
	return 0;
}

static void null_close(struct fw *fw)
{
	struct fw_null *n = to_null(fw);

	free(n->queue);
	free(n->preset);
	free(n);
}

static const struct fw_ops fw_null_ops = {
	.ban = null_ban, .unban = null_unban, .set_allow = null_set_allow,
	.commit = null_commit, .adopt = null_adopt, .monitor_fd = null_monitor_fd,
	.monitor_check = null_monitor_check, .flush = null_flush, .close = null_close,
};

int fw_open_null(struct fw **out)
{
	struct fw_null *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->base.ops = &fw_null_ops;
	*out = &n->base;
	return 0;
}

size_t fw_null_history(const struct fw *fw, struct fw_null_rec *out, size_t max)
{
	const struct fw_null *n = to_null((struct fw *)fw);
	uint64_t have, first;
	size_t k = 0;

	if (!n)
		return 0;
	have = n->nhist < NULL_HISTORY ? n->nhist : NULL_HISTORY;
	if (have > max)
		have = max;
	first = n->nhist - have;
	for (uint64_t i = first; i < n->nhist; i++)
		out[k++] = n->hist[i % NULL_HISTORY];
	return k;
}

size_t fw_null_pending(const struct fw *fw)
{
	const struct fw_null *n = to_null((struct fw *)fw);

	return n ? n->nqueue : 0;
}

int fw_null_preset(struct fw *fw, const struct ip_prefix *p, uint64_t remaining_ms,
		   const char *note)
{
	struct fw_null *n = to_null(fw);
	struct null_preset *np;

	if (!n)
		return -EINVAL;
	np = realloc(n->preset, (n->npreset + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	n->preset = np;
	np[n->npreset] = (struct null_preset){ *p, remaining_ms, "", note != NULL };
	snprintf(np[n->npreset++].note, FW_NOTE_MAX, "%s", note ? note : "");
	return 0;
}

void fw_null_fail_next(struct fw *fw, int err)
{
	fw_null_fail_commits(fw, err, 1);
}

void fw_null_fail_commits(struct fw *fw, int err, unsigned count)
{
	struct fw_null *n = to_null(fw);

	if (n) {
		n->fail_err = err;
		n->fail_count = count;
	}
}

int fw_null_refuse(struct fw *fw, const struct ip_prefix *p, int err, const char *why)
{
	struct fw_null *n = to_null(fw);
	size_t i;

	if (!n)
		return -EINVAL;
	for (i = 0; i < n->nrefuse; i++)
		if (n->refuse[i].p.len == p->len && addr_eq(&n->refuse[i].p.addr, &p->addr))
			break;
	if (err == 0) {
		if (i < n->nrefuse)
			n->refuse[i] = n->refuse[--n->nrefuse];
		return 0;
	}
	if (i == NULL_REFUSE)
		return -ENOMEM;
	n->refuse[i] = (struct null_refusal){ *p, err, why };
	n->nrefuse += i == n->nrefuse;
	return 0;
}
