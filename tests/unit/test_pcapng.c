/* test_pcapng.c - the pcapng walker on files written here byte by byte:
 * directions of enhanced packet blocks in either byte order, blocks it
 * skips, and giving the directions up at the first packet out of step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "decode.h"
#include "pcapng.h"

static char path[64];
static uint8_t buf[4096];
static size_t len;
static int swap;

static void u32(uint32_t v)
{
	v = swap ? __builtin_bswap32(v) : v;
	memcpy(buf + len, &v, 4);
	len += 4;
}

static void u16x2(uint16_t a, uint16_t b)
{
	a = swap ? __builtin_bswap16(a) : a;
	b = swap ? __builtin_bswap16(b) : b;
	memcpy(buf + len, &a, 2);
	memcpy(buf + len + 2, &b, 2);
	len += 4;
}

static void shb(void)
{
	u32(0x0a0d0d0a); u32(28); u32(0x1a2b3c4d); u16x2(1, 0); u32(~0u); u32(~0u); u32(28);
}

static void idb(void)
{
	u32(1); u32(20); u16x2(1, 0); u32(65535); u32(20);
}

/* An EPB of 4 captured bytes, original length wl, flags fl (or none: ~0). */
static void epb(uint32_t wl, uint32_t fl)
{
	uint32_t n = 32 + 4 + (fl != ~0u ? 8 : 0) + 4;

	u32(6); u32(n); u32(0); u32(0); u32(1); u32(4); u32(wl); u32(0x45000000);
	if (fl != ~0u) {
		u16x2(2, 4);
		u32(fl);
	}
	u16x2(0, 0);
	u32(n);
}

/* buf into a file of its own, named in path. */
static void write_buf(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/dosips-pcapng-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static struct pcapng_dir *open_buf(void)
{
	struct pcapng_dir *d = NULL;

	write_buf();
	assert_int_equal(pcapng_dir_open(path, &d), 1);
	return d;
}

static int teardown(void **state)
{
	unlink(path);
	len = 0;
	swap = 0;
	return 0;
}

static void check_flags(void)
{
	struct pcapng_dir *d;

	shb(); idb();
	epb(60, 1);
	u32(0x00000bad); u32(16); u32(32473); u32(16);	/* a custom block */
	epb(61, 2);
	epb(62, ~0u);
	epb(63, 3);					/* 11: not a direction */
	d = open_buf();
	assert_int_equal(pcapng_dir_next(d, 60), PKT_DIR_IN);
	assert_int_equal(pcapng_dir_next(d, 61), PKT_DIR_OUT);
	assert_int_equal(pcapng_dir_next(d, 62), PKT_DIR_UNKNOWN);
	assert_int_equal(pcapng_dir_next(d, 63), PKT_DIR_UNKNOWN);
	assert_int_equal(pcapng_dir_flagged(d), 2);
	assert_int_equal(pcapng_dir_lost(d), 0);
	/* Past the end: out of step. */
	assert_int_equal(pcapng_dir_next(d, 64), PKT_DIR_UNKNOWN);
	assert_int_equal(pcapng_dir_lost(d), 1);
	pcapng_dir_close(d);
}

static void test_native(void **state)
{
	check_flags();
}

static void test_swapped(void **state)
{
	swap = 1;
	check_flags();
}

static void test_out_of_step(void **state)
{
	struct pcapng_dir *d;

	shb(); idb();
	epb(60, 2);
	epb(61, 2);
	epb(62, 2);
	d = open_buf();
	assert_int_equal(pcapng_dir_next(d, 60), PKT_DIR_OUT);
	/* libpcap's next packet is not this block's: no direction from here
	 * on, even for blocks that would match again. */
	assert_int_equal(pcapng_dir_next(d, 99), PKT_DIR_UNKNOWN);
	assert_int_equal(pcapng_dir_next(d, 62), PKT_DIR_UNKNOWN);
	assert_int_equal(pcapng_dir_flagged(d), 1);
	assert_int_equal(pcapng_dir_lost(d), 1);
	pcapng_dir_close(d);
}

static void test_not_pcapng(void **state)
{
	struct pcapng_dir *d = (void *)1;

	u32(0xa1b2c3d4);	/* a pcap file's magic */
	u32(0);
	write_buf();
	assert_int_equal(pcapng_dir_open(path, &d), 0);
	assert_null(d);
	assert_int_equal(pcapng_dir_open("-", &d), 0);
	assert_int_equal(pcapng_dir_open("/nonexistent/x.pcapng", &d), 0);
	/* A FIFO is left alone, whatever it holds. */
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(pcapng_dir_open(path, &d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_native, teardown),
		cmocka_unit_test_teardown(test_swapped, teardown),
		cmocka_unit_test_teardown(test_out_of_step, teardown),
		cmocka_unit_test_teardown(test_not_pcapng, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
