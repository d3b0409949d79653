/* In-call text chat over SIP (RFC 3428): our MESSAGEs inside an
 * established dialog, one in flight at a time and the rest waiting in
 * order, with one digest retry; the party's MESSAGEs in the dialog checked
 * (type, size, UTF-8) and handed to the engine. Control thread. Works on
 * dialogs owned by sip.c; owns the copies of the texts waiting. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "bus/bus.h"
#include "log/log.h"
#include "sip/sip_internal.h"

#define CHAT_TYPE "text/plain"

static struct sb_sip_msg *head(struct sb_sip_dialog *d)
{
	return &d->msg_q[d->msg_head];
}

static void pop(struct sb_sip_dialog *d)
{
	free(head(d)->text);
	head(d)->text = NULL;
	d->msg_head = (d->msg_head + 1) % SB_SIP_MSG_QUEUE;
	d->msg_n--;
}

void sb__sip_message_clear(struct sb_sip_dialog *d)
{
	while (d->msg_n)
		pop(d);
	d->msg_head = 0;
}

static void message_send(struct sb_sip_dialog *d)
{
	/* A challenge to this MESSAGE gets one answer (as the INVITE's). */
	d->msg_auth_tries = 0;
	nua_message(d->nh, SIPTAG_CONTENT_TYPE_STR(CHAT_TYPE ";charset=UTF-8"),
		    SIPTAG_PAYLOAD_STR(head(d)->text), TAG_END());
}

int sb__sip_message_start(struct sb_sip_dialog *d, uint64_t seq, const char *text)
{
	struct sb_sip_msg *m;
	char *copy;

	if (d->msg_n == SB_SIP_MSG_QUEUE)
		return -ENOBUFS;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	m = &d->msg_q[(d->msg_head + d->msg_n) % SB_SIP_MSG_QUEUE];
	m->seq = seq;
	m->text = copy;
	d->msg_n++;
	sb_debug("call %llu leg %u: MESSAGE %llu of %zu bytes queued", (unsigned long long)d->call,
		 (unsigned)d->leg, (unsigned long long)seq, strlen(text));
	if (d->msg_n == 1)
		message_send(d);
	return 0;
}

void sb__sip_message_response(struct sb_sip_dialog *d, int status, const sip_t *s)
{
	struct sb_event ev = {.type = SB_EV_SIP_MESSAGE_RESULT, .call = d->call, .leg = d->leg};

	if (!d->msg_n || status < 200)
		return;
	if ((status == 401 || status == 407) && d->auth_user && d->msg_auth_tries++ == 0 &&
	    sb__sip_auth_answer(d->nh, s, d->auth_user, d->auth_password))
		return;
	ev.arg[0] = status;
	ev.arg[1] = (int64_t)head(d)->seq;
	if (status >= 300)
		sb_info("call %llu leg %u: our MESSAGE refused: %d", (unsigned long long)d->call,
			(unsigned)d->leg, status);
	pop(d);
	/* Nothing reaches the engine for a dialog it ended, or while the
	 * stack shuts down. */
	if (!d->ended && !d->sip->shutting_down)
		sb_bus_post(d->sip->bus, &ev);
	if (d->msg_n && !d->ended)
		message_send(d);
}

/* Whether a Content-Type is text/plain in UTF-8 (RFC 3428 section 9: the
 * charset parameter, when given, must be one we read; US-ASCII is a subset). */
static bool chat_type(const sip_content_type_t *c)
{
	const char *cs;

	if (!c || !c->c_type || strcasecmp(c->c_type, CHAT_TYPE) != 0)
		return false;
	cs = msg_params_find(c->c_params, "charset=");
	return !cs || strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "\"UTF-8\"") == 0 ||
	       strcasecmp(cs, "US-ASCII") == 0;
}

int sb__sip_message_check(const sip_t *s, const char **ret_body, size_t *ret_len)
{
	const char *body = s->sip_payload ? s->sip_payload->pl_data : NULL;
	size_t len = body ? s->sip_payload->pl_len : 0;

	if (!chat_type(s->sip_content_type))
		return 415;
	if (len > SB_CHAT_MAX)
		return 413;
	/* g_utf8_validate also refuses a NUL inside the length given. */
	if (len && !g_utf8_validate(body, (gssize)len, NULL))
		return 400;
	*ret_body = body;
	*ret_len = len;
	return 200;
}

void sb__sip_message_incoming(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh,
			      struct sb_sip_dialog *d, const sip_t *s)
{
	struct sb_event ev = {.type = SB_EV_SIP_MESSAGE};
	const char *body = NULL;
	size_t len = 0;
	int status;

	if (!d) {
		/* Outside any call: answered 200 as nua did before MESSAGE
		 * was ours to answer; nothing is done with it. */
		nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
		nua_handle_destroy(nh);
		return;
	}
	if (!d->call || d->ended) {
		nua_respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	status = sb__sip_message_check(s, &body, &len);
	nua_respond(nh, status, sip_status_phrase(status),
		    TAG_IF(status == 415, SIPTAG_ACCEPT_STR(CHAT_TYPE)), NUTAG_WITH_THIS(nua),
		    TAG_END());
	if (status != 200) {
		sb_info("call %llu leg %u: the party's MESSAGE refused: %d",
			(unsigned long long)d->call, (unsigned)d->leg, status);
		return;
	}
	if (!len)
		return; /* nothing to relay */
	ev.call = d->call;
	ev.leg = d->leg;
	snprintf(ev.str, sizeof(ev.str), "%s", s->sip_content_type->c_type);
	ev.text = strndup(body, len);
	sb_debug("call %llu leg %u: the party's MESSAGE of %zu bytes", (unsigned long long)d->call,
		 (unsigned)d->leg, len);
	if (ev.text)
		sb_bus_post(sip->bus, &ev);
}
