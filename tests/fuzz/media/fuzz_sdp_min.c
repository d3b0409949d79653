/* Fuzz target: the media plane's SDP reader and the answer built from what it
 * read (a browser's offer is outside input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/sdp_min.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct sb_sdpmin s;
	char err[128];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sb_sdpmin_parse(text, &s, err, sizeof(err)) == 0) {
		const struct sb_sdpmin_codec *c = sb_sdpmin_pick(&s);
		const char *cands[] = {"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"};
		struct sb_sdpmin_local l = {.ufrag = "u",
					    .pwd = "p",
					    .fingerprint = "sha-256 00",
					    .setup = "active",
					    .ssrc = 1,
					    .candidates = cands,
					    .n_candidates = 1};
		if (c)
			free(sb_sdpmin_answer_webrtc(&s, c, &l));
	}
	free(text);
	return 0;
}
