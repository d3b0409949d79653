/* The dialplan: pattern matching, the first matching [route], and the
 * per-user may_dial check. Control thread; pure functions over the config
 * snapshot. Owns nothing. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "config/config.h"
#include "core/hours.h"
#include "engine/engine_internal.h"

/* Longest pattern alternative or subject considered; longer ones never
 * match (a SIP request-URI user part is far shorter). */
#define PATTERN_MAX 256

/* Matches one character against a [...] class starting at p (after '[').
 * Sets *ret_end to the character after ']'. A class without ']' is taken
 * literally: it matches only '['. */
static bool class_match(const char *p, const char *end, char c, const char **ret_end)
{
	bool neg = false, hit = false;
	const char *q = p;

	if (q < end && *q == '!') {
		neg = true;
		q++;
	}
	for (bool first = true; q < end && (*q != ']' || first); first = false) {
		char lo = *q, hi = *q;

		if (q + 2 < end && q[1] == '-' && q[2] != ']') {
			hi = q[2];
			q += 3;
		} else {
			q++;
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	if (q >= end) {
		*ret_end = p;
		return c == '[';
	}
	*ret_end = q + 1;
	return hit != neg;
}

/* One glob alternative [p, end) against s: '*' any run, '?' one character,
 * '[..]' a class, '\' quotes the next character. Backtracks only to the
 * last '*', which is enough for globs (linear in practice). */
static bool glob_match(const char *p, const char *end, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;

	while (*s) {
		const char *next = p + 1;
		bool ok = false;

		if (p < end && *p == '*') {
			star_p = ++p;
			star_s = s;
			continue;
		}
		if (p < end && *p == '?')
			ok = true;
		else if (p < end && *p == '[')
			ok = class_match(p + 1, end, *s, &next);
		else if (p < end && *p == '\\' && p + 1 < end)
			ok = p[1] == *s, next = p + 2;
		else if (p < end)
			ok = *p == *s;
		if (ok) {
			p = next;
			s++;
			continue;
		}
		if (!star_p)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (p < end && *p == '*')
		p++;
	return p == end;
}

bool sb__pattern_match(const char *pattern, const char *s)
{
	const char *p = pattern;

	if (!pattern || !s || strlen(s) > PATTERN_MAX)
		return false;
	for (;;) {
		const char *bar = strchr(p, '|');
		const char *end = bar ? bar : p + strlen(p);

		if ((size_t)(end - p) <= PATTERN_MAX && glob_match(p, end, s))
			return true;
		if (!bar)
			return false;
		p = bar + 1;
	}
}

bool sb__route_open(const struct sb_config_route *r, int64_t now_us)
{
	struct sb_hours h;
	char err[8];
	GTimeZone *tz;
	GDateTime *utc, *local;
	bool open = false;

	if (!r->hours || !*r->hours)
		return true;
	/* Checked when the config was loaded: a failure here is out of
	 * memory only, and the rule then does not match. */
	if (sb_hours_parse(r->hours, &h, err, sizeof(err)) < 0)
		return false;
	tz = r->timezone && *r->timezone ? g_time_zone_new_identifier(r->timezone)
					 : g_time_zone_new_local();
	utc = g_date_time_new_from_unix_utc(now_us / G_USEC_PER_SEC);
	local = tz && utc ? g_date_time_to_timezone(utc, tz) : NULL;
	if (local)
		open = sb_hours_contain(&h, g_date_time_get_day_of_week(local) - 1,
					g_date_time_get_hour(local) * 60 +
						g_date_time_get_minute(local));
	if (local)
		g_date_time_unref(local);
	if (utc)
		g_date_time_unref(utc);
	if (tz)
		g_time_zone_unref(tz);
	return open;
}

const struct sb_config_route *sb__route_find_usable(const struct sb_config *cfg,
						    const char *destination, const char *caller,
						    int64_t now_us,
						    bool (*trunk_down)(const char *trunk, void *ud),
						    void *ud, bool *ret_skipped)
{
	bool skipped = false;

	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct sb_config_route *r = &cfg->routes[i];

		if (!sb__pattern_match(r->destination, destination) ||
		    !sb__pattern_match(r->caller, caller ? caller : "") ||
		    !sb__route_open(r, now_us))
			continue;
		/* A trunk its keepalive found down is passed over: the next
		 * matching route is the failover. */
		if (trunk_down && r->action && strcmp(r->action, "trunk") == 0 &&
		    trunk_down(r->target, ud)) {
			skipped = true;
			continue;
		}
		if (ret_skipped)
			*ret_skipped = skipped;
		return r;
	}
	if (ret_skipped)
		*ret_skipped = skipped;
	return NULL;
}

const struct sb_config_route *sb__route_find(const struct sb_config *cfg, const char *destination,
					     const char *caller, int64_t now_us)
{
	return sb__route_find_usable(cfg, destination, caller, now_us, NULL, NULL, NULL);
}

bool sb__may_dial(const struct sb_config *cfg, const char *user, const char *destination)
{
	const struct sb_config_user *u = sb_config_find_user(cfg, user);

	/* Users known only from their token are checked by signalling. */
	if (!u)
		return true;
	for (size_t i = 0; u->may_dial && u->may_dial[i]; i++)
		if (sb__pattern_match(u->may_dial[i], destination))
			return true;
	return false;
}
