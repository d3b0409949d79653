/* The SIP plane: sofia-sip nua on the control thread's GLib loop (su_glib
 * root, single-threaded). One nua per [sip] listen entry. Registrar with
 * digest authentication and a location service; inbound and outbound call
 * legs for the engine (sb_sip_engine_ops).
 *
 * Threads: everything on the control thread. Only src/sip includes sofia
 * headers. Incoming SIP reaches the engine as SIP_* events on the control bus
 * (docs/engine.md); the engine commands SIP through sb_sip_engine_ops. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/lifecycle.h"
#include "engine/engine.h"

struct sb_config;
struct sb_bus;
struct sb_sip;
struct sb_strbuf;

/* Persistence of registrations, provided by main.c (the store): called when
 * a binding is added, refreshed or removed. May be left unset. */
struct sb_sip_persist {
	/* nat: the contact is a NAT-rewritten one (its keepalives resume
	 * after a restart). */
	void (*put)(void *ud, const char *aor, const char *contact, int64_t expires_at_s, bool nat);
	void (*del)(void *ud, const char *aor, const char *contact);
	void *ud;
};

struct sb_sip *sb_sip_new(struct sb_config *cfg, struct sb_bus *control_bus);
struct sb_sip *sb_sip_free(struct sb_sip *sip);
void sb_sip_set_persist(struct sb_sip *sip, const struct sb_sip_persist *p);
/* Restores a binding loaded from the store, before start. */
void sb_sip_location_restore(struct sb_sip *sip, const char *aor, const char *contact,
			     int64_t expires_at_s, bool nat);
/* Registered contacts of user right now (not expired). */
size_t sb_sip_location_count(struct sb_sip *sip, const char *user);
/* Live bindings as malloc'd JSON {"user": [{contact, expires_in, nat}]}
 * (GET /api/v1/registrations); NULL when out of memory. */
char *sb_sip_location_json(struct sb_sip *sip);
/* Trunk states as a malloc'd JSON array of {name, registration (off,
 * registering, registered, backoff), keepalive (off, unknown, up, down),
 * ...} (GET /api/v1/trunks); NULL when out of memory. */
char *sb_sip_trunks_json(struct sb_sip *sip);
/* The upstream accounts of [user]s as a malloc'd JSON array of {user,
 * trunk, username, registration (off, registering, registered, backoff),
 * ...} (GET /api/v1/accounts); NULL when out of memory. */
char *sb_sip_accounts_json(struct sb_sip *sip);
/* Appends the switchboard_sip_trunk_* and switchboard_sip_account_*
 * families to a /metrics scrape. */
void sb_sip_client_metrics_write(struct sb_sip *sip, struct sb_strbuf *out);

extern const struct sb_engine_sip_ops sb_sip_engine_ops;
extern const struct sb_component_ops sb_sip_component;
