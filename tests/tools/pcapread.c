/* pcapread.c - the bare libpcap read loop: the floor any replay through
 * dosips is measured against.
 *
 *   pcapread FILE
 *
 * Reads every packet of FILE with pcap_dispatch, as capture.c does,
 * touching one byte of each, and prints the count and the elapsed time.
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <time.h>

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
	pcap_t *p;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: pcapread FILE\n");
		return 2;
	}
	start = now_ns();
	if (!(p = pcap_open_offline(argv[1], err))) {
		fprintf(stderr, "pcapread: %s\n", err);
		return 1;
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
