/* Fuzz target: SIP requests from outside, as sofia-sip parses them, through
 * the gateway's own code that reads them: the INVITE checks (body type,
 * Accept), the redirect targets of a 3xx (Contacts, q values, loop
 * detection), the direction of a new offer in a re-INVITE or UPDATE
 * (src/sdp's scan first, then sofia's SDP parser), and the checks of a
 * MESSAGE in a dialog (type, charset, size, UTF-8: src/sip/message.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_internal.h"

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void targets(const sip_t *s)
{
	struct sb_sip_dialog d;
	char *uri;

	memset(&d, 0, sizeof(d));
	sb__sip_targets_add(&d, s->sip_contact);
	while ((uri = sb__sip_target_next(&d))) {
		(void)sb__sip_target_seen(&d, uri);
		free(uri);
	}
	sb__sip_targets_clear(&d);
}

/* A MESSAGE accepted carries at most SB_CHAT_MAX bytes without a NUL. */
static void message(const sip_t *s)
{
	const char *body = NULL;
	size_t len = 0;
	int status = sb__sip_message_check(s, &body, &len);

	if (status != 200 && status != 400 && status != 413 && status != 415)
		abort();
	if (status == 200 && (len > SB_CHAT_MAX || (len && (!body || memchr(body, 0, len)))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msg_t *msg = msg_make(sip_default_mclass(), 0, data, (isize_t)size);
	sip_t *s = sip_object(msg);

	if (s && s->sip_request) {
		(void)sb__sip_invite_check(s);
		targets(s);
		message(s);
		if (s->sip_payload && s->sip_payload->pl_data) {
			char *offer = strndup(s->sip_payload->pl_data, s->sip_payload->pl_len);
			int mode;

			if (offer)
				(void)sb__sip_offer_mode(offer, &mode);
			free(offer);
		}
	}
	msg_destroy(msg);
	return 0;
}
