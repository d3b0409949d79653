/* JWT verification for browser sessions: our own header and claim checks
 * around libjwt's signature check. Owns the loaded keys. Control thread
 * builds it; verification is read-only. */
#include "signal/auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

enum alg { ALG_HS256 = 1 << 0, ALG_ES256 = 1 << 1, ALG_RS256 = 1 << 2 };

struct sb_signal_auth {
	unsigned allowed; /* enum alg bits from [auth] algorithms */
	unsigned keyed;	  /* enum alg bits that have a usable key */
	char *secret;	  /* HS256 */
	size_t secret_len;
	char *pem; /* public key PEM text, ES256 or RS256 */
	size_t pem_len;
	char *audience;
	char *issuer; /* NULL: not checked */
	int64_t leeway_s;
};

static unsigned alg_bit(const char *name)
{
	if (strcmp(name, "HS256") == 0)
		return ALG_HS256;
	if (strcmp(name, "ES256") == 0)
		return ALG_ES256;
	if (strcmp(name, "RS256") == 0)
		return ALG_RS256;
	return 0;
}

static int load_pem(struct sb_signal_auth *a, const char *path, char *errbuf, size_t errsize)
{
	FILE *f = fopen(path, "rb");
	EVP_PKEY *key = NULL;
	BIO *bio;
	long n;

	if (!f) {
		snprintf(errbuf, errsize, "public_key %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 65536 &&
	    fseek(f, 0, SEEK_SET) == 0 && (a->pem = calloc(1, (size_t)n + 1)) &&
	    fread(a->pem, 1, (size_t)n, f) == (size_t)n)
		a->pem_len = (size_t)n;
	fclose(f);
	bio = a->pem_len ? BIO_new_mem_buf(a->pem, (int)a->pem_len) : NULL;
	if (bio)
		key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key) {
		snprintf(errbuf, errsize, "public_key %s: not a PEM public key", path);
		return -EINVAL;
	}
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
		a->keyed |= ALG_RS256;
	else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == 256)
		a->keyed |= ALG_ES256;
	EVP_PKEY_free(key);
	if (!(a->keyed & (ALG_RS256 | ALG_ES256))) {
		snprintf(errbuf, errsize, "public_key %s: neither RSA nor EC P-256", path);
		return -EINVAL;
	}
	return 0;
}

int sb_signal_auth_new(const struct sb_config_auth *cfg, struct sb_signal_auth **ret_auth,
		       char *errbuf, size_t errsize)
{
	struct sb_signal_auth *a = calloc(1, sizeof(*a));
	int r = 0;

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; cfg->algorithms && cfg->algorithms[i]; i++) {
		unsigned bit = alg_bit(cfg->algorithms[i]);

		if (!bit) {
			snprintf(errbuf, errsize, "algorithms: '%s' is not HS256, ES256 or RS256",
				 cfg->algorithms[i]);
			r = -EINVAL;
			goto out_fail;
		}
		a->allowed |= bit;
	}
	if (cfg->hs256_secret && cfg->hs256_secret[0]) {
		a->secret = strdup(cfg->hs256_secret);
		a->secret_len = strlen(cfg->hs256_secret);
		a->keyed |= ALG_HS256;
	}
	if (cfg->public_key && cfg->public_key[0] &&
	    (r = load_pem(a, cfg->public_key, errbuf, errsize)) < 0)
		goto out_fail;
	a->audience = strdup(cfg->audience ? cfg->audience : "");
	a->issuer = cfg->issuer && cfg->issuer[0] ? strdup(cfg->issuer) : NULL;
	a->leeway_s = cfg->leeway_ms / 1000;
	if (!a->audience || (a->keyed & ALG_HS256 && !a->secret)) {
		r = -ENOMEM;
		goto out_fail;
	}
	*ret_auth = a;
	return 0;
out_fail:
	sb_signal_auth_free(a);
	return r;
}

struct sb_signal_auth *sb_signal_auth_free(struct sb_signal_auth *a)
{
	if (!a)
		return NULL;
	free(a->secret);
	free(a->pem);
	free(a->audience);
	free(a->issuer);
	free(a);
	return NULL;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int sb_signal_b64url_decode(const char *s, size_t len, char **ret_buf)
{
	char *out;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 == 1 || len > (1u << 20))
		return -EINVAL;
	out = malloc(len * 3 / 4 + 2);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(s[i]);

		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xFF);
		}
	}
	out[o] = '\0';
	*ret_buf = out;
	return (int)o;
}

static int deny(struct sb_signal_error *err, int code, const char *msg)
{
	err->code = code;
	snprintf(err->message, sizeof(err->message), "%s", msg);
	return -EACCES;
}

/* Decodes one base64url part as a JSON object; NULL when it is not one. */
static json_t *part_json(const char *s, size_t len)
{
	char *buf = NULL;
	int n = sb_signal_b64url_decode(s, len, &buf);
	json_t *o = n > 0 ? json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;

	free(buf);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int check_alg(const struct sb_signal_auth *a, json_t *hdr, unsigned *ret_bit,
		     struct sb_signal_error *err)
{
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	unsigned bit;

	if (!alg)
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "token header has no alg");
	if (strcasecmp(alg, "none") == 0)
		return deny(err, SB_SIGNAL_E_AUTH_ALGORITHM, "alg none is never accepted");
	bit = alg_bit(alg);
	if (!bit || !(a->allowed & bit))
		return deny(err, SB_SIGNAL_E_AUTH_ALGORITHM, "alg not in [auth] algorithms");
	if (!(a->keyed & bit))
		return deny(err, SB_SIGNAL_E_AUTH_ALGORITHM, "no key configured for this alg");
	if (json_object_get(hdr, "crit"))
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "crit header not supported");
	*ret_bit = bit;
	return 0;
}

static int check_signature(const struct sb_signal_auth *a, const char *token, unsigned bit,
			   struct sb_signal_error *err)
{
	static const jwt_alg_t want[] = {[ALG_HS256] = JWT_ALG_HS256,
					 [ALG_ES256] = JWT_ALG_ES256,
					 [ALG_RS256] = JWT_ALG_RS256};
	const unsigned char *key =
		bit == ALG_HS256 ? (const unsigned char *)a->secret : (const unsigned char *)a->pem;
	int key_len = (int)(bit == ALG_HS256 ? a->secret_len : a->pem_len);
	jwt_t *jwt = NULL;
	int r = jwt_decode(&jwt, token, key, key_len);

	if (r != 0 || !jwt || jwt_get_alg(jwt) != want[bit]) {
		jwt_free(jwt);
		return deny(err, SB_SIGNAL_E_AUTH_SIGNATURE, "signature does not verify");
	}
	jwt_free(jwt);
	return 0;
}

static bool aud_matches(json_t *aud, const char *want)
{
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v) if (json_is_string(v) &&
					  strcmp(json_string_value(v), want) == 0) return true;
	return false;
}

static int check_times(const struct sb_signal_auth *a, json_t *claims, int64_t now,
		       struct sb_signal_identity *id, struct sb_signal_error *err)
{
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");

	if (!json_is_number(exp))
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "exp claim missing");
	if (nbf && !json_is_number(nbf))
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "nbf claim is not a number");
	if ((double)now > json_number_value(exp) + (double)a->leeway_s)
		return deny(err, SB_SIGNAL_E_AUTH_EXPIRED, "token expired");
	if (nbf && (double)now < json_number_value(nbf) - (double)a->leeway_s)
		return deny(err, SB_SIGNAL_E_AUTH_NOT_YET_VALID, "token not valid yet");
	id->exp = (int64_t)json_number_value(exp);
	return 0;
}

static bool user_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SB_SIGNAL_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || strchr("<>\"@:;", s[i]))
			return false;
	return true;
}

static int take_identity(json_t *claims, struct sb_signal_identity *id, struct sb_signal_error *err)
{
	json_t *sub = json_object_get(claims, "sub"), *name = json_object_get(claims, "name");
	json_t *may = json_object_get(claims, "may_dial"), *v;
	size_t i;

	if (!json_is_string(sub) || json_string_length(sub) != strlen(json_string_value(sub)) ||
	    !user_valid(json_string_value(sub)))
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "sub claim missing or not a valid user");
	snprintf(id->user, sizeof(id->user), "%s", json_string_value(sub));
	if (name &&
	    (!json_is_string(name) || json_string_length(name) >= sizeof(id->display_name) ||
	     !sb_signal_text_safe(json_string_value(name), json_string_length(name), false)))
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "name claim invalid");
	snprintf(id->display_name, sizeof(id->display_name), "%s",
		 name ? json_string_value(name) : id->user);
	if (may && (!json_is_array(may) || json_array_size(may) > SB_SIGNAL_MAY_DIAL_MAX))
		return deny(err, SB_SIGNAL_E_AUTH_INVALID, "may_dial claim invalid");
	json_array_foreach(may, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 256 ||
		    !sb_signal_text_safe(json_string_value(v), json_string_length(v), false))
			return deny(err, SB_SIGNAL_E_AUTH_INVALID, "may_dial claim invalid");
		id->may_dial[id->n_may_dial] = strdup(json_string_value(v));
		if (!id->may_dial[id->n_may_dial])
			return deny(err, SB_SIGNAL_E_INTERNAL, "out of memory");
		id->n_may_dial++;
	}
	return 0;
}

static int check_claims(const struct sb_signal_auth *a, json_t *claims, int64_t now,
			struct sb_signal_identity *id, struct sb_signal_error *err)
{
	json_t *iss = json_object_get(claims, "iss");

	if (check_times(a, claims, now, id, err) < 0)
		return -EACCES;
	if (!aud_matches(json_object_get(claims, "aud"), a->audience))
		return deny(err, SB_SIGNAL_E_AUTH_AUDIENCE, "aud does not name this server");
	if (a->issuer && (!json_is_string(iss) || strcmp(json_string_value(iss), a->issuer) != 0))
		return deny(err, SB_SIGNAL_E_AUTH_ISSUER, "iss is not the configured issuer");
	return take_identity(claims, id, err);
}

int sb_signal_auth_verify(const struct sb_signal_auth *a, const char *token, int64_t now_s,
			  struct sb_signal_identity *ret_id, struct sb_signal_error *err)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	struct sb_signal_identity id = {0};
	json_t *hdr = NULL, *claims = NULL;
	unsigned bit = 0;
	int r = -EACCES;

	if (!d1 || !d2 || strchr(d2 + 1, '.') || d1 == token || d2 == d1 + 1) {
		deny(err, SB_SIGNAL_E_AUTH_INVALID, "not a compact JWS (three parts)");
		goto out;
	}
	hdr = part_json(token, (size_t)(d1 - token));
	claims = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!hdr || !claims) {
		deny(err, SB_SIGNAL_E_AUTH_INVALID, "token header or claims are not JSON objects");
		goto out;
	}
	if (check_alg(a, hdr, &bit, err) < 0 || check_signature(a, token, bit, err) < 0 ||
	    check_claims(a, claims, now_s, &id, err) < 0)
		goto out;
	*ret_id = id;
	memset(&id, 0, sizeof(id));
	r = 0;
out:
	sb_signal_identity_clear(&id);
	json_decref(hdr);
	json_decref(claims);
	return r;
}

void sb_signal_identity_clear(struct sb_signal_identity *id)
{
	for (size_t i = 0; i < id->n_may_dial; i++)
		free(id->may_dial[i]);
	memset(id, 0, sizeof(*id));
}

int sb_signal_identity_copy(struct sb_signal_identity *dst, const struct sb_signal_identity *src)
{
	*dst = *src;
	for (size_t i = 0; i < src->n_may_dial; i++) {
		dst->may_dial[i] = strdup(src->may_dial[i]);
		if (!dst->may_dial[i]) {
			dst->n_may_dial = i;
			sb_signal_identity_clear(dst);
			return -ENOMEM;
		}
	}
	return 0;
}
