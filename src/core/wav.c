/* WAV (RIFF WAVE, 16-bit mono PCM) reading for music on hold. Pure but for
 * reading the file; any thread. */
#include "core/wav.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cursor.h"

static int le16(struct sb_cursor *c, uint16_t *ret)
{
	uint8_t a, b;

	if (sb_cursor_u8(c, &a) < 0 || sb_cursor_u8(c, &b) < 0)
		return -EBADMSG;
	*ret = (uint16_t)(a | b << 8);
	return 0;
}

static int le32(struct sb_cursor *c, uint32_t *ret)
{
	uint16_t lo, hi;

	if (le16(c, &lo) < 0 || le16(c, &hi) < 0)
		return -EBADMSG;
	*ret = (uint32_t)lo | (uint32_t)hi << 16;
	return 0;
}

static int id_is(struct sb_cursor *c, const char *id)
{
	if (sb_cursor_left(c) < 4 || memcmp(sb_cursor_ptr(c), id, 4) != 0)
		return -EBADMSG;
	return sb_cursor_skip(c, 4);
}

/* The body of the file read into buf (len bytes): finds "fmt " and
 * "data" among the chunks (others, such as LIST, are skipped). */
static int parse(const uint8_t *buf, size_t len, const uint8_t **ret_data, size_t *ret_len,
		 int *ret_rate, char *err, size_t errlen)
{
	struct sb_cursor c;
	uint32_t rate = 0;
	uint16_t fmt = 0, channels = 0, bits = 0;
	bool have_fmt = false;

	sb_cursor_init(&c, buf, len);
	if (id_is(&c, "RIFF") < 0 || sb_cursor_skip(&c, 4) < 0 || id_is(&c, "WAVE") < 0) {
		snprintf(err, errlen, "not a WAV file (no RIFF WAVE header)");
		return -EBADMSG;
	}
	while (sb_cursor_left(&c) >= 8) {
		bool is_fmt = memcmp(sb_cursor_ptr(&c), "fmt ", 4) == 0;
		bool is_data = memcmp(sb_cursor_ptr(&c), "data", 4) == 0;
		uint32_t size = 0;

		if (sb_cursor_skip(&c, 4) < 0 || le32(&c, &size) < 0)
			break;
		if (size > sb_cursor_left(&c)) {
			if (!is_data)
				break;
			size = (uint32_t)sb_cursor_left(&c); /* a truncated data chunk */
		}
		if (is_fmt) {
			struct sb_cursor f;

			sb_cursor_init(&f, sb_cursor_ptr(&c), size);
			if (le16(&f, &fmt) < 0 || le16(&f, &channels) < 0 || le32(&f, &rate) < 0 ||
			    sb_cursor_skip(&f, 6) < 0 || le16(&f, &bits) < 0)
				break;
			have_fmt = true;
		} else if (is_data) {
			if (!have_fmt)
				break;
			if (fmt != 1 || channels != 1 || bits != 16 || rate < 1000 ||
			    rate > 192000) {
				snprintf(err, errlen,
					 "not 16-bit mono PCM (format %u, %u channels, %u bits, "
					 "%u Hz)",
					 fmt, channels, bits, rate);
				return -ENOTSUP;
			}
			if (size < 2) {
				snprintf(err, errlen, "no samples");
				return -EBADMSG;
			}
			*ret_data = sb_cursor_ptr(&c);
			*ret_len = size;
			*ret_rate = (int)rate;
			return 0;
		}
		/* Chunks are padded to an even length. */
		if (sb_cursor_skip(&c, size + (size & 1)) < 0)
			break;
	}
	snprintf(err, errlen, "not a WAV file (no fmt and data chunks)");
	return -EBADMSG;
}

static int slurp(const char *path, uint8_t **ret, size_t *ret_len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf = NULL;
	int r = 0;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(-r));
		return r;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "'%s' is not a regular file", path);
	} else if ((uint64_t)st.st_size > SB_WAV_MAX_BYTES) {
		r = -EFBIG;
		snprintf(err, errlen, "'%s' is larger than %u bytes", path, SB_WAV_MAX_BYTES);
	} else if (!(buf = malloc((size_t)st.st_size + 1))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	} else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		r = -EIO;
		snprintf(err, errlen, "cannot read '%s'", path);
	}
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_len = (size_t)st.st_size;
	return 0;
}

int sb_wav_read(const char *path, int16_t **ret_pcm, size_t *ret_n, int *ret_rate, char *err,
		size_t errlen)
{
	const uint8_t *data = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, dlen = 0, n;
	int16_t *pcm;
	int rate = 0, r;

	r = slurp(path, &buf, &len, err, errlen);
	if (r < 0)
		return r;
	r = parse(buf, len, &data, &dlen, &rate, err, errlen);
	if (r < 0) {
		free(buf);
		return r;
	}
	n = dlen / 2;
	pcm = malloc(n * sizeof(*pcm));
	if (!pcm) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)(uint16_t)(data[2 * i] | data[2 * i + 1] << 8);
	free(buf);
	*ret_pcm = pcm;
	*ret_n = n;
	*ret_rate = rate;
	return 0;
}
