/* Internals of src/media shared by media.c and session.c. */
#pragma once

#include <agent.h>
#include <interfaces.h>
#include <glib.h>
#include <srtp2/srtp.h>
#include <stdatomic.h>

#include "bus/bus.h"
#include "media/dtls.h"
#include "media/media.h"
#include "media/sdp_min.h"

struct sb_mworker {
	struct sb_media *m;
	unsigned index;
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	struct sb_bus *bus;   /* inbox: commands from the control thread */
	GHashTable *sessions; /* id -> struct sb_msession; THREAD: this worker */
};

struct sb_media {
	struct sb_config *cfg;
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
	struct sb_sdpmin offer;
	struct sb_sdpmin_codec codec;
	uint32_t ssrc_out;
	uint64_t peer; /* bridged session id, 0: none */
};

/* session.c, on the worker thread */
void sb__msession_create(struct sb_mworker *w, const struct sb_event *ev);
void sb__msession_candidate(struct sb_mworker *w, uint64_t id, const char *cand);
void sb__msession_destroy(struct sb_mworker *w, uint64_t id);
void sb__msession_free(gpointer p);
/* Posts a result event on the control bus. Takes text. */
void sb__media_post(struct sb_msession *s, enum sb_event_type type, int64_t arg1, const char *str,
		    char *text);
