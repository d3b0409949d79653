/* Fuzz target: a whole data channel message from the browser, as SCTP
 * reassembled it (src/media/datachan.c, sb__dc_msg_parse): a DCEP
 * DATA_CHANNEL_OPEN (RFC 8832) or chat (PPID 51, 53, 56, 57). Input: 2
 * bytes of stream id, 4 of PPID (network order), the message. The stream id
 * is read but unused: whether its channel is open is the session's, not the
 * parser's. Checks what an accepted message points at. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_dc_msg msg;
	uint32_t ppid;
	uint8_t *b;
	size_t len;

	if (size < 6)
		return 0;
	ppid = (uint32_t)data[2] << 24 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 8 | data[5];
	len = size - 6;
	/* A copy of its own size, so reading past it is a sanitizer's error. */
	if (!(b = malloc(len ? len : 1)))
		return 0;
	memcpy(b, data + 6, len);
	if (sb__dc_msg_parse(ppid, b, len, &msg) == 0) {
		if (msg.len > len || msg.data < b || msg.data + msg.len > b + len)
			abort();
		if (msg.kind == SB_DC_MSG_TEXT &&
		    (msg.len > SB_CHAT_MAX || memchr(msg.data, 0, msg.len)))
			abort();
		if (msg.kind != SB_DC_MSG_OPEN && msg.kind != SB_DC_MSG_TEXT)
			abort();
	}
	free(b);
	return 0;
}
