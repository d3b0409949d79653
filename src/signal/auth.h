/* Browser authentication: JWT verification (docs/protocol.md section 7).
 * libjwt checks the signature; this module adds the algorithm allow-list,
 * the key-type match, exp/nbf with leeway, aud, iss, and the identity claims.
 * Control thread (an auth object is immutable after creation: any thread may
 * verify with it). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "signal/msg.h"

struct sb_config_auth;
struct sb_signal_auth;

#define SB_SIGNAL_USER_MAX     64
#define SB_SIGNAL_NAME_MAX     128
#define SB_SIGNAL_MAY_DIAL_MAX 32

struct sb_signal_identity {
	char user[SB_SIGNAL_USER_MAX + 1];
	char display_name[SB_SIGNAL_NAME_MAX * 4 + 1]; /* UTF-8 */
	char *may_dial[SB_SIGNAL_MAY_DIAL_MAX + 1];    /* NULL-terminated, owned */
	size_t n_may_dial;
	int64_t exp; /* seconds since the epoch */
};

/* Builds the verifier from [auth]: loads the public key file when set. On a
 * bad config returns -EINVAL and a reason in errbuf; -ENOMEM. */
int sb_signal_auth_new(const struct sb_config_auth *cfg, struct sb_signal_auth **ret_auth,
		       char *errbuf, size_t errsize);
/* Accepts NULL; returns NULL. */
struct sb_signal_auth *sb_signal_auth_free(struct sb_signal_auth *auth);

/* Verifies token at time now_s (seconds since the epoch). Returns 0 and
 * fills *ret_id (release with sb_signal_identity_clear), or -EACCES with
 * err->code one of SB_SIGNAL_E_AUTH_* and a message. */
int sb_signal_auth_verify(const struct sb_signal_auth *auth, const char *token, int64_t now_s,
			  struct sb_signal_identity *ret_id, struct sb_signal_error *err);
void sb_signal_identity_clear(struct sb_signal_identity *id);
/* Deep copy; returns 0 or -ENOMEM. */
int sb_signal_identity_copy(struct sb_signal_identity *dst, const struct sb_signal_identity *src);

/* base64url (RFC 4648 section 5, no padding) decode into a malloc'd buffer
 * with a NUL after the data. Returns the length, or -EINVAL / -ENOMEM. */
int sb_signal_b64url_decode(const char *s, size_t len, char **ret_buf);
