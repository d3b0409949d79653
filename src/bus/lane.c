/* Bounded MPSC event ring. Push from any thread, pop from the owner. The
 * cell sequence numbers order each cell's publication, so a consumer never
 * reads a cell a producer has claimed but not yet filled. */
#include "bus/lane.h"

#include <errno.h>
#include <stdlib.h>

int sb__lane_init(struct sb_lane *l, size_t capacity_pow2)
{
	l->cells = calloc(capacity_pow2, sizeof(*l->cells));
	if (!l->cells)
		return -ENOMEM;
	l->mask = capacity_pow2 - 1;
	for (size_t i = 0; i < capacity_pow2; i++)
		atomic_init(&l->cells[i].seq, i);
	atomic_init(&l->head, 0);
	atomic_init(&l->tail, 0);
	return 0;
}

void sb__lane_fini(struct sb_lane *l)
{
	free(l->cells);
	l->cells = NULL;
}

bool sb__lane_push(struct sb_lane *l, const struct sb_event *ev)
{
	size_t pos = atomic_load_explicit(&l->head, memory_order_relaxed);
	struct sb_lane_cell *c;

	for (;;) {
		intptr_t dif;

		c = &l->cells[pos & l->mask];
		dif = (intptr_t)atomic_load_explicit(&c->seq, memory_order_acquire) - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&l->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false;
		} else {
			pos = atomic_load_explicit(&l->head, memory_order_relaxed);
		}
	}
	c->ev = *ev;
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return true;
}

bool sb__lane_pop(struct sb_lane *l, struct sb_event *ret)
{
	size_t pos = atomic_load_explicit(&l->tail, memory_order_relaxed);
	struct sb_lane_cell *c = &l->cells[pos & l->mask];

	if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + 1)
		return false;
	*ret = c->ev;
	atomic_store_explicit(&c->seq, pos + l->mask + 1, memory_order_release);
	atomic_store_explicit(&l->tail, pos + 1, memory_order_relaxed);
	return true;
}

size_t sb__lane_depth(struct sb_lane *l)
{
	size_t h = atomic_load_explicit(&l->head, memory_order_relaxed);
	size_t t = atomic_load_explicit(&l->tail, memory_order_relaxed);

	return h > t ? h - t : 0;
}

struct sb_event *sb__lane_peek(struct sb_lane *l)
{
	size_t pos = atomic_load_explicit(&l->tail, memory_order_relaxed);
	struct sb_lane_cell *c = &l->cells[pos & l->mask];

	if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + 1)
		return NULL;
	return &c->ev;
}

void sb__lane_release(struct sb_lane *l)
{
	size_t pos = atomic_load_explicit(&l->tail, memory_order_relaxed);
	struct sb_lane_cell *c = &l->cells[pos & l->mask];

	atomic_store_explicit(&c->seq, pos + l->mask + 1, memory_order_release);
	atomic_store_explicit(&l->tail, pos + 1, memory_order_relaxed);
}
