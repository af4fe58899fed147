/* stats.c - the daemon's counters, gathered and named in one place.
 *
 * The exit report (log lines), `dosipsctl stats` (one key=value a line)
 * and the metrics all show the same numbers; each asks stats_collect and
 * only formats. A counter added here shows up everywhere, under one name,
 * so a person comparing the report with dosipsctl never has to translate.
 * Alert totals add the counts of detectors a reload replaced. */
#include <stdio.h>

#include "bgp.h"
#include "capture.h"
#include "fw.h"
#include "hooks.h"
#include "mitigate.h"
#include "notify.h"
#include "stats.h"
#include "store.h"
#include "workers.h"

void stats_capture(const struct ctl_view *v, struct capture_stats *cs)
{
	if (v->cap)
		capture_get_stats(v->cap, cs);
	else
		workers_capture_stats(v->wk, cs);
}

void stats_detect(const struct ctl_view *v, struct detect_stats *ds)
{
	if (v->wk)
		workers_detect_stats(v->wk, ds);
	else
		detect_get_stats(v->det, ds);
}

static void collect_capture(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct capture_stats cs;
	char key[64];

	stats_capture(v, &cs);
	fn(STATS_CAPTURE, "frames", cs.frames, ctx);
	fn(STATS_CAPTURE, "bytes", cs.bytes, ctx);
	fn(STATS_CAPTURE, "packets", cs.decoded[DEC_OK], ctx);
	fn(STATS_CAPTURE, "ipv4", cs.ipv4, ctx);
	fn(STATS_CAPTURE, "ipv6", cs.ipv6, ctx);
	fn(STATS_CAPTURE, "fragments", cs.frags, ctx);
	if (cs.have_file_dir)
		fn(STATS_CAPTURE, "file_directions", cs.file_dir, ctx);
	fn(STATS_PROTOCOLS, "tcp", cs.tcp, ctx);
	fn(STATS_PROTOCOLS, "udp", cs.udp, ctx);
	fn(STATS_PROTOCOLS, "icmp", cs.icmp, ctx);
	fn(STATS_PROTOCOLS, "icmpv6", cs.icmp6, ctx);
	fn(STATS_PROTOCOLS, "other", cs.other, ctx);
	for (int d = 1; d < DEC__MAX; d++) {
		snprintf(key, sizeof(key), "skipped.%s", decode_result_name(d));
		fn(STATS_SKIPPED, key, cs.decoded[d], ctx);
	}
	if (!cs.have_kernel)
		return;
	fn(STATS_KERNEL, "kernel_received", cs.kernel_recv, ctx);
	fn(STATS_KERNEL, "kernel_dropped", cs.kernel_drop, ctx);
	fn(STATS_KERNEL, "iface_dropped", cs.iface_drop, ctx);
	fn(STATS_KERNEL, "capture_reads", cs.reads, ctx);
}

static void collect_detect(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct detect_stats ds;
	char key[64];

	stats_detect(v, &ds);
	for (int k = 0; k < KIND__MAX; k++) {
		snprintf(key, sizeof(key), "alerts.%s", detect_kind_name(k));
		fn(STATS_ALERTS, key, v->alerts_before[k] + ds.alerts[k], ctx);
	}
	fn(STATS_SOURCES, "sources_tracked", ds.tracked, ctx);
	fn(STATS_SOURCES, "sources_evicted", ds.evictions, ctx);
	fn(STATS_SOURCES, "destinations_tracked", ds.dst_tracked, ctx);
	fn(STATS_SOURCES, "destinations_evicted", ds.dst_evictions, ctx);
	fn(STATS_SOURCES, "ring_reclaims", ds.ring_reclaims, ctx);
	fn(STATS_SOURCES, "ring_denied", ds.ring_denied, ctx);
	fn(STATS_SOURCES, "alerts_suppressed", ds.suppressed, ctx);
	fn(STATS_SOURCES, "flows_tracked", ds.flows_tracked, ctx);
	fn(STATS_SOURCES, "flows_evicted", ds.flows_evicted, ctx);
	fn(STATS_SOURCES, "not_subject", ds.not_subject, ctx);
}

static void collect_mitigate(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct mitigate_stats ms;

	mitigate_get_stats(v->mit, &ms);
	fn(STATS_BANS, "bans_active", mitigate_count(v->mit), ctx);
	fn(STATS_BANS, "verdicts", ms.verdicts, ctx);
	fn(STATS_BANS, "bans", ms.bans, ctx);
	fn(STATS_BANS, "unbans", ms.unbans, ctx);
	fn(STATS_BANS, "whitelisted", ms.whitelisted, ctx);
	fn(STATS_BANS, "refused_cap", ms.refused_cap, ctx);
	fn(STATS_BANS, "adopted", ms.adopted, ctx);
	fn(STATS_BANS, "alerts_while_banned", ms.alerts_while_banned, ctx);
	fn(STATS_BANS, "commits", ms.commits, ctx);
	fn(STATS_BANS, "commit_errors", ms.commit_errors, ctx);
	fn(STATS_BANS, "bans_failed", ms.ban_failed, ctx);
	fn(STATS_BANS, "cap_aggregated", ms.aggregated, ctx);
	fn(STATS_BANS, "cap_evicted", ms.evicted, ctx);
	fn(STATS_LATENCY, "verdict_to_kernel_us.last", ms.last_latency_us, ctx);
	fn(STATS_LATENCY, "verdict_to_kernel_us.max", ms.max_latency_us, ctx);
	fn(STATS_LATENCY, "packet_to_kernel_us.last", ms.last_pkt_latency_us, ctx);
	fn(STATS_LATENCY, "packet_to_kernel_us.max", ms.max_pkt_latency_us, ctx);
}

/* Notifiers, all together: what they delivered, folded into digests,
 * retried and gave up on (with the events that carried), and hold. */
static void collect_notify(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct notify_stats ns;

	notify_get_stats(v->notify, NULL, &ns);
	fn(STATS_NOTIFY, "notify_messages", ns.messages, ctx);
	fn(STATS_NOTIFY, "notify_digests", ns.digests, ctx);
	fn(STATS_NOTIFY, "notify_events", ns.events, ctx);
	fn(STATS_NOTIFY, "notify_folded", ns.folded, ctx);
	fn(STATS_NOTIFY, "notify_retries", ns.retries, ctx);
	fn(STATS_NOTIFY, "notify_failed", ns.failed, ctx);
	fn(STATS_NOTIFY, "notify_failed_events", ns.failed_events, ctx);
	fn(STATS_NOTIFY, "notify_queued", ns.queued, ctx);
	fn(STATS_NOTIFY, "notify_pending", ns.pending, ctx);
}

static void collect_history(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct store_stats ss;

	if (!v->store)
		return;
	store_get_stats(v->store, &ss);
	fn(STATS_HISTORY, "history_queued", ss.queued, ctx);
	fn(STATS_HISTORY, "history_written", ss.written, ctx);
	fn(STATS_HISTORY, "history_pending", ss.pending, ctx);
	fn(STATS_HISTORY, "history_batches", ss.batches, ctx);
	fn(STATS_HISTORY, "history_failed", ss.failed, ctx);
	fn(STATS_HISTORY, "history_dropped", ss.dropped, ctx);
	fn(STATS_HISTORY, "history_pruned", ss.pruned, ctx);
	fn(STATS_HISTORY, "history_checkpoints", ss.checkpoints, ctx);
	fn(STATS_HISTORY, "history_batch_us.max", ss.max_batch_us, ctx);
}

/* Per worker (workers > 1): packets, kernel drops, CPU time, verdicts,
 * waits on a full verdict ring, ddos shares lost. */
static void collect_workers(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	static const char *const names[] = {
		"packets", "kernel_dropped", "busy_ms", "verdicts", "ring_waits", "ddos_lost",
	};
	struct worker_stats ws;
	char key[64];

	for (unsigned i = 0; v->wk && i < workers_count(v->wk); i++) {
		uint64_t val[6];

		workers_worker_stats(v->wk, i, &ws);
		val[0] = ws.packets, val[1] = ws.kernel_drop, val[2] = ws.busy_us / 1000;
		val[3] = ws.verdicts, val[4] = ws.ring_waits, val[5] = ws.ddos_lost;
		for (int k = 0; k < 6; k++) {
			snprintf(key, sizeof(key), "worker.%u.%s", i, names[k]);
			fn(STATS_WORKERS, key, val[k], ctx);
		}
	}
}

/* FlowSpec upstream (bgp.c): announcements in force, made, withdrawn,
 * CLI calls that failed, sources left out for upstream.max. */
static void collect_upstream(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct bgp_stats bs;

	if (!v->bgp)
		return;
	bgp_get_stats(v->bgp, &bs);
	fn(STATS_UPSTREAM, "bgp_active", bs.active, ctx);
	fn(STATS_UPSTREAM, "bgp_announced", bs.made, ctx);
	fn(STATS_UPSTREAM, "bgp_withdrawn", bs.withdrawn, ctx);
	fn(STATS_UPSTREAM, "bgp_failed", bs.failed, ctx);
	fn(STATS_UPSTREAM, "bgp_over_max", bs.over_max, ctx);
}

void stats_collect(const struct ctl_view *v, stats_fn fn, void *ctx)
{
	struct fw_stats fs;
	struct hooks_stats hs;

	collect_capture(v, fn, ctx);
	collect_detect(v, fn, ctx);
	collect_mitigate(v, fn, ctx);
	fw_get_stats(v->fw, &fs);
	fn(STATS_FIREWALL, "fw_bans", fs.bans, ctx);
	fn(STATS_FIREWALL, "fw_unbans", fs.unbans, ctx);
	fn(STATS_FIREWALL, "fw_batches", fs.batches, ctx);
	fn(STATS_FIREWALL, "fw_errors", fs.errors, ctx);
	hooks_get_stats(v->hooks, &hs);
	fn(STATS_HOOKS, "hooks_started", hs.started, ctx);
	fn(STATS_HOOKS, "hooks_failed", hs.failed, ctx);
	fn(STATS_HOOKS, "hooks_killed", hs.killed, ctx);
	fn(STATS_HOOKS, "hooks_dropped", hs.dropped, ctx);
	fn(STATS_HOOKS, "hooks_running", hs.running, ctx);
	collect_notify(v, fn, ctx);
	collect_workers(v, fn, ctx);
	collect_history(v, fn, ctx);
	collect_upstream(v, fn, ctx);
}
