/* The logger: per-component levels, thread-local context, text or JSON lines
 * to stderr or to a sink. Any thread; a line is written with one write(2) so
 * lines from different threads never interleave. */
#include "log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/strbuf.h"

int sb__log_levels[_SB_COMP_MAX] = {
#define SB_X(id, name) [SB_COMP_##id] = SB_LOG_INFO,
	SB_LOG_COMPONENTS(SB_X)
#undef SB_X
};

static const char *const comp_names[_SB_COMP_MAX] = {
#define SB_X(id, name) [SB_COMP_##id] = name,
	SB_LOG_COMPONENTS(SB_X)
#undef SB_X
};

static const char *const level_names[_SB_LOG_LEVEL_MAX] = {
	[SB_LOG_ERROR] = "error", [SB_LOG_WARN] = "warn",   [SB_LOG_INFO] = "info",
	[SB_LOG_DEBUG] = "debug", [SB_LOG_TRACE] = "trace",
};

static enum sb_log_format log_format = SB_LOG_FORMAT_AUTO;
static sb_log_sink_cb log_sink;
static void *log_sink_ud;
static _Thread_local struct sb_log_ctx tls_ctx;

void sb_log_set_level(enum sb_log_comp comp, enum sb_log_level level)
{
	if ((int)comp < 0 || comp >= _SB_COMP_MAX)
		return;
	__atomic_store_n(&sb__log_levels[comp], (int)level, __ATOMIC_RELAXED);
}

void sb_log_set_level_all(enum sb_log_level level)
{
	for (int i = 0; i < _SB_COMP_MAX; i++)
		sb_log_set_level((enum sb_log_comp)i, level);
}

enum sb_log_level sb_log_get_level(enum sb_log_comp comp)
{
	return (enum sb_log_level)__atomic_load_n(&sb__log_levels[comp], __ATOMIC_RELAXED);
}

void sb_log_set_format(enum sb_log_format fmt)
{
	log_format = fmt;
}

void sb_log_set_sink(sb_log_sink_cb cb, void *ud)
{
	log_sink = cb;
	log_sink_ud = ud;
}

const char *sb_log_level_name(enum sb_log_level level)
{
	if ((int)level < 0 || level >= _SB_LOG_LEVEL_MAX)
		return "?";
	return level_names[level];
}

enum sb_log_level sb_log_level_from_name(const char *s)
{
	for (int i = 0; i < _SB_LOG_LEVEL_MAX; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (enum sb_log_level)i;
	return _SB_LOG_LEVEL_INVALID;
}

const char *sb_log_comp_name(enum sb_log_comp comp)
{
	if ((int)comp < 0 || comp >= _SB_COMP_MAX)
		return "?";
	return comp_names[comp];
}

enum sb_log_comp sb_log_comp_from_name(const char *s)
{
	for (int i = 0; i < _SB_COMP_MAX; i++)
		if (strcasecmp(s, comp_names[i]) == 0)
			return (enum sb_log_comp)i;
	return _SB_COMP_INVALID;
}

const struct sb_log_ctx *sb_log_ctx_get(void)
{
	return &tls_ctx;
}

struct sb_log_ctx sb_log_ctx_push(const char *call, const char *leg, const char *action)
{
	struct sb_log_ctx prev = tls_ctx;

	if (call)
		tls_ctx.call = call;
	if (leg)
		tls_ctx.leg = leg;
	if (action)
		tls_ctx.action = action;
	return prev;
}

void sb_log_ctx_restore(const struct sb_log_ctx *prev)
{
	tls_ctx = *prev;
}

static void format_text(struct sb_strbuf *b, const struct sb_log_record *r)
{
	time_t secs = (time_t)(r->time_us / 1000000u);
	struct tm tm;
	char ts[32];

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	sb_strbuf_printf(b, "%s.%03u %-5s %-6s", ts, (unsigned)(r->time_us / 1000u % 1000u),
			 level_names[r->level], comp_names[r->comp]);
	if (r->ctx->call)
		sb_strbuf_printf(b, " call=%s", r->ctx->call);
	if (r->ctx->leg)
		sb_strbuf_printf(b, " leg=%s", r->ctx->leg);
	if (r->ctx->action)
		sb_strbuf_printf(b, " [%s]", r->ctx->action);
	sb_strbuf_printf(b, " %s\n", r->msg);
}

static void json_field(struct sb_strbuf *b, const char *key, const char *val)
{
	sb_strbuf_printf(b, ",\"%s\":\"", key);
	sb_strbuf_json_escape(b, val);
	sb_strbuf_puts(b, "\"");
}

static void format_json(struct sb_strbuf *b, const struct sb_log_record *r)
{
	sb_strbuf_printf(b, "{\"ts\":%llu.%06u", (unsigned long long)(r->time_us / 1000000u),
			 (unsigned)(r->time_us % 1000000u));
	json_field(b, "level", level_names[r->level]);
	json_field(b, "component", comp_names[r->comp]);
	if (r->ctx->call)
		json_field(b, "call", r->ctx->call);
	if (r->ctx->leg)
		json_field(b, "leg", r->ctx->leg);
	if (r->ctx->action)
		json_field(b, "action", r->ctx->action);
	json_field(b, "msg", r->msg);
	sb_strbuf_puts(b, "}\n");
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void sb__log_write(enum sb_log_comp comp, enum sb_log_level level, const char *file, int line,
		   const char *fmt, ...)
{
	char msg[1024];
	struct sb_log_record rec;
	struct sb_strbuf out;
	enum sb_log_format f = log_format;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rec = (struct sb_log_record){
		.time_us = sb_clock_real_us(),
		.level = level,
		.comp = comp,
		.ctx = &tls_ctx,
		.file = file,
		.line = line,
		.msg = msg,
	};
	if (log_sink) {
		log_sink(&rec, log_sink_ud);
		return;
	}
	if (f == SB_LOG_FORMAT_AUTO)
		f = isatty(STDERR_FILENO) ? SB_LOG_FORMAT_TEXT : SB_LOG_FORMAT_JSON;
	sb_strbuf_init(&out);
	if (f == SB_LOG_FORMAT_JSON)
		format_json(&out, &rec);
	else
		format_text(&out, &rec);
	if (!sb_strbuf_failed(&out))
		write_all(STDERR_FILENO, out.s, out.len);
	sb_strbuf_fini(&out);
}
