/* Opening hours (hours.h): a hand-written scanner over a short text from
 * the config file, one pass, no allocation; everything it takes is
 * checked (days, hours below 24, minutes below 60). */
#include "core/hours.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

struct scan {
	const char *text, *p;
	char *err;
	size_t errlen;
};

static int fail(struct scan *s, const char *what)
{
	snprintf(s->err, s->errlen, "'%.12s' at %u: expected %s", s->p,
		 (unsigned)(s->p - s->text + 1), what);
	return -EINVAL;
}

static void blanks(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\t')
		s->p++;
}

/* A day name; -1 when there is none. */
static int day(struct scan *s)
{
	for (int i = 0; i < 7; i++)
		if (strncasecmp(s->p, day_names[i], 3) == 0) {
			s->p += 3;
			return i;
		}
	return -1;
}

/* The days of an entry as a bit set; 0 when malformed (err set). */
static unsigned days(struct scan *s)
{
	int a, b;
	unsigned set = 0;

	if (strncasecmp(s->p, "daily", 5) == 0 || *s->p == '*') {
		s->p += *s->p == '*' ? 1 : 5;
		return 0x7f;
	}
	if ((a = day(s)) < 0)
		return fail(s, "a day (mon..sun, daily or *)"), 0;
	b = a;
	if (*s->p == '-') {
		s->p++;
		if ((b = day(s)) < 0)
			return fail(s, "a day after '-'"), 0;
	}
	/* fri-mon wraps over the weekend. */
	for (int d = a;; d = (d + 1) % 7) {
		set |= 1u << d;
		if (d == b)
			break;
	}
	return set;
}

/* HH:MM as minutes (24:00 allowed when end); -1 when malformed. */
static int clock_time(struct scan *s, bool end)
{
	const char *p = s->p;
	int h, m;

	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' || p[2] != ':' || p[3] < '0' ||
	    p[3] > '5' || p[4] < '0' || p[4] > '9')
		return -1;
	h = (p[0] - '0') * 10 + (p[1] - '0');
	m = (p[3] - '0') * 10 + (p[4] - '0');
	if (h > 24 || (h == 24 && (m != 0 || !end)))
		return -1;
	s->p += 5;
	return h * 60 + m;
}

int sb_hours_parse(const char *text, struct sb_hours *ret, char *err, size_t errlen)
{
	struct scan s = {.text = text, .p = text, .err = err, .errlen = errlen};

	memset(ret, 0, sizeof(*ret));
	if (strnlen(text, SB_HOURS_MAX_LEN + 1) > SB_HOURS_MAX_LEN) {
		snprintf(err, errlen, "longer than %d bytes", SB_HOURS_MAX_LEN);
		return -E2BIG;
	}
	for (;;) {
		unsigned set;
		int n = 0;

		blanks(&s);
		if (!(set = days(&s)))
			return -EINVAL;
		for (;;) {
			int from, to;

			if (*s.p != ' ' && *s.p != '\t')
				break;
			blanks(&s);
			if (!*s.p || *s.p == ',')
				break;
			if ((from = clock_time(&s, false)) < 0)
				return fail(&s, "a time HH:MM (00:00..23:59)");
			if (*s.p++ != '-') {
				s.p--;
				return fail(&s, "'-' between two times");
			}
			if ((to = clock_time(&s, true)) < 0)
				return fail(&s, "an end time HH:MM (00:00..24:00)");
			if (to == from) {
				s.p -= 5;
				return fail(&s, "an end other than the start");
			}
			if (ret->n == SB_HOURS_MAX_SPANS) {
				snprintf(err, errlen, "more than %d time ranges",
					 SB_HOURS_MAX_SPANS);
				return -E2BIG;
			}
			ret->spans[ret->n++] = (struct sb_hours_span){
				.days = (uint8_t)set, .from = (uint16_t)from, .to = (uint16_t)to};
			n++;
		}
		if (!n)
			return fail(&s, "a time range HH:MM-HH:MM after the days");
		blanks(&s);
		if (!*s.p)
			return 0;
		if (*s.p != ',')
			return fail(&s, "',' or the end");
		s.p++;
	}
}

bool sb_hours_contain(const struct sb_hours *h, int wday, int minute)
{
	unsigned today = 1u << wday, yesterday = 1u << ((wday + 6) % 7);

	for (size_t i = 0; i < h->n; i++) {
		const struct sb_hours_span *sp = &h->spans[i];

		if (sp->from < sp->to) {
			if ((sp->days & today) && minute >= sp->from && minute < sp->to)
				return true;
		} else if (((sp->days & today) && minute >= sp->from) ||
			   ((sp->days & yesterday) && minute < sp->to)) {
			/* Past midnight: the evening of a day, and the
			 * morning after it. */
			return true;
		}
	}
	return false;
}
