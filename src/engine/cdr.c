/* CDRs (one record per call, handed to the store ops), the live call list
 * for GET /api/v1/calls, and the engine's metrics. Control thread. Owns
 * nothing beyond the text it returns. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/strbuf.h"
#include "engine/engine_internal.h"
#include "log/log.h"

uint64_t sb__engine_wall(const struct sb_engine *eng, uint64_t mono)
{
	return mono ? eng->wall0 + (mono - eng->mono0) : 0;
}

static void cdr_leg(const struct sb_engine *eng, const struct sb_leg *leg, struct sb_cdr_leg *c)
{
	c->leg = leg->id;
	sb__set_str(c->kind, sizeof(c->kind), leg->kind == SB_LEG_CLIENT ? "client" : "sip");
	sb__set_str(c->direction, sizeof(c->direction), leg->outbound ? "out" : "in");
	sb__set_str(c->party, sizeof(c->party), leg->party);
	sb__set_str(c->trunk, sizeof(c->trunk), leg->trunk);
	sb__set_str(c->codec, sizeof(c->codec), leg->codec);
	c->start_us = sb__engine_wall(eng, leg->start_us);
	c->answer_us = sb__engine_wall(eng, leg->answer_us);
	c->end_us = sb__engine_wall(eng, leg->end_us);
	c->status = leg->status;
	sb__set_str(c->cause, sizeof(c->cause), leg->cause);
	c->has_quality = leg->quality.has;
	c->packets_lost = leg->quality.packets_lost;
	c->jitter_us = leg->quality.jitter_us;
	c->rtt_us = leg->quality.rtt_us;
	c->mos = leg->quality.mos;
}

static void cdr_fill(const struct sb_engine *eng, const struct sb_call *call, struct sb_cdr *c)
{
	memset(c, 0, sizeof(*c));
	sb__set_str(c->call_id, sizeof(c->call_id), call->wire_id);
	c->call = call->id;
	sb__set_str(c->caller, sizeof(c->caller), call->caller);
	sb__set_str(c->callee, sizeof(c->callee), call->destination);
	sb__set_str(c->route, sizeof(c->route), call->route);
	sb__set_str(c->action, sizeof(c->action), call->action);
	sb__set_str(c->target, sizeof(c->target), call->target);
	c->start_us = sb__engine_wall(eng, call->start_us);
	c->answer_us = sb__engine_wall(eng, call->answer_us);
	c->end_us = sb__engine_wall(eng, call->end_us);
	sb__set_str(c->disposition, sizeof(c->disposition), call->disposition);
	sb__set_str(c->cause, sizeof(c->cause), call->end_cause);
	c->status = call->end_status;
	c->queue_wait_ms = -1;
	if (call->queue.name[0] && call->queue.enqueued_us) {
		uint64_t until = call->queue.answered_us ? call->queue.answered_us : call->end_us;

		c->queue_wait_ms = until > call->queue.enqueued_us
					   ? (int64_t)((until - call->queue.enqueued_us) / 1000)
					   : 0;
		sb__set_str(c->queue_agent, sizeof(c->queue_agent), call->queue.agent);
	}
	for (unsigned i = 0; i < call->n_legs && i < SB_CDR_MAX_LEGS; i++)
		cdr_leg(eng, call->legs[i], &c->legs[c->n_legs++]);
}

static json_t *time_json(uint64_t us)
{
	return us ? json_integer((json_int_t)(us / 1000)) : json_null();
}

static json_t *leg_json(const struct sb_cdr_leg *l)
{
	json_t *o = json_pack(
		"{s:i,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:i,s:s}", "leg", (int)l->leg, "kind",
		l->kind, "direction", l->direction, "party", l->party, "trunk", l->trunk, "codec",
		l->codec, "start_ms", time_json(l->start_us), "answer_ms", time_json(l->answer_us),
		"end_ms", time_json(l->end_us), "status", l->status, "cause", l->cause);

	if (o && l->has_quality)
		json_object_set_new(o, "quality",
				    json_pack("{s:I,s:I,s:I,s:f}", "packets_lost",
					      (json_int_t)l->packets_lost, "jitter_us",
					      (json_int_t)l->jitter_us, "rtt_us",
					      (json_int_t)l->rtt_us, "mos", l->mos));
	return o;
}

char *sb_cdr_to_json(const struct sb_cdr *c)
{
	json_t *legs = json_array(), *o;
	uint64_t talk = c->answer_us && c->end_us > c->answer_us ? c->end_us - c->answer_us : 0;
	char *out;

	for (size_t i = 0; legs && i < c->n_legs; i++)
		json_array_append_new(legs, leg_json(&c->legs[i]));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:s,s:s,s:i,s:o}", "call",
		      c->call_id, "caller", c->caller, "callee", c->callee, "route", c->route,
		      "action", c->action, "target", c->target, "start_ms", time_json(c->start_us),
		      "answer_ms", time_json(c->answer_us), "end_ms", time_json(c->end_us),
		      "duration_ms", (json_int_t)(talk / 1000), "disposition", c->disposition,
		      "cause", c->cause, "status", c->status, "legs", legs);
	if (!o)
		return NULL;
	if (c->queue_wait_ms >= 0)
		json_object_set_new(o, "queue",
				    json_pack("{s:s,s:I,s:s?}", "name", c->target, "wait_ms",
					      (json_int_t)c->queue_wait_ms, "agent",
					      c->queue_agent[0] ? c->queue_agent : NULL));
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}

void sb__cdr_emit(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_cdr *c = malloc(sizeof(*c));
	char *json;

	if (!c)
		return;
	cdr_fill(eng, call, c);
	json = sb_cdr_to_json(c);
	if (json && eng->ops.store && eng->ops.store->cdr &&
	    eng->ops.store->cdr(eng->ops.store_ud, c, json) == 0)
		eng->m.cdrs++;
	else
		sb_warn("CDR of %s not stored", call->wire_id);
	free(json);
	free(c);
}

static json_t *live_leg_json(const struct sb_engine *eng, const struct sb_leg *leg)
{
	json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "leg", (int)leg->id, "kind",
			      leg->kind == SB_LEG_CLIENT ? "client" : "sip", "direction",
			      leg->outbound ? "out" : "in", "state",
			      sb__fsm_state_name(&sb__leg_fsm, leg->state), "party", leg->party,
			      "codec", leg->codec);

	if (o && leg->quality.has)
		json_object_set_new(o, "quality",
				    json_pack("{s:I,s:I,s:f}", "packets_lost",
					      (json_int_t)leg->quality.packets_lost, "jitter_us",
					      (json_int_t)leg->quality.jitter_us, "mos",
					      leg->quality.mos));
	return o;
}

char *sb_engine_calls_json(struct sb_engine *eng)
{
	GPtrArray *calls = sb__calls_sorted(eng);
	json_t *arr = json_array();
	char *out;

	for (guint k = 0; arr && k < calls->len; k++) {
		const struct sb_call *call = calls->pdata[k];
		json_t *legs = json_array();

		for (unsigned i = 0; legs && i < call->n_legs; i++)
			json_array_append_new(legs, live_leg_json(eng, call->legs[i]));
		json_array_append_new(
			arr,
			json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "call", call->wire_id,
				  "state", sb__fsm_state_name(&sb__call_fsm, call->state), "caller",
				  call->caller, "callee", call->destination, "route", call->route,
				  "action", call->action, "start_ms",
				  time_json(sb__engine_wall(eng, call->start_us)), "answer_ms",
				  time_json(sb__engine_wall(eng, call->answer_us)), "legs", legs));
	}
	sb__calls_release(calls);
	out = arr ? json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(arr);
	return out;
}

void sb_engine_metrics(const struct sb_engine *eng, struct sb_engine_metrics *ret)
{
	*ret = eng->m;
}

void sb_engine_metrics_write(const struct sb_engine *eng, struct sb_strbuf *out)
{
	const struct sb_engine_metrics *m = &eng->m;
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} rows[] = {
		{"calls_total", "counter", "Calls created", m->calls_total},
		{"calls_active", "gauge", "Live calls", m->calls_active},
		{"calls_answered_total", "counter", "Calls answered", m->calls_answered},
		{"calls_failed_total", "counter", "Calls that failed", m->calls_failed},
		{"calls_cancelled_total", "counter", "Calls cancelled by the caller",
		 m->calls_cancelled},
		{"calls_refused_limit_total", "counter", "Calls refused by max_calls or max_cps",
		 m->calls_refused_limit},
		{"calls_refused_overload_total", "counter", "Calls refused: overload or draining",
		 m->calls_refused_overload},
		{"calls_no_route_total", "counter", "Calls with no matching route",
		 m->calls_no_route},
		{"calls_not_allowed_total", "counter", "Calls refused by may_dial",
		 m->calls_not_allowed},
		{"calls_resume_timeout_total", "counter", "Calls ended past the resume window",
		 m->calls_resume_timeout},
		{"transitions_total", "counter", "State machine transitions", m->transitions},
		{"illegal_transitions_total", "counter", "Transitions refused as illegal",
		 m->illegal_transitions},
		{"unknown_events_total", "counter", "Events for no live call or leg",
		 m->unknown_events},
		{"cdrs_total", "counter", "CDRs handed to the store", m->cdrs},
		{"chat_relayed_total", "counter", "Chat messages handed to a party",
		 m->chat_relayed},
		{"chat_dropped_total", "counter", "Chat messages with no party to take them",
		 m->chat_dropped},
		{"chat_failed_total", "counter", "Chat MESSAGEs the SIP party refused",
		 m->chat_failed},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		sb_strbuf_printf(out,
				 "# HELP switchboard_engine_%s %s\n# TYPE switchboard_engine_%s "
				 "%s\nswitchboard_engine_%s %llu\n",
				 rows[i].name, rows[i].help, rows[i].name, rows[i].type,
				 rows[i].name, (unsigned long long)rows[i].v);
	sb__queue_metrics_write(eng, out);
	sb__conf_metrics_write(eng, out);
}
