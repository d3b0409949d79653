/* Conferences (audio mixing): a worker's rooms and their members. Each
 * member's audio is decoded into a small ring of 20 ms frames at 48 kHz;
 * every 20 ms the worker's timer mixes each room and sends each member the
 * sum less its own part, encoded in its codec (Opus, G.722 at 16 kHz or
 * G.711 at 8 kHz, resampled) on its own stream. Worker
 * thread only; the registry owns its rooms and each member's state (made at
 * join or at the first frame of a codec, never per packet). */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "log/log.h"
#include "media/media_internal.h"

#define RATE_48K  48000
#define FRAME_48K 960
#define FRAME_16K 320
#define FRAME_8K  160
#define MAX_DEC	  5760 /* 120 ms at 48 kHz: Opus's longest packet */
#define MAX_G711  960  /* G.711 samples taken of one packet (120 ms) */
#define MAX_G722  960  /* G.722 bytes taken of one packet (120 ms) */
#define G722_BPS  64000
#define MAX_OPUS  400 /* bytes of one encoded 20 ms frame, with room */
#define RING	  4   /* frames a member may be ahead of the mixer */

struct sb_conf_member {
	struct sb_msession *s;
	struct sb_conf *room;
	unsigned idx; /* place in room->mem */
	/* the codec the state below is for; SB_XC_NONE: none yet (or one
	 * we cannot decode: such a member is neither heard nor hears) */
	enum sb_xcode_codec codec;
	OpusDecoder *dec;
	OpusEncoder *enc;
	g722_decode_state_t *gdec;
	g722_encode_state_t *genc;
	/* G.711 and G.722: from its rate to 48 kHz and back */
	SpeexResamplerState *up, *down;
	/* decoded frames waiting for the mixer, and the one being filled */
	int16_t ring[RING][FRAME_48K];
	unsigned head, n;
	int16_t part[FRAME_48K];
	unsigned part_n;
	int16_t plc[FRAME_48K]; /* Opus: a concealed frame for one missing */
	const int16_t *cur;	/* this tick's contribution; NULL: silence */
	bool had;		/* the last tick had a frame of it */
	bool sending;		/* it got the last tick's frame */
};

struct sb_conf {
	uint64_t id;
	struct sb_conf_member **mem;
	unsigned n, cap;
};

static void codec_free(struct sb_conf_member *m)
{
	if (m->dec)
		opus_decoder_destroy(m->dec);
	if (m->enc)
		opus_encoder_destroy(m->enc);
	if (m->up)
		speex_resampler_destroy(m->up);
	if (m->down)
		speex_resampler_destroy(m->down);
	if (m->gdec)
		g722_decode_free(m->gdec);
	if (m->genc)
		g722_encode_free(m->genc);
	m->dec = NULL;
	m->enc = NULL;
	m->gdec = NULL;
	m->genc = NULL;
	m->up = m->down = NULL;
	m->codec = SB_XC_NONE;
	m->n = m->part_n = 0;
}

/* The state for the session's codec, made when it is first known or has
 * changed (a re-offer): 0, -EAGAIN (no codec we can mix) or -ENOMEM. */
static int codec_ready(struct sb_conf_member *m)
{
	enum sb_xcode_codec c = sb_xcode_codec_of(m->s->codec.name);
	int err = 0;

	if (c == m->codec)
		return c == SB_XC_NONE ? -EAGAIN : 0;
	codec_free(m);
	if (c == SB_XC_NONE)
		return -EAGAIN;
	if (c == SB_XC_OPUS) {
		m->dec = opus_decoder_create(RATE_48K, 1, &err);
		m->enc = opus_encoder_create(RATE_48K, 1, OPUS_APPLICATION_VOIP, &err);
		if (!m->dec || !m->enc)
			goto out_free;
		opus_encoder_ctl(m->enc, OPUS_SET_BITRATE(32000));
	} else {
		spx_uint32_t rate = (spx_uint32_t)sb_xcode_pcm_rate(c);

		m->up = speex_resampler_init(1, rate, RATE_48K, 3, &err);
		m->down = speex_resampler_init(1, RATE_48K, rate, 3, &err);
		if (!m->up || !m->down)
			goto out_free;
		if (c == SB_XC_G722 && (!(m->gdec = g722_decode_init(NULL, G722_BPS, 0)) ||
					!(m->genc = g722_encode_init(NULL, G722_BPS, 0))))
			goto out_free;
		speex_resampler_skip_zeros(m->up);
		speex_resampler_skip_zeros(m->down);
	}
	m->codec = c;
	return 0;
out_free:
	codec_free(m);
	return -ENOMEM;
}

/* ---- the registry ---- */

int sb__conf_worker_init(struct sb_mworker *w)
{
	w->confs = g_hash_table_new(g_int64_hash, g_int64_equal);
	return w->confs ? 0 : -ENOMEM;
}

void sb__conf_worker_fini(struct sb_mworker *w)
{
	/* The rooms went with their last members (sb__msession_free). */
	w->conf_src = sb__frame_timer_free(w->conf_src);
	if (w->confs)
		g_hash_table_destroy(w->confs);
	w->confs = NULL;
}

/* Stops what s relays and what is relayed to it: the old partner no
 * longer gets its audio, nor does it get the partner's. */
static void unbridge(struct sb_msession *s)
{
	GHashTableIter it;
	gpointer v;

	sb__msession_point(s, NULL);
	if (!s->peer_refs)
		return;
	g_hash_table_iter_init(&it, s->w->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (((struct sb_msession *)v)->peer_s == s)
			sb__msession_point(v, NULL);
}

static void conf_tick(struct sb_mworker *w);

static struct sb_conf *room_get(struct sb_mworker *w, uint64_t id)
{
	struct sb_conf *room = g_hash_table_lookup(w->confs, &id);

	if (room)
		return room;
	room = calloc(1, sizeof(*room));
	if (!room)
		return NULL;
	room->id = id;
	g_hash_table_insert(w->confs, &room->id, room);
	if (!w->conf_src)
		w->conf_src = sb__frame_timer_new(w, conf_tick);
	return room;
}

static void room_drop_if_empty(struct sb_mworker *w, struct sb_conf *room)
{
	if (room->n)
		return;
	g_hash_table_remove(w->confs, &room->id);
	free(room->mem);
	free(room);
	if (!g_hash_table_size(w->confs)) /* the idle worker keeps no timer */
		w->conf_src = sb__frame_timer_free(w->conf_src);
}

static int room_add(struct sb_conf *room, struct sb_conf_member *m)
{
	if (room->n == room->cap) {
		unsigned cap = room->cap ? 2 * room->cap : 4;
		struct sb_conf_member **v = realloc(room->mem, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		room->mem = v;
		room->cap = cap;
	}
	m->room = room;
	m->idx = room->n;
	room->mem[room->n++] = m;
	return 0;
}

void sb__conf_join(struct sb_mworker *w, uint64_t id, uint64_t conf)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);
	struct sb_conf_member *m;
	struct sb_conf *room;

	bool muted;

	if (!s || (s->cm && s->cm->room->id == conf))
		return;
	/* A move from another room is no leave: the mute goes with it. */
	muted = s->conf_muted;
	sb__conf_leave(s);
	s->conf_muted = muted;
	unbridge(s);
	m = calloc(1, sizeof(*m));
	room = m ? room_get(w, conf) : NULL;
	if (!room || room_add(room, m) < 0) {
		sb_warn("session %llu: out of memory joining conference %llu",
			(unsigned long long)id, (unsigned long long)conf);
		free(m);
		if (room)
			room_drop_if_empty(w, room);
		return;
	}
	m->s = s;
	m->codec = SB_XC_NONE;
	s->cm = m;
	/* Known once negotiated; else on the first frame in or out. */
	codec_ready(m);
	sb_info("session %llu: joined conference %llu (%u members)", (unsigned long long)id,
		(unsigned long long)conf, room->n);
}

void sb__conf_leave(struct sb_msession *s)
{
	struct sb_conf_member *m = s->cm;
	struct sb_conf *room;

	if (!m)
		return;
	room = m->room;
	/* The last one takes its place. */
	room->mem[m->idx] = room->mem[room->n - 1];
	room->mem[m->idx]->idx = m->idx;
	room->n--;
	s->cm = NULL;
	s->conf_muted = false;
	/* Relayed audio, should the session be bridged again, goes on
	 * after the last mixed frame. */
	s->rw.resync = true;
	codec_free(m);
	free(m);
	sb_info("session %llu: left conference %llu", (unsigned long long)s->id,
		(unsigned long long)room->id);
	room_drop_if_empty(s->w, room);
}

void sb__conf_mute(struct sb_mworker *w, uint64_t id, bool mute)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);
	struct sb_conf_member *m = s ? s->cm : NULL;

	if (!s || s->conf_muted == mute)
		return;
	s->conf_muted = mute;
	/* Its packets were not decoded while muted: the decoder and the
	 * resampler start afresh from the next one, and nothing half-made is
	 * left of the time before. */
	if (m) {
		m->n = m->part_n = 0;
		m->had = false;
		if (m->dec)
			opus_decoder_ctl(m->dec, OPUS_RESET_STATE);
		if (m->up)
			speex_resampler_reset_mem(m->up);
		if (m->gdec)
			g722_decode_init(m->gdec, G722_BPS, 0);
	}
	sb_info("session %llu: %s in its conference", (unsigned long long)id,
		mute ? "muted" : "unmuted");
}

/* ---- receiving ---- */

static void ring_put(struct sb_conf_member *m, const int16_t *frame)
{
	if (m->n == RING) {
		/* Ahead of the mixer by more than the allowance: the oldest
		 * goes, so that the delay stays bounded. */
		m->head = (m->head + 1) % RING;
		m->n--;
		atomic_fetch_add_explicit(&m->s->w->m->conf_frames_dropped, 1,
					  memory_order_relaxed);
	}
	memcpy(m->ring[(m->head + m->n) % RING], frame, sizeof(m->ring[0]));
	m->n++;
}

/* Decoded samples at 48 kHz into whole 20 ms frames. */
static void gather(struct sb_conf_member *m, const int16_t *pcm, size_t n)
{
	while (n) {
		size_t k = FRAME_48K - m->part_n;

		if (k > n)
			k = n;
		memcpy(m->part + m->part_n, pcm, k * sizeof(*pcm));
		m->part_n += (unsigned)k;
		pcm += k;
		n -= k;
		if (m->part_n == FRAME_48K) {
			ring_put(m, m->part);
			m->part_n = 0;
		}
	}
}

void sb__conf_input(struct sb_msession *s, const uint8_t *buf, const struct sb_rtp_hdr *h)
{
	struct sb_conf_member *m = s->cm;
	const uint8_t *p = buf + h->hdr_len;
	int16_t pcm[MAX_DEC], g[2 * MAX_G722];
	spx_uint32_t in_len, out_len;
	size_t len = h->payload_len;
	int n;

	/* A member held either way is not heard. Telephone events were read
	 * already (sb__rx_count); comfort noise and other formats are not
	 * mixed. */
	if (s->local_hold | s->send_held) {
		if (s->local_hold)
			atomic_fetch_add_explicit(&s->w->m->dropped_held, 1, memory_order_relaxed);
		return;
	}
	/* A muted member is not heard: nothing of it is decoded. */
	if (s->conf_muted || !sb__audio_pt(s, h->pt) || codec_ready(m) < 0)
		return;
	if (m->codec == SB_XC_OPUS) {
		n = opus_decode(m->dec, p, (opus_int32)len, pcm, MAX_DEC, 0);
		if (n > 0)
			gather(m, pcm, (size_t)n);
		return;
	}
	if (m->codec == SB_XC_G722) {
		/* Two samples a byte at 64 kbit/s. */
		n = g722_decode(m->gdec, g, p, (int)(len < MAX_G722 ? len : MAX_G722));
		len = n > 0 ? (size_t)n : 0;
	} else {
		if (len > MAX_G711)
			len = MAX_G711;
		for (size_t i = 0; i < len; i++)
			g[i] = m->codec == SB_XC_PCMU ? sb_g711_ulaw_decode(p[i])
						      : sb_g711_alaw_decode(p[i]);
	}
	in_len = (spx_uint32_t)len;
	out_len = MAX_DEC;
	speex_resampler_process_int(m->up, 0, g, &in_len, pcm, &out_len);
	gather(m, pcm, out_len);
}

/* ---- mixing ---- */

/* True when m is heard and hears: not held either way, and a codec we
 * can mix. */
static bool member_active(struct sb_conf_member *m)
{
	return !(m->s->local_hold | m->s->send_held | m->s->failed) && codec_ready(m) == 0;
}

/* m's frame for this tick: the oldest in its ring, else (Opus, once after
 * a frame) the decoder's concealment, else silence. */
static void member_take(struct sb_conf_member *m)
{
	m->cur = NULL;
	if (!member_active(m)) {
		m->n = m->part_n = 0; /* nothing stale after a hold */
		m->had = false;
		return;
	}
	if (m->s->conf_muted) {
		m->n = m->part_n = 0;
		m->had = false;
		return;
	}
	if (m->n) {
		m->cur = m->ring[m->head];
		m->head = (m->head + 1) % RING;
		m->n--;
	} else if (m->had && m->codec == SB_XC_OPUS &&
		   opus_decode(m->dec, NULL, 0, m->plc, FRAME_48K, 0) == FRAME_48K) {
		m->cur = m->plc;
		m->had = false;
		return;
	}
	m->had = m->cur != NULL;
}

static int16_t clamp16(int32_t v)
{
	return (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
}

/* The mix less m's own part, in m's codec, on m's stream. */
/* A mixed 20 ms frame at 48 kHz in m's codec into out (room for MAX_OPUS
 * bytes): the payload's length, or <= 0 for none. */
static int member_encode(struct sb_conf_member *m, const int16_t *mix, uint8_t *out)
{
	int16_t pcm[FRAME_16K] = {0};
	spx_uint32_t in_len = FRAME_48K, out_len = FRAME_16K;

	if (m->codec == SB_XC_OPUS)
		return opus_encode(m->enc, mix, FRAME_48K, out, MAX_OPUS);
	speex_resampler_process_int(m->down, 0, mix, &in_len, pcm, &out_len);
	/* A whole frame always (the resampler's first ones are short). */
	if (m->codec == SB_XC_G722)
		return g722_encode(m->genc, out, pcm, FRAME_16K);
	for (int i = 0; i < FRAME_8K; i++)
		out[i] = m->codec == SB_XC_PCMU ? sb_g711_ulaw_encode(pcm[i])
						: sb_g711_alaw_encode(pcm[i]);
	return FRAME_8K;
}

static void member_send(struct sb_conf_member *m, const int32_t *sum)
{
	uint8_t buf[12 + MAX_OPUS + SRTP_MAX_TRAILER_LEN];
	int16_t mix[FRAME_48K];
	struct sb_msession *s = m->s;
	int n;

	if (!member_active(m) || !sb__frame_receives(s)) {
		m->sending = false;
		return;
	}
	for (int i = 0; i < FRAME_48K; i++)
		mix[i] = clamp16(sum[i] - (m->cur ? m->cur[i] : 0));
	if ((n = member_encode(m, mix, buf + 12)) <= 0)
		return;
	sb__frame_send(s, buf, n, !m->sending);
	m->sending = true;
	atomic_fetch_add_explicit(&s->w->m->conf_frames_mixed, 1, memory_order_relaxed);
}

static void room_mix(struct sb_conf *room)
{
	int32_t sum[FRAME_48K] = {0};

	for (unsigned i = 0; i < room->n; i++) {
		struct sb_conf_member *m = room->mem[i];

		member_take(m);
		for (int k = 0; m->cur && k < FRAME_48K; k++)
			sum[k] += m->cur[k];
	}
	for (unsigned i = 0; i < room->n; i++)
		member_send(room->mem[i], sum);
}

static void conf_tick(struct sb_mworker *w)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, w->confs);
	while (g_hash_table_iter_next(&it, NULL, &v))
		room_mix(v);
}
