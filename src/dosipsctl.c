/* dosipsctl.c - asks a running dosips over its control socket. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"

#define EXIT_FAIL 1     /* the daemon refused or failed */
#define EXIT_USAGE 2
#define EXIT_DOWN 3     /* no daemon to ask */
#define DEFAULT_CONFIG SYSCONFDIR "/dosips/dosips.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dosipsctl [-s SOCKET] [-c FILE] [-t SECONDS] COMMAND [ARG...]\n"
		"commands:\n"
		"  status                     uptime, packets, drops, alerts, active bans\n"
		"  stats                      every counter, one key=value per line\n"
		"  bans                       active bans: address, reason, time left\n"
		"  feeds                      blocklist feeds: entries, last refresh, last error\n"
		"  ban ADDR[/LEN] [DURATION]  ban by hand (root; default: the ban key)\n"
		"  unban ADDR[/LEN]           lift a ban (root)\n"
		"  reload                     re-read configuration and whitelist (root)\n"
		"  notify test NAME           send a test message through notifier NAME and\n"
		"                             print the endpoint's answer (root)\n"
		"options:\n"
		"  -s, --socket PATH     control socket (default: control_socket of the\n"
		"                        configuration, else " CONFIG_CTL_SOCKET ")\n"
		"  -c, --config FILE     configuration to take control_socket from\n"
		"                        (default " DEFAULT_CONFIG ")\n"
		"  -t, --timeout SECONDS wait this long for an answer (default 10)\n"
		"  -h, --help            this help\n"
		"      --version         print the version\n");
}

/* -s, else control_socket of -c FILE (which must load) or of the default
 * file (if it loads), else the built-in default. */
static void socket_path(const char *sock, const char *file, char *out, size_t len)
{
	static struct config cfg;
	char err[CONFIG_PATH_MAX + 128];
	int r;

	if (sock) {
		snprintf(out, len, "%s", sock);
		return;
	}
	config_defaults(&cfg);
	if ((r = config_load(&cfg, file ? file : DEFAULT_CONFIG, err, sizeof(err))) < 0) {
		if (file) {
			fprintf(stderr, "dosipsctl: %s\n", err);
			exit(EXIT_USAGE);
		}
		if (r == -EINVAL)
			fprintf(stderr, "dosipsctl: warning: %s\n", err);
		config_defaults(&cfg);
	}
	if (!*cfg.ctl_socket) {
		fprintf(stderr, "dosipsctl: control_socket is empty in %s: no control socket\n",
			file ? file : DEFAULT_CONFIG);
		exit(EXIT_DOWN);
	}
	snprintf(out, len, "%s", cfg.ctl_socket);
}

static int connect_daemon(const char *path, double timeout)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { (time_t)timeout, (suseconds_t)((timeout - (time_t)timeout) * 1e6) };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dosipsctl: %s: path too long\n", path);
		exit(EXIT_USAGE);
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, "dosipsctl: socket: %s\n", strerror(errno));
		exit(EXIT_FAIL);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	/* A dosips older than 0.2 listens at the old default path. */
	if (errno == ENOENT && strcmp(path, CONFIG_CTL_SOCKET) == 0) {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", CONFIG_CTL_SOCKET_OLD);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		errno = ENOENT;
	}
	if (errno == ENOENT)
		fprintf(stderr, "dosipsctl: dosips is not running (no socket at %s)\n", path);
	else if (errno == ECONNREFUSED)
		fprintf(stderr, "dosipsctl: dosips is not running (stale socket at %s)\n", path);
	else if (errno == EAGAIN)
		fprintf(stderr, "dosipsctl: dosips is busy: no room in its queue of "
			"connections at %s, try again\n", path);
	else if (errno == EACCES || errno == EPERM)
		fprintf(stderr, "dosipsctl: %s: permission denied (needs root or the "
			"control_group)\n", path);
	else
		fprintf(stderr, "dosipsctl: cannot connect to %s: %s\n", path, strerror(errno));
	exit(errno == EACCES || errno == EPERM ? EXIT_FAIL : EXIT_DOWN);
}

/* The words joined by spaces, as one request line: with its newline at
 * most len - 1 bytes, which is what the daemon reads (and room for the
 * terminating NUL here). */
static void build_request(int argc, char **argv, char *line, size_t len)
{
	size_t n = 0;

	for (int i = 0; i < argc; i++) {
		/* the blank before the word, the word, the newline, the NUL */
		if (strpbrk(argv[i], "\r\n") || n + (i > 0) + strlen(argv[i]) + 2 > len) {
			fprintf(stderr, "dosipsctl: request too long or not one line\n");
			exit(EXIT_USAGE);
		}
		n += (size_t)snprintf(line + n, len - n, "%s%s", i ? " " : "", argv[i]);
	}
	line[n++] = '\n';
	line[n] = '\0';
}

/* True when the daemon has said something already. */
static bool peek_answer(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* Reads the whole answer: the daemon closes the connection after it. */
static char *read_answer(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1), *p;
	ssize_t n;

	for (;;) {
		if (len == cap) {
			p = realloc(buf, cap * 2 + 1);
			buf = p;    /* on failure we exit just below */
			cap *= 2;
		}
		if (!buf) {
			fprintf(stderr, "dosipsctl: out of memory\n");
			exit(EXIT_FAIL);
		}
		if ((n = read(fd, buf + len, cap - len)) == 0)
			break;
		/* A daemon that refused us may close before reading our request:
		 * what it said before that is the answer. */
		if (n < 0 && errno == ECONNRESET && len)
			break;
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "dosipsctl: no answer from dosips%s: %s\n",
				errno == EAGAIN ? " in time" : "", strerror(errno));
			exit(EXIT_FAIL);
		}
		len += n > 0 ? (size_t)n : 0;
	}
	buf[len] = '\0';
	return buf;
}

/* Prints the body; the last line says how it went. */
static int show_answer(char *ans)
{
	size_t len = strlen(ans);
	char *status;

	while (len && ans[len - 1] == '\n')
		ans[--len] = '\0';
	status = strrchr(ans, '\n');
	status = status ? status + 1 : ans;
	fwrite(ans, 1, (size_t)(status - ans), stdout);
	if (strcmp(status, "ok") == 0)
		return 0;
	if (strncmp(status, "error: ", 7) == 0)
		fprintf(stderr, "dosipsctl: %s\n", status + 7);
	else
		fprintf(stderr, "dosipsctl: unexpected answer from dosips: %s\n",
			*status ? status : "(nothing)");
	return EXIT_FAIL;
}

struct opts {
	const char *sock, *file;
	double timeout;
};

/* Options; returns the index of the command word. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_VERSION = 256 };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ 0 }
	};
	char *end;
	int c;

	/* "+": stop at the command, so "ban ADDR -5" is not an option. */
	while ((c = getopt_long(argc, argv, "+s:c:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->sock = optarg; break;
		case 'c': o->file = optarg; break;
		case 't':
			o->timeout = strtod(optarg, &end);
			if (*end || !(o->timeout > 0 && o->timeout <= 3600)) {
				fprintf(stderr, "dosipsctl: -t %s: expected seconds (0 to 3600)\n", optarg);
				exit(EXIT_USAGE);
			}
			break;
		case 'h': usage(stdout); exit(0);
		case O_VERSION: printf("dosipsctl %s\n", DOSIPS_VERSION); exit(0);
		default: usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind == argc) {
		usage(stderr);
		exit(EXIT_USAGE);
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout = 10 };
	char path[CONFIG_PATH_MAX], line[CTL_LINE_MAX], *ans;
	int cmd = parse_args(argc, argv, &o), fd, st;

	/* Every failure is said in words, never a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	build_request(argc - cmd, argv + cmd, line, sizeof(line));
	socket_path(o.sock, o.file, path, sizeof(path));
	fd = connect_daemon(path, o.timeout);
	/* A daemon that is busy answers and closes without reading: the send
	 * fails (EPIPE, no signal) and the answer is still there to read. */
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line)) {
		int e = errno;

		if (!peek_answer(fd)) {
			fprintf(stderr, "dosipsctl: cannot send to dosips: %s\n", strerror(e));
			return EXIT_FAIL;
		}
	}
	shutdown(fd, SHUT_WR);
	ans = read_answer(fd);
	close(fd);
	st = show_answer(ans);
	free(ans);
	return st;
}
