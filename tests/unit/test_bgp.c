/* test_bgp.c - FlowSpec upstream without a router: the gobgp command lines
 * (as gobgp's own documentation writes them), the pps selection from a
 * top-sources list, and with a recording stand-in for the CLI: only banned,
 * non-whitelisted sources, at most `max`, withdrawn on unban and at free. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "bgp.h"
#include "fw.h"
#include "fw_null.h"
#include "log.h"
#include "mitigate.h"
#include "whitelist.h"

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;

	assert_int_equal(prefix_parse(s, &p), 0);
	return p;
}

/* The words of argv joined by spaces. */
static void joined(char **argv, char *out, size_t len)
{
	size_t n = 0;

	*out = '\0';
	for (int i = 0; argv[i]; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? " " : "", argv[i]);
}

static void test_command_lines(void **state)
{
	struct bgp_cfg c = { .speaker = "/usr/bin/gobgp", .api = "127.0.0.1:50051" };
	struct ip_prefix v4 = pfx("198.18.0.3"), v6 = pfx("2001:db8:0:2::/64");
	char buf[512], *argv[24], line[600];

	assert_int_equal(bgp_argv(&c, &v4, true, buf, sizeof(buf), argv, 24), 15);
	joined(argv, line, sizeof(line));
	assert_string_equal(line, "/usr/bin/gobgp -u 127.0.0.1 -p 50051 global rib -a "
			    "ipv4-flowspec add match source 198.18.0.3/32 then discard");
	assert_null(argv[15]);
	c.api = "[::1]:179";
	c.rate_bps = 125000;
	assert_int_equal(bgp_argv(&c, &v6, false, buf, sizeof(buf), argv, 24), 16);
	joined(argv, line, sizeof(line));
	assert_string_equal(line, "/usr/bin/gobgp -u ::1 -p 179 global rib -a ipv6-flowspec "
			    "del match source 2001:db8:0:2::/64 then rate-limit 125000");
	assert_int_equal(bgp_argv(&c, &v4, true, buf, 20, argv, 24), -ENOSPC);
	assert_int_equal(bgp_argv(&c, &v4, true, buf, sizeof(buf), argv, 10), -ENOSPC);
	c.api = "localhost";
	assert_int_equal(bgp_argv(&c, &v4, true, buf, sizeof(buf), argv, 24), -EINVAL);
}

static void test_parsing(void **state)
{
	static const char *const bad_api[] = { "", "host", ":50051", "h:", "h:5x", "[::1:5",
					       "h:70000" };
	static const char *const bad_action[] = { "", "drop", "rate-limit", "rate-limit 0",
						  "rate-limit x", "rate-limit 5k", "Discard" };
	char host[64], port[8];
	uint64_t bps = 7;

	assert_int_equal(bgp_parse_api("10.0.0.1:50051", host, 64, port, 8), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_string_equal(port, "50051");
	for (size_t i = 0; i < sizeof(bad_api) / sizeof(bad_api[0]); i++)
		if (bgp_parse_api(bad_api[i], host, 64, port, 8) != -EINVAL)
			fail_msg("api \"%s\" accepted", bad_api[i]);
	assert_int_equal(bgp_parse_action("discard", &bps), 0);
	assert_int_equal(bps, 0);
	assert_int_equal(bgp_parse_action("rate-limit 9600", &bps), 0);
	assert_int_equal(bps, 9600);
	for (size_t i = 0; i < sizeof(bad_action) / sizeof(bad_action[0]); i++)
		if (bgp_parse_action(bad_action[i], &bps) != -EINVAL)
			fail_msg("action \"%s\" accepted", bad_action[i]);
}

/* Counts in the rate_flood window, busiest first, as detect gives them. */
static void fill_top(struct detect_top top[][8], const char *const *src, const uint32_t *n,
		     size_t k)
{
	memset(top, 0, sizeof(struct detect_top) * KIND__MAX * 8);
	for (size_t i = 0; i < k; i++) {
		top[KIND_RATE_FLOOD][i].src = pfx(src[i]);
		top[KIND_RATE_FLOOD][i].count = n[i];
	}
	top[KIND_SYN_FLOOD][0].src = pfx("198.18.9.9");   /* another class: not read */
	top[KIND_SYN_FLOOD][0].count = 1000000;
}

static void test_pick(void **state)
{
	static const char *const src[] = { "198.18.0.1", "198.18.0.2", "198.18.0.3",
					   "198.18.0.4" };
	static const uint32_t n[] = { 5000, 1001, 1000, 10 };
	struct bgp_cfg c = { .pps = 1000, .window_ms = 1000 };
	struct detect_top top[KIND__MAX][8];
	struct ip_prefix out[8];
	char a[ADDR_STRLEN];

	fill_top(top, src, n, 4);
	assert_int_equal(bgp_pick(&c, top, 8, out, 8), 2);   /* above, not at */
	assert_string_equal(prefix_fmt(&out[1], a), "198.18.0.2");
	assert_int_equal(bgp_pick(&c, top, 8, out, 1), 1);   /* room for one */
	c.window_ms = 5000;                                  /* 5000 in 5 s: 1000/s */
	assert_int_equal(bgp_pick(&c, top, 8, out, 8), 0);
	c.window_ms = 500;                                   /* 1000 in 0.5 s: 2000/s */
	assert_int_equal(bgp_pick(&c, top, 8, out, 8), 3);
}

/* The daemon's pieces with a stand-in CLI that appends its arguments to a
 * file. */
struct env {
	struct ev_loop *loop;
	struct fw *fw;
	struct whitelist *mwl, *wl;
	struct events *ev;
	struct mitigate *m;
	struct detect_top top[KIND__MAX][8];
	char dir[64], cli[96], log[96];
};

static bool env_top(struct detect_top top[][8], size_t n, void *ctx)
{
	memcpy(top, ((struct env *)ctx)->top, sizeof(((struct env *)ctx)->top));
	return true;
}

static int setup(void **state)
{
	struct env *t = test_calloc(1, sizeof(*t));
	struct mitigate_cfg mc;
	struct ip_prefix w = pfx("198.18.0.5");
	FILE *f;

	log_set_level(LOG_LVL_ERR);
	t->loop = ev_default_loop(0);
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_bgp.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->cli, sizeof(t->cli), "%s/gobgp", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/calls", t->dir);
	assert_non_null(f = fopen(t->cli, "w"));
	/* Its tables: rib4 and rib6 in dir when a test wrote them, else empty. */
	fprintf(f, "#!/bin/sh\necho \"$*\" >>%s\ncase \"$*\" in\n"
		"*' -j global rib -a ipv4-flowspec') cat %s/rib4 2>/dev/null || echo '{}' ;;\n"
		"*' -j global rib -a ipv6-flowspec') cat %s/rib6 2>/dev/null || echo '{}' ;;\n"
		"esac\n", t->log, t->dir, t->dir);
	fclose(f);
	assert_int_equal(chmod(t->cli, 0755), 0);
	assert_int_equal(fw_open_null(&t->fw), 0);
	assert_int_equal(whitelist_new(&t->mwl), 0);   /* mitigate's: empty */
	assert_int_equal(whitelist_new(&t->wl), 0);    /* bgp's: 198.18.0.5 */
	assert_int_equal(whitelist_add(t->wl, &w), 0);
	assert_int_equal(events_new(&t->ev), 0);
	mitigate_cfg_defaults(&mc);
	assert_int_equal(mitigate_new(t->loop, &mc, t->fw, t->mwl, t->ev, &t->m), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct env *t = *state;
	char cmd[160];

	mitigate_free(t->m);
	events_free(t->ev);
	whitelist_free(t->wl);
	whitelist_free(t->mwl);
	fw_close(t->fw);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	test_free(t);
	return 0;
}

/* The lines the stand-in wrote, as "add SRC" / "del SRC" (the session
 * queries, "... neighbor", and the listings, "... -j global rib ...", are
 * not announcements). */
static int calls(struct env *t, char out[][64], int max)
{
	char line[512], *w;
	FILE *f = fopen(t->log, "r");
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (strstr(line, " neighbor\n") || strstr(line, " -j global rib "))
			continue;
		w = strstr(line, "flowspec ");
		assert_non_null(w);
		snprintf(out[n], 64, "%.3s %s", w + 9, strstr(w, "source ") + 7);
		*strchr(out[n], '/') = '\0';
		n++;
	}
	fclose(f);
	return n;
}

static void run_for(struct env *t, double s)
{
	double end = ev_time() + s;

	while (ev_time() < end)
		ev_run(t->loop, EVRUN_ONCE | EVRUN_NOWAIT), usleep(10000);
}

static void test_announce_bounded_withdrawn(void **state)
{
	static const char *const src[] = { "198.18.0.1", "198.18.0.2", "198.18.0.3",
					   "198.18.0.4", "198.18.0.5" };
	static const uint32_t n[] = { 9000, 8000, 7000, 6000, 5000 };
	struct env *t = *state;
	struct bgp_cfg c = { .speaker = t->cli, .api = "127.0.0.1:50051", .pps = 1000,
			     .max = 2, .window_ms = 1000 };
	struct ip_prefix p;
	struct bgp_stats st;
	struct event e = { .type = EVT_UNBAN };
	struct bgp *b;
	char err[128], got[16][64];

	fill_top(t->top, src, n, 5);
	/* .1 is not banned; .3, .4 and .5 are (.5 whitelisted for bgp only). */
	for (int i = 2; i < 5; i++) {
		p = pfx(src[i]);
		assert_int_equal(mitigate_ban(t->m, &p, 60), 0);
	}
	p = pfx("198.18.0.2");
	assert_int_equal(mitigate_ban(t->m, &p, 60), 0);
	assert_int_equal(bgp_new(t->loop, &c, t->m, &t->wl, env_top, t, &b, err, sizeof(err)), 0);
	run_for(t, 1.5);
	bgp_get_stats(b, &st);
	assert_int_equal(st.active, 2);
	assert_int_equal(st.made, 2);
	assert_true(st.over_max >= 1);    /* .4 found no room */
	assert_int_equal(calls(t, got, 16), 2);
	/* Two CLIs at once: either may write first. */
	assert_true((!strcmp(got[0], "add 198.18.0.2") && !strcmp(got[1], "add 198.18.0.3")) ||
		    (!strcmp(got[1], "add 198.18.0.2") && !strcmp(got[0], "add 198.18.0.3")));
	/* Unbanned: withdrawn, and .4 takes the free place. */
	e.src = pfx("198.18.0.2");
	assert_int_equal(mitigate_unban(t->m, &e.src), 0);
	bgp_on_event(&e, "", 0, b);
	run_for(t, 1.5);
	assert_int_equal(calls(t, got, 16), 4);
	assert_string_equal(got[2], "del 198.18.0.2");
	assert_string_equal(got[3], "add 198.18.0.4");
	bgp_free(b);      /* withdraws the rest */
	assert_int_equal(calls(t, got, 16), 6);
	assert_true((strcmp(got[4], "del 198.18.0.3") == 0 && strcmp(got[5], "del 198.18.0.4") == 0) ||
		    (strcmp(got[5], "del 198.18.0.3") == 0 && strcmp(got[4], "del 198.18.0.4") == 0));
}

/* What `gobgp -j global rib -a ipv4-flowspec` (gobgp 3.10) printed in the
 * lab for: source 198.18.0.3/32 then discard; source 198.18.0.9/32 then
 * discard; destination 198.18.0.1/32 source 198.18.0.7/32 then discard;
 * source 198.18.0.6/32 then rate-limit 1000; source 198.18.0.8/32 then
 * rate-limit 123456789 (kept as a float: 123456790). */
#define A_ORIGIN "{\"type\":1,\"value\":2}"
#define A_RATE(r) "{\"type\":16,\"value\":[{\"type\":128,\"subtype\":6,\"as\":0,\"rate\":" r "}]}"
#define A_MP(v) "{\"type\":14,\"nexthop\":\"0.0.0.0\",\"afi\":1,\"safi\":133,\"value\":[{\"value\":" v "}]}"
#define SRC4(a) "[{\"type\":2,\"value\":{\"prefix\":\"" a "\"}}]"
#define PATH4(key, nlri, rate) "\"" key "\":[{\"nlri\":{\"value\":" nlri "},\"age\":1796288333," \
	"\"best\":true,\"attrs\":[" A_ORIGIN "," A_RATE(rate) "," A_MP(nlri) "],\"stale\":false}]"
static const char rib4[] = "{"
	PATH4("[source: 198.18.0.3/32]", SRC4("198.18.0.3/32"), "0") ","
	PATH4("[source: 198.18.0.9/32]", SRC4("198.18.0.9/32"), "0") ","
	PATH4("[destination: 198.18.0.1/32][source: 198.18.0.7/32]",
	      "[{\"type\":1,\"value\":{\"prefix\":\"198.18.0.1/32\"}},"
	      "{\"type\":2,\"value\":{\"prefix\":\"198.18.0.7/32\"}}]", "0") ","
	PATH4("[source: 198.18.0.6/32]", SRC4("198.18.0.6/32"), "1000") ","
	PATH4("[source: 198.18.0.8/32]", SRC4("198.18.0.8/32"), "123456790") "}";
/* ... and -a ipv6-flowspec for source 2001:db8:9::/64 then discard. */
static const char rib6[] = "{\"[source: 2001:db8:9::/64/0]\":[{\"nlri\":{\"value\":"
	"[{\"type\":2,\"value\":{\"prefix\":\"2001:db8:9::/64\"},\"offset\":0}]},"
	"\"age\":1796288333,\"best\":true,\"attrs\":[" A_ORIGIN "," A_RATE("0") ","
	"{\"type\":14,\"nexthop\":\"::\",\"afi\":2,\"safi\":133,\"value\":[{\"value\":"
	"[{\"type\":2,\"value\":{\"prefix\":\"2001:db8:9::/64\"},\"offset\":0}]}]}],"
	"\"stale\":false}]}";

/* Ours are the routes on the source alone with our action. */
static void test_rib(void **state)
{
	struct bgp_cfg c = { 0 };
	struct ip_prefix out[8];
	char a[ADDR_STRLEN];

	assert_int_equal(bgp_parse_rib(&c, rib4, out, 8), 2);       /* discard */
	assert_string_equal(prefix_fmt(&out[0], a), "198.18.0.3");
	assert_string_equal(prefix_fmt(&out[1], a), "198.18.0.9");
	assert_int_equal(bgp_parse_rib(&c, rib4, out, 1), 2);       /* counted past n */
	c.rate_bps = 1000;
	assert_int_equal(bgp_parse_rib(&c, rib4, out, 8), 1);
	assert_string_equal(prefix_fmt(&out[0], a), "198.18.0.6");
	c.rate_bps = 123456789;                                     /* float's rounding */
	assert_int_equal(bgp_parse_rib(&c, rib4, out, 8), 1);
	assert_string_equal(prefix_fmt(&out[0], a), "198.18.0.8");
	c.rate_bps = 999;
	assert_int_equal(bgp_parse_rib(&c, rib4, out, 8), 0);
	c.rate_bps = 0;
	assert_int_equal(bgp_parse_rib(&c, rib6, out, 8), 1);
	assert_string_equal(prefix_fmt(&out[0], a), "2001:db8:9::/64");
	assert_int_equal(bgp_parse_rib(&c, "{}", out, 8), 0);       /* an empty table */
	assert_int_equal(bgp_parse_rib(&c, "", out, 8), -EINVAL);
	assert_int_equal(bgp_parse_rib(&c, "{\"error\":\"context deadline exceeded\"}", out, 8), 0);
	assert_int_equal(bgp_parse_rib(&c, "[1,2]", out, 8), -EINVAL);
	assert_int_equal(bgp_parse_rib(&c, "{\"x\":[{\"nlri\":3}]}", out, 8), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

/* What a kill -9 left in the speaker: our route of a source still banned
 * is kept (and withdrawn at free), ours of sources no longer banned are
 * withdrawn at once, the operator's are left alone. */
static void test_adopt_at_start(void **state)
{
	struct env *t = *state;
	struct bgp_cfg c = { .speaker = t->cli, .api = "127.0.0.1:50051", .pps = 1000,
			     .max = 4, .window_ms = 1000 };
	struct ip_prefix p = pfx("198.18.0.3");
	struct bgp_stats st;
	struct bgp *b;
	char err[128], got[16][64];

	memset(t->top, 0, sizeof(t->top));     /* nothing measured */
	write_file(t->dir, "rib4", rib4);
	write_file(t->dir, "rib6", rib6);
	assert_int_equal(mitigate_ban(t->m, &p, 60), 0);
	assert_int_equal(bgp_new(t->loop, &c, t->m, &t->wl, env_top, t, &b, err, sizeof(err)), 0);
	run_for(t, 1.5);
	bgp_get_stats(b, &st);
	assert_int_equal(st.adopted, 3);
	assert_int_equal(st.withdrawn, 2);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.made, 0);
	assert_int_equal(calls(t, got, 16), 2);
	assert_true((!strcmp(got[0], "del 198.18.0.9") && !strcmp(got[1], "del 2001:db8:9::")) ||
		    (!strcmp(got[1], "del 198.18.0.9") && !strcmp(got[0], "del 2001:db8:9::")));
	bgp_free(b);
	assert_int_equal(calls(t, got, 16), 3);
	assert_string_equal(got[2], "del 198.18.0.3");
}

/* A speaker that loses an announcement (gobgpd restarted, its table
 * empty) has it again: the audit finds the route missing. */
static void test_lost_announced_again(void **state)
{
	static const char *const src[] = { "198.18.0.2" };
	static const uint32_t n[] = { 9000 };
	struct env *t = *state;
	struct bgp_cfg c = { .speaker = t->cli, .api = "127.0.0.1:50051", .pps = 1000,
			     .max = 2, .window_ms = 1000, .audit_ms = 300 };
	struct ip_prefix p = pfx("198.18.0.2");
	char err[128], got[16][64], path[128];
	struct bgp_stats st;
	struct bgp *b;
	int k;

	fill_top(t->top, src, n, 1);
	assert_int_equal(mitigate_ban(t->m, &p, 60), 0);
	/* The speaker has it (from before a restart): taken as ours, and while
	 * the audits find it there, nothing is sent. */
	write_file(t->dir, "rib4", "{" PATH4("[source: 198.18.0.2/32]", SRC4("198.18.0.2/32"), "0") "}");
	assert_int_equal(bgp_new(t->loop, &c, t->m, &t->wl, env_top, t, &b, err, sizeof(err)), 0);
	run_for(t, 1.5);
	bgp_get_stats(b, &st);
	assert_int_equal(st.adopted, 1);
	assert_int_equal(st.made, 0);
	assert_int_equal(st.lost, 0);
	assert_int_equal(calls(t, got, 16), 0);
	/* Its table emptied: announced again. */
	snprintf(path, sizeof(path), "%s/rib4", t->dir);
	assert_int_equal(unlink(path), 0);
	run_for(t, 2.0);
	bgp_get_stats(b, &st);
	assert_true(st.lost >= 1);
	assert_true(st.made >= 1);
	k = calls(t, got, 16);
	assert_true(k >= 1);
	assert_string_equal(got[0], "add 198.18.0.2");
	bgp_free(b);
}

/* The sessions as gobgp neighbor prints them: address and state. */
static void test_neighbors(void **state)
{
	char out[160];

	assert_int_equal(bgp_parse_neighbors(
		"Peer          AS  Up/Down State       |#Received  Accepted\n"
		"198.18.0.2 65002 00:00:12 Establ      |        0         0\n"
		"2001:db8::2 65003   never Active      |        0         0\n", out, sizeof(out)), 1);
	assert_string_equal(out, "198.18.0.2 Establ, 2001:db8::2 Active");
	assert_int_equal(bgp_parse_neighbors(
		"Peer          AS  Up/Down State       |#Received  Accepted\n"
		"198.18.0.2 65002   never Idle        |        0         0\n", out, sizeof(out)), 0);
	assert_string_equal(out, "198.18.0.2 Idle");
	assert_int_equal(bgp_parse_neighbors("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(bgp_parse_neighbors("rpc error: connection refused\n", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_lines),
		cmocka_unit_test(test_parsing),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_neighbors),
		cmocka_unit_test(test_rib),
		cmocka_unit_test_setup_teardown(test_adopt_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_announced_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_announce_bounded_withdrawn, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
