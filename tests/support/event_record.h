/* Keeps a copy of a bus event for a test to look at later: the event by
 * value in events[*n], its text (the bus frees it after dispatch) copied
 * into texts[*n], which the test frees. Events past cap are dropped. Header
 * only, so that any test binary can include it. */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"

static inline void sbt_event_record(struct sb_event *events, char **texts, int *n, int cap,
				    const struct sb_event *ev)
{
	if (*n >= cap)
		return;
	events[*n] = *ev;
	texts[*n] = ev->text ? strdup(ev->text) : NULL;
	events[*n].text = texts[*n];
	(*n)++;
}
