/* Protocol v1 codec: JSON text in, validated request out; responses, errors
 * and events out as compact JSON. Pure (no I/O, no logging, no globals but
 * constant tables): any thread, and the target of tests/fuzz/signal. */
#include "signal/msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum field_kind { F_STR, F_INT, F_BOOL };

enum {
	FF_REQUIRED = 1 << 0,
	FF_SDP = 1 << 1,    /* CR and LF allowed (SDP bodies) */
	FF_CALL = 1 << 2,   /* "c-" and 16 hex digits */
	FF_DIGITS = 1 << 3, /* 0-9 * # A-D */
};

struct field {
	const char *name;
	enum field_kind kind;
	unsigned flags;
	int64_t min, max;	   /* characters for strings, value for integers */
	const char *const *one_of; /* strings: the allowed values, NULL-ended */
};

static const char *const presence_states[] = {"available", "away", NULL};

#define FIELDS_MAX 5
#define SDP_MAX	   (1 << 24)

struct method_desc {
	const char *name;
	struct field fields[FIELDS_MAX];
};

static const struct method_desc methods[_SB_SIGNAL_M_MAX] = {
	[SB_SIGNAL_M_HELLO] = {"hello",
			       {{"version", F_INT, FF_REQUIRED, INT64_MIN, INT64_MAX},
				{"token", F_STR, FF_REQUIRED, 1, 8192},
				{"resume", F_STR, 0, 1, 128}}},
	[SB_SIGNAL_M_PING] = {"ping", {{0}}},
	[SB_SIGNAL_M_BYE] = {"bye", {{0}}},
	[SB_SIGNAL_M_CALL_DIAL] = {"call.dial",
				   {{"to", F_STR, FF_REQUIRED, 1, 256},
				    {"sdp", F_STR, FF_REQUIRED | FF_SDP, 1, SDP_MAX},
				    {"display_name", F_STR, 0, 0, 128},
				    {"video", F_BOOL, 0, 0, 0}}},
	[SB_SIGNAL_M_CALL_ANSWER] = {"call.answer",
				     {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				      {"sdp", F_STR, FF_REQUIRED | FF_SDP, 1, SDP_MAX}}},
	[SB_SIGNAL_M_CALL_HANGUP] = {"call.hangup",
				     {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				      {"reason", F_STR, 0, 0, 128}}},
	[SB_SIGNAL_M_CALL_DTMF] = {"call.dtmf",
				   {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				    {"digits", F_STR, FF_REQUIRED | FF_DIGITS, 1, 32},
				    {"duration_ms", F_INT, 0, 40, 2000}}},
	[SB_SIGNAL_M_CALL_HOLD] = {"call.hold",
				   {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				    {"hold", F_BOOL, FF_REQUIRED, 0, 0}}},
	/* Without to: completes a consultation (call.consult). */
	[SB_SIGNAL_M_CALL_TRANSFER] = {"call.transfer",
				       {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
					{"to", F_STR, 0, 1, 256}}},
	[SB_SIGNAL_M_CALL_ICE] = {"call.ice",
				  {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				   {"candidate", F_STR, FF_REQUIRED, 0, 512},
				   {"sdp_mid", F_STR, 0, 0, 32},
				   {"sdp_mline_index", F_INT, 0, 0, 15}}},
	[SB_SIGNAL_M_CALL_CONSULT] = {"call.consult",
				      {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				       {"to", F_STR, FF_REQUIRED, 1, 256}}},
	[SB_SIGNAL_M_CALL_CONSULT_END] = {"call.consult_end",
					  {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18}}},
	[SB_SIGNAL_M_CALL_MUTE] = {"call.mute",
				   {{"call", F_STR, FF_REQUIRED | FF_CALL, 18, 18},
				    {"mute", F_BOOL, FF_REQUIRED, 0, 0}}},
	[SB_SIGNAL_M_PRESENCE_SET] = {"presence.set",
				      {{"state", F_STR, FF_REQUIRED, 1, 16, presence_states}}},
};

struct err_desc {
	int code;
	const char *name;
	bool violation;
};

static const struct err_desc errors[] = {
	{SB_SIGNAL_E_PARSE, "parse_error", true},
	{SB_SIGNAL_E_INVALID_MESSAGE, "invalid_message", true},
	{SB_SIGNAL_E_UNKNOWN_METHOD, "unknown_method", false},
	{SB_SIGNAL_E_INVALID_PARAMS, "invalid_params", false},
	{SB_SIGNAL_E_UNSAFE_TEXT, "unsafe_text", false},
	{SB_SIGNAL_E_FRAME_TOO_LARGE, "frame_too_large", true},
	{SB_SIGNAL_E_RATE_LIMITED, "rate_limited", true},
	{SB_SIGNAL_E_TOO_MANY_PENDING, "too_many_pending", true},
	{SB_SIGNAL_E_NOT_AUTHENTICATED, "not_authenticated", true},
	{SB_SIGNAL_E_ALREADY_AUTHENTICATED, "already_authenticated", false},
	{SB_SIGNAL_E_UNSUPPORTED_VERSION, "unsupported_version", false},
	{SB_SIGNAL_E_BINARY, "binary_not_supported", true},
	{SB_SIGNAL_E_AUTH_INVALID, "auth_invalid_token", false},
	{SB_SIGNAL_E_AUTH_EXPIRED, "auth_expired", false},
	{SB_SIGNAL_E_AUTH_NOT_YET_VALID, "auth_not_yet_valid", false},
	{SB_SIGNAL_E_AUTH_AUDIENCE, "auth_bad_audience", false},
	{SB_SIGNAL_E_AUTH_ISSUER, "auth_bad_issuer", false},
	{SB_SIGNAL_E_AUTH_ALGORITHM, "auth_algorithm_refused", false},
	{SB_SIGNAL_E_AUTH_SIGNATURE, "auth_bad_signature", false},
	{SB_SIGNAL_E_RESUME_FAILED, "resume_failed", false},
	{SB_SIGNAL_E_NOT_AVAILABLE, "not_available", false},
	{SB_SIGNAL_E_CALL_NOT_FOUND, "call_not_found", false},
	{SB_SIGNAL_E_NOT_ALLOWED, "not_allowed", false},
	{SB_SIGNAL_E_TOO_MANY_CALLS, "too_many_calls", false},
	{SB_SIGNAL_E_OVERLOADED, "overloaded", false},
	{SB_SIGNAL_E_INTERNAL, "internal_error", false},
	{SB_SIGNAL_E_DRAINING, "draining", false},
};

/* RFC 3261 section 21 reason phrases (and RFC 3262/4412/6665 common ones). */
static const struct {
	int status;
	const char *name;
} sip_reasons[] = {
	{400, "bad_request"},
	{401, "unauthorized"},
	{402, "payment_required"},
	{403, "forbidden"},
	{404, "not_found"},
	{405, "method_not_allowed"},
	{406, "not_acceptable"},
	{407, "proxy_authentication_required"},
	{408, "request_timeout"},
	{410, "gone"},
	{413, "request_entity_too_large"},
	{414, "request_uri_too_long"},
	{415, "unsupported_media_type"},
	{416, "unsupported_uri_scheme"},
	{420, "bad_extension"},
	{421, "extension_required"},
	{423, "interval_too_brief"},
	{480, "temporarily_unavailable"},
	{481, "call_transaction_does_not_exist"},
	{482, "loop_detected"},
	{483, "too_many_hops"},
	{484, "address_incomplete"},
	{485, "ambiguous"},
	{486, "busy_here"},
	{487, "request_terminated"},
	{488, "not_acceptable_here"},
	{491, "request_pending"},
	{493, "undecipherable"},
	{500, "server_internal_error"},
	{501, "not_implemented"},
	{502, "bad_gateway"},
	{503, "service_unavailable"},
	{504, "server_time_out"},
	{505, "version_not_supported"},
	{513, "message_too_large"},
	{600, "busy_everywhere"},
	{603, "decline"},
	{604, "does_not_exist_anywhere"},
	{606, "not_acceptable"},
};

const char *sb_signal_err_name(int code, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == code) {
			snprintf(buf, size, "%s", errors[i].name);
			return buf;
		}
	if (code >= SB_SIGNAL_E_SIP_BASE + 400 && code < SB_SIGNAL_E_SIP_BASE + 700) {
		int status = code - SB_SIGNAL_E_SIP_BASE;

		for (size_t i = 0; i < sizeof(sip_reasons) / sizeof(sip_reasons[0]); i++)
			if (sip_reasons[i].status == status) {
				snprintf(buf, size, "sip_%d_%s", status, sip_reasons[i].name);
				return buf;
			}
		snprintf(buf, size, "sip_%d", status);
		return buf;
	}
	snprintf(buf, size, "error_%d", code);
	return buf;
}

bool sb_signal_err_is_violation(int code)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == code)
			return errors[i].violation;
	return false;
}

const char *sb_signal_method_name(enum sb_signal_method m)
{
	return m >= 0 && m < _SB_SIGNAL_M_MAX ? methods[m].name : NULL;
}

enum sb_signal_method sb_signal_method_from_name(const char *s)
{
	for (int i = 0; i < _SB_SIGNAL_M_MAX; i++)
		if (strcmp(methods[i].name, s) == 0)
			return (enum sb_signal_method)i;
	return _SB_SIGNAL_M_INVALID;
}

bool sb_signal_text_safe(const char *s, size_t len, bool allow_crlf)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0')
			return false;
		if (!allow_crlf && (s[i] == '\r' || s[i] == '\n'))
			return false;
	}
	return true;
}

bool sb_signal_dial_allowed(char *const *patterns, size_t n, const char *to)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = patterns[i];
		size_t plen = strlen(p);

		if (plen > 0 && p[plen - 1] == '*') {
			if (strncmp(p, to, plen - 1) == 0)
				return true;
		} else if (strcmp(p, to) == 0) {
			return true;
		}
	}
	return false;
}

/* prefix NULL: the message is what alone; otherwise "params.<prefix>: what". */
static int fail(struct sb_signal_error *err, int code, const char *prefix, const char *what)
{
	err->code = code;
	if (prefix)
		snprintf(err->message, sizeof(err->message), "params.%s: %s", prefix, what);
	else
		snprintf(err->message, sizeof(err->message), "%s", what);
	/* Messages may quote the input (jansson's errors do): keep them
	 * printable ASCII so that an error can always be encoded. */
	for (char *c = err->message; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	return -EINVAL;
}

/* Characters, not bytes: jansson has already checked the UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static bool is_call_id(const char *s, size_t len)
{
	if (len != 18 || s[0] != 'c' || s[1] != '-')
		return false;
	for (size_t i = 2; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789*#ABCD", s[i]) || s[i] == '\0')
			return false;
	return true;
}

static int check_string(const struct field *f, json_t *v, struct sb_signal_error *err)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), chars;

	/* Text safety first for this field: its message is the more precise. */
	if (!sb_signal_text_safe(s, len, f->flags & FF_SDP))
		return fail(err, SB_SIGNAL_E_UNSAFE_TEXT, f->name, "contains CR, LF or NUL");
	chars = utf8_chars(s, len);
	if ((int64_t)chars < f->min || (int64_t)chars > f->max)
		return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "length out of range");
	if ((f->flags & FF_CALL) && !is_call_id(s, len))
		return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "not a call id");
	if ((f->flags & FF_DIGITS) && !is_digits(s, len))
		return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "only 0-9 * # A-D allowed");
	if (f->one_of) {
		for (const char *const *o = f->one_of; *o; o++)
			if (strcmp(*o, s) == 0)
				return 0;
		return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "not an allowed value");
	}
	return 0;
}

static int check_field(const struct field *f, json_t *params, struct sb_signal_error *err)
{
	json_t *v = json_object_get(params, f->name);

	if (!v) {
		if (f->flags & FF_REQUIRED)
			return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "missing");
		return 0;
	}
	switch (f->kind) {
	case F_STR:
		if (!json_is_string(v))
			return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "expected string");
		return check_string(f, v, err);
	case F_INT:
		if (!json_is_integer(v))
			return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "expected integer");
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "out of range");
		return 0;
	case F_BOOL:
		if (!json_is_boolean(v))
			return fail(err, SB_SIGNAL_E_INVALID_PARAMS, f->name, "expected boolean");
		return 0;
	}
	return 0;
}

/* Every string anywhere in params, known field or not (section 9). Keys are
 * checked too. Depth is bounded by jansson's parser. */
static int scan_unsafe(json_t *v, const char *top, bool sdp_ok, struct sb_signal_error *err)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		if (!sb_signal_text_safe(json_string_value(v), json_string_length(v), sdp_ok))
			return fail(err, SB_SIGNAL_E_UNSAFE_TEXT, top, "contains CR, LF or NUL");
		return 0;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i,
				   item) if (scan_unsafe(item, top, false, err) < 0) return -EINVAL;
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	json_object_foreach(v, key, item)
	{
		const char *name = top ? top : key;

		if (!sb_signal_text_safe(key, strlen(key), false) ||
		    scan_unsafe(item, name, !top && strcmp(key, "sdp") == 0, err) < 0)
			return fail(err, SB_SIGNAL_E_UNSAFE_TEXT, name, "contains CR, LF or NUL");
	}
	return 0;
}

static int check_params(struct sb_signal_request *req, struct sb_signal_error *err)
{
	const struct method_desc *m = &methods[req->method];

	for (size_t i = 0; i < FIELDS_MAX && m->fields[i].name; i++)
		if (check_field(&m->fields[i], req->params, err) < 0)
			return -EINVAL;
	if (scan_unsafe(req->params, NULL, false, err) < 0)
		return -EINVAL;
	if (req->method == SB_SIGNAL_M_HELLO &&
	    json_integer_value(json_object_get(req->params, "version")) != SB_SIGNAL_VERSION)
		return fail(err, SB_SIGNAL_E_UNSUPPORTED_VERSION, "version",
			    "only version 1 is supported");
	return 0;
}

static bool id_valid(const char *s, size_t len)
{
	if (len == 0 || len > SB_SIGNAL_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int decode_envelope(json_t *root, struct sb_signal_request *req, struct sb_signal_error *err)
{
	json_t *type = json_object_get(root, "type"), *id = json_object_get(root, "id");
	json_t *method = json_object_get(root, "method"), *params;

	if (!json_is_object(root))
		return fail(err, SB_SIGNAL_E_INVALID_MESSAGE, NULL, "message: expected an object");
	if (!json_is_string(type) || strcmp(json_string_value(type), "request") != 0)
		return fail(err, SB_SIGNAL_E_INVALID_MESSAGE, NULL, "type: expected \"request\"");
	if (!json_is_string(id) || !id_valid(json_string_value(id), json_string_length(id)))
		return fail(err, SB_SIGNAL_E_INVALID_MESSAGE, NULL,
			    "id: expected a string of 1 to 64 characters");
	memcpy(req->id, json_string_value(id), json_string_length(id) + 1);
	if (!json_is_string(method))
		return fail(err, SB_SIGNAL_E_INVALID_MESSAGE, NULL, "method: expected a string");
	req->method = sb_signal_method_from_name(json_string_value(method));
	if ((int)req->method < 0 || json_string_length(method) != strlen(json_string_value(method)))
		return fail(err, SB_SIGNAL_E_UNKNOWN_METHOD, NULL, "method: unknown");
	params = json_object_get(root, "params");
	if (params && !json_is_object(params))
		return fail(err, SB_SIGNAL_E_INVALID_PARAMS, NULL, "params: expected an object");
	req->params = params ? json_incref(params) : json_object();
	if (!req->params)
		return fail(err, SB_SIGNAL_E_INTERNAL, NULL, "out of memory");
	return check_params(req, err);
}

int sb_signal_msg_decode(const char *buf, size_t len, struct sb_signal_request *req,
			 struct sb_signal_error *err)
{
	json_error_t jerr;
	json_t *root;
	int r;

	memset(req, 0, sizeof(*req));
	req->method = _SB_SIGNAL_M_INVALID;
	root = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, SB_SIGNAL_E_PARSE, NULL, jerr.text);
	r = decode_envelope(root, req, err);
	json_decref(root);
	if (r < 0) {
		req->params = req->params ? (json_decref(req->params), NULL) : NULL;
		return r;
	}
	return 0;
}

void sb_signal_request_clear(struct sb_signal_request *req)
{
	if (req->params)
		json_decref(req->params);
	req->params = NULL;
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(o);
	return s;
}

static json_t *id_json(const char *id)
{
	return id && id[0] ? json_string(id) : json_null();
}

char *sb_signal_msg_result(const char *id, const json_t *result)
{
	json_t *r = result ? json_deep_copy(result) : json_object();

	return dump(
		json_pack("{s:s, s:o, s:o}", "type", "response", "id", id_json(id), "result", r));
}

json_t *sb_signal_error_json(int code, const char *message)
{
	char name[64];

	return json_pack("{s:i, s:s, s:s}", "code", code, "name",
			 sb_signal_err_name(code, name, sizeof(name)), "message",
			 message ? message : "");
}

char *sb_signal_msg_error(const char *id, int code, const char *message)
{
	return dump(json_pack("{s:s, s:o, s:o}", "type", "response", "id", id_json(id), "error",
			      sb_signal_error_json(code, message)));
}

char *sb_signal_msg_error_retry(const char *id, int code, const char *message, int retry_after)
{
	json_t *e = sb_signal_error_json(code, message);

	if (e && retry_after > 0)
		json_object_set_new(e, "retry_after", json_integer(retry_after));
	return dump(
		json_pack("{s:s, s:o, s:o}", "type", "response", "id", id_json(id), "error", e));
}

char *sb_signal_msg_event(const char *event, const json_t *data)
{
	json_t *d = data ? json_deep_copy(data) : json_object();

	return dump(json_pack("{s:s, s:s, s:o}", "type", "event", "event", event, "data", d));
}
