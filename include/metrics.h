/* metrics.h - the Prometheus text format of dosips's counters. */
#ifndef DOSIPS_METRICS_H
#define DOSIPS_METRICS_H

#include <stddef.h>
#include "ctl.h"
#include "events.h"

struct metrics;

/* Makes the counters the bus feeds; 0 or -ENOMEM. */
int metrics_new(struct metrics **out);

/* The bus subscriber (ctx: the struct metrics): counts bans, unbans,
 * whitelisted alerts and refused bans by kind. */
void metrics_on_event(const struct event *e, const char *json, size_t len, void *ctx);

/* One scrape in the Prometheus text format 0.0.4, from m and the modules
 * of v; malloc'd (its length in *len), or NULL without memory. */
char *metrics_render(const struct metrics *m, const struct ctl_view *v, size_t *len);

/* Frees m; NULL is fine. */
void metrics_free(struct metrics *m);

#endif
