/* The media of a SIP phone in the call tests: a UDP socket on 127.0.0.1
 * that returns every RTP packet to its sender, optionally as another
 * source, and records what it got (harness.h, struct ct_echo). Test
 * thread; runs on the gateway's test context with the browsers' media. */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Records one RTP packet (len >= 12) and turns its header into the one
 * that goes back; whether it carries sb-peer's payload (the only kind
 * returned). */
static bool take(struct ct_echo *e, uint8_t *b, size_t len)
{
	bool marked;
	uint16_t seq = (uint16_t)(b[2] << 8 | b[3]);
	gint64 now = g_get_monotonic_time();

	if (e->packets && (uint16_t)(seq - (uint16_t)e->last_seq) != 1)
		e->seq_gaps++;
	if (!e->packets) {
		e->first_seq = seq;
		e->first_us = now;
	}
	if (e->packets && now - e->last_us > e->max_gap_us)
		e->max_gap_us = now - e->last_us;
	if (e->packets && now - e->last_us > 1000000)
		e->silences++;
	e->packets++;
	e->last_seq = seq;
	e->last_us = now;
	e->pt[b[1] & 0x7f]++;
	/* sb-peer's marker ends every payload (tests/peer, docs/media.md) */
	marked = len >= 12 + 20 && memcmp(b + len - 20, "SBP1", 4) == 0;
	e->marked += marked;
	seq = (uint16_t)(seq + e->seq_add);
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	put32(b + 4, get32(b + 4) + e->ts_add);
	put32(b + 8, get32(b + 8) ^ e->ssrc_xor);
	return marked;
}

#define OWN_LEN 160

static void own_payload(uint8_t *p, uint32_t n)
{
	memcpy(p, "CTE1", 4);
	put32(p + 4, n);
	for (int i = 8; i < OWN_LEN; i++)
		p[i] = (uint8_t)(n * 7 + (unsigned)i);
}

static void own_back(struct ct_echo *e, const uint8_t *p)
{
	uint8_t want[OWN_LEN];

	e->own_back++;
	own_payload(want, get32(p + 4));
	if (memcmp(p, want, OWN_LEN) == 0)
		e->own_intact++;
}

void ct_echo_send(struct ct_echo *e)
{
	uint8_t b[12 + OWN_LEN] = {0x80, 0};
	uint32_t n = e->own_sent++;

	b[2] = (uint8_t)(n >> 8);
	b[3] = (uint8_t)n;
	put32(b + 4, 160 * n);
	put32(b + 8, 0x0ec0ec0e);
	own_payload(b + 12, n);
	(void)sendto(e->fd, b, sizeof(b), 0, (struct sockaddr *)&e->from, sizeof(e->from));
}

static gboolean readable_cb(gint fd, GIOCondition cond, gpointer ud)
{
	struct ct_echo *e = ud;
	uint8_t buf[1600];
	struct sockaddr_in from;
	socklen_t flen;
	ssize_t n;

	for (;;) {
		flen = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0)
			break;
		if (n < 12 || buf[0] >> 6 != 2)
			continue;
		if (buf[1] >= 192 && buf[1] <= 223) { /* RTCP (RFC 5761 section 4) */
			e->rtcp++;
			continue;
		}
		e->from = from;
		if (n == 12 + OWN_LEN && memcmp(buf + 12, "CTE1", 4) == 0) {
			own_back(e, buf + 12);
			continue;
		}
		/* A phone repeating what the browser says: music on hold (or
		 * anything else not the browser's) is counted, not returned,
		 * as a person on hold does not sing along. */
		if (take(e, buf, (size_t)n))
			(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
	}
	return G_SOURCE_CONTINUE;
}

void ct_echo_start(struct ct_echo *e, const struct ct_gw *g, uint32_t ssrc_xor, uint16_t seq_add,
		   uint32_t ts_add)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	memset(e, 0, sizeof(*e));
	e->ssrc_xor = ssrc_xor;
	e->seq_add = seq_add;
	e->ts_add = ts_add;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	e->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert(e->fd >= 0 && bind(e->fd, (struct sockaddr *)&a, sizeof(a)) == 0,
		  "no UDP echo socket");
	getsockname(e->fd, (struct sockaddr *)&a, &len);
	e->port = ntohs(a.sin_port);
	e->src = g_unix_fd_source_new(e->fd, G_IO_IN);
	g_source_set_callback(e->src, (GSourceFunc)(void (*)(void))readable_cb, e, NULL);
	g_source_attach(e->src, g->ctx);
}

void ct_echo_stop(struct ct_echo *e)
{
	if (e->src) {
		g_source_destroy(e->src);
		g_source_unref(e->src);
	}
	e->src = NULL;
	if (e->fd > 0)
		close(e->fd);
	e->fd = -1;
}
