/* fw_feeds.h - static feed sets and their chain in table inet <table>. */
#ifndef DOSIPS_FW_FEEDS_H
#define DOSIPS_FW_FEEDS_H

#include <stdbool.h>
#include <stddef.h>
#include "addr.h"
#include "fw.h"

struct fw_feeds;

/* One feed as the kernel sees it: sets feed_<name>_4/_6, dropped or not. */
struct fw_feed_def {
	const char *name;
	bool drop;
};

/* Opens a netlink socket of its own for cfg->table (which fw_open_nft has
 * made). quiet_fd (or -1): a netlink socket subscribed to the nftables
 * group (fw_monitor_fd) that leaves the group while a feed loads, so the
 * kernel does not build one notification per element for it. 0 or -errno. */
int fw_feeds_open(const struct fw_cfg *cfg, int quiet_fd, struct fw_feeds **out);

/* Makes the sets of the n feeds (interval, no timeout: never mixed with
 * the timed ban sets) and the base chain "feeds": allow4/allow6 accept
 * first, then a drop rule per drop feed and family. Two batches. 0 or
 * -errno with the kernel's words in err. */
int fw_feeds_setup(struct fw_feeds *k, const struct fw_feed_def *defs, size_t n, char *err,
		   size_t errlen);

/* Replaces the elements of feed name's set of one family (v6) with the n
 * sorted disjoint ranges r: flush and add in ONE batch (the kernel applies
 * a batch atomically, so no packet sees neither list), elements in messages
 * under 64 KiB. 0 or -errno with the kernel's words in err. */
int fw_feeds_replace(struct fw_feeds *k, const char *name, bool v6, const struct ip_range *r,
		     size_t n, char *err, size_t errlen);

/* Frees k; the kernel keeps the sets. NULL is fine. */
void fw_feeds_close(struct fw_feeds *k);

#endif
