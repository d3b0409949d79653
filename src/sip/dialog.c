/* Helpers of the call legs of src/sip: a party's new offer (a re-INVITE or
 * UPDATE: hold, resume, a new address or codec, RFC 3264 section 8) waiting
 * for the media plane's answer, and the targets of 3xx redirects in q order
 * with loop protection. Control thread. Works on dialogs owned by sip.c;
 * owns nothing of its own. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#include "bus/bus.h"
#include "log/log.h"
#include "sdp/sdp.h"
#include "sip/sip_internal.h"

const char *sb__sip_mode_name(int mode)
{
	static const char *const names[] = {"inactive", "sendonly", "recvonly", "sendrecv"};

	return names[mode & 3];
}

int sb__sip_offer_mode(const char *offer, int *ret_mode)
{
	struct sb_sdp *d = NULL;
	const struct sb_sdp_media *m;
	char err[160];
	int mode = -EINVAL;

	/* The offer comes from outside: src/sdp scans it against its limits
	 * before sofia's parser sees it (docs/sdp.md). */
	if (sb_sdp_parse(offer, strnlen(offer, SB_SDP_MAX_LEN + 1), &d, err, sizeof(err)) < 0)
		return -EINVAL;
	if ((m = sb_sdp_media_find(d, "audio")) != NULL) {
		mode = (int)m->dir;
		/* RFC 3264 section 8.4: c=0.0.0.0, the RFC 2543 hold, means
		 * the party receives nothing. */
		if (m->addr && strcmp(m->addr, "0.0.0.0") == 0)
			mode &= SB_SDP_SENDONLY;
	}
	sb_sdp_free(d);
	if (mode < 0)
		return mode;
	*ret_mode = mode;
	return 0;
}

/* ---- the party's new offers (re-INVITE, UPDATE) ---- */

void sb__sip_reoffer_clear(struct sb_sip_dialog *d)
{
	if (d->reoffer_timer)
		g_source_remove(d->reoffer_timer);
	d->reoffer_timer = 0;
	if (d->reoffer_msg)
		msg_destroy(d->reoffer_msg);
	d->reoffer_msg = NULL;
	free(d->reoffer_sdp);
	d->reoffer_sdp = NULL;
	d->reoffer = SB_SIP_REOFFER_NONE;
}

static gboolean reoffer_timeout_cb(gpointer ud)
{
	struct sb_sip_dialog *d = ud;
	SB_LOG_SCOPE(NULL, NULL, "new offer");

	d->reoffer_timer = 0;
	if (d->reoffer == SB_SIP_REOFFER_SENDING) {
		/* nua reports a response it sent at once: without a report the
		 * offer would stay and every later one be refused. Media keeps
		 * the session in force. */
		sb_warn("call %llu leg %u: our answer to the party's new offer never reported "
			"sent",
			(unsigned long long)d->call, (unsigned)d->leg);
		sb__sip_reoffer_gone(d, 500, "timeout");
		return G_SOURCE_REMOVE;
	}
	sb_warn("call %llu leg %u: no answer to the party's new offer within %d ms: 500",
		(unsigned long long)d->call, (unsigned)d->leg, SB_SIP_REOFFER_TIMEOUT_MS);
	nua_respond(d->nh, SIP_500_INTERNAL_SERVER_ERROR,
		    TAG_IF(d->reoffer_msg, NUTAG_WITH(d->reoffer_msg)), TAG_END());
	sb__sip_reoffer_gone(d, 500, "timeout");
	return G_SOURCE_REMOVE;
}

int sb__sip_reoffer_respond(struct sb_sip_dialog *d, int status, const char *sdp)
{
	bool ok = status >= 200 && status < 300;
	char *copy = ok && sdp ? strdup(sdp) : NULL;

	if (ok && sdp && !copy)
		return -ENOMEM;
	nua_respond(d->nh, status, sip_status_phrase(status),
		    TAG_IF(d->reoffer_msg, NUTAG_WITH(d->reoffer_msg)),
		    TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
		    TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
	sb__sip_reoffer_clear(d);
	/* nua sends the response when it next runs: a CANCEL read before
	 * that still gets the re-INVITE a 487 (RFC 3261 section 9.2), and the
	 * party then keeps its old session. So the engine has media apply
	 * our answer only once nua_i_state reports the 200 sent. */
	if (ok) {
		d->reoffer = SB_SIP_REOFFER_SENDING;
		d->reoffer_sdp = copy;
		d->reoffer_timer = g_timeout_add(SB_SIP_REOFFER_TIMEOUT_MS, reoffer_timeout_cb, d);
	}
	return 0;
}

void sb__sip_reoffer_gone(struct sb_sip_dialog *d, int status, const char *why)
{
	struct sb_event ev = {
		.type = SB_EV_SIP_REOFFER_GONE, .call = d->call, .leg = d->leg, .arg = {status}};
	bool had = d->reoffer != SB_SIP_REOFFER_NONE;

	sb__sip_reoffer_clear(d);
	if (!had || d->ended)
		return;
	snprintf(ev.str, sizeof(ev.str), "%s", why);
	/* The same lane as sip.reinvite, so the engine hears of it before any
	 * later offer of the party. */
	sb_bus_post(d->sip->bus, &ev);
}

void sb__sip_reoffer_end(struct sb_sip_dialog *d, bool respond)
{
	if (respond && d->reoffer == SB_SIP_REOFFER_WAITING)
		nua_respond(d->nh, SIP_487_REQUEST_TERMINATED,
			    TAG_IF(d->reoffer_msg, NUTAG_WITH(d->reoffer_msg)), TAG_END());
	sb__sip_reoffer_gone(d, 487, "ended");
}

void sb__sip_reoffer_state(struct sb_sip_dialog *d, int status, int callstate)
{
	if (d->reoffer != SB_SIP_REOFFER_SENDING || status < 200)
		return;
	/* A re-INVITE's 2xx sent is reported as "completed" (waiting for the
	 * ACK); an UPDATE's in the dialog's own state. */
	if (status < 300 && !d->reoffer_update && callstate != nua_callstate_completed)
		return;
	if (status < 300) {
		sb_debug("our answer to the party's new offer sent");
		if (d->reoffer_sdp) {
			free(d->local_sdp);
			d->local_sdp = d->reoffer_sdp;
			d->reoffer_sdp = NULL;
		}
		sb__sip_reoffer_gone(d, 200, "sent");
		return;
	}
	sb_info("call %llu leg %u: our answer to the party's new offer not sent: %d",
		(unsigned long long)d->call, (unsigned)d->leg, status);
	sb__sip_reoffer_gone(d, status, "error");
}

void sb__sip_reoffer_start(struct sb_sip *sip, struct sb_sip_dialog *d, char *offer, msg_t *req)
{
	struct sb_event ev = {.type = SB_EV_SIP_REINVITE, .call = d->call, .leg = d->leg};
	int mode;

	/* Glare (RFC 3261 section 14.2, RFC 3311 section 5.2): nua refuses a
	 * re-INVITE while our offer is in flight, but not an UPDATE's offer
	 * when its media is off, as ours is. */
	if (d->call && sb__sip_reinvite_glare(d)) {
		sb_info("call %llu leg %u: the party's new offer meets ours: 491",
			(unsigned long long)d->call, (unsigned)d->leg);
		nua_respond(d->nh, SIP_491_REQUEST_PENDING, NUTAG_WITH(req), TAG_END());
		free(offer);
		return;
	}
	if (!d->call || d->reoffer != SB_SIP_REOFFER_NONE) {
		nua_respond(d->nh, SIP_500_INTERNAL_SERVER_ERROR, NUTAG_WITH(req), TAG_END());
		free(offer);
		return;
	}
	if (sb__sip_offer_mode(offer, &mode) < 0) {
		nua_respond(d->nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH(req), TAG_END());
		free(offer);
		return;
	}
	d->reoffer = SB_SIP_REOFFER_WAITING;
	d->reoffer_update = sip_object(req) && sip_object(req)->sip_request &&
			    sip_object(req)->sip_request->rq_method == sip_method_update;
	d->reoffer_msg = msg_ref_create(req);
	d->reoffer_timer = g_timeout_add(SB_SIP_REOFFER_TIMEOUT_MS, reoffer_timeout_cb, d);
	sb_debug("new offer (%s): waiting for the media plane's answer", sb__sip_mode_name(mode));
	ev.arg[0] = mode;
	snprintf(ev.str, sizeof(ev.str), "%s", sb__sip_mode_name(mode));
	ev.text = offer;
	sb_bus_post(sip->bus, &ev);
}

bool sb__sip_target_seen(struct sb_sip_dialog *d, const char *uri)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	url_t *u = url_make(home, uri);
	bool seen = false;

	for (size_t i = 0; u && i < d->n_tried && !seen; i++) {
		url_t *t = url_make(home, d->tried[i]);
		seen = t && url_cmp(u, t) == 0;
	}
	if (!seen && d->n_tried < SB_SIP_MAX_TARGETS) {
		d->tried[d->n_tried] = strdup(uri);
		if (d->tried[d->n_tried])
			d->n_tried++;
	}
	su_home_deinit(home);
	return seen;
}

/* q as thousandths (RFC 3261 section 20.10: 0 to 1, three decimals);
 * absent: 1000. Parsed by hand: no atof on a peer's text. */
static unsigned q_of(const sip_contact_t *m)
{
	const char *q = m->m_q;
	unsigned v = 0, scale = 1000;

	if (!q)
		return 1000;
	if (*q == '1')
		return 1000;
	if (*q++ != '0' || *q++ != '.')
		return 0;
	for (int i = 0; i < 3 && *q >= '0' && *q <= '9'; i++, q++) {
		scale /= 10;
		v += (unsigned)(*q - '0') * scale;
	}
	return v;
}

void sb__sip_targets_add(struct sb_sip_dialog *d, const sip_contact_t *m)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};

	for (; m && d->n_pending < SB_SIP_MAX_TARGETS; m = m->m_next) {
		char *uri = url_as_string(home, m->m_url);
		bool dup = false;

		if (!uri || (m->m_url->url_type != url_sip && m->m_url->url_type != url_sips))
			continue;
		for (size_t i = 0; i < d->n_pending && !dup; i++)
			dup = strcmp(d->pending[i].uri, uri) == 0;
		if (dup)
			continue;
		d->pending[d->n_pending].uri = strdup(uri);
		d->pending[d->n_pending].q = q_of(m);
		if (d->pending[d->n_pending].uri)
			d->n_pending++;
	}
	su_home_deinit(home);
}

char *sb__sip_target_next(struct sb_sip_dialog *d)
{
	size_t best = 0;
	char *uri;

	if (!d->n_pending)
		return NULL;
	for (size_t i = 1; i < d->n_pending; i++)
		if (d->pending[i].q > d->pending[best].q)
			best = i;
	uri = d->pending[best].uri;
	memmove(&d->pending[best], &d->pending[best + 1],
		(d->n_pending - best - 1) * sizeof(d->pending[0]));
	d->n_pending--;
	return uri;
}

void sb__sip_targets_clear(struct sb_sip_dialog *d)
{
	for (size_t i = 0; i < d->n_tried; i++)
		free(d->tried[i]);
	for (size_t i = 0; i < d->n_pending; i++)
		free(d->pending[i].uri);
	d->n_tried = d->n_pending = 0;
}
