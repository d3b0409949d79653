/* The default media worker count (src/media/media.c, sb__media_cores): the
 * CPUs of the process's affinity, fewer when the cgroup v2 quota allows
 * fewer. Affinity is changed for the test thread only and restored. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "media/media_internal.h"

static char path[64];

static const char *cpu_max(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/sb-cpu-max-%d", (int)getpid());
	f = fopen(path, "we");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static unsigned affinity_count(void)
{
	cpu_set_t set;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	return (unsigned)CPU_COUNT(&set);
}

Test(cores, affinity_without_a_quota_file)
{
	cr_expect_eq(sb__media_cores("/nonexistent/cpu.max"), affinity_count());
	cr_expect_eq(sb__media_cores(cpu_max("max 100000\n")), affinity_count());
	unlink(path);
}

Test(cores, a_pinned_process_gets_one_worker)
{
	cpu_set_t all, one;

	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cr_expect_eq(sb__media_cores("/nonexistent/cpu.max"), 1);
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
}

Test(cores, the_quota_caps_rounded_up)
{
	unsigned n = affinity_count();

	cr_expect_eq(sb__media_cores(cpu_max("50000 100000\n")), 1, "half a core: one worker");
	cr_expect_eq(sb__media_cores(cpu_max("100000 100000\n")), 1);
	cr_expect_eq(sb__media_cores(cpu_max("150000 100000\n")), n < 2 ? n : 2,
		     "1.5 cores: two workers");
	cr_expect_eq(sb__media_cores(cpu_max("6400000 100000\n")), n, "a quota above the CPUs");
	cr_expect_eq(sb__media_cores(cpu_max("garbage\n")), n, "unreadable: affinity");
	unlink(path);
}
