/* Process-unique ids and random tokens. Any thread; the counter is atomic. */
#include "core/ids.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/random.h>

static atomic_uint_fast64_t id_counter = 0;

#define ID_BLOCK 1024

/* Each thread takes ids from a block it reserved, so that posting threads do
 * not contend on one counter. */
static _Thread_local uint64_t tls_next, tls_end;

uint64_t sb_id_next(void)
{
	if (tls_next == tls_end) {
		tls_next =
			atomic_fetch_add_explicit(&id_counter, ID_BLOCK, memory_order_relaxed) + 1;
		tls_end = tls_next + ID_BLOCK;
	}
	return tls_next++;
}

int sb_id_random_hex(char *out, size_t out_size, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t got = 0;

	if (nbytes == 0 || nbytes > sizeof(raw) || out_size < 2 * nbytes + 1)
		return -EINVAL;
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}
