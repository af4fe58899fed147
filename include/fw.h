/* fw.h - the firewall behind a small interface: nftables or null. */
#ifndef DOSIPS_FW_H
#define DOSIPS_FW_H

#include <stdbool.h>
#include <stdint.h>
#include "addr.h"

enum fw_hook { FW_HOOK_INGRESS, FW_HOOK_PREROUTING, FW_HOOK_INPUT, FW_HOOK_FORWARD };

struct fw_cfg {
	const char *table;      /* "dosips": table inet <table> */
	const char *iface;      /* device for the ingress hook */
	enum fw_hook hook;
	uint32_t set_size;      /* max elements per ban set */
	int priority;           /* base chain priority */
	bool open_only;         /* create nothing (for fw_flush) */
};

struct fw;

#define FW_SET_SIZE 65536u          /* elements per ban set, by default */
#define FW_MAX_SET_SIZE (1u << 24)

/* remaining_ms given by fw_adopt for an element without a timeout. */
#define FW_NO_TIMEOUT UINT64_MAX

/* What the null backend was asked to do, and what a result is about. */
enum fw_op { FW_OP_BAN, FW_OP_UNBAN };

/* The kernel's answer for one queued ban or unban. */
struct fw_result {
	enum fw_op op;
	struct ip_prefix p;
	int err;            /* 0: applied; -EEXIST, -ENFILE, ...: not applied */
	const char *why;    /* err in nftables terms ("the set is full"), or NULL */
};

/* Gets the results of a commit, one per change that reached the kernel's
 * answer (a change coalesced into a later one of the same prefix has
 * none). Called after the commit's queue is emptied, so it may queue. */
typedef void (*fw_result_cb)(const struct fw_result *r, void *ctx);

/* Longest note kept with a ban's element (NUL included). */
#define FW_NOTE_MAX 64

/* Called once per element found by fw_adopt, with the note its ban was
 * made with (NULL for an element without one). */
typedef void (*fw_elem_cb)(const struct ip_prefix *p, uint64_t remaining_ms,
			   const char *note, void *ctx);

/* Opens the nftables backend and makes sure its table, sets and chain exist
 * (adopting an existing table as it is if dosips made it: another table of
 * that name is refused with -EEXIST, a ban set too small with -ENOSPC).
 * 0, or -errno with the cause in words in err. */
int fw_open_nft(const struct fw_cfg *cfg, struct fw **out, char *err, size_t errlen);

/* Opens a backend that records calls and touches nothing (--dry-run). */
int fw_open_null(struct fw **out);

/* Queues a ban of p for timeout_ms (a re-ban refreshes the timeout); note
 * (NULL, or shorter than FW_NOTE_MAX) is kept with the element, for
 * fw_adopt after a restart. */
int fw_ban(struct fw *fw, const struct ip_prefix *p, uint64_t timeout_ms, const char *note);

/* Queues removal of p; removing an element already gone is not an error. */
int fw_unban(struct fw *fw, const struct ip_prefix *p);

/* Replaces the whitelist (allow sets) with n prefixes, queued. */
int fw_set_allow(struct fw *fw, const struct ip_prefix *p, size_t n);

/* Sends everything queued as one netlink batch; 0 or -errno (the batch's
 * first error). A no-op when nothing is queued. Each ban's and unban's
 * outcome goes to the fw_on_result callback. */
int fw_commit(struct fw *fw);

/* Names the callback that gets every commit's per-change results. */
void fw_on_result(struct fw *fw, fw_result_cb cb, void *ctx);

/* Lists the bans in the kernel with their time left. 0 or -errno. */
int fw_adopt(struct fw *fw, fw_elem_cb cb, void *ctx);

/* A descriptor readable when the ruleset changes, or -1 (null backend). */
int fw_monitor_fd(struct fw *fw);

/* Drains the monitor; returns 1 when our table or a set was found missing
 * and was re-created empty (the caller then re-bans), 0 if intact, -errno. */
int fw_monitor_check(struct fw *fw);

/* Says the monitor may have missed events (fw_feeds takes it out of the
 * nftables group during a feed load): the next fw_monitor_check looks at
 * the table whatever it reads. */
void fw_monitor_missed(struct fw *fw);

/* Deletes the whole table (dosips --flush); one that dosips did not make
 * is refused (-EEXIST). 0 or -errno. */
int fw_flush(struct fw *fw);

/* Frees the backend; kernel state stays as it is. NULL is fine. */
void fw_close(struct fw *fw);

/* Counters: calls made and batches sent (the null backend counts too). */
struct fw_stats { uint64_t bans, unbans, batches, errors; };
void fw_get_stats(const struct fw *fw, struct fw_stats *st);

/* The hook named s ("ingress", "prerouting", ...), or -1. */
int fw_hook_parse(const char *s);

/* Name of a hook ("ingress", ...), also the name of its base chain. */
const char *fw_hook_name(enum fw_hook h);

#endif
