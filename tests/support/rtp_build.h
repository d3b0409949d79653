/* An RTP packet for tests (RFC 3550 section 5.1): version 2, no padding,
 * CSRC or extension; pt may carry the marker bit (0x80). The payload is a
 * string, copied without its NUL. Header only, so that any test binary can
 * include it. Returns the packet's length. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t sbt_rtp_build(uint8_t *p, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
				   const char *payload)
{
	size_t n = strlen(payload);

	p[0] = 0x80;
	p[1] = pt;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	memcpy(p + 12, payload, n);
	return 12 + n;
}
