/* SDP: a typed model of a session description, read with sofia-sip's parser
 * and written with its printer, and RFC 3264 offer/answer on that model.
 *
 * Threads: pure functions on objects the caller owns; any thread, one thread
 * per object at a time. No logging above debug (none at all today).
 *
 * Ownership: every string and array of a struct sb_sdp lives in its arena
 * and dies with sb_sdp_free(). Strings put into a model by hand must come
 * from sb_sdp_strdup() on the same model (or be string literals).
 *
 * Limits (docs/sdp.md): outside input larger than any SB_SDP_MAX_* is
 * refused with -E2BIG before sofia-sip sees it. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_SDP_MAX_LEN	    (64 * 1024) /* bytes of text */
#define SB_SDP_MAX_LINES    1024
#define SB_SDP_MAX_LINE_LEN 2048 /* bytes in one line, without its end */
#define SB_SDP_MAX_MEDIA    16	 /* m= lines */
#define SB_SDP_MAX_CODECS   64	 /* formats on one m= line */
#define SB_SDP_MAX_CANDS    32	 /* a=candidate lines in one section */
#define SB_SDP_MAX_CRYPTO   8	 /* a=crypto lines in one section */
#define SB_SDP_MAX_SSRCS    16	 /* distinct SSRCs in one section */

/* Values match sofia-sip's sdp_mode_t: bit 0 send, bit 1 receive. */
enum sb_sdp_dir {
	SB_SDP_INACTIVE = 0,
	SB_SDP_SENDONLY = 1,
	SB_SDP_RECVONLY = 2,
	SB_SDP_SENDRECV = 3,
	_SB_SDP_DIR_MAX,
	_SB_SDP_DIR_INVALID = -EINVAL,
};

/* RFC 4145 a=setup (DTLS role, RFC 8842). */
enum sb_sdp_setup {
	SB_SDP_SETUP_NONE = 0, /* not given */
	SB_SDP_SETUP_ACTPASS,
	SB_SDP_SETUP_ACTIVE,
	SB_SDP_SETUP_PASSIVE,
	SB_SDP_SETUP_HOLDCONN,
	_SB_SDP_SETUP_MAX,
	_SB_SDP_SETUP_INVALID = -EINVAL,
};

struct sb_sdp_codec {
	int pt;		   /* 0..127 */
	const char *name;  /* "opus"; "" for a dynamic type without rtpmap */
	unsigned rate;	   /* clock rate, 0 when unknown */
	unsigned channels; /* 1 unless the rtpmap says otherwise */
	const char *fmtp;  /* a=fmtp parameters, or NULL */
};

/* RFC 4568 a=crypto:<tag> <suite> <key-params> [<session-params>] */
struct sb_sdp_crypto {
	unsigned tag;
	const char *suite;	    /* "AES_CM_128_HMAC_SHA1_80" */
	const char *key_params;	    /* "inline:<base64>[|lifetime][|MKI:len]" */
	const char *session_params; /* rest of the line, or NULL */
};

struct sb_sdp_fingerprint {
	const char *hash;  /* "sha-256", NULL when absent */
	const char *value; /* "AB:CD:..." */
};

struct sb_sdp_ice {
	const char *ufrag, *pwd; /* NULL when absent */
	const char *options;	 /* "trickle", or NULL */
};

struct sb_sdp_media {
	const char *type;  /* "audio", "video", "application", ... */
	unsigned port;	   /* 0: rejected or disabled (RFC 3264 section 8.2) */
	const char *proto; /* "UDP/TLS/RTP/SAVPF", "RTP/AVP", ... */
	const char *addr;  /* c= address (the section's, else the session's), or NULL */
	bool ipv6;	   /* c= address type is IP6 */
	/* RTP formats in m= line order, with what rtpmap and fmtp say. */
	struct sb_sdp_codec codecs[SB_SDP_MAX_CODECS];
	int n_codecs;
	/* Non-RTP formats ("webrtc-datachannel"), kept as text. */
	const char *fmts[SB_SDP_MAX_CODECS];
	int n_fmts;
	enum sb_sdp_dir dir;
	const char *mid; /* NULL when absent */
	/* ICE, fingerprint and setup: the section's, else the session's. */
	struct sb_sdp_ice ice;
	struct sb_sdp_fingerprint fingerprint;
	enum sb_sdp_setup setup;
	bool rtcp_mux;
	unsigned rtcp_port; /* a=rtcp, 0: absent */
	unsigned ptime;	    /* a=ptime in ms, 0: absent */
	uint32_t ssrcs[SB_SDP_MAX_SSRCS];
	int n_ssrcs;
	const char *cname; /* a=ssrc:<id> cname:<value> of the first SSRC */
	struct sb_sdp_crypto crypto[SB_SDP_MAX_CRYPTO];
	int n_crypto;
	const char *candidates[SB_SDP_MAX_CANDS]; /* "candidate:..." without "a=" */
	int n_candidates;
	bool end_of_candidates;
	/* RFC 8841 data channel section (UDP/DTLS/SCTP webrtc-datachannel):
	 * a=sctp-port and a=max-message-size, 0: absent */
	unsigned sctp_port;
	unsigned max_message_size;
};

struct su_home_s;

struct sb_sdp {
	struct su_home_s *home; /* the arena; private */
	uint64_t sess_id, sess_version;
	const char *origin_addr; /* o= address */
	const char *addr;	 /* session-level c= address, or NULL */
	bool ipv6;
	bool ice_lite;
	struct sb_sdp_ice ice; /* session level */
	struct sb_sdp_fingerprint fingerprint;
	enum sb_sdp_setup setup;
	const char *bundle[SB_SDP_MAX_MEDIA]; /* a=group:BUNDLE mids */
	int n_bundle;
	struct sb_sdp_media *media[SB_SDP_MAX_MEDIA];
	int n_media;
};

/* An empty description (o= id from the clock, version 1). NULL when out of
 * memory. */
struct sb_sdp *sb_sdp_new(void);
/* Frees sdp and everything in it; accepts NULL; returns NULL. */
struct sb_sdp *sb_sdp_free(struct sb_sdp *sdp);
/* Copies s into sdp's arena; NULL for NULL or when out of memory. */
const char *sb_sdp_strdup(struct sb_sdp *sdp, const char *s);

/* Checks text (len bytes, CRLF or LF lines) against the SB_SDP_MAX_* limits
 * without parsing it. Returns 0, -E2BIG (a limit exceeded) or -EBADMSG (a
 * NUL byte, or a byte outside ASCII in a v= o= m= c= t= b= r= z= line), with
 * a reason in err. Linear in len, which it reads at most
 * SB_SDP_MAX_LEN + 1 bytes of. */
int sb_sdp_check_limits(const char *text, size_t len, char *err, size_t errlen);

/* Parses text (len bytes) into a new model. Returns 0 and sets *ret, or
 * -E2BIG (over a limit), -EBADMSG (not SDP we understand) or -ENOMEM, with a
 * reason in err; *ret is untouched on failure. The caller frees *ret. */
int sb_sdp_parse(const char *text, size_t len, struct sb_sdp **ret, char *err, size_t errlen);

/* Prints sdp as SDP text with CRLF line ends. Returns 0 and sets *ret (the
 * caller free()s it), -EINVAL (a section lacks type or proto) or -ENOMEM. */
int sb_sdp_print(const struct sb_sdp *sdp, char **ret);

/* Adds an m= section at the end. NULL when SB_SDP_MAX_MEDIA sections exist
 * or out of memory. type and proto are copied. */
struct sb_sdp_media *sb_sdp_media_add(struct sb_sdp *sdp, const char *type, unsigned port,
				      const char *proto);
/* Appends a codec to m (strings copied; fmtp may be NULL). Returns 0,
 * -E2BIG (full), -EINVAL (pt outside 0..127) or -ENOMEM. */
int sb_sdp_codec_add(struct sb_sdp *sdp, struct sb_sdp_media *m, int pt, const char *name,
		     unsigned rate, unsigned channels, const char *fmtp);
/* Appends "candidate:..." (a leading "a=" is dropped). Returns 0, -E2BIG or
 * -ENOMEM. */
int sb_sdp_candidate_add(struct sb_sdp *sdp, struct sb_sdp_media *m, const char *cand);

/* The first section of type with a non-zero port, or NULL. */
struct sb_sdp_media *sb_sdp_media_find(const struct sb_sdp *sdp, const char *type);
/* m's codec named name (case-insensitive) at rate (0: any), or NULL. */
const struct sb_sdp_codec *sb_sdp_codec_find(const struct sb_sdp_media *m, const char *name,
					     unsigned rate);
/* True when m carries RTP ("RTP/" in its proto). */
bool sb_sdp_media_is_rtp(const struct sb_sdp_media *m);
/* True when m is a WebRTC data channel section (RFC 8841): type
 * application, proto UDP/DTLS/SCTP or TCP/DTLS/SCTP, format
 * webrtc-datachannel. */
bool sb_sdp_media_is_datachannel(const struct sb_sdp_media *m);

const char *sb_sdp_dir_to_string(enum sb_sdp_dir d);
const char *sb_sdp_setup_to_string(enum sb_sdp_setup s);
/* "actpass" -> SB_SDP_SETUP_ACTPASS; _SB_SDP_SETUP_INVALID otherwise. */
enum sb_sdp_setup sb_sdp_setup_from_string(const char *s);
/* RFC 3264 section 6.1: the direction to answer offered with, given what we
 * want (the offer's send is our receive). */
enum sb_sdp_dir sb_sdp_dir_answer(enum sb_sdp_dir offered, enum sb_sdp_dir wanted);

/* What we accept or offer for one media type. */
struct sb_sdp_caps {
	const char *type; /* "audio" */
	/* In preference order. Matched against offers by name
	 * (case-insensitive) and rate; channels 0 matches any. pt is what we
	 * offer; an answer keeps the offerer's. fmtp NULL echoes the offer's. */
	const struct sb_sdp_codec *codecs;
	int n_codecs;
	/* The answer keeps at most this many codecs other than
	 * telephone-event (0: no limit), in the offer's order. */
	int max_codecs;
	enum sb_sdp_dir dir; /* what we want; 0 is read as sendrecv */
	/* A data channel section (RFC 8841; type "application", no codecs):
	 * our a=sctp-port, non-zero for such caps, and a=max-message-size
	 * (0: not written). Its proto is UDP/DTLS/SCTP and its one format
	 * webrtc-datachannel. */
	unsigned sctp_port;
	unsigned max_message_size;
};

/* Our side of a description. */
struct sb_sdp_local {
	const char *addr;   /* c= and o= address; NULL: 0.0.0.0 */
	unsigned port;	    /* m= port of accepted sections */
	const char *proto;  /* offers only: the m= proto ("RTP/AVP") */
	unsigned rtcp_port; /* a=rtcp, 0: none */
	unsigned ptime;	    /* a=ptime, 0: none */
	bool rtcp_mux;	    /* answers: only when offered */
	bool bundle;	    /* a=group:BUNDLE of the accepted mids */
	struct sb_sdp_ice ice;
	struct sb_sdp_fingerprint fingerprint;
	enum sb_sdp_setup setup;
	uint32_t ssrc; /* 0: none */
	const char *cname;
	const char *const *candidates; /* "candidate:..." (with or without "a=") */
	int n_candidates;
	bool end_of_candidates;
	/* RFC 4568 SDES: our suite and key params (suite NULL: none). An
	 * answer takes the tag of the offered line with the same suite; an
	 * offer writes it with tag 1 when crypto_offer is empty. */
	struct sb_sdp_crypto crypto;
	/* Offers: our lines in preference order, each with its own tag and
	 * key (at most SB_SDP_MAX_CRYPTO are written). */
	const struct sb_sdp_crypto *crypto_offer;
	int n_crypto_offer;
};

/* RFC 3264 section 6: the answer to offer. One section per offered section,
 * in the same order. A section is accepted when it is the first of its
 * type with a non-zero port, carries RTP, caps has its type, at least one
 * codec other than telephone-event matches and, when the offer has SDES
 * crypto lines, one has local->crypto's suite; a data channel section
 * (sb_sdp_media_is_datachannel) is accepted instead when caps has
 * "application" with a sctp_port (the answer's section then has the
 * offer's proto and format, mid, our sctp-port and max-message-size, the
 * DTLS role and ICE as the others, no SSRC). The others are rejected with
 * port 0 and keep the offer's formats and mid. Accepted sections keep the
 * offerer's payload types (telephone-event only at the rate of a kept
 * codec), mid, rtcp-mux (when local->rtcp_mux), answer the direction with
 * sb_sdp_dir_answer() and the DTLS role per RFC 8842 section 5.3. Returns
 * 0 and sets *ret, -ENOTSUP when no section is accepted, or -ENOMEM. */
int sb_sdp_answer(const struct sb_sdp *offer, const struct sb_sdp_caps *caps, int n_caps,
		  const struct sb_sdp_local *local, struct sb_sdp **ret);

/* An offer with one section per caps entry (with local->bundle: mids "0",
 * "1", ... in one BUNDLE group; with SDES, local's crypto lines in every
 * RTP section; caps with a sctp_port make a data channel section, RFC
 * 8841). Returns 0
 * and sets *ret, -EINVAL (no caps or no proto) or -ENOMEM. */
int sb_sdp_offer(const struct sb_sdp_caps *caps, int n_caps, const struct sb_sdp_local *local,
		 struct sb_sdp **ret);

/* RFC 3264 section 8: a new offer in the same session as prev, our side of
 * the last completed exchange (our offer or our answer): the same sections
 * in the same order with their ports, formats, payload types, mids,
 * directions, rtcp-mux, SSRC, fingerprint and BUNDLE group, the o= version
 * one higher, and in every accepted section the ICE credentials and
 * candidates of local (RFC 8839 section 4.4.1.1.1: an ICE restart) and,
 * when it has a fingerprint, local->setup. Returns 0 and sets *ret,
 * -EINVAL (prev has no accepted section) or -ENOMEM. */
int sb_sdp_reoffer(const struct sb_sdp *prev, const struct sb_sdp_local *local,
		   struct sb_sdp **ret);

/* Checks answer against the offer it answers (RFC 3264 section 6): as
 * many sections, in order, of the same types, and every accepted section
 * has a codec the offer has (by name and rate). Returns 0 or -EPROTO with
 * a reason in err. */
int sb_sdp_answer_check(const struct sb_sdp *offer, const struct sb_sdp *answer, char *err,
			size_t errlen);
