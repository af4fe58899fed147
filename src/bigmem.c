/* bigmem.c - the large fixed areas of detect and flows.
 *
 * Both come straight from mmap: zeroed, page-aligned, and pages never
 * touched cost no memory, so RSS shows what is really used. That suits the
 * ring pools, sized for every source that might flood and mostly unused.
 *
 * The tables are another matter. Every packet looks up its source and its
 * flow at a random place in megabytes of them, and with 4 KiB pages each of
 * those look-ups also misses the TLB (a table of 4 MiB is 1024 pages, about
 * all a core's second-level TLB holds, and there are three of them). So the
 * tables of half a huge page or more ask for huge pages (MADV_HUGEPAGE,
 * which the "madvise" setting of transparent huge pages, Debian's default,
 * honours): a 4 MiB table is then two TLB entries. For that the area is
 * aligned to and sized in whole huge pages, which become resident a huge
 * page at a time: a table so backed is all resident after a few dozen
 * sources, where it used to grow with them (at most its size either way).
 * Where huge pages are off, or the kernel has none to give, the same area
 * works with ordinary pages.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "bigmem.h"

#define HUGE ((size_t)2 << 20)	/* x86-64's and arm64's (4 KiB granule) */

/* Whether an area is to have huge pages: hot, and of half a huge page or
 * more (below that, 4 KiB pages are few enough for the TLB). */
static bool bigmem_huge(size_t n, enum bigmem_use use)
{
	return use == BIGMEM_HOT && n >= HUGE / 2;
}

/* The size bigmem_alloc uses for n bytes: whole huge pages for those. */
static size_t bigmem_size(size_t n, enum bigmem_use use)
{
	return bigmem_huge(n, use) ? (n + HUGE - 1) & ~(HUGE - 1) : n;
}

void *bigmem_alloc(size_t n, enum bigmem_use use)
{
	size_t len = bigmem_size(n, use), extra = bigmem_huge(n, use) ? HUGE : 0;
	uint8_t *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *a;

	if (p == MAP_FAILED)
		return NULL;
	if (!extra)
		return p;
	/* Only whole aligned huge pages can be huge: trim to the first
	 * boundary and give back the rest (a - p < extra: there is a tail). */
	a = (uint8_t *)(((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, extra - (size_t)(a - p));
	(void)madvise(a, len, MADV_HUGEPAGE);
	return a;
}

void bigmem_free(void *p, size_t n, enum bigmem_use use)
{
	if (p)
		munmap(p, bigmem_size(n, use));
}
