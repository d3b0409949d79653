/* Internals shared by bus.c and journal.c. */
#pragma once

#include <pthread.h>

#include "bus/bus.h"
#include "bus/lane.h"

#define SB_BUS_MAX_HANDLERS 8

struct sb_bus_handler {
	sb_bus_handler_cb cb;
	void *ud;
};

struct sb_coalesce_entry {
	bool used;
	struct sb_event ev;
};

struct sb_coalesce_shard {
	pthread_mutex_t lock;
	struct sb_coalesce_entry *entries;
	size_t n;
};

struct sb_overflow_node {
	struct sb_overflow_node *next;
	struct sb_event ev;
};

struct sb_bus {
	struct sb_lane lane[_SB_PRIO_MAX];
	atomic_int wake_pending;
	sb_bus_wake_cb wake_cb;
	void *wake_ud;
	GMainContext *ctx; /* RO after new */
	void *source;	   /* GSource *, owner thread */

	/* Critical overflow: keeps order, never drops. */
	pthread_mutex_t overflow_lock;
	atomic_size_t overflow_n;
	struct sb_overflow_node *overflow_head, *overflow_tail;

	struct sb_coalesce_shard *shards; /* RO after new (the array) */
	size_t n_shards;

	/* RO after new */
	bool priority;
	unsigned batch;
	size_t max_queued;
	size_t normal_capacity;

	/* Counters: producers add with relaxed atomics. */
	atomic_uint_fast64_t dispatched[_SB_PRIO_MAX];
	atomic_uint_fast64_t dropped[_SB_PRIO_MAX];
	atomic_uint_fast64_t refused[_SB_PRIO_MAX];
	atomic_uint_fast64_t coalesced[_SB_PRIO_MAX];
	atomic_uint_fast64_t spilled;
	atomic_uint_fast64_t wakeups;
	atomic_uint_fast64_t admissions_refused;
	atomic_uint_fast64_t coalesce_pending;

	/* THREAD: owner */
	struct sb_bus_handler handlers[_SB_EV_MAX][SB_BUS_MAX_HANDLERS];
	unsigned n_handlers[_SB_EV_MAX];
	unsigned rr; /* round-robin start when priority is off */

	/* Journal, THREAD: owner */
	struct sb_event *journal;
	size_t journal_size;
	size_t journal_next;
	size_t journal_count;
};

void sb__bus_journal_record(struct sb_bus *bus, struct sb_event *ev);
void sb__bus_journal_free(struct sb_bus *bus);
