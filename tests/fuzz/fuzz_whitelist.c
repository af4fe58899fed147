/* fuzz_whitelist.c - whitelist_load on arbitrary bytes: an error naming
 * file and line, or entries that each match themselves; never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "whitelist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[8192];
	struct whitelist *wl;
	const struct ip_prefix *p;
	size_t n;

	if (fd < 0 && (fd = memfd_create("fuzz_whitelist", 0)) < 0)
		return 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (whitelist_new(&wl) < 0)
		return 0;
	if (whitelist_load(wl, path, err, sizeof(err)) < 0) {
		if (strncmp(err, path, strlen(path)) != 0)
			__builtin_trap(); /* errors name the file */
	} else {
		p = whitelist_entries(wl, &n);
		for (size_t i = 0; i < n; i++)
			if (!whitelist_match(wl, &p[i].addr))
				__builtin_trap(); /* every entry covers its own base */
	}
	whitelist_free(wl);
	return 0;
}
