/* Clocks. Any thread.
 * Time is injectable: a component that schedules takes a struct sb_clock so a
 * test can drive it without sleeping; sb_clock_system() is the real one. */
#pragma once

#include <stdint.h>

struct sb_clock {
	uint64_t (*now_us)(void *ud); /* monotonic microseconds */
	void *ud;
};

/* Monotonic time in microseconds (CLOCK_MONOTONIC). */
uint64_t sb_clock_mono_us(void);
/* Wall-clock time in microseconds since the Unix epoch. */
uint64_t sb_clock_real_us(void);
/* The system clock as an injectable clock. */
const struct sb_clock *sb_clock_system(void);

static inline uint64_t sb_clock_now(const struct sb_clock *c)
{
	return c->now_us(c->ud);
}
