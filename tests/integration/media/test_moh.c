/* Music on hold ([media] hold_music): what a party held from our side
 * hears, with the real media component and UDP "SIP phones" (two bridged
 * RTP legs, B held). Checked at B's socket: pacing, one stream (SSRC,
 * sequence numbers, timestamps) across the hold and the resume, and the
 * audio itself, decoded and its strongest frequency measured. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <opus/opus.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "legs.h"
#include "media/transcode.h"
#include "../../support/tone.h"

#define PCMU "a=rtpmap:0 PCMU/8000\r\n"
#define OPUS "a=rtpmap:111 opus/48000/2\r\n"
#define G722 "a=rtpmap:9 G722/8000\r\n"
/* The first note of the chime made for hold_music = tone (moh.c). */
#define TONE_HZ 660.0

static char wav[64]; /* the WAV file of setup_wav, one per test process */

static void setup_tone(void)
{
	legs_hold_music = "tone";
	legs_setup();
}

/* A 16 kHz mono 16-bit WAV of a 1 kHz sine, 1 s, at half scale. */
static void setup_wav(void)
{
	FILE *f;
	uint8_t h[44] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0";
	uint32_t rate = 16000, n = 16000, v;

	snprintf(wav, sizeof(wav), "/tmp/sb-test-moh-%d.wav", (int)getpid());
	f = fopen(wav, "wb");
	cr_assert_not_null(f);
	v = 36 + 2 * n;
	memcpy(h + 4, &v, 4); /* little-endian host */
	memcpy(h + 24, &rate, 4);
	v = rate * 2;
	memcpy(h + 28, &v, 4);
	memcpy(h + 32, "\x02\0\x10\0data", 8);
	v = 2 * n;
	memcpy(h + 40, &v, 4);
	fwrite(h, 1, sizeof(h), f);
	for (uint32_t i = 0; i < n; i++) {
		int16_t s = (int16_t)lrint(16000 * sin(2 * M_PI * 1000 * i / rate));
		fwrite(&s, 2, 1, f);
	}
	fclose(f);
	legs_hold_music = wav;
	legs_setup();
}

static void teardown_wav(void)
{
	legs_teardown();
	unlink(wav);
}

/* Each test starts the media component with its own hold_music (a
 * suite's init would run as well as a test's). */
TestSuite(moh, .timeout = 30);

/* Two bridged RTP legs with codec m_fmt/attrs: A (session id, socket a),
 * B (id + 1, socket b), one packet relayed to B: its sequence number and
 * SSRC. */
struct pair {
	uint64_t id;
	int a, b, pb, gw_a, gw_b;
	uint16_t last_seq;
	uint32_t ssrc;
};

static struct pair pair_up(uint64_t id, const char *fmt, const char *attrs)
{
	struct pair p = {.id = id};
	uint8_t buf[512];
	int pa;

	p.a = udp_peer(&pa);
	p.b = udp_peer(&p.pb);
	bridged(id, id, id + 1, sdp_of(pa, fmt, attrs), sdp_of(p.pb, fmt, attrs), &p.gw_a, &p.gw_b);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_READY, id + 1, 3000));
	send_rtp(p.a, p.gw_a, (uint8_t)atoi(fmt), 1, 160, 0x5001, "a-before");
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 2000), 12 + strlen("a-before"));
	p.last_seq = (uint16_t)(buf[2] << 8 | buf[3]);
	p.ssrc = be32(buf + 8);
	return p;
}

static void pair_end(struct pair *p)
{
	sb_media_engine_ops.destroy(media, p->id);
	sb_media_engine_ops.destroy(media, p->id + 1);
	close(p->a);
	close(p->b);
}

/* Holds or resumes B as our offer seq; the worker has done it on return. */
static void hold_b(const struct pair *p, uint64_t seq, bool on)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.hold(media, p->id + 1, seq, on), 0);
	ev = wait_seq(SB_EV_MEDIA_OFFER, p->id + 1, seq, 3000);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->arg[1], 0, "%s", ev->str);
}

static void answered_by_b(const struct pair *p, uint64_t seq, const char *attrs, const char *dir)
{
	char *sdp, *a = g_strdup_printf("%sa=%s\r\n", attrs, dir);

	sdp = sdp_of(p->pb, strstr(attrs, "opus") ? "111" : "0", a);
	cr_assert_eq(sb_media_engine_ops.offer_done(media, p->id + 1, seq, sdp), 0);
	g_free(sdp);
	g_free(a);
	barrier(p->id + 1, 2000 + seq);
}

/* What reached B: packets taken until ms pass without one, or max. */
struct heard {
	int n;
	uint8_t pt[80];
	uint16_t seq[80];
	uint32_t ts[80], ssrc[80];
	uint8_t payload[80][400];
	size_t len[80];
};

static void listen_at(int fd, int ms, int max, struct heard *h)
{
	uint8_t buf[512];
	size_t n;
	struct sb_rtp_hdr r;

	h->n = 0;
	while (h->n < max && (n = recv_rtp(fd, buf, sizeof(buf), ms)) > 0) {
		cr_assert_eq(sb_rtp_parse(buf, n, &r), 0);
		h->pt[h->n] = r.pt;
		h->seq[h->n] = r.seq;
		h->ts[h->n] = r.ts;
		h->ssrc[h->n] = r.ssrc;
		h->len[h->n] = r.payload_len;
		cr_assert_leq(r.payload_len, sizeof(h->payload[0]));
		memcpy(h->payload[h->n], buf + r.hdr_len, r.payload_len);
		h->n++;
	}
}

/* Everything B gets within 1 s (packets counted as they come). */
static void listen_1s(int fd, struct heard *h)
{
	int64_t end = g_get_monotonic_time() + 1000000;
	uint8_t buf[512];
	struct sb_rtp_hdr r;
	size_t n;

	h->n = 0;
	while (g_get_monotonic_time() < end && h->n < 80) {
		int left = (int)((end - g_get_monotonic_time()) / 1000);

		n = recv_rtp(fd, buf, sizeof(buf), left > 0 ? left : 1);
		if (!n || g_get_monotonic_time() >= end)
			break;
		cr_assert_eq(sb_rtp_parse(buf, n, &r), 0);
		h->pt[h->n] = r.pt;
		h->seq[h->n] = r.seq;
		h->ts[h->n] = r.ts;
		h->ssrc[h->n] = r.ssrc;
		h->len[h->n] = r.payload_len;
		memcpy(h->payload[h->n], buf + r.hdr_len,
		       r.payload_len < sizeof(h->payload[0]) ? r.payload_len
							     : sizeof(h->payload[0]));
		h->n++;
	}
}

/* The frequency (100-3000 Hz, 5 Hz steps) with the most energy in pcm
 * (Goertzel), and the signal's RMS. */
static double strongest(const int16_t *pcm, int n, int rate, double *rms)
{
	double e = 0;

	for (int i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	*rms = sqrt(e / n);
	return sbt_peak_hz(pcm, (size_t)n, rate);
}

/* The PCMU payloads of packets from..from+k decoded: their strongest
 * frequency (the RMS checked not silent). */
static double pcmu_pitch(const struct heard *h, int from, int k)
{
	static int16_t pcm[80 * 160];
	int n = 0;
	double rms, f;

	for (int i = from; i < from + k && i < h->n; i++)
		for (size_t j = 0; j < h->len[i]; j++)
			pcm[n++] = sb_g711_ulaw_decode(h->payload[i][j]);
	f = strongest(pcm, n, 8000, &rms);
	cr_assert_gt(rms, 300, "silence (RMS %.0f)", rms);
	return f;
}

/* One stream: B's SSRC, payload type pt, sequence numbers on from first,
 * timestamps step apart. */
static void one_stream(const struct heard *h, uint32_t ssrc, uint8_t pt, uint16_t first,
		       uint32_t step)
{
	for (int i = 0; i < h->n; i++) {
		cr_assert_eq(h->ssrc[i], ssrc, "packet %d: another SSRC", i);
		cr_assert_eq(h->pt[i], pt, "packet %d: PT %u", i, h->pt[i]);
		cr_assert_eq(h->seq[i], (uint16_t)(first + i), "packet %d: seq %u, not %u", i,
			     h->seq[i], (uint16_t)(first + i));
		if (i)
			cr_assert_eq(h->ts[i] - h->ts[i - 1], step, "packet %d: ts +%u", i,
				     h->ts[i] - h->ts[i - 1]);
	}
}

/* A PCMU party held hears the chime every 20 ms on the stream it had;
 * nothing of A's meanwhile; on resume A's audio goes on with the next
 * sequence number. */
Test(moh, a_held_pcmu_party_hears_the_tone, .init = setup_tone, .fini = legs_teardown)
{
	struct pair p = pair_up(300, "0", PCMU);
	struct sb_media_counters c0, c1;
	static struct heard h;
	uint8_t buf[512];
	uint16_t last;
	size_t n;

	sb_media_counters(media, &c0);
	hold_b(&p, 1, true);
	send_rtp(p.a, p.gw_a, 0, 2, 320, 0x5001, "a-to-held-b");
	listen_1s(p.b, &h);
	cr_assert(h.n >= 45 && h.n <= 55, "%d packets in 1 s", h.n);
	one_stream(&h, p.ssrc, 0, (uint16_t)(p.last_seq + 1), 160);
	for (int i = 0; i < h.n; i++)
		cr_assert_eq(h.len[i], 160, "packet %d: %zu bytes, not a 20 ms frame", i, h.len[i]);
	/* The first 400 ms are the chime's first note. */
	cr_assert_float_eq(pcmu_pitch(&h, 0, 20), TONE_HZ, 10);
	sb_media_counters(media, &c1);
	cr_assert_geq(c1.hold_music_frames - c0.hold_music_frames, (unsigned long long)h.n);

	answered_by_b(&p, 1, PCMU, "recvonly");
	hold_b(&p, 2, false);
	answered_by_b(&p, 2, PCMU, "sendrecv");
	/* What was sent before the resume. */
	last = h.seq[h.n - 1];
	while ((n = recv_rtp(p.b, buf, sizeof(buf), 100)) > 0) {
		cr_assert_eq(n, 12 + 160);
		last = (uint16_t)(buf[2] << 8 | buf[3]);
	}
	send_rtp(p.a, p.gw_a, 0, 3, 480, 0x5001, "a-resumed");
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 2000), 12 + strlen("a-resumed"));
	cr_assert_eq(memcmp(buf + 12, "a-resumed", 9), 0);
	cr_assert_eq((uint16_t)(buf[2] << 8 | buf[3]), (uint16_t)(last + 1),
		     "not one past the last music packet");
	cr_assert_eq(be32(buf + 8), p.ssrc);
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 200), 0, "music after the resume");
	pair_end(&p);
}

/* A party answering inactive (it does not receive) gets nothing from then
 * on; one that holds us itself gets nothing at all. */
Test(moh, a_party_that_does_not_receive_gets_nothing, .init = setup_tone, .fini = legs_teardown)
{
	struct pair p = pair_up(310, "0", PCMU);
	struct pair q = pair_up(320, "0", PCMU);
	uint8_t buf[512];

	hold_b(&p, 1, true);
	cr_assert_gt(recv_rtp(p.b, buf, sizeof(buf), 500), 0, "no music before the answer");
	answered_by_b(&p, 1, PCMU, "inactive");
	while (recv_rtp(p.b, buf, sizeof(buf), 100) > 0)
		; /* sent before the answer */
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 500), 0, "music to an inactive party");

	accepted(321, 1, sdp_of(q.pb, "0", PCMU "a=sendonly\r\n"), "a=recvonly");
	hold_b(&q, 1, true);
	cr_assert_eq(recv_rtp(q.b, buf, sizeof(buf), 500), 0, "music to a party holding us");
	pair_end(&p);
	pair_end(&q);
}

/* A failed offer undoes the hold: the music stops at once. */
Test(moh, an_undone_hold_stops_the_music, .init = setup_tone, .fini = legs_teardown)
{
	struct pair p = pair_up(330, "0", PCMU);
	uint8_t buf[512];

	hold_b(&p, 1, true);
	cr_assert_gt(recv_rtp(p.b, buf, sizeof(buf), 500), 0);
	cr_assert_eq(sb_media_engine_ops.offer_done(media, 331, 1, NULL), 0);
	barrier(331, 2001);
	while (recv_rtp(p.b, buf, sizeof(buf), 50) > 0)
		;
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 300), 0, "music after the hold was undone");
	pair_end(&p);
}

/* An Opus party hears the chime too, encoded for it. */
Test(moh, a_held_opus_party_hears_the_tone, .init = setup_tone, .fini = legs_teardown)
{
	struct pair p = pair_up(340, "111", OPUS);
	static struct heard h;
	static int16_t pcm[25 * 960];
	int err = 0, n = 0;
	OpusDecoder *dec = opus_decoder_create(48000, 1, &err);
	double rms;

	cr_assert_not_null(dec);
	hold_b(&p, 1, true);
	listen_at(p.b, 500, 25, &h);
	cr_assert_eq(h.n, 25);
	one_stream(&h, p.ssrc, 111, (uint16_t)(p.last_seq + 1), 960);
	for (int i = 0; i < h.n; i++) {
		int got = opus_decode(dec, h.payload[i], (opus_int32)h.len[i], pcm + n, 960, 0);

		cr_assert_eq(got, 960, "packet %d: %d samples", i, got);
		n += got;
	}
	/* After the codec's first frames (its start-up). */
	cr_assert_float_eq(strongest(pcm + 5 * 960, 15 * 960, 48000, &rms), TONE_HZ, 10);
	cr_assert_gt(rms, 300, "silence (RMS %.0f)", rms);
	opus_decoder_destroy(dec);
	pair_end(&p);
}

/* A WAV file at 16 kHz, resampled to the 8 kHz of PCMU. */
Test(moh, a_wav_file_is_played_resampled, .init = setup_wav, .fini = teardown_wav)
{
	struct pair p = pair_up(350, "0", PCMU);
	static struct heard h;

	hold_b(&p, 1, true);
	listen_at(p.b, 500, 20, &h);
	cr_assert_eq(h.n, 20);
	one_stream(&h, p.ssrc, 0, (uint16_t)(p.last_seq + 1), 160);
	cr_assert_float_eq(pcmu_pitch(&h, 2, 18), 1000, 10);
	pair_end(&p);
}

/* The G.722 payloads of packets from..from+k decoded (16 kHz): their
 * strongest frequency (the RMS checked not silent). Each a 20 ms frame. */
static double g722_pitch(const struct heard *h, int from, int k)
{
	static int16_t pcm[80 * 320];
	g722_decode_state_t *dec = g722_decode_init(NULL, 64000, 0);
	int n = 0;
	double rms, f;

	cr_assert_not_null(dec);
	/* The decoder runs from the first packet; only the k after from
	 * are kept. */
	for (int i = 0; i < from + k && i < h->n; i++) {
		int got;

		cr_assert_eq(h->len[i], 160, "packet %d: %zu bytes, not 20 ms", i, h->len[i]);
		got = g722_decode(dec, pcm + n, h->payload[i], 160);
		if (i >= from)
			n += got;
	}
	g722_decode_free(dec);
	f = strongest(pcm, n, 16000, &rms);
	cr_assert_gt(rms, 300, "silence (RMS %.0f)", rms);
	return f;
}

/* A G.722 party (RFC 3551: an 8000 Hz clock, 160 units a 20 ms frame of
 * 160 bytes) hears the chime, made once in G.722. */
Test(moh, a_held_g722_party_hears_the_tone, .init = setup_tone, .fini = legs_teardown)
{
	struct pair p = pair_up(370, "9", G722);
	static struct heard h;

	hold_b(&p, 1, true);
	listen_at(p.b, 500, 25, &h);
	cr_assert_eq(h.n, 25);
	one_stream(&h, p.ssrc, 9, (uint16_t)(p.last_seq + 1), 160);
	cr_assert_float_eq(g722_pitch(&h, 2, 18), TONE_HZ, 10);
	pair_end(&p);
}

/* A WAV file at 16 kHz, played to G.722 at its own rate. */
Test(moh, a_wav_file_is_played_to_g722, .init = setup_wav, .fini = teardown_wav)
{
	struct pair p = pair_up(380, "9", G722);
	static struct heard h;

	hold_b(&p, 1, true);
	listen_at(p.b, 500, 20, &h);
	cr_assert_eq(h.n, 20);
	one_stream(&h, p.ssrc, 9, (uint16_t)(p.last_seq + 1), 160);
	cr_assert_float_eq(g722_pitch(&h, 2, 18), 1000, 10);
	pair_end(&p);
}

/* hold_music = silence: nothing is sent while held. */
Test(moh, silence_sends_nothing, .init = legs_setup, .fini = legs_teardown)
{
	struct pair p = pair_up(360, "0", PCMU);
	struct sb_media_counters c0, c1;
	uint8_t buf[512];

	sb_media_counters(media, &c0);
	hold_b(&p, 1, true);
	cr_assert_eq(recv_rtp(p.b, buf, sizeof(buf), 500), 0, "something sent to a held party");
	sb_media_counters(media, &c1);
	cr_assert_eq(c1.hold_music_frames, c0.hold_music_frames);
	pair_end(&p);
}
