/* metrics.c - the Prometheus text exposition of what dosips counts.
 *
 * Two sources: the modules' own counters (capture, detect, mitigate, fw,
 * hooks), read when a scrape comes, and the event bus, to which metrics
 * subscribes for what no module keeps by kind (bans made, unbans by
 * reason, whitelisted alerts). Nothing here runs per packet.
 *
 * Naming follows Prometheus conventions: a "dosips_" prefix, base units in
 * the name (_seconds, _bytes), counters ending in _total. Every labelled
 * series is written whether or not it has counted anything yet, so a
 * series never disappears from a dashboard and rate() over a kind that
 * has just started reads from zero (see CrowdSec #2563 for the complaint
 * when gauges vanish). A scrape is formatted into one malloc'd buffer
 * handed to the HTTP side, which frees it after sending.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgp.h"
#include "capture.h"
#include "crowdsec.h"
#include "feeds.h"
#include "hooks.h"
#include "metrics.h"
#include "mitigate.h"
#include "stats.h"
#include "strbuf.h"

/* Why a ban ended, as unban events name it; the last catches the rest. */
static const char *const unban_reasons[] = {
	"expired", "manual", "superseded", "whitelisted", "evicted", "refused", "other",
};
#define NREASONS (sizeof(unban_reasons) / sizeof(unban_reasons[0]))
#define NKINDS KIND__ALL             /* the detectors', then manual, crowdsec */

struct metrics {
	uint64_t bans[NKINDS];
	uint64_t unbans[NKINDS][NREASONS];
	uint64_t failed[NKINDS];
	uint64_t whitelisted[KIND__MAX];
	uint64_t refused;
};

int metrics_new(struct metrics **out)
{
	return (*out = calloc(1, sizeof(**out))) ? 0 : -ENOMEM;
}

void metrics_free(struct metrics *m)
{
	free(m);
}

static unsigned reason_index(const char *reason)
{
	for (unsigned i = 0; reason && i < NREASONS - 1; i++)
		if (strcmp(reason, unban_reasons[i]) == 0)
			return i;
	return NREASONS - 1;
}

void metrics_on_event(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct metrics *m = ctx;
	unsigned k = e->kind < NKINDS ? e->kind : KIND_MANUAL;

	switch (e->type) {
	case EVT_BAN:
		m->bans[k]++;
		break;
	case EVT_UNBAN:
		m->unbans[k][reason_index(e->reason)]++;
		break;
	case EVT_WHITELISTED:
		if (e->v && e->v->kind < KIND__MAX)
			m->whitelisted[e->v->kind]++;
		break;
	case EVT_BAN_FAILED:
		m->failed[k]++;
		break;
	case EVT_BAN_CAP:
		m->refused++;
		break;
	default:
		break;
	}
}

/* The HELP and TYPE lines of a family. */
static void family(struct strbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(struct strbuf *b, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	family(b, name, type, help);
	sb_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void traffic(struct strbuf *b, const struct capture_stats *cs)
{
	static const char *const protos[] = { "other", "tcp", "udp", "icmp", "icmpv6" };
	const uint64_t pk[] = { cs->other, cs->tcp, cs->udp, cs->icmp, cs->icmp6 };

	scalar(b, "dosips_frames_total", "counter", "Frames handed to the decoder.", cs->frames);
	family(b, "dosips_packets_total", "counter", "Decoded IP packets by protocol.");
	for (int i = 0; i < 5; i++)
		sb_printf(b, "dosips_packets_total{protocol=\"%s\"} %" PRIu64 "\n", protos[i], pk[i]);
	family(b, "dosips_ip_bytes_total", "counter",
	       "IP bytes (header length field) of decoded packets by protocol.");
	for (int i = 0; i < 5; i++)
		sb_printf(b, "dosips_ip_bytes_total{protocol=\"%s\"} %" PRIu64 "\n", protos[i],
		    cs->proto_bytes[i]);
	family(b, "dosips_frames_skipped_total", "counter", "Frames not decoded, by reason.");
	for (int r = 1; r < DEC__MAX; r++)
		sb_printf(b, "dosips_frames_skipped_total{reason=\"%s\"} %" PRIu64 "\n",
		    decode_result_name(r), cs->decoded[r]);
	scalar(b, "dosips_kernel_received_packets_total", "counter",
	       "Packets the capture socket received (0 when replaying).", cs->kernel_recv);
	scalar(b, "dosips_kernel_dropped_packets_total", "counter",
	       "Packets the kernel dropped before dosips read them (0 when replaying).",
	       cs->kernel_drop);
	scalar(b, "dosips_interface_dropped_packets_total", "counter",
	       "Packets the interface dropped, as libpcap reports.", cs->iface_drop);
	scalar(b, "dosips_capture_reads_total", "counter",
	       "Times live capture was read (wake-ups; 0 when replaying).", cs->reads);
}

static void count_active(const struct ban_info *bi, void *ctx)
{
	uint64_t *active = ctx;

	active[bi->kind < NKINDS ? bi->kind : KIND_MANUAL]++;
}

static void per_kind(struct strbuf *b, const char *name, const uint64_t *v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		sb_printf(b, "%s{kind=\"%s\"} %" PRIu64 "\n", name, detect_kind_name(k), v[k]);
}

static void alerts_bans(struct strbuf *b, const struct metrics *m, const struct ctl_view *v)
{
	struct detect_stats ds;
	uint64_t alerts[KIND__MAX], active[NKINDS] = { 0 };

	stats_detect(v, &ds);
	for (int k = 0; k < KIND__MAX; k++)
		alerts[k] = ds.alerts[k] + v->alerts_before[k];
	family(b, "dosips_alerts_total", "counter", "Thresholds crossed, by kind.");
	per_kind(b, "dosips_alerts_total", alerts, KIND__MAX);
	family(b, "dosips_whitelisted_alerts_total", "counter",
	       "Alerts about whitelisted sources, not banned, by kind.");
	per_kind(b, "dosips_whitelisted_alerts_total", m->whitelisted, KIND__MAX);
	mitigate_foreach(v->mit, count_active, active);
	family(b, "dosips_bans_active", "gauge", "Bans in force, by kind.");
	per_kind(b, "dosips_bans_active", active, NKINDS);
	family(b, "dosips_bans_total", "counter", "Bans made, by kind.");
	per_kind(b, "dosips_bans_total", m->bans, NKINDS);
	family(b, "dosips_unbans_total", "counter", "Bans ended, by kind and reason.");
	for (unsigned k = 0; k < NKINDS; k++)
		for (unsigned r = 0; r < NREASONS; r++)
			sb_printf(b, "dosips_unbans_total{kind=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
			    detect_kind_name(k), unban_reasons[r], m->unbans[k][r]);
	family(b, "dosips_bans_failed_total", "counter",
	       "Bans the kernel refused (not in force), by kind.");
	per_kind(b, "dosips_bans_failed_total", m->failed, NKINDS);
	scalar(b, "dosips_bans_refused_total", "counter",
	       "Decisions at the max_bans cap (ban_cap events).", m->refused);
	scalar(b, "dosips_sources_tracked", "gauge", "Sources holding a detector slot.",
	       ds.tracked);
	scalar(b, "dosips_sources_evicted_total", "counter",
	       "Slots taken from a quieter source (since the detector was last rebuilt).",
	       ds.evictions);
}

static void kernel(struct strbuf *b, const struct ctl_view *v)
{
	struct mitigate_stats ms;
	struct fw_drops dr;
	uint64_t cum = 0;

	mitigate_get_stats(v->mit, &ms);
	scalar(b, "dosips_ban_commit_errors_total", "counter",
	       "Firewall batches the kernel refused in part or whole.", ms.commit_errors);
	fw_drop_counters(v->fw, &dr);
	scalar(b, "dosips_kernel_ban_dropped_packets_total", "counter",
	       "Packets dropped by the ban rules (nftables rule counters).", dr.packets);
	scalar(b, "dosips_kernel_ban_dropped_bytes_total", "counter",
	       "Bytes dropped by the ban rules (nftables rule counters).", dr.bytes);
	family(b, "dosips_ban_latency_seconds", "histogram",
	       "From a verdict to the netlink commit that carried its ban, per commit.");
	for (int i = 0; i <= MITIGATE_LAT_BUCKETS; i++) {
		cum += ms.lat_hist[i];
		if (i < MITIGATE_LAT_BUCKETS)
			sb_printf(b, "dosips_ban_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			    mitigate_lat_bounds_us[i] / 1e6, cum);
		else
			sb_printf(b, "dosips_ban_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	sb_printf(b, "dosips_ban_latency_seconds_sum %.6f\n", ms.lat_sum_us / 1e6);
	sb_printf(b, "dosips_ban_latency_seconds_count %" PRIu64 "\n", cum);
}

static void hooks(struct strbuf *b, const struct ctl_view *v)
{
	struct hooks_stats hs;

	hooks_get_stats(v->hooks, &hs);
	scalar(b, "dosips_hooks_started_total", "counter", "Hook programs started.", hs.started);
	scalar(b, "dosips_hooks_failed_total", "counter",
	       "Hooks that could not start or exited non-zero.", hs.failed);
	scalar(b, "dosips_hooks_timed_out_total", "counter",
	       "Hooks killed for overrunning hook_timeout.", hs.killed);
	scalar(b, "dosips_hooks_dropped_total", "counter",
	       "Hooks not started because hook_max were running.", hs.dropped);
	scalar(b, "dosips_hooks_running", "gauge", "Hooks running now.", hs.running);
}

/* The feeds, each a label: entries in force, loads, failures, and when
 * the last good one was (0: never). */
struct feed_rows {
	struct strbuf *b;
	int pass;
};

static void feed_row(const struct feed_info *fi, void *ctx)
{
	struct feed_rows *r = ctx;

	switch (r->pass) {
	case 0:
		sb_printf(r->b, "dosips_feed_entries{feed=\"%s\"} %zu\n", fi->name, fi->entries);
		break;
	case 1:
		sb_printf(r->b, "dosips_feed_loads_total{feed=\"%s\"} %" PRIu64 "\n", fi->name,
			  fi->loads);
		break;
	case 2:
		sb_printf(r->b, "dosips_feed_failures_total{feed=\"%s\"} %" PRIu64 "\n", fi->name,
			  fi->failures);
		break;
	default:
		sb_printf(r->b, "dosips_feed_last_refresh_timestamp_seconds{feed=\"%s\"} %.3f\n",
			  fi->name, fi->last_refresh);
	}
}

static void feeds(struct strbuf *b, const struct ctl_view *v)
{
	static const char *const fams[][3] = {
		{ "dosips_feed_entries", "gauge", "Entries (addresses or prefixes) of the feed list in force." },
		{ "dosips_feed_loads_total", "counter", "Good loads of a feed into the kernel." },
		{ "dosips_feed_failures_total", "counter",
		  "Refreshes of a feed that failed or were refused (the old list kept)." },
		{ "dosips_feed_last_refresh_timestamp_seconds", "gauge",
		  "When a feed last loaded (Unix time; 0 never)." },
	};
	struct feed_rows r = { .b = b };

	if (!v->feeds || !v->feeds_foreach)
		return;
	for (r.pass = 0; r.pass < 4; r.pass++) {
		family(b, fams[r.pass][0], fams[r.pass][1], fams[r.pass][2]);
		v->feeds_foreach(v->feeds, feed_row, &r);
	}
}

/* The CrowdSec link, when there is one. */
static void fleet(struct strbuf *b, const struct ctl_view *v)
{
	struct crowdsec_stats cs;

	if (!v->crowdsec)
		return;
	crowdsec_get_stats(v->crowdsec, &cs);
	scalar(b, "dosips_crowdsec_up", "gauge", "1 when the Local API answered last.",
	       (uint64_t)cs.api_up);
	scalar(b, "dosips_crowdsec_pushed_total", "counter",
	       "Bans of this host pushed to the Local API.", cs.pushed);
	scalar(b, "dosips_crowdsec_push_failures_total", "counter",
	       "Pushes the Local API did not take (retried).", cs.push_failures);
	scalar(b, "dosips_crowdsec_queued", "gauge", "Pushes waiting for the Local API.",
	       cs.queued);
	scalar(b, "dosips_crowdsec_decisions_applied_total", "counter",
	       "Decisions of the fleet banned here.", cs.applied);
	scalar(b, "dosips_crowdsec_decisions_lifted_total", "counter",
	       "Bans lifted here because their decision was deleted.", cs.lifted);
	scalar(b, "dosips_crowdsec_decisions_refused_total", "counter",
	       "Decisions not applied: the whitelist or this host's addresses.", cs.refused);
}

/* FlowSpec upstream, when announcing. */
static void upstream(struct strbuf *b, const struct ctl_view *v)
{
	struct bgp_stats bs;

	if (!v->bgp)
		return;
	bgp_get_stats(v->bgp, &bs);
	scalar(b, "dosips_bgp_announcements", "gauge",
	       "FlowSpec rules announced upstream now.", bs.active);
	scalar(b, "dosips_bgp_announced_total", "counter", "FlowSpec rules announced.", bs.made);
	scalar(b, "dosips_bgp_withdrawn_total", "counter", "FlowSpec rules withdrawn.",
	       bs.withdrawn);
	scalar(b, "dosips_bgp_failures_total", "counter",
	       "gobgp calls that failed or timed out (retried).", bs.failed);
	scalar(b, "dosips_bgp_session_up", "gauge",
	       "1 when the speaker has an Established session.", (uint64_t)bs.session_up);
}

char *metrics_render(const struct metrics *m, const struct ctl_view *v, size_t *len)
{
	struct strbuf b = { 0 };
	struct capture_stats cs;

	family(&b, "dosips_build_info", "gauge", "Always 1; the version in a label.");
	sb_printf(&b, "dosips_build_info{version=\"%s\"} 1\n", DOSIPS_VERSION);
	family(&b, "dosips_start_time_seconds", "gauge", "When dosips started (Unix time).");
	sb_printf(&b, "dosips_start_time_seconds %.3f\n", v->started);
	stats_capture(v, &cs);
	traffic(&b, &cs);
	alerts_bans(&b, m, v);
	kernel(&b, v);
	hooks(&b, v);
	feeds(&b, v);
	fleet(&b, v);
	upstream(&b, v);
	return sb_take(&b, len);
}
