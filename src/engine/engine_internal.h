/* Engine internals shared by the files of src/engine. Control thread only. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/refcount.h"
#include "engine/engine.h"

struct sb_config;
struct sb_config_route;

#define SB_CALL_MAX_LEGS  SB_CDR_MAX_LEGS
#define SB_PARTY_MAX	  128
#define SB_NAME_MAX	  64
#define SB_CAUSE_MAX	  48
#define SB_SESSION_ID_MAX 64

/* ---- State machines ---- */

enum sb_call_state {
	SB_CALL_INIT,
	SB_CALL_ROUTING,
	SB_CALL_PROCEEDING,
	SB_CALL_RINGING,
	SB_CALL_ANSWERED,
	SB_CALL_ENDED,
	_SB_CALL_STATE_MAX,
	_SB_CALL_STATE_INVALID = -22,
};

enum sb_call_input {
	SB_CI_SETUP,	/* a new call arrived */
	SB_CI_ROUTED,	/* admitted and routed: legs are being placed */
	SB_CI_REFUSE,	/* not admitted, not allowed, no route, or rejected by route */
	SB_CI_RING,	/* a callee leg rings */
	SB_CI_ANSWER,	/* a callee leg (or the echo) answered */
	SB_CI_END,	/* hang-up, cancel, failure or timeout */
	SB_CI_TRANSFER, /* call.transfer: the party goes to a new target */
	_SB_CI_MAX,
	_SB_CI_INVALID = -22,
};

enum sb_leg_state {
	SB_LEG_NEW,	/* media session being made */
	SB_LEG_READY,	/* media ready, not yet signalled */
	SB_LEG_CALLING, /* INVITE sent / call.incoming sent / caller waiting */
	SB_LEG_RINGING, /* far end rings (callee) or ringing relayed (caller) */
	SB_LEG_UP,
	SB_LEG_ENDED,
	_SB_LEG_STATE_MAX,
	_SB_LEG_STATE_INVALID = -22,
};

enum sb_leg_input {
	SB_LI_MEDIA_READY,    /* local description ready */
	SB_LI_PLACE,	      /* signalled toward the party */
	SB_LI_PROGRESS,	      /* 180/183 */
	SB_LI_ANSWER,	      /* 200 OK / call.answer / caller answered */
	SB_LI_HANGUP,	      /* the party ended an established leg */
	SB_LI_FAIL,	      /* the party refused, or its signalling or media failed */
	SB_LI_CANCEL,	      /* the party cancelled before answer */
	SB_LI_CLOSE,	      /* the engine ends the leg (call over, fork lost) */
	SB_LI_REANSWER,	      /* the client answered our re-offer (ICE restart) */
	SB_LI_REOFFER,	      /* the SIP party made a new offer (re-INVITE, UPDATE) */
	SB_LI_REOFFER_ANSWER, /* media answered (or refused) that offer */
	SB_LI_REOFFER_GONE,   /* SIP sent our answer, or gave up on the offer */
	SB_LI_HOLD,	      /* we hold or resume the party (call.hold from the other side) */
	SB_LI_HOLD_OFFER,     /* media's new offer for it (or its refusal) */
	SB_LI_HOLD_RESULT,    /* the party's response to that offer */
	SB_LI_TRANSFERRED,    /* the agent leaves: its party went to the target */
	_SB_LI_MAX,
	_SB_LI_INVALID = -22,
};

enum sb_session_state {
	SB_SESSION_ATTACHED,
	SB_SESSION_DETACHED, /* socket dropped, inside the resume window */
	SB_SESSION_CLOSED,
	_SB_SESSION_STATE_MAX,
	_SB_SESSION_STATE_INVALID = -22,
};

enum sb_session_input {
	SB_SI_DISCONNECT,
	SB_SI_RESUME,
	SB_SI_EXPIRE, /* the resume window passed */
	SB_SI_END,    /* bye, or signalling forgot the session */
	_SB_SI_MAX,
	_SB_SI_INVALID = -22,
};

enum sb_fsm_machine {
	SB_FSM_CALL,
	SB_FSM_LEG,
	SB_FSM_SESSION,
	_SB_FSM_MAX,
	_SB_FSM_INVALID = -22,
};

struct sb_engine;

/* A transition's side effects. obj is the call, leg or session; from is the
 * state before; arg is what the caller of apply passed. Runs after the state
 * changed, so it may apply further inputs. */
typedef void (*sb_fsm_handler_fn)(struct sb_engine *eng, void *obj, int from, const void *arg);

struct sb_fsm_row {
	int state;
	int input;
	sb_fsm_handler_fn handler; /* may be NULL */
	int next;
};

struct sb_fsm_def {
	enum sb_fsm_machine machine;
	const char *name;
	const char *const *states;
	int n_states;
	const char *const *inputs;
	int n_inputs;
	const struct sb_fsm_row *rows;
	size_t n_rows;
};

extern const struct sb_fsm_def sb__call_fsm;
extern const struct sb_fsm_def sb__leg_fsm;
extern const struct sb_fsm_def sb__session_fsm;

/* The one apply function: looks (state, input) up in def's table; if there
 * is no row, the input is refused, logged and counted and -EPERM returned.
 * Otherwise the state changes, a CALL_STATE event is posted (cause: the text
 * given, the bus adds the causing event), the row's handler runs, and 0 is
 * returned. call/leg name the object in the event. */
int sb__fsm_apply(struct sb_engine *eng, const struct sb_fsm_def *def, void *obj, int *state,
		  int input, uint64_t call, uint32_t leg, const char *cause, const void *arg);
const char *sb__fsm_state_name(const struct sb_fsm_def *def, int state);
const char *sb__fsm_input_name(const struct sb_fsm_def *def, int input);

/* ---- Objects ---- */

enum sb_leg_kind {
	SB_LEG_CLIENT, /* a browser session */
	SB_LEG_SIP,
	_SB_LEG_KIND_MAX,
	_SB_LEG_KIND_INVALID = -22,
};

struct sb_call;

struct sb_quality {
	bool has;
	int64_t packets_lost, jitter_us, rtt_us;
	double mos;
};

/* A MESSAGE in flight to a SIP party (chat.c): its number (0: a free
 * record) and the leg that sent the text. */
struct sb_chat_out {
	uint64_t seq;
	uint64_t call;
	uint32_t leg;
};

#define SB_CHAT_OUT_MAX 8

/* A leg: one party of a call. Owned by its call; not refcounted. */
struct sb_leg {
	struct sb_call *call; /* owner */
	uint32_t id;
	int state; /* enum sb_leg_state */
	enum sb_leg_kind kind;
	bool outbound; /* false: the caller */
	char party[SB_PARTY_MAX];
	char trunk[SB_NAME_MAX];
	/* The configured user a callee leg rings (a browser or a phone of
	 * theirs), or "": queues tell a busy agent by it. */
	char user[SB_NAME_MAX];
	char session[SB_SESSION_ID_MAX]; /* client legs */
	uint64_t conn;			 /* client legs: connection of the pending request */
	int64_t request;		 /* pending call.dial request, -1: none */
	uint64_t media;			 /* media session id, 0: none (owned) */
	enum sb_engine_media_kind media_kind;
	char *remote_sdp; /* the party's description */
	char *local_sdp;  /* ours toward the party */
	bool resume_sdp;  /* send call.resumed with the next local description */
	bool reoffer;	  /* local_sdp is a re-offer the client has to answer */
	bool held;	  /* SIP: the party's last re-INVITE put the call on hold */
	/* SIP: the number of the party's new offer (a re-INVITE or UPDATE)
	 * media is answering, 0: none; the last number given; its direction
	 * (enum sb_sdp_dir values) */
	uint64_t offer_seq, offer_next;
	int offer_dir;
	/* SIP: media's answer to offer seq, given to SIP with 200 and kept
	 * until SIP reports it sent (sip.reoffer_gone 200: media applies it)
	 * or not (any other status: media drops it); its description and the
	 * direction of the offer it answers. seq 0: none. */
	struct {
		uint64_t seq;
		char *sdp;
		int dir;
	} answer;
	/* We hold the party (call.hold from the other side of the call, or
	 * the party's hold relayed from the other side): it gets nothing. */
	bool local_hold;
	/* Our hold or resume under way (hold.c): media's offer number (0:
	 * none), what it asks, the browser request waiting for the outcome
	 * (request -1: none) and our offer while SIP carries it. */
	struct {
		uint64_t seq;
		bool hold;
		uint64_t conn;
		int64_t request;
		char *offer;
	} hold_op;
	/* SIP: who sent our MESSAGEs in flight, for sip.message_result. */
	struct sb_chat_out chat_out[SB_CHAT_OUT_MAX];
	uint64_t start_us, answer_us, end_us; /* engine clock */
	int status;
	char cause[SB_CAUSE_MAX];
	char codec[32];
	struct sb_quality quality;
};

/* The bridge joining the caller to the callee that answered. Owned by the
 * call. */
struct sb_bridge {
	uint32_t a, b; /* leg ids, 0: not bridged */
};

/* A call: reachable by id from outside (bus events, the API), so it is
 * refcounted; the engine's tables hold one reference while it is live. */
struct sb_call {
	struct sb_refcount ref;
	uint64_t id;
	char wire_id[24];
	int state; /* enum sb_call_state */
	struct sb_leg *legs[SB_CALL_MAX_LEGS];
	unsigned n_legs;
	struct sb_bridge bridge;
	char caller[SB_PARTY_MAX];
	char caller_display[SB_PARTY_MAX];
	char caller_user[SB_NAME_MAX]; /* a configured user, or "" */
	char destination[SB_PARTY_MAX];
	char in_trunk[SB_NAME_MAX];  /* counted against this trunk's limits */
	char out_trunk[SB_NAME_MAX]; /* idem */
	char account[SB_NAME_MAX];   /* to this user's upstream SIP account, or "" */
	char route[SB_NAME_MAX];
	char action[16];
	char target[SB_PARTY_MAX];
	uint64_t start_us, answer_us, end_us;
	int end_status; /* SIP status when the call failed */
	char end_cause[SB_CAUSE_MAX];
	char disposition[16];
	uint32_t ender; /* leg that ended the call, 0: the engine */
	int retry_after_s;
	int client_code; /* protocol error for a browser caller, 0: from end_status */
	bool counted;	 /* counted in the admission totals */
	/* A blind transfer (transfer.c): the party moved (leg id), the agent
	 * who asked (its leg; 0 once it left), the first target leg, the
	 * agent's request waiting (request -1: none). active while the
	 * targets ring; resume: the party is resumed once our hold of it
	 * settles; held: the agent had it on hold before. The trunk the
	 * targets go to is counted against its limits until the call ends. */
	/* A consultation (call.consult, transfer.c) is a transfer whose
	 * answered target talks with the agent first: consult (enum
	 * sb_consult_state) tells where it is, target the target leg that
	 * answered, rang: the agent was told that a target rings. */
	struct {
		bool active, resume, held, counted, rang;
		int consult; /* enum sb_consult_state */
		uint32_t party, agent, first, target;
		uint64_t conn;
		int64_t request;
		char trunk[SB_NAME_MAX];
	} xfer;
	/* A call routed to a queue (queue.c): name set from routing to the
	 * end. waiting: in the queue's FIFO (from routing until an agent
	 * answers); offering: the legs from id first on ring agents since
	 * offer_us; hold_due: the caller is to be held on the next tick (a
	 * SIP caller, once its ACK had time to come); resume: resume the
	 * caller once our hold of it settles; agent: who answered, at
	 * answered_us. */
	struct {
		bool waiting, offering, hold_due, resume;
		uint32_t first;
		uint64_t enqueued_us, offer_us, answered_us;
		char name[SB_NAME_MAX];
		char agent[SB_NAME_MAX];
	} queue;
	/* A call routed to a conference (conf.c): a member of room name
	 * (its id, the affinity of the caller's media session) from routing
	 * to the end; joined: answered and joined in the media plane since
	 * since_us; muted: its audio kept out of the mix (by an admin or
	 * itself, call.mute). id 0: not a conference call. */
	struct {
		bool joined, muted;
		uint64_t id, since_us;
		char name[SB_NAME_MAX];
	} conf;
	struct sb_call *grave_next;
};

/* A browser session as signalling names it. Owned by the engine. */
struct sb_session {
	char id[SB_SESSION_ID_MAX];
	char user[SB_NAME_MAX];
	uint64_t conn;
	int state; /* enum sb_session_state */
	/* presence.set away: queues do not offer callers to this session
	 * (direct calls still ring it). New sessions are available; a resume
	 * keeps it. */
	bool away;
	uint64_t detached_at;
	/* call.ended events of calls that ended while detached (json_t *),
	 * sent when the session resumes: signalling drops events meanwhile and
	 * counts the session's calls by them. */
	GPtrArray *ended;
};

#define SB_SESSION_MAX_ENDED 32

/* ---- Admission ---- */

/* The admission times of the last `cap` admitted calls: a call is admitted
 * when fewer than cap were admitted in the last second. */
struct sb_rate {
	uint64_t *ring;
	size_t cap, next, count;
};

struct sb_admit_trunk {
	char name[SB_NAME_MAX];
	int64_t max_calls, active;
	struct sb_rate rate;
};

struct sb_admit {
	int64_t max_calls, active;
	struct sb_rate rate;
	struct sb_admit_trunk *trunks;
	size_t n_trunks;
	int retry_after_s;
};

enum sb_admit_verdict {
	SB_ADMIT_OK,
	SB_ADMIT_CALLS, /* too many concurrent calls */
	SB_ADMIT_CPS,	/* too many calls in the last second */
	_SB_ADMIT_MAX,
	_SB_ADMIT_INVALID = -22,
};

int sb__admit_init(struct sb_admit *a, const struct sb_config *cfg);
void sb__admit_fini(struct sb_admit *a);
/* Checks the limits in all (trunk NULL) or of one trunk, without counting. */
enum sb_admit_verdict sb__admit_check(struct sb_admit *a, const char *trunk, uint64_t now);
/* Counts an admitted call (in all and for the trunk, when named). */
void sb__admit_take(struct sb_admit *a, const char *trunk, uint64_t now, bool rate);
void sb__admit_release(struct sb_admit *a, const char *trunk);

/* ---- Routing ---- */

/* Matches s against a pattern of docs/engine.md (glob with *, ?, [..], and
 * | between alternatives). */
bool sb__pattern_match(const char *pattern, const char *s);
/* The first route whose destination and caller patterns match and whose
 * hours (if any) contain now_us (wall clock, microseconds since the epoch,
 * in the route's timezone), or NULL. */
const struct sb_config_route *sb__route_find(const struct sb_config *cfg, const char *destination,
					     const char *caller, int64_t now_us);
/* As sb__route_find, passing over trunk routes whose trunk is down
 * (trunk_down true; NULL: none is). *ret_skipped (may be NULL) tells
 * whether one was passed over. */
const struct sb_config_route *sb__route_find_usable(const struct sb_config *cfg,
						    const char *destination, const char *caller,
						    int64_t now_us,
						    bool (*trunk_down)(const char *trunk, void *ud),
						    void *ud, bool *ret_skipped);
/* Whether wall clock now_us is within the route's hours (always when it
 * has none). */
bool sb__route_open(const struct sb_config_route *r, int64_t now_us);
/* True when user (a configured user) may dial destination. */
bool sb__may_dial(const struct sb_config *cfg, const char *user, const char *destination);

/* ---- The engine ---- */

struct sb_engine {
	struct sb_config *cfg;
	struct sb_bus *bus;
	const struct sb_clock *clock;
	struct sb_engine_ops ops;
	GHashTable *calls;	 /* uint64 id -> call (a reference) */
	GHashTable *by_wire;	 /* wire id -> call (borrowed) */
	GHashTable *sessions;	 /* session id -> session (owned) */
	GHashTable *trunks_down; /* trunk name (owned) -> NULL, from sip.trunk_state */
	struct sb_call *grave;	 /* closed, freed at the next reap */
	struct sb_admit admit;
	struct sb_engine_metrics m;
	uint64_t next_media;
	uint64_t chat_next; /* the last MESSAGE number given (chat.c) */
	uint64_t wall0, mono0;
	bool draining;
	/* queue.c: name -> struct sb_queue_state, user -> struct sb_agent
	 * (owned); the dispatcher runs once at a time (again: asked while it
	 * ran). */
	GHashTable *queues, *agents;
	bool q_running, q_again;
	/* conf.c: room name -> struct sb_conf_room (owned), live rooms only;
	 * the last room id given. */
	GHashTable *rooms;
	uint64_t conf_next;
	GMainContext *ctx;
	GSource *idle, *timer;
};

/* call.c */
struct sb_call *sb__call_new(struct sb_engine *eng);
struct sb_call *sb__call_ref(struct sb_call *call);
struct sb_call *sb__call_unref(struct sb_call *call);
struct sb_call *sb__call_find(struct sb_engine *eng, uint64_t id);
struct sb_call *sb__call_find_wire(struct sb_engine *eng, const char *wire);
struct sb_leg *sb__leg_add(struct sb_call *call, enum sb_leg_kind kind, bool outbound);
struct sb_leg *sb__leg_find(struct sb_call *call, uint32_t id);
struct sb_leg *sb__call_caller(struct sb_call *call);
/* The live calls, oldest first, each with a reference; release with
 * sb__calls_release. */
GPtrArray *sb__calls_sorted(struct sb_engine *eng);
void sb__calls_release(GPtrArray *calls);
/* Marks the call closed: out of the tables, onto the free list. */
void sb__call_close(struct sb_engine *eng, struct sb_call *call);
void sb__engine_schedule_reap(struct sb_engine *eng);
uint64_t sb__engine_wall(const struct sb_engine *eng, uint64_t mono);
void sb__set_str(char *dst, size_t size, const char *src);

/* flows.c: call setup, transition handlers */
void sb__call_setup(struct sb_engine *eng, struct sb_call *call, const char *cause);
void sb__call_end(struct sb_engine *eng, struct sb_call *call, int status, const char *cause,
		  const char *disposition);
void sb__leg_release(struct sb_engine *eng, struct sb_leg *leg);
void sb__client_event(struct sb_engine *eng, const char *session, const char *name, json_t *data);
void sb__client_reply(struct sb_engine *eng, uint64_t conn, int64_t request, json_t *result,
		      const struct sb_engine_error *err);
void sb__engine_error(int code, struct sb_engine_error *ret);

/* Arguments of leg inputs. */
struct sb_leg_arg {
	int status;
	const char *sdp;
	const char *cause;	/* why the leg ended */
	int error;		/* reoffer_answer: 0, or why media refused the offer */
	const char *call_cause; /* why the call ends, when this leg ends it */
	bool tell;		/* a browser that hung up gets call.ended "hangup" */
	uint64_t conn;		/* hold: the browser request waiting (request -1: none) */
	int64_t request;
};

/* inputs.c: bus event handlers */
void sb__inputs_subscribe(struct sb_engine *eng);
struct sb_session *sb__session_find(struct sb_engine *eng, const char *id);
void sb__session_free(gpointer session);
void sb__session_expire_due(struct sb_engine *eng, uint64_t now);

void sb__h_call_ring(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_call_answer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_call_end(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_ready(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_place(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_progress(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_answer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_reanswer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_reoffer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_reoffer_answer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_reoffer_gone(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_hold(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_hold_offer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_hold_result(struct sb_engine *eng, void *obj, int from, const void *arg);
/* hold.c: ends a hold or resume under way on a leg that goes (its browser
 * request answered with call_not_found), frees what it keeps. */
void sb__hold_abandon(struct sb_engine *eng, struct sb_leg *leg);
/* reoffer.c and hold.c: the other party of an answered call, or NULL. */
struct sb_leg *sb__leg_peer(struct sb_leg *leg);
void sb__h_leg_gone(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_close(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_session_detach(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_session_resume(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_session_close(struct sb_engine *eng, void *obj, int from, const void *arg);

/* flows.c, shared with transfer.c */

/* A routing decision: where a destination goes (route, action, target:
 * borrowed from the config, valid until the handler returns), or why not
 * (status: the SIP status, client_code the browser's error when not the
 * status's, retry: with Retry-After, cause). */
struct sb_route_pick {
	const char *route, *action, *target;
	int status, client_code;
	bool retry;
	const char *cause;
};

/* Routes destination for caller as a new call from it would be (user: the
 * configured user dialling, may_dial; "" none): the first usable route,
 * a reject route's status, the limits of a trunk it goes to. */
void sb__route_pick(struct sb_engine *eng, const char *user, const char *caller,
		    const char *destination, uint64_t now, struct sb_route_pick *ret);
/* Adds the callee legs of a routed destination (action trunk: one leg to
 * the trunk target dialling destination; user: every device of user
 * target but exclude's session) without starting them; returns how many. */
int sb__callees_add(struct sb_engine *eng, struct sb_call *call, const char *action,
		    const char *target, const char *destination, const struct sb_leg *exclude);
/* The same for a queue offer to agent user: every device of theirs but
 * browser sessions that are away (presence.set); returns how many. */
int sb__callees_add_agent(struct sb_engine *eng, struct sb_call *call, const char *user,
			  const struct sb_leg *exclude);
/* Creates the media sessions of the call's new callee legs; each is
 * signalled when its session is ready. */
void sb__callees_start(struct sb_engine *eng, struct sb_call *call);
/* Bridges legs a and b of call (media relays between them). */
void sb__bridge(struct sb_engine *eng, struct sb_call *call, struct sb_leg *a, struct sb_leg *b);
/* The status a caller gets when every callee from leg index first on
 * failed (RFC 3261 section 16.7 step 6, simplified). */
int sb__best_status(const struct sb_call *call, unsigned first);

/* transfer.c: blind transfer (call.transfer) and consultation
 * (call.consult, call.consult_end, call.transfer without to) */
enum sb_consult_state {
	SB_CONSULT_NONE,
	SB_CONSULT_RINGING, /* the party held, the target's legs ring */
	SB_CONSULT_TALKING, /* the agent bridged to the target that answered */
	_SB_CONSULT_STATE_MAX,
	_SB_CONSULT_STATE_INVALID = -22,
};
struct sb_transfer_arg {
	struct sb_leg *agent, *party;
	const char *to, *action, *target;
	bool consult;
	uint64_t conn;
	int64_t request;
};
/* call.transfer (consult false) or call.consult (true) from agent (a live
 * browser leg): checks, routes, and applies the call's transfer input, or
 * answers the request with the refusal. */
void sb__transfer_request(struct sb_engine *eng, struct sb_leg *agent, const char *to, bool consult,
			  uint64_t conn, int64_t request);
/* call.transfer without to: completes the consultation of agent's call
 * (the party bridged to the target, the agent's leg ends "transferred"),
 * or answers the request with the refusal. */
void sb__consult_complete_request(struct sb_engine *eng, struct sb_leg *agent, uint64_t conn,
				  int64_t request);
/* call.consult_end: ends the target's leg (rung or answered) and brings
 * the party back to the agent, or answers the request with the refusal. */
void sb__consult_end_request(struct sb_engine *eng, struct sb_leg *agent, uint64_t conn,
			     int64_t request);
/* The error a request that changes the call (hold, transfer, consult)
 * gets during a consultation: sip_491_request_pending, saying why. */
void sb__consult_busy_error(struct sb_engine_error *ret);
/* True when leg is the target the agent talks with in a consultation. */
bool sb__consult_target(const struct sb_leg *leg);
/* Target leg rings (h_leg_progress): the agent consulting hears of it. */
void sb__transfer_target_ringing(struct sb_engine *eng, struct sb_leg *leg);
void sb__h_call_transfer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_call_transfer_answer(struct sb_engine *eng, void *obj, int from, const void *arg);
void sb__h_leg_transferred(struct sb_engine *eng, void *obj, int from, const void *arg);
/* True when leg is a target of the transfer under way. */
bool sb__transfer_target(const struct sb_leg *leg);
/* A leg ended by its party (h_leg_gone): a target (the transfer fails when
 * none is left) or the agent (the transfer goes on without it; its request
 * answered). True when the transfer took care of it: the call goes on. */
bool sb__transfer_leg_gone(struct sb_engine *eng, struct sb_leg *leg);
/* Target leg failed on our side (its media): given up with status and
 * cause; the transfer fails when none is left. */
void sb__transfer_target_failed(struct sb_engine *eng, struct sb_leg *leg, int status,
				const char *cause);
/* Our hold or resume of leg settled (hold.c): a resume the transfer
 * waits for starts now. */
void sb__transfer_hold_settled(struct sb_engine *eng, struct sb_leg *leg);
/* Targets ringing longer than limit us fail with 408 (engine tick). */
void sb__transfer_timeouts(struct sb_engine *eng, struct sb_call *call, uint64_t now,
			   uint64_t limit);
/* The call ends: the request waiting answered call_not_found, the target
 * trunk's count released. */
void sb__transfer_abandon(struct sb_engine *eng, struct sb_call *call);

/* queue.c: call queues (docs/engine.md, "Queues") */
int sb__queue_init(struct sb_engine *eng);
void sb__queue_fini(struct sb_engine *eng);
/* Whether queue name (configured) can take one more caller. */
bool sb__queue_has_room(struct sb_engine *eng, const char *name);
/* A call routed to its queue (call->target): into the FIFO. */
void sb__queue_enter(struct sb_engine *eng, struct sb_call *call);
/* The caller was answered: it is held (at once, or on the tick for a SIP
 * caller) and the dispatcher runs. */
void sb__queue_caller_answered(struct sb_engine *eng, struct sb_call *call);
/* True when leg rings an agent for its waiting caller. */
bool sb__queue_offer_leg(const struct sb_leg *leg);
/* An offer leg ended by its party (refused, failed): the agent missed it;
 * the next is tried when no offer leg is left. */
void sb__queue_leg_gone(struct sb_engine *eng, struct sb_leg *leg);
/* The call ended (h_call_end, after it closed): out of the FIFO, counted,
 * its agent into wrap-up; the dispatcher runs. */
void sb__queue_call_ended(struct sb_engine *eng, struct sb_call *call);
/* Our hold or resume of leg settled: a resume the queue waits for starts. */
void sb__queue_hold_settled(struct sb_engine *eng, struct sb_leg *leg);
/* Offers waiting callers to available agents (also: something changed an
 * agent's availability). */
void sb__queue_dispatch(struct sb_engine *eng);
/* The tick: holds due, agent_timeout, max_wait, wrap-ups over. */
void sb__queue_tick(struct sb_engine *eng, uint64_t now);
/* Draining: every waiting caller's call ends (cause draining). */
void sb__queue_drain(struct sb_engine *eng);
void sb__queue_metrics_write(const struct sb_engine *eng, struct sb_strbuf *out);
/* call answered + answer: a queue's agent (queue.c) or a transfer's
 * target (transfer.c) answered. */
void sb__h_call_join(struct sb_engine *eng, void *obj, int from, const void *arg);

/* conf.c: conference rooms (docs/engine.md, "Conferences") */
int sb__conf_init(struct sb_engine *eng);
void sb__conf_fini(struct sb_engine *eng);
/* True when call was routed to a conference. */
bool sb__conf_call(const struct sb_call *call);
/* Whether room name can take one more member: 0, -ENOENT (not
 * configured), -ENOSYS (the media plane has no conferences), -EBUSY (full:
 * max_members reached, counting members still being set up). */
int sb__conf_check(struct sb_engine *eng, const char *name);
/* A call routed to its room (call->target): a member from now on (the room
 * opens with it, if empty). Returns the room's id, the affinity of the
 * caller's media session, or 0 when out of memory. */
uint64_t sb__conf_enter(struct sb_engine *eng, struct sb_call *call);
/* The caller was answered: joined to the room in the media plane, and
 * every browser member is told. A join that fails ends the call. */
void sb__conf_caller_answered(struct sb_engine *eng, struct sb_call *call);
/* The call ended (h_call_end, after it closed): out of its room (closed
 * when it was the last), the others told. */
void sb__conf_call_ended(struct sb_engine *eng, struct sb_call *call);
/* The browser member of call resumed its session: told the room again. */
void sb__conf_resumed(struct sb_engine *eng, struct sb_call *call);
/* The error a request that needs another party (what: "hold") gets on a
 * conference call: not_available with a message naming it. */
void sb__conf_error(const char *what, struct sb_engine_error *ret);
/* Mutes or unmutes a joined member (media conf_mute) and tells the room;
 * no change: nothing. 0, -ENOENT (not joined), -ENOSYS, or the op's
 * error. */
int sb__conf_member_mute(struct sb_engine *eng, struct sb_call *call, bool mute);
void sb__conf_metrics_write(const struct sb_engine *eng, struct sb_strbuf *out);

/* chat.c: in-call chat (docs/engine.md, "Chat") */

/* Text from party from (media.chat of a browser, sip.message of a SIP
 * party): to the other party of its bridge, back to it on an echo call,
 * to every other member of its conference room; otherwise dropped (and
 * counted): not answered, no other party (a queue, a transfer under way),
 * empty, over SB_CHAT_MAX or not UTF-8. */
void sb__chat_relay(struct sb_engine *eng, struct sb_leg *from, const char *text);
/* The final status of MESSAGE seq to SIP leg leg: a failure (>= 300) is
 * told to the browser that sent the text (call.chat_failed). */
void sb__chat_result(struct sb_engine *eng, struct sb_leg *leg, int status, uint64_t seq);

/* cdr.c */
void sb__cdr_emit(struct sb_engine *eng, struct sb_call *call);
