/* Test harness for the engine: a real control bus without a main loop, an
 * injected clock, and fake components that record every command they get as
 * a JSON object. Used by the C tests and the scenario runner. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/clock.h"
#include "engine/engine.h"

struct harness {
	struct sb_config *cfg;
	struct sb_bus *bus;
	struct sb_engine *eng;
	struct sb_clock clock;
	uint64_t now_us;
	json_t *cmds;	  /* commands received, in order */
	json_t *states;	  /* CALL_STATE transitions, in order */
	json_t *contacts; /* user -> [uri, ...] for sip.contacts */
	json_t *fail_ops; /* op names whose fake returns -EIO */
	const char *uris[8];
};

/* Builds everything from config text; returns NULL (and logs why) on a bad
 * config. */
struct harness *harness_new(const char *config_text);
void harness_free(struct harness *h);
/* True when LeakSanitizer finds leaked memory (ASan builds only). */
bool harness_leaks(void);

/* Posts an event and dispatches until the bus is empty, then reaps. */
void harness_post(struct harness *h, const struct sb_event *ev);
/* Dispatches until the bus is empty, then reaps. */
void harness_settle(struct harness *h);
void harness_advance_ms(struct harness *h, uint64_t ms);

/* Shorthands. */
void harness_connect(struct harness *h, uint64_t conn, const char *session, const char *user);
/* Posts a WS call request of type t with text = json (taken). */
void harness_ws(struct harness *h, enum sb_event_type t, uint64_t conn, int64_t req,
		const char *session, json_t *json);
/* The n-th recorded command named cmd (0 = first), or NULL. */
json_t *harness_cmd(struct harness *h, const char *cmd, size_t n);
size_t harness_count(struct harness *h, const char *cmd);

/* Runs a scenario file; on a mismatch fills err and returns false. */
bool scenario_run(const char *path, char *err, size_t err_size);
