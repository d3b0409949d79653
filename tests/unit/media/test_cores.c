/* The default media worker count (src/media/media.c, sb__media_cores): the
 * CPUs of the process's affinity, fewer when a cgroup v2 quota on its cgroup
 * or one above it allows fewer. The cgroup trees are made in a temporary
 * directory; affinity is changed in the test's own process (Criterion forks
 * one per test) and restored. */
#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "media/media_internal.h"

static char *root;

static void tree_new(void)
{
	root = g_dir_make_tmp("sb-cgroup-XXXXXX", NULL);
	cr_assert_not_null(root);
}

static void tree_free(void)
{
	char *cmd = g_strdup_printf("rm -rf '%s'", root);

	cr_expect_eq(system(cmd), 0);
	g_free(cmd);
	g_free(root);
}

/* Writes text into root/rel (making its directories). */
static void put(const char *rel, const char *text)
{
	char *path = g_build_filename(root, rel, NULL);
	char *dir = g_path_get_dirname(path);

	cr_assert_eq(g_mkdir_with_parents(dir, 0700), 0);
	cr_assert(g_file_set_contents(path, text, -1, NULL), "%s", path);
	g_free(dir);
	g_free(path);
}

/* The cores for a process in cgroup path (as /proc/self/cgroup names it). */
static unsigned cores_in(const char *path)
{
	char *self = g_strdup_printf("0::%s\n", path);
	char *file;
	unsigned n;

	put("self-cgroup", self);
	file = g_build_filename(root, "self-cgroup", NULL);
	n = sb__media_cores(root, file);
	g_free(file);
	g_free(self);
	return n;
}

static unsigned affinity_count(void)
{
	cpu_set_t set;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	return (unsigned)CPU_COUNT(&set);
}

TestSuite(cores, .init = tree_new, .fini = tree_free);

Test(cores, affinity_without_quotas)
{
	cr_expect_eq(sb__media_cores("/nonexistent", "/nonexistent/cgroup"), affinity_count());
	put("cpu.max", "max 100000\n");
	cr_expect_eq(cores_in("/"), affinity_count());
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
	cr_expect_eq(sb__media_cores("/nonexistent", "/nonexistent/cgroup"), 1);
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
}

Test(cores, the_quota_of_a_container_caps_rounded_up)
{
	unsigned n = affinity_count();

	put("cpu.max", "50000 100000\n");
	cr_expect_eq(cores_in("/"), 1, "half a core: one worker");
	put("cpu.max", "100000 100000\n");
	cr_expect_eq(cores_in("/"), 1);
	put("cpu.max", "150000 100000\n");
	cr_expect_eq(cores_in("/"), n < 2 ? n : 2, "1.5 cores: two workers");
	put("cpu.max", "6400000 100000\n");
	cr_expect_eq(cores_in("/"), n, "a quota above the CPUs");
	put("cpu.max", "garbage\n");
	cr_expect_eq(cores_in("/"), n, "unreadable: affinity");
}

Test(cores, the_tightest_quota_from_our_cgroup_up_holds)
{
	unsigned n = affinity_count();

	/* A systemd service (CPUQuota=) in a slice without a quota. */
	put("system.slice/cpu.max", "max 100000\n");
	put("system.slice/sb.service/cpu.max", "100000 100000\n");
	cr_expect_eq(cores_in("/system.slice/sb.service"), 1, "the service's own quota");
	/* A quota on the slice above, none on the service. */
	put("system.slice/cpu.max", "100000 100000\n");
	put("system.slice/sb.service/cpu.max", "max 100000\n");
	cr_expect_eq(cores_in("/system.slice/sb.service"), 1, "the slice's quota");
	/* A quota elsewhere in the tree does not apply. */
	put("system.slice/cpu.max", "max 100000\n");
	put("other.slice/cpu.max", "100000 100000\n");
	cr_expect_eq(cores_in("/system.slice/sb.service"), n, "another slice's quota");
}
