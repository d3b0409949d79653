/* Matching of the admin API's action paths against route patterns
 * (route.h). Pure; any thread. Owns nothing. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "signal/route.h"

/* Whether path is pattern's, segment by segment, the captures in *p. */
static bool pattern_match(const struct sb_signal_route *r, const char *path,
			  struct sb_signal_route_params *p)
{
	const char *pat = r->pattern;
	size_t k = 0;

	for (;;) {
		size_t pn = strcspn(pat, "/"), sn = strcspn(path, "/");

		if (sn == 0)
			return false;
		if (pn == 2 && memcmp(pat, "{}", 2) == 0) {
			if (k >= SB_SIGNAL_ROUTE_PARAMS || sn > r->max[k] ||
			    sn >= SB_SIGNAL_ROUTE_PARAM_MAX)
				return false;
			memcpy(p->v[k], path, sn);
			p->v[k++][sn] = '\0';
		} else if (pn != sn || memcmp(pat, path, sn) != 0) {
			return false;
		}
		pat += pn;
		path += sn;
		if (!*pat)
			break;
		if (*path != '/')
			return false;
		pat++;
		path++;
	}
	p->n = k;
	return !*path || (path[0] == '/' && !path[1]);
}

int sb_signal_route_match(const struct sb_signal_route *routes, size_t n, const char *method,
			  const char *path, struct sb_signal_route_params *ret)
{
	struct sb_signal_route_params p, first;
	int found = -ENOENT;

	for (size_t i = 0; i < n; i++) {
		if (!pattern_match(&routes[i], path, &p))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			*ret = p;
			return (int)i;
		}
		if (found < 0) {
			found = (int)i;
			first = p;
		}
	}
	if (found >= 0)
		*ret = first;
	return found;
}
