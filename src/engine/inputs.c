/* Bus events into the engine: one handler per event type (a table), each
 * decoding the event's payload (docs/engine.md lists what is read) and
 * applying inputs to the call, leg and session machines. Control thread.
 * Owns the browser session table's entries. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "engine/engine_internal.h"
#include "log/log.h"

#define MAX_TEXT (1024 * 1024)

typedef void (*input_fn)(struct sb_engine *eng, const struct sb_event *ev);

static int leg_apply(struct sb_engine *eng, struct sb_leg *leg, int input, const char *cause,
		     const void *arg)
{
	return sb__fsm_apply(eng, &sb__leg_fsm, leg, &leg->state, input, leg->call->id, leg->id,
			     cause, arg);
}

static const char *ev_name(const struct sb_event *ev)
{
	const struct sb_event_desc *d = sb_event_desc((enum sb_event_type)ev->type);

	return d ? d->name : "?";
}

static void unknown(struct sb_engine *eng, const struct sb_event *ev)
{
	eng->m.unknown_events++;
	sb_debug("%s for no live call or leg (call %llu leg %u)", ev_name(ev),
		 (unsigned long long)ev->call, (unsigned)ev->leg);
}

/* The live leg an event names by (call, leg), or NULL (counted). */
static struct sb_leg *event_leg(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = sb__leg_find(sb__call_find(eng, ev->call), ev->leg);

	if (!leg || leg->state == SB_LEG_ENDED) {
		unknown(eng, ev);
		return NULL;
	}
	return leg;
}

static struct sb_leg *media_leg(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg && leg->media != (uint64_t)ev->arg[0]) {
		unknown(eng, ev);
		return NULL;
	}
	return leg;
}

/* The request's params. The signal server hands over the whole request
 * ({id, method, user, params}); a bare params object is accepted too. */
static json_t *ev_json(const struct sb_event *ev)
{
	json_error_t jerr;
	json_t *o, *params;

	if (!ev->text || strlen(ev->text) > MAX_TEXT)
		return NULL;
	o = json_loads(ev->text, JSON_REJECT_DUPLICATES, &jerr);
	params = json_object_get(o, "params");
	if (json_is_object(params)) {
		json_incref(params);
		json_decref(o);
		return params;
	}
	return o;
}

/* The params of a browser request: signalling hands the request as
 * {"id", "method", "user", "params": {...}}; a bare params object is taken
 * as it is. */
static json_t *ws_params(const struct sb_event *ev)
{
	json_t *root = ev_json(ev), *p = json_object_get(root, "params");

	if (!json_is_object(p))
		return root;
	json_incref(p);
	json_decref(root);
	return p;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void reply_error(struct sb_engine *eng, const struct sb_event *ev, int code)
{
	struct sb_engine_error err;

	sb__engine_error(code, &err);
	sb__client_reply(eng, (uint64_t)ev->arg[0], ev->arg[1], NULL, &err);
}

/* ---- browser sessions ---- */

void sb__session_free(gpointer session)
{
	struct sb_session *s = session;

	if (s->ended)
		g_ptr_array_free(s->ended, TRUE);
	free(s);
}

struct sb_session *sb__session_find(struct sb_engine *eng, const char *id)
{
	return g_hash_table_lookup(eng->sessions, id);
}

static int session_apply(struct sb_engine *eng, struct sb_session *s, int input, const char *cause,
			 const void *arg)
{
	int r = sb__fsm_apply(eng, &sb__session_fsm, s, &s->state, input, 0, 0, cause, arg);

	if (s->state == SB_SESSION_CLOSED)
		g_hash_table_remove(eng->sessions, s->id);
	return r;
}

static void on_ws_connected(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_session *s = sb__session_find(eng, ev->str);

	if (!ev->str[0])
		return;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		s->ended = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
		sb__set_str(s->id, sizeof(s->id), ev->str);
		g_hash_table_insert(eng->sessions, s->id, s);
		eng->m.sessions_attached++;
	}
	sb__set_str(s->user, sizeof(s->user), ev->text);
	s->conn = (uint64_t)ev->arg[0];
	/* A detached session that signalling reports connected again. */
	if (s->state == SB_SESSION_DETACHED)
		session_apply(eng, s, SB_SI_RESUME, "ws.connected", NULL);
	/* A queue agent may have come online. */
	sb__queue_dispatch(eng);
}

static void on_ws_disconnected(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_session *s = sb__session_find(eng, ev->str);

	if (!s)
		return unknown(eng, ev);
	if ((uint64_t)ev->arg[0] != s->conn && s->state == SB_SESSION_ATTACHED)
		return; /* an old connection, already replaced by a resume */
	session_apply(eng, s, ev->arg[1] ? SB_SI_DISCONNECT : SB_SI_END, "ws.disconnected",
		      "session_ended");
}

static void on_ws_resumed(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_session *s = sb__session_find(eng, ev->str);
	bool changed = ev->arg[1] != 0;

	if (!s)
		return unknown(eng, ev);
	s->conn = (uint64_t)ev->arg[0];
	session_apply(eng, s, SB_SI_RESUME, "ws.resumed", &changed);
}

static void on_ws_session_ended(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_session *s = sb__session_find(eng, ev->str);

	if (!s)
		return unknown(eng, ev);
	/* Signalling forgets a detached session when its resume window has
	 * passed (its sweep may run before our tick): that is the timeout. */
	if (s->state == SB_SESSION_DETACHED)
		session_apply(eng, s, SB_SI_EXPIRE, "ws.session_ended", "resume_timeout");
	else
		session_apply(eng, s, SB_SI_END, "ws.session_ended", "session_ended");
}

/* ---- browser call requests ---- */

static void on_ws_call_dial(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_session *s = sb__session_find(eng, ev->str);
	json_t *o = ws_params(ev);
	struct sb_call *call;
	struct sb_leg *leg;

	if (!o || !s || !*jstr(o, "to") || !*jstr(o, "sdp")) {
		json_decref(o);
		return reply_error(eng, ev, s ? 5000 : 3000);
	}
	call = sb__call_new(eng);
	leg = call ? sb__leg_add(call, SB_LEG_CLIENT, false) : NULL;
	if (!leg) {
		if (call)
			sb__call_end(eng, call, 500, "internal_error", "failed");
		json_decref(o);
		return reply_error(eng, ev, 5000);
	}
	sb__set_str(leg->party, sizeof(leg->party), s->user);
	sb__set_str(leg->session, sizeof(leg->session), s->id);
	leg->conn = (uint64_t)ev->arg[0];
	leg->request = ev->arg[1];
	leg->remote_sdp = strdup(jstr(o, "sdp"));
	sb__set_str(call->caller, sizeof(call->caller), s->user);
	sb__set_str(call->caller_user, sizeof(call->caller_user), s->user);
	sb__set_str(call->caller_display, sizeof(call->caller_display), jstr(o, "display_name"));
	sb__set_str(call->destination, sizeof(call->destination), jstr(o, "to"));
	json_decref(o);
	sb__call_setup(eng, call, "ws.call_dial");
}

/* The live leg of the session named by ev->str in the call its JSON names;
 * answers call_not_found when there is none. */
static struct sb_leg *session_leg(struct sb_engine *eng, const struct sb_event *ev, json_t *o)
{
	struct sb_call *call = o ? sb__call_find_wire(eng, jstr(o, "call")) : NULL;

	for (unsigned i = 0; call && i < call->n_legs; i++) {
		struct sb_leg *leg = call->legs[i];
		if (leg->kind == SB_LEG_CLIENT && leg->state != SB_LEG_ENDED &&
		    strcmp(leg->session, ev->str) == 0)
			return leg;
	}
	reply_error(eng, ev, 3001);
	return NULL;
}

static void reply_ok(struct sb_engine *eng, const struct sb_event *ev)
{
	sb__client_reply(eng, (uint64_t)ev->arg[0], ev->arg[1], json_object(), NULL);
}

static void on_ws_call_answer(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);

	/* The answer to an incoming call, or to our ICE restart offer of a
	 * call that is up (docs/protocol.md, call.resumed). */
	bool reanswer = leg && leg->state == SB_LEG_UP && leg->reoffer;

	if (leg && !reanswer &&
	    (!leg->outbound || (leg->state != SB_LEG_CALLING && leg->state != SB_LEG_RINGING))) {
		reply_error(eng, ev, 3001);
		leg = NULL;
	}
	if (leg) {
		reply_ok(eng, ev);
		leg_apply(eng, leg, reanswer ? SB_LI_REANSWER : SB_LI_ANSWER, "ws.call_answer",
			  &(struct sb_leg_arg){.sdp = jstr(o, "sdp")});
	}
	json_decref(o);
}

static void on_ws_call_hangup(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);

	json_decref(o);
	if (!leg)
		return;
	reply_ok(eng, ev);
	if (leg->state == SB_LEG_UP)
		leg_apply(eng, leg, SB_LI_HANGUP, "ws.call_hangup",
			  &(struct sb_leg_arg){.cause = "hangup", .tell = true});
	else if (!leg->outbound)
		leg_apply(eng, leg, SB_LI_CANCEL, "ws.call_hangup",
			  &(struct sb_leg_arg){.status = 487, .cause = "cancel", .tell = true});
	else
		/* A ringing browser that hangs up declines (RFC 3261 21.6.2). */
		leg_apply(eng, leg, SB_LI_FAIL, "ws.call_hangup",
			  &(struct sb_leg_arg){.status = 603, .cause = "declined", .tell = true});
}

/* Sends digits to party p in its media (RFC 4733) or, for a SIP party
 * through a trunk that wants them so ([trunk] dtmf = info or both), as SIP
 * INFO; both ways for "both". Phones registered to us and browsers take
 * RFC 4733. */
static void dtmf_out(struct sb_engine *eng, struct sb_leg *p, const char *digits, int ms)
{
	const struct sb_config_trunk *tr = p->kind == SB_LEG_SIP && p->trunk[0]
						   ? sb_config_find_trunk(eng->cfg, p->trunk)
						   : NULL;
	const char *mode = tr && tr->dtmf ? tr->dtmf : "rfc4733";
	int r;

	if (strcmp(mode, "rfc4733") != 0 && eng->ops.sip && eng->ops.sip->info_dtmf) {
		r = eng->ops.sip->info_dtmf(eng->ops.sip_ud, p->call->id, p->id, digits, ms);
		if (r < 0)
			sb_info("DTMF by INFO to leg %u not sent: %s", (unsigned)p->id,
				strerror(-r));
	}
	if (strcmp(mode, "info") != 0 && eng->ops.media && eng->ops.media->dtmf)
		eng->ops.media->dtmf(eng->ops.media_ud, p->media, digits, ms);
}

static void on_ws_call_dtmf(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);
	struct sb_leg *p = leg ? sb__leg_peer(leg) : NULL;
	json_int_t ms = json_integer_value(json_object_get(o, "duration_ms"));

	if (leg && !p)
		reply_error(eng, ev, 3001);
	if (p) {
		/* A browser party gets the digits in its media (the media
		 * plane sends them on its session) like a SIP one. */
		dtmf_out(eng, p, jstr(o, "digits"), ms > 0 ? (int)ms : 100);
		reply_ok(eng, ev);
	}
	json_decref(o);
}

/* call.hold: the browser holds or resumes the other party (hold.c); on an
 * echo call, its own echo. Answered when the hold took effect (for a SIP
 * party, once it answered our re-INVITE), or with the error. */
static void on_ws_call_hold(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);
	bool hold = json_is_true(json_object_get(o, "hold"));
	struct sb_leg *t = NULL;

	json_decref(o);
	if (!leg)
		return;
	if (sb__conf_call(leg->call) || leg->call->xfer.consult != SB_CONSULT_NONE) {
		/* No other party to hold: a member mutes itself. During a
		 * consultation the party is held already. */
		struct sb_engine_error err;

		if (sb__conf_call(leg->call))
			sb__conf_error("hold", &err);
		else
			sb__consult_busy_error(&err);
		sb__client_reply(eng, (uint64_t)ev->arg[0], ev->arg[1], NULL, &err);
		return;
	}
	if (leg->state == SB_LEG_UP)
		t = leg->media_kind == SB_MEDIA_ECHO ? leg : sb__leg_peer(leg);
	if (!t || t->state != SB_LEG_UP) {
		reply_error(eng, ev, 3000); /* not answered (yet) */
		return;
	}
	/* One change of the session at a time (RFC 3261 section 14.1): ours
	 * or the party's still under way is a 491 for this one. */
	if (t->hold_op.seq || t->offer_seq || t->answer.seq) {
		reply_error(eng, ev, 10491);
		return;
	}
	if (t->local_hold == hold) {
		reply_ok(eng, ev);
		return;
	}
	leg_apply(eng, t, SB_LI_HOLD, "ws.call_hold",
		  &(struct sb_leg_arg){
			  .status = hold, .conn = (uint64_t)ev->arg[0], .request = ev->arg[1]});
}

/* call.mute: a conference member mutes or unmutes itself in the room
 * (conf.c), so that the others see it; in a call of two the browser mutes
 * its own track, and nothing else offers this. */
static void on_ws_call_mute(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);
	bool mute = json_is_true(json_object_get(o, "mute"));
	struct sb_engine_error err;
	int r;

	json_decref(o);
	if (!leg)
		return;
	if (!sb__conf_call(leg->call)) {
		sb__engine_error(3000, &err);
		snprintf(err.message, sizeof(err.message),
			 "call.mute is for conference calls: mute the local track");
		sb__client_reply(eng, (uint64_t)ev->arg[0], ev->arg[1], NULL, &err);
		return;
	}
	r = sb__conf_member_mute(eng, leg->call, mute);
	if (r == -ENOENT)
		reply_error(eng, ev, 3000); /* not joined (yet) */
	else if (r < 0)
		reply_error(eng, ev, 5000);
	else
		reply_ok(eng, ev);
}

/* presence.set: the browser session is available to queues or away from
 * them (queue.c); direct calls are not affected. Becoming available may
 * let a waiting caller be offered to it at once. */
static void on_ws_presence_set(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_session *s = sb__session_find(eng, ev->str);
	json_t *o = ws_params(ev);
	const char *state = jstr(o, "state");
	bool away = strcmp(state, "away") == 0;

	if (!s || (!away && strcmp(state, "available") != 0)) {
		json_decref(o);
		return reply_error(eng, ev, s ? 5000 : 3000);
	}
	json_decref(o);
	if (s->away != away)
		sb_info("session %s is %s", s->id, away ? "away" : "available");
	s->away = away;
	reply_ok(eng, ev);
	if (!away)
		sb__queue_dispatch(eng);
}

static void on_ws_ice_candidate(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);

	if (leg) {
		if (leg->media && eng->ops.media && eng->ops.media->candidate)
			eng->ops.media->candidate(eng->ops.media_ud, leg->media,
						  jstr(o, "candidate"));
		reply_ok(eng, ev);
	}
	json_decref(o);
}

/* ---- SIP ---- */

static void on_sip_invite(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ev_json(ev);
	struct sb_call *call = sb__call_new(eng);
	struct sb_leg *leg = call ? sb__leg_add(call, SB_LEG_SIP, false) : NULL;
	const char *from;

	if (!leg || !eng->ops.sip || !eng->ops.sip->bind ||
	    eng->ops.sip->bind(eng->ops.sip_ud, (uint64_t)ev->arg[0], call->id, leg->id) < 0) {
		/* Nothing can answer it: SIP times the INVITE out. */
		sb_error("incoming INVITE dropped: cannot bind it");
		if (call)
			sb__call_end(eng, call, 500, "bind_failed", "failed");
		json_decref(o);
		return;
	}
	from = jstr(o, "user")[0] ? jstr(o, "user") : jstr(o, "from");
	sb__set_str(leg->party, sizeof(leg->party), from);
	sb__set_str(leg->trunk, sizeof(leg->trunk), jstr(o, "trunk"));
	leg->remote_sdp = strdup(jstr(o, "sdp"));
	sb__set_str(call->caller, sizeof(call->caller), from);
	sb__set_str(call->caller_user, sizeof(call->caller_user), jstr(o, "user"));
	sb__set_str(call->caller_display, sizeof(call->caller_display), jstr(o, "display_name"));
	sb__set_str(call->in_trunk, sizeof(call->in_trunk), jstr(o, "trunk"));
	sb__set_str(call->account, sizeof(call->account), jstr(o, "account"));
	sb__set_str(call->destination, sizeof(call->destination), ev->str);
	json_decref(o);
	sb__call_setup(eng, call, "sip.invite");
}

static void on_sip_progress(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg)
		leg_apply(eng, leg, SB_LI_PROGRESS, "sip.progress",
			  &(struct sb_leg_arg){.status = (int)ev->arg[0], .sdp = ev->text});
}

static void on_sip_answered(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (!leg) {
		/* A 200 OK that crossed our CANCEL: end that dialog. */
		if (eng->ops.sip && eng->ops.sip->bye && sb__call_find(eng, ev->call) == NULL)
			eng->ops.sip->bye(eng->ops.sip_ud, ev->call, ev->leg);
		return;
	}
	leg_apply(eng, leg, SB_LI_ANSWER, "sip.answered", &(struct sb_leg_arg){.sdp = ev->text});
}

static void on_sip_failed(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg)
		leg_apply(eng, leg, SB_LI_FAIL, "sip.failed",
			  &(struct sb_leg_arg){.status = (int)ev->arg[0],
					       .cause = ev->str[0] ? ev->str : "sip_failed"});
}

static void on_sip_bye(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);
	/* A session that expired unrefreshed (RFC 4028 section 10) ends the
	 * call with that cause instead of a hang-up's. */
	bool expired = strcmp(ev->str, "session_expired") == 0;

	if (leg)
		leg_apply(eng, leg, SB_LI_HANGUP, "sip.bye",
			  &(struct sb_leg_arg){.cause = expired ? ev->str : "bye",
					       .call_cause = expired ? ev->str : NULL});
}

/* The party's new offer (re-INVITE or UPDATE with SDP: hold, resume, a new
 * address or codec). SIP waits for the answer: on a leg that is up, media
 * makes it (reoffer.c); otherwise it is refused at once, 488 when there is
 * nothing to renegotiate yet, 500 when the call is gone, rather than SIP
 * timing out. */
static void on_sip_reinvite(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg && leg->hold_op.seq) {
		/* Our own offer is out (RFC 3261 section 14.2). */
		if (eng->ops.sip && eng->ops.sip->reanswer)
			eng->ops.sip->reanswer(eng->ops.sip_ud, ev->call, ev->leg, 491, NULL);
		return;
	}
	if (leg && leg->state == SB_LEG_UP) {
		leg_apply(eng, leg, SB_LI_REOFFER, "sip.reinvite",
			  &(struct sb_leg_arg){.status = (int)ev->arg[0], .sdp = ev->text});
		return;
	}
	if (eng->ops.sip && eng->ops.sip->reanswer)
		eng->ops.sip->reanswer(eng->ops.sip_ud, ev->call, ev->leg, leg ? 488 : 500, NULL);
}

/* What became of the waiting offer: our answer sent (200), or answered by
 * SIP itself (487 to the party's CANCEL, 500 after its timeout, nua's
 * error): only a leg with an offer out or an answer kept has anything to
 * apply or undo. */
static void on_sip_reoffer_gone(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg && leg->state == SB_LEG_UP && (leg->offer_seq || leg->answer.seq))
		leg_apply(eng, leg, SB_LI_REOFFER_GONE, "sip.reoffer_gone",
			  &(struct sb_leg_arg){.status = (int)ev->arg[0], .cause = ev->str});
}

/* The party's response to our re-INVITE (hold.c). */
static void on_sip_reinvite_result(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg && leg->state == SB_LEG_UP && leg->hold_op.offer)
		leg_apply(eng, leg, SB_LI_HOLD_RESULT, "sip.reinvite_result",
			  &(struct sb_leg_arg){.status = (int)ev->arg[0], .sdp = ev->text});
}

static void on_sip_cancel(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg)
		leg_apply(eng, leg, SB_LI_CANCEL, "sip.cancel",
			  &(struct sb_leg_arg){.status = 487, .cause = "cancel"});
}

static void send_dtmf(struct sb_engine *eng, struct sb_leg *from, const char *digits, int ms)
{
	struct sb_leg *p = sb__leg_peer(from);

	if (!p)
		return;
	if (p->kind == SB_LEG_CLIENT)
		sb__client_event(eng, p->session, "call.dtmf",
				 json_pack("{s:s,s:s,s:i}", "call", p->call->wire_id, "digit",
					   digits, "duration_ms", ms));
	else
		dtmf_out(eng, p, digits, ms);
}

/* The party's digit by SIP INFO: on like one in its media (arg0 its
 * duration, 0 when the INFO gave none). */
static void on_sip_dtmf(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg)
		send_dtmf(eng, leg, ev->str, ev->arg[0] > 0 ? (int)ev->arg[0] : 100);
}

/* The party's MESSAGE in the dialog (SIP answered it 200). */
static void on_sip_message(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg)
		sb__chat_relay(eng, leg, ev->text);
}

static void on_sip_message_result(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = event_leg(eng, ev);

	if (leg)
		sb__chat_result(eng, leg, (int)ev->arg[0], (uint64_t)ev->arg[1]);
}

/* The SIP plane's OPTIONS keepalive found a trunk up or down: routing
 * passes over down trunks (route.c). */
static void on_sip_trunk_state(struct sb_engine *eng, const struct sb_event *ev)
{
	if (ev->arg[0])
		g_hash_table_remove(eng->trunks_down, ev->str);
	else
		g_hash_table_add(eng->trunks_down, g_strdup(ev->str));
}

/* ---- media ---- */

static void on_media_ready(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (leg)
		leg_apply(eng, leg, SB_LI_MEDIA_READY, "media.ready",
			  &(struct sb_leg_arg){.sdp = ev->text ? ev->text : ""});
}

static void on_media_connected(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (leg && ev->str[0])
		sb__set_str(leg->codec, sizeof(leg->codec), ev->str);
}

static void on_media_failed(struct sb_engine *eng, const struct sb_event *ev)
{
	static const char *const causes[] = {
		[SB_MEDIA_FAIL_OTHER] = "media_failed",
		[SB_MEDIA_FAIL_NO_CODEC] = "no_common_codec",
		[SB_MEDIA_FAIL_SRTP] = "srtp_refused",
	};
	struct sb_leg *leg = media_leg(eng, ev);
	int64_t why = ev->arg[2];
	const char *cause = why > 0 && why < _SB_MEDIA_FAIL_MAX ? causes[why] : causes[0];

	if (!leg)
		return;
	if (sb__consult_target(leg)) {
		/* The target the agent consults: as if it hung up. */
		leg_apply(eng, leg, SB_LI_FAIL, cause,
			  &(struct sb_leg_arg){.status = 488, .cause = cause});
		return;
	}
	if (sb__transfer_target(leg)) {
		/* A transfer's target: the agent is back with the party. */
		sb__transfer_target_failed(eng, leg, 488, cause);
		return;
	}
	if (sb__queue_offer_leg(leg)) {
		/* An agent's device: the agent missed the caller, who waits. */
		leg_apply(eng, leg, SB_LI_FAIL, cause,
			  &(struct sb_leg_arg){.status = 488, .cause = cause});
		return;
	}
	if (why == SB_MEDIA_FAIL_NO_CODEC && leg->outbound && leg->state == SB_LEG_NEW) {
		/* A callee's offer that cannot be made (its trunk takes none
		 * of the codecs we have): that callee fails as a 488 from it
		 * would, and the other forks go on. */
		leg_apply(eng, leg, SB_LI_FAIL, cause,
			  &(struct sb_leg_arg){.status = 488, .cause = cause});
		return;
	}
	sb__call_end(eng, leg->call, leg->state == SB_LEG_UP ? 0 : 488, cause,
		     leg->call->answer_us ? "answered" : "failed");
}

/* Media's answer to the party's new offer, or its refusal; one for an
 * offer that is no longer waiting (SIP answered it 500 after its timeout,
 * or a later offer came) is dropped. */
static void on_media_reanswer(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (!leg)
		return;
	if (!leg->offer_seq || (uint64_t)ev->arg[2] != leg->offer_seq) {
		sb_debug("leg %u: a stale answer to offer %lld dropped", (unsigned)leg->id,
			 (long long)ev->arg[2]);
		return;
	}
	leg_apply(
		eng, leg, SB_LI_REOFFER_ANSWER, "media.reanswer",
		&(struct sb_leg_arg){.error = (int)ev->arg[1], .sdp = ev->text, .cause = ev->str});
}

/* Media's offer for our hold or resume (hold.c); a stale one (another
 * number) is dropped. */
static void on_media_offer(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (!leg || !leg->hold_op.seq || leg->hold_op.offer ||
	    (uint64_t)ev->arg[2] != leg->hold_op.seq) {
		sb_debug("a stale media.offer %lld dropped", (long long)ev->arg[2]);
		return;
	}
	leg_apply(
		eng, leg, SB_LI_HOLD_OFFER, "media.offer",
		&(struct sb_leg_arg){.error = (int)ev->arg[1], .sdp = ev->text, .cause = ev->str});
}

static void on_media_candidate(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (leg && leg->kind == SB_LEG_CLIENT)
		sb__client_event(eng, leg->session, "call.ice",
				 json_pack("{s:s,s:s}", "call", leg->call->wire_id, "candidate",
					   ev->text ? ev->text : ""));
}

static void on_media_dtmf(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (leg)
		send_dtmf(eng, leg, ev->str, ev->arg[1] > 0 ? (int)ev->arg[1] : 100);
}

/* What the browser sent on its data channel. */
static void on_media_chat(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);

	if (leg)
		sb__chat_relay(eng, leg, ev->text);
}

static void on_media_stats(struct sb_engine *eng, const struct sb_event *ev)
{
	struct sb_leg *leg = media_leg(eng, ev);
	json_t *o;

	if (!leg)
		return;
	leg->quality.has = true;
	leg->quality.packets_lost = ev->arg[1];
	leg->quality.jitter_us = ev->arg[2];
	leg->quality.rtt_us = ev->arg[3];
	leg->quality.mos = strtod(ev->str, NULL);
	o = ev_json(ev);
	if (o && *jstr(o, "codec"))
		sb__set_str(leg->codec, sizeof(leg->codec), jstr(o, "codec"));
	json_decref(o);
}

/* ---- system ---- */

static void on_sys_tick(struct sb_engine *eng, const struct sb_event *ev)
{
	sb_engine_tick(eng);
}

static void on_sys_drain(struct sb_engine *eng, const struct sb_event *ev)
{
	sb_engine_drain(eng);
}

/* call.transfer: the agent's party goes to `to` (transfer.c); answered
 * when the target answered (or failed), or at once with a refusal. Without
 * `to`, it completes the agent's consultation. */
static void on_ws_call_transfer(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);

	if (leg && !*jstr(o, "to"))
		sb__consult_complete_request(eng, leg, (uint64_t)ev->arg[0], ev->arg[1]);
	else if (leg)
		sb__transfer_request(eng, leg, jstr(o, "to"), false, (uint64_t)ev->arg[0],
				     ev->arg[1]);
	json_decref(o);
}

/* call.consult: the agent talks with `to` first, its party held
 * (transfer.c); answered when the target answered (or failed). */
static void on_ws_call_consult(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);

	if (leg && !*jstr(o, "to"))
		reply_error(eng, ev, 5000);
	else if (leg)
		sb__transfer_request(eng, leg, jstr(o, "to"), true, (uint64_t)ev->arg[0],
				     ev->arg[1]);
	json_decref(o);
}

/* call.consult_end: the target leaves, the party is back (transfer.c). */
static void on_ws_call_consult_end(struct sb_engine *eng, const struct sb_event *ev)
{
	json_t *o = ws_params(ev);
	struct sb_leg *leg = session_leg(eng, ev, o);

	if (leg)
		sb__consult_end_request(eng, leg, (uint64_t)ev->arg[0], ev->arg[1]);
	json_decref(o);
}

static const input_fn inputs[_SB_EV_MAX] = {
	[SB_EV_WS_CONNECTED] = on_ws_connected,
	[SB_EV_WS_DISCONNECTED] = on_ws_disconnected,
	[SB_EV_WS_RESUMED] = on_ws_resumed,
	[SB_EV_WS_SESSION_ENDED] = on_ws_session_ended,
	[SB_EV_WS_CALL_DIAL] = on_ws_call_dial,
	[SB_EV_WS_CALL_ANSWER] = on_ws_call_answer,
	[SB_EV_WS_CALL_HANGUP] = on_ws_call_hangup,
	[SB_EV_WS_CALL_DTMF] = on_ws_call_dtmf,
	[SB_EV_WS_CALL_HOLD] = on_ws_call_hold,
	[SB_EV_WS_CALL_MUTE] = on_ws_call_mute,
	[SB_EV_WS_PRESENCE_SET] = on_ws_presence_set,
	[SB_EV_WS_CALL_TRANSFER] = on_ws_call_transfer,
	[SB_EV_WS_CALL_CONSULT] = on_ws_call_consult,
	[SB_EV_WS_CALL_CONSULT_END] = on_ws_call_consult_end,
	[SB_EV_WS_ICE_CANDIDATE] = on_ws_ice_candidate,
	[SB_EV_SIP_INVITE] = on_sip_invite,
	[SB_EV_SIP_PROGRESS] = on_sip_progress,
	[SB_EV_SIP_ANSWERED] = on_sip_answered,
	[SB_EV_SIP_FAILED] = on_sip_failed,
	[SB_EV_SIP_BYE] = on_sip_bye,
	[SB_EV_SIP_CANCEL] = on_sip_cancel,
	[SB_EV_SIP_REINVITE] = on_sip_reinvite,
	[SB_EV_SIP_REOFFER_GONE] = on_sip_reoffer_gone,
	[SB_EV_SIP_REINVITE_RESULT] = on_sip_reinvite_result,
	[SB_EV_SIP_DTMF] = on_sip_dtmf,
	[SB_EV_SIP_TRUNK_STATE] = on_sip_trunk_state,
	[SB_EV_SIP_MESSAGE] = on_sip_message,
	[SB_EV_SIP_MESSAGE_RESULT] = on_sip_message_result,
	[SB_EV_MEDIA_READY] = on_media_ready,
	[SB_EV_MEDIA_CONNECTED] = on_media_connected,
	[SB_EV_MEDIA_FAILED] = on_media_failed,
	[SB_EV_MEDIA_CANDIDATE] = on_media_candidate,
	[SB_EV_MEDIA_DTMF] = on_media_dtmf,
	[SB_EV_MEDIA_STATS] = on_media_stats,
	[SB_EV_MEDIA_CHAT] = on_media_chat,
	[SB_EV_MEDIA_REANSWER] = on_media_reanswer,
	[SB_EV_MEDIA_OFFER] = on_media_offer,
	[SB_EV_SYS_TICK] = on_sys_tick,
	[SB_EV_SYS_DRAIN] = on_sys_drain,
};

static void on_event_cb(const struct sb_event *ev, void *ud)
{
	struct sb_engine *eng = ud;
	struct sb_call *call = sb__call_find(eng, ev->call);
	SB_LOG_SCOPE(call ? call->wire_id : NULL, NULL, ev_name(ev));

	inputs[ev->type](eng, ev);
}

void sb__inputs_subscribe(struct sb_engine *eng)
{
	for (int t = 0; t < _SB_EV_MAX; t++)
		if (inputs[t])
			sb_bus_subscribe(eng->bus, (enum sb_event_type)t, on_event_cb, eng);
}

/* ---- session transitions ---- */

/* Calls with a live leg of session s, oldest first, each with a reference. */
static GPtrArray *session_calls(struct sb_engine *eng, const struct sb_session *s)
{
	GPtrArray *all = sb__calls_sorted(eng), *out = g_ptr_array_new();

	for (guint k = 0; k < all->len; k++) {
		struct sb_call *call = all->pdata[k];
		for (unsigned i = 0; i < call->n_legs; i++) {
			struct sb_leg *leg = call->legs[i];
			if (leg->kind == SB_LEG_CLIENT && leg->state != SB_LEG_ENDED &&
			    strcmp(leg->session, s->id) == 0) {
				g_ptr_array_add(out, sb__call_ref(call));
				break;
			}
		}
	}
	sb__calls_release(all);
	return out;
}

static struct sb_leg *session_leg_of(struct sb_call *call, const struct sb_session *s)
{
	for (unsigned i = 0; i < call->n_legs; i++)
		if (call->legs[i]->kind == SB_LEG_CLIENT && call->legs[i]->state != SB_LEG_ENDED &&
		    strcmp(call->legs[i]->session, s->id) == 0)
			return call->legs[i];
	return NULL;
}

void sb__h_session_detach(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	struct sb_session *s = obj;

	s->detached_at = sb_clock_now(eng->clock);
	eng->m.sessions_detached++;
	sb_info("session %s detached: calls kept for %lld ms", s->id,
		(long long)eng->cfg->http.resume_window_ms);
}

void sb__h_session_resume(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const bool *changed = arg;
	struct sb_session *s = obj;
	GPtrArray *calls = session_calls(eng, s);
	json_t *data;

	for (guint i = 0; i < s->ended->len; i++)
		sb__client_event(eng, s->id, "call.ended", json_incref(s->ended->pdata[i]));
	g_ptr_array_set_size(s->ended, 0);

	for (guint i = 0; i < calls->len; i++) {
		struct sb_call *call = calls->pdata[i];
		struct sb_leg *leg = session_leg_of(call, s);

		if (!leg)
			continue;
		leg->conn = s->conn;
		if (changed && *changed && leg->state == SB_LEG_UP && leg->media &&
		    eng->ops.media && eng->ops.media->ice_restart &&
		    eng->ops.media->ice_restart(eng->ops.media_ud, leg->media) == 0) {
			leg->resume_sdp = true; /* call.resumed follows MEDIA_READY */
			sb__conf_resumed(eng, call);
			continue;
		}
		data = json_pack("{s:s,s:s}", "call", call->wire_id, "state",
				 sb__fsm_state_name(&sb__call_fsm, call->state));
		/* A device that was ringing gets the offer again to answer, and
		 * so does one that had not answered our ICE restart offer. */
		if (data && leg->local_sdp &&
		    ((leg->outbound && leg->state != SB_LEG_UP) || leg->reoffer))
			json_object_set_new(data, "sdp", json_string(leg->local_sdp));
		sb__client_event(eng, s->id, "call.resumed", data);
		sb__conf_resumed(eng, call);
	}
	sb__calls_release(calls);
}

/* arg: the cause ("resume_timeout", "session_ended"). Ends the calls the
 * session took part in; a device that was only ringing leaves the fork. */
void sb__h_session_close(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const char *cause = arg ? arg : "session_ended";
	struct sb_session *s = obj;
	GPtrArray *calls = session_calls(eng, s);

	for (guint i = 0; i < calls->len; i++) {
		struct sb_call *call = calls->pdata[i];
		struct sb_leg *leg = session_leg_of(call, s);

		if (!leg || call->state == SB_CALL_ENDED)
			continue;
		/* The browser is gone: its leg ends as if it had hung up (or
		 * left the fork), and nothing more is sent to it. */
		leg_apply(eng, leg, leg->state == SB_LEG_UP ? SB_LI_HANGUP : SB_LI_FAIL, cause,
			  &(struct sb_leg_arg){.status = 480, .cause = cause, .call_cause = cause});
	}
	sb__calls_release(calls);
}

void sb__session_expire_due(struct sb_engine *eng, uint64_t now)
{
	uint64_t window = (uint64_t)eng->cfg->http.resume_window_ms * 1000;
	GPtrArray *due = g_ptr_array_new();
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, eng->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sb_session *s = v;
		if (s->state == SB_SESSION_DETACHED && now - s->detached_at >= window)
			g_ptr_array_add(due, s);
	}
	for (guint i = 0; i < due->len; i++)
		session_apply(eng, due->pdata[i], SB_SI_EXPIRE, "resume_timeout", "resume_timeout");
	g_ptr_array_free(due, TRUE);
}
