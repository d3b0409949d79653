/* Component lifecycle: start in dependency order, track readiness, drain,
 * stop in reverse order. Control thread only. No I/O of its own: main.c
 * drives it from the GLib loop and signal handlers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_config;
struct sb_lifecycle;

struct sb_component_ops {
	const char *name;
	/* Starts the component; it reports readiness now or later with
	 * sb_lifecycle_ready(). Returns 0 or a negative code (start fails). */
	int (*start)(void *ud, struct sb_lifecycle *lc);
	/* Stops accepting new work (drain begins). May be NULL. */
	void (*drain)(void *ud);
	/* Work still in progress (live calls) while draining. May be NULL. */
	size_t (*active)(void *ud);
	/* Flushes and releases resources. Called in reverse start order. */
	void (*stop)(void *ud);
	/* Takes a new, already validated config snapshot. May be NULL. */
	void (*reload)(void *ud, struct sb_config *cfg);
};

#define SB_LIFECYCLE_MAX 16

enum sb_lifecycle_state {
	SB_LC_NEW,
	SB_LC_STARTING,
	SB_LC_READY,
	SB_LC_DRAINING,
	SB_LC_STOPPED,
	_SB_LC_MAX,
	_SB_LC_INVALID = -22,
};

/* Returns NULL when out of memory. */
struct sb_lifecycle *sb_lifecycle_new(void);
struct sb_lifecycle *sb_lifecycle_free(struct sb_lifecycle *lc);
/* Adds a component; components start in the order they are added. Returns
 * 0, -ENOSPC or -EINVAL. */
int sb_lifecycle_add(struct sb_lifecycle *lc, const struct sb_component_ops *ops, void *ud);
/* Called each time a component reports ready. */
typedef void (*sb_lifecycle_ready_cb)(const char *name, void *ud);
void sb_lifecycle_set_ready_cb(struct sb_lifecycle *lc, sb_lifecycle_ready_cb cb, void *ud);
/* Starts every component in order. On a failure, stops those already
 * started (reverse order) and returns the error; ret_failed names the one. */
int sb_lifecycle_start(struct sb_lifecycle *lc, const char **ret_failed);
/* A component reports it is ready. Returns true when this made every
 * component ready. */
bool sb_lifecycle_ready(struct sb_lifecycle *lc, const char *name);
bool sb_lifecycle_all_ready(const struct sb_lifecycle *lc);
/* Begins draining: every component stops accepting new work. */
void sb_lifecycle_drain(struct sb_lifecycle *lc);
/* Work still in progress across components. */
size_t sb_lifecycle_active(const struct sb_lifecycle *lc);
/* Stops every started component in reverse order. Idempotent. */
void sb_lifecycle_stop(struct sb_lifecycle *lc);
void sb_lifecycle_reload(struct sb_lifecycle *lc, struct sb_config *cfg);
enum sb_lifecycle_state sb_lifecycle_state(const struct sb_lifecycle *lc);
/* Fills names of components not yet ready, returns how many. */
size_t sb_lifecycle_not_ready(const struct sb_lifecycle *lc, const char **names, size_t max);
