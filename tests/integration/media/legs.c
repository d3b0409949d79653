/* Shared by the media integration tests (legs.h): the media component
 * with two workers on a private port range, the results it posts, and UDP
 * "SIP phones" on loopback. Test thread. */
#include "legs.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
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
	static const enum sb_event_type types[] = {SB_EV_MEDIA_READY,  SB_EV_MEDIA_CONNECTED,
						   SB_EV_MEDIA_FAILED, SB_EV_MEDIA_STATS,
						   SB_EV_MEDIA_DTMF,   SB_EV_MEDIA_REANSWER};
	int base = 41000 + 2 * (int)(getpid() % 2000);

	legs_ctx = g_main_context_new();
	cfg = sb_config_new_default();
	cfg->media.workers = 2;
	cfg->media.rtp_port_min = base;
	cfg->media.rtp_port_max = base + 40;
	cfg->media.symmetric_rtp = true;
	cfg->media.allow_loopback = true;
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
