/* Checks of an INVITE's body before the engine sees it: the media type we
 * can read (RFC 3261 section 21.4.13, 415) and whether the caller can take
 * the SDP answer we would send (section 21.4.7, 406). And our answer to a
 * digest challenge, as a client (REGISTER to a trunk, INVITE through one).
 * Control thread. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sip/sip_internal.h"

#include <sofia-sip/msg_header.h>

static bool is_sdp(const char *type)
{
	return type && strcasecmp(type, "application/sdp") == 0;
}

static bool accepts_sdp(const sip_accept_t *ac)
{
	for (; ac; ac = ac->ac_next) {
		const char *t = ac->ac_type;

		if (!t)
			continue;
		if (is_sdp(t) || strcasecmp(t, "application/*") == 0 || strcmp(t, "*/*") == 0)
			return true;
	}
	return false;
}

int sb__sip_invite_check(const sip_t *s)
{
	bool has_body = s->sip_payload && s->sip_payload->pl_len > 0;

	if (has_body && (!s->sip_content_type || !is_sdp(s->sip_content_type->c_type)))
		return 415;
	/* No Accept header means application/sdp (RFC 3261 section 20.1). */
	if (s->sip_accept && !accepts_sdp(s->sip_accept))
		return 406;
	return 0;
}

bool sb__sip_auth_answer(nua_handle_t *nh, const sip_t *s, const char *user, const char *password)
{
	const msg_auth_t *ch =
		s ? (s->sip_www_authenticate ? s->sip_www_authenticate : s->sip_proxy_authenticate)
		  : NULL;
	const char *realm = ch ? msg_header_find_param(ch->au_common, "realm=") : NULL;
	char cred[512];
	int n;

	if (!ch || !realm || !ch->au_scheme || !user || !*user)
		return false;
	/* NUTAG_AUTH wants scheme:"realm":user:password, the realm quoted. */
	n = snprintf(cred, sizeof(cred), "%s:%s%s%s:%s:%s", ch->au_scheme,
		     realm[0] == '"' ? "" : "\"", realm, realm[0] == '"' ? "" : "\"", user,
		     password ? password : "");
	if (n < 0 || (size_t)n >= sizeof(cred))
		return false;
	nua_authenticate(nh, NUTAG_AUTH(cred), TAG_END());
	return true;
}
