/* RFC 3264 offer/answer (src/sdp/sdp_oa.c): answering browser and SIP
 * offers, direction answering, rejection with port 0, SDES, our offers and
 * the check of an answer against our offer. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"
#include "sdp_test.h"

static const struct sb_sdp_codec opus_te[] = {
	{.pt = 111, .name = "opus", .rate = 48000, .channels = 2},
	{.pt = 101, .name = "telephone-event", .rate = 48000, .channels = 1},
	{.pt = 102, .name = "telephone-event", .rate = 8000, .channels = 1},
};

static const struct sb_sdp_codec g711[] = {
	{.pt = 0, .name = "PCMU", .rate = 8000, .channels = 1},
	{.pt = 8, .name = "PCMA", .rate = 8000, .channels = 1},
	{.pt = 101, .name = "telephone-event", .rate = 8000, .channels = 1, .fmtp = "0-16"},
};

static struct sb_sdp_local webrtc_local(void)
{
	static const char *const cands[] = {
		"a=candidate:1 1 udp 2130706431 192.0.2.9 40000 typ host"};

	return (struct sb_sdp_local){
		.port = 9,
		.rtcp_mux = true,
		.bundle = true,
		.ice = {.ufrag = "uf", .pwd = "pwpwpwpwpwpwpwpwpwpwpwpw"},
		.fingerprint = {.hash = "sha-256", .value = "AA:BB"},
		.setup = SB_SDP_SETUP_ACTIVE,
		.ssrc = 1234,
		.candidates = cands,
		.n_candidates = 1,
		.end_of_candidates = true,
	};
}

static struct sb_sdp *parse_str(const char *t)
{
	struct sb_sdp *sdp = NULL;
	char err[256] = "";

	cr_assert_eq(sb_sdp_parse(t, strlen(t), &sdp, err, sizeof(err)), 0, "%s\n%s", err, t);
	return sdp;
}

/* Prints ans, parses it back and checks it against offer. */
static struct sb_sdp *through_text(const struct sb_sdp *offer, const struct sb_sdp *ans)
{
	char *text = NULL, err[256] = "";
	struct sb_sdp *back;

	cr_assert_eq(sb_sdp_print(ans, &text), 0);
	sb_test_expect_crlf(text);
	back = parse_str(text);
	cr_expect_eq(sb_sdp_answer_check(offer, back, err, sizeof(err)), 0, "%s\n%s", err, text);
	free(text);
	return back;
}

Test(sdp_oa, answer_chromium_audio_only)
{
	struct sb_sdp *offer = sb_test_parse_file("ex_webrtc/chromium_audio_video_sdp.sdp");
	struct sb_sdp_caps caps = {
		.type = "audio", .codecs = opus_te, .n_codecs = 3, .max_codecs = 1};
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp *ans = NULL, *back;
	struct sb_sdp_media *a, *v;

	cr_assert_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), 0);
	back = through_text(offer, ans);
	cr_assert_eq(back->n_media, 2);
	a = back->media[0];
	v = back->media[1];
	cr_expect_eq(a->port, 9);
	cr_expect_str_eq(a->proto, "UDP/TLS/RTP/SAVPF");
	/* opus at the offerer's PT with its fmtp echoed, and telephone-event
	 * at 48 kHz only (the 8 kHz one goes with no kept codec). */
	cr_assert_eq(a->n_codecs, 2);
	cr_expect_eq(a->codecs[0].pt, 111);
	cr_expect_str_eq(a->codecs[0].fmtp, "minptime=10;useinbandfec=1");
	cr_expect_eq(a->codecs[1].pt, 110);
	cr_expect_str_eq(a->codecs[1].name, "telephone-event");
	cr_expect_str_eq(a->mid, "0");
	cr_expect(a->rtcp_mux);
	cr_expect_eq(a->setup, SB_SDP_SETUP_ACTIVE);
	cr_expect_str_eq(a->ice.ufrag, "uf");
	cr_expect_str_eq(a->fingerprint.value, "AA:BB");
	cr_expect_eq(a->dir, SB_SDP_SENDRECV);
	cr_expect_eq(a->n_candidates, 1);
	cr_expect_str_eq(a->candidates[0], "candidate:1 1 udp 2130706431 192.0.2.9 40000 typ host");
	cr_expect(a->end_of_candidates);
	cr_expect_eq(a->ssrcs[0], 1234);
	/* video rejected: port 0, same place, the offer's formats and mid */
	cr_expect_str_eq(v->type, "video");
	cr_expect_eq(v->port, 0);
	cr_expect_eq(v->n_codecs, 23);
	cr_expect_eq(v->codecs[0].pt, 96);
	cr_expect_str_eq(v->mid, "1");
	cr_assert_eq(back->n_bundle, 1);
	cr_expect_str_eq(back->bundle[0], "0");
	sb_sdp_free(back);
	sb_sdp_free(ans);
	sb_sdp_free(offer);
}

Test(sdp_oa, setup_role_follows_rfc8842)
{
	static const struct {
		const char *offered;
		enum sb_sdp_setup ours, want;
	} cases[] = {
		{"actpass", SB_SDP_SETUP_ACTIVE, SB_SDP_SETUP_ACTIVE},
		{"actpass", SB_SDP_SETUP_PASSIVE, SB_SDP_SETUP_PASSIVE},
		{"active", SB_SDP_SETUP_ACTIVE, SB_SDP_SETUP_PASSIVE},
		{"passive", SB_SDP_SETUP_PASSIVE, SB_SDP_SETUP_ACTIVE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct sb_sdp *offer, *ans = NULL;
		struct sb_sdp_caps caps = {.type = "audio", .codecs = opus_te, .n_codecs = 1};
		struct sb_sdp_local l = webrtc_local();

		snprintf(text, sizeof(text),
			 "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
			 "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
			 "a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\n"
			 "a=fingerprint:sha-256 00:11\r\na=setup:%s\r\n",
			 cases[i].offered);
		offer = parse_str(text);
		l.setup = cases[i].ours;
		cr_assert_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), 0);
		cr_expect_eq(ans->media[0]->setup, cases[i].want, "offered %s", cases[i].offered);
		sb_sdp_free(ans);
		sb_sdp_free(offer);
	}
}

Test(sdp_oa, direction_answers_rfc3264)
{
	cr_expect_eq(sb_sdp_dir_answer(SB_SDP_SENDONLY, SB_SDP_SENDRECV), SB_SDP_RECVONLY);
	cr_expect_eq(sb_sdp_dir_answer(SB_SDP_RECVONLY, SB_SDP_SENDRECV), SB_SDP_SENDONLY);
	cr_expect_eq(sb_sdp_dir_answer(SB_SDP_INACTIVE, SB_SDP_SENDRECV), SB_SDP_INACTIVE);
	cr_expect_eq(sb_sdp_dir_answer(SB_SDP_SENDRECV, SB_SDP_SENDRECV), SB_SDP_SENDRECV);
	cr_expect_eq(sb_sdp_dir_answer(SB_SDP_SENDRECV, SB_SDP_RECVONLY), SB_SDP_RECVONLY);
	cr_expect_eq(sb_sdp_dir_answer(SB_SDP_SENDONLY, SB_SDP_SENDONLY), SB_SDP_INACTIVE);
}

/* RFC 3264 section 10.1 shape: audio and video offered from a SIP phone,
 * we take audio only. Also an m= line the offer disabled and a second one
 * of the same type. */
Test(sdp_oa, sip_offer_rejections_keep_order_and_formats)
{
	struct sb_sdp *offer = parse_str("v=0\r\n"
					 "o=alice 2890844526 2890844526 IN IP4 host.example\r\n"
					 "s=\r\n"
					 "c=IN IP4 192.0.2.10\r\n"
					 "t=0 0\r\n"
					 "m=video 0 RTP/AVP 31\r\n"
					 "m=audio 49170 RTP/AVP 97 8 0 101\r\n"
					 "a=rtpmap:97 iLBC/8000\r\n"
					 "a=rtpmap:101 telephone-event/8000\r\n"
					 "a=sendonly\r\n"
					 "m=audio 49172 RTP/AVP 0\r\n"
					 "m=video 51372 RTP/AVP 31 32\r\n");
	struct sb_sdp_caps caps = {.type = "audio", .codecs = g711, .n_codecs = 3};
	struct sb_sdp_local l = {.addr = "198.51.100.1", .port = 30000, .ptime = 20};
	struct sb_sdp *ans = NULL, *back;
	struct sb_sdp_media *a;

	cr_assert_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), 0);
	back = through_text(offer, ans);
	cr_assert_eq(back->n_media, 4);
	cr_expect_eq(back->media[0]->port, 0);
	cr_expect_str_eq(back->media[0]->type, "video");
	a = back->media[1];
	cr_expect_eq(a->port, 30000);
	cr_expect_str_eq(a->addr, "198.51.100.1");
	cr_expect_eq(a->dir, SB_SDP_RECVONLY);
	cr_expect_eq(a->ptime, 20);
	cr_assert_eq(a->n_codecs, 3);
	cr_expect_eq(a->codecs[0].pt, 8); /* the offer's order */
	cr_expect_eq(a->codecs[1].pt, 0);
	cr_expect_eq(a->codecs[2].pt, 101);
	cr_expect_str_eq(a->codecs[2].fmtp, "0-16"); /* ours */
	cr_expect_null(a->fingerprint.hash);
	cr_expect_eq(a->setup, SB_SDP_SETUP_NONE);
	cr_expect_eq(back->media[2]->port, 0); /* second audio */
	cr_expect_eq(back->media[3]->port, 0);
	cr_expect_eq(back->media[3]->n_codecs, 2);
	cr_expect_eq(back->n_bundle, 0);
	sb_sdp_free(back);
	sb_sdp_free(ans);
	sb_sdp_free(offer);
}

Test(sdp_oa, no_common_codec_is_enotsup)
{
	struct sb_sdp *offer = parse_str("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
					 "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
					 "m=audio 4000 RTP/AVP 18 101\r\n"
					 "a=rtpmap:101 telephone-event/8000\r\n");
	struct sb_sdp_caps caps = {.type = "audio", .codecs = g711, .n_codecs = 3};
	struct sb_sdp_local l = {.port = 1};
	struct sb_sdp *ans = NULL;

	/* telephone-event alone is no codec */
	cr_expect_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), -ENOTSUP);
	cr_expect_null(ans);
	sb_sdp_free(offer);
}

Test(sdp_oa, max_codecs_keeps_the_offers_first)
{
	struct sb_sdp *offer = parse_str("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
					 "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
					 "m=audio 4000 RTP/AVP 8 0\r\n");
	struct sb_sdp_caps caps = {.type = "audio", .codecs = g711, .n_codecs = 3, .max_codecs = 1};
	struct sb_sdp_local l = {.port = 1};
	struct sb_sdp *ans = NULL;

	cr_assert_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), 0);
	cr_assert_eq(ans->media[0]->n_codecs, 1);
	cr_expect_str_eq(ans->media[0]->codecs[0].name, "PCMA");
	sb_sdp_free(ans);
	sb_sdp_free(offer);
}

Test(sdp_oa, sdes_answer_takes_the_offered_tag)
{
	static const char text[] =
		"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
		"m=audio 4000 RTP/SAVP 0\r\n"
		"a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAAA\r\n"
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:BBBB|2^20|1:4 KDR=1\r\n";
	struct sb_sdp *offer = parse_str(text), *ans = NULL, *back;
	struct sb_sdp_caps caps = {.type = "audio", .codecs = g711, .n_codecs = 1};
	struct sb_sdp_local l = {
		.port = 1,
		.crypto = {.suite = "AES_CM_128_HMAC_SHA1_80", .key_params = "inline:CCCC"}};

	cr_expect_str_eq(offer->media[0]->crypto[1].key_params, "inline:BBBB|2^20|1:4");
	cr_expect_str_eq(offer->media[0]->crypto[1].session_params, "KDR=1");
	cr_assert_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), 0);
	back = through_text(offer, ans);
	cr_assert_eq(back->media[0]->n_crypto, 1);
	cr_expect_eq(back->media[0]->crypto[0].tag, 2);
	cr_expect_str_eq(back->media[0]->crypto[0].key_params, "inline:CCCC");
	sb_sdp_free(back);
	sb_sdp_free(ans);
	/* No suite in common: the section is rejected, so nothing is. */
	l.crypto.suite = "F8_128_HMAC_SHA1_80";
	cr_expect_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), -ENOTSUP);
	sb_sdp_free(offer);
}

Test(sdp_oa, our_offer_answered_and_checked)
{
	struct sb_sdp_caps caps = {.type = "audio", .codecs = g711, .n_codecs = 3};
	struct sb_sdp_local l = {.addr = "192.0.2.7",
				 .port = 20000,
				 .proto = "RTP/AVP",
				 .rtcp_port = 20001,
				 .ptime = 20,
				 .ssrc = 42};
	struct sb_sdp_local peer = {.addr = "192.0.2.8", .port = 30000};
	struct sb_sdp_caps peer_caps = {.type = "audio", .codecs = g711 + 1, .n_codecs = 2};
	struct sb_sdp *offer = NULL, *ans = NULL, *parsed, *bad;
	char *text = NULL, err[256];

	cr_assert_eq(sb_sdp_offer(&caps, 1, &l, &offer), 0);
	cr_assert_eq(sb_sdp_print(offer, &text), 0);
	cr_expect(strstr(text, "m=audio 20000 RTP/AVP 0 8 101\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "a=ssrc:42 cname:switchboard\r\n") != NULL, "%s", text);
	parsed = parse_str(text);
	free(text);
	cr_assert_eq(sb_sdp_answer(parsed, &peer_caps, 1, &peer, &ans), 0);
	cr_expect_eq(sb_sdp_answer_check(offer, ans, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ans->media[0]->n_codecs, 2);
	cr_expect_str_eq(ans->media[0]->codecs[0].name, "PCMA");
	/* An answer with a different number of m= lines, or none of our codecs. */
	bad = parse_str("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n");
	cr_expect_eq(sb_sdp_answer_check(offer, bad, err, sizeof(err)), -EPROTO);
	cr_expect(strstr(err, "m= lines") != NULL, "%s", err);
	sb_sdp_free(bad);
	bad = parse_str("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			"t=0 0\r\nm=audio 4000 RTP/AVP 9\r\n");
	cr_expect_eq(sb_sdp_answer_check(offer, bad, err, sizeof(err)), -EPROTO);
	cr_expect(strstr(err, "no codec") != NULL, "%s", err);
	sb_sdp_free(bad);
	sb_sdp_free(ans);
	sb_sdp_free(parsed);
	sb_sdp_free(offer);
}

/* An SDES offer (RFC 4568 section 5.1.1): every line with its own tag, in
 * our order, RTP/SAVP; a peer answering it takes the tag of its suite. */
Test(sdp_oa, sdes_offer_writes_each_line_with_its_tag)
{
	static const struct sb_sdp_crypto lines[] = {
		{.tag = 1, .suite = "AES_CM_128_HMAC_SHA1_80", .key_params = "inline:AAAA"},
		{.tag = 2, .suite = "AES_CM_128_HMAC_SHA1_32", .key_params = "inline:BBBB"},
		{.tag = 3, .suite = "AEAD_AES_128_GCM", .key_params = "inline:CCCC"},
	};
	struct sb_sdp_caps caps = {.type = "audio", .codecs = g711, .n_codecs = 3};
	struct sb_sdp_local l = {.addr = "192.0.2.7",
				 .port = 20000,
				 .proto = "RTP/SAVP",
				 .crypto_offer = lines,
				 .n_crypto_offer = 3};
	struct sb_sdp_local peer = {
		.addr = "192.0.2.8",
		.port = 30000,
		.crypto = {.suite = "AEAD_AES_128_GCM", .key_params = "inline:DDDD"}};
	struct sb_sdp *offer = NULL, *back, *ans = NULL;
	char *text = NULL;

	cr_assert_eq(sb_sdp_offer(&caps, 1, &l, &offer), 0);
	cr_assert_eq(sb_sdp_print(offer, &text), 0);
	cr_expect(strstr(text, "m=audio 20000 RTP/SAVP 0 8 101\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n"
			       "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:BBBB\r\n"
			       "a=crypto:3 AEAD_AES_128_GCM inline:CCCC\r\n") != NULL,
		  "%s", text);
	back = parse_str(text);
	sb_test_expect_same(offer, back);
	cr_assert_eq(sb_sdp_answer(back, &caps, 1, &peer, &ans), 0);
	cr_assert_eq(ans->media[0]->n_crypto, 1);
	cr_expect_eq(ans->media[0]->crypto[0].tag, 3);
	cr_expect_str_eq(ans->media[0]->proto, "RTP/SAVP");
	free(text);
	sb_sdp_free(ans);
	sb_sdp_free(back);
	sb_sdp_free(offer);
}

Test(sdp_oa, webrtc_offer_from_caps_round_trips)
{
	struct sb_sdp_caps caps = {.type = "audio", .codecs = opus_te, .n_codecs = 2};
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp *offer = NULL, *back;
	char *text = NULL;

	l.proto = "UDP/TLS/RTP/SAVPF";
	l.setup = SB_SDP_SETUP_ACTPASS;
	cr_assert_eq(sb_sdp_offer(&caps, 1, &l, &offer), 0);
	cr_assert_eq(sb_sdp_print(offer, &text), 0);
	back = parse_str(text);
	sb_test_expect_same(offer, back);
	cr_expect_eq(back->media[0]->setup, SB_SDP_SETUP_ACTPASS);
	cr_expect_str_eq(back->bundle[0], "0");
	free(text);
	sb_sdp_free(back);
	sb_sdp_free(offer);
}

/* An ICE restart offer made from our answer to Chromium: the same sections,
 * payload types, mids and BUNDLE group (Chromium refuses a re-offer that
 * reorders or drops m= lines), new ICE credentials and candidates, actpass,
 * the o= version one higher. */
Test(sdp_oa, reoffer_after_our_answer_keeps_the_sections)
{
	static const char *const cands[] = {
		"candidate:2 1 udp 2130706431 192.0.2.9 41000 typ host"};
	struct sb_sdp *offer = sb_test_parse_file("ex_webrtc/chromium_audio_video_sdp.sdp");
	struct sb_sdp_caps caps = {
		.type = "audio", .codecs = opus_te, .n_codecs = 3, .max_codecs = 1};
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp_local again = {.ice = {.ufrag = "uf2", .pwd = "newpwnewpwnewpwnewpwnewp"},
				     .setup = SB_SDP_SETUP_ACTPASS,
				     .candidates = cands,
				     .n_candidates = 1,
				     .end_of_candidates = true};
	struct sb_sdp *ans = NULL, *re = NULL, *back, *answer_back;
	char *text = NULL, err[256] = "";

	cr_assert_eq(sb_sdp_answer(offer, &caps, 1, &l, &ans), 0);
	cr_assert_eq(sb_sdp_reoffer(ans, &again, &re), 0);
	cr_assert_eq(sb_sdp_print(re, &text), 0);
	back = parse_str(text);
	cr_expect_eq(back->sess_id, ans->sess_id);
	cr_expect_eq(back->sess_version, ans->sess_version + 1);
	cr_assert_eq(back->n_media, 2);
	cr_expect_eq(back->media[0]->port, 9);
	cr_expect_str_eq(back->media[0]->mid, "0");
	cr_assert_eq(back->media[0]->n_codecs, 2);
	cr_expect_eq(back->media[0]->codecs[0].pt, 111);
	cr_expect_eq(back->media[0]->codecs[1].pt, 110);
	cr_expect_str_eq(back->media[0]->ice.ufrag, "uf2");
	cr_expect_str_eq(back->media[0]->ice.pwd, "newpwnewpwnewpwnewpwnewp");
	cr_expect_str_eq(back->media[0]->fingerprint.value, "AA:BB");
	cr_expect_eq(back->media[0]->setup, SB_SDP_SETUP_ACTPASS);
	cr_expect(back->media[0]->rtcp_mux);
	cr_expect_eq(back->media[0]->ssrcs[0], 1234);
	cr_assert_eq(back->media[0]->n_candidates, 1);
	cr_expect_str_eq(back->media[0]->candidates[0], cands[0]);
	cr_expect_eq(back->media[1]->port, 0);
	cr_expect_str_eq(back->media[1]->mid, "1");
	cr_assert_eq(back->n_bundle, 1);
	cr_expect_str_eq(back->bundle[0], "0");
	/* Chromium's offer answers it; the answer checks against it. */
	sb_sdp_free(ans);
	ans = NULL;
	cr_assert_eq(sb_sdp_answer(back, &caps, 1, &l, &ans), 0);
	answer_back = through_text(back, ans);
	cr_expect_eq(sb_sdp_answer_check(re, answer_back, err, sizeof(err)), 0, "%s", err);
	free(text);
	sb_sdp_free(answer_back);
	sb_sdp_free(ans);
	sb_sdp_free(back);
	sb_sdp_free(re);
	sb_sdp_free(offer);
}

Test(sdp_oa, reoffer_needs_an_accepted_section)
{
	struct sb_sdp *none = parse_str("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
					"c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n");
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp *re = NULL;

	cr_expect_eq(sb_sdp_reoffer(none, &l, &re), -EINVAL);
	cr_expect_null(re);
	sb_sdp_free(none);
}

/* RFC 8841 data channels: a browser's audio and data channel, BUNDLEd. */
#define DC_OFFER                                                                                   \
	"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"                \
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"     \
	"a=ice-ufrag:Jq4x\r\na=ice-pwd:nK3z7a6wG0xYbq2Yk5H4cE1r\r\n"                               \
	"a=fingerprint:sha-256 6B:8B\r\na=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n"              \
	"a=sendrecv\r\n"                                                                           \
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"                 \
	"a=ice-ufrag:Jq4x\r\na=ice-pwd:nK3z7a6wG0xYbq2Yk5H4cE1r\r\n"                               \
	"a=fingerprint:sha-256 6B:8B\r\na=setup:actpass\r\na=mid:1\r\na=sctp-port:5000\r\n"        \
	"a=max-message-size:262144\r\n"

static const struct sb_sdp_caps dc_caps[2] = {
	{.type = "audio", .codecs = opus_te, .n_codecs = 3, .max_codecs = 1},
	{.type = "application", .sctp_port = 5000, .max_message_size = 1024}};

Test(sdp_oa, a_data_channel_is_parsed_and_answered)
{
	struct sb_sdp *offer = parse_str(DC_OFFER);
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp *ans = NULL, *back;
	const struct sb_sdp_media *d;

	cr_assert_eq(offer->n_media, 2);
	cr_expect(sb_sdp_media_is_datachannel(offer->media[1]));
	cr_expect(!sb_sdp_media_is_datachannel(offer->media[0]));
	cr_expect_eq(offer->media[1]->sctp_port, 5000);
	cr_expect_eq(offer->media[1]->max_message_size, 262144);
	cr_assert_eq(sb_sdp_answer(offer, dc_caps, 2, &l, &ans), 0);
	back = through_text(offer, ans);
	cr_assert_eq(back->n_media, 2);
	d = back->media[1];
	cr_expect_str_eq(d->type, "application");
	cr_expect_eq(d->port, 9);
	cr_expect_str_eq(d->proto, "UDP/DTLS/SCTP");
	cr_assert_eq(d->n_fmts, 1);
	cr_expect_str_eq(d->fmts[0], "webrtc-datachannel");
	cr_expect_eq(d->n_codecs, 0);
	cr_expect_str_eq(d->mid, "1");
	cr_expect_eq(d->sctp_port, 5000);
	cr_expect_eq(d->max_message_size, 1024);
	cr_expect_eq(d->setup, SB_SDP_SETUP_ACTIVE);
	cr_expect_eq(d->setup, back->media[0]->setup);
	cr_expect_eq(d->n_ssrcs, 0);
	cr_expect(!d->rtcp_mux);
	cr_expect_str_eq(d->ice.ufrag, "uf");
	cr_assert_eq(back->n_bundle, 2);
	cr_expect_str_eq(back->bundle[1], "1");
	sb_sdp_free(back);
	sb_sdp_free(ans);
	sb_sdp_free(offer);
}

/* Without application caps, or for the pre-RFC "DTLS/SCTP 5000" form, the
 * section is rejected with port 0 as before. */
Test(sdp_oa, a_data_channel_without_caps_or_in_the_old_form_is_rejected)
{
	static const char old[] =
		"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 "
		"opus/48000/2\r\n"
		"a=mid:0\r\nm=application 9 DTLS/SCTP 5000\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
		"a=sctpmap:5000 webrtc-datachannel 1024\r\n";
	struct sb_sdp *offer = parse_str(DC_OFFER), *o2 = parse_str(old);
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp *ans = NULL;

	cr_assert_eq(sb_sdp_answer(offer, dc_caps, 1, &l, &ans), 0);
	cr_expect_eq(ans->media[1]->port, 0);
	cr_expect_str_eq(ans->media[1]->mid, "1");
	cr_expect_eq(ans->n_bundle, 1);
	sb_sdp_free(ans);
	cr_assert_eq(sb_sdp_answer(o2, dc_caps, 2, &l, &ans), 0);
	cr_expect_eq(ans->media[1]->port, 0);
	sb_sdp_free(ans);
	sb_sdp_free(o2);
	sb_sdp_free(offer);
}

Test(sdp_oa, an_offer_with_a_data_channel_round_trips)
{
	struct sb_sdp_local l = webrtc_local();
	struct sb_sdp *offer = NULL, *back;
	char *text = NULL;

	l.proto = "UDP/TLS/RTP/SAVPF";
	l.setup = SB_SDP_SETUP_ACTPASS;
	cr_assert_eq(sb_sdp_offer(dc_caps, 2, &l, &offer), 0);
	cr_assert_eq(sb_sdp_print(offer, &text), 0);
	cr_expect(strstr(text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"), "%s", text);
	back = parse_str(text);
	sb_test_expect_same(offer, back);
	cr_assert_eq(back->n_media, 2);
	cr_expect(sb_sdp_media_is_datachannel(back->media[1]));
	cr_expect_eq(back->media[1]->sctp_port, 5000);
	cr_expect_eq(back->media[1]->setup, SB_SDP_SETUP_ACTPASS);
	cr_expect_eq(back->media[1]->n_ssrcs, 0);
	cr_expect_eq(back->media[1]->n_crypto, 0);
	cr_expect_eq(back->n_bundle, 2);
	free(text);
	sb_sdp_free(back);
	sb_sdp_free(offer);
}
