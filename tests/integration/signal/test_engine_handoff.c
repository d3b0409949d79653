/* The signal component in-process with a fake call engine on the bus: call
 * methods reach the engine as WS_CALL_* events, its WS_REPLY answers the
 * request and its WS_EVENT reaches the session (the contract issue 6's
 * engine builds on). The control loop runs in a second thread; the test
 * thread is the WebSocket client. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "harness.h"
#include "signal/signal.h"

struct fixture {
	GMainLoop *loop;
	struct sb_config *cfg;
	struct sb_bus *bus;
	struct sb_lifecycle *lc;
	struct sb_signal_server *srv;
	pthread_t thread;
	int port;
	int dials;
};

static struct fixture F;

/* A component that reports ready only when the test says so. */
static int fake_start(void *ud, struct sb_lifecycle *lc)
{
	return 0;
}

static void fake_stop(void *ud)
{
}

static const struct sb_component_ops fake_ops = {
	.name = "fake", .start = fake_start, .stop = fake_stop};

static gboolean fake_ready_cb(gpointer ud)
{
	sb_lifecycle_ready(F.lc, "fake");
	return G_SOURCE_REMOVE;
}

static void post_text(enum sb_event_type type, int64_t a0, int64_t a1, const char *str,
		      const char *text)
{
	struct sb_event ev = {.type = type, .arg = {a0, a1}, .text = g_strdup(text)};

	snprintf(ev.str, sizeof(ev.str), "%s", str ? str : "");
	cr_assert_gt(sb_bus_post(F.bus, &ev), 0);
}

/* The fake engine: control thread, from bus dispatch. */
static void engine_cb(const struct sb_event *ev, void *ud)
{
	json_t *req = json_loads(ev->text, 0, NULL);
	const char *method = json_string_value(json_object_get(req, "method"));

	cr_assert(req && method, "engine got no request JSON");
	cr_assert_str_eq(json_string_value(json_object_get(req, "user")), "alice");
	if (ev->type == SB_EV_WS_CALL_DIAL) {
		F.dials++;
		cr_assert_str_eq(
			json_string_value(json_object_get(json_object_get(req, "params"), "to")),
			"15551234");
		post_text(SB_EV_WS_REPLY, ev->arg[0], ev->arg[1], NULL,
			  "{\"result\":{\"call\":\"c-00000000000000aa\"}}");
		post_text(SB_EV_WS_EVENT, 0, 0, ev->str,
			  "{\"event\":\"call.progress\",\"data\":{\"call\":\"c-00000000000000aa\","
			  "\"status\":180}}");
	} else {
		post_text(SB_EV_WS_REPLY, ev->arg[0], ev->arg[1], NULL,
			  "{\"error\":{\"code\":10486,\"message\":\"Busy Here\"}}");
	}
	json_decref(req);
}

static void *loop_thread(void *ud)
{
	g_main_loop_run(F.loop);
	return NULL;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void setup(void)
{
	struct sb_config_errors errs = {0};
	char text[512];
	const char *failed = NULL;

	F.port = free_port();
	snprintf(text, sizeof(text),
		 "[http]\nlisten = ws://127.0.0.1:%d\nweb_root = /nonexistent\n"
		 "max_calls_per_conn = 2\n"
		 "[auth]\nhs256_secret = test-secret\n",
		 F.port);
	cr_assert_eq(sb_config_load_string("test", text, NULL, &F.cfg, &errs), 0);
	F.loop = g_main_loop_new(NULL, FALSE);
	F.bus = sb_bus_new(&F.cfg->bus, g_main_context_default());
	F.lc = sb_lifecycle_new();
	F.srv = sb_signal_server_new(F.cfg, F.loop, F.bus);
	cr_assert(F.bus && F.lc && F.srv);
	for (int t = SB_EV_WS_CALL_DIAL; t <= SB_EV_WS_ICE_CANDIDATE; t++)
		sb_bus_subscribe(F.bus, (enum sb_event_type)t, engine_cb, NULL);
	cr_assert_eq(sb_lifecycle_add(F.lc, &sb_signal_component_ops, F.srv), 0);
	cr_assert_eq(sb_lifecycle_add(F.lc, &fake_ops, NULL), 0);
	cr_assert_eq(sb_lifecycle_start(F.lc, &failed), 0);
	pthread_create(&F.thread, NULL, loop_thread, NULL);
}

static gboolean quit_cb(gpointer ud)
{
	sb_lifecycle_stop(F.lc);
	g_main_loop_quit(F.loop);
	return G_SOURCE_REMOVE;
}

static void teardown(void)
{
	g_idle_add(quit_cb, NULL);
	g_main_context_wakeup(NULL);
	pthread_join(F.thread, NULL);
	F.lc = sb_lifecycle_free(F.lc);
	F.srv = sb_signal_server_free(F.srv);
	F.bus = sb_bus_free(F.bus);
	g_main_loop_unref(F.loop);
	sb_config_unref(F.cfg);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 30);

Test(engine, calls_go_to_the_engine_once_it_is_ready)
{
	struct ws *ws = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *r, *ev;

	cr_assert(ws);
	json_decref(hello_ok(ws, NULL));
	r = rpc(ws, "d0", "call.dial", "{\"to\":\"15551234\",\"sdp\":\"v=0\\r\\n\"}");
	expect_error(r, 3000, "not_available");
	json_decref(r);
	/* the engine announces itself */
	post_text(SB_EV_SYS_COMPONENT_READY, 0, 0, "engine", NULL);
	usleep(100000);
	r = rpc(ws, "d1", "call.dial", "{\"to\":\"15551234\",\"sdp\":\"v=0\\r\\n\"}");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"), "call")),
			 "c-00000000000000aa", "%s", json_dumps(r, 0));
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "d1");
	json_decref(r);
	ev = next_msg(ws, 3000, NULL);
	cr_assert(ev, "no call.progress event");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "event")), "call.progress");
	json_decref(ev);
	r = rpc(ws, "h1", "call.hangup", "{\"call\":\"c-00000000000000aa\"}");
	expect_error(r, 10486, "sip_486_busy_here");
	json_decref(r);
	cr_assert_eq(F.dials, 1);
	ws_close(ws);
}

static void dial_ok(struct ws *ws)
{
	json_t *r = rpc(ws, "d", "call.dial", "{\"to\":\"15551234\",\"sdp\":\"v=0\"}"), *ev;

	cr_assert(json_object_get(r, "result"), "%s", json_dumps(r, 0));
	json_decref(r);
	ev = next_msg(ws, 3000, NULL); /* call.progress */
	cr_assert(ev);
	json_decref(ev);
}

Test(engine, max_calls_follows_the_engine)
{
	struct ws *ws = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *r, *res;
	char text[256];

	res = hello_ok(ws, NULL);
	post_text(SB_EV_SYS_COMPONENT_READY, 0, 0, "engine", NULL);
	usleep(100000);
	dial_ok(ws);
	dial_ok(ws);
	r = rpc(ws, "d3", "call.dial", "{\"to\":\"15551234\",\"sdp\":\"v=0\"}");
	expect_error(r, 3003, "too_many_calls");
	json_decref(r);
	cr_assert_eq(F.dials, 2, "the third dial reached the engine");
	/* the engine ends one call: a new dial is allowed again */
	snprintf(text, sizeof(text),
		 "{\"event\":\"call.ended\",\"data\":{\"call\":\"c-00000000000000aa\","
		 "\"reason\":\"remote_hangup\",\"error\":{\"code\":10486,\"name\":"
		 "\"sip_486_busy_here\",\"message\":\"Busy Here\"}}}");
	post_text(SB_EV_WS_EVENT, 0, 0, json_string_value(json_object_get(res, "session")), text);
	r = next_msg(ws, 3000, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(r, "event")), "call.ended");
	json_decref(r);
	dial_ok(ws);
	cr_assert_eq(F.dials, 3);
	json_decref(res);
	ws_close(ws);
}

Test(engine, readyz_follows_the_lifecycle)
{
	char *body = NULL;

	cr_assert_eq(http_get("127.0.0.1", F.port, false, "GET", "/readyz", NULL, &body, NULL),
		     503);
	cr_assert_str_eq(body, "not ready: fake\n");
	free(body);
	cr_assert_eq(http_get("127.0.0.1", F.port, false, "GET", "/livez", NULL, &body, NULL), 200);
	free(body);
	g_idle_add(fake_ready_cb, NULL);
	g_main_context_wakeup(NULL);
	usleep(100000);
	cr_assert_eq(http_get("127.0.0.1", F.port, false, "GET", "/readyz", NULL, &body, NULL),
		     200);
	cr_assert_str_eq(body, "ready\n");
	free(body);
}

Test(engine, metrics_samples_from_other_components)
{
	struct sb_event ev = {.type = SB_EV_METRICS_SAMPLE, .arg = {42}};
	char *body = NULL;

	snprintf(ev.str, sizeof(ev.str), "switchboard_media_sessions");
	cr_assert_gt(sb_bus_post(F.bus, &ev), 0);
	snprintf(ev.str, sizeof(ev.str), "Not A Name");
	cr_assert_gt(sb_bus_post(F.bus, &ev), 0);
	usleep(100000);
	cr_assert_eq(http_get("127.0.0.1", F.port, false, "GET", "/metrics", NULL, &body, NULL),
		     200);
	cr_assert(strstr(body, "\nswitchboard_media_sessions 42\n"), "%s", body);
	cr_assert_null(strstr(body, "Not A Name"));
	free(body);
}
