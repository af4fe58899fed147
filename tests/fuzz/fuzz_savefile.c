/* fuzz_savefile.c - libFuzzer target: the classic pcap reader against
 * libpcap itself.
 *
 * The input is a capture file, held in a memory file. It is read by
 * libpcap alone, then as a replay reads it (see ../unit/savefile_both.h);
 * the target traps unless both give the same records (time, lengths,
 * bytes) and end the same way, with the same error text. At most
 * FUZZ_RECORDS records are compared.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../unit/savefile_both.h"

#define FUZZ_RECORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct reading a, b;
	char path[64];
	int fd;

	if ((fd = memfd_create("fuzz_savefile", 0)) < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (reading_of(path, 0, FUZZ_RECORDS, &a)) {
		if (!reading_of(path, 1, FUZZ_RECORDS, &b) || a.n != b.n || a.last != b.last ||
		    strcmp(a.err, b.err) != 0)
			__builtin_trap();
		for (int i = 0; i < a.n; i++)
			if (a.sum[i] != b.sum[i])
				__builtin_trap();
	}
	close(fd);
	return 0;
}
