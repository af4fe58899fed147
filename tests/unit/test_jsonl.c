/* test_jsonl.c - the events file: never through a symlink, a size cap
 * that holds until rotation, limited kinds summed, bans always written. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "jsonl.h"

static char dir[64], path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_jsonl.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/events.json", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static long file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static struct event ban(void)
{
	struct event e = { .type = EVT_BAN, .ts_us = 1700000000000000ull };

	assert_int_equal(prefix_parse("198.18.0.9", &e.src), 0);
	return e;
}

static void test_symlink_refused(void **state)
{
	char target[160];
	struct jsonl *j;

	snprintf(target, sizeof(target), "%s/target", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(jsonl_open(path, &j), -ELOOP);
	assert_int_equal(access(target, F_OK), -1);
}

/* A 100-byte cap: two 40-byte lines fit, the third is dropped, and after
 * rotation (rename, reopen) lines are written again. */
static void test_size_cap(void **state)
{
	char line[40], old[160];
	struct event e = ban();
	struct jsonl *j;

	memset(line, 'x', sizeof(line) - 1);
	assert_int_equal(jsonl_open(path, &j), 0);
	jsonl_set_max(j, 100);
	for (int i = 0; i < 3; i++)
		jsonl_on_event(&e, line, sizeof(line) - 1, j);
	assert_int_equal(file_size(path), 80);
	snprintf(old, sizeof(old), "%s.1", path);
	assert_int_equal(rename(path, old), 0);
	assert_int_equal(jsonl_reopen(j), 0);
	jsonl_on_event(&e, line, sizeof(line) - 1, j);
	assert_int_equal(file_size(path), 40);
	assert_int_equal(file_size(old), 80);
	jsonl_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
