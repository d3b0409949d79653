/* The call engine end to end: the real switchboard binary, SIPp far ends and
 * callers, and browsers made of the signal tests' WebSocket client and
 * sb-peer (harness.h). Audio is checked by content: sb-peer marks every
 * packet, SIPp's RTP echo returns it unchanged, and with one codec on both
 * sides the gateway relays it untouched, so every packet must come back
 * intact. One gateway per test; meson runs each test on its own. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define LIMITS "[limits]\nmax_calls = 1\nretry_after = 7\n"

static struct ct_gw gw;
static struct ct_sipp uas, uac;
static struct ct_browser alice, bob, carol;
static struct ct_echo echo_a, echo_b;

static void fini(void)
{
	ct_browser_close(&alice);
	ct_browser_close(&bob);
	ct_browser_close(&carol);
	ct_sipp_kill(&uas);
	ct_sipp_kill(&uac);
	ct_echo_stop(&echo_a);
	ct_echo_stop(&echo_b);
	ct_gw_stop(&gw);
}

TestSuite(calls, .fini = fini, .timeout = 55);

/* Field key of a CDR (leg -1) or of its leg number leg (0-based), "" when
 * absent. */
static const char *cdr_str(json_t *cdr, int leg, const char *key)
{
	json_t *o = leg < 0 ? cdr : json_array_get(json_object_get(cdr, "legs"), (size_t)leg);
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* Asserts the stored CDR of b's current call. */
static void expect_cdr(struct ct_browser *b, const char *action, const char *disposition,
		       const char *cause)
{
	json_t *cdr = ct_gw_cdr(&gw, b->call);
	char *t = json_dumps(cdr, JSON_COMPACT);

	cr_expect_str_eq(cdr_str(cdr, -1, "action"), action, "%s", t);
	cr_expect_str_eq(cdr_str(cdr, -1, "disposition"), disposition, "%s", t);
	cr_expect_str_eq(cdr_str(cdr, -1, "cause"), cause, "%s", t);
	free(t);
	json_decref(cdr);
}

/* Dials to and asserts that the dial was taken (the call may fail later). */
static void dial_taken(struct ct_browser *b, const char *to)
{
	json_t *r = ct_browser_dial(b, to, SB_PEER_PCMU, 1000);

	cr_assert(json_object_get(r, "result"), "%s: call.dial refused", b->user);
	json_decref(r);
}

/* DTMF with a trunk that wants it in SIP INFO ([trunk] dtmf = info): the
 * browser's digits reach SIPp as one INFO each, in order (SIPp checks the
 * bodies and that each waits for the previous one's 200), and SIPp's own
 * INFO reaches the browser as call.dtmf with its duration. */
Test(calls, dtmf_info)
{
	char params[96];
	json_t *r, *ev;

	ct_gw_start_trunk(&gw, "dtmf = info\n", NULL);
	ct_sipp_uas_start(&uas, &gw, "calls/uas_info_dtmf.xml");
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	ct_browser_dial_answered(&alice, "7000", SB_PEER_PCMU, 3000);
	snprintf(params, sizeof(params), "{\"call\":\"%s\",\"digits\":\"123\"}", alice.call);
	r = ct_browser_request_ok(&alice, "call.dtmf", params);
	json_decref(r);
	ev = ct_browser_event(&alice, "call.dtmf", 10000);
	cr_assert(ev, "no call.dtmf");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "digit")), "9");
	cr_assert_eq(json_integer_value(json_object_get(ev, "duration_ms")), 250);
	json_decref(ev);
	ct_browser_hangup(&alice, "hangup");
	ct_sipp_expect_pass(&uas, 5000);
	expect_cdr(&alice, "trunk", "answered", "caller_hangup");
}

/* 1. A browser calls the SIP far end (SIPp answering and echoing) and hears
 * its own audio come back; then the browser hangs up (SIPp must get the
 * BYE) or the far end does (call.ended remote_hangup). */
static void browser_to_sip(const char *scenario, enum sb_peer_codec codec, bool far_end_hangs_up)
{
	ct_gw_start(&gw, NULL);
	ct_sipp_uas_start(&uas, &gw, scenario);
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	ct_browser_dial_answered(&alice, "7000", codec, 3000);
	ct_browser_expect_echo(&alice, 15000);
	if (far_end_hangs_up)
		ct_browser_expect_ended(&alice, "remote_hangup", NULL, 10000);
	else
		ct_browser_hangup(&alice, "hangup");
	ct_sipp_expect_pass(&uas, 5000);
	expect_cdr(&alice, "trunk", "answered",
		   far_end_hangs_up ? "callee_hangup" : "caller_hangup");
}

Test(calls, browser_to_sip_pcmu)
{
	browser_to_sip("sip/uas_echo_pcmu.xml", SB_PEER_PCMU, false);
}

Test(calls, browser_to_sip_opus)
{
	browser_to_sip("sip/uas_echo.xml", SB_PEER_OPUS, false);
}

Test(calls, browser_to_sip_far_end_hangs_up)
{
	browser_to_sip("calls/uas_echo_bye.xml", SB_PEER_PCMU, true);
}

/* 2. A trunk caller (SIPp) calls the browser user bob, who answers and
 * hears his audio echoed by SIPp; then SIPp hangs up (call.ended
 * remote_hangup) or bob does (SIPp must get the BYE). */
static void sip_to_browser(const char *scenario, enum sb_peer_codec codec, bool browser_hangs_up)
{
	ct_gw_start(&gw, NULL);
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_sipp_uac_start(&uac, &gw, scenario, "bob");
	ct_browser_answer_incoming(&bob, "15550001", codec, 3000);
	ct_browser_expect_echo(&bob, 15000);
	if (browser_hangs_up)
		ct_browser_hangup(&bob, "hangup");
	else
		ct_browser_expect_ended(&bob, "remote_hangup", NULL, 15000);
	ct_sipp_expect_pass(&uac, 5000);
	expect_cdr(&bob, "user", "answered", browser_hangs_up ? "callee_hangup" : "caller_hangup");
}

/* uac_echo.xml offers Opus and hangs up 8 s after its ACK. */
Test(calls, sip_to_browser_opus)
{
	sip_to_browser("sip/uac_echo.xml", SB_PEER_OPUS, false);
}

/* uac_call_wait_bye.xml offers PCMU and waits for the BYE. */
Test(calls, sip_to_browser_browser_hangs_up)
{
	sip_to_browser("sip/uac_call_wait_bye.xml", SB_PEER_PCMU, true);
}

/* 3. Failures: a busy far end, a browser that gives up while it rings, a
 * number no route matches. */
Test(calls, busy)
{
	ct_gw_start(&gw, NULL);
	ct_sipp_uas_start(&uas, &gw, "sip/uas_busy.xml");
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	dial_taken(&alice, "7001");
	cr_assert_eq(ct_browser_expect_ended(&alice, "failed", "sip_486_busy_here", 10000), 10486);
	ct_sipp_expect_pass(&uas, 5000);
	expect_cdr(&alice, "trunk", "busy", "busy");
}

Test(calls, cancel_while_ringing)
{
	json_t *ev;

	ct_gw_start(&gw, NULL);
	ct_sipp_uas_start(&uas, &gw, "sip/uas_ring_cancel.xml");
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	dial_taken(&alice, "7002");
	ev = ct_browser_event(&alice, "call.progress", 10000);
	json_decref(ev);
	ct_browser_hangup(&alice, "hangup");
	/* SIPp saw CANCEL, answered it and the INVITE (487), got the ACK. */
	ct_sipp_expect_pass(&uas, 5000);
	expect_cdr(&alice, "trunk", "cancelled", "caller_cancel");
}

/* Nobody answers within [limits] ring_timeout: the browser gets a timeout
 * (408) and the ringing far end a CANCEL (SIPp answers it and the INVITE
 * with 487, and gets the ACK). */
Test(calls, unanswered)
{
	json_t *ev;

	ct_gw_start(&gw, "[limits]\nring_timeout = 2s\n");
	ct_sipp_uas_start(&uas, &gw, "sip/uas_ring_cancel.xml");
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	dial_taken(&alice, "7002");
	ev = ct_browser_event(&alice, "call.progress", 10000);
	json_decref(ev);
	cr_assert_eq(ct_browser_expect_ended(&alice, "timeout", "sip_408_request_timeout", 10000),
		     10408);
	ct_sipp_expect_pass(&uas, 5000);
	expect_cdr(&alice, "trunk", "no_answer", "ring_timeout");
}

Test(calls, no_route)
{
	json_t *r;

	ct_gw_start(&gw, NULL);
	ct_browser_open(&alice, &gw, "alice", "[\"*\"]");
	/* Refused before it was routed: the error is the dial's reply. */
	r = ct_browser_dial(&alice, "5555", SB_PEER_PCMU, 1000);
	ct_expect_error(r, 10404, "sip_404_not_found");
	json_decref(r);
	ct_browser_run(&alice, 200);
	cr_assert_eq(json_array_size(alice.events), 0, "events for a call never made");
}

/* 4. Admission with [limits] max_calls = 1: while one call is up, a
 * browser's dial is refused (overloaded, retry_after) and a trunk's INVITE
 * gets 503 with Retry-After; the call that is up is untouched, and once it
 * ends the next call is admitted. */
Test(calls, admission_limit)
{
	json_t *r, *e;

	ct_gw_start(&gw, LIMITS);
	ct_sipp_uas_start(&uas, &gw, "sip/uas_echo_pcmu.xml");
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	ct_browser_open(&carol, &gw, "carol", "[\"7*\"]");
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_browser_dial_answered(&alice, "7000", SB_PEER_PCMU, 3000);

	r = ct_browser_dial(&carol, "7001", SB_PEER_PCMU, 1000);
	e = ct_expect_error(r, 3004, "overloaded");
	cr_assert_eq(json_integer_value(json_object_get(e, "retry_after")), 7);
	json_decref(r);
	ct_sipp_uac_start(&uac, &gw, "calls/uac_limit_503.xml", "bob");
	ct_sipp_expect_pass(&uac, 10000);
	ct_browser_run(&bob, 200);
	cr_assert_eq(json_array_size(bob.events), 0, "bob heard of a call refused at admission");

	ct_browser_expect_echo(&alice, 15000);
	ct_browser_hangup(&alice, "hangup");
	ct_sipp_expect_pass(&uas, 5000);

	ct_sipp_uas_start(&uas, &gw, "sip/uas_busy.xml");
	dial_taken(&carol, "7001");
	ct_browser_expect_ended(&carol, "failed", "sip_486_busy_here", 10000);
	ct_sipp_expect_pass(&uas, 5000);
}

/* 5. The browser's socket drops mid-call while its media keeps flowing;
 * it reconnects and resumes the session (same address: no ICE restart),
 * gets call.resumed, and its audio still comes back intact afterwards. */
Test(calls, resume_mid_call)
{
	struct sb_peer_stats at_resume, end;
	json_t *ev;

	ct_gw_start(&gw, NULL);
	ct_sipp_uas_start(&uas, &gw, "sip/uas_echo_pcmu.xml");
	ct_browser_open(&alice, &gw, "alice", "[\"7*\"]");
	ct_browser_dial_answered(&alice, "7000", SB_PEER_PCMU, 6000);
	ct_browser_run(&alice, 1500);
	ct_browser_drop(&alice);
	ct_browser_run(&alice, 1000);
	ct_browser_resume(&alice);
	ev = ct_browser_event(&alice, "call.resumed", 5000);
	cr_assert_str_eq(json_string_value(json_object_get(ev, "state")), "answered");
	cr_assert_null(json_object_get(ev, "sdp"), "an ICE restart offer from the same address");
	json_decref(ev);
	sb_peer_stats_get(alice.peer, &at_resume);
	ct_browser_expect_echo(&alice, 15000);
	sb_peer_stats_get(alice.peer, &end);
	/* About 3 s of the 6 s were still to be sent at the resume: 150 packets. */
	cr_assert_geq(end.received - at_resume.received, 100,
		      "only %u packets came back after the resume",
		      end.received - at_resume.received);
	ct_browser_hangup(&alice, "hangup");
	ct_sipp_expect_pass(&uas, 5000);
	expect_cdr(&alice, "trunk", "answered", "caller_hangup");
}

/* Runs b's loop (every browser's media and the echoes) until cond holds or
 * ms have passed. */
#define RUN_UNTIL(b, cond, ms)                                                                     \
	for (gint64 end_ = g_get_monotonic_time() + (ms)*1000LL;                                   \
	     !(cond) && g_get_monotonic_time() < end_;)                                            \
	ct_browser_run((b), 5)

/* The runs of packets sent by b's peer up to the last one that came back
 * which did not come back: how many, and the longest. */
static unsigned lost_runs(const struct ct_browser *b, unsigned sent, unsigned *ret_longest,
			  unsigned *ret_last)
{
	unsigned runs = 0, run = 0, last = 0;

	*ret_longest = 0;
	for (unsigned n = 0; n < sent; n++)
		if (sb_peer_echoed(b->peer, n))
			last = n;
	for (unsigned n = 0; n <= last; n++) {
		if (sb_peer_echoed(b->peer, n)) {
			run = 0;
			continue;
		}
		runs += run++ == 0;
		if (run > *ret_longest)
			*ret_longest = run;
	}
	*ret_last = last;
	return runs;
}

/* 6. The SIP caller changes the media mid-call by re-INVITE (RFC 3264
 * section 8; calls/uac_reinvite.xml, whose SIPp checks each answer) while
 * bob's Opus goes round through the test's UDP echoes, the SIP phone's
 * media: first at port A (Opus as PT 96); 2.5 s after the ACK a move to
 * port B, whose echo answers as another source (SSRC, sequence and
 * timestamps unrelated), with Opus renumbered to PT 98; 2.5 s later a hold
 * (sendonly) for 2 s, then a resume by UPDATE; 1.5 s later an offer with no
 * codec in common (488); an UPDATE without an offer (200); BYE 2.5 s after
 * the 488. Checked by content: the echoes see
 * sb-peer's marked payloads under the right payload type, and every packet
 * the browser sent came back intact but one run, the hold's; toward the
 * browser one RTP stream throughout, and call.hold for the hold and the
 * resume. */
Test(calls, sip_reinvite)
{
	char pa[16], pb[16];
	const char *keys[] = {"porta", pa, "portb", pb, NULL};
	struct sb_peer_stats moved, end;
	unsigned a_at_move, runs, longest, last;

	ct_gw_start(&gw, NULL);
	ct_echo_start(&echo_a, &gw, 0, 0, 0);
	ct_echo_start(&echo_b, &gw, 0x5a5a5a5a, 20000, 0x12345678);
	snprintf(pa, sizeof(pa), "%d", echo_a.port);
	snprintf(pb, sizeof(pb), "%d", echo_b.port);
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_sipp_uac_start_keys(&uac, &gw, "calls/uac_reinvite.xml", "bob", keys);
	ct_browser_answer_incoming(&bob, "15550001", SB_PEER_OPUS, 16000);

	/* 1. Audio round A until the first re-INVITE; then B gets the stream
	 * at once. */
	RUN_UNTIL(&bob, echo_b.packets > 0, 15000);
	cr_assert_gt(echo_b.packets, 0, "nothing reached the new port after the re-INVITE");
	cr_assert_geq(echo_a.packets, 25, "too little audio at the first port: %u", echo_a.packets);
	a_at_move = echo_a.packets;
	ct_browser_run(&bob, 1000);
	/* 2. Nothing more at A (one packet may have been on its way); our
	 * stream continues at B with the next sequence number, under the
	 * renumbered payload type. */
	cr_assert_leq(echo_a.packets, a_at_move + 1, "the old port still receives: %u more",
		      echo_a.packets - a_at_move);
	cr_assert_eq(echo_b.first_seq, (uint16_t)(echo_a.last_seq + 1),
		     "the stream does not continue at the new port: %d after %d", echo_b.first_seq,
		     echo_a.last_seq);
	cr_assert_eq(echo_a.pt[96], echo_a.packets, "not all Opus as 96 at the first port");
	sb_peer_stats_get(bob.peer, &moved);

	/* 3. The hold, the resume, the refused offer, SIPp's BYE. */
	ct_browser_expect_ended(&bob, "remote_hangup", NULL, 20000);
	sb_peer_stats_get(bob.peer, &end);
	ct_sipp_expect_pass(&uac, 5000);
	runs = lost_runs(&bob, end.sent, &longest, &last);
	fprintf(stderr,
		"echo A: %u packets, seq %d..%d; echo B: %u packets, seq %d..%d, %u gaps, "
		"longest silence %lld ms; bob: sent %u (%u at the move), received %u, %u runs "
		"lost (longest %u), last echoed %u, seq gaps %u, ts jumps %u, ssrc changes %u\n",
		echo_a.packets, echo_a.first_seq, echo_a.last_seq, echo_b.packets, echo_b.first_seq,
		echo_b.last_seq, echo_b.seq_gaps, (long long)echo_b.max_gap_us / 1000, end.sent,
		moved.sent, end.received, runs, longest, last, end.seq_gaps, end.ts_jumps,
		end.ssrc_changes);
	cr_assert_eq(echo_b.pt[98], echo_b.packets, "not all Opus as 98 (renumbered) at B");
	cr_assert_eq(echo_a.marked, echo_a.packets, "payloads altered on the way to A");
	cr_assert_eq(echo_b.marked, echo_b.packets, "payloads altered on the way to B");
	/* The hold: B got nothing for the 2 s, once; its sequence numbers
	 * continue over it. */
	cr_assert_eq(echo_b.silences, 1, "%u silences over 1 s at B (1: the hold)",
		     echo_b.silences);
	cr_assert_geq(echo_b.max_gap_us, 1500000, "the hold lasted only %lld ms at B",
		      (long long)echo_b.max_gap_us / 1000);
	cr_assert_eq(echo_b.seq_gaps, 0, "our sequence numbers toward SIP jumped (%u gaps)",
		     echo_b.seq_gaps);
	/* By content: every packet sent came back but one run, the 2 s of the
	 * hold: none lost across the move, after the resume or at the refused
	 * offer; audio until the BYE (the last few sent after it do not). */
	cr_assert_eq(runs, 1, "%u runs of packets lost (1: the hold)", runs);
	cr_assert(longest >= 75 && longest <= 125, "%u packets lost in the hold (2 s: 100)",
		  longest);
	cr_assert_leq(end.sent - last, 25, "no echo for the last %u packets before the BYE",
		      end.sent - last);
	cr_assert_eq(end.corrupt + end.undecryptable + end.duplicates, 0,
		     "corrupt %u, undecryptable %u, duplicates %u", end.corrupt, end.undecryptable,
		     end.duplicates);
	/* Toward the browser, one stream throughout: one SSRC, no sequence
	 * gap, timestamps a frame apart but for the one jump of the hold. */
	cr_assert_eq(end.ssrc_changes, 0, "the SSRC toward the browser changed");
	cr_assert_eq(end.seq_gaps, 0, "%u sequence gaps toward the browser", end.seq_gaps);
	cr_assert_eq(end.ts_jumps, 1, "%u timestamp jumps toward the browser (1: the hold)",
		     end.ts_jumps);
	/* bob heard that the far end held and resumed (call.hold). */
	for (int i = 0; i < 2; i++) {
		json_t *h = ct_browser_event(&bob, "call.hold", 100);

		cr_assert_eq(json_is_true(json_object_get(h, "hold")), i == 0,
			     "call.hold %d: hold is not %s", i, i == 0 ? "true" : "false");
		json_decref(h);
	}
	expect_cdr(&bob, "user", "answered", "caller_hangup");
}

/* 7. The SIP caller puts the call on hold by re-INVITE and CANCELs it
 * while it waits for the media plane's answer (sip/reinvite_cancel.py, its
 * media at the test's UDP echo: the re-INVITE and the CANCEL in one
 * sendmmsg, 200 to the CANCEL, 487 to the re-INVITE, BYE 5 s later). The
 * party keeps the old session (RFC 3264 section 8), and so must we: checked
 * by content, every packet bob sent went round the SIP side's echo and came
 * back intact (the gateway never stopped sending to the party), the echo
 * never fell silent, and bob heard of no hold. On a loaded machine the
 * gateway may still read and answer the re-INVITE before the CANCEL (the
 * script then reports its 200): then the hold is the party's, and both
 * sides must agree on it: bob hears call.hold and the echo falls silent. */
Test(calls, sip_reinvite_cancelled)
{
	char pa[16], *log;
	const char *args[] = {"bob", pa, "5", NULL};
	struct sb_peer_stats st;
	bool won;
	size_t i;
	json_t *m;

	ct_gw_start(&gw, NULL);
	ct_echo_start(&echo_a, &gw, 0, 0, 0);
	snprintf(pa, sizeof(pa), "%d", echo_a.port);
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_script_start(&uac, &gw, "sip/reinvite_cancel.py", args);
	ct_browser_answer_incoming(&bob, "15550001", SB_PEER_PCMU, 5000);
	ct_browser_run_peer(&bob, 15000, &st);
	ct_browser_expect_ended(&bob, "remote_hangup", NULL, 10000);
	ct_sipp_expect_pass(&uac, 5000);
	cr_assert(g_file_get_contents(uac.log, &log, NULL, NULL), "no script log");
	won = strstr(log, "re-INVITE: 200") != NULL;
	cr_assert(won || strstr(log, "re-INVITE: 487"), "the script did not report: %s", log);
	g_free(log);
	fprintf(stderr, "echo A: %u packets, seq %d..%d, %u gaps, longest silence %lld ms%s\n",
		echo_a.packets, echo_a.first_seq, echo_a.last_seq, echo_a.seq_gaps,
		(long long)echo_a.max_gap_us / 1000,
		won ? "; the answer won the race: the hold was the party's" : "");
	cr_assert_eq(echo_a.marked, echo_a.packets, "payloads altered on the way to the echo");
	cr_assert_eq(echo_a.seq_gaps, 0, "our sequence numbers toward SIP jumped");
	cr_assert_eq(st.corrupt + st.undecryptable, 0, "corrupt or undecryptable echoes");
	if (won) {
		json_t *h = ct_browser_event(&bob, "call.hold", 100);

		cr_assert(json_is_true(json_object_get(h, "hold")),
			  "a hold the party was answered 200 for: bob not told");
		json_decref(h);
		cr_assert_lt(echo_a.packets + 50, st.sent,
			     "the party still got audio while it held: %u of %u", echo_a.packets,
			     st.sent);
	} else {
		cr_assert(st.received == st.sent && st.lost == 0,
			  "bob: %u of %u packets did not come back (a hold applied)", st.lost,
			  st.sent);
		cr_assert_geq(echo_a.packets, 200, "too little audio at the echo: %u",
			      echo_a.packets);
		cr_assert_eq(echo_a.silences, 0, "the echo fell silent (a hold applied)");
		json_array_foreach(bob.events, i, m)
			cr_assert_str_neq(json_string_value(json_object_get(m, "event")),
					  "call.hold", "bob was told of a hold that was cancelled");
	}
	expect_cdr(&bob, "user", "answered", "caller_hangup");
}

/* 8. The browser holds the SIP party and resumes it (call.hold; docs/engine.md
 * "Hold from our side"): a trunk (calls/uac_held.xml, PCMU, its media at the
 * test's UDP echo) calls bob, who answers (14 s of audio); 1.5 s in, bob holds. SIPp answers
 * the first re-INVITE 491, as if one of its own had crossed it: switchboard
 * retries it 2.1-4 s later (a=sendonly, o= version 2; SIPp checks both) and
 * SIPp answers a=recvonly; only then does bob's request succeed. While held
 * the echo gets music on hold, none of bob's audio (checked for 2 s); after
 * the resume (a=sendrecv, o=
 * version 3) audio goes round again. Checked by content: every packet bob
 * sent came back intact but one run, the hold's; toward the party one
 * stream, its sequence numbers continuous across the hold; bob hangs up and
 * SIPp gets the BYE. */
Test(calls, browser_holds_sip)
{
	char pa[16], params[96];
	const char *keys[] = {"porta", pa, NULL};
	struct sb_peer_stats end;
	unsigned at_hold, marked_at_hold, music, unmarked, runs, longest, last;
	gint64 asked;
	json_t *r;

	ct_gw_start(&gw, NULL);
	ct_echo_start(&echo_a, &gw, 0, 0, 0);
	snprintf(pa, sizeof(pa), "%d", echo_a.port);
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_sipp_uac_start_keys(&uac, &gw, "calls/uac_held.xml", "bob", keys);
	ct_browser_answer_incoming(&bob, "15550001", SB_PEER_PCMU, 14000);
	RUN_UNTIL(&bob, echo_a.packets >= 75, 10000);
	cr_assert_geq(echo_a.packets, 75, "too little audio before the hold: %u", echo_a.packets);
	cr_assert_eq(echo_a.marked, echo_a.packets, "payloads altered on the way to the echo");

	/* The hold: answered only after SIPp's 491 and the retry. */
	snprintf(params, sizeof(params), "{\"call\":\"%s\",\"hold\":true}", bob.call);
	asked = g_get_monotonic_time();
	r = ct_browser_request_ok(&bob, "call.hold", params);
	json_decref(r);
	cr_assert_geq(g_get_monotonic_time() - asked, 2000000,
		      "the hold succeeded before the 491's retry (%lld ms)",
		      (long long)(g_get_monotonic_time() - asked) / 1000);
	ct_browser_run(&bob, 300); /* packets already on their way */
	at_hold = echo_a.packets;
	marked_at_hold = echo_a.marked;
	ct_browser_run(&bob, 2000);
	/* While held the party gets music on hold ([media] hold_music, the
	 * default tone: one 20 ms frame at a time, its stream continuing),
	 * none of bob's audio. */
	music = echo_a.packets - at_hold;
	cr_assert_eq(echo_a.marked, marked_at_hold, "bob's audio reached the held party (%u)",
		     echo_a.marked - marked_at_hold);
	cr_assert(music >= 80 && music <= 120, "%u frames of music on hold in 2 s (100)", music);

	/* The resume: audio goes round again. */
	snprintf(params, sizeof(params), "{\"call\":\"%s\",\"hold\":false}", bob.call);
	r = ct_browser_request_ok(&bob, "call.hold", params);
	json_decref(r);
	RUN_UNTIL(&bob, echo_a.marked >= marked_at_hold + 50, 5000);
	cr_assert_geq(echo_a.marked, marked_at_hold + 50, "too little audio after the resume: %u",
		      echo_a.marked - marked_at_hold);
	unmarked = echo_a.packets - echo_a.marked;
	/* Until bob's peer has sent all and had its last echoes. */
	ct_browser_run_peer(&bob, 15000, &end);
	ct_browser_hangup(&bob, "hangup");
	ct_sipp_expect_pass(&uac, 5000);
	runs = lost_runs(&bob, end.sent, &longest, &last);
	fprintf(stderr,
		"echo: %u packets, seq %d..%d, %u gaps, %u silences, longest %lld ms; bob: sent "
		"%u, received %u, %u runs lost (longest %u), last echoed %u\n",
		echo_a.packets, echo_a.first_seq, echo_a.last_seq, echo_a.seq_gaps, echo_a.silences,
		(long long)echo_a.max_gap_us / 1000, end.sent, end.received, runs, longest, last);
	/* After the resume nothing but bob's audio: no more music, nothing
	 * altered. */
	cr_assert_eq(echo_a.packets - echo_a.marked, unmarked,
		     "%u packets after the resume were not bob's",
		     echo_a.packets - echo_a.marked - unmarked);
	cr_assert_eq(echo_a.silences, 0, "%u silences over 1 s at the echo (music fills the hold)",
		     echo_a.silences);
	cr_assert_eq(echo_a.seq_gaps, 0, "our sequence numbers toward SIP jumped (%u gaps)",
		     echo_a.seq_gaps);
	cr_assert_eq(runs, 1, "%u runs of packets lost (1: the hold)", runs);
	cr_assert_geq(longest, 100, "only %u packets lost in a hold of over 2 s", longest);
	cr_assert_eq(end.corrupt + end.undecryptable + end.duplicates, 0,
		     "corrupt %u, undecryptable %u, duplicates %u", end.corrupt, end.undecryptable,
		     end.duplicates);
	expect_cdr(&bob, "user", "answered", "callee_hangup");
}

/* Bob's call.transfer with params ends his call "transferred"; then echo
 * A speaks as the caller (its own numbered packets): each must reach the
 * target (trunk far, a SIPp echoing RTP) and come back intact. The caller
 * hangs up; the CDR of call lists the three legs. */
static void transfer_and_check(const char *call, const char *params)
{
	json_t *r, *cdr, *legs;
	char *t;

	r = ct_browser_request_ok(&bob, "call.transfer", params);
	cr_assert_eq(json_object_size(r), 0, "call.transfer's result is not {}");
	json_decref(r);
	ct_browser_expect_ended(&bob, "transferred", NULL, 5000);

	/* The caller speaks: 50 packets, 20 ms apart. */
	ct_browser_run(&bob, 300);
	for (int i = 0; i < 50; i++) {
		ct_echo_send(&echo_a);
		ct_browser_run(&bob, 20);
	}
	RUN_UNTIL(&bob, echo_a.own_back >= echo_a.own_sent, 3000);
	fprintf(stderr, "caller: sent %u, back %u (%u intact)\n", echo_a.own_sent, echo_a.own_back,
		echo_a.own_intact);
	cr_assert_geq(echo_a.own_back, 45, "the target's audio did not reach the caller: %u of %u",
		      echo_a.own_back, echo_a.own_sent);
	cr_assert_eq(echo_a.own_intact, echo_a.own_back, "payloads altered across the transfer");

	ct_sipp_expect_pass(&uac, 10000);
	ct_sipp_expect_pass(&uas, 5000);
	cdr = ct_gw_cdr(&gw, call);
	t = json_dumps(cdr, JSON_COMPACT);
	legs = json_object_get(cdr, "legs");
	cr_expect_str_eq(cdr_str(cdr, -1, "disposition"), "answered", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, -1, "cause"), "caller_hangup", "%s", t);
	cr_assert_eq(json_array_size(legs), 3, "%s", t);
	cr_expect_str_eq(cdr_str(cdr, 1, "cause"), "transferred", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, 2, "trunk"), "far", "%s", t);
	free(t);
	json_decref(cdr);
}

/* Blind transfer (call.transfer, docs/engine.md): SIPp (calls/
 * uac_transferred.xml) calls bob with PCMU, its media at the test's UDP
 * echo A; bob answers with sb-peer and audio goes round. Bob transfers the
 * caller to 7000 (trunk far: a second SIPp answering PCMU and echoing RTP):
 * the caller is held (our sendonly re-INVITE), the target rung and
 * answered, then the caller resumed (sendrecv, the same dialog). Bob's
 * request gets {} and his call ends with reason transferred. Then echo A
 * speaks as the caller (its own numbered packets): each reaches the target,
 * whose echo comes back to A through the gateway intact, so the caller's
 * audio reaches the new target and the target's reaches the caller. The
 * caller hangs up: the target gets the BYE; the CDR lists the three legs. */
Test(calls, browser_transfers_sip)
{
	char pa[16], params[96];
	const char *keys[] = {"porta", pa, NULL};
	char call[40];

	ct_gw_start(&gw, NULL);
	ct_echo_start(&echo_a, &gw, 0, 0, 0);
	snprintf(pa, sizeof(pa), "%d", echo_a.port);
	ct_sipp_uas_start(&uas, &gw, "sip/uas_echo_pcmu.xml");
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_sipp_uac_start_keys(&uac, &gw, "calls/uac_transferred.xml", "bob", keys);
	ct_browser_answer_incoming(&bob, "15550001", SB_PEER_PCMU, 3000);
	RUN_UNTIL(&bob, echo_a.packets >= 50, 10000);
	cr_assert_geq(echo_a.packets, 50, "too little audio before the transfer: %u",
		      echo_a.packets);
	snprintf(call, sizeof(call), "%s", bob.call);

	snprintf(params, sizeof(params), "{\"call\":\"%s\",\"to\":\"7000\"}", call);
	transfer_and_check(call, params);
}

/* The next call.consult event of b's current call whose state is state
 * (the ones before it, e.g. ringing, passed over). */
static void expect_consult(struct ct_browser *b, const char *state, int timeout_ms)
{
	for (int i = 0; i < 4; i++) {
		json_t *e = ct_browser_event(b, "call.consult", timeout_ms);
		const char *st = json_string_value(json_object_get(e, "state"));
		bool found = st && strcmp(st, state) == 0;

		json_decref(e);
		if (found)
			return;
	}
	cr_assert_fail("no call.consult %s", state);
}

/* Consultative transfer (call.consult, docs/engine.md): SIPp (calls/
 * uac_transferred.xml) calls bob with PCMU, its media at the test's UDP
 * echo A; bob answers with sb-peer and audio goes round. Bob consults 7000
 * (trunk far: a second SIPp answering PCMU and echoing RTP): the caller is
 * held (our sendonly re-INVITE: it hears music, nothing of bob), the target
 * answers and bob's audio now goes round through the target (bob's packets
 * come back intact while none reaches echo A). Bob completes with
 * call.transfer without to: the caller is resumed (sendrecv) and bridged
 * to the target, bob's call ends "transferred"; echo A's own packets reach
 * the target and come back intact. The caller hangs up; the CDR lists the
 * three legs. */
Test(calls, browser_consults_sip)
{
	char pa[16], params[96];
	const char *keys[] = {"porta", pa, NULL};
	struct sb_peer_stats before, after;
	unsigned marked;
	char call[40];
	json_t *r;

	ct_gw_start(&gw, NULL);
	ct_echo_start(&echo_a, &gw, 0, 0, 0);
	snprintf(pa, sizeof(pa), "%d", echo_a.port);
	ct_sipp_uas_start(&uas, &gw, "sip/uas_echo_pcmu.xml");
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_sipp_uac_start_keys(&uac, &gw, "calls/uac_transferred.xml", "bob", keys);
	ct_browser_answer_incoming(&bob, "15550001", SB_PEER_PCMU, 6000);
	RUN_UNTIL(&bob, echo_a.marked >= 50, 10000);
	cr_assert_geq(echo_a.marked, 50, "too little of bob's audio at the caller: %u",
		      echo_a.marked);
	snprintf(call, sizeof(call), "%s", bob.call);

	snprintf(params, sizeof(params), "{\"call\":\"%s\",\"to\":\"7000\"}", call);
	r = ct_browser_request_ok(&bob, "call.consult", params);
	cr_assert_eq(json_object_size(r), 0, "call.consult's result is not {}");
	json_decref(r);
	expect_consult(&bob, "answered", 5000);

	/* Bob and the target talk: bob's packets go round through the
	 * target's echo, and none reaches the held caller. */
	ct_browser_run(&bob, 300);
	sb_peer_stats_get(bob.peer, &before);
	marked = echo_a.marked;
	ct_browser_run(&bob, 1500);
	sb_peer_stats_get(bob.peer, &after);
	fprintf(stderr, "consulting: bob's echoes %u -> %u, at the caller %u -> %u\n",
		before.received, after.received, marked, echo_a.marked);
	cr_assert_geq(after.received - before.received, 50,
		      "bob's audio did not go round through the target: %u in 1.5 s",
		      after.received - before.received);
	cr_assert_eq(after.corrupt, before.corrupt, "corrupt audio while consulting");
	cr_assert_leq(echo_a.marked - marked, 2, "the held caller heard bob: %u packets",
		      echo_a.marked - marked);

	snprintf(params, sizeof(params), "{\"call\":\"%s\"}", call);
	transfer_and_check(call, params);
}

/* A call queue (docs/engine.md, "Queues"): SIPp (calls/uac_queued.xml, PCMU,
 * its media at the test's UDP echo A) calls 800, queue sales (longest_idle,
 * agents bob and carol, agent_timeout 2s). The caller is answered and held
 * (our sendonly re-INVITE, SIPp checks it): music on hold reaches the echo.
 * Bob is offered the caller first and does not answer: after 2 s his offer
 * ends (call.ended timeout) and carol is offered it; she answers with
 * sb-peer, the caller is resumed (our sendrecv re-INVITE) and audio goes
 * round: carol's packets reach the caller's echo and come back intact. The
 * caller hangs up; the CDR has the queue and both agent legs. */
Test(calls, sip_to_queue)
{
	char pa[16];
	const char *keys[] = {"porta", pa, NULL};
	struct sb_peer_stats end;
	unsigned music;
	json_t *in, *cdr, *legs;
	gint64 offered;
	char *t;

	ct_gw_start(&gw, "[user carol]\n"
			 "[queue sales]\nagents = bob, carol\nagent_timeout = 2s\n"
			 "[route queue]\ndestination = 800\naction = queue\ntarget = sales\n");
	ct_echo_start(&echo_a, &gw, 0, 0, 0);
	snprintf(pa, sizeof(pa), "%d", echo_a.port);
	ct_browser_open(&bob, &gw, "bob", "[\"7*\"]");
	ct_browser_open(&carol, &gw, "carol", "[\"7*\"]");
	ct_sipp_uac_start_keys(&uac, &gw, "calls/uac_queued.xml", "800", keys);

	/* Bob rings first (both never idle: list order) and lets it ring. */
	in = ct_browser_event(&bob, "call.incoming", 5000);
	offered = g_get_monotonic_time();
	cr_assert_str_eq(json_string_value(json_object_get(in, "from")), "15550001");
	snprintf(bob.call, sizeof(bob.call), "%s", json_string_value(json_object_get(in, "call")));
	json_decref(in);

	ct_browser_answer_incoming(&carol, "15550001", SB_PEER_PCMU, 6000);
	cr_assert_geq(g_get_monotonic_time() - offered, 1900000,
		      "carol was offered the caller %lld ms after bob",
		      (long long)(g_get_monotonic_time() - offered) / 1000);
	cr_assert_str_eq(carol.call, bob.call, "carol got another call");
	/* While held the caller heard music (frames not carol's). */
	music = echo_a.packets - echo_a.marked;
	cr_assert_geq(music, 25, "%u frames of music on hold while waiting", music);
	ct_browser_expect_ended(&bob, "timeout", NULL, 5000);

	RUN_UNTIL(&carol, echo_a.marked >= 50, 10000);
	cr_assert_geq(echo_a.marked, 50, "too little of carol's audio at the caller: %u",
		      echo_a.marked);
	ct_browser_run_peer(&carol, 15000, &end);
	fprintf(stderr, "echo: %u packets (%u carol's); carol: sent %u, received %u\n",
		echo_a.packets, echo_a.marked, end.sent, end.received);
	cr_assert_geq(end.received, 100, "too little of the caller's audio at carol: %u",
		      end.received);
	cr_assert_eq(end.corrupt + end.undecryptable + end.duplicates, 0,
		     "corrupt %u, undecryptable %u, duplicates %u", end.corrupt, end.undecryptable,
		     end.duplicates);
	ct_browser_expect_ended(&carol, "remote_hangup", NULL, 10000);
	ct_sipp_expect_pass(&uac, 5000);

	cdr = ct_gw_cdr(&gw, carol.call);
	t = json_dumps(cdr, JSON_COMPACT);
	legs = json_object_get(cdr, "legs");
	cr_expect_str_eq(cdr_str(cdr, -1, "action"), "queue", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, -1, "target"), "sales", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, -1, "disposition"), "answered", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, -1, "cause"), "caller_hangup", "%s", t);
	cr_assert_eq(json_array_size(legs), 3, "%s", t);
	cr_expect_str_eq(cdr_str(cdr, 1, "party"), "bob", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, 1, "cause"), "ring_timeout", "%s", t);
	cr_expect_str_eq(cdr_str(cdr, 2, "party"), "carol", "%s", t);
	free(t);
	json_decref(cdr);
}
