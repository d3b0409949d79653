/* Unit tests of JWT verification (src/signal/auth.c) at injected times:
 * allow-list, alg none, key types, exp/nbf with leeway, aud, iss, claims. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "signal/auth.h"

#define NOW 1800000000LL

static struct sb_signal_auth *auth_with(const char *algs, const char *issuer, int64_t leeway_ms)
{
	char *list[4] = {0}, buf[64];
	struct sb_config_auth cfg = {.algorithms = list,
				     .hs256_secret = "k3y",
				     .public_key = "",
				     .audience = "switchboard",
				     .issuer = (char *)issuer,
				     .leeway_ms = leeway_ms};
	struct sb_signal_auth *a = NULL;
	char why[128];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", algs);
	for (char *p = buf, *c; p && *p && n < 3; p = c) {
		c = strchr(p, ',');
		if (c)
			*c++ = '\0';
		list[n++] = p;
	}
	cr_assert_eq(sb_signal_auth_new(&cfg, &a, why, sizeof(why)), 0, "%s", why);
	return a;
}

static char *token(const char *alg, const char *key, const char *claims)
{
	jwt_t *j = NULL;
	char *t;

	cr_assert_eq(jwt_new(&j), 0);
	cr_assert_eq(jwt_add_grants_json(j, claims), 0, "%s", claims);
	cr_assert_eq(jwt_set_alg(j, jwt_str_alg(alg), (const unsigned char *)key,
				 key ? (int)strlen(key) : 0),
		     0);
	t = jwt_encode_str(j);
	jwt_free(j);
	return t;
}

static int verify(struct sb_signal_auth *a, const char *tok, struct sb_signal_identity *id)
{
	struct sb_signal_error err = {0};

	memset(id, 0, sizeof(*id));
	if (sb_signal_auth_verify(a, tok, NOW, id, &err) == 0)
		return 0;
	return err.code;
}

#define GOOD "\"sub\":\"alice\",\"aud\":\"switchboard\",\"exp\":1800000100"

Test(auth, accepts_and_fills_identity)
{
	struct sb_signal_auth *a = auth_with("HS256", NULL, 0);
	struct sb_signal_identity id;
	char *t = token("HS256", "k3y", "{" GOOD ",\"name\":\"Alice A\",\"may_dial\":[\"1*\"]}");

	cr_assert_eq(verify(a, t, &id), 0);
	cr_assert_str_eq(id.user, "alice");
	cr_assert_str_eq(id.display_name, "Alice A");
	cr_assert_eq(id.n_may_dial, 1);
	cr_assert_str_eq(id.may_dial[0], "1*");
	cr_assert_eq(id.exp, 1800000100);
	sb_signal_identity_clear(&id);
	free(t);
	t = token("HS256", "k3y", "{" GOOD "}");
	cr_assert_eq(verify(a, t, &id), 0);
	cr_assert_str_eq(id.display_name, "alice");
	cr_assert_eq(id.n_may_dial, 0);
	free(t);
	sb_signal_auth_free(a);
}

Test(auth, times_with_leeway)
{
	struct sb_signal_auth *a = auth_with("HS256", NULL, 30000);
	struct sb_signal_identity id;
	char *t;

	t = token("HS256", "k3y", "{\"sub\":\"a\",\"aud\":\"switchboard\",\"exp\":1799999980}");
	cr_assert_eq(verify(a, t, &id), 0, "inside the leeway");
	sb_signal_identity_clear(&id);
	free(t);
	t = token("HS256", "k3y", "{\"sub\":\"a\",\"aud\":\"switchboard\",\"exp\":1799999960}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_EXPIRED);
	free(t);
	t = token("HS256", "k3y", "{" GOOD ",\"nbf\":1800000020}");
	cr_assert_eq(verify(a, t, &id), 0);
	sb_signal_identity_clear(&id);
	free(t);
	t = token("HS256", "k3y", "{" GOOD ",\"nbf\":1800000040}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_NOT_YET_VALID);
	free(t);
	t = token("HS256", "k3y", "{\"sub\":\"a\",\"aud\":\"switchboard\"}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_INVALID, "exp is required");
	free(t);
	sb_signal_auth_free(a);
}

Test(auth, audience_issuer_and_claims)
{
	struct sb_signal_auth *a = auth_with("HS256", "idp", 0);
	struct sb_signal_identity id;
	char *t;

	t = token("HS256", "k3y",
		  "{\"sub\":\"alice\",\"exp\":1800000100,\"iss\":\"idp\",\"aud\":[\"x\","
		  "\"switchboard\"]}");
	cr_assert_eq(verify(a, t, &id), 0);
	sb_signal_identity_clear(&id);
	free(t);
	t = token("HS256", "k3y",
		  "{\"sub\":\"alice\",\"exp\":1800000100,\"iss\":\"idp\",\"aud\":\"other\"}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_AUDIENCE);
	free(t);
	t = token("HS256", "k3y", "{" GOOD "}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_ISSUER);
	free(t);
	t = token("HS256", "k3y",
		  "{\"sub\":\"a b\",\"aud\":\"switchboard\",\"exp\":1800000100,\"iss\":\"idp\"}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_INVALID);
	free(t);
	t = token("HS256", "k3y",
		  "{\"sub\":\"a@b\",\"aud\":\"switchboard\",\"exp\":1800000100,\"iss\":\"idp\"}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_INVALID);
	free(t);
	t = token("HS256", "k3y", "{" GOOD ",\"iss\":\"idp\",\"name\":\"x\\r\\ny\"}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_INVALID);
	free(t);
	t = token("HS256", "k3y", "{" GOOD ",\"iss\":\"idp\",\"may_dial\":\"1*\"}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_INVALID);
	free(t);
	sb_signal_auth_free(a);
}

Test(auth, algorithms)
{
	struct sb_signal_auth *a = auth_with("HS256", NULL, 0);
	struct sb_signal_auth *es = auth_with("ES256", NULL, 0);
	struct sb_signal_identity id;
	char *t;

	/* alg none: unsigned, with or without a trailing signature */
	cr_assert_eq(verify(a, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", &id),
		     SB_SIGNAL_E_AUTH_ALGORITHM);
	cr_assert_eq(verify(a, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.eA", &id),
		     SB_SIGNAL_E_AUTH_ALGORITHM);
	cr_assert_eq(verify(a, "eyJhbGciOiJOb05lIn0.eyJzdWIiOiJhIn0.eA", &id),
		     SB_SIGNAL_E_AUTH_ALGORITHM);
	t = token("HS512", "k3y", "{" GOOD "}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_ALGORITHM);
	free(t);
	/* ES256 allowed but no key configured: refused, never tried as HMAC */
	t = token("HS256", "k3y", "{" GOOD "}");
	cr_assert_eq(verify(es, t, &id), SB_SIGNAL_E_AUTH_ALGORITHM);
	free(t);
	t = token("HS256", "wrong", "{" GOOD "}");
	cr_assert_eq(verify(a, t, &id), SB_SIGNAL_E_AUTH_SIGNATURE);
	free(t);
	cr_assert_eq(verify(a, "x", &id), SB_SIGNAL_E_AUTH_INVALID);
	cr_assert_eq(verify(a, "a.b.c.d", &id), SB_SIGNAL_E_AUTH_INVALID);
	cr_assert_eq(verify(a, "!!.??.x", &id), SB_SIGNAL_E_AUTH_INVALID);
	sb_signal_auth_free(a);
	sb_signal_auth_free(es);
}

Test(auth, config_errors)
{
	char *bad[] = {"HS256", "none", NULL};
	struct sb_config_auth cfg = {
		.algorithms = bad, .hs256_secret = "", .public_key = "", .audience = "a"};
	struct sb_signal_auth *a = NULL;
	char why[128] = "";

	cr_assert_eq(sb_signal_auth_new(&cfg, &a, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "none"));
	bad[1] = NULL;
	cfg.public_key = "/nonexistent.pem";
	cr_assert_eq(sb_signal_auth_new(&cfg, &a, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "/nonexistent.pem"));
}

Test(auth, base64url)
{
	char *out = NULL;

	cr_assert_eq(sb_signal_b64url_decode("aGk", 3, &out), 2);
	cr_assert_str_eq(out, "hi");
	free(out);
	cr_assert_eq(sb_signal_b64url_decode("a", 1, &out), -EINVAL);
	cr_assert_eq(sb_signal_b64url_decode("a+b/", 4, &out), -EINVAL);
	cr_assert_eq(sb_signal_b64url_decode("_-8", 3, &out), 2);
	free(out);
}
