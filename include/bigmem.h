#ifndef DOSIPS_BIGMEM_H
#define DOSIPS_BIGMEM_H

#include <stddef.h>

/* How a large area is to be backed (see bigmem.c). */
enum bigmem_use {
	BIGMEM_SPARSE,	/* pages come on first touch: costs what is used */
	BIGMEM_HOT,	/* touched at random on every packet: huge pages where
			   the kernel gives them (from 1 MiB) */
};

/* A zeroed, page-aligned area of n bytes, or NULL. */
void *bigmem_alloc(size_t n, enum bigmem_use use);

/* Gives back an area bigmem_alloc gave for (n, use); NULL is ignored. */
void bigmem_free(void *p, size_t n, enum bigmem_use use);

#endif
