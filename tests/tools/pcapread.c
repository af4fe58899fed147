/* pcapread.c - the bare libpcap read loop: the floor any replay through
 * dosips is measured against.
 *
 *   pcapread [-s] FILE
 *
 * Reads every packet of FILE with pcap_dispatch, touching one byte of
 * each, and prints the count and the elapsed time. With -s it reads as a
 * replay does (capture.c): src/savefile.c while it can, then libpcap. That
 * reader costs less than libpcap's two stdio reads a packet, so dosips's
 * ratio to the plain loop counts that saving too; scripts/bench.sh gives
 * its ratio to both.
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "savefile.h"

struct tally {
	uint64_t packets;
	unsigned sum;
};

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct tally *t = (struct tally *)user;

	t->packets++;
	if (h->caplen)
		t->sum += bytes[0];	/* the frame is really read */
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct tally t = { 0, 0 };
	uint64_t start, ns;
	struct savefile *sf = NULL;
	int ours = argc == 3 && strcmp(argv[1], "-s") == 0;
	pcap_t *p;
	int r;

	if (argc != 2 + ours) {
		fprintf(stderr, "usage: pcapread [-s] FILE\n");
		return 2;
	}
	start = now_ns();
	if (!(p = pcap_open_offline_with_tstamp_precision(argv[1 + ours],
							  PCAP_TSTAMP_PRECISION_MICRO, err))) {
		fprintf(stderr, "pcapread: %s\n", err);
		return 1;
	}
	if (ours && savefile_open(p, &sf)) {
		while ((r = savefile_dispatch(sf, 4096, on_packet, (u_char *)&t)) > 0)
			;
		savefile_close(sf);
		if (r < 0) {
			fprintf(stderr, "pcapread: cannot seek: %s\n", strerror(-r));
			pcap_close(p);
			return 1;
		}
	}
	while ((r = pcap_dispatch(p, 4096, on_packet, (u_char *)&t)) > 0)
		;
	if (r < 0) {
		fprintf(stderr, "pcapread: %s\n", pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	pcap_close(p);
	ns = now_ns() - start;
	printf("packets=%" PRIu64 " elapsed_ns=%" PRIu64 " ns_per_packet=%.1f check=%u\n",
	       t.packets, ns, t.packets ? (double)ns / (double)t.packets : 0.0, t.sum & 0xff);
	return 0;
}
