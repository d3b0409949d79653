/* The client side of trunks and accounts: a registration (reg.c) toward
 * each [trunk] with register = true and toward the trunk of each [user]
 * with an upstream account, and the OPTIONS keepalive that decides whether
 * a trunk is up. Control thread. Owns the trunk and account states, their
 * nua handles and GLib timers. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/strbuf.h"
#include "log/log.h"
#include "sip/sip_internal.h"

enum ka_state {
	KA_OFF,
	KA_UNKNOWN,
	KA_UP,
	KA_DOWN,
	_KA_MAX,
	_KA_INVALID = -EINVAL,
};

static const char *const ka_names[_KA_MAX] = {"off", "unknown", "up", "down"};

struct sb_sip_trunk {
	struct sb_sip *sip;
	const struct sb_config_trunk *cfg; /* in sip->cfg, which sip holds */
	nua_t *nua;
	struct sb_sip_reg reg; /* state off when register = false */
	/* keepalive */
	nua_handle_t *ka_nh; /* the OPTIONS in flight */
	enum ka_state ka;
	int ka_fails, ka_oks; /* consecutive */
	int ka_status;
	uint64_t ka_sent, ka_failed;
	guint ka_timer;
};

/* A [user]'s account at a trunk's registrar. */
struct sb_sip_account {
	const struct sb_config_user *user; /* in sip->cfg */
	const struct sb_config_trunk *trunk;
	struct sb_sip_reg reg;
};

struct sb_sip_trunks {
	struct sb_sip_trunk *v;
	size_t n;
	struct sb_sip_account *acc;
	size_t n_acc;
};

nua_t *sb__sip_nua_for(struct sb_sip *sip, const char *transport)
{
	char *const *listen = sip->cfg->sip.listen;
	size_t n = strlen(transport);

	for (size_t i = 0; i < sip->n_nua && listen && listen[i]; i++)
		if (strncmp(listen[i], transport, n) == 0 && listen[i][n] == ':')
			return sip->nua[i];
	return sip->nua[0];
}

static void trunk_uri(const struct sb_config_trunk *c, char *out, size_t len)
{
	snprintf(out, len, "sip:%s:%lld;transport=%s", c->host, (long long)c->port, c->transport);
}

/* ---- OPTIONS keepalive ---- */

static void ka_set(struct sb_sip_trunk *t, enum ka_state to)
{
	struct sb_event ev = {.type = SB_EV_SIP_TRUNK_STATE, .arg = {to == KA_UP}};

	if (t->ka == to)
		return;
	if (to == KA_DOWN)
		sb_warn("trunk %s: down (%d keepalives failed, last %d)", t->cfg->name, t->ka_fails,
			t->ka_status);
	else
		sb_info("trunk %s: up", t->cfg->name);
	t->ka = to;
	snprintf(ev.str, sizeof(ev.str), "%s", t->cfg->name);
	sb_bus_post(t->sip->bus, &ev);
}

/* One probe's outcome: any answer from the peer but 408 and 5xx counts as
 * alive (a server may refuse OPTIONS with 403/404/405 and still be up). */
static void ka_result(struct sb_sip_trunk *t, int status)
{
	bool ok = status >= 200 && status < 500 && status != 408;

	t->ka_status = status;
	if (ok) {
		t->ka_fails = 0;
		t->ka_oks++;
		if (t->ka != KA_UP && t->ka_oks >= t->cfg->options_up_after)
			ka_set(t, KA_UP);
	} else {
		t->ka_oks = 0;
		t->ka_fails++;
		t->ka_failed++;
		if (t->ka != KA_DOWN && t->ka_fails >= t->cfg->options_down_after)
			ka_set(t, KA_DOWN);
	}
}

static gboolean ka_tick_cb(gpointer ud)
{
	struct sb_sip_trunk *t = ud;
	char uri[300], to[310];

	/* A probe still unanswered at the next tick has failed: the interval
	 * is its timeout (the transaction's own is 32 s on UDP). */
	if (t->ka_nh) {
		nua_handle_destroy(t->ka_nh);
		t->ka_nh = NULL;
		ka_result(t, 408);
	}
	trunk_uri(t->cfg, uri, sizeof(uri));
	snprintf(to, sizeof(to), "<%s>", uri);
	t->ka_nh = nua_handle(t->nua, NULL, SIPTAG_TO_STR(to), TAG_END());
	if (t->ka_nh) {
		t->ka_sent++;
		nua_options(t->ka_nh, NUTAG_URL(uri), TAG_END());
	}
	return G_SOURCE_CONTINUE;
}

static void ka_response(struct sb_sip_trunk *t, int status)
{
	if (status < 200)
		return;
	nua_handle_destroy(t->ka_nh);
	t->ka_nh = NULL;
	ka_result(t, status);
}

/* ---- start, stop, events ---- */

static void reg_init(struct sb_sip_reg *r, struct sb_sip *sip, const char *what, const char *name,
		     const struct sb_config_trunk *via, const char *username, const char *password,
		     uint16_t event)
{
	r->sip = sip;
	r->what = what;
	r->name = name;
	r->via = via;
	r->username = username;
	r->password = password;
	r->nua = sb__sip_nua_for(sip, via->transport);
	r->event = event;
}

static void trunk_start(struct sb_sip *sip, struct sb_sip_trunk *t, const struct sb_config_trunk *c)
{
	t->sip = sip;
	t->cfg = c;
	t->nua = sb__sip_nua_for(sip, c->transport);
	reg_init(&t->reg, sip, "trunk", c->name, c, c->username, c->password,
		 SB_EV_SIP_TRUNK_REGISTRATION);
	if (c->do_register)
		sb__sip_reg_start(&t->reg);
	if (c->options_interval_s > 0) {
		t->ka = KA_UNKNOWN;
		ka_tick_cb(t);
		t->ka_timer = g_timeout_add_seconds_full(
			G_PRIORITY_DEFAULT, (guint)c->options_interval_s, ka_tick_cb, t, NULL);
	}
}

/* Each [user] with sip_trunk and sip_username registers that account at
 * the trunk's registrar, with the trunk's expiry, backoff and proxy. */
static int accounts_start(struct sb_sip *sip, struct sb_sip_trunks *ts)
{
	const struct sb_config *cfg = sip->cfg;

	for (size_t i = 0; i < cfg->n_users; i++)
		ts->n_acc += sb_config_user_has_account(&cfg->users[i]);
	if (!ts->n_acc)
		return 0;
	ts->acc = calloc(ts->n_acc, sizeof(*ts->acc));
	if (!ts->acc)
		return -ENOMEM;
	for (size_t i = 0, k = 0; i < cfg->n_users; i++) {
		const struct sb_config_user *u = &cfg->users[i];
		struct sb_sip_account *a = &ts->acc[k];

		if (!sb_config_user_has_account(u))
			continue;
		a->user = u;
		a->trunk = sb_config_find_trunk(cfg, u->sip_trunk);
		k++;
		if (!a->trunk)
			continue; /* config.c refuses such a file */
		reg_init(&a->reg, sip, "account", u->name, a->trunk, u->sip_username,
			 u->sip_password, SB_EV_SIP_ACCOUNT_REGISTRATION);
		sb__sip_reg_start(&a->reg);
	}
	return 0;
}

int sb__sip_client_start(struct sb_sip *sip)
{
	const struct sb_config *cfg = sip->cfg;
	struct sb_sip_trunks *ts;
	int r = sb__sip_nat_start(sip);

	if (r < 0 || !cfg->n_trunks || !sip->n_nua)
		return r;
	ts = calloc(1, sizeof(*ts));
	if (!ts || !(ts->v = calloc(cfg->n_trunks, sizeof(*ts->v)))) {
		free(ts);
		return -ENOMEM;
	}
	ts->n = cfg->n_trunks;
	sip->trunks = ts;
	for (size_t i = 0; i < ts->n; i++)
		trunk_start(sip, &ts->v[i], &cfg->trunks[i]);
	return accounts_start(sip, ts);
}

/* Before nua_shutdown: timers stop; the handles stay for nua to end
 * (a registration is removed with Expires: 0 on shutdown). Events for
 * them from now on fall through to sip.c, which ignores them. */
void sb__sip_client_stop(struct sb_sip *sip)
{
	struct sb_sip_trunks *ts = sip->trunks;

	sb__sip_nat_stop(sip);
	if (!ts)
		return;
	for (size_t i = 0; i < ts->n; i++) {
		sb__sip_reg_stop(&ts->v[i].reg);
		if (ts->v[i].ka_timer)
			g_source_remove(ts->v[i].ka_timer);
	}
	for (size_t i = 0; i < ts->n_acc; i++)
		sb__sip_reg_stop(&ts->acc[i].reg);
	free(ts->acc);
	free(ts->v);
	free(ts);
	sip->trunks = NULL;
}

bool sb__sip_client_event(struct sb_sip *sip, nua_event_t event, int status, const char *phrase,
			  nua_handle_t *nh, const sip_t *s)
{
	struct sb_sip_trunks *ts = sip->trunks;

	for (size_t i = 0; ts && nh && i < ts->n; i++) {
		struct sb_sip_trunk *t = &ts->v[i];

		if (sb__sip_reg_event(&t->reg, event, status, phrase, nh, s))
			return true;
		if (nh == t->ka_nh) {
			if (event == nua_r_options)
				ka_response(t, status);
			return true;
		}
	}
	for (size_t i = 0; ts && nh && i < ts->n_acc; i++)
		if (sb__sip_reg_event(&ts->acc[i].reg, event, status, phrase, nh, s))
			return true;
	return sb__sip_nat_event(sip, event, status, nh);
}

const struct sb_config_user *sb__sip_account_user(const struct sb_sip *sip,
						  const struct sb_config_trunk *trunk,
						  const char *username)
{
	const struct sb_config *cfg = sip->cfg;

	for (size_t i = 0; trunk && username && i < cfg->n_users; i++) {
		const struct sb_config_user *u = &cfg->users[i];

		if (sb_config_user_has_account(u) && strcmp(u->sip_trunk, trunk->name) == 0 &&
		    strcmp(u->sip_username, username) == 0)
			return u;
	}
	return NULL;
}

/* ---- what the API and /metrics show ---- */

char *sb_sip_trunks_json(struct sb_sip *sip)
{
	const struct sb_config *cfg = sip->cfg;
	json_t *a = json_array();
	char *out;

	for (size_t i = 0; a && i < cfg->n_trunks; i++) {
		const struct sb_sip_trunk *t = sip->trunks ? &sip->trunks->v[i] : NULL;
		enum ka_state k = t ? t->ka : KA_OFF;
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", cfg->trunks[i].name,
				      "registration", "off", "keepalive", ka_names[k]);

		if (!o)
			continue;
		if (t)
			sb__sip_reg_json(&t->reg, o);
		if (t && k != KA_OFF) {
			json_object_set_new(o, "keepalive_status", json_integer(t->ka_status));
			json_object_set_new(o, "keepalive_failures", json_integer(t->ka_fails));
		}
		json_array_append_new(a, o);
	}
	out = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return out;
}

/* The live state of user's account, or NULL (SIP not started). */
static const struct sb_sip_reg *account_reg(struct sb_sip *sip, const struct sb_config_user *u)
{
	for (size_t i = 0; sip->trunks && i < sip->trunks->n_acc; i++)
		if (sip->trunks->acc[i].user == u && sip->trunks->acc[i].trunk)
			return &sip->trunks->acc[i].reg;
	return NULL;
}

char *sb_sip_accounts_json(struct sb_sip *sip)
{
	const struct sb_config *cfg = sip->cfg;
	json_t *a = json_array();
	char *out;

	for (size_t i = 0; a && i < cfg->n_users; i++) {
		const struct sb_config_user *u = &cfg->users[i];
		const struct sb_sip_reg *r = account_reg(sip, u);
		json_t *o;

		if (!sb_config_user_has_account(u))
			continue;
		o = json_pack("{s:s, s:s, s:s, s:s}", "user", u->name, "trunk", u->sip_trunk,
			      "username", u->sip_username, "registration", "off");
		if (!o)
			continue;
		if (r)
			sb__sip_reg_json(r, o);
		json_array_append_new(a, o);
	}
	out = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return out;
}

static void reg_metrics_write(struct sb_strbuf *out, const char *kind, const char *label,
			      const char *name, const struct sb_sip_reg *r)
{
	sb_strbuf_printf(out, "switchboard_sip_%s_registered{%s=\"%s\"} %d\n", kind, label, name,
			 r && r->state == SB_SIP_REG_REGISTERED);
	sb_strbuf_printf(out, "switchboard_sip_%s_registrations_total{%s=\"%s\"} %llu\n", kind,
			 label, name, r ? (unsigned long long)r->registrations : 0ULL);
	sb_strbuf_printf(out, "switchboard_sip_%s_register_failures{%s=\"%s\"} %d\n", kind, label,
			 name, r ? r->failures : 0);
}

static void reg_metrics_help(struct sb_strbuf *out, const char *kind, const char *what)
{
	sb_strbuf_printf(out,
			 "# HELP switchboard_sip_%s_registered 1 while the %s registration is "
			 "current\n"
			 "# TYPE switchboard_sip_%s_registered gauge\n"
			 "# HELP switchboard_sip_%s_registrations_total 2xx answers to our "
			 "REGISTERs (refreshes included)\n"
			 "# TYPE switchboard_sip_%s_registrations_total counter\n"
			 "# HELP switchboard_sip_%s_register_failures Consecutive failed "
			 "registrations (the backoff step)\n"
			 "# TYPE switchboard_sip_%s_register_failures gauge\n",
			 kind, what, kind, kind, kind, kind, kind);
}

void sb_sip_client_metrics_write(struct sb_sip *sip, struct sb_strbuf *out)
{
	const struct sb_config *cfg = sip->cfg;

	reg_metrics_help(out, "trunk", "trunk");
	sb_strbuf_puts(out,
		       "# HELP switchboard_sip_trunk_up 1 up, 0 down, -1 unknown or no keepalive\n"
		       "# TYPE switchboard_sip_trunk_up gauge\n");
	for (size_t i = 0; i < cfg->n_trunks; i++) {
		const struct sb_sip_trunk *t = sip->trunks ? &sip->trunks->v[i] : NULL;
		const char *name = cfg->trunks[i].name;
		int up = t && t->ka == KA_UP ? 1 : t && t->ka == KA_DOWN ? 0 : -1;

		reg_metrics_write(out, "trunk", "trunk", name, t ? &t->reg : NULL);
		sb_strbuf_printf(out, "switchboard_sip_trunk_up{trunk=\"%s\"} %d\n", name, up);
	}
	reg_metrics_help(out, "account", "user's upstream account");
	for (size_t i = 0; i < cfg->n_users; i++)
		if (sb_config_user_has_account(&cfg->users[i]))
			reg_metrics_write(out, "account", "user", cfg->users[i].name,
					  account_reg(sip, &cfg->users[i]));
	sb_strbuf_printf(out,
			 "# HELP switchboard_sip_info_refused_total our DTMF INFOs answered with a "
			 "failure\n"
			 "# TYPE switchboard_sip_info_refused_total counter\n"
			 "switchboard_sip_info_refused_total %llu\n",
			 (unsigned long long)sip->info_refused);
}
