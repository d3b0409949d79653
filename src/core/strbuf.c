/* Growable text buffer. Single owner; allocation failures latch. */
#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_strbuf_init(struct sb_strbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void sb_strbuf_fini(struct sb_strbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

void sb_strbuf_reset(struct sb_strbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

static bool reserve(struct sb_strbuf *b, size_t extra)
{
	size_t need, cap;
	char *s;

	if (b->failed)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->failed = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void sb_strbuf_append(struct sb_strbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_strbuf_puts(struct sb_strbuf *b, const char *s)
{
	sb_strbuf_append(b, s, strlen(s));
}

void sb_strbuf_vprintf(struct sb_strbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !reserve(b, (size_t)n)) {
		b->failed = true;
		return;
	}
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void sb_strbuf_printf(struct sb_strbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_strbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void sb_strbuf_json_escape(struct sb_strbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			sb_strbuf_append(b, "\\\"", 2);
			break;
		case '\\':
			sb_strbuf_append(b, "\\\\", 2);
			break;
		case '\n':
			sb_strbuf_append(b, "\\n", 2);
			break;
		case '\r':
			sb_strbuf_append(b, "\\r", 2);
			break;
		case '\t':
			sb_strbuf_append(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20)
				sb_strbuf_printf(b, "\\u%04x", *p);
			else
				sb_strbuf_append(b, (const char *)p, 1);
		}
	}
}

const char *sb_strbuf_cstr(const struct sb_strbuf *b)
{
	return b->s ? b->s : "";
}

char *sb_strbuf_steal(struct sb_strbuf *b)
{
	char *s;

	if (b->failed) {
		sb_strbuf_fini(b);
		return NULL;
	}
	s = b->s ? b->s : strdup("");
	memset(b, 0, sizeof(*b));
	return s;
}
