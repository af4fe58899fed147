/* fwtool.c - the nftables backend by hand: fwtool [options] COMMAND ...
 * Used by tests/lab/nft_backend.sh; run it only inside a network namespace. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fw.h"
#include "log.h"

static const char usage[] =
	"usage: fwtool [-t TABLE] [-d IFACE] [-H HOOK] [-s SIZE] [-p PRIO] COMMAND\n"
	"  init                      create the table, or adopt it as it is\n"
	"  ban ADDR[/LEN] MS ...     ban each for MS milliseconds, one batch\n"
	"  unban ADDR[/LEN] ...      lift bans, one batch\n"
	"  allow CIDR ...            replace the allow sets (none: empty them)\n"
	"  bulk N FIRST MS           ban N consecutive addresses from FIRST, one batch\n"
	"  list                      the bans and their time left in ms\n"
	"  flush                     delete the table\n"
	"  monitor SECONDS           re-create the table (and its bans) when removed\n";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int parse_prefix(const char *s, struct ip_prefix *p)
{
	if (prefix_parse(s, p) == 0)
		return 0;
	fprintf(stderr, "fwtool: bad address or prefix: %s\n", s);
	return -1;
}

static int parse_ms(const char *s, uint64_t *ms)
{
	char *end;

	errno = 0;
	*ms = strtoull(s, &end, 10);
	if (errno || *end || end == s || *ms == 0) {
		fprintf(stderr, "fwtool: bad duration in ms: %s\n", s);
		return -1;
	}
	return 0;
}

/* Sends what is queued and says how long the kernel took. */
static int commit(struct fw *fw, size_t changes)
{
	double t0 = now_ms();
	int r = fw_commit(fw);
	double dt = now_ms() - t0;

	if (r < 0) {
		fprintf(stderr, "fwtool: commit failed: %s\n", strerror(-r));
		return 1;
	}
	printf("committed %zu changes in %.3f ms\n", changes, dt);
	return 0;
}

static int cmd_ban(struct fw *fw, int argc, char **argv)
{
	struct ip_prefix p;
	uint64_t ms;

	if (argc < 2 || argc % 2)
		return fprintf(stderr, "%s", usage), 2;
	for (int i = 0; i < argc; i += 2)
		if (parse_prefix(argv[i], &p) < 0 || parse_ms(argv[i + 1], &ms) < 0 ||
		    fw_ban(fw, &p, ms, NULL) < 0)
			return 1;
	return commit(fw, (size_t)argc / 2);
}

static int cmd_unban(struct fw *fw, int argc, char **argv)
{
	struct ip_prefix p;

	for (int i = 0; i < argc; i++)
		if (parse_prefix(argv[i], &p) < 0 || fw_unban(fw, &p) < 0)
			return 1;
	return commit(fw, (size_t)argc);
}

static int cmd_allow(struct fw *fw, int argc, char **argv)
{
	struct ip_prefix *p = calloc((size_t)argc + 1, sizeof(*p));
	int r = 1;

	for (int i = 0; p && i < argc; i++)
		if (parse_prefix(argv[i], &p[i]) < 0)
			goto out;
	if (p && fw_set_allow(fw, p, (size_t)argc) == 0)
		r = commit(fw, (size_t)argc);
out:
	free(p);
	return r;
}

/* Adds one to the address (wrapping is the caller's problem). */
static void addr_next(struct ip_addr *a)
{
	for (int i = 15; i >= 0 && ++a->b[i] == 0; i--)
		;
}

static int cmd_bulk(struct fw *fw, int argc, char **argv)
{
	struct ip_prefix p;
	uint64_t ms;
	long cnt;

	if (argc != 3 || (cnt = strtol(argv[0], NULL, 10)) <= 0 ||
	    parse_prefix(argv[1], &p) < 0 || parse_ms(argv[2], &ms) < 0)
		return fprintf(stderr, "%s", usage), 2;
	for (long i = 0; i < cnt; i++, addr_next(&p.addr))
		if (fw_ban(fw, &p, ms, NULL) < 0)
			return 1;
	return commit(fw, (size_t)cnt);
}

static void print_elem(const struct ip_prefix *p, uint64_t remaining_ms, const char *note,
		       void *ctx)
{
	char buf[ADDR_STRLEN];

	if (remaining_ms == FW_NO_TIMEOUT)
		printf("%s permanent\n", prefix_fmt(p, buf));
	else
		printf("%s %" PRIu64 "%s%s\n", prefix_fmt(p, buf), remaining_ms,
		       note ? " " : "", note ? note : "");
}

/* The bans fwtool monitor puts back: each with its own deadline. */
struct saved {
	struct ip_prefix *p;
	double *deadline;
	size_t n, cap;
};

static void save_elem(const struct ip_prefix *p, uint64_t remaining_ms, const char *note,
		      void *ctx)
{
	struct saved *s = ctx;

	if (remaining_ms == FW_NO_TIMEOUT)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct ip_prefix *np = realloc(s->p, cap * sizeof(*np));
		double *nd = np ? realloc(s->deadline, cap * sizeof(*nd)) : NULL;

		if (np)
			s->p = np;
		if (!nd)
			return;
		s->deadline = nd;
		s->cap = cap;
	}
	s->p[s->n] = *p;
	s->deadline[s->n++] = now_ms() + (double)remaining_ms;
}

static int restore(struct fw *fw, const struct saved *s)
{
	double t0 = now_ms();
	size_t k = 0;
	int r;

	for (size_t i = 0; i < s->n; i++)
		if (s->deadline[i] > t0 + 1 &&
		    fw_ban(fw, &s->p[i], (uint64_t)(s->deadline[i] - t0), NULL) == 0)
			k++;
	r = fw_commit(fw);
	printf("restored table with %zu bans in %.3f ms%s\n", k, now_ms() - t0,
	       r < 0 ? " (commit failed)" : "");
	fflush(stdout);
	return r;
}

static int cmd_monitor(struct fw *fw, int argc, char **argv)
{
	struct saved s = { 0 };
	double end;
	int r = 0;

	if (argc != 1)
		return fprintf(stderr, "%s", usage), 2;
	end = now_ms() + atof(argv[0]) * 1000;
	if (fw_adopt(fw, save_elem, &s) < 0)
		return 1;
	printf("watching, %zu bans known\n", s.n);
	fflush(stdout);
	while (r >= 0 && now_ms() < end) {
		struct pollfd pfd = { .fd = fw_monitor_fd(fw), .events = POLLIN };

		if (poll(&pfd, 1, (int)(end - now_ms()) + 1) <= 0)
			continue;
		if ((r = fw_monitor_check(fw)) == 1)
			r = restore(fw, &s);
	}
	free(s.p);
	free(s.deadline);
	return r < 0;
}

static int run(struct fw *fw, int argc, char **argv)
{
	const char *cmd = argv[0];

	argc--;
	argv++;
	if (strcmp(cmd, "init") == 0)
		return printf("table ready\n"), 0;
	if (strcmp(cmd, "ban") == 0)
		return cmd_ban(fw, argc, argv);
	if (strcmp(cmd, "unban") == 0)
		return cmd_unban(fw, argc, argv);
	if (strcmp(cmd, "allow") == 0)
		return cmd_allow(fw, argc, argv);
	if (strcmp(cmd, "bulk") == 0)
		return cmd_bulk(fw, argc, argv);
	if (strcmp(cmd, "list") == 0)
		return fw_adopt(fw, print_elem, NULL) < 0;
	if (strcmp(cmd, "flush") == 0)
		return fw_flush(fw) < 0;
	if (strcmp(cmd, "monitor") == 0)
		return cmd_monitor(fw, argc, argv);
	fprintf(stderr, "%s", usage);
	return 2;
}

int main(int argc, char **argv)
{
	struct fw_cfg cfg = { .table = "dosips", .hook = FW_HOOK_INGRESS,
			      .set_size = 65536, .priority = -300 };
	struct fw *fw;
	char err[512];
	int c, r;

	log_init("fwtool", 0, LOG_LVL_INFO);
	while ((c = getopt(argc, argv, "t:d:H:s:p:h")) != -1) {
		switch (c) {
		case 't': cfg.table = optarg; break;
		case 'd': cfg.iface = optarg; break;
		case 'H':
			if ((r = fw_hook_parse(optarg)) < 0)
				return fprintf(stderr, "fwtool: unknown hook %s\n", optarg), 2;
			cfg.hook = (enum fw_hook)r;
			break;
		case 's': cfg.set_size = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'p': cfg.priority = atoi(optarg); break;
		default: return fprintf(stderr, "%s", usage), c == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc)
		return fprintf(stderr, "%s", usage), 2;
	if ((r = fw_open_nft(&cfg, &fw, err, sizeof(err))) < 0) {
		fprintf(stderr, "fwtool: cannot open table inet %s: %s\n", cfg.table, err);
		return 1;
	}
	r = run(fw, argc - optind, argv + optind);
	fw_close(fw);
	return r;
}
