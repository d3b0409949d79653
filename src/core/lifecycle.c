/* Ordered start, readiness, drain and reverse stop of components. Control
 * thread. Owns nothing but its table; components own themselves. */
#include "core/lifecycle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	const struct sb_component_ops *ops;
	void *ud;
	bool started;
	bool ready;
};

struct sb_lifecycle {
	struct entry comps[SB_LIFECYCLE_MAX];
	size_t n;
	enum sb_lifecycle_state state;
	sb_lifecycle_ready_cb ready_cb;
	void *ready_ud;
};

void sb_lifecycle_set_ready_cb(struct sb_lifecycle *lc, sb_lifecycle_ready_cb cb, void *ud)
{
	lc->ready_cb = cb;
	lc->ready_ud = ud;
}

struct sb_lifecycle *sb_lifecycle_new(void)
{
	return calloc(1, sizeof(struct sb_lifecycle));
}

struct sb_lifecycle *sb_lifecycle_free(struct sb_lifecycle *lc)
{
	free(lc);
	return NULL;
}

int sb_lifecycle_add(struct sb_lifecycle *lc, const struct sb_component_ops *ops, void *ud)
{
	if (!ops || !ops->name || !ops->start || !ops->stop)
		return -EINVAL;
	if (lc->n >= SB_LIFECYCLE_MAX)
		return -ENOSPC;
	lc->comps[lc->n++] = (struct entry){.ops = ops, .ud = ud};
	return 0;
}

int sb_lifecycle_start(struct sb_lifecycle *lc, const char **ret_failed)
{
	lc->state = SB_LC_STARTING;
	for (size_t i = 0; i < lc->n; i++) {
		int r;

		lc->comps[i].started = true;
		r = lc->comps[i].ops->start(lc->comps[i].ud, lc);
		if (r < 0) {
			lc->comps[i].started = false;
			if (ret_failed)
				*ret_failed = lc->comps[i].ops->name;
			sb_lifecycle_stop(lc);
			return r;
		}
	}
	if (sb_lifecycle_all_ready(lc))
		lc->state = SB_LC_READY;
	return 0;
}

bool sb_lifecycle_ready(struct sb_lifecycle *lc, const char *name)
{
	bool was = sb_lifecycle_all_ready(lc);

	for (size_t i = 0; i < lc->n; i++) {
		if (strcmp(lc->comps[i].ops->name, name) != 0 || lc->comps[i].ready)
			continue;
		lc->comps[i].ready = true;
		if (lc->ready_cb)
			lc->ready_cb(name, lc->ready_ud);
	}
	if (!was && sb_lifecycle_all_ready(lc)) {
		if (lc->state == SB_LC_STARTING)
			lc->state = SB_LC_READY;
		return true;
	}
	return false;
}

bool sb_lifecycle_all_ready(const struct sb_lifecycle *lc)
{
	for (size_t i = 0; i < lc->n; i++)
		if (!lc->comps[i].ready)
			return false;
	return true;
}

size_t sb_lifecycle_not_ready(const struct sb_lifecycle *lc, const char **names, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < lc->n; i++)
		if (!lc->comps[i].ready) {
			if (k < max)
				names[k] = lc->comps[i].ops->name;
			k++;
		}
	return k;
}

void sb_lifecycle_drain(struct sb_lifecycle *lc)
{
	if (lc->state == SB_LC_DRAINING || lc->state == SB_LC_STOPPED)
		return;
	lc->state = SB_LC_DRAINING;
	for (size_t i = lc->n; i-- > 0;)
		if (lc->comps[i].started && lc->comps[i].ops->drain)
			lc->comps[i].ops->drain(lc->comps[i].ud);
}

size_t sb_lifecycle_active(const struct sb_lifecycle *lc)
{
	size_t n = 0;

	for (size_t i = 0; i < lc->n; i++)
		if (lc->comps[i].started && lc->comps[i].ops->active)
			n += lc->comps[i].ops->active(lc->comps[i].ud);
	return n;
}

void sb_lifecycle_stop(struct sb_lifecycle *lc)
{
	for (size_t i = lc->n; i-- > 0;) {
		if (!lc->comps[i].started)
			continue;
		lc->comps[i].started = false;
		lc->comps[i].ready = false;
		lc->comps[i].ops->stop(lc->comps[i].ud);
	}
	lc->state = SB_LC_STOPPED;
}

void sb_lifecycle_reload(struct sb_lifecycle *lc, struct sb_config *cfg)
{
	for (size_t i = 0; i < lc->n; i++)
		if (lc->comps[i].started && lc->comps[i].ops->reload)
			lc->comps[i].ops->reload(lc->comps[i].ud, cfg);
}

enum sb_lifecycle_state sb_lifecycle_state(const struct sb_lifecycle *lc)
{
	return lc->state;
}
