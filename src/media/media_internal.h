/* Internals of src/media shared by media.c and session.c. */
#pragma once

#include <agent.h>
#include <interfaces.h>
#include <errno.h>
#include <glib.h>
#include <srtp2/srtp.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "bus/bus.h"
#include "media/dtls.h"
#include "media/media.h"
#include "media/rtp.h"
#include "media/transcode.h"
#include "sdp/sdp.h"

/* SDES suites we key (sdes.c). */
#define SB_SDES_SUITES 3
/* Codecs an offer of ours toward SIP can carry (sb__offer_codecs). */
#define SB_OFFER_CODECS_MAX 5

/* A codec as the media plane uses it: a copy that outlives the
 * description it was chosen from. */
struct sb_mcodec {
	int pt;
	char name[24];
	int rate;
	int channels;
	char fmtp[128];
};

/* A descriptor in the worker's epoll set (poll.c), embedded in its owner;
 * fn runs on the worker thread with the epoll events. */
struct sb_mwatch;
typedef void (*sb_mwatch_fn)(struct sb_mwatch *wt, uint32_t events);
struct sb_mwatch {
	sb_mwatch_fn fn;
	void *owner;
	int fd;
	bool added; /* false (zeroed): not in the set */
};

struct epoll_event;
struct sb_mreoffer;
struct sb_dc;

/* datachan.c: our a=sctp-port (RFC 8841 section 5.2) and
 * a=max-message-size (the longest chat message). */
#define SB_DC_SCTP_PORT	  5000
#define SB_DC_MAX_MESSAGE SB_CHAT_MAX

struct sb_mworker {
	struct sb_media *m;
	unsigned index;
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	struct sb_bus *bus;   /* inbox: commands from the control thread */
	GHashTable *sessions; /* id -> struct sb_msession; THREAD: this worker */
	/* poll.c; THREAD: this worker */
	int mp_fd;		   /* epoll */
	GSource *mp_src, *mp_tick; /* watches mp_fd; the statistics tick */
	unsigned mp_tick_ms;	   /* mp_tick's period */
	struct epoll_event *mp_ev; /* the batch being dispatched */
	int mp_n;
	/* nice_io.c: sessions by their agent's next deadline; THREAD: this worker */
	struct sb_msession **nh;
	unsigned nh_n, nh_cap;
	GSource *nh_src;	  /* ready at nh[0]'s deadline */
	struct sb_nice_rx *nrx;	  /* nice_io.c: buffers of one batched agent read */
	struct sb_direct_rx *drx; /* nice_io.c: recvmmsg buffers of a direct read */
	struct sb_rtp_batch *rrx; /* rtp_session.c: recvmmsg buffers of an RTP leg read */
	/* consent.c: answers the checks (no saved transactions) and checks the
	 * answers to ours (one transaction at a time) */
	struct stun_agent_t *stun_in, *stun_rsp;
	/* moh.c: the sessions held from our side that get music (each knows
	 * its place, moh_idx), and their timer, attached only while there are
	 * any; THREAD: this worker */
	struct sb_msession **moh;
	unsigned moh_n, moh_cap;
	GSource *moh_src;
	/* conf.c: the worker's conferences (id -> struct sb_conf, each with
	 * at least one member) and their mixing timer, attached only while
	 * there are any; THREAD: this worker */
	GHashTable *confs;
	GSource *conf_src;
	/* datachan.c: the SCTP timer tick, attached while the worker has
	 * SCTP associations (dc_n of them); THREAD: this worker */
	GSource *dc_src;
	unsigned dc_n;
};

/* ICE credentials longer than this (RFC 8445 allows 256) are not taken
 * over: such a session stays on libnice's reads. */
#define SB_ICE_CRED_MAX 256

/* The connected pair's socket read by the worker itself (nice_io.c) and
 * its STUN: the checks we answer and our consent (consent.c). */
struct sb_ice_direct {
	struct sb_mwatch *wt; /* the selected socket's watch; NULL: libnice reads */
	int fd;
	struct sockaddr_storage peer; /* the selected pair's remote address */
	socklen_t peer_len;
	/* an ICE restart runs since recheck_us (monotonic): libnice reads
	 * until it selects a pair again */
	bool rechecking;
	int64_t recheck_us;
	bool controlling; /* our ICE role, for the role attribute of our checks */
	bool lite;	  /* we send no checks and never expire consent */
	bool tid_out;	  /* tid is our consent request awaiting its answer */
	uint8_t tid[16];
	uint32_t priority;     /* PRIORITY of our checks (RFC 8445 section 7.1.1) */
	uint64_t tie;	       /* our tie-breaker */
	int64_t consent_us;    /* monotonic: consent last granted */
	int64_t next_check_us; /* monotonic: our next consent request */
	/* local and remote ICE credentials; the remote ones are copied when
	 * the peer's description gives them (it is dropped once connected) */
	char lufrag[SB_ICE_CRED_MAX + 1], lpwd[SB_ICE_CRED_MAX + 1];
	char rufrag[SB_ICE_CRED_MAX + 1], rpwd[SB_ICE_CRED_MAX + 1];
};

/* moh.c: the music on hold of [media] hold_music, in 20 ms frames looped:
 * G.711 bytes (160 a frame) and 48 kHz samples for Opus (960 a frame). */
struct sb_moh {
	size_t frames;
	uint8_t *ulaw, *alaw;
	uint8_t *g722; /* 160 bytes a frame (64 kbit/s) */
	int16_t *pcm48;
};

struct sb_media {
	struct sb_config *cfg;
	struct sb_moh *moh;	/* RO after start; NULL: held parties hear silence */
	struct sb_bus *control; /* results go here */
	struct sb_dtls_ctx *dtls;
	struct sb_mworker *workers;
	unsigned n_workers;
	bool running;
	GHashTable *where; /* session id -> worker index; THREAD: control */
	/* counters: workers add, anyone reads */
	atomic_ullong sessions_created, sessions_connected, sessions_failed;
	atomic_ullong rtp_in, rtp_out, rtcp_in;
	atomic_ullong dropped_plain, dropped_auth, dropped_replay, dtls_failed;
	atomic_ullong ice_restarts;
	atomic_ullong ice_direct, stun_answered, stun_refused;
	atomic_ullong dropped_held, moh_frames;
	atomic_ullong conf_frames_mixed, conf_frames_dropped;
	atomic_ullong chat_in, chat_out, chat_dropped;
	/* datachan.c: this component holds a reference on usrsctp's process
	 * state (taken by the first data channel, dropped at free) */
	atomic_bool dc_ref;
};

struct sb_msession {
	struct sb_mworker *w;
	uint64_t id, call;
	uint32_t leg;
	enum sb_engine_media_kind kind;
	NiceAgent *agent;
	guint stream;
	bool gathered, ready_sent, connected, failed;
	struct sb_dtls *dtls;
	guint dtls_timer;
	srtp_t srtp_in, srtp_out;
	bool srtp_ready;
	/* the peer's description (offer or answer) and its audio section,
	 * NULL once connected (sb__remote_drop) */
	struct sb_sdp *remote;
	const struct sb_sdp_media *ra;
	char remote_fp[160];	/* "sha-256 AB:..." of ra, "" when none */
	struct sb_sdp *local;	/* our offer while its answer is awaited */
	struct sb_sdp *current; /* our side of the last completed exchange */
	struct sb_mcodec codec;
	int dtmf_pt; /* the peer's telephone-event payload type, -1: none */
	uint32_t ssrc_out;
	/* The bridged session, NULL: none or destroyed (no hash lookup per
	 * packet; sb__msession_destroy clears every pointer to the session it
	 * removes). */
	struct sb_msession *peer_s;
	unsigned peer_refs; /* sessions whose peer_s is this one */
	/* what we send (SSRC, sequence, timestamps) and receive (RTCP stats) */
	struct sb_rtp_rewrite rw;
	struct sb_rtp_rx rx;
	unsigned long long pkts_in, pkts_out;
	struct sb_rtcp_sender sent; /* for our sender reports */
	int64_t rtt_us;
	int64_t stats_due_us; /* monotonic; 0: statistics not started */
	/* the agent's own context, run from the worker's epoll and deadline
	 * heap (nice_io.c); NULL: the agent runs on the worker's context */
	GMainContext *nice_ctx;
	struct sb_mwatch *nice_w; /* one per agent socket */
	unsigned n_nice_w;
	int64_t nice_due_us;   /* the context's next deadline, monotonic */
	unsigned nice_hidx;    /* 1 + index in the worker's heap, 0: none */
	int64_t nice_rearm_us; /* last deadline taken after a data read */
	struct sb_ice_direct dx;
	/* plain RTP toward SIP (rtp_session.c); fds -1 otherwise */
	int rtp_fd, rtcp_fd;
	struct sb_mwatch rtp_w, rtcp_w;
	int local_port;
	struct sockaddr_storage peer_rtp, peer_rtcp;
	socklen_t peer_rtp_len, peer_rtcp_len;
	bool have_remote, latched, rtcp_latched;
	bool rtcp_mux; /* RFC 5761 agreed: RTCP on rtp_fd, no rtcp_fd */
	/* re-offers (rtp_reoffer.c): the address the peer's description gave
	 * (a move is a change of it), whether the peer receives (sendonly or
	 * inactive: nothing is sent to it), the source latched before it moved
	 * (its packets still taken, never latched, until prev_until_us), and
	 * our codec's previous payload type (still taken in; -1: none) */
	struct sockaddr_storage sig_rtp;
	bool send_held;
	struct sockaddr_storage prev_src;
	int64_t prev_until_us; /* monotonic; 0: none */
	int pt_prev;
	/* the peer's new offer we answered, applied only once SIP has sent
	 * the answer (rtp_reoffer.c); NULL: none waits */
	struct sb_mreoffer *ro_kept;
	/* Hold from our side (sb__msession_hold): the relay passes nothing to
	 * or from the session while set (RTCP and consent go on). An RTP
	 * session's offer for it (offer_seq) awaits offer_done while
	 * offer_out (other kinds have none: their hold is done at once);
	 * hold_undo is
	 * the hold to go back to if it fails, and offer_kept (RTP) our offer
	 * itself, s->current once answered. */
	bool local_hold;
	bool offer_out, hold_undo;
	/* Music while local_hold (moh.c): 1 + the place in the worker's list
	 * (0: none), the next frame of the loop, whether the next is the
	 * first (marker bit), and the Opus encoder of an Opus session (made at
	 * hold, freed at resume) */
	unsigned moh_idx;
	size_t moh_frame;
	bool moh_first;
	struct OpusEncoder *moh_enc;
	/* Conference membership (conf.c): NULL: none. While set the session
	 * has no bridge partner, and its audio goes to the mixer instead. */
	struct sb_conf_member *cm;
	/* Muted in its conference (sb__conf_mute): its audio is not mixed,
	 * it still hears the room. Kept across a hold and when set before a
	 * join; cleared when it leaves. */
	bool conf_muted;
	int64_t offer_seq;
	struct sb_sdp *offer_kept;
	/* RFC 4568 SDES (sdes.c): the crypto line of our answer (suite NULL:
	 * plain RTP) and our key params; srtp_in, srtp_out and srtp_ready are
	 * then the SDES contexts, installed before the first packet */
	struct sb_sdp_crypto sdes;
	char sdes_kp[64];
	/* our own offer toward a trunk (the engine's struct
	 * sb_engine_media_opts): the codec names to offer in order
	 * ("PCMA,PCMU"; has_prefs false: our default order) and the SRTP
	 * mode; with SDES, our lines (a key per suite) until the answer
	 * takes one (n_sdes_offer 0 once it has, sdes.c) */
	char prefs[SB_EVENT_STR_MAX];
	bool has_prefs;
	enum sb_engine_srtp srtp_mode;
	struct sb_sdp_crypto sdes_offer[SB_SDES_SUITES];
	char sdes_offer_kp[SB_SDES_SUITES][64];
	int n_sdes_offer;
	char sdes_peer_kp[96]; /* the peer's key params, to tell a re-key */
	/* what this session sends, transcoded from its peer's codec */
	struct sb_xcode *xc;
	int xc_from;
	/* RFC 4733 (dtmf.c) */
	bool dtmf_rx_seen;
	uint32_t dtmf_rx_ts, dtmf_tx_ts;
	char dtmf_q[32];
	int dtmf_q_pos, dtmf_tx_ms, dtmf_tx_elapsed;
	guint dtmf_timer;
	bool offering; /* WebRTC: we made the offer; the answer comes with update */
	/* WebRTC: our ICE restart offer is out; its answer comes with update */
	bool restarting;
	/* WebRTC data channel (datachan.c): NULL when the exchange has none */
	struct sb_dc *dc;
};

/* The codec of another session of the same call on this worker, or NULL. */
const struct sb_mcodec *sb__sibling_codec(struct sb_msession *s);

/* rtp_session.c: the worker's buffers for reading RTP leg sockets. */
int sb__rtp_rx_init(struct sb_mworker *w);
void sb__rtp_rx_fini(struct sb_mworker *w);

/* The cores this process may run on: its affinity, capped by the cgroup v2
 * CPU quotas of its cgroup (named in self_cgroup, /proc/self/cgroup) and the
 * ones above it under cgroup_root (/sys/fs/cgroup); at least 1. The default
 * worker count. */
unsigned sb__media_cores(const char *cgroup_root, const char *self_cgroup);

/* describe.c: SDP through src/sdp, on the worker thread. */
/* Parses text as the peer's description and makes it s->remote (with its
 * audio section s->ra). Returns 0, or a negative errno with a reason in err
 * (s unchanged). */
int sb__remote_take(struct sb_msession *s, const char *text, char *err, size_t errlen);
/* Frees the peer's description once the session is connected: what the
 * media path needs of it was copied (codec, payload types, addresses,
 * fingerprint), and a parsed description is 5-20 KiB a session. */
void sb__remote_drop(struct sb_msession *s);
/* The codec to use from a: opus, then PCMU, then PCMA; NULL when none. */
const struct sb_sdp_codec *sb__pick_codec(const struct sb_sdp_media *a);
/* a's telephone-event payload type at rate, or -1. */
int sb__dtmf_pt(const struct sb_sdp_media *a, int rate);
void sb__mcodec_set(struct sb_mcodec *out, const struct sb_sdp_codec *c);
/* True when our offers toward SIP can carry a codec of that name (Opus,
 * PCMU, PCMA, G722, telephone-event; case-insensitive). Any thread. */
bool sb__codec_offerable(const char *name);
/* True when a browser leg may use a codec of that name: Opus, PCMU, PCMA
 * (never G.722, transcoded to Opus instead). Any thread. */
bool sb__codec_webrtc(const char *name);
/* The codecs of our offer toward a SIP peer, into out (room for
 * SB_OFFER_CODECS_MAX). We can offer other (the other leg's codec, relayed
 * as it is; NULL: no other leg) and, when the transcoder knows other (or
 * there is none), PCMU, PCMA, Opus and G.722. prefs NULL: other, then PCMU
 * and PCMA (Opus and G.722 only as other). prefs a comma-separated list of names
 * ("PCMA,PCMU"): only those, in that order. Returns how many; 0 when prefs
 * names none of them. Pure. */
int sb__offer_codecs(const struct sb_mcodec *other, const char *prefs, struct sb_mcodec *out);
/* Our WebRTC description: the answer to s->remote with s->codec, or (when
 * s->offering) an offer of s->codec, kept in s->local. fp is
 * "sha-256 AB:...". Returns 0 and sets *ret (malloc'd text), or -errno. */
int sb__describe_webrtc(struct sb_msession *s, const char *ufrag, const char *pwd, const char *fp,
			const char *const *cands, int n_cands, char **ret);
/* Our plain RTP description toward a SIP peer at addr:s->local_port: the
 * answer to s->remote with s->codec, or (no s->remote) an offer of codecs
 * then telephone-event, with s->sdes_offer's lines when there are (RTP/SAVP
 * when s->srtp_mode is SB_ENGINE_SRTP_SDES), kept in s->local. Returns 0
 * and sets *ret, or -errno. */
int sb__describe_rtp(struct sb_msession *s, const char *addr, const struct sb_mcodec *codecs,
		     int n_codecs, char **ret);
/* Our ICE restart offer (RFC 8445 section 9): s->current again with new
 * credentials and candidates and a=setup:actpass (RFC 8842 section 5.2),
 * kept in s->local. Returns 0 and sets *ret, or -errno (-ENOENT: no
 * completed exchange yet). */
int sb__describe_reoffer(struct sb_msession *s, const char *ufrag, const char *pwd,
			 const char *const *cands, int n_cands, char **ret);
/* Our new offer on a live RTP leg (RFC 3264 section 8): current (our
 * description in force) with its o= version one higher, the audio
 * section's direction dir, and its crypto lines only crypto (the line in
 * force, RFC 4568 section 7.1.4 lets us keep its key; suite NULL: none);
 * everything else (codecs, payload types, address, port, rtcp-mux) as it
 * is. Pure. Returns 0 and sets *ret, -EINVAL (no audio section) or
 * -ENOMEM. */
int sb__describe_rtp_hold(const struct sb_sdp *current, enum sb_sdp_dir dir,
			  const struct sb_sdp_crypto *crypto, struct sb_sdp **ret);
/* Checks the peer's answer (s->remote) against s->local, then makes
 * s->local the current description. 0, or -EPROTO with a reason in err. */
int sb__answer_check(struct sb_msession *s, char *err, size_t errlen);
/* Our answer to the peer's new offer on a live RTP leg (RFC 3264 section
 * 8): codec (with the offer's payload type) and telephone-event when
 * offered at its rate, our address, port, SSRC and SDES line as before,
 * rtcp-mux only when it is on already, the direction answered to the
 * offer's, the o= line of s->current with its version one higher. Nothing
 * in s changes. Returns 0 and sets *ret, -ENOTSUP (nothing accepted) or
 * -ENOMEM. */
int sb__describe_rtp_reanswer(struct sb_msession *s, const struct sb_sdp *offer, const char *addr,
			      const struct sb_mcodec *codec, struct sb_sdp **ret);

/* session.c, on the worker thread */
void sb__msession_create(struct sb_mworker *w, const struct sb_event *ev);
void sb__msession_candidate(struct sb_mworker *w, uint64_t id, const char *cand);
void sb__msession_update(struct sb_mworker *w, uint64_t id, const char *sdp);
void sb__msession_reoffer(struct sb_mworker *w, uint64_t id, int64_t seq, const char *sdp);
void sb__msession_reoffer_done(struct sb_mworker *w, uint64_t id, int64_t seq, bool sent);
void sb__msession_ice_restart(struct sb_mworker *w, uint64_t id);
/* Holds (hold true) or resumes the session from our side and posts
 * media.offer for seq: our new offer for an RTP session (kept until
 * sb__msession_offer_done), none for the other kinds; or -ENOENT,
 * -EAGAIN (failed, no completed exchange), -EBUSY (an offer of ours out)
 * with nothing changed. */
void sb__msession_hold(struct sb_mworker *w, uint64_t id, int64_t seq, bool hold);
/* The outcome of our offer seq: answer the party's answer (RTP: applied,
 * sb__rtp_offer_done), NULL when it failed (the hold goes back to what it
 * was). Another seq than the one out: nothing happens. */
void sb__msession_offer_done(struct sb_mworker *w, uint64_t id, int64_t seq, const char *answer);
/* Makes s relay to session to (NULL: to none), keeping peer_refs. */
void sb__msession_point(struct sb_msession *s, struct sb_msession *to);
void sb__msession_destroy(struct sb_mworker *w, uint64_t id);
void sb__msession_free(gpointer p);
/* Posts a result event on the control bus. Takes text. */
void sb__media_post(struct sb_msession *s, enum sb_event_type type, int64_t arg1, const char *str,
		    char *text);
/* As sb__media_post with arg2 seq: the answer to a numbered command
 * (media.reanswer, media.offer). Takes text. */
void sb__media_post_seq(struct sb_msession *s, enum sb_event_type type, int64_t arg1, int64_t seq,
			const char *str, char *text);

void sb__msession_fail(struct sb_msession *s, int code, const char *why);
/* As sb__msession_fail, with the cause the engine reports (media.failed
 * arg2). */
void sb__msession_fail_as(struct sb_msession *s, enum sb_engine_media_fail cause, int code,
			  const char *why);
/* Posts media.stats (low priority, coalesced). Takes text. */
void sb__media_post_stats(struct sb_msession *s, int64_t lost, int64_t jitter_us, int64_t rtt_us,
			  const char *mos, char *text);
/* session.c: protects and sends one RTP packet (header already rewritten)
 * to a WebRTC peer; buf has room for the SRTP trailer. */
void sb__webrtc_send(struct sb_msession *s, uint8_t *buf, int len);

/* sdes.c, on the worker thread */
/* RFC 4568 answer: takes the first of s->ra's a=crypto lines with a suite we
 * know (AES_CM_128_HMAC_SHA1_80/_32, AEAD_AES_128_GCM) and a single inline
 * key without MKI or session parameters, makes a fresh key of ours, installs
 * both (s->srtp_in theirs, s->srtp_out ours, replay window 1024) and sets
 * s->sdes to the line of our answer. Returns 0, -ENOENT (no crypto lines),
 * -ENOTSUP (none usable) or -EIO (random bytes or libsrtp2 failed). */
int sb__sdes_answer(struct sb_msession *s);
/* RFC 4568 offer: a fresh key (OpenSSL RAND_bytes) for each suite we know,
 * AES_CM_128_HMAC_SHA1_80 (tag 1), AES_CM_128_HMAC_SHA1_32 (tag 2),
 * AEAD_AES_128_GCM (tag 3), into s->sdes_offer. Returns 0 or -EIO. */
int sb__sdes_offer(struct sb_msession *s);
/* The answer (s->ra) to our SDES offer: its crypto line must name one of
 * our tags with that tag's suite and carry a usable key (as in
 * sb__sdes_answer); then s->srtp_in gets the answer's key, s->srtp_out
 * ours, s->sdes our chosen line, and the other keys are wiped. A later
 * answer to the same offer (a 200 after a 183 with SDP) must carry the line
 * the first one installed (tag, suite, key params), or none when the first
 * left the leg plain. Returns 0 (also when the session made no SDES offer,
 * or for an answer without crypto lines under SB_ENGINE_SRTP_SDES_OPTIONAL:
 * plain RTP), -ENOENT (no crypto line, under SB_ENGINE_SRTP_SDES or after
 * a keyed answer), -ENOTSUP (none matches our offer, or a later answer
 * changes the line) or -EIO. */
int sb__sdes_answered(struct sb_msession *s);
/* A re-offer on a leg keeps its SRTP as it is (RFC 4568 section 7.1.4
 * allows the same keys): 0 when m has no crypto line and the leg is plain
 * RTP, or the leg is SDES and m's first line of our suite carries the key
 * the peer gave before; -ENOTSUP otherwise (a new key, a change between
 * plain RTP and SRTP). */
int sb__sdes_reoffer(const struct sb_msession *s, const struct sb_sdp_media *m);
/* Wipes our key params; the SRTP contexts go with the session. */
void sb__sdes_free(struct sb_msession *s);

/* rtp_session.c, on the worker thread */
int sb__rtp_start(struct sb_msession *s, const char *remote_sdp);
void sb__rtp_update(struct sb_msession *s, const char *sdp);
/* rtp_reoffer.c: answers the peer's new offer (seq: the engine's number for
 * it) with media.reanswer. An accepted offer is kept, not applied, until
 * sb__rtp_reoffer_done says what SIP did with the answer; a newer offer
 * replaces one still kept. */
void sb__rtp_reoffer(struct sb_msession *s, int64_t seq, const char *sdp);
/* sent: SIP answered offer seq with our answer, which now takes effect;
 * else SIP gave up on it (CANCEL, timeout) and it is dropped, the leg as
 * it was. Another seq than the kept offer's: nothing happens. */
void sb__rtp_reoffer_done(struct sb_msession *s, int64_t seq, bool sent);
/* Frees a kept offer (the session ends). */
void sb__rtp_reoffer_drop(struct sb_msession *s);
/* Our offer for a hold (hold true) or a resume, masked by the party's own
 * hold (s->send_held): sendonly or inactive, sendrecv or recvonly. Kept in
 * s->offer_kept (replacing none: the caller checks) and printed into
 * *ret_text; *ret_dir its direction. 0, -EAGAIN (no completed exchange)
 * or -ENOMEM. */
int sb__rtp_hold_offer(struct sb_msession *s, bool hold, char **ret_text, const char **ret_dir);
/* The party's answer to s->offer_kept: when usable its codec, payload
 * type, address and direction take effect; in any case our offer becomes
 * s->current (the party has it). */
void sb__rtp_offer_done(struct sb_msession *s, const char *answer);
/* The codec of a for this leg: the other leg's when a has it (relayed as it
 * is), else a's first one the transcoder knows. 0 or -ENOTSUP. */
int sb__rtp_codec_choose(struct sb_msession *s, const struct sb_sdp_media *a,
			 struct sb_mcodec *ret);
/* The address to put in our description toward a peer at peer_addr. */
void sb__rtp_local_addr(struct sb_msession *s, const char *peer_addr, char *out, size_t n);
/* True when pt is our codec's payload type, or its previous one while
 * packets under it may still arrive after a re-offer renumbered it. */
static inline bool sb__audio_pt(const struct sb_msession *s, uint8_t pt)
{
	return pt == (uint8_t)s->codec.pt || (s->pt_prev >= 0 && pt == (uint8_t)s->pt_prev);
}
void sb__rtp_free(struct sb_msession *s);
/* Relays one clear RTP packet (parsed as h) received by from to its peer
 * to: payload type mapped, header rewritten, sent. */
void sb__relay(struct sb_msession *from, struct sb_msession *to, uint8_t *buf, int len,
	       const struct sb_rtp_hdr *h);
/* Counts a received clear packet (buf) for RTCP statistics and reads its
 * telephone events. */
void sb__rx_count(struct sb_msession *s, const uint8_t *buf, const struct sb_rtp_hdr *h);
/* Sends one packet (header final) on the session, protected if WebRTC. */
void sb__session_send(struct sb_msession *s, uint8_t *buf, int len);
/* Posts media.dtmf. */
void sb__media_post_dtmf(struct sb_msession *s, const char *digit, int64_t duration_ms);
/* dtmf.c */
void sb__dtmf_rx(struct sb_msession *s, const uint8_t *payload, size_t len,
		 const struct sb_rtp_hdr *h, bool peer_relays);
int sb__dtmf_send(struct sb_msession *s, const char *digits, int duration_ms);
void sb__dtmf_free(struct sb_msession *s);
void sb__msession_dtmf(struct sb_mworker *w, uint64_t id, const char *digits, int duration_ms);
/* Starts the periodic statistics (media.stats, RTCP RR on RTP legs). */
void sb__stats_start(struct sb_msession *s);
/* The worker tick: statistics of the sessions that are due. */
void sb__stats_tick(struct sb_mworker *w);

/* moh.c. Makes the music of spec ("tone", "silence", a WAV file path):
 * *ret NULL for silence. 0, or a negative errno with the reason in err.
 * Control thread, before the workers start. */
int sb__moh_new(const char *spec, struct sb_moh **ret, char *err, size_t errlen);
struct sb_moh *sb__moh_free(struct sb_moh *moh);
/* On the worker: s (held from our side) gets a frame every 20 ms while it
 * receives (no-op when the music is silence, or s already gets it). */
void sb__moh_start(struct sb_msession *s);
/* No more music for s (resumed, or going); frees its encoder. */
void sb__moh_stop(struct sb_msession *s);
/* After the worker's sessions are gone. */
void sb__moh_fini(struct sb_mworker *w);
/* Frames made on the worker (music, the conference mix) rather than
 * relayed: true when s takes them now (connected, not failed, an RTP
 * party at a known address that does not hold us). */
bool sb__frame_receives(const struct sb_msession *s);
/* Sends the payload of n bytes at buf + 12 (buf has room for the header
 * before and the SRTP trailer after it) as the next packet of s's own
 * stream: its SSRC, the next sequence number, a timestamp one 20 ms frame
 * on (first: moved on by the time since the last packet, and the marker
 * bit). */
void sb__frame_send(struct sb_msession *s, uint8_t *buf, int n, bool first);
/* A 20 ms timer on w's context calling tick by the monotonic clock (a late
 * wake-up is made up on the next, a stall over 100 ms restarts from now),
 * first due now. Freed with sb__frame_timer_free (accepts NULL, returns
 * NULL). */
GSource *sb__frame_timer_new(struct sb_mworker *w, void (*tick)(struct sb_mworker *w));
GSource *sb__frame_timer_free(GSource *src);

/* conf.c: conferences, mixed on the worker of their members (docs/media.md
 * "Conferences"). Worker thread of the session, except init and fini
 * (before the worker runs, after its sessions are gone). */
int sb__conf_worker_init(struct sb_mworker *w);
void sb__conf_worker_fini(struct sb_mworker *w);
/* Makes session id a member of conference conf of this worker, leaving
 * any bridge and any other conference; the room is made at its first
 * member. No-op for an unknown session. */
void sb__conf_join(struct sb_mworker *w, uint64_t id, uint64_t conf);
/* Takes s out of its conference (no-op when in none); the room goes with
 * its last member. */
void sb__conf_leave(struct sb_msession *s);
/* Mutes (mute true) or unmutes session id of this worker, a member or not
 * yet (the flag waits for its join); an unknown session: nothing. */
void sb__conf_mute(struct sb_mworker *w, uint64_t id, bool mute);
/* A clear RTP packet (parsed as h) of member s, where a bridge would relay
 * it: audio of its codec is decoded into the member's frames for the next
 * mixes, anything else ignored. */
void sb__conf_input(struct sb_msession *s, const uint8_t *buf, const struct sb_rtp_hdr *h);

/* poll.c, on the worker thread (init and fini before and after it runs) */
int sb__mpoll_init(struct sb_mworker *w);
void sb__mpoll_fini(struct sb_mworker *w);
/* Adds fd (readable) to the worker's set; fn is called with wt. Returns 0,
 * -EBUSY (wt is in the set) or -errno of epoll_ctl. */
int sb__mpoll_add(struct sb_mworker *w, struct sb_mwatch *wt, int fd, sb_mwatch_fn fn);
/* Removes wt (no-op when not in the set); wt is not called back from the
 * batch being dispatched. Call before closing its descriptor. */
void sb__mpoll_del(struct sb_mworker *w, struct sb_mwatch *wt);

/* nice_io.c, on the worker thread (init and fini as sb__mpoll_*) */
int sb__nice_io_init(struct sb_mworker *w);
void sb__nice_io_fini(struct sb_mworker *w);
/* The context to create s's agent on: s's own (or the worker's with
 * ICE-TCP). */
GMainContext *sb__nice_io_context(struct sb_msession *s);
/* How s receives: on its own context the worker reads the agent in batches
 * (nice_agent_recv_messages_nonblocking) and gives each packet to
 * sb__msession_on_packet; with ICE-TCP fn is attached as the agent's
 * receive callback on the worker's context. 0 or -EINVAL. */
int sb__nice_io_attach(struct sb_msession *s, NiceAgentRecvFunc fn);
/* After gathering started: puts the agent's sockets in the worker's epoll
 * set. 0 or -errno. */
int sb__nice_io_watch(struct sb_msession *s);
/* After anything that may have started or moved a timer of the agent (any
 * call into libnice from outside its own callbacks): the agent's next
 * deadline into the worker's heap. */
void sb__nice_io_rearm(struct sb_msession *s);
/* Takes the agent's sockets and deadline out of the worker's sets (before
 * the agent goes). */
void sb__nice_io_detach(struct sb_msession *s);
/* Frees the session's context (after the agent is gone). */
void sb__nice_io_free(struct sb_msession *s);

/* Once ICE is connected on a UDP pair of ours: the worker reads the
 * selected socket itself (recvmmsg), gives STUN to consent.c and the rest
 * to sb__msession_on_packet, and sends on it (sb__nice_io_send); libnice
 * keeps its other sockets and its timers. No-op when the agent runs on the
 * worker's context (ICE-TCP), during an ICE restart, or when there is no
 * such pair. */
void sb__nice_io_direct_take(struct sb_msession *s);
/* Back to libnice's reads of that socket (ICE restart, another selected
 * pair, the session going). */
void sb__nice_io_direct_leave(struct sb_msession *s);
/* Sends one datagram to the browser: on the selected socket when taken,
 * else through the agent. */
void sb__nice_io_send(struct sb_msession *s, const uint8_t *buf, size_t len);

/* consent.c, on the worker thread (init and fini as sb__mpoll_*) */
int sb__consent_init(struct sb_mworker *w);
void sb__consent_fini(struct sb_mworker *w);
/* Keeps the peer's ICE credentials for later checks. */
void sb__consent_remote_creds(struct sb_msession *s, const char *ufrag, const char *pwd);
/* Starts answering and (full ICE) checking consent on the pair whose
 * local candidate is local; consent counts as granted now (the pair just
 * passed its checks, RFC 7675 section 5.1). 0, or -E2BIG when a credential
 * is too long, -ENOENT when the peer's are not known. */
int sb__consent_start(struct sb_msession *s, const NiceCandidate *local);
/* Forgets our outstanding request. */
void sb__consent_stop(struct sb_msession *s);
/* A STUN datagram (first byte 0-3, RFC 7983) from from on the taken socket:
 * a check is answered when its USERNAME and MESSAGE-INTEGRITY are ours; an
 * answer to our request from the selected address grants consent.
 * Anything else is dropped. */
void sb__consent_input(struct sb_msession *s, const uint8_t *buf, size_t len,
		       const struct sockaddr_storage *from, socklen_t fromlen);
/* The worker tick: sends our consent request when due (every 5 s +- 20 %,
 * RFC 7675 section 5.1) and fails the session when none has been answered
 * for [media] consent_timeout. */
void sb__consent_tick(struct sb_msession *s, int64_t now);
/* True when a and b are the same address and port. */
bool sb__sockaddr_eq(const struct sockaddr *a, const struct sockaddr *b);

#define SB_MEDIA_MAX_PKT 1500
/* A packet from the browser (ICE), first byte demultiplexed (RFC 7983);
 * buf has SRTP_MAX_TRAILER_LEN bytes of room after len. */
void sb__msession_on_packet(struct sb_msession *s, uint8_t *buf, unsigned len);

/* datachan.c: WebRTC data channels (RFC 8831, 8832) for chat, SCTP by
 * usrsctp over the session's DTLS. Worker thread of the session, except
 * sb__dc_release (control thread, at sb_media_free). */
/* The exchange accepted a data channel; peer is the peer's data channel
 * section (its sctp-port). Makes s->dc (kept when it exists). 0 or
 * -ENOMEM. */
int sb__dc_negotiated(struct sb_msession *s, const struct sb_sdp_media *peer);
/* DTLS is up: opens the SCTP association (RFC 8841: both sides connect).
 * No-op without s->dc. 0 or a negative errno (the audio goes on). */
int sb__dc_start(struct sb_msession *s);
/* A DTLS datagram after the handshake on a session with s->dc: its
 * records go to SCTP. As sb_dtls_recv. */
int sb__dc_input(struct sb_msession *s, const uint8_t *buf, size_t len);
/* MEDIA_CMD_CHAT: text on the session's first open channel (PPID 51), or
 * queued until one opens (8 at most: beyond, dropped and counted). */
void sb__dc_chat(struct sb_mworker *w, uint64_t id, const char *text);
/* Closes the association (an ABORT to the peer) and frees s->dc; before
 * the DTLS endpoint goes. */
void sb__dc_free(struct sb_msession *s);
/* What one whole message of the peer's asks for (sb__dc_msg_parse). */
enum sb_dc_msg_kind {
	SB_DC_MSG_OPEN, /* DCEP DATA_CHANNEL_OPEN: data is the label */
	SB_DC_MSG_TEXT, /* chat: data is the text, UTF-8 without NUL */
	_SB_DC_MSG_KIND_MAX,
	_SB_DC_MSG_KIND_INVALID = -EINVAL,
};
struct sb_dc_msg {
	enum sb_dc_msg_kind kind;
	const uint8_t *data; /* inside the message read */
	size_t len;
};
/* Reads one whole message (RFC 8831 section 6.6, RFC 8832 section 5.1)
 * with PPID ppid: 0 and *ret for an open or a text; -ENOMSG for one to
 * ignore (another PPID, DCEP other than an open), -EBADMSG for a malformed
 * open (ignored), -EMSGSIZE beyond SB_CHAT_MAX and -EILSEQ for a text not
 * UTF-8 or with a NUL (both dropped and counted). Pure; any thread. */
int sb__dc_msg_parse(uint32_t ppid, const uint8_t *b, size_t len, struct sb_dc_msg *ret);
/* Drops m's reference on usrsctp's process state (usrsctp_finish at the
 * last); after the workers stopped. */
void sb__dc_release(struct sb_media *m);
