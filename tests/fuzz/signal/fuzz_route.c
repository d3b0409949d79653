/* Fuzz target: the admin API's path matcher (src/signal/route.c) on the
 * routes of /api/v1/conferences/{name}/members/{call}[/mute|/unmute] (as
 * main.c declares them) and a few more shapes. Input: the method, a
 * newline, the path; a path under the action's prefix loses it first, as
 * http.c does. Checks that a match captured one NUL-terminated segment of
 * at most its max per "{}". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/macros.h"
#include "signal/route.h"

#define PREFIX "/api/v1/conferences/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct sb_signal_route routes[] = {
	{"DELETE", "{}/members/{}", {127, 31}},
	{"POST", "{}/members/{}/mute", {127, 31}},
	{"POST", "{}/members/{}/unmute", {127, 31}},
	{"GET", "{}", {127}},
	{"PUT", "{}/{}/{}/{}", {1, 2, 3, 127}},
	{"GET", "a/{}/b/{}/c", {SB_SIGNAL_ROUTE_PARAM_MAX - 1, 5}},
};

static size_t captures(const char *pattern)
{
	size_t n = 0;

	for (const char *c = pattern; (c = strstr(c, "{}")); c += 2)
		n++;
	return n;
}

static void check(const char *method, const char *path)
{
	struct sb_signal_route_params p;
	int i = sb_signal_route_match(routes, SB_ARRAY_SIZE(routes), method, path, &p);

	if (i == -ENOENT)
		return;
	if (i < 0 || (size_t)i >= SB_ARRAY_SIZE(routes) || p.n != captures(routes[i].pattern))
		abort();
	for (size_t k = 0; k < p.n; k++) {
		size_t len = strnlen(p.v[k], sizeof(p.v[k]));

		if (len == 0 || len > routes[i].max[k] || memchr(p.v[k], '/', len))
			abort();
		if (!strstr(path, p.v[k]))
			abort(); /* a capture is a piece of the path */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t mlen = nl ? (size_t)(nl - data) : 0;
	char *method = strndup((const char *)data, mlen);
	char *path = nl ? strndup((const char *)nl + 1, size - mlen - 1) : NULL;

	if (method && path)
		check(method,
		      strncmp(path, PREFIX, strlen(PREFIX)) == 0 ? path + strlen(PREFIX) : path);
	free(method);
	free(path);
	return 0;
}
