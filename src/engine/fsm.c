/* The engine's state machines as tables, and the one apply function that
 * checks every transition, posts it on the bus as CALL_STATE and runs its
 * handler. Control thread. Owns nothing. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdlib.h>

#include "core/macros.h"
#include "core/strbuf.h"
#include "engine/engine_internal.h"
#include "log/log.h"

/* ---- call: caller in, routing, callees ringing, answered, ended ---- */

static const char *const call_states[] = {"init",    "routing",	 "proceeding",
					  "ringing", "answered", "ended"};
static const char *const call_inputs[] = {"setup",  "routed", "refuse",	 "ring",
					  "answer", "end",    "transfer"};

#define C(s, i, h, n)                                                                              \
	{                                                                                          \
		SB_CALL_##s, SB_CI_##i, h, SB_CALL_##n                                             \
	}
static const struct sb_fsm_row call_rows[] = {
	C(INIT, SETUP, NULL, ROUTING),
	C(INIT, END, sb__h_call_end, ENDED),
	C(ROUTING, ROUTED, NULL, PROCEEDING),
	C(ROUTING, REFUSE, sb__h_call_end, ENDED),
	C(ROUTING, END, sb__h_call_end, ENDED),
	C(PROCEEDING, RING, sb__h_call_ring, RINGING),
	C(PROCEEDING, ANSWER, sb__h_call_answer, ANSWERED),
	C(PROCEEDING, END, sb__h_call_end, ENDED),
	C(RINGING, RING, sb__h_call_ring, RINGING),
	C(RINGING, ANSWER, sb__h_call_answer, ANSWERED),
	C(RINGING, END, sb__h_call_end, ENDED),
	C(ANSWERED, END, sb__h_call_end, ENDED),
	/* A blind transfer (transfer.c): the party held, new callee legs
	 * placed in the same call; they ring (nothing to relay: the party is
	 * held) and the first answer is bridged to the party. A queue
	 * (queue.c) answers its caller first and rings agents the same way. */
	C(ANSWERED, TRANSFER, sb__h_call_transfer, ANSWERED),
	C(ANSWERED, RING, NULL, ANSWERED),
	C(ANSWERED, ANSWER, sb__h_call_join, ANSWERED),
};
#undef C

const struct sb_fsm_def sb__call_fsm = {
	.machine = SB_FSM_CALL,
	.name = "call",
	.states = call_states,
	.n_states = _SB_CALL_STATE_MAX,
	.inputs = call_inputs,
	.n_inputs = _SB_CI_MAX,
	.rows = call_rows,
	.n_rows = SB_ARRAY_SIZE(call_rows),
};

/* ---- leg: media, signalled, ringing, up, ended ---- */

static const char *const leg_states[] = {"new", "ready", "calling", "ringing", "up", "ended"};
static const char *const leg_inputs[] = {
	"media_ready", "place",	     "progress",    "answer",	  "hangup",	    "fail",
	"cancel",      "close",	     "reanswer",    "reoffer",	  "reoffer_answer", "reoffer_gone",
	"hold",	       "hold_offer", "hold_result", "transferred"};

#define L(s, i, h, n)                                                                              \
	{                                                                                          \
		SB_LEG_##s, SB_LI_##i, h, SB_LEG_##n                                               \
	}
static const struct sb_fsm_row leg_rows[] = {
	L(NEW, MEDIA_READY, sb__h_leg_ready, READY),
	L(READY, PLACE, sb__h_leg_place, CALLING),
	/* The caller's leg relays ringing whether or not its media is ready. */
	L(NEW, PROGRESS, sb__h_leg_progress, RINGING),
	L(READY, PROGRESS, sb__h_leg_progress, RINGING),
	L(CALLING, PROGRESS, sb__h_leg_progress, RINGING),
	L(RINGING, PROGRESS, sb__h_leg_progress, RINGING),
	/* A provisional response can be dispatched after the 200 OK (it
	 * travels in a lower bus lane): stale, ignored. */
	L(UP, PROGRESS, NULL, UP),
	/* The caller's media may become ready after it heard ringing. */
	L(RINGING, MEDIA_READY, sb__h_leg_ready, RINGING),
	/* A new local description of a live leg (ICE restart). */
	L(UP, MEDIA_READY, sb__h_leg_ready, UP),
	/* The client's answer to that re-offer. */
	L(UP, REANSWER, sb__h_leg_reanswer, UP),
	/* The SIP party's new offer (re-INVITE, UPDATE) and media's answer. */
	L(UP, REOFFER, sb__h_leg_reoffer, UP),
	L(UP, REOFFER_ANSWER, sb__h_leg_reoffer_answer, UP),
	L(UP, REOFFER_GONE, sb__h_leg_reoffer_gone, UP),
	/* Our own hold or resume: media's offer, then the party's answer. */
	L(UP, HOLD, sb__h_leg_hold, UP),
	L(UP, HOLD_OFFER, sb__h_leg_hold_offer, UP),
	L(UP, HOLD_RESULT, sb__h_leg_hold_result, UP),
	/* The agent's leg once its party was transferred. */
	L(UP, TRANSFERRED, sb__h_leg_transferred, ENDED),
	L(READY, ANSWER, sb__h_leg_answer, UP),
	L(CALLING, ANSWER, sb__h_leg_answer, UP),
	L(RINGING, ANSWER, sb__h_leg_answer, UP),
	L(NEW, FAIL, sb__h_leg_gone, ENDED),
	L(READY, FAIL, sb__h_leg_gone, ENDED),
	L(CALLING, FAIL, sb__h_leg_gone, ENDED),
	L(RINGING, FAIL, sb__h_leg_gone, ENDED),
	L(UP, FAIL, sb__h_leg_gone, ENDED),
	L(NEW, CANCEL, sb__h_leg_gone, ENDED),
	L(READY, CANCEL, sb__h_leg_gone, ENDED),
	L(CALLING, CANCEL, sb__h_leg_gone, ENDED),
	L(RINGING, CANCEL, sb__h_leg_gone, ENDED),
	L(UP, HANGUP, sb__h_leg_gone, ENDED),
	L(NEW, CLOSE, sb__h_leg_close, ENDED),
	L(READY, CLOSE, sb__h_leg_close, ENDED),
	L(CALLING, CLOSE, sb__h_leg_close, ENDED),
	L(RINGING, CLOSE, sb__h_leg_close, ENDED),
	L(UP, CLOSE, sb__h_leg_close, ENDED),
};
#undef L

const struct sb_fsm_def sb__leg_fsm = {
	.machine = SB_FSM_LEG,
	.name = "leg",
	.states = leg_states,
	.n_states = _SB_LEG_STATE_MAX,
	.inputs = leg_inputs,
	.n_inputs = _SB_LI_MAX,
	.rows = leg_rows,
	.n_rows = SB_ARRAY_SIZE(leg_rows),
};

/* ---- browser session: attached, detached within the resume window ---- */

static const char *const session_states[] = {"attached", "detached", "closed"};
static const char *const session_inputs[] = {"disconnect", "resume", "expire", "end"};

#define S(s, i, h, n)                                                                              \
	{                                                                                          \
		SB_SESSION_##s, SB_SI_##i, h, SB_SESSION_##n                                       \
	}
static const struct sb_fsm_row session_rows[] = {
	S(ATTACHED, DISCONNECT, sb__h_session_detach, DETACHED),
	S(DETACHED, RESUME, sb__h_session_resume, ATTACHED),
	/* Resumed before signalling noticed the old socket was gone. */
	S(ATTACHED, RESUME, sb__h_session_resume, ATTACHED),
	S(DETACHED, EXPIRE, sb__h_session_close, CLOSED),
	S(ATTACHED, END, sb__h_session_close, CLOSED),
	S(DETACHED, END, sb__h_session_close, CLOSED),
};
#undef S

const struct sb_fsm_def sb__session_fsm = {
	.machine = SB_FSM_SESSION,
	.name = "session",
	.states = session_states,
	.n_states = _SB_SESSION_STATE_MAX,
	.inputs = session_inputs,
	.n_inputs = _SB_SI_MAX,
	.rows = session_rows,
	.n_rows = SB_ARRAY_SIZE(session_rows),
};

const char *sb__fsm_state_name(const struct sb_fsm_def *def, int state)
{
	return state >= 0 && state < def->n_states ? def->states[state] : "?";
}

const char *sb__fsm_input_name(const struct sb_fsm_def *def, int input)
{
	return input >= 0 && input < def->n_inputs ? def->inputs[input] : "?";
}

static const struct sb_fsm_row *find_row(const struct sb_fsm_def *def, int state, int input)
{
	for (size_t i = 0; i < def->n_rows; i++)
		if (def->rows[i].state == state && def->rows[i].input == input)
			return &def->rows[i];
	return NULL;
}

static void post_state(struct sb_engine *eng, const struct sb_fsm_def *def, int from, int to,
		       int input, uint64_t call, uint32_t leg, const char *cause)
{
	struct sb_event ev = {.type = SB_EV_CALL_STATE, .call = call, .leg = leg};
	struct sb_strbuf b;

	ev.arg[0] = from;
	ev.arg[1] = to;
	ev.arg[2] = def->machine;
	ev.arg[3] = input;
	sb__set_str(ev.str, sizeof(ev.str), cause);
	sb_strbuf_init(&b);
	sb_strbuf_printf(&b, "{\"machine\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"input\":\"%s\"}",
			 def->name, sb__fsm_state_name(def, from), sb__fsm_state_name(def, to),
			 sb__fsm_input_name(def, input));
	ev.text = sb_strbuf_steal(&b);
	if (sb_bus_post(eng->bus, &ev) < 0)
		sb_warn("CALL_STATE not posted");
}

int sb__fsm_apply(struct sb_engine *eng, const struct sb_fsm_def *def, void *obj, int *state,
		  int input, uint64_t call, uint32_t leg, const char *cause, const void *arg)
{
	const struct sb_fsm_row *row = find_row(def, *state, input);
	int from = *state;

	if (!row) {
		eng->m.illegal_transitions++;
		sb_warn("%s %u: refused input '%s' in state '%s' (cause %s)", def->name,
			(unsigned)leg, sb__fsm_input_name(def, input),
			sb__fsm_state_name(def, from), cause ? cause : "-");
		return -EPERM;
	}
	*state = row->next;
	eng->m.transitions++;
	sb_debug("%s %u: %s --%s--> %s (%s)", def->name, (unsigned)leg,
		 sb__fsm_state_name(def, from), sb__fsm_input_name(def, input),
		 sb__fsm_state_name(def, row->next), cause ? cause : "-");
	post_state(eng, def, from, row->next, input, call, leg, cause ? cause : "");
	if (row->handler)
		row->handler(eng, obj, from, arg);
	return 0;
}
