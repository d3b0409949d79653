/* Identifiers. Any thread.
 * Numeric ids are unique within the process (events, calls, legs). Tokens are
 * random and unguessable (resume tokens, call ids on the wire). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A process-unique, never-zero 64-bit id. Lock-free. */
uint64_t sb_id_next(void);

/* Fills out with 2*nbytes lowercase hex characters of randomness and a NUL.
 * out_size must be at least 2*nbytes+1. Returns 0, or -EINVAL, -EIO. */
int sb_id_random_hex(char *out, size_t out_size, size_t nbytes);
