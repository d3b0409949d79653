/* libFuzzer target: the protocol v1 message decoder (src/signal/msg.c) and
 * the encoders fed with what it decoded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "signal/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_signal_request req;
	struct sb_signal_error err = {0};
	char *out;

	if (sb_signal_msg_decode((const char *)data, size, &req, &err) == 0) {
		out = sb_signal_msg_result(req.id, req.params);
		if (!out)
			abort(); /* a decoded request always re-encodes */
		free(out);
		sb_signal_request_clear(&req);
	} else {
		out = sb_signal_msg_error(req.id, err.code, err.message);
		if (!out)
			abort(); /* every error can be answered */
		free(out);
	}
	return 0;
}
