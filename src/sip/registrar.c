/* Registrar and location service (RFC 3261 section 10) with digest
 * authentication (RFC 2617, MD5, qop=auth) against [user] passwords.
 * Control thread. Owns the location table; bindings are persisted through
 * the hooks main.c sets (the store). */
#define SB_LOG_COMP SB_COMP_SIP

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#include "config/config.h"
#include "core/ids.h"
#include "log/log.h"
#include "sip/sip_internal.h"

#define NONCE_TTL_S	      300
#define MAX_BINDINGS_PER_USER 10

static void md5_hex(const char *in, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(in, strlen(in), md, &n, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A nonce that needs no state: its issue time and a keyed hash of it. */
static void make_nonce(struct sb_sip *sip, long t, char out[64])
{
	char in[96], h[33];

	snprintf(in, sizeof(in), "%08lx:%s", t, sip->nonce_key);
	md5_hex(in, h);
	snprintf(out, 64, "%08lx%s", t, h);
}

static bool nonce_ok(struct sb_sip *sip, const char *nonce)
{
	char *end, expect[64], ts[9];
	long t, now = (long)time(NULL);

	/* Eight hex digits of issue time, then the keyed hash. */
	if (strlen(nonce) != 40)
		return false;
	memcpy(ts, nonce, 8);
	ts[8] = '\0';
	t = strtol(ts, &end, 16);
	if (*end || now - t > NONCE_TTL_S || t > now + 5)
		return false;
	make_nonce(sip, t, expect);
	return strcmp(expect, nonce) == 0;
}

void sb__sip_challenge(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, bool proxy)
{
	char nonce[64], hdr[256];

	make_nonce(sip, (long)time(NULL), nonce);
	snprintf(hdr, sizeof(hdr), "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"",
		 sip->cfg->sip.realm, nonce);
	if (proxy)
		nua_respond(nh, SIP_407_PROXY_AUTH_REQUIRED, SIPTAG_PROXY_AUTHENTICATE_STR(hdr),
			    NUTAG_WITH_THIS(nua), TAG_END());
	else
		nua_respond(nh, SIP_401_UNAUTHORIZED, SIPTAG_WWW_AUTHENTICATE_STR(hdr),
			    NUTAG_WITH_THIS(nua), TAG_END());
}

bool sb__sip_digest_ok(struct sb_sip *sip, const char *method, const msg_auth_t *auth,
		       const char *user)
{
	const struct sb_config_user *u = sb_config_find_user(sip->cfg, user);
	auth_response_t ar = {.ar_size = sizeof(ar)};
	auth_hexmd5_t ha1, resp;
	su_home_t home[1] = {SU_HOME_INIT(home)};
	bool ok = false;

	if (!u || !u->password || !*u->password)
		return false;
	for (; auth && !ok; auth = auth->au_next) {
		if (!auth->au_scheme || strcasecmp(auth->au_scheme, "Digest") != 0)
			continue;
		if (auth_digest_response_get(home, &ar, auth->au_params) < 0 || !ar.ar_username ||
		    !ar.ar_realm || !ar.ar_nonce || !ar.ar_uri || !ar.ar_response)
			continue;
		if (strcmp(ar.ar_username, user) != 0 ||
		    strcmp(ar.ar_realm, sip->cfg->sip.realm) != 0 || !nonce_ok(sip, ar.ar_nonce))
			continue;
		auth_digest_ha1(ha1, user, sip->cfg->sip.realm, u->password);
		auth_digest_response(&ar, resp, ha1, method, NULL, 0);
		ok = strcmp(resp, ar.ar_response) == 0;
	}
	su_home_deinit(home);
	return ok;
}

void sb__sip_location_free(gpointer p)
{
	GPtrArray *a = p;

	for (guint i = 0; i < a->len; i++) {
		struct sb_sip_binding *b = a->pdata[i];
		free(b->contact);
		free(b);
	}
	g_ptr_array_free(a, TRUE);
}

static GPtrArray *bindings_of(struct sb_sip *sip, const char *user, bool create)
{
	GPtrArray *a = g_hash_table_lookup(sip->location, user);

	if (!a && create) {
		a = g_ptr_array_new();
		g_hash_table_insert(sip->location, g_strdup(user), a);
	}
	return a;
}

/* Adds, refreshes (expires > 0) or removes (expires 0) one binding. */
static int bind_contact(struct sb_sip *sip, const char *user, const char *contact, long expires)
{
	GPtrArray *a = bindings_of(sip, user, expires > 0);
	int64_t at = (int64_t)time(NULL) + expires;

	for (guint i = 0; a && i < a->len; i++) {
		struct sb_sip_binding *b = a->pdata[i];
		if (strcmp(b->contact, contact) != 0)
			continue;
		if (expires > 0) {
			b->expires_at_s = at;
			b->nat = sb__sip_nat_rewritten(sip, contact);
		} else {
			if (sip->persist.del)
				sip->persist.del(sip->persist.ud, user, contact);
			free(b->contact);
			free(b);
			g_ptr_array_remove_index(a, i);
			return 0;
		}
		goto persist;
	}
	if (expires == 0)
		return 0;
	if (a->len >= MAX_BINDINGS_PER_USER)
		return -ENOSPC;
	{
		struct sb_sip_binding *b = calloc(1, sizeof(*b));
		if (!b || !(b->contact = strdup(contact))) {
			free(b);
			return -ENOMEM;
		}
		b->expires_at_s = at;
		b->nat = sb__sip_nat_rewritten(sip, contact);
		g_ptr_array_add(a, b);
	}
persist:
	if (sip->persist.put)
		sip->persist.put(sip->persist.ud, user, contact, at,
				 sb__sip_nat_rewritten(sip, contact));
	return 0;
}

void sb_sip_location_restore(struct sb_sip *sip, const char *aor, const char *contact,
			     int64_t expires_at_s, bool nat)
{
	GPtrArray *a = bindings_of(sip, aor, true);
	struct sb_sip_binding *b = calloc(1, sizeof(*b));

	if (!b || !(b->contact = strdup(contact)) || a->len >= MAX_BINDINGS_PER_USER) {
		if (b)
			free(b->contact);
		free(b);
		return;
	}
	b->expires_at_s = expires_at_s;
	b->nat = nat;
	g_ptr_array_add(a, b);
}

size_t sb_sip_location_count(struct sb_sip *sip, const char *user)
{
	GPtrArray *a = bindings_of(sip, user, false);
	int64_t now = (int64_t)time(NULL);
	size_t n = 0;

	for (guint i = 0; a && i < a->len; i++)
		n += ((struct sb_sip_binding *)a->pdata[i])->expires_at_s > now;
	return n;
}

static void respond_bindings(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, const char *user)
{
	GPtrArray *a = bindings_of(sip, user, false);
	int64_t now = (int64_t)time(NULL);
	GString *c = g_string_new(NULL);

	for (guint i = 0; a && i < a->len; i++) {
		struct sb_sip_binding *b = a->pdata[i];
		if (b->expires_at_s <= now)
			continue;
		g_string_append_printf(c, "%s<%s>;expires=%lld", c->len ? ", " : "", b->contact,
				       (long long)(b->expires_at_s - now));
	}
	nua_respond(nh, SIP_200_OK, TAG_IF(c->len, SIPTAG_CONTACT_STR(c->str)),
		    NUTAG_WITH_THIS(nua), TAG_END());
	g_string_free(c, TRUE);
}

void sb__sip_on_register(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, const sip_t *s)
{
	const struct sb_config_sip *sc = &sip->cfg->sip;
	const char *user = s && s->sip_to ? s->sip_to->a_url->url_user : NULL;
	long def = s && s->sip_expires ? (long)s->sip_expires->ex_delta : 3600;
	su_home_t *home = nua_handle_home(nh);

	if (!user) {
		nua_respond(nh, SIP_400_BAD_REQUEST, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	if (!sb_config_find_user(sip->cfg, user)) {
		nua_respond(nh, SIP_404_NOT_FOUND, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	if (!sb__sip_digest_ok(sip, "REGISTER", s->sip_authorization, user)) {
		sb__sip_challenge(sip, nua, nh, false);
		return;
	}
	for (const sip_contact_t *m = s->sip_contact; m; m = m->m_next) {
		long exp = m->m_expires ? strtol(m->m_expires, NULL, 10) : def;
		char *uri;

		if (m->m_url->url_type == url_any) {
			/* "Contact: *" removes every binding (section 10.2.2). */
			GPtrArray *a = bindings_of(sip, user, false);
			while (a && a->len)
				bind_contact(sip, user,
					     ((struct sb_sip_binding *)a->pdata[0])->contact, 0);
			continue;
		}
		if (exp > 0 && exp < sc->register_min_expires_s) {
			char min[24];
			snprintf(min, sizeof(min), "%lld", (long long)sc->register_min_expires_s);
			nua_respond(nh, SIP_423_INTERVAL_TOO_BRIEF, SIPTAG_MIN_EXPIRES_STR(min),
				    NUTAG_WITH_THIS(nua), TAG_END());
			return;
		}
		if (exp > sc->register_max_expires_s)
			exp = (long)sc->register_max_expires_s;
		if (exp < 0)
			exp = 0;
		uri = sb__sip_nat_contact(sip, nua, home, s, m->m_url, user);
		if (uri && bind_contact(sip, user, uri, exp) == -ENOSPC) {
			nua_respond(nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(nua), TAG_END());
			return;
		}
		sb_info("%s %s %s (%lds)", user, exp ? "registered" : "unregistered",
			uri ? uri : "?", exp);
	}
	respond_bindings(sip, nua, nh, user);
}
