/* The SIP component: sofia-sip nua instances on the control thread's GLib
 * loop, one table from nua event to handler, call legs for the engine.
 * Control thread. Owns the nua instances, the dialogs and the registrar. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <time.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/ids.h"
#include "log/log.h"
#include "sip/sip_internal.h"

static uint64_t leg_key(uint64_t call, uint32_t leg)
{
	return call << 8 | (leg & 0xff);
}

struct sb_sip *sb_sip_new(struct sb_config *cfg, struct sb_bus *bus)
{
	struct sb_sip *sip = calloc(1, sizeof(*sip));

	if (!sip)
		return NULL;
	sip->cfg = sb_config_ref(cfg);
	sip->bus = bus;
	sip->by_handle = g_hash_table_new(g_int64_hash, g_int64_equal);
	sip->by_leg = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	sip->location =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sb__sip_location_free);
	if (sb_id_random_hex(sip->nonce_key, sizeof(sip->nonce_key), 16) < 0)
		return sb_sip_free(sip);
	return sip;
}

void sb_sip_set_persist(struct sb_sip *sip, const struct sb_sip_persist *p)
{
	sip->persist = *p;
}

static void post(struct sb_sip *sip, struct sb_sip_dialog *d, enum sb_event_type type,
		 int64_t status, const char *str, char *text)
{
	struct sb_event ev = {.type = (uint16_t)type,
			      .call = d ? d->call : 0,
			      .leg = d ? d->leg : 0,
			      .arg = {status},
			      .text = text};

	if (str)
		snprintf(ev.str, sizeof(ev.str), "%s", str);
	sb_bus_post(sip->bus, &ev);
}

static char *payload_of(const sip_t *s)
{
	if (!s || !s->sip_payload || !s->sip_payload->pl_data || !s->sip_payload->pl_len)
		return NULL;
	return strndup(s->sip_payload->pl_data, s->sip_payload->pl_len);
}

/* Frees a dialog's own memory; its handle is the caller's business. */
static void dialog_free(struct sb_sip_dialog *d)
{
	sb__sip_reoffer_clear(d);
	sb__sip_reinvite_clear(d);
	sb__sip_message_clear(d);
	sb__sip_info_clear(d);
	sb__sip_targets_clear(d);
	free(d->local_sdp);
	free(d->from);
	free(d->to);
	free(d->target);
	free(d);
}

static void dialog_forget(struct sb_sip_dialog *d)
{
	uint64_t k = leg_key(d->call, d->leg);

	g_hash_table_remove(d->sip->by_handle, &d->handle);
	if (d->call && g_hash_table_lookup(d->sip->by_leg, &k) == d)
		g_hash_table_remove(d->sip->by_leg, &k);
	if (d->nh) {
		nua_handle_bind(d->nh, NULL);
		nua_handle_destroy(d->nh);
	}
	dialog_free(d);
}

static void dialog_init(struct sb_sip *sip, struct sb_sip_dialog *d, nua_handle_t *nh, bool inbound)
{
	d->sip = sip;
	d->nh = nh;
	d->inbound = inbound;
	d->handle = ++sip->next_handle;
	nua_handle_bind(nh, d);
	if (inbound)
		g_hash_table_insert(sip->by_handle, &d->handle, d);
}

static struct sb_sip_dialog *dialog_new(struct sb_sip *sip, nua_handle_t *nh, bool inbound)
{
	struct sb_sip_dialog *d = calloc(1, sizeof(*d));

	if (d)
		dialog_init(sip, d, nh, inbound);
	return d;
}

/* The trunk whose address sent this request, or NULL. */
static const struct sb_config_trunk *trunk_by_source(struct sb_sip *sip, nua_t *nua)
{
	msg_t *msg = nua_current_request(nua);
	su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
	char ip[64] = "";

	if (!ai || !ai->ai_addr)
		return NULL;
	if (getnameinfo(ai->ai_addr, (socklen_t)ai->ai_addrlen, ip, sizeof(ip), NULL, 0,
			NI_NUMERICHOST) != 0)
		return NULL;
	for (size_t i = 0; i < sip->cfg->n_trunks; i++) {
		const struct sb_config_trunk *t = &sip->cfg->trunks[i];
		if (strcmp(t->host, ip) == 0)
			return t;
		for (size_t j = 0; t->inbound_addresses && t->inbound_addresses[j]; j++)
			if (strcmp(t->inbound_addresses[j], ip) == 0)
				return t;
	}
	return NULL;
}

/* What a nua event handler is given: the arguments of the nua callback. */
struct nua_ev {
	nua_event_t event;
	int status;
	const char *phrase;
	nua_t *nua;
	nua_handle_t *nh;
	struct sb_sip_dialog *d;
	const sip_t *s;
	tagi_t *tags;
};

typedef void (*nua_ev_fn)(struct sb_sip *sip, const struct nua_ev *e);

/* Session refreshes (RFC 4028 section 7.4) go by UPDATE when the party
 * allows it (no offer/answer needed), else by re-INVITE. */
static void prefer_update(struct sb_sip_dialog *d, const sip_t *s)
{
	if (s && sip_is_allowed(s->sip_allow, sip_method_update, "UPDATE"))
		nua_set_hparams(d->nh, NUTAG_UPDATE_REFRESH(1), TAG_END());
}

/* A re-INVITE on a live dialog: hold, resume, a new address or codec, or a
 * session refresh. */
static void on_reinvite(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;
	char *offer = payload_of(e->s);

	if (d->ended) {
		nua_respond(e->nh, SIP_481_NO_TRANSACTION, TAG_END());
		free(offer);
	} else if (!offer) {
		/* No offer (a refresh, RFC 4028 section 7.4): ours is the offer. */
		nua_respond(e->nh, SIP_200_OK,
			    TAG_IF(d->local_sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
			    TAG_IF(d->local_sdp, SIPTAG_PAYLOAD_STR(d->local_sdp)), TAG_END());
	} else {
		sb__sip_reoffer_start(sip, d, offer, nua_current_request(e->nua));
	}
}

/* An UPDATE (RFC 3311): with an offer it is handled as a re-INVITE's;
 * without, it is a session refresh (RFC 4028 section 7.4) and gets 200. */
static void on_i_update(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;
	char *offer;

	if (e->status >= 200)
		return; /* nua answered it (an overlapping offer) */
	offer = payload_of(e->s);
	if (d && !d->ended && offer) {
		sb__sip_reoffer_start(sip, d, offer, nua_current_request(e->nua));
		return;
	}
	free(offer);
	if (d && !d->ended)
		nua_respond(e->nh, SIP_200_OK, NUTAG_WITH_THIS(e->nua), TAG_END());
	else
		nua_respond(e->nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(e->nua), TAG_END());
}

/* An INVITE: from a trunk (by source address) or from one of our users
 * (digest, RFC 3261 section 22.3); anyone else is refused. */
static void on_new_invite(struct sb_sip *sip, const struct nua_ev *e)
{
	const struct sb_config_trunk *trunk = trunk_by_source(sip, e->nua);
	const struct sb_config_user *acct;
	const sip_t *s = e->s;
	const char *dest = s->sip_request->rq_url->url_user;
	const char *from = s->sip_from ? s->sip_from->a_url->url_user : NULL;
	const char *quoted = s->sip_from && s->sip_from->a_display ? s->sip_from->a_display : "";
	/* sofia keeps the quotes of a quoted display name: the engine gets
	 * the name itself. */
	char *display = strdup(quoted);
	char *sdp = payload_of(s), *text;
	struct sb_sip_dialog *d;
	json_t *j;
	int status;

	if (!trunk) {
		if (!from || !sb_config_find_user(sip->cfg, from)) {
			nua_respond(e->nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS(e->nua), TAG_END());
			goto out;
		}
		if (!sb__sip_digest_ok(sip, "INVITE", s->sip_proxy_authorization, from)) {
			sb__sip_challenge(sip, e->nua, e->nh, true);
			goto out;
		}
	}
	status = sb__sip_invite_check(s);
	if (status) {
		nua_respond(e->nh, status, sip_status_phrase(status),
			    SIPTAG_ACCEPT_STR("application/sdp"), NUTAG_WITH_THIS(e->nua),
			    TAG_END());
		goto out;
	}
	if (display && *quoted == '"')
		msg_unquote(display, quoted);
	d = dialog_new(sip, e->nh, true);
	j = json_pack("{s:s, s:s, s:s}", "from", from ? from : "", "display_name",
		      display ? display : "", "sdp", sdp ? sdp : "");
	if (!d || !j || !dest) {
		nua_respond(e->nh, SIP_500_INTERNAL_SERVER_ERROR, NUTAG_WITH_THIS(e->nua),
			    TAG_END());
		json_decref(j);
		if (d)
			dialog_forget(d);
		goto out;
	}
	prefer_update(d, s);
	if (trunk)
		json_object_set_new(j, "trunk", json_string(trunk->name));
	/* A call to a user's upstream account (the Request-URI names its
	 * username, the registrar's address sent it) is for that user. */
	if (trunk && (acct = sb__sip_account_user(sip, trunk, dest)))
		json_object_set_new(j, "account", json_string(acct->name));
	else if (!trunk)
		json_object_set_new(j, "user", json_string(from));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	{
		struct sb_event ev = {
			.type = SB_EV_SIP_INVITE, .arg = {(int64_t)d->handle}, .text = text};
		snprintf(ev.str, sizeof(ev.str), "%s", dest);
		sb_bus_post(sip->bus, &ev);
	}
out:
	free(display);
	free(sdp);
}

static void on_i_invite(struct sb_sip *sip, const struct nua_ev *e)
{
	/* nua answered it already (422 to a too short Session-Expires, RFC
	 * 4028 section 8.1); the handle goes with its terminated state. */
	if (e->status >= 300)
		return;
	if (e->d)
		on_reinvite(sip, e);
	else
		on_new_invite(sip, e);
}

/* A new handle for the leg's INVITE (nua keeps one INVITE per handle):
 * nua's own restarts are off (NUTAG_RETRY_COUNT(0)) because its 302
 * handling follows only the first Contact; we follow 3xx and 422
 * ourselves. call_id: the Call-ID to keep (a retry after 422, a redirect),
 * or NULL for a new one. */
static nua_handle_t *invite_handle(struct sb_sip *sip, struct sb_sip_dialog *d, const char *call_id)
{
	unsigned se = (unsigned)sip->cfg->sip.session_expires_s;
	/* nua restarts nothing by itself (3xx and 422 are ours), except
	 * with credentials: one restart, so that the INVITE can wait for our
	 * nua_authenticate after a 401/407. */
	bool creds = d->auth_user && *d->auth_user;
	char route[300];
	bool proxy = sb__sip_trunk_route(d->trunk, route, sizeof(route));

	return nua_handle(sip->nua[0], NULL, SIPTAG_TO_STR(d->to), SIPTAG_FROM_STR(d->from),
			  NUTAG_RETRY_COUNT(creds ? 1 : 0),
			  TAG_IF(proxy, NUTAG_INITIAL_ROUTE_STR(route)),
			  TAG_IF(call_id, SIPTAG_CALL_ID_STR(call_id)),
			  TAG_IF(d->min_se, NUTAG_MIN_SE(d->min_se)),
			  TAG_IF(d->min_se > se, NUTAG_SESSION_TIMER(d->min_se)), TAG_END());
}

static void send_invite(struct sb_sip_dialog *d, const char *uri)
{
	d->auth_tries = 0;
	free(d->target);
	d->target = strdup(uri);
	nua_invite(d->nh, NUTAG_URL(uri), SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		   SIPTAG_PAYLOAD_STR(d->local_sdp ? d->local_sdp : ""), TAG_END());
}

/* Sends the leg's INVITE again to uri on a new handle. The old handle is
 * destroyed when nua reports it terminated (on_i_state without a dialog). */
static int invite_again(struct sb_sip *sip, struct sb_sip_dialog *d, const char *uri,
			const sip_t *s)
{
	const char *call_id = s && s->sip_call_id ? s->sip_call_id->i_id : NULL;
	nua_handle_t *nh = invite_handle(sip, d, call_id);

	if (!nh)
		return -ENOMEM;
	nua_handle_bind(d->nh, NULL);
	d->nh = nh;
	nua_handle_bind(nh, d);
	send_invite(d, uri);
	return 0;
}

/* After 422 (RFC 4028 section 7.4): once, with Session-Expires and
 * Min-SE raised to the far end's Min-SE. Returns 0 when an INVITE went out. */
static int retry_min_se(struct sb_sip *sip, struct sb_sip_dialog *d, const sip_t *s)
{
	char *uri;
	int r;

	if (!s || !s->sip_min_se || d->min_se || !d->target ||
	    s->sip_min_se->min_delta <= (unsigned long)sip->cfg->sip.min_se_s)
		return -EINVAL;
	d->min_se = (unsigned)s->sip_min_se->min_delta;
	sb_info("422: INVITE again with Session-Expires and Min-SE %u", d->min_se);
	uri = strdup(d->target);
	r = uri ? invite_again(sip, d, uri, s) : -ENOMEM;
	free(uri);
	return r;
}

/* Sends the INVITE again to the next Contact of a 3xx in q order (RFC
 * 3261 section 8.1.3.4), at most [sip] max_redirects times per leg and
 * never to a target tried before. Returns 0 when an INVITE went out. */
static int follow_redirect(struct sb_sip *sip, struct sb_sip_dialog *d, const sip_t *s)
{
	char *uri = NULL;
	int r;

	while (d->hops < (unsigned)sip->cfg->sip.max_redirects && (uri = sb__sip_target_next(d))) {
		if (!sb__sip_target_seen(d, uri))
			break;
		sb_info("redirect to %s skipped: tried already", uri);
		free(uri);
		uri = NULL;
	}
	if (!uri)
		return -ENOENT;
	d->hops++;
	sb_info("redirected: INVITE to %s (hop %u)", uri, d->hops);
	r = invite_again(sip, d, uri, s);
	free(uri);
	return r;
}

static void on_r_invite(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;
	int status = e->status;

	if (!d || d->ended)
		return;
	if (d->answered) {
		/* Our new offer (reinvite.c), told apart from nua's own session
		 * refresh by re-INVITE: nua ends the call with a BYE if that
		 * failed (RFC 4028 section 10). None of the INVITE's handling
		 * below (progress, redirects, 422) applies to either. */
		if (sb__sip_reinvite_response(d, status, e->phrase, e->s))
			return;
		if (status >= 300)
			sb_warn("re-INVITE refused: %d %s", status, e->phrase ? e->phrase : "");
		return;
	}
	if (status < 180)
		return;
	if (status < 200) {
		post(sip, d, SB_EV_SIP_PROGRESS, status, NULL, payload_of(e->s));
	} else if (status < 300) {
		/* nua ACKed the 2xx before reporting it (NUTAG_AUTOACK): the
		 * dialog is established, a re-INVITE of ours may follow. */
		d->answered = d->established = true;
		prefer_update(d, e->s);
		post(sip, d, SB_EV_SIP_ANSWERED, status, NULL, payload_of(e->s));
	} else {
		if (status == 422 && retry_min_se(sip, d, e->s) == 0)
			return;
		/* A trunk that challenges our INVITE (RFC 3261 section 22.2):
		 * once per target with its credentials; a second challenge
		 * means they were refused. */
		if ((status == 401 || status == 407) && d->auth_user && d->auth_tries++ == 0 &&
		    sb__sip_auth_answer(d->nh, e->s, d->auth_user, d->auth_password))
			return;
		if (status < 400 && e->s)
			sb__sip_targets_add(d, e->s->sip_contact);
		/* Within a redirect, a failed target makes way for the next
		 * one; a 6xx is final everywhere (RFC 3261 section 21.6). */
		if (status < 600 && follow_redirect(sip, d, e->s) == 0)
			return;
		d->ended = true;
		post(sip, d, SB_EV_SIP_FAILED, status, e->phrase, NULL);
	}
}

static void on_r_bye(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;

	/* A BYE the engine did not ask for: nua sent it because the session
	 * expired unrefreshed or its refresh failed (RFC 4028 section 10), or
	 * after a failure of our re-INVITE that it takes as the end of the
	 * session (a 5xx but 505, 513 and 580; 483; 600: sofia's
	 * sip_response_terminates_dialog()). */
	if (d && !d->ended) {
		const char *why = d->reinvite_failed ? "reinvite_failed" : "session_expired";

		sb__sip_reoffer_end(d, false);
		sb__sip_reinvite_clear(d);
		d->ended = true;
		sb_info("%s: BYE sent", why);
		post(sip, d, SB_EV_SIP_BYE, 0, why, NULL);
	}
}

static void on_r_update(struct sb_sip *sip, const struct nua_ev *e)
{
	if (e->status >= 300)
		sb_warn("session refresh by UPDATE refused: %d %s", e->status,
			e->phrase ? e->phrase : "");
}

/* The response to our MESSAGE (message.c). */
static void on_r_message(struct sb_sip *sip, const struct nua_ev *e)
{
	if (e->d)
		sb__sip_message_response(e->d, e->status, e->s);
}

static void on_r_info(struct sb_sip *sip, const struct nua_ev *e)
{
	if (e->d)
		sb__sip_info_response(e->d, e->status, e->phrase, e->s);
}

/* An INFO (RFC 6086): DTMF in a call's dialog (info.c). */
static void on_i_info(struct sb_sip *sip, const struct nua_ev *e)
{
	sb__sip_info_incoming(sip, e->nua, e->nh, e->d, e->s);
}

/* A MESSAGE (RFC 3428): chat in a call's dialog, or outside any. */
static void on_i_message(struct sb_sip *sip, const struct nua_ev *e)
{
	sb__sip_message_incoming(sip, e->nua, e->nh, e->d, e->s);
}

static void on_i_register(struct sb_sip *sip, const struct nua_ev *e)
{
	sb__sip_on_register(sip, e->nua, e->nh, e->s);
	nua_handle_destroy(e->nh);
}

static void on_i_bye(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;

	if (d && !d->ended) {
		sb__sip_reoffer_end(d, true);
		/* Our re-INVITE in flight ends with the dialog (nua answers
		 * for it); the engine hears the end only. */
		sb__sip_reinvite_clear(d);
		d->ended = true;
		post(sip, d, SB_EV_SIP_BYE, 0, "bye", NULL);
	}
}

static void on_i_cancel(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;

	if (d && d->answered) {
		/* The CANCEL of a re-INVITE waiting for media's answer, or
		 * whose 200 nua has not sent yet: nua answered it 487 (our
		 * queued 200 then ends in nua_i_error), and the dialog stays
		 * (RFC 3261 section 9.2). The engine is told, so media keeps
		 * the old session; its answer, if it still comes, finds no
		 * offer. */
		if (d->reoffer != SB_SIP_REOFFER_NONE)
			sb__sip_reoffer_gone(d, 487, "cancelled");
		sb_info("the party cancelled its new offer: the call goes on");
		return;
	}
	if (d && !d->ended) {
		d->ended = true;
		post(sip, d, SB_EV_SIP_CANCEL, 0, NULL, NULL);
	}
}

static void on_i_state(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;
	int state = nua_callstate_init;

	tl_gets(e->tags, NUTAG_CALLSTATE_REF(state), TAG_END());
	if (state != nua_callstate_terminated) {
		if (d) {
			sb__sip_reoffer_state(d, e->status, state);
			sb__sip_reinvite_state(d, state);
		}
		return;
	}
	if (d) {
		/* A dialog the engine still knows ends now if it had not (also
		 * after a 481 or 408 to our re-INVITE, RFC 3261 section
		 * 12.2.1.2: nua ends it without a BYE). */
		if (!d->ended && d->call) {
			sb__sip_reoffer_end(d, false);
			sb__sip_reinvite_clear(d);
			post(sip, d, d->answered ? SB_EV_SIP_BYE : SB_EV_SIP_FAILED, 0,
			     "terminated", NULL);
		}
		dialog_forget(d);
	} else {
		nua_handle_destroy(e->nh);
	}
}

/* nua could not do what we asked on a handle. With our 200 to the party's
 * new offer queued, it is that 200: the request was answered meanwhile
 * (487 to a CANCEL read first), so the party keeps its old session. */
static void on_i_error(struct sb_sip *sip, const struct nua_ev *e)
{
	struct sb_sip_dialog *d = e->d;

	if (!d || d->reoffer != SB_SIP_REOFFER_SENDING)
		return;
	sb_info("our answer to the party's new offer not sent: %d %s", e->status,
		e->phrase ? e->phrase : "");
	sb__sip_reoffer_gone(d, e->status >= 300 ? e->status : 500, "error");
}

static void on_r_shutdown(struct sb_sip *sip, const struct nua_ev *e)
{
	if (e->status >= 200 && sip->shutting_down > 0)
		sip->shutting_down--;
}

/* The one table from nua event to handler (DESIGN.md); events without a
 * row need nothing from us (nua answers PRACK and the like). */
static const nua_ev_fn nua_handlers[] = {
	[nua_i_invite] = on_i_invite,	[nua_i_register] = on_i_register,
	[nua_i_bye] = on_i_bye,		[nua_i_cancel] = on_i_cancel,
	[nua_i_state] = on_i_state,	[nua_r_invite] = on_r_invite,
	[nua_r_bye] = on_r_bye,		[nua_r_update] = on_r_update,
	[nua_i_update] = on_i_update,	[nua_r_shutdown] = on_r_shutdown,
	[nua_i_error] = on_i_error,	[nua_i_message] = on_i_message,
	[nua_r_message] = on_r_message, [nua_i_info] = on_i_info,
	[nua_r_info] = on_r_info,
};

static void event_cb(nua_event_t event, int status, char const *phrase, nua_t *nua,
		     struct sb_sip *sip, nua_handle_t *nh, struct sb_sip_dialog *d, sip_t const *s,
		     tagi_t tags[])
{
	const struct nua_ev e = {event, status, phrase, nua, nh, d, s, tags};
	SB_LOG_SCOPE(NULL, NULL, nua_event_name(event));

	if (sip->cfg->sip.trace)
		sb_info("%s %d %s", nua_event_name(event), status, phrase ? phrase : "");
	if (sb__sip_client_event(sip, event, status, phrase, nh, s))
		return;
	if (event >= 0 && (size_t)event < G_N_ELEMENTS(nua_handlers) && nua_handlers[event])
		nua_handlers[event](sip, &e);
}

/* "udp:127.0.0.1:5060" -> "sip:127.0.0.1:5060;transport=udp" */
static int listen_url(const char *spec, char *out, size_t outlen)
{
	const char *colon = strchr(spec, ':');

	if (!colon || colon == spec || !colon[1])
		return -EINVAL;
	snprintf(out, outlen, "%s:%s;transport=%.*s", strncmp(spec, "tls", 3) == 0 ? "sips" : "sip",
		 colon + 1, (int)(colon - spec), spec);
	return 0;
}

static int sip_start(void *ud, struct sb_lifecycle *lc)
{
	struct sb_sip *sip = ud;
	char *const *listen = sip->cfg->sip.listen;
	int r;

	su_init();
	su_log_set_level(NULL, 0);
	sip->root = su_glib_root_create(sip);
	if (!sip->root)
		return -ENOMEM;
	/* One thread: SIP shares the control loop (DESIGN.md). */
	su_root_threading(sip->root, 0);
	sip->source_id = g_source_attach(su_glib_root_gsource(sip->root), NULL);
	for (size_t i = 0; listen && listen[i] && sip->n_nua < SB_SIP_MAX_LISTEN; i++) {
		char url[160], tls[512] = "";
		/* RFC 5626 section 4.4.1: a CRLFCRLF ping on every TCP
		 * connection idle this long (sofia's TLS transport has no
		 * such timer). */
		unsigned crlf_ms = (unsigned)sip->cfg->sip.crlf_keepalive_interval_s * 1000;
		nua_t *nua;

		if (listen_url(listen[i], url, sizeof(url)) < 0) {
			sb_error("[sip] listen: '%s' is not transport:host:port", listen[i]);
			return -EINVAL;
		}
		if (strncmp(listen[i], "tls:", 4) == 0 &&
		    sb__sip_tls_dir(sip, tls, sizeof(tls)) < 0)
			return -EINVAL;
		/* nua PRACKs reliable 18x itself (PRACK is not an
		 * application method here, RFC 3262) and runs the session
		 * timers: 422 with Min-SE to short intervals, a retry after
		 * a 422, refreshes, and a BYE when a session expires. */
		nua = nua_create(sip->root, event_cb, sip, NUTAG_URL(url), NUTAG_MEDIA_ENABLE(0),
				 NUTAG_AUTOANSWER(0), NUTAG_AUTOALERT(0),
				 /* UPDATE: an offer in it waits for media's
				  * answer (RFC 3311), as a re-INVITE's does. */
				 NUTAG_APPL_METHOD("REGISTER"), NUTAG_APPL_METHOD("UPDATE"),
				 /* MESSAGE: we check it before answering. */
				 NUTAG_APPL_METHOD("MESSAGE"), NUTAG_ALLOW("REGISTER"),
				 /* INFO: DTMF bodies are checked and relayed
				  * (info.c). */
				 NUTAG_APPL_METHOD("INFO"), NUTAG_ALLOW("INFO"),
				 SIPTAG_SUPPORTED_STR("timer, 100rel"),
				 NUTAG_SESSION_TIMER((unsigned)sip->cfg->sip.session_expires_s),
				 NUTAG_MIN_SE((unsigned)sip->cfg->sip.min_se_s),
				 NUTAG_SESSION_REFRESHER(nua_no_refresher),
				 SIPTAG_USER_AGENT_STR(sip->cfg->sip.user_agent),
				 SIPTAG_SERVER_STR(sip->cfg->sip.user_agent),
				 TAG_IF(tls[0], TPTAG_CERTIFICATE(tls)), TPTAG_KEEPALIVE(crlf_ms),
				 /* No STUN server on our SIP ports (DESIGN.md). */
				 TPTAG_STUN_SERVER(0), TAG_END());
		if (!nua) {
			sb_error("cannot listen for SIP on %s", url);
			return -EADDRINUSE;
		}
		sb__sip_nat_setup(sip, nua);
		sip->nua[sip->n_nua++] = nua;
		sb_info("listening for SIP on %s", url);
	}
	r = sb__sip_client_start(sip);
	if (r < 0)
		return r;
	sb_lifecycle_ready(lc, "sip");
	return 0;
}

static void sip_stop(void *ud)
{
	struct sb_sip *sip = ud;
	gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

	if (!sip->root)
		return;
	sb__sip_client_stop(sip);
	sip->shutting_down = sip->n_nua;
	for (size_t i = 0; i < sip->n_nua; i++)
		nua_shutdown(sip->nua[i]);
	while (sip->shutting_down > 0 && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	for (size_t i = 0; i < sip->n_nua; i++)
		nua_destroy(sip->nua[i]);
	sip->n_nua = 0;
	if (sip->source_id)
		g_source_remove(sip->source_id);
	sip->source_id = 0;
	su_root_destroy(sip->root);
	sip->root = NULL;
	su_deinit();
}

static void free_dialog_cb(gpointer k, gpointer v, gpointer ud)
{
	dialog_free(v);
}

struct sb_sip *sb_sip_free(struct sb_sip *sip)
{
	if (!sip)
		return NULL;
	sip_stop(sip);
	/* Dialogs left when the stack is gone: their handles went with it. */
	g_hash_table_foreach(sip->by_handle, free_dialog_cb, NULL);
	g_hash_table_foreach(sip->by_leg, free_dialog_cb, NULL);
	g_hash_table_destroy(sip->by_handle);
	g_hash_table_destroy(sip->by_leg);
	g_hash_table_destroy(sip->location);
	sb_config_unref(sip->cfg);
	free(sip);
	return NULL;
}

const struct sb_component_ops sb_sip_component = {
	.name = "sip",
	.start = sip_start,
	.stop = sip_stop,
};

/* ---- the engine's SIP ops (control thread) ---- */

static struct sb_sip_dialog *dialog_of(struct sb_sip *sip, uint64_t call, uint32_t leg)
{
	uint64_t k = leg_key(call, leg);

	return g_hash_table_lookup(sip->by_leg, &k);
}

static void index_leg(struct sb_sip *sip, struct sb_sip_dialog *d, uint64_t call, uint32_t leg)
{
	uint64_t *k = g_new(uint64_t, 1);

	d->call = call;
	d->leg = leg;
	*k = leg_key(call, leg);
	g_hash_table_replace(sip->by_leg, k, d);
}

static int op_bind(void *ud, uint64_t handle, uint64_t call, uint32_t leg)
{
	struct sb_sip *sip = ud;
	struct sb_sip_dialog *d = g_hash_table_lookup(sip->by_handle, &handle);

	if (!d)
		return -ENOENT;
	g_hash_table_remove(sip->by_handle, &handle);
	index_leg(sip, d, call, leg);
	return 0;
}

/* The inside of a quoted display name (RFC 3261 section 25.1,
 * quoted-string): '"' and '\\' escaped, control characters dropped;
 * truncated to fit. */
static void quote_display(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in && o + 3 < n; in++) {
		if ((unsigned char)*in < 0x20 || *in == 0x7f)
			continue;
		if (*in == '"' || *in == '\\')
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = '\0';
}

/* The calling user's account at trunk, when it has one there. */
static const struct sb_config_user *
caller_account(struct sb_sip *sip, const struct sb_config_trunk *trunk, const char *user)
{
	const struct sb_config_user *u =
		trunk && user && *user ? sb_config_find_user(sip->cfg, user) : NULL;

	return sb_config_user_has_account(u) && strcmp(u->sip_trunk, trunk->name) == 0 ? u : NULL;
}

/* From of an outbound INVITE: through a trunk where the caller has an
 * account, that account (its registrar's domain, so that the registrar
 * knows the caller); else the caller's number at our domain. */
static void from_header(struct sb_sip *sip, const struct sb_engine_sip_target *t,
			const struct sb_config_trunk *trunk, const struct sb_config_user *acct,
			char *out, size_t len)
{
	char display[128];

	quote_display(t->from_display ? t->from_display : "", display, sizeof(display));
	if (acct)
		snprintf(out, len, "\"%s\" <sip:%s@%s>", display, acct->sip_username, trunk->host);
	else
		snprintf(out, len, "\"%s\" <sip:%s@%s>", display,
			 t->from_user && *t->from_user ? t->from_user : "anonymous",
			 sip->cfg->sip.domain);
}

static int op_invite(void *ud, uint64_t call, uint32_t leg, const struct sb_engine_sip_target *t,
		     const char *sdp)
{
	struct sb_sip *sip = ud;
	const struct sb_config_trunk *trunk =
		t->trunk ? sb_config_find_trunk(sip->cfg, t->trunk) : NULL;
	const struct sb_config_user *acct = caller_account(sip, trunk, t->caller_user);
	char ruri[256], to[264], from[256];
	struct sb_sip_dialog *d;
	nua_handle_t *nh;

	if (!sip->n_nua || (t->trunk && !trunk) || !t->uri)
		return -EINVAL;
	if (trunk)
		snprintf(ruri, sizeof(ruri), "sip:%s@%s:%lld;transport=%s", t->uri, trunk->host,
			 (long long)trunk->port, trunk->transport);
	else
		snprintf(ruri, sizeof(ruri), "%s", t->uri);
	snprintf(to, sizeof(to), "<%s>", ruri);
	from_header(sip, t, trunk, acct, from, sizeof(from));
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->trunk = trunk;
	d->auth_user = acct ? acct->sip_username : trunk ? trunk->username : NULL;
	d->auth_password = acct ? acct->sip_password : trunk ? trunk->password : NULL;
	/* The offer comes from the media plane as it is: [trunk] codecs and
	 * srtp were applied there (docs/media.md). */
	d->local_sdp = strdup(sdp ? sdp : "");
	d->from = strdup(from);
	d->to = strdup(to);
	nh = d->local_sdp && d->from && d->to ? invite_handle(sip, d, NULL) : NULL;
	if (!nh) {
		dialog_free(d);
		return -ENOMEM;
	}
	dialog_init(sip, d, nh, false);
	index_leg(sip, d, call, leg);
	sb__sip_target_seen(d, ruri);
	send_invite(d, ruri);
	return 0;
}

static int op_progress(void *ud, uint64_t call, uint32_t leg, int status, const char *sdp)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || !d->inbound || d->ended)
		return -ENOENT;
	nua_respond(d->nh, status, sip_status_phrase(status),
		    TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
		    TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
	return 0;
}

static int op_answer(void *ud, uint64_t call, uint32_t leg, const char *sdp)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || !d->inbound || d->ended)
		return -ENOENT;
	d->answered = true;
	free(d->local_sdp);
	d->local_sdp = sdp ? strdup(sdp) : NULL;
	nua_respond(d->nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp ? sdp : ""), TAG_END());
	return 0;
}

static int op_reject(void *ud, uint64_t call, uint32_t leg, int status, int retry_after_s)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);
	char retry[16];

	if (!d || !d->inbound || d->ended)
		return -ENOENT;
	d->ended = true;
	snprintf(retry, sizeof(retry), "%d", retry_after_s);
	nua_respond(d->nh, status, sip_status_phrase(status),
		    TAG_IF(retry_after_s > 0, SIPTAG_RETRY_AFTER_STR(retry)), TAG_END());
	return 0;
}

static int op_cancel(void *ud, uint64_t call, uint32_t leg)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || d->inbound || d->ended)
		return -ENOENT;
	d->ended = true;
	nua_cancel(d->nh, TAG_END());
	return 0;
}

static int op_bye(void *ud, uint64_t call, uint32_t leg)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || d->ended)
		return -ENOENT;
	d->ended = true;
	/* RFC 3261 section 15.1.2: pending requests are answered, 487. The
	 * engine ended the leg itself: it hears nothing more of the offer. */
	sb__sip_reoffer_end(d, true);
	/* Our re-INVITE in flight or waiting for its retry is forgotten:
	 * the engine ended the leg. */
	sb__sip_reinvite_clear(d);
	nua_bye(d->nh, TAG_END());
	return 0;
}

static int op_reinvite(void *ud, uint64_t call, uint32_t leg, const char *sdp)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || d->ended || !d->established)
		return -ENOENT;
	if (!sdp)
		return -EINVAL;
	return sb__sip_reinvite_start(d, sdp);
}

static int op_reanswer(void *ud, uint64_t call, uint32_t leg, int status, const char *sdp)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);
	bool ok = status >= 200 && status < 300;

	if (!d || d->reoffer != SB_SIP_REOFFER_WAITING || d->ended)
		return -ENOENT;
	if (status < 200 || (ok && !sdp))
		return -EINVAL;
	if (!ok)
		sb_info("call %llu leg %u: the party's new offer refused with %d",
			(unsigned long long)call, (unsigned)leg, status);
	return sb__sip_reoffer_respond(d, status, ok ? sdp : NULL);
}

static int op_message(void *ud, uint64_t call, uint32_t leg, uint64_t seq, const char *text)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || d->ended || !d->established)
		return -ENOENT;
	if (!text || strnlen(text, SB_CHAT_MAX + 1) > SB_CHAT_MAX ||
	    !g_utf8_validate(text, -1, NULL))
		return -EINVAL;
	return sb__sip_message_start(d, seq, text);
}

static int op_info_dtmf(void *ud, uint64_t call, uint32_t leg, const char *digits, int duration_ms)
{
	struct sb_sip_dialog *d = dialog_of(ud, call, leg);

	if (!d || d->ended || !d->established)
		return -ENOENT;
	if (!digits || strnlen(digits, 33) > 32)
		return -EINVAL;
	return sb__sip_info_start(d, digits, duration_ms);
}

static size_t op_contacts(void *ud, const char *user, const char **ret_uris, size_t max)
{
	struct sb_sip *sip = ud;
	GPtrArray *a = g_hash_table_lookup(sip->location, user);
	int64_t now = (int64_t)time(NULL);
	size_t n = 0;

	for (guint i = 0; a && i < a->len && n < max && n < G_N_ELEMENTS(sip->contacts_out); i++) {
		struct sb_sip_binding *b = a->pdata[i];
		if (b->expires_at_s > now) {
			sip->contacts_out[n] = b->contact;
			ret_uris[n] = b->contact;
			n++;
		}
	}
	return n;
}

const struct sb_engine_sip_ops sb_sip_engine_ops = {
	.bind = op_bind,
	.invite = op_invite,
	.progress = op_progress,
	.answer = op_answer,
	.reject = op_reject,
	.cancel = op_cancel,
	.bye = op_bye,
	.reanswer = op_reanswer,
	.reinvite = op_reinvite,
	.message = op_message,
	.info_dtmf = op_info_dtmf,
	.contacts = op_contacts,
};
