/* Fuzz target: the config file parser and validator, and the bus journal
 * reader (both read files an operator or another tool may hand us). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_cb(const struct sb_event *ev, void *ud)
{
	(void)ev;
	(void)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_config_errors errs = {0};
	struct sb_config *cfg = NULL;
	char *text = malloc(size + 1);
	FILE *f;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sb_config_load_string("fuzz.conf", text, NULL, &cfg, &errs) == 0)
		sb_config_unref(cfg);
	sb_config_errors_clear(&errs);
	f = fmemopen(text, size ? size : 1, "r");
	if (f) {
		sb_bus_journal_replay(f, ignore_cb, NULL);
		fclose(f);
	}
	free(text);
	return 0;
}
