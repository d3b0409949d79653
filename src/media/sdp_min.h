/* The few SDP facts the media plane needs from a peer's offer, and the
 * answer it sends back. Pure functions; any thread.
 * Interim: when src/sdp (sofia-sip's parser) lands, this file is replaced by
 * calls into it. Until then every line is read with bounds checks and limits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SB_SDPMIN_MAX_CANDS  32
#define SB_SDPMIN_MAX_CODECS 16
#define SB_SDPMIN_MAX_LEN    (64 * 1024)

struct sb_sdpmin_codec {
	int pt;
	char name[24];
	int rate;
	int channels;
	char fmtp[128];
};

struct sb_sdpmin {
	char ufrag[64];
	char pwd[160];
	char fingerprint[128]; /* "sha-256 AB:CD..." */
	char setup[16];	       /* actpass, active, passive */
	char mid[32];
	char proto[32];
	char addr[64]; /* c= address of the audio section */
	int port;      /* m= port */
	bool bundle;
	bool rtcp_mux;
	char candidates[SB_SDPMIN_MAX_CANDS][256]; /* "candidate:..." (no "a=") */
	int n_candidates;
	struct sb_sdpmin_codec codecs[SB_SDPMIN_MAX_CODECS]; /* offer order */
	int n_codecs;
};

/* Reads the first audio section of sdp. Returns 0, or -E2BIG (too long),
 * -EBADMSG (no audio section, or a line too long), with a reason in err. */
int sb_sdpmin_parse(const char *sdp, struct sb_sdpmin *ret, char *err, size_t errlen);
/* The codec to use: opus, then PCMU, then PCMA; NULL when none is offered. */
const struct sb_sdpmin_codec *sb_sdpmin_pick(const struct sb_sdpmin *s);
/* The offered telephone-event payload type at rate, or -1. */
int sb_sdpmin_dtmf_pt(const struct sb_sdpmin *s, int rate);

struct sb_sdpmin_local {
	const char *ufrag, *pwd, *fingerprint, *setup;
	unsigned ssrc;
	const char *const *candidates; /* "candidate:..." lines */
	int n_candidates;
};

/* The WebRTC answer to offer with one codec (and telephone-event when the
 * offer has it). malloc'd CRLF text, or NULL. */
char *sb_sdpmin_answer_webrtc(const struct sb_sdpmin *offer, const struct sb_sdpmin_codec *codec,
			      const struct sb_sdpmin_local *local);

/* A plain RTP/AVP description (offer or answer) toward a SIP peer: our
 * address and RTP port (RTCP on port + 1, a=rtcp), the codecs in order and
 * telephone-event at dtmf_pt (-1: none). malloc'd CRLF text, or NULL. */
char *sb_sdpmin_rtp(const char *addr, int port, const struct sb_sdpmin_codec *codecs, int n_codecs,
		    int dtmf_pt, unsigned ssrc);
