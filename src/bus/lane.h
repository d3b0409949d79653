/* A bounded multi-producer, single-consumer ring of events (after Dmitry
 * Vyukov's bounded queue: one sequence number per cell, one CAS per push).
 * Internal to src/bus. Push from any thread; pop from the owning thread. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/macros.h"

struct sb_lane_cell {
	_Alignas(SB_CACHELINE) atomic_size_t seq;
	struct sb_event ev;
};

struct sb_lane {
	_Alignas(SB_CACHELINE) atomic_size_t head; /* next push position */
	_Alignas(SB_CACHELINE) atomic_size_t tail; /* next pop position; THREAD: owner writes */
	_Alignas(SB_CACHELINE) struct sb_lane_cell *cells;
	size_t mask;
};

int sb__lane_init(struct sb_lane *l, size_t capacity_pow2);
void sb__lane_fini(struct sb_lane *l);
/* Returns false when the lane is full. */
bool sb__lane_push(struct sb_lane *l, const struct sb_event *ev);
/* Returns false when the lane is empty. */
bool sb__lane_pop(struct sb_lane *l, struct sb_event *ret);
/* The oldest event in place, or NULL when empty; the consumer reads it and
 * then calls sb__lane_release(). Saves a copy on the dispatch path. */
struct sb_event *sb__lane_peek(struct sb_lane *l);
void sb__lane_release(struct sb_lane *l);
size_t sb__lane_depth(struct sb_lane *l);
