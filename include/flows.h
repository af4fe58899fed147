/* flows.h - bounded memory of conversations: who spoke first, who answered. */
#ifndef DOSIPS_FLOWS_H
#define DOSIPS_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "addr.h"
#include "decode.h"

/* What a packet is in its flow (see flows.c). */
enum flow_role {
	FLOW_NEW,	/* the first packet of the flow seen, or of one expired */
	FLOW_INIT,	/* from the side that spoke first, again */
	FLOW_ANSWER,	/* from the other side: an answer to what it was sent */
};

/* flows_packet's answer: the role, and the flow's standing. */
struct flow_info {
	uint8_t role;		/* enum flow_role */
	bool answered;		/* the answering side sent within the timeout
				   (an ICMP error is no answer) */
	bool peer_due;		/* a two-way exchange, not recorded for a second:
				   the caller should flows_peer_touch both ends */
};

struct flows;

/* Allocates room for capacity flows and capacity / 4 peers up front;
 * seed keys the hash. 0 or -errno. */
int flows_new(uint32_t capacity, uint32_t timeout_ms, uint32_t seed, struct flows **out);

/* Frees everything flows_new allocated; NULL is fine. */
void flows_free(struct flows *f);

/* Records p[0] to p[n - 1] in order, p[i] at t[i] of detect's clock (us),
 * and says in fi[i] what each is. */
void flows_batch(struct flows *f, const struct pkt *p, const uint64_t *t, size_t n,
		 struct flow_info *fi);

/* Records that key (an address masked as detect groups sources) holds a
 * two-way exchange at now_us. */
void flows_peer_touch(struct flows *f, const struct ip_addr *key, uint64_t now_us);

/* True when key held a two-way exchange within the timeout of now_us. */
bool flows_peer(const struct flows *f, const struct ip_addr *key, uint64_t now_us);

/* Flows held now, and those taken from another flow for lack of room. */
void flows_counts(const struct flows *f, uint64_t *tracked, uint64_t *evicted);

#endif
