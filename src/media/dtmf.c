/* RFC 4733 telephone events on a session: digits received (posted as
 * media.dtmf) and digits sent (the engine's dtmf op). Worker thread only. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "media/media_internal.h"

#define DTMF_STEP_MS 50
static const char digits[] = "0123456789*#ABCD";

/* Called for every received packet of the session's telephone-event type.
 * peer_relays: the packet was relayed in-band to a SIP leg that has
 * telephone-event, which then needs no second copy from the engine. */
void sb__dtmf_rx(struct sb_msession *s, const uint8_t *payload, size_t len,
		 const struct sb_rtp_hdr *h, bool peer_relays)
{
	unsigned ev, dur;
	char d[2] = "";
	int rate = s->codec.rate > 0 ? s->codec.rate : 8000;

	if (len < 4 || !(payload[1] & 0x80))
		return; /* not the end of an event */
	if (s->dtmf_rx_seen && h->ts == s->dtmf_rx_ts)
		return; /* the end is sent three times (RFC 4733 section 2.5.1.4) */
	s->dtmf_rx_seen = true;
	s->dtmf_rx_ts = h->ts;
	ev = payload[0];
	dur = (unsigned)(payload[2] << 8 | payload[3]);
	if (ev >= sizeof(digits) - 1 || peer_relays)
		return;
	d[0] = digits[ev];
	sb__media_post_dtmf(s, d, (int64_t)dur * 1000 / rate);
}

static void send_event(struct sb_msession *s, unsigned ev, bool start, bool end, unsigned dur)
{
	uint8_t p[16 + SRTP_MAX_TRAILER_LEN];
	uint16_t seq;
	uint32_t ts = s->dtmf_tx_ts, ssrc = s->rw.ssrc_out;

	if (s->rtp_fd >= 0 && s->send_held)
		return; /* the peer holds the call: nothing is sent */
	/* One more packet in our stream: later audio moves on by one. */
	s->rw.last_seq++;
	s->rw.seq_delta++;
	seq = s->rw.last_seq;
	p[0] = 0x80;
	p[1] = (uint8_t)((start ? 0x80 : 0) | (s->dtmf_pt & 0x7f));
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	p[12] = (uint8_t)ev;
	p[13] = (uint8_t)((end ? 0x80 : 0) | 10); /* volume -10 dBm0 */
	p[14] = (uint8_t)(dur >> 8);
	p[15] = (uint8_t)dur;
	sb__session_send(s, p, 16);
}

static gboolean dtmf_tick(gpointer ud)
{
	struct sb_msession *s = ud;
	int rate = s->codec.rate > 0 ? s->codec.rate : 8000;
	unsigned total = (unsigned)(s->dtmf_tx_ms * rate / 1000), dur;
	const char *c;

	if (s->dtmf_tx_elapsed == 0) /* a new event: one frame after the last audio */
		s->dtmf_tx_ts = s->rw.last_ts + (uint32_t)rate / 50;
	c = strchr(digits, s->dtmf_q[s->dtmf_q_pos]);
	s->dtmf_tx_elapsed += DTMF_STEP_MS;
	dur = (unsigned)(s->dtmf_tx_elapsed * rate / 1000);
	if (dur >= total) {
		for (int i = 0; i < 3; i++)
			send_event(s, (unsigned)(c - digits), false, true, total);
		s->dtmf_tx_elapsed = 0;
		s->dtmf_q_pos++;
		if (!s->dtmf_q[s->dtmf_q_pos]) {
			s->dtmf_timer = 0;
			s->dtmf_q[0] = '\0';
			s->dtmf_q_pos = 0;
			return G_SOURCE_REMOVE;
		}
		return G_SOURCE_CONTINUE;
	}
	send_event(s, (unsigned)(c - digits), s->dtmf_tx_elapsed == DTMF_STEP_MS, false, dur);
	return G_SOURCE_CONTINUE;
}

int sb__dtmf_send(struct sb_msession *s, const char *text, int duration_ms)
{
	size_t n = strlen(s->dtmf_q);
	GSource *src;

	if (s->dtmf_pt < 0)
		return -ENOTSUP;
	for (const char *p = text; *p; p++)
		if (*p && strchr(digits, *p) && n + 1 < sizeof(s->dtmf_q)) {
			s->dtmf_q[n++] = *p;
			s->dtmf_q[n] = '\0';
		}
	s->dtmf_tx_ms = duration_ms < 40 ? 40 : duration_ms > 2000 ? 2000 : duration_ms;
	if (s->dtmf_timer || !s->dtmf_q[0])
		return 0;
	src = g_timeout_source_new(DTMF_STEP_MS);
	g_source_set_callback(src, dtmf_tick, s, NULL);
	s->dtmf_timer = g_source_attach(src, s->w->ctx);
	g_source_unref(src);
	return 0;
}

void sb__dtmf_free(struct sb_msession *s)
{
	if (s->dtmf_timer) {
		GSource *src = g_main_context_find_source_by_id(s->w->ctx, s->dtmf_timer);
		if (src)
			g_source_destroy(src);
		s->dtmf_timer = 0;
	}
}

void sb__msession_dtmf(struct sb_mworker *w, uint64_t id, const char *text, int duration_ms)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);

	if (s && !s->failed && sb__dtmf_send(s, text ? text : "", duration_ms) < 0)
		sb_debug("session %llu: no telephone-event to send DTMF with",
			 (unsigned long long)id);
}
