/* Context-carrying logger. Any thread.
 *
 * A .c file names its component once, before including this header:
 *     #define SB_LOG_COMP SB_COMP_SIP
 * Context (call id, leg, action) is set once per scope with SB_LOG_SCOPE() and
 * every line logged on that thread inherits it until the scope ends; call
 * sites never repeat ids. The level check happens before any argument is
 * evaluated. Levels are per component and may change at run time.
 * The logger is the one permitted global (see STYLE.md). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/macros.h"

enum sb_log_level {
	SB_LOG_ERROR,
	SB_LOG_WARN,
	SB_LOG_INFO,
	SB_LOG_DEBUG,
	SB_LOG_TRACE,
	_SB_LOG_LEVEL_MAX,
	_SB_LOG_LEVEL_INVALID = -22,
};

/* Components, in the order of their names in sb_log_comp_name(). */
#define SB_LOG_COMPONENTS(X)                                                                       \
	X(MAIN, "main")                                                                            \
	X(CONFIG, "config")                                                                        \
	X(BUS, "bus")                                                                              \
	X(ENGINE, "engine")                                                                        \
	X(SIGNAL, "signal")                                                                        \
	X(HTTP, "http")                                                                            \
	X(SIP, "sip")                                                                              \
	X(SDP, "sdp")                                                                              \
	X(MEDIA, "media")                                                                          \
	X(STORE, "store")                                                                          \
	X(TEST, "test")

enum sb_log_comp {
#define SB_X(id, name) SB_COMP_##id,
	SB_LOG_COMPONENTS(SB_X)
#undef SB_X
		_SB_COMP_MAX,
	_SB_COMP_INVALID = -22,
};

enum sb_log_format {
	SB_LOG_FORMAT_AUTO, /* text on a terminal, JSON lines otherwise */
	SB_LOG_FORMAT_TEXT,
	SB_LOG_FORMAT_JSON,
	_SB_LOG_FORMAT_MAX,
	_SB_LOG_FORMAT_INVALID = -22,
};

/* The context every line inherits. Strings are borrowed: they must outlive
 * the scope that set them. */
struct sb_log_ctx {
	const char *call;   /* call id, or NULL */
	const char *leg;    /* leg name or id, or NULL */
	const char *action; /* what is being done, e.g. "DTLS handshaking" */
};

/* A record as handed to a sink. */
struct sb_log_record {
	uint64_t time_us; /* wall clock */
	enum sb_log_level level;
	enum sb_log_comp comp;
	const struct sb_log_ctx *ctx;
	const char *file;
	int line;
	const char *msg;
};

typedef void (*sb_log_sink_cb)(const struct sb_log_record *rec, void *ud);

extern int sb__log_levels[_SB_COMP_MAX];

static inline bool sb_log_enabled(enum sb_log_comp comp, enum sb_log_level level)
{
	return (int)level <= __atomic_load_n(&sb__log_levels[comp], __ATOMIC_RELAXED);
}

void sb_log_set_level(enum sb_log_comp comp, enum sb_log_level level);
void sb_log_set_level_all(enum sb_log_level level);
enum sb_log_level sb_log_get_level(enum sb_log_comp comp);
void sb_log_set_format(enum sb_log_format fmt);
/* Replaces the output (stderr) with a sink, or restores it with NULL.
 * Call before threads start logging, or in tests. */
void sb_log_set_sink(sb_log_sink_cb cb, void *ud);

const char *sb_log_level_name(enum sb_log_level level);
enum sb_log_level sb_log_level_from_name(const char *s);
const char *sb_log_comp_name(enum sb_log_comp comp);
enum sb_log_comp sb_log_comp_from_name(const char *s);

/* The calling thread's context. */
const struct sb_log_ctx *sb_log_ctx_get(void);
/* Sets fields of the thread's context (NULL leaves a field as it is) and
 * returns the previous context for sb_log_ctx_restore(). */
struct sb_log_ctx sb_log_ctx_push(const char *call, const char *leg, const char *action);
void sb_log_ctx_restore(const struct sb_log_ctx *prev);

void sb__log_write(enum sb_log_comp comp, enum sb_log_level level, const char *file, int line,
		   const char *fmt, ...) SB_PRINTF(5, 6);

/* Sets call/leg/action for the rest of the enclosing block. */
#define SB_LOG_SCOPE(call, leg, action)                                                            \
	struct sb_log_ctx sb__log_saved_ctx __attribute__((unused))                                \
	__attribute__((cleanup(sb_log_ctx_restore))) = sb_log_ctx_push(call, leg, action)

#define sb_log_at(comp, level, ...)                                                                \
	do {                                                                                       \
		if (sb_log_enabled(comp, level))                                                   \
			sb__log_write(comp, level, __FILE__, __LINE__, __VA_ARGS__);               \
	} while (0)

#ifdef SB_LOG_COMP
#define sb_error(...) sb_log_at(SB_LOG_COMP, SB_LOG_ERROR, __VA_ARGS__)
#define sb_warn(...)  sb_log_at(SB_LOG_COMP, SB_LOG_WARN, __VA_ARGS__)
#define sb_info(...)  sb_log_at(SB_LOG_COMP, SB_LOG_INFO, __VA_ARGS__)
#define sb_debug(...) sb_log_at(SB_LOG_COMP, SB_LOG_DEBUG, __VA_ARGS__)
#define sb_trace(...) sb_log_at(SB_LOG_COMP, SB_LOG_TRACE, __VA_ARGS__)
#endif
