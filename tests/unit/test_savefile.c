/* test_savefile.c - the classic pcap reader against libpcap itself: files
 * written here byte by byte are read once by libpcap alone and once as a
 * replay reads them (this reader, then libpcap from where it stopped);
 * every record (time, lengths, bytes) and the closing error must be the
 * same. Each case also checks how far this reader went, so that a reader
 * that always gave up at once could not pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "savefile_both.h"

#define MAX_FILE	(4u << 20)

static char path[64];
static uint8_t *buf;
static size_t len;
static int swap;

static void put(const void *v, size_t n)
{
	assert_true(len + n <= MAX_FILE);
	memcpy(buf + len, v, n);
	len += n;
}

static void u32(uint32_t v)
{
	v = swap ? __builtin_bswap32(v) : v;
	put(&v, 4);
}

static void u16x2(uint16_t a, uint16_t b)
{
	a = swap ? __builtin_bswap16(a) : a;
	b = swap ? __builtin_bswap16(b) : b;
	put(&a, 2);
	put(&b, 2);
}

static void file_hdr(uint32_t magic, uint16_t minor, uint32_t snap, uint32_t linktype)
{
	u32(magic); u16x2(2, minor); u32(0); u32(0); u32(snap); u32(linktype);
}

/* A record of caplen bytes (a pattern from seed), original length wl. */
static void rec(uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t wl, unsigned seed)
{
	u32(sec); u32(frac); u32(caplen); u32(wl);
	for (uint32_t i = 0; i < caplen; i++) {
		uint8_t b = (uint8_t)(seed * 31 + i * 7);

		put(&b, 1);
	}
}

/* Reads path both ways and compares; returns whether this reader took the
 * file at all, and its count of records in *ours. */
static int read_both(int *ours)
{
	static struct reading a, b;

	assert_int_equal(reading_of(path, 0, READING_MAX, &a), 1);
	assert_int_equal(reading_of(path, 1, READING_MAX, &b), 1);
	assert_true(a.n < READING_MAX);
	assert_int_equal(a.n, b.n);
	for (int i = 0; i < a.n; i++)
		assert_true(a.sum[i] == b.sum[i]);
	assert_int_equal(a.last, b.last);
	assert_string_equal(a.err, b.err);
	*ours = b.ours;
	return b.took;
}

static void write_buf(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/dosips-savefile-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	buf = malloc(MAX_FILE);
	return buf ? 0 : -1;
}

static int teardown(void **state)
{
	unlink(path);
	free(buf);
	len = 0;
	swap = 0;
	return 0;
}

static void three_records(uint32_t magic)
{
	int ours;

	file_hdr(magic, 4, 65535, 1);
	rec(1700000000, 999999, 60, 60, 1);
	rec(1700000001, 5, 1514, 1514, 2);
	rec(1700000001, 999999999, 54, 1514, 3);	/* cut short by snaplen */
	write_buf();
	assert_int_equal(read_both(&ours), 1);
	assert_int_equal(ours, 3);
}

static void test_native_usec(void **state)
{
	three_records(0xa1b2c3d4);
}

static void test_swapped_nsec(void **state)
{
	swap = 1;
	three_records(0xa1b23c4d);
}

/* Records straddling the megabyte it reads at a time, many times over. */
static void test_blocks(void **state)
{
	int ours;

	file_hdr(0xa1b2c3d4, 4, 262144, 1);
	for (unsigned i = 0; i < 3000; i++)
		rec(1700000000 + i, i, 60 + (i * 397) % 1400, 1500, i);
	rec(1700009999, 0, 262144, 262144, 7);	/* the longest there may be */
	write_buf();
	assert_int_equal(read_both(&ours), 1);
	assert_int_equal(ours, 3001);
}

/* A record longer than the snapshot length: libpcap cuts it; this reader
 * stops there, and libpcap reads it and the rest. */
static void test_longer_than_snaplen(void **state)
{
	int ours;

	file_hdr(0xa1b2c3d4, 4, 128, 1);
	rec(1, 0, 100, 100, 1);
	rec(2, 0, 60, 60, 2);
	rec(3, 0, 200, 200, 3);
	rec(4, 0, 60, 60, 4);
	write_buf();
	assert_int_equal(read_both(&ours), 1);
	assert_int_equal(ours, 2);
}

/* Times libpcap widens its own way: left to it, from there on. */
static void test_large_times(void **state)
{
	int ours;

	file_hdr(0xa1b2c3d4, 4, 65535, 1);
	rec(1, 0, 60, 60, 1);
	rec(0x80000001u, 0, 60, 60, 2);
	rec(3, 0xfffffff0u, 60, 60, 3);
	write_buf();
	assert_int_equal(read_both(&ours), 1);
	assert_int_equal(ours, 1);
}

/* Cut inside a record's data, then inside a record header: libpcap's
 * error, in its words, either way. */
static void test_truncated(void **state)
{
	int ours;

	file_hdr(0xa1b2c3d4, 4, 65535, 1);
	rec(1, 0, 60, 60, 1);
	rec(2, 0, 60, 60, 2);
	len -= 10;
	write_buf();
	assert_int_equal(read_both(&ours), 1);
	assert_int_equal(ours, 1);
	unlink(path);
	len -= 50 + 10;		/* 6 bytes of the second header left */
	write_buf();
	assert_int_equal(read_both(&ours), 1);
	assert_int_equal(ours, 1);
}

/* A file of one record this reader must leave to libpcap from the start. */
static void not_taken(int swapped, uint32_t magic, uint16_t minor, uint32_t linktype)
{
	int ours;

	unlink(path);
	len = 0;
	swap = swapped;
	file_hdr(magic, minor, 65535, linktype);
	rec(1, 0, 60, 60, 1);
	write_buf();
	assert_int_equal(read_both(&ours), 0);
}

static void test_not_taken(void **state)
{
	not_taken(0, 0xa1b2c3d4, 3, 1);		/* version 2.3 */
	not_taken(0, 0xa1b2cd34, 4, 1);		/* Kuznetsov's */
	not_taken(1, 0xa1b2c3d4, 4, 113);	/* byte-swapped cooked */
	not_taken(0, 0xa1b2c3d4, 4, 147);	/* a link type not read here */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_native_usec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_nsec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longer_than_snaplen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_taken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
