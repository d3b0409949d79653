/* Fake components that record commands, the injected clock, and the
 * harness that drives a real bus into a real engine. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "log/log.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

static uint64_t fake_now(void *ud)
{
	return ((struct harness *)ud)->now_us;
}

static int record(struct harness *h, const char *name, json_t *o)
{
	json_object_set_new(o, "cmd", json_string(name));
	json_array_append_new(h->cmds, o);
	for (size_t i = 0; i < json_array_size(h->fail_ops); i++)
		if (strcmp(json_string_value(json_array_get(h->fail_ops, i)), name) == 0)
			return -EIO;
	return 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* ---- fake SIP ---- */

static int sip_bind(void *ud, uint64_t handle, uint64_t call, uint32_t leg)
{
	return record(ud, "sip.bind",
		      json_pack("{s:I,s:I,s:i}", "handle", (json_int_t)handle, "call",
				(json_int_t)call, "leg", (int)leg));
}

static int sip_invite(void *ud, uint64_t call, uint32_t leg, const struct sb_engine_sip_target *t,
		      const char *sdp)
{
	return record(ud, "sip.invite",
		      json_pack("{s:I,s:i,s:o,s:s,s:s,s:o,s:o}", "call", (json_int_t)call, "leg",
				(int)leg, "trunk", str_or_null(t->trunk), "uri", t->uri, "from",
				t->from_user, "caller_user", str_or_null(t->caller_user), "sdp",
				str_or_null(sdp)));
}

static int sip_progress(void *ud, uint64_t call, uint32_t leg, int status, const char *sdp)
{
	return record(ud, "sip.progress",
		      json_pack("{s:I,s:i,s:i,s:o}", "call", (json_int_t)call, "leg", (int)leg,
				"status", status, "sdp", str_or_null(sdp)));
}

static int sip_answer(void *ud, uint64_t call, uint32_t leg, const char *sdp)
{
	return record(ud, "sip.answer",
		      json_pack("{s:I,s:i,s:o}", "call", (json_int_t)call, "leg", (int)leg, "sdp",
				str_or_null(sdp)));
}

static int sip_reject(void *ud, uint64_t call, uint32_t leg, int status, int retry_after_s)
{
	return record(ud, "sip.reject",
		      json_pack("{s:I,s:i,s:i,s:i}", "call", (json_int_t)call, "leg", (int)leg,
				"status", status, "retry_after", retry_after_s));
}

static int sip_cancel(void *ud, uint64_t call, uint32_t leg)
{
	return record(ud, "sip.cancel",
		      json_pack("{s:I,s:i}", "call", (json_int_t)call, "leg", (int)leg));
}

static int sip_bye(void *ud, uint64_t call, uint32_t leg)
{
	return record(ud, "sip.bye",
		      json_pack("{s:I,s:i}", "call", (json_int_t)call, "leg", (int)leg));
}

static int sip_reanswer(void *ud, uint64_t call, uint32_t leg, int status, const char *sdp)
{
	return record(ud, "sip.reanswer",
		      json_pack("{s:I,s:i,s:i,s:o}", "call", (json_int_t)call, "leg", (int)leg,
				"status", status, "sdp", str_or_null(sdp)));
}

static int sip_reinvite(void *ud, uint64_t call, uint32_t leg, const char *sdp)
{
	return record(ud, "sip.reinvite",
		      json_pack("{s:I,s:i,s:o}", "call", (json_int_t)call, "leg", (int)leg, "sdp",
				str_or_null(sdp)));
}

static int sip_message(void *ud, uint64_t call, uint32_t leg, uint64_t seq, const char *text)
{
	return record(ud, "sip.message",
		      json_pack("{s:I,s:i,s:I,s:o}", "call", (json_int_t)call, "leg", (int)leg,
				"seq", (json_int_t)seq, "text", str_or_null(text)));
}

static int sip_info_dtmf(void *ud, uint64_t call, uint32_t leg, const char *digits, int ms)
{
	return record(ud, "sip.info_dtmf",
		      json_pack("{s:I,s:i,s:o,s:i}", "call", (json_int_t)call, "leg", (int)leg,
				"digits", str_or_null(digits), "duration_ms", ms));
}

static size_t sip_contacts(void *ud, const char *user, const char **ret, size_t max)
{
	struct harness *h = ud;
	json_t *list = json_object_get(h->contacts, user);
	size_t n = 0;

	for (; n < json_array_size(list) && n < max && n < 8; n++) {
		h->uris[n] = json_string_value(json_array_get(list, n));
		ret[n] = h->uris[n];
	}
	return n;
}

static const struct sb_engine_sip_ops fake_sip = {
	.bind = sip_bind,
	.invite = sip_invite,
	.progress = sip_progress,
	.answer = sip_answer,
	.reject = sip_reject,
	.cancel = sip_cancel,
	.bye = sip_bye,
	.reanswer = sip_reanswer,
	.reinvite = sip_reinvite,
	.message = sip_message,
	.info_dtmf = sip_info_dtmf,
	.contacts = sip_contacts,
};

/* ---- fake media ---- */

static const char *const kinds[] = {"webrtc", "rtp", "echo", "rtp_echo"};

static const char *const srtp_modes[] = {"off", "sdes", "sdes_optional"};

/* opts as {"codecs": [...], "srtp": "...", "affinity": n}, or null. */
static json_t *opts_json(const struct sb_engine_media_opts *o)
{
	json_t *codecs = json_array();

	if (!o) {
		json_decref(codecs);
		return json_null();
	}
	for (size_t i = 0; o->codecs && o->codecs[i]; i++)
		json_array_append_new(codecs, json_string(o->codecs[i]));
	return json_pack("{s:o,s:s,s:I}", "codecs", codecs, "srtp",
			 o->srtp >= 0 && o->srtp < _SB_ENGINE_SRTP_MAX ? srtp_modes[o->srtp] : "?",
			 "affinity", (json_int_t)o->affinity);
}

static int media_create(void *ud, uint64_t id, uint64_t call, uint32_t leg,
			enum sb_engine_media_kind kind, const char *remote_sdp,
			const struct sb_engine_media_opts *opts)
{
	return record(ud, "media.create",
		      json_pack("{s:I,s:I,s:i,s:s,s:o,s:o}", "id", (json_int_t)id, "call",
				(json_int_t)call, "leg", (int)leg, "kind", kinds[kind],
				"remote_sdp", str_or_null(remote_sdp), "opts", opts_json(opts)));
}

static int media_update(void *ud, uint64_t id, const char *sdp)
{
	return record(ud, "media.update", json_pack("{s:I,s:s}", "id", (json_int_t)id, "sdp", sdp));
}

static int media_reoffer(void *ud, uint64_t id, uint64_t seq, const char *sdp)
{
	return record(ud, "media.reoffer",
		      json_pack("{s:I,s:I,s:s}", "id", (json_int_t)id, "seq", (json_int_t)seq,
				"sdp", sdp));
}

static int media_reoffer_done(void *ud, uint64_t id, uint64_t seq, bool sent)
{
	return record(ud, "media.reoffer_done",
		      json_pack("{s:I,s:I,s:b}", "id", (json_int_t)id, "seq", (json_int_t)seq,
				"sent", sent));
}

static int media_hold(void *ud, uint64_t id, uint64_t seq, bool hold)
{
	return record(ud, "media.hold",
		      json_pack("{s:I,s:I,s:b}", "id", (json_int_t)id, "seq", (json_int_t)seq,
				"hold", hold));
}

static int media_offer_done(void *ud, uint64_t id, uint64_t seq, const char *answer_sdp)
{
	return record(ud, "media.offer_done",
		      json_pack("{s:I,s:I,s:o}", "id", (json_int_t)id, "seq", (json_int_t)seq,
				"sdp", str_or_null(answer_sdp)));
}

static int media_bridge(void *ud, uint64_t a, uint64_t b)
{
	return record(ud, "media.bridge",
		      json_pack("{s:I,s:I}", "a", (json_int_t)a, "b", (json_int_t)b));
}

static int media_conf_join(void *ud, uint64_t id, uint64_t conf)
{
	return record(ud, "media.conf_join",
		      json_pack("{s:I,s:I}", "id", (json_int_t)id, "conf", (json_int_t)conf));
}

static int media_conf_leave(void *ud, uint64_t id)
{
	return record(ud, "media.conf_leave", json_pack("{s:I}", "id", (json_int_t)id));
}

static int media_conf_mute(void *ud, uint64_t id, bool mute)
{
	return record(ud, "media.conf_mute",
		      json_pack("{s:I,s:b}", "id", (json_int_t)id, "mute", mute));
}

static int media_ice_restart(void *ud, uint64_t id)
{
	return record(ud, "media.ice_restart", json_pack("{s:I}", "id", (json_int_t)id));
}

static int media_candidate(void *ud, uint64_t id, const char *c)
{
	return record(ud, "media.candidate",
		      json_pack("{s:I,s:s}", "id", (json_int_t)id, "candidate", c));
}

static int media_dtmf(void *ud, uint64_t id, const char *digits, int ms)
{
	return record(ud, "media.dtmf",
		      json_pack("{s:I,s:s,s:i}", "id", (json_int_t)id, "digits", digits,
				"duration_ms", ms));
}

static int media_chat(void *ud, uint64_t id, const char *text)
{
	return record(ud, "media.chat",
		      json_pack("{s:I,s:o}", "id", (json_int_t)id, "text", str_or_null(text)));
}

static int media_destroy(void *ud, uint64_t id)
{
	return record(ud, "media.destroy", json_pack("{s:I}", "id", (json_int_t)id));
}

static const struct sb_engine_media_ops fake_media = {
	.create = media_create,
	.update = media_update,
	.reoffer = media_reoffer,
	.reoffer_done = media_reoffer_done,
	.hold = media_hold,
	.offer_done = media_offer_done,
	.bridge = media_bridge,
	.conf_join = media_conf_join,
	.conf_leave = media_conf_leave,
	.conf_mute = media_conf_mute,
	.ice_restart = media_ice_restart,
	.candidate = media_candidate,
	.dtmf = media_dtmf,
	.chat = media_chat,
	.destroy = media_destroy,
};

/* ---- fake client (signalling) and store ---- */

static int client_reply(void *ud, uint64_t conn, int64_t request, const char *result,
			const struct sb_engine_error *err)
{
	json_t *o =
		json_pack("{s:I,s:I}", "conn", (json_int_t)conn, "request", (json_int_t)request);

	if (err) {
		json_t *e = json_pack("{s:i,s:s,s:s,s:i}", "code", err->code, "name", err->name,
				      "message", err->message, "sip_status", err->sip_status);
		if (err->retry_after_s)
			json_object_set_new(e, "retry_after", json_integer(err->retry_after_s));
		json_object_set_new(o, "error", e);
	} else {
		json_object_set_new(o, "result", json_loads(result, 0, NULL));
	}
	return record(ud, "client.reply", o);
}

static int client_event(void *ud, const char *session, const char *name, const char *data)
{
	return record(ud, "client.event",
		      json_pack("{s:s,s:s,s:o}", "session", session, "event", name, "data",
				json_loads(data, 0, NULL)));
}

static const struct sb_engine_client_ops fake_client = {
	.reply = client_reply,
	.event = client_event,
};

static int store_cdr(void *ud, const struct sb_cdr *cdr, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);

	if (!o || strcmp(json_string_value(json_object_get(o, "call")), cdr->call_id) != 0)
		abort(); /* the struct and its JSON must agree */
	return record(ud, "store.cdr", json_pack("{s:o}", "cdr", o));
}

static const struct sb_engine_store_ops fake_store = {.cdr = store_cdr};

/* ---- harness ---- */

static const char *const machines[] = {"call", "leg", "session"};

static void state_cb(const struct sb_event *ev, void *ud)
{
	struct harness *h = ud;
	json_t *o = json_loads(ev->text, 0, NULL);

	if (!o)
		return;
	json_object_set_new(o, "call", json_integer((json_int_t)ev->call));
	json_object_set_new(o, "leg", json_integer(ev->leg));
	json_object_set_new(o, "cause", json_string(ev->str));
	json_object_set_new(o, "caused_by", json_integer((json_int_t)ev->cause));
	if (ev->arg[2] >= 0 && ev->arg[2] < 3)
		json_object_set_new(o, "machine", json_string(machines[ev->arg[2]]));
	json_array_append_new(h->states, o);
}

struct harness *harness_new(const char *config_text)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct sb_config_errors errs = {0};
	struct sb_engine_ops ops = {
		.sip = &fake_sip,
		.media = &fake_media,
		.client = &fake_client,
		.store = &fake_store,
	};

	if (!getenv("SB_TEST_LOG"))
		sb_log_set_level_all(SB_LOG_ERROR);
	if (sb_config_load_string("test.conf", config_text, NULL, &h->cfg, &errs) < 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "config: %s\n", errs.msgs[i]);
		sb_config_errors_clear(&errs);
		free(h);
		return NULL;
	}
	h->now_us = 1000000;
	h->clock.now_us = fake_now;
	h->clock.ud = h;
	h->cmds = json_array();
	h->states = json_array();
	h->contacts = json_object();
	h->fail_ops = json_array();
	h->bus = sb_bus_new(&h->cfg->bus, NULL);
	ops.sip_ud = ops.media_ud = ops.client_ud = ops.store_ud = h;
	h->eng = sb_engine_new(h->cfg, h->bus, &h->clock, &ops);
	sb_bus_subscribe(h->bus, SB_EV_CALL_STATE, state_cb, h);
	return h;
}

void harness_free(struct harness *h)
{
	if (!h)
		return;
	sb_engine_free(h->eng);
	sb_bus_free(h->bus);
	sb_config_unref(h->cfg);
	json_decref(h->cmds);
	json_decref(h->states);
	json_decref(h->contacts);
	json_decref(h->fail_ops);
	free(h);
}

bool harness_leaks(void)
{
#ifdef __SANITIZE_ADDRESS__
	/* Criterion's test processes exit without LeakSanitizer's report:
	 * check explicitly. */
	return __lsan_do_recoverable_leak_check() != 0;
#else
	return false;
#endif
}

void harness_settle(struct harness *h)
{
	for (int i = 0; i < 1000 && sb_bus_pending(h->bus); i++)
		sb_bus_dispatch(h->bus);
	sb_engine_reap(h->eng);
}

void harness_post(struct harness *h, const struct sb_event *ev)
{
	sb_bus_post(h->bus, ev);
	harness_settle(h);
}

void harness_advance_ms(struct harness *h, uint64_t ms)
{
	h->now_us += ms * 1000;
}

void harness_connect(struct harness *h, uint64_t conn, const char *session, const char *user)
{
	struct sb_event ev = {.type = SB_EV_WS_CONNECTED, .arg = {(int64_t)conn}};

	snprintf(ev.str, sizeof(ev.str), "%s", session);
	ev.text = strdup(user);
	harness_post(h, &ev);
}

void harness_ws(struct harness *h, enum sb_event_type t, uint64_t conn, int64_t req,
		const char *session, json_t *json)
{
	struct sb_event ev = {.type = (uint16_t)t, .arg = {(int64_t)conn, req}};

	snprintf(ev.str, sizeof(ev.str), "%s", session);
	ev.text = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	harness_post(h, &ev);
}

json_t *harness_cmd(struct harness *h, const char *cmd, size_t n)
{
	size_t i;
	json_t *o;

	json_array_foreach(h->cmds, i, o)
	{
		if (strcmp(json_string_value(json_object_get(o, "cmd")), cmd) == 0 && n-- == 0)
			return o;
	}
	return NULL;
}

size_t harness_count(struct harness *h, const char *cmd)
{
	size_t i, n = 0;
	json_t *o;

	json_array_foreach(h->cmds, i, o)
	{
		if (strcmp(json_string_value(json_object_get(o, "cmd")), cmd) == 0)
			n++;
	}
	return n;
}
