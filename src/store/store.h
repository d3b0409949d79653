/* The store: SQLite persistence on its own thread (CDRs, registrations).
 *
 * Threads: writes (sb_store_cdr_add, sb_store_reg_put, sb_store_reg_del) may
 * be called from any thread; they queue a job and return at once, and the
 * store thread writes jobs in batched transactions. Reads (sb_store_cdrs_json,
 * sb_store_reg_load) run on the calling thread over a separate read-only
 * connection (WAL mode lets them run beside the writer); they are meant for
 * the control thread's admin API and start-up. The schema is versioned and
 * migrated forward at open. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/lifecycle.h"

struct sb_config;
struct sb_store;

/* Creates the store for cfg ([general] data_dir, [store] path, batch_size,
 * flush_interval); nothing is opened until start. NULL when out of memory. */
struct sb_store *sb_store_new(struct sb_config *cfg);
/* Flushes, joins the thread, closes. Accepts NULL; returns NULL. */
struct sb_store *sb_store_free(struct sb_store *st);
/* Opens (creating and migrating) the database and starts the thread. Returns
 * 0 or a negative code; the store is then unusable. */
int sb_store_open(struct sb_store *st);
/* Writes every queued job, then stops the thread. Idempotent. */
void sb_store_close(struct sb_store *st);

/* Queues a CDR (its JSON form, copied). Returns 0, -ENOMEM, or -ESHUTDOWN
 * when the store is not open. */
int sb_store_cdr_add(struct sb_store *st, const char *call_id, int64_t start_ms, const char *json);
/* CDRs newest first as {"cdrs":[...],"offset":N,"limit":N,"total":N},
 * malloc'd; NULL on error. limit is capped at 500. */
char *sb_store_cdrs_json(struct sb_store *st, int64_t offset, int64_t limit);

/* Registrations: one row per (aor, contact). */
int sb_store_reg_put(struct sb_store *st, const char *aor, const char *contact,
		     int64_t expires_at_s, const char *json);
int sb_store_reg_del(struct sb_store *st, const char *aor, const char *contact);
typedef void (*sb_store_reg_cb)(const char *aor, const char *contact, int64_t expires_at_s,
				const char *json, void *ud);
/* Calls cb for every registration not expired at now_s. Returns how many. */
int sb_store_reg_load(struct sb_store *st, int64_t now_s, sb_store_reg_cb cb, void *ud);

/* Waits until every job queued before the call is written. For tests and
 * shutdown. */
void sb_store_sync(struct sb_store *st);
/* Schema version the code migrates to. */
int sb_store_schema_version(void);

/* The store as a lifecycle component (ud: the store). */
extern const struct sb_component_ops sb_store_component;
