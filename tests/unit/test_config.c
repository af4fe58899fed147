/* test_config.c - parsing, error lines, override order, reload safety,
 * and the shipped documentation held to the key table. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char tmp_path[64];

/* Writes text to a fresh temporary file, in place of the last one (a test
 * writes several); returns its path. */
static const char *write_tmp(const char *text)
{
	int fd;

	if (*tmp_path)
		unlink(tmp_path);
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_config.XXXXXX");
	assert_true((fd = mkstemp(tmp_path)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmp_path;
}

static int teardown(void **state)
{
	if (*tmp_path)
		unlink(tmp_path);
	*tmp_path = '\0';
	return 0;
}

/* Loads text over the defaults; returns config_load's result. */
static int load_text(struct config *cfg, const char *text, char *err, size_t len)
{
	config_defaults(cfg);
	return config_load(cfg, write_tmp(text), err, len);
}

static void test_sections_and_dotted_keys(void **state)
{
	static struct config cfg;
	char err[256];

	assert_int_equal(load_text(&cfg,
		"# comment\n"
		"ban = 2m   # trailing comment\n"
		"interface = veth0\n"
		"udp_flood.threshold = 9\n"
		"[syn_flood]\n"
		"threshold = 7\n"
		"window = 1500ms\n"
		"[ port_scan ]\n"
		"enabled = no\n", err, sizeof(err)), 0);
	assert_int_equal(cfg.mitigate.ban_s, 120);
	assert_string_equal(cfg.iface, "veth0");
	assert_int_equal(cfg.detect.det[KIND_SYN_FLOOD].threshold, 7);
	assert_int_equal(cfg.detect.det[KIND_SYN_FLOOD].window_ms, 1500);
	assert_false(cfg.detect.det[KIND_PORT_SCAN].enabled);
	assert_int_equal(cfg.detect.det[KIND_UDP_FLOOD].threshold, 9);
	/* Inside [port_scan] a dotted key is prefixed like any other. */
	assert_int_equal(load_text(&cfg, "[port_scan]\nudp_flood.threshold = 9\n", err,
				   sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: unknown key"));
}

/* capture_wait: auto by default and by name, else a duration up to 1 s. */
static void test_capture_wait(void **state)
{
	static const struct { const char *text; uint32_t want; const char *err; } cases[] = {
		{ "capture_wait = 0\n", 0, NULL },
		{ "capture_wait = 5ms\n", 5, NULL },
		{ "capture_wait = 5ms\ncapture_wait = auto\n", CONFIG_WAIT_AUTO, NULL },
		{ "capture_wait = 2s\n", 0, ":1: out of range (0 to 1000 ms)" },
		{ "capture_wait = soon\n", 0, ":1: expected auto or a duration" },
		/* Other durations do not take auto. */
		{ "cooldown = auto\n", 0, ":1: expected a duration such as 90" },
	};
	static struct config cfg;
	char err[256];

	config_defaults(&cfg);
	assert_int_equal(cfg.capture_wait_ms, CONFIG_WAIT_AUTO);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = load_text(&cfg, cases[i].text, err, sizeof(err));

		if (cases[i].err) {
			assert_int_equal(r, -EINVAL);
			if (!strstr(err, cases[i].err))
				fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].err);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(cfg.capture_wait_ms, cases[i].want);
		}
		teardown(state);
	}
}

/* Each bad line is reported as file:line: message. */
static void test_errors_name_file_and_line(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "ban = 60\nnonsense = 1\n", ":2: unknown key" },
		{ "\n\n\nban\n", ":4: expected key = value" },
		{ "syslog = maybe\n", ":1: expected yes or no" },
		{ "# ok\n[syn_flood\n", ":2: bad section header" },
		{ "[]\n", ":1: bad section header" },
		{ "ban = 1.5\n", ":1: expected whole seconds" },
		{ "ban = soon\n", ":1: expected a duration" },
		{ "ban = 604444444444d\n", ":1: expected a duration" }, /* found by fuzzing */
		{ "ban = 400d\n", ":1: out of range" },
		{ "snaplen = 10\n", ":1: out of range (96 to 65535)" },
		{ "hook = sideways\n", ":1: expected ingress" },
		{ "= 5\n", ":1: missing key" },
	};
	static struct config cfg;
	char err[256], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_text(&cfg, cases[i].text, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "%s%s", tmp_path, cases[i].want);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, err, want);
		teardown(state);
	}
}

static void test_missing_file(void **state)
{
	static struct config cfg, before;
	struct config_source src = { .path = "/nonexistent/dosips.conf" };
	char err[256];

	config_defaults(&before);
	memcpy(&cfg, &before, sizeof(cfg));
	/* The default file may be absent ... */
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), 0);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	/* ... one named with -c may not. */
	src.must_exist = true;
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/dosips.conf: "));
}

/* Defaults, then the file, then the command line, the last word winning. */
static void test_override_order(void **state)
{
	static struct config cfg;
	struct config_setting set[] = {
		{ "ban", "--ban", "30" },
		{ "interface", "-i", "veth1" },
		{ "ban", "--ban", "45" },
	};
	struct config_source src = { .path = write_tmp("ban = 100\nban_max = 1h\n"
						       "interface = eth9\n"),
				     .must_exist = true, .set = set, .nset = 0 };
	char err[256];

	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), 0);
	assert_int_equal(cfg.mitigate.ban_s, 100);
	assert_string_equal(cfg.iface, "eth9");
	src.nset = 2;
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), 0);
	assert_int_equal(cfg.mitigate.ban_s, 30);
	assert_string_equal(cfg.iface, "veth1");
	assert_int_equal(cfg.mitigate.ban_max_s, 3600);   /* the file still counts */
	src.nset = 3;
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), 0);
	assert_int_equal(cfg.mitigate.ban_s, 45);
}

/* What a reload relies on: a bad file, option or combination leaves the
 * running configuration byte for byte as it was. */
static void test_failed_build_keeps_config(void **state)
{
	static struct config cfg, before;
	struct config_setting bad_opt = { "ban", "--ban", "forever" };
	struct config_source src = { .must_exist = true };
	char err[256];

	src.path = write_tmp("ban = 77\n");
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), 0);
	memcpy(&before, &cfg, sizeof(cfg));
	teardown(state);

	src.path = write_tmp("ban = 10\ninterface = x\n[syn_flood]\nthreshold = -1\n");
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":4: expected a whole number"));
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	teardown(state);

	src.path = write_tmp("ban = 600\nban_max = 60\n");    /* fails config_check */
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ban_max"));
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	teardown(state);

	src.path = write_tmp("ban = 5\n");
	src.set = &bad_opt;
	src.nset = 1;
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--ban forever: expected a duration such as 90, 90s, "
			    "500ms, 5m, 2h");
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_keep_restart(void **state)
{
	static struct config cur, next;
	char changed[128];

	config_defaults(&cur);
	config_defaults(&next);
	config_keep_restart(&next, &cur, changed, sizeof(changed));
	assert_string_equal(changed, "");
	snprintf(next.iface, sizeof(next.iface), "eth1");
	snprintf(next.ctl_socket, sizeof(next.ctl_socket), "/tmp/x.sock");
	next.mitigate.ban_s = 999;
	next.snaplen = 1500;
	config_keep_restart(&next, &cur, changed, sizeof(changed));
	assert_string_equal(changed, "interface, snaplen, control_socket");
	assert_string_equal(next.iface, cur.iface);
	assert_string_equal(next.ctl_socket, cur.ctl_socket);
	assert_int_equal(next.snaplen, cur.snaplen);
	assert_int_equal(next.mitigate.ban_s, 999);   /* a reload may change it */
}

static int key_known(const char *name)
{
	for (size_t i = 0; config_key_name(i); i++)
		if (strcmp(config_key_name(i), name) == 0)
			return 1;
	return 0;
}

/* Reads the shipped file with every "#key = default" line uncommented
 * into out (which must be large); records which keys it saw. */
static void uncomment_policy(const char *path, char *out, size_t len, char *seen, size_t nkeys)
{
	char line[4096], section[64] = "", key[200], name[128];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *l = line;

		if (sscanf(line, "[%63[a-z_]]", section) == 1) {
			/* section headers pass through */
		} else if (sscanf(line, "#%127[a-z0-9_.] =", name) == 1 && strchr(line, '=')) {
			l = line + 1;
			snprintf(key, sizeof(key), "%s%s%s", section, *section ? "." : "", name);
			if (!key_known(key))
				fail_msg("%s documents unknown key %s", path, key);
			for (size_t i = 0; i < nkeys; i++)
				if (strcmp(config_key_name(i), key) == 0)
					seen[i] = 1;
		}
		n += (size_t)snprintf(out + n, len - n, "%s", l);
		assert_true(n < len);
	}
	fclose(f);
}

/* policy/dosips.conf lists every key, and with its lines uncommented
 * yields exactly the built-in defaults. */
static void test_policy_file_matches_defaults(void **state)
{
	static struct config defaults, cfg;
	static char text[1 << 17], path[4096];
	const char *top = getenv("TOP");
	char err[512], seen[256] = { 0 };
	size_t nkeys = 0;

	while (config_key_name(nkeys))
		nkeys++;
	assert_true(nkeys < sizeof(seen));
	snprintf(path, sizeof(path), "%s/policy/dosips.conf", top ? top : ".");
	uncomment_policy(path, text, sizeof(text), seen, nkeys);
	for (size_t i = 0; i < nkeys; i++)
		if (!seen[i])
			fail_msg("%s does not document key %s", path, config_key_name(i));
	config_defaults(&defaults);
	if (load_text(&cfg, text, err, sizeof(err)) < 0)
		fail_msg("uncommented %s: %s", path, err);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	memset(cfg.file, 0, sizeof(cfg.file));   /* where it came from */
	assert_memory_equal(&cfg, &defaults, sizeof(cfg));
}

/* man/dosips.conf.5 names every key. */
static void test_man_page_lists_every_key(void **state)
{
	static char text[1 << 18], path[4096];
	const char *top = getenv("TOP");
	char want[160];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/man/dosips.conf.5", top ? top : ".");
	assert_non_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (size_t i = 0; config_key_name(i); i++) {
		const char *k = config_key_name(i), *dot = strchr(k, '.');

		/* Detector keys are documented once per field under .Ss sections. */
		snprintf(want, sizeof(want), ".It Ic %s", dot ? dot + 1 : k);
		if (!strstr(text, want))
			fail_msg("%s does not document key %s", path, k);
		if (dot) {
			snprintf(want, sizeof(want), "%.*s", (int)(dot - k), k);
			if (!strstr(text, want))
				fail_msg("%s does not name section %s", path, want);
		}
	}
}

/* "[type name]" sections belong to a module named in config.c's table; a
 * type no module owns is refused at its header, with file and line. */
static void test_named_section_unknown_type(void **state)
{
	static struct config cfg;
	char err[256];

	assert_int_equal(load_text(&cfg, "ban = 60\n\n[nosuchtype  alpha]\nurl = x\n", err,
				   sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: unknown section type"));
	assert_int_equal(cfg.nnamed, 0);
	assert_null(config_named_get(&cfg, "nosuchtype", "alpha", "url"));
	assert_int_equal(load_text(&cfg, "[averyveryverylongtypenamethatgoesonandon x]\n", err,
				   sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1: unknown section type"));
}

/* [upstream]: RTBH is refused with its reason, a bad action or address too. */
static void test_upstream_refusals(void **state)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "[upstream]\nrtbh = yes\n", "upstream.rtbh: announcing the attacked address" },
		{ "[upstream]\naction = drop\n", "upstream.action: expected discard or rate-limit" },
		{ "[upstream]\naction = rate-limit 0\n", "upstream.action" },
		{ "[upstream]\napi = 127.0.0.1\n", "upstream.api: expected host:port" },
	};
	struct config cfg;
	char err[256];

	assert_int_equal(load_text(&cfg, "[upstream]\naction = rate-limit 12500\n"
				   "api = [::1]:50051\n", err, sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load_text(&cfg, bad[i].text, err, sizeof(err)), 0);
		assert_int_equal(config_check(&cfg, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: \"%s\"", bad[i].text, err);
	}
}

/* [udp_flood port=53] and kin: each a service's bar in detect.svc, from
 * its detector's settings (file and command line) and its own lines; a
 * fault names its file and line (a section's: its first key's). */
static void test_service_sections(void **state)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "[port_scan port=80]\nthreshold = 5\n", ":1: unknown section type" },
		{ "[udp_flood port=0]\nthreshold = 5\n", ":2: port must be 1 to 65535" },
		{ "[udp_flood proto=gre]\nthreshold = 5\n", ":2: a service is port=N" },
		{ "[rate_flood proto=nosuch]\nthreshold = 5\n", ":2: unknown protocol" },
		{ "[syn_flood port=443]\nthreshold = 0\n", ":2: " },
		{ "[syn_flood port=443]\nrings = 5\n", ":2: unknown key" },
		{ "[udp_flood port=53]\nthreshold = 5\n[udp_flood  port=53 ]\nwindow = 1s\n"
		  "[syn_flood port=53]\nwindow = 1s\n[udp_flood port=54]\nenabled = maybe\n",
		  ":8: " },
	};
	static struct config cfg;
	struct config_setting set = { "udp_flood.window", "--x", "3s" };
	struct config_source src = { .must_exist = true, .set = &set, .nset = 1 };
	char err[256];

	src.path = write_tmp("udp_flood.threshold = 300\n"
			     "[udp_flood port=53]\nthreshold = 2000\n"
			     "[rate_flood proto=gre]\nenabled = no\n"
			     "[syn_flood port=443]\nwindow = 1s\n"
			     "[rate_flood port=8443]\nthreshold = 90000\n"
			     "[rate_flood proto=47]\nthreshold = 5\n"
			     "[udp_flood port=53]\nwindow = 10s\n");
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":11: the same service twice for one detector"));
	teardown(state);
	src.path = write_tmp("udp_flood.threshold = 300\n"
			     "[udp_flood port=53]\nthreshold = 2000\n"
			     "[rate_flood proto=gre]\nenabled = no\n"
			     "[syn_flood port=443]\nwindow = 1s\n"
			     "[rate_flood port=8443]\nthreshold = 90000\n"
			     "[udp_flood port=53]\nwindow = 10s\n");
	assert_int_equal(config_build(&cfg, &src, err, sizeof(err)), 0);
	assert_int_equal(cfg.detect.nsvc, 4);
	assert_int_equal(cfg.detect.svc[0].kind, KIND_UDP_FLOOD);
	assert_int_equal(cfg.detect.svc[0].proto, IPPROTO_UDP);
	assert_int_equal(cfg.detect.svc[0].port, 53);
	assert_true(cfg.detect.svc[0].det.enabled);
	assert_int_equal(cfg.detect.svc[0].det.threshold, 2000);
	assert_int_equal(cfg.detect.svc[0].det.window_ms, 10000);	/* its later lines */
	assert_int_equal(cfg.detect.svc[1].kind, KIND_RATE_FLOOD);
	assert_int_equal(cfg.detect.svc[1].proto, IPPROTO_GRE);
	assert_int_equal(cfg.detect.svc[1].port, 0);
	assert_false(cfg.detect.svc[1].det.enabled);
	assert_int_equal(cfg.detect.svc[2].proto, IPPROTO_TCP);
	assert_int_equal(cfg.detect.svc[2].det.threshold, 100);	/* syn_flood's */
	assert_int_equal(cfg.detect.svc[2].det.window_ms, 1000);
	assert_int_equal(cfg.detect.svc[3].proto, 0);		/* TCP and UDP */
	assert_int_equal(cfg.detect.svc[3].port, 8443);
	assert_int_equal(cfg.detect.svc[3].det.threshold, 90000);
	assert_int_equal(cfg.detect.svc[3].det.window_ms, 1000);
	/* The detector's own, as file and command line left them. */
	assert_int_equal(cfg.detect.det[KIND_UDP_FLOOD].threshold, 300);
	assert_int_equal(cfg.detect.det[KIND_UDP_FLOOD].window_ms, 3000);
	teardown(state);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = load_text(&cfg, bad[i].text, err, sizeof(err));

		if (r == 0)
			r = config_check(&cfg, err, sizeof(err));
		assert_int_equal(r, -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: \"%s\"", bad[i].text, err);
		teardown(state);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sections_and_dotted_keys, teardown),
		cmocka_unit_test_teardown(test_errors_name_file_and_line, teardown),
		cmocka_unit_test_teardown(test_capture_wait, teardown),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test_teardown(test_override_order, teardown),
		cmocka_unit_test_teardown(test_failed_build_keeps_config, teardown),
		cmocka_unit_test(test_keep_restart),
		cmocka_unit_test(test_policy_file_matches_defaults),
		cmocka_unit_test(test_man_page_lists_every_key),
		cmocka_unit_test_teardown(test_named_section_unknown_type, teardown),
		cmocka_unit_test_teardown(test_upstream_refusals, teardown),
		cmocka_unit_test_teardown(test_service_sections, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
