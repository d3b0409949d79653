/* G.722 legs toward SIP (RFC 3551: payload type 9, "G722/8000", 16 kHz
 * audio on an 8000 Hz RTP clock): a G.722-only offer is answered with
 * G.722; a G.722 leg bridged to a PCMU or an Opus leg is transcoded both
 * ways (checked by the tone each side hears); two G.722 legs relay the
 * payload as it is. UDP "phones" on loopback; test thread. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glib.h>
#include <math.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* spandsp's headers need the C types declared before them. */
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "legs.h"
#include "media/transcode.h"
#include "../../support/tone.h"

TestSuite(g722, .init = legs_setup, .fini = legs_teardown, .timeout = 30);

#define PACKETS 50 /* 1 s of 20 ms packets */
#define G722_HZ 1000
#define FAR_HZ	440

static const char *g722_only = "a=rtpmap:9 G722/8000\r\n";

/* One RTP packet of len payload bytes to the gateway's port. */
static void send_pkt(int fd, int port, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
		     const uint8_t *payload, size_t len)
{
	uint8_t p[1500] = {0x80, pt, (uint8_t)(seq >> 8), (uint8_t)seq};
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port)};

	for (int k = 0; k < 4; k++) {
		p[4 + k] = (uint8_t)(ts >> (24 - 8 * k));
		p[8 + k] = (uint8_t)(ssrc >> (24 - 8 * k));
	}
	memcpy(p + 12, payload, len);
	sendto(fd, p, 12 + len, 0, (struct sockaddr *)&to, sizeof(to));
}

static int16_t tone(double hz, int rate, size_t i)
{
	return (int16_t)lrint(10000 * sin(2 * M_PI * hz * (double)i / rate));
}

/* A G.722-only offer from a phone at port: answered with G.722 on payload
 * type 9 at the 8000 clock, connected; the gateway's port. */
static int g722_leg(uint64_t id, uint64_t call, uint32_t leg, int port, const char *fmt,
		    const char *attrs, const char *want)
{
	const struct sb_event *ev;
	char *offer = sdp_of(port, fmt, attrs);
	int gw;

	cr_assert_eq(sb_media_engine_ops.create(media, id, call, leg, SB_MEDIA_RTP, offer, NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, id, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(strstr(ev->text, want), "answer: %s", ev->text);
	gw = port_of(ev->text);
	g_free(offer);
	return gw;
}

Test(g722, a_g722_only_offer_is_answered_with_g722)
{
	int pa, a = udp_peer(&pa);
	const struct sb_event *ev;

	g722_leg(1, 1, 1, pa, "9 101",
		 "a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n", "m=audio");
	ev = wait_event(SB_EV_MEDIA_READY, 1, 10);
	cr_assert_not_null(strstr(ev->text, " RTP/AVP 9 101\r\n"), "%s", ev->text);
	cr_assert_not_null(strstr(ev->text, "a=rtpmap:9 G722/8000\r\n"), "%s", ev->text);
	cr_assert_not_null(strstr(ev->text, "a=rtpmap:101 telephone-event/8000\r\n"), "%s",
			   ev->text);
	ev = wait_event(SB_EV_MEDIA_CONNECTED, 1, 2000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(ev->str, "G722");
	sb_media_engine_ops.destroy(media, 1);
	close(a);
}

/* The far side's codec: PCMU or Opus, its encoder and decoder. */
struct far {
	enum sb_xcode_codec codec;
	OpusEncoder *enc;
	OpusDecoder *dec;
	int pt, rate, step;
};

/* Far's 20 ms packet i of its FAR_HZ tone into out: its length. */
static int far_frame(struct far *f, int i, uint8_t *out)
{
	int16_t pcm[960];

	for (int k = 0; k < f->step; k++)
		pcm[k] = tone(FAR_HZ, f->rate, (size_t)(i * f->step + k));
	if (f->codec == SB_XC_OPUS)
		return opus_encode(f->enc, pcm, 960, out, 400);
	for (int k = 0; k < 160; k++)
		out[k] = sb_g711_ulaw_encode(pcm[k]);
	return 160;
}

/* What far received (payload p of len bytes) decoded into heard. */
static size_t far_hear(struct far *f, const uint8_t *p, size_t len, int16_t *heard, size_t room)
{
	int n = 0;

	if (f->codec == SB_XC_OPUS)
		n = room >= 5760 ? opus_decode(f->dec, p, (opus_int32)len, heard, 5760, 0) : 0;
	else
		for (size_t k = 0; k < len && k < room; k++)
			heard[n++] = sb_g711_ulaw_decode(p[k]);
	return n > 0 ? (size_t)n : 0;
}

/* A phone offering only G.722 (leg 1) bridged to far (leg 2): each side
 * sends 1 s of its tone and hears the other's. */
static void bridge_and_listen(struct far *f, const char *far_fmt, const char *far_attrs)
{
	int pa, pb, a = udp_peer(&pa), b = udp_peer(&pb), gw_a, gw_b, n;
	g722_encode_state_t *enc = g722_encode_init(NULL, 64000, 0);
	g722_decode_state_t *dec = g722_decode_init(NULL, 64000, 0);
	static int16_t heard_a[PACKETS * 320 + 640], heard_b[PACKETS * 960 + 5760];
	size_t na = 0, nb = 0;
	uint32_t last_ts = 0;
	int packets_a = 0, packets_b = 0;
	uint8_t buf[1500];
	struct sb_rtp_hdr h;

	cr_assert(enc && dec);
	gw_a = g722_leg(11, 21, 1, pa, "9", g722_only, "a=rtpmap:9 G722/8000");
	gw_b = g722_leg(12, 21, 2, pb, far_fmt, far_attrs, "m=audio");
	cr_assert_eq(sb_media_engine_ops.bridge(media, 11, 12), 0);
	g_usleep(100 * 1000);
	for (int i = 0; i < PACKETS; i++) {
		int16_t pcm[320];
		uint8_t g[160], fb[400];

		for (int k = 0; k < 320; k++)
			pcm[k] = tone(G722_HZ, 16000, (size_t)(i * 320 + k));
		g722_encode(enc, g, pcm, 320);
		/* RFC 3551 section 4.5.2: 160 clock units a 20 ms packet. */
		send_pkt(a, gw_a, 9, (uint16_t)i, 160u * (unsigned)i, 0xA0A0A0A0u, g, sizeof(g));
		n = far_frame(f, i, fb);
		cr_assert_gt(n, 0);
		send_pkt(b, gw_b, (uint8_t)f->pt, (uint16_t)i, (uint32_t)(f->step * i), 0xB0B0B0B0u,
			 fb, (size_t)n);
		while ((n = (int)recv_rtp(b, buf, sizeof(buf), 15)) > 0) {
			cr_assert_eq(sb_rtp_parse(buf, (size_t)n, &h), 0);
			cr_assert_eq(h.pt, f->pt, "the far side gets %d", h.pt);
			packets_b++;
			nb += far_hear(f, buf + h.hdr_len, h.payload_len, heard_b + nb,
				       sizeof(heard_b) / sizeof(heard_b[0]) - nb);
		}
		while ((n = (int)recv_rtp(a, buf, sizeof(buf), 15)) > 0) {
			cr_assert_eq(sb_rtp_parse(buf, (size_t)n, &h), 0);
			cr_assert_eq(h.pt, 9, "the G.722 phone gets %d", h.pt);
			cr_assert_leq(h.payload_len, 161);
			if (packets_a++ && h.payload_len == 160)
				cr_expect_eq(h.ts - last_ts, 160, "ts step %u", h.ts - last_ts);
			last_ts = h.ts;
			if (na + 2 * h.payload_len <= sizeof(heard_a) / sizeof(heard_a[0]))
				na += (size_t)g722_decode(dec, heard_a + na, buf + h.hdr_len,
							  (int)h.payload_len);
		}
	}
	cr_assert_gt(packets_a, 40, "the G.722 phone got %d packets", packets_a);
	cr_assert_gt(packets_b, 40, "the far side got %d packets", packets_b);
	/* the second half, past codec and resampler start-up */
	cr_assert_eq(sbt_peak_hz(heard_b + nb / 2, nb / 2, f->rate), G722_HZ, "far hears %d Hz",
		     sbt_peak_hz(heard_b + nb / 2, nb / 2, f->rate));
	cr_assert_eq(sbt_peak_hz(heard_a + na / 2, na / 2, 16000), FAR_HZ, "G.722 hears %d Hz",
		     sbt_peak_hz(heard_a + na / 2, na / 2, 16000));
	sb_media_engine_ops.destroy(media, 11);
	sb_media_engine_ops.destroy(media, 12);
	g722_encode_free(enc);
	g722_decode_free(dec);
	close(a);
	close(b);
}

Test(g722, transcodes_between_g722_and_pcmu)
{
	struct far f = {.codec = SB_XC_PCMU, .pt = 0, .rate = 8000, .step = 160};

	bridge_and_listen(&f, "0", "a=rtpmap:0 PCMU/8000\r\n");
}

Test(g722, transcodes_between_g722_and_opus)
{
	int err = 0;
	struct far f = {.codec = SB_XC_OPUS,
			.enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err),
			.dec = opus_decoder_create(48000, 1, &err),
			.pt = 111,
			.rate = 48000,
			.step = 960};

	cr_assert(f.enc && f.dec);
	bridge_and_listen(&f, "111", "a=rtpmap:111 opus/48000/2\r\n");
	opus_encoder_destroy(f.enc);
	opus_decoder_destroy(f.dec);
}

/* Two G.722 phones (the second on a dynamic payload type): the relay
 * passes the payload unchanged, with the payload type each one named. */
Test(g722, relays_g722_between_two_g722_legs)
{
	int pa, pb, a = udp_peer(&pa), b = udp_peer(&pb), gw_a, gw_b;
	uint8_t payload[160], buf[1500];
	struct sb_rtp_hdr h;
	size_t n;

	gw_a = g722_leg(31, 41, 1, pa, "9", g722_only, "a=rtpmap:9 G722/8000");
	gw_b = g722_leg(32, 41, 2, pb, "96", "a=rtpmap:96 G722/8000\r\n", "a=rtpmap:96 G722/8000");
	cr_assert_eq(sb_media_engine_ops.bridge(media, 31, 32), 0);
	g_usleep(100 * 1000);
	for (int i = 0; i < 5; i++) {
		for (size_t k = 0; k < sizeof(payload); k++)
			payload[k] = (uint8_t)(k * 7 + (size_t)i);
		send_pkt(a, gw_a, 9, (uint16_t)i, 160u * (unsigned)i, 0xA1A1A1A1u, payload,
			 sizeof(payload));
		n = recv_rtp(b, buf, sizeof(buf), 2000);
		cr_assert_eq(n, 12 + sizeof(payload), "A to B: %zu bytes", n);
		cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
		cr_assert_eq(h.pt, 96);
		cr_assert_eq(memcmp(buf + 12, payload, sizeof(payload)), 0, "A to B changed");
		send_pkt(b, gw_b, 96, (uint16_t)i, 160u * (unsigned)i, 0xB1B1B1B1u, payload,
			 sizeof(payload));
		n = recv_rtp(a, buf, sizeof(buf), 2000);
		cr_assert_eq(n, 12 + sizeof(payload), "B to A: %zu bytes", n);
		cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
		cr_assert_eq(h.pt, 9);
		cr_assert_eq(memcmp(buf + 12, payload, sizeof(payload)), 0, "B to A changed");
	}
	sb_media_engine_ops.destroy(media, 31);
	sb_media_engine_ops.destroy(media, 32);
	close(a);
	close(b);
}

/* An outgoing leg toward a trunk whose codecs name G.722, the other leg on
 * PCMU: our offer carries G722/8000 on payload type 9. */
Test(g722, a_trunk_naming_g722_gets_it_offered)
{
	int pa, a = udp_peer(&pa);
	char *const codecs[] = {"G722", "PCMU", NULL};
	struct sb_engine_media_opts o = {.codecs = codecs, .srtp = SB_ENGINE_SRTP_OFF};
	const struct sb_event *ev;

	g722_leg(51, 61, 1, pa, "0", "a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:0 PCMU/8000");
	cr_assert_eq(sb_media_engine_ops.create(media, 52, 61, 2, SB_MEDIA_RTP, NULL, &o), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 52, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(strstr(ev->text, " RTP/AVP 9 0 101\r\n"), "offer: %s", ev->text);
	cr_assert_not_null(strstr(ev->text, "a=rtpmap:9 G722/8000\r\n"), "offer: %s", ev->text);
	sb_media_engine_ops.destroy(media, 51);
	sb_media_engine_ops.destroy(media, 52);
	close(a);
}
