/* rssprobe.c - runs a command and reports its wall time and peak resident
 * memory, for the benchmark script.
 *
 *   rssprobe CMD [ARG...]
 *
 * The command's own output passes through; the last line on stderr is
 * "rssprobe: elapsed_ns=N maxrss_kb=N status=N". Exits as the command did.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	uint64_t start;
	int status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: rssprobe CMD [ARG...]\n");
		return 2;
	}
	start = now_ns();
	if ((pid = fork()) < 0) {
		fprintf(stderr, "rssprobe: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "rssprobe: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "rssprobe: wait: %s\n", strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "rssprobe: elapsed_ns=%" PRIu64 " maxrss_kb=%ld status=%d cpu_ns=%" PRIu64 "\n",
		now_ns() - start, ru.ru_maxrss,
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		(uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
		(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
