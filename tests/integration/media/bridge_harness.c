/* A test harness for the WebRTC <-> RTP bridge, driven by tests/e2e/
 * bridge.test.mjs: the real media component on this process's main loop, a
 * browser's offer read from stdin (lines up to "."), our answer written to
 * stdout (lines, then "."), and a plain RTP "SIP phone" in-process that the
 * gateway offers to, which answers, decodes what it receives (Opus or
 * PCMU) and sends every packet back. On "quit" (or EOF) it prints
 *   RESULT packets=<n> freq=<strongest Hz> rms=<level>
 * from the last 200 ms it heard, and the chat counters
 *   chat_in=<n> chat_out=<n> chat_dropped=<n>
 * and exits. Chat (tests/e2e/datachannel.test.mjs): every message the
 * browser sends on its data channel (media.chat) is sent back with the chat
 * op, prefixed "echo: ", and logged "harness: chat <text>" on stderr; with
 * argv[3] "greet" the browser is sent "welcome" as soon as it is connected
 * (before it opens a channel).
 * Loopback only; bounded by a timeout given as argv[1] seconds. */
#include <arpa/inet.h>
#include <glib-unix.h>
#include <glib.h>
#include <math.h>
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
#include "media/rtp.h"

#define RATE	48000
#define WINDOW	(RATE / 5)
#define SID_WEB 1
#define SID_RTP 2

static GMainLoop *loop;
static struct sb_media *media;
static int phone_fd, phone_port, gw_port;
static OpusDecoder *dec;
static int codec_pt = -1;
static bool is_opus;
static float window_buf[WINDOW];
static size_t wpos, wfill;
static unsigned packets;
static uint16_t out_seq;
static bool offer_mode, awaiting_answer;
static bool greet; /* argv[3] "greet": chat "welcome" once the browser is connected */
static GString *inbuf;

static void sdp_out(const char *sdp)
{
	fputs(sdp, stdout);
	fputs("\n.\n", stdout);
	fflush(stdout);
}

static int sdp_port(const char *sdp)
{
	const char *m = strstr(sdp, "m=audio ");
	int port = 0;

	if (m)
		sscanf(m, "m=audio %d", &port);
	return port;
}

static float ulaw(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = ((u & 0x0f) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return (float)((u & 0x80) ? (0x84 - t) : (t - 0x84)) / 32768.0f;
}

static void hear(const float *pcm, int n)
{
	for (int i = 0; i < n; i++) {
		window_buf[wpos] = pcm[i];
		wpos = (wpos + 1) % WINDOW;
		if (wfill < WINDOW)
			wfill++;
	}
}

static gboolean phone_readable(gint fd, GIOCondition cond, gpointer ud)
{
	uint8_t buf[1500];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	struct sb_rtp_hdr h;
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	float pcm[RATE / 10];
	int got = 0;

	if (n <= 0 || sb_rtp_is_rtcp(buf, (size_t)n) || sb_rtp_parse(buf, (size_t)n, &h) < 0)
		return G_SOURCE_CONTINUE;
	if (h.pt != codec_pt)
		return G_SOURCE_CONTINUE;
	packets++;
	if (is_opus)
		got = opus_decode_float(dec, buf + h.hdr_len, (opus_int32)h.payload_len, pcm,
					RATE / 10, 0);
	else
		for (size_t i = 0; i < h.payload_len && i < RATE / 10; i++)
			pcm[got++] = ulaw(buf[h.hdr_len + i]);
	if (got > 0)
		hear(pcm, got);
	/* Back to the gateway, as the phone's own stream. */
	buf[2] = (uint8_t)(out_seq >> 8);
	buf[3] = (uint8_t)out_seq++;
	buf[8] = 0x50, buf[9] = 0x48, buf[10] = 0x4f, buf[11] = 0x4e;
	(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	return G_SOURCE_CONTINUE;
}

/* The strongest frequency (Goertzel, 100..3000 Hz in 5 Hz steps) of the
 * last window, with its RMS. */
static void analyse(int rate, double *ret_hz, double *ret_rms)
{
	double best = -1, rms = 0;

	*ret_hz = 0;
	for (size_t i = 0; i < wfill; i++)
		rms += (double)window_buf[i] * window_buf[i];
	*ret_rms = wfill ? sqrt(rms / (double)wfill) : 0;
	for (int f = 100; f <= 3000; f += 5) {
		double w = 2 * M_PI * f / rate, c = 2 * cos(w), s1 = 0, s2 = 0, p;

		for (size_t i = 0; i < wfill; i++) {
			double s0 = window_buf[(wpos + WINDOW - wfill + i) % WINDOW] + c * s1 - s2;
			s2 = s1;
			s1 = s0;
		}
		p = s1 * s1 + s2 * s2 - c * s1 * s2;
		if (p > best) {
			best = p;
			*ret_hz = f;
		}
	}
}

static void answer_gateway_offer(const char *offer)
{
	const char *p = offer;
	char sdp[512];

	gw_port = sdp_port(offer);
	/* The gateway offers the browser leg's codec; take Opus or PCMU. */
	while ((p = strstr(p, "a=rtpmap:")) != NULL) {
		int pt;
		char name[32];

		if (sscanf(p, "a=rtpmap:%d %31[^/]", &pt, name) == 2 &&
		    (strcasecmp(name, "opus") == 0 || strcasecmp(name, "PCMU") == 0)) {
			codec_pt = pt;
			is_opus = strcasecmp(name, "opus") == 0;
			break;
		}
		p++;
	}
	if (codec_pt < 0 || gw_port <= 0) {
		fprintf(stderr, "harness: unusable gateway offer:\n%s\n", offer);
		g_main_loop_quit(loop);
		return;
	}
	snprintf(sdp, sizeof(sdp),
		 "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		 "m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s\r\na=sendrecv\r\n",
		 phone_port, codec_pt, codec_pt, is_opus ? "opus/48000/2" : "PCMU/8000");
	sb_media_engine_ops.update(media, SID_RTP, sdp);
	sb_media_engine_ops.bridge(media, SID_WEB, SID_RTP);
	fprintf(stderr, "harness: phone answered %s on %d, bridged\n", is_opus ? "opus" : "PCMU",
		phone_port);
}

/* Offer mode (a SIP call to a browser): the phone offered PCMU and the
 * gateway answered; now the gateway offers to the browser, whose answer is
 * read from stdin. */
static void offer_mode_ready(uint64_t id, const char *sdp)
{
	if (id == SID_RTP) {
		gw_port = sdp_port(sdp);
		codec_pt = 0;
		is_opus = false;
		sb_media_engine_ops.create(media, SID_WEB, 9, 2, SB_MEDIA_WEBRTC, NULL, NULL);
		return;
	}
	sdp_out(sdp);
	awaiting_answer = true; /* stdin_readable takes it */
}

static void take_answer(const char *answer)
{
	sb_media_engine_ops.update(media, SID_WEB, answer);
	sb_media_engine_ops.bridge(media, SID_RTP, SID_WEB);
	fprintf(stderr, "harness: browser answered, bridged\n");
}

static void on_event(const struct sb_event *ev, void *ud)
{
	uint64_t id = (uint64_t)ev->arg[0];

	switch (ev->type) {
	case SB_EV_MEDIA_READY:
		if (offer_mode) {
			offer_mode_ready(id, ev->text);
		} else if (id == SID_WEB) {
			sdp_out(ev->text);
			sb_media_engine_ops.create(media, SID_RTP, 9, 2, SB_MEDIA_RTP, NULL, NULL);
		} else {
			answer_gateway_offer(ev->text);
		}
		break;
	case SB_EV_MEDIA_CONNECTED:
		fprintf(stderr, "harness: session %llu connected (%s)\n", (unsigned long long)id,
			ev->str);
		/* Before the browser opened a channel: waits in the queue. */
		if (greet && id == SID_WEB)
			fprintf(stderr, "harness: greeting (%d)\n",
				sb_media_engine_ops.chat(media, id, "welcome"));
		break;
	case SB_EV_MEDIA_FAILED:
		fprintf(stderr, "harness: session %llu failed: %s\n", (unsigned long long)id,
			ev->str);
		g_main_loop_quit(loop);
		break;
	case SB_EV_MEDIA_CHAT: {
		char *echo = g_strdup_printf("echo: %s", ev->text ? ev->text : "");
		int r = sb_media_engine_ops.chat(media, id, echo);

		fprintf(stderr, "harness: chat %s (echo: %d)\n", ev->text ? ev->text : "", r);
		g_free(echo);
		break;
	}
	case SB_EV_MEDIA_STATS:
		fprintf(stderr, "harness: stats %llu %s\n", (unsigned long long)id,
			ev->text ? ev->text : "");
		break;
	default:
		break;
	}
}

static gboolean stdin_readable(gint fd, GIOCondition cond, gpointer ud)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	char *end;

	if (n <= 0) {
		g_main_loop_quit(loop);
		return G_SOURCE_REMOVE;
	}
	g_string_append_len(inbuf, buf, n);
	if (awaiting_answer && (end = strstr(inbuf->str, "\n.\n")) != NULL) {
		size_t used = (size_t)(end - inbuf->str) + 3;

		*end = '\0';
		awaiting_answer = false;
		take_answer(inbuf->str);
		g_string_erase(inbuf, 0, (gssize)used);
	}
	if (!awaiting_answer && strstr(inbuf->str, "quit")) {
		g_main_loop_quit(loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean timeout_cb(gpointer ud)
{
	fprintf(stderr, "harness: time limit\n");
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static GString *read_offer(void)
{
	GString *s = g_string_new(NULL);
	char line[2048];

	while (fgets(line, sizeof(line), stdin)) {
		if (strcmp(line, ".\n") == 0 || strcmp(line, ".\r\n") == 0)
			break;
		g_string_append(s, line);
	}
	return s;
}

int main(int argc, char **argv)
{
	static const enum sb_event_type types[] = {SB_EV_MEDIA_READY, SB_EV_MEDIA_CONNECTED,
						   SB_EV_MEDIA_FAILED, SB_EV_MEDIA_STATS,
						   SB_EV_MEDIA_CHAT};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	struct sb_config *cfg = sb_config_new_default();
	struct sb_lifecycle *lc = sb_lifecycle_new();
	struct sb_bus *control;
	const char *failed = NULL;
	struct sb_media_counters mc;
	double hz, rms;
	GString *offer;
	int err;

	loop = g_main_loop_new(NULL, FALSE);
	cfg->media.workers = 1;
	cfg->media.allow_loopback = true;
	cfg->media.symmetric_rtp = true;
	cfg->media.rtp_port_min = 46000 + 2 * (getpid() % 1000);
	cfg->media.rtp_port_max = cfg->media.rtp_port_min + 60;
	control = sb_bus_new(&cfg->bus, g_main_context_default());
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		sb_bus_subscribe(control, types[i], on_event, NULL);
	media = sb_media_new(cfg, control);
	sb_lifecycle_add(lc, &sb_media_component, media);
	if (sb_lifecycle_start(lc, &failed) < 0) {
		fprintf(stderr, "harness: %s did not start\n", failed ? failed : "?");
		return 1;
	}
	phone_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(phone_fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	getsockname(phone_fd, (struct sockaddr *)&a, &al);
	phone_port = ntohs(a.sin_port);
	dec = opus_decoder_create(RATE, 1, &err);
	g_unix_fd_add(phone_fd, G_IO_IN, phone_readable, NULL);
	inbuf = g_string_new(NULL);
	offer_mode = argc > 2 && strcmp(argv[2], "offer") == 0;
	greet = argc > 3 && strcmp(argv[3], "greet") == 0;
	if (offer_mode) {
		char sdp[512];

		snprintf(sdp, sizeof(sdp),
			 "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
			 "t=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
			 phone_port);
		sb_media_engine_ops.create(media, SID_RTP, 9, 1, SB_MEDIA_RTP, sdp, NULL);
	} else {
		offer = read_offer();
		sb_media_engine_ops.create(media, SID_WEB, 9, 1, SB_MEDIA_WEBRTC, offer->str, NULL);
		g_string_free(offer, TRUE);
	}
	g_unix_fd_add(0, G_IO_IN | G_IO_HUP, stdin_readable, NULL);
	g_timeout_add_seconds(argc > 1 ? (guint)strtoul(argv[1], NULL, 10) : 60, timeout_cb, NULL);
	g_main_loop_run(loop);
	analyse(is_opus ? RATE : 8000, &hz, &rms);
	sb_media_counters(media, &mc);
	printf("RESULT packets=%u freq=%.0f rms=%.4f chat_in=%llu chat_out=%llu "
	       "chat_dropped=%llu\n",
	       packets, hz, rms, mc.chat_in, mc.chat_out, mc.chat_dropped);
	fflush(stdout);
	sb_lifecycle_stop(lc);
	sb_lifecycle_free(lc);
	sb_media_free(media);
	sb_bus_free(control);
	sb_config_unref(cfg);
	opus_decoder_destroy(dec);
	close(phone_fd);
	return 0;
}
