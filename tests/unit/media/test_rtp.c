/* RTP/RTCP parsing, receive statistics, receiver reports and the relay
 * rewrite (src/media/rtp.c), on the shared sample packets and built ones. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/rtp.h"
#include "media/transcode.h"
#include "../../support/rtp_build.h"

/* The shared testdata; SB_TESTDATA in the environment overrides the path
 * meson knows (a worktree sits elsewhere than the CI checkout). */
static const char *testdata(void)
{
	const char *e = getenv("SB_TESTDATA");

	return e && *e ? e : SB_TESTDATA;
}

static size_t load(const char *rel, uint8_t *buf, size_t cap)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/packets/%s", testdata(), rel);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

Test(rtp, parses_audio_with_extension)
{
	uint8_t buf[2048];
	size_t n = load("janus-rtp/1meetecho__rtp_0_audio-with-ext", buf, sizeof(buf));
	struct sb_rtp_hdr h;

	cr_assert_eq(sb_rtp_parse(buf, n, &h), 0);
	cr_assert_eq(h.pt, 111);
	cr_assert_eq(h.seq, 0x7d04);
	cr_assert_eq(h.ts, 0xbee27c75u);
	cr_assert_eq(h.ssrc, 0x34aefa1du);
	cr_assert_eq(h.hdr_len, 28); /* 12 + one-byte extension header 4 + 3 words */
	cr_assert_eq(h.hdr_len + h.payload_len, n);
	cr_assert_not(sb_rtp_is_rtcp(buf, n));
}

Test(rtp, refuses_bad_headers)
{
	uint8_t p[64];
	struct sb_rtp_hdr h;
	size_t n = sbt_rtp_build(p, 0, 1, 2, 3, "abcd");

	cr_assert_eq(sb_rtp_parse(p, 11, &h), -EBADMSG, "shorter than the fixed header");
	p[0] = 0x40;
	cr_assert_eq(sb_rtp_parse(p, n, &h), -EBADMSG, "version 1");
	p[0] = 0x82; /* two CSRCs = 8 bytes, only 4 left */
	cr_assert_eq(sb_rtp_parse(p, n, &h), -EBADMSG);
	p[0] = 0x81;
	cr_assert_eq(sb_rtp_parse(p, n, &h), 0);
	cr_assert_eq(h.payload_len, 0);
	p[0] = 0x90; /* extension header claims more words than there are */
	cr_assert_eq(sb_rtp_parse(p, n, &h), -EBADMSG);
	p[0] = 0xa0; /* padding larger than the payload */
	p[n - 1] = 9;
	cr_assert_eq(sb_rtp_parse(p, n, &h), -EBADMSG);
	p[n - 1] = 2;
	cr_assert_eq(sb_rtp_parse(p, n, &h), 0);
	cr_assert_eq(h.payload_len, 2);
	p[n - 1] = 0;
	cr_assert_eq(sb_rtp_parse(p, n, &h), -EBADMSG, "padding count 0");
}

Test(rtcp, parses_sender_report_with_sdes)
{
	uint8_t buf[2048];
	size_t n = load("janus-rtcp/1meetecho__sr-sdes.rtcp", buf, sizeof(buf));
	struct sb_rtcp_info r;

	cr_assert(sb_rtp_is_rtcp(buf, n));
	cr_assert_eq(sb_rtcp_parse(buf, n, &r), 0);
	cr_assert(r.has_sr);
	cr_assert_eq(r.ssrc, 0xae657257u);
	cr_assert_eq(r.ntp, 0xdfc3a53f2e830a0bull);
	cr_assert_eq(r.rtp_ts, 0xa217b283u);
	cr_assert_eq(r.packets, 0x46c3u);
	cr_assert_eq(r.octets, 0x012cae52u);
	cr_assert_eq(r.n_blocks, 0);
	cr_assert_eq(r.n_packets, 2);
}

Test(rtcp, parses_rr_sdes_bye)
{
	uint8_t buf[2048];
	size_t n = load("janus-rtcp/1meetecho__rr-sdes-bye.rtcp", buf, sizeof(buf));
	struct sb_rtcp_info r;

	cr_assert_eq(sb_rtcp_parse(buf, n, &r), 0);
	cr_assert_not(r.has_sr);
	cr_assert(r.bye);
	cr_assert_eq(r.n_packets, 3);
	/* a truncated compound is refused as a whole */
	cr_assert_eq(sb_rtcp_parse(buf, n - 1, &r), -EBADMSG);
	cr_assert_eq(sb_rtcp_parse(buf, 0, &r), -EBADMSG);
}

/* Every sample (valid, crash and timeout reproducers) parses or is refused
 * without reading out of bounds (ASan in the sanitizer build). */
Test(rtcp, survives_every_sample)
{
	static const char *const dirs[] = {"janus-rtp", "janus-rtcp"};
	uint8_t buf[65536];
	int files = 0;

	for (size_t d = 0; d < 2; d++) {
		char path[512];
		DIR *dir;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/packets/%s", testdata(), dirs[d]);
		dir = opendir(path);
		cr_assert_not_null(dir);
		while ((e = readdir(dir))) {
			char rel[600];
			struct sb_rtp_hdr h;
			struct sb_rtcp_info r;
			size_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], e->d_name);
			n = load(rel, buf, sizeof(buf));
			if (sb_rtp_parse(buf, n, &h) == 0)
				cr_assert_leq(h.hdr_len + h.payload_len, n);
			if (sb_rtcp_parse(buf, n, &r) == 0)
				cr_assert_leq(r.n_blocks, SB_RTCP_MAX_BLOCKS);
			files++;
		}
		closedir(dir);
	}
	cr_assert_gt(files, 100);
}

Test(rx, counts_loss_and_jitter)
{
	struct sb_rtp_rx rx = {0};
	struct sb_rtp_hdr h = {.ssrc = 42};
	uint8_t rr[64];
	struct sb_rtcp_info r;
	int n;

	/* 100 packets of 20 ms (160 units at 8 kHz), seq 65500.. (wraps),
	 * every 10th lost, arrival jittered by +-40 units on odd packets. */
	for (uint32_t i = 0; i < 100; i++) {
		if (i % 10 == 5)
			continue;
		h.seq = (uint16_t)(65500 + i);
		h.ts = 1000 + 160 * i;
		sb_rtp_rx_update(&rx, &h, 5000 + 160 * i + (i % 2 ? 40 : 0));
	}
	cr_assert_eq(sb_rtp_rx_expected(&rx), 100);
	cr_assert_eq(sb_rtp_rx_lost(&rx), 10);
	cr_assert_eq(rx.cycles, 65536u, "the sequence wrapped once");
	/* |D| is 40 on every step but those around a loss: J converges near 40 */
	cr_assert(sb_rtp_rx_jitter(&rx) > 25 && sb_rtp_rx_jitter(&rx) <= 40, "jitter %u",
		  sb_rtp_rx_jitter(&rx));

	n = sb_rtcp_write_rr(rr, sizeof(rr), 7, &rx, 0);
	cr_assert_eq(n, 32);
	cr_assert_eq(sb_rtcp_parse(rr, (size_t)n, &r), 0);
	cr_assert_eq(r.ssrc, 7);
	cr_assert_eq(r.n_blocks, 1);
	cr_assert_eq(r.blocks[0].ssrc, 42);
	cr_assert_eq(r.blocks[0].lost, 10);
	cr_assert_eq(r.blocks[0].fraction, 10 * 256 / 100);
	cr_assert_eq(r.blocks[0].ext_seq, 65536u + (uint16_t)(65500 + 99));
	cr_assert_eq(r.blocks[0].jitter, sb_rtp_rx_jitter(&rx));
	/* the next interval had no loss */
	n = sb_rtcp_write_rr(rr, sizeof(rr), 7, &rx, 0);
	cr_assert_eq(sb_rtcp_parse(rr, (size_t)n, &r), 0);
	cr_assert_eq(r.blocks[0].fraction, 0);
	cr_assert_eq(sb_rtcp_write_rr(rr, 16, 7, &rx, 0), -ENOSPC);
}

/* Once media was sent, our report is an SR: NTP now, the last RTP
 * timestamp moved on to now, packet and payload octet counts, and the
 * receiver's report block behind them; before that, an RR. */
Test(rx, sender_report_after_media_sent)
{
	struct sb_rtcp_sender si = {0};
	struct sb_rtp_rx rx = {0};
	struct sb_rtp_hdr h = {.ssrc = 42, .seq = 1, .ts = 0};
	uint64_t t0 = 1700000000000000ull; /* us */
	uint8_t pkt[172] = {0x80, 0}, rep[64];
	struct sb_rtcp_info r;
	int n;

	sb_rtp_rx_update(&rx, &h, 0);
	n = sb_rtcp_write_report(rep, sizeof(rep), 7, &si, &rx, t0);
	cr_assert_eq(sb_rtcp_parse(rep, (size_t)n, &r), 0);
	cr_assert_not(r.has_sr, "an SR before anything was sent");
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t ts = 1000 + 160 * i;

		pkt[4] = (uint8_t)(ts >> 24);
		pkt[5] = (uint8_t)(ts >> 16);
		pkt[6] = (uint8_t)(ts >> 8);
		pkt[7] = (uint8_t)ts;
		sb_rtcp_sender_note(&si, pkt, sizeof(pkt), 8000, t0 + 20000 * i);
	}
	/* 10 ms after the last packet: its timestamp plus 80 samples. */
	n = sb_rtcp_write_report(rep, sizeof(rep), 7, &si, &rx, t0 + 50000);
	cr_assert_eq(n, 52);
	cr_assert_eq(sb_rtcp_parse(rep, (size_t)n, &r), 0);
	cr_assert(r.has_sr);
	cr_assert_eq(r.ssrc, 7);
	cr_assert_eq(r.ntp, sb_rtp_ntp_of_us(t0 + 50000));
	cr_assert_eq(r.rtp_ts, 1000 + 320 + 80);
	cr_assert_eq(r.packets, 3);
	cr_assert_eq(r.octets, 3 * 160);
	cr_assert_eq(r.n_blocks, 1);
	cr_assert_eq(r.blocks[0].ssrc, 42);
	cr_assert_eq(sb_rtcp_write_report(rep, 40, 7, &si, &rx, t0), -ENOSPC);
}

Test(rx, round_trip_from_lsr_and_dlsr)
{
	struct sb_rtp_rx rx = {0};
	struct sb_rtp_hdr h = {.ssrc = 9, .seq = 1, .ts = 0};
	uint64_t t0 = 1700000000000000ull; /* us */
	uint8_t rr[64];
	struct sb_rtcp_info r;
	int64_t rtt;

	sb_rtp_rx_update(&rx, &h, 0);
	/* their SR reaches us at t0 + 0; we report 30 ms later; the report
	 * reaches them 80 ms after they sent the SR: RTT is 50 ms. */
	sb_rtp_rx_on_sr(&rx, sb_rtp_ntp_of_us(t0), t0);
	cr_assert_gt(sb_rtcp_write_rr(rr, sizeof(rr), 1, &rx, t0 + 30000), 0);
	cr_assert_eq(sb_rtcp_parse(rr, 32, &r), 0);
	rtt = sb_rtcp_rtt_us(&r.blocks[0], sb_rtp_ntp_of_us(t0 + 80000));
	cr_assert(rtt > 49800 && rtt < 50200, "rtt %lld", (long long)rtt);
	r.blocks[0].lsr = 0;
	cr_assert_eq(sb_rtcp_rtt_us(&r.blocks[0], 0), -1);
}

Test(rewrite, continues_across_a_source_change)
{
	struct sb_rtp_rewrite rw = {.ssrc_out = 0x01020304};
	uint8_t p[64];
	struct sb_rtp_hdr h, o;
	size_t n;

	for (int i = 0; i < 3; i++) {
		n = sbt_rtp_build(p, 0x80 | 111, (uint16_t)(100 + i), 5000u + 960u * (unsigned)i,
				  77, "opus");
		cr_assert_eq(sb_rtp_parse(p, n, &h), 0);
		sb_rtp_rewrite_apply(&rw, p, &h, 96, 960);
		cr_assert_eq(sb_rtp_parse(p, n, &o), 0);
		cr_assert_eq(o.pt, 96);
		cr_assert(o.marker, "the marker bit is kept");
		cr_assert_eq(o.ssrc, 0x01020304u);
		cr_assert_eq(o.seq, 100 + i);
		cr_assert_eq(memcmp(p + 12, "opus", 4), 0, "payload untouched");
	}
	/* a new source with unrelated numbers continues at seq 103, ts +960 */
	n = sbt_rtp_build(p, 111, 40000, 123456, 88, "next");
	cr_assert_eq(sb_rtp_parse(p, n, &h), 0);
	sb_rtp_rewrite_apply(&rw, p, &h, 96, 960);
	cr_assert_eq(sb_rtp_parse(p, n, &o), 0);
	cr_assert_eq(o.seq, 103);
	cr_assert_eq(o.ts, 5000u + 960u * 3);
	cr_assert_eq(o.ssrc, 0x01020304u);
	n = sbt_rtp_build(p, 111, 40001, 123456 + 960, 88, "more");
	cr_assert_eq(sb_rtp_parse(p, n, &h), 0);
	sb_rtp_rewrite_apply(&rw, p, &h, 96, 960);
	cr_assert_eq(sb_rtp_parse(p, n, &o), 0);
	cr_assert_eq(o.seq, 104);
	cr_assert_eq(o.ts, 5000u + 960u * 4);
}

/* Rewrites one packet of source ssrc (seq, ts) and returns the header out. */
static struct sb_rtp_hdr rewrite_one(struct sb_rtp_rewrite *rw, uint16_t seq, uint32_t ts,
				     uint32_t ssrc)
{
	uint8_t p[64];
	struct sb_rtp_hdr h, o;
	size_t n = sbt_rtp_build(p, 0, seq, ts, ssrc, "pcmu");

	cr_assert_eq(sb_rtp_parse(p, n, &h), 0);
	sb_rtp_rewrite_apply(rw, p, &h, 0, 160);
	cr_assert_eq(sb_rtp_parse(p, n, &o), 0);
	return o;
}

/* The same SSRC restarting its numbers (RFC 3550 appendix A.1: a jump of
 * 3000 or more, or back by 100 or more) is a new source: the stream sent on
 * continues; a small reordering is not. */
Test(rewrite, continues_across_a_restart_of_the_same_source)
{
	struct sb_rtp_rewrite rw = {.ssrc_out = 5};
	struct sb_rtp_hdr o;

	for (int i = 0; i < 3; i++)
		rewrite_one(&rw, (uint16_t)(1000 + i), 160u * (unsigned)i, 9);
	o = rewrite_one(&rw, 1001, 160, 9); /* late, reordered: kept as it is */
	cr_assert_eq(o.seq, 1001);
	o = rewrite_one(&rw, 30000, 999999, 9); /* jumped forward */
	cr_assert_eq(o.seq, 1003);
	cr_assert_eq(o.ts, 160u * 3);
	o = rewrite_one(&rw, 30001, 999999 + 160, 9);
	cr_assert_eq(o.seq, 1004);
	cr_assert_eq(o.ts, 160u * 4);
	o = rewrite_one(&rw, 29000, 5, 9); /* went back by 1001 */
	cr_assert_eq(o.seq, 1005);
	cr_assert_eq(o.ts, 160u * 5);
}

/* After a pause in sending (the peer held the call), resync: the next
 * sequence number follows the last one sent, while the timestamp keeps
 * its clock and so carries the length of the pause (RFC 3550 section 5.1). */
Test(rewrite, resync_continues_the_sequence_after_a_pause)
{
	struct sb_rtp_rewrite rw = {.ssrc_out = 5};
	struct sb_rtp_hdr o;

	for (int i = 0; i < 3; i++)
		rewrite_one(&rw, (uint16_t)(200 + i), 160u * (unsigned)i, 9);
	/* 50 packets of the source not sent (held), then resumed */
	rw.resync = true;
	o = rewrite_one(&rw, 253, 160u * 53, 9);
	cr_assert_eq(o.seq, 203);
	cr_assert_eq(o.ts, 160u * 53);
	cr_assert_not(rw.resync);
	o = rewrite_one(&rw, 254, 160u * 54, 9);
	cr_assert_eq(o.seq, 204);
	cr_assert_eq(o.ts, 160u * 54);
}

Test(g711, codes_round_trip)
{
	for (int c = 0; c < 256; c++) {
		if (c != 0x7f) /* mu-law has two zeros: -0 (0x7f) encodes back as +0 */
			cr_assert_eq(sb_g711_ulaw_encode(sb_g711_ulaw_decode((uint8_t)c)), c,
				     "mu-law %02x", c);
		cr_assert_eq(sb_g711_alaw_encode(sb_g711_alaw_decode((uint8_t)c)), c, "A-law %02x",
			     c);
	}
	/* known points: silence and full scale */
	cr_assert_eq(sb_g711_ulaw_encode(0), 0xff);
	cr_assert_eq(sb_g711_alaw_encode(0), 0xd5);
	cr_assert_eq(sb_g711_ulaw_decode(0x00), -32124);
	cr_assert_eq(sb_g711_alaw_decode(0xaa), 32256);
	/* quantisation error stays within one step of the segment */
	for (int s = -32000; s <= 32000; s += 97) {
		int u = sb_g711_ulaw_decode(sb_g711_ulaw_encode((int16_t)s));
		int a = sb_g711_alaw_decode(sb_g711_alaw_encode((int16_t)s));
		int tol = abs(s) / 16 + 16;
		cr_assert_leq(abs(u - s), tol, "mu-law %d -> %d", s, u);
		cr_assert_leq(abs(a - s), tol, "A-law %d -> %d", s, a);
	}
}
