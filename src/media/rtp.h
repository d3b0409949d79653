/* RTP and RTCP packets (RFC 3550): parsing through src/core/cursor.h,
 * receive statistics (loss, interarrival jitter), receiver reports, and the
 * header rewrite of the relay (payload type, SSRC, sequence and timestamp
 * continuity). Pure functions on caller-owned state: any thread, no
 * allocation, never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_rtp_hdr {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	size_t hdr_len;	    /* fixed header + CSRCs + extension */
	size_t payload_len; /* without padding */
};

/* Parses the RTP header of p. Returns 0, or -EBADMSG (not version 2, too
 * short, CSRC list, extension or padding beyond the packet). */
int sb_rtp_parse(const uint8_t *p, size_t len, struct sb_rtp_hdr *ret);
/* True when a packet on a muxed port is RTCP (RFC 5761 section 4: second
 * byte 192..223, i.e. payload type 64..95 with the marker bit). */
bool sb_rtp_is_rtcp(const uint8_t *p, size_t len);

#define SB_RTCP_MAX_BLOCKS 8

struct sb_rtcp_block {
	uint32_t ssrc;
	uint8_t fraction; /* fraction lost, /256 */
	int32_t lost;	  /* cumulative, 24-bit signed */
	uint32_t ext_seq;
	uint32_t jitter; /* timestamp units */
	uint32_t lsr, dlsr;
};

struct sb_rtcp_info {
	uint32_t ssrc; /* sender of the first SR or RR */
	bool has_sr;
	uint64_t ntp; /* SR: NTP timestamp */
	uint32_t rtp_ts, packets, octets;
	struct sb_rtcp_block blocks[SB_RTCP_MAX_BLOCKS];
	int n_blocks;
	bool bye;
	int n_packets; /* packets in the compound */
};

/* Walks a compound RTCP packet: every packet must be version 2 and fit.
 * Reads SR and RR report blocks and BYE; skips others (SDES, APP, RTPFB,
 * PSFB, XR). Returns 0 or -EBADMSG. */
int sb_rtcp_parse(const uint8_t *p, size_t len, struct sb_rtcp_info *ret);

/* Receive statistics of one source (RFC 3550 appendix A.1, A.3, A.8). */
struct sb_rtp_rx {
	bool init;
	uint32_t ssrc;
	uint16_t max_seq;
	uint32_t cycles, base_seq, bad_seq, probation;
	uint32_t received, expected_prior, received_prior;
	uint32_t transit;
	uint32_t jitter_q4; /* jitter x 16, timestamp units */
	uint32_t last_sr;   /* middle 32 bits of the last SR's NTP time */
	uint64_t last_sr_us;
};

/* Counts one packet; arrival is the arrival time in the source's
 * timestamp units (e.g. now_us * rate / 1e6). A new SSRC restarts. */
void sb_rtp_rx_update(struct sb_rtp_rx *rx, const struct sb_rtp_hdr *h, uint32_t arrival);
/* Cumulative packets lost (may be negative with duplicates). */
int64_t sb_rtp_rx_lost(const struct sb_rtp_rx *rx);
uint32_t sb_rtp_rx_expected(const struct sb_rtp_rx *rx);
/* Interarrival jitter in timestamp units. */
uint32_t sb_rtp_rx_jitter(const struct sb_rtp_rx *rx);
/* Remembers a received SR (for LSR/DLSR in our reports). */
void sb_rtp_rx_on_sr(struct sb_rtp_rx *rx, uint64_t ntp, uint64_t now_us);

/* Writes an RR from own_ssrc with one block for rx (none when rx has seen
 * nothing) into buf. Updates the interval counters. Returns the length, or
 * -ENOSPC. */
int sb_rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t own_ssrc, struct sb_rtp_rx *rx,
		     uint64_t now_us);
/* What we sent on a stream, for a sender report (RFC 3550 section 6.4.1). */
struct sb_rtcp_sender {
	uint32_t packets, octets; /* payload octets */
	uint32_t last_ts;	  /* RTP timestamp of the last packet sent */
	uint64_t last_us;	  /* wall clock time it was sent, 0: nothing sent */
	int rate;		  /* clock rate of the timestamps */
};
/* Counts one RTP packet (plain, before any protection) sent now_us. */
void sb_rtcp_sender_note(struct sb_rtcp_sender *si, const uint8_t *rtp, size_t len, int rate,
			 uint64_t now_us);
/* Writes an SR when si has sent anything (else an RR) from own_ssrc, with
 * one report block for rx as sb_rtcp_write_rr does. The SR's RTP timestamp
 * is the last one sent moved on to now_us at si's rate. */
int sb_rtcp_write_report(uint8_t *buf, size_t cap, uint32_t own_ssrc,
			 const struct sb_rtcp_sender *si, struct sb_rtp_rx *rx, uint64_t now_us);
/* Round-trip time in microseconds from a report block about us (RFC 3550
 * section 6.4.1: A - LSR - DLSR), or -1 when the block has no LSR. */
int64_t sb_rtcp_rtt_us(const struct sb_rtcp_block *b, uint64_t now_ntp);
/* NTP time (RFC 5905 64-bit) of a wall clock time in microseconds. */
uint64_t sb_rtp_ntp_of_us(uint64_t wall_us);

/* The relay's rewrite of what one sender emits on one outgoing stream: our
 * SSRC, the mapped payload type, and sequence numbers and timestamps that
 * continue without a jump when the incoming source changes or restarts. */
struct sb_rtp_rewrite {
	uint32_t ssrc_out;
	bool started;
	uint32_t ssrc_in;
	uint16_t seq_delta;
	uint32_t ts_delta;
	uint16_t last_seq;
	uint32_t last_ts;
	/* Set by the owner after a pause in sending (a hold): the next packet
	 * takes the next sequence number; timestamps keep their clock, so
	 * they jump by the pause (RFC 3550 section 5.1). */
	bool resync;
};

/* Rewrites the header of p (parsed as h) in place: payload type pt_out (the
 * marker bit kept), SSRC, sequence and timestamp. A new source (another
 * SSRC, or the same one whose sequence number jumps by 3000 or more or
 * goes back by 100 or more, RFC 3550 appendix A.1's restart) continues
 * the sequence where the last one stopped, with ts_step (e.g. one 20 ms
 * frame) after the last timestamp. */
void sb_rtp_rewrite_apply(struct sb_rtp_rewrite *rw, uint8_t *p, const struct sb_rtp_hdr *h,
			  uint8_t pt_out, uint32_t ts_step);
