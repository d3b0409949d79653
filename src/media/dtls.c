/* DTLS-SRTP on OpenSSL 3.0 with a datagram-keeping BIO. Media workers; the
 * shared SSL_CTX is read-only after sb_dtls_ctx_new. Owns the SSL objects and
 * the certificate. */
#include "media/dtls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DTLS_MTU 1200

struct sb_dtls_ctx {
	SSL_CTX *ssl;
	BIO_METHOD *bio_method;
	char fingerprint[128];
};

struct sb_dtls {
	SSL *ssl;
	BIO *bio;
	sb_dtls_send_cb send;
	void *ud;
	const uint8_t *in; /* the datagram being read, or NULL */
	size_t in_len;
	char remote_fp[128];
	char error[128];
	bool done;
	bool failed;
	bool app; /* carries application data: buffers kept */
};

/* ---- the datagram BIO: one read returns one whole datagram ---- */

static int bio_write_cb(BIO *b, const char *data, int len)
{
	struct sb_dtls *d = BIO_get_data(b);

	if (len > 0)
		d->send((const uint8_t *)data, (size_t)len, d->ud);
	return len;
}

static int bio_read_cb(BIO *b, char *out, int len)
{
	struct sb_dtls *d = BIO_get_data(b);
	int n;

	BIO_clear_retry_flags(b);
	if (!d->in) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = (int)d->in_len < len ? (int)d->in_len : len;
	memcpy(out, d->in, (size_t)n);
	d->in = NULL;
	return n;
}

static long bio_ctrl_cb(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_DGRAM_QUERY_MTU:
	case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
		return DTLS_MTU;
	case BIO_CTRL_WPENDING:
	case BIO_CTRL_PENDING:
		return 0;
	default:
		return 0;
	}
}

static int bio_create_cb(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ---- the shared context ---- */

static int accept_any_cb(int ok, X509_STORE_CTX *store)
{
	/* Self-signed certificates are the rule in WebRTC: trust comes from
	 * the fingerprint in the signalled SDP, checked after the handshake
	 * (RFC 8122 section 5). */
	return 1;
}

static int fingerprint_of(X509 *cert, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t off;

	if (!X509_digest(cert, EVP_sha256(), md, &n))
		return -EIO;
	off = (size_t)snprintf(out, outlen, "sha-256 ");
	for (unsigned int i = 0; i < n && off + 3 < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, i ? ":%02X" : "%02X", md[i]);
	return 0;
}

static X509 *make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[8];
	BIGNUM *bn;

	if (!x)
		return NULL;
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	X509_set_version(x, 2);
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"switchboard",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int load_or_make(SSL_CTX *ssl, const char *cert, const char *key, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	X509 *x;
	int ok;

	if (cert && *cert && key && *key) {
		if (SSL_CTX_use_certificate_file(ssl, cert, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
			snprintf(err, errlen, "cannot load DTLS certificate %s / key %s", cert,
				 key);
			return -EINVAL;
		}
		return 0;
	}
	pkey = EVP_EC_gen("P-256");
	x = pkey ? make_cert(pkey) : NULL;
	ok = x && SSL_CTX_use_certificate(ssl, x) == 1 && SSL_CTX_use_PrivateKey(ssl, pkey) == 1;
	X509_free(x);
	EVP_PKEY_free(pkey);
	if (!ok) {
		snprintf(err, errlen, "cannot make an ECDSA P-256 certificate");
		return -EIO;
	}
	return 0;
}

struct sb_dtls_ctx *sb_dtls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
	struct sb_dtls_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ssl = SSL_CTX_new(DTLS_method());
	c->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "sb-dgram");
	if (!c->ssl || !c->bio_method)
		goto fail;
	BIO_meth_set_write(c->bio_method, bio_write_cb);
	BIO_meth_set_read(c->bio_method, bio_read_cb);
	BIO_meth_set_ctrl(c->bio_method, bio_ctrl_cb);
	BIO_meth_set_create(c->bio_method, bio_create_cb);
	/* DTLS 1.2 only: DTLS 1.0 peers are refused (RFC 8827 section 6.5). */
	SSL_CTX_set_min_proto_version(c->ssl, DTLS1_2_VERSION);
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   accept_any_cb);
	SSL_CTX_set_read_ahead(c->ssl, 1);
	/* Returns 0 on success (sic). */
	if (SSL_CTX_set_tlsext_use_srtp(c->ssl, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80")) {
		snprintf(err, errlen, "OpenSSL refused the DTLS-SRTP profiles");
		goto fail;
	}
	if (load_or_make(c->ssl, cert, key, err, errlen) < 0)
		goto fail;
	if (fingerprint_of(SSL_CTX_get0_certificate(c->ssl), c->fingerprint,
			   sizeof(c->fingerprint)) < 0)
		goto fail;
	return c;
fail:
	if (err && !*err)
		snprintf(err, errlen, "OpenSSL DTLS context: %s",
			 ERR_error_string(ERR_get_error(), NULL));
	return sb_dtls_ctx_free(c);
}

struct sb_dtls_ctx *sb_dtls_ctx_free(struct sb_dtls_ctx *c)
{
	if (!c)
		return NULL;
	SSL_CTX_free(c->ssl);
	if (c->bio_method)
		BIO_meth_free(c->bio_method);
	free(c);
	return NULL;
}

const char *sb_dtls_ctx_fingerprint(const struct sb_dtls_ctx *c)
{
	return c->fingerprint;
}

/* ---- one endpoint ---- */

struct sb_dtls *sb_dtls_new(struct sb_dtls_ctx *ctx, bool active, const char *remote_fp,
			    sb_dtls_send_cb send, void *ud)
{
	struct sb_dtls *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->send = send;
	d->ud = ud;
	snprintf(d->remote_fp, sizeof(d->remote_fp), "%s", remote_fp ? remote_fp : "");
	d->ssl = SSL_new(ctx->ssl);
	d->bio = BIO_new(ctx->bio_method);
	if (!d->ssl || !d->bio)
		return sb_dtls_free(d);
	BIO_set_data(d->bio, d);
	SSL_set_bio(d->ssl, d->bio, d->bio); /* the SSL owns the BIO now */
	SSL_set_mtu(d->ssl, DTLS_MTU);
	DTLS_set_link_mtu(d->ssl, DTLS_MTU);
	if (active)
		SSL_set_connect_state(d->ssl);
	else
		SSL_set_accept_state(d->ssl);
	return d;
}

struct sb_dtls *sb_dtls_free(struct sb_dtls *d)
{
	if (!d)
		return NULL;
	if (d->ssl)
		SSL_free(d->ssl);
	else if (d->bio)
		BIO_free(d->bio);
	free(d);
	return NULL;
}

static int fail(struct sb_dtls *d, int code, const char *why)
{
	unsigned long e = ERR_get_error();

	d->failed = true;
	snprintf(d->error, sizeof(d->error), "%s%s%s", why, e ? ": " : "",
		 e ? ERR_reason_error_string(e) : "");
	ERR_clear_error();
	return code;
}

/* Compares the peer's certificate with the SDP fingerprint. Hash names are
 * case-insensitive (RFC 8122 section 5). */
static int check_fingerprint(struct sb_dtls *d)
{
	X509 *peer = SSL_get1_peer_certificate(d->ssl);
	char got[128];
	int r;

	if (!peer)
		return fail(d, -EACCES, "the peer sent no certificate");
	r = fingerprint_of(peer, got, sizeof(got));
	X509_free(peer);
	if (r < 0 || strcasecmp(got, d->remote_fp) != 0)
		return fail(d, -EACCES, "the peer's certificate does not match its fingerprint");
	return 0;
}

static int step(struct sb_dtls *d)
{
	int r;

	if (d->done || d->failed)
		return d->failed ? -EPROTO : 0;
	r = SSL_do_handshake(d->ssl);
	if (r == 1) {
		if (check_fingerprint(d) < 0)
			return -EACCES;
		if (!SSL_get_selected_srtp_profile(d->ssl))
			return fail(d, -EPROTO, "no DTLS-SRTP profile in common");
		d->done = true;
		/* Without application data after the handshake the buffers
		 * (about 34 KiB) are not needed again. */
		if (!d->app)
			SSL_free_buffers(d->ssl);
		return 1;
	}
	switch (SSL_get_error(d->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		return fail(d, -EPROTO, "DTLS handshake failed");
	}
}

int sb_dtls_start(struct sb_dtls *d)
{
	int r = step(d);

	return r < 0 ? r : 0;
}

int sb_dtls_input(struct sb_dtls *d, const uint8_t *data, size_t len)
{
	int r;

	if (d->failed)
		return -EPROTO;
	d->in = data;
	d->in_len = len;
	if (!d->done) {
		r = step(d);
	} else {
		/* After the handshake: alerts or retransmitted Finished. */
		char sink[256];
		r = SSL_read(d->ssl, sink, sizeof(sink)) > 0 ? 0 : 0;
		if (SSL_get_shutdown(d->ssl) & SSL_RECEIVED_SHUTDOWN)
			r = fail(d, -EPIPE, "the peer closed DTLS");
	}
	d->in = NULL;
	return r;
}

int sb_dtls_recv(struct sb_dtls *d, const uint8_t *data, size_t len, sb_dtls_app_cb app, void *ud)
{
	/* The largest record is 16 KiB (RFC 6347 section 4.1). */
	uint8_t buf[16384];
	int n, r = 0;

	if (d->failed)
		return -EPROTO;
	if (!d->done)
		return -EAGAIN;
	d->in = data;
	d->in_len = len;
	/* One datagram may carry several records (read ahead keeps them). */
	while ((n = SSL_read(d->ssl, buf, sizeof(buf))) > 0)
		app(buf, (size_t)n, ud);
	if (SSL_get_shutdown(d->ssl) & SSL_RECEIVED_SHUTDOWN)
		r = fail(d, -EPIPE, "the peer closed DTLS");
	else if (SSL_get_error(d->ssl, n) == SSL_ERROR_SSL)
		r = fail(d, -EPROTO, "DTLS record layer failed");
	ERR_clear_error();
	d->in = NULL;
	return r;
}

void sb_dtls_app_data(struct sb_dtls *d)
{
	d->app = true;
}

int sb_dtls_send(struct sb_dtls *d, const uint8_t *data, size_t len)
{
	if (!d->done || d->failed)
		return -EAGAIN;
	if (len == 0 || len > INT_MAX || SSL_write(d->ssl, data, (int)len) != (int)len) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

long sb_dtls_timeout_ms(struct sb_dtls *d)
{
	struct timeval tv;

	if (d->done || d->failed || DTLSv1_get_timeout(d->ssl, &tv) != 1)
		return -1;
	return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int sb_dtls_on_timeout(struct sb_dtls *d)
{
	if (d->done || d->failed)
		return 0;
	if (DTLSv1_handle_timeout(d->ssl) < 0)
		return fail(d, -ETIMEDOUT, "DTLS handshake timed out");
	return 0;
}

bool sb_dtls_done(const struct sb_dtls *d)
{
	return d->done;
}

const char *sb_dtls_error(const struct sb_dtls *d)
{
	return d->error;
}

int sb_dtls_keys(struct sb_dtls *d, struct sb_srtp_keys *ret)
{
	const SRTP_PROTECTION_PROFILE *p;
	uint8_t km[2 * (32 + 14)];
	size_t klen, slen;
	const uint8_t *ck, *sk, *cs, *ss;
	bool client;

	if (!d->done)
		return -EAGAIN;
	p = SSL_get_selected_srtp_profile(d->ssl);
	if (p->id == SRTP_AEAD_AES_128_GCM) {
		ret->profile = SB_SRTP_AEAD_AES_128_GCM;
		klen = 16;
		slen = 12;
	} else if (p->id == SRTP_AES128_CM_SHA1_80) {
		ret->profile = SB_SRTP_AES128_CM_SHA1_80;
		klen = 16;
		slen = 14;
	} else {
		return -EPROTO;
	}
	if (SSL_export_keying_material(d->ssl, km, 2 * (klen + slen), "EXTRACTOR-dtls_srtp", 19,
				       NULL, 0, 0) != 1)
		return -EIO;
	/* RFC 5764 section 4.2: client key, server key, client salt, server salt. */
	ck = km;
	sk = km + klen;
	cs = km + 2 * klen;
	ss = km + 2 * klen + slen;
	client = !SSL_is_server(d->ssl);
	memcpy(ret->local, client ? ck : sk, klen);
	memcpy(ret->local + klen, client ? cs : ss, slen);
	memcpy(ret->remote, client ? sk : ck, klen);
	memcpy(ret->remote + klen, client ? ss : cs, slen);
	ret->len = klen + slen;
	OPENSSL_cleanse(km, sizeof(km));
	return 0;
}
