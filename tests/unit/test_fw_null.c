/* test_fw_null.c - the shared firewall layer and the null backend: argument
 * checks, queue and history, adoption presets, failures, range merging. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fw.h"
#include "fw_null.h"
#include "../../src/fw_backend.h"

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;

	assert_int_equal(prefix_parse(s, &p), 0);
	return p;
}

static void test_checks(void **state)
{
	struct fw *fw;
	struct ip_prefix p = pfx("198.18.0.1");
	struct ip_prefix bad = p;

	assert_int_equal(fw_open_null(&fw), 0);
	assert_int_equal(fw_ban(fw, &p, 0, NULL), -EINVAL);
	bad.len = 95;  /* shorter than any IPv4 prefix */
	assert_int_equal(fw_ban(fw, &bad, 1000, NULL), -EINVAL);
	assert_int_equal(fw_unban(fw, &bad), -EINVAL);
	bad.len = 129;
	assert_int_equal(fw_set_allow(fw, &bad, 1), -EINVAL);
	assert_int_equal(fw_null_pending(fw), 0);
	assert_int_equal(fw_monitor_fd(fw), -1);
	assert_int_equal(fw_monitor_check(fw), 0);
	fw_close(fw);
	fw_close(NULL);
}

static void test_queue_and_history(void **state)
{
	struct fw *fw;
	struct fw_null_rec rec[4];
	struct fw_stats st;
	struct ip_prefix p = pfx("198.18.1.0/24");
	char buf[ADDR_STRLEN];

	assert_int_equal(fw_open_null(&fw), 0);
	p.addr.b[15] = 7;  /* host bits set: the firewall gets them cleared */
	assert_int_equal(fw_ban(fw, &p, 1500, NULL), 0);
	assert_int_equal(fw_unban(fw, &p), 0);
	assert_int_equal(fw_null_pending(fw), 2);
	assert_int_equal(fw_null_history(fw, rec, 4), 0);
	assert_int_equal(fw_commit(fw), 0);
	assert_int_equal(fw_null_pending(fw), 0);
	assert_int_equal(fw_null_history(fw, rec, 4), 2);
	assert_int_equal(rec[0].op, FW_OP_BAN);
	assert_int_equal(rec[0].timeout_ms, 1500);
	assert_string_equal(prefix_fmt(&rec[0].p, buf), "198.18.1.0/24");
	assert_int_equal(rec[1].op, FW_OP_UNBAN);
	assert_int_equal(fw_commit(fw), 0);  /* nothing queued: no batch */
	fw_get_stats(fw, &st);
	assert_int_equal(st.bans, 1);
	assert_int_equal(st.unbans, 1);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.errors, 0);
	fw_close(fw);
}

/* The history is a ring: the last 1024 operations, oldest first. */
static void test_history_ring(void **state)
{
	struct fw *fw;
	static struct fw_null_rec rec[2000];
	struct ip_prefix p = pfx("2001:db8::/64");

	assert_int_equal(fw_open_null(&fw), 0);
	for (uint64_t i = 1; i <= 1500; i++)
		assert_int_equal(fw_ban(fw, &p, i, NULL), 0);
	assert_int_equal(fw_commit(fw), 0);
	assert_int_equal(fw_null_history(fw, rec, 2000), 1024);
	assert_int_equal(rec[0].timeout_ms, 1500 - 1024 + 1);
	assert_int_equal(rec[1023].timeout_ms, 1500);
	assert_int_equal(fw_null_history(fw, rec, 3), 3);
	assert_int_equal(rec[2].timeout_ms, 1500);
	fw_close(fw);
}

static void adopted(const struct ip_prefix *p, uint64_t remaining_ms, const char *note,
		    void *ctx)
{
	uint64_t *sum = ctx;

	*sum += remaining_ms + p->len;
}

static void test_preset_and_failure(void **state)
{
	struct fw *fw;
	struct fw_stats st;
	struct ip_prefix a = pfx("198.18.2.2"), b = pfx("2001:db8:2::/64");
	uint64_t sum = 0;

	assert_int_equal(fw_open_null(&fw), 0);
	assert_int_equal(fw_null_preset(fw, &a, 100, NULL), 0);
	assert_int_equal(fw_null_preset(fw, &b, 2000, NULL), 0);
	assert_int_equal(fw_adopt(fw, adopted, &sum), 0);
	assert_int_equal(sum, 100 + 128 + 2000 + 64);
	assert_int_equal(fw_ban(fw, &a, 10, NULL), 0);
	fw_null_fail_next(fw, -ENFILE);
	assert_int_equal(fw_commit(fw), -ENFILE);
	assert_int_equal(fw_null_pending(fw), 0);
	assert_int_equal(fw_commit(fw), 0);
	fw_get_stats(fw, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(fw_flush(fw), 0);
	fw_close(fw);
}

static void test_hooks(void **state)
{
	assert_int_equal(fw_hook_parse("ingress"), FW_HOOK_INGRESS);
	assert_int_equal(fw_hook_parse("prerouting"), FW_HOOK_PREROUTING);
	assert_int_equal(fw_hook_parse("input"), FW_HOOK_INPUT);
	assert_int_equal(fw_hook_parse("forward"), FW_HOOK_FORWARD);
	assert_int_equal(fw_hook_parse("output"), -1);
	assert_string_equal(fw_hook_name(FW_HOOK_FORWARD), "forward");
	assert_string_equal(fw_hook_name((enum fw_hook)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_queue_and_history),
		cmocka_unit_test(test_history_ring),
		cmocka_unit_test(test_preset_and_failure),
		cmocka_unit_test(test_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
