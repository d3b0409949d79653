/* Audio transcoding between Opus (48 kHz), G.722 (16 kHz, spandsp) and
 * G.711 (PCMU/PCMA, 8 kHz) for a bridge whose legs share no codec (a
 * browser on Opus, a SIP trunk on G.711 or a phone on G.722). One direction
 * per object; the state (decoder, encoder, resampler,
 * a small sample buffer) is allocated once, never per packet. Worker thread
 * of its session; never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_xcode;

enum sb_xcode_codec { SB_XC_OPUS, SB_XC_PCMU, SB_XC_PCMA, SB_XC_G722, SB_XC_NONE };

/* The codec of an rtpmap name ("opus", "PCMU", "PCMA", "G722"), or
 * SB_XC_NONE. Any thread. */
enum sb_xcode_codec sb_xcode_codec_of(const char *name);
/* Clock rate of a codec's RTP timestamps: 8000 for G.722 too (RFC 3551
 * section 4.5.2 keeps the clock of the first definition by mistake). */
int sb_xcode_rate(enum sb_xcode_codec c);
/* Sample rate of a codec's audio: 48000, 16000 (G.722) or 8000. */
int sb_xcode_pcm_rate(enum sb_xcode_codec c);
/* A transcoder from one codec to another (different ones, not NONE). NULL
 * when out of memory or the pair is not supported. */
struct sb_xcode *sb_xcode_new(enum sb_xcode_codec from, enum sb_xcode_codec to);
struct sb_xcode *sb_xcode_free(struct sb_xcode *x);

/* Transcodes one payload. Writes at most cap bytes to out; returns the
 * payload length (0: nothing to send yet, e.g. samples still gathering for
 * a 20 ms Opus frame), or a negative errno (-EBADMSG: undecodable). */
int sb_xcode_run(struct sb_xcode *x, const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* G.711 sample conversions (ITU-T G.711), exposed for tests. */
uint8_t sb_g711_ulaw_encode(int16_t s);
int16_t sb_g711_ulaw_decode(uint8_t u);
uint8_t sb_g711_alaw_encode(int16_t s);
int16_t sb_g711_alaw_decode(uint8_t a);
