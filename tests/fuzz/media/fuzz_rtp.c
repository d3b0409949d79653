/* Fuzz target: RTP and RTCP parsing, receive statistics, receiver reports
 * and the relay rewrite (every packet from a peer is outside input). */
#include <stdint.h>
#include <string.h>

#include "media/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sb_rtp_rx rx;
	static struct sb_rtp_rewrite rw = {.ssrc_out = 1};
	uint8_t buf[2048], rr[64];
	struct sb_rtp_hdr h;
	struct sb_rtcp_info r;

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	if (sb_rtp_is_rtcp(buf, size) && sb_rtcp_parse(buf, size, &r) == 0) {
		if (r.has_sr)
			sb_rtp_rx_on_sr(&rx, r.ntp, 1000);
		for (int i = 0; i < r.n_blocks; i++)
			(void)sb_rtcp_rtt_us(&r.blocks[i], sb_rtp_ntp_of_us(2000));
	}
	if (sb_rtp_parse(buf, size, &h) == 0) {
		sb_rtp_rx_update(&rx, &h, h.ts + 100);
		sb_rtp_rewrite_apply(&rw, buf, &h, 0, 160);
		if (sb_rtcp_write_rr(rr, sizeof(rr), 2, &rx, 3000) < 0)
			__builtin_trap();
	}
	return 0;
}
