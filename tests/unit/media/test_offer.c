/* Our RTP offer toward a SIP peer (src/media/describe.c, sdes.c): the codecs
 * narrowed and ordered by a trunk's list, SDES lines with fresh keys per
 * session, the answer to an SDES offer taken or refused, and our new offer
 * for a hold or resume. The session is a bare struct: these functions use
 * none of its worker. */
#include <criterion/criterion.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_internal.h"

static const struct sb_mcodec opus = {
	.pt = 109, .name = "opus", .rate = 48000, .channels = 2, .fmtp = "useinbandfec=1"};
static const struct sb_mcodec pcmu = {.pt = 0, .name = "PCMU", .rate = 8000, .channels = 1};
static const struct sb_mcodec g722 = {.pt = 9, .name = "G722", .rate = 8000, .channels = 1};

/* "name/pt name/pt ..." of the first n codecs of list. */
static char *names(const struct sb_mcodec *list, int n)
{
	GString *s = g_string_new("");

	for (int i = 0; i < n; i++)
		g_string_append_printf(s, "%s%s/%d", i ? " " : "", list[i].name, list[i].pt);
	return g_string_free(s, FALSE);
}

static void expect_codecs(const struct sb_mcodec *other, const char *prefs, const char *want)
{
	struct sb_mcodec out[SB_OFFER_CODECS_MAX];
	int n = sb__offer_codecs(other, prefs, out);
	char *got = names(out, n);

	cr_expect_str_eq(got, want, "other %s, prefs '%s'", other ? other->name : "none",
			 prefs ? prefs : "(none)");
	g_free(got);
}

Test(offer, codecs_by_default_keep_the_other_legs_first)
{
	expect_codecs(NULL, NULL, "PCMU/0 PCMA/8");
	expect_codecs(&opus, NULL, "opus/109 PCMU/0 PCMA/8");
	expect_codecs(&pcmu, NULL, "PCMU/0 PCMA/8");
}

Test(offer, codecs_narrowed_and_ordered_by_the_trunk)
{
	expect_codecs(&opus, "PCMA,PCMU", "PCMA/8 PCMU/0");
	expect_codecs(&opus, "pcma", "PCMA/8");
	/* The other leg's Opus keeps its payload type; Opus toward a trunk
	 * that asks for it when the browser is on G.711 (transcoded). */
	expect_codecs(&opus, "PCMU,opus", "PCMU/0 opus/109");
	expect_codecs(&pcmu, "opus,PCMA", "opus/111 PCMA/8");
	expect_codecs(NULL, "PCMA,PCMA,PCMU", "PCMA/8 PCMU/0");
	/* Nothing we can offer: the session fails (no_common_codec). */
	expect_codecs(&opus, "", "");
	expect_codecs(NULL, "telephone-event", "");
	cr_expect(sb__codec_offerable("pcmu"));
	cr_expect(sb__codec_offerable("telephone-event"));
	cr_expect_not(sb__codec_offerable("G729"));
}

/* G.722 (RFC 3551: payload type 9, an 8000 Hz clock): relayed as the other
 * leg's codec, offered when a trunk names it, never to a browser. */
Test(offer, g722_as_the_other_legs_or_by_the_trunk)
{
	struct sb_mcodec out[SB_OFFER_CODECS_MAX];

	expect_codecs(&g722, NULL, "G722/9 PCMU/0 PCMA/8");
	expect_codecs(&opus, "G722,PCMU", "G722/9 PCMU/0");
	expect_codecs(&pcmu, "g722", "G722/9");
	expect_codecs(NULL, "opus,G722,PCMA,PCMU", "opus/111 G722/9 PCMA/8 PCMU/0");
	cr_assert_eq(sb__offer_codecs(&opus, "G722", out), 1);
	cr_expect_eq(out[0].rate, 8000);
	cr_expect(sb__codec_offerable("G722"));
	cr_expect_not(sb__codec_webrtc("G722"));
	cr_expect(sb__codec_webrtc("opus"));
	cr_expect(sb__codec_webrtc("PCMA"));
}

/* Our offer toward a trunk that names G.722: "G722/8000" on payload type
 * 9, telephone-event at 8000 Hz. */
Test(offer, g722_offer_text)
{
	struct sb_msession *s = calloc(1, sizeof(*s));
	struct sb_mcodec list[SB_OFFER_CODECS_MAX];
	int n = sb__offer_codecs(&opus, "G722", list);
	char *text = NULL;

	cr_assert_not_null(s);
	s->local_port = 20000;
	s->dtmf_pt = 101;
	s->rtp_fd = s->rtcp_fd = -1;
	cr_assert_eq(sb__describe_rtp(s, "192.0.2.1", list, n, &text), 0);
	cr_expect_not_null(strstr(text, "m=audio 20000 RTP/AVP 9 101\r\n"), "%s", text);
	cr_expect_not_null(strstr(text, "a=rtpmap:9 G722/8000\r\n"), "%s", text);
	cr_expect_not_null(strstr(text, "a=rtpmap:101 telephone-event/8000\r\n"), "%s", text);
	free(text);
	sb_sdp_free(s->local);
	free(s);
}

/* A session as sb__rtp_start leaves it before it describes its offer. */
static struct sb_msession *session(enum sb_engine_srtp mode)
{
	struct sb_msession *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	s->local_port = 20000;
	s->ssrc_out = 0x1234;
	s->dtmf_pt = 101;
	s->srtp_mode = mode;
	s->rtp_fd = s->rtcp_fd = -1;
	if (mode != SB_ENGINE_SRTP_OFF)
		cr_assert_eq(sb__sdes_offer(s), 0);
	return s;
}

static void session_free(struct sb_msession *s)
{
	if (s->srtp_in)
		srtp_dealloc(s->srtp_in);
	if (s->srtp_out)
		srtp_dealloc(s->srtp_out);
	sb__sdes_free(s);
	sb_sdp_free(s->local);
	sb_sdp_free(s->current);
	sb_sdp_free(s->remote);
	free(s);
}

/* The offer's text, parsed back with src/sdp. */
static struct sb_sdp *offer_of(struct sb_msession *s, const char *prefs, char **ret_text)
{
	struct sb_mcodec list[SB_OFFER_CODECS_MAX];
	int n = sb__offer_codecs(&opus, prefs, list);
	struct sb_sdp *sdp = NULL;
	char err[160] = "";

	cr_assert_gt(n, 0);
	cr_assert_eq(sb__describe_rtp(s, "192.0.2.1", list, n, ret_text), 0);
	cr_assert_eq(sb_sdp_parse(*ret_text, strlen(*ret_text), &sdp, err, sizeof(err)), 0, "%s",
		     err);
	return sdp;
}

static const struct {
	const char *suite;
	size_t key_len;
} want_lines[] = {
	{"AES_CM_128_HMAC_SHA1_80", 30},
	{"AES_CM_128_HMAC_SHA1_32", 30},
	{"AEAD_AES_128_GCM", 28},
};

/* The key of an inline: key param, decoded. */
static guchar *key_of(const char *kp, gsize *len)
{
	cr_assert_eq(strncmp(kp, "inline:", 7), 0, "%s", kp);
	cr_assert_null(strchr(kp, '|'), "no lifetime or MKI: %s", kp);
	return g_base64_decode(kp + 7, len);
}

Test(offer, sdes_lines_are_well_formed_and_fresh_per_session)
{
	struct sb_msession *a = session(SB_ENGINE_SRTP_SDES), *b = session(SB_ENGINE_SRTP_SDES);
	char *ta = NULL, *tb = NULL;
	struct sb_sdp *oa = offer_of(a, "PCMA,opus", &ta), *ob = offer_of(b, "PCMA,opus", &tb);
	const struct sb_sdp_media *ma = oa->media[0], *mb = ob->media[0];

	cr_expect_not_null(strstr(ta, "m=audio 20000 RTP/SAVP 8 109 101\r\n"), "%s", ta);
	cr_expect_not_null(strstr(ta, "a=rtpmap:101 telephone-event/8000\r\n"), "%s", ta);
	cr_assert_eq(ma->n_crypto, 3, "%s", ta);
	cr_assert_eq(mb->n_crypto, 3, "%s", tb);
	for (int i = 0; i < 3; i++) {
		gsize la = 0, lb = 0;
		guchar *ka = key_of(ma->crypto[i].key_params, &la);
		guchar *kb = key_of(mb->crypto[i].key_params, &lb);

		cr_expect_eq(ma->crypto[i].tag, (unsigned)i + 1);
		cr_expect_str_eq(ma->crypto[i].suite, want_lines[i].suite);
		cr_expect_null(ma->crypto[i].session_params);
		cr_expect_eq(la, want_lines[i].key_len, "%s", ma->crypto[i].key_params);
		cr_expect_eq(lb, want_lines[i].key_len);
		cr_expect_neq(memcmp(ka, kb, la), 0, "two sessions share a %s key",
			      want_lines[i].suite);
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(ma->crypto[i].key_params, ma->crypto[j].key_params);
		g_free(ka);
		g_free(kb);
	}
	sb_sdp_free(oa);
	sb_sdp_free(ob);
	free(ta);
	free(tb);
	session_free(a);
	session_free(b);
}

Test(offer, sdes_optional_is_rtp_avp_with_crypto_and_off_has_none)
{
	struct sb_msession *a = session(SB_ENGINE_SRTP_SDES_OPTIONAL);
	struct sb_msession *b = session(SB_ENGINE_SRTP_OFF);
	char *ta = NULL, *tb = NULL;
	struct sb_sdp *oa = offer_of(a, NULL, &ta), *ob = offer_of(b, NULL, &tb);

	cr_expect_not_null(strstr(ta, "m=audio 20000 RTP/AVP 109 0 8 101\r\n"), "%s", ta);
	cr_expect_eq(oa->media[0]->n_crypto, 3, "%s", ta);
	cr_expect_not_null(strstr(tb, "m=audio 20000 RTP/AVP 109 0 8 101\r\n"), "%s", tb);
	cr_expect_null(strstr(tb, "a=crypto"), "%s", tb);
	sb_sdp_free(oa);
	sb_sdp_free(ob);
	free(ta);
	free(tb);
	session_free(a);
	session_free(b);
}

/* The answer to an SDES offer of s: its crypto lines, RTP/SAVP. */
static void answer(struct sb_msession *s, const char *crypto)
{
	char *text = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\n"
				     "c=IN IP4 192.0.2.9\r\nt=0 0\r\n"
				     "m=audio 30000 RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\n%s",
				     crypto);
	char err[160] = "";

	cr_assert_eq(sb__remote_take(s, text, err, sizeof(err)), 0, "%s", err);
	g_free(text);
}

static void offered(struct sb_msession *s)
{
	char *t = NULL;

	sb_sdp_free(offer_of(s, "PCMA", &t));
	free(t);
}

#define KEY30 "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define KEY28 "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="

Test(offer, sdes_answer_keys_the_leg_or_is_refused, .init = (void (*)(void))srtp_init)
{
	struct sb_msession *s;

	/* The line of tag 3 (GCM, a 28-byte key): installed both ways. */
	s = session(SB_ENGINE_SRTP_SDES);
	offered(s);
	answer(s, "a=crypto:3 AEAD_AES_128_GCM " KEY28 "\r\n");
	cr_expect_eq(sb__sdes_answered(s), 0);
	cr_expect(s->srtp_ready);
	cr_expect_eq(s->sdes.tag, 3);
	cr_expect_str_eq(s->sdes.suite, "AEAD_AES_128_GCM");
	cr_expect_eq(s->n_sdes_offer, 0, "the offer's other keys are wiped");
	cr_expect_eq(sb__sdes_answered(s), 0, "a second answer with the same line is fine");
	session_free(s);

	/* No crypto line: refused when RTP/SAVP was offered... */
	s = session(SB_ENGINE_SRTP_SDES);
	offered(s);
	answer(s, "");
	cr_expect_eq(sb__sdes_answered(s), -ENOENT);
	cr_expect_not(s->srtp_ready);
	session_free(s);
	/* ... plain RTP when the offer was best effort. */
	s = session(SB_ENGINE_SRTP_SDES_OPTIONAL);
	offered(s);
	answer(s, "");
	cr_expect_eq(sb__sdes_answered(s), 0);
	cr_expect_not(s->srtp_ready);
	cr_expect_eq(s->n_sdes_offer, 0);
	session_free(s);

	/* A line that answers none of ours: tag 1 is not GCM; a tag we did
	 * not offer; a short key; an MKI. */
	static const char *const bad[] = {
		"a=crypto:1 AEAD_AES_128_GCM " KEY28 "\r\n",
		"a=crypto:7 AES_CM_128_HMAC_SHA1_80 " KEY30 "\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\n",
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 " KEY30 "|2^20|1:4\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = session(SB_ENGINE_SRTP_SDES_OPTIONAL);
		offered(s);
		answer(s, bad[i]);
		cr_expect_eq(sb__sdes_answered(s), -ENOTSUP, "%s", bad[i]);
		cr_expect_not(s->srtp_ready);
		session_free(s);
	}
}

#define KEY28B "inline:AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
#define KEY30B "inline:AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"

/* A later answer to the same offer (a 200 after a 183 with SDP) must carry
 * the line the first one installed: another key, another tag, no line at
 * all, or a line after a plain first answer is refused (RFC 3264 section
 * 6: one offer, one answer; RFC 4568 section 7.1.4). */
Test(offer, sdes_later_answer_must_keep_the_line, .init = (void (*)(void))srtp_init)
{
	static const char *const later[] = {
		"a=crypto:3 AEAD_AES_128_GCM " KEY28B "\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 " KEY30 "\r\n",
		"",
	};
	static const int want[] = {-ENOTSUP, -ENOTSUP, -ENOENT};
	struct sb_msession *s;

	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		s = session(i == 2 ? SB_ENGINE_SRTP_SDES_OPTIONAL : SB_ENGINE_SRTP_SDES);
		offered(s);
		answer(s, "a=crypto:3 AEAD_AES_128_GCM " KEY28 "\r\n");
		cr_assert_eq(sb__sdes_answered(s), 0);
		answer(s, later[i]);
		cr_expect_eq(sb__sdes_answered(s), want[i], "later answer '%s'", later[i]);
		cr_expect_str_eq(s->sdes_peer_kp, KEY28, "the installed key stays");
		session_free(s);
	}

	/* sdes_optional answered in clear: a later answer with a line would
	 * key a leg the peer takes as plain. */
	s = session(SB_ENGINE_SRTP_SDES_OPTIONAL);
	offered(s);
	answer(s, "");
	cr_assert_eq(sb__sdes_answered(s), 0);
	answer(s, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 " KEY30 "\r\n");
	cr_expect_eq(sb__sdes_answered(s), -ENOTSUP);
	cr_expect_not(s->srtp_ready);
	answer(s, "");
	cr_expect_eq(sb__sdes_answered(s), 0, "plain again is fine");
	session_free(s);
}

/* Our offer for a hold or resume (sb__describe_rtp_hold): the description
 * in force again, one o= version up, with the direction asked for and only
 * the crypto line in force; the rest (codecs and their numbers, address,
 * port, rtcp-mux, a rejected video section) as it was. */
static char *hold_offer(const char *current, enum sb_sdp_dir dir, const struct sb_sdp_crypto *c)
{
	struct sb_sdp *cur = NULL, *d = NULL;
	char err[128] = "", *text = NULL;

	cr_assert_eq(sb_sdp_parse(current, strlen(current), &cur, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sb__describe_rtp_hold(cur, dir, c, &d), 0);
	cr_assert_eq(d->sess_id, cur->sess_id);
	cr_assert_eq(d->sess_version, cur->sess_version + 1);
	cr_assert_eq(sb_sdp_print(d, &text), 0);
	sb_sdp_free(cur);
	sb_sdp_free(d);
	return text;
}

Test(offer, hold_offer_is_the_description_in_force_again)
{
	static const char current[] =
		"v=0\r\no=- 42 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
		"m=audio 40000 RTP/SAVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtcp-mux\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
		"inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 "
		"inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n"
		"a=sendrecv\r\nm=video 0 RTP/AVP 96\r\n";
	const struct sb_sdp_crypto line = {
		.tag = 2,
		.suite = "AES_CM_128_HMAC_SHA1_32",
		.key_params = "inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk"};
	char *held = hold_offer(current, SB_SDP_SENDONLY, &line);
	char *inactive = hold_offer(current, SB_SDP_INACTIVE, NULL);

	cr_assert_not_null(strstr(held, "o=- 42 8 IN IP4 192.0.2.1\r\n"), "%s", held);
	cr_assert_not_null(strstr(held, "m=audio 40000 RTP/SAVP 8 101\r\n"), "%s", held);
	cr_assert_not_null(strstr(held, "c=IN IP4 192.0.2.1\r\n"), "%s", held);
	cr_assert_not_null(strstr(held, "a=rtpmap:8 PCMA/8000\r\n"), "%s", held);
	cr_assert_not_null(strstr(held, "a=rtcp-mux\r\n"), "%s", held);
	cr_assert_not_null(strstr(held, "a=sendonly\r\n"), "%s", held);
	cr_assert_null(strstr(held, "a=sendrecv"), "%s", held);
	cr_assert_not_null(strstr(held, "a=crypto:2 AES_CM_128_HMAC_SHA1_32 "
					"inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n"),
			   "%s", held);
	cr_assert_null(strstr(held, "a=crypto:1"), "%s", held);
	cr_assert_not_null(strstr(held, "m=video 0 "), "%s", held);
	cr_assert_not_null(strstr(inactive, "a=inactive\r\n"), "%s", inactive);
	cr_assert_null(strstr(inactive, "a=crypto"), "%s", inactive);
	free(held);
	free(inactive);
}

Test(offer, hold_offer_needs_an_audio_section)
{
	static const char video[] = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 "
				    "192.0.2.1\r\nt=0 0\r\nm=video 40000 RTP/AVP 96\r\n";
	struct sb_sdp *cur = NULL, *d = NULL;
	char err[128] = "";

	cr_assert_eq(sb_sdp_parse(video, strlen(video), &cur, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sb__describe_rtp_hold(cur, SB_SDP_SENDONLY, NULL, &d), -EINVAL);
	cr_assert_null(d);
	sb_sdp_free(cur);
}
