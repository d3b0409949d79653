/* The browser-client interface over the bus: replies and events become
 * WS_REPLY and WS_EVENT for signalling (docs/signaling.md). Control
 * thread. Owns nothing. */
#include <jansson.h>
#include <stdlib.h>

#include "bus/bus.h"
#include "engine/engine_internal.h"

static int post(struct sb_bus *bus, enum sb_event_type type, uint64_t conn, int64_t request,
		const char *session, json_t *body)
{
	struct sb_event ev = {.type = (uint16_t)type, .arg = {(int64_t)conn, request}};
	int64_t r;

	if (!body)
		return -ENOMEM;
	if (session)
		sb__set_str(ev.str, sizeof(ev.str), session);
	ev.text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!ev.text)
		return -ENOMEM;
	r = sb_bus_post(bus, &ev);
	return r < 0 ? (int)r : 0;
}

static int bus_reply(void *ud, uint64_t conn, int64_t request, const char *result_json,
		     const struct sb_engine_error *err)
{
	json_t *body, *e;

	if (!err)
		return post(ud, SB_EV_WS_REPLY, conn, request, NULL,
			    json_pack("{s:o}", "result", json_loads(result_json, 0, NULL)));
	e = json_pack("{s:i,s:s,s:s}", "code", err->code, "name", err->name, "message",
		      err->message);
	if (e && err->retry_after_s > 0)
		json_object_set_new(e, "retry_after", json_integer(err->retry_after_s));
	body = e ? json_pack("{s:o}", "error", e) : NULL;
	return post(ud, SB_EV_WS_REPLY, conn, request, NULL, body);
}

static int bus_event(void *ud, const char *session, const char *name, const char *data_json)
{
	return post(ud, SB_EV_WS_EVENT, 0, 0, session,
		    json_pack("{s:s,s:o}", "event", name, "data", json_loads(data_json, 0, NULL)));
}

const struct sb_engine_client_ops sb_engine_client_bus_ops = {
	.reply = bus_reply,
	.event = bus_event,
};
