/* Fuzz target: the SDP module on outside input. Parses; on success prints
 * the model, parses the print again (which must work: our output is SDP we
 * read), and answers it (audio and a data channel), which must pass the
 * answer check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct sb_sdp_codec codecs[] = {
	{.pt = 111, .name = "opus", .rate = 48000, .channels = 2},
	{.pt = 0, .name = "PCMU", .rate = 8000, .channels = 1},
	{.pt = 8, .name = "PCMA", .rate = 8000, .channels = 1},
	{.pt = 101, .name = "telephone-event", .rate = 8000, .channels = 1},
	{.pt = 110, .name = "telephone-event", .rate = 48000, .channels = 1},
};

static void answer(const struct sb_sdp *offer)
{
	static const char *const cands[] = {"candidate:1 1 udp 1 127.0.0.1 5000 typ host"};
	/* Audio, and a data channel (RFC 8841) as the media plane answers. */
	struct sb_sdp_caps caps[2] = {
		{.type = "audio", .codecs = codecs, .n_codecs = 5, .max_codecs = 1},
		{.type = "application", .sctp_port = 5000, .max_message_size = 1024}};
	struct sb_sdp_local l = {
		.port = 9,
		.rtcp_mux = true,
		.bundle = true,
		.ice = {.ufrag = "u", .pwd = "p"},
		.fingerprint = {.hash = "sha-256", .value = "00"},
		.setup = SB_SDP_SETUP_ACTIVE,
		.ssrc = 1,
		.candidates = cands,
		.n_candidates = 1,
		.crypto = {.suite = "AES_CM_128_HMAC_SHA1_80", .key_params = "inline:x"}};
	struct sb_sdp *ans = NULL;
	char *text = NULL, err[256];

	if (sb_sdp_answer(offer, caps, 2, &l, &ans) < 0)
		return;
	if (sb_sdp_answer_check(offer, ans, err, sizeof(err)) < 0) {
		fprintf(stderr, "our answer fails the check: %s\n", err);
		abort();
	}
	if (sb_sdp_print(ans, &text) == 0)
		free(text);
	sb_sdp_free(ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_sdp *sdp = NULL, *again = NULL;
	char *text = NULL, err[256];
	int r;

	if (sb_sdp_parse((const char *)data, size, &sdp, err, sizeof(err)) < 0)
		return 0;
	if (sb_sdp_print(sdp, &text) == 0) {
		r = sb_sdp_parse(text, strlen(text), &again, err, sizeof(err));
		if (r < 0 && r != -E2BIG) {
			fprintf(stderr, "our print does not parse: %s\n%s", err, text);
			abort();
		}
		free(text);
		sb_sdp_free(again);
	}
	answer(sdp);
	sb_sdp_free(sdp);
	return 0;
}
