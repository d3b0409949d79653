/* Engine unit tests in C: patterns, errors, admission windows, the state
 * tables, illegal transitions, bus overload, journal replay, CDR and live
 * call JSON, reload, shutdown. Scenario files cover the call flows. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/strbuf.h"
#include "engine/engine_internal.h"
#include "harness.h"

static const char *base_cfg =
	"[limits]\nmax_calls = 0\nmax_cps = 0\n"
	"[user alice]\n[user bob]\n[trunk carrier]\nhost = 127.0.0.1\n"
	"[route echo]\ndestination = echo\naction = echo\n"
	"[route users]\ndestination = alice|bob\naction = user\n"
	"[route out]\ndestination = [0-9]*\naction = trunk\ntarget = carrier\n";

/* ---- patterns and routes ---- */

Test(pattern, globs_classes_alternatives)
{
	cr_assert(sb__pattern_match("*", ""));
	cr_assert(sb__pattern_match("*", "anything"));
	cr_assert(sb__pattern_match("echo", "echo"));
	cr_assert_not(sb__pattern_match("echo", "echo1"));
	cr_assert(sb__pattern_match("1*", "1555"));
	cr_assert_not(sb__pattern_match("1*", "2555"));
	cr_assert(sb__pattern_match("+1??", "+123"));
	cr_assert_not(sb__pattern_match("+1??", "+12"));
	cr_assert(sb__pattern_match("[2-9][0-9][0-9]", "555"));
	cr_assert_not(sb__pattern_match("[2-9][0-9][0-9]", "155"));
	cr_assert(sb__pattern_match("[!0]*", "5"));
	cr_assert_not(sb__pattern_match("[!0]*", "05"));
	cr_assert(sb__pattern_match("alice|bob", "bob"));
	cr_assert_not(sb__pattern_match("alice|bob", "carol"));
	cr_assert(sb__pattern_match("*@example.com", "x@example.com"));
	cr_assert(sb__pattern_match("a*b*c", "axxbyyc"));
	cr_assert_not(sb__pattern_match("a*b*c", "axxbyy"));
	cr_assert(sb__pattern_match("\\*", "*"));
	cr_assert_not(sb__pattern_match("\\*", "x"));
	cr_assert(sb__pattern_match("[", "["), "an unclosed class is literal");
	cr_assert_not(sb__pattern_match(NULL, "x"));
}

Test(pattern, long_subjects_never_match)
{
	char s[400];

	memset(s, '1', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	cr_assert_not(sb__pattern_match("*", s));
}

Test(route, first_match_in_file_order_and_may_dial)
{
	struct sb_config *cfg = NULL;
	struct sb_config_errors errs = {0};
	const char *text =
		"[user alice]\nmay_dial = 1*|echo\n"
		"[route a]\ndestination = 1*\ncaller = alice\naction = reject\nstatus = 403\n"
		"[route b]\ndestination = 1*\naction = echo\n";
	const struct sb_config_route *r;

	cr_assert_eq(sb_config_load_string("t", text, NULL, &cfg, &errs), 0);
	r = sb__route_find(cfg, "155", "alice", 0);
	cr_assert_str_eq(r->name, "a");
	r = sb__route_find(cfg, "155", "bob", 0);
	cr_assert_str_eq(r->name, "b");
	cr_assert_null(sb__route_find(cfg, "255", "bob", 0));
	cr_assert(sb__may_dial(cfg, "alice", "echo"));
	cr_assert(sb__may_dial(cfg, "alice", "1999"));
	cr_assert_not(sb__may_dial(cfg, "alice", "2999"));
	cr_assert(sb__may_dial(cfg, "token-only-user", "2999"));
	sb_config_unref(cfg);
}

static bool main_down_cb(const char *trunk, void *ud)
{
	return strcmp(trunk, "main") == 0;
}

Test(route, a_down_trunk_is_passed_over)
{
	struct sb_config *cfg = NULL;
	struct sb_config_errors errs = {0};
	const char *text = "[trunk main]\nhost = 192.0.2.1\n[trunk spare]\nhost = 192.0.2.2\n"
			   "[route a]\ndestination = 1*\naction = trunk\ntarget = main\n"
			   "[route b]\ndestination = 1*\naction = trunk\ntarget = spare\n"
			   "[route c]\ndestination = 2*\naction = trunk\ntarget = main\n";
	const struct sb_config_route *r;
	bool skipped = true;

	cr_assert_eq(sb_config_load_string("t", text, NULL, &cfg, &errs), 0);
	r = sb__route_find_usable(cfg, "155", "x", 0, NULL, NULL, &skipped);
	cr_assert_str_eq(r->name, "a");
	cr_assert_not(skipped);
	r = sb__route_find_usable(cfg, "155", "x", 0, main_down_cb, NULL, &skipped);
	cr_assert_str_eq(r->name, "b", "the next matching route is the failover");
	cr_assert(skipped);
	cr_assert_null(sb__route_find_usable(cfg, "255", "x", 0, main_down_cb, NULL, &skipped));
	cr_assert(skipped, "no route left because the trunk is down");
	sb_config_unref(cfg);
}

/* ---- errors ---- */

Test(errors, sip_status_names)
{
	struct sb_engine_error e;

	sb_engine_error_for_status(486, &e);
	cr_assert_eq(e.code, 10486);
	cr_assert_str_eq(e.name, "sip_486_busy_here");
	sb_engine_error_for_status(481, &e);
	cr_assert_str_eq(e.name, "sip_481_call_transaction_does_not_exist");
	sb_engine_error_for_status(504, &e);
	cr_assert_str_eq(e.name, "sip_504_server_time_out");
	sb_engine_error_for_status(499, &e);
	cr_assert_str_eq(e.name, "sip_499");
	sb_engine_error_for_status(200, &e);
	cr_assert_eq(e.code, 10500, "not a failure status: reported as 500");
	sb__engine_error(3004, &e);
	cr_assert_str_eq(e.name, "overloaded");
	sb__engine_error(10603, &e);
	cr_assert_str_eq(e.name, "sip_603_decline");
}

/* ---- admission ---- */

Test(admit, sliding_window_per_second)
{
	struct sb_config *cfg = sb_config_new_default();
	struct sb_admit a;
	uint64_t t = 5000000;

	cfg->limits.max_calls = 0;
	cfg->limits.max_cps = 3;
	cr_assert_eq(sb__admit_init(&a, cfg), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(sb__admit_check(&a, NULL, t + (uint64_t)i * 100000), SB_ADMIT_OK);
		sb__admit_take(&a, NULL, t + (uint64_t)i * 100000, true);
	}
	cr_assert_eq(sb__admit_check(&a, NULL, t + 300000), SB_ADMIT_CPS);
	cr_assert_eq(sb__admit_check(&a, NULL, t + 999999), SB_ADMIT_CPS);
	/* The first admission leaves the window one second after it. */
	cr_assert_eq(sb__admit_check(&a, NULL, t + 1000000), SB_ADMIT_OK);
	sb__admit_take(&a, NULL, t + 1000000, true);
	cr_assert_eq(sb__admit_check(&a, NULL, t + 1050000), SB_ADMIT_CPS);
	cr_assert_eq(sb__admit_check(&a, NULL, t + 1100000), SB_ADMIT_OK);
	sb__admit_fini(&a);
	sb_config_unref(cfg);
}

Test(admit, concurrent_in_all_and_per_trunk)
{
	struct sb_config *cfg = NULL;
	struct sb_config_errors errs = {0};
	struct sb_admit a;

	cr_assert_eq(sb_config_load_string("t",
					   "[limits]\nmax_calls = 2\nmax_cps = 0\n"
					   "[trunk t1]\nhost = h\nmax_calls = 1\n",
					   NULL, &cfg, &errs),
		     0);
	cr_assert_eq(sb__admit_init(&a, cfg), 0);
	cr_assert_eq(sb__admit_check(&a, "t1", 0), SB_ADMIT_OK);
	sb__admit_take(&a, NULL, 0, true);
	sb__admit_take(&a, "t1", 0, true);
	cr_assert_eq(sb__admit_check(&a, "t1", 0), SB_ADMIT_CALLS);
	cr_assert_eq(sb__admit_check(&a, "other", 0), SB_ADMIT_OK);
	cr_assert_eq(sb__admit_check(&a, NULL, 0), SB_ADMIT_OK);
	sb__admit_take(&a, NULL, 0, true);
	cr_assert_eq(sb__admit_check(&a, NULL, 0), SB_ADMIT_CALLS);
	sb__admit_release(&a, "t1");
	sb__admit_release(&a, NULL);
	cr_assert_eq(sb__admit_check(&a, "t1", 0), SB_ADMIT_OK);
	cr_assert_eq(sb__admit_check(&a, NULL, 0), SB_ADMIT_OK);
	sb__admit_fini(&a);
	sb_config_unref(cfg);
}

/* ---- state tables ---- */

static void check_table(const struct sb_fsm_def *def)
{
	for (size_t i = 0; i < def->n_rows; i++) {
		const struct sb_fsm_row *r = &def->rows[i];

		cr_assert(r->state >= 0 && r->state < def->n_states, "%s row %zu", def->name, i);
		cr_assert(r->next >= 0 && r->next < def->n_states, "%s row %zu", def->name, i);
		cr_assert(r->input >= 0 && r->input < def->n_inputs, "%s row %zu", def->name, i);
		for (size_t j = 0; j < i; j++)
			cr_assert(def->rows[j].state != r->state || def->rows[j].input != r->input,
				  "%s: rows %zu and %zu are the same transition", def->name, j, i);
	}
	for (int s = 0; s < def->n_states; s++)
		cr_assert_not_null(def->states[s]);
	for (int in = 0; in < def->n_inputs; in++)
		cr_assert_not_null(def->inputs[in]);
}

Test(fsm, tables_are_well_formed)
{
	check_table(&sb__call_fsm);
	check_table(&sb__leg_fsm);
	check_table(&sb__session_fsm);
}

Test(fsm, ended_is_final)
{
	for (size_t i = 0; i < sb__call_fsm.n_rows; i++)
		cr_assert_neq(sb__call_fsm.rows[i].state, SB_CALL_ENDED);
	for (size_t i = 0; i < sb__leg_fsm.n_rows; i++)
		cr_assert_neq(sb__leg_fsm.rows[i].state, SB_LEG_ENDED);
	for (size_t i = 0; i < sb__session_fsm.n_rows; i++)
		cr_assert_neq(sb__session_fsm.rows[i].state, SB_SESSION_CLOSED);
}

Test(fsm, illegal_input_is_refused_counted_and_not_emitted)
{
	struct harness *h = harness_new(base_cfg);
	int state = SB_CALL_ANSWERED;
	struct sb_engine_metrics m;
	size_t before;

	cr_assert_not_null(h);
	before = json_array_size(h->states);
	cr_assert_eq(sb__fsm_apply(h->eng, &sb__call_fsm, NULL, &state, SB_CI_ROUTED, 7, 0, "test",
				   NULL),
		     -EPERM);
	cr_assert_eq(state, SB_CALL_ANSWERED);
	state = SB_LEG_ENDED;
	cr_assert_eq(
		sb__fsm_apply(h->eng, &sb__leg_fsm, NULL, &state, SB_LI_ANSWER, 7, 2, "test", NULL),
		-EPERM);
	cr_assert_eq(sb__fsm_apply(h->eng, &sb__leg_fsm, NULL, &state, 999, 7, 2, "test", NULL),
		     -EPERM, "an input out of range is refused too");
	harness_settle(h);
	sb_engine_metrics(h->eng, &m);
	cr_assert_eq(m.illegal_transitions, 3);
	cr_assert_eq(json_array_size(h->states), before);
	harness_free(h);
}

Test(fsm, legal_transition_is_posted_with_its_cause)
{
	struct harness *h = harness_new(base_cfg);
	int state = SB_CALL_INIT;
	json_t *st;

	cr_assert_eq(sb__fsm_apply(h->eng, &sb__call_fsm, NULL, &state, SB_CI_SETUP, 42, 0,
				   "ws.call_dial", NULL),
		     0);
	cr_assert_eq(state, SB_CALL_ROUTING);
	harness_settle(h);
	st = json_array_get(h->states, 0);
	cr_assert_not_null(st);
	cr_assert_str_eq(json_string_value(json_object_get(st, "from")), "init");
	cr_assert_str_eq(json_string_value(json_object_get(st, "to")), "routing");
	cr_assert_str_eq(json_string_value(json_object_get(st, "cause")), "ws.call_dial");
	cr_assert_eq(json_integer_value(json_object_get(st, "call")), 42);
	harness_free(h);
}

/* ---- flows driven from C ---- */

static json_t *dial(const char *to)
{
	return json_pack("{s:s,s:s}", "to", to, "sdp", "v=0 offer");
}

Test(flow, transitions_carry_the_causing_event)
{
	struct harness *h = harness_new(base_cfg);
	size_t i;
	json_t *st;
	bool seen = false;

	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("echo"));
	json_array_foreach(h->states, i, st)
	{
		if (strcmp(json_string_value(json_object_get(st, "to")), "routing") == 0) {
			cr_assert_gt(json_integer_value(json_object_get(st, "caused_by")), 0,
				     "CALL_STATE names the ws.call_dial event as its cause");
			seen = true;
		}
	}
	cr_assert(seen);
	harness_free(h);
}

Test(flow, bus_overload_refuses_new_calls)
{
	char cfg[1024];
	struct harness *h;
	json_t *reply;

	snprintf(cfg, sizeof(cfg), "%s[bus]\nmax_concurrent_dispatches = 16\n", base_cfg);
	h = harness_new(cfg);
	harness_connect(h, 1, "s1", "alice");
	/* Twenty low events wait behind the dial: the bus is over its limit
	 * when the engine handles the dial (critical events go first). */
	for (int i = 0; i < 20; i++)
		sb_bus_post_simple(h->bus, SB_EV_TEST_LOW, 0, 0);
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("echo"));
	reply = harness_cmd(h, "client.reply", 0);
	cr_assert_not_null(reply);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(reply, "error"), "name")),
		"overloaded");
	cr_assert_eq(
		json_integer_value(json_object_get(json_object_get(reply, "error"), "retry_after")),
		5);
	cr_assert_eq(harness_count(h, "media.create"), 0);
	cr_assert_eq(sb_engine_active(h->eng), 0);
	harness_free(h);
}

Test(flow, shutdown_ends_live_calls_with_cdrs)
{
	struct harness *h = harness_new(base_cfg);
	json_t *cdr;

	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("5551234"));
	cr_assert_eq(sb_engine_active(h->eng), 1);
	h->eng = sb_engine_free(h->eng);
	cr_assert_eq(harness_count(h, "store.cdr"), 1);
	cdr = json_object_get(harness_cmd(h, "store.cdr", 0), "cdr");
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "cause")), "shutdown");
	cr_assert_eq(harness_count(h, "client.event"), 1, "the browser is told the call ended");
	harness_free(h);
}

Test(flow, reload_keeps_live_calls_counted)
{
	char cfg[1024];
	struct harness *h;
	struct sb_config *next = NULL;
	struct sb_config_errors errs = {0};
	json_t *reply;

	snprintf(cfg, sizeof(cfg), "%s", base_cfg);
	h = harness_new(cfg);
	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("5551234"));
	cr_assert_eq(sb_config_load_string("t",
					   "[limits]\nmax_calls = 1\n[trunk carrier]\nhost = h\n"
					   "[route out]\ndestination = *\naction = trunk\n"
					   "target = carrier\n",
					   NULL, &next, &errs),
		     0);
	sb_engine_reload(h->eng, next);
	sb_config_unref(next);
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 8, "s1", dial("5559999"));
	reply = harness_cmd(h, "client.reply", 1);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(reply, "error"), "name")),
		"overloaded", "the call from before the reload still counts");
	cr_assert_eq(sb_engine_active(h->eng), 1, "and it is still live");
	harness_free(h);
}

Test(flow, op_failure_fails_the_leg)
{
	struct harness *h = harness_new(base_cfg);
	json_t *ev, *inv;
	struct sb_event media = {.type = SB_EV_MEDIA_READY};

	json_array_append_new(h->fail_ops, json_string("sip.invite"));
	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("5551234"));
	inv = harness_cmd(h, "media.create", 1);
	media.call = (uint64_t)json_integer_value(json_object_get(inv, "call"));
	media.leg = 2;
	media.arg[0] = json_integer_value(json_object_get(inv, "id"));
	media.text = strdup("v=0 offer to trunk");
	harness_post(h, &media);
	ev = harness_cmd(h, "client.event", 0);
	cr_assert_not_null(ev);
	cr_assert_str_eq(json_string_value(json_object_get(ev, "event")), "call.ended");
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(json_object_get(ev, "data"), "error"), "name")),
			 "sip_500_server_internal_error");
	cr_assert_eq(sb_engine_active(h->eng), 0);
	harness_free(h);
}

/* ---- replay of a recorded journal ---- */

struct replay {
	struct harness *h;
	uint64_t old_call; /* the call id in the journal */
	int n;
};

/* The fresh engine's call id: the one its media.create named. */
static uint64_t new_call(struct harness *h)
{
	json_t *c = harness_cmd(h, "media.create", 0);

	return c ? (uint64_t)json_integer_value(json_object_get(c, "call")) : 0;
}

static void replay_cb(const struct sb_event *ev, void *ud)
{
	struct replay *r = ud;
	struct sb_event copy = *ev;
	const struct sb_event_desc *d = sb_event_desc((enum sb_event_type)ev->type);

	/* Only the components' events are inputs; the engine's own output
	 * (call.state) is produced again by the replay. */
	if (strncmp(d->name, "ws.", 3) != 0 && strncmp(d->name, "sip.", 4) != 0 &&
	    strncmp(d->name, "media.", 6) != 0)
		return;
	cr_assert(ev->flags & SB_EVF_REPLAYED);
	/* Events of the journal name the recorded call; the fresh engine
	 * numbered its own, so they are pointed at it. */
	if (copy.call && copy.call == r->old_call)
		copy.call = new_call(r->h);
	copy.text = ev->text ? strdup(ev->text) : NULL;
	copy.cause = 0;
	copy.flags = 0;
	harness_post(r->h, &copy);
	r->n++;
}

/* Commands without what differs from run to run: call ids, wire ids and
 * wall-clock times. */
static json_t *normalized(json_t *cmds)
{
	json_t *c = json_deep_copy(cmds), *o;
	size_t i;

	json_array_foreach(c, i, o)
	{
		json_t *cdr = json_object_get(o, "cdr");

		json_object_del(o, "call");
		json_object_del(json_object_get(o, "data"), "call");
		json_object_del(json_object_get(o, "result"), "call");
		if (cdr)
			json_object_set_new(o, "cdr",
					    json_pack("{s:O,s:O,s:O}", "disposition",
						      json_object_get(cdr, "disposition"), "cause",
						      json_object_get(cdr, "cause"), "duration_ms",
						      json_object_get(cdr, "duration_ms")));
	}
	return c;
}

Test(replay, journal_replays_into_a_fresh_engine)
{
	struct harness *a = harness_new(base_cfg), *b;
	struct replay r = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *inv, *ca, *cb;
	uint64_t call;

	/* Record: a browser calls the trunk, which rings and answers busy. */
	harness_connect(a, 1, "s1", "alice");
	harness_ws(a, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("5551234"));
	inv = harness_cmd(a, "media.create", 1);
	call = (uint64_t)json_integer_value(json_object_get(inv, "call"));
	harness_post(a, &(struct sb_event){.type = SB_EV_MEDIA_READY,
					   .call = call,
					   .leg = 2,
					   .arg = {json_integer_value(json_object_get(inv, "id"))},
					   .text = strdup("v=0 b")});
	harness_post(a, &(struct sb_event){
				.type = SB_EV_SIP_PROGRESS, .call = call, .leg = 2, .arg = {180}});
	harness_post(a, &(struct sb_event){.type = SB_EV_SIP_FAILED,
					   .call = call,
					   .leg = 2,
					   .arg = {486},
					   .str = "Busy Here"});
	cr_assert_eq(sb_engine_active(a->eng), 0);
	cr_assert_gt(sb_bus_journal_write(a->bus, f, 0), 0);
	fclose(f);

	/* Replay the journal's input events into a fresh engine. */
	b = harness_new(base_cfg);
	r.h = b;
	r.old_call = call;
	f = fmemopen(buf, len, "r");
	cr_assert_gt(sb_bus_journal_replay(f, replay_cb, &r), 0);
	fclose(f);
	cr_assert_eq(r.n, 5, "connected, dial, media ready, progress, failed");
	ca = normalized(a->cmds);
	cb = normalized(b->cmds);
	cr_assert_eq(json_array_size(ca), json_array_size(cb));
	for (size_t i = 0; i < json_array_size(ca); i++) {
		char *x = json_dumps(json_array_get(ca, i), JSON_COMPACT | JSON_SORT_KEYS);
		char *y = json_dumps(json_array_get(cb, i), JSON_COMPACT | JSON_SORT_KEYS);
		cr_assert_str_eq(x, y, "command %zu", i);
		free(x);
		free(y);
	}
	cr_assert_eq(json_array_size(a->states), json_array_size(b->states),
		     "the same transitions");
	json_decref(ca);
	json_decref(cb);
	free(buf);
	harness_free(a);
	harness_free(b);
}

/* ---- CDR and live calls JSON ---- */

Test(cdr, json_form_has_every_field)
{
	struct sb_cdr c = {0};
	char *s;
	json_t *o, *leg;

	snprintf(c.call_id, sizeof(c.call_id), "c-0123456789abcdef");
	snprintf(c.caller, sizeof(c.caller), "alice \"the\" caller");
	snprintf(c.disposition, sizeof(c.disposition), "answered");
	c.start_us = 1000000000;
	c.answer_us = 1002000000;
	c.end_us = 1062500000;
	c.n_legs = 1;
	c.legs[0].leg = 1;
	snprintf(c.legs[0].kind, sizeof(c.legs[0].kind), "client");
	snprintf(c.legs[0].codec, sizeof(c.legs[0].codec), "opus");
	c.legs[0].has_quality = true;
	c.legs[0].packets_lost = 3;
	c.legs[0].jitter_us = 4000;
	c.legs[0].mos = 4.25;
	s = sb_cdr_to_json(&c);
	o = json_loads(s, 0, NULL);
	cr_assert_not_null(o, "%s", s);
	cr_assert_str_eq(json_string_value(json_object_get(o, "caller")), "alice \"the\" caller");
	cr_assert_eq(json_integer_value(json_object_get(o, "duration_ms")), 60500);
	cr_assert_eq(json_integer_value(json_object_get(o, "answer_ms")), 1002000);
	leg = json_array_get(json_object_get(o, "legs"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(leg, "codec")), "opus");
	cr_assert_eq(json_integer_value(
			     json_object_get(json_object_get(leg, "quality"), "packets_lost")),
		     3);
	cr_assert_float_eq(json_real_value(json_object_get(json_object_get(leg, "quality"), "mos")),
			   4.25, 1e-9);
	cr_assert(json_is_null(json_object_get(leg, "answer_ms")));
	json_decref(o);
	free(s);
}

Test(metrics, prometheus_text)
{
	struct harness *h = harness_new(base_cfg);
	struct sb_strbuf b;

	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("nobody"));
	sb_strbuf_init(&b);
	sb_engine_metrics_write(h->eng, &b);
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b), "switchboard_engine_calls_no_route_total 1\n"), "%s",
		sb_strbuf_cstr(&b));
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b), "# TYPE switchboard_engine_calls_active gauge"));
	sb_strbuf_fini(&b);
	harness_free(h);
}

/* Queues: the per-queue families, GET /api/v1/queues' JSON, and drain
 * ending a waiting caller. */
Test(metrics, queues)
{
	struct harness *h = harness_new("[user alice]\n[user bob]\n[queue sales]\nagents = bob\n"
					"[route q]\ndestination = 800\naction = queue\n"
					"target = sales\n");
	struct sb_strbuf b;
	json_t *q, *o;
	char *text;

	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("800"));
	sb_strbuf_init(&b);
	sb_engine_metrics_write(h->eng, &b);
	cr_assert_not_null(strstr(sb_strbuf_cstr(&b),
				  "# TYPE switchboard_engine_queue_waiting gauge\n"
				  "switchboard_engine_queue_waiting{queue=\"sales\"} 1\n"),
			   "%s", sb_strbuf_cstr(&b));
	cr_assert_not_null(strstr(sb_strbuf_cstr(&b),
				  "switchboard_engine_queue_answered_total{queue=\"sales\"} 0\n"));
	sb_strbuf_fini(&b);
	text = sb_engine_queues_json(h->eng);
	q = json_loads(text, 0, NULL);
	free(text);
	o = json_array_get(q, 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "name")), "sales");
	cr_assert_str_eq(json_string_value(json_object_get(o, "strategy")), "longest_idle");
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(o, "waiting"), 0), "caller")),
			 "alice");
	o = json_array_get(json_object_get(o, "agents"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "user")), "bob");
	cr_assert_str_eq(json_string_value(json_object_get(o, "state")), "offline");
	json_decref(q);
	/* Bob connected but away (presence.set): "away", and not offered the
	 * waiting caller. */
	harness_connect(h, 2, "s2", "bob");
	harness_ws(h, SB_EV_WS_PRESENCE_SET, 2, 8, "s2", json_pack("{s:s}", "state", "away"));
	harness_settle(h);
	text = sb_engine_queues_json(h->eng);
	q = json_loads(text, 0, NULL);
	free(text);
	o = json_array_get(json_object_get(json_array_get(q, 0), "agents"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "state")), "away");
	cr_assert_eq(json_array_size(json_object_get(json_array_get(q, 0), "waiting")), 1);
	json_decref(q);
	/* Draining ends the waiting call. */
	sb_engine_drain(h->eng);
	harness_settle(h);
	cr_assert_eq(sb_engine_active(h->eng), 0);
	sb_strbuf_init(&b);
	sb_engine_metrics_write(h->eng, &b);
	cr_assert_not_null(strstr(sb_strbuf_cstr(&b),
				  "switchboard_engine_queue_waiting{queue=\"sales\"} 0\n"));
	sb_strbuf_fini(&b);
	harness_free(h);
}

/* Conferences: the families, GET /api/v1/conferences' JSON (every
 * configured room, its members once joined), a room emptied. */
Test(metrics, conferences)
{
	struct harness *h = harness_new("[user alice]\n[conference lobby]\n"
					"[conference board]\nmax_members = 4\n"
					"[route c]\ndestination = conference\naction = conference\n"
					"target = lobby\n");
	struct sb_event ready = {.type = SB_EV_MEDIA_READY, .leg = 1};
	struct sb_strbuf b;
	json_t *arr, *o, *m;
	char *text;

	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("conference"));
	/* Being set up: counted, not listed. */
	text = sb_engine_conferences_json(h->eng);
	cr_assert_str_eq(text, "[{\"name\":\"lobby\",\"max_members\":20,\"members\":[]},"
			       "{\"name\":\"board\",\"max_members\":4,\"members\":[]}]");
	free(text);
	o = harness_cmd(h, "media.create", 0);
	ready.call = (uint64_t)json_integer_value(json_object_get(o, "call"));
	ready.arg[0] = json_integer_value(json_object_get(o, "id"));
	ready.text = strdup("v=0 answer");
	harness_post(h, &ready);
	cr_assert_eq(harness_count(h, "media.conf_join"), 1);
	text = sb_engine_conferences_json(h->eng);
	arr = json_loads(text, 0, NULL);
	free(text);
	o = json_array_get(arr, 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "name")), "lobby");
	cr_assert_eq(json_array_size(json_object_get(o, "members")), 1);
	m = json_array_get(json_object_get(o, "members"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "from")), "alice");
	cr_assert_eq(strncmp(json_string_value(json_object_get(m, "call")), "c-", 2), 0);
	cr_assert(json_integer_value(json_object_get(m, "since")) > 0);
	json_decref(arr);
	sb_strbuf_init(&b);
	sb_engine_metrics_write(h->eng, &b);
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b),
		       "# TYPE switchboard_engine_conference_members gauge\n"
		       "switchboard_engine_conference_members{conference=\"lobby\"} 1\n"
		       "switchboard_engine_conference_members{conference=\"board\"} 0\n"),
		"%s", sb_strbuf_cstr(&b));
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b), "switchboard_engine_conference_joins_total 1\n"));
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b), "switchboard_engine_conference_refused_full_total 0\n"));
	sb_strbuf_fini(&b);
	/* The member's session ends: the room is empty again. */
	sb_engine_drain(h->eng);
	harness_post(h, &(struct sb_event){.type = SB_EV_WS_SESSION_ENDED, .str = "s1"});
	cr_assert_eq(sb_engine_active(h->eng), 0);
	sb_strbuf_init(&b);
	sb_engine_metrics_write(h->eng, &b);
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b),
		       "switchboard_engine_conference_members{conference=\"lobby\"} 0\n"));
	sb_strbuf_fini(&b);
	harness_free(h);
}

/* Conference moderation for the admin API: mute answers the member's
 * JSON, GET /api/v1/conferences shows "muted", kick ends the call, and
 * both are counted in the metrics. */
Test(metrics, conference_moderation)
{
	struct harness *h = harness_new("[user alice]\n[conference lobby]\n"
					"[route c]\ndestination = conference\naction = conference\n"
					"target = lobby\n");
	struct sb_event ready = {.type = SB_EV_MEDIA_READY, .leg = 1};
	char *text = NULL, call[32];
	struct sb_strbuf b;
	json_t *arr, *o;

	harness_connect(h, 1, "s1", "alice");
	harness_ws(h, SB_EV_WS_CALL_DIAL, 1, 7, "s1", dial("conference"));
	o = harness_cmd(h, "media.create", 0);
	ready.call = (uint64_t)json_integer_value(json_object_get(o, "call"));
	ready.arg[0] = json_integer_value(json_object_get(o, "id"));
	ready.text = strdup("v=0 answer");
	harness_post(h, &ready);
	text = sb_engine_conferences_json(h->eng);
	arr = json_loads(text, 0, NULL);
	free(text);
	text = NULL;
	o = json_array_get(json_object_get(json_array_get(arr, 0), "members"), 0);
	cr_assert(json_is_false(json_object_get(o, "muted")));
	snprintf(call, sizeof(call), "%s", json_string_value(json_object_get(o, "call")));
	json_decref(arr);
	cr_assert_eq(sb_engine_conference_mute(h->eng, "lobby", "c-0000000000000000", true, &text),
		     -ENOENT);
	cr_assert_null(text);
	cr_assert_eq(sb_engine_conference_mute(h->eng, "lobby", call, true, &text), 0);
	o = json_loads(text, 0, NULL);
	free(text);
	cr_assert_str_eq(json_string_value(json_object_get(o, "call")), call);
	cr_assert(json_is_true(json_object_get(o, "muted")));
	json_decref(o);
	cr_assert_eq(harness_count(h, "media.conf_mute"), 1);
	text = sb_engine_conferences_json(h->eng);
	cr_assert_not_null(strstr(text, "\"muted\":true"), "%s", text);
	free(text);
	cr_assert_eq(sb_engine_conference_kick(h->eng, "board", call), -ENOENT);
	cr_assert_eq(sb_engine_conference_kick(h->eng, "lobby", call), 0);
	harness_settle(h);
	cr_assert_eq(sb_engine_active(h->eng), 0);
	sb_strbuf_init(&b);
	sb_engine_metrics_write(h->eng, &b);
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b), "switchboard_engine_conference_mutes_total 1\n"));
	cr_assert_not_null(
		strstr(sb_strbuf_cstr(&b), "switchboard_engine_conference_kicks_total 1\n"));
	sb_strbuf_fini(&b);
	harness_free(h);
}

/* ---- the documented tables are the real ones ---- */

static size_t doc_rows(const char *doc, const char *machine)
{
	char prefix[32];
	size_t n = 0;

	snprintf(prefix, sizeof(prefix), "\n| %s | ", machine);
	for (const char *p = strstr(doc, prefix); p; p = strstr(p + 1, prefix))
		n++;
	return n;
}

static void check_doc(const char *doc, const struct sb_fsm_def *def)
{
	for (size_t i = 0; i < def->n_rows; i++) {
		const struct sb_fsm_row *r = &def->rows[i];
		char row[160];

		snprintf(row, sizeof(row), "\n| %s | %s | %s | %s |", def->name,
			 sb__fsm_state_name(def, r->state), sb__fsm_input_name(def, r->input),
			 sb__fsm_state_name(def, r->next));
		cr_assert_not_null(strstr(doc, row), "docs/engine.md lacks%s", row);
	}
	cr_assert_eq(doc_rows(doc, def->name), def->n_rows,
		     "docs/engine.md lists another number of %s transitions", def->name);
}

Test(docs, state_tables_match)
{
	FILE *f = fopen(DOCS_FILE, "r");
	char *doc = NULL;
	size_t cap = 0;
	ssize_t n;

	cr_assert_not_null(f, "%s", DOCS_FILE);
	n = getdelim(&doc, &cap, '\0', f);
	fclose(f);
	cr_assert_gt(n, 0);
	check_doc(doc, &sb__call_fsm);
	check_doc(doc, &sb__leg_fsm);
	check_doc(doc, &sb__session_fsm);
	free(doc);
}

/* ---- nothing leaks ---- */

Test(leaks, a_full_scenario_frees_everything)
{
	char err[2048] = "";

	cr_assert(scenario_run(SCENARIO_DIR "/trunk_to_browser_fork.jsonl", err, sizeof(err)), "%s",
		  err);
	cr_assert(scenario_run(SCENARIO_DIR "/resume_past_window.jsonl", err, sizeof(err)), "%s",
		  err);
	cr_assert_not(harness_leaks(), "LeakSanitizer found leaks (see above)");
}

/* ---- the client interface over the bus ---- */

struct bus_rec {
	json_t *evs;
};

static void bus_rec_cb(const struct sb_event *ev, void *ud)
{
	struct bus_rec *r = ud;
	const char *name = sb_event_desc((enum sb_event_type)ev->type)->name;

	json_array_append_new(r->evs,
			      json_pack("{s:s,s:I,s:I,s:s,s:o}", "type", name, "arg0",
					(json_int_t)ev->arg[0], "arg1", (json_int_t)ev->arg[1],
					"str", ev->str, "body", json_loads(ev->text, 0, NULL)));
}

Test(client_bus, replies_and_events_become_ws_events)
{
	struct sb_bus *bus = sb_bus_new(NULL, NULL);
	struct bus_rec r = {.evs = json_array()};
	struct sb_engine_error err;
	json_t *e;

	sb_bus_subscribe(bus, SB_EV_WS_REPLY, bus_rec_cb, &r);
	sb_bus_subscribe(bus, SB_EV_WS_EVENT, bus_rec_cb, &r);
	cr_assert_eq(sb_engine_client_bus_ops.reply(bus, 4, 17, "{\"call\":\"c-1\"}", NULL), 0);
	sb__engine_error(3004, &err);
	err.retry_after_s = 5;
	cr_assert_eq(sb_engine_client_bus_ops.reply(bus, 4, 18, "{}", &err), 0);
	cr_assert_eq(sb_engine_client_bus_ops.event(bus, "sess-1", "call.ended",
						    "{\"call\":\"c-1\",\"reason\":\"hangup\"}"),
		     0);
	while (sb_bus_pending(bus))
		sb_bus_dispatch(bus);
	cr_assert_eq(json_array_size(r.evs), 3);
	e = json_array_get(r.evs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "ws.reply");
	cr_assert_eq(json_integer_value(json_object_get(e, "arg0")), 4);
	cr_assert_eq(json_integer_value(json_object_get(e, "arg1")), 17);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(json_object_get(e, "body"), "result"), "call")),
			 "c-1");
	e = json_object_get(json_object_get(json_array_get(r.evs, 1), "body"), "error");
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), 3004);
	cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "overloaded");
	cr_assert_eq(json_integer_value(json_object_get(e, "retry_after")), 5);
	e = json_array_get(r.evs, 2);
	cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "ws.event");
	cr_assert_str_eq(json_string_value(json_object_get(e, "str")), "sess-1");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "body"), "event")),
			 "call.ended");
	json_decref(r.evs);
	sb_bus_free(bus);
}

/* ---- random event storms: never a crash, never a leaked media session ---- */

struct storm {
	struct harness *h;
	unsigned seed;
};

static unsigned rnd(struct storm *s, unsigned n)
{
	s->seed = s->seed * 1103515245u + 12345u;
	return (s->seed >> 8) % n;
}

/* A value the fakes have seen for key in command cmd (random pick), or 0. */
static json_t *seen(struct storm *s, const char *cmd, const char *path1, const char *path2)
{
	size_t n = harness_count(s->h, cmd);
	json_t *c, *v;

	if (!n)
		return NULL;
	c = harness_cmd(s->h, cmd, rnd(s, (unsigned)n));
	v = json_object_get(c, path1);
	return path2 ? json_object_get(v, path2) : v;
}

static void storm_ws(struct storm *s, enum sb_event_type t, const char *sess)
{
	static const char *const to[] = {"echo", "bob", "alice", "15551234", "nobody"};
	json_t *wire = seen(s, "client.event", "data", "call");
	json_t *p;

	if (t == SB_EV_WS_CALL_DIAL)
		p = json_pack("{s:s,s:s}", "to", to[rnd(s, 5)], "sdp", "v=0");
	else
		p = json_pack("{s:s,s:s,s:s,s:b}", "call", wire ? json_string_value(wire) : "c-x",
			      "sdp", "v=0", "candidate", "c", "hold", rnd(s, 2));
	harness_ws(s->h, t, 1 + rnd(s, 3), (int64_t)rnd(s, 1000), sess,
		   json_pack("{s:o}", "params", p));
}

static void storm_step(struct storm *s)
{
	static const char *const sessions[] = {"s1", "s2", "s3"};
	static const char *const users[] = {"alice", "bob", "alice"};
	static const enum sb_event_type sip_evs[] = {
		SB_EV_SIP_PROGRESS, SB_EV_SIP_ANSWERED,	    SB_EV_SIP_FAILED,
		SB_EV_SIP_BYE,	    SB_EV_SIP_CANCEL,	    SB_EV_SIP_DTMF,
		SB_EV_SIP_REINVITE, SB_EV_SIP_REOFFER_GONE, SB_EV_SIP_REINVITE_RESULT};
	static const enum sb_event_type media_evs[] = {
		SB_EV_MEDIA_READY,  SB_EV_MEDIA_READY,	   SB_EV_MEDIA_CONNECTED,
		SB_EV_MEDIA_FAILED, SB_EV_MEDIA_CANDIDATE, SB_EV_MEDIA_DTMF,
		SB_EV_MEDIA_STATS,  SB_EV_MEDIA_REANSWER,  SB_EV_MEDIA_OFFER};
	static const enum sb_event_type ws_calls[] = {SB_EV_WS_CALL_DIAL,   SB_EV_WS_CALL_DIAL,
						      SB_EV_WS_CALL_ANSWER, SB_EV_WS_CALL_HANGUP,
						      SB_EV_WS_CALL_DTMF,   SB_EV_WS_ICE_CANDIDATE,
						      SB_EV_WS_CALL_HOLD};
	unsigned k = rnd(s, 3), pick = rnd(s, 10);
	struct sb_event ev = {0};

	if (pick == 0) {
		harness_connect(s->h, 1 + k, sessions[k], users[k]);
		return;
	}
	if (pick == 1) {
		ev.type = (uint16_t)(rnd(s, 2) ? SB_EV_WS_DISCONNECTED : SB_EV_WS_RESUMED);
		ev.arg[0] = 1 + k;
		ev.arg[1] = rnd(s, 2);
		snprintf(ev.str, sizeof(ev.str), "%s", sessions[k]);
		ev.text = strdup(users[k]);
	} else if (pick == 2) {
		storm_ws(s, ws_calls[rnd(s, 7)], sessions[k]);
		return;
	} else if (pick == 3) {
		ev.type = SB_EV_SIP_INVITE;
		ev.arg[0] = rnd(s, 100000);
		snprintf(ev.str, sizeof(ev.str), "%s", rnd(s, 2) ? "alice" : "echo");
		ev.text = strdup("{\"from\":\"+1555\",\"trunk\":\"carrier\",\"sdp\":\"v=0\"}");
	} else if (pick <= 6) {
		json_t *c = seen(s, "media.create", "call", NULL);
		ev.type = (uint16_t)sip_evs[rnd(s, 9)];
		ev.call = c ? (uint64_t)json_integer_value(c) : 1;
		ev.leg = 1 + rnd(s, 4);
		ev.arg[0] = (int[]){180, 486, 200}[rnd(s, 3)];
		ev.text = rnd(s, 2) ? strdup("v=0 sip") : NULL;
	} else if (pick <= 8) {
		size_t n = harness_count(s->h, "media.create");
		json_t *c = n ? harness_cmd(s->h, "media.create", rnd(s, (unsigned)n)) : NULL;
		ev.type = (uint16_t)media_evs[rnd(s, 9)];
		ev.call = (uint64_t)json_integer_value(json_object_get(c, "call"));
		ev.leg = (uint32_t)json_integer_value(json_object_get(c, "leg"));
		ev.arg[0] = json_integer_value(json_object_get(c, "id"));
		/* media.reanswer: the last offer or another, accepted or not */
		ev.arg[1] = rnd(s, 2) ? 0 : -95;
		ev.arg[2] = 1 + rnd(s, 3);
		ev.text = strdup("v=0 media");
		snprintf(ev.str, sizeof(ev.str), "4.2");
	} else {
		harness_advance_ms(s->h, rnd(s, 40000));
		sb_engine_tick(s->h->eng);
		harness_settle(s->h);
		return;
	}
	harness_post(s->h, &ev);
}

static void media_balance(struct harness *h)
{
	json_t *live = json_object();
	size_t i;
	json_t *c;
	char key[32];

	json_array_foreach(h->cmds, i, c)
	{
		const char *cmd = json_string_value(json_object_get(c, "cmd"));

		snprintf(key, sizeof(key), "%lld",
			 (long long)json_integer_value(json_object_get(c, "id")));
		if (strcmp(cmd, "media.create") == 0) {
			cr_assert_null(json_object_get(live, key), "session %s created twice", key);
			json_object_set_new(live, key, json_true());
		} else if (strcmp(cmd, "media.destroy") == 0) {
			cr_assert_not_null(json_object_get(live, key),
					   "session %s destroyed but not live", key);
			json_object_del(live, key);
		}
	}
	cr_assert_eq(json_object_size(live), 0, "%zu media sessions never destroyed",
		     json_object_size(live));
	json_decref(live);
}

Test(storm, random_events_never_crash_or_leak_sessions)
{
	const char *cfg = "[limits]\nmax_calls = 20\nmax_cps = 0\nring_timeout = 60s\n"
			  "[http]\nresume_window = 30s\n"
			  "[user alice]\n[user bob]\n[trunk carrier]\nhost = h\n"
			  "[route echo]\ndestination = echo\naction = echo\n"
			  "[route users]\ndestination = alice|bob\naction = user\n"
			  "[route out]\ndestination = 1*\naction = trunk\ntarget = carrier\n";
	struct sb_engine_metrics m, total = {0};

	for (unsigned seed = 1; seed <= 20; seed++) {
		struct storm s = {.h = harness_new(cfg), .seed = seed};

		json_object_set_new(s.h->contacts, "bob", json_pack("[s]", "sip:bob@192.0.2.9"));
		for (int i = 0; i < 400; i++)
			storm_step(&s);
		sb_engine_metrics(s.h->eng, &m);
		total.calls_total += m.calls_total;
		total.calls_answered += m.calls_answered;
		total.illegal_transitions += m.illegal_transitions;
		total.cdrs += m.cdrs;
		s.h->eng = sb_engine_free(s.h->eng);
		media_balance(s.h);
		harness_free(s.h);
	}
	/* The storm reached real flows, not only refusals. */
	cr_assert_gt(total.calls_total, 100);
	cr_assert_gt(total.calls_answered, 10, "answered %llu",
		     (unsigned long long)total.calls_answered);
	cr_assert_gt(total.illegal_transitions, 10);
	cr_log_info("storm: %llu calls, %llu answered, %llu illegal inputs refused",
		    (unsigned long long)total.calls_total, (unsigned long long)total.calls_answered,
		    (unsigned long long)total.illegal_transitions);
	cr_assert_not(harness_leaks(), "LeakSanitizer found leaks (see above)");
}
