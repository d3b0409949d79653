/* Internals of src/sip. Control thread only. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct sb_sip;
struct sb_sip_dialog;
struct sb_sip_trunks;
struct sb_sip_nat;

#define NUA_MAGIC_T	struct sb_sip
#define NUA_HMAGIC_T	struct sb_sip_dialog
#define SU_ROOT_MAGIC_T struct sb_sip

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_glib.h>

#include "sip/sip.h"

struct sb_config_trunk;
struct sb_config_user;

#define SB_SIP_MAX_LISTEN 8
/* Redirect targets remembered per outbound leg (tried and pending). */
#define SB_SIP_MAX_TARGETS 16
/* How long a party's new offer waits for the media plane's answer before
 * it is answered 500 (the call stays as it was), and how long our 200 may
 * wait for nua's report that it was sent. */
#define SB_SIP_REOFFER_TIMEOUT_MS 5000
/* Our MESSAGEs (message.c) waiting per dialog, the one in flight included. */
#define SB_SIP_MSG_QUEUE 8
/* Digits waiting to go as INFO (info.c) per dialog, the one in flight
 * included: two full info_dtmf requests (32 digits each). */
#define SB_SIP_INFO_QUEUE 64

/* A Contact of a 3xx still to try, with its q value in thousandths. */
struct sb_sip_target {
	char *uri;
	unsigned q;
};

/* Where the party's new offer (a re-INVITE or an UPDATE with SDP) stands:
 * none, waiting for the engine's answer, or answered 200 with nua not yet
 * having reported the response sent (nua_respond only queues it, and a
 * CANCEL read meanwhile gets the re-INVITE a 487 instead). */
enum sb_sip_reoffer {
	SB_SIP_REOFFER_NONE,
	SB_SIP_REOFFER_WAITING,
	SB_SIP_REOFFER_SENDING,
	_SB_SIP_REOFFER_MAX,
	_SB_SIP_REOFFER_INVALID = -22,
};

/* Where our own new offer (a re-INVITE we send) stands: none, sent and
 * waiting for its final response, or refused 491 and waiting to be sent
 * again (RFC 3261 section 14.1). */
enum sb_sip_reinvite {
	SB_SIP_REINVITE_NONE,
	SB_SIP_REINVITE_SENT,
	SB_SIP_REINVITE_RETRY,
	_SB_SIP_REINVITE_MAX,
	_SB_SIP_REINVITE_INVALID = -22,
};

/* A MESSAGE of ours (message.c): the engine's number for it and its text. */
struct sb_sip_msg {
	uint64_t seq;
	char *text;
};

/* A digit of ours waiting to go by INFO (info.c) and its duration. */
struct sb_sip_info_digit {
	char digit;
	int ms;
};

/* A call leg: an INVITE dialog, inbound or outbound. */
struct sb_sip_dialog {
	struct sb_sip *sip;
	nua_handle_t *nh;
	uint64_t handle; /* our id for an inbound INVITE before the engine binds it */
	uint64_t call;
	uint32_t leg;
	bool inbound;
	bool answered;
	bool ended;
	char *local_sdp; /* our last description toward the party */
	/* The party's new offer (a re-INVITE or an UPDATE): where it stands;
	 * while it waits for the engine's answer, its request (NUTAG_WITH, a
	 * reference) and the timer that answers 500 when no answer comes;
	 * whether it came in an UPDATE (whose 200 nua reports in another call
	 * state than a re-INVITE's). */
	enum sb_sip_reoffer reoffer;
	msg_t *reoffer_msg;
	guint reoffer_timer;
	bool reoffer_update;
	char *reoffer_sdp; /* our answer being sent: local_sdp once it went */
	/* Established: nua reported the call ready (the 2xx ACKed), the
	 * condition for a re-INVITE of ours. */
	bool established;
	/* Our own new offer (reinvite.c): where it stands, its copy for the
	 * retry after a 491 (local_sdp once answered), the retry's timer,
	 * whether this is the retry already. refreshing: nua's own session
	 * refresh by re-INVITE (RFC 4028 section 7.4, which resends our last
	 * offer) is in flight, whose response looks like ours. failed: ours
	 * just failed, so a BYE nua sends next is its ending of the dialog
	 * after that failure rather than an expired session. */
	enum sb_sip_reinvite reinvite;
	char *reinvite_sdp;
	guint reinvite_timer;
	bool reinvite_retried;
	bool refreshing;
	bool reinvite_failed;
	/* Outbound only: the INVITE's headers and the redirects (RFC 3261
	 * section 8.1.3.4) tried and still pending. */
	char *from, *to;
	char *target;	 /* the Request-URI of the INVITE in progress */
	unsigned min_se; /* raised by a 422 (RFC 4028 section 6), 0: ours */
	char *tried[SB_SIP_MAX_TARGETS];
	size_t n_tried;
	struct sb_sip_target pending[SB_SIP_MAX_TARGETS];
	size_t n_pending;
	unsigned hops;
	const struct sb_config_trunk *trunk; /* outbound through a trunk, or NULL */
	/* Credentials for a challenge to the INVITE: the trunk's, or the
	 * calling user's account at that trunk (in sip->cfg), else NULL. */
	const char *auth_user, *auth_password;
	unsigned auth_tries; /* challenges answered on this INVITE */
	/* Our MESSAGEs (message.c): a ring of msg_n from msg_head, the head
	 * in flight; challenges answered on the one in flight. */
	struct sb_sip_msg msg_q[SB_SIP_MSG_QUEUE];
	size_t msg_head, msg_n;
	unsigned msg_auth_tries;
	/* Our DTMF INFOs (info.c): a ring of info_n digits from info_head,
	 * the head in flight; challenges answered on the one in flight. */
	struct sb_sip_info_digit info_q[SB_SIP_INFO_QUEUE];
	size_t info_head, info_n;
	unsigned info_auth_tries;
};

struct sb_sip_binding {
	char *contact;
	int64_t expires_at_s;
	bool nat; /* rewritten by nat.c (persisted, so keepalives resume) */
};

struct sb_sip {
	struct sb_config *cfg;
	struct sb_bus *bus;
	su_root_t *root;
	guint source_id;
	nua_t *nua[SB_SIP_MAX_LISTEN];
	size_t n_nua;
	size_t shutting_down;  /* nua instances still shutting down */
	GHashTable *by_handle; /* uint64 handle -> dialog (inbound, before bind) */
	GHashTable *by_leg;    /* uint64 (call << 8 | leg) -> dialog */
	GHashTable *location;  /* user -> GPtrArray of struct sb_sip_binding */
	uint64_t next_handle;
	char nonce_key[33]; /* secret for stateless nonces */
	struct sb_sip_persist persist;
	const char *contacts_out[16]; /* returned by the contacts op */
	struct sb_sip_trunks *trunks; /* trunk.c: registrations, keepalives */
	struct sb_sip_nat *nat;	      /* nat.c: rewritten bindings, probes */
	uint64_t info_refused;	      /* our DTMF INFOs answered >= 300 (info.c) */
};

/* check.c: 0 when an INVITE's body and Accept suit us, else the status to
 * answer (415 with Accept: application/sdp, or 406). */
int sb__sip_invite_check(const sip_t *s);
/* Answers the digest challenge in response s (WWW- or Proxy-Authenticate)
 * on nh with user and password, in the realm the challenge names. False
 * when there is no usable challenge or no user. */
bool sb__sip_auth_answer(nua_handle_t *nh, const sip_t *s, const char *user, const char *password);

/* dialog.c: the direction of a new offer, redirect targets */

/* The direction of a party's new offer (a re-INVITE or UPDATE): its audio
 * section's, 0 inactive .. 3 sendrecv (enum sb_sdp_dir), with c=0.0.0.0
 * counting as not receiving (RFC 3264 section 8.4, the RFC 2543 hold).
 * The offer passes src/sdp's scan and parser. Returns 0, or -EINVAL when
 * it does not parse or has no audio section (a 488). */
int sb__sip_offer_mode(const char *offer, int *ret_mode);
/* "sendrecv", "sendonly", "recvonly" or "inactive". */
const char *sb__sip_mode_name(int mode);
/* The party's new offer (a re-INVITE or an UPDATE with SDP, req its
 * request; takes offer): posted to the engine as sip.reinvite, and the
 * response waits for sb__sip_reoffer_respond(), at most
 * SB_SIP_REOFFER_TIMEOUT_MS (then 500). An offer that does not parse gets
 * 488 at once, one on a dialog the engine does not know, or while another
 * waits or our 200 to it is not reported sent yet, 500; one while an
 * offer of ours is in flight, 491 (sb__sip_reinvite_glare()). nua refuses
 * most overlapping offers itself before (RFC 3261 section 14.2, RFC 3311
 * section 5.2), but not an UPDATE's against our re-INVITE. */
void sb__sip_reoffer_start(struct sb_sip *sip, struct sb_sip_dialog *d, char *offer, msg_t *req);
/* Answers the waiting offer: 200 with sdp, or a failure status with sdp
 * NULL (RFC 3264 section 8: the session then stays as it was). A 200 is
 * only queued in nua: the offer stays (SB_SIP_REOFFER_SENDING) until
 * sb__sip_reoffer_state() hears it sent (sdp then becomes d->local_sdp),
 * or a CANCEL, nua_i_error or the dialog's end comes first. Returns 0, or
 * -ENOMEM with nothing sent. */
int sb__sip_reoffer_respond(struct sb_sip_dialog *d, int status, const char *sdp);
/* Forgets the offer without answering or telling the engine. */
void sb__sip_reoffer_clear(struct sb_sip_dialog *d);
/* The offer ended otherwise than by an answer of the engine's that nua
 * sent (status: 487 after the party's CANCEL, 500 after the timeout, nua's
 * status when it could not send our 200; why: "cancelled", "timeout",
 * "error", "ended"), or our 200 went out (status 200, why "sent"): forgets
 * it and posts sip.reoffer_gone, so that media applies its answer only when
 * the party has it and otherwise keeps the session the party still has
 * (RFC 3264 section 8). Nothing is posted when no offer is there or the
 * dialog has ended (d->ended): the engine ends the leg instead. */
void sb__sip_reoffer_gone(struct sb_sip_dialog *d, int status, const char *why);
/* The dialog ends: a waiting offer is answered 487 when respond (RFC 3261
 * section 15.1.2), and an offer waiting or being answered goes, with
 * sip.reoffer_gone 487 "ended" when called before d->ended is set (so that
 * the engine hears of it before the end), silently after (the engine ended
 * the leg itself). */
void sb__sip_reoffer_end(struct sb_sip_dialog *d, bool respond);
/* A nua_i_state of the dialog (status, callstate enum nua_callstate):
 * with our 200 queued, the report of the final response nua sent for the
 * offer, which settles it (sb__sip_reoffer_gone with 200 "sent", or with
 * the status nua sent instead). */
void sb__sip_reoffer_state(struct sb_sip_dialog *d, int status, int callstate);
/* Remembers uri as tried; true when it was tried before (compared as SIP
 * URIs: scheme, user, host, port). */
bool sb__sip_target_seen(struct sb_sip_dialog *d, const char *uri);
/* Adds the Contacts of a 3xx that were not tried yet, in q order. */
void sb__sip_targets_add(struct sb_sip_dialog *d, const sip_contact_t *m);
/* The pending target with the highest q (first listed on a tie), removed
 * from the list; the caller frees it. NULL when none is left. */
char *sb__sip_target_next(struct sb_sip_dialog *d);
void sb__sip_targets_clear(struct sb_sip_dialog *d);

/* reinvite.c: our own new offers on an established dialog */

/* Sends our new offer sdp by re-INVITE on d (established, not ended; the
 * caller checks). Returns 0, -EBUSY while an offer of ours (also nua's
 * refresh, or a 491 retry pending) or of the party's is outstanding, or
 * -ENOMEM. sip.reinvite_result follows. */
int sb__sip_reinvite_start(struct sb_sip_dialog *d, const char *sdp);
/* A nua_r_invite on an answered dialog: true when it was the response to
 * our re-INVITE (handled: provisional ones ignored, a challenge answered, a
 * first 491 retried later, a final one posted as sip.reinvite_result);
 * false when it belongs to nua's own refresh. */
bool sb__sip_reinvite_response(struct sb_sip_dialog *d, int status, const char *phrase,
			       const sip_t *s);
/* A nua_i_state of the dialog: notes that it is established, and that
 * nua sent a refresh re-INVITE of its own. */
void sb__sip_reinvite_state(struct sb_sip_dialog *d, int callstate);
/* The party sent a new offer (re-INVITE or UPDATE): true when it must be
 * refused 491 because an offer of ours is in flight (RFC 3261 section
 * 14.2, RFC 3311 section 5.2). Our offer waiting for its retry after a 491
 * gives way instead: it is reported failed (491) and the party's goes on. */
bool sb__sip_reinvite_glare(struct sb_sip_dialog *d);
/* Forgets our offer without telling the engine (the dialog ended). */
void sb__sip_reinvite_clear(struct sb_sip_dialog *d);

/* message.c: in-call chat (RFC 3428) */

/* Queues text (the caller checked it: UTF-8, at most SB_CHAT_MAX bytes) as
 * a MESSAGE on d (established, not ended; the caller checks), sent once
 * those before it have their final response. Returns 0, -ENOBUFS when
 * SB_SIP_MSG_QUEUE wait already, or -ENOMEM. sip.message_result follows
 * with seq, unless the dialog ends first. */
int sb__sip_message_start(struct sb_sip_dialog *d, uint64_t seq, const char *text);
/* A nua_r_message on d: a challenge answered once with the dialog's
 * credentials; a final response posted as sip.message_result and the next
 * MESSAGE sent. */
void sb__sip_message_response(struct sb_sip_dialog *d, int status, const sip_t *s);
/* A nua_i_message: in the dialog d of a call, answered 200 and posted as
 * sip.message, or refused (415 with Accept: text/plain, 413, 400); 481 on
 * a dialog the engine does not know or that ended; outside any dialog (d
 * NULL), answered 200 and dropped, and its handle destroyed. */
void sb__sip_message_incoming(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh,
			      struct sb_sip_dialog *d, const sip_t *s);
/* The status a MESSAGE of the party's gets (RFC 3428): 200 with its body
 * (*ret_body NULL when none, *ret_len 0) when it is text/plain in UTF-8 (or
 * US-ASCII) of at most SB_CHAT_MAX bytes, valid UTF-8 without NUL; else 415
 * (another type), 413 (longer), 400 (not UTF-8), the outputs untouched. */
int sb__sip_message_check(const sip_t *s, const char **ret_body, size_t *ret_len);
/* Forgets our MESSAGEs without telling the engine (the dialog ended). */
void sb__sip_message_clear(struct sb_sip_dialog *d);

/* info.c: DTMF by SIP INFO (RFC 6086) */

/* Parses the body of an INFO (len bytes, not NUL-terminated): relay true
 * for application/dtmf-relay (lines "Signal=5" and, optionally,
 * "Duration=160", keys in any case, blanks around '=', other keys passed
 * over), false for application/dtmf (the digit alone). A digit is one of
 * 0-9 * # A-D (a-d taken as A-D). Returns 0 with *ret_digit and *ret_ms
 * (0 when no Duration was given), or -EINVAL (no digit, two of them, a bad
 * Duration or above 60000 ms, a line that is not key=value). Pure. */
int sb__sip_dtmf_parse(bool relay, const char *body, size_t len, char *ret_digit, int *ret_ms);
/* Queues digits (1 or more of 0-9 * # A-D) as one INFO each on d
 * (established, not ended; the caller checks), each with Duration ms (<=
 * 0: 100), sent once those before them have their final response. Returns
 * 0, -EINVAL (a bad digit, none), or -ENOBUFS when they do not fit in
 * SB_SIP_INFO_QUEUE with those waiting (nothing queued then). */
int sb__sip_info_start(struct sb_sip_dialog *d, const char *digits, int ms);
/* A nua_r_info on d: a challenge answered once with the dialog's
 * credentials; a final response ends the digit in flight (a refusal is
 * logged and counted) and sends the next, unless the dialog ended (or the
 * response was 481 or 408): then the rest are dropped. */
void sb__sip_info_response(struct sb_sip_dialog *d, int status, const char *phrase, const sip_t *s);
/* A nua_i_info: in the dialog d of a call, an application/dtmf-relay or
 * application/dtmf body is answered 200 and posted as sip.dtmf (str the
 * digit, arg0 the duration or 0), one that does not parse 400, another
 * type 415 with Accept naming both; no body: 200 (a keepalive). 481 on a
 * dialog the engine does not know or that ended, and outside any dialog (d
 * NULL; its handle destroyed). */
void sb__sip_info_incoming(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh,
			   struct sb_sip_dialog *d, const sip_t *s);
/* Forgets our digits waiting (the dialog ended). */
void sb__sip_info_clear(struct sb_sip_dialog *d);

/* registrar.c */
void sb__sip_on_register(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, const sip_t *s);
/* Checks digest credentials (Authorization or Proxy-Authorization) of a
 * request for user; true when valid. */
bool sb__sip_digest_ok(struct sb_sip *sip, const char *method, const msg_auth_t *auth,
		       const char *user);
/* Responds 401/407 with a fresh challenge. */
void sb__sip_challenge(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, bool proxy);
void sb__sip_location_free(gpointer p);

/* reg.c: the registration client, one binding toward a trunk's registrar
 * (for the trunk itself or for a user's account). The owner fills the
 * fields above the line, then calls start; stop before nua_shutdown (nua
 * removes the binding on shutdown). */
enum sb_sip_reg_state {
	SB_SIP_REG_OFF,
	SB_SIP_REG_REGISTERING,
	SB_SIP_REG_REGISTERED,
	SB_SIP_REG_BACKOFF,
	_SB_SIP_REG_MAX,
	_SB_SIP_REG_INVALID = -22,
};

struct sb_sip_reg {
	struct sb_sip *sip;
	const char *what;		   /* "trunk" or "account", for the log */
	const char *name;		   /* the trunk's or the user's, in the log and events */
	const struct sb_config_trunk *via; /* registrar, expiry, backoff, proxy */
	const char *username, *password;
	nua_t *nua;
	uint16_t event; /* posted on every change (SB_EV_SIP_*_REGISTRATION) */
	/* ---- */
	nua_handle_t *nh;
	enum sb_sip_reg_state state;
	int auth_tries;
	int failures; /* consecutive, for the backoff */
	int last_status;
	char last_phrase[64];
	int64_t expires_at_s; /* registered until */
	int64_t retry_at_s;   /* next attempt while in backoff */
	uint64_t registrations;
	guint timer;
};

void sb__sip_reg_start(struct sb_sip_reg *r);
void sb__sip_reg_stop(struct sb_sip_reg *r);
/* Handles an event of r's handle; false when nh is not r's. */
bool sb__sip_reg_event(struct sb_sip_reg *r, nua_event_t event, int status, const char *phrase,
		       nua_handle_t *nh, const sip_t *s);
/* Adds registration, last_status, expires_in, retry_in, failures and
 * registrations (those that apply) to o. */
void sb__sip_reg_json(const struct sb_sip_reg *r, json_t *o);
const char *sb__sip_reg_state_name(enum sb_sip_reg_state s);
/* The Route of a trunk's outbound proxy ("<sip:proxy;transport=..;lr>")
 * in out; false when the trunk has none (or it does not fit). */
bool sb__sip_trunk_route(const struct sb_config_trunk *c, char *out, size_t len);

/* trunk.c: the client side (registrations toward trunks, their OPTIONS
 * keepalive, and nat.c's keepalives). Start after the nua instances exist,
 * stop before nua_shutdown. */
int sb__sip_client_start(struct sb_sip *sip);
void sb__sip_client_stop(struct sb_sip *sip);
/* Handles an event on a handle of the client side; false when nh is not
 * one of them (the caller then handles the event). */
bool sb__sip_client_event(struct sb_sip *sip, nua_event_t event, int status, const char *phrase,
			  nua_handle_t *nh, const sip_t *s);
/* The nua listening on transport ("udp", "tcp", "tls"), else the first. */
nua_t *sb__sip_nua_for(struct sb_sip *sip, const char *transport);
/* The user whose account at trunk has username, or NULL. */
const struct sb_config_user *sb__sip_account_user(const struct sb_sip *sip,
						  const struct sb_config_trunk *trunk,
						  const char *username);

/* nat.c */
/* rport and received for every listener (RFC 3581). */
void sb__sip_nat_setup(struct sb_sip *sip, nua_t *nua);
/* The contact to store for a REGISTER's Contact: the source address of the
 * request when the Contact names another address ([sip]
 * nat_contact_rewrite), else the Contact itself. Allocated in home. */
char *sb__sip_nat_contact(struct sb_sip *sip, nua_t *nua, su_home_t *home, const sip_t *s,
			  const url_t *contact, const char *aor);
/* True when contact is a binding nat.c rewrote. */
bool sb__sip_nat_rewritten(struct sb_sip *sip, const char *contact);
/* Starts the keepalive timer and takes up the rewritten bindings restored
 * from the store (their keepalives resume after a restart). */
int sb__sip_nat_start(struct sb_sip *sip);
void sb__sip_nat_stop(struct sb_sip *sip);
bool sb__sip_nat_event(struct sb_sip *sip, nua_event_t event, int status, nua_handle_t *nh);

/* tls.c: prepares the certificate directory sofia's TLS transport reads
 * (from [sip] tls_cert and tls_key) and writes its path to out. Returns 0
 * or a negative errno (logged). */
int sb__sip_tls_dir(struct sb_sip *sip, char *out, size_t len);
