/* main.c - the command line, the wiring of the modules, and the loop. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "detect.h"
#include "events.h"
#include "fw.h"
#include "log.h"
#include "mitigate.h"
#include "whitelist.h"

#define EXIT_USAGE 2

struct opts {
	const char *config;      /* -c, or NULL for the default if present */
	const char *replay;      /* -r */
	int dry_run, check, flush, verbose;
	bool whitelist_given;
	/* Command-line settings, applied over the file in order. */
	struct { const char *key, *opt; char *value; } set[32];
	int nset;
};

struct daemon {
	struct ev_loop *loop;
	struct config cfg;
	struct opts *opts;
	struct capture *cap;
	struct detect *det;
	struct mitigate *mit;
	struct whitelist *wl;
	struct events *ev;
	struct fw *fw;
	ev_signal sig_int, sig_term, sig_usr1;
	ev_prepare flush;
	ev_io monitor;
	ev_tstamp started;
	int stopping;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dosips [-i IFACE] [--ban SECONDS] [-w FILE] [-c FILE] [--dry-run]\n"
		"              [--events FILE] [--hook HOOK] [-v] [-n] [-r FILE] [--flush]\n"
		"  -i, --interface IFACE  watch IFACE (default: the default route's)\n"
		"      --ban DURATION     first ban length (default 60s)\n"
		"  -w, --whitelist FILE   never ban these addresses/CIDRs\n"
		"  -c, --config FILE      configuration (default " SYSCONFDIR "/dosips/dosips.conf)\n"
		"  -r, --read FILE        replay a capture file instead of a live interface\n"
		"      --dry-run          decide and report; touch no firewall\n"
		"      --events FILE      JSON lines of every event to FILE (- for stdout)\n"
		"      --hook HOOK        drop point: ingress (default), prerouting, input, forward\n"
		"      --syslog           log to syslog instead of stderr\n"
		"      --flush            remove dosips's nftables table and exit\n"
		"  -n, --check            check configuration and whitelist, then exit\n"
		"  -v, --verbose          more detail (repeat for debug)\n"
		"  -h, --help             this help\n"
		"      --version          print the version\n");
}

/* Records an option that maps to a config key; applied after the file. */
static void opt_set(struct opts *o, const char *key, const char *opt, char *value)
{
	if (o->nset == (int)(sizeof(o->set) / sizeof(o->set[0]))) {
		fprintf(stderr, "dosips: too many options\n");
		exit(EXIT_USAGE);
	}
	o->set[o->nset].key = key;
	o->set[o->nset].opt = opt;
	o->set[o->nset++].value = value;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_BAN = 256, O_DRY, O_EVENTS, O_VERSION, O_HOOK, O_FLUSH, O_SYSLOG };
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "ban", required_argument, NULL, O_BAN },
		{ "whitelist", required_argument, NULL, 'w' },
		{ "config", required_argument, NULL, 'c' },
		{ "read", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "events", required_argument, NULL, O_EVENTS },
		{ "hook", required_argument, NULL, O_HOOK },
		{ "syslog", no_argument, NULL, O_SYSLOG },
		{ "flush", no_argument, NULL, O_FLUSH },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:w:c:r:nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': opt_set(o, "interface", "-i", optarg); break;
		case O_BAN: opt_set(o, "ban", "--ban", optarg); break;
		case 'w': opt_set(o, "whitelist", "-w", optarg); o->whitelist_given = true; break;
		case O_EVENTS: opt_set(o, "events", "--events", optarg); break;
		case O_HOOK: opt_set(o, "hook", "--hook", optarg); break;
		case O_SYSLOG: opt_set(o, "syslog", "--syslog", "yes"); break;
		case 'c': o->config = optarg; break;
		case 'r': o->replay = optarg; break;
		case O_DRY: o->dry_run = 1; break;
		case O_FLUSH: o->flush = 1; break;
		case 'n': o->check = 1; break;
		case 'v': o->verbose++; break;
		case 'h': usage(stdout); exit(0);
		case O_VERSION: printf("dosips %s\n", DOSIPS_VERSION); exit(0);
		case ':':
			fprintf(stderr, "dosips: option %s needs a value\n", argv[optind - 1]);
			exit(EXIT_USAGE);
		default:
			fprintf(stderr, "dosips: unknown option %s (try -h)\n", argv[optind - 1]);
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dosips: unexpected argument %s (try -h)\n", argv[optind]);
		exit(EXIT_USAGE);
	}
}

/* Defaults, then the file, then the command line. Exits on any error:
 * 2 for a bad option value, 1 for a bad file. */
static void load_config(struct config *cfg, const struct opts *o)
{
	char path[CONFIG_PATH_MAX], err[CONFIG_PATH_MAX + 128];
	const char *why;

	config_defaults(cfg);
	snprintf(path, sizeof(path), "%s", o->config ? o->config : SYSCONFDIR "/dosips/dosips.conf");
	if ((o->config || access(path, F_OK) == 0) && config_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "dosips: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < o->nset; i++) {
		if (config_set(cfg, o->set[i].key, o->set[i].value, &why) < 0) {
			fprintf(stderr, "dosips: %s %s: %s\n", o->set[i].opt, o->set[i].value, why);
			exit(EXIT_USAGE);
		}
	}
	if (config_check(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "dosips: %s\n", err);
		exit(1);
	}
}

/* Builds the whitelist: the file (a missing default file is fine) and the
 * host's own addresses, which are never banned whatever the file says. */
static int load_whitelist(const struct config *cfg, bool must_exist, struct whitelist **out)
{
	char err[CONFIG_PATH_MAX + 128];
	struct whitelist *wl;
	int r;

	if ((r = whitelist_new(&wl)) < 0)
		return r;
	if ((must_exist || access(cfg->whitelist, F_OK) == 0) &&
	    (r = whitelist_load(wl, cfg->whitelist, err, sizeof(err))) < 0) {
		log_err("%s", err);
		goto fail;
	}
	if ((r = whitelist_add_local(wl)) < 0) {
		log_err("cannot list this host's addresses: %s", strerror(-r));
		goto fail;
	}
	*out = wl;
	return 0;
fail:
	whitelist_free(wl);
	return r;
}

/* The report SIGUSR1 asks for and every exit gives: key=value per line so a
 * person can read it and a test can parse it. */
static void report(struct daemon *d)
{
	struct capture_stats cs;
	struct detect_stats ds;
	char line[1024];
	size_t n = 0;

	capture_get_stats(d->cap, &cs);
	detect_get_stats(d->det, &ds);
	log_info("report: frames=%" PRIu64 " packets=%" PRIu64 " ipv4=%" PRIu64 " ipv6=%" PRIu64
		 " fragments=%" PRIu64, cs.frames, cs.decoded[DEC_OK], cs.ipv4, cs.ipv6, cs.frags);
	log_info("report: tcp=%" PRIu64 " udp=%" PRIu64 " icmp=%" PRIu64 " icmpv6=%" PRIu64
		 " other=%" PRIu64, cs.tcp, cs.udp, cs.icmp, cs.icmp6, cs.other);
	for (int r = 1; r < DEC__MAX; r++)
		if (cs.decoded[r])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64,
					      decode_result_name(r), cs.decoded[r]);
	log_info("report: skipped:%s", n ? line : " none");
	if (cs.have_kernel)
		log_info("report: kernel received=%" PRIu64 " dropped=%" PRIu64
			 " if_dropped=%" PRIu64, cs.kernel_recv, cs.kernel_drop, cs.iface_drop);
	n = 0;
	for (int k = 0; k < KIND__MAX; k++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64,
				      detect_kind_name(k), ds.alerts[k]);
	log_info("report: alerts:%s", line);
	log_info("report: sources tracked=%" PRIu64 " evicted=%" PRIu64 " bans active=%u",
		 ds.tracked, ds.evictions, mitigate_count(d->mit));
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	log_info("signal %d: stopping", w->signum);
	d->stopping = 1;
	ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	report(w->data);
}

/* Runs before the loop sleeps: every ban decided in this iteration goes to
 * the kernel in one netlink batch. */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct daemon *d = w->data;

	mitigate_flush(d->mit);
}

static void on_monitor(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	int r = fw_monitor_check(d->fw);

	if (r == 1) {
		log_warn("table inet %s was removed by someone else: restored with %u bans",
			 d->cfg.table, mitigate_count(d->mit));
		mitigate_restore(d->mit);
		mitigate_flush(d->mit);
	} else if (r < 0) {
		log_err("nftables monitor: %s", strerror(-r));
	}
}

static void on_packet(const struct pkt *p, void *ctx)
{
	struct daemon *d = ctx;

	detect_packet(d->det, p);
}

static void on_eof(void *ctx)
{
	struct daemon *d = ctx;

	ev_break(d->loop, EVBREAK_ALL);
}

static void watch_signal(struct daemon *d, ev_signal *w, int sig,
			 void (*cb)(struct ev_loop *, ev_signal *, int))
{
	ev_signal_init(w, cb, sig);
	w->data = d;
	ev_signal_start(d->loop, w);
	ev_unref(d->loop); /* signals alone must not keep a replay's loop alive */
}

/* Opens the firewall backend; a person gets the reason in words. */
static int open_fw(struct daemon *d)
{
	struct fw_cfg fc = {
		.table = d->cfg.table, .iface = d->cfg.iface, .hook = d->cfg.hook,
		.set_size = d->cfg.set_size, .priority = -300,
	};
	int r;

	if (d->opts->dry_run)
		return fw_open_null(&d->fw);
	if ((r = fw_open_nft(&fc, &d->fw)) == -EPERM)
		log_err("changing nftables needs root or CAP_NET_ADMIN (or use --dry-run)");
	else if (r < 0)
		log_err("nftables: cannot set up table inet %s: %s", d->cfg.table, strerror(-r));
	return r;
}

static int open_capture(struct daemon *d)
{
	char err[512];
	struct capture_cfg cc = {
		.iface = d->cfg.iface, .file = d->opts->replay, .snaplen = d->cfg.snaplen,
		.buffer_kb = d->cfg.buffer_kb, .inbound_only = 1,
	};
	int r = capture_open(d->loop, &cc, on_packet, on_eof, d, &d->cap, err, sizeof(err));

	if (r < 0)
		log_err("%s", err);
	return r;
}

/* The kernel's allow sets mirror the whitelist, so a whitelisted host is
 * let through even by a ban of the prefix around it. */
static int push_allow(struct daemon *d)
{
	size_t n;
	const struct ip_prefix *p = whitelist_entries(d->wl, &n);
	int r = fw_set_allow(d->fw, p, n);

	if (r < 0)
		log_err("nftables: cannot load the whitelist: %s", strerror(-r));
	return r;
}

/* Everything from the whitelist to the watchers, in dependency order. */
static int daemon_setup(struct daemon *d)
{
	int r;

	if ((r = load_whitelist(&d->cfg, d->opts->whitelist_given, &d->wl)) < 0)
		return r;
	if ((r = events_open(d->cfg.events, &d->ev)) < 0) {
		log_err("cannot open events file %s: %s", d->cfg.events, strerror(-r));
		return r;
	}
	if ((r = open_fw(d)) < 0)
		return r;
	if ((r = push_allow(d)) < 0)
		return r;
	if ((r = mitigate_new(d->loop, &d->cfg.mitigate, d->fw, d->wl, d->ev, &d->mit)) < 0)
		return r;
	if ((r = mitigate_adopt(d->mit)) < 0)
		log_warn("could not read back existing bans: %s", strerror(-r));
	if ((r = detect_new(&d->cfg.detect, mitigate_verdict, d->mit, &d->det)) < 0) {
		log_err("detection: %s", strerror(-r));
		return r;
	}
	if ((r = open_capture(d)) < 0)
		return r;
	ev_prepare_init(&d->flush, on_prepare);
	d->flush.data = d;
	ev_prepare_start(d->loop, &d->flush);
	if (fw_monitor_fd(d->fw) >= 0) {
		ev_io_init(&d->monitor, on_monitor, fw_monitor_fd(d->fw), EV_READ);
		d->monitor.data = d;
		ev_io_start(d->loop, &d->monitor);
	}
	watch_signal(d, &d->sig_int, SIGINT, on_stop);
	watch_signal(d, &d->sig_term, SIGTERM, on_stop);
	watch_signal(d, &d->sig_usr1, SIGUSR1, on_usr1);
	return 0;
}

static void daemon_teardown(struct daemon *d)
{
	capture_close(d->cap);
	detect_free(d->det);
	mitigate_free(d->mit);
	fw_close(d->fw);
	events_close(d->ev);
	whitelist_free(d->wl);
}

static int run_check(const struct config *cfg, const struct opts *o)
{
	struct whitelist *wl;

	if (load_whitelist(cfg, o->whitelist_given, &wl) < 0)
		return 1;
	whitelist_free(wl);
	printf("configuration OK\n");
	return 0;
}

static int run_flush(struct daemon *d)
{
	int r;

	if ((r = open_fw(d)) < 0)
		return 1;
	if ((r = fw_flush(d->fw)) < 0) {
		log_err("cannot remove table inet %s: %s", d->cfg.table, strerror(-r));
		return 1;
	}
	log_info("removed table inet %s and every ban in it", d->cfg.table);
	fw_close(d->fw);
	return 0;
}

static int pick_iface(struct config *cfg)
{
	if (*cfg->iface)
		return 0;
	if (capture_default_iface(cfg->iface, sizeof(cfg->iface)) == 0)
		return 0;
	log_err("no default route to take an interface from: name one with -i IFACE");
	return -ENOENT;
}

int main(int argc, char **argv)
{
	static struct opts o;
	static struct daemon d;
	int status = 1;

	parse_args(argc, argv, &o);
	load_config(&d.cfg, &o);
	log_init("dosips", d.cfg.syslog, o.verbose > 1 ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	d.opts = &o;
	if (o.check)
		return run_check(&d.cfg, &o);
	if (!o.replay && pick_iface(&d.cfg) < 0)
		return 1;
	if (o.flush)
		return run_flush(&d);
	if (!(d.loop = ev_default_loop(EVFLAG_AUTO)))
		log_fatal("cannot initialise the event loop");
	if (daemon_setup(&d) == 0) {
		d.started = ev_time();
		if (o.replay)
			log_info("replaying %s (%s)%s", o.replay, capture_link_name(d.cap),
				 o.dry_run ? ", dry run" : "");
		else
			log_info("watching %s (%s), bans last %us%s", d.cfg.iface,
				 capture_link_name(d.cap), d.cfg.mitigate.ban_s,
				 o.dry_run ? ", dry run: no firewall changes" : "");
		ev_run(d.loop, 0);
		mitigate_flush(d.mit);
		report(&d);
		status = 0;
	}
	daemon_teardown(&d);
	return status;
}
