/* The scenario runner: a scenario is a file of JSON lines (events in,
 * commands and transitions expected out); docs/engine.md describes the
 * format. Variables ("$name") bind to the first value they are compared
 * with and must match it afterwards; in input lines they are replaced by
 * their value. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "harness.h"

#include "core/strbuf.h"
#include "engine/engine_internal.h"

#define MAX_LINE (256 * 1024)

struct run {
	struct harness *h;
	json_t *vars;
	size_t cmd_next;   /* first command not yet matched */
	size_t state_next; /* first transition not yet looked at */
	char *err;
	size_t err_size;
	int line;
	bool dump;
	const char *unbound; /* first variable used before it was bound */
	json_t *conns;	     /* connection id -> session, from ws.connected/resumed */
};

static bool fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, r->err_size, "line %d: ", r->line);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < r->err_size)
		vsnprintf(r->err + n, r->err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static bool is_var(json_t *v)
{
	const char *s = json_string_value(v);

	return s && s[0] == '$' && s[1];
}

/* expected matches actual: objects by subset, arrays element by element,
 * variables bind on first use. */
static bool match(struct run *r, json_t *exp, json_t *act)
{
	if (is_var(exp)) {
		json_t *bound = json_object_get(r->vars, json_string_value(exp));
		if (!bound) {
			json_object_set(r->vars, json_string_value(exp), act ? act : json_null());
			return true;
		}
		return act && json_equal(bound, act);
	}
	if (!act)
		return false;
	if (json_is_object(exp)) {
		const char *k;
		json_t *v;

		if (!json_is_object(act))
			return false;
		json_object_foreach(exp, k, v)
		{
			if (!match(r, v, json_object_get(act, k)))
				return false;
		}
		return true;
	}
	if (json_is_array(exp)) {
		size_t i;
		json_t *v;

		if (!json_is_array(act) || json_array_size(act) != json_array_size(exp))
			return false;
		json_array_foreach(exp, i, v)
		{
			if (!match(r, v, json_array_get(act, i)))
				return false;
		}
		return true;
	}
	if (json_is_number(exp) && json_is_number(act))
		return json_number_value(exp) == json_number_value(act);
	return json_equal(exp, act);
}

/* A deep copy of v with variables replaced by their values. */
static json_t *subst(struct run *r, json_t *v)
{
	if (is_var(v)) {
		json_t *b = json_object_get(r->vars, json_string_value(v));
		if (!b && !r->unbound)
			r->unbound = json_string_value(v);
		return b ? json_incref(b) : json_incref(v);
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *x;

		json_object_foreach(v, k, x) json_object_set_new(o, k, subst(r, x));
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *x;

		json_array_foreach(v, i, x) json_array_append_new(a, subst(r, x));
		return a;
	}
	return json_deep_copy(v);
}

static bool do_in(struct run *r, json_t *line)
{
	json_t *l = subst(r, line), *arg = json_object_get(l, "arg"), *text;
	struct sb_event ev = {0};
	int t = sb_event_type_from_name(json_string_value(json_object_get(l, "in")));
	size_t i;
	json_t *a;

	if (t < 0 || r->unbound) {
		bool ok = fail(r, t < 0 ? "unknown event type" : "variable %s used unbound",
			       r->unbound);
		json_decref(l);
		return ok;
	}
	if (r->dump)
		r->cmd_next = json_array_size(r->h->cmds);
	if (r->cmd_next < json_array_size(r->h->cmds)) {
		char *s = json_dumps(json_array_get(r->h->cmds, r->cmd_next), JSON_COMPACT);
		bool ok = fail(r, "unexpected command before this input: %s", s);
		free(s);
		json_decref(l);
		return ok;
	}
	ev.type = (uint16_t)t;
	ev.call = (uint64_t)json_integer_value(json_object_get(l, "call"));
	ev.leg = (uint32_t)json_integer_value(json_object_get(l, "leg"));
	json_array_foreach(arg, i, a)
	{
		if (i < 4)
			ev.arg[i] = json_integer_value(a);
	}
	snprintf(ev.str, sizeof(ev.str), "%s", json_string_value(json_object_get(l, "str")) ?: "");
	text = json_object_get(l, "text");
	if (json_is_string(text))
		ev.text = strdup(json_string_value(text));
	else if (text)
		ev.text = json_dumps(text, JSON_COMPACT);
	if ((t == SB_EV_WS_CONNECTED || t == SB_EV_WS_RESUMED) && ev.str[0]) {
		char key[32];
		snprintf(key, sizeof(key), "%lld", (long long)ev.arg[0]);
		json_object_set_new(r->conns, key, json_string(ev.str));
	}
	json_decref(l);
	harness_post(r->h, &ev);
	if (r->dump) {
		fprintf(stderr, "line %d in %s\n", r->line,
			json_string_value(json_object_get(line, "in")));
		for (size_t k = r->cmd_next; k < json_array_size(r->h->cmds); k++) {
			char *s = json_dumps(json_array_get(r->h->cmds, k), JSON_COMPACT);
			fprintf(stderr, "  out %s\n", s);
			free(s);
		}
	}
	return true;
}

static bool do_out(struct run *r, json_t *exp)
{
	json_t *act = json_array_get(r->h->cmds, r->cmd_next);
	char *e, *a;
	bool ok;

	if (act && match(r, exp, act)) {
		r->cmd_next++;
		return true;
	}
	e = json_dumps(exp, JSON_COMPACT);
	a = act ? json_dumps(act, JSON_COMPACT) : strdup("(no more commands)");
	ok = fail(r, "expected %s, got %s", e, a);
	free(e);
	free(a);
	return ok;
}

static bool do_state(struct run *r, json_t *exp)
{
	char *e;
	bool ok;

	while (r->state_next < json_array_size(r->h->states)) {
		json_t *act = json_array_get(r->h->states, r->state_next++);
		json_t *saved = json_deep_copy(r->vars);

		if (match(r, exp, act)) {
			json_decref(saved);
			return true;
		}
		json_decref(r->vars);
		r->vars = saved;
	}
	e = json_dumps(exp, JSON_COMPACT);
	ok = fail(r, "transition %s not seen", e);
	free(e);
	return ok;
}

static json_t *metrics_json(struct run *r)
{
	struct sb_engine_metrics m;

	sb_engine_metrics(r->h->eng, &m);
	return json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"chat_relayed", (json_int_t)m.chat_relayed, "chat_dropped",
		(json_int_t)m.chat_dropped, "chat_failed", (json_int_t)m.chat_failed, "conf_joins",
		(json_int_t)m.conf_joins, "conf_refused_full", (json_int_t)m.conf_refused_full,
		"conf_mutes", (json_int_t)m.conf_mutes, "conf_kicks", (json_int_t)m.conf_kicks,
		"active", (json_int_t)sb_engine_active(r->h->eng), "calls_total",
		(json_int_t)m.calls_total, "answered", (json_int_t)m.calls_answered, "failed",
		(json_int_t)m.calls_failed, "cancelled", (json_int_t)m.calls_cancelled,
		"refused_limit", (json_int_t)m.calls_refused_limit, "refused_overload",
		(json_int_t)m.calls_refused_overload, "no_route", (json_int_t)m.calls_no_route,
		"not_allowed", (json_int_t)m.calls_not_allowed, "resume_timeout",
		(json_int_t)m.calls_resume_timeout, "illegal", (json_int_t)m.illegal_transitions,
		"cdrs", (json_int_t)m.cdrs);
}

static bool do_check(struct run *r, json_t *exp)
{
	json_t *m = metrics_json(r);
	char *e, *a;
	bool ok = match(r, exp, m);

	if (!ok) {
		e = json_dumps(exp, JSON_COMPACT);
		a = json_dumps(m, JSON_COMPACT);
		fail(r, "metrics %s, expected %s", a, e);
		free(e);
		free(a);
	}
	json_decref(m);
	return ok;
}

static bool do_calls(struct run *r, json_t *exp)
{
	char *text = sb_engine_calls_json(r->h->eng);
	json_t *act = text ? json_loads(text, 0, NULL) : NULL;
	bool ok = match(r, exp, act);

	if (!ok)
		fail(r, "live calls %s", text ? text : "(none)");
	free(text);
	json_decref(act);
	return ok;
}

static bool do_conferences(struct run *r, json_t *exp)
{
	char *text = sb_engine_conferences_json(r->h->eng);
	json_t *act = text ? json_loads(text, 0, NULL) : NULL;
	bool ok = match(r, exp, act);

	if (!ok)
		fail(r, "conferences %s", text ? text : "(none)");
	free(text);
	json_decref(act);
	return ok;
}

/* The admin API on a conference member: {"admin": {"conference", "call",
 * "do": mute, unmute or kick}, "ret": the return (0 unless given),
 * "member": the member JSON a mute answers}. */
static bool do_admin(struct run *r, json_t *o)
{
	json_t *a = subst(r, json_object_get(o, "admin")), *exp = json_object_get(o, "member");
	const char *room = json_string_value(json_object_get(a, "conference"));
	const char *call = json_string_value(json_object_get(a, "call"));
	const char *what = json_string_value(json_object_get(a, "do"));
	int want = (int)json_integer_value(json_object_get(o, "ret")), got;
	char *member = NULL;
	json_t *act;
	bool ok = true;

	if (!what || !room || !call)
		got = -EINVAL;
	else if (strcmp(what, "kick") == 0)
		got = sb_engine_conference_kick(r->h->eng, room, call);
	else
		got = sb_engine_conference_mute(r->h->eng, room, call, strcmp(what, "mute") == 0,
						&member);
	harness_settle(r->h);
	if (got != want)
		ok = fail(r, "admin %s returned %d, expected %d", what ? what : "?", got, want);
	if (ok && exp) {
		act = member ? json_loads(member, 0, NULL) : NULL;
		ok = match(r, exp, act) || fail(r, "member %s", member ? member : "(none)");
		json_decref(act);
	}
	free(member);
	json_decref(a);
	return ok;
}

static bool do_line(struct run *r, json_t *o)
{
	json_t *v;

	if ((v = json_object_get(o, "contacts")))
		return json_object_update(r->h->contacts, v) == 0;
	/* The ops that fail from here on (replacing the list: [] clears it). */
	if ((v = json_object_get(o, "fail_ops")))
		return json_array_clear(r->h->fail_ops) == 0 &&
		       json_array_extend(r->h->fail_ops, v) == 0;
	if (json_object_get(o, "in"))
		return do_in(r, o);
	if ((v = json_object_get(o, "out")))
		return do_out(r, v);
	if ((v = json_object_get(o, "state")))
		return do_state(r, v);
	if ((v = json_object_get(o, "clock_ms"))) {
		harness_advance_ms(r->h, (uint64_t)json_integer_value(v));
		return true;
	}
	/* The engine's wall clock from now on: an ISO 8601 time with its zone
	 * ("2026-12-07T09:30:00+01:00"), for routes with hours. */
	if ((v = json_object_get(o, "wall"))) {
		GDateTime *t = g_date_time_new_from_iso8601(json_string_value(v), NULL);

		if (!t)
			return fail(r, "bad wall time");
		r->h->eng->wall0 = (uint64_t)g_date_time_to_unix(t) * G_USEC_PER_SEC -
				   (r->h->now_us - r->h->eng->mono0);
		g_date_time_unref(t);
		return true;
	}
	if (json_object_get(o, "tick")) {
		sb_engine_tick(r->h->eng);
		harness_settle(r->h);
		return true;
	}
	if ((v = json_object_get(o, "check")))
		return do_check(r, v);
	if ((v = json_object_get(o, "calls")))
		return do_calls(r, v);
	if ((v = json_object_get(o, "conferences")))
		return do_conferences(r, v);
	if (json_object_get(o, "admin"))
		return do_admin(r, o);
	return fail(r, "unknown line");
}

static char *config_text(json_t *o)
{
	json_t *lines = json_object_get(o, "config");
	struct sb_strbuf b;
	size_t i;
	json_t *l;

	sb_strbuf_init(&b);
	json_array_foreach(lines, i, l) sb_strbuf_printf(&b, "%s\n", json_string_value(l) ?: "");
	return sb_strbuf_steal(&b);
}

static bool run_lines(struct run *r, FILE *f)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	bool ok = true;

	while (ok && (n = getline(&buf, &cap, f)) > 0) {
		json_error_t jerr;
		json_t *o;

		r->line++;
		if (n > MAX_LINE) {
			ok = fail(r, "line too long");
			break;
		}
		if (buf[0] == '#' || buf[0] == '\n')
			continue;
		o = json_loadb(buf, (size_t)n, 0, &jerr);
		if (!json_is_object(o)) {
			ok = fail(r, "not a JSON object: %s", jerr.text);
		} else if (!r->h) {
			char *cfg = config_text(o);
			r->h = harness_new(cfg);
			free(cfg);
			if (!r->h)
				ok = fail(r,
					  "the first line must be a valid {\"config\": [lines]}");
		} else {
			ok = do_line(r, o);
		}
		json_decref(o);
	}
	free(buf);
	return ok;
}

/* Signalling counts a session's calls by the engine's messages (+1 for a
 * dial answered with a call, +1 for call.incoming, -1 for call.ended): for
 * every session still attached at the end, they must balance. */
static bool check_call_balance(struct run *r)
{
	json_t *bal = json_object(), *o, *v;
	const char *k;
	size_t i;
	bool ok = true;

	json_array_foreach(r->h->cmds, i, o)
	{
		const char *cmd = json_string_value(json_object_get(o, "cmd")), *sess = NULL;
		int d = 0;

		if (strcmp(cmd, "client.reply") == 0 &&
		    json_object_get(json_object_get(o, "result"), "call")) {
			char key[32];
			snprintf(key, sizeof(key), "%lld",
				 (long long)json_integer_value(json_object_get(o, "conn")));
			sess = json_string_value(json_object_get(r->conns, key));
			d = 1;
		} else if (strcmp(cmd, "client.event") == 0) {
			const char *ev = json_string_value(json_object_get(o, "event"));
			sess = json_string_value(json_object_get(o, "session"));
			d = strcmp(ev, "call.incoming") == 0 ? 1
			    : strcmp(ev, "call.ended") == 0  ? -1
							     : 0;
		}
		if (sess && d)
			json_object_set_new(
				bal, sess,
				json_integer(json_integer_value(json_object_get(bal, sess)) + d));
	}
	json_object_foreach(bal, k, v)
	{
		struct sb_session *s = sb__session_find(r->h->eng, k);

		if (ok && s && s->state == SB_SESSION_ATTACHED && json_integer_value(v) != 0)
			ok = fail(r, "session %s: %lld calls announced and not ended", k,
				  (long long)json_integer_value(v));
	}
	json_decref(bal);
	return ok;
}

bool scenario_run(const char *path, char *err, size_t err_size)
{
	struct run r = {
		.vars = json_object(), .conns = json_object(), .err = err, .err_size = err_size};
	FILE *f = fopen(path, "r");
	bool ok;

	r.dump = getenv("SB_SCENARIO_DUMP") != NULL;
	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		json_decref(r.vars);
		json_decref(r.conns);
		return false;
	}
	ok = run_lines(&r, f);
	fclose(f);
	if (ok && r.h && r.cmd_next < json_array_size(r.h->cmds)) {
		char *s = json_dumps(json_array_get(r.h->cmds, r.cmd_next), JSON_COMPACT);
		r.line++;
		ok = fail(&r, "unexpected command at the end: %s", s);
		free(s);
	}
	if (ok && r.h && sb_engine_active(r.h->eng) != 0)
		ok = fail(&r, "%zu calls still live at the end", sb_engine_active(r.h->eng));
	if (ok && r.h)
		ok = check_call_balance(&r);
	json_decref(r.conns);
	harness_free(r.h);
	json_decref(r.vars);
	return ok;
}
