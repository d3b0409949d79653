/* sb-peer: the project's headless WebRTC peer, for integration and load
 * tests of the gateway. One audio m-line, BUNDLE, rtcp-mux, ICE (libnice),
 * DTLS 1.2 with an ECDSA P-256 self-signed certificate (OpenSSL), SRTP
 * (libsrtp2), a deterministic 20 ms audio stream whose echo is checked by
 * content, and faults for refusal tests.
 *
 * Threads: every function is called on the thread that iterates the
 * GMainContext given to sb_peer_new; the peer's timers and sockets live
 * there. Signaling is the caller's: it carries the SDP text both ways. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct sb_peer;

enum sb_peer_codec {
	SB_PEER_PCMU, /* PT 0, 8 kHz, 160-byte payloads */
	SB_PEER_OPUS, /* PT 111, 48 kHz, a real Opus frame carrying the marker */
	_SB_PEER_CODEC_MAX,
	_SB_PEER_CODEC_INVALID = -22,
};

enum sb_peer_fault {
	SB_PEER_FAULT_NONE,
	SB_PEER_FAULT_WRONG_FINGERPRINT, /* our SDP names a certificate we do not have */
	SB_PEER_FAULT_NO_FINGERPRINT,	 /* our SDP has no a=fingerprint */
	SB_PEER_FAULT_DTLS10,		 /* we speak DTLS 1.0 at most */
	SB_PEER_FAULT_PLAIN,		 /* no DTLS: plain RTP once ICE connects */
	SB_PEER_FAULT_TAMPER,		 /* SRTP with a flipped authentication tag */
	SB_PEER_FAULT_REPLAY,		 /* every SRTP packet sent twice */
	/* once DTLS is done, STUN sent to us is dropped unanswered (no
	 * consent for the other side; our keepalives go on) */
	SB_PEER_FAULT_NO_STUN,
	_SB_PEER_FAULT_MAX,
	_SB_PEER_FAULT_INVALID = -22,
};

enum sb_peer_srtp {
	SB_PEER_SRTP_ANY, /* AEAD_AES_128_GCM, then AES_CM_128_HMAC_SHA1_80 */
	SB_PEER_SRTP_GCM, /* AEAD_AES_128_GCM only */
	SB_PEER_SRTP_CM,  /* AES_CM_128_HMAC_SHA1_80 only */
	_SB_PEER_SRTP_MAX,
	_SB_PEER_SRTP_INVALID = -22,
};

struct sb_peer_opts {
	bool offer; /* we offer (ICE controlling); else we answer (controlled) */
	enum sb_peer_codec codec;
	enum sb_peer_fault fault;
	enum sb_peer_srtp srtp;
	int send_ms;	     /* how long to send audio once connected */
	int grace_ms;	     /* how long to wait for the last echoes after sending */
	int connect_ms;	     /* give up when not connected by then */
	const char *address; /* local address to gather on; NULL: 127.0.0.1 */
	unsigned index;	     /* this peer's number in a load test, for reports */
};

/* Counters and figures of one run. Latencies and jitter in milliseconds. */
struct sb_peer_stats {
	bool ice_connected, dtls_done;
	char srtp_profile[32];	/* "AEAD_AES_128_GCM", ... or "" */
	char error[160];	/* why the run failed, or "" */
	unsigned sent;		/* audio packets sent (a replay counts once) */
	unsigned received;	/* distinct echoes of our packets, content intact */
	unsigned lost;		/* sent - received */
	unsigned duplicates;	/* echoes of a packet already received */
	unsigned corrupt;	/* packets that are not an intact echo of ours */
	unsigned undecryptable; /* SRTP that failed to unprotect */
	/* RTP continuity of what comes back, packet after packet in arrival
	 * order (a relay must keep one stream across changes of its source): */
	unsigned seq_gaps;     /* sequence number not the last one's + 1 */
	unsigned ts_jumps;     /* the next sequence number, but not one frame later */
	unsigned ssrc_changes; /* another SSRC than the last packet's */
	unsigned rtcp_in;
	double latency_p50, latency_p99, jitter;
};

/* Makes a peer (certificate, ICE agent) on ctx and starts gathering.
 * NULL when out of memory or when OpenSSL or libnice refuse to start. */
struct sb_peer *sb_peer_new(GMainContext *ctx, const struct sb_peer_opts *opts);
/* Closes and frees. Accepts NULL; returns NULL. */
struct sb_peer *sb_peer_free(struct sb_peer *p);

/* Our SDP (the offer, or the answer once the remote offer is set) when
 * gathering is done; NULL before. The text stays owned by the peer. */
const char *sb_peer_local_sdp(struct sb_peer *p);
/* The other side's SDP (its answer, or the offer we answer). Returns 0,
 * -EBADMSG (no audio section, no ICE credentials, our codec missing),
 * -EALREADY when already set. On error the peer is failed. */
int sb_peer_remote_sdp_set(struct sb_peer *p, const char *sdp);

/* True when the run is over: sent for send_ms and waited grace_ms, or
 * failed (ICE, DTLS, fingerprint, connect timeout). */
bool sb_peer_finished(const struct sb_peer *p);
/* The figures so far (final once finished). */
void sb_peer_stats_get(const struct sb_peer *p, struct sb_peer_stats *ret);
/* True when the echo of packet n (0-based, in sending order) came back
 * intact. */
bool sb_peer_echoed(const struct sb_peer *p, unsigned n);
/* The round-trip times of the distinct echoes so far, in milliseconds, in
 * arrival order (for load tests that pool many peers' figures). Sets *ret
 * to the peer's own array and returns its length. */
unsigned sb_peer_latencies(const struct sb_peer *p, const float **ret);
/* The figures as one JSON object text ({"type":"report",...}); malloc'd,
 * NULL when out of memory. */
char *sb_peer_report_json(const struct sb_peer *p);

/* Names for the CLI and reports; -EINVAL when unknown. */
int sb_peer_codec_from_name(const char *name);
int sb_peer_fault_from_name(const char *name);
int sb_peer_srtp_from_name(const char *name);
const char *sb_peer_codec_name(enum sb_peer_codec c);
const char *sb_peer_fault_name(enum sb_peer_fault f);
