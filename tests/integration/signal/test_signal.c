/* Integration tests of the signal component against the running binary:
 * every documented error path of docs/protocol.md, resume, keepalive, the
 * HTTP resources, and wss. Each test starts its own server on a free port;
 * every server message is validated against docs/schema. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "schema.h"

static struct srv S;

static void stop(void)
{
	srv_stop(&S);
}

static void start_default(void)
{
	srv_start(&S, NULL, NULL, false);
}

/* After an error path: the server still serves a new client. */
static void still_serves(void)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *r;

	cr_assert(ws, "server no longer accepts WebSockets");
	json_decref(hello_ok(ws, NULL));
	r = rpc(ws, "p", "ping", NULL);
	cr_assert(json_object_get(r, "result"));
	json_decref(r);
	ws_close(ws);
}

TestSuite(signal, .init = start_default, .fini = stop, .timeout = 30);

Test(signal, hello_and_ping)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *res, *r;

	cr_assert(ws);
	res = hello_ok(ws, NULL);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(res, "identity"), "user")),
		"alice");
	cr_assert_str_eq(json_string_value(
				 json_object_get(json_object_get(res, "identity"), "display_name")),
			 "Alice Example");
	cr_assert(json_is_false(json_object_get(res, "resumed")));
	r = rpc(ws, "2", "ping", "{}");
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "2");
	cr_assert(json_integer_value(json_object_get(json_object_get(r, "result"), "time_ms")) >
		  1600000000000LL);
	json_decref(r);
	r = rpc(ws, "3", "hello", "{\"version\":1,\"token\":\"x\"}");
	expect_error(r, 1009, "already_authenticated");
	json_decref(r);
	json_decref(res);
	ws_close(ws);
}

Test(signal, malformed_json)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *r;
	char *text;

	cr_assert(ws_send_text(ws, "{\"type\":\"request\",\"id\":") == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1000, "parse_error");
	cr_assert(json_is_null(json_object_get(r, "id")));
	text = json_dumps(r, 0);
	{
		char why[256];

		cr_assert(schema_validate_message(getenv("SB_SCHEMA_DIR"), text, NULL, why,
						  sizeof(why)) == 0,
			  "%s", why);
	}
	free(text);
	json_decref(r);
	/* invalid UTF-8 is a parse error too */
	cr_assert(ws_send_frame(ws, 1, "{\"a\":\"\xff\"}", 9, true) == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1000, "parse_error");
	json_decref(r);
	/* the same connection goes on working */
	json_decref(hello_ok(ws, NULL));
	ws_close(ws);
	still_serves();
}

Test(signal, invalid_message_and_unknown_method)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *r;

	cr_assert(ws_send_text(ws, "[1,2]") == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1001, "invalid_message");
	json_decref(r);
	cr_assert(ws_send_text(ws, "{\"type\":\"request\",\"method\":\"ping\"}") == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1001, "invalid_message");
	json_decref(r);
	cr_assert(ws_send_text(ws, "{\"type\":\"event\",\"id\":\"1\",\"method\":\"ping\"}") == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1001, "invalid_message");
	json_decref(r);
	r = rpc(ws, "a", "ping", NULL);
	expect_error(r, 1008, "not_authenticated");
	json_decref(r);
	json_decref(hello_ok(ws, NULL));
	r = rpc(ws, "b", "call.teleport", "{}");
	expect_error(r, 1002, "unknown_method");
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "b");
	json_decref(r);
	ws_close(ws);
	still_serves();
}

Test(signal, missing_and_mistyped_fields)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *r;

	r = rpc(ws, "1", "hello", "{\"version\":1}");
	expect_error(r, 1003, "invalid_params");
	cr_assert(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			 "params.token"));
	json_decref(r);
	r = rpc(ws, "2", "hello", "{\"version\":\"1\",\"token\":\"x\"}");
	expect_error(r, 1003, "invalid_params");
	json_decref(r);
	r = rpc(ws, "3", "hello", "{\"version\":2,\"token\":\"x\"}");
	expect_error(r, 1010, "unsupported_version");
	json_decref(r);
	r = rpc(ws, "4", "hello", "[]");
	expect_error(r, 1003, "invalid_params");
	json_decref(r);
	json_decref(hello_ok(ws, NULL));
	r = rpc(ws, "5", "call.dial", "{\"to\":42,\"sdp\":\"v=0\"}");
	expect_error(r, 1003, "invalid_params");
	cr_assert(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			 "params.to"));
	json_decref(r);
	r = rpc(ws, "6", "call.dtmf", "{\"call\":\"c-0123456789abcdef\",\"digits\":\"12x\"}");
	expect_error(r, 1003, "invalid_params");
	json_decref(r);
	r = rpc(ws, "7", "call.hold", "{\"call\":\"nope\",\"hold\":true}");
	expect_error(r, 1003, "invalid_params");
	json_decref(r);
	ws_close(ws);
	still_serves();
}

Test(signal, unsafe_text)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	static const char *const cases[][2] = {
		{"call.dial", "{\"to\":\"bob\\r\\nX-Evil: 1\",\"sdp\":\"v=0\"}"},
		{"call.dial", "{\"to\":\"bob\",\"sdp\":\"v=0\",\"display_name\":\"Al\\nice\"}"},
		{"call.dial", "{\"to\":\"bob\\u0000\",\"sdp\":\"v=0\"}"},
		{"call.dial", "{\"to\":\"bob\",\"sdp\":\"v=0\\u0000\"}"},
		{"call.dial", "{\"to\":\"bob\",\"sdp\":\"v=0\",\"x-extra\":\"a\\rb\"}"},
		{"call.hangup", "{\"call\":\"c-0123456789abcdef\",\"reason\":\"bye\\r\\n\"}"},
		{"call.ice", "{\"call\":\"c-0123456789abcdef\",\"candidate\":\"a\\nb\"}"},
	};
	json_t *r;

	json_decref(hello_ok(ws, NULL));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = rpc(ws, "u", cases[i][0], cases[i][1]);
		expect_error(r, 1004, "unsafe_text");
		json_decref(r);
	}
	/* SDP may carry CRLF: the request passes the boundary and reaches the
	 * engine, which finds no route for bob in the test config. */
	r = rpc(ws, "ok", "call.dial",
		"{\"to\":\"bob\",\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 0.0.0.0\\r\\n\"}");
	expect_error(r, 10404, "sip_404_not_found");
	json_decref(r);
	r = rpc(ws, "na", "call.dial", "{\"to\":\"carol\",\"sdp\":\"v=0\"}");
	expect_error(r, 3002, "not_allowed");
	json_decref(r);
	r = rpc(ws, "na2", "call.dial", "{\"to\":\"15551234\",\"sdp\":\"v=0\"}");
	expect_error(r, 10404, "sip_404_not_found");
	json_decref(r);
	r = rpc(ws, "dt", "call.dtmf", "{\"call\":\"c-0123456789abcdef\",\"digits\":\"12#\"}");
	expect_error(r, 3001, "call_not_found");
	json_decref(r);
	ws_close(ws);
	still_serves();
}

Test(signal, large_message_reassembled)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	size_t n = 40000;
	char *sdp = malloc(n + 1), *req = malloc(n + 200);
	json_t *r;

	/* 40 kB: lws hands it over in several pieces, all kept (max_frame 64 kB) */
	for (size_t i = 0; i < n; i++)
		sdp[i] = "a=x\r\n"[i % 5];
	sdp[n] = '\0';
	json_decref(hello_ok(ws, NULL));
	snprintf(req, n + 200,
		 "{\"type\":\"request\",\"id\":\"big\",\"method\":\"call.dial\",\"params\":"
		 "{\"to\":\"bob\",\"sdp\":\"%s\"}}",
		 sdp);
	/* raw CR and LF are not valid inside JSON strings: make them spaces */
	for (char *p = strstr(req, "a=x"); *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	cr_assert(ws_send_text(ws, req) == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 10404, "sip_404_not_found"); /* reached the engine whole */
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "big");
	json_decref(r);
	free(sdp);
	free(req);
	ws_close(ws);
}

Test(signal, bye_closes_without_resume)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *res = hello_ok(ws, NULL), *r;
	char params[4096], *tok = make_token("HS256", "test-secret", NULL);

	r = rpc(ws, "b", "bye", NULL);
	cr_assert(json_object_get(r, "result"));
	json_decref(r);
	expect_close(ws, 1000, 3000);
	ws_close(ws);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\",\"resume\":\"%s\"}", tok,
		 json_string_value(json_object_get(res, "resume_token")));
	r = rpc(ws, "h", "hello", params);
	expect_error(r, 2010, "resume_failed");
	json_decref(r);
	json_decref(res);
	free(tok);
	ws_close(ws);
}

Test(signal, session_takeover)
{
	struct ws *a = ws_open("127.0.0.1", S.port, false, NULL);
	struct ws *b = ws_open("127.0.0.1", S.port, false, NULL);
	json_t *res = hello_ok(a, NULL), *r, *ev;
	char params[4096], *tok = make_token("HS256", "test-secret", NULL);
	int close = 0;

	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\",\"resume\":\"%s\"}", tok,
		 json_string_value(json_object_get(res, "resume_token")));
	r = rpc(b, "h", "hello", params);
	cr_assert(json_is_true(json_object_get(json_object_get(r, "result"), "resumed")));
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(r, "result"), "session")),
		json_string_value(json_object_get(res, "session")));
	ev = next_msg(a, 3000, &close);
	cr_assert(ev, "no session.closing event");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "event")), "session.closing");
	expect_close(a, 4009, 3000);
	json_decref(ev);
	json_decref(r);
	json_decref(res);
	free(tok);
	ws_close(a);
	ws_close(b);
}

/* ---- auth ---- */

static void expect_auth_error(const char *token, int code, const char *name)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	char params[8192];
	json_t *r;

	cr_assert(ws);
	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\"}", token);
	r = rpc(ws, "h", "hello", params);
	expect_error(r, code, name);
	json_decref(r);
	expect_close(ws, 4001, 3000);
	ws_close(ws);
}

Test(signal, bad_tokens)
{
	char *t;

	expect_auth_error("garbage", 2000, "auth_invalid_token");
	expect_auth_error("a.b.c", 2000, "auth_invalid_token");
	t = make_token("HS256", "test-secret", "{\"exp\":1000}");
	expect_auth_error(t, 2001, "auth_expired");
	free(t);
	t = make_token("HS256", "test-secret", "{\"nbf\":4000000000}");
	expect_auth_error(t, 2002, "auth_not_yet_valid");
	free(t);
	t = make_token("HS256", "test-secret", "{\"aud\":\"someone-else\"}");
	expect_auth_error(t, 2003, "auth_bad_audience");
	free(t);
	t = make_token("HS256", "another-secret", NULL);
	expect_auth_error(t, 2006, "auth_bad_signature");
	free(t);
	t = make_unsigned_token("none", NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
	t = make_unsigned_token("NONE", NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
	t = make_token("HS384", "test-secret", NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
	t = make_token("HS256", "test-secret", "{\"sub\":\"ali\\r\\nce\"}");
	expect_auth_error(t, 2000, "auth_invalid_token");
	free(t);
	t = make_token("HS256", "test-secret", "{\"sub\":null}");
	expect_auth_error(t, 2000, "auth_invalid_token");
	free(t);
	t = make_token("HS256", "test-secret", "{\"exp\":null}");
	expect_auth_error(t, 2000, "auth_invalid_token");
	free(t);
	still_serves();
}

Test(signal, metrics_count_errors)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	char *body = NULL;
	json_t *r;

	ws_send_text(ws, "nope");
	json_decref(next_msg(ws, 3000, NULL));
	json_decref(hello_ok(ws, NULL));
	r = rpc(ws, "x", "call.teleport", NULL);
	json_decref(r);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/metrics", NULL, &body, NULL),
		     200);
	cr_assert(
		strstr(body, "switchboard_ws_errors_total{code=\"1000\",name=\"parse_error\"} 1\n"),
		"%s", body);
	cr_assert(strstr(body,
			 "switchboard_ws_errors_total{code=\"1002\",name=\"unknown_method\"} 1\n"));
	cr_assert(strstr(body, "switchboard_ws_connections 1\n"), "%s", body);
	cr_assert(strstr(body, "switchboard_ws_sessions{state=\"attached\"} 1\n"));
	cr_assert(strstr(body, "switchboard_bus_depth{lane=\"critical\"}"));
	cr_assert(strstr(body, "switchboard_bus_posted_total{lane=\"normal\"} "));
	cr_assert(strstr(body, "switchboard_process_resident_memory_bytes "));
	cr_assert(strstr(body, "switchboard_process_open_fds "));
	free(body);
	ws_close(ws);
}

/* body is an admin API error named name (docs/schema/api.error.json);
 * frees it. */
static void api_error(char *body, const char *name)
{
	json_t *j = json_loads(body, 0, NULL);
	char why[256];

	cr_assert(schema_validate_file(getenv("SB_SCHEMA_DIR"), "api.error", j, why, sizeof(why)) ==
			  0,
		  "%s: %s", why, body);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "name")),
			 name);
	json_decref(j);
	free(body);
}

Test(signal, http_resources)
{
	char *body = NULL, *hdrs = NULL, why[256];
	json_t *j;
	struct ws *ws;

	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/livez", NULL, &body, NULL), 200);
	cr_assert_str_eq(body, "ok\n");
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/readyz", NULL, &body, NULL),
		     200);
	cr_assert_str_eq(body, "ready\n");
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/", NULL, &body, &hdrs), 200);
	cr_assert(strstr(body, "switchboard test"));
	cr_assert(strstr(hdrs, "text/html"));
	free(body);
	free(hdrs);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/sdk.js", NULL, &body, &hdrs),
		     200);
	cr_assert(strstr(hdrs, "text/javascript"));
	free(body);
	free(hdrs);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/missing.js", NULL, &body, NULL),
		     404);
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/../sb.conf", NULL, &body, NULL),
		     404);
	free(body);
	cr_assert_eq(
		http_get("127.0.0.1", S.port, false, "GET", "/%2e%2e/sb.conf", NULL, &body, NULL),
		404);
	free(body);
	/* admin API */
	cr_assert_eq(
		http_get("127.0.0.1", S.port, false, "GET", "/api/v1/status", NULL, &body, &hdrs),
		401);
	cr_assert(strcasestr(hdrs, "www-authenticate: Bearer"));
	j = json_loads(body, 0, NULL);
	cr_assert(schema_validate_file(getenv("SB_SCHEMA_DIR"), "api.error", j, why, sizeof(why)) ==
			  0,
		  "%s", why);
	json_decref(j);
	free(body);
	free(hdrs);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/api/v1/status", "Bearer wrong",
			      &body, NULL),
		     401);
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/api/v1/status",
			      "Bearer admintoken123", &body, NULL),
		     200);
	j = json_loads(body, 0, NULL);
	cr_assert(schema_validate_file(getenv("SB_SCHEMA_DIR"), "api.status", j, why,
				       sizeof(why)) == 0,
		  "%s: %s", why, body);
	cr_assert(json_is_true(json_object_get(j, "ready")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "node")), "sbtest");
	json_decref(j);
	free(body);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_decref(hello_ok(ws, NULL));
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/api/v1/connections",
			      "Bearer admintoken123", &body, NULL),
		     200);
	j = json_loads(body, 0, NULL);
	cr_assert(schema_validate_file(getenv("SB_SCHEMA_DIR"), "api.connections", j, why,
				       sizeof(why)) == 0,
		  "%s: %s", why, body);
	cr_assert_eq(json_array_size(json_object_get(j, "connections")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "connections"), 0), "user")),
			 "alice");
	json_decref(j);
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET", "/api/v1/nothing",
			      "Bearer admintoken123", &body, NULL),
		     404);
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "POST", "/livez", NULL, &body, NULL),
		     405);
	free(body);
	/* Conference moderation: the token first, then the method, then the
	 * member (no room is live here). */
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "DELETE",
			      "/api/v1/conferences/lobby/members/c-0000000000000001", NULL, &body,
			      NULL),
		     401);
	free(body);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "GET",
			      "/api/v1/conferences/lobby/members/c-0000000000000001/mute",
			      "Bearer admintoken123", &body, &hdrs),
		     405);
	cr_assert(strcasestr(hdrs, "allow: POST"), "%s", hdrs);
	api_error(body, "method_not_allowed");
	free(hdrs);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "POST",
			      "/api/v1/conferences/lobby/members/c-0000000000000001",
			      "Bearer admintoken123", &body, &hdrs),
		     405);
	cr_assert(strcasestr(hdrs, "allow: DELETE"), "%s", hdrs);
	api_error(body, "method_not_allowed");
	free(hdrs);
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "POST",
			      "/api/v1/conferences/lobby/members/c-0000000000000001/mute",
			      "Bearer admintoken123", &body, NULL),
		     404);
	api_error(body, "not_found");
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "DELETE",
			      "/api/v1/conferences/lobby/members/c-0000000000000001",
			      "Bearer admintoken123", &body, NULL),
		     404);
	api_error(body, "not_found");
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "POST",
			      "/api/v1/conferences/lobby/members/c-0000000000000001/shout",
			      "Bearer admintoken123", &body, NULL),
		     404);
	api_error(body, "not_found");
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "POST", "/api/v1/status",
			      "Bearer admintoken123", &body, NULL),
		     405);
	api_error(body, "method_not_allowed");
	cr_assert_eq(http_get("127.0.0.1", S.port, false, "DELETE", "/api/v1/conferences",
			      "Bearer admintoken123", &body, NULL),
		     405);
	api_error(body, "method_not_allowed");
	ws_close(ws);
}

Test(signal, upgrade_refusals)
{
	struct ws *ws = ws_connect_raw("127.0.0.1", S.port, false);

	cr_assert_eq(ws_upgrade(ws, "/ws", NULL, NULL), 400);
	ws_close(ws);
	ws = ws_connect_raw("127.0.0.1", S.port, false);
	cr_assert_eq(ws_upgrade(ws, "/ws", "chat, other", NULL), 400);
	ws_close(ws);
	still_serves();
}

/* ---- limits, with their own servers ---- */

Test(limits, oversized_binary_and_violations, .init = NULL, .fini = stop, .timeout = 30)
{
	char *big = malloc(2000);
	struct ws *ws;
	json_t *r;

	srv_start(&S, "max_frame = 1024\nmax_violations = 4\n", NULL, false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	memset(big, 'a', 2000);
	memcpy(big, "{\"x\":\"", 6);
	memcpy(big + 1997, "\"}", 3);
	json_decref(hello_ok(ws, NULL));
	cr_assert(ws_send_frame(ws, 1, big, 1999, true) == 0);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1005, "frame_too_large");
	json_decref(r);
	/* fragmented: 3 x 600 bytes is over the limit too */
	ws_send_frame(ws, 1, big, 600, false);
	ws_send_frame(ws, 0, big + 600, 600, false);
	ws_send_frame(ws, 0, big + 1200, 600, true);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1005, "frame_too_large");
	json_decref(r);
	/* a fragmented message under the limit is reassembled */
	ws_send_frame(ws, 1, "{\"type\":\"request\",", 18, false);
	ws_send_frame(ws, 0, "\"id\":\"f\",\"method\":\"ping\"}", 25, true);
	r = next_msg(ws, 3000, NULL);
	cr_assert(json_object_get(r, "result"), "fragmented ping failed");
	json_decref(r);
	ws_send_frame(ws, 2, "\x01\x02", 2, true);
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1011, "binary_not_supported");
	json_decref(r);
	/* fourth violation: the error, then close 4002 */
	ws_send_text(ws, "{");
	r = next_msg(ws, 3000, NULL);
	expect_error(r, 1000, "parse_error");
	json_decref(r);
	expect_close(ws, 4002, 3000);
	ws_close(ws);
	free(big);
	still_serves();
}

Test(limits, rate_limited, .init = NULL, .fini = stop, .timeout = 30)
{
	uint8_t burst[4096];
	size_t n = 0;
	int ok = 0, limited = 0, close = 0;
	struct ws *ws;
	json_t *m;

	srv_start(&S, "max_msgs_per_sec = 5\nmax_violations = 100\n", NULL, false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_decref(hello_ok(ws, NULL));
	sleep(1); /* a fresh one-second window */
	for (int i = 0; i < 10; i++) {
		static const char ping[] =
			"{\"type\":\"request\",\"id\":\"p\",\"method\":\"ping\"}";

		n += ws_build_frame(burst + n, 1, ping, sizeof(ping) - 1, true);
	}
	cr_assert(ws_send_raw(ws, burst, n) == 0);
	for (int i = 0; i < 10 && (m = next_msg(ws, 3000, &close)); i++) {
		if (json_object_get(m, "result"))
			ok++;
		else {
			expect_error(m, 1006, "rate_limited");
			limited++;
		}
		json_decref(m);
	}
	cr_assert_eq(ok, 5, "ok %d limited %d", ok, limited);
	cr_assert_eq(limited, 5);
	ws_close(ws);
	still_serves();
}

Test(limits, rate_flood_closes, .init = NULL, .fini = stop, .timeout = 30)
{
	uint8_t burst[8192];
	size_t n = 0;
	struct ws *ws;

	srv_start(&S, "max_msgs_per_sec = 3\nmax_violations = 5\n", NULL, false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_decref(hello_ok(ws, NULL));
	for (int i = 0; i < 40; i++) {
		static const char ping[] =
			"{\"type\":\"request\",\"id\":\"p\",\"method\":\"ping\"}";

		n += ws_build_frame(burst + n, 1, ping, sizeof(ping) - 1, true);
	}
	cr_assert(ws_send_raw(ws, burst, n) == 0);
	expect_close(ws, 4002, 3000);
	ws_close(ws);
	still_serves();
}

Test(limits, too_many_pending, .init = NULL, .fini = stop, .timeout = 30)
{
	uint8_t burst[8192];
	size_t n = 0;
	int ok = 0, pending = 0, close = 0;
	struct ws *ws;
	json_t *m;

	srv_start(&S, "max_pending = 2\nmax_violations = 100\n", NULL, false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_decref(hello_ok(ws, NULL));
	for (int i = 0; i < 12; i++) {
		static const char ping[] =
			"{\"type\":\"request\",\"id\":\"p\",\"method\":\"ping\"}";

		n += ws_build_frame(burst + n, 1, ping, sizeof(ping) - 1, true);
	}
	cr_assert(ws_send_raw(ws, burst, n) == 0);
	for (int i = 0; i < 12 && (m = next_msg(ws, 3000, &close)); i++) {
		if (json_object_get(m, "result"))
			ok++;
		else {
			expect_error(m, 1007, "too_many_pending");
			pending++;
		}
		json_decref(m);
	}
	cr_assert_eq(ok + pending, 12);
	cr_assert(pending > 0, "no too_many_pending among 12 pings sent at once");
	cr_assert(ok >= 2);
	ws_close(ws);
	still_serves();
}

Test(limits, max_connections, .init = NULL, .fini = stop, .timeout = 30)
{
	struct ws *a, *b;

	srv_start(&S, "max_connections = 1\n", NULL, false);
	a = ws_open("127.0.0.1", S.port, false, NULL);
	cr_assert(a);
	b = ws_connect_raw("127.0.0.1", S.port, false);
	cr_assert_eq(ws_upgrade(b, "/ws", "switchboard.v1", NULL), 503);
	ws_close(b);
	ws_close(a);
	usleep(200000);
	still_serves();
}

Test(limits, origin_allow_list, .init = NULL, .fini = stop, .timeout = 30)
{
	struct ws *ws;

	srv_start(&S, "origins = https://app.example, http://localhost:3000\n", NULL, false);
	ws = ws_connect_raw("127.0.0.1", S.port, false);
	cr_assert_eq(ws_upgrade(ws, "/ws", "switchboard.v1", "https://evil.example"), 403);
	ws_close(ws);
	ws = ws_connect_raw("127.0.0.1", S.port, false);
	cr_assert_eq(ws_upgrade(ws, "/ws", "switchboard.v1", "https://app.example/"), 403);
	ws_close(ws);
	ws = ws_connect_raw("127.0.0.1", S.port, false);
	cr_assert_eq(ws_upgrade(ws, "/ws", "switchboard.v1", NULL), 403);
	ws_close(ws);
	ws = ws_open("127.0.0.1", S.port, false, "http://localhost:3000");
	cr_assert(ws, "allowed origin refused");
	json_decref(hello_ok(ws, NULL));
	ws_close(ws);
}

Test(limits, hello_timeout_and_idle, .init = NULL, .fini = stop, .timeout = 30)
{
	struct ws *ws;
	json_t *m;
	int close = 0;

	srv_start(&S, "hello_timeout = 500ms\nping_interval = 1s\nidle_timeout = 2500ms\n", NULL,
		  false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	expect_close(ws, 4001, 3000);
	ws_close(ws);
	/* answering pings keeps the connection */
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_decref(hello_ok(ws, NULL));
	m = next_msg(ws, 4000, &close);
	cr_assert_null(m, "unexpected message: %s (pings %u)", m ? json_dumps(m, 0) : "",
		       ws_pings_seen(ws));
	cr_assert_eq(close, 0, "closed (%d) though pongs were sent", close);
	cr_assert(ws_pings_seen(ws) >= 2, "pings seen: %u", ws_pings_seen(ws));
	/* not answering: closed for idleness with a session.closing event */
	ws_set_auto_pong(ws, false);
	m = next_msg(ws, 4000, &close);
	cr_assert(m, "no session.closing before the idle close");
	cr_assert_str_eq(json_string_value(json_object_get(m, "event")), "session.closing");
	json_decref(m);
	expect_close(ws, 4008, 3000);
	ws_close(ws);
}

Test(limits, resume_within_and_past_window, .init = NULL, .fini = stop, .timeout = 30)
{
	struct ws *ws;
	json_t *res, *r;
	char params[4096], *tok = make_token("HS256", "test-secret", NULL);
	char *bob = make_token("HS256", "test-secret", "{\"sub\":\"bob\"}");
	char resume[80], session[32];

	srv_start(&S, "resume_window = 1500ms\n", NULL, false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	res = hello_ok(ws, NULL);
	snprintf(resume, sizeof(resume), "%s",
		 json_string_value(json_object_get(res, "resume_token")));
	snprintf(session, sizeof(session), "%s",
		 json_string_value(json_object_get(res, "session")));
	json_decref(res);
	ws_close(ws); /* dropped, not bye */
	usleep(200000);
	/* another user cannot take it */
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\",\"resume\":\"%s\"}", bob,
		 resume);
	r = rpc(ws, "h", "hello", params);
	expect_error(r, 2010, "resume_failed");
	json_decref(r);
	/* the socket stays open: the same user resumes on it */
	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\",\"resume\":\"%s\"}", tok,
		 resume);
	r = rpc(ws, "h2", "hello", params);
	cr_assert(json_is_true(json_object_get(json_object_get(r, "result"), "resumed")));
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(r, "result"), "session")),
		session);
	cr_assert_str_neq(
		json_string_value(json_object_get(json_object_get(r, "result"), "resume_token")),
		resume);
	snprintf(resume, sizeof(resume), "%s",
		 json_string_value(json_object_get(json_object_get(r, "result"), "resume_token")));
	json_decref(r);
	ws_close(ws);
	/* past the window */
	usleep(2200000);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\",\"resume\":\"%s\"}", tok,
		 resume);
	r = rpc(ws, "h3", "hello", params);
	expect_error(r, 2010, "resume_failed");
	json_decref(r);
	/* a fresh hello on the same socket still works */
	json_decref(hello_ok(ws, NULL));
	ws_close(ws);
	free(tok);
	free(bob);
}

static void hello_with(const char *token)
{
	struct ws *ws = ws_open("127.0.0.1", S.port, false, NULL);
	char params[4096];
	json_t *r;

	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\"}", token);
	r = rpc(ws, "h", "hello", params);
	cr_assert(json_object_get(r, "result"), "token refused: %s", json_dumps(r, 0));
	json_decref(r);
	ws_close(ws);
}

Test(auth, es256_and_rs256_keys, .init = NULL, .fini = stop, .timeout = 60)
{
	char auth[800], keyfile[400], *t;

	srv_mkdir(&S);
	srv_sh(&S,
	       "openssl ecparam -name prime256v1 -genkey -noout -out ec.key && "
	       "openssl ec -in ec.key -pubout -out ec.pub && "
	       "openssl ecparam -name prime256v1 -genkey -noout -out other.key && "
	       "openssl genrsa -out rsa.key 2048 && openssl rsa -in rsa.key -pubout -out rsa.pub");
	snprintf(auth, sizeof(auth), "algorithms = ES256, HS256\npublic_key = %s/ec.pub\n", S.dir);
	srv_start(&S, NULL, auth, false);
	snprintf(keyfile, sizeof(keyfile), "%s/ec.key", S.dir);
	t = make_token("ES256", keyfile, NULL);
	hello_with(t);
	free(t);
	/* RS256 is not in the allow-list here */
	snprintf(keyfile, sizeof(keyfile), "%s/rsa.key", S.dir);
	t = make_token("RS256", keyfile, NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
	/* an ES256 token signed by another key */
	snprintf(keyfile, sizeof(keyfile), "%s/other.key", S.dir);
	t = make_token("ES256", keyfile, NULL);
	expect_auth_error(t, 2006, "auth_bad_signature");
	free(t);
	still_serves(); /* HS256 accepted alongside */
	srv_halt(&S);

	/* RS256 only, with an RSA key */
	snprintf(auth, sizeof(auth), "algorithms = RS256\npublic_key = %s/rsa.pub\n", S.dir);
	srv_start(&S, NULL, auth, false);
	snprintf(keyfile, sizeof(keyfile), "%s/rsa.key", S.dir);
	t = make_token("RS256", keyfile, NULL);
	hello_with(t);
	free(t);
	t = make_token("HS256", "test-secret", NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
	t = make_unsigned_token("none", NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
	/* an ES256 token against an RSA key: refused, not confused */
	snprintf(keyfile, sizeof(keyfile), "%s/ec.key", S.dir);
	t = make_token("ES256", keyfile, NULL);
	expect_auth_error(t, 2005, "auth_algorithm_refused");
	free(t);
}

Test(auth, issuer_checked, .init = NULL, .fini = stop, .timeout = 30)
{
	char *t;

	srv_start(&S, NULL, "issuer = https://idp.example\n", false);
	t = make_token("HS256", "test-secret", NULL);
	expect_auth_error(t, 2004, "auth_bad_issuer");
	free(t);
	t = make_token("HS256", "test-secret", "{\"iss\":\"https://other.example\"}");
	expect_auth_error(t, 2004, "auth_bad_issuer");
	free(t);
	t = make_token("HS256", "test-secret",
		       "{\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"switchboard\"]}");
	hello_with(t);
	free(t);
}

Test(tls, wss_and_https, .init = NULL, .fini = stop, .timeout = 30)
{
	struct ws *ws;
	char *body = NULL;
	json_t *r;

	srv_start(&S, NULL, NULL, true);
	cr_assert_eq(http_get("127.0.0.1", S.port, true, "GET", "/readyz", NULL, &body, NULL), 200);
	free(body);
	ws = ws_open("127.0.0.1", S.port, true, NULL);
	cr_assert(ws, "wss upgrade failed");
	json_decref(hello_ok(ws, NULL));
	r = rpc(ws, "p", "ping", NULL);
	cr_assert(json_object_get(r, "result"));
	json_decref(r);
	cr_assert_eq(http_get("127.0.0.1", S.port, true, "GET", "/api/v1/connections",
			      "Bearer admintoken123", &body, NULL),
		     200);
	cr_assert(strstr(body, "\"tls\":true"), "%s", body);
	free(body);
	ws_close(ws);
	/* plain HTTP on the TLS port does not get an answer */
	cr_assert_neq(http_get("127.0.0.1", S.port, false, "GET", "/livez", NULL, &body, NULL),
		      200);
	free(body);
}

Test(lifecycle, shutdown_says_going_away, .init = NULL, .fini = stop, .timeout = 30)
{
	struct ws *ws;
	char *body = NULL;

	srv_start(&S, NULL, NULL, false);
	ws = ws_open("127.0.0.1", S.port, false, NULL);
	json_decref(hello_ok(ws, NULL));
	srv_halt(&S); /* SIGTERM: drain, stop; asserts a clean exit */
	expect_close(ws, 1001, 3000);
	ws_close(ws);
	cr_assert_lt(http_get("127.0.0.1", S.port, false, "GET", "/livez", NULL, &body, NULL), 0);
	free(body);
}
