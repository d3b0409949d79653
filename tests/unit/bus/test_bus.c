/* Unit tests for the event bus: ordering, starvation budget, overload
 * policy under threads, causation, coalescing, journal write and replay. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/macros.h"

struct rec {
	struct sb_event evs[70000];
	size_t n;
};

static void record_cb(const struct sb_event *ev, void *ud)
{
	struct rec *r = ud;

	if (r->n < SB_ARRAY_SIZE(r->evs)) {
		r->evs[r->n] = *ev;
		r->evs[r->n].text = NULL;
		r->n++;
	}
}

static struct sb_config *small_cfg(int64_t lane_cap, int64_t batch)
{
	struct sb_config *cfg = sb_config_new_default();

	cr_assert_not_null(cfg);
	cfg->bus.broadcast_capacity = lane_cap;
	cfg->bus.critical_capacity = 16;
	cfg->bus.batch_size = batch;
	cfg->bus.journal_size = 64;
	return cfg;
}

static int64_t post(struct sb_bus *bus, enum sb_event_type t, int64_t a0, int64_t a1)
{
	struct sb_event ev = {.type = (uint16_t)t, .arg = {a0, a1}};

	return sb_bus_post(bus, &ev);
}

static void drain_all(struct sb_bus *bus)
{
	while (sb_bus_pending(bus))
		sb_bus_dispatch(bus);
}

Test(bus, priority_order_within_a_round)
{
	struct sb_config *cfg = small_cfg(64, 8);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	static struct rec r;

	r.n = 0;
	sb_bus_subscribe(bus, SB_EV_NONE, record_cb, &r);
	post(bus, SB_EV_TEST_LOW, 0, 1);
	post(bus, SB_EV_TEST_NORMAL, 0, 2);
	post(bus, SB_EV_TEST_HIGH, 0, 3);
	post(bus, SB_EV_TEST_CRITICAL, 0, 4);
	cr_assert_eq(sb_bus_dispatch(bus), 4);
	cr_assert_eq(r.n, 4);
	cr_assert_eq(r.evs[0].type, SB_EV_TEST_CRITICAL);
	cr_assert_eq(r.evs[1].type, SB_EV_TEST_HIGH);
	cr_assert_eq(r.evs[2].type, SB_EV_TEST_NORMAL);
	cr_assert_eq(r.evs[3].type, SB_EV_TEST_LOW);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, fifo_within_a_lane)
{
	struct sb_config *cfg = small_cfg(64, 8);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	static struct rec r;

	r.n = 0;
	sb_bus_subscribe(bus, SB_EV_TEST_NORMAL, record_cb, &r);
	for (int i = 0; i < 40; i++)
		cr_assert_gt(post(bus, SB_EV_TEST_NORMAL, 0, i), 0);
	drain_all(bus);
	cr_assert_eq(r.n, 40);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(r.evs[i].arg[1], i);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

/* A flood of critical and high events must not stop low events: each round
 * gives every lane part of the budget. */
Test(bus, lower_lanes_never_starve)
{
	struct sb_config *cfg = small_cfg(1024, 10);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	static struct rec r;
	unsigned low_seen_in_first_round = 0;

	r.n = 0;
	sb_bus_subscribe(bus, SB_EV_NONE, record_cb, &r);
	for (int i = 0; i < 500; i++) {
		post(bus, SB_EV_TEST_HIGH, 0, i);
		post(bus, SB_EV_TEST_NORMAL, 0, i);
	}
	for (int i = 0; i < 10; i++)
		post(bus, SB_EV_TEST_LOW, 0, i);
	for (int i = 0; i < 12; i++)
		post(bus, SB_EV_TEST_CRITICAL, 0, i); /* 12 < critical ring of 16 */
	sb_bus_dispatch(bus);
	for (size_t i = 0; i < r.n; i++)
		low_seen_in_first_round += r.evs[i].type == SB_EV_TEST_LOW;
	/* Budgets with batch 10: critical 40, high 20, normal 10, low 5. */
	cr_assert_eq(r.n, 12 + 20 + 10 + 5);
	cr_assert_eq(low_seen_in_first_round, 5);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, priority_off_gives_equal_budgets)
{
	struct sb_config *cfg = small_cfg(1024, 10);
	struct sb_bus *bus;
	static struct rec r;
	unsigned per[_SB_PRIO_MAX] = {0};

	cfg->bus.priority = false;
	bus = sb_bus_new(&cfg->bus, NULL);
	r.n = 0;
	sb_bus_subscribe(bus, SB_EV_NONE, record_cb, &r);
	for (int i = 0; i < 100; i++) {
		post(bus, SB_EV_TEST_HIGH, 0, i);
		post(bus, SB_EV_TEST_LOW, 0, i);
	}
	sb_bus_dispatch(bus);
	for (size_t i = 0; i < r.n; i++)
		per[r.evs[i].prio]++;
	cr_assert_eq(per[SB_PRIO_HIGH], 10);
	cr_assert_eq(per[SB_PRIO_LOW], 10);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, full_lanes_refuse_or_drop_and_count)
{
	struct sb_config *cfg = small_cfg(16, 8);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	struct sb_bus_stats st;
	int64_t r;

	for (int i = 0; i < 16; i++) {
		cr_assert_gt(post(bus, SB_EV_TEST_NORMAL, 0, i), 0);
		cr_assert_gt(post(bus, SB_EV_TEST_LOW, 0, i), 0);
		cr_assert_gt(post(bus, SB_EV_TEST_HIGH, 0, i), 0);
	}
	cr_assert_eq(post(bus, SB_EV_TEST_NORMAL, 0, 99), -EAGAIN);
	cr_assert_eq(post(bus, SB_EV_TEST_HIGH, 0, 99), -EAGAIN);
	r = post(bus, SB_EV_TEST_LOW, 0, 99);
	cr_assert_eq(r, -ENOBUFS);
	/* The critical ring holds 16; the rest spill and are kept. */
	for (int i = 0; i < 40; i++)
		cr_assert_gt(post(bus, SB_EV_TEST_CRITICAL, 0, i), 0);
	sb_bus_stats(bus, &st);
	cr_assert_eq(st.lane[SB_PRIO_NORMAL].refused, 1);
	cr_assert_eq(st.lane[SB_PRIO_HIGH].refused, 1);
	cr_assert_eq(st.lane[SB_PRIO_LOW].dropped, 1);
	cr_assert_eq(st.lane[SB_PRIO_CRITICAL].spilled, 24);
	cr_assert_eq(st.lane[SB_PRIO_CRITICAL].depth, 40);
	cr_assert_eq(sb_bus_admit(bus), -EBUSY,
		     "a three-quarters full normal lane refuses new work");
	drain_all(bus);
	sb_bus_stats(bus, &st);
	cr_assert_eq(st.lane[SB_PRIO_CRITICAL].dispatched, 40);
	cr_assert_eq(sb_bus_admit(bus), 0);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, admission_threshold)
{
	struct sb_config *cfg = small_cfg(1024, 8);
	struct sb_bus *bus;
	struct sb_bus_stats st;

	cfg->bus.max_concurrent_dispatches = 20;
	bus = sb_bus_new(&cfg->bus, NULL);
	for (int i = 0; i < 19; i++)
		post(bus, SB_EV_TEST_HIGH, 0, i);
	cr_assert_eq(sb_bus_admit(bus), 0);
	post(bus, SB_EV_TEST_LOW, 0, 0);
	cr_assert_eq(sb_bus_admit(bus), -EBUSY);
	sb_bus_stats(bus, &st);
	cr_assert_eq(st.admissions_refused, 1);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, low_events_coalesce_per_key)
{
	struct sb_config *cfg = small_cfg(64, 8);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	static struct rec r;
	struct sb_bus_stats st;

	r.n = 0;
	sb_bus_subscribe(bus, SB_EV_MEDIA_STATS, record_cb, &r);
	for (int i = 0; i < 10; i++) {
		struct sb_event ev = {.type = SB_EV_MEDIA_STATS,
				      .call = 7,
				      .leg = 1,
				      .flags = SB_EVF_COALESCE,
				      .arg = {0, i}};
		struct sb_event other = ev;
		other.leg = 2;
		cr_assert_gt(sb_bus_post(bus, &ev), 0);
		cr_assert_gt(sb_bus_post(bus, &other), 0);
	}
	drain_all(bus);
	cr_assert_eq(r.n, 2, "one event per (call, leg), got %zu", r.n);
	cr_assert_eq(r.evs[0].arg[1], 9, "latest value wins");
	cr_assert_eq(r.evs[1].arg[1], 9);
	sb_bus_stats(bus, &st);
	cr_assert_eq(st.lane[SB_PRIO_LOW].coalesced, 18);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

static void chain_cb(const struct sb_event *ev, void *ud)
{
	struct sb_bus *bus = ud;
	struct sb_event next = {0};

	/* Each event causes the next one, up to three deep. */
	if (ev->type == SB_EV_TEST_CRITICAL)
		next.type = SB_EV_TEST_HIGH;
	else if (ev->type == SB_EV_TEST_HIGH)
		next.type = SB_EV_TEST_NORMAL;
	else
		return;
	cr_assert_gt(sb_bus_post(bus, &next), 0);
}

Test(bus, causation_chain_and_journal)
{
	struct sb_config *cfg = small_cfg(64, 8);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	struct sb_event root = {.type = SB_EV_TEST_CRITICAL, .call = 42, .leg = 3};
	static struct rec r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int64_t root_id;

	r.n = 0;
	sb_bus_subscribe(bus, SB_EV_NONE, chain_cb, bus);
	sb_bus_subscribe(bus, SB_EV_NONE, record_cb, &r);
	post(bus, SB_EV_TEST_LOW, 0, 0); /* unrelated */
	root_id = sb_bus_post(bus, &root);
	drain_all(bus);
	cr_assert_eq(r.n, 4);
	/* The normal event was caused by the high one, caused by the root, and
	 * inherited its call and leg. */
	const struct sb_event *hi = NULL, *no = NULL;
	for (size_t i = 0; i < r.n; i++) {
		if (r.evs[i].type == SB_EV_TEST_HIGH)
			hi = &r.evs[i];
		if (r.evs[i].type == SB_EV_TEST_NORMAL)
			no = &r.evs[i];
	}
	cr_assert(hi && no);
	cr_assert_eq(hi->cause, (uint64_t)root_id);
	cr_assert_eq(no->cause, hi->id);
	cr_assert_eq(no->call, 42);
	cr_assert_eq(no->leg, 3);

	f = open_memstream(&buf, &len);
	cr_assert_eq(sb_bus_journal_chain(bus, no->id, f), 3);
	fclose(f);
	cr_assert(strstr(buf, "\"type\":\"test.critical\"") <
		  strstr(buf, "\"type\":\"test.high\""));
	cr_assert(strstr(buf, "\"type\":\"test.high\"") < strstr(buf, "\"type\":\"test.normal\""));
	cr_assert_null(strstr(buf, "test.low"));
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	cr_assert_eq(sb_bus_journal_write(bus, f, 42), 3, "call filter keeps the call's events");
	fclose(f);
	free(buf);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, journal_write_and_replay_round_trip)
{
	struct sb_config *cfg = small_cfg(64, 8);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	static struct rec r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	struct sb_event ev = {.type = SB_EV_SIP_INVITE, .call = 9, .leg = 1, .arg = {1, -2, 3, 4}};

	snprintf(ev.str, sizeof(ev.str), "sip:alice@example.com");
	ev.text = strdup("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n\"quoted\"\t\x01");
	sb_bus_post(bus, &ev);
	post(bus, SB_EV_TEST_LOW, 5, 6);
	drain_all(bus);
	f = open_memstream(&buf, &len);
	cr_assert_eq(sb_bus_journal_write(bus, f, 0), 2);
	fclose(f);

	r.n = 0;
	f = fmemopen(buf, len, "r");
	cr_assert_eq(sb_bus_journal_replay(f, record_cb, &r), 2);
	fclose(f);
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.evs[0].type, SB_EV_SIP_INVITE);
	cr_assert_eq(r.evs[0].call, 9);
	cr_assert_eq(r.evs[0].arg[1], -2);
	cr_assert_str_eq(r.evs[0].str, "sip:alice@example.com");
	cr_assert(r.evs[0].flags & SB_EVF_REPLAYED);
	cr_assert_eq(r.evs[1].arg[0], 5);
	free(buf);

	f = fmemopen((char *)"{\"type\":\"nope\"}\n", 16, "r");
	cr_assert_eq(sb_bus_journal_replay(f, record_cb, &r), -EBADMSG);
	fclose(f);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

Test(bus, unknown_type_refused_and_text_freed)
{
	struct sb_bus *bus = sb_bus_new(NULL, NULL);
	struct sb_event ev = {.type = 9999, .text = strdup("leak me not")};

	cr_assert_eq(sb_bus_post(bus, &ev), -EINVAL);
	sb_bus_free(bus);
}

/* Several threads flood low and normal lanes while one thread posts
 * critical events: no critical event is lost or reordered, and every post
 * is either dispatched or counted as dropped or refused. */
#define CRIT_N	20000
#define FLOOD_N 200000

struct flood {
	struct sb_bus *bus;
	int kind;
	atomic_long ok, failed;
};

static void *flood_thread(void *ud)
{
	struct flood *f = ud;

	for (int i = 0; i < FLOOD_N; i++) {
		int64_t r =
			post(f->bus, f->kind == 0 ? SB_EV_TEST_LOW : SB_EV_TEST_NORMAL, f->kind, i);
		if (r > 0)
			atomic_fetch_add(&f->ok, 1);
		else
			atomic_fetch_add(&f->failed, 1);
	}
	return NULL;
}

static void *critical_thread(void *ud)
{
	struct flood *f = ud;

	for (int i = 0; i < CRIT_N; i++)
		cr_assert_gt(post(f->bus, SB_EV_TEST_CRITICAL, 9, i), 0);
	return NULL;
}

struct counts {
	long crit_next;
	long crit_bad_order;
	long low, normal;
	atomic_int done;
};

static void count_cb(const struct sb_event *ev, void *ud)
{
	struct counts *c = ud;

	if (ev->type == SB_EV_TEST_CRITICAL) {
		if (ev->arg[1] != c->crit_next)
			c->crit_bad_order++;
		c->crit_next = ev->arg[1] + 1;
	} else if (ev->type == SB_EV_TEST_LOW) {
		c->low++;
	} else if (ev->type == SB_EV_TEST_NORMAL) {
		c->normal++;
	}
}

Test(bus, overload_from_threads_keeps_every_critical_event, .timeout = 60)
{
	struct sb_config *cfg = small_cfg(1024, 50);
	struct sb_bus *bus = sb_bus_new(&cfg->bus, NULL);
	struct flood fl[3] = {{bus, 0}, {bus, 1}, {bus, 0}};
	struct flood crit = {bus, 2};
	struct counts c = {0};
	struct sb_bus_stats st;
	pthread_t th[4];
	long ok = 0, failed = 0;

	sb_bus_subscribe(bus, SB_EV_NONE, count_cb, &c);
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, flood_thread, &fl[i]);
	pthread_create(&th[3], NULL, critical_thread, &crit);
	/* Consume slowly at first so lanes fill and overflow. */
	for (int round = 0; round < 200; round++) {
		sb_bus_dispatch(bus);
		g_usleep(200);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	drain_all(bus);
	for (int i = 0; i < 3; i++) {
		ok += atomic_load(&fl[i].ok);
		failed += atomic_load(&fl[i].failed);
	}
	sb_bus_stats(bus, &st);
	cr_assert_eq(c.crit_next, CRIT_N, "every critical event arrived");
	cr_assert_eq(c.crit_bad_order, 0, "critical events in order");
	cr_assert_eq(st.lane[SB_PRIO_CRITICAL].dispatched, CRIT_N);
	cr_assert_eq(c.low + c.normal, ok, "every accepted flood event was dispatched");
	cr_assert_eq((long)(st.lane[SB_PRIO_LOW].dropped + st.lane[SB_PRIO_NORMAL].refused), failed,
		     "every failed post was counted");
	cr_assert_gt(failed, 0, "the flood did overflow the lanes");
	cr_assert_eq(ok + failed, 3L * FLOOD_N);
	sb_bus_free(bus);
	sb_config_unref(cfg);
}

static void quit_cb(const struct sb_event *ev, void *ud)
{
	struct counts *c = ud;

	atomic_store(&c->done, 1);
}

static void *late_poster(void *ud)
{
	g_usleep(20000);
	post(ud, SB_EV_SYS_SHUTDOWN, 0, 0);
	return NULL;
}

/* A post from another thread wakes the GLib loop that owns the bus. */
Test(bus, cross_thread_post_wakes_glib_loop, .timeout = 10)
{
	GMainContext *ctx = g_main_context_new();
	struct sb_bus *bus = sb_bus_new(NULL, ctx);
	struct counts c = {0};
	struct sb_bus_stats st;
	pthread_t th;
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	sb_bus_subscribe(bus, SB_EV_SYS_SHUTDOWN, quit_cb, &c);
	pthread_create(&th, NULL, late_poster, bus);
	while (!atomic_load(&c.done) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(ctx, TRUE);
	pthread_join(th, NULL);
	cr_assert_eq(atomic_load(&c.done), 1);
	sb_bus_stats(bus, &st);
	cr_assert_geq(st.wakeups, 1);
	sb_bus_free(bus);
	g_main_context_unref(ctx);
}

Test(bus, wakeups_coalesce)
{
	struct sb_bus *bus = sb_bus_new(NULL, NULL);
	struct sb_bus_stats st;

	for (int i = 0; i < 100; i++)
		post(bus, SB_EV_TEST_NORMAL, 0, i);
	sb_bus_stats(bus, &st);
	cr_assert_eq(st.wakeups, 1, "100 posts before a dispatch wake the owner once");
	sb_bus_free(bus);
}

Test(bus, catalogue_is_complete)
{
	for (int t = 1; t < _SB_EV_MAX; t++) {
		const struct sb_event_desc *d = sb_event_desc((enum sb_event_type)t);
		cr_assert_not_null(d);
		cr_assert_not_null(d->name);
		cr_assert_eq(sb_event_type_from_name(d->name), t, "names are unique: %s", d->name);
		cr_assert((int)d->prio >= 0 && d->prio < _SB_PRIO_MAX);
	}
	cr_assert_null(sb_event_desc(_SB_EV_MAX));
}
