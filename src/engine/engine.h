/* The call engine: calls, legs, bridges, routing, admission, CDRs.
 *
 * Threads: everything here runs on the control thread (the thread that
 * dispatches the control bus), except sb_engine_error_for_status(), which is
 * pure and may be called from any thread.
 *
 * The engine talks to the other components only through the ops structs
 * below (commands out) and the bus (events in: WS_*, SIP_*, MEDIA_*,
 * SYS_TICK). An op never calls back into the engine synchronously; its
 * outcome comes back later as a bus event. Ops return 0 or a negative errno
 * code; a failed op is treated as a failure of the leg it was for.
 *
 * Identifiers: a call has a numeric id (struct sb_event.call) and a wire id
 * "c-" + 16 hex digits (the protocol's call id). Legs are numbered 1, 2, ...
 * within their call (struct sb_event.leg); leg 1 is the caller. Media
 * sessions are numbered by the engine (arg0 of MEDIA_* events). See
 * docs/engine.md for the event payloads the engine reads. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_bus;
struct sb_clock;
struct sb_config;
struct sb_strbuf;
struct sb_component_ops;

/* A typed error for a browser client (docs/protocol.md section 5). */
struct sb_engine_error {
	int code;	   /* 3001, 3002, 3004, 5000, 5001, or 10000 + SIP status */
	char name[48];	   /* stable name: "overloaded", "sip_486_busy_here" */
	char message[96];  /* English text for people */
	int sip_status;	   /* the SIP status this stands for (0: none) */
	int retry_after_s; /* > 0 when the client may retry after that long */
};

/* Fills ret with the protocol error for a SIP status (400-699). Any thread. */
void sb_engine_error_for_status(int status, struct sb_engine_error *ret);
/* The RFC 3261 section 21 reason phrase of status, or NULL. Any thread. */
const char *sb_engine_sip_reason(int status);

/* ---- Component interfaces (commands out of the engine) ---- */

/* Where an outgoing SIP leg goes. Strings are valid during the call only. */
struct sb_engine_sip_target {
	const char *trunk;	  /* trunk name, or NULL for a registered contact */
	const char *uri;	  /* contact URI (phones) or the destination (trunks) */
	const char *from_user;	  /* caller's user or number */
	const char *from_display; /* caller's display name, may be "" */
	const char *caller_user;  /* the [user] calling (their account), or "" */
};

struct sb_engine_sip_ops {
	/* Names an incoming INVITE (SIP_INVITE arg0) by (call, leg): every later
	 * SIP_* event of that dialog carries them. */
	int (*bind)(void *ud, uint64_t handle, uint64_t call, uint32_t leg);
	/* Sends an INVITE with sdp (the offer). */
	int (*invite)(void *ud, uint64_t call, uint32_t leg, const struct sb_engine_sip_target *t,
		      const char *sdp);
	/* Provisional answer (180, 183) to an incoming INVITE; sdp may be NULL. */
	int (*progress)(void *ud, uint64_t call, uint32_t leg, int status, const char *sdp);
	/* 200 OK with sdp to an incoming INVITE. */
	int (*answer)(void *ud, uint64_t call, uint32_t leg, const char *sdp);
	/* Final error response to an incoming INVITE; retry_after_s > 0 adds
	 * Retry-After (RFC 3261 section 20.33). */
	int (*reject)(void *ud, uint64_t call, uint32_t leg, int status, int retry_after_s);
	/* CANCEL of an outgoing INVITE not yet answered. */
	int (*cancel)(void *ud, uint64_t call, uint32_t leg);
	/* BYE of an established dialog. */
	int (*bye)(void *ud, uint64_t call, uint32_t leg);
	/* Answers the party's new offer (SIP_REINVITE: a re-INVITE or an UPDATE
	 * with SDP): status 200 with sdp, or a failure status (488, 500) with
	 * sdp NULL, after which the session stays as it was. After a 200,
	 * SIP_REOFFER_GONE follows: arg0 200 once the response was sent, else
	 * the status the offer ended with (the party's CANCEL came first).
	 * -ENOENT when no offer is waiting (SIP answered it 500 after its
	 * timeout, or 487 to a CANCEL). */
	int (*reanswer)(void *ud, uint64_t call, uint32_t leg, int status, const char *sdp);
	/* Sends our new offer sdp on the established dialog of (call, leg) by
	 * re-INVITE (RFC 3264 section 8: hold and resume, section 8.4).
	 * SIP_REINVITE_RESULT follows with the final status and, for a 2xx,
	 * the party's answer; a 491 (RFC 3261 section 14.1) is retried once
	 * after 2.1-4 s before it is reported. -EBUSY while an offer of ours
	 * or of the party's is outstanding on the dialog; -ENOENT when there
	 * is no established dialog; -EINVAL when sdp is NULL. A failure leaves
	 * the session as it was; after a 481 or 408 (and the other statuses
	 * sofia-sip takes as the end of the dialog, docs/sip.md) SIP_BYE
	 * follows the result. When the dialog ends first, only SIP_BYE comes. */
	int (*reinvite)(void *ud, uint64_t call, uint32_t leg, const char *sdp);
	/* Sends text (UTF-8, at most SB_CHAT_MAX bytes) in a MESSAGE (RFC 3428)
	 * on the established dialog of (call, leg), content type
	 * text/plain;charset=UTF-8. SIP_MESSAGE_RESULT follows (arg0 the
	 * final status, 408 on timeout; arg1 seq). -ENOENT when there is no
	 * established dialog. A MESSAGE the party sends in the dialog comes
	 * as SIP_MESSAGE (str its content type, text its body), answered 200
	 * by SIP (415 for a type other than text/plain, 413 beyond
	 * SB_CHAT_MAX). */
	int (*message)(void *ud, uint64_t call, uint32_t leg, uint64_t seq, const char *text);
	/* Sends digits (1-32 of 0-9 * # A-D) as SIP INFO requests on the
	 * established dialog of (call, leg), one per digit, in order, each
	 * after the previous one's final response (RFC 6086 INFO with an
	 * application/dtmf-relay body: "Signal=5" and "Duration=" ms): for
	 * a party that wants DTMF in INFO ([trunk] dtmf = info). -ENOENT no
	 * established dialog, -EINVAL bad digits. No event follows; a
	 * refused INFO is logged and counted. The party's own INFO with
	 * application/dtmf-relay or application/dtmf comes as SIP_DTMF. */
	int (*info_dtmf)(void *ud, uint64_t call, uint32_t leg, const char *digits,
			 int duration_ms);
	/* Registered contacts of user: fills up to max URIs (valid until the
	 * next call of any op) and returns how many. May be NULL: no phones. */
	size_t (*contacts)(void *ud, const char *user, const char **ret_uris, size_t max);
};

enum sb_engine_media_kind {
	SB_MEDIA_WEBRTC,   /* ICE + DTLS-SRTP toward a browser */
	SB_MEDIA_RTP,	   /* RTP/SRTP toward a SIP endpoint */
	SB_MEDIA_ECHO,	   /* WebRTC toward a browser, returning its own audio */
	SB_MEDIA_RTP_ECHO, /* RTP toward a SIP endpoint, returning its own audio */
	_SB_MEDIA_KIND_MAX,
	_SB_MEDIA_KIND_INVALID = -22,
};

/* SRTP in an RTP session's own offer toward a SIP peer ([trunk] srtp,
 * docs/media.md "SDES-SRTP"). */
enum sb_engine_srtp {
	SB_ENGINE_SRTP_OFF,	      /* RTP/AVP without a=crypto */
	SB_ENGINE_SRTP_SDES,	      /* RTP/SAVP with a=crypto; the answer must take one */
	SB_ENGINE_SRTP_SDES_OPTIONAL, /* RTP/AVP with a=crypto; SRTP when the answer takes one */
	_SB_ENGINE_SRTP_MAX,
	_SB_ENGINE_SRTP_INVALID = -22,
};

/* The longest chat message, in bytes (a data channel message, a SIP
 * MESSAGE body): well inside one UDP datagram (RFC 3428 section 6). */
#define SB_CHAT_MAX 1024

/* Options of a media session that offers toward a SIP peer: the engine
 * gives a trunk's preferences to the leg that calls it. Read during the
 * create call only. */
struct sb_engine_media_opts {
	/* Codec names in preference order, NULL-terminated: the offer has only
	 * those the media plane can offer, in this order, then
	 * telephone-event. NULL or empty: the media plane's own order. None of
	 * them offerable: MEDIA_FAILED with SB_MEDIA_FAIL_NO_CODEC. */
	char *const *codecs;
	enum sb_engine_srtp srtp;
	/* Which worker the session lives on: sessions with the same nonzero
	 * affinity share one (the members of a conference: one worker mixes
	 * them, lock-free); 0 is the call's own id, so both legs of a call
	 * share one. Honoured for answers too. */
	uint64_t affinity;
};

/* Why a media session failed: MEDIA_FAILED arg2 (the engine's cause). */
enum sb_engine_media_fail {
	SB_MEDIA_FAIL_OTHER,	/* "media_failed" */
	SB_MEDIA_FAIL_NO_CODEC, /* "no_common_codec": no codec in common, or none to offer */
	SB_MEDIA_FAIL_SRTP,	/* "srtp_refused": the answer did not take our SRTP offer */
	_SB_MEDIA_FAIL_MAX,
	_SB_MEDIA_FAIL_INVALID = -22,
};

struct sb_engine_media_ops {
	/* Creates session id for (call, leg). remote_sdp is the peer's offer
	 * (the session answers) or NULL (the session offers). opts (NULL:
	 * defaults) shape an RTP session's own offer; an answer ignores them.
	 * MEDIA_READY (arg0 = id, text = local sdp) or MEDIA_FAILED (arg2 an
	 * enum sb_engine_media_fail) follows. */
	int (*create)(void *ud, uint64_t id, uint64_t call, uint32_t leg,
		      enum sb_engine_media_kind kind, const char *remote_sdp,
		      const struct sb_engine_media_opts *opts);
	/* Gives a session the peer's answer to the session's own offer (its
	 * first offer, or an ICE restart offer). */
	int (*update)(void *ud, uint64_t id, const char *remote_sdp);
	/* Gives a live session the peer's new offer (RFC 3264 section 8: a
	 * re-INVITE or UPDATE from SIP). MEDIA_REANSWER follows (arg0 = id, arg2
	 * = seq): arg1 0 with the answer in text, which changes the session
	 * (address, codec and payload types, direction) only once reoffer_done
	 * says it was sent; or a negative errno when the offer is refused
	 * (-EBADMSG malformed, -ENOTSUP nothing in common), the session
	 * unchanged. Not MEDIA_FAILED: a refused offer leaves the call as it
	 * was. */
	int (*reoffer)(void *ud, uint64_t id, uint64_t seq, const char *remote_sdp);
	/* What became of offer seq's answer: sent (SIP reported its 200 with
	 * it sent: the session now applies it) or not (SIP gave up on the
	 * offer, by a CANCEL or its timeout, or could not send the 200: the
	 * answer is dropped and the session stays as it was, RFC 3264 section
	 * 8). No event follows. */
	int (*reoffer_done)(void *ud, uint64_t id, uint64_t seq, bool sent);
	/* Holds (hold true) or resumes a session from our side: while held
	 * it gets nothing from the session it is bridged to and what it sends
	 * is not relayed (RTCP and consent go on). Takes effect at once.
	 * MEDIA_OFFER follows (arg0 = id, arg2 = seq): for an RTP session,
	 * arg1 0 and our new offer in text (RFC 3264 section 8.4: o= version
	 * one up, a=sendonly to hold, a=sendrecv to resume, each masked by the
	 * party's own hold), kept until offer_done; for the other kinds arg1 0
	 * and no text (nothing to signal: the hold is done, no offer_done
	 * follows); or a negative errno (-EAGAIN no
	 * completed exchange yet, -EBUSY an offer outstanding) with the
	 * session unchanged. */
	int (*hold)(void *ud, uint64_t id, uint64_t seq, bool hold);
	/* What became of an RTP session's offer seq: answer_sdp the party's
	 * answer (the
	 * offer becomes our description; the answer's address, codec and
	 * payload type take effect), or NULL when it failed (the hold or
	 * resume is undone and the offer dropped). No event follows. */
	int (*offer_done)(void *ud, uint64_t id, uint64_t seq, const char *answer_sdp);
	/* Relays media between two sessions (both legs of a bridge). */
	int (*bridge)(void *ud, uint64_t a, uint64_t b);
	/* Makes session id a member of conference conf (nonzero; the engine's
	 * id of a room): from now on it hears the mix of the other members'
	 * audio, each decoded and mixed, then encoded in its own codec on its
	 * own stream, and its audio goes into theirs, in place of any bridge.
	 * A session is in one conference at most; joining another moves it.
	 * Every member must have been created with opts->affinity == conf,
	 * else -EXDEV (one worker mixes a conference). Takes effect at once;
	 * no event follows. */
	int (*conf_join)(void *ud, uint64_t id, uint64_t conf);
	/* Takes session id out of its conference: it hears nothing and its
	 * audio goes nowhere until bridged or joined again. Destroying a
	 * member does this too. No event follows. */
	int (*conf_leave)(void *ud, uint64_t id);
	/* Mutes (mute true) or unmutes a conference member: while muted its
	 * audio is not in the others' mix; it still hears them. Kept across
	 * a hold; cleared when it leaves. -ENOENT for an unknown session;
	 * a session in no conference keeps the flag for when it joins. Takes
	 * effect at once; no event follows. */
	int (*conf_mute)(void *ud, uint64_t id, bool mute);
	/* Sends text (UTF-8, at most SB_CHAT_MAX bytes) as one message on a
	 * WebRTC session's data channel (RFC 8831: SCTP over its DTLS; the
	 * channel the browser opened, RFC 8832). -ENOENT unknown session;
	 * -ENOTSUP for a kind without data channels; a message given before
	 * the channel is open waits for it (up to 8; beyond, it is dropped
	 * and counted in the media plane's chat_dropped). A message
	 * the browser sends on it comes as MEDIA_CHAT (arg0 the session,
	 * text the message). */
	int (*chat)(void *ud, uint64_t id, const char *text);
	/* Restarts ICE (RFC 8445 section 9) after the browser's address changed;
	 * MEDIA_READY follows with the new local description. */
	int (*ice_restart)(void *ud, uint64_t id);
	/* A remote ICE candidate ("" for end of candidates). */
	int (*candidate)(void *ud, uint64_t id, const char *candidate);
	/* Sends DTMF digits (RFC 4733) on the session. */
	int (*dtmf)(void *ud, uint64_t id, const char *digits, int duration_ms);
	/* Ends a session; no event follows. */
	int (*destroy)(void *ud, uint64_t id);
};

struct sb_engine_client_ops {
	/* Answers request `request` of connection conn: result_json (an object)
	 * on success, or err. */
	int (*reply)(void *ud, uint64_t conn, int64_t request, const char *result_json,
		     const struct sb_engine_error *err);
	/* Sends event `name` (call.incoming, call.progress, call.answered,
	 * call.ice, call.dtmf, call.ended, call.resumed, call.chat_failed, ...)
	 * with data_json to a session, whichever connection it has. */
	int (*event)(void *ud, const char *session, const char *name, const char *data_json);
};

/* Client ops that post WS_REPLY (text {"result": ...} or {"error": {code,
 * name, message, retry_after}}) and WS_EVENT (str session, text {"event",
 * "data"}) on the bus given as client_ud, for signalling to deliver. */
extern const struct sb_engine_client_ops sb_engine_client_bus_ops;

struct sb_cdr;

struct sb_engine_store_ops {
	/* Stores one CDR; json is its JSON form (sb_cdr_to_json). Both are
	 * valid during the call only: copy what you keep. */
	int (*cdr)(void *ud, const struct sb_cdr *cdr, const char *json);
};

struct sb_engine_ops {
	const struct sb_engine_sip_ops *sip;
	void *sip_ud;
	const struct sb_engine_media_ops *media;
	void *media_ud;
	const struct sb_engine_client_ops *client;
	void *client_ud;
	const struct sb_engine_store_ops *store;
	void *store_ud;
};

/* ---- CDR ---- */

#define SB_CDR_MAX_LEGS 16

struct sb_cdr_leg {
	uint32_t leg;
	char kind[8];			      /* "client" or "sip" */
	char direction[4];		      /* "in" (the caller) or "out" */
	char party[128];		      /* user, number or contact URI */
	char trunk[64];			      /* trunk name or "" */
	char codec[32];			      /* negotiated codec or "" */
	uint64_t start_us, answer_us, end_us; /* wall clock, 0: never */
	int status;			      /* final SIP status of the leg, 0: none */
	char cause[48];			      /* why the leg ended */
	bool has_quality;
	int64_t packets_lost;
	int64_t jitter_us;
	int64_t rtt_us;
	double mos;
};

struct sb_cdr {
	char call_id[24]; /* wire id */
	uint64_t call;
	char caller[128];
	char callee[128]; /* the dialled destination */
	char route[64];	  /* route name or "" */
	char action[16];  /* trunk, user, echo, reject, queue, conference or "" */
	char target[128];
	uint64_t start_us, answer_us, end_us; /* wall clock, answer 0: never */
	char disposition[16]; /* answered, no_answer, busy, failed, cancelled, refused */
	char cause[48];
	int status; /* final SIP status for a call that failed, 0 otherwise */
	/* A call routed to a queue: queue_wait_ms from entering the queue to
	 * an agent's answer, or to the end when none answered; queue_agent
	 * who answered ("" none). queue_wait_ms -1: not a queue call. */
	int64_t queue_wait_ms;
	char queue_agent[64];
	size_t n_legs;
	struct sb_cdr_leg legs[SB_CDR_MAX_LEGS];
};

/* JSON form of a CDR (one object, no newline), malloc'd; NULL on ENOMEM. */
char *sb_cdr_to_json(const struct sb_cdr *cdr);

/* ---- Metrics ---- */

struct sb_engine_metrics {
	uint64_t calls_total;  /* calls created */
	uint64_t calls_active; /* live now */
	uint64_t calls_answered;
	uint64_t calls_failed;
	uint64_t calls_cancelled;
	uint64_t calls_refused_limit;	 /* max_calls / max_cps, in all or per trunk */
	uint64_t calls_refused_overload; /* bus overloaded or draining */
	uint64_t calls_no_route;
	uint64_t calls_not_allowed; /* may_dial refused */
	uint64_t calls_resume_timeout;
	uint64_t transitions;
	uint64_t illegal_transitions;
	uint64_t unknown_events; /* events naming no live call or leg */
	uint64_t cdrs;
	uint64_t sessions_attached;
	uint64_t sessions_detached;
	uint64_t conf_joins;	    /* members joined to a conference */
	uint64_t conf_refused_full; /* callers refused: conference full */
	uint64_t conf_mutes;	    /* members muted (admin or self) */
	uint64_t conf_kicks;	    /* members removed by an admin */
	uint64_t chat_relayed;	    /* chat messages handed to a party (one per receiver) */
	uint64_t chat_dropped;	    /* chat messages with nobody to take them */
	uint64_t chat_failed;	    /* our MESSAGEs refused by the party (or timed out) */
};

/* ---- The engine ---- */

struct sb_engine;

/* Creates an engine on the control bus: takes a reference on cfg, keeps bus,
 * clock and the ops (copied; their ud pointers must outlive the engine) and
 * subscribes to the events it handles. ops fields may be NULL (the engine
 * then refuses what needs them). Returns NULL when out of memory. The bus
 * must not dispatch after sb_engine_free(). */
struct sb_engine *sb_engine_new(struct sb_config *cfg, struct sb_bus *bus,
				const struct sb_clock *clock, const struct sb_engine_ops *ops);
/* Ends every live call (cause "shutdown", CDRs written), frees everything.
 * Accepts NULL; returns NULL. */
struct sb_engine *sb_engine_free(struct sb_engine *eng);

/* Uses a GLib main context to run the deferred frees (an idle source) and a
 * 1 s timer tick. Without it, the owner calls sb_engine_reap() after each
 * dispatch round and sb_engine_tick() regularly (tests do). */
void sb_engine_attach(struct sb_engine *eng, void *glib_main_context);

/* Frees calls closed since the last reap. Never call from inside a bus
 * handler or an engine op. */
void sb_engine_reap(struct sb_engine *eng);
/* Runs timers due by the engine's clock (resume windows). Also runs on each
 * SYS_TICK event. */
void sb_engine_tick(struct sb_engine *eng);

/* Stops taking new calls (SIP 503, browser error "draining"). */
void sb_engine_drain(struct sb_engine *eng);
/* Swaps in a new config snapshot: routes and limits change for new calls;
 * live calls keep what they were routed with. */
void sb_engine_reload(struct sb_engine *eng, struct sb_config *cfg);

/* Live calls now. */
size_t sb_engine_active(const struct sb_engine *eng);
/* The live calls as a JSON array for GET /api/v1/calls, malloc'd. */
char *sb_engine_calls_json(struct sb_engine *eng);
/* The queues as a JSON array for GET /api/v1/queues, malloc'd: per queue
 * its name, strategy, waiting callers ({call, caller, waited_ms}) and
 * agents ({user, state: available, ringing, busy, wrapup, offline}). */
char *sb_engine_queues_json(struct sb_engine *eng);
/* The conferences as a JSON array for GET /api/v1/conferences, malloc'd:
 * per configured room its name, max_members and members joined ({call,
 * from, since: wall clock ms, muted}), in the order they joined. */
char *sb_engine_conferences_json(struct sb_engine *eng);
/* Mutes (mute true) or unmutes member call (wire id) of live room name:
 * its audio leaves (or rejoins) the others' mix, it still hears them, and
 * every browser member gets call.conference. Muting a muted member is no
 * change and tells nobody. On success returns 0 and, when ret_member is
 * not NULL, sets it to the member's JSON ({call, from, since, muted},
 * malloc'd). -ENOENT: no such live room or joined member; -ENOSYS: no
 * media plane; else the media op's error. */
int sb_engine_conference_mute(struct sb_engine *eng, const char *name, const char *call, bool mute,
			      char **ret_member);
/* Removes member call (wire id) of live room name: its call ends with
 * cause "kicked" (a BYE to a phone, call.ended with reason "kicked" to a
 * browser, CDR cause "kicked") and the room hears it left. 0 or -ENOENT
 * (no such live room or member). */
int sb_engine_conference_kick(struct sb_engine *eng, const char *name, const char *call);
void sb_engine_metrics(const struct sb_engine *eng, struct sb_engine_metrics *ret);
/* Appends the metrics in the Prometheus text format. */
void sb_engine_metrics_write(const struct sb_engine *eng, struct sb_strbuf *out);

/* The engine as a lifecycle component (ud: the engine). */
extern const struct sb_component_ops sb_engine_component;
