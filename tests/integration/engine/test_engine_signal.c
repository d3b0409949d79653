/* The call engine behind the real signal component, in-process: a WebSocket
 * client dials, answers and hangs up through protocol v1; the engine routes
 * and answers through fake SIP and media components that reply on the bus
 * as the real ones will. The control loop runs in a second thread; the test
 * thread is the browser. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "engine/engine.h"
#include "harness.h"
#include "signal/signal.h"

struct fixture {
	GMainLoop *loop;
	struct sb_config *cfg;
	struct sb_bus *bus;
	struct sb_lifecycle *lc;
	struct sb_signal_server *srv;
	struct sb_engine *eng;
	pthread_t thread;
	int port;
	pthread_mutex_t lock;
	GPtrArray *cdrs; /* CDR JSON texts, under lock */
};

static struct fixture F;

static void post(enum sb_event_type type, uint64_t call, uint32_t leg, int64_t a0, const char *text)
{
	struct sb_event ev = {.type = (uint16_t)type, .call = call, .leg = leg, .arg = {a0}};

	ev.text = text ? g_strdup(text) : NULL;
	sb_bus_post(F.bus, &ev);
}

/* ---- fake media: every session is ready at once with a description
 * naming it ---- */

static int media_create(void *ud, uint64_t id, uint64_t call, uint32_t leg,
			enum sb_engine_media_kind kind, const char *remote_sdp,
			const struct sb_engine_media_opts *opts)
{
	char sdp[128];

	snprintf(sdp, sizeof(sdp), "v=0\r\ns=media %llu %s\r\n", (unsigned long long)id,
		 kind == SB_MEDIA_ECHO ? "echo"
		 : remote_sdp	       ? "answer"
				       : "offer");
	post(SB_EV_MEDIA_READY, call, leg, (int64_t)id, sdp);
	return 0;
}

static int media_ok(void *ud, uint64_t id, const char *s)
{
	return 0;
}

static int media_bridge(void *ud, uint64_t a, uint64_t b)
{
	return 0;
}

static int media_id(void *ud, uint64_t id)
{
	return 0;
}

/* Conferences: the mix is the media plane's; joining takes effect. */
static int media_conf_join(void *ud, uint64_t id, uint64_t conf)
{
	return 0;
}

static int media_dtmf(void *ud, uint64_t id, const char *d, int ms)
{
	return 0;
}

static const struct sb_engine_media_ops media = {
	.create = media_create,
	.update = media_ok,
	.bridge = media_bridge,
	.conf_join = media_conf_join,
	.conf_leave = media_id,
	.ice_restart = media_id,
	.candidate = media_ok,
	.dtmf = media_dtmf,
	.destroy = media_id,
};

/* ---- fake SIP: numbers ending in 486 are busy, others ring and answer */

struct later {
	uint64_t call;
	uint32_t leg;
};

static gboolean answer_cb(gpointer ud)
{
	struct later *l = ud;

	post(SB_EV_SIP_ANSWERED, l->call, l->leg, 200, "v=0\r\ns=trunk answer\r\n");
	g_free(l);
	return G_SOURCE_REMOVE;
}

static void answer_later(uint64_t call, uint32_t leg)
{
	struct later *l = g_new0(struct later, 1);

	l->call = call;
	l->leg = leg;
	g_timeout_add(5, answer_cb, l);
}

static int sip_invite(void *ud, uint64_t call, uint32_t leg, const struct sb_engine_sip_target *t,
		      const char *sdp)
{
	size_t n = strlen(t->uri);

	if (n >= 3 && strcmp(t->uri + n - 3, "486") == 0) {
		struct sb_event ev = {.type = SB_EV_SIP_FAILED, .call = call, .leg = leg};
		ev.arg[0] = 486;
		snprintf(ev.str, sizeof(ev.str), "Busy Here");
		sb_bus_post(F.bus, &ev);
		return 0;
	}
	post(SB_EV_SIP_PROGRESS, call, leg, 180, NULL);
	/* The far end answers a little later, as over a network. */
	answer_later(call, leg);
	return 0;
}

static int sip_leg(void *ud, uint64_t call, uint32_t leg)
{
	return 0;
}

static const struct sb_engine_sip_ops sip = {
	.invite = sip_invite,
	.cancel = sip_leg,
	.bye = sip_leg,
};

static int store_cdr(void *ud, const struct sb_cdr *cdr, const char *json)
{
	pthread_mutex_lock(&F.lock);
	g_ptr_array_add(F.cdrs, g_strdup(json));
	pthread_mutex_unlock(&F.lock);
	return 0;
}

static const struct sb_engine_store_ops store = {.cdr = store_cdr};

/* ---- fixture ---- */

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
	struct sb_engine_ops ops = {.sip = &sip, .media = &media, .store = &store};
	const char *failed = NULL;
	char text[1024];

	F.port = free_port();
	snprintf(text, sizeof(text),
		 "[http]\nlisten = ws://127.0.0.1:%d\nweb_root = /nonexistent\n"
		 "[auth]\nhs256_secret = test-secret\n"
		 "[user alice]\n[user bob]\n[trunk carrier]\nhost = 127.0.0.1\n"
		 "[route echo]\ndestination = 1999\naction = echo\n"
		 "[conference lobby]\n"
		 "[route conference]\ndestination = 1888\naction = conference\n"
		 "target = lobby\n"
		 "[route users]\ndestination = alice|bob\naction = user\n"
		 "[trunk tight]\nhost = 127.0.0.1\nmax_calls = 1\n"
		 "[route tight]\ndestination = 17*\naction = trunk\ntarget = tight\n"
		 "[route out]\ndestination = 1*\naction = trunk\ntarget = carrier\n",
		 F.port);
	cr_assert_eq(sb_config_load_string("test", text, NULL, &F.cfg, &errs), 0);
	pthread_mutex_init(&F.lock, NULL);
	F.cdrs = g_ptr_array_new_with_free_func(g_free);
	F.loop = g_main_loop_new(NULL, FALSE);
	F.bus = sb_bus_new(&F.cfg->bus, g_main_context_default());
	F.lc = sb_lifecycle_new();
	F.srv = sb_signal_server_new(F.cfg, F.loop, F.bus);
	ops.client = &sb_engine_client_bus_ops;
	ops.client_ud = F.bus;
	F.eng = sb_engine_new(F.cfg, F.bus, NULL, &ops);
	cr_assert(F.bus && F.lc && F.srv && F.eng);
	cr_assert_eq(sb_lifecycle_add(F.lc, &sb_signal_component_ops, F.srv), 0);
	cr_assert_eq(sb_lifecycle_add(F.lc, &sb_engine_component, F.eng), 0);
	cr_assert_eq(sb_lifecycle_start(F.lc, &failed), 0);
	pthread_create(&F.thread, NULL, loop_thread, NULL);
	usleep(100000); /* signal sees sys.component_ready "engine" */
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
	F.eng = sb_engine_free(F.eng);
	F.srv = sb_signal_server_free(F.srv);
	F.bus = sb_bus_free(F.bus);
	g_main_loop_unref(F.loop);
	sb_config_unref(F.cfg);
	g_ptr_array_free(F.cdrs, TRUE);
	pthread_mutex_destroy(&F.lock);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers (test thread) ---- */

static json_t *event(struct ws *ws, const char *name)
{
	json_t *m = next_msg(ws, 3000, NULL);

	cr_assert(m, "no %s event", name);
	cr_assert_str_eq(json_string_value(json_object_get(m, "type")), "event");
	cr_assert_str_eq(json_string_value(json_object_get(m, "event")), name, "%s",
			 json_dumps(m, 0));
	return m;
}

static const char *data_str(json_t *ev, const char *key)
{
	return json_string_value(json_object_get(json_object_get(ev, "data"), key));
}

static char *dial(struct ws *ws, const char *to)
{
	char params[256];
	json_t *r;
	char *call;

	snprintf(params, sizeof(params), "{\"to\":\"%s\",\"sdp\":\"v=0\\r\\ns=browser\\r\\n\"}",
		 to);
	r = rpc(ws, "d", "call.dial", params);
	cr_assert(r && json_object_get(r, "result"), "%s", r ? json_dumps(r, 0) : "closed");
	call = g_strdup(json_string_value(json_object_get(json_object_get(r, "result"), "call")));
	cr_assert(call && strncmp(call, "c-", 2) == 0 && strlen(call) == 18, "call id %s", call);
	json_decref(r);
	return call;
}

static void hangup(struct ws *ws, const char *call)
{
	char params[128];
	json_t *r, *ev;

	snprintf(params, sizeof(params), "{\"call\":\"%s\"}", call);
	r = rpc(ws, "h", "call.hangup", params);
	cr_assert(r && json_object_get(r, "result"), "%s", r ? json_dumps(r, 0) : "closed");
	json_decref(r);
	ev = event(ws, "call.ended");
	cr_assert_str_eq(data_str(ev, "reason"), "hangup");
	json_decref(ev);
}

static json_t *last_cdr(void)
{
	json_t *c = NULL;

	for (int i = 0; i < 100 && !c; i++) {
		pthread_mutex_lock(&F.lock);
		if (F.cdrs->len)
			c = json_loads(F.cdrs->pdata[F.cdrs->len - 1], 0, NULL);
		pthread_mutex_unlock(&F.lock);
		if (!c)
			usleep(10000);
	}
	cr_assert(c, "no CDR");
	return c;
}

/* ---- tests ---- */

Test(engine, echo_call_answered_and_hung_up)
{
	struct ws *ws = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *ev, *cdr;
	char *call;

	json_decref(hello_ok(ws, NULL));
	call = dial(ws, "1999");
	ev = event(ws, "call.answered");
	cr_assert_str_eq(data_str(ev, "call"), call);
	cr_assert(strstr(data_str(ev, "sdp"), "echo"), "the echo session's description");
	json_decref(ev);
	hangup(ws, call);
	cdr = last_cdr();
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "call")), call);
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "action")), "echo");
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "disposition")), "answered");
	json_decref(cdr);
	g_free(call);
	ws_close(ws);
}

/* Two browser sessions meet in a conference room: each is answered, then
 * told the room's members (call.conference, checked against its schema
 * like every event); the first hears the second leave. */
Test(engine, conference_members_told)
{
	struct ws *a = ws_open("127.0.0.1", F.port, false, NULL);
	struct ws *b = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *ev, *members, *cdr;
	char *ca, *cb;

	json_decref(hello_ok(a, NULL));
	json_decref(hello_ok(b, NULL));
	ca = dial(a, "1888");
	json_decref(event(a, "call.answered"));
	ev = event(a, "call.conference");
	cr_assert_str_eq(data_str(ev, "call"), ca);
	cr_assert_str_eq(data_str(ev, "conference"), "lobby");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(ev, "data"), "members")), 1);
	json_decref(ev);
	cb = dial(b, "1888");
	json_decref(event(b, "call.answered"));
	ev = event(a, "call.conference");
	members = json_object_get(json_object_get(ev, "data"), "members");
	cr_assert_eq(json_array_size(members), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(members, 1), "call")),
			 cb);
	json_decref(ev);
	json_decref(event(b, "call.conference"));
	hangup(b, cb);
	ev = event(a, "call.conference");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(ev, "data"), "members")), 1);
	json_decref(ev);
	hangup(a, ca);
	cdr = last_cdr();
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "action")), "conference");
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "target")), "lobby");
	json_decref(cdr);
	g_free(ca);
	g_free(cb);
	ws_close(a);
	ws_close(b);
}

Test(engine, trunk_call_rings_answers_and_counts_per_connection)
{
	struct ws *ws = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *ev, *r;
	char *calls[4];

	json_decref(hello_ok(ws, NULL));
	/* max_calls_per_conn (4) follows the engine's replies and call.ended:
	 * five calls in turn all pass because each one ended. */
	for (int round = 0; round < 5; round++) {
		char *call = dial(ws, "15551234");
		ev = event(ws, "call.progress");
		cr_assert_eq(
			json_integer_value(json_object_get(json_object_get(ev, "data"), "status")),
			180);
		json_decref(ev);
		ev = event(ws, "call.answered");
		cr_assert(strstr(data_str(ev, "sdp"), "answer"));
		json_decref(ev);
		hangup(ws, call);
		g_free(call);
	}
	/* Four live calls fill the connection; the fifth is refused. */
	for (int i = 0; i < 4; i++) {
		calls[i] = dial(ws, "15551234");
		json_decref(event(ws, "call.progress"));
		json_decref(event(ws, "call.answered"));
	}
	r = rpc(ws, "d5", "call.dial", "{\"to\":\"15551234\",\"sdp\":\"v=0\"}");
	expect_error(r, 3003, "too_many_calls");
	json_decref(r);
	for (int i = 0; i < 4; i++) {
		hangup(ws, calls[i]);
		g_free(calls[i]);
	}
	ws_close(ws);
}

Test(engine, busy_trunk_is_a_typed_error)
{
	struct ws *ws = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *ev, *err, *cdr;
	char *call;

	json_decref(hello_ok(ws, NULL));
	call = dial(ws, "15550486");
	ev = event(ws, "call.ended");
	cr_assert_str_eq(data_str(ev, "reason"), "failed");
	err = json_object_get(json_object_get(ev, "data"), "error");
	cr_assert_eq(json_integer_value(json_object_get(err, "code")), 10486);
	cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "sip_486_busy_here");
	json_decref(ev);
	cdr = last_cdr();
	cr_assert_str_eq(json_string_value(json_object_get(cdr, "disposition")), "busy");
	json_decref(cdr);
	g_free(call);
	ws_close(ws);
}

Test(engine, browser_calls_browser)
{
	struct ws *a = ws_open("127.0.0.1", F.port, false, NULL);
	struct ws *b = ws_open("127.0.0.1", F.port, false, NULL);
	char *tok = make_token("HS256", "test-secret", "{\"sub\":\"bob\"}"), params[4096];
	json_t *r, *ev;
	char *call;

	json_decref(hello_ok(a, NULL));
	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\"}", tok);
	free(tok);
	r = rpc(b, "h", "hello", params);
	cr_assert(r && json_object_get(r, "result"));
	json_decref(r);
	usleep(50000);
	call = dial(a, "bob");
	ev = event(b, "call.incoming");
	cr_assert_str_eq(data_str(ev, "call"), call);
	cr_assert_str_eq(data_str(ev, "from"), "alice");
	cr_assert(strstr(data_str(ev, "sdp"), "offer"), "the server offers to the callee");
	json_decref(ev);
	json_decref(event(a, "call.progress"));
	snprintf(params, sizeof(params), "{\"call\":\"%s\",\"sdp\":\"v=0\\r\\ns=bob\\r\\n\"}",
		 call);
	r = rpc(b, "a", "call.answer", params);
	cr_assert(r && json_object_get(r, "result"), "%s", r ? json_dumps(r, 0) : "closed");
	json_decref(r);
	ev = event(a, "call.answered");
	cr_assert_str_eq(data_str(ev, "call"), call);
	json_decref(ev);
	hangup(a, call);
	ev = event(b, "call.ended");
	cr_assert_str_eq(data_str(ev, "reason"), "remote_hangup");
	json_decref(ev);
	g_free(call);
	ws_close(a);
	ws_close(b);
}

/* A call refused by an admission limit reaches the browser as a typed error
 * carrying retry_after ([limits] retry_after), like a SIP 503 Retry-After. */
Test(engine, admission_refusal_carries_retry_after)
{
	struct ws *ws = ws_open("127.0.0.1", F.port, false, NULL);
	json_t *r, *e;
	char *first;

	json_decref(hello_ok(ws, NULL));
	first = dial(ws, "1701");
	r = rpc(ws, "d2", "call.dial", "{\"to\":\"1702\",\"sdp\":\"v=0\\r\\n\"}");
	cr_assert(r, "no answer");
	e = json_object_get(r, "error");
	cr_assert(e, "%s", json_dumps(r, 0));
	cr_assert_eq(json_integer_value(json_object_get(e, "retry_after")),
		     F.cfg->limits.retry_after_s, "%s", json_dumps(r, 0));
	json_decref(r);
	g_free(first);
	ws_close(ws);
}
