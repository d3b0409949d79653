/* Trunks as a client: REGISTER toward each [trunk] with register = true
 * (digest answered with the trunk's credentials, refreshed by nua, retried
 * with exponential backoff after a failure), and the OPTIONS keepalive that
 * decides whether a trunk is up. Control thread. Owns the trunk states and
 * their nua handles and GLib timers. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/strbuf.h"
#include "log/log.h"
#include "sip/sip_internal.h"

/* Digest challenges answered in a row before the credentials are taken as
 * wrong (a second 401 after our answer means they were refused). */
#define MAX_AUTH_TRIES 2

enum reg_state {
	REG_OFF,
	REG_REGISTERING,
	REG_REGISTERED,
	REG_BACKOFF,
	_REG_MAX,
	_REG_INVALID = -EINVAL,
};

static const char *const reg_names[_REG_MAX] = {"off", "registering", "registered", "backoff"};

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
	/* registration */
	nua_handle_t *reg_nh;
	enum reg_state reg;
	int auth_tries;
	int failures; /* consecutive, for the backoff */
	int last_status;
	char last_phrase[64];
	int64_t expires_at_s; /* registered until */
	int64_t retry_at_s;   /* next attempt while in backoff */
	uint64_t registrations;
	guint reg_timer;
	/* keepalive */
	nua_handle_t *ka_nh; /* the OPTIONS in flight */
	enum ka_state ka;
	int ka_fails, ka_oks; /* consecutive */
	int ka_status;
	uint64_t ka_sent, ka_failed;
	guint ka_timer;
};

struct sb_sip_trunks {
	struct sb_sip_trunk *v;
	size_t n;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* The nua listening on the trunk's transport, else the first one. */
static nua_t *nua_for(struct sb_sip *sip, const char *transport)
{
	char *const *listen = sip->cfg->sip.listen;
	size_t n = strlen(transport);

	for (size_t i = 0; i < sip->n_nua && listen && listen[i]; i++)
		if (strncmp(listen[i], transport, n) == 0 && listen[i][n] == ':')
			return sip->nua[i];
	return sip->nua[0];
}

static void trunk_uri(const struct sb_config_trunk *c, const char *user, char *out, size_t len)
{
	snprintf(out, len, "sip:%s%s%s:%lld;transport=%s", user ? user : "", user ? "@" : "",
		 c->host, (long long)c->port, c->transport);
}

static void post_reg(struct sb_sip_trunk *t, int64_t seconds)
{
	struct sb_event ev = {.type = SB_EV_SIP_TRUNK_REGISTRATION,
			      .arg = {t->reg, t->last_status, seconds}};

	snprintf(ev.str, sizeof(ev.str), "%s", t->cfg->name);
	sb_bus_post(t->sip->bus, &ev);
}

/* ---- registration ---- */

static gboolean reg_retry_cb(gpointer ud);

static void reg_send(struct sb_sip_trunk *t)
{
	const struct sb_config_trunk *c = t->cfg;
	char aor[320], registrar[300], expires[24];

	snprintf(aor, sizeof(aor), "<sip:%s@%s>", c->username, c->host);
	trunk_uri(c, NULL, registrar, sizeof(registrar));
	snprintf(expires, sizeof(expires), "%lld", (long long)c->register_expires_s);
	t->reg_nh = nua_handle(t->nua, NULL, SIPTAG_TO_STR(aor), SIPTAG_FROM_STR(aor), TAG_END());
	if (!t->reg_nh) {
		sb_error("trunk %s: cannot register: out of memory", c->name);
		return;
	}
	t->auth_tries = 0;
	t->reg = REG_REGISTERING;
	/* Our own OPTIONS keepalive watches the trunk: nua's outbound
	 * validation and keepalives are off, its NAT detection (natify, a
	 * re-REGISTER with the address the registrar saw) stays on. */
	nua_register(t->reg_nh, NUTAG_REGISTRAR(registrar), NUTAG_M_USERNAME(c->username),
		     SIPTAG_EXPIRES_STR(expires),
		     NUTAG_OUTBOUND("natify no-validate no-options-keepalive"), NUTAG_KEEPALIVE(0),
		     TAG_END());
}

/* RFC 3261 section 10.2.4: the registrar may shorten our expiry; take it
 * from our binding in the 200 (or Expires), else what we asked for. */
static int64_t granted_expires(const struct sb_sip_trunk *t, const sip_t *s)
{
	int64_t best = -1;

	for (const sip_contact_t *m = s ? s->sip_contact : NULL; m; m = m->m_next) {
		if (!m->m_expires || !m->m_url->url_user ||
		    strcmp(m->m_url->url_user, t->cfg->username) != 0)
			continue;
		best = strtoll(m->m_expires, NULL, 10);
		break;
	}
	if (best < 0 && s && s->sip_expires)
		best = (int64_t)s->sip_expires->ex_delta;
	return best >= 0 ? best : t->cfg->register_expires_s;
}

/* Backoff after the n-th consecutive failure: retry_min doubling up to
 * retry_max, less up to a quarter of random jitter so that many gateways
 * restarted together do not retry in step. */
static int64_t backoff_ms(const struct sb_config_trunk *c, int n)
{
	int64_t d = c->register_retry_min_s * 1000;

	for (int i = 1; i < n && d < c->register_retry_max_s * 1000; i++)
		d *= 2;
	if (d > c->register_retry_max_s * 1000)
		d = c->register_retry_max_s * 1000;
	return d - (int64_t)g_random_double_range(0, (double)d / 4);
}

static void reg_failed(struct sb_sip_trunk *t, const sip_t *s)
{
	int64_t delay = backoff_ms(t->cfg, ++t->failures);

	/* Retry-After (RFC 3261 section 20.33) is honoured when longer. */
	if (s && s->sip_retry_after && (int64_t)s->sip_retry_after->af_delta * 1000 > delay &&
	    (int64_t)s->sip_retry_after->af_delta <= t->cfg->register_retry_max_s)
		delay = (int64_t)s->sip_retry_after->af_delta * 1000;
	if (t->reg_nh)
		nua_handle_destroy(t->reg_nh);
	t->reg_nh = NULL;
	t->reg = REG_BACKOFF;
	t->expires_at_s = 0;
	t->retry_at_s = now_s() + (delay + 999) / 1000;
	sb_warn("trunk %s: registration failed (%d %s), retry in %lld ms (attempt %d)",
		t->cfg->name, t->last_status, t->last_phrase, (long long)delay, t->failures);
	post_reg(t, (delay + 999) / 1000);
	t->reg_timer = g_timeout_add((guint)delay, reg_retry_cb, t);
}

static gboolean reg_retry_cb(gpointer ud)
{
	struct sb_sip_trunk *t = ud;

	t->reg_timer = 0;
	sb_info("trunk %s: registering again", t->cfg->name);
	reg_send(t);
	return G_SOURCE_REMOVE;
}

/* Answers a digest challenge with the trunk's credentials, in the realm
 * the challenge names. Returns false when it cannot. */
static bool reg_authenticate(struct sb_sip_trunk *t, const sip_t *s)
{
	if (++t->auth_tries > MAX_AUTH_TRIES)
		return false;
	return sb__sip_auth_answer(t->reg_nh, s, t->cfg->username, t->cfg->password);
}

static void reg_response(struct sb_sip_trunk *t, int status, const char *phrase, const sip_t *s)
{
	int64_t exp;

	if (status < 200)
		return;
	t->last_status = status;
	snprintf(t->last_phrase, sizeof(t->last_phrase), "%s", phrase ? phrase : "");
	if ((status == 401 || status == 407) && s && reg_authenticate(t, s))
		return;
	if (status >= 300) {
		reg_failed(t, s);
		return;
	}
	exp = granted_expires(t, s);
	if (t->reg != REG_REGISTERED)
		sb_info("trunk %s: registered for %llds", t->cfg->name, (long long)exp);
	else
		sb_debug("trunk %s: registration refreshed for %llds", t->cfg->name,
			 (long long)exp);
	t->reg = REG_REGISTERED;
	t->failures = 0;
	t->auth_tries = 0;
	t->registrations++;
	t->expires_at_s = now_s() + exp;
	t->retry_at_s = 0;
	post_reg(t, exp);
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
	trunk_uri(t->cfg, NULL, uri, sizeof(uri));
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
	for (size_t i = 0; i < ts->n; i++) {
		struct sb_sip_trunk *t = &ts->v[i];

		t->sip = sip;
		t->cfg = &cfg->trunks[i];
		t->nua = nua_for(sip, t->cfg->transport);
		if (t->cfg->do_register)
			reg_send(t);
		if (t->cfg->options_interval_s > 0) {
			t->ka = KA_UNKNOWN;
			ka_tick_cb(t);
			t->ka_timer = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT,
								 (guint)t->cfg->options_interval_s,
								 ka_tick_cb, t, NULL);
		}
	}
	return 0;
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
		if (ts->v[i].reg_timer)
			g_source_remove(ts->v[i].reg_timer);
		if (ts->v[i].ka_timer)
			g_source_remove(ts->v[i].ka_timer);
	}
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

		if (nh == t->reg_nh && event == nua_r_register) {
			reg_response(t, status, phrase, s);
			return true;
		}
		if (nh == t->ka_nh && event == nua_r_options) {
			ka_response(t, status);
			return true;
		}
		if (nh == t->reg_nh || nh == t->ka_nh)
			return true;
	}
	return sb__sip_nat_event(sip, event, status, nh);
}

/* ---- what the API and /metrics show ---- */

char *sb_sip_trunks_json(struct sb_sip *sip)
{
	const struct sb_config *cfg = sip->cfg;
	json_t *a = json_array();
	int64_t now = now_s();
	char *out;

	for (size_t i = 0; a && i < cfg->n_trunks; i++) {
		const struct sb_sip_trunk *t = sip->trunks ? &sip->trunks->v[i] : NULL;
		enum reg_state r = t ? t->reg : REG_OFF;
		enum ka_state k = t ? t->ka : KA_OFF;
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", cfg->trunks[i].name,
				      "registration", reg_names[r], "keepalive", ka_names[k]);

		if (!o)
			continue;
		if (t && t->last_status)
			json_object_set_new(o, "last_status", json_integer(t->last_status));
		if (r == REG_REGISTERED)
			json_object_set_new(o, "expires_in", json_integer(t->expires_at_s - now));
		if (r == REG_BACKOFF) {
			json_object_set_new(o, "retry_in", json_integer(t->retry_at_s - now));
			json_object_set_new(o, "failures", json_integer(t->failures));
		}
		if (t && t->registrations)
			json_object_set_new(o, "registrations", json_integer(t->registrations));
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

void sb_sip_trunks_metrics_write(struct sb_sip *sip, struct sb_strbuf *out)
{
	const struct sb_config *cfg = sip->cfg;

	sb_strbuf_puts(out,
		       "# HELP switchboard_sip_trunk_registered 1 while the trunk "
		       "registration is current\n"
		       "# TYPE switchboard_sip_trunk_registered gauge\n"
		       "# HELP switchboard_sip_trunk_up 1 up, 0 down, -1 unknown or no keepalive\n"
		       "# TYPE switchboard_sip_trunk_up gauge\n"
		       "# HELP switchboard_sip_trunk_registrations_total 2xx answers to our "
		       "REGISTERs (refreshes included)\n"
		       "# TYPE switchboard_sip_trunk_registrations_total counter\n"
		       "# HELP switchboard_sip_trunk_register_failures Consecutive failed "
		       "registrations (the backoff step)\n"
		       "# TYPE switchboard_sip_trunk_register_failures gauge\n");
	for (size_t i = 0; i < cfg->n_trunks; i++) {
		const struct sb_sip_trunk *t = sip->trunks ? &sip->trunks->v[i] : NULL;
		const char *name = cfg->trunks[i].name;
		int up = t && t->ka == KA_UP ? 1 : t && t->ka == KA_DOWN ? 0 : -1;

		sb_strbuf_printf(out, "switchboard_sip_trunk_registered{trunk=\"%s\"} %d\n", name,
				 t && t->reg == REG_REGISTERED);
		sb_strbuf_printf(out, "switchboard_sip_trunk_up{trunk=\"%s\"} %d\n", name, up);
		sb_strbuf_printf(out,
				 "switchboard_sip_trunk_registrations_total{trunk=\"%s\"} %llu\n",
				 name, t ? (unsigned long long)t->registrations : 0ULL);
		sb_strbuf_printf(out, "switchboard_sip_trunk_register_failures{trunk=\"%s\"} %d\n",
				 name, t ? t->failures : 0);
	}
}
