/* Protocol v1 codec (docs/protocol.md): decodes one client WebSocket message
 * into a validated request, encodes responses, errors and events, names the
 * error codes. Pure: no I/O, no logging, no global state; any thread. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_SIGNAL_PROTOCOL "switchboard.v1"
#define SB_SIGNAL_VERSION  1
#define SB_SIGNAL_ID_MAX   64

/* Error codes of docs/protocol.md section 5. SIP failures are
 * SB_SIGNAL_E_SIP_BASE + status. */
enum sb_signal_err {
	SB_SIGNAL_E_PARSE = 1000,
	SB_SIGNAL_E_INVALID_MESSAGE = 1001,
	SB_SIGNAL_E_UNKNOWN_METHOD = 1002,
	SB_SIGNAL_E_INVALID_PARAMS = 1003,
	SB_SIGNAL_E_UNSAFE_TEXT = 1004,
	SB_SIGNAL_E_FRAME_TOO_LARGE = 1005,
	SB_SIGNAL_E_RATE_LIMITED = 1006,
	SB_SIGNAL_E_TOO_MANY_PENDING = 1007,
	SB_SIGNAL_E_NOT_AUTHENTICATED = 1008,
	SB_SIGNAL_E_ALREADY_AUTHENTICATED = 1009,
	SB_SIGNAL_E_UNSUPPORTED_VERSION = 1010,
	SB_SIGNAL_E_BINARY = 1011,
	SB_SIGNAL_E_AUTH_INVALID = 2000,
	SB_SIGNAL_E_AUTH_EXPIRED = 2001,
	SB_SIGNAL_E_AUTH_NOT_YET_VALID = 2002,
	SB_SIGNAL_E_AUTH_AUDIENCE = 2003,
	SB_SIGNAL_E_AUTH_ISSUER = 2004,
	SB_SIGNAL_E_AUTH_ALGORITHM = 2005,
	SB_SIGNAL_E_AUTH_SIGNATURE = 2006,
	SB_SIGNAL_E_RESUME_FAILED = 2010,
	SB_SIGNAL_E_NOT_AVAILABLE = 3000,
	SB_SIGNAL_E_CALL_NOT_FOUND = 3001,
	SB_SIGNAL_E_NOT_ALLOWED = 3002,
	SB_SIGNAL_E_TOO_MANY_CALLS = 3003,
	SB_SIGNAL_E_OVERLOADED = 3004,
	SB_SIGNAL_E_INTERNAL = 5000,
	SB_SIGNAL_E_DRAINING = 5001,
	SB_SIGNAL_E_SIP_BASE = 10000,
};

enum sb_signal_method {
	SB_SIGNAL_M_HELLO,
	SB_SIGNAL_M_PING,
	SB_SIGNAL_M_BYE,
	SB_SIGNAL_M_CALL_DIAL,
	SB_SIGNAL_M_CALL_ANSWER,
	SB_SIGNAL_M_CALL_HANGUP,
	SB_SIGNAL_M_CALL_DTMF,
	SB_SIGNAL_M_CALL_HOLD,
	SB_SIGNAL_M_CALL_TRANSFER,
	SB_SIGNAL_M_CALL_ICE,
	SB_SIGNAL_M_CALL_CONSULT,
	SB_SIGNAL_M_CALL_CONSULT_END,
	SB_SIGNAL_M_CALL_MUTE,
	SB_SIGNAL_M_PRESENCE_SET,
	_SB_SIGNAL_M_MAX,
	_SB_SIGNAL_M_INVALID = -22,
};

struct sb_signal_request {
	char id[SB_SIGNAL_ID_MAX + 1]; /* "" when the message had no valid id */
	enum sb_signal_method method;
	json_t *params; /* an object, one reference owned by the request */
};

struct sb_signal_error {
	int code;
	char message[192];
};

/* Decodes one text message of len bytes. Returns 0 and fills *req (release
 * it with sb_signal_request_clear), or -EINVAL and fills *err; in both cases
 * req->id holds the request id when one was found (the error response echoes
 * it) and req->method is set when known. Checks everything of protocol.md
 * sections 2.1, 4 (types, ranges) and 9 (text safety), and hello's version. */
int sb_signal_msg_decode(const char *buf, size_t len, struct sb_signal_request *req,
			 struct sb_signal_error *err);
void sb_signal_request_clear(struct sb_signal_request *req);

/* Encoders: malloc'd compact JSON text, NULL when out of memory. id NULL or
 * "" encodes as null. result and data are borrowed (NULL: {}). */
char *sb_signal_msg_result(const char *id, const json_t *result);
char *sb_signal_msg_error(const char *id, int code, const char *message);
/* The same, with retry_after (seconds, > 0) for errors the client may retry
 * later (overloaded, limits). */
char *sb_signal_msg_error_retry(const char *id, int code, const char *message, int retry_after);
char *sb_signal_msg_event(const char *event, const json_t *data);
/* The error object {code, name, message}; a new reference or NULL. */
json_t *sb_signal_error_json(int code, const char *message);

/* The stable name of a code ("invalid_params", "sip_486_busy_here") written
 * into buf (size >= 64); returns buf. Unknown codes give "error_<code>". */
const char *sb_signal_err_name(int code, char *buf, size_t size);
/* True for the codes that count as violations (protocol.md section 8). */
bool sb_signal_err_is_violation(int code);
/* Method name and lookup. */
const char *sb_signal_method_name(enum sb_signal_method m);
enum sb_signal_method sb_signal_method_from_name(const char *s);

/* Text safety (protocol.md section 9): true when s[0..len) has no CR, LF or
 * NUL (allow_crlf: only NUL is refused). */
bool sb_signal_text_safe(const char *s, size_t len, bool allow_crlf);
/* True when to matches one of the n may_dial patterns: exact, "prefix*", "*". */
bool sb_signal_dial_allowed(char *const *patterns, size_t n, const char *to);
