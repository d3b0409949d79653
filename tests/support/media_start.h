/* Starts the real media component for an integration test: a control bus
 * on ctx with cb subscribed to the n event types the test waits for, the
 * media component on it, and a lifecycle that runs it (stop and free it
 * with sb_lifecycle_stop and sb_lifecycle_free). Header only, so that any
 * test binary linking the media library can include it. */
#pragma once

#include <criterion/criterion.h>
#include <glib.h>
#include <stddef.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "media/media.h"

static inline struct sb_media *sbt_media_start(struct sb_config *config, GMainContext *ctx,
					       const enum sb_event_type *types, size_t n,
					       sb_bus_handler_cb cb, struct sb_bus **ret_control,
					       struct sb_lifecycle **ret_lc)
{
	const char *failed = NULL;
	struct sb_media *m;

	*ret_control = sb_bus_new(&config->bus, ctx);
	for (size_t i = 0; i < n; i++)
		sb_bus_subscribe(*ret_control, types[i], cb, NULL);
	m = sb_media_new(config, *ret_control);
	*ret_lc = sb_lifecycle_new();
	sb_lifecycle_add(*ret_lc, &sb_media_component, m);
	cr_assert_eq(sb_lifecycle_start(*ret_lc, &failed), 0, "media did not start: %s",
		     failed ? failed : "?");
	return m;
}
