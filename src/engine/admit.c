/* Admission: concurrent calls and calls per second, in all and per trunk.
 * Control thread. Owns the rate windows. The per-second limit is a true
 * sliding window: the times of the last max_cps admissions are kept, and a
 * call is admitted when the oldest of them is at least a second old. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "engine/engine_internal.h"

#define WINDOW_US   1000000ull
#define MAX_CPS_CAP 1000000

static int rate_init(struct sb_rate *r, int64_t cap)
{
	memset(r, 0, sizeof(*r));
	if (cap <= 0)
		return 0;
	r->cap = (size_t)(cap > MAX_CPS_CAP ? MAX_CPS_CAP : cap);
	r->ring = calloc(r->cap, sizeof(*r->ring));
	return r->ring ? 0 : -ENOMEM;
}

static bool rate_ok(const struct sb_rate *r, uint64_t now)
{
	if (!r->cap || r->count < r->cap)
		return true;
	/* r->next is the oldest entry once the ring is full. */
	return now - r->ring[r->next] >= WINDOW_US;
}

static void rate_take(struct sb_rate *r, uint64_t now)
{
	if (!r->cap)
		return;
	r->ring[r->next] = now;
	r->next = (r->next + 1) % r->cap;
	if (r->count < r->cap)
		r->count++;
}

int sb__admit_init(struct sb_admit *a, const struct sb_config *cfg)
{
	memset(a, 0, sizeof(*a));
	a->max_calls = cfg->limits.max_calls;
	a->retry_after_s = (int)cfg->limits.retry_after_s;
	if (rate_init(&a->rate, cfg->limits.max_cps) < 0)
		return -ENOMEM;
	if (cfg->n_trunks) {
		a->trunks = calloc(cfg->n_trunks, sizeof(*a->trunks));
		if (!a->trunks)
			return -ENOMEM;
	}
	a->n_trunks = cfg->n_trunks;
	for (size_t i = 0; i < cfg->n_trunks; i++) {
		sb__set_str(a->trunks[i].name, sizeof(a->trunks[i].name), cfg->trunks[i].name);
		a->trunks[i].max_calls = cfg->trunks[i].max_calls;
		if (rate_init(&a->trunks[i].rate, cfg->trunks[i].max_cps) < 0)
			return -ENOMEM;
	}
	return 0;
}

void sb__admit_fini(struct sb_admit *a)
{
	free(a->rate.ring);
	for (size_t i = 0; i < a->n_trunks; i++)
		free(a->trunks[i].rate.ring);
	free(a->trunks);
	memset(a, 0, sizeof(*a));
}

static struct sb_admit_trunk *find_trunk(struct sb_admit *a, const char *name)
{
	for (size_t i = 0; name && *name && i < a->n_trunks; i++)
		if (strcmp(a->trunks[i].name, name) == 0)
			return &a->trunks[i];
	return NULL;
}

enum sb_admit_verdict sb__admit_check(struct sb_admit *a, const char *trunk, uint64_t now)
{
	struct sb_admit_trunk *t;

	if (!trunk) {
		if (a->max_calls > 0 && a->active >= a->max_calls)
			return SB_ADMIT_CALLS;
		return rate_ok(&a->rate, now) ? SB_ADMIT_OK : SB_ADMIT_CPS;
	}
	t = find_trunk(a, trunk);
	if (!t)
		return SB_ADMIT_OK;
	if (t->max_calls > 0 && t->active >= t->max_calls)
		return SB_ADMIT_CALLS;
	return rate_ok(&t->rate, now) ? SB_ADMIT_OK : SB_ADMIT_CPS;
}

void sb__admit_take(struct sb_admit *a, const char *trunk, uint64_t now, bool rate)
{
	struct sb_admit_trunk *t;

	if (!trunk) {
		a->active++;
		if (rate)
			rate_take(&a->rate, now);
		return;
	}
	t = find_trunk(a, trunk);
	if (!t)
		return;
	t->active++;
	if (rate)
		rate_take(&t->rate, now);
}

void sb__admit_release(struct sb_admit *a, const char *trunk)
{
	struct sb_admit_trunk *t;

	if (!trunk) {
		if (a->active > 0)
			a->active--;
		return;
	}
	t = find_trunk(a, trunk);
	if (t && t->active > 0)
		t->active--;
}
