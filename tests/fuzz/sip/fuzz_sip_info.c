/* Fuzz target: the body of a party's INFO (DTMF, RFC 6086) through the
 * gateway's parser, sb__sip_dtmf_parse(). The first byte picks the type (odd:
 * application/dtmf-relay, even: application/dtmf); the rest is the body,
 * not NUL-terminated. A parsed digit must be one we would relay and a
 * duration within bounds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char digit = 0;
	int ms = -1;
	char *body;

	if (size < 1)
		return 0;
	/* A copy of exactly the body, so that a read past it is seen by
	 * the sanitizers. */
	body = malloc(size - 1 ? size - 1 : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	if (sb__sip_dtmf_parse(data[0] & 1, body, size - 1, &digit, &ms) == 0) {
		if (!strchr("0123456789*#ABCD", digit) || digit == '\0')
			abort();
		if (ms < 0 || ms > 60000)
			abort();
	}
	free(body);
	return 0;
}
