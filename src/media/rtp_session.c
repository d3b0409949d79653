/* RTP/AVP or SDES RTP/SAVP (RFC 4568, sdes.c) toward a SIP peer
 * (SB_MEDIA_RTP, SB_MEDIA_RTP_ECHO): a UDP pair from [media]
 * rtp_port_min..max, symmetric RTP latching, the relay to and from a bridged
 * session without decoding, and per-leg RTCP statistics. Worker thread only;
 * no allocation per packet. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "log/log.h"
#include "media/media_internal.h"

#define STATS_INTERVAL_MS 5000

static uint32_t now_units(const struct sb_msession *s)
{
	int rate = s->codec.rate > 0 ? s->codec.rate : 8000;

	return (uint32_t)((uint64_t)g_get_monotonic_time() * (uint64_t)rate / 1000000u);
}

static void rtp_send(struct sb_msession *s, uint8_t *buf, int len);

void sb__rx_count(struct sb_msession *s, const uint8_t *buf, const struct sb_rtp_hdr *h)
{
	struct sb_msession *peer;

	s->pkts_in++;
	if (sb__audio_pt(s, h->pt)) {
		sb_rtp_rx_update(&s->rx, h, now_units(s));
	} else if (s->dtmf_pt >= 0 && h->pt == (uint8_t)s->dtmf_pt) {
		/* Relayed in-band to a SIP leg with telephone-event: no second
		 * copy through the engine. Toward a browser the engine tells
		 * the page (call.dtmf), which cannot read RTP events. */
		peer = s->peer_s;
		sb__dtmf_rx(s, buf + h->hdr_len, h->payload_len, h,
			    peer && peer->rtp_fd >= 0 && peer->dtmf_pt >= 0);
	}
}

void sb__session_send(struct sb_msession *s, uint8_t *buf, int len)
{
	if (s->rtp_fd >= 0)
		rtp_send(s, buf, len);
	else
		sb__webrtc_send(s, buf, len);
}

/* ---- the relay ---- */

/* Sends one RTP packet to the peer, protected in place with SDES (buf has
 * room for the SRTP trailer). */
static void rtp_send(struct sb_msession *s, uint8_t *buf, int len)
{
	int plain = len;

	/* A failed session sends nothing (a refused SDES answer must not get
	 * clear RTP while the engine ends the call), nor toward a peer that
	 * does not receive (RFC 3264 section 8.4: it holds the call); RTCP
	 * goes on (send_rr). */
	if (!s->have_remote || s->failed || s->send_held)
		return;
	if (s->srtp_ready && srtp_protect(s->srtp_out, buf, &len) != srtp_err_status_ok)
		return;
	if (sendto(s->rtp_fd, buf, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&s->peer_rtp,
		   s->peer_rtp_len) == len) {
		sb_rtcp_sender_note(&s->sent, buf, (size_t)plain, s->codec.rate,
				    (uint64_t)g_get_real_time());
		s->pkts_out++;
		atomic_fetch_add_explicit(&s->w->m->rtp_out, 1, memory_order_relaxed);
	}
}

static void put_ts(uint8_t *p, uint32_t ts)
{
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
}

/* Timestamp (or duration) t of from's clock in to's clock. */
static uint32_t rescale(uint32_t t, int from_rate, int to_rate)
{
	if (from_rate == to_rate || from_rate <= 0 || to_rate <= 0)
		return t;
	if (to_rate > from_rate)
		return t * (uint32_t)(to_rate / from_rate);
	return t / (uint32_t)(from_rate / to_rate);
}

/* Builds into out the packet of to's codec for the audio packet of from's
 * codec in buf (different codecs: Opus, G.722, G.711). Returns its length, or 0
 * when there is nothing to send. The transcoder is made on first use. */
static int transcode(struct sb_msession *from, struct sb_msession *to, const uint8_t *buf,
		     const struct sb_rtp_hdr *h, uint8_t *out, size_t cap)
{
	enum sb_xcode_codec a = sb_xcode_codec_of(from->codec.name);
	enum sb_xcode_codec b = sb_xcode_codec_of(to->codec.name);
	uint32_t ts = rescale(h->ts, from->codec.rate, to->codec.rate);
	int n;

	if (!to->xc || to->xc_from != (int)a) {
		to->xc = sb_xcode_free(to->xc);
		to->xc = sb_xcode_new(a, b);
		to->xc_from = (int)a;
		if (!to->xc)
			return 0;
		sb_info("session %llu: transcoding %s to %s", (unsigned long long)to->id,
			from->codec.name, to->codec.name);
	}
	n = sb_xcode_run(to->xc, buf + h->hdr_len, h->payload_len, out + 12, cap - 12);
	if (n <= 0)
		return 0;
	out[0] = 0x80;
	out[1] = h->marker ? 0x80 : 0;
	out[2] = (uint8_t)(h->seq >> 8);
	out[3] = (uint8_t)h->seq;
	put_ts(out, ts);
	memcpy(out + 8, buf + 8, 4);
	return 12 + n;
}

void sb__relay(struct sb_msession *from, struct sb_msession *to, uint8_t *buf, int len,
	       const struct sb_rtp_hdr *h)
{
	uint8_t tbuf[SB_MEDIA_MAX_PKT + SRTP_MAX_TRAILER_LEN];
	uint32_t step = (uint32_t)(to->codec.rate > 0 ? to->codec.rate : 8000) / 50;
	struct sb_rtp_hdr th;
	int pt;

	/* A held RTP peer gets nothing, and its outgoing stream does not move
	 * on: sequence numbers continue after the hold (RFC 3550 section 5.1
	 * counts packets sent). Nor does anything pass to or from a session
	 * we hold. One branch for the three (send_held is only ever set on
	 * RTP legs); the counting is off the relay's path. */
	if (from->local_hold | to->local_hold | to->send_held) {
		if (from->local_hold | to->local_hold)
			atomic_fetch_add_explicit(&from->w->m->dropped_held, 1,
						  memory_order_relaxed);
		return;
	}
	/* The negotiated codec passes as it is when both legs have it, else
	 * through the transcoder; telephone-event passes with its clock
	 * rescaled; anything else (comfort noise, other codecs) stops. */
	if (sb__audio_pt(from, h->pt) && strcasecmp(from->codec.name, to->codec.name) == 0) {
		pt = to->codec.pt;
	} else if (sb__audio_pt(from, h->pt)) {
		len = transcode(from, to, buf, h, tbuf, SB_MEDIA_MAX_PKT);
		if (len <= 0 || sb_rtp_parse(tbuf, (size_t)len, &th) < 0)
			return;
		sb_rtp_rewrite_apply(&to->rw, tbuf, &th, (uint8_t)to->codec.pt, step);
		if (to->rtp_fd >= 0)
			rtp_send(to, tbuf, len);
		else
			sb__webrtc_send(to, tbuf, len);
		return;
	} else if (from->dtmf_pt >= 0 && h->pt == (uint8_t)from->dtmf_pt && to->dtmf_pt >= 0) {
		pt = to->dtmf_pt;
		if (from->codec.rate != to->codec.rate && h->payload_len >= 4) {
			/* RFC 4733: the event duration is in timestamp units. */
			uint8_t *e = buf + h->hdr_len;
			uint32_t d = rescale((uint32_t)(e[2] << 8 | e[3]), from->codec.rate,
					     to->codec.rate);
			d = d > 0xffff ? 0xffff : d;
			e[2] = (uint8_t)(d >> 8);
			e[3] = (uint8_t)d;
			put_ts(buf, rescale(h->ts, from->codec.rate, to->codec.rate));
			if (sb_rtp_parse(buf, (size_t)len, &th) < 0)
				return;
			h = &th;
		}
	} else {
		return;
	}
	sb_rtp_rewrite_apply(&to->rw, buf, h, (uint8_t)pt, step);
	if (to->rtp_fd >= 0)
		rtp_send(to, buf, len);
	else
		sb__webrtc_send(to, buf, len);
}

/* ---- receiving ---- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

	return a->ss_family == AF_INET && b->ss_family == AF_INET &&
	       x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
}

static void on_rtcp(struct sb_msession *s, const uint8_t *buf, size_t len)
{
	struct sb_rtcp_info r;
	uint64_t now = (uint64_t)g_get_real_time();

	if (sb_rtcp_parse(buf, len, &r) < 0)
		return;
	atomic_fetch_add_explicit(&s->w->m->rtcp_in, 1, memory_order_relaxed);
	if (r.has_sr)
		sb_rtp_rx_on_sr(&s->rx, r.ntp, now);
	for (int i = 0; i < r.n_blocks; i++) {
		int64_t rtt;

		if (r.blocks[i].ssrc != s->rw.ssrc_out)
			continue;
		rtt = sb_rtcp_rtt_us(&r.blocks[i], sb_rtp_ntp_of_us(now));
		if (rtt >= 0)
			s->rtt_us = rtt;
	}
}

/* SDES: unprotects buf (RTP or RTCP) in place. False when it is to be
 * dropped, counted as the WebRTC leg counts (session.c). */
static bool sdes_unprotect(struct sb_msession *s, uint8_t *buf, int *len, bool rtcp)
{
	struct sb_media *m = s->w->m;
	srtp_err_status_t e;

	if (s->n_sdes_offer || s->failed)
		return false; /* keys offered, none agreed yet (or refused) */
	if (!s->srtp_ready)
		return true;
	e = rtcp ? srtp_unprotect_rtcp(s->srtp_in, buf, len) : srtp_unprotect(s->srtp_in, buf, len);
	if (e == srtp_err_status_ok)
		return true;
	if (e == srtp_err_status_replay_fail || e == srtp_err_status_replay_old)
		atomic_fetch_add_explicit(&m->dropped_replay, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&m->dropped_auth, 1, memory_order_relaxed);
	return false;
}

static void rtcp_readable(struct sb_mwatch *wt, uint32_t events)
{
	struct sb_msession *s = wt->owner;
	uint8_t buf[SB_MEDIA_MAX_PKT];
	struct sockaddr_storage from;
	socklen_t flen;
	ssize_t n;
	int len;

	for (int i = 0; i < 32; i++) {
		flen = sizeof(from);
		n = recvfrom(wt->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &flen);
		if (n < 0)
			break;
		len = (int)n;
		/* Only authenticated packets move the latch. */
		if (!sdes_unprotect(s, buf, &len, true))
			continue;
		n = len;
		/* After the peer moved, the old stream's RTCP may still come:
		 * latch once its grace is over (rtp_packet). */
		if (!s->rtcp_latched && s->w->m->cfg->media.symmetric_rtp &&
		    (!s->prev_until_us || g_get_monotonic_time() >= s->prev_until_us)) {
			s->peer_rtcp = from;
			s->peer_rtcp_len = flen;
			s->rtcp_latched = true;
		}
		on_rtcp(s, buf, (size_t)n);
	}
}

/* One received datagram of the RTP socket. */
static void rtp_packet(struct sb_msession *s, uint8_t *buf, ssize_t n,
		       const struct sockaddr_storage *from, socklen_t flen)
{
	struct sb_media *m = s->w->m;
	struct sb_rtp_hdr h;
	struct sb_msession *peer;
	bool rtcp, old = false;
	int len = (int)n;

	/* After a re-offer moved the peer, the source latched before still
	 * delivers the old stream's last packets for a while: taken, never
	 * latched onto (rtp_reoffer.c). */
	if (s->prev_until_us && same_addr(from, &s->prev_src)) {
		old = g_get_monotonic_time() < s->prev_until_us;
		if (!old)
			s->prev_until_us = 0;
	}
	if (s->latched && !old && !same_addr(from, &s->peer_rtp))
		return; /* not the source we latched onto */
	rtcp = sb_rtp_is_rtcp(buf, (size_t)n);
	/* SDES: only authenticated packets move the latch (a forged packet
	 * must not steal the stream). */
	if (!sdes_unprotect(s, buf, &len, rtcp))
		return;
	n = len;
	if (rtcp) {
		on_rtcp(s, buf, (size_t)n); /* rtcp-mux */
		return;
	}
	if (sb_rtp_parse(buf, (size_t)n, &h) < 0)
		return;
	if (!s->latched && !old && m->cfg->media.symmetric_rtp) {
		/* Symmetric RTP: answer where the media comes from (NAT). */
		s->peer_rtp = *from;
		s->peer_rtp_len = flen;
		s->have_remote = true;
		s->latched = true;
	}
	atomic_fetch_add_explicit(&m->rtp_in, 1, memory_order_relaxed);
	/* The new payload type arrived: the old one is no longer taken. */
	if (s->pt_prev >= 0 && h.pt == (uint8_t)s->codec.pt)
		s->pt_prev = -1;
	sb__rx_count(s, buf, &h);
	if (s->kind == SB_MEDIA_RTP_ECHO) {
		if (s->send_held | s->local_hold) {
			/* either side holds: nothing back, the stream pauses */
			if (s->local_hold)
				atomic_fetch_add_explicit(&m->dropped_held, 1,
							  memory_order_relaxed);
			return;
		}
		sb_rtp_rewrite_apply(&s->rw, buf, &h, h.pt, (uint32_t)s->codec.rate / 50);
		rtp_send(s, buf, (int)n);
		return;
	}
	/* A conference member has no partner: its branch costs the relay
	 * nothing. */
	peer = s->peer_s;
	if (peer)
		sb__relay(s, peer, buf, (int)n, &h);
	else if (s->cm)
		sb__conf_input(s, buf, &h);
}

/* Datagrams taken per recvmmsg(); a fuller socket stays ready in epoll
 * (level-triggered) and is read again on the next wake-up, so one busy leg
 * does not starve the others. */
#define RTP_BATCH 16

struct sb_rtp_batch {
	struct mmsghdr mh[RTP_BATCH];
	struct iovec iov[RTP_BATCH];
	struct sockaddr_storage from[RTP_BATCH];
	/* Room for the SRTP trailer: the relay protects in place. */
	uint8_t buf[RTP_BATCH][SB_MEDIA_MAX_PKT + SRTP_MAX_TRAILER_LEN];
};

int sb__rtp_rx_init(struct sb_mworker *w)
{
	struct sb_rtp_batch *rx = g_try_new(struct sb_rtp_batch, 1);

	if (!rx)
		return -ENOMEM;
	/* Set once: a read only puts back the address lengths it used. */
	for (int i = 0; i < RTP_BATCH; i++) {
		rx->iov[i] = (struct iovec){rx->buf[i], SB_MEDIA_MAX_PKT};
		rx->mh[i].msg_hdr = (struct msghdr){.msg_name = &rx->from[i],
						    .msg_namelen = sizeof(rx->from[i]),
						    .msg_iov = &rx->iov[i],
						    .msg_iovlen = 1};
	}
	w->rrx = rx;
	return 0;
}

void sb__rtp_rx_fini(struct sb_mworker *w)
{
	g_free(w->rrx);
	w->rrx = NULL;
}

static void rtp_readable(struct sb_mwatch *wt, uint32_t events)
{
	struct sb_msession *s = wt->owner;
	struct sb_rtp_batch *rx = s->w->rrx;
	int n = recvmmsg(wt->fd, rx->mh, RTP_BATCH, MSG_DONTWAIT, NULL);

	/* Sessions are freed from the command queue, never on a packet's
	 * path, so s outlives the batch. */
	for (int i = 0; i < n; i++) {
		rtp_packet(s, rx->buf[i], (ssize_t)rx->mh[i].msg_len, &rx->from[i],
			   rx->mh[i].msg_hdr.msg_namelen);
		rx->mh[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
	}
}

/* ---- statistics ---- */

/* A rough E-model (ITU-T G.107 simplified): delay from RTT/2, jitter and a
 * 20 ms frame; loss with a codec robustness of 10 (G.711 with concealment
 * is 4.3-25 depending on the concealer; Opus is better). */
static double mos_of(int64_t rtt_us, int64_t jitter_us, double loss_pct)
{
	double d = (double)(rtt_us > 0 ? rtt_us / 2 : 0) / 1000.0 + 2.0 * jitter_us / 1000.0 + 20;
	double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
	double ie = 95.0 * loss_pct / (loss_pct + 10.0);
	double r = 93.2 - id - ie;

	if (r <= 0)
		return 1.0;
	if (r >= 100)
		return 4.5;
	return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

/* Our report: an SR once we have sent media on the leg, else an RR. */
static void send_rr(struct sb_msession *s)
{
	uint8_t buf[64 + SRTP_MAX_TRAILER_LEN];
	int n = sb_rtcp_write_report(buf, 64, s->rw.ssrc_out, &s->sent, &s->rx,
				     (uint64_t)g_get_real_time());

	if (n < 0)
		return;
	if (s->rtp_fd >= 0) {
		const struct sockaddr_storage *to = s->rtcp_latched ? &s->peer_rtcp : &s->peer_rtp;
		socklen_t tl = s->rtcp_latched ? s->peer_rtcp_len : s->peer_rtp_len;
		struct sockaddr_storage alt;

		if (!s->have_remote || s->failed)
			return;
		if (s->srtp_ready && srtp_protect_rtcp(s->srtp_out, buf, &n) != srtp_err_status_ok)
			return;
		if (!s->rtcp_latched && !s->rtcp_mux) {
			/* RTCP on the next port (RFC 3550 section 11). */
			alt = s->peer_rtp;
			if (alt.ss_family == AF_INET) {
				struct sockaddr_in *in = (struct sockaddr_in *)&alt;
				in->sin_port = htons((uint16_t)(ntohs(in->sin_port) + 1));
			}
			to = &alt;
		}
		(void)sendto(s->rtcp_latched ? s->rtcp_fd : s->rtp_fd, buf, (size_t)n, MSG_DONTWAIT,
			     (const struct sockaddr *)to, tl);
	} else if (s->srtp_ready) {
		if (srtp_protect_rtcp(s->srtp_out, buf, &n) == srtp_err_status_ok)
			nice_agent_send(s->agent, s->stream, 1, (guint)n, (const gchar *)buf);
	}
}

static void stats_send(struct sb_msession *s)
{
	int rate = s->codec.rate > 0 ? s->codec.rate : 8000;
	uint32_t expected = sb_rtp_rx_expected(&s->rx);
	int64_t lost = sb_rtp_rx_lost(&s->rx);
	int64_t jitter_us = (int64_t)sb_rtp_rx_jitter(&s->rx) * 1000000 / rate;
	double loss_pct = expected ? 100.0 * (double)(lost > 0 ? lost : 0) / expected : 0;
	double mos = mos_of(s->rtt_us, jitter_us, loss_pct);
	char smos[16], text[400];

	send_rr(s);
	snprintf(smos, sizeof(smos), "%.2f", mos);
	snprintf(text, sizeof(text),
		 "{\"codec\":\"%s\",\"packets_in\":%llu,\"packets_out\":%llu,"
		 "\"lost\":%lld,\"jitter_us\":%lld,\"rtt_us\":%lld,\"mos\":%s}",
		 s->codec.name, s->pkts_in, s->pkts_out, (long long)lost, (long long)jitter_us,
		 (long long)s->rtt_us, smos);
	sb__media_post_stats(s, lost, jitter_us, s->rtt_us, smos, strdup(text));
}

/* RFC 3550 section 6.3.1: each interval drawn from 0.5 to 1.5 times the
 * nominal one, so that sessions set up together do not report together. */
static int64_t stats_interval_us(void)
{
	return (int64_t)g_random_int_range(STATS_INTERVAL_MS * 500, STATS_INTERVAL_MS * 1500);
}

void sb__stats_start(struct sb_msession *s)
{
	if (!s->stats_due_us)
		s->stats_due_us = g_get_monotonic_time() + stats_interval_us();
}

/* One timer per worker rather than one per session: the worker's loop
 * prepares and checks every source on every wake-up. */
void sb__stats_tick(struct sb_mworker *w)
{
	int64_t now = g_get_monotonic_time();
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, w->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sb_msession *s = v;

		sb__consent_tick(s, now);
		if (!s->stats_due_us || now < s->stats_due_us)
			continue;
		s->stats_due_us += stats_interval_us();
		if (s->stats_due_us <= now)
			s->stats_due_us = now + stats_interval_us();
		stats_send(s);
	}
}

/* ---- sockets and descriptions ---- */

static int open_pair(struct sb_msession *s)
{
	const struct sb_config_media *mc = &s->w->m->cfg->media;
	int lo = (int)(mc->rtp_port_min + 1) & ~1, hi = (int)mc->rtp_port_max;
	int span = (hi - lo) / 2 + 1;
	int start = span > 0 ? (int)g_random_int_range(0, span) : 0;

	if (span <= 0)
		return -EINVAL;
	for (int i = 0; i < span && i < 256; i++) {
		int port = lo + 2 * ((start + i) % span);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_ANY)};
		int f1 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int f2 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (f1 < 0 || f2 < 0) {
			if (f1 >= 0)
				close(f1);
			if (f2 >= 0)
				close(f2);
			return -errno;
		}
		a.sin_port = htons((uint16_t)port);
		if (bind(f1, (struct sockaddr *)&a, sizeof(a)) == 0) {
			a.sin_port = htons((uint16_t)(port + 1));
			if (bind(f2, (struct sockaddr *)&a, sizeof(a)) == 0) {
				s->rtp_fd = f1;
				s->rtcp_fd = f2;
				s->local_port = port;
				return 0;
			}
		}
		close(f1);
		close(f2);
	}
	return -EADDRINUSE;
}

void sb__rtp_local_addr(struct sb_msession *s, const char *peer_addr, char *out, size_t n)
{
	const struct sb_config_media *mc = &s->w->m->cfg->media;
	GList *ips;

	if (mc->public_address && *mc->public_address) {
		snprintf(out, n, "%s", mc->public_address);
		return;
	}
	if (mc->allow_loopback && peer_addr && strncmp(peer_addr, "127.", 4) == 0) {
		snprintf(out, n, "127.0.0.1");
		return;
	}
	if (mc->interfaces && mc->interfaces[0]) {
		snprintf(out, n, "%s", mc->interfaces[0]);
		return;
	}
	snprintf(out, n, "%s", mc->allow_loopback ? "127.0.0.1" : "0.0.0.0");
	ips = nice_interfaces_get_local_ips(FALSE);
	for (GList *l = ips; l; l = l->next)
		if (!strchr(l->data, ':')) {
			snprintf(out, n, "%s", (const char *)l->data);
			break;
		}
	g_list_free_full(ips, g_free);
}

/* RFC 5761: both sides agreed on rtcp-mux (the offer had it and our answer
 * keeps it, or our offer had it and the answer keeps it), so RTCP comes and
 * goes on the RTP port and the RTCP socket is closed. */
static void rtcp_mux_start(struct sb_msession *s)
{
	s->rtcp_mux = true;
	sb__mpoll_del(s->w, &s->rtcp_w);
	if (s->rtcp_fd >= 0)
		close(s->rtcp_fd);
	s->rtcp_fd = -1;
	s->rtcp_latched = false;
}

/* Takes the peer's address and codec from s->offer (already parsed). */
static int take_remote(struct sb_msession *s)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&s->peer_rtp;

	memset(&s->peer_rtp, 0, sizeof(s->peer_rtp));
	in->sin_family = AF_INET;
	if (!s->ra || s->ra->port == 0 || s->ra->port > 65535 || !s->ra->addr ||
	    inet_pton(AF_INET, s->ra->addr, &in->sin_addr) != 1)
		return -EBADMSG;
	in->sin_port = htons((uint16_t)s->ra->port);
	s->peer_rtp_len = sizeof(*in);
	s->sig_rtp = s->peer_rtp;
	/* 0.0.0.0 is a hold (RFC 3264 section 8.4): wait for latching. */
	s->have_remote = in->sin_addr.s_addr != htonl(INADDR_ANY);
	s->dtmf_pt = sb__dtmf_pt(s->ra, s->codec.rate);
	if (s->ra->rtcp_mux && !s->rtcp_mux)
		rtcp_mux_start(s);
	return 0;
}

/* The codec of another session of the same call on this worker (the
 * browser's leg), so that the relay needs no transcoding. */
const struct sb_mcodec *sb__sibling_codec(struct sb_msession *s)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, s->w->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct sb_msession *o = v;
		if (o != s && o->call == s->call && o->codec.name[0])
			return &o->codec;
	}
	return NULL;
}

/* A codec this leg can take: the other leg's (relayed as it is) or, when
 * the other leg has one the transcoder knows, Opus, PCMU, PCMA or G.722. */
static gboolean want_codec(const struct sb_sdp_codec *c, const struct sb_mcodec *other)
{
	if (other && strcasecmp(c->name, other->name) == 0 && (int)c->rate == other->rate)
		return TRUE;
	if (other && sb_xcode_codec_of(other->name) == SB_XC_NONE)
		return FALSE;
	return sb_xcode_codec_of(c->name) != SB_XC_NONE;
}

static int watch(struct sb_msession *s, struct sb_mwatch *wt, int fd, sb_mwatch_fn fn)
{
	wt->owner = s;
	return sb__mpoll_add(s->w, wt, fd, fn);
}

int sb__rtp_codec_choose(struct sb_msession *s, const struct sb_sdp_media *a, struct sb_mcodec *ret)
{
	const struct sb_mcodec *other = sb__sibling_codec(s);
	const struct sb_sdp_codec *c = NULL;

	/* The other leg's codec when the peer has it (no transcoding), else
	 * the peer's first one we can transcode to. */
	if (other)
		c = sb_sdp_codec_find(a, other->name, (unsigned)other->rate);
	for (int i = 0; i < a->n_codecs && !c; i++)
		if (want_codec(&a->codecs[i], other))
			c = &a->codecs[i];
	if (!c)
		return -ENOTSUP;
	sb__mcodec_set(ret, c);
	return 0;
}

/* Chooses our codec among the peer's (s->ra). */
static int choose_codec(struct sb_msession *s)
{
	return sb__rtp_codec_choose(s, s->ra, &s->codec);
}

static void connected(struct sb_msession *s)
{
	if (!s->connected) {
		s->connected = true;
		atomic_fetch_add(&s->w->m->sessions_connected, 1);
		sb_info("session %llu: RTP %s to %s:%u", (unsigned long long)s->id, s->codec.name,
			s->ra->addr, s->ra->port);
		sb__media_post(s, SB_EV_MEDIA_CONNECTED, 0, s->codec.name, NULL);
		sb__stats_start(s);
	}
	sb__remote_drop(s);
}

/* RFC 4568: an offer with a=crypto lines is answered with one of them and
 * our own key; RTP/SAVP without a usable one is refused, since its sender
 * would not take clear RTP (RFC 3711 section 1). */
static int sdes_take(struct sb_msession *s)
{
	bool savp = s->ra->proto && strstr(s->ra->proto, "SAVP");
	int r = sb__sdes_answer(s);

	if (r == -ENOENT && !savp)
		return 0;
	if (r < 0) {
		sb__msession_fail(s, r == -EIO ? -EIO : -ENOTSUP,
				  r == -EIO ? "SRTP keys could not be installed"
					    : "no usable SDES crypto line in the RTP/SAVP offer");
		return r == -EIO ? -EIO : -ENOTSUP;
	}
	return 0;
}

/* Our offer toward SIP: the codecs the engine's options allow, in their
 * order (else the other leg's first, relayed as it is, then G.711), and
 * with SDES our keys. 0, or -errno with the session failed. */
static int offer_make(struct sb_msession *s, char **ret)
{
	struct sb_mcodec list[SB_OFFER_CODECS_MAX];
	char addr[64];
	int n = sb__offer_codecs(sb__sibling_codec(s), s->has_prefs ? s->prefs : NULL, list);
	int r;

	if (n == 0) {
		sb__msession_fail_as(s, SB_MEDIA_FAIL_NO_CODEC, -ENOTSUP,
				     "the trunk's codecs name none we can offer");
		return -ENOTSUP;
	}
	if (s->srtp_mode != SB_ENGINE_SRTP_OFF && (r = sb__sdes_offer(s)) < 0) {
		sb__msession_fail(s, r, "no random bytes for SDES keys");
		return r;
	}
	s->codec = list[0];
	s->dtmf_pt = 101;
	sb__rtp_local_addr(s, NULL, addr, sizeof(addr));
	return sb__describe_rtp(s, addr, list, n, ret);
}

/* RFC 4568: the answer to our SDES offer keys the leg, or leaves it plain
 * when the offer was best effort (RTP/AVP) and the answer has no crypto
 * line; a later answer to it must keep that. 0, or -errno with the session
 * failed. */
static int sdes_answered(struct sb_msession *s)
{
	bool again = s->srtp_mode != SB_ENGINE_SRTP_OFF && s->n_sdes_offer == 0;
	int r = sb__sdes_answered(s);

	if (again && (r == -ENOENT || r == -ENOTSUP))
		sb__msession_fail_as(s, SB_MEDIA_FAIL_SRTP, r,
				     "a later answer to our offer changes its SDES crypto line");
	else if (r == -ENOENT)
		sb__msession_fail_as(s, SB_MEDIA_FAIL_SRTP, r,
				     "the answer to our RTP/SAVP offer has no SDES crypto line");
	else if (r == -ENOTSUP)
		sb__msession_fail_as(s, SB_MEDIA_FAIL_SRTP, r,
				     "the answer's crypto line matches none of our offer's");
	else if (r < 0)
		sb__msession_fail(s, r, "SRTP keys could not be installed");
	else if (s->srtp_ready && !again)
		sb_info("session %llu: SDES-SRTP %s", (unsigned long long)s->id, s->sdes.suite);
	return r;
}

int sb__rtp_start(struct sb_msession *s, const char *remote_sdp)
{
	char err[160] = "", addr[64];
	char *sdp = NULL;
	int r;

	if ((r = open_pair(s)) < 0) {
		sb__msession_fail(s, r, "no free RTP port");
		return r;
	}
	if ((r = watch(s, &s->rtp_w, s->rtp_fd, rtp_readable)) < 0 ||
	    (r = watch(s, &s->rtcp_w, s->rtcp_fd, rtcp_readable)) < 0) {
		sb__msession_fail(s, r, "RTP sockets not watched");
		return r;
	}
	s->rw.ssrc_out = s->ssrc_out;
	if (remote_sdp) {
		if (sb__remote_take(s, remote_sdp, err, sizeof(err)) < 0) {
			sb__msession_fail(s, -EBADMSG, err);
			return -EBADMSG;
		}
		if (choose_codec(s) < 0) {
			sb__msession_fail_as(s, SB_MEDIA_FAIL_NO_CODEC, -ENOTSUP,
					     "no codec in common");
			return -ENOTSUP;
		}
		if (take_remote(s) < 0) {
			sb__msession_fail(s, -EBADMSG, "the offer has no usable IPv4 address");
			return -EBADMSG;
		}
		if ((r = sdes_take(s)) < 0)
			return r;
		sb__rtp_local_addr(s, s->ra->addr, addr, sizeof(addr));
		r = sb__describe_rtp(s, addr, &s->codec, 1, &sdp);
	} else if ((r = offer_make(s, &sdp)) < 0 && s->failed) {
		return r;
	}
	if (r < 0) {
		sb__msession_fail(s, r, r == -ENOMEM ? "out of memory" : "no SDP answer possible");
		return r;
	}
	s->ready_sent = true;
	sb__media_post(s, SB_EV_MEDIA_READY, 0, NULL, sdp);
	if (remote_sdp)
		connected(s);
	return 0;
}

void sb__rtp_update(struct sb_msession *s, const char *sdp)
{
	char err[160] = "";

	if (s->rtp_fd < 0 || s->failed) {
		sb_debug("session %llu: new remote description ignored", (unsigned long long)s->id);
		return;
	}
	/* The answer to our offer is checked against it (RFC 3264 section 6). */
	if (sb__remote_take(s, sdp, err, sizeof(err)) < 0 ||
	    sb__answer_check(s, err, sizeof(err)) < 0 || choose_codec(s) < 0 ||
	    take_remote(s) < 0) {
		sb__msession_fail(s, -EBADMSG, err[0] ? err : "unusable answer");
		return;
	}
	if (sdes_answered(s) < 0)
		return;
	connected(s);
}

void sb__rtp_free(struct sb_msession *s)
{
	sb__rtp_reoffer_drop(s);
	sb__dtmf_free(s);
	sb__sdes_free(s);
	s->xc = sb_xcode_free(s->xc);
	s->stats_due_us = 0;
	sb__mpoll_del(s->w, &s->rtp_w);
	sb__mpoll_del(s->w, &s->rtcp_w);
	if (s->rtp_fd >= 0)
		close(s->rtp_fd);
	if (s->rtcp_fd >= 0)
		close(s->rtcp_fd);
	s->rtp_fd = s->rtcp_fd = -1;
}
