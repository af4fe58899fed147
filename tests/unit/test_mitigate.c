/* test_mitigate.c - the ban policy against the null firewall and a real
 * libev loop: whitelist, one ban per source, escalation and its cap, offence
 * memory, the cap on bans, expiry, bans by hand, adoption and restore. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "fw_null.h"
#include "mitigate.h"

#define MAX_SEEN 64

struct seen {
	enum event_type type;
	struct ip_prefix src;
	enum detect_kind kind;
	uint32_t duration_s, offences;
	char reason[256];
	bool has_verdict;
};

struct env {
	struct ev_loop *loop;
	struct fw *fw;
	struct whitelist *wl;
	struct events *ev;
	struct mitigate *m;
	struct mitigate_cfg cfg;
	struct seen seen[MAX_SEEN];
	size_t nseen;
	bool unseen;		/* events not recorded (a storm of them) */
};

static void observe(const struct event *e, const char *json, size_t len, void *ctx)
{
	struct env *t = ctx;
	struct seen *s;

	if (t->unseen)
		return;
	assert_true(t->nseen < MAX_SEEN);
	s = &t->seen[t->nseen++];
	*s = (struct seen){ .type = e->type, .src = e->src, .kind = e->kind,
			    .duration_s = e->duration_s, .offences = e->offences,
			    .has_verdict = e->v != NULL };
	if (e->reason)
		snprintf(s->reason, sizeof(s->reason), "%s", e->reason);
}

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;

	assert_int_equal(prefix_parse(s, &p), 0);
	return p;
}

static int ban(struct env *t, const char *src, uint32_t duration_s)
{
	struct ip_prefix p = pfx(src);

	return mitigate_ban(t->m, &p, duration_s);
}

static void preset_note(struct env *t, const char *src, uint64_t remaining_ms, const char *note)
{
	struct ip_prefix p = pfx(src);

	assert_int_equal(fw_null_preset(t->fw, &p, remaining_ms, note), 0);
}

static void preset(struct env *t, const char *src, uint64_t remaining_ms)
{
	preset_note(t, src, remaining_ms, NULL);
}

static void start(struct env *t)
{
	assert_int_equal(mitigate_new(t->loop, &t->cfg, t->fw, t->wl, t->ev, &t->m), 0);
}

static int setup(void **state)
{
	struct env *t = test_calloc(1, sizeof(*t));
	struct ip_prefix w[] = { pfx("198.18.255.0/24"), pfx("2001:db8:ffff::/48"),
				 pfx("2001:db8:aaaa::1") };

	log_set_level(LOG_LVL_ERR);
	t->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(t->loop);
	assert_int_equal(fw_open_null(&t->fw), 0);
	assert_int_equal(whitelist_new(&t->wl), 0);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		assert_int_equal(whitelist_add(t->wl, &w[i]), 0);
	assert_int_equal(events_new(&t->ev), 0);
	assert_int_equal(events_subscribe(t->ev, observe, t), 0);
	mitigate_cfg_defaults(&t->cfg);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct env *t = *state;

	mitigate_free(t->m);
	events_free(t->ev);
	whitelist_free(t->wl);
	fw_close(t->fw);
	ev_loop_destroy(t->loop);
	test_free(t);
	return 0;
}

/* One verdict, not committed yet. */
static void verdict_only(struct env *t, enum detect_kind kind, const char *src)
{
	struct verdict v = {
		.kind = kind, .ts_us = 1700000000000000ull, .count = 500, .threshold = 100,
		.window_ms = 1000, .proto = 6,
	};

	if (src)
		v.src = pfx(src);
	mitigate_verdict(&v, t->m);
}

/* One verdict and the commit after it, as after each detect batch: the
 * kernel's answer (here the null firewall's) decides the ban event. */
static void verdict(struct env *t, enum detect_kind kind, const char *src)
{
	verdict_only(t, kind, src);
	mitigate_flush(t->m);
}

static size_t count(const struct env *t, enum event_type type)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nseen; i++)
		n += t->seen[i].type == type;
	return n;
}

static const struct seen *last(const struct env *t, enum event_type type)
{
	for (size_t i = t->nseen; i-- > 0;)
		if (t->seen[i].type == type)
			return &t->seen[i];
	fail_msg("no event of type %d", type);
	return NULL;
}

/* The operations the firewall committed, after a flush. */
static size_t committed(struct env *t, struct fw_null_rec *out, size_t max)
{
	assert_int_equal(mitigate_flush(t->m), 0);
	return fw_null_history(t->fw, out, max);
}

static void test_ban_once(void **state)
{
	struct env *t = *state;
	struct fw_null_rec rec[8];
	struct mitigate_stats st;
	char buf[ADDR_STRLEN];

	start(t);
	verdict_only(t, KIND_SYN_FLOOD, "198.18.0.1");
	/* Announced only once the kernel has it. */
	assert_int_equal(t->nseen, 1);
	assert_int_equal(t->seen[0].type, EVT_ALERT);
	assert_true(t->seen[0].has_verdict);
	assert_int_equal(fw_null_pending(t->fw), 1);
	assert_int_equal(committed(t, rec, 8), 1);
	assert_int_equal(t->nseen, 2);
	assert_int_equal(t->seen[1].type, EVT_BAN);
	assert_int_equal(t->seen[1].duration_s, 60);
	assert_int_equal(t->seen[1].offences, 1);
	assert_int_equal(t->seen[1].kind, KIND_SYN_FLOOD);
	assert_int_equal(rec[0].op, FW_OP_BAN);
	assert_int_equal(rec[0].timeout_ms, 60000);
	assert_string_equal(prefix_fmt(&rec[0].p, buf), "198.18.0.1");

	/* The same source again while banned: counted, not reported. */
	verdict(t, KIND_UDP_FLOOD, "198.18.0.1");
	assert_int_equal(count(t, EVT_ALERT), 1);
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(fw_null_pending(t->fw), 0);
	assert_int_equal(mitigate_count(t->m), 1);

	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.verdicts, 2);
	assert_int_equal(st.alerts_while_banned, 1);
	assert_int_equal(st.bans, 1);
	assert_int_equal(st.commits, 1);
	assert_true(st.last_latency_us < 1000000);
	assert_true(st.max_latency_us >= st.last_latency_us);
}

/* A reload's new ban length applies to the next ban, not a running one. */
static void test_set_cfg(void **state)
{
	struct env *t = *state;
	struct mitigate_cfg c = t->cfg;

	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.0.1");
	c.ban_s = 10;
	c.max_bans = 2;
	mitigate_set_cfg(t->m, &c);
	verdict(t, KIND_SYN_FLOOD, "198.18.0.2");
	assert_int_equal(last(t, EVT_BAN)->duration_s, 10);
	verdict(t, KIND_SYN_FLOOD, "198.18.0.3");
	assert_int_equal(count(t, EVT_BAN), 2);
	assert_int_equal(count(t, EVT_BAN_CAP), 1);
}

static void test_whitelisted(void **state)
{
	struct env *t = *state;

	start(t);
	verdict(t, KIND_PORT_SCAN, "198.18.255.7");
	verdict(t, KIND_UDP_FLOOD, "2001:db8:ffff:1::/64");
	assert_int_equal(count(t, EVT_ALERT), 2);
	assert_int_equal(count(t, EVT_WHITELISTED), 2);
	assert_true(last(t, EVT_WHITELISTED)->has_verdict);
	assert_int_equal(count(t, EVT_BAN), 0);
	assert_int_equal(mitigate_count(t->m), 0);
	assert_int_equal(fw_null_pending(t->fw), 0);
	assert_int_equal(ban(t, "198.18.255.9", 10), -EPERM);
}

/* Containment, not overlap: a /64 that merely holds one whitelisted host
 * (this host's own address, say) is banned; the kernel's allow sets keep
 * the host itself reachable. */
static void test_whitelist_contains_not_overlaps(void **state)
{
	struct env *t = *state;

	start(t);
	verdict(t, KIND_UDP_FLOOD, "2001:db8:aaaa::/64");
	assert_int_equal(count(t, EVT_WHITELISTED), 0);
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(mitigate_count(t->m), 1);
	/* By hand likewise: a /23 around the whitelisted /24 may be banned. */
	assert_int_equal(ban(t, "198.18.254.0/23", 10), 0);
}

static void test_ddos_not_banned(void **state)
{
	struct env *t = *state;

	start(t);
	verdict(t, KIND_DDOS, NULL);
	assert_int_equal(t->nseen, 1);
	assert_int_equal(t->seen[0].type, EVT_ALERT);
	assert_int_equal(t->seen[0].src.len, 0);
	assert_int_equal(mitigate_count(t->m), 0);
	assert_int_equal(fw_null_pending(t->fw), 0);
}

/* Bans, lifts by hand, bans again: 10, 20, capped at 35, 35. */
static void test_escalation(void **state)
{
	struct env *t = *state;
	const uint32_t want[] = { 10, 20, 35, 35 };
	struct ip_prefix p = pfx("2001:db8:5::/64");

	t->cfg.ban_s = 10;
	t->cfg.ban_max_s = 35;
	start(t);
	for (uint32_t i = 0; i < 4; i++) {
		verdict(t, KIND_ICMP_FLOOD, "2001:db8:5::/64");
		assert_int_equal(last(t, EVT_BAN)->duration_s, want[i]);
		assert_int_equal(last(t, EVT_BAN)->offences, i + 1);
		assert_int_equal(mitigate_unban(t->m, &p), 0);
		assert_string_equal(last(t, EVT_UNBAN)->reason, "manual");
	}
	assert_int_equal(count(t, EVT_BAN), 4);
	assert_int_equal(mitigate_unban(t->m, &p), -ENOENT);
}

static void test_escalate_off(void **state)
{
	struct env *t = *state;
	struct ip_prefix p = pfx("198.18.0.9");

	t->cfg.escalate = 1;
	start(t);
	for (int i = 0; i < 3; i++) {
		verdict(t, KIND_SYN_FLOOD, "198.18.0.9");
		assert_int_equal(last(t, EVT_BAN)->duration_s, 60);
		assert_int_equal(mitigate_unban(t->m, &p), 0);
	}
	assert_int_equal(last(t, EVT_BAN)->offences, 3);
}

static void test_memory_expires(void **state)
{
	struct env *t = *state;
	struct ip_prefix p = pfx("198.18.0.2");

	t->cfg.memory_s = 1;
	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.0.2");
	assert_int_equal(mitigate_unban(t->m, &p), 0);
	verdict(t, KIND_SYN_FLOOD, "198.18.0.2");
	assert_int_equal(last(t, EVT_BAN)->offences, 2);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 120);
	assert_int_equal(mitigate_unban(t->m, &p), 0);
	/* Offence memory is in seconds of the loop's clock: wait one out. A
	 * sleep is a lower bound, so a loaded machine only makes it longer. */
	ev_sleep(1.1);
	ev_now_update(t->loop);
	verdict(t, KIND_SYN_FLOOD, "198.18.0.2");
	assert_int_equal(last(t, EVT_BAN)->offences, 1);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 60);
}

/* The offender table is bounded: the least recently banned is forgotten. */
static void test_memory_bounded(void **state)
{
	struct env *t = *state;
	const char *src[] = { "198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
			      "198.18.1.5" };

	t->cfg.memory_max = 4;
	start(t);
	for (int i = 0; i < 5; i++) {
		struct ip_prefix p = pfx(src[i]);

		verdict(t, KIND_SYN_FLOOD, src[i]);
		assert_int_equal(mitigate_unban(t->m, &p), 0);
	}
	verdict(t, KIND_SYN_FLOOD, src[4]);
	assert_int_equal(last(t, EVT_BAN)->offences, 2);
	verdict(t, KIND_SYN_FLOOD, src[0]);
	assert_int_equal(last(t, EVT_BAN)->offences, 1);  /* evicted */
}

static void test_cap(void **state)
{
	struct env *t = *state;
	struct mitigate_stats st;
	struct ip_prefix p = pfx("198.18.2.1");

	t->cfg.max_bans = 3;
	t->cfg.aggregate_v4 = 0;  /* test_cap_aggregate */
	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.2.1");
	verdict(t, KIND_SYN_FLOOD, "198.18.2.2");
	verdict(t, KIND_SYN_FLOOD, "198.18.2.3");
	verdict(t, KIND_SYN_FLOOD, "198.18.2.4");
	verdict(t, KIND_SYN_FLOOD, "198.18.2.5");
	assert_int_equal(mitigate_count(t->m), 3);
	assert_int_equal(count(t, EVT_BAN), 3);
	assert_int_equal(count(t, EVT_BAN_CAP), 1);  /* once, not per verdict */
	assert_non_null(strstr(last(t, EVT_BAN_CAP)->reason, "max_bans"));
	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.refused_cap, 2);

	/* Room again, then full again: a second warning. */
	assert_int_equal(mitigate_unban(t->m, &p), 0);
	verdict(t, KIND_SYN_FLOOD, "198.18.2.6");
	assert_int_equal(mitigate_count(t->m), 3);
	verdict(t, KIND_SYN_FLOOD, "198.18.2.7");
	assert_int_equal(count(t, EVT_BAN_CAP), 2);
}


static void test_expiry(void **state)
{
	struct env *t = *state;
	struct fw_null_rec rec[8];

	t->cfg.ban_s = 1;
	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.3.1");
	assert_int_equal(mitigate_flush(t->m), 0);
	ev_run(t->loop, 0);  /* returns once the ban timer has fired */
	assert_int_equal(count(t, EVT_UNBAN), 1);
	assert_string_equal(last(t, EVT_UNBAN)->reason, "expired");
	assert_int_equal(last(t, EVT_UNBAN)->kind, KIND_SYN_FLOOD);
	assert_int_equal(mitigate_count(t->m), 0);
	/* The kernel's timeout removes the element: no delete is sent. */
	assert_int_equal(fw_null_pending(t->fw), 0);
	assert_int_equal(committed(t, rec, 8), 1);
	assert_int_equal(rec[0].op, FW_OP_BAN);
	/* Banned again soon after: a repeat offence. */
	verdict(t, KIND_SYN_FLOOD, "198.18.3.1");
	assert_int_equal(last(t, EVT_BAN)->offences, 2);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 2);
}

static void test_manual(void **state)
{
	struct env *t = *state;
	struct fw_null_rec rec[8];
	struct ip_prefix host = pfx("198.18.4.4"), net = pfx("198.18.4.0/24");
	char buf[ADDR_STRLEN];

	start(t);
	assert_int_equal(mitigate_ban(t->m, &host, 30), 0);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 30);
	assert_int_equal(last(t, EVT_BAN)->offences, 0);
	assert_int_equal(last(t, EVT_BAN)->kind, KIND_MANUAL);
	/* Again: restarted with the new length, still one ban. */
	assert_int_equal(mitigate_ban(t->m, &host, 45), 0);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 45);
	assert_int_equal(mitigate_count(t->m), 1);
	/* The /24 around it supersedes it; then the host is inside a ban. */
	assert_int_equal(mitigate_ban(t->m, &net, 0), 0);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 60);
	assert_string_equal(last(t, EVT_UNBAN)->reason, "superseded");
	assert_int_equal(mitigate_count(t->m), 1);
	assert_int_equal(mitigate_ban(t->m, &host, 30), -EEXIST);
	verdict(t, KIND_SYN_FLOOD, "198.18.4.77");
	assert_int_equal(count(t, EVT_BAN), 3);
	assert_int_equal(mitigate_unban(t->m, &net), 0);
	assert_int_equal(mitigate_count(t->m), 0);
	assert_int_equal(committed(t, rec, 8), 5);
	assert_int_equal(rec[0].op, FW_OP_BAN);
	assert_int_equal(rec[0].timeout_ms, 30000);
	assert_int_equal(rec[1].timeout_ms, 45000);
	assert_int_equal(rec[2].op, FW_OP_UNBAN);
	assert_string_equal(prefix_fmt(&rec[2].p, buf), "198.18.4.4");
	assert_int_equal(rec[3].op, FW_OP_BAN);
	assert_string_equal(prefix_fmt(&rec[3].p, buf), "198.18.4.0/24");
	assert_int_equal(rec[4].op, FW_OP_UNBAN);
	assert_string_equal(prefix_fmt(&rec[4].p, buf), "198.18.4.0/24");
}

struct found {
	struct ban_info b[8];
	size_t n;
};

static void collect(const struct ban_info *bi, void *ctx)
{
	struct found *f = ctx;

	if (f->n < 8)
		f->b[f->n++] = *bi;
}

static const struct ban_info *find(const struct found *f, const char *src)
{
	struct ip_prefix p = pfx(src);

	for (size_t i = 0; i < f->n; i++)
		if (f->b[i].src.len == p.len && addr_eq(&f->b[i].src.addr, &p.addr))
			return &f->b[i];
	fail_msg("%s not banned", src);
	return NULL;
}

static void test_adopt(void **state)
{
	struct env *t = *state;
	struct found f = { .n = 0 };
	struct fw_null_rec rec[8];
	char buf[ADDR_STRLEN];

	preset(t, "198.18.5.5", 5000);
	preset(t, "2001:db8:7::/64", 120000);
	preset(t, "198.18.5.6", FW_NO_TIMEOUT);  /* the operator's: left alone */
	preset(t, "198.18.255.1", 9000);         /* whitelisted since: lifted */
	start(t);
	assert_int_equal(mitigate_adopt(t->m), 0);
	assert_int_equal(mitigate_count(t->m), 2);
	mitigate_foreach(t->m, collect, &f);
	assert_int_equal(f.n, 2);
	/* The time left, not a fresh ban. */
	assert_true(find(&f, "198.18.5.5")->remaining_ms <= 5000);
	assert_true(find(&f, "198.18.5.5")->remaining_ms > 4000);
	assert_int_equal(find(&f, "198.18.5.5")->duration_s, 5);
	assert_true(find(&f, "2001:db8:7::/64")->remaining_ms > 119000);
	/* Adopting sends nothing, except lifting a now whitelisted ban. */
	assert_int_equal(committed(t, rec, 8), 1);
	assert_int_equal(rec[0].op, FW_OP_UNBAN);
	assert_string_equal(prefix_fmt(&rec[0].p, buf), "198.18.255.1");
	assert_int_equal(count(t, EVT_BAN), 0);

	/* The attack goes on: policy gives 60 s, longer than the 5 s left. */
	verdict(t, KIND_SYN_FLOOD, "198.18.5.5");
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 60);
	/* And again: nothing more. */
	verdict(t, KIND_SYN_FLOOD, "198.18.5.5");
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(mitigate_count(t->m), 2);
}

static void test_restore(void **state)
{
	struct env *t = *state;
	struct fw_null_rec rec[8];

	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.6.1");
	verdict(t, KIND_UDP_FLOOD, "2001:db8:6::/64");
	assert_int_equal(mitigate_count(t->m), 2);
	assert_int_equal(committed(t, rec, 8), 2);
	/* The table was lost: every ban goes back with its time left. */
	assert_int_equal(mitigate_restore(t->m), 0);
	assert_int_equal(fw_null_pending(t->fw), 2);
	assert_int_equal(committed(t, rec, 8), 4);
	for (int i = 2; i < 4; i++) {
		assert_int_equal(rec[i].op, FW_OP_BAN);
		assert_true(rec[i].timeout_ms > 59000 && rec[i].timeout_ms <= 60000);
	}
}

static void test_set_whitelist(void **state)
{
	struct env *t = *state;
	struct whitelist *wl2;
	struct ip_prefix w = pfx("198.18.7.0/24");

	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.7.7");
	verdict(t, KIND_SYN_FLOOD, "198.18.8.8");
	assert_int_equal(whitelist_new(&wl2), 0);
	assert_int_equal(whitelist_add(wl2, &w), 0);
	mitigate_set_whitelist(t->m, wl2);
	assert_int_equal(mitigate_count(t->m), 1);
	assert_string_equal(last(t, EVT_UNBAN)->reason, "whitelisted");
	verdict(t, KIND_SYN_FLOOD, "198.18.7.7");
	assert_int_equal(last(t, EVT_WHITELISTED)->type, EVT_WHITELISTED);
	assert_int_equal(mitigate_count(t->m), 1);
	mitigate_free(t->m);
	t->m = NULL;
	whitelist_free(wl2);
}

static void test_commit_error(void **state)
{
	struct env *t = *state;
	struct mitigate_stats st;

	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.9.1");
	fw_null_fail_next(t->fw, -ENOBUFS);
	assert_int_equal(mitigate_flush(t->m), -ENOBUFS);
	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.commit_errors, 1);
	assert_int_equal(mitigate_flush(t->m), 0);
}

/* A ban storm goes to the kernel in commits of a bounded size as its
 * verdicts come, not in one commit after the whole detect batch: 100
 * verdicts in a row leave at most a commit's worth queued. */
static void test_storm_commits(void **state)
{
	struct env *t = *state;
	struct fw_stats fs;
	char src[32];

	start(t);
	t->unseen = true;
	for (int i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "198.19.0.%d", i + 1);
		verdict(t, KIND_SYN_FLOOD, src);
	}
	fw_get_stats(t->fw, &fs);
	assert_true(fs.batches >= 3);
	assert_true(fw_null_pending(t->fw) < 32);
	assert_int_equal(mitigate_flush(t->m), 0);
	assert_int_equal(fw_null_pending(t->fw), 0);
	assert_int_equal(mitigate_count(t->m), 100);
}

static void refuse(struct env *t, const char *src, int err, const char *why)
{
	struct ip_prefix p = pfx(src);

	assert_int_equal(fw_null_refuse(t->fw, &p, err, why), 0);
}

/* The kernel refuses the element (an operator's overlapping element): no
 * ban event, a ban_failed with the reason, nothing counted as banned, and
 * the next alert of that source is reported and tried again. */
static void test_refused(void **state)
{
	struct env *t = *state;
	struct mitigate_stats st;

	start(t);
	refuse(t, "198.18.10.1", -EEXIST, "overlaps an element already in the set");
	verdict(t, KIND_SYN_FLOOD, "198.18.10.1");
	assert_int_equal(count(t, EVT_BAN), 0);
	assert_int_equal(count(t, EVT_BAN_FAILED), 1);
	assert_non_null(strstr(last(t, EVT_BAN_FAILED)->reason, "overlaps an element"));
	assert_null(strstr(last(t, EVT_BAN_FAILED)->reason, "retrying"));
	assert_int_equal(last(t, EVT_BAN_FAILED)->kind, KIND_SYN_FLOOD);
	assert_int_equal(last(t, EVT_BAN_FAILED)->duration_s, 60);
	assert_int_equal(count(t, EVT_UNBAN), 0);
	assert_int_equal(mitigate_count(t->m), 0);
	/* Not suppressed: reported and tried again. */
	verdict(t, KIND_SYN_FLOOD, "198.18.10.1");
	assert_int_equal(count(t, EVT_ALERT), 2);
	assert_int_equal(count(t, EVT_BAN_FAILED), 2);
	/* Once the kernel takes it, it is a first offence: refusals do not count. */
	refuse(t, "198.18.10.1", 0, NULL);
	verdict(t, KIND_SYN_FLOOD, "198.18.10.1");
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(last(t, EVT_BAN)->offences, 1);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 60);
	assert_int_equal(mitigate_count(t->m), 1);
	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.bans, 1);
	assert_int_equal(st.ban_failed, 2);
}

/* A full set is not retried (it would fail the same way). */
static void test_refused_full(void **state)
{
	struct env *t = *state;

	start(t);
	refuse(t, "2001:db8:10::/64", -ENFILE, "the set is full: raise set_size");
	verdict(t, KIND_UDP_FLOOD, "2001:db8:10::/64");
	assert_int_equal(count(t, EVT_BAN_FAILED), 1);
	assert_non_null(strstr(last(t, EVT_BAN_FAILED)->reason, "set is full"));
	/* The set is the cap now: nothing of ours to make room from. */
	assert_int_equal(count(t, EVT_BAN_CAP), 1);
	assert_int_equal(count(t, EVT_BAN), 0);
	assert_int_equal(fw_null_pending(t->fw), 0);
	assert_int_equal(mitigate_count(t->m), 0);
}

/* A passing failure (the batch's buffers) is retried at once. */
static void test_refused_retry(void **state)
{
	struct env *t = *state;

	start(t);
	verdict_only(t, KIND_SYN_FLOOD, "198.18.10.2");
	fw_null_fail_next(t->fw, -ENOBUFS);
	mitigate_flush(t->m);
	assert_int_equal(count(t, EVT_BAN_FAILED), 1);
	assert_non_null(strstr(last(t, EVT_BAN_FAILED)->reason, "retrying"));
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(mitigate_count(t->m), 1);
	assert_int_equal(fw_null_pending(t->fw), 0);
}

/* By hand: the answer is the kernel's. A refused restart leaves the ban
 * the kernel still holds as it was. */
static void test_manual_refused(void **state)
{
	struct env *t = *state;
	struct found f = { .n = 0 };

	start(t);
	refuse(t, "198.18.10.3", -EEXIST, "overlaps an element already in the set");
	assert_int_equal(ban(t, "198.18.10.3", 30), -EEXIST);
	assert_non_null(strstr(mitigate_refusal(t->m), "overlaps"));
	assert_int_equal(mitigate_count(t->m), 0);
	refuse(t, "198.18.10.3", 0, NULL);
	assert_int_equal(ban(t, "198.18.10.3", 30), 0);
	assert_int_equal(count(t, EVT_BAN), 1);
	refuse(t, "198.18.10.3", -ENFILE, "the set is full: raise set_size");
	assert_int_equal(ban(t, "198.18.10.3", 300), -ENFILE);
	assert_int_equal(count(t, EVT_BAN), 1);
	assert_int_equal(count(t, EVT_UNBAN), 0);
	mitigate_foreach(t->m, collect, &f);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.b[0].duration_s, 30);
	assert_true(f.b[0].remaining_ms <= 30000 && f.b[0].remaining_ms > 29000);
}


/* An unban the kernel refused: for a passing reason it goes again in the
 * same flush; for any other the element stays in the kernel, and so the ban
 * stays here too, taken back with its time left and announced again. */
static void test_unban_refused(void **state)
{
	struct env *t = *state;
	struct found f = { .n = 0 };
	struct fw_null_rec rec[8];
	struct ip_prefix p = pfx("198.18.12.1"), q = pfx("198.18.12.2");
	size_t n;

	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.12.1");
	verdict(t, KIND_SYN_FLOOD, "198.18.12.2");
	assert_int_equal(mitigate_count(t->m), 2);
	fw_null_fail_next(t->fw, -ENOBUFS);
	assert_int_equal(mitigate_unban(t->m, &p), 0);
	assert_int_equal(mitigate_flush(t->m), 0);
	n = fw_null_history(t->fw, rec, 8);
	assert_true(n >= 1);
	assert_int_equal(rec[n - 1].op, FW_OP_UNBAN);
	assert_true(addr_eq(&rec[n - 1].p.addr, &p.addr) && rec[n - 1].p.len == p.len);
	assert_int_equal(mitigate_count(t->m), 1);

	preset_note(t, "198.18.12.2", 40000, "dosips kind=syn_flood offences=1 ban_s=60");
	fw_null_fail_next(t->fw, -EPERM);
	assert_int_equal(mitigate_unban(t->m, &q), 0);
	assert_int_equal(count(t, EVT_UNBAN), 2);
	assert_int_equal(count(t, EVT_BAN), 2);
	assert_int_equal(mitigate_flush(t->m), -EPERM);
	mitigate_foreach(t->m, collect, &f);
	assert_int_equal(f.n, 1);
	assert_true(addr_eq(&f.b[0].src.addr, &q.addr) && f.b[0].src.len == q.len);
	assert_int_equal(f.b[0].kind, KIND_SYN_FLOOD);
	assert_true(f.b[0].remaining_ms <= 40000 && f.b[0].remaining_ms > 39000);
	assert_int_equal(count(t, EVT_BAN), 3);
	/* A passing refusal at the first try and both retries is the
	 * kernel's last word too: the ban is taken back, and nothing is left
	 * queued to fail again at every turn of the loop. */
	fw_null_fail_commits(t->fw, -ENOBUFS, 3);
	assert_int_equal(mitigate_unban(t->m, &q), 0);
	assert_int_equal(mitigate_flush(t->m), -ENOBUFS);
	assert_int_equal(mitigate_count(t->m), 1);
	assert_int_equal(count(t, EVT_BAN), 4);
	assert_int_equal(fw_null_pending(t->fw), 0);
	assert_int_equal(mitigate_flush(t->m), 0);
}

/* What a ban was travels with its element: kind, offences and length come
 * back after a restart, and the next offence counts on from there. */
static void test_adopt_note(void **state)
{
	struct env *t = *state;
	struct found f = { .n = 0 };
	struct fw_null_rec rec[8];
	struct ip_prefix p = pfx("198.18.11.7");

	t->cfg.ban_s = 10;
	start(t);
	verdict(t, KIND_PORT_SCAN, "198.18.11.1");
	assert_int_equal(fw_null_history(t->fw, rec, 8), 1);
	assert_string_equal(rec[0].note, "dosips kind=port_scan offences=1 ban_s=10");

	preset_note(t, "198.18.11.7", 50000, "dosips kind=syn_flood offences=3 ban_s=240");
	preset_note(t, "198.18.11.8", 5000, "the operator's own words");
	assert_int_equal(mitigate_adopt(t->m), 0);
	mitigate_foreach(t->m, collect, &f);
	assert_int_equal(f.n, 3);
	assert_int_equal(find(&f, "198.18.11.7")->kind, KIND_SYN_FLOOD);
	assert_int_equal(find(&f, "198.18.11.7")->offences, 3);
	assert_int_equal(find(&f, "198.18.11.7")->duration_s, 240);
	assert_true(find(&f, "198.18.11.7")->remaining_ms <= 50000);
	assert_true(find(&f, "198.18.11.7")->remaining_ms > 49000);
	assert_int_equal(find(&f, "198.18.11.8")->kind, KIND_MANUAL);
	assert_int_equal(find(&f, "198.18.11.8")->duration_s, 5);
	assert_int_equal(mitigate_unban(t->m, &p), 0);
	assert_int_equal(last(t, EVT_UNBAN)->kind, KIND_SYN_FLOOD);
	verdict(t, KIND_SYN_FLOOD, "198.18.11.7");
	assert_int_equal(last(t, EVT_BAN)->offences, 4);
	assert_int_equal(last(t, EVT_BAN)->duration_s, 80);
}

/* At the cap, sources of one /24 become one ban of the /24: room is made
 * and nobody is let in. Never over a whitelisted address. */
static void test_cap_aggregate(void **state)
{
	struct env *t = *state;
	struct mitigate_stats st;
	struct found f = { .n = 0 };

	t->cfg.max_bans = 4;
	t->cfg.aggregate_min = 3;
	start(t);
	verdict(t, KIND_SYN_FLOOD, "198.18.20.1");
	verdict(t, KIND_SYN_FLOOD, "198.18.20.2");
	verdict(t, KIND_UDP_FLOOD, "198.18.21.1");
	verdict(t, KIND_SYN_FLOOD, "198.18.255.1");  /* whitelisted: not banned */
	verdict(t, KIND_SYN_FLOOD, "198.18.255.2");
	ban(t, "198.18.254.1", 60);
	assert_int_equal(mitigate_count(t->m), 4);
	/* Full: the third of 198.18.20.0/24 makes it one ban. */
	verdict(t, KIND_SYN_FLOOD, "198.18.20.3");
	assert_int_equal(count(t, EVT_BAN_CAP), 1);
	assert_non_null(strstr(last(t, EVT_BAN_CAP)->reason, "become one ban of 198.18.20.0/24"));
	assert_int_equal(count(t, EVT_UNBAN), 2);
	assert_string_equal(last(t, EVT_UNBAN)->reason, "aggregated");
	assert_int_equal(mitigate_count(t->m), 3);
	mitigate_foreach(t->m, collect, &f);
	assert_int_equal(find(&f, "198.18.20.0/24")->kind, KIND_SYN_FLOOD);
	/* Its sources are covered now: no new ban, no event. */
	verdict(t, KIND_SYN_FLOOD, "198.18.20.77");
	assert_int_equal(mitigate_count(t->m), 3);
	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.aggregated, 1);
	assert_int_equal(st.refused_cap, 0);
}

/* Whitelisting is by containment, but a prefix dosips widens a ban to on
 * its own must not touch a whitelisted address at all: 2001:db8:aaaa::1
 * is whitelisted, so its /48 is never one aggregated ban. */
static void test_cap_aggregate_spares_whitelisted(void **state)
{
	struct env *t = *state;
	struct mitigate_stats st;

	t->cfg.max_bans = 3;
	t->cfg.aggregate_min = 3;
	start(t);
	verdict(t, KIND_SYN_FLOOD, "2001:db8:aaaa:1::/64");
	verdict(t, KIND_SYN_FLOOD, "2001:db8:aaaa:2::/64");
	verdict(t, KIND_SYN_FLOOD, "2001:db8:aaaa:3::/64");
	assert_int_equal(mitigate_count(t->m), 3);
	verdict(t, KIND_SYN_FLOOD, "2001:db8:aaaa:4::/64");
	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.aggregated, 0);
	assert_null(strstr(last(t, EVT_BAN_CAP)->reason, "2001:db8:aaaa::/48"));
}

/* Sources the cap refused count too: the third of one /24 makes the /24
 * one ban, in the place of an evicted ban as severe as its source. */
static void test_cap_aggregate_refused(void **state)
{
	struct env *t = *state;
	struct found f = { .n = 0 };

	t->cfg.max_bans = 2;
	t->cfg.aggregate_min = 3;
	start(t);
	verdict(t, KIND_PORT_SCAN, "198.18.40.1");
	verdict(t, KIND_PORT_SCAN, "198.18.41.1");
	verdict(t, KIND_PORT_SCAN, "198.18.42.1");
	verdict(t, KIND_PORT_SCAN, "198.18.42.2");
	assert_int_equal(count(t, EVT_BAN), 2);
	verdict(t, KIND_PORT_SCAN, "198.18.42.3");
	/* The decision, then the eviction that made room for it. */
	assert_non_null(strstr(t->seen[t->nseen - 4].reason,
			       "0 bans, 2 refused sources and 198.18.42.3 become one ban of "
			       "198.18.42.0/24"));
	assert_non_null(strstr(last(t, EVT_BAN_CAP)->reason, "evicted for 198.18.42.0/24"));
	assert_string_equal(last(t, EVT_UNBAN)->reason, "evicted");
	assert_int_equal(mitigate_count(t->m), 2);
	mitigate_foreach(t->m, collect, &f);
	assert_int_equal(find(&f, "198.18.42.0/24")->kind, KIND_PORT_SCAN);
}

/* A flood of low-severity bans fills the cap; a more severe attacker
 * evicts the least severe of them, and so does a scanner that keeps
 * coming back (its offences count even when refused). */
static void test_cap_evict(void **state)
{
	struct env *t = *state;
	struct mitigate_stats st;

	t->cfg.max_bans = 3;
	t->cfg.aggregate_v6 = 0;
	start(t);
	verdict(t, KIND_PORT_SCAN, "2001:db8:30:1::/64");
	verdict(t, KIND_PORT_SCAN, "2001:db8:31:1::/64");
	verdict(t, KIND_ICMP_FLOOD, "2001:db8:32:1::/64");
	verdict(t, KIND_SYN_FLOOD, "2001:db8:33:1::/64");
	assert_int_equal(count(t, EVT_BAN_CAP), 1);
	assert_non_null(strstr(last(t, EVT_BAN_CAP)->reason,
			       "(port_scan, offence 1) evicted for "
			       "2001:db8:33:1::/64 (syn_flood, offence 1)"));
	assert_string_equal(last(t, EVT_UNBAN)->reason, "evicted");
	assert_int_equal(last(t, EVT_BAN)->kind, KIND_SYN_FLOOD);
	assert_int_equal(mitigate_count(t->m), 3);
	/* Another scanner: no less severe ban to evict, refused. */
	verdict(t, KIND_PORT_SCAN, "2001:db8:34:1::/64");
	assert_int_equal(count(t, EVT_BAN_CAP), 2);
	assert_non_null(strstr(last(t, EVT_BAN_CAP)->reason, "max_bans"));
	/* It comes back: a second offence outranks a first. */
	verdict(t, KIND_PORT_SCAN, "2001:db8:34:1::/64");
	assert_int_equal(last(t, EVT_BAN)->offences, 2);
	assert_int_equal(mitigate_count(t->m), 3);
	mitigate_get_stats(t->m, &st);
	assert_int_equal(st.evicted, 2);
	/* A ban by hand outranks them all. */
	assert_int_equal(ban(t, "2001:db8:35::1", 60), 0);
	assert_int_equal(mitigate_count(t->m), 3);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ban_once), T(test_whitelisted), T(test_whitelist_contains_not_overlaps),
		T(test_ddos_not_banned),
		T(test_escalation), T(test_escalate_off), T(test_memory_expires),
		T(test_memory_bounded), T(test_cap), T(test_expiry), T(test_manual),
		T(test_adopt), T(test_restore), T(test_set_whitelist), T(test_commit_error),
		T(test_set_cfg), T(test_storm_commits), T(test_refused), T(test_refused_full),
		T(test_unban_refused),
		T(test_refused_retry), T(test_manual_refused), T(test_adopt_note),
		T(test_cap_aggregate), T(test_cap_aggregate_spares_whitelisted), T(test_cap_evict),
		T(test_cap_aggregate_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
