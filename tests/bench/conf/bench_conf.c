/* Conference benchmark: R rooms of M members mixed by the real media plane
 * (sb_media, its workers, conf.c) in this process. Each member is a plain
 * RTP leg on loopback that sends a 20 ms frame of its own tone every 20 ms
 * (frames encoded once, before the timed part) and takes what the mixer
 * sends it. Prints CPU, frames and memory figures (docs/performance.md,
 * "Conferences") and checks by content that the mix is heard. Main thread:
 * the load and the control bus; the media workers mix.
 *
 * Usage: bench-conf [--rooms R] [--members M] [--codec pcmu|pcma|opus|mix]
 *                   [--seconds S]   (default: 5 rooms of 5, mix, 10 s) */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "log/log.h"
#include "media/media.h"
#include "media/rtp.h"
#include "media/transcode.h"
#include "../../support/rtp_build.h"

#define PORT_MIN    20000
#define PORT_MAX    39999
#define MAX_MEMBERS 5000 /* two gateway ports each in the range above */
#define MAX_SECONDS 3600
#define IN_SETUP    50	  /* creates outstanding at once */
#define WARM_TICKS  50	  /* 1 s of sending before the window: the mixer's start-up */
#define FRAME_US    20000 /* one tick */
#define OPUS_FRAMES 50	  /* pre-encoded Opus frames of a tone, sent in a loop */
#define OPUS_SKIP   10	  /* encoded first and thrown away: the encoder's start-up */
#define MAX_PAY	    400
#define CAP_PKTS    50	 /* packets a checked member keeps: the window's last second */
#define MAX_CHECKED 3	 /* one member of each codec of the first room */
#define HEARD_PART  0.3	 /* of a tone's amplitude sent: heard */
#define QUIET_PART  0.05 /* of it: not heard (its own tone) */
#define TIMER_KEY   UINT32_MAX

/* The 20 ms frames of one member slot's tone in its codec. */
struct tone {
	enum sb_xcode_codec codec;
	double hz;
	unsigned n;
	uint16_t len[OPUS_FRAMES];
	uint8_t pay[OPUS_FRAMES][MAX_PAY];
};

struct member {
	uint64_t id;
	unsigned room, slot;
	int fd;
	struct sockaddr_in gw;
	bool created, ready, joined, failed;
	uint16_t seq;
	uint32_t ts, ssrc;
	unsigned frame;
	unsigned long long sent, heard; /* in the window */
};

/* What a checked member heard in the window's last second. */
struct capture {
	unsigned member;
	unsigned n;
	uint16_t len[CAP_PKTS];
	uint8_t pkt[CAP_PKTS][12 + MAX_PAY];
};

struct usage {
	double self_s, load_s; /* process, and this (the load's) thread */
	struct sb_media_counters c;
	unsigned long long sent, heard;
};

struct bench {
	unsigned rooms, members, n, seconds;
	const char *codec_name;
	double amp;
	GMainContext *ctx;
	struct sb_config *cfg;
	struct sb_bus *control;
	struct sb_media *media;
	struct sb_lifecycle *lc;
	bool started;
	struct tone *tones; /* one per slot of a room */
	struct member *mem;
	unsigned n_created, n_joined, n_failed;
	char first_failure[160];
	int ep, tfd;
	bool counting;
	unsigned capture_from; /* tick of the window from which checked members keep packets */
	unsigned tick;
	struct capture cap[MAX_CHECKED];
	unsigned n_checked;
};

static enum sb_xcode_codec codec_of_slot(const struct bench *b, unsigned slot)
{
	static const enum sb_xcode_codec mix[3] = {SB_XC_PCMU, SB_XC_PCMA, SB_XC_OPUS};

	if (strcmp(b->codec_name, "pcmu") == 0)
		return SB_XC_PCMU;
	if (strcmp(b->codec_name, "pcma") == 0)
		return SB_XC_PCMA;
	if (strcmp(b->codec_name, "opus") == 0)
		return SB_XC_OPUS;
	return mix[slot % 3];
}

static int pt_of(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS ? 111 : c == SB_XC_PCMA ? 8 : 0;
}

static const char *codec_label(enum sb_xcode_codec c)
{
	return c == SB_XC_OPUS ? "opus" : c == SB_XC_PCMA ? "PCMA" : "PCMU";
}

/* A multiple of 50 Hz (a whole number of periods in 20 ms, so that one
 * G.711 frame repeats seamlessly), 300-3350 Hz, spread over the slots. */
static double hz_of_slot(unsigned slot, unsigned members)
{
	unsigned step = members < 60 ? 60 / members : 1;

	return 50.0 * (6 + (slot * step) % 62);
}

static double now_s(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double rusage_s(int who)
{
	struct rusage u;

	getrusage(who, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static long peak_rss_kib(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

/* ---- tones, encoded once ---- */

static int tone_encode_opus(struct tone *t, double amp)
{
	int16_t pcm[960];
	int err = 0;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);

	if (!enc)
		return -ENOMEM;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
	for (unsigned f = 0; f < OPUS_SKIP + OPUS_FRAMES; f++) {
		uint8_t out[MAX_PAY];
		int len;

		for (int i = 0; i < 960; i++)
			pcm[i] =
				(int16_t)lrint(amp * sin(2 * M_PI * t->hz * (f * 960 + i) / 48000));
		len = opus_encode(enc, pcm, 960, out, MAX_PAY);
		if (len <= 0) {
			opus_encoder_destroy(enc);
			return -EIO;
		}
		if (f < OPUS_SKIP)
			continue;
		t->len[f - OPUS_SKIP] = (uint16_t)len;
		memcpy(t->pay[f - OPUS_SKIP], out, (size_t)len);
	}
	opus_encoder_destroy(enc);
	t->n = OPUS_FRAMES;
	return 0;
}

static int tones_make(struct bench *b)
{
	b->tones = calloc(b->members, sizeof(*b->tones));
	if (!b->tones)
		return -ENOMEM;
	for (unsigned s = 0; s < b->members; s++) {
		struct tone *t = &b->tones[s];

		t->codec = codec_of_slot(b, s);
		t->hz = hz_of_slot(s, b->members);
		if (t->codec == SB_XC_OPUS) {
			if (tone_encode_opus(t, b->amp) < 0)
				return -EIO;
			continue;
		}
		for (int i = 0; i < 160; i++) {
			int16_t v = (int16_t)lrint(b->amp * sin(2 * M_PI * t->hz * i / 8000));

			t->pay[0][i] = t->codec == SB_XC_PCMU ? sb_g711_ulaw_encode(v)
							      : sb_g711_alaw_encode(v);
		}
		t->len[0] = 160;
		t->n = 1;
	}
	return 0;
}

/* ---- the gateway: media plane, control bus, members' sessions ---- */

static void config_set(struct sb_config *cfg)
{
	/* One worker per core the process may use, as deployed. */
	cfg->media.workers = 0;
	cfg->media.rtp_port_min = PORT_MIN;
	cfg->media.rtp_port_max = PORT_MAX;
	cfg->media.symmetric_rtp = true;
	/* Members at 127.0.0.1 get 127.0.0.1 in the answers. */
	cfg->media.allow_loopback = true;
	free(cfg->media.hold_music);
	cfg->media.hold_music = strdup("silence");
}

static void member_failed(struct bench *b, struct member *m, const char *why)
{
	if (m->failed)
		return;
	m->failed = true;
	b->n_failed++;
	if (!b->first_failure[0])
		snprintf(b->first_failure, sizeof(b->first_failure), "session %llu: %s",
			 (unsigned long long)m->id, why);
}

static void event_cb(const struct sb_event *ev, void *ud)
{
	struct bench *b = ud;
	uint64_t id = (uint64_t)ev->arg[0];
	struct member *m;
	const char *p;

	if (id == 0 || id > b->n)
		return;
	m = &b->mem[id - 1];
	switch (ev->type) {
	case SB_EV_MEDIA_READY:
		p = ev->text ? strstr(ev->text, "m=audio ") : NULL;
		if (!p) {
			member_failed(b, m, "no m=audio in the answer");
			break;
		}
		m->gw.sin_port = htons((uint16_t)strtoul(p + 8, NULL, 10));
		m->ready = true;
		break;
	case SB_EV_MEDIA_CONNECTED:
		if (sb_media_engine_ops.conf_join(b->media, m->id, m->room + 1) < 0) {
			member_failed(b, m, "conf_join refused");
			break;
		}
		m->joined = true;
		b->n_joined++;
		break;
	case SB_EV_MEDIA_FAILED:
		member_failed(b, m, ev->str[0] ? ev->str : "media failed");
		break;
	default:
		break;
	}
}

static int gateway_start(struct bench *b)
{
	static const enum sb_event_type types[] = {SB_EV_MEDIA_READY, SB_EV_MEDIA_CONNECTED,
						   SB_EV_MEDIA_FAILED};
	const char *failed = NULL;

	b->ctx = g_main_context_new();
	b->cfg = sb_config_new_default();
	if (!b->cfg)
		return -ENOMEM;
	config_set(b->cfg);
	b->control = sb_bus_new(&b->cfg->bus, b->ctx);
	if (!b->control)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		sb_bus_subscribe(b->control, types[i], event_cb, b);
	b->media = sb_media_new(b->cfg, b->control);
	b->lc = sb_lifecycle_new();
	if (!b->media || !b->lc)
		return -ENOMEM;
	sb_lifecycle_add(b->lc, &sb_media_component, b->media);
	if (sb_lifecycle_start(b->lc, &failed) < 0) {
		fprintf(stderr, "bench-conf: media did not start (%s)\n", failed ? failed : "?");
		return -EIO;
	}
	b->started = true;
	return 0;
}

static void gateway_stop(struct bench *b)
{
	for (unsigned i = 0; b->started && i < b->n; i++)
		if (b->mem[i].created)
			sb_media_engine_ops.destroy(b->media, b->mem[i].id);
	if (b->started)
		sb_lifecycle_stop(b->lc);
	b->lc = sb_lifecycle_free(b->lc);
	b->media = sb_media_free(b->media);
	b->control = sb_bus_free(b->control);
	if (b->cfg)
		sb_config_unref(b->cfg);
	if (b->ctx)
		g_main_context_unref(b->ctx);
}

/* Member i's socket on 127.0.0.1 and its session, answering the member's
 * offer, on the worker of its room. */
static int member_create(struct bench *b, unsigned i)
{
	struct member *m = &b->mem[i];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sb_engine_media_opts o = {.affinity = m->room + 1};
	const struct tone *t = &b->tones[m->slot];
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
	socklen_t l = sizeof(a);
	char *sdp;
	int r, pt = pt_of(t->codec);

	m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(m->fd, (struct sockaddr *)&a, &l) < 0 ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, m->fd, &ev) < 0)
		return -errno;
	sdp = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
			      "t=0 0\r\nm=audio %d RTP/AVP %d\r\na=rtpmap:%d %s\r\n",
			      ntohs(a.sin_port), pt, pt,
			      t->codec == SB_XC_OPUS   ? "opus/48000/2"
			      : t->codec == SB_XC_PCMA ? "PCMA/8000"
						       : "PCMU/8000");
	r = sb_media_engine_ops.create(b->media, m->id, m->id, 1, SB_MEDIA_RTP, sdp, &o);
	g_free(sdp);
	if (r < 0)
		return r;
	m->created = true;
	b->n_created++;
	return 0;
}

static int members_alloc(struct bench *b)
{
	b->mem = calloc(b->n, sizeof(*b->mem));
	if (!b->mem)
		return -ENOMEM;
	for (unsigned i = 0; i < b->n; i++) {
		struct member *m = &b->mem[i];

		m->id = i + 1;
		m->room = i / b->members;
		m->slot = i % b->members;
		m->ssrc = 0x5b000000u + (uint32_t)i;
		m->fd = -1;
		m->gw = (struct sockaddr_in){.sin_family = AF_INET,
					     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	}
	return 0;
}

/* Creates every member, IN_SETUP at a time, and waits until each has
 * joined its room or failed (or the deadline). */
static int members_setup(struct bench *b)
{
	int64_t end = g_get_monotonic_time() + (10 + b->n / 20) * G_USEC_PER_SEC;

	while (b->n_joined + b->n_failed < b->n && g_get_monotonic_time() < end) {
		while (b->n_created < b->n && b->n_created - b->n_joined - b->n_failed < IN_SETUP) {
			int r = member_create(b, b->n_created);

			if (r < 0) {
				fprintf(stderr, "bench-conf: member %u: %s\n", b->n_created + 1,
					g_strerror(-r));
				return r;
			}
		}
		if (!g_main_context_iteration(b->ctx, FALSE))
			g_usleep(500);
	}
	if (b->n_joined < b->n) {
		fprintf(stderr, "bench-conf: %u of %u members joined (%s)\n", b->n_joined, b->n,
			b->first_failure[0] ? b->first_failure : "timed out");
		return -ETIMEDOUT;
	}
	return 0;
}

/* ---- the load: a frame from every member each tick, what comes back ---- */

static void member_send(struct bench *b, struct member *m)
{
	const struct tone *t = &b->tones[m->slot];
	unsigned f = m->frame % t->n;
	uint8_t p[12 + MAX_PAY];

	/* The header only (an empty payload): the frame is binary. */
	sbt_rtp_build(p, (uint8_t)pt_of(t->codec), m->seq, m->ts, m->ssrc, "");
	memcpy(p + 12, t->pay[f], t->len[f]);
	if (sendto(m->fd, p, 12 + (size_t)t->len[f], 0, (struct sockaddr *)&m->gw, sizeof(m->gw)) >
		    0 &&
	    b->counting)
		m->sent++;
	m->seq++;
	m->ts += t->codec == SB_XC_OPUS ? 960 : 160;
	m->frame++;
}

static void keep_packet(struct bench *b, unsigned i, const uint8_t *p, size_t len)
{
	for (unsigned k = 0; k < b->n_checked; k++) {
		struct capture *c = &b->cap[k];

		if (c->member != i || c->n >= CAP_PKTS || len > sizeof(c->pkt[0]))
			continue;
		memcpy(c->pkt[c->n], p, len);
		c->len[c->n++] = (uint16_t)len;
	}
}

static void member_drain(struct bench *b, unsigned i)
{
	struct member *m = &b->mem[i];
	uint8_t p[1500];
	ssize_t n;

	while ((n = recv(m->fd, p, sizeof(p), 0)) > 0) {
		if (sb_rtp_is_rtcp(p, (size_t)n))
			continue;
		if (b->counting)
			m->heard++;
		if (b->counting && b->tick >= b->capture_from)
			keep_packet(b, i, p, (size_t)n);
	}
}

/* Runs ticks 20 ms ticks: every member sends one frame a tick (a late
 * wake-up sends the frames it missed, at most 4), everything heard is
 * taken, and the control loop runs. */
static void load_run(struct bench *b, unsigned ticks)
{
	struct epoll_event evs[64];

	for (unsigned done = 0; done < ticks;) {
		int n = epoll_wait(b->ep, evs, 64, 100);

		for (int e = 0; e < n; e++) {
			uint64_t exp = 0;

			if (evs[e].data.u32 != TIMER_KEY) {
				member_drain(b, evs[e].data.u32);
				continue;
			}
			if (read(b->tfd, &exp, sizeof(exp)) != sizeof(exp))
				continue;
			for (uint64_t k = 0; k < exp && k < 4 && done < ticks; k++, done++) {
				for (unsigned i = 0; i < b->n; i++)
					member_send(b, &b->mem[i]);
				b->tick++;
			}
		}
		g_main_context_iteration(b->ctx, FALSE);
	}
}

static int timer_start(struct bench *b)
{
	struct itimerspec it = {.it_interval.tv_nsec = FRAME_US * 1000L,
				.it_value.tv_nsec = FRAME_US * 1000L};
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_KEY};

	b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->tfd < 0 || timerfd_settime(b->tfd, 0, &it, NULL) < 0 ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, b->tfd, &ev) < 0)
		return -errno;
	return 0;
}

static void usage_take(struct bench *b, struct usage *u)
{
	u->self_s = rusage_s(RUSAGE_SELF);
	u->load_s = rusage_s(RUSAGE_THREAD);
	sb_media_counters(b->media, &u->c);
	u->sent = u->heard = 0;
	for (unsigned i = 0; i < b->n; i++) {
		u->sent += b->mem[i].sent;
		u->heard += b->mem[i].heard;
	}
}

/* ---- the content check ---- */

/* Amplitude of hz in pcm[0..n) at rate (Goertzel). */
static double tone_amp(const int16_t *pcm, size_t n, double hz, int rate)
{
	double w = 2 * M_PI * hz / rate, k = 2 * cos(w), a = 0, b = 0, pw;

	for (size_t i = 0; i < n; i++) {
		double v = pcm[i] + k * a - b;

		b = a;
		a = v;
	}
	pw = a * a + b * b - k * a * b;
	return n ? 2 * sqrt(pw > 0 ? pw : 0) / (double)n : 0;
}

/* Decodes what c's member heard; pcm holds 48000 samples. Returns the
 * samples decoded and the rate in *ret_rate. */
static size_t capture_decode(const struct capture *c, enum sb_xcode_codec codec, int16_t *pcm,
			     int *ret_rate)
{
	OpusDecoder *dec = NULL;
	size_t n = 0;
	int err = 0;

	*ret_rate = codec == SB_XC_OPUS ? 48000 : 8000;
	if (codec == SB_XC_OPUS && !(dec = opus_decoder_create(48000, 1, &err)))
		return 0;
	for (unsigned k = 0; k < c->n; k++) {
		struct sb_rtp_hdr h;
		const uint8_t *pay = c->pkt[k];
		int got;

		if (sb_rtp_parse(pay, c->len[k], &h) < 0)
			continue;
		pay += h.hdr_len;
		if (dec) {
			got = opus_decode(dec, pay, (opus_int32)h.payload_len, pcm + n,
					  (int)(48000 - n), 0);
			n += got > 0 ? (size_t)got : 0;
			continue;
		}
		for (size_t i = 0; i < h.payload_len && n < 48000; i++)
			pcm[n++] = codec == SB_XC_PCMU ? sb_g711_ulaw_decode(pay[i])
						       : sb_g711_alaw_decode(pay[i]);
	}
	if (dec)
		opus_decoder_destroy(dec);
	return n;
}

/* Prints, for each checked member, each tone of its room it hears as a
 * part of the amplitude sent; true if every other member is heard and its
 * own tone is not. */
static bool content_check(struct bench *b)
{
	static int16_t pcm[48000];
	bool ok = true;

	for (unsigned k = 0; k < b->n_checked; k++) {
		const struct member *m = &b->mem[b->cap[k].member];
		enum sb_xcode_codec codec = b->tones[m->slot].codec;
		int rate;
		size_t n = capture_decode(&b->cap[k], codec, pcm, &rate);
		bool heard_all = n >= (size_t)rate / 2;

		printf("  member %llu (room 1, %s, %.0f Hz) decoded %zu ms:",
		       (unsigned long long)m->id, codec_label(codec), b->tones[m->slot].hz,
		       n * 1000 / (size_t)rate);
		for (unsigned s = 0; s < b->members && s < 8; s++) {
			double a = tone_amp(pcm, n, b->tones[s].hz, rate) / b->amp;
			unsigned others = 0; /* members of another slot sending this tone */

			/* Past 62 members the tones repeat: a member's own
			 * tone is then heard from the others that share it
			 * (once per other), and never from itself. */
			for (unsigned o = 0; o < b->members; o++)
				others += o != m->slot && b->tones[o].hz == b->tones[s].hz;
			if (s != m->slot)
				others++;
			printf(" %.0f Hz %.2f%s", b->tones[s].hz, a, s == m->slot ? " (own)" : "");
			if (others == 0 ? a > QUIET_PART
					: a < HEARD_PART * others ||
						  a > others + (1 - HEARD_PART) * others)
				heard_all = false;
		}
		printf("%s: %s\n", b->members > 8 ? " ..." : "",
		       heard_all	      ? "ok"
		       : n < (size_t)rate / 2 ? "WRONG (under half a second heard)"
					      : "WRONG");
		ok &= heard_all;
	}
	return ok;
}

/* The first member of each codec in the first room keeps what it hears. */
static void checked_pick(struct bench *b)
{
	bool seen[SB_XC_NONE + 1] = {false};

	for (unsigned s = 0; s < b->members && b->n_checked < MAX_CHECKED; s++) {
		enum sb_xcode_codec c = b->tones[s].codec;

		if (seen[c])
			continue;
		seen[c] = true;
		b->cap[b->n_checked++].member = s;
	}
}

/* ---- figures ---- */

static void print_cpu(const struct bench *b, const char *what, double cpu_s, double win_s)
{
	double per_member_s = cpu_s / win_s / b->n;

	printf("%s: %.3f s over %.2f s = %.1f %% of one core; per member %.1f us/s = %.3f %% "
	       "of a core; per room %.3f %% of a core\n",
	       what, cpu_s, win_s, 100 * cpu_s / win_s, 1e6 * per_member_s, 100 * per_member_s,
	       100 * cpu_s / win_s / b->rooms);
}

static void print_figures(const struct bench *b, const struct usage *u0, const struct usage *u1,
			  double win_s, unsigned ticks, long rss0, long rss1)
{
	unsigned long long mixed = u1->c.conf_frames_mixed - u0->c.conf_frames_mixed;
	unsigned long long dropped = u1->c.conf_frames_dropped - u0->c.conf_frames_dropped;
	unsigned long long expected = (unsigned long long)ticks * b->n, lo = ~0ULL, hi = 0;
	unsigned long long heard = u1->heard - u0->heard, sent = u1->sent - u0->sent;

	for (unsigned i = 0; i < b->n; i++) {
		lo = b->mem[i].heard < lo ? b->mem[i].heard : lo;
		hi = b->mem[i].heard > hi ? b->mem[i].heard : hi;
	}
	printf("frames sent: %llu (%.1f per member per s; %llu expected)\n", sent,
	       (double)sent / b->n / win_s, expected);
	printf("frames received: %llu of %llu expected (%.2f %% lost); per member %llu-%llu "
	       "of %u\n",
	       heard, expected,
	       heard < expected ? 100.0 * (double)(expected - heard) / (double)expected : 0.0, lo,
	       hi, ticks);
	printf("gateway: conf_frames_mixed %llu (%llu expected), conf_frames_dropped %llu, "
	       "rtp_in %llu, rtp_out %llu\n",
	       mixed, expected, dropped, u1->c.rtp_in - u0->c.rtp_in,
	       u1->c.rtp_out - u0->c.rtp_out);
	print_cpu(b, "CPU, process (getrusage user+sys)", u1->self_s - u0->self_s, win_s);
	print_cpu(b, "CPU, gateway (process less the load's thread)",
		  (u1->self_s - u0->self_s) - (u1->load_s - u0->load_s), win_s);
	printf("RSS: peak %ld KiB, %ld KiB with the media plane up and no member, %.1f KiB "
	       "per member\n",
	       rss1, rss0, (double)(rss1 - rss0) / b->n);
}

/* ---- main ---- */

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s ? s : "", &end, 10);
	if (!s || errno || *end || end == s || v < lo || v > hi)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r = -EINVAL;

		if (strcmp(argv[i], "--rooms") == 0)
			r = parse_uint(v, 1, MAX_MEMBERS, &b->rooms);
		else if (strcmp(argv[i], "--members") == 0)
			r = parse_uint(v, 1, MAX_MEMBERS, &b->members);
		else if (strcmp(argv[i], "--seconds") == 0)
			r = parse_uint(v, 1, MAX_SECONDS, &b->seconds);
		else if (strcmp(argv[i], "--codec") == 0 && v &&
			 (strcmp(v, "pcmu") == 0 || strcmp(v, "pcma") == 0 ||
			  strcmp(v, "opus") == 0 || strcmp(v, "mix") == 0)) {
			b->codec_name = v;
			r = 0;
		}
		if (r < 0) {
			fprintf(stderr, "usage: bench-conf [--rooms R] [--members M] "
					"[--codec pcmu|pcma|opus|mix] [--seconds S]\n");
			return r;
		}
		i++;
	}
	if ((unsigned long)b->rooms * b->members > MAX_MEMBERS) {
		fprintf(stderr, "bench-conf: at most %d members in all\n", MAX_MEMBERS);
		return -EINVAL;
	}
	b->n = b->rooms * b->members;
	b->amp = b->members > 1 ? fmin(6000, 24000.0 / (b->members - 1)) : 6000;
	return 0;
}

/* Sockets: one per member here and two per member in the gateway. */
static void fd_limit_raise(void)
{
	struct rlimit l;

	if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
		l.rlim_cur = l.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &l);
	}
}

static int run(struct bench *b)
{
	unsigned ticks = b->seconds * 50;
	struct usage u0, u1;
	long rss_none, rss0;
	double t0, win_s;
	cpu_set_t cpus;

	if (tones_make(b) < 0 || members_alloc(b) < 0)
		return -ENOMEM;
	rss_none = peak_rss_kib();
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	if (b->ep < 0 || gateway_start(b) < 0 || timer_start(b) < 0)
		return -EIO;
	/* The workers' fixed costs (stacks, first arenas, library set-up)
	 * are not the members': the baseline is taken once they are up. */
	g_usleep(100 * 1000);
	rss0 = peak_rss_kib();
	if (members_setup(b) < 0)
		return -EIO;
	checked_pick(b);
	sched_getaffinity(0, sizeof(cpus), &cpus);
	printf("conf: %u rooms x %u members (%s), %u s window, %d cores, tone amplitude %.0f\n",
	       b->rooms, b->members, b->codec_name, b->seconds, CPU_COUNT(&cpus), b->amp);
	load_run(b, WARM_TICKS);
	b->counting = true;
	b->tick = 0;
	b->capture_from = ticks > 50 ? ticks - 50 : 0;
	usage_take(b, &u0);
	t0 = now_s(CLOCK_MONOTONIC);
	load_run(b, ticks);
	win_s = now_s(CLOCK_MONOTONIC) - t0;
	usage_take(b, &u1);
	print_figures(b, &u0, &u1, win_s, ticks, rss0, peak_rss_kib());
	printf("RSS before the media plane started: %ld KiB\n", rss_none);
	printf("content (the window's last second, tone amplitude heard / sent):\n");
	return content_check(b) ? 0 : -EPROTO;
}

int main(int argc, char **argv)
{
	struct bench b = {
		.rooms = 5, .members = 5, .seconds = 10, .codec_name = "mix", .ep = -1, .tfd = -1};
	int r;

	if (parse_args(&b, argc, argv) < 0)
		return 2;
	/* A bound on the whole run whatever happens: setup, 1 s of warm-up,
	 * the window, the check. */
	alarm(60 + b.n / 20 + b.seconds);
	signal(SIGPIPE, SIG_IGN);
	sb_log_set_level_all(SB_LOG_WARN);
	fd_limit_raise();
	r = run(&b);
	gateway_stop(&b);
	for (unsigned i = 0; b.mem && i < b.n; i++)
		if (b.mem[i].fd >= 0)
			close(b.mem[i].fd);
	if (b.ep >= 0)
		close(b.ep);
	if (b.tfd >= 0)
		close(b.tfd);
	free(b.mem);
	free(b.tones);
	if (r < 0)
		fprintf(stderr, "bench-conf: %s\n",
			r == -EPROTO ? "the mix was not heard as expected" : g_strerror(-r));
	return r < 0 ? 1 : 0;
}
