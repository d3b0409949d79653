/* STUN on the connected ICE pair's socket once the worker reads it itself
 * (nice_io.c): answers the browser's checks (its consent, RFC 7675) and
 * keeps our own consent to send, with libnice's public STUN library (no
 * parser of our own). Worker thread only; the worker owns its two STUN
 * agents, the session its credentials and transaction. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include "config/config.h"
#include "log/log.h"
#include "media/media_internal.h"

/* RFC 7675 section 5.1: a consent request every 5 s, randomised to
 * 0.8-1.2 times that; more often when [media] consent_timeout is under
 * 25 s, so that at least four go out before consent can expire. */
#define CONSENT_INTERVAL_US 5000000
#define CONSENT_MIN_CHECKS  5

/* Attributes a check or an answer may carry that we understand; a
 * comprehension-required one outside this list makes a message invalid. */
static const uint16_t known_attrs[] = {
	STUN_ATTRIBUTE_USERNAME,	STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
	STUN_ATTRIBUTE_ERROR_CODE,	STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_MAPPED_ADDRESS,	STUN_ATTRIBUTE_PRIORITY,
	STUN_ATTRIBUTE_USE_CANDIDATE,	STUN_ATTRIBUTE_ICE_CONTROLLED,
	STUN_ATTRIBUTE_ICE_CONTROLLING, STUN_ATTRIBUTE_FINGERPRINT,
	STUN_ATTRIBUTE_SOFTWARE,	0};

static void agent_init(StunAgent *a)
{
	stun_agent_init(a, known_attrs, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
}

int sb__consent_init(struct sb_mworker *w)
{
	w->stun_in = g_try_new0(StunAgent, 1);
	w->stun_rsp = g_try_new0(StunAgent, 1);
	if (!w->stun_in || !w->stun_rsp)
		return -ENOMEM;
	agent_init(w->stun_in);
	agent_init(w->stun_rsp);
	return 0;
}

void sb__consent_fini(struct sb_mworker *w)
{
	g_free(w->stun_in);
	g_free(w->stun_rsp);
	w->stun_in = w->stun_rsp = NULL;
}

bool sb__sockaddr_eq(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static void cred_copy(char *out, const char *in)
{
	size_t n = in ? strlen(in) : 0;

	/* Too long: empty, so that the socket is not taken over. */
	if (n > SB_ICE_CRED_MAX)
		n = 0;
	memcpy(out, in ? in : "", n);
	out[n] = '\0';
}

void sb__consent_remote_creds(struct sb_msession *s, const char *ufrag, const char *pwd)
{
	cred_copy(s->dx.rufrag, ufrag);
	cred_copy(s->dx.rpwd, pwd);
}

static int64_t next_interval_us(const struct sb_msession *s)
{
	int64_t base = s->w->m->cfg->media.consent_timeout_ms * 1000 / CONSENT_MIN_CHECKS;

	if (base > CONSENT_INTERVAL_US)
		base = CONSENT_INTERVAL_US;
	return (int64_t)((double)base * g_random_double_range(0.8, 1.2));
}

int sb__consent_start(struct sb_msession *s, const NiceCandidate *local)
{
	struct sb_ice_direct *d = &s->dx;
	gchar *ufrag = NULL, *pwd = NULL;
	gboolean controlling = FALSE;
	int64_t now = g_get_monotonic_time();
	int r = 0;

	if (!d->rufrag[0] || !d->rpwd[0] ||
	    !nice_agent_get_local_credentials(s->agent, s->stream, &ufrag, &pwd))
		return -ENOENT;
	if (strlen(ufrag) > SB_ICE_CRED_MAX || strlen(pwd) > SB_ICE_CRED_MAX) {
		r = -E2BIG;
		goto out;
	}
	cred_copy(d->lufrag, ufrag);
	cred_copy(d->lpwd, pwd);
	g_object_get(s->agent, "controlling-mode", &controlling, NULL);
	d->controlling = controlling;
	d->lite = s->w->m->cfg->media.ice_lite;
	/* RFC 8445 section 7.1.1: the priority of a peer-reflexive candidate
	 * learned from this base (type preference 110). */
	d->priority = (110u << 24) | (local->priority & 0x00ffff00u) | (256u - local->component_id);
	if (!d->tie)
		d->tie = ((uint64_t)g_random_int() << 32) | g_random_int();
	d->tid_out = false;
	/* The pair just passed ICE's checks: that is consent (RFC 7675
	 * section 5.1). */
	d->consent_us = now;
	d->next_check_us = now + next_interval_us(s);
out:
	g_free(ufrag);
	g_free(pwd);
	return r;
}

void sb__consent_stop(struct sb_msession *s)
{
	s->dx.tid_out = false;
}

/* The browser's USERNAME must be "ourufrag:theirufrag" (RFC 8445 section
 * 7.2.2); then its MESSAGE-INTEGRITY is checked with our password. */
static bool user_check_cb(StunAgent *agent, StunMessage *msg, uint8_t *user, uint16_t ulen,
			  uint8_t **ret_key, size_t *ret_len, void *ud)
{
	struct sb_ice_direct *d = ud;
	size_t lu = strlen(d->lufrag), ru = strlen(d->rufrag);

	if (!user || ulen != lu + 1 + ru || memcmp(user, d->lufrag, lu) != 0 || user[lu] != ':' ||
	    memcmp(user + lu + 1, d->rufrag, ru) != 0)
		return false;
	*ret_key = (uint8_t *)d->lpwd;
	*ret_len = strlen(d->lpwd);
	return true;
}

static void answer_check(struct sb_msession *s, const uint8_t *buf, size_t len,
			 const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct sb_ice_direct *d = &s->dx;
	StunAgent *a = s->w->stun_in;
	uint8_t out[STUN_MAX_MESSAGE_SIZE_IPV6];
	StunMessage req, rsp;
	size_t n = sizeof(out);
	bool control = d->controlling;

	if (stun_agent_validate(a, &req, buf, len, user_check_cb, d) != STUN_VALIDATION_SUCCESS) {
		/* Not ours, forged or malformed: no answer. */
		atomic_fetch_add_explicit(&s->w->m->stun_refused, 1, memory_order_relaxed);
		return;
	}
	if (!d->controlling && !d->lite &&
	    !sb__sockaddr_eq((const struct sockaddr *)from, (const struct sockaddr *)&d->peer) &&
	    stun_usage_ice_conncheck_use_candidate(&req)) {
		/* The browser nominates another pair (RFC 8445 section 8.1.1):
		 * libnice follows it, so it reads this socket again and answers
		 * the check's retransmission. */
		sb_debug("session %" PRIu64 ": another pair nominated", s->id);
		sb__nice_io_direct_leave(s);
		return;
	}
	stun_usage_ice_conncheck_create_reply(a, &req, &rsp, out, &n, from, fromlen, &control,
					      d->tie, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	if (n == 0)
		return;
	(void)sendto(d->fd, out, n, MSG_DONTWAIT, (const struct sockaddr *)from, fromlen);
	atomic_fetch_add_explicit(&s->w->m->stun_answered, 1, memory_order_relaxed);
}

/* An answer to our outstanding request, from the address it went to, with
 * MESSAGE-INTEGRITY by the browser's password, grants consent. */
static void take_answer(struct sb_msession *s, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from)
{
	struct sb_ice_direct *d = &s->dx;
	StunAgent *a = s->w->stun_rsp;
	StunAgentSavedIds *t = &a->sent_ids[0];
	StunValidationStatus v;
	StunMessage msg;

	if (!d->tid_out ||
	    !sb__sockaddr_eq((const struct sockaddr *)from, (const struct sockaddr *)&d->peer))
		return;
	/* The worker's agent holds no transaction between calls (a peer
	 * that never answers must not fill its table of 200): ours goes in
	 * for this check only. */
	memset(t, 0, sizeof(*t));
	memcpy(t->id, d->tid, sizeof(t->id));
	t->method = STUN_BINDING;
	t->key = (uint8_t *)d->rpwd;
	t->key_len = strlen(d->rpwd);
	t->valid = true;
	v = stun_agent_validate(a, &msg, buf, len, NULL, NULL);
	t->valid = false;
	if (v != STUN_VALIDATION_SUCCESS || stun_message_get_class(&msg) != STUN_RESPONSE)
		return;
	d->tid_out = false;
	d->consent_us = g_get_monotonic_time();
}

void sb__consent_input(struct sb_msession *s, const uint8_t *buf, size_t len,
		       const struct sockaddr_storage *from, socklen_t fromlen)
{
	StunMessage msg = {.buffer = (uint8_t *)buf, .buffer_len = len};

	/* A failed session answers nothing, so the browser's consent ends too. */
	if (s->failed || len < 20)
		return;
	switch (stun_message_get_class(&msg)) {
	case STUN_REQUEST:
		answer_check(s, buf, len, from, fromlen);
		break;
	case STUN_RESPONSE:
		take_answer(s, buf, len, from);
		break;
	default:
		break; /* indications (keepalives), error answers */
	}
}

static void check_send(struct sb_msession *s)
{
	struct sb_ice_direct *d = &s->dx;
	StunAgent *a = s->w->stun_rsp;
	uint8_t buf[STUN_MAX_MESSAGE_SIZE_IPV6];
	char user[2 * SB_ICE_CRED_MAX + 2];
	StunMessage msg;
	size_t n;

	/* RFC 8445 section 7.2.2: USERNAME "theirufrag:ourufrag", their
	 * password; no USE-CANDIDATE. */
	snprintf(user, sizeof(user), "%s:%s", d->rufrag, d->lufrag);
	n = stun_usage_ice_conncheck_create(a, &msg, buf, sizeof(buf), (const uint8_t *)user,
					    strlen(user), (const uint8_t *)d->rpwd, strlen(d->rpwd),
					    false, d->controlling, d->priority, d->tie, NULL,
					    STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	if (n == 0)
		return;
	stun_message_id(&msg, d->tid);
	stun_agent_forget_transaction(a, d->tid);
	/* A new request replaces one still unanswered (no retransmission:
	 * the next request comes within 6 s). */
	d->tid_out = true;
	(void)sendto(d->fd, buf, n, MSG_DONTWAIT, (const struct sockaddr *)&d->peer, d->peer_len);
}

void sb__consent_tick(struct sb_msession *s, int64_t now)
{
	struct sb_ice_direct *d = &s->dx;
	int64_t timeout_us = s->w->m->cfg->media.consent_timeout_ms * 1000;
	char why[96];

	if (s->failed)
		return;
	/* While an ICE restart runs our consent pauses (libnice reads the
	 * socket); a restart that selects no pair within the timeout ends
	 * the session as expired consent would. */
	if (d->rechecking && !d->wt && now - d->recheck_us >= timeout_us) {
		sb__msession_fail(s, -ETIMEDOUT,
				  "ICE restart: no pair selected within consent_timeout");
		return;
	}
	/* A lite agent sends no checks (RFC 8445 section 2.5); the full
	 * browser keeps consent and ends the path when it expires. */
	if (!d->wt || d->lite)
		return;
	if (now - d->consent_us >= timeout_us) {
		snprintf(why, sizeof(why),
			 "ICE consent expired: no answer to our checks for %" PRId64 " s",
			 (now - d->consent_us) / 1000000);
		sb__msession_fail(s, -ETIMEDOUT, why);
		return;
	}
	if (now >= d->next_check_us) {
		check_send(s);
		d->next_check_us = now + next_interval_us(s);
	}
}
