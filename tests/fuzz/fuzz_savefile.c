/* fuzz_savefile.c - libFuzzer target: the classic pcap reader against
 * libpcap itself.
 *
 * The input is a capture file, held in a memory file. It is read by
 * libpcap alone, then as a replay reads it (savefile.c while it will, then
 * libpcap from where it stopped); the target traps unless both give the
 * same records (time, lengths, bytes) and end the same way, with the same
 * error text. At most FUZZ_RECORDS records are compared.
 */
#define _GNU_SOURCE
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "savefile.h"

#define FUZZ_RECORDS 64

struct reading {
	int n;
	uint64_t sum[FUZZ_RECORDS];
	int last;
	char err[PCAP_ERRBUF_SIZE];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_rec(u_char *user, const struct pcap_pkthdr *h, const u_char *b)
{
	struct reading *r = (struct reading *)user;
	uint64_t x = (uint64_t)h->ts.tv_sec * 1000003u ^ (uint64_t)h->ts.tv_usec << 20 ^
		     (uint64_t)h->caplen << 40 ^ h->len;

	for (uint32_t i = 0; i < h->caplen; i++)
		x = x * 1099511628211u ^ b[i];
	r->sum[r->n++] = x;
}

static int round_of(const struct reading *r)
{
	return FUZZ_RECORDS - r->n < 5 ? FUZZ_RECORDS - r->n : 5;
}

/* Reads path, with this reader first if ours; 0 when libpcap refused it. */
static int read_file(const char *path, int ours, struct reading *r)
{
	char err[PCAP_ERRBUF_SIZE];
	struct savefile *sf = NULL;
	pcap_t *p;
	int n;

	memset(r, 0, sizeof(*r));
	if (!(p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO,
							  err)))
		return 0;
	/* Rounds of a few records, never past FUZZ_RECORDS in all, so that
	 * both readings stop at the same record. */
	if (ours && savefile_open(p, &sf)) {
		while (r->n < FUZZ_RECORDS &&
		       (n = savefile_dispatch(sf, round_of(r), on_rec, (u_char *)r)) > 0)
			;
		savefile_close(sf);
	}
	while (r->n < FUZZ_RECORDS &&
	       (r->last = pcap_dispatch(p, round_of(r), on_rec, (u_char *)r)) > 0)
		;
	if (r->n == FUZZ_RECORDS)
		r->last = 1;	/* cut here, however it would have ended */
	else if (r->last < 0)
		snprintf(r->err, sizeof(r->err), "%s", pcap_geterr(p));
	pcap_close(p);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct reading a, b;
	char path[64];
	int fd;

	if ((fd = memfd_create("fuzz_savefile", 0)) < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (read_file(path, 0, &a)) {
		if (!read_file(path, 1, &b) || a.n != b.n || a.last != b.last ||
		    strcmp(a.err, b.err) != 0)
			__builtin_trap();
		for (int i = 0; i < a.n; i++)
			if (a.sum[i] != b.sum[i])
				__builtin_trap();
	}
	close(fd);
	return 0;
}
