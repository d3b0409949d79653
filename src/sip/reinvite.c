/* Our own new offers on an established dialog: a re-INVITE with the media
 * plane's offer (hold and resume from the browser, RFC 3264 section 8), its
 * one retry after a 491 and the glare with the party's offers (RFC 3261
 * section 14). Control thread. Works on dialogs owned by sip.c; owns the
 * copy of the offer and the retry timer of each. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>

#include "bus/bus.h"
#include "log/log.h"
#include "sip/sip_internal.h"

/* RFC 3261 section 14.1: after a 491 the owner of the Call-ID waits 2.1 to
 * 4 s, the other side 0 to 2 s. We wait the longer time on every dialog,
 * so that on an inbound one the party's retry comes first, too. */
#define REINVITE_RETRY_MIN_MS 2100
#define REINVITE_RETRY_MAX_MS 4000

void sb__sip_reinvite_clear(struct sb_sip_dialog *d)
{
	if (d->reinvite_timer)
		g_source_remove(d->reinvite_timer);
	d->reinvite_timer = 0;
	free(d->reinvite_sdp);
	d->reinvite_sdp = NULL;
	d->reinvite = SB_SIP_REINVITE_NONE;
	d->reinvite_retried = false;
}

/* Posts the outcome (takes answer) and forgets the offer. Nothing reaches
 * the engine while the stack shuts down: the calls end anyway. */
static void reinvite_done(struct sb_sip_dialog *d, int status, char *answer)
{
	struct sb_event ev = {.type = SB_EV_SIP_REINVITE_RESULT,
			      .call = d->call,
			      .leg = d->leg,
			      .arg = {status},
			      .text = answer};

	sb__sip_reinvite_clear(d);
	if (d->sip->shutting_down) {
		free(answer);
		return;
	}
	sb_bus_post(d->sip->bus, &ev);
}

static void reinvite_send(struct sb_sip_dialog *d)
{
	/* A challenge to this re-INVITE gets one answer (as the INVITE's). */
	d->auth_tries = 0;
	d->reinvite = SB_SIP_REINVITE_SENT;
	/* Media is off in nua (no soa): the payload is the offer as it is. */
	nua_invite(d->nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		   SIPTAG_PAYLOAD_STR(d->reinvite_sdp), TAG_END());
}

int sb__sip_reinvite_start(struct sb_sip_dialog *d, const char *sdp)
{
	char *copy;

	if (d->reinvite != SB_SIP_REINVITE_NONE || d->refreshing ||
	    d->reoffer != SB_SIP_REOFFER_NONE)
		return -EBUSY;
	copy = strdup(sdp);
	if (!copy)
		return -ENOMEM;
	d->reinvite_sdp = copy;
	d->reinvite_retried = false;
	d->reinvite_failed = false;
	sb_info("call %llu leg %u: our new offer sent by re-INVITE", (unsigned long long)d->call,
		(unsigned)d->leg);
	reinvite_send(d);
	return 0;
}

static gboolean reinvite_retry_cb(gpointer ud)
{
	struct sb_sip_dialog *d = ud;
	SB_LOG_SCOPE(NULL, NULL, "re-INVITE retry");

	d->reinvite_timer = 0;
	/* nua's refresh re-INVITE in flight would take our response: ours
	 * waits for it to finish (a refresh takes one round trip). */
	if (d->refreshing) {
		d->reinvite_timer = g_timeout_add(200, reinvite_retry_cb, d);
		return G_SOURCE_REMOVE;
	}
	sb_info("call %llu leg %u: our re-INVITE sent again after its 491",
		(unsigned long long)d->call, (unsigned)d->leg);
	d->reinvite_retried = true;
	reinvite_send(d);
	return G_SOURCE_REMOVE;
}

static char *answer_of(const sip_t *s)
{
	if (!s || !s->sip_payload || !s->sip_payload->pl_data || !s->sip_payload->pl_len)
		return NULL;
	return strndup(s->sip_payload->pl_data, s->sip_payload->pl_len);
}

/* A final failure: the session stays as it was (RFC 3261 section 14.1). */
static void reinvite_failed(struct sb_sip_dialog *d, int status, const char *phrase)
{
	d->reinvite_failed = true;
	if (status == 481 || status == 408)
		/* RFC 3261 section 12.2.1.2: the dialog is gone; nua ends it
		 * itself (nua_i_state terminated, then sip.bye). */
		sb_info("call %llu leg %u: our re-INVITE failed with %d %s: the dialog ends",
			(unsigned long long)d->call, (unsigned)d->leg, status, phrase);
	else
		sb_info("call %llu leg %u: our re-INVITE refused: %d %s",
			(unsigned long long)d->call, (unsigned)d->leg, status, phrase);
	reinvite_done(d, status, NULL);
}

bool sb__sip_reinvite_response(struct sb_sip_dialog *d, int status, const char *phrase,
			       const sip_t *s)
{
	unsigned ms;

	if (d->reinvite != SB_SIP_REINVITE_SENT) {
		/* The response to nua's refresh re-INVITE (or a stray one). */
		if (status >= 200)
			d->refreshing = false;
		return false;
	}
	if (status < 200)
		return true;
	if ((status == 401 || status == 407) && d->auth_user && d->auth_tries++ == 0 &&
	    sb__sip_auth_answer(d->nh, s, d->auth_user, d->auth_password))
		return true;
	if (status == 491 && !d->reinvite_retried) {
		ms = (unsigned)g_random_int_range(REINVITE_RETRY_MIN_MS, REINVITE_RETRY_MAX_MS + 1);
		sb_info("call %llu leg %u: our re-INVITE met the party's (491): again in %u ms",
			(unsigned long long)d->call, (unsigned)d->leg, ms);
		d->reinvite = SB_SIP_REINVITE_RETRY;
		d->reinvite_timer = g_timeout_add(ms, reinvite_retry_cb, d);
		return true;
	}
	if (status >= 300) {
		reinvite_failed(d, status, phrase ? phrase : "");
		return true;
	}
	/* nua ACKs the 2xx itself (NUTAG_AUTOACK, on by default). Our offer
	 * is now our description: a refresh or an offerless re-INVITE of the
	 * party's gets it. */
	sb_info("call %llu leg %u: our re-INVITE answered %d", (unsigned long long)d->call,
		(unsigned)d->leg, status);
	free(d->local_sdp);
	d->local_sdp = d->reinvite_sdp;
	d->reinvite_sdp = NULL;
	reinvite_done(d, status, answer_of(s));
	return true;
}

void sb__sip_reinvite_state(struct sb_sip_dialog *d, int callstate)
{
	if (callstate == nua_callstate_ready) {
		d->established = true;
		/* The session went on after a failure of ours. */
		d->reinvite_failed = false;
	} else if (callstate == nua_callstate_calling && d->established &&
		   d->reinvite == SB_SIP_REINVITE_NONE) {
		/* An INVITE we did not ask for: nua's session refresh. */
		d->refreshing = true;
	}
}

bool sb__sip_reinvite_glare(struct sb_sip_dialog *d)
{
	if (d->reinvite == SB_SIP_REINVITE_SENT || d->refreshing)
		return true;
	if (d->reinvite == SB_SIP_REINVITE_RETRY) {
		/* The party retried first (RFC 3261 section 14.1): its offer
		 * goes on, ours was made for the session before it and is
		 * dropped. The engine hears that before the party's offer. */
		sb_info("call %llu leg %u: the party's new offer came before our retry: ours "
			"dropped (491)",
			(unsigned long long)d->call, (unsigned)d->leg);
		reinvite_done(d, 491, NULL);
	}
	return false;
}
