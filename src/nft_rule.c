/* nft_rule.c - the expressions of "<family> saddr @set [counter] verdict",
 * the only rule dosips writes: built once here for the ban chain and the
 * feeds chain. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "nft_rule.h"

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

int nft_rule_saddr(struct nftnl_rule *r, bool v6, const char *set, uint32_t set_id,
		   bool counter, bool drop)
{
	uint8_t proto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	const uint32_t meta[] = { NFTNL_EXPR_META_KEY, NFT_META_NFPROTO,
				  NFTNL_EXPR_META_DREG, NFT_REG_1 };
	const uint32_t cmp[] = { NFTNL_EXPR_CMP_SREG, NFT_REG_1, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ };
	const uint32_t pay[] = { NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER,
				 NFTNL_EXPR_PAYLOAD_OFFSET, v6 ? 8 : 12,
				 NFTNL_EXPR_PAYLOAD_LEN, v6 ? 16 : 4,
				 NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1 };
	const uint32_t look[] = { NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1,
				  NFTNL_EXPR_LOOKUP_SET_ID, set_id };
	const uint32_t imm[] = { NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT,
				 NFTNL_EXPR_IMM_VERDICT, drop ? NF_DROP : NF_ACCEPT };

	if (nft_add_expr(r, "meta", meta, 4, 0, NULL, 0) < 0 ||
	    nft_add_expr(r, "cmp", cmp, 4, NFTNL_EXPR_CMP_DATA, &proto, 1) < 0 ||
	    nft_add_expr(r, "payload", pay, 8, 0, NULL, 0) < 0 ||
	    nft_add_expr(r, "lookup", look, set_id ? 4 : 2, NFTNL_EXPR_LOOKUP_SET, set,
			 (uint32_t)strlen(set) + 1) < 0 ||
	    (counter && nft_add_expr(r, "counter", NULL, 0, 0, NULL, 0) < 0) ||
	    nft_add_expr(r, "immediate", imm, 4, 0, NULL, 0) < 0)
		return -ENOMEM;
	return 0;
}
