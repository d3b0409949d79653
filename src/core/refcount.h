/* Atomic reference counts for objects reachable from outside (a call by id, a
 * media session from a socket). Any thread. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>

struct sb_refcount {
	atomic_uint n;
};

static inline void sb_refcount_init(struct sb_refcount *r)
{
	atomic_init(&r->n, 1);
}

static inline void sb_refcount_inc(struct sb_refcount *r)
{
	atomic_fetch_add_explicit(&r->n, 1, memory_order_relaxed);
}

/* Returns true when the last reference was dropped: the caller frees. */
static inline bool sb_refcount_dec(struct sb_refcount *r)
{
	return atomic_fetch_sub_explicit(&r->n, 1, memory_order_acq_rel) == 1;
}
