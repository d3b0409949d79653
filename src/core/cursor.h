/* Bounds-checked reading of untrusted bytes. Any thread; no allocation.
 * Every read checks the remaining length; a failed read leaves the cursor
 * where it was and returns -EBADMSG. Parsers of outside input use this. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sb_cursor {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline void sb_cursor_init(struct sb_cursor *c, const void *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
}

static inline size_t sb_cursor_left(const struct sb_cursor *c)
{
	return c->len - c->off;
}

static inline const uint8_t *sb_cursor_ptr(const struct sb_cursor *c)
{
	return c->p + c->off;
}

static inline int sb_cursor_skip(struct sb_cursor *c, size_t n)
{
	if (sb_cursor_left(c) < n)
		return -EBADMSG;
	c->off += n;
	return 0;
}

static inline int sb_cursor_u8(struct sb_cursor *c, uint8_t *ret)
{
	if (sb_cursor_left(c) < 1)
		return -EBADMSG;
	*ret = c->p[c->off++];
	return 0;
}

static inline int sb_cursor_be16(struct sb_cursor *c, uint16_t *ret)
{
	if (sb_cursor_left(c) < 2)
		return -EBADMSG;
	*ret = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);
	c->off += 2;
	return 0;
}

static inline int sb_cursor_be32(struct sb_cursor *c, uint32_t *ret)
{
	const uint8_t *q;

	if (sb_cursor_left(c) < 4)
		return -EBADMSG;
	q = c->p + c->off;
	*ret = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
	c->off += 4;
	return 0;
}

static inline int sb_cursor_bytes(struct sb_cursor *c, void *out, size_t n)
{
	if (sb_cursor_left(c) < n)
		return -EBADMSG;
	memcpy(out, c->p + c->off, n);
	c->off += n;
	return 0;
}
