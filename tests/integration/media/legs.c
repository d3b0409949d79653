/* Shared by the media integration tests (legs.h): the media component
 * with two workers on a private port range, the results it posts, and UDP
 * "SIP phones" on loopback. Test thread. */
#include "legs.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "../../support/event_record.h"
#include "../../support/media_start.h"
#include "../../support/rtp_build.h"

GMainContext *legs_ctx;
struct sb_media *media;
struct sb_config *cfg;
const char *legs_hold_music;
struct sb_event legs_events[LEGS_MAX_EVENTS];
int legs_n_events;
static struct sb_bus *control;
static struct sb_lifecycle *lc;
static char *texts[LEGS_MAX_EVENTS];

static void on_event(const struct sb_event *ev, void *ud)
{
	sbt_event_record(legs_events, texts, &legs_n_events, LEGS_MAX_EVENTS, ev);
}

void legs_setup(void)
{
	static const enum sb_event_type types[] = {
		SB_EV_MEDIA_READY, SB_EV_MEDIA_CONNECTED, SB_EV_MEDIA_FAILED, SB_EV_MEDIA_STATS,
		SB_EV_MEDIA_DTMF,  SB_EV_MEDIA_REANSWER,  SB_EV_MEDIA_OFFER};
	int base = 41000 + 2 * (int)(getpid() % 2000);

	legs_ctx = g_main_context_new();
	cfg = sb_config_new_default();
	cfg->media.workers = 2;
	cfg->media.rtp_port_min = base;
	cfg->media.rtp_port_max = base + 40;
	cfg->media.symmetric_rtp = true;
	cfg->media.allow_loopback = true;
	free(cfg->media.hold_music);
	cfg->media.hold_music = strdup(legs_hold_music ? legs_hold_music : "silence");
	media = sbt_media_start(cfg, legs_ctx, types, sizeof(types) / sizeof(types[0]), on_event,
				&control, &lc);
}

void legs_teardown(void)
{
	sb_lifecycle_stop(lc);
	lc = sb_lifecycle_free(lc);
	media = sb_media_free(media);
	control = sb_bus_free(control);
	sb_config_unref(cfg);
	g_main_context_unref(legs_ctx);
	for (int i = 0; i < legs_n_events; i++)
		free(texts[i]);
	legs_n_events = 0;
}

/* Runs the control loop until an event of type for session id arrives. */
const struct sb_event *wait_event(enum sb_event_type type, uint64_t id, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;

	while (g_get_monotonic_time() < end) {
		for (int i = 0; i < legs_n_events; i++)
			if (legs_events[i].type == type && (uint64_t)legs_events[i].arg[0] == id)
				return &legs_events[i];
		g_main_context_iteration(legs_ctx, FALSE);
		g_usleep(2000);
	}
	return NULL;
}

const struct sb_event *wait_seq(enum sb_event_type type, uint64_t id, uint64_t seq, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;

	while (g_get_monotonic_time() < end) {
		for (int i = 0; i < legs_n_events; i++)
			if (legs_events[i].type == type && (uint64_t)legs_events[i].arg[0] == id &&
			    (uint64_t)legs_events[i].arg[2] == seq)
				return &legs_events[i];
		g_main_context_iteration(legs_ctx, FALSE);
		g_usleep(2000);
	}
	return NULL;
}

int udp_peer(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

char *sdp_of(int port, const char *m_fmt, const char *attrs)
{
	return g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
			       "t=0 0\r\nm=audio %d RTP/AVP %s\r\n%s",
			       port, m_fmt, attrs);
}

/* The gateway's RTP port from its description. */
int port_of(const char *sdp)
{
	const char *m = strstr(sdp, "m=audio ");
	int port = 0;

	cr_assert_not_null(m, "no m=audio in %s", sdp);
	sscanf(m, "m=audio %d", &port);
	return port;
}

void send_rtp(int fd, int to_port, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
	      const char *payload)
{
	uint8_t p[256];
	size_t n = sbt_rtp_build(p, pt, seq, ts, ssrc, payload);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)to_port)};

	cr_assert_eq(sendto(fd, p, n, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)n);
}

/* Receives one RTP packet within ms; returns its length (0: none). */
size_t recv_rtp(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, ms) <= 0)
			return 0;
		n = recv(fd, buf, cap, 0);
		if (n > 0 && !sb_rtp_is_rtcp(buf, (size_t)n))
			return (size_t)n;
	}
}

uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- new offers and bridges (test_reoffer.c, test_hold.c) ---- */

/* Gives session id the new offer sdp (freed here) as offer seq and returns
 * its media.reanswer. */
const struct sb_event *reoffer(uint64_t id, uint64_t seq, char *sdp)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.reoffer(media, id, seq, sdp), 0);
	g_free(sdp);
	ev = wait_seq(SB_EV_MEDIA_REANSWER, id, seq, 3000);
	cr_assert_not_null(ev, "no media.reanswer for offer %llu of session %llu",
			   (unsigned long long)seq, (unsigned long long)id);
	return ev;
}

void refused(uint64_t id, uint64_t seq, char *sdp, int err)
{
	const struct sb_event *ev = reoffer(id, seq, sdp);

	cr_assert_eq(ev->arg[1], err, "offer %llu: %lld (%s), not %d", (unsigned long long)seq,
		     (long long)ev->arg[1], ev->str, err);
	cr_assert_null(ev->text, "a refusal with an answer");
}

/* Tells session id what SIP did with its answer to offer seq (sent: the
 * 200 went out), and waits until the worker has taken it: a text that is
 * not SDP, refused, comes back after it (the worker's commands are in
 * order). */
void done(uint64_t id, uint64_t seq, bool sent)
{
	cr_assert_eq(sb_media_engine_ops.reoffer_done(media, id, seq, sent), 0);
	barrier(id, 1000 + seq);
}

void barrier(uint64_t id, uint64_t seq)
{
	refused(id, seq, g_strdup("not SDP: a barrier"), -EBADMSG);
}

/* An offer answered: the answer, which must contain want; it is not
 * applied until SIP has sent it. */
const char *answered(uint64_t id, uint64_t seq, char *sdp, const char *want)
{
	const struct sb_event *ev = reoffer(id, seq, sdp);

	cr_assert_eq(ev->arg[1], 0, "offer %llu refused: %s", (unsigned long long)seq, ev->str);
	cr_assert_not_null(ev->text);
	cr_assert_not_null(strstr(ev->text, want), "no %s in the answer:\n%s", want, ev->text);
	return ev->text;
}

/* An offer answered, and the answer sent by SIP: the leg now has it. */
const char *accepted(uint64_t id, uint64_t seq, char *sdp, const char *want)
{
	const char *text = answered(id, seq, sdp, want);

	done(id, seq, true);
	return text;
}

/* Two answering legs of one call, bridged: a at leg 1, b at leg 2. */
void bridged(uint64_t call, uint64_t ia, uint64_t ib, char *offer_a, char *offer_b, int *gw_a,
	     int *gw_b)
{
	const struct sb_event *ev;

	cr_assert_eq(sb_media_engine_ops.create(media, ia, call, 1, SB_MEDIA_RTP, offer_a, NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, ia, 3000);
	cr_assert_not_null(ev);
	*gw_a = port_of(ev->text);
	cr_assert_eq(sb_media_engine_ops.create(media, ib, call, 2, SB_MEDIA_RTP, offer_b, NULL),
		     0);
	ev = wait_event(SB_EV_MEDIA_READY, ib, 3000);
	cr_assert_not_null(ev);
	*gw_b = port_of(ev->text);
	cr_assert_eq(sb_media_engine_ops.bridge(media, ia, ib), 0);
	g_free(offer_a);
	g_free(offer_b);
	g_usleep(100 * 1000);
}

/* Expects payload at fd under payload type pt (-1: nothing comes). */
void expect_at(int fd, int pt, const char *payload)
{
	uint8_t buf[512];
	size_t n = recv_rtp(fd, buf, sizeof(buf), pt < 0 ? 200 : 2000);

	if (pt < 0) {
		cr_assert_eq(n, 0, "%s was relayed", payload);
		return;
	}
	cr_assert_gt(n, 12, "%s was not relayed", payload);
	cr_assert_eq(buf[1] & 0x7f, pt, "%s relayed as %d, not %d", payload, buf[1] & 0x7f, pt);
	cr_assert_eq(n, 12 + strlen(payload));
	cr_assert_eq(memcmp(buf + 12, payload, strlen(payload)), 0);
}
