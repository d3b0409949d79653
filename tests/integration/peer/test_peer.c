/* The gateway's WebRTC media against the project's headless peer
 * (tests/peer): the real media component in-process answers sb-peer's offer
 * (ICE, DTLS-SRTP), is bridged to an RTP leg toward a UDP echo in the test,
 * and the audio is checked by content both ways, with PCMU and Opus. Then
 * the refusals: wrong or missing fingerprint, DTLS 1.0, plain RTP, tampered
 * and replayed SRTP are refused or dropped and counted, and nothing of
 * theirs reaches the SIP side. Consent (RFC 7675) once the gateway reads
 * the connected socket itself: kept while the peer answers, expired when it
 * stops, and checks with a wrong password unanswered. Loopback only; every
 * wait is bounded. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glib-unix.h>
#include <glib.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "media/media.h"
#include "peer.h"
#include "../../support/event_record.h"
#include "../../support/media_start.h"

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#define MAX_EVENTS 64
#define WEB_ID	   1
#define RTP_ID	   2
#define CALL_ID	   77

static GMainContext *ctx;
static GSource *ticker;
static struct sb_bus *control;
static struct sb_media *media;
static struct sb_lifecycle *lc;
static struct sb_config *cfg;
static struct sb_event events[MAX_EVENTS];
static char *texts[MAX_EVENTS];
static int n_events;

/* The SIP side: a UDP socket that returns every RTP packet to its sender
 * and checks that it carries a peer's audio in clear. */
static struct {
	int fd, port;
	GSource *src;
	unsigned rtp, marked, opus_ok;
	OpusDecoder *dec;
} echo;

static void on_event(const struct sb_event *ev, void *ud)
{
	sbt_event_record(events, texts, &n_events, MAX_EVENTS, ev);
}

static gboolean tick_cb(gpointer ud)
{
	return G_SOURCE_CONTINUE;
}

static gboolean echo_cb(gint fd, GIOCondition cond, gpointer ud)
{
	uint8_t buf[1500];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	opus_int16 pcm[5760];

	if (n < 12 || (buf[1] >= 192 && buf[1] <= 223))
		return G_SOURCE_CONTINUE; /* RTCP from the gateway's leg */
	echo.rtp++;
	/* The peer's marker closes every payload (tests/peer/peer_media.c). */
	if (n >= 12 + 20 && memcmp(buf + n - 20, "SBP1", 4) == 0)
		echo.marked++;
	if ((buf[1] & 0x7f) == 111 &&
	    opus_decode(echo.dec, buf + 12, (opus_int32)(n - 12), pcm, 5760, 0) == 960)
		echo.opus_ok++;
	sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	return G_SOURCE_CONTINUE;
}

static void echo_open(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int err;

	echo.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	cr_assert(echo.fd >= 0);
	cr_assert_eq(bind(echo.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(echo.fd, (struct sockaddr *)&a, &l);
	echo.port = ntohs(a.sin_port);
	echo.src = g_unix_fd_source_new(echo.fd, G_IO_IN);
	g_source_set_callback(echo.src, (GSourceFunc)(void (*)(void))echo_cb, NULL, NULL);
	g_source_attach(echo.src, ctx);
	echo.dec = opus_decoder_create(48000, 1, &err);
	cr_assert_not_null(echo.dec);
}

static void setup(void)
{
	static const enum sb_event_type types[] = {SB_EV_MEDIA_READY, SB_EV_MEDIA_CONNECTED,
						   SB_EV_MEDIA_FAILED};
	int base = 46000 + 2 * (int)(getpid() % 1500);

	ctx = g_main_context_new();
	/* Bounds every blocking iteration of the loop below. */
	ticker = g_timeout_source_new(5);
	g_source_set_callback(ticker, tick_cb, NULL, NULL);
	g_source_attach(ticker, ctx);
	cfg = sb_config_new_default();
	cfg->media.workers = 2;
	cfg->media.rtp_port_min = base;
	cfg->media.rtp_port_max = base + 40;
	cfg->media.symmetric_rtp = true;
	/* Loopback only: the one interface the gateway gathers on. */
	for (size_t i = 0; cfg->media.interfaces && cfg->media.interfaces[i]; i++)
		free(cfg->media.interfaces[i]);
	free(cfg->media.interfaces);
	cfg->media.interfaces = calloc(2, sizeof(char *));
	cfg->media.interfaces[0] = strdup("127.0.0.1");
	cfg->media.allow_loopback = false;
	media = sbt_media_start(cfg, ctx, types, sizeof(types) / sizeof(types[0]), on_event,
				&control, &lc);
	memset(&echo, 0, sizeof(echo));
	echo_open();
}

static void teardown(void)
{
	sb_lifecycle_stop(lc);
	lc = sb_lifecycle_free(lc);
	media = sb_media_free(media);
	control = sb_bus_free(control);
	sb_config_unref(cfg);
	g_source_destroy(echo.src);
	g_source_unref(echo.src);
	close(echo.fd);
	opus_decoder_destroy(echo.dec);
	g_source_destroy(ticker);
	g_source_unref(ticker);
	g_main_context_unref(ctx);
	for (int i = 0; i < n_events; i++)
		free(texts[i]);
	n_events = 0;
}

static void pump_once(void)
{
	g_main_context_iteration(ctx, TRUE);
}

static void pump(int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000LL;

	while (g_get_monotonic_time() < end)
		pump_once();
}

static const struct sb_event *find_event(enum sb_event_type type, uint64_t id)
{
	for (int i = 0; i < n_events; i++)
		if (events[i].type == type && (uint64_t)events[i].arg[0] == id)
			return &events[i];
	return NULL;
}

static const struct sb_event *wait_event(enum sb_event_type type, uint64_t id, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000LL;
	const struct sb_event *ev;

	while (!(ev = find_event(type, id)) && g_get_monotonic_time() < end)
		pump_once();
	return ev;
}

static const char *wait_local_sdp(struct sb_peer *p)
{
	gint64 end = g_get_monotonic_time() + 5000 * 1000LL;

	while (!sb_peer_local_sdp(p) && g_get_monotonic_time() < end)
		pump_once();
	cr_assert_not_null(sb_peer_local_sdp(p), "the peer did not gather");
	return sb_peer_local_sdp(p);
}

static void wait_finished(struct sb_peer *p, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000LL;

	while (!sb_peer_finished(p) && g_get_monotonic_time() < end)
		pump_once();
	cr_assert(sb_peer_finished(p), "the peer did not finish in %d ms", ms);
}

/* The RTP leg toward the echo: the gateway offers (its WebRTC sibling's
 * codec first), the echo answers with that codec, the legs are bridged. */
static void rtp_leg_bridge(enum sb_peer_codec codec, uint64_t web, uint64_t rtp, uint64_t call)
{
	const struct sb_event *ev;
	char *answer;

	cr_assert_eq(sb_media_engine_ops.create(media, rtp, call, 2, SB_MEDIA_RTP, NULL, NULL), 0);
	ev = wait_event(SB_EV_MEDIA_READY, rtp, 3000);
	cr_assert_not_null(ev, "no media.ready for the RTP leg");
	cr_assert_not_null(strstr(ev->text, codec == SB_PEER_OPUS ? "RTP/AVP 111" : "RTP/AVP 0"),
			   "the RTP leg does not offer the browser's codec first: %s", ev->text);
	answer = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				 "t=0 0\r\nm=audio %d RTP/AVP %s\r\n",
				 echo.port,
				 codec == SB_PEER_OPUS ? "111\r\na=rtpmap:111 opus/48000/2\r\n"
						       : "0\r\na=rtpmap:0 PCMU/8000\r\n");
	cr_assert_eq(sb_media_engine_ops.update(media, rtp, answer), 0);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, rtp, 2000));
	cr_assert_eq(sb_media_engine_ops.bridge(media, web, rtp), 0);
	g_free(answer);
}

/* The peer offers; the gateway answers; the RTP leg is bridged before the
 * peer sees the answer, so no packet can arrive before the bridge. Returns
 * the gateway's answer (NULL when it refused the offer). */
static const char *call_up_ids(struct sb_peer *p, enum sb_peer_codec codec, uint64_t web,
			       uint64_t rtp, uint64_t call)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, web, call, 1, SB_MEDIA_WEBRTC,
						wait_local_sdp(p), NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, web, 3000);
	if (!ev)
		return NULL;
	rtp_leg_bridge(codec, web, rtp, call);
	cr_assert_eq(sb_peer_remote_sdp_set(p, ev->text), 0, "the peer refused %s", ev->text);
	return ev->text;
}

static const char *call_up(struct sb_peer *p, enum sb_peer_codec codec)
{
	return call_up_ids(p, codec, WEB_ID, RTP_ID, CALL_ID);
}

static struct sb_peer *peer_new(enum sb_peer_codec codec, enum sb_peer_srtp srtp,
				enum sb_peer_fault fault, int send_ms)
{
	struct sb_peer_opts o = {.offer = true,
				 .codec = codec,
				 .srtp = srtp,
				 .fault = fault,
				 .send_ms = send_ms,
				 .grace_ms = 400,
				 .connect_ms = 5000};
	struct sb_peer *p = sb_peer_new(ctx, &o);

	cr_assert_not_null(p);
	return p;
}

static void counters(struct sb_media_counters *c)
{
	sb_media_counters(media, c);
}

static void report_log(struct sb_peer *p)
{
	char *r = sb_peer_report_json(p);

	cr_log_info("%s", r ? r : "(no report)");
	free(r);
}

/* The full path both ways: peer -> SRTP -> gateway -> RTP -> echo -> RTP
 * -> gateway -> SRTP -> peer, every payload compared with what was sent. */
static void echo_by_content_answer(enum sb_peer_codec codec, enum sb_peer_srtp srtp,
				   const char *profile, char **ret_answer)
{
	struct sb_peer *p = peer_new(codec, srtp, SB_PEER_FAULT_NONE, 2000);
	struct sb_peer_stats s;
	struct sb_media_counters c;
	const struct sb_event *ev;
	const char *answer = call_up(p, codec);

	cr_assert_not_null(answer, "the gateway refused the offer");
	if (ret_answer)
		*ret_answer = strdup(answer);
	ev = wait_event(SB_EV_MEDIA_CONNECTED, WEB_ID, 5000);
	cr_assert_not_null(ev, "the WebRTC session did not connect");
	cr_assert_str_eq(ev->str, codec == SB_PEER_OPUS ? "opus" : "PCMU");
	wait_finished(p, 10000);
	sb_peer_stats_get(p, &s);
	report_log(p);
	cr_assert_str_eq(s.error, "");
	cr_assert(s.ice_connected && s.dtls_done);
	cr_assert_str_eq(s.srtp_profile, profile);
	cr_assert_eq(s.sent, 100);
	cr_assert_eq(s.received, s.sent, "%u of %u came back intact", s.received, s.sent);
	cr_assert_eq(s.duplicates, 0);
	cr_assert_eq(s.corrupt, 0);
	cr_assert_eq(s.undecryptable, 0);
	cr_assert_lt(s.latency_p99, 200.0, "p99 %.1f ms", s.latency_p99);
	/* The SIP side got each packet once, in clear, marker intact. */
	cr_assert_eq(echo.rtp, s.sent, "the echo got %u", echo.rtp);
	cr_assert_eq(echo.marked, echo.rtp);
	if (codec == SB_PEER_OPUS)
		cr_assert_eq(echo.opus_ok, echo.rtp, "%u of %u decode as Opus", echo.opus_ok,
			     echo.rtp);
	counters(&c);
	cr_assert_eq(c.dropped_plain + c.dropped_auth + c.dropped_replay + c.dtls_failed, 0);
	/* The worker read the connected pair's socket itself. */
	cr_assert_eq(c.ice_direct, 1);
	cr_assert_null(find_event(SB_EV_MEDIA_FAILED, WEB_ID));
	sb_media_engine_ops.destroy(media, WEB_ID);
	sb_media_engine_ops.destroy(media, RTP_ID);
	sb_peer_free(p);
}

static void echo_by_content(enum sb_peer_codec codec, enum sb_peer_srtp srtp, const char *profile)
{
	echo_by_content_answer(codec, srtp, profile, NULL);
}

TestSuite(peer, .init = setup, .fini = teardown, .timeout = 30);

/* [media] ice_lite: the answer says a=ice-lite, the gateway only answers
 * the peer's checks (the peer controls), and audio still comes back by
 * content. */
Test(peer, ice_lite_echo_by_content)
{
	char *answer = NULL;

	cfg->media.ice_lite = true;
	echo_by_content_answer(SB_PEER_PCMU, SB_PEER_SRTP_CM, "AES_CM_128_HMAC_SHA1_80", &answer);
	cr_expect_not_null(strstr(answer, "a=ice-lite"), "%s", answer);
	free(answer);
}

/* [media] public_address (1:1 NAT): each UDP host candidate also goes out
 * at the public address with the same port; the call still connects on
 * the private one here. */
Test(peer, public_address_is_advertised)
{
	char *answer = NULL;
	unsigned host_port = 0, pub_port = 0, port;
	char addr[64];

	free(cfg->media.public_address);
	cfg->media.public_address = strdup("192.0.2.77");
	echo_by_content_answer(SB_PEER_PCMU, SB_PEER_SRTP_CM, "AES_CM_128_HMAC_SHA1_80", &answer);
	for (const char *line = answer; line && *line; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (sscanf(line, "a=candidate:%*s %*u %*s %*u %63s %u typ host", addr, &port) != 2)
			continue;
		if (strcmp(addr, "127.0.0.1") == 0)
			host_port = port;
		else if (strcmp(addr, "192.0.2.77") == 0)
			pub_port = port;
	}
	cr_expect_neq(host_port, 0, "no private host candidate");
	cr_expect_eq(pub_port, host_port, "public candidate port %u, host %u", pub_port, host_port);
	free(answer);
}

Test(peer, pcmu_echo_by_content_aes_cm)
{
	echo_by_content(SB_PEER_PCMU, SB_PEER_SRTP_CM, "AES_CM_128_HMAC_SHA1_80");
}

Test(peer, opus_echo_by_content_aead_gcm)
{
	echo_by_content(SB_PEER_OPUS, SB_PEER_SRTP_GCM, "AEAD_AES_128_GCM");
}

/* Several calls at once on the workers (as `sb-peer --count` does): every
 * peer gets back exactly its own audio, nothing of another call. */
Test(peer, five_calls_at_once)
{
	enum { N = 5 };
	struct sb_peer *p[N];
	struct sb_peer_stats s;
	unsigned total = 0;
	gint64 end;
	bool all;

	for (int i = 0; i < N; i++) {
		p[i] = peer_new(i % 2 ? SB_PEER_OPUS : SB_PEER_PCMU, SB_PEER_SRTP_ANY,
				SB_PEER_FAULT_NONE, 1000);
		cr_assert_not_null(call_up_ids(p[i], i % 2 ? SB_PEER_OPUS : SB_PEER_PCMU,
					       10 + (uint64_t)i, 20 + (uint64_t)i,
					       100 + (uint64_t)i));
	}
	end = g_get_monotonic_time() + 15000 * 1000LL;
	do {
		pump_once();
		all = true;
		for (int i = 0; i < N; i++)
			all = all && sb_peer_finished(p[i]);
	} while (!all && g_get_monotonic_time() < end);
	cr_assert(all, "not every peer finished");
	for (int i = 0; i < N; i++) {
		sb_peer_stats_get(p[i], &s);
		report_log(p[i]);
		cr_assert_str_eq(s.error, "", "peer %d: %s", i, s.error);
		cr_assert_eq(s.sent, 50);
		cr_assert_eq(s.received, s.sent, "peer %d: %u of %u", i, s.received, s.sent);
		cr_assert_eq(s.corrupt + s.duplicates + s.undecryptable, 0, "peer %d", i);
		total += s.sent;
		sb_media_engine_ops.destroy(media, 10 + (uint64_t)i);
		sb_media_engine_ops.destroy(media, 20 + (uint64_t)i);
		sb_peer_free(p[i]);
	}
	cr_assert_eq(echo.rtp, total);
	cr_assert_eq(echo.marked, total);
}

/* The gateway offers (a call toward a browser) and sb-peer answers as the
 * DTLS client: the gateway's order picks GCM. */
Test(peer, gateway_offers_peer_answers)
{
	struct sb_peer_opts o = {.offer = false,
				 .codec = SB_PEER_OPUS,
				 .send_ms = 7000,
				 .grace_ms = 400,
				 .connect_ms = 5000};
	struct sb_peer *p = sb_peer_new(ctx, &o);
	const struct sb_event *ev;
	struct sb_peer_stats s;
	struct sb_media_counters c;

	/* We control ICE: our consent requests say ICE-CONTROLLING, and the
	 * peer's answers keep the call past a 5 s consent_timeout. */
	cfg->media.consent_timeout_ms = 5000;
	cr_assert_not_null(p);
	cr_assert_eq(
		sb_media_engine_ops.create(media, WEB_ID, CALL_ID, 1, SB_MEDIA_WEBRTC, NULL, NULL),
		0);
	ev = wait_event(SB_EV_MEDIA_READY, WEB_ID, 3000);
	cr_assert_not_null(ev);
	cr_assert_not_null(strstr(ev->text, "a=setup:actpass"), "%s", ev->text);
	rtp_leg_bridge(SB_PEER_OPUS, WEB_ID, RTP_ID, CALL_ID);
	cr_assert_eq(sb_peer_remote_sdp_set(p, ev->text), 0);
	cr_assert_not_null(strstr(wait_local_sdp(p), "a=setup:active"));
	cr_assert_eq(sb_media_engine_ops.update(media, WEB_ID, sb_peer_local_sdp(p)), 0);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, WEB_ID, 5000));
	wait_finished(p, 10000);
	sb_peer_stats_get(p, &s);
	report_log(p);
	cr_assert_str_eq(s.error, "");
	cr_assert_str_eq(s.srtp_profile, "AEAD_AES_128_GCM");
	cr_assert_eq(s.sent, 350);
	cr_assert_eq(s.received, s.sent);
	cr_assert_eq(echo.opus_ok, s.sent);
	cr_assert_null(find_event(SB_EV_MEDIA_FAILED, WEB_ID));
	counters(&c);
	cr_assert_eq(c.ice_direct, 1);
	sb_peer_free(p);
}

/* ---- refusals ---- */

/* sb-peer checks the gateway's certificate too: an answer naming another
 * certificate ends the peer's run before any audio. */
Test(peer, peer_checks_the_gateway_fingerprint)
{
	struct sb_peer *p = peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, SB_PEER_FAULT_NONE, 1000);
	const struct sb_event *ev;
	struct sb_peer_stats s;
	char *answer, *fp;

	cr_assert_eq(sb_media_engine_ops.create(media, WEB_ID, CALL_ID, 1, SB_MEDIA_WEBRTC,
						wait_local_sdp(p), NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, WEB_ID, 3000);
	cr_assert_not_null(ev);
	answer = g_strdup(ev->text);
	fp = strstr(answer, "a=fingerprint:sha-256 ");
	cr_assert_not_null(fp);
	fp += strlen("a=fingerprint:sha-256 ");
	*fp = *fp == '0' ? '1' : '0';
	cr_assert_eq(sb_peer_remote_sdp_set(p, answer), 0);
	wait_finished(p, 10000);
	sb_peer_stats_get(p, &s);
	report_log(p);
	cr_assert_not_null(strstr(s.error, "fingerprint"), "%s", s.error);
	cr_assert(!s.dtls_done);
	cr_assert_eq(s.sent, 0);
	cr_assert_eq(echo.rtp, 0);
	g_free(answer);
	sb_peer_free(p);
}

/* Runs a faulty peer through the call; returns its figures. */
static void faulty_run(enum sb_peer_fault fault, struct sb_peer_stats *s,
		       struct sb_media_counters *c)
{
	struct sb_peer *p = peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, fault, 1000);

	call_up(p, SB_PEER_PCMU);
	wait_finished(p, 10000);
	pump(200); /* the last packets through the workers */
	sb_peer_stats_get(p, s);
	report_log(p);
	counters(c);
	sb_peer_free(p);
}

Test(peer, wrong_fingerprint_is_refused)
{
	struct sb_peer_stats s;
	struct sb_media_counters c;
	const struct sb_event *ev;

	faulty_run(SB_PEER_FAULT_WRONG_FINGERPRINT, &s, &c);
	ev = find_event(SB_EV_MEDIA_FAILED, WEB_ID);
	cr_assert_not_null(ev, "no media.failed");
	cr_assert_not_null(strstr(ev->str, "fingerprint"), "%s", ev->str);
	cr_assert_eq(c.dtls_failed, 1);
	cr_assert_null(find_event(SB_EV_MEDIA_CONNECTED, WEB_ID));
	cr_assert_eq(s.received, 0);
	cr_assert_eq(echo.rtp, 0, "%u packets reached the SIP side", echo.rtp);
}

Test(peer, missing_fingerprint_is_refused)
{
	struct sb_peer *p =
		peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, SB_PEER_FAULT_NO_FINGERPRINT, 1000);
	const struct sb_event *ev;

	cr_assert_null(strstr(wait_local_sdp(p), "a=fingerprint"));
	cr_assert_eq(sb_media_engine_ops.create(media, WEB_ID, CALL_ID, 1, SB_MEDIA_WEBRTC,
						sb_peer_local_sdp(p), NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_FAILED, WEB_ID, 3000);
	cr_assert_not_null(ev, "the gateway did not refuse an offer without a fingerprint");
	cr_assert_null(find_event(SB_EV_MEDIA_READY, WEB_ID));
	cr_assert_not_null(strstr(ev->str, "fingerprint"), "%s", ev->str);
	pump(300);
	cr_assert_eq(echo.rtp, 0);
	sb_peer_free(p);
}

Test(peer, dtls10_is_refused)
{
	struct sb_peer_stats s;
	struct sb_media_counters c;

	faulty_run(SB_PEER_FAULT_DTLS10, &s, &c);
	cr_assert_not_null(find_event(SB_EV_MEDIA_FAILED, WEB_ID), "no media.failed");
	cr_assert_null(find_event(SB_EV_MEDIA_CONNECTED, WEB_ID));
	cr_assert_eq(c.dtls_failed, 1);
	cr_assert(!s.dtls_done);
	cr_assert_eq(s.sent, 0);
	cr_assert_eq(echo.rtp, 0);
}

Test(peer, plain_rtp_is_dropped)
{
	struct sb_peer_stats s;
	struct sb_media_counters c;

	faulty_run(SB_PEER_FAULT_PLAIN, &s, &c);
	cr_assert_eq(s.sent, 50);
	cr_assert_eq(c.dropped_plain, s.sent, "dropped_plain %llu of %u", c.dropped_plain, s.sent);
	cr_assert_eq(c.rtp_in, 0);
	cr_assert_eq(s.received, 0);
	cr_assert_eq(echo.rtp, 0);
}

Test(peer, tampered_srtp_is_dropped)
{
	struct sb_peer_stats s;
	struct sb_media_counters c;

	faulty_run(SB_PEER_FAULT_TAMPER, &s, &c);
	cr_assert(s.dtls_done);
	cr_assert_eq(s.sent, 50);
	cr_assert_eq(c.dropped_auth, s.sent, "dropped_auth %llu of %u", c.dropped_auth, s.sent);
	cr_assert_eq(c.rtp_in, 0);
	cr_assert_eq(s.received, 0);
	cr_assert_eq(echo.rtp, 0);
}

/* Each packet is sent twice: the first copy passes, the replay is dropped,
 * and the SIP side sees every packet exactly once. */
Test(peer, replayed_srtp_is_dropped)
{
	struct sb_peer_stats s;
	struct sb_media_counters c;

	faulty_run(SB_PEER_FAULT_REPLAY, &s, &c);
	cr_assert(s.dtls_done);
	cr_assert_eq(s.sent, 50);
	cr_assert_eq(c.dropped_replay, s.sent, "dropped_replay %llu of %u", c.dropped_replay,
		     s.sent);
	cr_assert_eq(echo.rtp, s.sent, "the echo got %u", echo.rtp);
	cr_assert_eq(s.received, s.sent);
	cr_assert_eq(s.duplicates, 0);
}

/* ---- consent (RFC 7675) on the socket the worker reads itself ---- */

/* The value of attribute line "a=<name>:" in sdp, into out. */
static void sdp_attr(const char *sdp, const char *name, char *out, size_t cap)
{
	const char *v = strstr(sdp, name);
	size_t n;

	cr_assert_not_null(v, "no %s in %s", name, sdp);
	v += strlen(name);
	n = strcspn(v, "\r\n");
	cr_assert_lt(n, cap);
	memcpy(out, v, n);
	out[n] = '\0';
}

/* The peer answers the gateway's consent requests (its libnice does): with
 * consent_timeout 5 s, a 12 s call stays up with every echo back. */
Test(peer, consent_kept_while_answered)
{
	struct sb_peer *p;
	struct sb_peer_stats s;
	struct sb_media_counters c;

	cfg->media.consent_timeout_ms = 5000;
	p = peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, SB_PEER_FAULT_NONE, 12000);
	cr_assert_not_null(call_up(p, SB_PEER_PCMU));
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, WEB_ID, 5000));
	wait_finished(p, 20000);
	sb_peer_stats_get(p, &s);
	report_log(p);
	cr_assert_str_eq(s.error, "");
	cr_assert_eq(s.received, s.sent, "%u of %u came back (echo %u)", s.received, s.sent,
		     echo.rtp);
	cr_assert_null(find_event(SB_EV_MEDIA_FAILED, WEB_ID), "the session failed: %s",
		       find_event(SB_EV_MEDIA_FAILED, WEB_ID)->str);
	counters(&c);
	cr_assert_eq(c.ice_direct, 1);
	sb_media_engine_ops.destroy(media, WEB_ID);
	sb_media_engine_ops.destroy(media, RTP_ID);
	sb_peer_free(p);
}

/* A peer that stops answering STUN once DTLS is done: the gateway's
 * consent requests go unanswered and the session fails after
 * consent_timeout (5 s), not before, with a reason saying so. */
Test(peer, consent_expires_when_peer_stops_answering)
{
	struct sb_peer *p;
	const struct sb_event *ev;
	gint64 up;

	cfg->media.consent_timeout_ms = 5000;
	p = peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, SB_PEER_FAULT_NO_STUN, 15000);
	cr_assert_not_null(call_up(p, SB_PEER_PCMU));
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, WEB_ID, 5000));
	up = g_get_monotonic_time();
	ev = wait_event(SB_EV_MEDIA_FAILED, WEB_ID, 9000);
	cr_assert_not_null(ev, "the session outlived consent");
	cr_assert_geq(g_get_monotonic_time() - up, 4000 * 1000LL, "failed too early: %s", ev->str);
	cr_assert_not_null(strstr(ev->str, "consent expired"), "%s", ev->str);
	/* Audio flowed until then. */
	cr_assert_gt(echo.rtp, 100, "the echo got %u", echo.rtp);
	sb_media_engine_ops.destroy(media, WEB_ID);
	sb_media_engine_ops.destroy(media, RTP_ID);
	sb_peer_free(p);
}

/* Sends a Binding request as the peer would (USERNAME gw:peer, ICE-
 * CONTROLLING) with password pwd from fd to port; returns whether a
 * success answer with integrity by pwd came back within 500 ms. */
static bool check_answered(int fd, int port, const char *user, const char *pwd)
{
	StunAgent agent;
	StunMessage msg, rsp;
	uint8_t buf[1280], in[1280];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	static const uint16_t attrs[] = {STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
					 STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
					 STUN_ATTRIBUTE_FINGERPRINT, 0};
	size_t n;
	gint64 end;

	stun_agent_init(&agent, attrs, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
	n = stun_usage_ice_conncheck_create(&agent, &msg, buf, sizeof(buf), (const uint8_t *)user,
					    strlen(user), (const uint8_t *)pwd, strlen(pwd), false,
					    true, 0x6e7f00ff, 42, NULL,
					    STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	cr_assert_gt(n, 0);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	cr_assert_eq(sendto(fd, buf, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
	end = g_get_monotonic_time() + 500 * 1000;
	while (g_get_monotonic_time() < end) {
		ssize_t r = recv(fd, in, sizeof(in), MSG_DONTWAIT);

		if (r > 0)
			return stun_agent_validate(&agent, &rsp, in, (size_t)r, NULL, NULL) ==
				       STUN_VALIDATION_SUCCESS &&
			       stun_message_get_class(&rsp) == STUN_RESPONSE;
		pump_once();
	}
	return false;
}

/* Once the gateway reads the socket itself, a check from another address
 * is still answered (a browser may try other pairs) when it carries the
 * gateway's password, and not answered with any other password. */
static void checks_need_our_password(void)
{
	struct sb_peer *p = peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, SB_PEER_FAULT_NONE, 3000);
	char gw_ufrag[300], gw_pwd[300], peer_ufrag[300], user[620], addr[64];
	struct sb_media_counters before, after;
	const char *answer;
	unsigned port = 0;
	int fd;

	answer = call_up(p, SB_PEER_PCMU);
	cr_assert_not_null(answer);
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, WEB_ID, 5000));
	sdp_attr(answer, "a=ice-ufrag:", gw_ufrag, sizeof(gw_ufrag));
	sdp_attr(answer, "a=ice-pwd:", gw_pwd, sizeof(gw_pwd));
	sdp_attr(sb_peer_local_sdp(p), "a=ice-ufrag:", peer_ufrag, sizeof(peer_ufrag));
	cr_assert_eq(sscanf(strstr(answer, "a=candidate:"), "a=candidate:%*s %*u %*s %*u %63s %u",
			    addr, &port),
		     2);
	snprintf(user, sizeof(user), "%s:%s", gw_ufrag, peer_ufrag);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	counters(&before);
	cr_assert_eq(before.ice_direct, 1);
	cr_assert_not(check_answered(fd, (int)port, user, "not-the-password-at-all"),
		      "a check with a wrong password was answered");
	cr_assert(check_answered(fd, (int)port, user, gw_pwd),
		  "a check with our password was not answered");
	snprintf(user, sizeof(user), "%s:someoneelse", gw_ufrag);
	cr_assert_not(check_answered(fd, (int)port, user, gw_pwd),
		      "a check with another USERNAME was answered");
	counters(&after);
	cr_assert_geq(after.stun_refused - before.stun_refused, 2);
	cr_assert_geq(after.stun_answered - before.stun_answered, 1);
	close(fd);
	wait_finished(p, 10000);
	sb_media_engine_ops.destroy(media, WEB_ID);
	sb_media_engine_ops.destroy(media, RTP_ID);
	sb_peer_free(p);
}

Test(peer, consent_checks_need_our_password)
{
	checks_need_our_password();
}

/* ice_lite: the gateway answers checks as a full agent does. */
Test(peer, lite_checks_need_our_password)
{
	cfg->media.ice_lite = true;
	checks_need_our_password();
}

/* ice_lite sends no checks (RFC 8445 section 2.5), so it never expires
 * consent itself: a peer that stops answering STUN keeps its call past
 * consent_timeout (the full peer owns consent). */
Test(peer, lite_never_expires_consent)
{
	struct sb_peer *p;
	struct sb_peer_stats s;

	cfg->media.ice_lite = true;
	cfg->media.consent_timeout_ms = 5000;
	p = peer_new(SB_PEER_PCMU, SB_PEER_SRTP_ANY, SB_PEER_FAULT_NO_STUN, 8000);
	cr_assert_not_null(call_up(p, SB_PEER_PCMU));
	cr_assert_not_null(wait_event(SB_EV_MEDIA_CONNECTED, WEB_ID, 5000));
	wait_finished(p, 15000);
	sb_peer_stats_get(p, &s);
	cr_assert_str_eq(s.error, "");
	cr_assert_eq(s.received, s.sent, "%u of %u came back", s.received, s.sent);
	cr_assert_null(find_event(SB_EV_MEDIA_FAILED, WEB_ID), "the session failed: %s",
		       find_event(SB_EV_MEDIA_FAILED, WEB_ID)->str);
	sb_media_engine_ops.destroy(media, WEB_ID);
	sb_media_engine_ops.destroy(media, RTP_ID);
	sb_peer_free(p);
}
