/* Unit tests for the store: migrations, batched CDR writes and paged reads,
 * registrations with expiry, persistence across a reopen. */
#include <criterion/criterion.h>
#include <glib.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store/store.h"

static char dir[256];
static struct sb_config *cfg;

static void setup(void)
{
	char *d = g_dir_make_tmp("sb-store-XXXXXX", NULL);

	cr_assert_not_null(d);
	snprintf(dir, sizeof(dir), "%s", d);
	g_free(d);
	cfg = sb_config_new_default();
	free(cfg->general.data_dir);
	cfg->general.data_dir = strdup(dir);
}

static void teardown(void)
{
	char cmd[300];

	sb_config_unref(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

static struct sb_store *open_store(void)
{
	struct sb_store *st = sb_store_new(cfg);

	cr_assert_not_null(st);
	cr_assert_eq(sb_store_open(st), 0);
	return st;
}

Test(store, cdrs_are_written_and_paged_newest_first)
{
	struct sb_store *st = open_store();
	json_t *j, *cdrs;
	char *text;

	for (int i = 0; i < 30; i++) {
		char json[64], id[32];
		snprintf(json, sizeof(json), "{\"n\":%d}", i);
		snprintf(id, sizeof(id), "c-%d", i);
		cr_assert_eq(sb_store_cdr_add(st, id, 1000 + i, json), 0);
	}
	sb_store_sync(st);
	text = sb_store_cdrs_json(st, 5, 10);
	cr_assert_not_null(text);
	j = json_loads(text, 0, NULL);
	cr_assert_not_null(j, "%s", text);
	cdrs = json_object_get(j, "cdrs");
	cr_assert_eq(json_array_size(cdrs), 10);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(cdrs, 0), "n")), 24);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 30);
	cr_assert_eq(json_integer_value(json_object_get(j, "offset")), 5);
	json_decref(j);
	free(text);
	sb_store_free(st);
}

Test(store, limit_is_capped)
{
	struct sb_store *st = open_store();
	char *text = sb_store_cdrs_json(st, -3, 100000);
	json_t *j = json_loads(text, 0, NULL);

	cr_assert_eq(json_integer_value(json_object_get(j, "limit")), 500);
	cr_assert_eq(json_integer_value(json_object_get(j, "offset")), 0);
	json_decref(j);
	free(text);
	sb_store_free(st);
}

struct regs {
	int n;
	char seen[8][128];
};

static void reg_cb(const char *aor, const char *contact, int64_t exp, const char *json, void *ud)
{
	struct regs *r = ud;

	if (r->n < 8)
		snprintf(r->seen[r->n], sizeof(r->seen[0]), "%s %s %lld %s", aor, contact,
			 (long long)exp, json);
	r->n++;
}

Test(store, registrations_survive_a_reopen_and_expire)
{
	struct sb_store *st = open_store();
	struct regs r = {0};

	cr_assert_eq(sb_store_reg_put(st, "alice", "sip:alice@10.0.0.1:5060", 2000, "{}"), 0);
	cr_assert_eq(sb_store_reg_put(st, "alice", "sip:alice@10.0.0.2:5060", 3000, NULL), 0);
	cr_assert_eq(sb_store_reg_put(st, "bob", "sip:bob@10.0.0.3", 500, "{\"ua\":\"x\"}"), 0);
	/* A refresh replaces the row. */
	cr_assert_eq(sb_store_reg_put(st, "alice", "sip:alice@10.0.0.1:5060", 2500, "{}"), 0);
	cr_assert_eq(sb_store_reg_del(st, "bob", "sip:bob@10.0.0.3"), 0);
	sb_store_free(st); /* close flushes the queue */

	st = open_store();
	cr_assert_eq(sb_store_reg_load(st, 1000, reg_cb, &r), 2);
	cr_assert_str_eq(r.seen[0], "alice sip:alice@10.0.0.1:5060 2500 {}");
	cr_assert_str_eq(r.seen[1], "alice sip:alice@10.0.0.2:5060 3000 {}");
	r.n = 0;
	cr_assert_eq(sb_store_reg_load(st, 2600, reg_cb, &r), 1, "expired rows are not loaded");
	sb_store_free(st);
}

Test(store, schema_is_migrated_and_newer_refused)
{
	struct sb_store *st = open_store();
	char path[300];
	sqlite3 *db;

	sb_store_free(st);
	snprintf(path, sizeof(path), "%s/switchboard.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = sb_store_new(cfg);
	cr_assert_lt(sb_store_open(st), 0, "a database from a newer build is not touched");
	cr_assert_eq(sb_store_cdr_add(st, "c", 1, "{}"), -ESHUTDOWN);
	sb_store_free(st);
}

static gpointer writer(gpointer ud)
{
	for (int i = 0; i < 500; i++)
		sb_store_cdr_add(ud, "c-thread", i, "{\"t\":1}");
	return NULL;
}

Test(store, writes_from_several_threads)
{
	struct sb_store *st = open_store();
	GThread *t[4];
	char *text;
	json_t *j;

	for (int i = 0; i < 4; i++)
		t[i] = g_thread_new("w", writer, st);
	for (int i = 0; i < 4; i++)
		g_thread_join(t[i]);
	sb_store_sync(st);
	text = sb_store_cdrs_json(st, 0, 1);
	j = json_loads(text, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 2000);
	json_decref(j);
	free(text);
	sb_store_free(st);
}
