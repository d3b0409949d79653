/* DTMF by SIP INFO (RFC 6086, the application/dtmf-relay and
 * application/dtmf bodies in use with it): our INFOs inside an established
 * dialog, one digit each, one in flight at a time and the rest waiting in
 * order, with one digest retry; the party's INFOs in the dialog parsed and
 * handed to the engine as sip.dtmf. Control thread. Works on dialogs owned
 * by sip.c; owns nothing (the digits wait in the dialog's fixed ring). */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_header.h>

#include "bus/bus.h"
#include "core/cursor.h"
#include "log/log.h"
#include "sip/sip_internal.h"

#define RELAY_TYPE "application/dtmf-relay"
#define PLAIN_TYPE "application/dtmf"
/* The longest Duration= we take (ms): RFC 4733's duration field, in
 * 8 kHz samples, ends near 8 s; a minute is generous. */
#define DURATION_MAX 60000

static bool dtmf_digit(char c, char *ret)
{
	if (c >= 'a' && c <= 'd')
		c = (char)(c - 'a' + 'A');
	if (!((c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D')))
		return false;
	*ret = c;
	return true;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Reads one line (up to CRLF, LF or the end) into [*ret_p, *ret_p+*ret_len)
 * with the blanks at both ends cut off. */
static void next_line(struct sb_cursor *c, const char **ret_p, size_t *ret_len)
{
	const char *p = (const char *)sb_cursor_ptr(c);
	size_t n = 0, left = sb_cursor_left(c);

	while (n < left && p[n] != '\n' && p[n] != '\r')
		n++;
	(void)sb_cursor_skip(c, n);
	if (sb_cursor_left(c) && *sb_cursor_ptr(c) == '\r')
		(void)sb_cursor_skip(c, 1);
	if (sb_cursor_left(c) && *sb_cursor_ptr(c) == '\n')
		(void)sb_cursor_skip(c, 1);
	while (n && is_space((uint8_t)*p)) {
		p++;
		n--;
	}
	while (n && is_space((uint8_t)p[n - 1]))
		n--;
	*ret_p = p;
	*ret_len = n;
}

/* The decimal in [p, p+n): 0..DURATION_MAX, else -EINVAL. */
static int duration(const char *p, size_t n)
{
	int v = 0;

	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (p[i] - '0');
		if (v > DURATION_MAX)
			return -EINVAL;
	}
	return v;
}

/* One "key=value" line of a dtmf-relay body, the blanks around '=' cut. */
static int relay_line(const char *p, size_t n, char *digit, int *ms)
{
	const char *eq = memchr(p, '=', n);
	size_t klen, vlen;
	const char *v;

	if (!eq)
		return -EINVAL;
	klen = (size_t)(eq - p);
	while (klen && is_space((uint8_t)p[klen - 1]))
		klen--;
	v = eq + 1;
	vlen = n - (size_t)(v - p);
	while (vlen && is_space((uint8_t)*v)) {
		v++;
		vlen--;
	}
	if (klen == 6 && strncasecmp(p, "Signal", 6) == 0) {
		/* One digit, given once. */
		if (*digit || vlen != 1 || !dtmf_digit(v[0], digit))
			return -EINVAL;
	} else if (klen == 8 && strncasecmp(p, "Duration", 8) == 0) {
		if (*ms >= 0 || (*ms = duration(v, vlen)) < 0)
			return -EINVAL;
	}
	/* Other keys (some send "Volume=") are passed over. */
	return 0;
}

int sb__sip_dtmf_parse(bool relay, const char *body, size_t len, char *ret_digit, int *ret_ms)
{
	struct sb_cursor c;
	char digit = 0;
	int ms = -1;
	const char *p;
	size_t n;

	if (!body)
		return -EINVAL;
	sb_cursor_init(&c, body, len);
	while (sb_cursor_left(&c)) {
		next_line(&c, &p, &n);
		if (!n)
			continue;
		if (!relay) {
			/* application/dtmf: the digit alone, on one line. */
			if (digit || n != 1 || !dtmf_digit(p[0], &digit))
				return -EINVAL;
		} else if (relay_line(p, n, &digit, &ms) < 0) {
			return -EINVAL;
		}
	}
	if (!digit)
		return -EINVAL;
	*ret_digit = digit;
	*ret_ms = ms > 0 ? ms : 0;
	return 0;
}

/* ---- ours ---- */

static void info_send(struct sb_sip_dialog *d)
{
	const struct sb_sip_info_digit *h = &d->info_q[d->info_head];
	char body[48];

	/* A challenge to this INFO gets one answer (as the INVITE's). */
	d->info_auth_tries = 0;
	snprintf(body, sizeof(body), "Signal=%c\r\nDuration=%d\r\n", h->digit, h->ms);
	nua_info(d->nh, SIPTAG_CONTENT_TYPE_STR(RELAY_TYPE), SIPTAG_PAYLOAD_STR(body), TAG_END());
}

int sb__sip_info_start(struct sb_sip_dialog *d, const char *digits, int ms)
{
	size_t n = strlen(digits);
	bool idle = d->info_n == 0;
	char c;

	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!dtmf_digit(digits[i], &c))
			return -EINVAL;
	if (n > SB_SIP_INFO_QUEUE - d->info_n)
		return -ENOBUFS;
	if (ms <= 0)
		ms = 100;
	if (ms > DURATION_MAX)
		ms = DURATION_MAX;
	for (size_t i = 0; i < n; i++) {
		struct sb_sip_info_digit *q =
			&d->info_q[(d->info_head + d->info_n) % SB_SIP_INFO_QUEUE];

		(void)dtmf_digit(digits[i], &q->digit);
		q->ms = ms;
		d->info_n++;
	}
	sb_debug("call %llu leg %u: %zu digits queued for INFO", (unsigned long long)d->call,
		 (unsigned)d->leg, n);
	if (idle)
		info_send(d);
	return 0;
}

void sb__sip_info_clear(struct sb_sip_dialog *d)
{
	d->info_head = 0;
	d->info_n = 0;
}

void sb__sip_info_response(struct sb_sip_dialog *d, int status, const char *phrase, const sip_t *s)
{
	if (!d->info_n || status < 200)
		return;
	if ((status == 401 || status == 407) && d->auth_user && d->info_auth_tries++ == 0 &&
	    sb__sip_auth_answer(d->nh, s, d->auth_user, d->auth_password))
		return;
	if (status >= 300) {
		d->sip->info_refused++;
		sb_info("call %llu leg %u: our INFO (DTMF %c) refused: %d %s",
			(unsigned long long)d->call, (unsigned)d->leg,
			d->info_q[d->info_head].digit, status, phrase ? phrase : "");
	}
	d->info_head = (d->info_head + 1) % SB_SIP_INFO_QUEUE;
	d->info_n--;
	/* RFC 6086 section 4.2.2: a 481 or 408 ends the dialog; and nothing
	 * goes out on a dialog that ended or while the stack shuts down. */
	if (status == 481 || status == 408 || d->ended || d->sip->shutting_down)
		sb__sip_info_clear(d);
	if (d->info_n)
		info_send(d);
}

/* ---- the party's ---- */

static bool type_is(const sip_content_type_t *c, const char *type)
{
	return c && c->c_type && strcasecmp(c->c_type, type) == 0;
}

/* The status an INFO of the party's gets: 200 (with *ret_digit set when it
 * carries a digit), 415 (another type) or 400 (a body that does not parse). */
static int check(const sip_t *s, char *ret_digit, int *ret_ms)
{
	const char *body = s->sip_payload ? s->sip_payload->pl_data : NULL;
	size_t len = body ? s->sip_payload->pl_len : 0;
	bool relay = type_is(s->sip_content_type, RELAY_TYPE);

	/* An INFO without a body (a keepalive, RFC 6086 section 4.2.1). */
	if (!len)
		return 200;
	if (!relay && !type_is(s->sip_content_type, PLAIN_TYPE))
		return 415;
	return sb__sip_dtmf_parse(relay, body, len, ret_digit, ret_ms) < 0 ? 400 : 200;
}

void sb__sip_info_incoming(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh,
			   struct sb_sip_dialog *d, const sip_t *s)
{
	struct sb_event ev = {.type = SB_EV_SIP_DTMF};
	char digit = 0;
	int ms = 0, status;

	if (!d) {
		/* RFC 6086 section 4.2.1: INFO belongs to an invite dialog. */
		nua_respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(nua), TAG_END());
		nua_handle_destroy(nh);
		return;
	}
	if (!d->call || d->ended) {
		nua_respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	status = check(s, &digit, &ms);
	nua_respond(nh, status, sip_status_phrase(status),
		    TAG_IF(status == 415, SIPTAG_ACCEPT_STR(RELAY_TYPE ", " PLAIN_TYPE)),
		    NUTAG_WITH_THIS(nua), TAG_END());
	if (status != 200) {
		sb_info("call %llu leg %u: the party's INFO refused: %d",
			(unsigned long long)d->call, (unsigned)d->leg, status);
		return;
	}
	if (!digit)
		return; /* a keepalive */
	ev.call = d->call;
	ev.leg = d->leg;
	ev.str[0] = digit;
	ev.arg[0] = ms;
	sb_debug("call %llu leg %u: the party's INFO: DTMF %c (%d ms)", (unsigned long long)d->call,
		 (unsigned)d->leg, digit, ms);
	sb_bus_post(sip->bus, &ev);
}
