/* The event bus: the only path between threads.
 *
 * A bus is one consumer's inbox: four bounded priority lanes drained by the
 * thread that owns the bus (the control thread's GLib loop, or a media
 * worker's context). Posting is lock-free from any thread and wakeups
 * coalesce: many posts cause one wakeup.
 *
 * Threads: sb_bus_post*(), sb_bus_admit() and sb_bus_stats() from any thread.
 * Everything else from the owning thread only. Subscriptions are made before
 * events flow.
 *
 * Overload policy: critical events are never dropped (a full critical ring
 * spills into an unbounded, order-keeping overflow list); a full high or
 * normal lane refuses the post with -EAGAIN; a full low lane drops the event
 * (-ENOBUFS). Low events flagged SB_EVF_COALESCE replace a pending event with
 * the same (type, call, leg). Every drop, refusal and merge is counted. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bus/events.h"

struct sb_config_bus;
typedef struct _GMainContext GMainContext;

enum {
	SB_EVF_COALESCE = 1 << 0, /* low lane: latest value wins per (type, call, leg) */
	SB_EVF_REPLAYED = 1 << 1, /* came from a journal replay */
};

#define SB_EVENT_STR_MAX 64

struct sb_event {
	uint64_t id;	/* set by the bus when posted */
	uint64_t cause; /* id of the event that caused it; 0 for an outside stimulus */
	uint64_t call;	/* correlation id: the call, 0 for none */
	uint64_t ts_us; /* monotonic time of posting, set by the bus */
	uint32_t leg;
	uint16_t type; /* enum sb_event_type */
	uint8_t prio;  /* from the catalogue, set by the bus */
	uint8_t flags;
	int64_t arg[4];
	char str[SB_EVENT_STR_MAX];
	char *text; /* heap text owned by the event; freed after dispatch */
};

struct sb_bus;

/* Called on the owning thread for each dispatched event. The event and its
 * text are valid only during the call. */
typedef void (*sb_bus_handler_cb)(const struct sb_event *ev, void *ud);
/* Called on the posting thread when the bus needs its owner to wake up;
 * used when the bus is not attached to a GMainContext (benchmarks, tests). */
typedef void (*sb_bus_wake_cb)(void *ud);

struct sb_bus_lane_stats {
	uint64_t posted;
	uint64_t dispatched;
	uint64_t dropped;   /* low lane full */
	uint64_t refused;   /* high or normal lane full */
	uint64_t coalesced; /* low events merged into a pending one */
	uint64_t spilled;   /* critical events that went through the overflow list */
	uint64_t depth;	    /* waiting now */
};

struct sb_bus_stats {
	struct sb_bus_lane_stats lane[_SB_PRIO_MAX];
	uint64_t wakeups;
	uint64_t admissions_refused;
};

/* Creates a bus with the settings of cfg (NULL: the defaults). When ctx is
 * non-NULL the bus attaches a GSource to it and dispatches from that loop.
 * Returns NULL when out of memory. */
struct sb_bus *sb_bus_new(const struct sb_config_bus *cfg, GMainContext *ctx);
/* Frees the bus and every pending event. Accepts NULL; returns NULL. */
struct sb_bus *sb_bus_free(struct sb_bus *bus);
/* Sets the wake callback for a bus without a GMainContext. */
void sb_bus_set_wake(struct sb_bus *bus, sb_bus_wake_cb cb, void *ud);

/* Subscribes cb to type (SB_EV_NONE: every type). Owning thread, before
 * events flow. Returns 0, or -ENOSPC when the type has too many handlers. */
int sb_bus_subscribe(struct sb_bus *bus, enum sb_event_type type, sb_bus_handler_cb cb, void *ud);

/* Posts a copy of *ev; ownership of ev->text passes to the bus whatever the
 * result. If ev->cause is 0 and the posting thread is dispatching an event,
 * the cause (and call, and leg when unset) come from that event. Returns the
 * new event's id (> 0), or -EAGAIN (high/normal lane full), -ENOBUFS (low
 * lane full, dropped), -EINVAL (unknown type), -ENOMEM. */
int64_t sb_bus_post(struct sb_bus *bus, const struct sb_event *ev);
/* Shorthand for an event with only a type, call and leg. */
int64_t sb_bus_post_simple(struct sb_bus *bus, enum sb_event_type type, uint64_t call,
			   uint32_t leg);

/* Admission control for new work (a new call): returns 0 when the bus has
 * room, -EBUSY when queued events exceed max_concurrent_dispatches or the
 * normal lane is three quarters full. Any thread. */
int sb_bus_admit(struct sb_bus *bus);

/* Dispatches one round: each lane up to its budget, highest priority first.
 * Returns the number of events dispatched. Owning thread. */
unsigned sb_bus_dispatch(struct sb_bus *bus);
/* True when any lane has events waiting. Any thread. */
bool sb_bus_pending(struct sb_bus *bus);

void sb_bus_stats(struct sb_bus *bus, struct sb_bus_stats *ret);

/* The event being dispatched on this thread, or NULL. */
const struct sb_event *sb_bus_current(void);

/* Journal: the last journal_size dispatched events. Owning thread. */
/* Writes the journal as JSON lines, oldest first; call != 0 keeps only that
 * call's events. Returns the number of lines written, or -EIO. */
int sb_bus_journal_write(struct sb_bus *bus, FILE *out, uint64_t call);
/* Writes the causal chain that ends in event id, root cause first, as JSON
 * lines. Returns the number of events in the chain (0: id not in journal). */
int sb_bus_journal_chain(struct sb_bus *bus, uint64_t id, FILE *out);
/* Reads JSON lines written by sb_bus_journal_write and hands each event to
 * cb in order, flagged SB_EVF_REPLAYED, with its original ids. Returns the
 * number replayed, or -EBADMSG naming nothing (the caller logs) on a line
 * that is not a journal event. */
int sb_bus_journal_replay(FILE *in, sb_bus_handler_cb cb, void *ud);
/* Encodes one event as a JSON line (no newline) into a malloc'd string. */
char *sb_bus_event_to_json(const struct sb_event *ev);
