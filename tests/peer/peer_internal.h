/* Internals of sb-peer shared by peer.c (ICE, SDP, lifecycle), peer_dtls.c
 * (DTLS-SRTP) and peer_media.c (the audio stream and its checks). All on
 * the thread of the peer's GMainContext. */
#pragma once

#include <agent.h>
#include <openssl/ssl.h>
#include <srtp2/srtp.h>

#include "peer.h"

#define SB_PEER_MAX_PKT	    1500
#define SB_PEER_MARKER_LEN  20 /* "SBP1", tag, sequence, send time */
#define SB_PEER_OPUS_FRAMES 50 /* one second of pre-encoded tone, looped */
#define SB_PEER_OPUS_MAX    400
#define SB_PEER_PCMU_LEN    160
#define SB_PEER_MAX_CANDS   16
#define SB_PEER_FP_LEN	    128

struct sb__peer_remote {
	char ufrag[64];
	char pwd[160];
	char fingerprint[SB_PEER_FP_LEN]; /* "sha-256 AB:..." */
	char setup[16];
	char candidates[SB_PEER_MAX_CANDS][256]; /* "a=candidate:..." */
	int n_candidates;
	int pt; /* their payload type for our codec, -1: none */
	/* The offer's sections after the audio one (a data channel, say),
	 * which our answer rejects (port 0, RFC 3264 section 6): each its
	 * "media proto format" and its mid. */
	char others[4][128];
	char other_mids[4][32];
	int n_others;
};

struct sb_peer {
	GMainContext *ctx;
	struct sb_peer_opts o;
	NiceAgent *agent;
	guint stream;
	bool gathered, remote_set, ice_ready, failed, finished, sending;
	char *local_sdp;
	struct sb__peer_remote remote;
	int pt; /* the payload type we send */
	uint32_t ssrc, tag;
	GSource *deadline_src;
	/* SB_PEER_FAULT_NO_STUN: the agent's sockets moved to a context
	 * nobody runs, and our own read of the selected socket */
	GMainContext *mute_ctx;
	GSource *mute_src;

	/* DTLS (peer_dtls.c) */
	SSL_CTX *ssl_ctx;
	BIO_METHOD *bio_method;
	SSL *ssl;
	char fingerprint[SB_PEER_FP_LEN]; /* ours */
	bool dtls_client, dtls_started;
	const uint8_t *dtls_in; /* the datagram being read, or NULL */
	size_t dtls_in_len;
	GSource *dtls_timer;

	/* SRTP */
	srtp_t srtp_in, srtp_out;
	bool srtp_ready;

	/* the audio stream (peer_media.c) */
	GSource *send_src;
	gint64 start_us;
	uint16_t rtp_seq;
	unsigned max_packets;
	uint8_t *seen;	/* echoes received per packet, max_packets */
	float *latency; /* ms, one per distinct echo */
	gint64 last_transit;
	bool have_transit;
	/* the RTP header of the last packet received, for continuity */
	bool rx_have;
	uint16_t rx_seq;
	uint32_t rx_ts, rx_ssrc;
	uint8_t pcmu[SB_PEER_PCMU_LEN - SB_PEER_MARKER_LEN];
	uint8_t opus[SB_PEER_OPUS_FRAMES][SB_PEER_OPUS_MAX];
	size_t opus_len[SB_PEER_OPUS_FRAMES]; /* including 20 bytes of padding */
	struct sb_peer_stats st;
};

/* peer.c */
void sb__peer_fail(struct sb_peer *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Sends one datagram on the ICE component. */
void sb__peer_send(struct sb_peer *p, const uint8_t *data, size_t len);
/* SB_PEER_FAULT_NO_STUN: from now on libnice reads nothing; we read the
 * selected socket and drop STUN (RFC 7983: first byte 0-3). */
void sb__peer_stun_mute(struct sb_peer *p);
/* Runs fn at monotonic time at_us on the peer's context. */
GSource *sb__peer_timer_at(struct sb_peer *p, gint64 at_us, GSourceFunc fn);
GSource *sb__peer_timer_drop(GSource *src);

/* peer_dtls.c */
int sb__peer_dtls_init(struct sb_peer *p);
/* Creates the SSL object once the role is known (client: starts when ICE
 * is ready, by sb__peer_dtls_start). */
int sb__peer_dtls_prepare(struct sb_peer *p);
void sb__peer_dtls_start(struct sb_peer *p);
void sb__peer_dtls_input(struct sb_peer *p, const uint8_t *data, size_t len);
void sb__peer_dtls_free(struct sb_peer *p);

/* peer_media.c */
int sb__peer_media_init(struct sb_peer *p);
void sb__peer_media_start(struct sb_peer *p);
void sb__peer_media_input(struct sb_peer *p, uint8_t *buf, int len);
void sb__peer_media_free(struct sb_peer *p);
