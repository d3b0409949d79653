/* Runs every scenario file of tests/unit/engine/scenarios as its own test:
 * adding a case is adding a file. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_SCENARIOS 128

static void free_params(struct criterion_test_params *crp)
{
	char **names = crp->params;

	for (size_t i = 0; i < crp->length; i++)
		cr_free(names[i]);
	cr_free(crp->params);
}

ParameterizedTestParameters(scenario, file)
{
	DIR *d = opendir(SCENARIO_DIR);
	char **names = cr_malloc(MAX_SCENARIOS * sizeof(char *));
	size_t n = 0;
	struct dirent *e;

	while (d && (e = readdir(d)) && n < MAX_SCENARIOS) {
		size_t len = strlen(e->d_name);
		if (len < 7 || strcmp(e->d_name + len - 6, ".jsonl") != 0)
			continue;
		names[n] = cr_malloc(len + 1);
		memcpy(names[n], e->d_name, len + 1);
		n++;
	}
	if (d)
		closedir(d);
	return cr_make_param_array(char *, names, n, free_params);
}

ParameterizedTest(char **name, scenario, file)
{
	char path[512], err[2048] = "";

	snprintf(path, sizeof(path), "%s/%s", SCENARIO_DIR, *name);
	cr_assert(scenario_run(path, err, sizeof(err)), "%s: %s", *name, err);
	cr_assert_not(harness_leaks(), "%s: LeakSanitizer found leaks (see above)", *name);
}

Test(scenario, directory_has_cases)
{
	DIR *d = opendir(SCENARIO_DIR);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".jsonl") != NULL;
	closedir(d);
	cr_assert_geq(n, 10, "only %d scenario files", n);
}
