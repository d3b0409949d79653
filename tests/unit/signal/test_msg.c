/* Unit tests of the protocol v1 codec (src/signal/msg.c): decoding, every
 * error class, text safety, encoders checked against docs/schema. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../integration/signal/schema.h"
#include "signal/msg.h"

static int decode(const char *text, struct sb_signal_request *req, struct sb_signal_error *err)
{
	memset(err, 0, sizeof(*err));
	return sb_signal_msg_decode(text, strlen(text), req, err);
}

static void expect(const char *text, int code, const char *id, const char *in_message)
{
	struct sb_signal_request req;
	struct sb_signal_error err;

	cr_assert_lt(decode(text, &req, &err), 0, "accepted: %s", text);
	cr_assert_eq(err.code, code, "%s: code %d (%s)", text, err.code, err.message);
	cr_assert_str_eq(req.id, id ? id : "");
	if (in_message)
		cr_assert(strstr(err.message, in_message), "'%s' not in '%s'", in_message,
			  err.message);
	sb_signal_request_clear(&req);
}

Test(msg, decodes_requests)
{
	struct sb_signal_request req;
	struct sb_signal_error err;

	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"7\",\"method\":\"ping\"}", &req, &err),
		     0);
	cr_assert_eq(req.method, SB_SIGNAL_M_PING);
	cr_assert_str_eq(req.id, "7");
	cr_assert(json_is_object(req.params));
	sb_signal_request_clear(&req);
	cr_assert_eq(
		decode("{\"type\":\"request\",\"id\":\"a\",\"method\":\"call.dial\",\"params\":"
		       "{\"to\":\"15551234\",\"sdp\":\"v=0\\r\\n\",\"video\":false,"
		       "\"future\":{\"x\":[1,2]}}}",
		       &req, &err),
		0, "%s", err.message);
	cr_assert_eq(req.method, SB_SIGNAL_M_CALL_DIAL);
	cr_assert_str_eq(json_string_value(json_object_get(req.params, "to")), "15551234");
	sb_signal_request_clear(&req);
	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"h\",\"method\":\"hello\",\"params\":"
			    "{\"version\":1,\"token\":\"t\",\"resume\":\"r\"}}",
			    &req, &err),
		     0);
	sb_signal_request_clear(&req);
	/* call.transfer without to completes a consultation. */
	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"t\",\"method\":\"call.transfer\","
			    "\"params\":{\"call\":\"c-0123456789abcdef\"}}",
			    &req, &err),
		     0, "%s", err.message);
	cr_assert_eq(req.method, SB_SIGNAL_M_CALL_TRANSFER);
	sb_signal_request_clear(&req);
	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"c\",\"method\":\"call.consult\","
			    "\"params\":{\"call\":\"c-0123456789abcdef\",\"to\":\"7000\"}}",
			    &req, &err),
		     0, "%s", err.message);
	cr_assert_eq(req.method, SB_SIGNAL_M_CALL_CONSULT);
	sb_signal_request_clear(&req);
	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"e\",\"method\":"
			    "\"call.consult_end\",\"params\":{\"call\":\"c-0123456789abcdef\"}}",
			    &req, &err),
		     0, "%s", err.message);
	cr_assert_eq(req.method, SB_SIGNAL_M_CALL_CONSULT_END);
	sb_signal_request_clear(&req);
}

Test(msg, envelope_errors)
{
	expect("", SB_SIGNAL_E_PARSE, NULL, NULL);
	expect("{", SB_SIGNAL_E_PARSE, NULL, NULL);
	expect("{\"a\":1,\"a\":2}", SB_SIGNAL_E_PARSE, NULL, NULL);
	expect("\"\xc3\x28\"", SB_SIGNAL_E_PARSE, NULL, NULL);
	expect("[]", SB_SIGNAL_E_INVALID_MESSAGE, NULL, NULL);
	expect("{\"id\":\"1\",\"method\":\"ping\"}", SB_SIGNAL_E_INVALID_MESSAGE, NULL, "type");
	expect("{\"type\":\"request\",\"id\":1,\"method\":\"ping\"}", SB_SIGNAL_E_INVALID_MESSAGE,
	       NULL, "id");
	expect("{\"type\":\"request\",\"id\":\"\",\"method\":\"ping\"}",
	       SB_SIGNAL_E_INVALID_MESSAGE, NULL, "id");
	expect("{\"type\":\"request\",\"id\":\"a\\nb\",\"method\":\"ping\"}",
	       SB_SIGNAL_E_INVALID_MESSAGE, NULL, "id");
	expect("{\"type\":\"request\",\"id\":\"a\\u0000b\",\"method\":\"ping\"}",
	       SB_SIGNAL_E_INVALID_MESSAGE, NULL, "id");
	expect("{\"type\":\"request\",\"id\":"
	       "\"0123456789012345678901234567890123456789012345678901234567890123456789\","
	       "\"method\":\"ping\"}",
	       SB_SIGNAL_E_INVALID_MESSAGE, NULL, "id");
	expect("{\"type\":\"request\",\"id\":\"x\"}", SB_SIGNAL_E_INVALID_MESSAGE, "x", "method");
	expect("{\"type\":\"request\",\"id\":\"x\",\"method\":\"nope\"}",
	       SB_SIGNAL_E_UNKNOWN_METHOD, "x", NULL);
	expect("{\"type\":\"request\",\"id\":\"x\",\"method\":\"ping\\u0000x\"}",
	       SB_SIGNAL_E_UNKNOWN_METHOD, "x", NULL);
	expect("{\"type\":\"request\",\"id\":\"x\",\"method\":\"ping\",\"params\":[]}",
	       SB_SIGNAL_E_INVALID_PARAMS, "x", "params");
}

Test(msg, params_errors)
{
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"hello\",\"params\":{\"version\":1}"
	       "}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "params.token: missing");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"hello\",\"params\":{\"version\":1."
	       "0,"
	       "\"token\":\"t\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "params.version: expected integer");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"hello\",\"params\":{\"version\":3,"
	       "\"token\":\"t\"}}",
	       SB_SIGNAL_E_UNSUPPORTED_VERSION, "1", NULL);
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"hello\",\"params\":{\"version\":1,"
	       "\"token\":\"\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "length");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.hold\",\"params\":{\"call\":"
	       "\"c-0123456789abcdef\",\"hold\":1}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "expected boolean");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.hold\",\"params\":{\"call\":"
	       "\"c-0123456789ABCDEF\",\"hold\":true}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "call id");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.mute\",\"params\":{\"call\":"
	       "\"c-0123456789abcdef\",\"mute\":\"yes\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "expected boolean");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.mute\",\"params\":{\"call\":"
	       "\"c-0123456789abcdef\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "params.mute: missing");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.consult\","
	       "\"params\":{\"call\":\"c-0123456789abcdef\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "params.to: missing");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.transfer\","
	       "\"params\":{\"call\":\"c-0123456789abcdef\",\"to\":\"\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "length");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.dtmf\",\"params\":{\"call\":"
	       "\"c-0123456789abcdef\",\"digits\":\"1\",\"duration_ms\":5}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "out of range");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.ice\",\"params\":{\"call\":"
	       "\"c-0123456789abcdef\",\"candidate\":\"x\",\"sdp_mline_index\":16}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "sdp_mline_index");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"presence.set\","
	       "\"params\":{\"state\":\"busy\"}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "params.state: not an allowed value");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"presence.set\","
	       "\"params\":{\"state\":true}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "expected string");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"presence.set\","
	       "\"params\":{}}",
	       SB_SIGNAL_E_INVALID_PARAMS, "1", "params.state: missing");
}

/* presence.set: an agent's browser session available to queues or away. */
Test(msg, decodes_presence_set)
{
	struct sb_signal_request req;
	struct sb_signal_error err;

	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"3\",\"method\":\"presence.set\","
			    "\"params\":{\"state\":\"away\"}}",
			    &req, &err),
		     0, "%s", err.message);
	cr_assert_eq(req.method, SB_SIGNAL_M_PRESENCE_SET);
	cr_assert_str_eq(json_string_value(json_object_get(req.params, "state")), "away");
	sb_signal_request_clear(&req);
	cr_assert_eq(decode("{\"type\":\"request\",\"id\":\"4\",\"method\":\"presence.set\","
			    "\"params\":{\"state\":\"available\"}}",
			    &req, &err),
		     0, "%s", err.message);
	sb_signal_request_clear(&req);
	cr_assert_eq(sb_signal_method_from_name("presence.set"), SB_SIGNAL_M_PRESENCE_SET);
}

Test(msg, unsafe_text)
{
	/* CR, LF, NUL in known and unknown fields; sdp may hold CRLF only. */
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.dial\",\"params\":{\"to\":"
	       "\"a\\rb\",\"sdp\":\"v\"}}",
	       SB_SIGNAL_E_UNSAFE_TEXT, "1", "params.to");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.dial\",\"params\":{\"to\":"
	       "\"a\",\"sdp\":\"v\\u0000\"}}",
	       SB_SIGNAL_E_UNSAFE_TEXT, "1", "params.sdp");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.dial\",\"params\":{\"to\":"
	       "\"a\",\"sdp\":\"v\",\"extra\":{\"deep\":[\"ok\",\"x\\ny\"]}}}",
	       SB_SIGNAL_E_UNSAFE_TEXT, "1", "params.extra");
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"ping\",\"params\":{\"k\\r\":1}}",
	       SB_SIGNAL_E_UNSAFE_TEXT, "1", NULL);
	expect("{\"type\":\"request\",\"id\":\"1\",\"method\":\"ping\",\"params\":{\"x\":{\"sdp\":"
	       "\"a\\r\\n\"}}}",
	       SB_SIGNAL_E_UNSAFE_TEXT, "1", "params.x");
	cr_assert(sb_signal_text_safe("abc", 3, false));
	cr_assert_not(sb_signal_text_safe("a\rc", 3, false));
	cr_assert(sb_signal_text_safe("a\r\nc", 4, true));
	cr_assert_not(sb_signal_text_safe("a\0c", 3, true));
}

Test(msg, utf8_lengths_count_characters)
{
	struct sb_signal_request req;
	struct sb_signal_error err;
	char text[1024], name[400] = "";

	/* 128 two-byte characters are within display_name's 128 */
	for (int i = 0; i < 128; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 3); /* copies the NUL too */
	snprintf(text, sizeof(text),
		 "{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.dial\",\"params\":{\"to\":"
		 "\"a\",\"sdp\":\"v\",\"display_name\":\"%s\"}}",
		 name);
	cr_assert_eq(decode(text, &req, &err), 0, "%s", err.message);
	sb_signal_request_clear(&req);
	memcpy(name + 256, "e", 2);
	snprintf(text, sizeof(text),
		 "{\"type\":\"request\",\"id\":\"1\",\"method\":\"call.dial\",\"params\":{\"to\":"
		 "\"a\",\"sdp\":\"v\",\"display_name\":\"%s\"}}",
		 name);
	cr_assert_lt(decode(text, &req, &err), 0);
	cr_assert_eq(err.code, SB_SIGNAL_E_INVALID_PARAMS);
}

Test(msg, error_names)
{
	char b[64];

	cr_assert_str_eq(sb_signal_err_name(1003, b, sizeof(b)), "invalid_params");
	cr_assert_str_eq(sb_signal_err_name(10486, b, sizeof(b)), "sip_486_busy_here");
	cr_assert_str_eq(sb_signal_err_name(10603, b, sizeof(b)), "sip_603_decline");
	cr_assert_str_eq(sb_signal_err_name(10499, b, sizeof(b)), "sip_499");
	cr_assert_str_eq(sb_signal_err_name(42, b, sizeof(b)), "error_42");
	cr_assert(sb_signal_err_is_violation(SB_SIGNAL_E_RATE_LIMITED));
	cr_assert_not(sb_signal_err_is_violation(SB_SIGNAL_E_INVALID_PARAMS));
	cr_assert_eq(sb_signal_method_from_name("call.ice"), SB_SIGNAL_M_CALL_ICE);
	cr_assert_eq(sb_signal_method_from_name("call.mute"), SB_SIGNAL_M_CALL_MUTE);
	cr_assert_eq((int)sb_signal_method_from_name("x"), _SB_SIGNAL_M_INVALID);
}

Test(msg, dial_patterns)
{
	char *p[] = {"1*", "bob", NULL};
	char *any[] = {"*", NULL};

	cr_assert(sb_signal_dial_allowed(p, 2, "15551234"));
	cr_assert(sb_signal_dial_allowed(p, 2, "bob"));
	cr_assert_not(sb_signal_dial_allowed(p, 2, "bobby"));
	cr_assert_not(sb_signal_dial_allowed(p, 2, "25551234"));
	cr_assert_not(sb_signal_dial_allowed(p, 0, "bob"));
	cr_assert(sb_signal_dial_allowed(any, 1, "sip:x@y"));
}

static void valid(const char *text, const char *method)
{
	char why[256];

	cr_assert(text);
	cr_assert_eq(schema_validate_message(SB_SCHEMA_DIR, text, method, why, sizeof(why)), 0,
		     "%s: %s", why, text);
}

Test(msg, encoders_match_schemas)
{
	json_t *r = json_pack("{s:I}", "time_ms", (json_int_t)1732400000000);
	json_t *d = json_pack("{s:s, s:s}", "call", "c-0123456789abcdef", "reason", "hangup");
	char *t;

	t = sb_signal_msg_result("1", r);
	valid(t, "ping");
	free(t);
	for (int code = 1000; code <= 1011; code++) {
		t = sb_signal_msg_error(code == 1000 ? NULL : "1", code, "m\r\n");
		valid(t, NULL);
		free(t);
	}
	t = sb_signal_msg_error("9", 10486, "busy");
	valid(t, "call.dial");
	cr_assert(strstr(t, "sip_486_busy_here"));
	free(t);
	t = sb_signal_msg_event("call.ended", d);
	valid(t, NULL);
	free(t);
	{
		json_t *c = json_pack("{s:s, s:s, s:s}", "call", "c-0123456789abcdef", "state",
				      "ended", "reason", "hangup");

		t = sb_signal_msg_event("call.consult", c);
		valid(t, NULL);
		free(t);
		json_decref(c);
	}
	/* the schema really checks: a wrong event data fails */
	json_object_set_new(d, "reason", json_string("whatever"));
	t = sb_signal_msg_event("call.ended", d);
	{
		char why[256];

		cr_assert_neq(schema_validate_message(SB_SCHEMA_DIR, t, NULL, why, sizeof(why)), 0);
	}
	free(t);
	json_decref(r);
	json_decref(d);
}
