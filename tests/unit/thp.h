/* thp.h - what the unit tests ask of transparent huge pages. */
#ifndef DOSIPS_TEST_THP_H
#define DOSIPS_TEST_THP_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether huge pages are given to areas that ask (madvise or always). */
static inline bool thp_on(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char s[128] = "";

	if (!f)
		return false;
	if (!fgets(s, sizeof(s), f))
		s[0] = 0;
	fclose(f);
	return strstr(s, "[always]") || strstr(s, "[madvise]");
}

/* kB of anonymous huge pages this process holds. */
static inline long thp_process_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#endif
