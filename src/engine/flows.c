/* Call flows: admission and routing of a new call, placing its legs (trunk,
 * every device of a user, the echo test), and the handlers that run on each
 * transition of the call and leg machines. Control thread. Works on calls
 * owned by the engine; sends commands through the component ops only. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "engine/engine_internal.h"
#include "log/log.h"

#define MAX_CONTACTS 8

static int call_apply(struct sb_engine *eng, struct sb_call *call, int input, const char *cause,
		      const void *arg)
{
	return sb__fsm_apply(eng, &sb__call_fsm, call, &call->state, input, call->id, 0, cause,
			     arg);
}

static int leg_apply(struct sb_engine *eng, struct sb_leg *leg, int input, const char *cause,
		     const void *arg)
{
	return sb__fsm_apply(eng, &sb__leg_fsm, leg, &leg->state, input, leg->call->id, leg->id,
			     cause, arg);
}

/* ---- client output ---- */

void sb__client_reply(struct sb_engine *eng, uint64_t conn, int64_t request, json_t *result,
		      const struct sb_engine_error *err)
{
	char *text = NULL;

	if (result)
		text = json_dumps(result, JSON_COMPACT);
	if (eng->ops.client && eng->ops.client->reply)
		eng->ops.client->reply(eng->ops.client_ud, conn, request, text ? text : "{}", err);
	free(text);
	json_decref(result);
}

void sb__client_event(struct sb_engine *eng, const char *session, const char *name, json_t *data)
{
	char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;

	if (text && eng->ops.client && eng->ops.client->event)
		eng->ops.client->event(eng->ops.client_ud, session, name, text);
	free(text);
	json_decref(data);
}

static json_t *error_json(const struct sb_engine_error *err)
{
	json_t *o = json_pack("{s:i,s:s,s:s}", "code", err->code, "name", err->name, "message",
			      err->message);

	if (o && err->retry_after_s > 0)
		json_object_set_new(o, "retry_after", json_integer(err->retry_after_s));
	return o;
}

static void call_error(const struct sb_call *call, struct sb_engine_error *ret)
{
	if (call->client_code)
		sb__engine_error(call->client_code, ret);
	else
		sb_engine_error_for_status(call->end_status ? call->end_status : 500, ret);
	if (call->retry_after_s > 0)
		ret->retry_after_s = call->retry_after_s;
}

/* call.ended for a browser leg; kept for later when its session is
 * detached (see struct sb_session). */
static void send_ended(struct sb_engine *eng, const struct sb_leg *leg, json_t *data)
{
	struct sb_session *s = sb__session_find(eng, leg->session);

	if (s && s->state == SB_SESSION_DETACHED && data) {
		if (s->ended->len < SB_SESSION_MAX_ENDED)
			g_ptr_array_add(s->ended, data);
		else
			json_decref(data);
		return;
	}
	sb__client_event(eng, leg->session, "call.ended", data);
}

/* ---- media ---- */

static int media_create(struct sb_engine *eng, struct sb_leg *leg, enum sb_engine_media_kind kind,
			const char *remote_sdp, const struct sb_engine_media_opts *opts)
{
	const struct sb_engine_media_ops *m = eng->ops.media;

	if (!m || !m->create)
		return -ENOSYS;
	leg->media = ++eng->next_media;
	leg->media_kind = kind;
	return m->create(eng->ops.media_ud, leg->media, leg->call->id, leg->id, kind, remote_sdp,
			 opts);
}

/* The media options of a leg that calls trunk tr: its codec order and
 * SRTP mode shape the offer the media plane makes (docs/media.md). */
static void trunk_media_opts(const struct sb_config_trunk *tr, struct sb_engine_media_opts *ret)
{
	static const char *const modes[] = {"off", "sdes", "sdes_optional"};

	*ret = (struct sb_engine_media_opts){.codecs = tr->codecs, .srtp = SB_ENGINE_SRTP_OFF};
	for (size_t i = 0; tr->srtp && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(tr->srtp, modes[i]) == 0)
			ret->srtp = (enum sb_engine_srtp)i;
}

void sb__leg_release(struct sb_engine *eng, struct sb_leg *leg)
{
	const struct sb_engine_media_ops *m = eng->ops.media;

	sb__hold_abandon(eng, leg);
	if (leg->media && m && m->destroy)
		m->destroy(eng->ops.media_ud, leg->media);
	leg->media = 0;
	leg->end_us = sb_clock_now(eng->clock);
}

void sb__bridge(struct sb_engine *eng, struct sb_call *call, struct sb_leg *a, struct sb_leg *b)
{
	const struct sb_engine_media_ops *m = eng->ops.media;

	if (!a || (call->bridge.a == a->id && call->bridge.b == b->id))
		return;
	call->bridge.a = a->id;
	call->bridge.b = b->id;
	if (m && m->bridge && a->media && b->media)
		m->bridge(eng->ops.media_ud, a->media, b->media);
}

/* The caller and callee b. */
static void bridge(struct sb_engine *eng, struct sb_call *call, struct sb_leg *b)
{
	sb__bridge(eng, call, sb__call_caller(call), b);
}

/* ---- ending ---- */

void sb__call_end(struct sb_engine *eng, struct sb_call *call, int status, const char *cause,
		  const char *disposition)
{
	if (call->state == SB_CALL_ENDED)
		return;
	call->end_status = status;
	sb__set_str(call->end_cause, sizeof(call->end_cause), cause);
	sb__set_str(call->disposition, sizeof(call->disposition), disposition);
	call_apply(eng, call, SB_CI_END, cause, NULL);
}

/* Ends a call that was never routed. client_code: the browser's error when
 * it is not the SIP status's. */
static void refuse(struct sb_engine *eng, struct sb_call *call, int status, int client_code,
		   bool retry, const char *cause, const char *disposition)
{
	call->end_status = status;
	call->client_code = client_code;
	call->retry_after_s = retry ? eng->admit.retry_after_s : 0;
	sb__set_str(call->end_cause, sizeof(call->end_cause), cause);
	sb__set_str(call->disposition, sizeof(call->disposition), disposition);
	call_apply(eng, call, SB_CI_REFUSE, cause, NULL);
}

/* CALL_ENDED for whoever follows calls on the bus (metrics, admin). */
static void post_ended(struct sb_engine *eng, const struct sb_call *call)
{
	struct sb_event ev = {.type = SB_EV_CALL_ENDED, .call = call->id};

	ev.arg[0] = call->end_status;
	sb__set_str(ev.str, sizeof(ev.str), call->end_cause);
	ev.text = strdup(call->disposition);
	sb_bus_post(eng->bus, &ev);
}

void sb__h_call_end(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_call *call = obj;

	call->end_us = sb_clock_now(eng->clock);
	sb__transfer_abandon(eng, call);
	for (unsigned i = 0; i < call->n_legs; i++)
		if (call->legs[i]->state != SB_LEG_ENDED)
			leg_apply(eng, call->legs[i], SB_LI_CLOSE, call->end_cause, NULL);
	if (call->counted) {
		sb__admit_release(&eng->admit, NULL);
		sb__admit_release(&eng->admit, call->in_trunk);
		sb__admit_release(&eng->admit, call->out_trunk);
		call->counted = false;
	}
	if (strcmp(call->end_cause, "resume_timeout") == 0)
		eng->m.calls_resume_timeout++;
	if (call->answer_us == 0 && strcmp(call->disposition, "cancelled") == 0)
		eng->m.calls_cancelled++;
	else if (call->answer_us == 0 && strcmp(call->disposition, "refused") != 0)
		eng->m.calls_failed++;
	sb_info("call ended: %s (%s, status %d)", call->disposition, call->end_cause,
		call->end_status);
	sb__cdr_emit(eng, call);
	post_ended(eng, call);
	sb__call_close(eng, call);
	sb__queue_call_ended(eng, call);
	sb__conf_call_ended(eng, call);
}

/* The response a caller gets when every callee failed (RFC 3261 section
 * 16.7 step 6, simplified): a 6xx, else busy, else the lowest 4xx, else the
 * lowest status seen. */
int sb__best_status(const struct sb_call *call, unsigned first)
{
	int best = 0, best4 = 0, six = 0, busy = 0;

	for (unsigned i = first; i < call->n_legs; i++) {
		int s = call->legs[i]->status;

		if (s >= 600 && !six)
			six = s;
		if (s == 486)
			busy = s;
		if (s >= 400 && s < 500 && s != 487 && (!best4 || s < best4))
			best4 = s;
		if (s >= 400 && (!best || s < best))
			best = s;
	}
	return six ? six : busy ? busy : best4 ? best4 : best ? best : 480;
}

static void check_forks(struct sb_engine *eng, struct sb_call *call)
{
	int status;

	for (unsigned i = 1; i < call->n_legs; i++)
		if (call->legs[i]->state != SB_LEG_ENDED)
			return;
	status = sb__best_status(call, 1);
	sb__call_end(eng, call, status, status == 486 || status == 600 ? "busy" : "callee_failed",
		     status == 486 || status == 600 ? "busy" : "failed");
}

/* The party ended its leg (hang-up, cancel, refusal, failure). */
void sb__h_leg_gone(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;
	struct sb_call *call = leg->call;

	bool transferring;

	if (a) {
		leg->status = a->status;
		sb__set_str(leg->cause, sizeof(leg->cause), a->cause);
	}
	/* First, so that an agent's transfer request is answered before its
	 * call.ended. */
	transferring = sb__transfer_leg_gone(eng, leg);
	if (a && a->tell && leg->kind == SB_LEG_CLIENT)
		send_ended(eng, leg,
			   json_pack("{s:s,s:s}", "call", call->wire_id, "reason", "hangup"));
	sb__leg_release(eng, leg);
	if (transferring)
		return;
	if (!leg->outbound) {
		call->ender = leg->id;
		if (from == SB_LEG_UP)
			sb__call_end(eng, call, 0,
				     a && a->call_cause ? a->call_cause : "caller_hangup",
				     "answered");
		else if (a && a->status == 487)
			sb__call_end(eng, call, 487, "caller_cancel", "cancelled");
		else
			sb__call_end(eng, call, a ? a->status : 500,
				     a && a->call_cause ? a->call_cause
				     : a		? a->cause
							: "failed",
				     "failed");
		return;
	}
	/* After a transfer the bridged pair need not include the caller. */
	if ((call->bridge.a == leg->id || call->bridge.b == leg->id) &&
	    call->state == SB_CALL_ANSWERED) {
		call->ender = leg->id;
		sb__call_end(eng, call, 0, a && a->call_cause ? a->call_cause : "callee_hangup",
			     "answered");
		return;
	}
	if (call->state == SB_CALL_ANSWERED)
		sb__queue_leg_gone(eng, leg); /* an agent missed a queue caller */
	else if (call->state != SB_CALL_ENDED)
		check_forks(eng, call);
}

static const char *client_end_reason(const struct sb_call *call, const struct sb_leg *leg)
{
	if (strcmp(call->end_cause, "ring_timeout") == 0 ||
	    strcmp(call->end_cause, "queue_timeout") == 0)
		return "timeout";
	if (strcmp(call->end_cause, "kicked") == 0)
		return "kicked"; /* removed from its conference by an admin */
	if (call->answer_us && (call->bridge.a == leg->id || call->bridge.b == leg->id))
		return "remote_hangup";
	if (call->answer_us || strcmp(call->disposition, "cancelled") == 0)
		return "cancelled";
	return "failed";
}

static void close_client(struct sb_engine *eng, struct sb_leg *leg, int from)
{
	struct sb_call *call = leg->call;
	const char *reason = client_end_reason(call, leg);
	struct sb_engine_error err;
	json_t *data;

	call_error(call, &err);
	if (leg->request >= 0) {
		/* The dial itself was refused: the error is its answer. */
		sb__client_reply(eng, leg->conn, leg->request, NULL, &err);
		leg->request = -1;
		return;
	}
	if (leg->outbound && from == SB_LEG_NEW)
		return; /* the browser never heard of this call */
	data = json_pack("{s:s,s:s}", "call", call->wire_id, "reason", reason);
	if (data &&
	    (strcmp(reason, "failed") == 0 || (!leg->outbound && strcmp(reason, "timeout") == 0)))
		json_object_set_new(data, "error", error_json(&err));
	if (data && leg->outbound && strcmp(call->end_cause, "answered_elsewhere") == 0 &&
	    strcmp(reason, "cancelled") == 0)
		json_object_set_new(data, "answered_elsewhere", json_true());
	send_ended(eng, leg, data);
}

static void close_sip(struct sb_engine *eng, struct sb_leg *leg, int from)
{
	const struct sb_engine_sip_ops *s = eng->ops.sip;
	struct sb_call *call = leg->call;
	void *ud = eng->ops.sip_ud;

	if (!s)
		return;
	if (from == SB_LEG_UP && s->bye)
		s->bye(ud, call->id, leg->id);
	else if (leg->outbound && (from == SB_LEG_CALLING || from == SB_LEG_RINGING) && s->cancel)
		s->cancel(ud, call->id, leg->id);
	else if (!leg->outbound && from != SB_LEG_UP && s->reject)
		s->reject(ud, call->id, leg->id, call->end_status >= 400 ? call->end_status : 500,
			  call->end_status == 503 ? call->retry_after_s : 0);
}

/* The engine ends the leg: the call is over or another device answered. */
void sb__h_leg_close(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_leg *leg = obj;

	sb__set_str(leg->cause, sizeof(leg->cause), leg->call->end_cause);
	if (leg->kind == SB_LEG_CLIENT)
		close_client(eng, leg, from);
	else
		close_sip(eng, leg, from);
	sb__leg_release(eng, leg);
}

/* The agent's leg after its party went to the transfer target. */
void sb__h_leg_transferred(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_leg *leg = obj;

	sb__set_str(leg->cause, sizeof(leg->cause), "transferred");
	if (leg->kind == SB_LEG_CLIENT)
		send_ended(eng, leg,
			   json_pack("{s:s,s:s}", "call", leg->call->wire_id, "reason",
				     "transferred"));
	else if (eng->ops.sip && eng->ops.sip->bye)
		eng->ops.sip->bye(eng->ops.sip_ud, leg->call->id, leg->id);
	sb__leg_release(eng, leg);
}

/* ---- progress and answer ---- */

static void tell_caller_progress(struct sb_engine *eng, struct sb_leg *caller, int status)
{
	struct sb_call *call = caller->call;
	const char *sdp = status == 183 ? caller->local_sdp : NULL;
	json_t *data;

	if (caller->kind == SB_LEG_SIP) {
		if (eng->ops.sip && eng->ops.sip->progress)
			eng->ops.sip->progress(eng->ops.sip_ud, call->id, caller->id,
					       sdp ? 183 : 180, sdp);
		return;
	}
	data = json_pack("{s:s,s:i}", "call", call->wire_id, "status", sdp ? 183 : 180);
	if (data && sdp)
		json_object_set_new(data, "sdp", json_string(sdp));
	sb__client_event(eng, caller->session, "call.progress", data);
}

void sb__h_leg_progress(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;
	int status = a && a->status ? a->status : 180;

	if (!leg->outbound) {
		tell_caller_progress(eng, leg, status);
		return;
	}
	if (a && a->sdp && *a->sdp && leg->kind == SB_LEG_SIP && eng->ops.media &&
	    eng->ops.media->update) {
		eng->ops.media->update(eng->ops.media_ud, leg->media, a->sdp);
		status = 183;
	}
	/* Early media: the caller hears this callee (not a transfer's target:
	 * the party is held until it answers). */
	if (status == 183 && !sb__transfer_target(leg) && !sb__queue_offer_leg(leg))
		bridge(eng, leg->call, leg);
	sb__transfer_target_ringing(eng, leg);
	call_apply(eng, leg->call, SB_CI_RING, "callee_progress",
		   &(struct sb_leg_arg){.status = status});
}

/* arg: the leg that rang, as a struct sb_leg_arg with status. */
void sb__h_call_ring(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_call *call = obj;
	struct sb_leg *caller = sb__call_caller(call);

	/* The caller hears ringing once; again only for early media. */
	if (from == SB_CALL_RINGING && (!a || a->status != 183))
		return;
	if (caller && caller->state != SB_LEG_ENDED)
		leg_apply(eng, caller, SB_LI_PROGRESS, "callee_ringing",
			  &(struct sb_leg_arg){.status = a ? a->status : 180});
}

static void answer_caller(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_leg *caller = sb__call_caller(call);

	if (caller && caller->local_sdp && caller->state != SB_LEG_UP &&
	    caller->state != SB_LEG_ENDED)
		leg_apply(eng, caller, SB_LI_ANSWER, "call_answered", NULL);
}

/* arg: the callee leg that answered, or NULL for the echo test. */
void sb__h_call_answer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_leg *winner = (struct sb_leg *)arg;
	struct sb_call *call = obj;

	call->answer_us = sb_clock_now(eng->clock);
	eng->m.calls_answered++;
	if (winner) {
		bridge(eng, call, winner);
		/* First answer wins: every other device stops ringing. */
		sb__set_str(call->end_cause, sizeof(call->end_cause), "answered_elsewhere");
		for (unsigned i = 1; i < call->n_legs; i++) {
			struct sb_leg *l = call->legs[i];
			if (l != winner && l->state != SB_LEG_ENDED)
				leg_apply(eng, l, SB_LI_CLOSE, "answered_elsewhere", NULL);
		}
		call->end_cause[0] = '\0';
	}
	answer_caller(eng, call);
}

/* arg: a struct sb_leg_arg with the callee's answer, or NULL. */
void sb__h_leg_answer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;
	struct sb_call *call = leg->call;
	json_t *data;

	leg->answer_us = sb_clock_now(eng->clock);
	if (leg->outbound) {
		/* The callee's answer goes to its media session first. */
		if (a && a->sdp && *a->sdp) {
			free(leg->remote_sdp);
			leg->remote_sdp = strdup(a->sdp);
			if (eng->ops.media && eng->ops.media->update)
				eng->ops.media->update(eng->ops.media_ud, leg->media, a->sdp);
		}
		call_apply(eng, call, SB_CI_ANSWER, "callee_answered", leg);
		return;
	}
	if (leg->kind == SB_LEG_SIP) {
		if (eng->ops.sip && eng->ops.sip->answer &&
		    eng->ops.sip->answer(eng->ops.sip_ud, call->id, leg->id, leg->local_sdp) < 0)
			sb__call_end(eng, call, 500, "sip_error", "failed");
		return;
	}
	data = json_pack("{s:s,s:s}", "call", call->wire_id, "sdp", leg->local_sdp);
	sb__client_event(eng, leg->session, "call.answered", data);
}

/* arg: a struct sb_leg_arg with the client's answer to our re-offer. */
void sb__h_leg_reanswer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;

	leg->reoffer = false;
	if (!a || !a->sdp || !*a->sdp)
		return;
	free(leg->remote_sdp);
	leg->remote_sdp = strdup(a->sdp);
	if (leg->media && eng->ops.media && eng->ops.media->update)
		eng->ops.media->update(eng->ops.media_ud, leg->media, a->sdp);
}

/* ---- media ready and placing callee legs ---- */

/* arg: a struct sb_leg_arg with the session's local description. */
void sb__h_leg_ready(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;
	struct sb_call *call = leg->call;

	if (a && a->sdp) {
		free(leg->local_sdp);
		leg->local_sdp = strdup(a->sdp);
	}

	if (from == SB_LEG_UP) {
		if (leg->kind == SB_LEG_CLIENT && leg->resume_sdp) {
			/* An ICE restart offer: the client answers it with
			 * call.answer (docs/protocol.md). */
			leg->resume_sdp = false;
			leg->reoffer = true;
			sb__client_event(eng, leg->session, "call.resumed",
					 json_pack("{s:s,s:s,s:s}", "call", call->wire_id, "state",
						   "answered", "sdp", leg->local_sdp));
		}
		return;
	}
	if (leg->outbound) {
		leg_apply(eng, leg, SB_LI_PLACE, "media_ready", NULL);
		return;
	}
	if (strcmp(call->action, "echo") == 0 && call->state == SB_CALL_PROCEEDING)
		call_apply(eng, call, SB_CI_ANSWER, "echo_ready", NULL);
	else if (strcmp(call->action, "queue") == 0 && call->state == SB_CALL_PROCEEDING) {
		/* A queue answers its caller at once, then holds it. */
		call_apply(eng, call, SB_CI_ANSWER, "queue_answer", NULL);
		sb__queue_caller_answered(eng, call);
	} else if (strcmp(call->action, "conference") == 0 && call->state == SB_CALL_PROCEEDING) {
		/* A conference answers its caller, then mixes it in. */
		call_apply(eng, call, SB_CI_ANSWER, "conference_answer", NULL);
		sb__conf_caller_answered(eng, call);
	} else if (call->state == SB_CALL_ANSWERED)
		answer_caller(eng, call);
}

void sb__h_leg_place(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_leg *leg = obj;
	struct sb_call *call = leg->call;
	int r = -ENOSYS;

	if (leg->kind == SB_LEG_SIP) {
		const struct sb_config_trunk *tr = sb_config_find_trunk(eng->cfg, leg->trunk);
		struct sb_engine_sip_target t = {
			.trunk = leg->trunk[0] ? leg->trunk : NULL,
			.uri = leg->party,
			/* [trunk] caller_id replaces the caller's number. */
			.from_user = tr && tr->caller_id && *tr->caller_id ? tr->caller_id
									   : call->caller,
			.from_display = call->caller_display,
			.caller_user = call->caller_user,
		};
		if (eng->ops.sip && eng->ops.sip->invite)
			r = eng->ops.sip->invite(eng->ops.sip_ud, call->id, leg->id, &t,
						 leg->local_sdp);
		if (r < 0)
			leg_apply(eng, leg, SB_LI_FAIL, "sip_error",
				  &(struct sb_leg_arg){.status = 500, .cause = "sip_error"});
		return;
	}
	sb__client_event(eng, leg->session, "call.incoming",
			 json_pack("{s:s,s:s,s:s,s:s}", "call", call->wire_id, "from", call->caller,
				   "display_name", call->caller_display, "sdp",
				   leg->local_sdp ? leg->local_sdp : ""));
	/* A browser rings as soon as it is told (the protocol has no ringing
	 * message): the caller hears ringing now. */
	leg_apply(eng, leg, SB_LI_PROGRESS, "client_alerted",
		  &(struct sb_leg_arg){.status = 180, .cause = "client_alerted"});
}

static struct sb_leg *add_callee(struct sb_engine *eng, struct sb_call *call, enum sb_leg_kind kind,
				 const char *party)
{
	struct sb_leg *leg = sb__leg_add(call, kind, true);

	if (!leg) {
		sb_warn("fork to %s skipped: %u legs already", party, call->n_legs);
		return NULL;
	}
	sb__set_str(leg->party, sizeof(leg->party), party);
	leg->start_us = sb_clock_now(eng->clock);
	return leg;
}

static gint session_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp((*(struct sb_session *const *)a)->id, (*(struct sb_session *const *)b)->id);
}

/* The user's attached browser sessions, in session id order (so that a
 * fork is reproducible), without the one of leg caller (the caller, or
 * the agent transferring). */
static GPtrArray *user_sessions(struct sb_engine *eng, const char *user,
				const struct sb_leg *caller, bool skip_away)
{
	GPtrArray *out = g_ptr_array_new();
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, eng->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sb_session *s = v;

		if (s->state == SB_SESSION_ATTACHED && strcmp(s->user, user) == 0 &&
		    !(skip_away && s->away) &&
		    !(caller->kind == SB_LEG_CLIENT && strcmp(caller->session, s->id) == 0))
			g_ptr_array_add(out, s);
	}
	g_ptr_array_sort(out, session_cmp);
	return out;
}

/* Forks to every device of user: browsers first (skip_away: but those
 * away), then registered phones. */
static int place_user(struct sb_engine *eng, struct sb_call *call, const char *user,
		      const struct sb_leg *exclude, bool skip_away)
{
	GPtrArray *sessions = user_sessions(eng, user, exclude, skip_away);
	const char *uris[MAX_CONTACTS];
	size_t n = 0;
	int placed = 0;

	for (guint i = 0; i < sessions->len; i++) {
		struct sb_session *s = sessions->pdata[i];
		struct sb_leg *leg = add_callee(eng, call, SB_LEG_CLIENT, user);

		if (!leg)
			break;
		sb__set_str(leg->session, sizeof(leg->session), s->id);
		sb__set_str(leg->user, sizeof(leg->user), user);
		leg->conn = s->conn;
		placed++;
	}
	g_ptr_array_free(sessions, TRUE);
	if (eng->ops.sip && eng->ops.sip->contacts)
		n = eng->ops.sip->contacts(eng->ops.sip_ud, user, uris, MAX_CONTACTS);
	/* uris stay valid until the next op: add_callee copies each. */
	for (size_t i = 0; i < n && i < MAX_CONTACTS; i++) {
		struct sb_leg *leg = add_callee(eng, call, SB_LEG_SIP, uris[i]);

		if (!leg)
			break;
		sb__set_str(leg->user, sizeof(leg->user), user);
		placed++;
	}
	return placed;
}

/* Creates the media sessions of the callee legs; each is signalled when its
 * session is ready (sb__h_leg_ready). A leg to a trunk gets the trunk's
 * media options for its offer. */
void sb__callees_start(struct sb_engine *eng, struct sb_call *call)
{
	for (unsigned i = 1; i < call->n_legs; i++) {
		struct sb_leg *leg = call->legs[i];
		enum sb_engine_media_kind k =
			leg->kind == SB_LEG_SIP ? SB_MEDIA_RTP : SB_MEDIA_WEBRTC;
		const struct sb_config_trunk *tr =
			leg->trunk[0] ? sb_config_find_trunk(eng->cfg, leg->trunk) : NULL;
		struct sb_engine_media_opts opts;

		if (tr)
			trunk_media_opts(tr, &opts);
		if (leg->state == SB_LEG_NEW &&
		    media_create(eng, leg, k, NULL, tr ? &opts : NULL) < 0)
			leg_apply(eng, leg, SB_LI_FAIL, "media_error",
				  &(struct sb_leg_arg){.status = 500, .cause = "media_error"});
	}
}

/* ---- a new call: admission, routing, placement ---- */

static const char *const verdict_cause[] = {"", "limit_calls", "limit_cps"};

/* Admission of a new call: draining, the bus, the limits in all and of the
 * trunk it came from. Returns false when the call was refused. */
static bool admit(struct sb_engine *eng, struct sb_call *call, uint64_t now)
{
	enum sb_admit_verdict v;

	if (eng->draining) {
		eng->m.calls_refused_overload++;
		refuse(eng, call, 503, 5001, true, "draining", "refused");
		return false;
	}
	if (sb_bus_admit(eng->bus) < 0) {
		eng->m.calls_refused_overload++;
		refuse(eng, call, 503, 3004, true, "overload", "refused");
		return false;
	}
	v = sb__admit_check(&eng->admit, NULL, now);
	if (v == SB_ADMIT_OK && call->in_trunk[0])
		v = sb__admit_check(&eng->admit, call->in_trunk, now);
	if (v != SB_ADMIT_OK) {
		eng->m.calls_refused_limit++;
		refuse(eng, call, 503, 3004, true, verdict_cause[v], "refused");
		return false;
	}
	return true;
}

static bool trunk_down_cb(const char *trunk, void *ud)
{
	struct sb_engine *eng = ud;

	return trunk && g_hash_table_contains(eng->trunks_down, trunk);
}

static void pick_refuse(struct sb_route_pick *ret, int status, int client_code, bool retry,
			const char *cause)
{
	ret->status = status;
	ret->client_code = client_code;
	ret->retry = retry;
	ret->cause = cause;
}

void sb__route_pick(struct sb_engine *eng, const char *user, const char *caller,
		    const char *destination, uint64_t now, struct sb_route_pick *ret)
{
	const struct sb_config_route *r;
	enum sb_admit_verdict v;
	bool skipped = false;

	*ret = (struct sb_route_pick){0};
	if (user && *user && !sb__may_dial(eng->cfg, user, destination))
		return pick_refuse(ret, 403, 3002, false, "not_allowed");
	r = sb__route_find_usable(eng->cfg, destination, caller, (int64_t)sb__engine_wall(eng, now),
				  trunk_down_cb, eng, &skipped);
	if (!r && skipped)
		return pick_refuse(ret, 503, 0, true, "trunk_down");
	if (!r)
		return pick_refuse(ret, 404, 0, false, "no_route");
	ret->route = r->name;
	ret->action = r->action;
	ret->target = r->target && *r->target ? r->target : destination;
	if (strcmp(r->action, "reject") == 0)
		return pick_refuse(ret, (int)r->status, 0, false, "route_reject");
	if (strcmp(r->action, "trunk") != 0)
		return;
	if (!sb_config_find_trunk(eng->cfg, ret->target))
		return pick_refuse(ret, 500, 0, false, "trunk_unknown");
	v = sb__admit_check(&eng->admit, ret->target, now);
	if (v != SB_ADMIT_OK)
		pick_refuse(ret, 503, 3004, true, verdict_cause[v]);
}

/* A conference refuses a caller before it is answered: 486 when the room
 * is full (RFC 3261 section 21.4.24: the callee cannot take another
 * call), 500 when the room is not configured or the media plane mixes
 * none. */
static bool route_conference(struct sb_engine *eng, struct sb_call *call)
{
	int r = sb__conf_check(eng, call->target);

	if (r == -EBUSY) {
		eng->m.conf_refused_full++;
		refuse(eng, call, 486, 0, false, "conference_full", "refused");
	} else if (r < 0) {
		refuse(eng, call, 500, 0, false,
		       r == -ENOSYS ? "conference_unsupported" : "conference_unknown", "failed");
	}
	return r == 0;
}

static bool route(struct sb_engine *eng, struct sb_call *call, uint64_t now)
{
	struct sb_route_pick p;

	if (call->account[0]) {
		if (call->caller_user[0] &&
		    !sb__may_dial(eng->cfg, call->caller_user, call->destination)) {
			eng->m.calls_not_allowed++;
			refuse(eng, call, 403, 3002, false, "not_allowed", "failed");
			return false;
		}
		/* A call to a user's upstream account (docs/sip.md) is that
		 * user's, like a call to their own name: no dialplan. */
		sb__set_str(call->route, sizeof(call->route), "account");
		sb__set_str(call->action, sizeof(call->action), "user");
		sb__set_str(call->target, sizeof(call->target), call->account);
		return true;
	}
	sb__route_pick(eng, call->caller_user, call->caller, call->destination, now, &p);
	if (p.route) {
		sb__set_str(call->route, sizeof(call->route), p.route);
		sb__set_str(call->action, sizeof(call->action), p.action);
		sb__set_str(call->target, sizeof(call->target), p.target);
	}
	if (p.status) {
		if (strcmp(p.cause, "not_allowed") == 0)
			eng->m.calls_not_allowed++;
		else if (strcmp(p.cause, "no_route") == 0)
			eng->m.calls_no_route++;
		else if (p.client_code == 3004)
			eng->m.calls_refused_limit++;
		refuse(eng, call, p.status, p.client_code, p.retry, p.cause,
		       p.client_code == 3004 ? "refused" : "failed");
		return false;
	}
	if (strcmp(p.action, "trunk") == 0)
		sb__set_str(call->out_trunk, sizeof(call->out_trunk), call->target);
	if (strcmp(p.action, "queue") == 0 && !sb__queue_has_room(eng, call->target)) {
		/* Refused before it is answered: the caller may try again. */
		refuse(eng, call, 503, 0, true, "queue_full", "refused");
		return false;
	}
	if (strcmp(p.action, "conference") == 0)
		return route_conference(eng, call);
	return true;
}

int sb__callees_add(struct sb_engine *eng, struct sb_call *call, const char *action,
		    const char *target, const char *destination, const struct sb_leg *exclude)
{
	struct sb_leg *leg;

	if (strcmp(action, "user") == 0)
		return place_user(eng, call, target, exclude, false);
	if (strcmp(action, "trunk") != 0 || !(leg = add_callee(eng, call, SB_LEG_SIP, destination)))
		return 0;
	sb__set_str(leg->trunk, sizeof(leg->trunk), target);
	return 1;
}

int sb__callees_add_agent(struct sb_engine *eng, struct sb_call *call, const char *user,
			  const struct sb_leg *exclude)
{
	return place_user(eng, call, user, exclude, true);
}

static void place(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_leg *caller = sb__call_caller(call);
	bool echo = strcmp(call->action, "echo") == 0;
	struct sb_engine_media_opts opts = {0};
	enum sb_engine_media_kind k;

	if (caller->kind == SB_LEG_CLIENT)
		k = echo ? SB_MEDIA_ECHO : SB_MEDIA_WEBRTC;
	else
		k = echo ? SB_MEDIA_RTP_ECHO : SB_MEDIA_RTP;
	/* Every member of a room lives on the room's media worker. */
	if (strcmp(call->action, "conference") == 0 &&
	    !(opts.affinity = sb__conf_enter(eng, call))) {
		sb__call_end(eng, call, 500, "media_error", "failed");
		return;
	}
	if (media_create(eng, caller, k, caller->remote_sdp, opts.affinity ? &opts : NULL) < 0) {
		sb__call_end(eng, call, 500, "media_error", "failed");
		return;
	}
	if (opts.affinity)
		return; /* answered when its media is ready, then joined */
	if (strcmp(call->action, "queue") == 0) {
		/* Answered when its media is ready, then offered to agents. */
		sb__queue_enter(eng, call);
		return;
	}
	if (sb__callees_add(eng, call, call->action, call->target, call->destination, caller) ==
		    0 &&
	    strcmp(call->action, "user") == 0) {
		sb__call_end(eng, call, sb_config_find_user(eng->cfg, call->target) ? 480 : 404,
			     "user_unavailable", "failed");
		return;
	}
	sb__callees_start(eng, call);
}

void sb__call_setup(struct sb_engine *eng, struct sb_call *call, const char *cause)
{
	struct sb_leg *caller = sb__call_caller(call);
	uint64_t now = sb_clock_now(eng->clock);

	SB_LOG_SCOPE(call->wire_id, NULL, "routing");
	caller->start_us = now;
	call_apply(eng, call, SB_CI_SETUP, cause, NULL);
	if (!admit(eng, call, now) || !route(eng, call, now))
		return;
	call->counted = true;
	sb__admit_take(&eng->admit, NULL, now, true);
	sb__admit_take(&eng->admit, call->in_trunk, now, true);
	sb__admit_take(&eng->admit, call->out_trunk, now, true);
	call_apply(eng, call, SB_CI_ROUTED, call->route, NULL);
	sb_info("call from %s to %s: route %s, %s %s", call->caller, call->destination, call->route,
		call->action, call->target);
	if (caller->kind == SB_LEG_CLIENT && caller->request >= 0) {
		sb__client_reply(eng, caller->conn, caller->request,
				 json_pack("{s:s}", "call", call->wire_id), NULL);
		caller->request = -1;
	}
	place(eng, call);
}
