/* Opening hours (core/hours.h): the grammar, what is refused and where,
 * and which minutes of the week a text contains, including ranges past
 * midnight and day ranges over the weekend. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/hours.h"

enum { MON, TUE, WED, THU, FRI, SAT, SUN };

static struct sb_hours parsed(const char *text)
{
	struct sb_hours h;
	char err[128] = "";

	cr_assert_eq(sb_hours_parse(text, &h, err, sizeof(err)), 0, "%s: %s", text, err);
	return h;
}

static void refused(const char *text, int code, const char *needle)
{
	struct sb_hours h;
	char err[128] = "";

	cr_assert_eq(sb_hours_parse(text, &h, err, sizeof(err)), code, "accepted: %s", text);
	cr_assert_not_null(strstr(err, needle), "'%s' not in '%s'", needle, err);
}

static int at(int h, int m)
{
	return h * 60 + m;
}

Test(hours, office_hours)
{
	struct sb_hours h = parsed("mon-fri 09:00-12:30 13:30-17:00, Sat 10:00-13:00");

	cr_assert_eq(h.n, 3);
	cr_assert(sb_hours_contain(&h, MON, at(9, 0)));
	cr_assert(sb_hours_contain(&h, FRI, at(16, 59)));
	cr_assert_not(sb_hours_contain(&h, FRI, at(17, 0)), "the end is not in the range");
	cr_assert_not(sb_hours_contain(&h, WED, at(12, 45)), "lunch");
	cr_assert_not(sb_hours_contain(&h, MON, at(8, 59)));
	cr_assert(sb_hours_contain(&h, SAT, at(10, 0)));
	cr_assert_not(sb_hours_contain(&h, SAT, at(13, 0)));
	cr_assert_not(sb_hours_contain(&h, SUN, at(11, 0)));
}

Test(hours, every_day_and_the_whole_day)
{
	struct sb_hours h = parsed("daily 00:00-24:00");

	for (int d = MON; d <= SUN; d++) {
		cr_assert(sb_hours_contain(&h, d, 0));
		cr_assert(sb_hours_contain(&h, d, at(23, 59)));
	}
	h = parsed("* 08:00-09:00");
	cr_assert(sb_hours_contain(&h, SUN, at(8, 30)));
}

/* fri-mon wraps over the weekend; 22:00-06:00 belongs to the evening's
 * day and runs into the next morning (Sunday night into Monday). */
Test(hours, wrapping_days_and_nights)
{
	struct sb_hours h = parsed("fri-mon 10:00-11:00");

	cr_assert(sb_hours_contain(&h, SAT, at(10, 30)));
	cr_assert(sb_hours_contain(&h, MON, at(10, 30)));
	cr_assert_not(sb_hours_contain(&h, TUE, at(10, 30)));
	h = parsed("sun 22:00-06:00");
	cr_assert(sb_hours_contain(&h, SUN, at(23, 0)));
	cr_assert(sb_hours_contain(&h, MON, at(5, 59)));
	cr_assert_not(sb_hours_contain(&h, MON, at(6, 0)));
	cr_assert_not(sb_hours_contain(&h, SUN, at(5, 0)), "Saturday night is not in it");
	cr_assert_not(sb_hours_contain(&h, MON, at(23, 0)));
}

Test(hours, refused_with_where)
{
	refused("", -EINVAL, "expected a day");
	refused("mon", -EINVAL, "expected a time range HH:MM-HH:MM after the days");
	refused("mon 09:00", -EINVAL, "'-' between two times");
	refused("mon 09:00-", -EINVAL, "an end time");
	refused("mon 24:00-01:00", -EINVAL, "a time HH:MM");
	refused("mon 09:60-10:00", -EINVAL, "a time HH:MM");
	refused("mon 09:00-09:00", -EINVAL, "an end other than the start");
	refused("mon 09:00-10:00;", -EINVAL, "';' at 16: expected ',' or the end");
	refused("mon 09:00-10:00,", -EINVAL, "expected a day");
	refused("mon- 09:00-10:00", -EINVAL, "a day after '-'");
}

Test(hours, limits)
{
	char text[2 * SB_HOURS_MAX_LEN];
	size_t n = 0;

	for (int i = 0; i <= SB_HOURS_MAX_SPANS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%smon 01:00-02:00",
				      i ? ", " : "");
	refused(text, -E2BIG, "more than 32 time ranges");
	memset(text, ' ', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	refused(text, -E2BIG, "longer than");
}
