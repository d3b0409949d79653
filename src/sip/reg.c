/* The registration client: one REGISTER binding toward an upstream
 * registrar (a [trunk]'s, for the trunk itself or for a [user]'s account),
 * digest answered with its credentials, refreshed by nua, retried with
 * exponential backoff after a failure. Control thread. Each sb_sip_reg owns
 * its nua handle and its retry timer; trunk.c owns the sb_sip_regs. */
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
#include "log/log.h"
#include "sip/sip_internal.h"

/* Digest challenges answered in a row before the credentials are taken as
 * wrong (a second 401 after our answer means they were refused). */
#define MAX_AUTH_TRIES 2

static const char *const reg_names[_SB_SIP_REG_MAX] = {"off", "registering", "registered",
						       "backoff"};

const char *sb__sip_reg_state_name(enum sb_sip_reg_state s)
{
	return s >= 0 && s < _SB_SIP_REG_MAX ? reg_names[s] : "off";
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

bool sb__sip_trunk_route(const struct sb_config_trunk *c, char *out, size_t len)
{
	int n;

	if (!c || !c->outbound_proxy || !*c->outbound_proxy)
		return false;
	/* A loose route (RFC 3261 section 16.12.1.1): the Request-URI stays
	 * the registrar or the callee; the proxy is only the first hop. */
	n = snprintf(out, len, "<sip:%s;transport=%s;lr>", c->outbound_proxy, c->transport);
	return n > 0 && (size_t)n < len;
}

static void post(struct sb_sip_reg *r, int64_t seconds)
{
	struct sb_event ev = {.type = r->event, .arg = {r->state, r->last_status, seconds}};

	snprintf(ev.str, sizeof(ev.str), "%s", r->name);
	sb_bus_post(r->sip->bus, &ev);
}

static gboolean retry_cb(gpointer ud);

static void reg_send(struct sb_sip_reg *r)
{
	const struct sb_config_trunk *c = r->via;
	char aor[320], registrar[300], expires[24], route[300];
	bool proxy = sb__sip_trunk_route(c, route, sizeof(route));

	snprintf(aor, sizeof(aor), "<sip:%s@%s>", r->username, c->host);
	snprintf(registrar, sizeof(registrar), "sip:%s:%lld;transport=%s", c->host,
		 (long long)c->port, c->transport);
	snprintf(expires, sizeof(expires), "%lld", (long long)c->register_expires_s);
	r->nh = nua_handle(r->nua, NULL, SIPTAG_TO_STR(aor), SIPTAG_FROM_STR(aor),
			   TAG_IF(proxy, NUTAG_INITIAL_ROUTE_STR(route)), TAG_END());
	if (!r->nh) {
		sb_error("%s %s: cannot register: out of memory", r->what, r->name);
		return;
	}
	r->auth_tries = 0;
	r->state = SB_SIP_REG_REGISTERING;
	/* Our own OPTIONS keepalive watches trunks: nua's outbound
	 * validation and keepalives are off, its NAT detection (natify, a
	 * re-REGISTER with the address the registrar saw) stays on. */
	nua_register(r->nh, NUTAG_REGISTRAR(registrar), NUTAG_M_USERNAME(r->username),
		     SIPTAG_EXPIRES_STR(expires),
		     NUTAG_OUTBOUND("natify no-validate no-options-keepalive"), NUTAG_KEEPALIVE(0),
		     TAG_END());
}

/* RFC 3261 section 10.2.4: the registrar may shorten our expiry; take it
 * from our binding in the 200 (or Expires), else what we asked for. */
static int64_t granted_expires(const struct sb_sip_reg *r, const sip_t *s)
{
	int64_t best = -1;

	for (const sip_contact_t *m = s ? s->sip_contact : NULL; m; m = m->m_next) {
		if (!m->m_expires || !m->m_url->url_user ||
		    strcmp(m->m_url->url_user, r->username) != 0)
			continue;
		best = strtoll(m->m_expires, NULL, 10);
		break;
	}
	if (best < 0 && s && s->sip_expires)
		best = (int64_t)s->sip_expires->ex_delta;
	return best >= 0 ? best : r->via->register_expires_s;
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

static void reg_failed(struct sb_sip_reg *r, const sip_t *s)
{
	int64_t delay = backoff_ms(r->via, ++r->failures);

	/* Retry-After (RFC 3261 section 20.33) is honoured when longer. */
	if (s && s->sip_retry_after && (int64_t)s->sip_retry_after->af_delta * 1000 > delay &&
	    (int64_t)s->sip_retry_after->af_delta <= r->via->register_retry_max_s)
		delay = (int64_t)s->sip_retry_after->af_delta * 1000;
	if (r->nh)
		nua_handle_destroy(r->nh);
	r->nh = NULL;
	r->state = SB_SIP_REG_BACKOFF;
	r->expires_at_s = 0;
	r->retry_at_s = now_s() + (delay + 999) / 1000;
	sb_warn("%s %s: registration failed (%d %s), retry in %lld ms (attempt %d)", r->what,
		r->name, r->last_status, r->last_phrase, (long long)delay, r->failures);
	post(r, (delay + 999) / 1000);
	r->timer = g_timeout_add((guint)delay, retry_cb, r);
}

static gboolean retry_cb(gpointer ud)
{
	struct sb_sip_reg *r = ud;

	r->timer = 0;
	sb_info("%s %s: registering again", r->what, r->name);
	reg_send(r);
	return G_SOURCE_REMOVE;
}

static void reg_response(struct sb_sip_reg *r, int status, const char *phrase, const sip_t *s)
{
	int64_t exp;

	if (status < 200)
		return;
	r->last_status = status;
	snprintf(r->last_phrase, sizeof(r->last_phrase), "%s", phrase ? phrase : "");
	/* A challenge is answered in the realm it names (RFC 3261 section
	 * 22.2), at most MAX_AUTH_TRIES times in a row. */
	if ((status == 401 || status == 407) && s && ++r->auth_tries <= MAX_AUTH_TRIES &&
	    sb__sip_auth_answer(r->nh, s, r->username, r->password))
		return;
	if (status >= 300) {
		reg_failed(r, s);
		return;
	}
	exp = granted_expires(r, s);
	if (r->state != SB_SIP_REG_REGISTERED)
		sb_info("%s %s: registered as %s for %llds", r->what, r->name, r->username,
			(long long)exp);
	else
		sb_debug("%s %s: registration refreshed for %llds", r->what, r->name,
			 (long long)exp);
	r->state = SB_SIP_REG_REGISTERED;
	r->failures = 0;
	r->auth_tries = 0;
	r->registrations++;
	r->expires_at_s = now_s() + exp;
	r->retry_at_s = 0;
	post(r, exp);
}

void sb__sip_reg_start(struct sb_sip_reg *r)
{
	reg_send(r);
}

void sb__sip_reg_stop(struct sb_sip_reg *r)
{
	if (r->timer)
		g_source_remove(r->timer);
	r->timer = 0;
}

bool sb__sip_reg_event(struct sb_sip_reg *r, nua_event_t event, int status, const char *phrase,
		       nua_handle_t *nh, const sip_t *s)
{
	if (!nh || nh != r->nh)
		return false;
	if (event == nua_r_register)
		reg_response(r, status, phrase, s);
	return true;
}

void sb__sip_reg_json(const struct sb_sip_reg *r, json_t *o)
{
	int64_t now = now_s();

	json_object_set_new(o, "registration", json_string(sb__sip_reg_state_name(r->state)));
	if (r->last_status)
		json_object_set_new(o, "last_status", json_integer(r->last_status));
	if (r->state == SB_SIP_REG_REGISTERED)
		json_object_set_new(o, "expires_in", json_integer(r->expires_at_s - now));
	if (r->state == SB_SIP_REG_BACKOFF) {
		json_object_set_new(o, "retry_in", json_integer(r->retry_at_s - now));
		json_object_set_new(o, "failures", json_integer(r->failures));
	}
	if (r->registrations)
		json_object_set_new(o, "registrations", json_integer((json_int_t)r->registrations));
}
