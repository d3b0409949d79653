/* sb-peer's audio: a deterministic 20 ms stream (PCMU or Opus) whose every
 * payload ends with a 20-byte marker (magic, this peer's tag, a sequence
 * number, the send time), the check of what comes back against what was
 * sent, and the figures of the run (loss, duplicates, latency, jitter).
 * Peer context thread; owns the receive tables.
 *
 * The marker rides in the payload because the gateway relays without
 * decoding when both sides share the codec. For PCMU it takes the last 20 of
 * 160 bytes (heard as a click over the tone). For Opus it is the padding of
 * a code-3 packet (RFC 6716 section 3.2.5): the packet is a real Opus
 * encoding of a tone that any decoder accepts, and the padding, which a
 * decoder must ignore whatever its value, carries the marker. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <opus/opus.h>
#include <stdlib.h>
#include <string.h>

#include "peer_internal.h"

#define FRAME_US 20000
#define TONE_HZ	 400

static const uint8_t magic[4] = {'S', 'B', 'P', '1'};

/* ---- payloads ---- */

/* G.711 mu-law of one linear sample (ITU-T G.711, segment and mantissa). */
static uint8_t ulaw_of(int16_t sample)
{
	int v = sample, sign = 0, exp = 7;

	if (v < 0) {
		sign = 0x80;
		v = -v;
	}
	if (v > 32635)
		v = 32635;
	v += 0x84;
	for (int mask = 0x4000; !(v & mask) && exp > 0; mask >>= 1)
		exp--;
	return (uint8_t) ~(sign | exp << 4 | ((v >> (exp + 3)) & 0x0f));
}

static int opus_frames_make(struct sb_peer *p)
{
	int err, n;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	opus_int16 pcm[960];
	uint8_t check[SB_PEER_OPUS_MAX];

	if (!enc)
		return -ENOMEM;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
	for (int i = 0; i < SB_PEER_OPUS_FRAMES; i++) {
		for (int k = 0; k < 960; k++)
			pcm[k] = (opus_int16)(8000 *
					      sin(2 * M_PI * TONE_HZ * (i * 960 + k) / 48000.0));
		n = opus_encode(enc, pcm, 960, p->opus[i], SB_PEER_OPUS_MAX - 40);
		/* Two bytes of code-3 framing, then the marker's room. */
		if (n <= 0 || opus_packet_pad(p->opus[i], n, n + 2 + SB_PEER_MARKER_LEN) != OPUS_OK)
			break;
		p->opus_len[i] = (size_t)n + 2 + SB_PEER_MARKER_LEN;
		memcpy(check, p->opus[i], p->opus_len[i]);
		/* The padding must be exactly the last 20 bytes. */
		if (opus_packet_unpad(check, (opus_int32)p->opus_len[i]) != n) {
			p->opus_len[i] = 0;
			break;
		}
	}
	opus_encoder_destroy(enc);
	return p->opus_len[SB_PEER_OPUS_FRAMES - 1] ? 0 : -EIO;
}

int sb__peer_media_init(struct sb_peer *p)
{
	/* 400 Hz is 20 samples at 8 kHz: every 20 ms frame is the same. */
	for (size_t k = 0; k < sizeof(p->pcmu); k++)
		p->pcmu[k] = ulaw_of((int16_t)(8000 * sin(2 * M_PI * TONE_HZ * (double)k / 8000)));
	p->max_packets = (unsigned)((p->o.send_ms + 19) / 20);
	p->seen = calloc(p->max_packets, 1);
	p->latency = calloc(p->max_packets, sizeof(*p->latency));
	if (!p->seen || !p->latency)
		return -ENOMEM;
	return p->o.codec == SB_PEER_OPUS ? opus_frames_make(p) : 0;
}

void sb__peer_media_free(struct sb_peer *p)
{
	free(p->seen);
	free(p->latency);
}

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The payload of packet seq sent at send_us; returns its length. */
static size_t payload_make(const struct sb_peer *p, uint32_t seq, uint64_t send_us, uint8_t *out)
{
	size_t n;

	if (p->o.codec == SB_PEER_OPUS) {
		n = p->opus_len[seq % SB_PEER_OPUS_FRAMES];
		memcpy(out, p->opus[seq % SB_PEER_OPUS_FRAMES], n);
	} else {
		n = SB_PEER_PCMU_LEN;
		memcpy(out, p->pcmu, sizeof(p->pcmu));
	}
	out += n - SB_PEER_MARKER_LEN;
	memcpy(out, magic, 4);
	put32(out + 4, p->tag);
	put32(out + 8, seq);
	put32(out + 12, (uint32_t)(send_us >> 32));
	put32(out + 16, (uint32_t)send_us);
	return n;
}

/* ---- sending ---- */

static void send_one(struct sb_peer *p, gint64 now)
{
	uint8_t buf[SB_PEER_MAX_PKT + SRTP_MAX_TRAILER_LEN];
	uint32_t n = p->st.sent;
	uint32_t ts = n * (p->o.codec == SB_PEER_OPUS ? 960u : 160u);
	int len;

	buf[0] = 0x80;
	buf[1] = (uint8_t)((n == 0 ? 0x80 : 0) | p->pt);
	buf[2] = (uint8_t)(p->rtp_seq >> 8);
	buf[3] = (uint8_t)p->rtp_seq;
	put32(buf + 4, ts);
	put32(buf + 8, p->ssrc);
	len = 12 + (int)payload_make(p, n, (uint64_t)now, buf + 12);
	p->rtp_seq++;
	p->st.sent++;
	if (p->o.fault != SB_PEER_FAULT_PLAIN &&
	    srtp_protect(p->srtp_out, buf, &len) != srtp_err_status_ok)
		return;
	/* The last byte is in the authentication tag (RFC 3711 section 3.1,
	 * RFC 7714 section 5 for GCM). */
	if (p->o.fault == SB_PEER_FAULT_TAMPER)
		buf[len - 1] ^= 0x5a;
	sb__peer_send(p, buf, (size_t)len);
	if (p->o.fault == SB_PEER_FAULT_REPLAY)
		sb__peer_send(p, buf, (size_t)len);
}

static gboolean send_cb(gpointer ud)
{
	struct sb_peer *p = ud;
	gint64 now = g_get_monotonic_time();

	if (p->st.sent >= p->max_packets) {
		/* The grace period after the last packet is over. */
		p->finished = true;
		g_source_unref(p->send_src);
		p->send_src = NULL;
		return G_SOURCE_REMOVE;
	}
	send_one(p, now);
	if (p->st.sent >= p->max_packets)
		g_source_set_ready_time(p->send_src, now + p->o.grace_ms * 1000LL);
	else
		g_source_set_ready_time(p->send_src, p->start_us + (gint64)p->st.sent * FRAME_US);
	return G_SOURCE_CONTINUE;
}

void sb__peer_media_start(struct sb_peer *p)
{
	if (p->sending || p->failed)
		return;
	p->sending = true;
	p->start_us = g_get_monotonic_time();
	p->send_src = sb__peer_timer_at(p, p->start_us, send_cb);
}

/* ---- receiving ---- */

/* The payload of a clear RTP packet (RFC 3550 section 5.1), or -1. */
static int payload_find(const uint8_t *b, int len, size_t *ret_off, size_t *ret_len)
{
	size_t off = 12 + 4 * (size_t)(b[0] & 0x0f), end = (size_t)len;

	if (len < 12 || (b[0] >> 6) != 2 || off > end)
		return -1;
	if (b[0] & 0x10) {
		if (off + 4 > end)
			return -1;
		off += 4 + 4 * (size_t)(b[off + 2] << 8 | b[off + 3]);
	}
	if (b[0] & 0x20) {
		if (end == 0 || b[end - 1] > end - off)
			return -1;
		end -= b[end - 1];
	}
	if (off > end)
		return -1;
	*ret_off = off;
	*ret_len = end - off;
	return 0;
}

static void echo_check(struct sb_peer *p, const uint8_t *pl, size_t n, gint64 now)
{
	const uint8_t *m;
	uint8_t want[SB_PEER_MAX_PKT];
	uint32_t seq;
	uint64_t send_us;
	gint64 transit;

	if (n < SB_PEER_MARKER_LEN || n > sizeof(want)) {
		p->st.corrupt++;
		return;
	}
	m = pl + n - SB_PEER_MARKER_LEN;
	if (memcmp(m, magic, 4) != 0 || get32(m + 4) != p->tag) {
		p->st.corrupt++;
		return;
	}
	seq = get32(m + 8);
	send_us = (uint64_t)get32(m + 12) << 32 | get32(m + 16);
	/* By content: the whole payload must be the one we sent. */
	if (seq >= p->st.sent || payload_make(p, seq, send_us, want) != n ||
	    memcmp(want, pl, n) != 0) {
		p->st.corrupt++;
		return;
	}
	if (p->seen[seq]) {
		p->st.duplicates++;
		return;
	}
	p->seen[seq] = 1;
	transit = now - (gint64)send_us;
	p->latency[p->st.received++] = (float)transit / 1000.0f;
	/* Interarrival jitter (RFC 3550 section 6.4.1) in microseconds. */
	if (p->have_transit) {
		gint64 d = transit - p->last_transit;
		p->st.jitter += ((double)(d < 0 ? -d : d) - p->st.jitter) / 16.0;
	}
	p->last_transit = transit;
	p->have_transit = true;
}

/* Counts breaks in the RTP stream received (b: a clear RTP header). */
static void continuity(struct sb_peer *p, const uint8_t *b)
{
	uint16_t seq = (uint16_t)(b[2] << 8 | b[3]);
	uint32_t ts = get32(b + 4), ssrc = get32(b + 8);
	uint32_t frame = p->o.codec == SB_PEER_OPUS ? 960u : 160u;

	if (p->rx_have) {
		if (ssrc != p->rx_ssrc)
			p->st.ssrc_changes++;
		if ((uint16_t)(seq - p->rx_seq) != 1)
			p->st.seq_gaps++;
		else if (ts - p->rx_ts != frame)
			p->st.ts_jumps++;
	}
	p->rx_have = true;
	p->rx_seq = seq;
	p->rx_ts = ts;
	p->rx_ssrc = ssrc;
}

void sb__peer_media_input(struct sb_peer *p, uint8_t *buf, int len)
{
	size_t off, n;

	if (len < 12)
		return;
	if (!p->srtp_ready) {
		p->st.undecryptable++;
		return;
	}
	/* RTCP on the muxed port (RFC 5761 section 4): packet types 192..223. */
	if (buf[1] >= 192 && buf[1] <= 223) {
		if (srtp_unprotect_rtcp(p->srtp_in, buf, &len) == srtp_err_status_ok)
			p->st.rtcp_in++;
		else
			p->st.undecryptable++;
		return;
	}
	if (srtp_unprotect(p->srtp_in, buf, &len) != srtp_err_status_ok) {
		p->st.undecryptable++;
		return;
	}
	if (payload_find(buf, len, &off, &n) < 0 || (buf[1] & 0x7f) != p->pt) {
		p->st.corrupt++;
		return;
	}
	continuity(p, buf);
	echo_check(p, buf + off, n, g_get_monotonic_time());
}

/* ---- figures ---- */

static int float_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

void sb_peer_stats_get(const struct sb_peer *p, struct sb_peer_stats *ret)
{
	unsigned n = p->st.received;
	float *sorted;

	*ret = p->st;
	ret->lost = p->st.sent - n;
	ret->jitter = p->st.jitter / 1000.0;
	ret->latency_p50 = ret->latency_p99 = 0;
	sorted = n ? malloc(n * sizeof(*sorted)) : NULL;
	if (!sorted)
		return;
	memcpy(sorted, p->latency, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), float_cmp);
	ret->latency_p50 = sorted[(n - 1) / 2];
	ret->latency_p99 = sorted[(unsigned)((n - 1) * 0.99)];
	free(sorted);
}

bool sb_peer_echoed(const struct sb_peer *p, unsigned n)
{
	return n < p->max_packets && p->seen[n];
}

unsigned sb_peer_latencies(const struct sb_peer *p, const float **ret)
{
	*ret = p->latency;
	return p->st.received;
}

char *sb_peer_report_json(const struct sb_peer *p)
{
	struct sb_peer_stats s;
	json_t *o;
	char *text;

	sb_peer_stats_get(p, &s);
	o = json_pack("{s:s, s:i, s:s, s:s, s:b, s:b, s:s, s:s?, s:i, s:i, s:i, s:i, s:i, s:i, "
		      "s:i, s:i, s:i, s:i, s:{s:f, s:f}, s:f}",
		      "type", "report", "peer", (int)p->o.index, "codec",
		      sb_peer_codec_name(p->o.codec), "fault", sb_peer_fault_name(p->o.fault),
		      "ice", s.ice_connected, "dtls", s.dtls_done, "srtp", s.srtp_profile, "error",
		      s.error[0] ? s.error : NULL, "sent", (int)s.sent, "received", (int)s.received,
		      "lost", (int)s.lost, "duplicates", (int)s.duplicates, "corrupt",
		      (int)s.corrupt, "undecryptable", (int)s.undecryptable, "seq_gaps",
		      (int)s.seq_gaps, "ts_jumps", (int)s.ts_jumps, "ssrc_changes",
		      (int)s.ssrc_changes, "rtcp_in", (int)s.rtcp_in, "latency_ms", "p50",
		      s.latency_p50, "p99", s.latency_p99, "jitter_ms", s.jitter);
	if (!o)
		return NULL;
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(4));
	json_decref(o);
	return text;
}
