/* NAT on the SIP side: symmetric response routing (RFC 3581 rport and
 * received), the Contact of a phone registering from behind a NAT replaced
 * by the address its REGISTER came from, and OPTIONS keepalives that hold
 * such a NAT binding open. Also the registrations listing for the API.
 * Control thread. Owns the set of rewritten bindings and the probes. */
#define SB_LOG_COMP SB_COMP_SIP

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#include "config/config.h"
#include "log/log.h"
#include "sip/sip_internal.h"

struct sb_sip_nat {
	GHashTable *bindings; /* rewritten contact -> struct nat_binding */
	GHashTable *probes;   /* nua_handle_t * of OPTIONS in flight (set) */
	guint timer;
};

struct nat_binding {
	char *aor;
	nua_t *nua; /* the listener the REGISTER came through */
};

static void nat_binding_free(gpointer p)
{
	struct nat_binding *b = p;

	free(b->aor);
	free(b);
}

void sb__sip_nat_setup(struct sb_sip *sip, nua_t *nua)
{
	/* Responses go back to the address and port the request came from
	 * (RFC 3581), also for clients that did not ask with ;rport: most
	 * phones behind NAT listen on the port they send from. Our own
	 * requests ask for it, so an upstream answers through our NAT. */
	nua_set_params(nua, NTATAG_SERVER_RPORT(2), NTATAG_CLIENT_RPORT(1), NTATAG_TCP_RPORT(1),
		       NTATAG_TLS_RPORT(1), TAG_END());
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[16];
	char v6[64];
	size_t n = strlen(host);

	if (inet_pton(AF_INET, host, buf) == 1)
		return true;
	if (n < 3 || n - 2 >= sizeof(v6) || host[0] != '[' || host[n - 1] != ']')
		return false;
	memcpy(v6, host + 1, n - 2);
	v6[n - 2] = '\0';
	return inet_pton(AF_INET6, v6, buf) == 1;
}

/* The transport of the request as a URI parameter value, from its top Via
 * ("SIP/2.0/TCP" -> "tcp"); "" for UDP. */
static const char *via_transport(const sip_t *s)
{
	const char *p = s && s->sip_via ? s->sip_via->v_protocol : NULL;

	if (!p)
		return "";
	if (strcasecmp(p, "SIP/2.0/TCP") == 0)
		return "tcp";
	if (strcasecmp(p, "SIP/2.0/TLS") == 0)
		return "tls";
	return "";
}

char *sb__sip_nat_contact(struct sb_sip *sip, nua_t *nua, su_home_t *home, const sip_t *s,
			  const url_t *contact, const char *aor)
{
	msg_t *msg = nua_current_request(nua);
	su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
	char ip[64] = "", port[8] = "", *uri;
	const char *tp = via_transport(s);
	struct nat_binding *b = NULL;

	if (!sip->cfg->sip.nat_contact_rewrite || !ai || !ai->ai_addr || !contact->url_host ||
	    getnameinfo(ai->ai_addr, (socklen_t)ai->ai_addrlen, ip, sizeof(ip), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return url_as_string(home, contact);
	/* A host name, or the address the request came from: no NAT seen.
	 * Only a literal address other than the source shows one. */
	if (!is_ip_literal(contact->url_host) || strcmp(contact->url_host, ip) == 0 ||
	    (ai->ai_family == AF_INET6 && strncmp(contact->url_host + 1, ip, strlen(ip)) == 0))
		return url_as_string(home, contact);
	uri = su_sprintf(home, "sip:%s%s%s%s%s:%s%s%s", contact->url_user ? contact->url_user : "",
			 contact->url_user ? "@" : "", ai->ai_family == AF_INET6 ? "[" : "", ip,
			 ai->ai_family == AF_INET6 ? "]" : "", port, *tp ? ";transport=" : "", tp);
	if (uri && sip->nat && (b = calloc(1, sizeof(*b))) && (b->aor = strdup(aor))) {
		b->nua = nua;
		g_hash_table_replace(sip->nat->bindings, g_strdup(uri), b);
	} else if (b) {
		nat_binding_free(b);
	}
	sb_info("%s: Contact %s:%s is behind NAT, stored as %s", aor, contact->url_host,
		contact->url_port ? contact->url_port : "5060", uri ? uri : "?");
	return uri;
}

bool sb__sip_nat_rewritten(struct sb_sip *sip, const char *contact)
{
	return sip->nat && contact && g_hash_table_contains(sip->nat->bindings, contact);
}

/* The rewritten bindings restored from the store: their keepalives go
 * through the listener of the contact's transport. */
static void nat_restore(struct sb_sip *sip)
{
	GHashTableIter it;
	gpointer k, v;
	int64_t now = (int64_t)time(NULL);

	g_hash_table_iter_init(&it, sip->location);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		GPtrArray *a = v;

		for (guint i = 0; i < a->len; i++) {
			const struct sb_sip_binding *sb = a->pdata[i];
			su_home_t home[1] = {SU_HOME_INIT(home)};
			url_t *u = sb->nat && sb->expires_at_s > now ? url_make(home, sb->contact)
								     : NULL;
			char tp[8] = "udp";
			struct nat_binding *b;

			if (u && u->url_params)
				url_param(u->url_params, "transport", tp, sizeof(tp));
			su_home_deinit(home);
			if (!u || !(b = calloc(1, sizeof(*b))))
				continue;
			b->nua = sb__sip_nua_for(sip, tp);
			b->aor = strdup(k);
			if (b->aor)
				g_hash_table_replace(sip->nat->bindings, g_strdup(sb->contact), b);
			else
				nat_binding_free(b);
		}
	}
	if (g_hash_table_size(sip->nat->bindings))
		sb_info("keepalives of %u NAT bindings resumed",
			g_hash_table_size(sip->nat->bindings));
}

/* True while contact is a live binding of aor in the location service. */
static bool binding_live(struct sb_sip *sip, const char *aor, const char *contact)
{
	GPtrArray *a = g_hash_table_lookup(sip->location, aor);
	int64_t now = (int64_t)time(NULL);

	for (guint i = 0; a && i < a->len; i++) {
		const struct sb_sip_binding *b = a->pdata[i];
		if (strcmp(b->contact, contact) == 0)
			return b->expires_at_s > now;
	}
	return false;
}

static gboolean drop_probe_cb(gpointer key, gpointer value, gpointer ud)
{
	nua_handle_destroy(key);
	return TRUE;
}

static gboolean keepalive_cb(gpointer ud)
{
	struct sb_sip *sip = ud;
	struct sb_sip_nat *nat = sip->nat;
	GHashTableIter it;
	gpointer k, v;

	/* Probes of the last round still unanswered are given up. */
	g_hash_table_foreach_remove(nat->probes, drop_probe_cb, NULL);
	g_hash_table_iter_init(&it, nat->bindings);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct nat_binding *b = v;
		char to[300];
		nua_handle_t *nh;

		if (!binding_live(sip, b->aor, k)) {
			g_hash_table_iter_remove(&it);
			continue;
		}
		snprintf(to, sizeof(to), "<%s>", (const char *)k);
		nh = nua_handle(b->nua, NULL, SIPTAG_TO_STR(to), TAG_END());
		if (!nh)
			continue;
		g_hash_table_add(nat->probes, nh);
		nua_options(nh, NUTAG_URL(k), TAG_END());
	}
	return G_SOURCE_CONTINUE;
}

int sb__sip_nat_start(struct sb_sip *sip)
{
	struct sb_sip_nat *nat = calloc(1, sizeof(*nat));

	if (!nat)
		return -ENOMEM;
	nat->bindings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, nat_binding_free);
	nat->probes = g_hash_table_new(g_direct_hash, g_direct_equal);
	if (sip->cfg->sip.nat_keepalive_interval_s > 0)
		nat->timer = g_timeout_add_seconds((guint)sip->cfg->sip.nat_keepalive_interval_s,
						   keepalive_cb, sip);
	sip->nat = nat;
	if (sip->n_nua)
		nat_restore(sip);
	return 0;
}

void sb__sip_nat_stop(struct sb_sip *sip)
{
	struct sb_sip_nat *nat = sip->nat;

	if (!nat)
		return;
	if (nat->timer)
		g_source_remove(nat->timer);
	g_hash_table_foreach_remove(nat->probes, drop_probe_cb, NULL);
	g_hash_table_destroy(nat->probes);
	g_hash_table_destroy(nat->bindings);
	free(nat);
	sip->nat = NULL;
}

bool sb__sip_nat_event(struct sb_sip *sip, nua_event_t event, int status, nua_handle_t *nh)
{
	if (!sip->nat || !nh || !g_hash_table_contains(sip->nat->probes, nh))
		return false;
	if (event == nua_r_options && status >= 200) {
		g_hash_table_remove(sip->nat->probes, nh);
		nua_handle_destroy(nh);
	}
	return true;
}

char *sb_sip_location_json(struct sb_sip *sip)
{
	json_t *o = json_object();
	int64_t now = (int64_t)time(NULL);
	GHashTableIter it;
	gpointer k, v;
	char *out;

	g_hash_table_iter_init(&it, sip->location);
	while (o && g_hash_table_iter_next(&it, &k, &v)) {
		GPtrArray *a = v;
		json_t *list = json_array();

		for (guint i = 0; list && i < a->len; i++) {
			const struct sb_sip_binding *b = a->pdata[i];
			bool nat = b->nat;

			if (b->expires_at_s > now)
				json_array_append_new(list,
						      json_pack("{s:s, s:I, s:b}", "contact",
								b->contact, "expires_in",
								(json_int_t)(b->expires_at_s - now),
								"nat", nat));
		}
		if (list && json_array_size(list))
			json_object_set_new(o, k, list);
		else
			json_decref(list);
	}
	out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return out;
}
