/* SDP reading (src/sdp): the real browser offers of the shared testdata, the
 * whole SDP corpus (parse or clear refusal), the size limits, and printing
 * followed by parsing again. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdp/sdp.h"
#include "sdp_test.h"

/* The shared testdata; SB_TESTDATA in the environment overrides the path
 * meson knows. */
const char *sb_test_testdata(void)
{
	const char *e = getenv("SB_TESTDATA");

	return e && *e ? e : SB_TESTDATA;
}

char *sb_test_load(const char *rel, size_t *ret_len)
{
	char path[512];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/sdp/%s", sb_test_testdata(), rel);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	*ret_len = (size_t)n;
	return buf;
}

struct sb_sdp *sb_test_parse_file(const char *rel)
{
	struct sb_sdp *sdp = NULL;
	char err[256] = "";
	size_t n;
	char *text = sb_test_load(rel, &n);
	int r = sb_sdp_parse(text, n, &sdp, err, sizeof(err));

	cr_assert_eq(r, 0, "%s: %d %s", rel, r, err);
	free(text);
	return sdp;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Real browser offers (testdata/sdp/README.md). */
static const char *const browser_offers[] = {
	"ex_webrtc/chromium_audio_video_sdp.sdp",
	"ex_webrtc/firefox_audio_video_sdp.sdp",
	"ex_webrtc/obs_audio_video_sdp.sdp",
	"janus-fuzzers-corpora/2webrtc__firefox-1.sdp",
	"janus-fuzzers-corpora/2webrtc__firefox-2.sdp",
	"janus-fuzzers-corpora/2webrtc__opera-1.sdp",
	"janus-fuzzers-corpora/2webrtc__opera-2.sdp",
	"sdp-transform/chrome-2014-01.sdp",
	"sdp-transform/jssip.sdp",
	"mozilla-webrtc-sdp/41.sdp",
};

Test(sdp_parse, every_browser_offer_has_what_a_call_needs)
{
	for (size_t i = 0; i < sizeof(browser_offers) / sizeof(browser_offers[0]); i++) {
		struct sb_sdp *sdp = sb_test_parse_file(browser_offers[i]);
		struct sb_sdp_media *a = sb_sdp_media_find(sdp, "audio");

		cr_assert_not_null(a, "%s: no audio", browser_offers[i]);
		cr_expect_not_null(a->ice.ufrag, "%s", browser_offers[i]);
		cr_expect_not_null(a->ice.pwd, "%s", browser_offers[i]);
		cr_expect(a->fingerprint.hash || a->n_crypto > 0, "%s: no keying",
			  browser_offers[i]);
		cr_expect(a->rtcp_mux, "%s", browser_offers[i]);
		cr_expect_not_null(sb_sdp_codec_find(a, "opus", 48000), "%s", browser_offers[i]);
		sb_sdp_free(sdp);
	}
}

Test(sdp_parse, chromium_offer_in_detail)
{
	struct sb_sdp *sdp = sb_test_parse_file("ex_webrtc/chromium_audio_video_sdp.sdp");
	struct sb_sdp_media *a, *v;
	const struct sb_sdp_codec *opus, *te;

	cr_assert_eq(sdp->n_media, 2);
	cr_assert_eq(sdp->n_bundle, 2);
	cr_expect_str_eq(sdp->bundle[0], "0");
	cr_expect_str_eq(sdp->bundle[1], "1");
	cr_expect_eq(sdp->sess_id, 7169721126327183323ull);
	a = sdp->media[0];
	v = sdp->media[1];
	cr_expect_str_eq(a->type, "audio");
	cr_expect_str_eq(a->proto, "UDP/TLS/RTP/SAVPF");
	cr_expect_eq(a->port, 9);
	cr_expect_str_eq(a->addr, "0.0.0.0");
	cr_expect_eq(a->n_codecs, 8);
	cr_expect_eq(v->n_codecs, 23);
	/* m= line order */
	cr_expect_eq(a->codecs[0].pt, 111);
	cr_expect_eq(a->codecs[7].pt, 126);
	opus = sb_sdp_codec_find(a, "opus", 0);
	cr_assert_not_null(opus);
	cr_expect_eq(opus->rate, 48000);
	cr_expect_eq(opus->channels, 2);
	cr_expect_str_eq(opus->fmtp, "minptime=10;useinbandfec=1");
	te = sb_sdp_codec_find(a, "telephone-event", 8000);
	cr_assert_not_null(te);
	cr_expect_eq(te->pt, 126);
	cr_expect_str_eq(a->ice.ufrag, "nWnq");
	cr_expect_str_eq(a->ice.pwd, "DTdCVj00s9nGkNgWra0P30A2");
	cr_expect_str_eq(a->ice.options, "trickle");
	cr_expect_str_eq(a->fingerprint.hash, "sha-256");
	cr_expect_eq(strlen(a->fingerprint.value), 95);
	cr_expect_eq(a->setup, SB_SDP_SETUP_ACTPASS);
	cr_expect_eq(a->dir, SB_SDP_SENDRECV);
	cr_expect_str_eq(a->mid, "0");
	cr_expect_eq(a->rtcp_port, 9);
	cr_expect_eq(a->n_ssrcs, 1);
	cr_expect_eq(a->ssrcs[0], 3262661846u);
	cr_expect_str_eq(a->cname, "yFbnkIWTHwPXy6MO");
	cr_expect_str_eq(v->mid, "1");
	cr_expect_not_null(sb_sdp_codec_find(v, "VP8", 90000));
	sb_sdp_free(sdp);
}

Test(sdp_parse, obs_offer_candidates_and_sendonly)
{
	struct sb_sdp *sdp = sb_test_parse_file("ex_webrtc/obs_audio_video_sdp.sdp");
	struct sb_sdp_media *a = sdp->media[0];

	cr_expect_eq(a->dir, SB_SDP_SENDONLY);
	cr_expect_eq(a->port, 58712);
	cr_assert_gt(a->n_candidates, 0);
	cr_expect_eq(strncmp(a->candidates[0], "candidate:", 10), 0, "%s", a->candidates[0]);
	sb_sdp_free(sdp);
}

Test(sdp_parse, sdes_crypto_lines)
{
	struct sb_sdp *sdp = sb_test_parse_file("sdp-transform/chrome-2014-01.sdp");
	struct sb_sdp_media *a = sdp->media[0];

	cr_assert_eq(a->n_crypto, 1);
	cr_expect_eq(a->crypto[0].tag, 1);
	cr_expect_str_eq(a->crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
	cr_expect_str_eq(a->crypto[0].key_params,
			 "inline:8QVQSHJ2AM8gIumHpYRRdWHyZ5NkLhaTD1AENOWx");
	cr_expect_null(a->crypto[0].session_params);
	cr_expect_str_eq(a->proto, "RTP/SAVPF");
	sb_sdp_free(sdp);
}

Test(sdp_parse, plain_rtp_avp_from_sip)
{
	static const char text[] = "v=0\r\n"
				   "o=- 1 1 IN IP4 192.0.2.5\r\n"
				   "s=-\r\n"
				   "c=IN IP4 192.0.2.5\r\n"
				   "t=0 0\r\n"
				   "m=audio 40000 RTP/AVP 8 0 101\r\n"
				   "a=rtpmap:101 telephone-event/8000\r\n"
				   "a=fmtp:101 0-16\r\n"
				   "a=ptime:20\r\n"
				   "a=recvonly\r\n";
	struct sb_sdp *sdp = NULL;
	char err[128];
	struct sb_sdp_media *a;

	cr_assert_eq(sb_sdp_parse(text, strlen(text), &sdp, err, sizeof(err)), 0, "%s", err);
	a = sdp->media[0];
	cr_expect_str_eq(a->addr, "192.0.2.5");
	cr_expect_eq(a->port, 40000);
	cr_assert_eq(a->n_codecs, 3);
	cr_expect_str_eq(a->codecs[0].name, "PCMA");
	cr_expect_eq(a->codecs[0].rate, 8000);
	cr_expect_str_eq(a->codecs[1].name, "PCMU");
	cr_expect_str_eq(a->codecs[2].name, "telephone-event");
	cr_expect_str_eq(a->codecs[2].fmtp, "0-16");
	cr_expect_eq(a->ptime, 20);
	cr_expect_eq(a->dir, SB_SDP_RECVONLY);
	sb_sdp_free(sdp);
}

/* A lone CR ends a line for sofia but not for the limit scan: refused, so
 * that no m= line escapes the scan (found by fuzzing). */
Test(sdp_parse, a_lone_cr_is_refused)
{
	static const char text[] = "v=0\r\n"
				   "o=- 1 1 IN IP4 192.0.2.5\r\n"
				   "s=-\r\n"
				   "t=0 0\r\n"
				   "a=group:BUNDLE audio\rm=audio 9RTP//SAVPF 111\n"
				   "a=rtpmap:111 opus/48000/2\r\n";
	struct sb_sdp *sdp = NULL;
	char err[128] = "";

	cr_expect_eq(sb_sdp_parse(text, strlen(text), &sdp, err, sizeof(err)), -EBADMSG);
	cr_expect_null(sdp);
	cr_expect(strstr(err, "CR without LF") != NULL, "%s", err);
}

Test(sdp_parse, lf_and_crlf_read_the_same)
{
	size_t n;
	char *lf = sb_test_load("ex_webrtc/firefox_audio_video_sdp.sdp", &n);
	char *crlf = malloc(2 * n + 1);
	struct sb_sdp *a = NULL, *b = NULL;
	char err[128];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (lf[i] == '\n')
			crlf[k++] = '\r';
		crlf[k++] = lf[i];
	}
	cr_assert_eq(sb_sdp_parse(lf, n, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sb_sdp_parse(crlf, k, &b, err, sizeof(err)), 0, "%s", err);
	sb_test_expect_same(a, b);
	sb_sdp_free(a);
	sb_sdp_free(b);
	free(lf);
	free(crlf);
}

/* Each file of the corpus parses, or is refused with a reason; the ones
 * refused are exactly those known not to be SDP a gateway must take. */
Test(sdp_parse, whole_corpus_parses_or_is_refused_clearly)
{
	static const char *const dirs[] = {"ex_webrtc", "janus-fuzzers-corpora",
					   "mozilla-webrtc-sdp", "sdp-transform"};
	static const char *const refused[] = {
		"2webrtc__unittest-3.sdp", /* fragment: starts at m= */
		"2webrtc__unittest-6.sdp",
		"2webrtc__unittest-7.sdp",
		"1meetecho__sdp_fuzzer-timeout-26f23f1364a16565e2f339c3297f71c275b6b0cf",
		"1meetecho__sdp_fuzzer-timeout-80e8c427e72e9f33f02c8a088caab69d9d97702c",
		"03.sdp", /* ';' comment lines of the Rust example parser */
		"08.sdp",
		"11.sdp",
	};
	int parsed = 0, refusals = 0;

	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char path[512];
		DIR *dir;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/sdp/%s", sb_test_testdata(), dirs[d]);
		dir = opendir(path);
		cr_assert_not_null(dir, "%s", path);
		while ((e = readdir(dir))) {
			char rel[512], err[256] = "";
			struct sb_sdp *sdp = NULL;
			bool expect_refusal = false;
			size_t n;
			char *text;
			int r;

			if (e->d_name[0] == '.' || strstr(e->d_name, ".md"))
				continue;
			for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
				expect_refusal |= strcmp(e->d_name, refused[i]) == 0;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], e->d_name);
			text = sb_test_load(rel, &n);
			r = sb_sdp_parse(text, n, &sdp, err, sizeof(err));
			if (expect_refusal) {
				cr_expect(r == -EBADMSG || r == -E2BIG, "%s: %d", rel, r);
				cr_expect_gt(strlen(err), 10, "%s: no reason", rel);
				cr_expect_null(sdp);
				refusals++;
			} else {
				cr_expect_eq(r, 0, "%s: %d %s", rel, r, err);
				parsed++;
			}
			sb_sdp_free(sdp);
			free(text);
		}
		closedir(dir);
	}
	cr_expect_eq(refusals, 8);
	cr_expect_gt(parsed, 100);
}

Test(sdp_parse, oversized_inputs_are_refused_fast)
{
	static const char *const big[] = {
		/* ~1 MB, 259 k lines: made Janus's parser slow (README) */
		"janus-fuzzers-corpora/1meetecho__sdp_fuzzer-timeout-"
		"26f23f1364a16565e2f339c3297f71c275b6b0cf",
		/* 55 KB in one line */
		"janus-fuzzers-corpora/1meetecho__sdp_fuzzer-timeout-"
		"80e8c427e72e9f33f02c8a088caab69d9d97702c",
	};

	for (size_t i = 0; i < 2; i++) {
		size_t n;
		char *text = sb_test_load(big[i], &n);
		struct sb_sdp *sdp = NULL;
		char err[256] = "";
		double t0 = now_ms();
		int r = sb_sdp_parse(text, n, &sdp, err, sizeof(err));
		double ms = now_ms() - t0;

		cr_expect_eq(r, -E2BIG, "%s: %d %s", big[i], r, err);
		cr_expect(strstr(err, "longer than") != NULL, "%s", err);
		cr_expect_lt(ms, 5.0, "refusal took %.2f ms", ms);
		free(text);
	}
}

/* A browser-like offer with the given counts of formats, candidates and
 * extra m= lines. Returns malloc'd text. */
static char *make_offer(int formats, int cands, int extra_media)
{
	size_t cap = 256 * 1024, k = 0;
	char *t = malloc(cap);

	k += (size_t)snprintf(t + k, cap - k,
			      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
			      "m=audio 9 UDP/TLS/RTP/SAVPF");
	for (int i = 0; i < formats; i++)
		k += (size_t)snprintf(t + k, cap - k, " %d", i % 128);
	k += (size_t)snprintf(t + k, cap - k, "\r\nc=IN IP4 0.0.0.0\r\n");
	for (int i = 0; i < cands; i++)
		k += (size_t)snprintf(t + k, cap - k,
				      "a=candidate:%d 1 udp 2130706431 192.0.2.1 %d typ host\r\n",
				      i, 5000 + i);
	for (int i = 0; i < extra_media; i++)
		k += (size_t)snprintf(t + k, cap - k,
				      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n");
	return t;
}

static int parse_text(const char *t, char *err, size_t errlen)
{
	struct sb_sdp *sdp = NULL;
	int r = sb_sdp_parse(t, strlen(t), &sdp, err, errlen);

	sb_sdp_free(sdp);
	return r;
}

Test(sdp_parse, limits_on_formats_candidates_sections_lines)
{
	char err[256];
	char *t;

	t = make_offer(SB_SDP_MAX_CODECS, SB_SDP_MAX_CANDS, SB_SDP_MAX_MEDIA - 1);
	cr_expect_eq(parse_text(t, err, sizeof(err)), 0, "%s", err);
	free(t);
	t = make_offer(SB_SDP_MAX_CODECS + 1, 1, 0);
	cr_expect_eq(parse_text(t, err, sizeof(err)), -E2BIG);
	cr_expect(strstr(err, "formats") != NULL, "%s", err);
	free(t);
	t = make_offer(1, SB_SDP_MAX_CANDS + 1, 0);
	cr_expect_eq(parse_text(t, err, sizeof(err)), -E2BIG);
	cr_expect(strstr(err, "candidates") != NULL, "%s", err);
	free(t);
	t = make_offer(1, 1, SB_SDP_MAX_MEDIA);
	cr_expect_eq(parse_text(t, err, sizeof(err)), -E2BIG);
	cr_expect(strstr(err, "m= lines") != NULL, "%s", err);
	free(t);
	/* Many short lines under the byte limit. */
	t = calloc(1, SB_SDP_MAX_LINES * 4 + 64);
	for (int i = 0; i <= SB_SDP_MAX_LINES; i++)
		memcpy(t + 4 * i, "a=\r\n", 4);
	cr_expect_eq(parse_text(t, err, sizeof(err)), -E2BIG);
	cr_expect(strstr(err, "lines") != NULL, "%s", err);
	free(t);
}

Test(sdp_parse, garbage_is_refused_with_a_reason)
{
	static const char nul[] = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\0\r\n";
	struct sb_sdp *sdp = NULL;
	char err[256] = "";

	cr_expect_eq(parse_text("hello world", err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "not <type>=<value>") != NULL, "%s", err);
	cr_expect_eq(parse_text("v=0\r\n\tm=audio 9 RTP/AVP 0\r\n", err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "line 2 is not <type>=<value>") != NULL, "%s", err);
	cr_expect_eq(parse_text("v=0\r\nx=y\r\n", err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "sofia-sip") != NULL, "%s", err);
	cr_expect_eq(parse_text("", err, sizeof(err)), -EBADMSG);
	cr_expect_eq(sb_sdp_parse(nul, sizeof(nul) - 1, &sdp, err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "NUL") != NULL, "%s", err);
	cr_expect_null(sdp);
}

/* Found by fuzzing: sofia-sip allocated gigabytes for seconds on these
 * bytes in an m= proto. They are refused before sofia sees them. */
Test(sdp_parse, non_ascii_proto_is_refused_before_sofia)
{
	static const char text[] = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
				   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
				   "m=video 9 A/\260\310 96\r\n";
	static const char utf8[] = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=Caf\303\251\r\n"
				   "c=IN IP4 1.2.3.4\r\nt=0 0\r\n"
				   "m=audio 9 RTP/AVP 0\r\na=x-label:\303\251\r\n";
	char err[256] = "";
	double t0 = now_ms();

	cr_expect_eq(parse_text(text, err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "outside ASCII") != NULL, "%s", err);
	cr_expect_lt(now_ms() - t0, 50.0);
	cr_expect_eq(parse_text(utf8, err, sizeof(err)), 0, "%s", err);
}

/* Found by fuzzing: sofia-sip loops allocating on a proto like "X(/AVP".
 * m= lines are checked against RFC 8866's grammar first. */
Test(sdp_parse, malformed_mline_is_refused_before_sofia)
{
	static const char *const bad[] = {"RT(/AVP 0",	"RTP/ 0",  "/AVP 0",
					  "RTP//AVP 0", "RTP/AVP", "RTP/AVP 0:1"};
	char text[256], err[256] = "";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double t0 = now_ms();

		snprintf(text, sizeof(text),
			 "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
			 "t=0 0\r\nm=audio 9 %s\r\n",
			 bad[i]);
		cr_expect_eq(parse_text(text, err, sizeof(err)), -EBADMSG, "%s", bad[i]);
		cr_expect(strstr(err, "RFC 8866") != NULL, "%s: %s", bad[i], err);
		cr_expect_lt(now_ms() - t0, 50.0);
	}
	snprintf(text, sizeof(text),
		 "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
		 "t=0 0\r\nm=audio 9/2 RTP/AVP 0\r\nm=image 9 udptl t38\r\n");
	cr_expect_eq(parse_text(text, err, sizeof(err)), 0, "%s", err);
}

Test(sdp_print, browser_offers_survive_print_then_parse)
{
	for (size_t i = 0; i < sizeof(browser_offers) / sizeof(browser_offers[0]); i++) {
		struct sb_sdp *a = sb_test_parse_file(browser_offers[i]), *b = NULL;
		char *text = NULL, err[256] = "";

		cr_assert_eq(sb_sdp_print(a, &text), 0, "%s", browser_offers[i]);
		sb_test_expect_crlf(text);
		cr_assert_eq(sb_sdp_parse(text, strlen(text), &b, err, sizeof(err)), 0,
			     "%s: %s\n%s", browser_offers[i], err, text);
		sb_test_expect_same(a, b);
		free(text);
		sb_sdp_free(a);
		sb_sdp_free(b);
	}
}

Test(sdp_print, built_by_hand)
{
	struct sb_sdp *sdp = sb_sdp_new();
	struct sb_sdp_media *m = sb_sdp_media_add(sdp, "audio", 4000, "RTP/AVP");
	char *text = NULL;

	sdp->addr = sb_sdp_strdup(sdp, "192.0.2.1");
	cr_assert_eq(sb_sdp_codec_add(sdp, m, 0, "PCMU", 8000, 1, NULL), 0);
	cr_assert_eq(sb_sdp_codec_add(sdp, m, 101, "telephone-event", 8000, 1, "0-16"), 0);
	cr_expect_eq(sb_sdp_codec_add(sdp, m, 128, "x", 8000, 1, NULL), -EINVAL);
	m->ptime = 20;
	m->rtcp_port = 4001;
	cr_assert_eq(sb_sdp_print(sdp, &text), 0);
	sb_test_expect_crlf(text);
	cr_expect(strstr(text, "\r\nm=audio 4000 RTP/AVP 0 101\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "\r\nc=IN IP4 192.0.2.1\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "\r\na=rtpmap:0 PCMU/8000\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "\r\na=fmtp:101 0-16\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "\r\na=sendrecv\r\n") != NULL, "%s", text);
	cr_expect(strstr(text, "\r\na=rtcp:4001\r\n") != NULL, "%s", text);
	cr_expect_eq(strncmp(text, "v=0\r\n", 5), 0, "%s", text);
	free(text);
	sb_sdp_free(sdp);
}
