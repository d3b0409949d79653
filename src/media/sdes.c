/* RFC 4568 SDES-SRTP on RTP legs toward SIP: choosing one of the peer's
 * a=crypto lines and making our own key for the answer, or offering a key
 * per suite and taking the answer's line; then installing the libsrtp2
 * contexts of both directions (s->srtp_in, s->srtp_out). Worker thread, at
 * session start, on the answer to our offer and on re-offers (which must
 * keep the keys); the session owns the contexts. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "media/media_internal.h"

/* key || salt bytes of the suites we take (RFC 4568 section 6.2, RFC 7714
 * section 12: AES-GCM has a 96-bit salt). */
#define SDES_KEY_MAX 30

struct sdes_suite {
	const char *name;
	int key_len;
	void (*rtp)(srtp_crypto_policy_t *p);
	void (*rtcp)(srtp_crypto_policy_t *p);
};

/* In the order we offer them (RFC 4568 section 6.2: the mandatory
 * AES_CM_128_HMAC_SHA1_80 first). */
static const struct sdes_suite suites[SB_SDES_SUITES] = {
	{"AES_CM_128_HMAC_SHA1_80", 30, srtp_crypto_policy_set_rtp_default,
	 srtp_crypto_policy_set_rtcp_default},
	/* RFC 4568 section 6.2.2: SRTCP keeps the 80-bit tag. */
	{"AES_CM_128_HMAC_SHA1_32", 30, srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32,
	 srtp_crypto_policy_set_rtcp_default},
	{"AEAD_AES_128_GCM", 28, srtp_crypto_policy_set_aes_gcm_128_16_auth,
	 srtp_crypto_policy_set_aes_gcm_128_16_auth},
};

static const struct sdes_suite *suite_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].name, name) == 0)
			return &suites[i];
	return NULL;
}

static bool b64_valid(const char *p, size_t n)
{
	if (n == 0 || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/';

		if (!alpha && !(c == '=' && i + 2 >= n && (i + 1 == n || p[i + 1] == '=')))
			return false;
	}
	return true;
}

/* RFC 4568 section 9.2: "inline:<base64 key||salt>[|lifetime][|MKI:len]".
 * Takes a single key of exactly want bytes without MKI into out. */
static int key_decode(const char *kp, uint8_t *out, int want)
{
	const char *b64, *bar;
	char tmp[4 * ((SDES_KEY_MAX + 2) / 3) + 1];
	guchar *bin;
	gsize blen = 0;
	size_t n;

	if (!kp || strncmp(kp, "inline:", 7) != 0)
		return -EINVAL;
	b64 = kp + 7;
	if (strchr(b64, ';'))
		return -ENOTSUP; /* several keys (section 9.1) */
	bar = strchr(b64, '|');
	if (bar && strchr(bar, ':'))
		return -ENOTSUP; /* an MKI */
	n = bar ? (size_t)(bar - b64) : strlen(b64);
	if (n >= sizeof(tmp) || !b64_valid(b64, n))
		return -EINVAL;
	memcpy(tmp, b64, n);
	tmp[n] = '\0';
	bin = g_base64_decode(tmp, &blen);
	if (!bin || blen != (gsize)want) {
		if (bin)
			OPENSSL_cleanse(bin, blen);
		g_free(bin);
		return -EINVAL;
	}
	memcpy(out, bin, (size_t)want);
	OPENSSL_cleanse(bin, blen);
	g_free(bin);
	return 0;
}

static int context_make(srtp_t *ret, const struct sdes_suite *su, uint8_t *key, bool inbound)
{
	srtp_policy_t p;

	memset(&p, 0, sizeof(p));
	su->rtp(&p.rtp);
	su->rtcp(&p.rtcp);
	/* Replay protection stays on (window of 1024 packets). */
	p.window_size = 1024;
	p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	p.key = key;
	return srtp_create(ret, &p) == srtp_err_status_ok ? 0 : -EIO;
}

/* The first offered line of a suite we know with a usable key: the SDP
 * layer answers the first line of a suite, so later lines of the same suite
 * are not considered (RFC 4568 section 7.1.1 lets the answerer choose). */
static const struct sb_sdp_crypto *line_pick(const struct sb_sdp_media *a,
					     const struct sdes_suite **ret_su, uint8_t *key)
{
	for (int i = 0; i < a->n_crypto; i++) {
		const struct sb_sdp_crypto *c = &a->crypto[i];
		const struct sdes_suite *su = suite_find(c->suite);
		bool first = true;

		for (int j = 0; j < i && su; j++)
			if (strcmp(a->crypto[j].suite, c->suite) == 0)
				first = false;
		/* Session parameters (section 6.3) change what SRTP does
		 * (UNENCRYPTED_SRTP, KDR, ...): we take lines without. */
		if (!su || !first || (c->session_params && *c->session_params))
			continue;
		if (key_decode(c->key_params, key, su->key_len) == 0) {
			*ret_su = su;
			return c;
		}
	}
	return NULL;
}

/* "inline:<base64 of len fresh bytes>" into kp. */
static int key_make(const struct sdes_suite *su, char *kp, size_t kp_len)
{
	uint8_t key[SDES_KEY_MAX];
	gchar *b64;

	if (RAND_bytes(key, su->key_len) != 1)
		return -EIO;
	b64 = g_base64_encode(key, (gsize)su->key_len);
	snprintf(kp, kp_len, "inline:%s", b64);
	OPENSSL_cleanse(b64, strlen(b64));
	OPENSSL_cleanse(key, sizeof(key));
	g_free(b64);
	return 0;
}

/* Keys the leg with suite su: s->srtp_in with the peer's key theirs,
 * s->srtp_out with ours (the key params ours_kp), and records the line of
 * the exchange (tag, our key params in s->sdes_kp, the peer's in
 * s->sdes_peer_kp), so a re-offer or a later answer can be checked against
 * it. 0 or -EIO. */
static int keys_install(struct sb_msession *s, const struct sdes_suite *su, unsigned tag,
			uint8_t *theirs, const char *ours_kp, const char *peer_kp)
{
	uint8_t ours[SDES_KEY_MAX];
	int r = -EIO;

	if (key_decode(ours_kp, ours, su->key_len) < 0 ||
	    context_make(&s->srtp_in, su, theirs, true) < 0 ||
	    context_make(&s->srtp_out, su, ours, false) < 0)
		goto out;
	if (ours_kp != s->sdes_kp)
		snprintf(s->sdes_kp, sizeof(s->sdes_kp), "%s", ours_kp);
	snprintf(s->sdes_peer_kp, sizeof(s->sdes_peer_kp), "%s", peer_kp);
	s->sdes = (struct sb_sdp_crypto){.tag = tag, .suite = su->name, .key_params = s->sdes_kp};
	s->srtp_ready = true;
	r = 0;
out:
	OPENSSL_cleanse(ours, sizeof(ours));
	return r;
}

int sb__sdes_answer(struct sb_msession *s)
{
	uint8_t theirs[SDES_KEY_MAX];
	const struct sdes_suite *su = NULL;
	const struct sb_sdp_crypto *c;
	int r;

	if (!s->ra || s->ra->n_crypto == 0)
		return -ENOENT;
	if (!(c = line_pick(s->ra, &su, theirs)))
		return -ENOTSUP;
	r = key_make(su, s->sdes_kp, sizeof(s->sdes_kp));
	if (r == 0)
		r = keys_install(s, su, c->tag, theirs, s->sdes_kp, c->key_params);
	OPENSSL_cleanse(theirs, sizeof(theirs));
	return r;
}

static void offer_wipe(struct sb_msession *s)
{
	OPENSSL_cleanse(s->sdes_offer_kp, sizeof(s->sdes_offer_kp));
	memset(s->sdes_offer, 0, sizeof(s->sdes_offer));
	s->n_sdes_offer = 0;
}

int sb__sdes_offer(struct sb_msession *s)
{
	offer_wipe(s);
	for (int i = 0; i < SB_SDES_SUITES; i++) {
		if (key_make(&suites[i], s->sdes_offer_kp[i], sizeof(s->sdes_offer_kp[i])) < 0) {
			offer_wipe(s);
			return -EIO;
		}
		s->sdes_offer[i] = (struct sb_sdp_crypto){.tag = (unsigned)i + 1,
							  .suite = suites[i].name,
							  .key_params = s->sdes_offer_kp[i]};
	}
	s->n_sdes_offer = SB_SDES_SUITES;
	return 0;
}

/* Our offered line that the answer's line c answers: the same tag and the
 * same suite (RFC 4568 section 7.1.2). */
static int offered_index(const struct sb_msession *s, const struct sb_sdp_crypto *c)
{
	for (int i = 0; i < s->n_sdes_offer; i++)
		if (s->sdes_offer[i].tag == c->tag && c->suite &&
		    strcmp(s->sdes_offer[i].suite, c->suite) == 0)
			return i;
	return -1;
}

/* Installs the contexts for the answer's line c to our line i. */
static int answered_install(struct sb_msession *s, const struct sb_sdp_crypto *c, int i)
{
	uint8_t theirs[SDES_KEY_MAX];
	const struct sdes_suite *su = suite_find(c->suite);
	int r;

	if (!su || (c->session_params && *c->session_params) ||
	    key_decode(c->key_params, theirs, su->key_len) < 0)
		r = -ENOTSUP;
	else
		r = keys_install(s, su, c->tag, theirs, s->sdes_offer_kp[i], c->key_params);
	OPENSSL_cleanse(theirs, sizeof(theirs));
	return r;
}

/* A later answer to the same offer (a 200 after a 183 with SDP, RFC 3261
 * section 13.2.1 / RFC 3262 section 5): the first one keyed the leg or left
 * it plain, and the peer's keys cannot change without a new offer (RFC 4568
 * section 7.1.4). So the answer must carry the line installed (tag, suite
 * and key params), or no line when the leg is plain. */
static int answered_again(const struct sb_msession *s)
{
	const struct sb_sdp_media *m = s->ra;

	if (!s->sdes.suite)
		return m->n_crypto == 0 ? 0 : -ENOTSUP;
	for (int j = 0; j < m->n_crypto; j++) {
		const struct sb_sdp_crypto *c = &m->crypto[j];

		if (c->tag == s->sdes.tag && c->suite && strcmp(c->suite, s->sdes.suite) == 0 &&
		    c->key_params && strcmp(c->key_params, s->sdes_peer_kp) == 0 &&
		    !(c->session_params && *c->session_params))
			return 0;
	}
	return m->n_crypto == 0 ? -ENOENT : -ENOTSUP;
}

int sb__sdes_answered(struct sb_msession *s)
{
	int r = -ENOTSUP;

	if (s->srtp_mode == SB_ENGINE_SRTP_OFF || !s->ra)
		return 0;
	/* Our offer's lines are wiped once an answer took one (or none). */
	if (s->n_sdes_offer == 0)
		return answered_again(s);
	if (s->ra->n_crypto == 0) {
		/* No SDES in the answer: plain RTP when our offer was
		 * RTP/AVP (best effort), a failure when it was RTP/SAVP. */
		r = s->srtp_mode == SB_ENGINE_SRTP_SDES ? -ENOENT : 0;
		offer_wipe(s);
		return r;
	}
	/* RFC 4568 section 7.1.2: the answer has the one line it accepted. */
	for (int j = 0; j < s->ra->n_crypto && r == -ENOTSUP; j++) {
		int i = offered_index(s, &s->ra->crypto[j]);

		if (i >= 0)
			r = answered_install(s, &s->ra->crypto[j], i);
	}
	offer_wipe(s);
	return r;
}

int sb__sdes_reoffer(const struct sb_msession *s, const struct sb_sdp_media *m)
{
	if (!s->sdes.suite)
		return m->n_crypto == 0 && !(m->proto && strstr(m->proto, "SAVP")) ? 0 : -ENOTSUP;
	/* The first line of our suite, as the answer takes its tag (the SDP
	 * layer answers that one). Re-keying would need new contexts. */
	for (int i = 0; i < m->n_crypto; i++) {
		const struct sb_sdp_crypto *c = &m->crypto[i];
		bool same;

		if (strcmp(c->suite, s->sdes.suite) != 0)
			continue;
		same = c->key_params && strcmp(c->key_params, s->sdes_peer_kp) == 0 &&
		       !(c->session_params && *c->session_params);
		return same ? 0 : -ENOTSUP;
	}
	return -ENOTSUP;
}

void sb__sdes_free(struct sb_msession *s)
{
	OPENSSL_cleanse(s->sdes_kp, sizeof(s->sdes_kp));
	OPENSSL_cleanse(s->sdes_peer_kp, sizeof(s->sdes_peer_kp));
	s->sdes = (struct sb_sdp_crypto){0};
	offer_wipe(s);
}
