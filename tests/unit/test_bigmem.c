/* test_bigmem.c - the tables' memory: hot areas aligned to and sized in
 * huge pages and backed by them where the kernel gives them; sparse areas
 * resident only where touched; both zeroed and given back whole. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "bigmem.h"
#include "thp.h"

#define MIB ((size_t)1 << 20)

/* Pages of [p, p + n) resident now. */
static size_t resident(const void *p, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), np = (n + pg - 1) / pg, c = 0;
	unsigned char *v = malloc(np);

	assert_non_null(v);
	assert_int_equal(mincore((void *)p, n, v), 0);
	for (size_t i = 0; i < np; i++)
		c += v[i] & 1;
	free(v);
	return c;
}

/* Whether [p, p + n) is mapped at all. */
static bool mapped(const void *p, size_t n)
{
	unsigned char v[1];
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	for (size_t o = 0; o < n; o += pg)
		if (mincore((uint8_t *)p + o, 1, v) == 0)
			return true;
	return false;
}

/* The kB of huge pages the mapping holding p has, from /proc/self/smaps;
 * -1 when it is not found. */
static long huge_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {	/* a mapping's first line */
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void test_hot_aligned_zeroed(void **state)
{
	size_t n = 4 * MIB + 4096;	/* rounded up to 6 MiB */
	uint8_t *p = bigmem_alloc(n, BIGMEM_HOT);

	assert_non_null(p);
	assert_int_equal((uintptr_t)p % (2 * MIB), 0);
	for (size_t i = 0; i < n; i += 4096)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, n);
	/* What it mapped past n is its own, and given back with it. */
	assert_true(mapped(p + n, 6 * MIB - n));
	bigmem_free(p, n, BIGMEM_HOT);
	assert_false(mapped(p, 6 * MIB));
}

static void test_hot_huge_pages(void **state)
{
	size_t n = 4 * MIB;
	uint8_t *p;
	long kb;

	if (!thp_on()) {
		print_message("transparent huge pages off here: backing not checked\n");
		skip();
	}
	p = bigmem_alloc(n, BIGMEM_HOT);
	assert_non_null(p);
	memset(p, 1, n);
	kb = huge_kb(p);
	print_message("4 MiB hot area: %ld kB in huge pages\n", kb);
	/* The kernel may have no huge page free at the moment (fragmented
	 * memory), but on a machine that has them one of the two comes. */
	assert_true(kb >= 2048);
	bigmem_free(p, n, BIGMEM_HOT);
}

static void test_small_hot_and_sparse_are_plain(void **state)
{
	size_t n = 64 * MIB;
	uint8_t *p = bigmem_alloc(n, BIGMEM_SPARSE), *q = bigmem_alloc(256 * 1024, BIGMEM_HOT);

	assert_non_null(p);
	assert_non_null(q);
	/* Sparse: only what is touched is resident. */
	assert_int_equal(resident(p, n), 0);
	p[0] = 1;
	p[n / 2] = 1;
	assert_int_equal(resident(p, n), 2);
	assert_int_equal(huge_kb(p), 0);
	assert_int_equal(resident(q, 256 * 1024), 0);
	bigmem_free(p, n, BIGMEM_SPARSE);
	bigmem_free(q, 256 * 1024, BIGMEM_HOT);
	assert_false(mapped(p, n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hot_aligned_zeroed),
		cmocka_unit_test(test_hot_huge_pages),
		cmocka_unit_test(test_small_hot_and_sparse_are_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
