/* Adapters from the engine's ops to component APIs and bus events. Control
 * thread. Owns nothing: every string it builds is handed to the bus. */
#include "adapters.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"

static int post_text(struct sb_bus *bus, struct sb_event *ev, json_t *j)
{
	ev->text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!ev->text)
		return -ENOMEM;
	return sb_bus_post(bus, ev) < 0 ? -EAGAIN : 0;
}

static int client_reply(void *ud, uint64_t conn, int64_t request, const char *result_json,
			const struct sb_engine_error *err)
{
	struct sb_event ev = {.type = SB_EV_WS_REPLY, .arg = {(int64_t)conn, request}};
	json_t *j;

	if (err) {
		json_t *e = json_pack("{s:i, s:s, s:s}", "code", err->code, "name", err->name,
				      "message", err->message);
		if (e && err->sip_status)
			json_object_set_new(e, "sip_status", json_integer(err->sip_status));
		if (e && err->retry_after_s > 0)
			json_object_set_new(e, "retry_after", json_integer(err->retry_after_s));
		j = e ? json_pack("{s:o}", "error", e) : NULL;
	} else {
		json_t *r = json_loads(result_json ? result_json : "{}", 0, NULL);
		j = r ? json_pack("{s:o}", "result", r) : NULL;
	}
	return post_text(ud, &ev, j);
}

static int client_event(void *ud, const char *session, const char *name, const char *data_json)
{
	struct sb_event ev = {.type = SB_EV_WS_EVENT};
	json_t *data = json_loads(data_json ? data_json : "{}", 0, NULL);

	if (!data || strlen(session) >= sizeof(ev.str)) {
		json_decref(data);
		return -EINVAL;
	}
	memcpy(ev.str, session, strlen(session) + 1);
	return post_text(ud, &ev, json_pack("{s:s, s:o}", "event", name, "data", data));
}

const struct sb_engine_client_ops sb_adapter_client_ops = {
	.reply = client_reply,
	.event = client_event,
};
