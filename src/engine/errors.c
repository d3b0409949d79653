/* Typed errors for browser clients (docs/protocol.md section 5): engine
 * codes and SIP statuses as 10000 + status with the RFC 3261 section 21
 * reason phrase in the name. Pure; any thread. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine_internal.h"

struct reason {
	int status;
	const char *phrase;
};

static const struct reason reasons[] = {
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{402, "Payment Required"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{406, "Not Acceptable"},
	{407, "Proxy Authentication Required"},
	{408, "Request Timeout"},
	{410, "Gone"},
	{413, "Request Entity Too Large"},
	{414, "Request-URI Too Long"},
	{415, "Unsupported Media Type"},
	{416, "Unsupported URI Scheme"},
	{420, "Bad Extension"},
	{421, "Extension Required"},
	{423, "Interval Too Brief"},
	{480, "Temporarily Unavailable"},
	{481, "Call/Transaction Does Not Exist"},
	{482, "Loop Detected"},
	{483, "Too Many Hops"},
	{484, "Address Incomplete"},
	{485, "Ambiguous"},
	{486, "Busy Here"},
	{487, "Request Terminated"},
	{488, "Not Acceptable Here"},
	{491, "Request Pending"},
	{493, "Undecipherable"},
	{500, "Server Internal Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Server Time-out"},
	{505, "Version Not Supported"},
	{513, "Message Too Large"},
	{600, "Busy Everywhere"},
	{603, "Decline"},
	{604, "Does Not Exist Anywhere"},
	{606, "Not Acceptable"},
};

const char *sb_engine_sip_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].phrase;
	return NULL;
}

void sb_engine_error_for_status(int status, struct sb_engine_error *ret)
{
	const char *phrase;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (status < 400 || status > 699)
		status = 500;
	phrase = sb_engine_sip_reason(status);
	ret->code = 10000 + status;
	ret->sip_status = status;
	n = (size_t)snprintf(ret->name, sizeof(ret->name), "sip_%d", status);
	if (phrase) {
		/* Lower case, every run of other characters as one '_'. */
		bool gap = true;

		for (const char *p = phrase; *p && n + 2 < sizeof(ret->name); p++) {
			if (isalnum((unsigned char)*p)) {
				if (gap)
					ret->name[n++] = '_';
				ret->name[n++] = (char)tolower((unsigned char)*p);
				gap = false;
			} else {
				gap = true;
			}
		}
		ret->name[n] = '\0';
	}
	snprintf(ret->message, sizeof(ret->message), "SIP %d %s", status,
		 phrase ? phrase : "error");
}

struct code {
	int code;
	const char *name;
	const char *message;
};

static const struct code codes[] = {
	{3000, "not_available", "not available"},
	{3001, "call_not_found", "no such call on this session"},
	{3002, "not_allowed", "this destination is not allowed"},
	{3004, "overloaded", "the server refuses new calls for now; retry later"},
	{5000, "internal_error", "internal error"},
	{5001, "draining", "the server is shutting down"},
};

void sb__engine_error(int code, struct sb_engine_error *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (code >= 10400 && code <= 10699) {
		sb_engine_error_for_status(code - 10000, ret);
		return;
	}
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (codes[i].code == code) {
			ret->code = code;
			sb__set_str(ret->name, sizeof(ret->name), codes[i].name);
			sb__set_str(ret->message, sizeof(ret->message), codes[i].message);
			return;
		}
	}
	ret->code = 5000;
	sb__set_str(ret->name, sizeof(ret->name), "internal_error");
	sb__set_str(ret->message, sizeof(ret->message), "internal error");
}
