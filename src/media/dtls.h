/* DTLS-SRTP for WebRTC legs (RFC 5763, 5764). Media worker threads; the
 * context is shared read-only after creation.
 *
 * OpenSSL 3.0 has no datagram memory BIO, so each DTLS object reads from a
 * one-datagram inbox and writes whole datagrams to a send callback. Keys are
 * exported with "EXTRACTOR-dtls_srtp" and the peer's certificate is checked
 * against the fingerprint from its SDP before any key is handed out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_dtls_ctx;
struct sb_dtls;

enum sb_srtp_profile {
	SB_SRTP_NONE,
	SB_SRTP_AES128_CM_SHA1_80,
	SB_SRTP_AEAD_AES_128_GCM,
	_SB_SRTP_MAX,
	_SB_SRTP_INVALID = -22,
};

/* Keys for one direction: master key then salt, as libsrtp2 wants them. */
struct sb_srtp_keys {
	enum sb_srtp_profile profile;
	uint8_t local[32 + 14];	 /* ours: protects what we send */
	uint8_t remote[32 + 14]; /* theirs: unprotects what we receive */
	size_t len;		 /* bytes used in each */
};

typedef void (*sb_dtls_send_cb)(const uint8_t *data, size_t len, void *ud);

/* Makes the shared context with an ECDSA P-256 certificate made now (or
 * loaded from cert/key PEM files when both are non-empty). Returns NULL on
 * failure, with a reason in err. Any thread, once. */
struct sb_dtls_ctx *sb_dtls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
struct sb_dtls_ctx *sb_dtls_ctx_free(struct sb_dtls_ctx *ctx);
/* "sha-256 AB:CD:..." of our certificate. */
const char *sb_dtls_ctx_fingerprint(const struct sb_dtls_ctx *ctx);

/* A DTLS endpoint; client when active (we send the ClientHello). The peer
 * certificate must match remote_fp ("sha-256 AB:..", the SDP value). */
struct sb_dtls *sb_dtls_new(struct sb_dtls_ctx *ctx, bool active, const char *remote_fp,
			    sb_dtls_send_cb send, void *ud);
struct sb_dtls *sb_dtls_free(struct sb_dtls *d);
/* Starts the handshake (a client sends its ClientHello). */
int sb_dtls_start(struct sb_dtls *d);
/* Feeds one received datagram. Returns 1 when the handshake completed
 * with this datagram (keys ready), 0 when more is needed, or a negative
 * code: -EPROTO (handshake failed), -EACCES (fingerprint mismatch). */
int sb_dtls_input(struct sb_dtls *d, const uint8_t *data, size_t len);
/* After the handshake, a received datagram's application data (RFC 8261:
 * SCTP packets): app is called with each record's data, in order, during
 * the call. Returns 0, -EAGAIN (the handshake is not done), -EPIPE (the
 * peer closed DTLS) or -EPROTO. */
typedef void (*sb_dtls_app_cb)(const uint8_t *data, size_t len, void *ud);
int sb_dtls_recv(struct sb_dtls *d, const uint8_t *data, size_t len, sb_dtls_app_cb app, void *ud);
/* Before the handshake: the endpoint will carry application data (a data
 * channel), so it keeps its record buffers after the handshake. */
void sb_dtls_app_data(struct sb_dtls *d);
/* Sends data as one application data record (through the send callback).
 * Returns 0, -EAGAIN (the handshake is not done) or -EIO. */
int sb_dtls_send(struct sb_dtls *d, const uint8_t *data, size_t len);
/* Milliseconds until the retransmission timer fires (-1: none), and the
 * timer's work when it does. */
long sb_dtls_timeout_ms(struct sb_dtls *d);
int sb_dtls_on_timeout(struct sb_dtls *d);
bool sb_dtls_done(const struct sb_dtls *d);
/* The SRTP keys; only after the handshake. Returns 0 or -EAGAIN. */
int sb_dtls_keys(struct sb_dtls *d, struct sb_srtp_keys *ret);
/* Why the handshake failed, for logs. */
const char *sb_dtls_error(const struct sb_dtls *d);
