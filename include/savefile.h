#ifndef DOSIPS_SAVEFILE_H
#define DOSIPS_SAVEFILE_H

#include <pcap/pcap.h>
#include <sys/types.h>

/* A replay's reader of the records of a classic pcap file, in the place of
 * libpcap's, for as long as the file holds nothing unusual. */
struct savefile;

/* Takes over the reading of p, a pcap_t just opened on a file, when it is
 * a classic pcap file this reader reads exactly as libpcap would: 1 and
 * *out, else 0 (p reads on alone). */
int savefile_open(pcap_t *p, struct savefile **out);

/* Hands up to cnt records to cb, as pcap_dispatch would; returns how many.
 * 0 means this reader stopped (end of the file as it was at open, or a
 * record it leaves to libpcap): p has been set at the first record not
 * handed over, to read on from there, and s is to be closed. */
int savefile_dispatch(struct savefile *s, int cnt, pcap_handler cb, u_char *user);

/* Frees s (NULL is ignored); p is left as it is. */
void savefile_close(struct savefile *s);

#endif
