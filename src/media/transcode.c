/* Opus <-> G.722 <-> G.711 transcoding with libopus, spandsp's G.722 and
 * the speexdsp resampler: decode to the source codec's rate, resample to the
 * target's, encode. Worker thread of the session that owns the object. */
#include "media/transcode.h"

#include <errno.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#define OPUS_RATE  48000
#define G722_RATE  16000
#define G711_RATE  8000
#define G722_BPS   64000
#define OPUS_FRAME 960		    /* 20 ms at 48 kHz */
#define MAX_DEC	   5760		    /* 120 ms at 48 kHz, Opus's longest packet */
#define BUF	   (OPUS_FRAME * 4) /* gathered 48 kHz samples for the encoder */

struct sb_xcode {
	enum sb_xcode_codec from, to;
	OpusDecoder *dec;
	OpusEncoder *enc;
	g722_decode_state_t *gdec;
	g722_encode_state_t *genc;
	SpeexResamplerState *rs; /* NULL: both at one rate (G.711 to G.711) */
	int16_t pcm[MAX_DEC];
	int16_t rsout[MAX_DEC + 1]; /* + the odd sample G.722 keeps */
	int16_t gather[BUF];
	size_t n_gather;
	bool odd; /* G.722: rsout[0] is a sample left from the last packet */
};

enum sb_xcode_codec sb_xcode_codec_of(const char *name)
{
	if (strcasecmp(name, "opus") == 0)
		return SB_XC_OPUS;
	if (strcasecmp(name, "PCMU") == 0)
		return SB_XC_PCMU;
	if (strcasecmp(name, "PCMA") == 0)
		return SB_XC_PCMA;
	if (strcasecmp(name, "G722") == 0)
		return SB_XC_G722;
	return SB_XC_NONE;
}

int sb_xcode_rate(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS ? OPUS_RATE : G711_RATE;
}

int sb_xcode_pcm_rate(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS ? OPUS_RATE : c == SB_XC_G722 ? G722_RATE : G711_RATE;
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
	spx_uint32_t in_rate = (spx_uint32_t)sb_xcode_pcm_rate(from);
	spx_uint32_t out_rate = (spx_uint32_t)sb_xcode_pcm_rate(to);
	struct sb_xcode *x;
	int err = 0;

	if (from == to || from == SB_XC_NONE || to == SB_XC_NONE)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->from = from;
	x->to = to;
	if (from == SB_XC_OPUS && !(x->dec = opus_decoder_create(OPUS_RATE, 1, &err)))
		goto out_free;
	if (to == SB_XC_OPUS) {
		x->enc = opus_encoder_create(OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
		if (!x->enc)
			goto out_free;
		opus_encoder_ctl(x->enc, OPUS_SET_BITRATE(32000));
	}
	if (from == SB_XC_G722 && !(x->gdec = g722_decode_init(NULL, G722_BPS, 0)))
		goto out_free;
	if (to == SB_XC_G722 && !(x->genc = g722_encode_init(NULL, G722_BPS, 0)))
		goto out_free;
	/* G.711 to G.711 needs no resampler. */
	if (in_rate != out_rate && !(x->rs = speex_resampler_init(1, in_rate, out_rate, 3, &err)))
		goto out_free;
	return x;
out_free:
	return sb_xcode_free(x);
}

struct sb_xcode *sb_xcode_free(struct sb_xcode *x)
{
	if (!x)
		return NULL;
	if (x->dec)
		opus_decoder_destroy(x->dec);
	if (x->enc)
		opus_encoder_destroy(x->enc);
	if (x->gdec)
		g722_decode_free(x->gdec);
	if (x->genc)
		g722_encode_free(x->genc);
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

/* The payload as samples at its codec's rate into x->pcm: their number, or
 * -EBADMSG. At most 120 ms of audio. */
static int decode(struct sb_xcode *x, const uint8_t *in, size_t len)
{
	int n;

	switch (x->from) {
	case SB_XC_OPUS:
		n = opus_decode(x->dec, in, (opus_int32)len, x->pcm, MAX_DEC, 0);
		return n < 0 ? -EBADMSG : n;
	case SB_XC_G722:
		/* Two samples a byte at 64 kbit/s. */
		if (len > MAX_DEC / 6)
			len = MAX_DEC / 6;
		return g722_decode(x->gdec, x->pcm, in, (int)len);
	default:
		return g711_decode(x->from, in, len, x->pcm, MAX_DEC / 6);
	}
}

/* n samples of x->rsout (after the one kept, when x->odd) as G.722: the
 * encoder takes samples in pairs, so an odd one waits for the next packet. */
static int g722_put(struct sb_xcode *x, size_t n, uint8_t *out, size_t cap)
{
	size_t total = n + (x->odd ? 1 : 0), even = total & ~(size_t)1;
	int r;

	if (even / 2 > cap)
		even = cap * 2;
	r = g722_encode(x->genc, out, x->rsout, (int)even);
	x->odd = total - even == 1;
	if (x->odd)
		x->rsout[0] = x->rsout[even];
	return r;
}

/* Samples at the target's rate into the 20 ms frames the Opus encoder
 * takes: a frame's payload, or 0 while gathering. */
static int opus_put(struct sb_xcode *x, const int16_t *pcm, size_t n, uint8_t *out, size_t cap)
{
	int r;

	if (n > BUF - x->n_gather)
		n = BUF - x->n_gather;
	memcpy(x->gather + x->n_gather, pcm, n * sizeof(int16_t));
	x->n_gather += n;
	if (x->n_gather < OPUS_FRAME)
		return 0;
	r = opus_encode(x->enc, x->gather, OPUS_FRAME, out, (opus_int32)cap);
	x->n_gather -= OPUS_FRAME;
	memmove(x->gather, x->gather + OPUS_FRAME, x->n_gather * sizeof(int16_t));
	return r < 0 ? -EIO : r;
}

int sb_xcode_run(struct sb_xcode *x, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	int16_t *pcm = x->pcm, *to = x->rsout + (x->odd ? 1 : 0);
	spx_uint32_t in_len, out_len;
	int n = decode(x, in, len);

	if (n < 0)
		return n;
	if (x->rs) {
		in_len = (spx_uint32_t)n;
		out_len = MAX_DEC;
		speex_resampler_process_int(x->rs, 0, x->pcm, &in_len, to, &out_len);
		pcm = to;
		n = (int)out_len;
	}
	switch (x->to) {
	case SB_XC_OPUS:
		return opus_put(x, pcm, (size_t)n, out, cap);
	case SB_XC_G722:
		if (pcm != to) /* no resampler: never, G.722 alone is at 16 kHz */
			return -EINVAL;
		return g722_put(x, (size_t)n, out, cap);
	default:
		return g711_encode(x->to, pcm, (size_t)n, out, cap);
	}
}
