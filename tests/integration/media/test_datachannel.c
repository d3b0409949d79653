/* Data channels in the real media component's SDP (docs/media.md "Data
 * channels"): a browser's offer with a data channel section is answered
 * with it accepted, one without is answered as before, our own offer to a
 * browser carries one; and the chat op's errors. The SCTP itself runs
 * with Chromium in tests/e2e/datachannel.test.mjs. Test thread only. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "legs.h"

#define AUDIO                                                                                      \
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"                                \
	"a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:dcdc\r\n"                                        \
	"a=ice-pwd:dcdcdcdcdcdcdcdcdcdcdcdc\r\n"                                                   \
	"a=fingerprint:sha-256 "                                                                   \
	"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:"        \
	"BB:CC:DD:EE:FF\r\n"                                                                       \
	"a=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\na=sendrecv\r\n"
#define APPLICATION                                                                                \
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\n"               \
	"a=ice-ufrag:dcdc\r\na=ice-pwd:dcdcdcdcdcdcdcdcdcdcdcdc\r\n"                               \
	"a=fingerprint:sha-256 "                                                                   \
	"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:"        \
	"BB:CC:DD:EE:FF\r\n"                                                                       \
	"a=setup:actpass\r\na=mid:1\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"

TestSuite(datachannel, .init = legs_setup, .fini = legs_teardown);

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

static const char *answer_of(uint64_t id, const char *offer)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, id, id, 1, SB_MEDIA_WEBRTC, offer, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, id, 5000);
	cr_assert_not_null(ev, "no answer");
	cr_assert_not_null(ev->text);
	return ev->text;
}

/* RFC 8841: accepted in the same BUNDLE group, its mid echoed, our port
 * and message size, the same DTLS role as the audio. */
Test(datachannel, an_offered_data_channel_is_accepted)
{
	static const char offer[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
				    "a=group:BUNDLE 0 1\r\n" AUDIO APPLICATION;
	const char *a = answer_of(100, offer);

	cr_assert(strstr(a, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"), "%s", a);
	cr_assert(strstr(a, "a=group:BUNDLE 0 1\r\n"), "%s", a);
	cr_assert(strstr(a, "a=mid:1\r\n"), "%s", a);
	cr_assert(strstr(a, "a=sctp-port:5000\r\n"), "%s", a);
	cr_assert(strstr(a, "a=max-message-size:1024\r\n"), "%s", a);
	cr_assert_eq(count(a, "a=setup:active\r\n"), 2, "%s", a);
	cr_assert_eq(count(a, "a=setup:"), 2, "%s", a);
	cr_assert_eq(count(a, "a=ssrc:"), 1, "only the audio has an SSRC: %s", a);
	/* Queued until the browser opens a channel (it never does here). */
	cr_assert_eq(sb_media_engine_ops.chat(media, 100, "early"), 0);
	sb_media_engine_ops.destroy(media, 100);
}

Test(datachannel, an_offer_without_one_is_answered_without_one)
{
	static const char offer[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
				    "a=group:BUNDLE 0\r\n" AUDIO;
	const char *a = answer_of(101, offer);

	cr_assert(strstr(a, "m=audio 9 UDP/TLS/RTP/SAVPF 111"), "%s", a);
	cr_assert_null(strstr(a, "m=application"), "%s", a);
	cr_assert_null(strstr(a, "sctp-port"), "%s", a);
	sb_media_engine_ops.destroy(media, 101);
}

/* A data channel section we cannot use (not webrtc-datachannel) is
 * rejected with port 0, its mid kept. */
Test(datachannel, another_application_section_is_rejected)
{
	static const char offer[] =
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
		"a=group:BUNDLE 0 1\r\n" AUDIO
		"m=application 9 UDP/BFCP *\r\nc=IN IP4 127.0.0.1\r\na=mid:1\r\n";
	const char *a = answer_of(102, offer);

	cr_assert(strstr(a, "m=application 0 UDP/BFCP *\r\n"), "%s", a);
	cr_assert(strstr(a, "a=group:BUNDLE 0\r\n"), "%s", a);
	sb_media_engine_ops.destroy(media, 102);
}

/* Our offer to a browser (a SIP phone calls it) has a data channel
 * section BUNDLEd with the audio. */
Test(datachannel, our_offer_to_a_browser_has_one)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, 103, 103, 1, SB_MEDIA_WEBRTC, NULL, NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, 103, 5000);
	cr_assert_not_null(ev);
	cr_assert(strstr(ev->text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"), "%s",
		  ev->text);
	cr_assert(strstr(ev->text, "a=group:BUNDLE 0 1\r\n"), "%s", ev->text);
	cr_assert(strstr(ev->text, "a=sctp-port:5000\r\n"), "%s", ev->text);
	cr_assert_eq(count(ev->text, "a=setup:actpass\r\n"), 2, "%s", ev->text);
	sb_media_engine_ops.destroy(media, 103);
}

Test(datachannel, chat_errors)
{
	char big[SB_CHAT_MAX + 2];
	int port, fd = udp_peer(&port);
	char *offer = sdp_of(port, "0", "a=rtpmap:0 PCMU/8000\r\n");

	cr_assert_eq(sb_media_engine_ops.chat(media, 104, "nobody"), -ENOENT);
	cr_assert_eq(sb_media_engine_ops.create(media, 104, 104, 1, SB_MEDIA_RTP, offer, NULL), 0);
	g_free(offer);
	cr_assert_eq(sb_media_engine_ops.chat(media, 104, "to a phone"), -ENOTSUP);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(sb_media_engine_ops.create(media, 105, 105, 1, SB_MEDIA_WEBRTC, NULL, NULL),
		     0);
	cr_assert_eq(sb_media_engine_ops.chat(media, 105, big), -EINVAL);
	cr_assert_eq(sb_media_engine_ops.chat(media, 105, "\xff\xfe"), -EINVAL);
	sb_media_engine_ops.destroy(media, 104);
	sb_media_engine_ops.destroy(media, 105);
	close(fd);
}
