/* Small macros shared by every module. Any thread. */
#pragma once

#include <stddef.h>

#define SB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SB_LIKELY(x)	 __builtin_expect(!!(x), 1)
#define SB_UNLIKELY(x)	 __builtin_expect(!!(x), 0)
#define SB_MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define SB_MAX(a, b)	 ((a) > (b) ? (a) : (b))
#define SB_PRINTF(f, a)	 __attribute__((format(printf, f, a)))
#define SB_CACHELINE	 64

#define sb_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
