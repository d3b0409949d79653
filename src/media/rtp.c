/* RTP and RTCP packets: parsing, receive statistics, receiver reports and
 * the relay's header rewrite. Pure; any thread. */
#include "media/rtp.h"

#include <errno.h>
#include <string.h>

#include "core/cursor.h"

#define RTP_SEQ_MOD  (1u << 16)
#define MAX_DROPOUT  3000
#define MAX_MISORDER 100

int sb_rtp_parse(const uint8_t *p, size_t len, struct sb_rtp_hdr *ret)
{
	struct sb_cursor c;
	uint8_t b0, b1, pad = 0;
	uint16_t profile, ext_words;
	size_t end;

	sb_cursor_init(&c, p, len);
	if (sb_cursor_u8(&c, &b0) < 0 || sb_cursor_u8(&c, &b1) < 0 ||
	    sb_cursor_be16(&c, &ret->seq) < 0 || sb_cursor_be32(&c, &ret->ts) < 0 ||
	    sb_cursor_be32(&c, &ret->ssrc) < 0)
		return -EBADMSG;
	if (b0 >> 6 != 2)
		return -EBADMSG;
	ret->pt = b1 & 0x7f;
	ret->marker = (b1 & 0x80) != 0;
	if (sb_cursor_skip(&c, 4u * (b0 & 0x0f)) < 0)
		return -EBADMSG;
	if (b0 & 0x10) {
		if (sb_cursor_be16(&c, &profile) < 0 || sb_cursor_be16(&c, &ext_words) < 0 ||
		    sb_cursor_skip(&c, 4u * ext_words) < 0)
			return -EBADMSG;
	}
	ret->hdr_len = c.off;
	end = len;
	if (b0 & 0x20) {
		pad = p[len - 1];
		if (pad == 0 || pad > len - c.off)
			return -EBADMSG;
		end -= pad;
	}
	ret->payload_len = end - c.off;
	return 0;
}

bool sb_rtp_is_rtcp(const uint8_t *p, size_t len)
{
	return len >= 2 && p[1] >= 192 && p[1] <= 223;
}

static int read_block(struct sb_cursor *c, struct sb_rtcp_block *b)
{
	uint32_t w;

	if (sb_cursor_be32(c, &b->ssrc) < 0 || sb_cursor_be32(c, &w) < 0 ||
	    sb_cursor_be32(c, &b->ext_seq) < 0 || sb_cursor_be32(c, &b->jitter) < 0 ||
	    sb_cursor_be32(c, &b->lsr) < 0 || sb_cursor_be32(c, &b->dlsr) < 0)
		return -EBADMSG;
	b->fraction = (uint8_t)(w >> 24);
	/* 24-bit two's complement */
	b->lost = (int32_t)((w & 0xffffffu) ^ 0x800000u) - 0x800000;
	return 0;
}

static int read_report(struct sb_cursor *c, unsigned count, struct sb_rtcp_info *r, bool first)
{
	struct sb_rtcp_block b;

	for (unsigned i = 0; i < count; i++) {
		if (read_block(c, &b) < 0)
			return -EBADMSG;
		if (first && r->n_blocks < SB_RTCP_MAX_BLOCKS)
			r->blocks[r->n_blocks++] = b;
	}
	return 0;
}

int sb_rtcp_parse(const uint8_t *p, size_t len, struct sb_rtcp_info *r)
{
	struct sb_cursor c, body;
	bool have_report = false;

	memset(r, 0, sizeof(*r));
	sb_cursor_init(&c, p, len);
	while (sb_cursor_left(&c) > 0) {
		uint8_t b0, pt;
		uint16_t words;
		uint32_t ssrc, hi, lo;
		size_t plen;

		if (sb_cursor_u8(&c, &b0) < 0 || sb_cursor_u8(&c, &pt) < 0 ||
		    sb_cursor_be16(&c, &words) < 0)
			return -EBADMSG;
		plen = 4u * words;
		if (b0 >> 6 != 2 || sb_cursor_left(&c) < plen)
			return -EBADMSG;
		sb_cursor_init(&body, sb_cursor_ptr(&c), plen);
		c.off += plen;
		r->n_packets++;
		switch (pt) {
		case 200: /* SR */
			if (sb_cursor_be32(&body, &ssrc) < 0 || sb_cursor_be32(&body, &hi) < 0 ||
			    sb_cursor_be32(&body, &lo) < 0)
				return -EBADMSG;
			if (!have_report) {
				r->ssrc = ssrc;
				r->has_sr = true;
				r->ntp = (uint64_t)hi << 32 | lo;
			}
			if (sb_cursor_be32(&body, have_report ? &hi : &r->rtp_ts) < 0 ||
			    sb_cursor_be32(&body, have_report ? &hi : &r->packets) < 0 ||
			    sb_cursor_be32(&body, have_report ? &hi : &r->octets) < 0 ||
			    read_report(&body, b0 & 0x1f, r, !have_report) < 0)
				return -EBADMSG;
			have_report = true;
			break;
		case 201: /* RR */
			if (sb_cursor_be32(&body, &ssrc) < 0)
				return -EBADMSG;
			if (!have_report)
				r->ssrc = ssrc;
			if (read_report(&body, b0 & 0x1f, r, !have_report) < 0)
				return -EBADMSG;
			have_report = true;
			break;
		case 203: /* BYE */
			if (sb_cursor_left(&body) < 4u * (b0 & 0x1f))
				return -EBADMSG;
			r->bye = true;
			break;
		default: /* SDES, APP, feedback, XR: not needed */
			break;
		}
	}
	return r->n_packets > 0 ? 0 : -EBADMSG;
}

static void rx_init(struct sb_rtp_rx *rx, const struct sb_rtp_hdr *h)
{
	memset(rx, 0, sizeof(*rx));
	rx->init = true;
	rx->ssrc = h->ssrc;
	rx->base_seq = h->seq;
	rx->max_seq = h->seq;
	rx->bad_seq = RTP_SEQ_MOD + 1;
}

void sb_rtp_rx_update(struct sb_rtp_rx *rx, const struct sb_rtp_hdr *h, uint32_t arrival)
{
	uint16_t udelta;
	uint32_t transit;
	int32_t d;

	if (!rx->init || rx->ssrc != h->ssrc) {
		rx_init(rx, h);
	} else {
		udelta = (uint16_t)(h->seq - rx->max_seq);
		if (udelta < MAX_DROPOUT) {
			if (h->seq < rx->max_seq)
				rx->cycles += RTP_SEQ_MOD;
			rx->max_seq = h->seq;
		} else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
			/* A big jump: believe it when the next packet follows. */
			if (h->seq != rx->bad_seq) {
				rx->bad_seq = (uint32_t)(h->seq + 1) & (RTP_SEQ_MOD - 1);
				return;
			}
			rx_init(rx, h);
		}
		/* else duplicate or reordered: counted below */
	}
	rx->received++;
	transit = arrival - h->ts;
	if (rx->received > 1) {
		d = (int32_t)(transit - rx->transit);
		if (d < 0)
			d = -d;
		rx->jitter_q4 += (uint32_t)d - ((rx->jitter_q4 + 8) >> 4);
	}
	rx->transit = transit;
}

uint32_t sb_rtp_rx_expected(const struct sb_rtp_rx *rx)
{
	if (!rx->init)
		return 0;
	return rx->cycles + rx->max_seq - rx->base_seq + 1;
}

int64_t sb_rtp_rx_lost(const struct sb_rtp_rx *rx)
{
	return (int64_t)sb_rtp_rx_expected(rx) - (int64_t)rx->received;
}

uint32_t sb_rtp_rx_jitter(const struct sb_rtp_rx *rx)
{
	return rx->jitter_q4 >> 4;
}

void sb_rtp_rx_on_sr(struct sb_rtp_rx *rx, uint64_t ntp, uint64_t now_us)
{
	rx->last_sr = (uint32_t)(ntp >> 16);
	rx->last_sr_us = now_us;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int sb_rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t own_ssrc, struct sb_rtp_rx *rx,
		     uint64_t now_us)
{
	bool block = rx && rx->init;
	size_t len = block ? 32 : 8;
	uint32_t expected, exp_int, rec_int, dlsr = 0;
	int64_t lost, lost_int;
	uint8_t fraction = 0;

	if (cap < len)
		return -ENOSPC;
	buf[0] = (uint8_t)(0x80 | (block ? 1 : 0));
	buf[1] = 201;
	buf[2] = 0;
	buf[3] = (uint8_t)(len / 4 - 1);
	put32(buf + 4, own_ssrc);
	if (!block)
		return (int)len;
	expected = sb_rtp_rx_expected(rx);
	lost = sb_rtp_rx_lost(rx);
	if (lost > 0x7fffff)
		lost = 0x7fffff;
	if (lost < -0x800000)
		lost = -0x800000;
	exp_int = expected - rx->expected_prior;
	rec_int = rx->received - rx->received_prior;
	rx->expected_prior = expected;
	rx->received_prior = rx->received;
	lost_int = (int64_t)exp_int - (int64_t)rec_int;
	if (exp_int > 0 && lost_int > 0)
		fraction = (uint8_t)(((uint64_t)lost_int << 8) / exp_int > 255
					     ? 255
					     : ((uint64_t)lost_int << 8) / exp_int);
	if (rx->last_sr_us && now_us >= rx->last_sr_us)
		dlsr = (uint32_t)((now_us - rx->last_sr_us) * 65536 / 1000000);
	put32(buf + 8, rx->ssrc);
	put32(buf + 12, (uint32_t)fraction << 24 | ((uint32_t)lost & 0xffffffu));
	put32(buf + 16, rx->cycles + rx->max_seq);
	put32(buf + 20, sb_rtp_rx_jitter(rx));
	put32(buf + 24, rx->last_sr);
	put32(buf + 28, rx->last_sr_us ? dlsr : 0);
	return (int)len;
}

int64_t sb_rtcp_rtt_us(const struct sb_rtcp_block *b, uint64_t now_ntp)
{
	uint32_t a = (uint32_t)(now_ntp >> 16), rtt;

	if (!b->lsr)
		return -1;
	rtt = a - b->lsr - b->dlsr;
	if (rtt > 0x7fffffffu) /* clock skew: a negative round trip */
		return 0;
	return (int64_t)((uint64_t)rtt * 1000000 / 65536);
}

uint64_t sb_rtp_ntp_of_us(uint64_t wall_us)
{
	uint64_t secs = wall_us / 1000000 + 2208988800ull;
	uint64_t frac = ((wall_us % 1000000) << 32) / 1000000;

	return secs << 32 | frac;
}

void sb_rtp_rewrite_apply(struct sb_rtp_rewrite *rw, uint8_t *p, const struct sb_rtp_hdr *h,
			  uint8_t pt_out, uint32_t ts_step)
{
	uint16_t seq, step;
	uint32_t ts;

	if (!rw->started) {
		rw->started = true;
		rw->resync = false;
		rw->ssrc_in = h->ssrc;
		rw->seq_delta = 0;
		rw->ts_delta = 0;
		rw->last_seq = (uint16_t)(h->seq - 1);
		rw->last_ts = h->ts;
	}
	step = (uint16_t)(h->seq + rw->seq_delta - rw->last_seq);
	if (h->ssrc != rw->ssrc_in || (step >= MAX_DROPOUT && step <= RTP_SEQ_MOD - MAX_MISORDER)) {
		/* A new or restarted source continues where the last one
		 * stopped. */
		rw->ssrc_in = h->ssrc;
		rw->seq_delta = (uint16_t)(rw->last_seq + 1 - h->seq);
		rw->ts_delta = rw->last_ts + ts_step - h->ts;
		rw->resync = false;
	} else if (rw->resync) {
		rw->seq_delta = (uint16_t)(rw->last_seq + 1 - h->seq);
		rw->resync = false;
	}
	seq = (uint16_t)(h->seq + rw->seq_delta);
	ts = h->ts + rw->ts_delta;
	if ((int16_t)(seq - rw->last_seq) > 0) {
		rw->last_seq = seq;
		rw->last_ts = ts;
	}
	p[1] = (uint8_t)((p[1] & 0x80) | (pt_out & 0x7f));
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	put32(p + 4, ts);
	put32(p + 8, rw->ssrc_out);
}

void sb_rtcp_sender_note(struct sb_rtcp_sender *si, const uint8_t *rtp, size_t len, int rate,
			 uint64_t now_us)
{
	size_t hdr;

	if (len < 12)
		return;
	hdr = 12 + 4 * (size_t)(rtp[0] & 0x0f);
	if ((rtp[0] & 0x10) && len >= hdr + 4)
		hdr += 4 + 4 * ((size_t)rtp[hdr + 2] << 8 | rtp[hdr + 3]);
	si->packets++;
	si->octets += len > hdr ? (uint32_t)(len - hdr) : 0;
	si->last_ts =
		(uint32_t)rtp[4] << 24 | (uint32_t)rtp[5] << 16 | (uint32_t)rtp[6] << 8 | rtp[7];
	si->last_us = now_us;
	si->rate = rate > 0 ? rate : 8000;
}

int sb_rtcp_write_report(uint8_t *buf, size_t cap, uint32_t own_ssrc,
			 const struct sb_rtcp_sender *si, struct sb_rtp_rx *rx, uint64_t now_us)
{
	uint8_t rr[32];
	int n, blocks;
	uint64_t ntp;
	uint32_t ts;

	if (!si || !si->last_us)
		return sb_rtcp_write_rr(buf, cap, own_ssrc, rx, now_us);
	/* The report block of an RR, moved behind the sender info. */
	n = sb_rtcp_write_rr(rr, sizeof(rr), own_ssrc, rx, now_us);
	if (n < 0)
		return n;
	blocks = rr[0] & 0x1f;
	if (cap < (size_t)(28 + n - 8))
		return -ENOSPC;
	ntp = sb_rtp_ntp_of_us(now_us);
	ts = si->last_ts + (uint32_t)((now_us > si->last_us ? now_us - si->last_us : 0) *
				      (uint64_t)si->rate / 1000000);
	buf[0] = (uint8_t)(0x80 | blocks);
	buf[1] = 200;
	buf[2] = 0;
	buf[3] = (uint8_t)((28 + n - 8) / 4 - 1);
	put32(buf + 4, own_ssrc);
	put32(buf + 8, (uint32_t)(ntp >> 32));
	put32(buf + 12, (uint32_t)ntp);
	put32(buf + 16, ts);
	put32(buf + 20, si->packets);
	put32(buf + 24, si->octets);
	memcpy(buf + 28, rr + 8, (size_t)n - 8);
	return 28 + n - 8;
}
