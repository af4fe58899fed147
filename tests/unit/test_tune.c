/* test_tune.c - settings from the page land in the configuration text
 * where a person would put them, and the result reads back (config_build)
 * with exactly those values; http_listen's forms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "http.h"
#include "tune.h"

static const char conf[] =
	"# comment kept\n"
	"ban = 90s   # mine\n"
	"#ban_max = 1d\n"
	"\n"
	"[syn_flood]\n"
	"#threshold = 100\n"
	"window = 5s\n"
	"\n"
	"[udp_flood]\n"
	"#enabled = yes\n";

static char *edit(const char *in, const char *key, const char *value)
{
	struct config_setting s = { key, key, value };
	char *out = NULL;

	assert_int_equal(tune_edit(in, &s, 1, &out), 0);
	return out;
}

/* Builds a configuration from text, as a reload would. */
static int build(const char *text, struct config *cfg, char *err, size_t len)
{
	struct config_source src = { .path = "/etc/dosips/dosips.conf", .text = text };

	return config_build(cfg, &src, err, len);
}

static void test_live_line_replaced(void **state)
{
	char *out = edit(conf, "ban", "120s");

	assert_non_null(strstr(out, "\nban = 120s\n"));
	assert_null(strstr(out, "90s"));
	assert_non_null(strstr(out, "# comment kept\n"));
	free(out);
}

static void test_after_commented_default(void **state)
{
	char *out = edit(conf, "syn_flood.threshold", "150"), err[256];
	struct config cfg;

	assert_non_null(strstr(out, "[syn_flood]\n#threshold = 100\nthreshold = 150\nwindow = 5s\n"));
	assert_int_equal(build(out, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.detect.det[KIND_SYN_FLOOD].threshold, 150);
	assert_int_equal(cfg.mitigate.ban_s, 90);
	free(out);
}

static void test_new_section_and_top_level(void **state)
{
	struct config_setting s[] = {
		{ "port_scan.threshold", "", "7" }, { "cooldown", "", "2s" },
		{ "udp_flood.window", "", "3s" },
	};
	char *out = NULL, err[256];
	struct config cfg;

	assert_int_equal(tune_edit(conf, s, 3, &out), 0);
	/* A top-level key goes before the first section, or it would land in one. */
	assert_true(strstr(out, "cooldown = 2s") < strstr(out, "[syn_flood]"));
	assert_non_null(strstr(out, "[udp_flood]\nwindow = 3s\n"));
	assert_non_null(strstr(out, "\n[port_scan]\nthreshold = 7\n"));
	assert_int_equal(build(out, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.detect.det[KIND_PORT_SCAN].threshold, 7);
	assert_int_equal(cfg.detect.cooldown_ms, 2000);
	assert_int_equal(cfg.detect.det[KIND_UDP_FLOOD].window_ms, 3000);
	free(out);
}

/* A bad value is refused with the file:line message `dosips -n` gives. */
static void test_bad_value_message(void **state)
{
	char *out = edit(conf, "syn_flood.threshold", "0"), err[256];
	struct config cfg;

	assert_int_not_equal(build(out, &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/etc/dosips/dosips.conf:7: "));
	free(out);
}

static void test_no_injection(void **state)
{
	struct config_setting s = { "ban", "", "60\nuser = root" };
	char *out = NULL;

	assert_int_equal(tune_edit(conf, &s, 1, &out), -EINVAL);
	s.value = "60 # x";
	assert_int_equal(tune_edit(conf, &s, 1, &out), -EINVAL);
}

static void test_save_roundtrip(void **state)
{
	char path[] = "/tmp/test_tune.XXXXXX", *back = NULL, err[256];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(tune_save(path, conf, err, sizeof(err)), 0);
	assert_int_equal(tune_read(path, &back), 0);
	assert_string_equal(back, conf);
	free(back);
	unlink(path);
	assert_int_equal(tune_read(path, &back), 0);  /* missing: empty */
	assert_string_equal(back, "");
	free(back);
}

static void test_listen_forms(void **state)
{
	struct http_addr a[2];
	const char *why;

	assert_int_equal(http_listen_parse("9210", a, &why), 2);
	assert_true(a[0].loopback && a[1].loopback);
	assert_int_equal(a[1].sa.ss_family, AF_INET6);
	assert_int_equal(http_listen_parse("198.18.0.1:9210", a, &why), 1);
	assert_false(a[0].loopback);
	assert_int_equal(http_listen_parse("[::1]:80", a, &why), 1);
	assert_true(a[0].loopback);
	assert_int_equal(http_listen_parse("127.0.0.2:1", a, &why), 1);
	assert_true(a[0].loopback);
	assert_true(http_listen_parse("::1:80", a, &why) < 0);
	assert_true(http_listen_parse("0", a, &why) < 0);
	assert_true(http_listen_parse("65536", a, &why) < 0);
	assert_true(http_listen_parse("host:80", a, &why) < 0);
	assert_true(http_listen_parse(":80", a, &why) < 0);
}

static void test_listen_needs_tokens(void **state)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	snprintf(cfg.http_listen, sizeof(cfg.http_listen), "198.18.0.1:9210");
	assert_int_not_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "http_tokens"));
	snprintf(cfg.http_tokens, sizeof(cfg.http_tokens), "/etc/dosips/http_tokens");
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_line_replaced),
		cmocka_unit_test(test_after_commented_default),
		cmocka_unit_test(test_new_section_and_top_level),
		cmocka_unit_test(test_bad_value_message),
		cmocka_unit_test(test_no_injection),
		cmocka_unit_test(test_save_roundtrip),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_listen_needs_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
