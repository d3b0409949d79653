/* Hold and resume from our side (the hold and offer_done ops; RFC 3264
 * section 8.4) with the real media component and UDP "SIP phones": our
 * offer (direction, o= version, masked by the party's own hold), nothing
 * relayed to or from a held leg, the party's answer applied (a new port),
 * a failed offer undone, refusals. Checked by content and sequence number
 * at the sockets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "legs.h"

#define PCMU "a=rtpmap:0 PCMU/8000\r\n"

TestSuite(hold, .init = legs_setup, .fini = legs_teardown, .timeout = 30);

/* Holds (on) or resumes session id as our offer seq: its media.offer. */
static const struct sb_event *hold(uint64_t id, uint64_t seq, bool on)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.hold(media, id, seq, on), 0);
	ev = wait_seq(SB_EV_MEDIA_OFFER, id, seq, 3000);
	cr_assert_not_null(ev, "no media.offer %llu for session %llu", (unsigned long long)seq,
			   (unsigned long long)id);
	return ev;
}

static unsigned long long version_of(const char *sdp)
{
	const char *o = strstr(sdp, "o=");
	unsigned long long v = 0;

	cr_assert_not_null(o, "no o= line in %s", sdp);
	cr_assert_eq(sscanf(o, "o=%*s %*s %llu", &v), 1, "%s", sdp);
	return v;
}

/* Our offer seq made: direction dir (str and a= line), o= version. */
static const char *offered(uint64_t id, uint64_t seq, bool on, const char *dir,
			   unsigned long long version)
{
	const struct sb_event *ev = hold(id, seq, on);
	char line[32];

	cr_assert_eq(ev->arg[1], 0, "offer %llu refused: %s", (unsigned long long)seq, ev->str);
	cr_assert_str_eq(ev->str, dir);
	cr_assert_not_null(ev->text, "no offer for an RTP leg");
	snprintf(line, sizeof(line), "a=%s\r\n", dir);
	cr_assert_not_null(strstr(ev->text, line), "no %s in our offer:\n%s", dir, ev->text);
	cr_assert_eq(version_of(ev->text), version, "o= version not %llu:\n%s", version, ev->text);
	return ev->text;
}

/* Our offer seq refused with err, without an offer. */
static void not_offered(uint64_t id, uint64_t seq, bool on, int err)
{
	const struct sb_event *ev = hold(id, seq, on);

	cr_assert_eq(ev->arg[1], err, "offer %llu: %lld (%s), not %d", (unsigned long long)seq,
		     (long long)ev->arg[1], ev->str, err);
	cr_assert_null(ev->text);
}

/* The party's answer (freed here; NULL: the offer failed), taken by the
 * worker before this returns. */
static void offer_done(uint64_t id, uint64_t seq, char *answer)
{
	cr_assert_eq(sb_media_engine_ops.offer_done(media, id, seq, answer), 0);
	g_free(answer);
	barrier(id, 2000 + seq);
}

/* Sends payload from the socket from to the gateway's port gw: it must
 * arrive at at (arrives) or not within 200 ms. The sequence number it
 * arrived with, or -1. */
static int relayed(int from, int gw, uint16_t seq, const char *payload, int at, bool arrives)
{
	uint8_t buf[512];
	size_t n;

	send_rtp(from, gw, 0, seq, 160u * seq, 0x5000u + (uint32_t)from, payload);
	n = recv_rtp(at, buf, sizeof(buf), arrives ? 2000 : 200);
	if (!arrives) {
		cr_assert_eq(n, 0, "%s arrived", payload);
		return -1;
	}
	cr_assert_eq(n, 12 + strlen(payload), "%s did not arrive (%zu bytes)", payload, n);
	cr_assert_eq(memcmp(buf + 12, payload, strlen(payload)), 0, "not %s", payload);
	return buf[2] << 8 | buf[3];
}

/* The o= version of session id's first description (media.ready). */
static unsigned long long ready_version(uint64_t id)
{
	const struct sb_event *ev = wait_event(SB_EV_MEDIA_READY, id, 3000);

	cr_assert_not_null(ev);
	return version_of(ev->text);
}

/* Two RTP legs of call id, bridged, audio gone through both ways: A
 * (session id, socket a) and B (session id + 1, at port pb, socket b). */
struct pair {
	uint64_t id;
	int a, b, pb, gw_a, gw_b;
	int to_a, to_b;	      /* the sequence numbers of the first packets to a and b */
	unsigned long long v; /* the o= version of B's answer */
};

static struct pair pair_up(uint64_t id)
{
	struct pair p = {.id = id};
	int pa;

	p.a = udp_peer(&pa);
	p.b = udp_peer(&p.pb);
	bridged(id, id, id + 1, sdp_of(pa, "0", PCMU), sdp_of(p.pb, "0", PCMU), &p.gw_a, &p.gw_b);
	p.v = ready_version(id + 1);
	p.to_b = relayed(p.a, p.gw_a, 1, "a-before", p.b, true);
	p.to_a = relayed(p.b, p.gw_b, 1, "b-before", p.a, true);
	return p;
}

static void pair_end(struct pair *p)
{
	sb_media_engine_ops.destroy(media, p->id);
	sb_media_engine_ops.destroy(media, p->id + 1);
	close(p->a);
	close(p->b);
}

/* B's answer to our offer seq with direction dir, at port (0: B's). */
static void answered_by_b(const struct pair *p, uint64_t seq, int port, const char *dir)
{
	char *attrs = g_strdup_printf(PCMU "a=%s\r\n", dir);

	offer_done(p->id + 1, seq, sdp_of(port ? port : p->pb, "0", attrs));
	g_free(attrs);
}

/* A sendonly hold answered recvonly keeps B held both ways; the resume
 * answered sendrecv lets audio through again, both streams going on with
 * the next sequence number. */
Test(hold, hold_and_resume_from_our_side)
{
	struct pair p = pair_up(80);
	struct sb_media_counters c0, c1;

	sb_media_counters(media, &c0);
	offered(81, 1, true, "sendonly", p.v + 1);
	for (uint16_t i = 2; i < 5; i++) {
		relayed(p.a, p.gw_a, i, "a-to-held-b", p.b, false);
		relayed(p.b, p.gw_b, i, "b-held", p.a, false);
	}
	sb_media_counters(media, &c1);
	cr_assert_eq(c1.dropped_held - c0.dropped_held, 6, "dropped_held +%llu",
		     c1.dropped_held - c0.dropped_held);
	answered_by_b(&p, 1, 0, "recvonly");
	relayed(p.a, p.gw_a, 5, "a-to-held-b-answered", p.b, false);
	relayed(p.b, p.gw_b, 5, "b-held-answered", p.a, false);
	offered(81, 2, false, "sendrecv", p.v + 2);
	answered_by_b(&p, 2, 0, "sendrecv");
	cr_assert_eq(relayed(p.a, p.gw_a, 6, "a-resumed", p.b, true), (uint16_t)(p.to_b + 1),
		     "the stream toward B jumped over the hold");
	cr_assert_eq(relayed(p.b, p.gw_b, 6, "b-resumed", p.a, true), (uint16_t)(p.to_a + 1),
		     "the stream toward A jumped over the hold");
	pair_end(&p);
}

/* The offer failed (no answer): the hold is undone, and the next offer has
 * the version the dropped one had (the party never got it). */
Test(hold, a_failed_offer_undoes_the_hold)
{
	struct pair p = pair_up(82);

	offered(83, 1, true, "sendonly", p.v + 1);
	relayed(p.a, p.gw_a, 2, "a-to-held-b", p.b, false);
	offer_done(83, 1, NULL);
	cr_assert_eq(relayed(p.a, p.gw_a, 3, "a-undone", p.b, true), (uint16_t)(p.to_b + 1));
	relayed(p.b, p.gw_b, 3, "b-undone", p.a, true);
	offered(83, 2, true, "sendonly", p.v + 1);
	offer_done(83, 2, NULL);
	relayed(p.b, p.gw_b, 4, "b-undone-again", p.a, true);
	pair_end(&p);
}

/* No such session, no completed exchange, an offer of ours out (a word on
 * another offer changes nothing); an echo leg held echoes nothing. */
Test(hold, refusals_and_an_echo_leg)
{
	int pa, a = udp_peer(&pa), gw, first;
	char *sdp = sdp_of(pa, "0", PCMU);
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.hold(media, 999, 1, true), -ENOENT);
	cr_assert_eq(sb_media_engine_ops.offer_done(media, 999, 1, NULL), -ENOENT);
	/* our offer toward a trunk, not answered yet */
	cr_assert_eq(sb_media_engine_ops.create(media, 84, 84, 1, SB_MEDIA_RTP, NULL, NULL), 0);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_READY, 84, 3000));
	not_offered(84, 1, true, -EAGAIN);
	cr_assert_eq(sb_media_engine_ops.create(media, 85, 85, 1, SB_MEDIA_RTP_ECHO, sdp, NULL), 0);
	g_free(sdp);
	ev = wait_event(SB_EV_MEDIA_READY, 85, 3000);
	cr_assert_not_null(ev);
	gw = port_of(ev->text);
	first = relayed(a, gw, 1, "echo-before", a, true);
	offered(85, 1, true, "sendonly", ready_version(85) + 1);
	relayed(a, gw, 2, "echo-held", a, false);
	not_offered(85, 2, false, -EBUSY);
	offer_done(85, 7, NULL); /* not ours: ignored */
	relayed(a, gw, 3, "echo-still-held", a, false);
	not_offered(85, 3, false, -EBUSY);
	offer_done(85, 1, sdp_of(pa, "0", PCMU "a=recvonly\r\n"));
	offered(85, 4, false, "sendrecv", ready_version(85) + 2);
	cr_assert_eq(relayed(a, gw, 4, "echo-resumed", a, true), (uint16_t)(first + 1));
	sb_media_engine_ops.destroy(media, 84);
	sb_media_engine_ops.destroy(media, 85);
	close(a);
}

/* The party answers from another port: we send there at once, and its
 * packets from there latch. */
Test(hold, an_answer_moving_the_party_applies)
{
	struct pair p = pair_up(86);
	int pc, c = udp_peer(&pc);
	uint8_t buf[512];

	offered(87, 1, true, "sendonly", p.v + 1);
	answered_by_b(&p, 1, pc, "recvonly");
	offered(87, 2, false, "sendrecv", p.v + 2);
	answered_by_b(&p, 2, pc, "sendrecv");
	relayed(p.a, p.gw_a, 2, "a-to-c", c, true);
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 200), 0, "still sent to the old port");
	relayed(c, p.gw_b, 2, "c-to-a", p.a, true);
	relayed(p.a, p.gw_a, 3, "a-to-c-again", c, true);
	pair_end(&p);
	close(c);
}

/* The party holds us already (its sendonly, answered recvonly): our hold
 * is inactive and our resume recvonly; our offer is the description in
 * force, so the answer to the party's next offer goes on from its
 * version. */
Test(hold, masked_by_the_partys_own_hold)
{
	struct pair p = pair_up(88);

	accepted(89, 1, sdp_of(p.pb, "0", PCMU "a=sendonly\r\n"), "a=recvonly");
	relayed(p.a, p.gw_a, 2, "a-to-b-holding", p.b, false);
	offered(89, 1, true, "inactive", p.v + 2);
	relayed(p.b, p.gw_b, 2, "b-held", p.a, false);
	answered_by_b(&p, 1, 0, "inactive");
	offered(89, 2, false, "recvonly", p.v + 3);
	answered_by_b(&p, 2, 0, "sendonly");
	relayed(p.b, p.gw_b, 3, "b-resumed", p.a, true);
	relayed(p.a, p.gw_a, 3, "a-to-b-still-holding", p.b, false);
	cr_assert_eq(
		version_of(accepted(89, 2, sdp_of(p.pb, "0", PCMU "a=sendrecv\r\n"), "a=sendrecv")),
		p.v + 4);
	relayed(p.a, p.gw_a, 4, "a-to-b-resumed", p.b, true);
	pair_end(&p);
}

/* A browser's session has no SDP for it: media.offer without text, the
 * hold done at once (no offer waits: a resume follows at once, and an
 * offer_done, which the engine does not send for it, changes nothing). */
Test(hold, a_webrtc_session_has_nothing_to_signal)
{
	static const char offer[] =
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"
		"a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:hold\r\n"
		"a=ice-pwd:holdholdholdholdholdhold\r\n"
		"a=fingerprint:sha-256 "
		"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:"
		"BB:CC:DD:EE:FF\r\n"
		"a=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n";
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, 90, 90, 1, SB_MEDIA_ECHO, offer, NULL), 0);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_READY, 90, 5000));
	ev = hold(90, 1, true);
	cr_assert_eq(ev->arg[1], 0, "%s", ev->str);
	cr_assert_str_eq(ev->str, "sendonly");
	cr_assert_null(ev->text);
	ev = hold(90, 2, false);
	cr_assert_eq(ev->arg[1], 0, "%s", ev->str);
	cr_assert_str_eq(ev->str, "sendrecv");
	cr_assert_null(ev->text);
	cr_assert_eq(sb_media_engine_ops.offer_done(media, 90, 2, NULL), 0);
	cr_assert_eq(hold(90, 3, true)->arg[1], 0);
	sb_media_engine_ops.destroy(media, 90);
}

/* A bridged session bridged anew (the engine's transfer): B held, a third
 * leg C created and bridged to B, B resumed. B and C hear each other; A,
 * B's old partner, gets nothing from either, and what it sends goes
 * nowhere. */
Test(hold, a_bridged_session_bridged_anew)
{
	struct pair p = pair_up(90);
	int pc, c = udp_peer(&pc), gw_c;
	char *offer_c = sdp_of(pc, "0", PCMU);
	const struct sb_event *ev;

	offered(p.id + 1, 1, true, "sendonly", p.v + 1);
	answered_by_b(&p, 1, 0, "recvonly");
	cr_assert_eq(
		sb_media_engine_ops.create(media, p.id + 2, p.id, 3, SB_MEDIA_RTP, offer_c, NULL),
		0);
	g_free(offer_c);
	ev = wait_event(SB_EV_MEDIA_READY, p.id + 2, 3000);
	cr_assert_not_null(ev);
	gw_c = port_of(ev->text);
	cr_assert_eq(sb_media_engine_ops.bridge(media, p.id + 1, p.id + 2), 0);
	offered(p.id + 1, 2, false, "sendrecv", p.v + 2);
	answered_by_b(&p, 2, 0, "sendrecv");
	relayed(p.b, p.gw_b, 2, "b-to-c", c, true);
	relayed(c, gw_c, 1, "c-to-b", p.b, true);
	relayed(p.a, p.gw_a, 2, "a-after", p.b, false);
	relayed(p.a, p.gw_a, 3, "a-after-2", c, false);
	relayed(p.b, p.gw_b, 3, "b-not-to-a", p.a, false);
	sb_media_engine_ops.destroy(media, p.id + 2);
	close(c);
	pair_end(&p);
}
