/* The media component's RTP legs end to end on loopback: two UDP "SIP
 * phones" in the test, the real workers in between. Checks by content:
 * payload bytes arrive intact, SSRC rewritten to the gateway's, payload type
 * mapped, sequence continuous, symmetric latching, echo, media.stats loss,
 * and SDES-SRTP with the phone's side done by libsrtp2 in the test. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glib.h>
#include <math.h>
#include <opus/opus.h>
#include <netinet/in.h>
#include <poll.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "legs.h"
#include "media/transcode.h"
#include "../../support/tone.h"

TestSuite(rtp_legs, .init = legs_setup, .fini = legs_teardown, .timeout = 30);

Test(rtp_legs, relay_between_two_sip_legs)
{
	int pa, pb, pc, gw1, gw2;
	int a = udp_peer(&pa), b = udp_peer(&pb), c = udp_peer(&pc);
	const struct sb_event *ev;
	char *offer_a, *answer_b, *offer_gw;
	uint8_t buf[512];
	size_t n;
	uint32_t ssrc_gw2 = 0;
	uint16_t seq0 = 0;

	/* A's offer names a port where nobody listens: symmetric RTP must
	 * answer where A's packets come from instead. */
	offer_a = sdp_of(pa == 65535 ? 1 : pa + 1, "0 101",
			 "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n");
	cr_assert_eq(sb_media_engine_ops.create(media, 1, 7, 1, SB_MEDIA_RTP, offer_a, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 1, 3000);
	cr_assert_not_null(ev, "no media.ready for the answering leg");
	cr_assert_not_null(strstr(ev->text, "RTP/AVP 0 101"), "answer: %s", ev->text);
	gw1 = port_of(ev->text);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, 1, 1000));

	/* The outgoing leg offers the codec the first leg uses first (then the
	 * other G.711 law, which it would transcode to). */
	cr_assert_eq(sb_media_engine_ops.create(media, 2, 7, 2, SB_MEDIA_RTP, NULL, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 2, 3000);
	cr_assert_not_null(ev);
	offer_gw = ev->text;
	cr_assert_not_null(strstr(offer_gw, "RTP/AVP 0 8 101\r\n"), "offer: %s", offer_gw);
	cr_assert_not_null(strstr(offer_gw, "a=rtpmap:101 telephone-event/8000"), "%s", offer_gw);
	gw2 = port_of(offer_gw);
	cr_assert_neq(gw1, gw2);
	sscanf(strstr(offer_gw, "a=ssrc:"), "a=ssrc:%u", &ssrc_gw2);
	answer_b =
		sdp_of(pb, "0 96", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n");
	cr_assert_eq(sb_media_engine_ops.update(media, 2, answer_b), 0);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, 2, 2000));
	cr_assert_eq(sb_media_engine_ops.bridge(media, 1, 2), 0);
	g_usleep(100 * 1000);

	/* A -> B: payload intact, the gateway's SSRC, continuous sequence. */
	for (int i = 0; i < 5; i++) {
		char payload[16];
		struct sb_rtp_hdr h;

		snprintf(payload, sizeof(payload), "hello-%d", i);
		send_rtp(a, gw1, 0, (uint16_t)(1000 + i), 160u * (unsigned)i, 0xAAAA, payload);
		n = recv_rtp(b, buf, sizeof(buf), 2000);
		cr_assert_gt(n, 0, "packet %d not relayed to B", i);
		cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
		cr_assert_eq(h.payload_len, strlen(payload));
		cr_assert_eq(memcmp(buf + h.hdr_len, payload, h.payload_len), 0);
		cr_assert_eq(h.pt, 0);
		cr_assert_neq(h.ssrc, 0xAAAAu);
		cr_assert_eq(h.ssrc, ssrc_gw2, "SSRC %x is not the one the offer announced",
			     h.ssrc);
		if (i == 0)
			seq0 = h.seq;
		cr_assert_eq(h.seq, (uint16_t)(seq0 + i));
	}

	/* B -> A: telephone-event mapped 96 -> 101, to where A sent from. */
	send_rtp(b, gw2, 96, 5, 0, 0xBBBB, "dtmf");
	n = recv_rtp(a, buf, sizeof(buf), 2000);
	cr_assert_gt(n, 0, "not relayed to A's latched address");
	cr_assert_eq(buf[1] & 0x7f, 101);
	cr_assert_eq(memcmp(buf + 12, "dtmf", 4), 0);
	cr_assert_neq(be32(buf + 8), 0xBBBBu);

	/* A payload type nobody negotiated does not pass. */
	send_rtp(b, gw2, 13, 6, 160, 0xBBBB, "cn");
	cr_assert_eq(recv_rtp(a, buf, sizeof(buf), 300), 0);

	/* Once latched, another source is ignored. */
	send_rtp(c, gw2, 0, 7, 320, 0xCCCC, "intruder");
	cr_assert_eq(recv_rtp(a, buf, sizeof(buf), 300), 0);

	/* A's leg ends first: what B still sends goes nowhere (the relay
	 * holds a pointer to its partner, cleared when the partner goes; ASan
	 * builds catch a use after free), and B's leg still echoes nothing
	 * back nor dies. */
	sb_media_engine_ops.destroy(media, 1);
	g_usleep(100 * 1000);
	send_rtp(b, gw2, 0, 8, 480, 0xBBBB, "after-a");
	cr_assert_eq(recv_rtp(a, buf, sizeof(buf), 300), 0, "relayed to an ended leg");
	cr_assert_eq(recv_rtp(b, buf, sizeof(buf), 100), 0);
	sb_media_engine_ops.destroy(media, 2);
	g_free(offer_a);
	g_free(answer_b);
	close(a);
	close(b);
	close(c);
}

Test(rtp_legs, echo_returns_the_audio_and_reports_loss)
{
	int pa, gw;
	int a = udp_peer(&pa);
	const struct sb_event *ev;
	char *offer = sdp_of(pa, "8", "a=rtpmap:8 PCMA/8000\r\n");
	uint8_t buf[512];
	int got = 0;

	cr_assert_eq(sb_media_engine_ops.create(media, 3, 8, 1, SB_MEDIA_RTP_ECHO, offer, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 3, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(strstr(ev->text, "a=rtpmap:8 PCMA/8000"), "%s", ev->text);
	gw = port_of(ev->text);
	ev = wait_event(SB_EV_MEDIA_CONNECTED, 3, 1000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(ev->str, "PCMA");
	/* 30 packets, 3 of them never sent (lost on the way) */
	for (int i = 0; i < 30; i++) {
		char payload[16];

		if (i == 4 || i == 11 || i == 20)
			continue;
		snprintf(payload, sizeof(payload), "echo-%02d", i);
		send_rtp(a, gw, 8, (uint16_t)(65530 + i), 160u * (unsigned)i, 0x1234, payload);
		if (recv_rtp(a, buf, sizeof(buf), 1000) > 12 && memcmp(buf + 12, payload, 7) == 0 &&
		    be32(buf + 8) != 0x1234u)
			got++;
	}
	cr_assert_eq(got, 27, "echoed %d of 27", got);
	ev = wait_event(SB_EV_MEDIA_STATS, 3, 9000);
	cr_assert_not_null(ev, "no media.stats");
	cr_assert_eq(ev->arg[1], 3, "lost %lld", (long long)ev->arg[1]);
	cr_assert_geq(ev->arg[2], 0);
	cr_assert_not_null(strstr(ev->text, "\"codec\":\"PCMA\""), "%s", ev->text);
	cr_assert_not_null(strstr(ev->text, "\"packets_in\":27"), "%s", ev->text);
	cr_assert_gt(strtod(ev->str, NULL), 1.0);
	sb_media_engine_ops.destroy(media, 3);
	g_free(offer);
	close(a);
}

Test(rtp_legs, refuses_an_offer_without_a_common_codec)
{
	char *offer = sdp_of(4000, "18", "a=rtpmap:18 G729/8000\r\n");
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, 4, 9, 1, SB_MEDIA_RTP, offer, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_FAILED, 4, 3000);
	cr_assert_not_null(ev);
	cr_assert_null(wait_event(SB_EV_MEDIA_READY, 4, 10));
	sb_media_engine_ops.destroy(media, 4);
	g_free(offer);
}

/* A browser-like leg on Opus bridged to a SIP-like leg that only has PCMU:
 * the relay transcodes both ways; each side decodes what it receives and
 * finds the other side's tone. */
Test(rtp_legs, transcodes_between_opus_and_pcmu)
{
	int pa, pb, gw1, gw2, err;
	int a = udp_peer(&pa), b = udp_peer(&pb);
	const struct sb_event *ev;
	char *offer_a, *answer_b;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	OpusDecoder *dec = opus_decoder_create(48000, 1, &err);
	static int16_t heard_b[8000], heard_a[48000];
	size_t nb = 0, na = 0;
	uint8_t buf[1500];
	int packets_b = 0, packets_a = 0;

	offer_a = sdp_of(pa, "111", "a=rtpmap:111 opus/48000/2\r\n");
	cr_assert_eq(sb_media_engine_ops.create(media, 11, 21, 1, SB_MEDIA_RTP, offer_a, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 11, 3000);
	cr_assert_not_null(ev);
	gw1 = port_of(ev->text);
	cr_assert_eq(sb_media_engine_ops.create(media, 12, 21, 2, SB_MEDIA_RTP, NULL, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 12, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(strstr(ev->text, "RTP/AVP 111 0 8 101"), "offer: %s", ev->text);
	gw2 = port_of(ev->text);
	answer_b = sdp_of(pb, "0", "a=rtpmap:0 PCMU/8000\r\n");
	cr_assert_eq(sb_media_engine_ops.update(media, 12, answer_b), 0);
	ev = wait_event(SB_EV_MEDIA_CONNECTED, 12, 2000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(ev->str, "PCMU");
	cr_assert_eq(sb_media_engine_ops.bridge(media, 11, 12), 0);
	g_usleep(100 * 1000);

	/* 1 s: A sends Opus 660 Hz, B sends PCMU 440 Hz, 20 ms packets. */
	for (int i = 0; i < 50; i++) {
		int16_t pcm48[960];
		uint8_t pkt[400], ulaw[160];
		int n;
		struct sb_rtp_hdr h;

		for (int k = 0; k < 960; k++)
			pcm48[k] = (int16_t)(12000 * sin(2 * M_PI * 660 * (i * 960 + k) / 48000.0));
		n = opus_encode(enc, pcm48, 960, pkt, sizeof(pkt));
		cr_assert_gt(n, 0);
		pkt[n] = 0;
		for (int k = 0; k < 160; k++)
			ulaw[k] = sb_g711_ulaw_encode(
				(int16_t)(12000 * sin(2 * M_PI * 440 * (i * 160 + k) / 8000.0)));
		{
			uint8_t p[1500];
			struct sockaddr_in to = {.sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

			/* Opus payloads are binary: build the packets by hand. */
			p[0] = 0x80;
			p[1] = 111;
			p[2] = 0;
			p[3] = (uint8_t)i;
			for (int k = 0; k < 4; k++) {
				p[4 + k] = (uint8_t)((960u * (unsigned)i) >> (24 - 8 * k));
				p[8 + k] = (uint8_t)(0xA0A0A0A0u >> (24 - 8 * k));
			}
			memcpy(p + 12, pkt, (size_t)n);
			to.sin_port = htons((uint16_t)gw1);
			sendto(a, p, 12 + (size_t)n, 0, (struct sockaddr *)&to, sizeof(to));
			p[1] = 0;
			for (int k = 0; k < 4; k++) {
				p[4 + k] = (uint8_t)((160u * (unsigned)i) >> (24 - 8 * k));
				p[8 + k] = (uint8_t)(0xB0B0B0B0u >> (24 - 8 * k));
			}
			memcpy(p + 12, ulaw, 160);
			to.sin_port = htons((uint16_t)gw2);
			sendto(b, p, 172, 0, (struct sockaddr *)&to, sizeof(to));
		}
		while ((n = (int)recv_rtp(b, buf, sizeof(buf), 15)) > 0) {
			cr_assert_eq(sb_rtp_parse(buf, (size_t)n, &h), 0);
			cr_assert_eq(h.pt, 0, "B gets PCMU, not %d", h.pt);
			packets_b++;
			for (size_t k = 0; k < h.payload_len && nb < 8000; k++)
				heard_b[nb++] = sb_g711_ulaw_decode(buf[h.hdr_len + k]);
		}
		while ((n = (int)recv_rtp(a, buf, sizeof(buf), 15)) > 0) {
			int got;

			cr_assert_eq(sb_rtp_parse(buf, (size_t)n, &h), 0);
			cr_assert_eq(h.pt, 111, "A gets Opus, not %d", h.pt);
			packets_a++;
			got = opus_decode(dec, buf + h.hdr_len, (opus_int32)h.payload_len,
					  heard_a + na, (int)(48000 - na) > 5760 ? 5760 : 0, 0);
			if (got > 0)
				na += (size_t)got;
		}
	}
	cr_assert_gt(packets_b, 40, "B got %d packets", packets_b);
	cr_assert_gt(packets_a, 40, "A got %d packets", packets_a);
	/* the second half, past codec and resampler start-up */
	cr_assert_eq(sbt_peak_hz(heard_b + nb / 2, nb / 2, 8000) / 10, 66, "B hears %d Hz",
		     sbt_peak_hz(heard_b + nb / 2, nb / 2, 8000));
	cr_assert_eq(sbt_peak_hz(heard_a + na / 2, na / 2, 48000) / 10, 44, "A hears %d Hz",
		     sbt_peak_hz(heard_a + na / 2, na / 2, 48000));
	sb_media_engine_ops.destroy(media, 11);
	sb_media_engine_ops.destroy(media, 12);
	opus_encoder_destroy(enc);
	opus_decoder_destroy(dec);
	g_free(offer_a);
	g_free(answer_b);
	close(a);
	close(b);
}

static void pump(int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;

	while (g_get_monotonic_time() < end) {
		g_main_context_iteration(legs_ctx, FALSE);
		g_usleep(2000);
	}
}

/* One RFC 4733 packet: event ev at timestamp 8000, duration dur. */
static void send_event(int fd, int to_port, uint16_t seq, bool marker, uint8_t ev, bool end,
		       uint16_t dur)
{
	uint8_t p[16] = {0x80,
			 (uint8_t)((marker ? 0x80 : 0) | 101),
			 (uint8_t)(seq >> 8),
			 (uint8_t)seq,
			 0,
			 0,
			 0x1f,
			 0x40,
			 0,
			 0,
			 0,
			 0x55,
			 ev,
			 (uint8_t)((end ? 0x80 : 0) | 10),
			 (uint8_t)(dur >> 8),
			 (uint8_t)dur};
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)to_port)};

	cr_assert_eq(sendto(fd, p, 16, 0, (struct sockaddr *)&to, sizeof(to)), 16);
}

static int count_events(enum sb_event_type type, uint64_t id)
{
	int n = 0;

	for (int i = 0; i < legs_n_events; i++)
		if (legs_events[i].type == type && (uint64_t)legs_events[i].arg[0] == id)
			n++;
	return n;
}

/* RFC 4733 both ways on an RTP leg: a digit received (its end sent three
 * times) is one media.dtmf; digits sent through the dtmf op arrive as
 * events with a start marker, a fixed timestamp per event and three ends. */
Test(rtp_legs, dtmf_received_and_sent)
{
	int pa, gw;
	int a = udp_peer(&pa);
	char *offer = sdp_of(pa, "0 101",
			     "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n");
	const struct sb_event *ev;
	uint8_t buf[512];
	char got[8] = "";
	int ends = 0, starts = 0, n_got = 0;
	uint32_t ev_ts = 0;
	uint16_t last_seq = 0;
	bool first = true;
	size_t n;

	cr_assert_eq(sb_media_engine_ops.create(media, 5, 31, 1, SB_MEDIA_RTP, offer, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, 5, 3000);
	cr_assert_not_null(ev);
	gw = port_of(ev->text);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, 5, 1000));
	/* digit 5, 100 ms (800 units): start, update, then the end three times */
	send_event(a, gw, 1, true, 5, false, 320);
	send_event(a, gw, 2, false, 5, false, 640);
	for (int i = 0; i < 3; i++)
		send_event(a, gw, (uint16_t)(3 + i), false, 5, true, 800);
	ev = wait_event(SB_EV_MEDIA_DTMF, 5, 2000);
	cr_assert_not_null(ev, "no media.dtmf");
	cr_assert_str_eq(ev->str, "5");
	cr_assert_eq(ev->arg[1], 100, "duration %lld ms", (long long)ev->arg[1]);
	pump(200);
	cr_assert_eq(count_events(SB_EV_MEDIA_DTMF, 5), 1, "the repeated end counted once");

	/* sending: the leg has latched onto A */
	cr_assert_eq(sb_media_engine_ops.dtmf(media, 5, "1#", 100), 0);
	while ((n = recv_rtp(a, buf, sizeof(buf), 1000)) > 0 && n_got < 2) {
		struct sb_rtp_hdr h;

		cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
		cr_assert_eq(h.pt, 101);
		cr_assert_eq(h.payload_len, 4);
		if (!first)
			cr_assert_eq(h.seq, (uint16_t)(last_seq + 1), "sequence continuous");
		if (h.marker) {
			starts++;
			ev_ts = h.ts;
		}
		cr_assert_eq(h.ts, ev_ts, "one timestamp per event");
		first = false;
		last_seq = h.seq;
		if (buf[h.hdr_len + 1] & 0x80) {
			if (++ends % 3 == 0)
				got[n_got++] = "0123456789*#"[buf[h.hdr_len]];
		}
	}
	cr_assert_str_eq(got, "1#");
	cr_assert_eq(starts, 2);
	cr_assert_eq(ends, 6);
	sb_media_engine_ops.destroy(media, 5);
	g_free(offer);
	close(a);
}

/* ---- SDES-SRTP (RFC 4568): the test is the SIP phone, with libsrtp2 ---- */

struct sdes_suite {
	const char *name;
	int key_len; /* key || salt */
	void (*rtp)(srtp_crypto_policy_t *p);
	void (*rtcp)(srtp_crypto_policy_t *p);
};

static const struct sdes_suite sdes_suites[] = {
	{"AES_CM_128_HMAC_SHA1_80", 30, srtp_crypto_policy_set_rtp_default,
	 srtp_crypto_policy_set_rtcp_default},
	{"AES_CM_128_HMAC_SHA1_32", 30, srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32,
	 srtp_crypto_policy_set_rtcp_default},
	{"AEAD_AES_128_GCM", 28, srtp_crypto_policy_set_aes_gcm_128_16_auth,
	 srtp_crypto_policy_set_aes_gcm_128_16_auth},
};

/* The phone's two directions: out with its own key, in with the gateway's. */
struct phone {
	int fd, port, gw;
	srtp_t out, in;
	uint8_t key[30];
};

static srtp_t srtp_ctx(const struct sdes_suite *su, uint8_t *key, bool inbound)
{
	srtp_policy_t p;
	srtp_t sc = NULL;

	memset(&p, 0, sizeof(p));
	su->rtp(&p.rtp);
	su->rtcp(&p.rtcp);
	p.window_size = 1024;
	p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	p.key = key;
	cr_assert_eq(srtp_create(&sc, &p), srtp_err_status_ok);
	return sc;
}

/* An RTP/SAVP offer from the phone: a line of a suite the gateway does not
 * know first (tag 1), then su with the phone's key (tag 2). */
static char *savp_offer(struct phone *ph, const struct sdes_suite *su)
{
	uint8_t junk[30];
	gchar *k, *j;
	char *sdp;

	for (int i = 0; i < su->key_len; i++)
		ph->key[i] = (uint8_t)g_random_int();
	for (int i = 0; i < 30; i++)
		junk[i] = (uint8_t)i;
	k = g_base64_encode(ph->key, (gsize)su->key_len);
	j = g_base64_encode(junk, 30);
	sdp = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
			      "t=0 0\r\nm=audio %d RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
			      "a=rtcp-mux\r\na=crypto:1 F8_128_HMAC_SHA1_80 inline:%s\r\n"
			      "a=crypto:2 %s inline:%s|2^31\r\n",
			      ph->port, j, su->name, k);
	g_free(k);
	g_free(j);
	return sdp;
}

/* Creates echo leg id from an SDES offer of su; reads the gateway's key
 * from the answer and makes the phone's contexts. */
static void sdes_leg(struct phone *ph, uint64_t id, const struct sdes_suite *su)
{
	const struct sb_event *ev;
	char *offer, want[80], b64[80] = "";
	const char *line;
	guchar *gk;
	gsize gl = 0;

	ph->fd = udp_peer(&ph->port);
	offer = savp_offer(ph, su);
	cr_assert_eq(sb_media_engine_ops.create(media, id, 50, 1, SB_MEDIA_RTP_ECHO, offer, NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, id, 3000);
	cr_assert_not_null(ev, "no answer to the %s offer", su->name);
	cr_assert_not_null(strstr(ev->text, "RTP/SAVP 0"), "answer: %s", ev->text);
	snprintf(want, sizeof(want), "a=crypto:2 %s inline:", su->name);
	line = strstr(ev->text, want);
	cr_assert_not_null(line, "no crypto line of tag 2 in %s", ev->text);
	cr_assert_null(strstr(line + 1, "a=crypto:"), "one crypto line: %s", ev->text);
	sscanf(line + strlen(want), "%79[A-Za-z0-9+/=]", b64);
	gk = g_base64_decode(b64, &gl);
	cr_assert_eq(gl, (gsize)su->key_len, "the gateway's key is %zu bytes", (size_t)gl);
	cr_assert_neq(memcmp(gk, ph->key, gl), 0, "the gateway sends with its own key");
	ph->gw = port_of(ev->text);
	ph->out = srtp_ctx(su, ph->key, false);
	ph->in = srtp_ctx(su, gk, true);
	g_free(gk);
	g_free(offer);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, id, 1000));
}

static void phone_free(struct phone *ph)
{
	srtp_dealloc(ph->out);
	srtp_dealloc(ph->in);
	close(ph->fd);
}

/* Builds and protects an RTP packet; sends it unless tamper < -1 (copy
 * only). tamper >= 0 flips that byte after protection. The wire bytes go
 * to wire (SB_MEDIA_MAX_PKT) when not NULL. */
static int send_srtp(struct phone *ph, uint16_t seq, const char *payload, int tamper, uint8_t *wire)
{
	uint8_t p[256];
	int n = 12 + (int)strlen(payload);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)ph->gw)};

	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)((160u * seq) >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(0x5D355D35u >> (24 - 8 * i));
	}
	memcpy(p + 12, payload, strlen(payload));
	cr_assert_eq(srtp_protect(ph->out, p, &n), srtp_err_status_ok);
	cr_assert_null(memmem(p, (size_t)n, payload, strlen(payload)), "payload sent in clear");
	if (tamper >= 0)
		p[tamper] ^= 0x01;
	if (wire)
		memcpy(wire, p, (size_t)n);
	cr_assert_eq(sendto(ph->fd, p, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)), n);
	return n;
}

/* Receives one SRTP packet within ms and unprotects it with the gateway's
 * key; returns the clear length (0: nothing came). */
static size_t recv_srtp(struct phone *ph, uint8_t *buf, size_t cap, int ms)
{
	size_t n = recv_rtp(ph->fd, buf, cap, ms);
	int len = (int)n;

	if (n == 0)
		return 0;
	cr_assert_eq(srtp_unprotect(ph->in, buf, &len), srtp_err_status_ok,
		     "the gateway's packet does not authenticate with its key");
	return (size_t)len;
}

/* Each suite: the phone's SRTP comes back, protected with the gateway's
 * key, carrying the same payload. */
Test(rtp_legs, sdes_echo_for_each_suite)
{
	for (size_t s = 0; s < sizeof(sdes_suites) / sizeof(sdes_suites[0]); s++) {
		const struct sdes_suite *su = &sdes_suites[s];
		struct phone ph;
		uint8_t buf[512];

		sdes_leg(&ph, 40 + s, su);
		for (int i = 0; i < 5; i++) {
			char payload[48];
			struct sb_rtp_hdr h;
			size_t n;

			snprintf(payload, sizeof(payload), "%s-%d", su->name, i);
			send_srtp(&ph, (uint16_t)(100 + i), payload, -1, NULL);
			n = recv_srtp(&ph, buf, sizeof(buf), 2000);
			cr_assert_gt(n, 0, "%s: packet %d not echoed", su->name, i);
			cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
			cr_assert_eq(h.payload_len, strlen(payload));
			cr_assert_eq(memcmp(buf + h.hdr_len, payload, h.payload_len), 0);
			cr_assert_neq(h.ssrc, 0x5D355D35u, "the gateway's own SSRC");
		}
		sb_media_engine_ops.destroy(media, 40 + s);
		phone_free(&ph);
	}
}

/* Tampered, replayed and clear packets are dropped and counted; RTCP goes
 * both ways as SRTCP. */
Test(rtp_legs, sdes_drops_tampered_and_replayed, .timeout = 40)
{
	struct phone ph;
	struct sb_media_counters c0, c1;
	uint8_t buf[512], wire[1500];
	uint8_t sr[28 + SRTP_MAX_TRAILER_LEN] = {0x80, 200, 0, 6, 0x5D, 0x35, 0x5D, 0x35};
	int wn, srn = 28;
	size_t n;
	bool rr = false;
	gint64 end;

	sdes_leg(&ph, 45, &sdes_suites[0]);
	wn = send_srtp(&ph, 1, "first", -1, wire);
	cr_assert_gt(recv_srtp(&ph, buf, sizeof(buf), 2000), 0);
	sb_media_counters(media, &c0);

	/* a flipped payload bit: authentication fails */
	send_srtp(&ph, 2, "tampered", 14, NULL);
	cr_assert_eq(recv_rtp(ph.fd, buf, sizeof(buf), 300), 0, "a tampered packet was echoed");
	/* the first packet again: a replay */
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					.sin_port = htons((uint16_t)ph.gw)};
		cr_assert_eq(sendto(ph.fd, wire, (size_t)wn, 0, (struct sockaddr *)&a, sizeof(a)),
			     wn);
	}
	cr_assert_eq(recv_rtp(ph.fd, buf, sizeof(buf), 300), 0, "a replayed packet was echoed");
	/* clear RTP on an SRTP leg */
	send_rtp(ph.fd, ph.gw, 0, 3, 480, 0x5D355D35u, "clear");
	cr_assert_eq(recv_rtp(ph.fd, buf, sizeof(buf), 300), 0, "clear RTP was echoed");
	sb_media_counters(media, &c1);
	cr_assert_eq(c1.dropped_auth - c0.dropped_auth, 2, "dropped_auth +%llu",
		     c1.dropped_auth - c0.dropped_auth);
	cr_assert_eq(c1.dropped_replay - c0.dropped_replay, 1, "dropped_replay +%llu",
		     c1.dropped_replay - c0.dropped_replay);

	/* still working after all that */
	send_srtp(&ph, 4, "after", -1, NULL);
	n = recv_srtp(&ph, buf, sizeof(buf), 2000);
	cr_assert_gt(n, 0);
	cr_assert_eq(memcmp(buf + 12, "after", 5), 0);

	/* SRTCP in: a sender report (rtcp-mux) is taken */
	cr_assert_eq(srtp_protect_rtcp(ph.out, sr, &srn), srtp_err_status_ok);
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					.sin_port = htons((uint16_t)ph.gw)};
		cr_assert_eq(sendto(ph.fd, sr, (size_t)srn, 0, (struct sockaddr *)&a, sizeof(a)),
			     srn);
	}
	/* SRTCP out: the gateway's report within its 2.5-7.5 s period, a sender
	 * report since the leg has echoed packets (with their count) */
	end = g_get_monotonic_time() + 9000 * 1000;
	while (!rr && g_get_monotonic_time() < end) {
		struct pollfd p = {.fd = ph.fd, .events = POLLIN};
		ssize_t got;
		int len;

		if (poll(&p, 1, 200) <= 0)
			continue;
		got = recv(ph.fd, buf, sizeof(buf), 0);
		if (got <= 0 || !sb_rtp_is_rtcp(buf, (size_t)got))
			continue;
		len = (int)got;
		cr_assert_eq(srtp_unprotect_rtcp(ph.in, buf, &len), srtp_err_status_ok,
			     "the gateway's RTCP does not authenticate");
		{
			struct sb_rtcp_info info;

			cr_assert_eq(sb_rtcp_parse(buf, (size_t)len, &info), 0);
			cr_assert(info.has_sr, "a sender report (the leg has sent media)");
			cr_assert_gt(info.packets, 0);
			cr_assert_eq(info.n_blocks, 1, "with a report block on what it received");
		}
		rr = true;
	}
	cr_assert(rr, "no SRTCP report from the gateway");
	sb_media_counters(media, &c1);
	cr_assert_geq(c1.rtcp_in - c0.rtcp_in, 1, "the SRTCP sender report was not taken");
	sb_media_engine_ops.destroy(media, 45);
	phone_free(&ph);
}

/* RTP/SAVP the gateway cannot key is refused, not answered in clear. */
Test(rtp_legs, sdes_refuses_savp_without_usable_crypto)
{
	static const char *const attrs[] = {
		"",
		"a=crypto:1 F8_128_HMAC_SHA1_80 "
		"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
		"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^20|1:4\r\n",
	};

	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		uint64_t id = 60 + i;
		char *offer = g_strdup_printf(
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
			"t=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n%s",
			attrs[i]);

		cr_assert_eq(
			sb_media_engine_ops.create(media, id, 60, 1, SB_MEDIA_RTP, offer, NULL), 0);
		cr_assert_not_null(wait_event(SB_EV_MEDIA_FAILED, id, 3000), "offer %zu taken", i);
		cr_assert_null(wait_event(SB_EV_MEDIA_READY, id, 10), "offer %zu answered", i);
		sb_media_engine_ops.destroy(media, id);
		g_free(offer);
	}
}

/* ---- our own SDES offer toward a trunk (RFC 4568), answered by the phone ---- */

/* The key of the gateway's line "a=crypto:<tag> <suite> inline:..." in its
 * offer, decoded into key; the line must be there with a key of the suite's
 * length. */
static void gateway_key(const char *offer, unsigned tag, const struct sdes_suite *su, uint8_t *key)
{
	char want[80], b64[80] = "";
	const char *line;
	guchar *k;
	gsize kl = 0;

	snprintf(want, sizeof(want), "a=crypto:%u %s inline:", tag, su->name);
	line = strstr(offer, want);
	cr_assert_not_null(line, "no line '%s' in the offer %s", want, offer);
	sscanf(line + strlen(want), "%79[A-Za-z0-9+/=]", b64);
	k = g_base64_decode(b64, &kl);
	cr_assert_eq(kl, (gsize)su->key_len, "%s key of %zu bytes", su->name, (size_t)kl);
	memcpy(key, k, kl);
	g_free(k);
}

/* The phone's answer to the gateway's offer: PCMU on its own port, with
 * (su not NULL) the gateway's line of tag and a key of the phone's, whose
 * contexts it makes (in: the gateway's key from the offer). */
static char *phone_answer(struct phone *ph, const char *offer, const char *proto,
			  const struct sdes_suite *su, unsigned tag)
{
	uint8_t gk[30];
	gchar *k;
	char *sdp;

	ph->fd = udp_peer(&ph->port);
	ph->gw = port_of(offer);
	ph->in = ph->out = NULL;
	if (!su)
		return g_strdup_printf("v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\n"
				       "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d %s 0\r\n"
				       "a=rtpmap:0 PCMU/8000\r\n",
				       ph->port, proto);
	gateway_key(offer, tag, su, gk);
	for (int i = 0; i < su->key_len; i++)
		ph->key[i] = (uint8_t)g_random_int();
	ph->out = srtp_ctx(su, ph->key, false);
	ph->in = srtp_ctx(su, gk, true);
	k = g_base64_encode(ph->key, (gsize)su->key_len);
	sdp = g_strdup_printf("v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
			      "t=0 0\r\nm=audio %d %s 0\r\na=rtpmap:0 PCMU/8000\r\n"
			      "a=crypto:%u %s inline:%s\r\n",
			      ph->port, proto, tag, su->name, k);
	g_free(k);
	return sdp;
}

static void phone_close(struct phone *ph)
{
	if (ph->out)
		srtp_dealloc(ph->out);
	if (ph->in)
		srtp_dealloc(ph->in);
	close(ph->fd);
}

/* Leg a of call: the gateway answering a plain PCMU phone at port. Returns
 * the gateway's port for it. */
static int plain_leg(uint64_t a, uint64_t call, int port)
{
	char *offer = sdp_of(port, "0", "a=rtpmap:0 PCMU/8000\r\n");
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, a, call, 1, SB_MEDIA_RTP, offer, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, a, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, a, 1000));
	g_free(offer);
	return port_of(ev->text);
}

/* Leg b of call offering toward a trunk with opts; its offer's text. */
static const char *trunk_offer(uint64_t b, uint64_t call, char *const *codecs,
			       enum sb_engine_srtp srtp)
{
	struct sb_engine_media_opts o = {.codecs = codecs, .srtp = srtp};
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, b, call, 2, SB_MEDIA_RTP, NULL, &o), 0);
	ev = wait_event(SB_EV_MEDIA_READY, b, 3000);
	cr_assert_not_null(ev, "no offer from session %llu", (unsigned long long)b);
	return ev->text;
}

/* Audio both ways between the plain phone (fd a, gateway port gw_a) and
 * the trunk's phone, checked by content; with SRTP when ph->in is set.
 * round numbers the calls on one leg: each sends new sequence numbers (SRTP
 * refuses to protect or take an index twice). */
static void audio_both_ways(int a, int gw_a, struct phone *ph, const char *what, int round)
{
	uint8_t buf[512];

	for (int i = 0; i < 5; i++) {
		char payload[48];
		struct sb_rtp_hdr h;
		size_t n;

		snprintf(payload, sizeof(payload), "to-trunk-%s-%d", what, i);
		send_rtp(a, gw_a, 0, (uint16_t)(300 + 5 * round + i),
			 160u * (unsigned)(5 * round + i), 0xAAAA, payload);
		n = ph->in ? recv_srtp(ph, buf, sizeof(buf), 2000)
			   : recv_rtp(ph->fd, buf, sizeof(buf), 2000);
		cr_assert_gt(n, 0, "%s: packet %d did not reach the trunk", what, i);
		cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
		cr_assert_eq(h.pt, 0);
		cr_assert_eq(h.payload_len, strlen(payload), "%s", what);
		cr_assert_eq(memcmp(buf + h.hdr_len, payload, h.payload_len), 0, "%s", what);

		snprintf(payload, sizeof(payload), "from-trunk-%s-%d", what, i);
		if (ph->out)
			send_srtp(ph, (uint16_t)(700 + 5 * round + i), payload, -1, NULL);
		else
			send_rtp(ph->fd, ph->gw, 0, (uint16_t)(700 + 5 * round + i),
				 160u * (unsigned)(5 * round + i), 0x5D355D35u, payload);
		n = recv_rtp(a, buf, sizeof(buf), 2000);
		cr_assert_gt(n, 0, "%s: packet %d from the trunk did not arrive", what, i);
		cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
		cr_assert_eq(h.payload_len, strlen(payload), "%s", what);
		cr_assert_eq(memcmp(buf + h.hdr_len, payload, h.payload_len), 0, "%s", what);
	}
}

/* srtp = sdes: the gateway offers RTP/SAVP with a line per suite (each with
 * a key of its own); the phone answers each suite in turn, and audio is
 * checked by content both ways across the bridge to a plain phone. */
Test(rtp_legs, sdes_offer_answered_by_the_phone_for_each_suite, .timeout = 40)
{
	static char *const pcmu[] = {"PCMU", NULL};

	for (unsigned s = 0; s < sizeof(sdes_suites) / sizeof(sdes_suites[0]); s++) {
		const struct sdes_suite *su = &sdes_suites[s];
		uint64_t a = 70 + 2 * s, b = 71 + 2 * s, call = 70 + s;
		int pa, fa = udp_peer(&pa), gw_a = plain_leg(a, call, pa);
		const char *offer = trunk_offer(b, call, pcmu, SB_ENGINE_SRTP_SDES);
		struct phone ph;
		char *answer;

		cr_assert_not_null(strstr(offer, "RTP/SAVP 0 101\r\n"), "offer: %s", offer);
		for (unsigned t = 0; t < 3; t++) {
			uint8_t k[30];

			gateway_key(offer, t + 1, &sdes_suites[t], k);
		}
		answer = phone_answer(&ph, offer, "RTP/SAVP", su, s + 1);
		cr_assert_eq(sb_media_engine_ops.update(media, b, answer), 0);
		cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, b, 2000), "%s", su->name);
		cr_assert_eq(sb_media_engine_ops.bridge(media, a, b), 0);
		pump(100);
		audio_both_ways(fa, gw_a, &ph, su->name, 0);
		sb_media_engine_ops.destroy(media, a);
		sb_media_engine_ops.destroy(media, b);
		phone_close(&ph);
		close(fa);
		g_free(answer);
	}
}

/* srtp = sdes_optional: RTP/AVP with the crypto lines; an answer with a
 * line keys the leg, one without leaves it plain. */
Test(rtp_legs, sdes_optional_offer_takes_srtp_or_plain)
{
	for (int keyed = 1; keyed >= 0; keyed--) {
		uint64_t a = 80 + 2 * (uint64_t)keyed, b = 81 + 2 * (uint64_t)keyed;
		int pa, fa = udp_peer(&pa), gw_a = plain_leg(a, 80 + keyed, pa);
		const char *offer = trunk_offer(b, 80 + keyed, NULL, SB_ENGINE_SRTP_SDES_OPTIONAL);
		struct phone ph;
		char *answer;

		cr_assert_not_null(strstr(offer, "RTP/AVP 0 8 101\r\n"), "offer: %s", offer);
		cr_assert_not_null(strstr(offer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
				   "offer: %s", offer);
		answer = phone_answer(&ph, offer, "RTP/AVP", keyed ? &sdes_suites[0] : NULL, 1);
		cr_assert_eq(sb_media_engine_ops.update(media, b, answer), 0);
		cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, b, 2000));
		cr_assert_eq(sb_media_engine_ops.bridge(media, a, b), 0);
		pump(100);
		audio_both_ways(fa, gw_a, &ph, keyed ? "optional-srtp" : "optional-plain", 0);
		sb_media_engine_ops.destroy(media, a);
		sb_media_engine_ops.destroy(media, b);
		phone_close(&ph);
		close(fa);
		g_free(answer);
	}
}

/* srtp = sdes: an answer without a crypto line, or with a line that
 * answers none of ours, fails the session (cause SRTP); what the bridged
 * leg sends is not relayed in clear. */
Test(rtp_legs, sdes_offer_refuses_an_answer_without_matching_crypto)
{
	for (int i = 0; i < 2; i++) {
		uint64_t a = 92 + (uint64_t)i, b = 90 + (uint64_t)i;
		int pa, fa = udp_peer(&pa), gw_a = plain_leg(a, 90 + i, pa);
		const char *offer = trunk_offer(b, 90 + i, NULL, SB_ENGINE_SRTP_SDES);
		const struct sb_event *ev;
		struct phone ph;
		uint8_t buf[256];
		char *answer, *bad = NULL;

		cr_assert_not_null(strstr(offer, "RTP/SAVP 0 8 101\r\n"), "offer: %s", offer);
		answer = phone_answer(&ph, offer, i == 0 ? "RTP/AVP" : "RTP/SAVP",
				      i == 0 ? NULL : &sdes_suites[0], 1);
		if (i == 1) {
			/* the phone's line under tag 3, which we offered for GCM */
			bad = g_strdup(answer);
			memcpy(strstr(bad, "a=crypto:1"), "a=crypto:3", 10);
		}
		cr_assert_eq(sb_media_engine_ops.update(media, b, bad ? bad : answer), 0);
		ev = wait_event(SB_EV_MEDIA_FAILED, b, 2000);
		cr_assert_not_null(ev, "answer %d taken", i);
		cr_assert_eq(ev->arg[2], SB_MEDIA_FAIL_SRTP, "cause %lld", (long long)ev->arg[2]);
		cr_assert_null(wait_event(SB_EV_MEDIA_CONNECTED, b, 10));
		cr_assert_eq(sb_media_engine_ops.bridge(media, a, b), 0);
		pump(100);
		send_rtp(fa, gw_a, 0, 1, 0, 0xAAAA, "must-not-leak");
		cr_assert_eq(recv_rtp(ph.fd, buf, sizeof(buf), 300), 0, "relayed after a refusal");
		sb_media_engine_ops.destroy(media, a);
		sb_media_engine_ops.destroy(media, b);
		phone_close(&ph);
		close(fa);
		g_free(answer);
		g_free(bad);
	}
}

/* srtp = sdes: a second answer to the offer (a 200 after a 183 with SDP)
 * must carry the line the first one installed. The same answer again keeps
 * the audio flowing, checked by content; one with another key fails the
 * session with the SRTP cause, and nothing is relayed to the phone after. */
Test(rtp_legs, sdes_offer_later_answer_must_keep_the_line)
{
	static char *const pcmu[] = {"PCMU", NULL};

	for (int changed = 0; changed < 2; changed++) {
		uint64_t a = 96 + 2 * (uint64_t)changed, b = 97 + 2 * (uint64_t)changed;
		int pa, fa = udp_peer(&pa), gw_a = plain_leg(a, 96 + changed, pa);
		const char *offer = trunk_offer(b, 96 + changed, pcmu, SB_ENGINE_SRTP_SDES);
		const struct sb_event *ev;
		struct phone ph;
		uint8_t buf[256];
		char *answer, *later, *k;

		answer = phone_answer(&ph, offer, "RTP/SAVP", &sdes_suites[0], 1);
		cr_assert_eq(sb_media_engine_ops.update(media, b, answer), 0);
		cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, b, 2000));
		cr_assert_eq(sb_media_engine_ops.bridge(media, a, b), 0);
		pump(100);
		audio_both_ways(fa, gw_a, &ph, "first-answer", 0);
		later = g_strdup(answer);
		if (changed) {
			/* another key: its first base64 character changed */
			k = strstr(later, "inline:") + 7;
			*k = *k == 'A' ? 'B' : 'A';
		}
		cr_assert_eq(sb_media_engine_ops.update(media, b, later), 0);
		ev = wait_event(SB_EV_MEDIA_FAILED, b, changed ? 2000 : 300);
		if (!changed) {
			cr_assert_null(ev, "the same answer again failed the leg: %s",
				       ev ? ev->str : "");
			audio_both_ways(fa, gw_a, &ph, "same-answer-again", 1);
		} else {
			cr_assert_not_null(ev, "a later answer with another key was taken");
			cr_assert_eq(ev->arg[2], SB_MEDIA_FAIL_SRTP, "cause %lld",
				     (long long)ev->arg[2]);
			send_rtp(fa, gw_a, 0, 400, 0, 0xAAAA, "must-not-leak");
			cr_assert_eq(recv_rtp(ph.fd, buf, sizeof(buf), 300), 0,
				     "relayed after the refusal");
		}
		sb_media_engine_ops.destroy(media, a);
		sb_media_engine_ops.destroy(media, b);
		phone_close(&ph);
		close(fa);
		g_free(answer);
		g_free(later);
	}
}

/* [trunk] codecs: the offer has the trunk's codecs we can offer, in its
 * order, then telephone-event; none: the session fails (no codec). */
Test(rtp_legs, trunk_codecs_narrow_and_order_the_offer)
{
	static char *const list[] = {"G729", "PCMA", "PCMU", NULL};
	static char *const g729[] = {"G729", NULL};
	static char *const pcma[] = {"pcma", NULL};
	const struct sb_event *ev;
	const char *offer;
	int pa, fa = udp_peer(&pa);
	char *opus_offer;

	offer = trunk_offer(100, 100, list, SB_ENGINE_SRTP_OFF);
	cr_assert_not_null(strstr(offer, "m=audio "), "%s", offer);
	cr_assert_not_null(strstr(offer, " RTP/AVP 8 0 101\r\n"), "offer: %s", offer);
	cr_assert_null(strstr(offer, "a=crypto"), "offer: %s", offer);

	struct sb_engine_media_opts o = {.codecs = g729};
	cr_assert_eq(sb_media_engine_ops.create(media, 101, 101, 2, SB_MEDIA_RTP, NULL, &o), 0);
	ev = wait_event(SB_EV_MEDIA_FAILED, 101, 3000);
	cr_assert_not_null(ev, "an offer without a codec of the trunk's");
	cr_assert_eq(ev->arg[2], SB_MEDIA_FAIL_NO_CODEC);
	cr_assert_null(wait_event(SB_EV_MEDIA_READY, 101, 10));

	/* The browser-like leg on Opus, the trunk on PCMA only: transcoded. */
	opus_offer = sdp_of(pa, "111", "a=rtpmap:111 opus/48000/2\r\n");
	cr_assert_eq(sb_media_engine_ops.create(media, 102, 102, 1, SB_MEDIA_RTP, opus_offer, NULL),
		     0);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_READY, 102, 3000));
	offer = trunk_offer(103, 102, pcma, SB_ENGINE_SRTP_OFF);
	cr_assert_not_null(strstr(offer, " RTP/AVP 8 101\r\n"), "offer: %s", offer);
	for (uint64_t id = 100; id <= 103; id++)
		sb_media_engine_ops.destroy(media, id);
	g_free(opus_offer);
	close(fa);
}
