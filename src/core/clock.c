/* Monotonic and wall clocks. Any thread; no state. */
#include "core/clock.h"

#include <time.h>

uint64_t sb_clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sb_clock_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t system_now_cb(void *ud)
{
	(void)ud;
	return sb_clock_mono_us();
}

static const struct sb_clock system_clock = {.now_us = system_now_cb};

const struct sb_clock *sb_clock_system(void)
{
	return &system_clock;
}
