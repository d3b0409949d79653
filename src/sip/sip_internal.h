/* Internals of src/sip. Control thread only. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct sb_sip;
struct sb_sip_dialog;

#define NUA_MAGIC_T	struct sb_sip
#define NUA_HMAGIC_T	struct sb_sip_dialog
#define SU_ROOT_MAGIC_T struct sb_sip

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_glib.h>

#include "sip/sip.h"

#define SB_SIP_MAX_LISTEN 8
/* Redirect targets remembered per outbound leg (tried and pending). */
#define SB_SIP_MAX_TARGETS 16

/* A Contact of a 3xx still to try, with its q value in thousandths. */
struct sb_sip_target {
	char *uri;
	unsigned q;
};

/* A call leg: an INVITE dialog, inbound or outbound. */
struct sb_sip_dialog {
	struct sb_sip *sip;
	nua_handle_t *nh;
	uint64_t handle; /* our id for an inbound INVITE before the engine binds it */
	uint64_t call;
	uint32_t leg;
	bool inbound;
	bool answered;
	bool ended;
	char *local_sdp; /* our last description toward the party */
	int remote_mode; /* the party's media direction (sdp_mode_t) */
	/* Outbound only: the INVITE's headers and the redirects (RFC 3261
	 * section 8.1.3.4) tried and still pending. */
	char *from, *to;
	char *target;	 /* the Request-URI of the INVITE in progress */
	unsigned min_se; /* raised by a 422 (RFC 4028 section 6), 0: ours */
	char *tried[SB_SIP_MAX_TARGETS];
	size_t n_tried;
	struct sb_sip_target pending[SB_SIP_MAX_TARGETS];
	size_t n_pending;
	unsigned hops;
};

struct sb_sip_binding {
	char *contact;
	int64_t expires_at_s;
};

struct sb_sip {
	struct sb_config *cfg;
	struct sb_bus *bus;
	su_root_t *root;
	guint source_id;
	nua_t *nua[SB_SIP_MAX_LISTEN];
	size_t n_nua;
	size_t shutting_down;  /* nua instances still shutting down */
	GHashTable *by_handle; /* uint64 handle -> dialog (inbound, before bind) */
	GHashTable *by_leg;    /* uint64 (call << 8 | leg) -> dialog */
	GHashTable *location;  /* user -> GPtrArray of struct sb_sip_binding */
	uint64_t next_handle;
	char nonce_key[33]; /* secret for stateless nonces */
	struct sb_sip_persist persist;
	const char *contacts_out[16]; /* returned by the contacts op */
};

/* dialog.c: SDP direction for re-INVITEs, redirect targets */

/* The answer to a re-INVITE's offer (RFC 3264 section 8.4): ours (our
 * last description) with every stream's direction mirroring the offer's
 * and the origin version raised. c=0.0.0.0 in the offer counts as
 * sendonly (RFC 3264 section 8.4, the RFC 2543 hold). *ret_mode: the
 * offer's direction as sdp_mode_t. Returns 0, -EINVAL when either
 * description does not parse, -ENOMEM. */
int sb__sip_sdp_answer_mode(const char *offer, const char *ours, char **ret_sdp, int *ret_mode);
/* "sendrecv", "sendonly", "recvonly" or "inactive". */
const char *sb__sip_mode_name(int mode);
/* Remembers uri as tried; true when it was tried before (compared as SIP
 * URIs: scheme, user, host, port). */
bool sb__sip_target_seen(struct sb_sip_dialog *d, const char *uri);
/* Adds the Contacts of a 3xx that were not tried yet, in q order. */
void sb__sip_targets_add(struct sb_sip_dialog *d, const sip_contact_t *m);
/* The pending target with the highest q (first listed on a tie), removed
 * from the list; the caller frees it. NULL when none is left. */
char *sb__sip_target_next(struct sb_sip_dialog *d);
void sb__sip_targets_clear(struct sb_sip_dialog *d);

/* registrar.c */
void sb__sip_on_register(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, const sip_t *s);
/* Checks digest credentials (Authorization or Proxy-Authorization) of a
 * request for user; true when valid. */
bool sb__sip_digest_ok(struct sb_sip *sip, const char *method, const msg_auth_t *auth,
		       const char *user);
/* Responds 401/407 with a fresh challenge. */
void sb__sip_challenge(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, bool proxy);
void sb__sip_location_free(gpointer p);
