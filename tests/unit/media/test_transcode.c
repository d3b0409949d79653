/* The transcoder (src/media/transcode.c) on G.722: a 1 kHz tone through
 * each path with G.722 on one side (Opus, PCMU) comes out at 1 kHz and at
 * about its level, in packets of the size RTP carries for 20 ms. Test
 * thread only; spandsp and libopus make and read the far side's audio. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <opus/opus.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "media/transcode.h"
#include "../../support/tone.h"

#define PACKETS 50 /* 1 s of 20 ms packets */
#define AMP	8000.0
#define TONE_HZ 1000

static int16_t tone(int rate, size_t i)
{
	return (int16_t)lrint(AMP * sin(2 * M_PI * TONE_HZ * (double)i / rate));
}

static double rms(const int16_t *x, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (double)x[i] * x[i];
	return n ? sqrt(sum / (double)n) : 0;
}

/* The second half of what came out (past codec and resampler start-up):
 * the tone, within 1.5 dB of what went in. */
static void expect_tone(const int16_t *pcm, size_t n, int rate, const char *what)
{
	double want = AMP / sqrt(2), got = rms(pcm + n / 2, n / 2);

	cr_assert_gt(n, (size_t)rate / 2, "%s: %zu samples", what, n);
	cr_expect_eq(sbt_peak_hz(pcm + n / 2, n / 2, rate), TONE_HZ, "%s: %d Hz", what,
		     sbt_peak_hz(pcm + n / 2, n / 2, rate));
	cr_expect(fabs(20 * log10(got / want)) < 1.5, "%s: rms %.0f, sent %.0f", what, got, want);
}

Test(transcode, g722_names_and_rates)
{
	cr_expect_eq(sb_xcode_codec_of("G722"), SB_XC_G722);
	cr_expect_eq(sb_xcode_codec_of("g722"), SB_XC_G722);
	/* RFC 3551 section 4.5.2: an 8000 Hz clock for 16 kHz audio. */
	cr_expect_eq(sb_xcode_rate(SB_XC_G722), 8000);
	cr_expect_eq(sb_xcode_pcm_rate(SB_XC_G722), 16000);
	cr_expect_eq(sb_xcode_pcm_rate(SB_XC_OPUS), 48000);
	cr_expect_eq(sb_xcode_pcm_rate(SB_XC_PCMU), 8000);
}

/* spandsp's codec itself, as we set it up (64 kbit/s, 16 kHz samples,
 * unpacked): 320 samples are 160 bytes, and a tone comes back. */
Test(transcode, g722_codec_round_trip)
{
	g722_encode_state_t *enc = g722_encode_init(NULL, 64000, 0);
	g722_decode_state_t *dec = g722_decode_init(NULL, 64000, 0);
	static int16_t out[PACKETS * 320];
	size_t n = 0;

	cr_assert(enc && dec);
	for (size_t p = 0; p < PACKETS; p++) {
		int16_t pcm[320];
		uint8_t bytes[160];

		for (size_t k = 0; k < 320; k++)
			pcm[k] = tone(16000, p * 320 + k);
		cr_assert_eq(g722_encode(enc, bytes, pcm, 320), 160);
		cr_assert_eq(g722_decode(dec, out + n, bytes, 160), 320);
		n += 320;
	}
	expect_tone(out, n, 16000, "G.722");
	g722_encode_free(enc);
	g722_decode_free(dec);
}

/* PCMU -> G.722 -> PCMU: 160 bytes each way a packet. */
Test(transcode, g722_and_pcmu_both_ways)
{
	struct sb_xcode *up = sb_xcode_new(SB_XC_PCMU, SB_XC_G722);
	struct sb_xcode *down = sb_xcode_new(SB_XC_G722, SB_XC_PCMU);
	static int16_t out[PACKETS * 160];
	size_t n = 0;
	int total_g722 = 0;

	cr_assert(up && down);
	for (size_t p = 0; p < PACKETS; p++) {
		uint8_t ulaw[160], g722[400], back[400];
		int ng, nb;

		for (size_t k = 0; k < 160; k++)
			ulaw[k] = sb_g711_ulaw_encode(tone(8000, p * 160 + k));
		ng = sb_xcode_run(up, ulaw, sizeof(ulaw), g722, sizeof(g722));
		cr_assert_geq(ng, 0);
		cr_assert_leq(ng, 161);
		total_g722 += ng;
		nb = sb_xcode_run(down, g722, (size_t)ng, back, sizeof(back));
		cr_assert_geq(nb, 0);
		for (int k = 0; k < nb && n < PACKETS * 160; k++)
			out[n++] = sb_g711_ulaw_decode(back[k]);
	}
	/* Every sample got through, less what the resamplers hold back. */
	cr_expect_geq(total_g722, PACKETS * 160 - 40, "%d bytes", total_g722);
	expect_tone(out, n, 8000, "PCMU -> G.722 -> PCMU");
	sb_xcode_free(up);
	sb_xcode_free(down);
}

/* G.722 (made by spandsp) -> Opus (read by libopus). */
Test(transcode, g722_to_opus)
{
	struct sb_xcode *x = sb_xcode_new(SB_XC_G722, SB_XC_OPUS);
	g722_encode_state_t *enc = g722_encode_init(NULL, 64000, 0);
	int err = 0, frames = 0;
	OpusDecoder *dec = opus_decoder_create(48000, 1, &err);
	static int16_t out[PACKETS * 960];
	size_t n = 0;

	cr_assert(x && enc && dec);
	for (size_t p = 0; p < PACKETS; p++) {
		int16_t pcm[320];
		uint8_t g722[160], opus[400];
		int len, got;

		for (size_t k = 0; k < 320; k++)
			pcm[k] = tone(16000, p * 320 + k);
		g722_encode(enc, g722, pcm, 320);
		len = sb_xcode_run(x, g722, sizeof(g722), opus, sizeof(opus));
		cr_assert_geq(len, 0);
		if (len == 0)
			continue;
		frames++;
		got = opus_decode(dec, opus, len, out + n, 960, 0);
		cr_assert_eq(got, 960);
		n += (size_t)got;
	}
	cr_expect_geq(frames, PACKETS - 1, "%d Opus frames", frames);
	expect_tone(out, n, 48000, "G.722 -> Opus");
	sb_xcode_free(x);
	g722_encode_free(enc);
	opus_decoder_destroy(dec);
}

/* Opus (made by libopus) -> G.722 (read by spandsp): 160 bytes a 20 ms
 * packet. */
Test(transcode, opus_to_g722)
{
	struct sb_xcode *x = sb_xcode_new(SB_XC_OPUS, SB_XC_G722);
	g722_decode_state_t *dec = g722_decode_init(NULL, 64000, 0);
	int err = 0;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	static int16_t out[PACKETS * 320];
	size_t n = 0;

	cr_assert(x && enc && dec);
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
	for (size_t p = 0; p < PACKETS; p++) {
		int16_t pcm[960];
		uint8_t opus[400], g722[400];
		int len;

		for (size_t k = 0; k < 960; k++)
			pcm[k] = tone(48000, p * 960 + k);
		len = opus_encode(enc, pcm, 960, opus, sizeof(opus));
		cr_assert_gt(len, 0);
		len = sb_xcode_run(x, opus, (size_t)len, g722, sizeof(g722));
		cr_assert(len >= 159 && len <= 161, "%d bytes", len);
		n += (size_t)g722_decode(dec, out + n, g722, len);
	}
	expect_tone(out, n, 16000, "Opus -> G.722");
	sb_xcode_free(x);
	g722_decode_free(dec);
	opus_encoder_destroy(enc);
}

/* Undecodable Opus is refused; nothing else is touched. */
Test(transcode, bad_opus_to_g722_is_refused)
{
	struct sb_xcode *x = sb_xcode_new(SB_XC_OPUS, SB_XC_G722);
	uint8_t bad[3] = {0xff, 0xff, 0xff}, out[400];

	cr_assert_not_null(x);
	cr_expect_eq(sb_xcode_run(x, bad, sizeof(bad), out, sizeof(out)), -EBADMSG);
	cr_expect_null(sb_xcode_new(SB_XC_G722, SB_XC_G722));
	sb_xcode_free(x);
}
