/* Unit tests of the admin API's path matcher (src/signal/route.c), on the
 * routes of the conference member actions (as main.c declares them). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/macros.h"
#include "signal/route.h"

static const struct sb_signal_route routes[] = {
	{"DELETE", "{}/members/{}", {127, 31}},
	{"POST", "{}/members/{}/mute", {127, 31}},
	{"POST", "{}/members/{}/unmute", {127, 31}},
};

static int match(const char *method, const char *path, struct sb_signal_route_params *p)
{
	return sb_signal_route_match(routes, SB_ARRAY_SIZE(routes), method, path, p);
}

Test(route, captures)
{
	struct sb_signal_route_params p;

	cr_assert_eq(match("DELETE", "lobby/members/c-1", &p), 0);
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(p.v[0], "lobby");
	cr_assert_str_eq(p.v[1], "c-1");
	cr_assert_eq(match("POST", "lobby/members/c-1/mute", &p), 1);
	cr_assert_eq(match("POST", "lobby/members/c-1/unmute", &p), 2);
	cr_assert_str_eq(p.v[1], "c-1");
	/* No %-decoding here: the path is matched as it comes. */
	cr_assert_eq(match("DELETE", "a%20b/members/c", &p), 0);
	cr_assert_str_eq(p.v[0], "a%20b");
}

Test(route, method_not_allowed_names_the_route)
{
	struct sb_signal_route_params p;

	cr_assert_eq(match("GET", "lobby/members/c-1", &p), 0);
	cr_assert_eq(match("DELETE", "lobby/members/c-1/mute", &p), 1);
}

Test(route, refusals)
{
	struct sb_signal_route_params p = {.n = 99};
	char name[160];

	cr_assert_eq(match("POST", "lobby/members/c-1/shout", &p), -ENOENT);
	cr_assert_eq(match("DELETE", "/members/c-1", &p), -ENOENT);
	cr_assert_eq(match("DELETE", "lobby/members/", &p), -ENOENT);
	cr_assert_eq(match("POST", "lobby/members/c-1//mute", &p), -ENOENT);
	cr_assert_eq(match("DELETE", "lobby/members/c-1//", &p), -ENOENT);
	cr_assert_eq(match("DELETE", "lobby/member/c-1", &p), -ENOENT);
	cr_assert_eq(match("DELETE", "", &p), -ENOENT);
	cr_assert_eq(match("DELETE", "lobby/members/c-0123456789012345678901234567890", &p),
		     -ENOENT); /* 32 bytes: one beyond the call id's */
	memset(name, 'n', 128);
	memcpy(name + 128, "/members/c", sizeof("/members/c"));
	cr_assert_eq(match("DELETE", name, &p), -ENOENT);
	cr_assert_eq(p.n, 99); /* untouched */
	memmove(name + 1, name + 2, strlen(name + 2) + 1);
	cr_assert_eq(match("DELETE", name, &p), 0); /* 127 bytes */
	cr_assert_eq(strlen(p.v[0]), 127);
}

Test(route, one_trailing_slash)
{
	struct sb_signal_route_params p;

	cr_assert_eq(match("DELETE", "lobby/members/c-1/", &p), 0);
	cr_assert_eq(match("POST", "lobby/members/c-1/mute/", &p), 1);
}
