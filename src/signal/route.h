/* Path patterns of the admin API's resources with methods
 * (sb_signal_api_add_action): a table of routes, each a method and a
 * pattern of '/'-separated segments, matched against the path after the
 * action's prefix, the captured segments copied out. Pure: no I/O, no
 * logging, no global state; any thread. */
#pragma once

#include <stddef.h>

#define SB_SIGNAL_ROUTE_PARAMS	  4   /* captures in one pattern */
#define SB_SIGNAL_ROUTE_PARAM_MAX 128 /* a capture's buffer, with its NUL */

/* One route: a method ("POST") and a pattern ("{}/members/{}/mute"). A
 * segment "{}" of the pattern captures one segment of the path, its i-th
 * of 1 to max[i] bytes (at most SB_SIGNAL_ROUTE_PARAM_MAX - 1); any other
 * segment must be equal. */
struct sb_signal_route {
	const char *method;
	const char *pattern;
	size_t max[SB_SIGNAL_ROUTE_PARAMS];
};

/* What a match captured, in the pattern's order. */
struct sb_signal_route_params {
	size_t n;
	char v[SB_SIGNAL_ROUTE_PARAMS][SB_SIGNAL_ROUTE_PARAM_MAX];
};

/* Matches path (what follows the prefix, as libwebsockets hands it over:
 * no %-escapes are decoded here) against routes[0..n). Every segment of the path
 * is non-empty; one trailing '/' is allowed. Returns the index of the first
 * route whose pattern and method match; when patterns match but none with
 * method, the first of those (the caller answers 405, allowing its method);
 * -ENOENT when no pattern matches. Fills *ret only on success. */
int sb_signal_route_match(const struct sb_signal_route *routes, size_t n, const char *method,
			  const char *path, struct sb_signal_route_params *ret);
