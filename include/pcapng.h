#ifndef DOSIPS_PCAPNG_H
#define DOSIPS_PCAPNG_H

#include <stdint.h>

/* The packet direction a pcapng file records, which libpcap reads past. */
struct pcapng_dir;

/* Opens path beside libpcap's reading of it: 1 and *out when it is a pcapng
 * file, 0 when it is not, or is no regular file (standard input, a FIFO:
 * their bytes are libpcap's alone). */
int pcapng_dir_open(const char *path, struct pcapng_dir **out);

/* The direction (PKT_DIR_*) of the next packet libpcap hands over, whose
 * original length is wirelen; PKT_DIR_UNKNOWN when the file records none,
 * and from the first packet that does not match onwards. */
uint8_t pcapng_dir_next(struct pcapng_dir *d, uint32_t wirelen);

/* Packets so far whose direction the file recorded. */
uint64_t pcapng_dir_flagged(const struct pcapng_dir *d);

/* Whether d lost step with libpcap (no direction was taken from there on). */
int pcapng_dir_lost(const struct pcapng_dir *d);

/* Closes d (NULL is ignored). */
void pcapng_dir_close(struct pcapng_dir *d);

#endif
