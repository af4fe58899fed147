/* fuzz_pcapng.c - libFuzzer target for the pcapng direction walker.
 *
 * The input's first 64 bytes are the original lengths of the 16 packets
 * libpcap would hand over (so that the walker stays in step, which
 * libFuzzer's comparison tracing finds), the rest is the file, given to
 * the walker as a memory file. Besides crashes it traps on a direction
 * that is none of PKT_DIR_*, on one given after the walker lost step,
 * and on more packets with a direction than it gave.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "decode.h"
#include "pcapng.h"

#define FUZZ_PACKETS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len[FUZZ_PACKETS];
	struct pcapng_dir *d;
	char path[64];
	uint64_t given = 0;
	int fd, was_lost = 0;

	if (size < sizeof(len))
		return 0;
	memcpy(len, data, sizeof(len));
	if ((fd = memfd_create("fuzz_pcapng", 0)) < 0)
		return 0;
	if (write(fd, data + sizeof(len), size - sizeof(len)) !=
	    (ssize_t)(size - sizeof(len))) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (pcapng_dir_open(path, &d) == 1) {
		for (int i = 0; i < FUZZ_PACKETS; i++) {
			uint8_t dir = pcapng_dir_next(d, len[i]);

			if (dir > PKT_DIR_OUT || (was_lost && dir != PKT_DIR_UNKNOWN))
				__builtin_trap();
			given += dir != PKT_DIR_UNKNOWN;
			was_lost = pcapng_dir_lost(d);
		}
		if (pcapng_dir_flagged(d) != given)
			__builtin_trap();
		pcapng_dir_close(d);
	}
	close(fd);
	return 0;
}
