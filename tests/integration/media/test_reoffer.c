/* New offers on live RTP legs (RFC 3264 section 8; src/media/rtp_reoffer.c)
 * with the real media component and UDP "SIP phones" in the test: a move
 * to another port and the relatch rules, hold and resume (the sequence
 * going on), refusals that leave the leg as it was, a renumbered payload
 * type, another codec, and SDES keys kept or changed. Checked by content:
 * what comes back, to which socket, under which header. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "legs.h"
#include "media/transcode.h"

#define PCMU "a=rtpmap:0 PCMU/8000\r\n"

TestSuite(reoffer, .init = legs_setup, .fini = legs_teardown, .timeout = 30);

/* An echo leg answering a PCMU offer at port (attrs added); its port. */
static int echo_leg(uint64_t id, int port, const char *attrs)
{
	char *offer = g_strdup_printf("%s%s", PCMU, attrs ? attrs : "");
	char *sdp = sdp_of(port, "0", offer);
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, id, id, 1, SB_MEDIA_RTP_ECHO, sdp, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, id, 3000);
	cr_assert_not_null(ev, "no answer for leg %llu", (unsigned long long)id);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, id, 1000));
	g_free(offer);
	g_free(sdp);
	return port_of(ev->text);
}

/* Sends payload from fd to the gateway's port and expects it back at
 * want_fd (-1: nowhere, checked at every socket of fds). Returns the
 * sequence number it came back with. */
static int round_trip(int fd, int gw, uint16_t seq, const char *payload, int want_fd,
		      const int *fds, int n_fds)
{
	uint8_t buf[512];
	size_t n;

	send_rtp(fd, gw, 0, seq, 160u * seq, 0x51515151, payload);
	for (int i = 0; i < n_fds; i++) {
		if (fds[i] == want_fd)
			continue;
		n = recv_rtp(fds[i], buf, sizeof(buf), 150);
		cr_assert_eq(n, 0, "%s came back at socket %d, not %d", payload, i, want_fd);
	}
	if (want_fd < 0)
		return -1;
	n = recv_rtp(want_fd, buf, sizeof(buf), 2000);
	cr_assert_gt(n, 12, "%s did not come back", payload);
	cr_assert_eq(n, 12 + strlen(payload));
	cr_assert_eq(memcmp(buf + 12, payload, strlen(payload)), 0);
	return buf[2] << 8 | buf[3];
}

/* A move to another port takes effect at once; the source latched before
 * is still taken (never latched) for 2 s, then dropped; the first packet
 * from elsewhere latches. */
Test(reoffer, a_move_takes_effect_at_once_and_latches_again)
{
	int pa, pb, pc, a = udp_peer(&pa), b = udp_peer(&pb), c = udp_peer(&pc);
	int fds[] = {a, b, c};
	int gw = echo_leg(60, pa, NULL);
	const char *ans;

	round_trip(a, gw, 1, "latched-on-a", a, fds, 3);
	ans = accepted(60, 1, sdp_of(pb, "0", PCMU), "a=sendrecv");
	cr_assert_eq(port_of(ans), gw, "our port changed: %s", ans);
	cr_assert_not_null(strstr(ans, " 2 IN IP4"), "the o= version is not 2: %s", ans);
	/* the old stream's last packets: taken, and what goes out goes to B */
	round_trip(a, gw, 2, "late-from-a", b, fds, 3);
	round_trip(b, gw, 3, "first-from-b", b, fds, 3);
	/* latched onto B: another source is ignored */
	round_trip(c, gw, 4, "from-c", -1, fds, 3);
	g_usleep(2100 * 1000);
	/* the grace is over: the old source is dropped */
	round_trip(a, gw, 5, "too-late-from-a", -1, fds, 3);
	round_trip(b, gw, 6, "still-b", b, fds, 3);
	sb_media_engine_ops.destroy(media, 60);
	close(a);
	close(b);
	close(c);
}

/* RFC 3264 section 8.4: sendonly, inactive and c=0.0.0.0 hold (nothing sent
 * to the peer, answered recvonly / inactive / recvonly); a resume brings the
 * echo back with the next sequence number. */
Test(reoffer, hold_and_resume_keep_one_stream)
{
	int pa, a = udp_peer(&pa);
	int gw = echo_leg(61, pa, NULL);
	int first, seq;
	char *hold2543;

	first = round_trip(a, gw, 10, "before-0", a, &a, 1);
	cr_assert_eq(round_trip(a, gw, 11, "before-1", a, &a, 1), (uint16_t)(first + 1));
	accepted(61, 1, sdp_of(pa, "0", PCMU "a=sendonly\r\n"), "a=recvonly");
	for (int i = 0; i < 5; i++)
		round_trip(a, gw, (uint16_t)(12 + i), "while-held", -1, &a, 1);
	accepted(61, 2, sdp_of(pa, "0", PCMU "a=inactive\r\n"), "a=inactive");
	round_trip(a, gw, 17, "while-inactive", -1, &a, 1);
	hold2543 = g_strdup_printf("v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
				   "t=0 0\r\nm=audio %d RTP/AVP 0\r\n" PCMU,
				   pa);
	accepted(61, 3, hold2543, "a=recvonly");
	round_trip(a, gw, 18, "while-held-2543", -1, &a, 1);
	accepted(61, 4, sdp_of(pa, "0", PCMU "a=sendrecv\r\n"), "a=sendrecv");
	seq = round_trip(a, gw, 19, "resumed", a, &a, 1);
	cr_assert_eq(seq, (uint16_t)(first + 2), "the sequence jumped over the hold: %d after %d",
		     seq, (uint16_t)(first + 1));
	sb_media_engine_ops.destroy(media, 61);
	close(a);
}

/* Offers that cannot be taken are refused and change nothing. */
Test(reoffer, refusals_leave_the_leg_as_it_was)
{
	int pa, pb, a = udp_peer(&pa), b = udp_peer(&pb);
	int fds[] = {a, b};
	int gw = echo_leg(62, pa, "a=rtcp-mux\r\n");
	char *v6;

	round_trip(a, gw, 1, "before", a, fds, 2);
	refused(62, 1, sdp_of(pb, "18", "a=rtpmap:18 G729/8000\r\n"), -ENOTSUP);
	refused(62, 2, g_strdup("this is not SDP"), -EBADMSG);
	refused(62, 3, sdp_of(pb, "0", PCMU), -ENOTSUP); /* drops rtcp-mux */
	v6 = g_strdup_printf("v=0\r\no=- 1 4 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
			     "m=audio %d RTP/AVP 0\r\n" PCMU "a=rtcp-mux\r\n",
			     pb);
	refused(62, 4, v6, -EBADMSG);
	refused(62, 5,
		sdp_of(pb, "0",
		       PCMU "a=rtcp-mux\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
			    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"),
		-ENOTSUP); /* plain RTP turned SRTP */
	/* still at A, still sending to it */
	round_trip(a, gw, 2, "after-refusals", a, fds, 2);
	/* the next accepted answer is the o= version after the last one */
	cr_assert_not_null(strstr(
		accepted(62, 6, sdp_of(pb, "0", PCMU "a=rtcp-mux\r\n"), "rtcp-mux"), " 2 IN IP4"));
	round_trip(b, gw, 3, "moved", b, fds, 2);
	sb_media_engine_ops.destroy(media, 62);
	close(a);
	close(b);
}

/* An answer SIP never sent (the party CANCELled its re-INVITE, or SIP
 * answered 500 after its timeout) is dropped, RFC 3264 section 8: a hold so
 * abandoned leaves the echo flowing, a move leaves us sending where we did,
 * and the next answer has the o= version the dropped one had (the party
 * never saw it). Nothing changes before SIP has sent an answer. */
Test(reoffer, an_abandoned_offer_leaves_the_leg_as_it_was)
{
	int pa, pb, a = udp_peer(&pa), b = udp_peer(&pb);
	int fds[] = {a, b};
	int gw = echo_leg(63, pa, NULL);
	int first;

	first = round_trip(a, gw, 1, "before", a, fds, 2);
	answered(63, 1, sdp_of(pa, "0", PCMU "a=sendonly\r\n"), "a=recvonly");
	round_trip(a, gw, 2, "hold-answered-not-sent", a, fds, 2);
	done(63, 1, false);
	cr_assert_eq(round_trip(a, gw, 3, "hold-abandoned", a, fds, 2), (uint16_t)(first + 2),
		     "the stream paused for a hold never sent");
	answered(63, 2, sdp_of(pb, "0", PCMU), " 2 IN IP4");
	done(63, 2, false);
	round_trip(a, gw, 4, "move-abandoned", a, fds, 2);
	/* An answer kept is replaced by the next offer's, made against the
	 * state in force; a late word on the old one changes nothing. */
	answered(63, 3, sdp_of(pb, "0", PCMU "a=inactive\r\n"), " 2 IN IP4");
	accepted(63, 4, sdp_of(pb, "0", PCMU), " 2 IN IP4");
	done(63, 3, true);
	round_trip(b, gw, 5, "moved", b, fds, 2);
	round_trip(b, gw, 6, "not-inactive", b, fds, 2);
	sb_media_engine_ops.destroy(media, 63);
	close(a);
	close(b);
}

/* Opus renumbered from 111 to 109 on B's side: the relay sends 109 at
 * once; B's packets still under 111 (on their way) pass until one under
 * 109 arrives, then 111 no longer does. */
Test(reoffer, a_renumbered_payload_type_is_mapped)
{
	int pa, pb, a = udp_peer(&pa), b = udp_peer(&pb), gw_a, gw_b;
	const char *opus111 = "a=rtpmap:111 opus/48000/2\r\n";

	bridged(63, 63, 64, sdp_of(pa, "111", opus111), sdp_of(pb, "111", opus111), &gw_a, &gw_b);
	send_rtp(a, gw_a, 111, 1, 0, 0xA, "opus-a1");
	expect_at(b, 111, "opus-a1");
	accepted(64, 1,
		 sdp_of(pb, "109 0", "a=rtpmap:109 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"),
		 "RTP/AVP 109\r\n");
	send_rtp(a, gw_a, 111, 2, 960, 0xA, "opus-a2");
	expect_at(b, 109, "opus-a2");
	send_rtp(b, gw_b, 111, 1, 0, 0xB, "opus-b-old");
	expect_at(a, 111, "opus-b-old");
	send_rtp(b, gw_b, 109, 2, 960, 0xB, "opus-b-new");
	expect_at(a, 111, "opus-b-new");
	send_rtp(b, gw_b, 111, 3, 1920, 0xB, "opus-b-stale");
	expect_at(a, -1, "opus-b-stale");
	sb_media_engine_ops.destroy(media, 63);
	sb_media_engine_ops.destroy(media, 64);
	close(a);
	close(b);
}

/* B's new offer has PCMA only: B's leg answers PCMA, tells the engine
 * (media.connected again), and transcodes A's PCMU into it. */
Test(reoffer, another_codec_is_transcoded_to)
{
	int pa, pb, a = udp_peer(&pa), b = udp_peer(&pb), gw_a, gw_b, connected = 0;
	uint8_t want[160], buf[512];
	char payload[161];
	const char *codec = NULL;
	size_t n;

	bridged(65, 65, 66, sdp_of(pa, "0", PCMU),
		sdp_of(pb, "0 8", PCMU "a=rtpmap:8 PCMA/8000\r\n"), &gw_a, &gw_b);
	accepted(66, 1, sdp_of(pb, "8", "a=rtpmap:8 PCMA/8000\r\n"), "RTP/AVP 8\r\n");
	for (int i = 0; i < legs_n_events; i++)
		if (legs_events[i].type == SB_EV_MEDIA_CONNECTED && legs_events[i].arg[0] == 66) {
			connected++;
			codec = legs_events[i].str;
		}
	cr_assert_eq(connected, 2, "media.connected not posted again for the new codec");
	cr_assert_str_eq(codec, "PCMA");
	/* a PCMU payload without NUL bytes (send_rtp takes a string) */
	for (int i = 0; i < 160; i++) {
		uint8_t u = sb_g711_ulaw_encode((int16_t)(3000 * ((i % 20) - 10)));

		payload[i] = (char)(u ? u : 1);
		want[i] = sb_g711_alaw_encode(sb_g711_ulaw_decode((uint8_t)payload[i]));
	}
	payload[160] = '\0';
	send_rtp(a, gw_a, 0, 1, 0, 0xA, payload);
	n = recv_rtp(b, buf, sizeof(buf), 2000);
	cr_assert_eq(n, 12 + 160, "not transcoded to B (%zu bytes)", n);
	cr_assert_eq(buf[1] & 0x7f, 8);
	cr_assert_eq(memcmp(buf + 12, want, 160), 0, "not PCMA of A's PCMU");
	sb_media_engine_ops.destroy(media, 65);
	sb_media_engine_ops.destroy(media, 66);
	close(a);
	close(b);
}

/* An SDES leg keeps its keys: a new offer with the key the peer gave first
 * is answered with our same line; one with another key, or without SRTP,
 * is refused (re-keying is not supported). */
Test(reoffer, sdes_keys_kept_or_refused)
{
	static const char key1[] = "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
	static const char key2[] = "inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";
	int pa, a = udp_peer(&pa);
	const struct sb_event *ev;
	char *offer, line[160] = "";
	const char *ours, *ans;

	offer = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				"t=0 0\r\nm=audio %d RTP/SAVP 0\r\n" PCMU
				"a=crypto:3 AES_CM_128_HMAC_SHA1_80 %s\r\n",
				pa, key1);
	cr_assert_eq(sb_media_engine_ops.create(media, 67, 67, 1, SB_MEDIA_RTP_ECHO, offer, NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, 67, 3000);
	cr_assert_not_null(ev);
	ours = strstr(ev->text, "a=crypto:3 ");
	cr_assert_not_null(ours, "%s", ev->text);
	sscanf(ours, "%159[^\r\n]", line);
	g_free(offer);
	offer = g_strdup_printf("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				"t=0 0\r\nm=audio %d RTP/SAVP 0\r\n" PCMU
				"a=crypto:3 AES_CM_128_HMAC_SHA1_80 %s\r\na=sendonly\r\n",
				pa, key1);
	ans = accepted(67, 1, offer, "RTP/SAVP 0");
	cr_assert_not_null(strstr(ans, line), "our key changed: %s, not %s", ans, line);
	cr_assert_not_null(strstr(ans, "a=recvonly"), "%s", ans);
	offer = g_strdup_printf("v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				"t=0 0\r\nm=audio %d RTP/SAVP 0\r\n" PCMU
				"a=crypto:3 AES_CM_128_HMAC_SHA1_80 %s\r\n",
				pa, key2);
	refused(67, 2, offer, -ENOTSUP);
	refused(67, 3, sdp_of(pa, "0", PCMU), -ENOTSUP);
	sb_media_engine_ops.destroy(media, 67);
	close(a);
}
