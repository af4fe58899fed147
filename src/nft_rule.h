/* nft_rule.h - the one rule shape of our chains, shared by nft.c (bans,
 * allow) and nft_feeds.c (feeds): private to those two. */
#ifndef DOSIPS_NFT_RULE_H
#define DOSIPS_NFT_RULE_H

#include <stdbool.h>
#include <stdint.h>

struct nftnl_rule;

/* Adds to r: meta nfproto <family>, <family> saddr @set, [counter],
 * drop or accept. set_id finds a set made in the same batch (0: by name).
 * 0 or -ENOMEM. */
int nft_rule_saddr(struct nftnl_rule *r, bool v6, const char *set, uint32_t set_id,
		   bool counter, bool drop);

#endif
