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

/* check.c: 0 when an INVITE's body and Accept suit us, else the status to
 * answer (415 with Accept: application/sdp, or 406). */
int sb__sip_invite_check(const sip_t *s);

/* registrar.c */
void sb__sip_on_register(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, const sip_t *s);
/* Checks digest credentials (Authorization or Proxy-Authorization) of a
 * request for user; true when valid. */
bool sb__sip_digest_ok(struct sb_sip *sip, const char *method, const msg_auth_t *auth,
		       const char *user);
/* Responds 401/407 with a fresh challenge. */
void sb__sip_challenge(struct sb_sip *sip, nua_t *nua, nua_handle_t *nh, bool proxy);
void sb__sip_location_free(gpointer p);
