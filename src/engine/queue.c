/* Call queues (contact-center ACD): a call routed to a [queue] is answered,
 * held from our side (music on hold) and waits first come first served;
 * the dispatcher offers the head callers to the queue's available agents
 * (longest idle, round robin, or all at once) as new callee legs of the
 * caller's call, and the first agent device to answer is bridged to the
 * caller, who is resumed. Control thread. Owns the queues' FIFOs and the
 * agents' state (idle since, wrap-up, offer); works on calls owned by the
 * engine, commands through the component ops only. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/strbuf.h"
#include "engine/engine_internal.h"
#include "log/log.h"

#define MAX_CONTACTS 8
/* A SIP caller is held this long after our 200 at the earliest: our
 * re-INVITE must not start while the INVITE transaction still waits for
 * the caller's ACK (RFC 3261 section 14.1). */
#define HOLD_DELAY_US 500000

/* A queue's live state; its settings stay in the config. */
struct sb_queue_state {
	char name[SB_NAME_MAX];
	GArray *waiting; /* uint64 call ids, first come first */
	size_t rr_next;	 /* round_robin: index of the next agent to try */
	uint64_t answered, abandoned, timeout;
};

/* An agent (a configured user) across every queue naming them. */
struct sb_agent {
	char user[SB_NAME_MAX];
	uint64_t idle_since_us; /* the last queue call or missed offer ended */
	uint64_t wrapup_until_us;
	uint64_t offer_call; /* the call whose offer rings them, 0: none */
};

static void queue_state_free(gpointer p)
{
	struct sb_queue_state *q = p;

	g_array_free(q->waiting, TRUE);
	free(q);
}

int sb__queue_init(struct sb_engine *eng)
{
	eng->queues = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, queue_state_free);
	eng->agents = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, free);
	return eng->queues && eng->agents ? 0 : -ENOMEM;
}

void sb__queue_fini(struct sb_engine *eng)
{
	if (eng->queues)
		g_hash_table_destroy(eng->queues);
	if (eng->agents)
		g_hash_table_destroy(eng->agents);
	eng->queues = eng->agents = NULL;
}

static struct sb_queue_state *queue_get(struct sb_engine *eng, const char *name)
{
	struct sb_queue_state *q = g_hash_table_lookup(eng->queues, name);

	if (q || !(q = calloc(1, sizeof(*q))))
		return q;
	sb__set_str(q->name, sizeof(q->name), name);
	q->waiting = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	g_hash_table_insert(eng->queues, q->name, q);
	return q;
}

static struct sb_agent *agent_get(struct sb_engine *eng, const char *user)
{
	struct sb_agent *a = g_hash_table_lookup(eng->agents, user);

	if (a || !(a = calloc(1, sizeof(*a))))
		return a;
	sb__set_str(a->user, sizeof(a->user), user);
	g_hash_table_insert(eng->agents, a->user, a);
	return a;
}

static int leg_apply(struct sb_engine *eng, struct sb_leg *leg, int input, const char *cause,
		     const void *arg)
{
	return sb__fsm_apply(eng, &sb__leg_fsm, leg, &leg->state, input, leg->call->id, leg->id,
			     cause, arg);
}

static void fifo_remove(struct sb_queue_state *q, uint64_t call)
{
	for (guint i = 0; i < q->waiting->len; i++)
		if (g_array_index(q->waiting, uint64_t, i) == call) {
			g_array_remove_index(q->waiting, i);
			return;
		}
}

bool sb__queue_has_room(struct sb_engine *eng, const char *name)
{
	const struct sb_config_queue *qc = sb_config_find_queue(eng->cfg, name);
	struct sb_queue_state *q = qc ? queue_get(eng, name) : NULL;

	return q && (int64_t)q->waiting->len < qc->max_callers;
}

void sb__queue_enter(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_queue_state *q = queue_get(eng, call->target);

	if (!q)
		return;
	sb__set_str(call->queue.name, sizeof(call->queue.name), call->target);
	call->queue.waiting = true;
	call->queue.enqueued_us = sb_clock_now(eng->clock);
	g_array_append_val(q->waiting, call->id);
	sb_info("waits in queue %s (%u waiting)", q->name, q->waiting->len);
}

static void hold_caller(struct sb_engine *eng, struct sb_leg *caller, bool hold)
{
	leg_apply(eng, caller, SB_LI_HOLD, "queue",
		  &(struct sb_leg_arg){.status = hold, .request = -1});
}

void sb__queue_caller_answered(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_leg *caller = sb__call_caller(call);

	if (!call->queue.waiting || !caller || caller->state != SB_LEG_UP)
		return;
	/* A browser has nothing to signal: held at once. */
	if (caller->kind == SB_LEG_CLIENT)
		hold_caller(eng, caller, true);
	else
		call->queue.hold_due = true;
	sb__queue_dispatch(eng);
}

bool sb__queue_offer_leg(const struct sb_leg *leg)
{
	const struct sb_call *call = leg->call;

	return call->queue.waiting && call->queue.offering && leg->outbound &&
	       leg->id >= call->queue.first;
}

/* ---- availability and strategies ---- */

/* Whether user is in a live leg of any call: as the caller, or as a
 * callee rung as that user. */
static bool user_busy(struct sb_engine *eng, const char *user)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, eng->calls);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const struct sb_call *call = v;

		for (unsigned i = 0; i < call->n_legs; i++) {
			const struct sb_leg *l = call->legs[i];

			if (l->state == SB_LEG_ENDED)
				continue;
			if (l->outbound ? strcmp(l->user, user) == 0
					: strcmp(call->caller_user, user) == 0)
				return true;
		}
	}
	return false;
}

/* Whether user has a device a queue may ring: a browser session attached
 * and not away, or a phone of theirs registered. *ret_attached: whether a
 * session of theirs is attached at all (away or not). */
static bool user_reachable(struct sb_engine *eng, const char *user, bool *ret_attached)
{
	const char *uris[MAX_CONTACTS];
	bool attached = false;
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, eng->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const struct sb_session *s = v;

		if (s->state != SB_SESSION_ATTACHED || strcmp(s->user, user) != 0)
			continue;
		attached = true;
		if (!s->away) {
			*ret_attached = true;
			return true;
		}
	}
	*ret_attached = attached;
	return eng->ops.sip && eng->ops.sip->contacts &&
	       eng->ops.sip->contacts(eng->ops.sip_ud, user, uris, MAX_CONTACTS) > 0;
}

enum agent_state {
	AGENT_AVAILABLE,
	AGENT_RINGING,
	AGENT_BUSY,
	AGENT_WRAPUP,
	AGENT_AWAY,
	AGENT_OFFLINE
};

static const char *const agent_state_names[] = {"available", "ringing", "busy",
						"wrapup",    "away",	"offline"};

/* Away: connected, but every browser session of theirs is away (presence.set)
 * and no phone of theirs is registered. */
static enum agent_state agent_state(struct sb_engine *eng, struct sb_agent *a, uint64_t now)
{
	bool attached;

	if (a->offer_call)
		return AGENT_RINGING;
	if (user_busy(eng, a->user))
		return AGENT_BUSY;
	if (now < a->wrapup_until_us)
		return AGENT_WRAPUP;
	if (user_reachable(eng, a->user, &attached))
		return AGENT_AVAILABLE;
	return attached ? AGENT_AWAY : AGENT_OFFLINE;
}

static bool available(struct sb_engine *eng, const char *user, uint64_t now)
{
	struct sb_agent *a = agent_get(eng, user);

	return a && agent_state(eng, a, now) == AGENT_AVAILABLE;
}

/* The agents to offer the next caller of queue qc to, per its strategy,
 * into ret (at most max); returns how many. */
static size_t pick(struct sb_engine *eng, const struct sb_config_queue *qc,
		   struct sb_queue_state *q, uint64_t now, struct sb_agent **ret, size_t max)
{
	size_t n = 0, count = 0, best = SIZE_MAX;

	while (qc->agents[count])
		count++;
	if (strcmp(qc->strategy, "ring_all") == 0) {
		for (size_t i = 0; i < count && n < max; i++)
			if (available(eng, qc->agents[i], now))
				ret[n++] = agent_get(eng, qc->agents[i]);
		return n;
	}
	if (strcmp(qc->strategy, "round_robin") == 0) {
		for (size_t k = 0; k < count; k++) {
			size_t i = (q->rr_next + k) % count;

			if (available(eng, qc->agents[i], now)) {
				q->rr_next = i + 1;
				ret[0] = agent_get(eng, qc->agents[i]);
				return 1;
			}
		}
		return 0;
	}
	/* longest_idle: the oldest idle_since; ties in list order. */
	for (size_t i = 0; i < count; i++)
		if (available(eng, qc->agents[i], now) &&
		    (best == SIZE_MAX || agent_get(eng, qc->agents[i])->idle_since_us <
						 agent_get(eng, qc->agents[best])->idle_since_us))
			best = i;
	if (best == SIZE_MAX)
		return 0;
	ret[0] = agent_get(eng, qc->agents[best]);
	return 1;
}

/* Rings every device of each agent as new callee legs of call. */
static bool offer(struct sb_engine *eng, struct sb_call *call, struct sb_agent **agents, size_t n,
		  uint64_t now)
{
	struct sb_leg *caller = sb__call_caller(call);
	unsigned first = call->n_legs;

	for (size_t i = 0; i < n; i++) {
		if (sb__callees_add_agent(eng, call, agents[i]->user, caller) > 0)
			agents[i]->offer_call = call->id;
	}
	if (call->n_legs == first) {
		sb_warn("queue %s: no leg left to offer (%u legs)", call->queue.name, call->n_legs);
		return false;
	}
	call->queue.first = call->legs[first]->id;
	call->queue.offering = true;
	call->queue.offer_us = now;
	for (size_t i = 0; i < n; i++)
		sb_info("queue %s offers the caller to %s", call->queue.name, agents[i]->user);
	sb__callees_start(eng, call);
	return true;
}

/* One queue: its waiting callers in order, each not yet offered gets the
 * agents its strategy picks, until none is available. */
static void dispatch_queue(struct sb_engine *eng, const struct sb_config_queue *qc, uint64_t now)
{
	struct sb_queue_state *q = queue_get(eng, qc->name);
	struct sb_agent *agents[SB_CALL_MAX_LEGS];

	for (guint i = 0; q && i < q->waiting->len; i++) {
		struct sb_call *call = sb__call_find(eng, g_array_index(q->waiting, uint64_t, i));
		size_t n;

		if (!call || call->state != SB_CALL_ANSWERED || call->queue.offering)
			continue;
		n = pick(eng, qc, q, now, agents, SB_CALL_MAX_LEGS);
		if (n == 0)
			return;
		offer(eng, call, agents, n, now);
	}
}

void sb__queue_dispatch(struct sb_engine *eng)
{
	uint64_t now = sb_clock_now(eng->clock);

	/* An offer can end legs and calls on the spot (an op that fails),
	 * which asks for another run: that one follows this one. */
	if (eng->q_running) {
		eng->q_again = true;
		return;
	}
	eng->q_running = true;
	do {
		eng->q_again = false;
		for (size_t i = 0; i < eng->cfg->n_queues; i++)
			dispatch_queue(eng, &eng->cfg->queues[i], now);
	} while (eng->q_again);
	eng->q_running = false;
}

/* ---- offers ending ---- */

/* After a missed offer (declined, busy, unanswered) an agent is not
 * offered a caller for this long: an agent who declines while nobody else
 * is free would otherwise ring again at once, in a loop. */
#define MISSED_PAUSE_US (5 * G_USEC_PER_SEC)

/* Every agent rung for call is free of it; missed: they go to the back
 * (longest_idle counts their idle time from now) and pause. */
static void release_agents(struct sb_engine *eng, struct sb_call *call, const char *only,
			   bool missed, uint64_t now)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, eng->agents);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sb_agent *a = v;

		if (a->offer_call != call->id || (only && strcmp(a->user, only) != 0))
			continue;
		a->offer_call = 0;
		if (missed) {
			a->idle_since_us = now;
			if (a->wrapup_until_us < now + MISSED_PAUSE_US)
				a->wrapup_until_us = now + MISSED_PAUSE_US;
		}
	}
}

static bool live_offer_leg(const struct sb_call *call, const char *user)
{
	for (unsigned i = 0; i < call->n_legs; i++) {
		const struct sb_leg *l = call->legs[i];

		if (l->outbound && l->id >= call->queue.first && l->state != SB_LEG_ENDED &&
		    (!user || strcmp(l->user, user) == 0))
			return true;
	}
	return false;
}

void sb__queue_leg_gone(struct sb_engine *eng, struct sb_leg *leg)
{
	struct sb_call *call = leg->call;
	uint64_t now = sb_clock_now(eng->clock);

	if (!sb__queue_offer_leg(leg))
		return;
	if (!live_offer_leg(call, leg->user)) {
		sb_info("queue %s: %s missed the caller (%d)", call->queue.name, leg->user,
			leg->status);
		release_agents(eng, call, leg->user, true, now);
	}
	if (live_offer_leg(call, NULL))
		return;
	call->queue.offering = false;
	sb__queue_dispatch(eng);
}

/* Ends offer leg l from our side (no answer in time). */
static void drop_leg(struct sb_engine *eng, struct sb_leg *l)
{
	struct sb_call *call = l->call;

	l->status = 408;
	sb__set_str(call->end_cause, sizeof(call->end_cause), "ring_timeout");
	leg_apply(eng, l, SB_LI_CLOSE, "agent_timeout", NULL);
	call->end_cause[0] = '\0';
}

/* call answered + answer: an agent's device answered (leg t). */
static void agent_answered(struct sb_engine *eng, struct sb_call *call, struct sb_leg *t)
{
	struct sb_queue_state *q = queue_get(eng, call->queue.name);
	struct sb_leg *caller = sb__call_caller(call);
	uint64_t now = sb_clock_now(eng->clock);

	call->queue.waiting = false;
	call->queue.offering = false;
	call->queue.hold_due = false;
	if (q) {
		fifo_remove(q, call->id);
		q->answered++;
	}
	sb__set_str(call->queue.agent, sizeof(call->queue.agent), t->user);
	call->queue.answered_us = now;
	release_agents(eng, call, NULL, false, now);
	/* First answer wins, as in a fork. */
	sb__set_str(call->end_cause, sizeof(call->end_cause), "answered_elsewhere");
	for (unsigned i = 0; i < call->n_legs; i++) {
		struct sb_leg *l = call->legs[i];
		if (l != t && l->outbound && l->id >= call->queue.first && l->state != SB_LEG_ENDED)
			leg_apply(eng, l, SB_LI_CLOSE, "answered_elsewhere", NULL);
	}
	call->end_cause[0] = '\0';
	sb_info("queue %s: %s answered after %llu ms", call->queue.name, t->user,
		(unsigned long long)((now - call->queue.enqueued_us) / 1000));
	sb__bridge(eng, call, caller, t);
	if (!caller || caller->state != SB_LEG_UP)
		return;
	/* The caller hears the agent once our hold of it settled. */
	if (caller->hold_op.seq || caller->offer_seq || caller->answer.seq)
		call->queue.resume = true;
	else if (caller->local_hold)
		hold_caller(eng, caller, false);
}

void sb__h_call_join(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_leg *t = (struct sb_leg *)arg;
	struct sb_call *call = obj;

	if (t && sb__queue_offer_leg(t))
		agent_answered(eng, call, t);
	else
		sb__h_call_transfer_answer(eng, obj, from, arg);
}

void sb__queue_hold_settled(struct sb_engine *eng, struct sb_leg *leg)
{
	struct sb_call *call = leg->call;

	if (!call->queue.resume || leg->outbound || leg->state != SB_LEG_UP ||
	    call->state != SB_CALL_ANSWERED)
		return;
	call->queue.resume = false;
	if (leg->local_hold)
		hold_caller(eng, leg, false);
}

void sb__queue_call_ended(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_queue_state *q;
	uint64_t now = sb_clock_now(eng->clock);

	if (call->queue.name[0] && (q = queue_get(eng, call->queue.name))) {
		if (call->queue.waiting) {
			struct sb_leg *caller = sb__call_caller(call);

			fifo_remove(q, call->id);
			if (strcmp(call->end_cause, "queue_timeout") == 0)
				q->timeout++;
			else if (caller && call->ender == caller->id)
				q->abandoned++;
			call->queue.waiting = false;
			release_agents(eng, call, NULL, false, now);
		}
		if (call->queue.agent[0]) {
			const struct sb_config_queue *qc =
				sb_config_find_queue(eng->cfg, call->queue.name);
			struct sb_agent *a = agent_get(eng, call->queue.agent);

			if (a) {
				a->idle_since_us = now;
				a->wrapup_until_us =
					now + (qc ? (uint64_t)qc->wrapup_ms * 1000 : 0);
			}
		}
	}
	/* Whoever was in this call may be free now. */
	sb__queue_dispatch(eng);
}

/* ---- the tick ---- */

static void tick_call(struct sb_engine *eng, struct sb_call *call, const struct sb_config_queue *qc,
		      uint64_t now)
{
	struct sb_leg *caller = sb__call_caller(call);

	if (now - call->queue.enqueued_us >= (uint64_t)qc->max_wait_ms * 1000) {
		sb_info("queue %s: no agent within max_wait", qc->name);
		sb__call_end(eng, call, 408, "queue_timeout", "no_answer");
		return;
	}
	if (call->queue.hold_due && caller && caller->state == SB_LEG_UP &&
	    now - caller->answer_us >= HOLD_DELAY_US) {
		call->queue.hold_due = false;
		if (!caller->local_hold && !caller->hold_op.seq && !caller->offer_seq &&
		    !caller->answer.seq)
			hold_caller(eng, caller, true);
	}
	if (call->queue.offering &&
	    now - call->queue.offer_us >= (uint64_t)qc->agent_timeout_ms * 1000) {
		for (unsigned i = 0; i < call->n_legs; i++)
			if (sb__queue_offer_leg(call->legs[i]) &&
			    call->legs[i]->state != SB_LEG_ENDED)
				drop_leg(eng, call->legs[i]);
		sb_info("queue %s: no answer within agent_timeout", qc->name);
		release_agents(eng, call, NULL, true, now);
		call->queue.offering = false;
	}
}

void sb__queue_tick(struct sb_engine *eng, uint64_t now)
{
	for (size_t i = 0; i < eng->cfg->n_queues; i++) {
		const struct sb_config_queue *qc = &eng->cfg->queues[i];
		struct sb_queue_state *q = queue_get(eng, qc->name);
		GArray *ids;

		if (!q || q->waiting->len == 0)
			continue;
		/* A copy: ending a call removes it from the FIFO. */
		ids = g_array_copy(q->waiting);
		for (guint j = 0; j < ids->len; j++) {
			struct sb_call *call = sb__call_find(eng, g_array_index(ids, uint64_t, j));

			if (call && call->state == SB_CALL_ANSWERED && call->queue.waiting)
				tick_call(eng, call, qc, now);
		}
		g_array_free(ids, TRUE);
	}
	/* Wrap-ups over, offers given up: agents free again. */
	sb__queue_dispatch(eng);
}

void sb__queue_drain(struct sb_engine *eng)
{
	GPtrArray *all = sb__calls_sorted(eng);

	for (guint i = 0; i < all->len; i++) {
		struct sb_call *call = all->pdata[i];

		if (call->queue.waiting)
			sb__call_end(eng, call, 503, "draining",
				     call->answer_us ? "no_answer" : "refused");
	}
	sb__calls_release(all);
}

/* ---- metrics, admin ---- */

void sb__queue_metrics_write(const struct sb_engine *eng, struct sb_strbuf *out)
{
	static const struct {
		const char *name, *type, *help;
		size_t offset;
	} fams[] = {
		{"queue_waiting", "gauge", "Callers waiting in the queue", 0},
		{"queue_answered_total", "counter", "Queue callers answered by an agent",
		 offsetof(struct sb_queue_state, answered)},
		{"queue_abandoned_total", "counter", "Queue callers who hung up while waiting",
		 offsetof(struct sb_queue_state, abandoned)},
		{"queue_timeout_total", "counter", "Queue callers dropped after max_wait",
		 offsetof(struct sb_queue_state, timeout)},
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		sb_strbuf_printf(
			out, "# HELP switchboard_engine_%s %s\n# TYPE switchboard_engine_%s %s\n",
			fams[f].name, fams[f].help, fams[f].name, fams[f].type);
		for (size_t i = 0; i < eng->cfg->n_queues; i++) {
			const char *name = eng->cfg->queues[i].name;
			const struct sb_queue_state *q = g_hash_table_lookup(eng->queues, name);
			uint64_t v = 0;

			if (q && f == 0)
				v = q->waiting->len;
			else if (q)
				v = *(const uint64_t *)((const char *)q + fams[f].offset);
			sb_strbuf_printf(out, "switchboard_engine_%s{queue=\"%s\"} %llu\n",
					 fams[f].name, name, (unsigned long long)v);
		}
	}
}

static json_t *queue_json(struct sb_engine *eng, const struct sb_config_queue *qc, uint64_t now)
{
	struct sb_queue_state *q = queue_get(eng, qc->name);
	json_t *waiting = json_array(), *agents = json_array();

	for (guint i = 0; q && i < q->waiting->len; i++) {
		struct sb_call *call = sb__call_find(eng, g_array_index(q->waiting, uint64_t, i));

		if (call)
			json_array_append_new(
				waiting,
				json_pack("{s:s,s:s,s:I}", "call", call->wire_id, "caller",
					  call->caller, "waited_ms",
					  (json_int_t)((now - call->queue.enqueued_us) / 1000)));
	}
	for (size_t i = 0; qc->agents[i]; i++) {
		struct sb_agent *a = agent_get(eng, qc->agents[i]);

		if (a)
			json_array_append_new(
				agents, json_pack("{s:s,s:s}", "user", a->user, "state",
						  agent_state_names[agent_state(eng, a, now)]));
	}
	return json_pack("{s:s,s:s,s:o,s:o}", "name", qc->name, "strategy", qc->strategy, "waiting",
			 waiting, "agents", agents);
}

char *sb_engine_queues_json(struct sb_engine *eng)
{
	uint64_t now = sb_clock_now(eng->clock);
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; arr && i < eng->cfg->n_queues; i++)
		json_array_append_new(arr, queue_json(eng, &eng->cfg->queues[i], now));
	text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return text;
}
