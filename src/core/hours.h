/* Opening hours: the weekly spans of a [route]'s `hours` key, such as
 * "mon-fri 09:00-17:00, sat 10:00-13:00" (docs/config.md). Pure functions,
 * any thread; time zones are the caller's (the engine converts the wall
 * clock into the route's zone first).
 *
 * Grammar: entries separated by ','; an entry is a day or a range of days
 * ("mon".."sun", "fri-mon" wraps, "daily" or "*" for every day), then one
 * or more time ranges "HH:MM-HH:MM" separated by blanks. The end may be
 * 24:00; an end before the start runs past midnight into the next day
 * ("fri 22:00-06:00" is Friday night until Saturday 06:00). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_HOURS_MAX_SPANS 32
#define SB_HOURS_MAX_LEN   1024

struct sb_hours_span {
	uint8_t days;	   /* bit 0 Monday .. bit 6 Sunday */
	uint16_t from, to; /* minutes of the day: from 0..1439, to 1..1440 */
};

struct sb_hours {
	size_t n;
	struct sb_hours_span spans[SB_HOURS_MAX_SPANS];
};

/* Parses text into *ret. Returns 0, or -EINVAL with what is wrong and
 * where in err ("'tue-' at 5: expected a day"), -E2BIG past
 * SB_HOURS_MAX_SPANS ranges or SB_HOURS_MAX_LEN bytes. */
int sb_hours_parse(const char *text, struct sb_hours *ret, char *err, size_t errlen);

/* Whether the minute of the day (0..1439) of weekday wday (0 Monday .. 6
 * Sunday) is within h. */
bool sb_hours_contain(const struct sb_hours *h, int wday, int minute);
