/* abuseipdb.h - alerts enriched with AbuseIPDB's view of their source. */
#ifndef DOSIPS_ABUSEIPDB_H
#define DOSIPS_ABUSEIPDB_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include "addr.h"
#include "config.h"
#include "events.h"

struct abuseipdb;
struct webclient;

/* Counters, for the log and dosipsctl. */
struct abuseipdb_stats {
	uint64_t requests, answers, errors, cache_hits, skipped_reserved, skipped_quota;
	uint64_t reports;
	uint32_t used_today, limit;
};

/* Reads the key from cfg->key_file and the cache (and today's request
 * count) from state_dir/abuseipdb.cache; publishes "enrich" events on bus.
 * 0 or -errno with a sentence in err (the key itself is never shown). */
int abuseipdb_new(struct ev_loop *loop, const struct reputation_cfg *cfg,
		  const char *state_dir, struct webclient *web, struct events *bus,
		  struct abuseipdb **out, char *err, size_t errlen);

/* The bus subscriber: each alert's source is checked (cache, quota and
 * reserved addresses permitting); bans are reported if configured. */
void abuseipdb_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* The cached abuse score of a (0..100), or -1 when none is known. */
int abuseipdb_score(const struct abuseipdb *a, const struct ip_addr *addr);

/* True for an address never sent to a public service: private, loopback,
 * link-local, documentation, benchmarking, multicast, reserved. */
bool abuseipdb_reserved(const struct ip_addr *a);

void abuseipdb_get_stats(const struct abuseipdb *a, struct abuseipdb_stats *st);

/* Cancels requests in flight, writes the cache to state_dir and frees a;
 * NULL is fine. */
void abuseipdb_free(struct abuseipdb *a);

#endif
