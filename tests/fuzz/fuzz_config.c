/* fuzz_config.c - config_load on arbitrary bytes: an error line or a
 * config, never a crash. The input reaches the parser as a real file. A
 * config that loads has its per-service sections read too (the other
 * named sections' checks open the files they name). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "services_cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[8192];
	struct config cfg;

	if (fd < 0 && (fd = memfd_create("fuzz_config", 0)) < 0)
		return 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	config_defaults(&cfg);
	if (config_load(&cfg, path, err, sizeof(err)) < 0) {
		if (!strchr(err, ':'))
			__builtin_trap(); /* every error names file and line */
		return 0;
	}
	if (services_cfg_apply(&cfg, err, sizeof(err)) < 0 && !strstr(err, path))
		__builtin_trap();
	return 0;
}
