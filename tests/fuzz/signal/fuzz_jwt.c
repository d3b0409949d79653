/* Fuzz target: the JWT verifier (a browser's token is outside input): our
 * header reading and base64url decoding, then libjwt and the claim checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "signal/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_config *cfg = sb_config_new_default();
	struct sb_signal_auth *auth = NULL;
	struct sb_signal_identity id;
	struct sb_signal_error err;
	char *token = malloc(size + 1), why[128];

	if (!cfg || !token)
		goto out;
	memcpy(token, data, size);
	token[size] = '\0';
	free(cfg->auth.hs256_secret);
	cfg->auth.hs256_secret = strdup("fuzz-secret");
	if (sb_signal_auth_new(&cfg->auth, &auth, why, sizeof(why)) < 0)
		goto out;
	memset(&id, 0, sizeof(id));
	if (sb_signal_auth_verify(auth, token, 1700000000, &id, &err) == 0)
		sb_signal_identity_clear(&id);
out:
	sb_signal_auth_free(auth);
	sb_config_unref(cfg);
	free(token);
	return 0;
}
