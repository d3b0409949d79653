/* The engine's life: construction on the control bus, deferred frees at the
 * end of the loop iteration, the timer tick, drain, reload, shutdown, and
 * the lifecycle component. Control thread. Owns calls, sessions, the
 * admission state and its config reference. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/lifecycle.h"
#include "engine/engine_internal.h"
#include "log/log.h"

static void call_drop_cb(gpointer p)
{
	sb__call_unref(p);
}

struct sb_engine *sb_engine_new(struct sb_config *cfg, struct sb_bus *bus,
				const struct sb_clock *clock, const struct sb_engine_ops *ops)
{
	struct sb_engine *eng = calloc(1, sizeof(*eng));

	if (!eng)
		return NULL;
	eng->cfg = sb_config_ref(cfg);
	eng->bus = bus;
	eng->clock = clock ? clock : sb_clock_system();
	if (ops)
		eng->ops = *ops;
	eng->calls = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, call_drop_cb);
	eng->by_wire = g_hash_table_new(g_str_hash, g_str_equal);
	eng->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, sb__session_free);
	eng->trunks_down = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	eng->mono0 = sb_clock_now(eng->clock);
	eng->wall0 = sb_clock_real_us();
	if (sb__admit_init(&eng->admit, cfg) < 0 || sb__queue_init(eng) < 0 ||
	    sb__conf_init(eng) < 0)
		return sb_engine_free(eng);
	sb__inputs_subscribe(eng);
	return eng;
}

static void end_all(struct sb_engine *eng, const char *cause)
{
	GPtrArray *all = sb__calls_sorted(eng);
	bool running = eng->q_running;

	/* No queue offers to calls about to end: the dispatcher is kept out
	 * (as if running) while every call ends. */
	eng->q_running = true;
	for (guint i = 0; i < all->len; i++) {
		struct sb_call *call = all->pdata[i];
		sb__call_end(eng, call, call->answer_us ? 0 : 503, cause,
			     call->answer_us ? "answered" : "failed");
	}
	eng->q_running = running;
	sb__calls_release(all);
}

struct sb_engine *sb_engine_free(struct sb_engine *eng)
{
	if (!eng)
		return NULL;
	if (eng->calls)
		end_all(eng, "shutdown");
	sb_engine_reap(eng);
	if (eng->idle) {
		g_source_destroy(eng->idle);
		g_source_unref(eng->idle);
	}
	if (eng->timer) {
		g_source_destroy(eng->timer);
		g_source_unref(eng->timer);
	}
	if (eng->calls)
		g_hash_table_destroy(eng->calls);
	if (eng->by_wire)
		g_hash_table_destroy(eng->by_wire);
	if (eng->sessions)
		g_hash_table_destroy(eng->sessions);
	if (eng->trunks_down)
		g_hash_table_destroy(eng->trunks_down);
	sb__admit_fini(&eng->admit);
	sb__queue_fini(eng);
	sb__conf_fini(eng);
	sb_config_unref(eng->cfg);
	free(eng);
	return NULL;
}

static gboolean reap_cb(gpointer ud)
{
	struct sb_engine *eng = ud;

	sb_engine_reap(eng);
	g_source_unref(eng->idle);
	eng->idle = NULL;
	return G_SOURCE_REMOVE;
}

static gboolean tick_cb(gpointer ud)
{
	sb_engine_tick(ud);
	return G_SOURCE_CONTINUE;
}

void sb_engine_attach(struct sb_engine *eng, void *glib_main_context)
{
	eng->ctx = glib_main_context;
	if (!eng->timer && eng->ctx) {
		eng->timer = g_timeout_source_new(1000);
		g_source_set_callback(eng->timer, tick_cb, eng, NULL);
		g_source_attach(eng->timer, eng->ctx);
	}
}

void sb__engine_schedule_reap(struct sb_engine *eng)
{
	/* An idle source runs after the current dispatch has returned: no
	 * handler of a closed call is still on the stack then. */
	if (!eng->ctx || eng->idle)
		return;
	eng->idle = g_idle_source_new();
	g_source_set_priority(eng->idle, G_PRIORITY_HIGH_IDLE);
	g_source_set_callback(eng->idle, reap_cb, eng, NULL);
	g_source_attach(eng->idle, eng->ctx);
}

/* Calls placed longer than [limits] ring_timeout ago and still not
 * answered fail with 408 Request Timeout. */
static void ring_timeouts(struct sb_engine *eng, uint64_t now)
{
	uint64_t limit = (uint64_t)eng->cfg->limits.ring_timeout_ms * 1000;
	GPtrArray *all;

	if (!limit)
		return;
	all = sb__calls_sorted(eng);
	for (guint i = 0; i < all->len; i++) {
		struct sb_call *call = all->pdata[i];
		if ((call->state == SB_CALL_PROCEEDING || call->state == SB_CALL_RINGING) &&
		    now - call->start_us >= limit)
			sb__call_end(eng, call, 408, "ring_timeout", "no_answer");
		else if (call->state == SB_CALL_ANSWERED)
			sb__transfer_timeouts(eng, call, now, limit);
	}
	sb__calls_release(all);
}

void sb_engine_tick(struct sb_engine *eng)
{
	uint64_t now = sb_clock_now(eng->clock);

	sb__session_expire_due(eng, now);
	ring_timeouts(eng, now);
	sb__queue_tick(eng, now);
}

void sb_engine_drain(struct sb_engine *eng)
{
	if (!eng->draining)
		sb_info("draining: new calls refused, %u live", g_hash_table_size(eng->calls));
	eng->draining = true;
	/* Callers waiting for an agent would keep the drain from ending. */
	sb__queue_drain(eng);
}

void sb_engine_reload(struct sb_engine *eng, struct sb_config *cfg)
{
	struct sb_admit fresh;
	GHashTableIter it;
	gpointer v;

	if (sb__admit_init(&fresh, cfg) < 0) {
		sb__admit_fini(&fresh);
		sb_error("reload: out of memory, keeping the running routes and limits");
		return;
	}
	/* Live calls keep counting against the new limits. */
	g_hash_table_iter_init(&it, eng->calls);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const struct sb_call *call = v;
		if (!call->counted)
			continue;
		sb__admit_take(&fresh, NULL, 0, false);
		sb__admit_take(&fresh, call->in_trunk, 0, false);
		sb__admit_take(&fresh, call->out_trunk, 0, false);
	}
	sb__admit_fini(&eng->admit);
	eng->admit = fresh;
	sb_config_unref(eng->cfg);
	eng->cfg = sb_config_ref(cfg);
}

size_t sb_engine_active(const struct sb_engine *eng)
{
	return g_hash_table_size(eng->calls);
}

static int component_start(void *ud, struct sb_lifecycle *lc)
{
	struct sb_engine *eng = ud;

	struct sb_event ev = {.type = SB_EV_SYS_COMPONENT_READY, .str = "engine"};

	if (!eng->ctx)
		sb_engine_attach(eng, g_main_context_default());
	/* Signalling sends call methods to the engine from now on. */
	sb_bus_post(eng->bus, &ev);
	sb_lifecycle_ready(lc, "engine");
	return 0;
}

static void component_drain(void *ud)
{
	sb_engine_drain(ud);
}

static size_t component_active(void *ud)
{
	return sb_engine_active(ud);
}

static void component_stop(void *ud)
{
	struct sb_engine *eng = ud;

	end_all(eng, "shutdown");
	sb_engine_reap(eng);
}

static void component_reload(void *ud, struct sb_config *cfg)
{
	sb_engine_reload(ud, cfg);
}

const struct sb_component_ops sb_engine_component = {
	.name = "engine",
	.start = component_start,
	.drain = component_drain,
	.active = component_active,
	.stop = component_stop,
	.reload = component_reload,
};
