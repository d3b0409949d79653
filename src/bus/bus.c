/* The bus: priority lanes, overload policy, coalescing, wakeups, dispatch
 * budget. Posting from any thread; dispatch on the owning thread (a GSource
 * on its GMainContext). Owns pending events and their text. */
#include "bus/bus_internal.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/ids.h"

static _Thread_local const struct sb_event *tls_current;

struct bus_source {
	GSource base;
	struct sb_bus *bus;
};

static size_t pow2_at_least(size_t v)
{
	size_t p = 16;

	while (p < v)
		p <<= 1;
	return p;
}

static gboolean source_prepare(GSource *src, gint *timeout)
{
	struct sb_bus *bus = ((struct bus_source *)src)->bus;

	*timeout = -1;
	if (sb_bus_pending(bus))
		return TRUE;
	/* About to sleep: re-arm wakeups, then look once more so a post that
	 * raced with the re-arm is not missed. */
	atomic_store(&bus->wake_pending, 0);
	return sb_bus_pending(bus);
}

static gboolean source_check(GSource *src)
{
	return sb_bus_pending(((struct bus_source *)src)->bus);
}

static gboolean source_dispatch(GSource *src, GSourceFunc cb, gpointer ud)
{
	sb_bus_dispatch(((struct bus_source *)src)->bus);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {
	.prepare = source_prepare,
	.check = source_check,
	.dispatch = source_dispatch,
};

static int init_shards(struct sb_bus *bus, size_t n_shards, size_t low_capacity)
{
	size_t per = SB_MAX(low_capacity / n_shards, (size_t)16);

	bus->shards = calloc(n_shards, sizeof(*bus->shards));
	if (!bus->shards)
		return -ENOMEM;
	bus->n_shards = n_shards;
	for (size_t i = 0; i < n_shards; i++) {
		pthread_mutex_init(&bus->shards[i].lock, NULL);
		bus->shards[i].entries = calloc(per, sizeof(struct sb_coalesce_entry));
		bus->shards[i].n = per;
		if (!bus->shards[i].entries)
			return -ENOMEM;
	}
	return 0;
}

struct sb_bus *sb_bus_new(const struct sb_config_bus *cfg, GMainContext *ctx)
{
	struct sb_config *defaults = NULL;
	struct sb_bus *bus;
	size_t cap, crit_cap;

	if (!cfg) {
		defaults = sb_config_new_default();
		if (!defaults)
			return NULL;
		cfg = &defaults->bus;
	}
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		goto out;
	cap = pow2_at_least((size_t)cfg->broadcast_capacity);
	crit_cap = pow2_at_least((size_t)cfg->critical_capacity);
	bus->priority = cfg->priority;
	bus->batch = (unsigned)cfg->batch_size;
	bus->max_queued = (size_t)cfg->max_concurrent_dispatches;
	bus->normal_capacity = cap;
	bus->journal_size = (size_t)cfg->journal_size;
	pthread_mutex_init(&bus->overflow_lock, NULL);
	for (int i = 0; i < _SB_PRIO_MAX; i++) {
		if (sb__lane_init(&bus->lane[i], i == SB_PRIO_CRITICAL ? crit_cap : cap) < 0)
			goto fail;
	}
	if (init_shards(bus, (size_t)cfg->shard_count, cap) < 0)
		goto fail;
	if (bus->journal_size) {
		bus->journal = calloc(bus->journal_size, sizeof(*bus->journal));
		if (!bus->journal)
			goto fail;
	}
	if (ctx) {
		GSource *src = g_source_new(&source_funcs, sizeof(struct bus_source));
		((struct bus_source *)src)->bus = bus;
		g_source_set_priority(src, G_PRIORITY_DEFAULT);
		g_source_attach(src, ctx);
		bus->source = src;
		bus->ctx = g_main_context_ref(ctx);
	}
	goto out;
fail:
	bus = sb_bus_free(bus);
out:
	sb_config_unref(defaults);
	return bus;
}

static void free_overflow(struct sb_bus *bus)
{
	struct sb_overflow_node *n = bus->overflow_head;

	while (n) {
		struct sb_overflow_node *next = n->next;
		free(n->ev.text);
		free(n);
		n = next;
	}
	bus->overflow_head = bus->overflow_tail = NULL;
}

struct sb_bus *sb_bus_free(struct sb_bus *bus)
{
	struct sb_event ev;

	if (!bus)
		return NULL;
	if (bus->source) {
		g_source_destroy(bus->source);
		g_source_unref(bus->source);
	}
	if (bus->ctx)
		g_main_context_unref(bus->ctx);
	for (int i = 0; i < _SB_PRIO_MAX; i++) {
		if (!bus->lane[i].cells)
			continue;
		while (sb__lane_pop(&bus->lane[i], &ev))
			free(ev.text);
		sb__lane_fini(&bus->lane[i]);
	}
	for (size_t i = 0; bus->shards && i < bus->n_shards; i++) {
		for (size_t j = 0; bus->shards[i].entries && j < bus->shards[i].n; j++)
			if (bus->shards[i].entries[j].used)
				free(bus->shards[i].entries[j].ev.text);
		free(bus->shards[i].entries);
		pthread_mutex_destroy(&bus->shards[i].lock);
	}
	free(bus->shards);
	free_overflow(bus);
	pthread_mutex_destroy(&bus->overflow_lock);
	sb__bus_journal_free(bus);
	free(bus);
	return NULL;
}

void sb_bus_set_wake(struct sb_bus *bus, sb_bus_wake_cb cb, void *ud)
{
	bus->wake_cb = cb;
	bus->wake_ud = ud;
}

int sb_bus_subscribe(struct sb_bus *bus, enum sb_event_type type, sb_bus_handler_cb cb, void *ud)
{
	unsigned *n;

	if ((int)type < 0 || type >= _SB_EV_MAX || !cb)
		return -EINVAL;
	n = &bus->n_handlers[type];
	if (*n >= SB_BUS_MAX_HANDLERS)
		return -ENOSPC;
	bus->handlers[type][(*n)++] = (struct sb_bus_handler){cb, ud};
	return 0;
}

static void wake(struct sb_bus *bus)
{
	if (atomic_load_explicit(&bus->wake_pending, memory_order_relaxed) ||
	    atomic_exchange(&bus->wake_pending, 1))
		return;
	atomic_fetch_add_explicit(&bus->wakeups, 1, memory_order_relaxed);
	if (bus->ctx)
		g_main_context_wakeup(bus->ctx);
	else if (bus->wake_cb)
		bus->wake_cb(bus->wake_ud);
}

static int post_critical(struct sb_bus *bus, const struct sb_event *ev)
{
	struct sb_overflow_node *node;

	/* While anything waits in the overflow list, new events queue behind
	 * it so that no producer's events are reordered. */
	if (atomic_load_explicit(&bus->overflow_n, memory_order_acquire) == 0 &&
	    sb__lane_push(&bus->lane[SB_PRIO_CRITICAL], ev))
		return 0;
	node = malloc(sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->next = NULL;
	node->ev = *ev;
	pthread_mutex_lock(&bus->overflow_lock);
	if (bus->overflow_tail)
		bus->overflow_tail->next = node;
	else
		bus->overflow_head = node;
	bus->overflow_tail = node;
	atomic_fetch_add_explicit(&bus->overflow_n, 1, memory_order_release);
	pthread_mutex_unlock(&bus->overflow_lock);
	atomic_fetch_add_explicit(&bus->spilled, 1, memory_order_relaxed);
	return 0;
}

static uint64_t coalesce_hash(const struct sb_event *ev)
{
	uint64_t h = ev->call * 0x9E3779B97F4A7C15ull ^ ((uint64_t)ev->leg << 16) ^ ev->type;

	return h ^ (h >> 29);
}

static bool same_key(const struct sb_event *a, const struct sb_event *b)
{
	return a->type == b->type && a->call == b->call && a->leg == b->leg;
}

/* Low events flagged SB_EVF_COALESCE wait in a keyed table; the lane holds
 * a marker naming the table entry. A newer event with the same key replaces
 * the waiting one. */
static int post_coalesce(struct sb_bus *bus, const struct sb_event *ev)
{
	uint64_t h = coalesce_hash(ev);
	struct sb_coalesce_shard *sh = &bus->shards[h % bus->n_shards];
	struct sb_event marker = {.type = SB_EV_NONE, .prio = SB_PRIO_LOW};
	size_t free_idx = SIZE_MAX;

	pthread_mutex_lock(&sh->lock);
	for (size_t i = 0; i < sh->n; i++) {
		struct sb_coalesce_entry *e = &sh->entries[(h + i) % sh->n];
		if (e->used && same_key(&e->ev, ev)) {
			free(e->ev.text);
			e->ev = *ev;
			pthread_mutex_unlock(&sh->lock);
			atomic_fetch_add_explicit(&bus->coalesced[SB_PRIO_LOW], 1,
						  memory_order_relaxed);
			return 0;
		}
		if (!e->used && free_idx == SIZE_MAX)
			free_idx = (h + i) % sh->n;
	}
	if (free_idx == SIZE_MAX) {
		pthread_mutex_unlock(&sh->lock);
		return -ENOBUFS;
	}
	sh->entries[free_idx].used = true;
	sh->entries[free_idx].ev = *ev;
	marker.arg[0] = (int64_t)(sh - bus->shards);
	marker.arg[1] = (int64_t)free_idx;
	if (!sb__lane_push(&bus->lane[SB_PRIO_LOW], &marker)) {
		sh->entries[free_idx].used = false;
		pthread_mutex_unlock(&sh->lock);
		return -ENOBUFS;
	}
	pthread_mutex_unlock(&sh->lock);
	return 0;
}

int64_t sb_bus_post(struct sb_bus *bus, const struct sb_event *in)
{
	const struct sb_event_desc *d = sb_event_desc((enum sb_event_type)in->type);
	const struct sb_event *cur = tls_current;
	struct sb_event ev = *in;
	int r;

	if (!d) {
		free(ev.text);
		return -EINVAL;
	}
	ev.prio = (uint8_t)d->prio;
	ev.id = sb_id_next();
	ev.ts_us = sb_clock_mono_us();
	if (ev.cause == 0 && cur) {
		ev.cause = cur->id;
		if (ev.call == 0) {
			ev.call = cur->call;
			if (ev.leg == 0)
				ev.leg = cur->leg;
		}
	}
	if (ev.prio == SB_PRIO_CRITICAL)
		r = post_critical(bus, &ev);
	else if (ev.prio == SB_PRIO_LOW && (ev.flags & SB_EVF_COALESCE))
		r = post_coalesce(bus, &ev);
	else
		r = sb__lane_push(&bus->lane[ev.prio], &ev) ? 0
		    : ev.prio == SB_PRIO_LOW		    ? -ENOBUFS
							    : -EAGAIN;
	if (r < 0) {
		free(ev.text);
		if (r == -ENOBUFS)
			atomic_fetch_add_explicit(&bus->dropped[ev.prio], 1, memory_order_relaxed);
		else if (r == -EAGAIN)
			atomic_fetch_add_explicit(&bus->refused[ev.prio], 1, memory_order_relaxed);
		return r;
	}
	wake(bus);
	return (int64_t)ev.id;
}

int64_t sb_bus_post_simple(struct sb_bus *bus, enum sb_event_type type, uint64_t call, uint32_t leg)
{
	struct sb_event ev = {.type = (uint16_t)type, .call = call, .leg = leg};

	return sb_bus_post(bus, &ev);
}

static size_t queued(struct sb_bus *bus)
{
	size_t n = atomic_load_explicit(&bus->overflow_n, memory_order_relaxed);

	for (int i = 0; i < _SB_PRIO_MAX; i++)
		n += sb__lane_depth(&bus->lane[i]);
	return n;
}

int sb_bus_admit(struct sb_bus *bus)
{
	if (queued(bus) >= bus->max_queued ||
	    sb__lane_depth(&bus->lane[SB_PRIO_NORMAL]) >= bus->normal_capacity / 4 * 3) {
		atomic_fetch_add_explicit(&bus->admissions_refused, 1, memory_order_relaxed);
		return -EBUSY;
	}
	return 0;
}

bool sb_bus_pending(struct sb_bus *bus)
{
	if (atomic_load_explicit(&bus->overflow_n, memory_order_acquire))
		return true;
	for (int i = 0; i < _SB_PRIO_MAX; i++)
		if (sb__lane_depth(&bus->lane[i]))
			return true;
	return false;
}

const struct sb_event *sb_bus_current(void)
{
	return tls_current;
}

static void deliver(struct sb_bus *bus, struct sb_event *ev)
{
	const struct sb_event *saved = tls_current;
	unsigned n = bus->n_handlers[ev->type], n_all = bus->n_handlers[SB_EV_NONE];

	tls_current = ev;
	for (unsigned i = 0; i < n; i++)
		bus->handlers[ev->type][i].cb(ev, bus->handlers[ev->type][i].ud);
	for (unsigned i = 0; i < n_all; i++)
		bus->handlers[SB_EV_NONE][i].cb(ev, bus->handlers[SB_EV_NONE][i].ud);
	tls_current = saved;
	sb__bus_journal_record(bus, ev); /* takes the text */
}

/* Takes the coalesced event a low-lane marker names. */
static bool take_coalesced(struct sb_bus *bus, const struct sb_event *marker, struct sb_event *ret)
{
	struct sb_coalesce_shard *sh = &bus->shards[marker->arg[0]];
	struct sb_coalesce_entry *e = &sh->entries[marker->arg[1]];
	bool ok;

	pthread_mutex_lock(&sh->lock);
	ok = e->used;
	if (ok) {
		*ret = e->ev;
		e->used = false;
	}
	pthread_mutex_unlock(&sh->lock);
	return ok;
}

static bool pop_overflow(struct sb_bus *bus, struct sb_event *ret)
{
	struct sb_overflow_node *n;

	if (atomic_load_explicit(&bus->overflow_n, memory_order_acquire) == 0)
		return false;
	pthread_mutex_lock(&bus->overflow_lock);
	n = bus->overflow_head;
	if (n) {
		bus->overflow_head = n->next;
		if (!bus->overflow_head)
			bus->overflow_tail = NULL;
	}
	pthread_mutex_unlock(&bus->overflow_lock);
	if (!n)
		return false;
	*ret = n->ev;
	free(n);
	atomic_fetch_sub_explicit(&bus->overflow_n, 1, memory_order_release);
	return true;
}

static unsigned drain_lane(struct sb_bus *bus, int prio, unsigned budget)
{
	struct sb_lane *lane = &bus->lane[prio];
	unsigned done = 0;
	struct sb_event tmp, *ev;

	while (done < budget) {
		ev = sb__lane_peek(lane);
		if (ev && ev->type == SB_EV_NONE) {
			/* A coalescing marker: the event waits in the keyed table. */
			bool got = take_coalesced(bus, ev, &tmp);
			sb__lane_release(lane);
			if (!got)
				continue;
			deliver(bus, &tmp);
		} else if (ev) {
			/* Delivered in place; the journal takes the text. */
			deliver(bus, ev);
			sb__lane_release(lane);
		} else if (prio == SB_PRIO_CRITICAL && pop_overflow(bus, &tmp)) {
			/* The ring is empty: the overflow list holds what came after. */
			deliver(bus, &tmp);
		} else {
			break;
		}
		done++;
	}
	if (done)
		atomic_store_explicit(
			&bus->dispatched[prio],
			atomic_load_explicit(&bus->dispatched[prio], memory_order_relaxed) + done,
			memory_order_relaxed);
	return done;
}

unsigned sb_bus_dispatch(struct sb_bus *bus)
{
	unsigned b = bus->batch, done = 0;

	atomic_store(&bus->wake_pending, 0);
	if (bus->priority) {
		/* Higher lanes get larger budgets; every lane gets some, so a
		 * flood above never starves the lanes below. */
		const unsigned budget[_SB_PRIO_MAX] = {4 * b, 2 * b, b, SB_MAX(b / 2, 1u)};
		for (int p = 0; p < _SB_PRIO_MAX; p++)
			done += drain_lane(bus, p, budget[p]);
	} else {
		for (int i = 0; i < _SB_PRIO_MAX; i++)
			done += drain_lane(bus, (int)((bus->rr + (unsigned)i) % _SB_PRIO_MAX), b);
		bus->rr++;
	}
	return done;
}

void sb_bus_stats(struct sb_bus *bus, struct sb_bus_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < _SB_PRIO_MAX; i++) {
		struct sb_bus_lane_stats *s = &ret->lane[i];
		s->dispatched = atomic_load_explicit(&bus->dispatched[i], memory_order_relaxed);
		s->dropped = atomic_load_explicit(&bus->dropped[i], memory_order_relaxed);
		s->refused = atomic_load_explicit(&bus->refused[i], memory_order_relaxed);
		s->coalesced = atomic_load_explicit(&bus->coalesced[i], memory_order_relaxed);
		s->depth = sb__lane_depth(&bus->lane[i]);
		s->posted = s->dispatched + s->depth;
	}
	ret->lane[SB_PRIO_CRITICAL].spilled = atomic_load(&bus->spilled);
	ret->lane[SB_PRIO_CRITICAL].depth += atomic_load(&bus->overflow_n);
	ret->lane[SB_PRIO_CRITICAL].posted += atomic_load(&bus->overflow_n);
	ret->wakeups = atomic_load(&bus->wakeups);
	ret->admissions_refused = atomic_load(&bus->admissions_refused);
}
