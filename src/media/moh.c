/* Music on hold: what a party held from our side hears ([media]
 * hold_music). The audio is made once at start (a chime computed here, or
 * a WAV file resampled with speexdsp) as 20 ms frames, already in G.711
 * and G.722 and at 48 kHz for Opus, and read by every worker. While a session of a
 * worker is held, a timer of that worker sends each held session one
 * frame every 20 ms on its own stream; the timer exists only then.
 * sb__moh_new/free on the control thread (before the workers start, after
 * they stop); the rest on the session's worker thread. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <math.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "core/wav.h"
#include "log/log.h"
#include "media/media_internal.h"

#define FRAME_US   20000
#define FRAME_8K   160
#define FRAME_16K  320
#define G722_FRAME 160 /* bytes of 20 ms at 64 kbit/s */
#define FRAME_48K  960
#define MAX_OPUS   400 /* bytes of one 20 ms frame at our bitrate, with room */
#define LATE_US	   100000
#define TONE_SECS  4
#define TONE_AMP   3277.0 /* -20 dBFS */
#define TONE_NOTE1 660.0
#define TONE_NOTE2 528.0 /* a major third below: a door chime */
#define TONE_GAP_S 0.5

/* One chime note starting at t0: a 10 ms rise (no click), then a bell's
 * exponential decay, cut after 1.5 s. */
static double note(double t, double t0, double hz)
{
	double x = t - t0, env;

	if (x < 0 || x >= 1.5)
		return 0;
	env = x < 0.01 ? x / 0.01 : exp(-(x - 0.01) / 0.35);
	if (x > 1.4)
		env *= (1.5 - x) / 0.1;
	return env * sin(2 * M_PI * hz * x);
}

static void tone_fill(int16_t *out, size_t n, int rate)
{
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate;

		out[i] = (int16_t)lrint(TONE_AMP *
					(note(t, 0, TONE_NOTE1) + note(t, TONE_GAP_S, TONE_NOTE2)));
	}
}

/* in (n samples at rate) into out (cap samples at to_rate; the rest stays
 * zero). */
static int resample(const int16_t *in, size_t n, int rate, int16_t *out, size_t cap, int to_rate)
{
	SpeexResamplerState *rs;
	spx_uint32_t in_len = (spx_uint32_t)n, out_len = (spx_uint32_t)cap;
	int err = 0;

	rs = speex_resampler_init(1, (spx_uint32_t)rate, (spx_uint32_t)to_rate, 5, &err);
	if (!rs)
		return -ENOMEM;
	speex_resampler_skip_zeros(rs);
	speex_resampler_process_int(rs, 0, in, &in_len, out, &out_len);
	speex_resampler_destroy(rs);
	return 0;
}

static struct sb_moh *moh_alloc(size_t frames)
{
	struct sb_moh *moh = calloc(1, sizeof(*moh));

	if (!moh)
		return NULL;
	moh->frames = frames;
	moh->ulaw = malloc(frames * FRAME_8K);
	moh->alaw = malloc(frames * FRAME_8K);
	moh->g722 = malloc(frames * G722_FRAME);
	moh->pcm48 = calloc(frames * FRAME_48K, sizeof(int16_t));
	if (!moh->ulaw || !moh->alaw || !moh->g722 || !moh->pcm48)
		return sb__moh_free(moh);
	return moh;
}

/* G.711 once here, so that a frame for a PCMU or PCMA session is a copy. */
static void g711_fill(struct sb_moh *moh, const int16_t *pcm8)
{
	for (size_t i = 0; i < moh->frames * FRAME_8K; i++) {
		moh->ulaw[i] = sb_g711_ulaw_encode(pcm8[i]);
		moh->alaw[i] = sb_g711_alaw_encode(pcm8[i]);
	}
}

/* G.722 once here, from the music at 16 kHz: one encoder over the whole
 * track, so that a frame for a G.722 session is a copy too. */
static int g722_fill(struct sb_moh *moh, const int16_t *pcm16)
{
	g722_encode_state_t *enc = g722_encode_init(NULL, 64000, 0);

	if (!enc)
		return -ENOMEM;
	g722_encode(enc, moh->g722, pcm16, (int)(moh->frames * FRAME_16K));
	g722_encode_free(enc);
	return 0;
}

static int moh_file(const char *path, struct sb_moh **ret, char *err, size_t errlen)
{
	int16_t *pcm, *pcm8 = NULL, *pcm16 = NULL;
	size_t n, frames;
	struct sb_moh *moh;
	int rate, r;

	r = sb_wav_read(path, &pcm, &n, &rate, err, errlen);
	if (r < 0)
		return r;
	frames = ((uint64_t)n * 50 + (size_t)rate - 1) / (size_t)rate;
	moh = moh_alloc(frames);
	pcm8 = calloc(frames * FRAME_8K, sizeof(int16_t));
	pcm16 = calloc(frames * FRAME_16K, sizeof(int16_t));
	if (!moh || !pcm8 || !pcm16 || resample(pcm, n, rate, pcm8, frames * FRAME_8K, 8000) < 0 ||
	    resample(pcm, n, rate, pcm16, frames * FRAME_16K, 16000) < 0 ||
	    resample(pcm, n, rate, moh->pcm48, frames * FRAME_48K, 48000) < 0 ||
	    g722_fill(moh, pcm16) < 0) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		moh = sb__moh_free(moh);
	} else {
		g711_fill(moh, pcm8);
		*ret = moh;
	}
	free(pcm8);
	free(pcm16);
	free(pcm);
	return r;
}

int sb__moh_new(const char *spec, struct sb_moh **ret, char *err, size_t errlen)
{
	struct sb_moh *moh;
	int16_t *pcm8, *pcm16;
	int r;

	if (!spec || strcmp(spec, "silence") == 0) {
		*ret = NULL;
		return 0;
	}
	if (strcmp(spec, "tone") != 0)
		return moh_file(spec, ret, err, errlen);
	moh = moh_alloc(TONE_SECS * 50);
	pcm8 = moh ? calloc(moh->frames * FRAME_8K, sizeof(int16_t)) : NULL;
	pcm16 = moh ? calloc(moh->frames * FRAME_16K, sizeof(int16_t)) : NULL;
	r = pcm8 && pcm16 ? 0 : -ENOMEM;
	if (r == 0) {
		tone_fill(pcm8, moh->frames * FRAME_8K, 8000);
		tone_fill(pcm16, moh->frames * FRAME_16K, 16000);
		tone_fill(moh->pcm48, moh->frames * FRAME_48K, 48000);
		g711_fill(moh, pcm8);
		r = g722_fill(moh, pcm16);
	}
	free(pcm8);
	free(pcm16);
	if (r < 0) {
		sb__moh_free(moh);
		snprintf(err, errlen, "out of memory");
		return r;
	}
	*ret = moh;
	return 0;
}

struct sb_moh *sb__moh_free(struct sb_moh *moh)
{
	if (!moh)
		return NULL;
	free(moh->ulaw);
	free(moh->alaw);
	free(moh->g722);
	free(moh->pcm48);
	free(moh);
	return NULL;
}

/* ---- sending, on the worker ---- */

/* True when s takes our audio now: connected, not failed, and (RTP) at a
 * known address and not holding us itself or answering inactive (RFC 3264
 * section 8.4: it does not receive). */
bool sb__frame_receives(const struct sb_msession *s)
{
	if (s->failed)
		return false;
	if (s->rtp_fd >= 0)
		return s->have_remote && !s->send_held;
	return s->srtp_ready;
}

/* The payload of frame f for s's codec into out; its length, or 0. */
static int moh_payload(struct sb_msession *s, const struct sb_moh *moh, size_t f, uint8_t *out)
{
	enum sb_xcode_codec c = sb_xcode_codec_of(s->codec.name);
	int n;

	if (c == SB_XC_PCMU || c == SB_XC_PCMA) {
		memcpy(out, (c == SB_XC_PCMU ? moh->ulaw : moh->alaw) + f * FRAME_8K, FRAME_8K);
		return FRAME_8K;
	}
	if (c == SB_XC_G722) {
		memcpy(out, moh->g722 + f * G722_FRAME, G722_FRAME);
		return G722_FRAME;
	}
	if (c != SB_XC_OPUS)
		return 0; /* a codec relayed as it is, which we cannot make */
	if (!s->moh_enc) {
		/* A session that moved to Opus while held (the party's answer
		 * changed the codec): once, not per packet. */
		int err = 0;

		s->moh_enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
		if (!s->moh_enc)
			return 0;
		opus_encoder_ctl(s->moh_enc, OPUS_SET_BITRATE(32000));
	}
	n = opus_encode(s->moh_enc, moh->pcm48 + f * FRAME_48K, FRAME_48K, out, MAX_OPUS);
	return n > 0 ? n : 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The next sequence number and timestamp of what s was sent before (the
 * rewrite's), so the party's jitter buffer sees one stream; relayed audio
 * goes on after it (resync). */
void sb__frame_send(struct sb_msession *s, uint8_t *buf, int n, bool first)
{
	struct sb_rtp_rewrite *rw = &s->rw;
	uint32_t step = (uint32_t)(s->codec.rate > 0 ? s->codec.rate : 8000) / 50, ts;

	if (!rw->started) {
		/* Nothing sent yet: the stream starts here (RFC 3550 section
		 * 5.1, random initial values); relayed audio then continues it
		 * as a new source does. */
		rw->started = true;
		rw->ssrc_in = 0;
		rw->last_seq = (uint16_t)g_random_int();
		rw->last_ts = g_random_int();
	}
	ts = rw->last_ts + step;
	if (first && s->sent.last_us) {
		/* The first frame keeps the clock of what went before. */
		uint64_t gap = (uint64_t)(g_get_real_time() - (int64_t)s->sent.last_us);
		uint32_t units = (uint32_t)(gap * (uint64_t)step / FRAME_US);

		if (units > step)
			ts = rw->last_ts + units;
	}
	rw->last_seq++;
	rw->last_ts = ts;
	buf[0] = 0x80;
	/* RFC 3551 section 4.1: the marker on the first packet of a talkspurt. */
	buf[1] = (uint8_t)((first ? 0x80 : 0) | (s->codec.pt & 0x7f));
	buf[2] = (uint8_t)(rw->last_seq >> 8);
	buf[3] = (uint8_t)rw->last_seq;
	put32(buf + 4, ts);
	put32(buf + 8, rw->ssrc_out);
	sb__session_send(s, buf, 12 + n);
}

/* One frame of the music to s on its outgoing stream. */
static void moh_send(struct sb_msession *s, const struct sb_moh *moh)
{
	uint8_t buf[12 + MAX_OPUS + SRTP_MAX_TRAILER_LEN];
	int n;

	if (!sb__frame_receives(s))
		return;
	n = moh_payload(s, moh, s->moh_frame, buf + 12);
	s->moh_frame = (s->moh_frame + 1) % moh->frames;
	if (n <= 0)
		return;
	sb__frame_send(s, buf, n, s->moh_first);
	s->moh_first = false;
	atomic_fetch_add_explicit(&s->w->m->moh_frames, 1, memory_order_relaxed);
}

/* A worker's 20 ms timer, due at due_us: computed in prepare (no ready
 * time to move, which would signal the context's wake-up each time). */
struct frame_source {
	GSource base;
	struct sb_mworker *w;
	void (*tick)(struct sb_mworker *w);
	int64_t due_us; /* monotonic: the next frame */
};

static gboolean frame_prepare(GSource *src, gint *timeout)
{
	struct frame_source *fs = (struct frame_source *)src;
	int64_t now = g_source_get_time(src);

	if (fs->due_us <= now)
		return TRUE;
	*timeout = (gint)((fs->due_us - now + 999) / 1000);
	return FALSE;
}

static gboolean frame_check(GSource *src)
{
	return ((struct frame_source *)src)->due_us <= g_source_get_time(src);
}

static gboolean frame_dispatch(GSource *src, GSourceFunc cb, gpointer ud)
{
	struct frame_source *fs = (struct frame_source *)src;
	int64_t now = g_get_monotonic_time();

	/* Frames follow the clock, not the wake-ups (a late one is made up
	 * on the next pass), unless the worker stalled: then from now. */
	if (now - fs->due_us > LATE_US)
		fs->due_us = now;
	fs->due_us += FRAME_US;
	fs->tick(fs->w);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs frame_funcs = {
	.prepare = frame_prepare,
	.check = frame_check,
	.dispatch = frame_dispatch,
};

GSource *sb__frame_timer_new(struct sb_mworker *w, void (*tick)(struct sb_mworker *w))
{
	GSource *src = g_source_new(&frame_funcs, sizeof(struct frame_source));
	struct frame_source *fs = (struct frame_source *)src;

	fs->w = w;
	fs->tick = tick;
	fs->due_us = g_get_monotonic_time();
	g_source_attach(src, w->ctx);
	return src;
}

GSource *sb__frame_timer_free(GSource *src)
{
	if (src) {
		g_source_destroy(src);
		g_source_unref(src);
	}
	return NULL;
}

static void moh_tick(struct sb_mworker *w)
{
	for (unsigned i = 0; i < w->moh_n; i++)
		moh_send(w->moh[i], w->m->moh);
}

void sb__moh_start(struct sb_msession *s)
{
	struct sb_mworker *w = s->w;
	struct sb_msession **v;

	if (!w->m->moh || s->moh_idx)
		return;
	if (w->moh_n == w->moh_cap) {
		unsigned cap = w->moh_cap ? 2 * w->moh_cap : 8;

		v = realloc(w->moh, cap * sizeof(*v));
		if (!v)
			return; /* silence, as before music on hold */
		w->moh = v;
		w->moh_cap = cap;
	}
	if (sb_xcode_codec_of(s->codec.name) == SB_XC_OPUS && !s->moh_enc) {
		int err = 0;

		s->moh_enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
		if (s->moh_enc)
			opus_encoder_ctl(s->moh_enc, OPUS_SET_BITRATE(32000));
	}
	w->moh[w->moh_n++] = s;
	s->moh_idx = w->moh_n;
	s->moh_frame = 0;
	s->moh_first = true;
	if (!w->moh_src)
		w->moh_src = sb__frame_timer_new(w, moh_tick);
}

void sb__moh_stop(struct sb_msession *s)
{
	struct sb_mworker *w = s->w;

	if (s->moh_enc) {
		opus_encoder_destroy(s->moh_enc);
		s->moh_enc = NULL;
	}
	if (!s->moh_idx)
		return;
	/* The last one takes its place. */
	w->moh[s->moh_idx - 1] = w->moh[w->moh_n - 1];
	w->moh[s->moh_idx - 1]->moh_idx = s->moh_idx;
	w->moh_n--;
	s->moh_idx = 0;
	if (!w->moh_n) /* the idle worker keeps no timer */
		w->moh_src = sb__frame_timer_free(w->moh_src);
}

void sb__moh_fini(struct sb_mworker *w)
{
	w->moh_src = sb__frame_timer_free(w->moh_src);
	free(w->moh);
	w->moh = NULL;
	w->moh_n = w->moh_cap = 0;
}
