/* Harness of the call integration tests: the real switchboard binary with a
 * generated config (SIP on a loopback UDP port, WebSocket on a loopback TCP
 * port, a trunk toward SIPp), SIPp far ends and callers as child processes,
 * and "browsers" in the test process: protocol v1 over the signal tests'
 * WebSocket client, media by sb-peer (tests/peer), both driven from the test
 * thread. Every wait (for any browser's message, for SIPp) runs every
 * browser's media, so audio flows while the test does something else. Every server message is
 * checked against docs/schema. Every wait is bounded, and a failing wait fails the test with the
 * tails of the logs.
 *
 * Threads: one, the test's. Children die with the test process
 * (PR_SET_PDEATHSIG), so a test killed by its timeout leaves nothing behind. */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "peer.h"
#include "wsclient.h"

/* The HS256 secret of every generated config. */
#define CT_SECRET "calls-test-secret"

/* The gateway under test. */
struct ct_gw {
	pid_t pid;
	int sip_port;	/* UDP, 127.0.0.1 */
	int http_port;	/* ws://127.0.0.1 */
	int trunk_port; /* where [trunk far] sends: the SIPp far end listens there */
	char dir[64];
	char conf[128];
	char log[128];
	GMainContext *ctx; /* runs every browser's sb-peer, in every wait */
};

/* A SIPp child. */
struct ct_sipp {
	const struct ct_gw *gw;
	pid_t pid;
	int status; /* exit status once reaped, else -1 */
	char scenario[64];
	char log[160]; /* its screens */
	char err[160]; /* its -trace_err file */
};

/* One browser: a WebSocket session and the sb-peer of its current call. */
struct ct_browser {
	const struct ct_gw *gw;
	struct ws *ws;
	struct sb_peer *peer; /* on gw->ctx */
	json_t *events;	      /* events read but not yet taken, oldest first */
	unsigned next_id;
	char user[32];
	char may_dial[128]; /* a JSON array text */
	char session[40];
	char resume_token[80];
	char call[40]; /* the current call's id, or "" */
};

/* Starts the binary with the common config (docs/engine.md, Tests: routes
 * bob -> user bob, 7* -> trunk far on trunk_port) plus extra
 * (whole sections, e.g. "[limits]\nmax_calls = 1\n"), and waits for
 * /livez. Fails the test on error. */
void ct_gw_start(struct ct_gw *g, const char *extra);
/* As ct_gw_start, with trunk_keys (lines, e.g. "dtmf = info\n", or NULL)
 * added to [trunk far]. */
void ct_gw_start_trunk(struct ct_gw *g, const char *trunk_keys, const char *extra);
/* SIGTERM, waits, asserts a clean exit (0), removes the directory (kept
 * when SB_CALLS_KEEP is set). Accepts a gateway never started. */
void ct_gw_stop(struct ct_gw *g);
/* The CDR of a call from GET /api/v1/cdrs, waiting up to 5 s for it to be
 * stored; a new reference. Fails the test when there is none. */
json_t *ct_gw_cdr(const struct ct_gw *g, const char *call);

/* A SIPp far end on the trunk port answering the gateway's INVITE with
 * scenario (a path under tests/integration, e.g. "sip/uas_busy.xml"); its
 * RTP echo (-rtp_echo) returns every packet unchanged. */
void ct_sipp_uas_start(struct ct_sipp *s, const struct ct_gw *g, const char *scenario);
/* A SIPp caller from 127.0.0.1 (the trunk's address) to service@gateway,
 * with an RTP echo too. */
void ct_sipp_uac_start(struct ct_sipp *s, const struct ct_gw *g, const char *scenario,
		       const char *service);
/* The same with SIPp keywords: keys holds name, value pairs (NULL ended),
 * each given as -key name value, for [name] in the scenario. */
void ct_sipp_uac_start_keys(struct ct_sipp *s, const struct ct_gw *g, const char *scenario,
			    const char *service, const char *const *keys);
/* A script under tests/integration run by python3 with the gateway's SIP
 * port and args (NULL ended) as arguments, in place of a SIPp caller: it
 * exits 0 when its exchange went as it expects (ct_sipp_expect_pass). */
void ct_script_start(struct ct_sipp *s, const struct ct_gw *g, const char *script,
		     const char *const *args);
/* Waits up to timeout_ms for SIPp to end and asserts exit 0: every message
 * of its scenario came as scripted. */
void ct_sipp_expect_pass(struct ct_sipp *s, int timeout_ms);
/* Kills and reaps SIPp if it still runs. Accepts one never started. */
void ct_sipp_kill(struct ct_sipp *s);

/* The media of a SIP phone: a UDP socket on 127.0.0.1 (port) that returns
 * every RTP packet carrying sb-peer's payload to where it came from (music
 * on hold and anything else is only counted), its SSRC xor ssrc_xor, sequence
 * number + seq_add and timestamp + ts_add (another source when not 0), and
 * counts what it got. Runs on the gateway's context (every wait). */
struct ct_echo {
	int fd, port;
	GSource *src;
	uint32_t ssrc_xor, ts_add;
	uint16_t seq_add;
	unsigned packets;  /* RTP received (and returned) */
	unsigned marked;   /* of them, with sb-peer's marker ending the payload */
	unsigned seq_gaps; /* sequence number not the last one's + 1 */
	unsigned pt[128];  /* packets per payload type */
	unsigned rtcp;	   /* RTCP received (not returned) */
	int first_seq, last_seq;
	gint64 first_us, last_us; /* monotonic */
	gint64 max_gap_us;	  /* longest time between two packets */
	unsigned silences;	  /* times over a second between two packets */
	/* Its own packets (ct_echo_send): sent to the address the last RTP
	 * came from; those that come back are counted, not returned. */
	struct sockaddr_in from;
	unsigned own_sent, own_back, own_intact;
};

void ct_echo_start(struct ct_echo *e, const struct ct_gw *g, uint32_t ssrc_xor, uint16_t seq_add,
		   uint32_t ts_add);
/* Closes; accepts one stopped or never started (fd 0 or -1). */
void ct_echo_stop(struct ct_echo *e);
/* Sends one PCMU packet of its own (PT 0, 160 bytes: "CTE1", its number
 * and a pattern of it) to where the last RTP came from, as a phone that
 * speaks: one that comes back (an echo further on) is counted in own_back,
 * and in own_intact when its payload is unchanged. */
void ct_echo_send(struct ct_echo *e);

/* Connects as user (a JWT with sub user and may_dial, a JSON array text)
 * and says hello. */
void ct_browser_open(struct ct_browser *b, const struct ct_gw *g, const char *user,
		     const char *may_dial);
/* Frees the peer, the socket and the rest. Accepts a closed browser. */
void ct_browser_close(struct ct_browser *b);
/* Closes the TCP connection without a close frame, as a broken network
 * does; the peer's media goes on. */
void ct_browser_drop(struct ct_browser *b);
/* A new connection whose hello carries the resume token; asserts the same
 * session came back. */
void ct_browser_resume(struct ct_browser *b);
/* Runs the media of every browser and reads b's socket for ms. */
void ct_browser_run(struct ct_browser *b, int ms);

/* Sends method with params (a JSON object text, or NULL) and returns its
 * response (a new reference); events read meanwhile are kept. */
json_t *ct_browser_request(struct ct_browser *b, const char *method, const char *params);
/* The same for a request that must succeed: returns its result (a new
 * reference). */
json_t *ct_browser_request_ok(struct ct_browser *b, const char *method, const char *params);
/* The oldest event named name not yet taken, waiting up to timeout_ms;
 * returns its data (a new reference). Call events must name the current
 * call. */
json_t *ct_browser_event(struct ct_browser *b, const char *name, int timeout_ms);

/* Makes the offering peer and dials to with its offer; returns the response
 * (a new reference) and, when it names a call, makes it the current one. */
json_t *ct_browser_dial(struct ct_browser *b, const char *to, enum sb_peer_codec codec,
			int send_ms);
/* Dials, expects ringing (180) then the answer, and gives the answer to the
 * peer: media starts. */
void ct_browser_dial_answered(struct ct_browser *b, const char *to, enum sb_peer_codec codec,
			      int send_ms);
/* Waits for call.incoming (from the caller `from`), answers its offer with
 * an answering peer and call.answer: media starts. */
void ct_browser_answer_incoming(struct ct_browser *b, const char *from, enum sb_peer_codec codec,
				int send_ms);
/* Runs until the peer has sent for its send_ms and waited for the last
 * echoes, then asserts that it sent and that every packet came back with
 * its content intact: nothing lost, corrupt or undecryptable. */
void ct_browser_expect_echo(struct ct_browser *b, int timeout_ms);
/* Runs until b's peer has sent all its audio (at most timeout_ms), prints
 * its report and asserts that its media worked (ICE, DTLS, no error, audio
 * sent); fills ret with its figures, what came back not checked. */
void ct_browser_run_peer(struct ct_browser *b, int timeout_ms, struct sb_peer_stats *ret);
/* Hangs the current call up and expects call.ended with reason. */
void ct_browser_hangup(struct ct_browser *b, const char *reason);
/* Waits for call.ended of the current call and asserts its reason and,
 * when error is not NULL, its error name (then its code is returned). */
int ct_browser_expect_ended(struct ct_browser *b, const char *reason, const char *error,
			    int timeout_ms);

/* Asserts resp is an error response with this code and name; returns the
 * error object (borrowed from resp). */
json_t *ct_expect_error(json_t *resp, int code, const char *name);
