/* Conferences (conf_join, conf_leave; conf.c) with the real media component
 * and UDP "SIP phones": members on PCMU, PCMA, Opus and G.722 each send a
 * tone of
 * their own; what each hears is decoded and measured (Goertzel) for every
 * member's tone, and its stream checked (one SSRC, sequence numbers without
 * a gap). Leaving, destroying, holding and muting a member; the ops'
 * refusals.
 * Test thread only. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "legs.h"
#include "media/transcode.h"

#define AMP	   6000.0 /* of each member's tone */
#define MAX_SECS   4
#define FRAME_MS   20
#define SKIP_S	   0.3 /* of a phase's start: the mixer's start-up */
#define HEARD_AMP  1500.0
#define QUIET_PART 0.05 /* of the weakest tone heard: a tone not heard */

TestSuite(conf, .init = legs_setup, .fini = legs_teardown, .timeout = 60);

struct member {
	uint64_t id;
	int fd, port, gw;
	enum sb_xcode_codec codec;
	int pt, rate;
	double hz;
	bool sends;
	/* what it sends */
	uint16_t seq;
	uint32_t ts, ssrc;
	uint64_t t; /* samples of its tone sent */
	OpusEncoder *enc;
	g722_encode_state_t *genc;
	/* what it hears, in this phase (pcm at its rate) */
	OpusDecoder *dec;
	g722_decode_state_t *gdec;
	int16_t *pcm;
	size_t n;
	int packets, gaps;
	bool seen;
	uint16_t last_seq;
	uint32_t rssrc;
	bool ssrc_changed;
};

static const char *fmt_of(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS ? "111" : c == SB_XC_PCMA ? "8" : c == SB_XC_G722 ? "9" : "0";
}

static const char *attrs_of(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS	 ? "a=rtpmap:111 opus/48000/2\r\n"
	       : c == SB_XC_PCMA ? "a=rtpmap:8 PCMA/8000\r\n"
	       : c == SB_XC_G722 ? "a=rtpmap:9 G722/8000\r\n"
				 : "a=rtpmap:0 PCMU/8000\r\n";
}

/* Session id answering a phone at port on codec c as leg of call, on the
 * worker of affinity, connected: the gateway's port. */
static int answering(uint64_t id, uint64_t call, uint32_t leg, uint64_t affinity,
		     enum sb_xcode_codec c, int port)
{
	struct sb_engine_media_opts o = {.affinity = affinity};
	const struct sb_event *ev;
	char *sdp = sdp_of(port, fmt_of(c), attrs_of(c));

	cr_assert_eq(sb_media_engine_ops.create(media, id, call, leg, SB_MEDIA_RTP, sdp, &o), 0);
	g_free(sdp);
	ev = wait_event(SB_EV_MEDIA_READY, id, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, id, 3000));
	return port_of(ev->text);
}

/* An answering RTP leg of a call of its own, on the worker of affinity. */
static void member_new(struct member *m, uint64_t id, uint64_t affinity, enum sb_xcode_codec c,
		       double hz)
{
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->id = id;
	m->codec = c;
	m->pt = atoi(fmt_of(c));
	m->rate = sb_xcode_pcm_rate(c); /* G.722: 16 kHz on an 8 kHz clock */
	m->hz = hz;
	m->sends = true;
	m->ssrc = 0x1000 + (uint32_t)id;
	m->fd = udp_peer(&m->port);
	m->gw = answering(id, 9000 + id, 1, affinity, c, m->port);
	if (c == SB_XC_OPUS) {
		m->enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
		m->dec = opus_decoder_create(48000, 1, &err);
		cr_assert(m->enc && m->dec);
	}
	if (c == SB_XC_G722) {
		m->genc = g722_encode_init(NULL, 64000, 0);
		m->gdec = g722_decode_init(NULL, 64000, 0);
		cr_assert(m->genc && m->gdec);
	}
	m->pcm = calloc((size_t)m->rate * MAX_SECS, sizeof(int16_t));
	cr_assert_not_null(m->pcm);
}

static void member_free(struct member *m)
{
	if (m->enc)
		opus_encoder_destroy(m->enc);
	if (m->dec)
		opus_decoder_destroy(m->dec);
	if (m->genc)
		g722_encode_free(m->genc);
	if (m->gdec)
		g722_decode_free(m->gdec);
	free(m->pcm);
	close(m->fd);
}

/* One 20 ms frame of m's tone to the gateway. */
static void send_frame(struct member *m)
{
	int16_t pcm[960];
	uint8_t p[12 + 960];
	int n = m->rate / 50, len;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)m->gw)};

	for (int i = 0; i < n; i++)
		pcm[i] = (int16_t)lrint(
			AMP * sin(2 * M_PI * m->hz * (double)(m->t + (uint64_t)i) / m->rate));
	m->t += (uint64_t)n;
	if (m->codec == SB_XC_OPUS) {
		len = opus_encode(m->enc, pcm, n, p + 12, 900);
		cr_assert_gt(len, 0);
	} else if (m->codec == SB_XC_G722) {
		len = g722_encode(m->genc, p + 12, pcm, n);
	} else {
		for (int i = 0; i < n; i++)
			p[12 + i] = m->codec == SB_XC_PCMU ? sb_g711_ulaw_encode(pcm[i])
							   : sb_g711_alaw_encode(pcm[i]);
		len = n;
	}
	p[0] = 0x80;
	p[1] = (uint8_t)m->pt;
	p[2] = (uint8_t)(m->seq >> 8);
	p[3] = (uint8_t)m->seq;
	p[4] = (uint8_t)(m->ts >> 24);
	p[5] = (uint8_t)(m->ts >> 16);
	p[6] = (uint8_t)(m->ts >> 8);
	p[7] = (uint8_t)m->ts;
	p[8] = (uint8_t)(m->ssrc >> 24);
	p[9] = (uint8_t)(m->ssrc >> 16);
	p[10] = (uint8_t)(m->ssrc >> 8);
	p[11] = (uint8_t)m->ssrc;
	m->seq++;
	m->ts += (uint32_t)sb_xcode_rate(m->codec) / 50;
	cr_assert_eq(sendto(m->fd, p, 12 + (size_t)len, 0, (struct sockaddr *)&a, sizeof(a)),
		     12 + len);
}

/* One packet m heard: decoded onto its phase's audio, its stream checked. */
static void heard(struct member *m, const uint8_t *buf, size_t len)
{
	struct sb_rtp_hdr h;
	size_t cap = (size_t)m->rate * MAX_SECS;
	int n;

	cr_assert_eq(sb_rtp_parse(buf, len, &h), 0);
	cr_assert_eq(h.pt, m->pt, "session %llu heard PT %u", (unsigned long long)m->id, h.pt);
	if (m->seen) {
		m->gaps += h.seq != (uint16_t)(m->last_seq + 1);
		m->ssrc_changed |= h.ssrc != m->rssrc;
	}
	m->seen = true;
	m->last_seq = h.seq;
	m->rssrc = h.ssrc;
	m->packets++;
	if (m->codec == SB_XC_OPUS) {
		if (m->n + 960 > cap)
			return;
		n = opus_decode(m->dec, buf + h.hdr_len, (opus_int32)h.payload_len, m->pcm + m->n,
				960, 0);
		cr_assert_eq(n, 960);
		m->n += 960;
		return;
	}
	if (m->codec == SB_XC_G722) {
		cr_assert_eq(h.payload_len, 160);
		if (m->n + 320 <= cap)
			m->n += (size_t)g722_decode(m->gdec, m->pcm + m->n, buf + h.hdr_len, 160);
		return;
	}
	for (size_t i = 0; i < h.payload_len && m->n < cap; i++)
		m->pcm[m->n++] = m->codec == SB_XC_PCMU ? sb_g711_ulaw_decode(buf[h.hdr_len + i])
							: sb_g711_alaw_decode(buf[h.hdr_len + i]);
}

/* A phase of ms: every 20 ms each member that sends sends a frame, and
 * everything each one hears is taken (its audio of the phase starts
 * empty). */
static void run(struct member **ms, int k, int ms_len)
{
	int64_t start = g_get_monotonic_time(), end = start + ms_len * 1000LL;
	int64_t next = start;
	struct pollfd p[8];
	uint8_t buf[1500];

	for (int i = 0; i < k; i++) {
		ms[i]->n = 0;
		ms[i]->packets = 0;
		p[i] = (struct pollfd){.fd = ms[i]->fd, .events = POLLIN};
	}
	for (int64_t now = start; now < end; now = g_get_monotonic_time()) {
		if (now >= next) {
			for (int i = 0; i < k; i++)
				if (ms[i]->sends)
					send_frame(ms[i]);
			next += FRAME_MS * 1000;
		}
		if (poll(p, (nfds_t)k, (int)((next - now) / 1000) + 1) <= 0)
			continue;
		for (int i = 0; i < k; i++) {
			ssize_t n;

			while ((n = recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
				if (!sb_rtp_is_rtcp(buf, (size_t)n))
					heard(ms[i], buf, (size_t)n);
		}
	}
}

/* The amplitude of hz in what m heard in its phase, after the start-up. */
static double amp_of(const struct member *m, double hz)
{
	size_t from = (size_t)(SKIP_S * m->rate);
	double c = 2 * cos(2 * M_PI * hz / m->rate), s1 = 0, s2 = 0, p;

	cr_assert_gt(m->n, from + (size_t)m->rate / 2, "session %llu heard %zu samples",
		     (unsigned long long)m->id, m->n);
	for (size_t i = from; i < m->n; i++) {
		double s0 = m->pcm[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	p = s1 * s1 + s2 * s2 - c * s1 * s2;
	return 2 * sqrt(p > 0 ? p : 0) / (double)(m->n - from);
}

/* m heard each tone of from[] clearly and each of quiet[] not at all (nor
 * its own), on one stream without a gap. */
static void hears(const struct member *m, struct member **from, int nf, struct member **quiet,
		  int nq)
{
	double weakest = 1e9, a;

	cr_assert_eq(m->gaps, 0, "session %llu: %d sequence gaps", (unsigned long long)m->id,
		     m->gaps);
	cr_assert(!m->ssrc_changed, "session %llu: another SSRC", (unsigned long long)m->id);
	for (int i = 0; i < nf; i++) {
		a = amp_of(m, from[i]->hz);
		cr_assert_gt(a, HEARD_AMP, "session %llu hears %.0f Hz at %.0f only",
			     (unsigned long long)m->id, from[i]->hz, a);
		weakest = a < weakest ? a : weakest;
	}
	a = amp_of(m, m->hz);
	cr_assert_lt(a, QUIET_PART * weakest, "session %llu hears itself (%.0f vs %.0f)",
		     (unsigned long long)m->id, a, weakest);
	for (int i = 0; i < nq; i++) {
		a = amp_of(m, quiet[i]->hz);
		cr_assert_lt(a, QUIET_PART * weakest, "session %llu hears %.0f Hz (%.0f vs %.0f)",
			     (unsigned long long)m->id, quiet[i]->hz, a, weakest);
	}
}

/* Three members of conference conf (PCMU 400 Hz, PCMA 700 Hz, Opus
 * 1100 Hz), ids id..id+2, each hearing the others. */
static void room_of_three(struct member *m, uint64_t id, uint64_t conf)
{
	static const enum sb_xcode_codec c[3] = {SB_XC_PCMU, SB_XC_PCMA, SB_XC_OPUS};
	static const double hz[3] = {400, 700, 1100};

	for (int i = 0; i < 3; i++) {
		member_new(&m[i], id + (uint64_t)i, conf, c[i], hz[i]);
		cr_assert_eq(sb_media_engine_ops.conf_join(media, m[i].id, conf), 0);
	}
}

/* Waits ms while everyone sends and hears (what is heard is dropped). */
static void settle(struct member **ms, int k, int ms_len)
{
	run(ms, k, ms_len);
}

Test(conf, three_codecs_hear_each_other_not_themselves)
{
	struct member m[3];
	struct member *all[3] = {&m[0], &m[1], &m[2]};
	struct sb_media_counters c;

	room_of_three(m, 500, 7);
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[1], &m[2]}, 2, NULL, 0);
	hears(&m[1], (struct member *[]){&m[0], &m[2]}, 2, NULL, 0);
	hears(&m[2], (struct member *[]){&m[0], &m[1]}, 2, NULL, 0);
	for (int i = 0; i < 3; i++)
		cr_assert(m[i].packets >= 60 && m[i].packets <= 90, "session %llu: %d packets",
			  (unsigned long long)m[i].id, m[i].packets);
	sb_media_counters(media, &c);
	cr_assert_geq(c.conf_frames_mixed, 180);
	for (int i = 0; i < 3; i++) {
		sb_media_engine_ops.destroy(media, m[i].id);
		member_free(&m[i]);
	}
}

/* A G.722 member (16 kHz audio, resampled to and from the mixer's 48 kHz)
 * hears the others and is heard by them. */
Test(conf, a_g722_member_hears_and_is_heard)
{
	static const enum sb_xcode_codec c[3] = {SB_XC_G722, SB_XC_PCMU, SB_XC_OPUS};
	static const double hz[3] = {1500, 400, 1100};
	struct member m[3];
	struct member *all[3] = {&m[0], &m[1], &m[2]};

	for (int i = 0; i < 3; i++) {
		member_new(&m[i], 520 + (uint64_t)i, 11, c[i], hz[i]);
		cr_assert_eq(sb_media_engine_ops.conf_join(media, m[i].id, 11), 0);
	}
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[1], &m[2]}, 2, NULL, 0);
	hears(&m[1], (struct member *[]){&m[0], &m[2]}, 2, NULL, 0);
	hears(&m[2], (struct member *[]){&m[0], &m[1]}, 2, NULL, 0);
	cr_assert(m[0].packets >= 60 && m[0].packets <= 90, "G.722: %d packets", m[0].packets);
	for (int i = 0; i < 3; i++) {
		sb_media_engine_ops.destroy(media, m[i].id);
		member_free(&m[i]);
	}
}

Test(conf, a_member_that_left_is_no_longer_heard_and_hears_nothing)
{
	struct member m[3];
	struct member *all[3] = {&m[0], &m[1], &m[2]};

	room_of_three(m, 510, 9);
	run(all, 3, 1000);
	hears(&m[0], (struct member *[]){&m[1], &m[2]}, 2, NULL, 0);
	cr_assert_eq(sb_media_engine_ops.conf_leave(media, m[2].id), 0);
	settle(all, 3, 200);
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[1]}, 1, (struct member *[]){&m[2]}, 1);
	hears(&m[1], (struct member *[]){&m[0]}, 1, (struct member *[]){&m[2]}, 1);
	cr_assert_eq(m[2].packets, 0, "the member that left got %d packets", m[2].packets);
	for (int i = 0; i < 3; i++) {
		sb_media_engine_ops.destroy(media, m[i].id);
		member_free(&m[i]);
	}
}

Test(conf, a_destroyed_member_is_no_longer_heard)
{
	struct member m[3];
	struct member *all[3] = {&m[0], &m[1], &m[2]};

	room_of_three(m, 520, 11);
	run(all, 3, 1000);
	cr_assert_eq(sb_media_engine_ops.destroy(media, m[1].id), 0);
	settle(all, 3, 200);
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[2]}, 1, (struct member *[]){&m[1]}, 1);
	hears(&m[2], (struct member *[]){&m[0]}, 1, (struct member *[]){&m[1]}, 1);
	cr_assert_eq(m[1].packets, 0);
	/* The last two go too: the room and its timer with them. */
	sb_media_engine_ops.destroy(media, m[0].id);
	sb_media_engine_ops.destroy(media, m[2].id);
	for (int i = 0; i < 3; i++)
		member_free(&m[i]);
}

Test(conf, a_held_member_neither_hears_nor_is_heard)
{
	struct member m[3];
	struct member *all[3] = {&m[0], &m[1], &m[2]};
	const struct sb_event *ev;

	room_of_three(m, 530, 13);
	run(all, 3, 1000);
	hears(&m[1], (struct member *[]){&m[0], &m[2]}, 2, NULL, 0);
	cr_assert_eq(sb_media_engine_ops.hold(media, m[1].id, 1, true), 0);
	ev = wait_seq(SB_EV_MEDIA_OFFER, m[1].id, 1, 3000);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->arg[1], 0, "%s", ev->str);
	settle(all, 3, 200);
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[2]}, 1, (struct member *[]){&m[1]}, 1);
	hears(&m[2], (struct member *[]){&m[0]}, 1, (struct member *[]){&m[1]}, 1);
	cr_assert_eq(m[1].packets, 0, "the held member got %d packets", m[1].packets);
	for (int i = 0; i < 3; i++) {
		sb_media_engine_ops.destroy(media, m[i].id);
		member_free(&m[i]);
	}
}

/* A muted member is not heard but still hears the others, on the same
 * stream; unmuted it is heard again at once. Muted before its join, it
 * joins muted; a hold keeps the mute. */
Test(conf, a_muted_member_hears_but_is_not_heard)
{
	struct member m[3];
	struct member *all[3] = {&m[0], &m[1], &m[2]};
	const struct sb_event *ev;

	room_of_three(m, 560, 17);
	run(all, 3, 1000);
	hears(&m[0], (struct member *[]){&m[1], &m[2]}, 2, NULL, 0);
	cr_assert_eq(sb_media_engine_ops.conf_mute(media, m[2].id, true), 0);
	settle(all, 3, 200);
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[1]}, 1, (struct member *[]){&m[2]}, 1);
	hears(&m[1], (struct member *[]){&m[0]}, 1, (struct member *[]){&m[2]}, 1);
	hears(&m[2], (struct member *[]){&m[0], &m[1]}, 2, NULL, 0);
	/* A hold and a resume keep it muted. */
	cr_assert_eq(sb_media_engine_ops.hold(media, m[2].id, 1, true), 0);
	ev = wait_seq(SB_EV_MEDIA_OFFER, m[2].id, 1, 3000);
	cr_assert(ev && ev->arg[1] == 0);
	settle(all, 3, 200);
	/* The offer failed: the hold is undone. */
	cr_assert_eq(sb_media_engine_ops.offer_done(media, m[2].id, 1, NULL), 0);
	cr_assert_eq(sb_media_engine_ops.conf_mute(media, m[0].id, false), 0); /* no change */
	settle(all, 3, 200);
	run(all, 3, 1000);
	hears(&m[0], (struct member *[]){&m[1]}, 1, (struct member *[]){&m[2]}, 1);
	hears(&m[2], (struct member *[]){&m[0], &m[1]}, 2, NULL, 0);
	cr_assert_eq(sb_media_engine_ops.conf_mute(media, m[2].id, false), 0);
	settle(all, 3, 200);
	run(all, 3, 1500);
	hears(&m[0], (struct member *[]){&m[1], &m[2]}, 2, NULL, 0);
	hears(&m[1], (struct member *[]){&m[0], &m[2]}, 2, NULL, 0);
	hears(&m[2], (struct member *[]){&m[0], &m[1]}, 2, NULL, 0);
	cr_assert_eq(sb_media_engine_ops.conf_mute(media, 999, true), -ENOENT);
	for (int i = 0; i < 3; i++) {
		sb_media_engine_ops.destroy(media, m[i].id);
		member_free(&m[i]);
	}
}

Test(conf, a_member_muted_before_its_join_joins_muted)
{
	struct member m[2];
	struct member *all[2] = {&m[0], &m[1]};

	member_new(&m[0], 570, 19, SB_XC_PCMU, 400);
	member_new(&m[1], 571, 19, SB_XC_OPUS, 1100);
	cr_assert_eq(sb_media_engine_ops.conf_mute(media, m[1].id, true), 0);
	/* The mute (a HIGH command) is taken before the joins (CRITICAL). */
	g_usleep(50 * 1000);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(sb_media_engine_ops.conf_join(media, m[i].id, 19), 0);
	settle(all, 2, 200);
	run(all, 2, 1500);
	hears(&m[1], (struct member *[]){&m[0]}, 1, NULL, 0);
	cr_assert_lt(amp_of(&m[0], m[1].hz), 100.0, "the muted member is heard");
	for (int i = 0; i < 2; i++) {
		sb_media_engine_ops.destroy(media, m[i].id);
		member_free(&m[i]);
	}
}

/* Alone in its room a member gets silence on a continuous stream; joining
 * ended its bridge: the old partner gets nothing of it any more. */
Test(conf, a_member_alone_hears_silence_and_its_bridge_ends)
{
	struct member a;
	struct member *all[1] = {&a};
	uint8_t buf[512];
	int fd_b, pb;

	fd_b = udp_peer(&pb);
	member_new(&a, 540, 15, SB_XC_PCMU, 500);
	/* B: the other leg of A's call, on its worker. */
	answering(541, 9540, 2, 15, SB_XC_PCMU, pb);
	cr_assert_eq(sb_media_engine_ops.bridge(media, 540, 541), 0);
	g_usleep(100 * 1000);
	send_rtp(a.fd, a.gw, 0, 1, 160, 0x77, "bridged");
	expect_at(fd_b, 0, "bridged");
	cr_assert_eq(sb_media_engine_ops.conf_join(media, 540, 15), 0);
	settle(all, 1, 200);
	run(all, 1, 1000);
	cr_assert(a.packets >= 40, "%d packets", a.packets);
	cr_assert_eq(a.gaps, 0);
	cr_assert(!a.ssrc_changed);
	for (size_t i = (size_t)(SKIP_S * 8000); i < a.n; i++)
		cr_assert(abs(a.pcm[i]) < 64, "sample %zu: %d, not silence", i, a.pcm[i]);
	/* A's tone went nowhere; B's audio does not reach A either. */
	while (recv_rtp(fd_b, buf, sizeof(buf), 50) > 0)
		;
	send_rtp(a.fd, a.gw, 0, 2, 320, 0x77, "in-conf");
	expect_at(fd_b, -1, "in-conf");
	sb_media_engine_ops.destroy(media, 540);
	sb_media_engine_ops.destroy(media, 541);
	member_free(&a);
	close(fd_b);
}

/* One worker mixes a conference: a session on another worker is refused,
 * as are conference 0 and unknown sessions. */
Test(conf, refusals)
{
	struct member m;

	/* Two workers (legs.c): affinity 2 puts the session on worker 0. */
	member_new(&m, 550, 2, SB_XC_PCMU, 400);
	cr_assert_eq(sb_media_engine_ops.conf_join(media, 550, 3), -EXDEV);
	cr_assert_eq(sb_media_engine_ops.conf_join(media, 550, 0), -EINVAL);
	cr_assert_eq(sb_media_engine_ops.conf_join(media, 999, 2), -ENOENT);
	cr_assert_eq(sb_media_engine_ops.conf_leave(media, 999), -ENOENT);
	cr_assert_eq(sb_media_engine_ops.conf_join(media, 550, 4), 0);
	cr_assert_eq(sb_media_engine_ops.conf_leave(media, 550), 0);
	cr_assert_eq(sb_media_engine_ops.conf_leave(media, 550), 0); /* in none: nothing */
	sb_media_engine_ops.destroy(media, 550);
	member_free(&m);
}
