/* A growable text buffer for building output (JSON lines, metrics, SDP).
 * One owner thread at a time. Never on the media hot path.
 * On allocation failure the buffer latches an error: later appends do nothing
 * and sb_strbuf_failed() returns true, so callers check once at the end. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/macros.h"

struct sb_strbuf {
	char *s;
	size_t len;
	size_t cap;
	bool failed;
};

void sb_strbuf_init(struct sb_strbuf *b);
void sb_strbuf_fini(struct sb_strbuf *b);
void sb_strbuf_reset(struct sb_strbuf *b);
void sb_strbuf_append(struct sb_strbuf *b, const char *s, size_t n);
void sb_strbuf_puts(struct sb_strbuf *b, const char *s);
void sb_strbuf_printf(struct sb_strbuf *b, const char *fmt, ...) SB_PRINTF(2, 3);
void sb_strbuf_vprintf(struct sb_strbuf *b, const char *fmt, va_list ap) SB_PRINTF(2, 0);
/* Appends s as the inside of a JSON string (quotes not included). */
void sb_strbuf_json_escape(struct sb_strbuf *b, const char *s);
/* Returns the NUL-terminated text ("" when empty). */
const char *sb_strbuf_cstr(const struct sb_strbuf *b);
static inline bool sb_strbuf_failed(const struct sb_strbuf *b)
{
	return b->failed;
}
/* Hands the text to the caller (free() it) and resets the buffer. NULL on failure. */
char *sb_strbuf_steal(struct sb_strbuf *b);
