/* ctlprobe.c - clients of the control socket that misbehave, for the
 * control-under-pressure lab test (tests/lab/ctl_pressure.sh).
 *
 *   ctlprobe SOCK idle N SECS     N connections that send nothing for SECS;
 *                                 prints how many were told something
 *   ctlprobe SOCK stall N SECS    N connections that ask for "bans" and never
 *                                 read the answer, held for SECS
 *   ctlprobe SOCK trickle SECS    one byte every 0.5 s, no newline; prints
 *                                 the seconds until the daemon closed, or
 *                                 "open" after SECS
 *   ctlprobe SOCK big BYTES       a request line of BYTES bytes; prints the
 *                                 answer's first line, then "eof" or the
 *                                 error that ended the reading
 *   ctlprobe SOCK bans N          N "ban" requests one after the other, of
 *                                 addresses in 198.18.0.0/15; prints the
 *                                 number answered "ok"
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror("ctlprobe: connect");
		exit(1);
	}
	return fd;
}

/* Reads until end of file or error into buf; returns the errno that ended
 * it (0 for end of file). */
static int read_all(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	*len = 0;
	while ((n = recv(fd, buf + *len, cap - 1 - *len, 0)) > 0)
		if ((*len += (size_t)n) == cap - 1)
			*len = 0;    /* keep only the tail; the counts do not matter */
	buf[*len] = '\0';
	return n == 0 ? 0 : errno;
}

static int mode_idle(int n, double secs, const char *req)
{
	int *fd = calloc((size_t)n, sizeof(*fd)), told = 0;
	char c;

	for (int i = 0; i < n; i++) {
		fd[i] = dial();
		if (req)
			send(fd[i], req, strlen(req), MSG_NOSIGNAL);
	}
	usleep((useconds_t)(secs * 1e6));
	for (int i = 0; i < n; i++) {
		if (!req && recv(fd[i], &c, 1, MSG_DONTWAIT) == 1)
			told++;
		close(fd[i]);
	}
	printf("%d\n", told);
	free(fd);
	return 0;
}

static int mode_trickle(double secs)
{
	int fd = dial();
	double t0 = now();

	while (now() - t0 < secs) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
			printf("%.1f\n", now() - t0);
			return 0;
		}
		usleep(500000);
	}
	printf("open\n");
	return 0;
}

static int mode_big(size_t bytes)
{
	char *req = malloc(bytes), ans[4096];
	size_t off = 0, len;
	int fd = dial(), e;
	ssize_t n;

	memset(req, 'a', bytes);
	while (off < bytes && (n = send(fd, req + off, bytes - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	shutdown(fd, SHUT_WR);
	e = read_all(fd, ans, sizeof(ans), &len);
	ans[strcspn(ans, "\n")] = '\0';
	printf("%s\n%s\n", len ? ans : "(nothing)", e ? strerror(e) : "eof");
	free(req);
	return 0;
}

static int mode_bans(int n)
{
	char req[64], ans[256];
	size_t len;
	int good = 0;

	for (int i = 0; i < n; i++) {
		int fd = dial();

		snprintf(req, sizeof(req), "ban 198.%d.%d.%d 3600\n", 18 + i / 62500,
			 i / 250 % 250, i % 250 + 1);
		send(fd, req, strlen(req), MSG_NOSIGNAL);
		read_all(fd, ans, sizeof(ans), &len);
		good += strstr(ans, "\nok\n") != NULL;
		close(fd);
	}
	printf("%d\n", good);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 4) {
		fprintf(stderr, "usage: ctlprobe SOCK idle|stall|trickle|big|bans ARGS\n");
		return 2;
	}
	sock_path = argv[1];
	if (strcmp(argv[2], "idle") == 0 && argc == 5)
		return mode_idle(atoi(argv[3]), atof(argv[4]), NULL);
	if (strcmp(argv[2], "stall") == 0 && argc == 5)
		return mode_idle(atoi(argv[3]), atof(argv[4]), "bans\n");
	if (strcmp(argv[2], "trickle") == 0)
		return mode_trickle(atof(argv[3]));
	if (strcmp(argv[2], "big") == 0)
		return mode_big((size_t)atol(argv[3]));
	if (strcmp(argv[2], "bans") == 0)
		return mode_bans(atoi(argv[3]));
	fprintf(stderr, "ctlprobe: unknown mode %s\n", argv[2]);
	return 2;
}
