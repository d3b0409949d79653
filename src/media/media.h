/* The media plane: a pool of worker threads, each with its own GMainContext
 * and bus, holding WebRTC sessions (ICE, DTLS-SRTP) and relaying or echoing
 * their RTP.
 *
 * Threads: sb_media_new/free and the lifecycle ops on the control thread.
 * The engine ops (sb_media_engine_ops) are called on the control thread and
 * only post commands to a worker's bus; results come back on the control
 * bus as media.* events (docs/engine.md). Everything else runs on workers. */
#pragma once

#include "core/lifecycle.h"
#include "engine/engine.h"

struct sb_config;
struct sb_bus;
struct sb_media;

/* Creates the media component; results are posted to control_bus. NULL when
 * out of memory. Nothing starts before the lifecycle start. */
struct sb_media *sb_media_new(struct sb_config *cfg, struct sb_bus *control_bus);
/* Stops the workers (if running) and frees. Accepts NULL; returns NULL. */
struct sb_media *sb_media_free(struct sb_media *m);

/* The engine's media interface, carried out by this component (ud: the
 * struct sb_media). Only the types of engine.h are used; the engine library
 * is not linked. */
extern const struct sb_engine_media_ops sb_media_engine_ops;
/* The media plane as a lifecycle component (ud: the struct sb_media). */
extern const struct sb_component_ops sb_media_component;

/* Per-process counters, for metrics and tests. */
struct sb_media_counters {
	unsigned long long sessions_created, sessions_connected, sessions_failed;
	unsigned long long rtp_in, rtp_out, rtcp_in;
	unsigned long long dropped_plain;  /* unencrypted RTP on a WebRTC leg */
	unsigned long long dropped_auth;   /* SRTP authentication failed */
	unsigned long long dropped_replay; /* SRTP replayed */
	unsigned long long dtls_failed;	   /* handshake failed or fingerprint mismatch */
	unsigned long long ice_restarts;   /* ICE restarts offered (client moved) */
	/* the connected pair's socket taken from libnice's reads (docs/media.md) */
	unsigned long long ice_direct;
	unsigned long long stun_answered; /* the browser's checks we answered */
	unsigned long long stun_refused;  /* checks refused: USERNAME or integrity wrong */
	/* packets not relayed or echoed: to or from a session held from our side */
	unsigned long long dropped_held;
	unsigned long long hold_music_frames; /* music frames sent to held parties */
	unsigned long long conf_frames_mixed; /* conference mixes sent to members */
	/* frames of a member dropped: more than the mixer's allowance ahead */
	unsigned long long conf_frames_dropped;
	/* data channel chat (docs/media.md "Data channels"): messages
	 * received and sent, and dropped (too long, not UTF-8, no channel
	 * after the queue of 8 filled, or SCTP refused them) */
	unsigned long long chat_in, chat_out, chat_dropped;
};
void sb_media_counters(struct sb_media *m, struct sb_media_counters *ret);
