/* Blind transfer from the browser (call.transfer): the agent's party is
 * held from our side (hold.c), the transfer target is placed as new callee
 * legs of the same call (routed as if the agent had dialled it), and the
 * first to answer is bridged to the party, which is resumed, while the
 * agent's leg ends (call.ended "transferred"). A consultation (call.consult)
 * does the same but bridges the answered target to the agent, the party
 * held, until the agent completes it (call.transfer without to) or ends it
 * (call.consult_end). No REFER: the party keeps its one dialog and media
 * session, and everything stays in one call. Control thread. Works on
 * calls owned by the engine; commands through the component ops only. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "engine/engine_internal.h"
#include "log/log.h"

static int leg_apply(struct sb_engine *eng, struct sb_leg *leg, int input, const char *cause,
		     const void *arg)
{
	return sb__fsm_apply(eng, &sb__leg_fsm, leg, &leg->state, input, leg->call->id, leg->id,
			     cause, arg);
}

static struct sb_leg *live_leg(struct sb_call *call, uint32_t id)
{
	struct sb_leg *leg = id ? sb__leg_find(call, id) : NULL;

	return leg && leg->state != SB_LEG_ENDED ? leg : NULL;
}

static void reply_code(struct sb_engine *eng, uint64_t conn, int64_t request, int code,
		       int retry_after_s)
{
	struct sb_engine_error err;

	if (request < 0)
		return;
	if (code == 0) {
		sb__client_reply(eng, conn, request, json_object(), NULL);
		return;
	}
	sb__engine_error(code, &err);
	if (retry_after_s > 0)
		err.retry_after_s = retry_after_s;
	sb__client_reply(eng, conn, request, NULL, &err);
}

/* Answers the agent's request waiting (if any): code 0 ok, else the error. */
static void answer(struct sb_engine *eng, struct sb_call *call, int code)
{
	reply_code(eng, call->xfer.conn, call->xfer.request, code, 0);
	call->xfer.request = -1;
}

static void hold_party(struct sb_engine *eng, struct sb_leg *p, bool hold)
{
	leg_apply(eng, p, SB_LI_HOLD, "transfer",
		  &(struct sb_leg_arg){.status = hold, .request = -1});
}

/* Lets the party hear again once our hold of it settled: at once when
 * none is under way, else when it is over (sb__transfer_hold_settled). */
static void resume_party(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_leg *p = live_leg(call, call->xfer.party);

	call->xfer.resume = false;
	if (!p || p->state != SB_LEG_UP)
		return;
	if (p->hold_op.seq || p->offer_seq || p->answer.seq)
		call->xfer.resume = true;
	else if (p->local_hold)
		hold_party(eng, p, false);
}

static void release_trunk(struct sb_engine *eng, struct sb_call *call)
{
	if (call->xfer.counted)
		sb__admit_release(&eng->admit, call->xfer.trunk);
	call->xfer.counted = false;
}

/* call.consult to the agent consulting: state, and why when it ended. */
static void consult_event(struct sb_engine *eng, struct sb_call *call, const char *state,
			  const char *reason)
{
	struct sb_leg *agent = live_leg(call, call->xfer.agent);
	json_t *data;

	if (!agent || agent->kind != SB_LEG_CLIENT)
		return;
	data = json_pack("{s:s,s:s}", "call", call->wire_id, "state", state);
	if (data && reason)
		json_object_set_new(data, "reason", json_string(reason));
	sb__client_event(eng, agent->session, "call.consult", data);
}

void sb__consult_busy_error(struct sb_engine_error *ret)
{
	sb__engine_error(10491, ret);
	snprintf(ret->message, sizeof(ret->message), "%s",
		 "a consultation is under way: complete it or end it first");
}

static void reply_error_msg(struct sb_engine *eng, uint64_t conn, int64_t request, int code,
			    const char *message)
{
	struct sb_engine_error err;

	if (request < 0)
		return;
	sb__engine_error(code, &err);
	snprintf(err.message, sizeof(err.message), "%s", message);
	sb__client_reply(eng, conn, request, NULL, &err);
}

void sb__transfer_request(struct sb_engine *eng, struct sb_leg *agent, const char *to, bool consult,
			  uint64_t conn, int64_t request)
{
	struct sb_call *call = agent->call;
	struct sb_session *s = sb__session_find(eng, agent->session);
	struct sb_leg *p = agent->state == SB_LEG_UP ? sb__leg_peer(agent) : NULL;
	uint64_t now = sb_clock_now(eng->clock);
	struct sb_route_pick r;

	if (sb__conf_call(call)) {
		/* A member has no party to send elsewhere. */
		struct sb_engine_error err;

		sb__conf_error(consult ? "consult" : "transfer", &err);
		if (request >= 0)
			sb__client_reply(eng, conn, request, NULL, &err);
		return;
	}
	if (call->xfer.consult != SB_CONSULT_NONE) {
		struct sb_engine_error err;

		sb__consult_busy_error(&err);
		if (request >= 0)
			sb__client_reply(eng, conn, request, NULL, &err);
		return;
	}
	if (call->state != SB_CALL_ANSWERED || !p || p->state != SB_LEG_UP || !s)
		return reply_code(eng, conn, request, 3000, 0); /* not answered */
	/* One change of the party's session at a time (RFC 3261 section
	 * 14.1): a transfer, our hold or its own offer under way. */
	if (call->xfer.active || call->xfer.resume || p->hold_op.seq || p->offer_seq ||
	    p->answer.seq)
		return reply_code(eng, conn, request, 10491, 0);
	if (eng->draining)
		return reply_code(eng, conn, request, 5001, eng->admit.retry_after_s);
	if (sb_bus_admit(eng->bus) < 0)
		return reply_code(eng, conn, request, 3004, eng->admit.retry_after_s);
	sb__route_pick(eng, s->user, s->user, to, now, &r);
	if (r.status)
		return reply_code(eng, conn, request,
				  r.client_code ? r.client_code : 10000 + r.status,
				  r.retry ? eng->admit.retry_after_s : 0);
	/* An echo answers a caller's offer when the call is set up: a party
	 * already in a session has none to give it. */
	if (strcmp(r.action, "trunk") != 0 && strcmp(r.action, "user") != 0)
		return reply_code(eng, conn, request, 3000, 0);
	sb_info("leg %u %s leg %u to %s: route %s, %s %s", (unsigned)agent->id,
		consult ? "consults about" : "transfers", (unsigned)p->id, to, r.route, r.action,
		r.target);
	sb__fsm_apply(eng, &sb__call_fsm, call, &call->state, SB_CI_TRANSFER, call->id, 0,
		      "ws.call_transfer",
		      &(struct sb_transfer_arg){.agent = agent,
						.party = p,
						.to = to,
						.action = r.action,
						.target = r.target,
						.consult = consult,
						.conn = conn,
						.request = request});
}

/* arg: a struct sb_transfer_arg, routed. */
void sb__h_call_transfer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_transfer_arg *a = arg;
	struct sb_call *call = obj;
	unsigned first = call->n_legs;
	bool trunk = strcmp(a->action, "trunk") == 0;

	if (sb__callees_add(eng, call, a->action, a->target, a->to, a->agent) == 0) {
		/* No device of the user (as a dial: 480, or 404 unknown). */
		reply_code(eng, a->conn, a->request,
			   trunk				      ? 10500
			   : sb_config_find_user(eng->cfg, a->target) ? 10480
								      : 10404,
			   0);
		return;
	}
	call->xfer.active = true;
	call->xfer.party = a->party->id;
	call->xfer.agent = a->agent->id;
	call->xfer.first = call->legs[first]->id;
	call->xfer.conn = a->conn;
	call->xfer.request = a->request;
	call->xfer.held = a->party->local_hold;
	call->xfer.consult = a->consult ? SB_CONSULT_RINGING : SB_CONSULT_NONE;
	call->xfer.rang = false;
	call->xfer.target = 0;
	if (trunk) {
		release_trunk(eng, call);
		sb__set_str(call->xfer.trunk, sizeof(call->xfer.trunk), a->target);
		sb__admit_take(&eng->admit, call->xfer.trunk, sb_clock_now(eng->clock), true);
		call->xfer.counted = true;
	}
	/* The party hears nothing while the target rings (no music). */
	if (!a->party->local_hold)
		hold_party(eng, a->party, true);
	sb__callees_start(eng, call);
}

bool sb__transfer_target(const struct sb_leg *leg)
{
	const struct sb_call *call = leg->call;

	return call->xfer.active && leg->outbound && leg->id >= call->xfer.first;
}

bool sb__consult_target(const struct sb_leg *leg)
{
	const struct sb_call *call = leg->call;

	return call->xfer.consult == SB_CONSULT_TALKING && leg->id == call->xfer.target;
}

void sb__transfer_target_ringing(struct sb_engine *eng, struct sb_leg *leg)
{
	struct sb_call *call = leg->call;

	if (!sb__transfer_target(leg) || call->xfer.consult != SB_CONSULT_RINGING ||
	    call->xfer.rang)
		return;
	call->xfer.rang = true;
	consult_event(eng, call, "ringing", NULL);
}

/* The party goes to target t (bridged, resumed) and the agent's leg, when
 * still there, ends "transferred": a blind transfer's answer, or a
 * consultation completed. */
static void hand_over(struct sb_engine *eng, struct sb_call *call, struct sb_leg *p,
		      struct sb_leg *t)
{
	struct sb_leg *agent = live_leg(call, call->xfer.agent);

	call->xfer.consult = SB_CONSULT_NONE;
	call->xfer.target = 0;
	sb__bridge(eng, call, p, t);
	sb_info("leg %u transferred to leg %u", (unsigned)p->id, (unsigned)t->id);
	resume_party(eng, call);
	/* The reply first: the agent's SDK settles its promise before it
	 * hears the call end. */
	answer(eng, call, 0);
	if (agent)
		leg_apply(eng, agent, SB_LI_TRANSFERRED, "transferred", NULL);
	call->xfer.agent = 0;
}

/* arg: the target leg that answered. */
void sb__h_call_transfer_answer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_leg *t = (struct sb_leg *)arg;
	struct sb_call *call = obj;
	struct sb_leg *p = live_leg(call, call->xfer.party);
	struct sb_leg *agent = live_leg(call, call->xfer.agent);

	if (!t || !sb__transfer_target(t) || !p) {
		sb_warn("leg %u answered with no transfer under way", t ? (unsigned)t->id : 0);
		return;
	}
	call->xfer.active = false;
	/* First answer wins, as in a fork. */
	sb__set_str(call->end_cause, sizeof(call->end_cause), "answered_elsewhere");
	for (unsigned i = 0; i < call->n_legs; i++) {
		struct sb_leg *l = call->legs[i];
		if (l != t && l->id >= call->xfer.first && l->state != SB_LEG_ENDED)
			leg_apply(eng, l, SB_LI_CLOSE, "answered_elsewhere", NULL);
	}
	call->end_cause[0] = '\0';
	if (call->xfer.consult == SB_CONSULT_RINGING && agent) {
		/* A consultation: the agent talks with the target, the
		 * party stays held (music) until the agent decides. */
		call->xfer.consult = SB_CONSULT_TALKING;
		call->xfer.target = t->id;
		sb__bridge(eng, call, agent, t);
		sb_info("leg %u consults leg %u", (unsigned)agent->id, (unsigned)t->id);
		answer(eng, call, 0);
		consult_event(eng, call, "answered", NULL);
		return;
	}
	/* A blind transfer, or a consultation whose agent left while the
	 * target rang: the party goes to it. */
	hand_over(eng, call, p, t);
}

/* Every target failed: the agent is back with the party, or, when it
 * left meanwhile, no one is left for the party and the call ends. */
static void failed(struct sb_engine *eng, struct sb_call *call)
{
	unsigned first = 0;
	bool consult;
	int status;

	while (first < call->n_legs && call->legs[first]->id < call->xfer.first)
		first++;
	status = sb__best_status(call, first);
	call->xfer.active = false;
	consult = call->xfer.consult != SB_CONSULT_NONE;
	call->xfer.consult = SB_CONSULT_NONE;
	release_trunk(eng, call);
	sb_info("transfer failed (%d)", status);
	if (!live_leg(call, call->xfer.agent)) {
		sb__call_end(eng, call, status, "transfer_failed", "answered");
		return;
	}
	if (!call->xfer.held)
		resume_party(eng, call);
	answer(eng, call, 10000 + (status >= 400 && status <= 699 ? status : 500));
	if (consult)
		consult_event(eng, call, "ended", "failed");
}

/* The transfer fails once no target is left. */
static void check_failed(struct sb_engine *eng, struct sb_call *call)
{
	for (unsigned i = 0; i < call->n_legs; i++)
		if (sb__transfer_target(call->legs[i]) && call->legs[i]->state != SB_LEG_ENDED)
			return; /* another target still rings */
	if (call->xfer.active)
		failed(eng, call);
}

/* The engine gives up on target leg l (CANCEL, or call.ended to a
 * browser, with the cause). */
static void drop_target(struct sb_engine *eng, struct sb_leg *l, int status, const char *cause)
{
	struct sb_call *call = l->call;

	l->status = status;
	sb__set_str(call->end_cause, sizeof(call->end_cause), cause);
	leg_apply(eng, l, SB_LI_CLOSE, cause, NULL);
	call->end_cause[0] = '\0';
}

void sb__transfer_target_failed(struct sb_engine *eng, struct sb_leg *leg, int status,
				const char *cause)
{
	drop_target(eng, leg, status, cause);
	check_failed(eng, leg->call);
}

/* The consultation is over without a transfer: the party back with the
 * agent (bridged again, resumed unless the agent had it held before), the
 * target's trunk no longer counted; the agent hears why. */
static void back_to_agent(struct sb_engine *eng, struct sb_call *call, const char *reason)
{
	struct sb_leg *p = live_leg(call, call->xfer.party);
	struct sb_leg *agent = live_leg(call, call->xfer.agent);

	call->xfer.consult = SB_CONSULT_NONE;
	call->xfer.active = false;
	call->xfer.target = 0;
	release_trunk(eng, call);
	if (p && agent)
		sb__bridge(eng, call, p, agent);
	if (!call->xfer.held)
		resume_party(eng, call);
	sb_info("consultation over (%s): the party is back with the agent", reason);
	consult_event(eng, call, "ended", reason);
}

/* A leg of a consultation in talk ended by its party. */
static bool consult_leg_gone(struct sb_engine *eng, struct sb_leg *leg)
{
	struct sb_call *call = leg->call;
	struct sb_leg *p = live_leg(call, call->xfer.party);
	struct sb_leg *t = live_leg(call, call->xfer.target);

	if (leg->id == call->xfer.target) {
		back_to_agent(eng, call, "hangup");
		return true;
	}
	if (leg->id == call->xfer.agent) {
		/* As PBXs do: the agent hanging up completes the transfer. */
		sb_info("the agent left: the consultation completes");
		call->xfer.agent = 0;
		if (p && t)
			hand_over(eng, call, p, t);
		return true;
	}
	if (leg->id == call->xfer.party) {
		/* The agent and the target go on talking: a call of theirs. */
		sb_info("the party left: the agent and the target stay");
		consult_event(eng, call, "party_left", NULL);
		call->xfer.consult = SB_CONSULT_NONE;
		call->xfer.resume = false;
		call->xfer.target = 0;
		return true;
	}
	return false;
}

bool sb__transfer_leg_gone(struct sb_engine *eng, struct sb_leg *leg)
{
	struct sb_call *call = leg->call;

	if (call->xfer.consult == SB_CONSULT_TALKING)
		return consult_leg_gone(eng, leg);
	if (!call->xfer.active)
		return false;
	if (leg->id == call->xfer.agent) {
		/* The agent hung up while the target rings: the transfer goes
		 * on without it (its request answered now, before its
		 * call.ended). */
		sb_info("the agent left: the transfer goes on");
		answer(eng, call, 0);
		call->xfer.agent = 0;
		return true;
	}
	if (!sb__transfer_target(leg))
		return false;
	check_failed(eng, call);
	return true;
}

void sb__transfer_hold_settled(struct sb_engine *eng, struct sb_leg *leg)
{
	struct sb_call *call = leg->call;

	if (call->xfer.resume && leg->id == call->xfer.party && leg->state == SB_LEG_UP &&
	    call->state == SB_CALL_ANSWERED)
		resume_party(eng, call);
}

void sb__transfer_timeouts(struct sb_engine *eng, struct sb_call *call, uint64_t now,
			   uint64_t limit)
{
	bool dropped = false;

	for (unsigned i = 0; call->xfer.active && i < call->n_legs; i++) {
		struct sb_leg *l = call->legs[i];
		if (sb__transfer_target(l) && l->state != SB_LEG_ENDED && l->state != SB_LEG_UP &&
		    now - l->start_us >= limit) {
			drop_target(eng, l, 408, "ring_timeout");
			dropped = true;
		}
	}
	if (dropped)
		check_failed(eng, call);
}

void sb__transfer_abandon(struct sb_engine *eng, struct sb_call *call)
{
	/* The party hung up (or the call ended otherwise) first. */
	answer(eng, call, 3001);
	call->xfer.active = false;
	call->xfer.consult = SB_CONSULT_NONE;
	call->xfer.resume = false;
	release_trunk(eng, call);
}

/* The consultation of the call agent's leg is in, or NULL when there is
 * none (the request answered with the refusal). */
static struct sb_call *consult_of(struct sb_engine *eng, struct sb_leg *agent, uint64_t conn,
				  int64_t request, const char *none)
{
	struct sb_call *call = agent->call;

	if (call->xfer.consult == SB_CONSULT_NONE) {
		reply_error_msg(eng, conn, request, 3000, none);
		return NULL;
	}
	if (agent->id != call->xfer.agent) {
		struct sb_engine_error err;

		sb__consult_busy_error(&err);
		if (request >= 0)
			sb__client_reply(eng, conn, request, NULL, &err);
		return NULL;
	}
	return call;
}

void sb__consult_complete_request(struct sb_engine *eng, struct sb_leg *agent, uint64_t conn,
				  int64_t request)
{
	struct sb_call *call = consult_of(eng, agent, conn, request,
					  "no consultation to complete: call.transfer needs to");
	struct sb_leg *p, *t;

	if (!call)
		return;
	p = live_leg(call, call->xfer.party);
	t = live_leg(call, call->xfer.target);
	if (call->xfer.consult != SB_CONSULT_TALKING || !p || !t)
		return reply_error_msg(eng, conn, request, 3000,
				       "the consultation's target has not answered yet");
	sb_info("leg %u completes its consultation", (unsigned)agent->id);
	call->xfer.conn = conn;
	call->xfer.request = request;
	hand_over(eng, call, p, t);
}

void sb__consult_end_request(struct sb_engine *eng, struct sb_leg *agent, uint64_t conn,
			     int64_t request)
{
	struct sb_call *call = consult_of(eng, agent, conn, request, "no consultation under way");
	struct sb_leg *t;

	if (!call)
		return;
	sb_info("leg %u ends its consultation", (unsigned)agent->id);
	if (call->xfer.consult == SB_CONSULT_RINGING) {
		/* The call.consult waiting is over: RFC 3261 section 9.1's
		 * CANCEL gives the targets 487 too. */
		answer(eng, call, 10487);
		call->xfer.active = false;
		for (unsigned i = 0; i < call->n_legs; i++) {
			struct sb_leg *l = call->legs[i];
			if (l->outbound && l->id >= call->xfer.first && l->state != SB_LEG_ENDED)
				drop_target(eng, l, 487, "consult_cancelled");
		}
	} else if ((t = live_leg(call, call->xfer.target))) {
		drop_target(eng, t, 0, "consult_ended");
	}
	reply_code(eng, conn, request, 0, 0);
	back_to_agent(eng, call, "consult_end");
}
