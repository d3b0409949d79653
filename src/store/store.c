/* SQLite persistence: a writer thread that drains a job queue in batched
 * transactions, a read-only connection for the control thread, and forward
 * migrations. The store owns both connections, the thread and every queued
 * job. */
#define SB_LOG_COMP SB_COMP_STORE

#include "store/store.h"

#include <errno.h>
#include <glib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "core/macros.h"
#include "core/strbuf.h"
#include "log/log.h"

enum job_kind {
	JOB_CDR,
	JOB_REG_PUT,
	JOB_REG_DEL,
	JOB_SYNC,
	JOB_STOP,
};

struct job {
	enum job_kind kind;
	char *a, *b, *json; /* call id / aor, contact */
	int64_t n;	    /* start ms / expires at */
	GMutex *sync_lock;  /* JOB_SYNC */
	GCond *sync_cond;
	bool *sync_done;
};

struct sb_store {
	struct sb_config *cfg;
	char *path;
	sqlite3 *wdb; /* THREAD: store */
	sqlite3 *rdb; /* THREAD: control */
	GAsyncQueue *jobs;
	GThread *thread;
	bool open;
};

/* Each entry moves the schema one version forward; never edit a shipped
 * one, append a new one. */
static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE cdrs (id INTEGER PRIMARY KEY, call_id TEXT NOT NULL,"
	" start_ms INTEGER NOT NULL, json TEXT NOT NULL);"
	"CREATE INDEX cdrs_start ON cdrs(start_ms);"
	"CREATE TABLE registrations (aor TEXT NOT NULL, contact TEXT NOT NULL,"
	" expires_at INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (aor, contact));",
};

int sb_store_schema_version(void)
{
	return (int)SB_ARRAY_SIZE(migrations);
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->a);
	free(j->b);
	free(j->json);
	free(j);
}

struct sb_store *sb_store_new(struct sb_config *cfg)
{
	struct sb_store *st = calloc(1, sizeof(*st));
	struct sb_strbuf p;

	if (!st)
		return NULL;
	st->cfg = sb_config_ref(cfg);
	sb_strbuf_init(&p);
	if (cfg->store.path[0] == '/' || strcmp(cfg->store.path, ":memory:") == 0)
		sb_strbuf_puts(&p, cfg->store.path);
	else
		sb_strbuf_printf(&p, "%s/%s", cfg->general.data_dir, cfg->store.path);
	st->path = sb_strbuf_steal(&p);
	st->jobs = g_async_queue_new();
	if (!st->path)
		return sb_store_free(st);
	return st;
}

struct sb_store *sb_store_free(struct sb_store *st)
{
	struct job *j;

	if (!st)
		return NULL;
	sb_store_close(st);
	while ((j = g_async_queue_try_pop(st->jobs)))
		job_free(j);
	g_async_queue_unref(st->jobs);
	sb_config_unref(st->cfg);
	free(st->path);
	free(st);
	return NULL;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sb_error("sqlite: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Applies every migration above the file's version, each in a transaction. */
static int migrate(sqlite3 *db)
{
	int v = user_version(db);

	if (v < 0)
		return -EIO;
	if (v > sb_store_schema_version()) {
		sb_error("%s: schema version %d is newer than this build knows (%d)",
			 sqlite3_db_filename(db, "main"), v, sb_store_schema_version());
		return -EPROTO;
	}
	for (; v < sb_store_schema_version(); v++) {
		char pragma[48];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", v + 1);
		if (exec(db, "BEGIN") < 0 || exec(db, migrations[v]) < 0 || exec(db, pragma) < 0 ||
		    exec(db, "COMMIT") < 0) {
			exec(db, "ROLLBACK");
			return -EIO;
		}
		sb_info("database migrated to schema version %d", v + 1);
	}
	return 0;
}

static int open_db(const char *path, int flags, sqlite3 **ret)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		sb_error("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 2000);
	*ret = db;
	return 0;
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

/* Writes one job inside the open transaction. */
static void write_job(struct sb_store *st, struct job *j)
{
	static const char *const sql[] = {
		[JOB_CDR] = "INSERT INTO cdrs (call_id, start_ms, json) VALUES (?1, ?2, ?3)",
		[JOB_REG_PUT] = ("INSERT OR REPLACE INTO registrations (aor, contact, expires_at, "
				 "json) VALUES (?1, ?2, ?3, ?4)"),
		[JOB_REG_DEL] = "DELETE FROM registrations WHERE aor = ?1 AND contact = ?2",
	};
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->wdb, sql[j->kind], -1, &s, NULL) != SQLITE_OK) {
		sb_error("sqlite: %s", sqlite3_errmsg(st->wdb));
		return;
	}
	bind_text(s, 1, j->a);
	if (j->kind == JOB_CDR) {
		sqlite3_bind_int64(s, 2, j->n);
		bind_text(s, 3, j->json);
	} else {
		bind_text(s, 2, j->b);
		if (j->kind == JOB_REG_PUT) {
			sqlite3_bind_int64(s, 3, j->n);
			bind_text(s, 4, j->json);
		}
	}
	if (sqlite3_step(s) != SQLITE_DONE)
		sb_error("sqlite write: %s", sqlite3_errmsg(st->wdb));
	sqlite3_finalize(s);
}

static void signal_sync(struct job *j)
{
	g_mutex_lock(j->sync_lock);
	*j->sync_done = true;
	g_cond_signal(j->sync_cond);
	g_mutex_unlock(j->sync_lock);
}

/* The store thread: waits for a job, then writes it and whatever else is
 * queued (up to batch_size, or flush_interval) in one transaction. */
static gpointer store_thread(gpointer ud)
{
	struct sb_store *st = ud;
	guint64 flush_us = (guint64)st->cfg->store.flush_interval_ms * 1000;
	int64_t batch = st->cfg->store.batch_size;
	bool stop = false;

	while (!stop) {
		struct job *j = g_async_queue_pop(st->jobs);
		struct job *syncs[64];
		size_t n_sync = 0;
		int64_t n = 0;

		exec(st->wdb, "BEGIN");
		while (j) {
			if (j->kind == JOB_STOP) {
				stop = true;
			} else if (j->kind == JOB_SYNC) {
				if (n_sync < SB_ARRAY_SIZE(syncs))
					syncs[n_sync++] = j;
				j = NULL; /* answered after the commit */
			} else {
				write_job(st, j);
			}
			job_free(j);
			if (stop || ++n >= batch || n_sync == SB_ARRAY_SIZE(syncs))
				break;
			j = g_async_queue_timeout_pop(st->jobs, n_sync ? 0 : flush_us);
		}
		exec(st->wdb, "COMMIT");
		for (size_t i = 0; i < n_sync; i++) {
			signal_sync(syncs[i]);
			job_free(syncs[i]);
		}
	}
	return NULL;
}

int sb_store_open(struct sb_store *st)
{
	int r;

	if (st->open)
		return 0;
	if (strcmp(st->path, ":memory:") != 0 && st->cfg->general.data_dir[0] &&
	    st->cfg->store.path[0] != '/')
		g_mkdir_with_parents(st->cfg->general.data_dir, 0750);
	r = open_db(st->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->wdb);
	if (r == 0)
		r = exec(st->wdb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
	if (r == 0)
		r = migrate(st->wdb);
	if (r == 0)
		r = open_db(st->path, SQLITE_OPEN_READONLY, &st->rdb);
	if (r < 0) {
		sqlite3_close(st->wdb);
		sqlite3_close(st->rdb);
		st->wdb = st->rdb = NULL;
		return r;
	}
	st->thread = g_thread_new("sb-store", store_thread, st);
	st->open = true;
	sb_info("database %s open (schema %d)", st->path, sb_store_schema_version());
	return 0;
}

static int queue(struct sb_store *st, struct job *j)
{
	if (!j)
		return -ENOMEM;
	if (!st->open) {
		job_free(j);
		return -ESHUTDOWN;
	}
	g_async_queue_push(st->jobs, j);
	return 0;
}

void sb_store_sync(struct sb_store *st)
{
	GMutex lock;
	GCond cond;
	bool done = false;
	struct job *j;

	if (!st->open)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	g_mutex_init(&lock);
	g_cond_init(&cond);
	*j = (struct job){
		.kind = JOB_SYNC, .sync_lock = &lock, .sync_cond = &cond, .sync_done = &done};
	g_mutex_lock(&lock);
	g_async_queue_push(st->jobs, j);
	while (!done)
		g_cond_wait(&cond, &lock);
	g_mutex_unlock(&lock);
	g_mutex_clear(&lock);
	g_cond_clear(&cond);
}

void sb_store_close(struct sb_store *st)
{
	struct job *j;

	if (!st->open)
		return;
	j = calloc(1, sizeof(*j));
	if (j) {
		j->kind = JOB_STOP;
		g_async_queue_push(st->jobs, j);
	}
	g_thread_join(st->thread);
	st->thread = NULL;
	sqlite3_close(st->rdb);
	sqlite3_close(st->wdb);
	st->rdb = st->wdb = NULL;
	st->open = false;
}

static struct job *job_new(enum job_kind kind, const char *a, const char *b, int64_t n,
			   const char *json)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = kind;
	j->n = n;
	j->a = a ? strdup(a) : NULL;
	j->b = b ? strdup(b) : NULL;
	j->json = json ? strdup(json) : NULL;
	if ((a && !j->a) || (b && !j->b) || (json && !j->json)) {
		job_free(j);
		return NULL;
	}
	return j;
}

int sb_store_cdr_add(struct sb_store *st, const char *call_id, int64_t start_ms, const char *json)
{
	return queue(st, job_new(JOB_CDR, call_id, NULL, start_ms, json));
}

int sb_store_reg_put(struct sb_store *st, const char *aor, const char *contact,
		     int64_t expires_at_s, const char *json)
{
	return queue(st, job_new(JOB_REG_PUT, aor, contact, expires_at_s, json ? json : "{}"));
}

int sb_store_reg_del(struct sb_store *st, const char *aor, const char *contact)
{
	return queue(st, job_new(JOB_REG_DEL, aor, contact, 0, NULL));
}

static int64_t count_cdrs(struct sb_store *st)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(st->rdb, "SELECT COUNT(*) FROM cdrs", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

char *sb_store_cdrs_json(struct sb_store *st, int64_t offset, int64_t limit)
{
	sqlite3_stmt *s;
	struct sb_strbuf b;
	int64_t total;
	bool first = true;

	if (!st->open)
		return NULL;
	offset = SB_MAX(offset, (int64_t)0);
	limit = SB_MIN(SB_MAX(limit, (int64_t)1), (int64_t)500);
	total = count_cdrs(st);
	if (total < 0 || sqlite3_prepare_v2(st->rdb,
					    "SELECT json FROM cdrs ORDER BY id DESC LIMIT ?1 "
					    "OFFSET ?2",
					    -1, &s, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(s, 1, limit);
	sqlite3_bind_int64(s, 2, offset);
	sb_strbuf_init(&b);
	sb_strbuf_puts(&b, "{\"cdrs\":[");
	while (sqlite3_step(s) == SQLITE_ROW) {
		/* Rows hold JSON the engine made; they are copied as they are. */
		sb_strbuf_printf(&b, "%s%s", first ? "" : ",",
				 (const char *)sqlite3_column_text(s, 0));
		first = false;
	}
	sqlite3_finalize(s);
	sb_strbuf_printf(&b, "],\"offset\":%lld,\"limit\":%lld,\"total\":%lld}", (long long)offset,
			 (long long)limit, (long long)total);
	return sb_strbuf_steal(&b);
}

int sb_store_reg_load(struct sb_store *st, int64_t now_s, sb_store_reg_cb cb, void *ud)
{
	sqlite3_stmt *s;
	int n = 0;

	if (!st->open)
		return -ESHUTDOWN;
	if (sqlite3_prepare_v2(st->rdb,
			       "SELECT aor, contact, expires_at, json FROM registrations "
			       "WHERE expires_at > ?1 ORDER BY aor, contact",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, now_s);
	while (sqlite3_step(s) == SQLITE_ROW) {
		cb((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
		   sqlite3_column_int64(s, 2), (const char *)sqlite3_column_text(s, 3), ud);
		n++;
	}
	sqlite3_finalize(s);
	return n;
}

static int component_start(void *ud, struct sb_lifecycle *lc)
{
	int r = sb_store_open(ud);

	if (r == 0)
		sb_lifecycle_ready(lc, "store");
	return r;
}

static void component_stop(void *ud)
{
	sb_store_close(ud);
}

const struct sb_component_ops sb_store_component = {
	.name = "store",
	.start = component_start,
	.stop = component_stop,
};
