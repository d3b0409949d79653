/* sb-peer's DTLS-SRTP: an ECDSA P-256 self-signed certificate, a BIO that
 * keeps datagram boundaries over the ICE component, the handshake (client
 * or server, DTLS 1.2, or 1.0 at most as a fault), the check of the remote
 * certificate against its SDP fingerprint (RFC 8122 section 5) and the SRTP
 * sessions keyed from the exporter (RFC 5764 section 4.2). Peer context
 * thread; owns the SSL_CTX, the SSL object and the SRTP sessions. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "peer_internal.h"

#define DTLS_MTU 1200

/* ---- the BIO: each write is one datagram, each read one received datagram ---- */

static int bio_write(BIO *b, const char *data, int len)
{
	struct sb_peer *p = BIO_get_data(b);

	if (len > 0)
		sb__peer_send(p, (const uint8_t *)data, (size_t)len);
	return len;
}

static int bio_read(BIO *b, char *out, int cap)
{
	struct sb_peer *p = BIO_get_data(b);
	size_t n;

	BIO_clear_retry_flags(b);
	if (!p->dtls_in) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = p->dtls_in_len < (size_t)cap ? p->dtls_in_len : (size_t)cap;
	memcpy(out, p->dtls_in, n);
	p->dtls_in = NULL;
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	if (cmd == BIO_CTRL_FLUSH)
		return 1;
	if (cmd == BIO_CTRL_DGRAM_QUERY_MTU || cmd == BIO_CTRL_DGRAM_GET_FALLBACK_MTU)
		return DTLS_MTU;
	return 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ---- certificate and context ---- */

static int digest_of(X509 *x, char *out, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	GString *s;

	if (!X509_digest(x, EVP_sha256(), md, &n))
		return -EIO;
	s = g_string_new("sha-256 ");
	for (unsigned int i = 0; i < n; i++)
		g_string_append_printf(s, i ? ":%02X" : "%02X", md[i]);
	snprintf(out, cap, "%s", s->str);
	g_string_free(s, TRUE);
	return 0;
}

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	unsigned char serial[8];
	BIGNUM *bn;
	X509_NAME *name;

	if (!x)
		return NULL;
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sb-peer", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int verify_any(int ok, X509_STORE_CTX *store)
{
	/* Self-signed: trust comes from the SDP fingerprint, checked after the
	 * handshake. */
	return 1;
}

static const char *profiles_of(enum sb_peer_srtp s)
{
	if (s == SB_PEER_SRTP_GCM)
		return "SRTP_AEAD_AES_128_GCM";
	if (s == SB_PEER_SRTP_CM)
		return "SRTP_AES128_CM_SHA1_80";
	return "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
}

int sb__peer_dtls_init(struct sb_peer *p)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = key ? self_signed(key) : NULL;
	int r = -EIO;

	p->ssl_ctx = SSL_CTX_new(DTLS_method());
	p->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "sb-peer-dgram");
	if (!x || !p->ssl_ctx || !p->bio_method)
		goto out;
	BIO_meth_set_write(p->bio_method, bio_write);
	BIO_meth_set_read(p->bio_method, bio_read);
	BIO_meth_set_ctrl(p->bio_method, bio_ctrl);
	BIO_meth_set_create(p->bio_method, bio_create);
	if (p->o.fault == SB_PEER_FAULT_DTLS10) {
		/* An old peer: DTLS 1.0 and the security level that still
		 * allows it, so the refusal is the other side's. */
		SSL_CTX_set_min_proto_version(p->ssl_ctx, DTLS1_VERSION);
		SSL_CTX_set_max_proto_version(p->ssl_ctx, DTLS1_VERSION);
		SSL_CTX_set_cipher_list(p->ssl_ctx, "DEFAULT:@SECLEVEL=0");
	} else {
		SSL_CTX_set_min_proto_version(p->ssl_ctx, DTLS1_2_VERSION);
	}
	SSL_CTX_set_options(p->ssl_ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(p->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   verify_any);
	SSL_CTX_set_read_ahead(p->ssl_ctx, 1);
	/* Returns 0 on success. */
	if (SSL_CTX_set_tlsext_use_srtp(p->ssl_ctx, profiles_of(p->o.srtp)) != 0)
		goto out;
	if (SSL_CTX_use_certificate(p->ssl_ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(p->ssl_ctx, key) != 1)
		goto out;
	r = digest_of(x, p->fingerprint, sizeof(p->fingerprint));
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

int sb__peer_dtls_prepare(struct sb_peer *p)
{
	BIO *bio;

	p->ssl = SSL_new(p->ssl_ctx);
	bio = BIO_new(p->bio_method);
	if (!p->ssl || !bio) {
		BIO_free(bio);
		sb__peer_fail(p, "out of memory for DTLS");
		return -ENOMEM;
	}
	BIO_set_data(bio, p);
	SSL_set_bio(p->ssl, bio, bio);
	SSL_set_mtu(p->ssl, DTLS_MTU);
	DTLS_set_link_mtu(p->ssl, DTLS_MTU);
	if (p->dtls_client)
		SSL_set_connect_state(p->ssl);
	else
		SSL_set_accept_state(p->ssl);
	return 0;
}

/* ---- SRTP ---- */

static int srtp_start(struct sb_peer *p)
{
	const SRTP_PROTECTION_PROFILE *prof = SSL_get_selected_srtp_profile(p->ssl);
	uint8_t km[2 * (16 + 14)], local[16 + 14], remote[16 + 14];
	size_t kl = 16, sl;
	srtp_policy_t pol;
	bool gcm;

	if (!prof)
		return -EPROTO;
	gcm = prof->id == SRTP_AEAD_AES_128_GCM;
	sl = gcm ? 12 : 14;
	snprintf(p->st.srtp_profile, sizeof(p->st.srtp_profile), "%s",
		 gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80");
	if (SSL_export_keying_material(p->ssl, km, 2 * (kl + sl), "EXTRACTOR-dtls_srtp", 19, NULL,
				       0, 0) != 1)
		return -EIO;
	/* client key | server key | client salt | server salt */
	memcpy(local, km + (p->dtls_client ? 0 : kl), kl);
	memcpy(local + kl, km + 2 * kl + (p->dtls_client ? 0 : sl), sl);
	memcpy(remote, km + (p->dtls_client ? kl : 0), kl);
	memcpy(remote + kl, km + 2 * kl + (p->dtls_client ? sl : 0), sl);
	memset(&pol, 0, sizeof(pol));
	if (gcm) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
	} else {
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	}
	pol.window_size = 1024;
	pol.ssrc.type = ssrc_any_outbound;
	pol.key = local;
	if (srtp_create(&p->srtp_out, &pol) != srtp_err_status_ok)
		return -EIO;
	pol.ssrc.type = ssrc_any_inbound;
	pol.key = remote;
	if (srtp_create(&p->srtp_in, &pol) != srtp_err_status_ok)
		return -EIO;
	OPENSSL_cleanse(km, sizeof(km));
	OPENSSL_cleanse(local, sizeof(local));
	OPENSSL_cleanse(remote, sizeof(remote));
	p->srtp_ready = true;
	return 0;
}

/* ---- the handshake ---- */

static gboolean dtls_timer_cb(gpointer ud);

static void timer_arm(struct sb_peer *p)
{
	struct timeval tv;

	p->dtls_timer = sb__peer_timer_drop(p->dtls_timer);
	if (p->st.dtls_done || p->failed || DTLSv1_get_timeout(p->ssl, &tv) != 1)
		return;
	p->dtls_timer = sb__peer_timer_at(
		p, g_get_monotonic_time() + tv.tv_sec * 1000000LL + tv.tv_usec, dtls_timer_cb);
}

static gboolean dtls_timer_cb(gpointer ud)
{
	struct sb_peer *p = ud;

	g_source_unref(p->dtls_timer);
	p->dtls_timer = NULL;
	if (DTLSv1_handle_timeout(p->ssl) < 0)
		sb__peer_fail(p, "DTLS handshake timed out");
	else
		timer_arm(p);
	return G_SOURCE_REMOVE;
}

static void handshake_done(struct sb_peer *p)
{
	X509 *peer = SSL_get1_peer_certificate(p->ssl);
	char got[SB_PEER_FP_LEN] = "";

	if (peer)
		digest_of(peer, got, sizeof(got));
	X509_free(peer);
	/* Hash names are case-insensitive (RFC 8122 section 5). */
	if (!got[0] || strcasecmp(got, p->remote.fingerprint) != 0) {
		sb__peer_fail(p, "the remote certificate does not match its SDP fingerprint");
		return;
	}
	if (srtp_start(p) < 0) {
		sb__peer_fail(p, "no SRTP keys from DTLS");
		return;
	}
	p->st.dtls_done = true;
	SSL_free_buffers(p->ssl);
	if (p->o.fault == SB_PEER_FAULT_NO_STUN)
		sb__peer_stun_mute(p);
	sb__peer_media_start(p);
}

static void step(struct sb_peer *p)
{
	int r = SSL_do_handshake(p->ssl);
	int e;

	if (r == 1) {
		handshake_done(p);
		return;
	}
	e = SSL_get_error(p->ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		unsigned long code = ERR_get_error();

		sb__peer_fail(p, "DTLS handshake failed%s%s", code ? ": " : "",
			      code ? ERR_reason_error_string(code) : "");
		ERR_clear_error();
		return;
	}
	timer_arm(p);
}

void sb__peer_dtls_start(struct sb_peer *p)
{
	if (!p->ssl || p->dtls_started || !p->dtls_client)
		return;
	p->dtls_started = true;
	step(p);
}

void sb__peer_dtls_input(struct sb_peer *p, const uint8_t *data, size_t len)
{
	p->dtls_in = data;
	p->dtls_in_len = len;
	if (!p->st.dtls_done) {
		p->dtls_started = true;
		step(p);
	} else {
		/* Retransmitted Finished or an alert after the handshake. */
		char sink[256];

		if (SSL_read(p->ssl, sink, sizeof(sink)) <= 0 &&
		    (SSL_get_shutdown(p->ssl) & SSL_RECEIVED_SHUTDOWN))
			sb__peer_fail(p, "the remote side closed DTLS");
		ERR_clear_error();
	}
	p->dtls_in = NULL;
}

void sb__peer_dtls_free(struct sb_peer *p)
{
	p->dtls_timer = sb__peer_timer_drop(p->dtls_timer);
	if (p->ssl)
		SSL_free(p->ssl); /* and its BIO */
	SSL_CTX_free(p->ssl_ctx);
	if (p->bio_method)
		BIO_meth_free(p->bio_method);
	if (p->srtp_in)
		srtp_dealloc(p->srtp_in);
	if (p->srtp_out)
		srtp_dealloc(p->srtp_out);
}
