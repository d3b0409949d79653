/* Opus <-> G.711 transcoding with libopus and the speexdsp resampler. */
#include "media/transcode.h"

#include <errno.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPUS_RATE  48000
#define G711_RATE  8000
#define OPUS_FRAME 960		    /* 20 ms at 48 kHz */
#define MAX_DEC	   5760		    /* 120 ms at 48 kHz, Opus's longest packet */
#define BUF	   (OPUS_FRAME * 4) /* gathered 48 kHz samples for the encoder */

struct sb_xcode {
	enum sb_xcode_codec from, to;
	OpusDecoder *dec;
	OpusEncoder *enc;
	SpeexResamplerState *rs;
	int16_t pcm[MAX_DEC];
	int16_t rsout[MAX_DEC];
	int16_t gather[BUF];
	size_t n_gather;
};

enum sb_xcode_codec sb_xcode_codec_of(const char *name)
{
	if (strcasecmp(name, "opus") == 0)
		return SB_XC_OPUS;
	if (strcasecmp(name, "PCMU") == 0)
		return SB_XC_PCMU;
	if (strcasecmp(name, "PCMA") == 0)
		return SB_XC_PCMA;
	return SB_XC_NONE;
}

int sb_xcode_rate(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS ? OPUS_RATE : G711_RATE;
}

/* G.711 mu-law (bias 0x84, 14-bit magnitude). */
uint8_t sb_g711_ulaw_encode(int16_t s)
{
	int v = s, sign = 0, exp = 7;

	if (v < 0) {
		v = -v;
		sign = 0x80;
	}
	if (v > 32635)
		v = 32635;
	v += 0x84;
	for (int mask = 0x4000; (v & mask) == 0 && exp > 0; mask >>= 1)
		exp--;
	return (uint8_t) ~(sign | exp << 4 | ((v >> (exp + 3)) & 0x0f));
}

int16_t sb_g711_ulaw_decode(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = ((u & 0x0f) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return (int16_t)((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

/* G.711 A-law (13-bit magnitude, even bits inverted). */
uint8_t sb_g711_alaw_encode(int16_t s)
{
	int v = s >> 3, sign = 0x80, exp, mant;

	if (v < 0) {
		v = -v - 1;
		sign = 0;
	}
	if (v > 0xfff)
		v = 0xfff;
	if (v < 32) {
		exp = 0;
		mant = v >> 1;
	} else {
		exp = 1;
		while (v >= (64 << (exp - 1)) && exp < 7)
			exp++;
		mant = (v >> exp) & 0x0f;
	}
	return (uint8_t)((sign | exp << 4 | mant) ^ 0x55);
}

int16_t sb_g711_alaw_decode(uint8_t a)
{
	int exp, mant, t;

	a ^= 0x55;
	exp = (a & 0x70) >> 4;
	mant = a & 0x0f;
	t = exp == 0 ? (mant << 4) + 8 : ((mant << 4) + 0x108) << (exp - 1);
	return (int16_t)((a & 0x80) ? t : -t);
}

struct sb_xcode *sb_xcode_new(enum sb_xcode_codec from, enum sb_xcode_codec to)
{
	struct sb_xcode *x;
	int err = 0;

	if (from == to || from == SB_XC_NONE || to == SB_XC_NONE)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->from = from;
	x->to = to;
	if (from == SB_XC_OPUS) {
		x->dec = opus_decoder_create(OPUS_RATE, 1, &err);
		x->rs = speex_resampler_init(1, OPUS_RATE, G711_RATE, 3, &err);
	} else if (to == SB_XC_OPUS) {
		x->enc = opus_encoder_create(OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
		x->rs = speex_resampler_init(1, G711_RATE, OPUS_RATE, 3, &err);
		if (x->enc)
			opus_encoder_ctl(x->enc, OPUS_SET_BITRATE(32000));
	}
	/* G.711 to G.711 needs neither. */
	if ((from == SB_XC_OPUS && (!x->dec || !x->rs)) ||
	    (to == SB_XC_OPUS && (!x->enc || !x->rs)))
		return sb_xcode_free(x);
	return x;
}

struct sb_xcode *sb_xcode_free(struct sb_xcode *x)
{
	if (!x)
		return NULL;
	if (x->dec)
		opus_decoder_destroy(x->dec);
	if (x->enc)
		opus_encoder_destroy(x->enc);
	if (x->rs)
		speex_resampler_destroy(x->rs);
	free(x);
	return NULL;
}

static int g711_decode(enum sb_xcode_codec c, const uint8_t *in, size_t len, int16_t *out,
		       size_t cap)
{
	size_t n = len < cap ? len : cap;

	for (size_t i = 0; i < n; i++)
		out[i] = c == SB_XC_PCMU ? sb_g711_ulaw_decode(in[i]) : sb_g711_alaw_decode(in[i]);
	return (int)n;
}

static int g711_encode(enum sb_xcode_codec c, const int16_t *in, size_t n, uint8_t *out, size_t cap)
{
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		out[i] = c == SB_XC_PCMU ? sb_g711_ulaw_encode(in[i]) : sb_g711_alaw_encode(in[i]);
	return (int)n;
}

int sb_xcode_run(struct sb_xcode *x, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	spx_uint32_t in_len, out_len;
	int n;

	if (x->from == SB_XC_OPUS) {
		n = opus_decode(x->dec, in, (opus_int32)len, x->pcm, MAX_DEC, 0);
		if (n < 0)
			return -EBADMSG;
		in_len = (spx_uint32_t)n;
		out_len = MAX_DEC;
		speex_resampler_process_int(x->rs, 0, x->pcm, &in_len, x->rsout, &out_len);
		return g711_encode(x->to, x->rsout, out_len, out, cap);
	}
	n = g711_decode(x->from, in, len, x->pcm, MAX_DEC / 6);
	if (x->to != SB_XC_OPUS)
		return g711_encode(x->to, x->pcm, (size_t)n, out, cap);
	in_len = (spx_uint32_t)n;
	out_len = (spx_uint32_t)(BUF - x->n_gather);
	speex_resampler_process_int(x->rs, 0, x->pcm, &in_len, x->gather + x->n_gather, &out_len);
	x->n_gather += out_len;
	if (x->n_gather < OPUS_FRAME)
		return 0;
	n = opus_encode(x->enc, x->gather, OPUS_FRAME, out, (opus_int32)cap);
	x->n_gather -= OPUS_FRAME;
	memmove(x->gather, x->gather + OPUS_FRAME, x->n_gather * sizeof(int16_t));
	return n < 0 ? -EIO : n;
}
