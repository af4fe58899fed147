/* test_crowdsec.c - what the CrowdSec link decides without a LAPI: Go
 * durations as the decisions stream writes them, and set-up refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "crowdsec.h"
#include "log.h"

static void test_go_durations(void **state)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "59s", 59000 }, { "3h59m58.5s", 14398500 }, { "1m15.217292292s", 75218 },
		{ "-1.2s", -1200 }, { "250ms", 250 }, { "1.5h", 5400000 }, { "90us", 1 },
		{ "2h0m0s", 7200000 }, { "0s", 0 },
	};
	static const char *const bad[] = { "", "5", "s", "1x", "1h-2m", "--1s", "1.2.3s" };
	int64_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(crowdsec_parse_duration(ok[i].s, &ms), 0);
		if (ms != ok[i].ms)
			fail_msg("%s: %lld ms, want %lld", ok[i].s, (long long)ms,
				 (long long)ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (crowdsec_parse_duration(bad[i], &ms) == 0)
			fail_msg("%s parsed as %lld ms", bad[i], (long long)ms);
}

/* Set-up says what is wrong, with the file and line where there is one. */
static void test_setup_refusals(void **state)
{
	char creds[] = "/tmp/dosips-cs-XXXXXX", err[512];
	struct crowdsec_cfg c = { .url = "http://198.18.0.2:8080" };
	struct crowdsec *cs;
	int fd;

	log_set_level(LOG_LVL_ERR);
	assert_int_equal(crowdsec_new(NULL, NULL, NULL, &c, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "neither crowdsec.credentials"));
	c.url = "ftp://198.18.0.2/";
	assert_int_equal(crowdsec_new(NULL, NULL, NULL, &c, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an http:// or https:// URL"));
	c.url = "http://198.18.0.2:8080";
	assert_true((fd = mkstemp(creds)) >= 0);
	assert_true(write(fd, "url: http://x\nlogin: hostA\n", 27) == 27);
	close(fd);
	c.credentials = creds;
	assert_int_equal(crowdsec_new(NULL, NULL, NULL, &c, &cs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: needs login: and password: lines"));
	c.credentials = "/nonexistent/creds";
	assert_true(crowdsec_new(NULL, NULL, NULL, &c, &cs, err, sizeof(err)) == -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/creds"));
	unlink(creds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_durations),
		cmocka_unit_test(test_setup_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
