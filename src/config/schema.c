/* Every config section and key, with its type, default and range. The
 * commented default file conf/switchboard.conf documents each key; a unit
 * test checks that the two agree. */
#include "config/schema.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config/config.h"
#include "core/hours.h"
#include "core/wav.h"
#include "core/strbuf.h"

#define K(sect, field, nm, ty, dflt, lo, hi)                                                       \
	{                                                                                          \
		.name = nm, .type = ty, .offset = offsetof(struct sect, field), .def = dflt,       \
		.min = lo, .max = hi                                                               \
	}
#define KE(sect, field, nm, dflt, ch)                                                              \
	{                                                                                          \
		.name = nm, .type = SB_CT_ENUM, .offset = offsetof(struct sect, field),            \
		.def = dflt, .choices = ch                                                         \
	}
#define END                                                                                        \
	{                                                                                          \
		.name = NULL                                                                       \
	}
#define DUR_MAX (INT64_C(86400000) * 365)

static const char *const log_levels[] = {"error", "warn", "info", "debug", "trace", NULL};
static const char *const log_formats[] = {"auto", "text", "json", NULL};
static const char *const transports[] = {"udp", "tcp", "tls", NULL};
static const char *const srtp_modes[] = {"off", "sdes", "sdes_optional", NULL};
static const char *const dtmf_modes[] = {"rfc4733", "info", "both", NULL};
static const char *const route_actions[] = {"trunk", "user",	   "echo", "reject",
					    "queue", "conference", NULL};
static const char *const queue_strategies[] = {"longest_idle", "round_robin", "ring_all", NULL};

static const struct sb_config_key general_keys[] = {
	K(sb_config_general, node_name, "node_name", SB_CT_STR, "switchboard", 0, 0),
	K(sb_config_general, data_dir, "data_dir", SB_CT_STR, "var", 0, 0),
	K(sb_config_general, drain_timeout_ms, "drain_timeout", SB_CT_DURATION, "30s", 0, DUR_MAX),
	END,
};

static const struct sb_config_key log_keys[] = {
	KE(sb_config_log, level, "level", "info", log_levels),
	KE(sb_config_log, format, "format", "auto", log_formats),
	K(sb_config_log, components, "components", SB_CT_LIST, "", 0, 0),
	END,
};

static const struct sb_config_key bus_keys[] = {
	K(sb_config_bus, max_concurrent_dispatches, "max_concurrent_dispatches", SB_CT_INT, "25000",
	  16, 10000000),
	K(sb_config_bus, broadcast_capacity, "broadcast_capacity", SB_CT_INT, "16384", 16, 1 << 24),
	K(sb_config_bus, priority, "priority", SB_CT_BOOL, "true", 0, 0),
	K(sb_config_bus, batch_size, "batch_size", SB_CT_INT, "50", 1, 100000),
	K(sb_config_bus, shard_count, "shard_count", SB_CT_INT, "32", 1, 4096),
	K(sb_config_bus, journal_size, "journal_size", SB_CT_INT, "4096", 0, 1 << 24),
	K(sb_config_bus, critical_capacity, "critical_capacity", SB_CT_INT, "4096", 16, 1 << 24),
	END,
};

static const struct sb_config_key http_keys[] = {
	K(sb_config_http, listen, "listen", SB_CT_LIST, "ws://127.0.0.1:8080", 0, 0),
	K(sb_config_http, tls_cert, "tls_cert", SB_CT_STR, "", 0, 0),
	K(sb_config_http, tls_key, "tls_key", SB_CT_STR, "", 0, 0),
	K(sb_config_http, web_root, "web_root", SB_CT_STR, "web", 0, 0),
	K(sb_config_http, origins, "origins", SB_CT_LIST, "", 0, 0),
	K(sb_config_http, admin_token, "admin_token", SB_CT_STR, "", 0, 0),
	K(sb_config_http, ping_interval_ms, "ping_interval", SB_CT_DURATION, "20s", 1000, 3600000),
	K(sb_config_http, idle_timeout_ms, "idle_timeout", SB_CT_DURATION, "60s", 1000, 3600000),
	K(sb_config_http, resume_window_ms, "resume_window", SB_CT_DURATION, "60s", 0, 3600000),
	K(sb_config_http, max_frame, "max_frame", SB_CT_INT, "65536", 256, 16777216),
	K(sb_config_http, max_msgs_per_sec, "max_msgs_per_sec", SB_CT_INT, "50", 1, 100000),
	K(sb_config_http, max_pending, "max_pending", SB_CT_INT, "32", 1, 10000),
	K(sb_config_http, max_calls_per_conn, "max_calls_per_conn", SB_CT_INT, "4", 1, 1000),
	K(sb_config_http, max_connections, "max_connections", SB_CT_INT, "10000", 1, 1000000),
	K(sb_config_http, hello_timeout_ms, "hello_timeout", SB_CT_DURATION, "10s", 100, 600000),
	K(sb_config_http, max_violations, "max_violations", SB_CT_INT, "10", 1, 10000),
	END,
};

static const struct sb_config_key auth_keys[] = {
	K(sb_config_auth, algorithms, "algorithms", SB_CT_LIST, "HS256", 0, 0),
	K(sb_config_auth, hs256_secret, "hs256_secret", SB_CT_STR, "", 0, 0),
	K(sb_config_auth, public_key, "public_key", SB_CT_STR, "", 0, 0),
	K(sb_config_auth, audience, "audience", SB_CT_STR, "switchboard", 0, 0),
	K(sb_config_auth, issuer, "issuer", SB_CT_STR, "", 0, 0),
	K(sb_config_auth, leeway_ms, "leeway", SB_CT_DURATION, "30s", 0, 600000),
	END,
};

static const struct sb_config_key sip_keys[] = {
	K(sb_config_sip, listen, "listen", SB_CT_LIST, "udp:127.0.0.1:5060,tcp:127.0.0.1:5060", 0,
	  0),
	K(sb_config_sip, domain, "domain", SB_CT_STR, "localhost", 0, 0),
	K(sb_config_sip, realm, "realm", SB_CT_STR, "switchboard", 0, 0),
	K(sb_config_sip, user_agent, "user_agent", SB_CT_STR, "Switchboard", 0, 0),
	K(sb_config_sip, tls_cert, "tls_cert", SB_CT_STR, "", 0, 0),
	K(sb_config_sip, tls_key, "tls_key", SB_CT_STR, "", 0, 0),
	K(sb_config_sip, session_expires_s, "session_expires", SB_CT_INT, "1800", 90, 86400),
	K(sb_config_sip, min_se_s, "min_se", SB_CT_INT, "90", 90, 86400),
	K(sb_config_sip, max_redirects, "max_redirects", SB_CT_INT, "3", 0, 20),
	K(sb_config_sip, register_min_expires_s, "register_min_expires", SB_CT_INT, "60", 1, 86400),
	K(sb_config_sip, register_max_expires_s, "register_max_expires", SB_CT_INT, "3600", 1,
	  604800),
	K(sb_config_sip, max_message_size, "max_message_size", SB_CT_INT, "65536", 1024, 1048576),
	K(sb_config_sip, trace, "trace", SB_CT_BOOL, "false", 0, 0),
	K(sb_config_sip, nat_contact_rewrite, "nat_contact_rewrite", SB_CT_BOOL, "true", 0, 0),
	K(sb_config_sip, nat_keepalive_interval_s, "nat_keepalive_interval", SB_CT_INT, "30", 0,
	  3600),
	K(sb_config_sip, crlf_keepalive_interval_s, "crlf_keepalive_interval", SB_CT_INT, "90", 0,
	  3600),
	END,
};

#define KC(sect, field, nm, dflt, fn)                                                              \
	{                                                                                          \
		.name = nm, .type = SB_CT_STR, .offset = offsetof(struct sect, field),             \
		.def = dflt, .check = fn                                                           \
	}

/* [media] hold_music: a word, or a WAV file read whole now, so that a
 * file the media component could not use is an error naming the line
 * rather than a failure at start (the media component reads it again). */
static int check_hold_music(const char *value, struct sb_strbuf *why)
{
	int16_t *pcm;
	size_t n;
	int rate;
	char err[256];

	if (strcmp(value, "tone") == 0 || strcmp(value, "silence") == 0)
		return 0;
	if (!*value || sb_wav_read(value, &pcm, &n, &rate, err, sizeof(err)) < 0) {
		sb_strbuf_printf(why, "%s (tone, silence, or a 16-bit mono PCM WAV file)",
				 *value ? err : "empty");
		return -EINVAL;
	}
	free(pcm);
	return 0;
}

static const struct sb_config_key media_keys[] = {
	K(sb_config_media, workers, "workers", SB_CT_INT, "0", 0, 256),
	K(sb_config_media, rtp_port_min, "rtp_port_min", SB_CT_INT, "20000", 1024, 65535),
	K(sb_config_media, rtp_port_max, "rtp_port_max", SB_CT_INT, "39999", 1024, 65535),
	K(sb_config_media, ice_lite, "ice_lite", SB_CT_BOOL, "false", 0, 0),
	K(sb_config_media, interfaces, "interfaces", SB_CT_LIST, "", 0, 0),
	K(sb_config_media, public_address, "public_address", SB_CT_STR, "", 0, 0),
	K(sb_config_media, dtls_cert, "dtls_cert", SB_CT_STR, "", 0, 0),
	K(sb_config_media, dtls_key, "dtls_key", SB_CT_STR, "", 0, 0),
	K(sb_config_media, symmetric_rtp, "symmetric_rtp", SB_CT_BOOL, "true", 0, 0),
	K(sb_config_media, srtp_profiles, "srtp_profiles", SB_CT_LIST,
	  "AEAD_AES_128_GCM,AES_CM_128_HMAC_SHA1_80", 0, 0),
	K(sb_config_media, allow_loopback, "allow_loopback", SB_CT_BOOL, "true", 0, 0),
	K(sb_config_media, consent_timeout_ms, "consent_timeout", SB_CT_DURATION, "30s", 5000,
	  600000),
	K(sb_config_media, ice_tcp, "ice_tcp", SB_CT_BOOL, "false", 0, 0),
	KC(sb_config_media, hold_music, "hold_music", "tone", check_hold_music),
	END,
};

static const struct sb_config_key store_keys[] = {
	K(sb_config_store, path, "path", SB_CT_STR, "switchboard.db", 0, 0),
	K(sb_config_store, batch_size, "batch_size", SB_CT_INT, "256", 1, 100000),
	K(sb_config_store, flush_interval_ms, "flush_interval", SB_CT_DURATION, "200ms", 1, 60000),
	END,
};

static const struct sb_config_key limits_keys[] = {
	K(sb_config_limits, max_calls, "max_calls", SB_CT_INT, "1000", 0, 10000000),
	K(sb_config_limits, max_cps, "max_cps", SB_CT_INT, "100", 0, 1000000),
	K(sb_config_limits, retry_after_s, "retry_after", SB_CT_INT, "5", 1, 3600),
	K(sb_config_limits, ring_timeout_ms, "ring_timeout", SB_CT_DURATION, "60s", 0, 3600000),
	END,
};

static const struct sb_config_key user_keys[] = {
	K(sb_config_user, password, "password", SB_CT_STR, "", 0, 0),
	K(sb_config_user, display_name, "display_name", SB_CT_STR, "", 0, 0),
	K(sb_config_user, may_dial, "may_dial", SB_CT_LIST, "*", 0, 0),
	K(sb_config_user, sip_trunk, "sip_trunk", SB_CT_STR, "", 0, 0),
	K(sb_config_user, sip_username, "sip_username", SB_CT_STR, "", 0, 0),
	K(sb_config_user, sip_password, "sip_password", SB_CT_STR, "", 0, 0),
	END,
};

static const struct sb_config_key trunk_keys[] = {
	K(sb_config_trunk, host, "host", SB_CT_STR, "", 0, 0),
	K(sb_config_trunk, port, "port", SB_CT_INT, "5060", 1, 65535),
	KE(sb_config_trunk, transport, "transport", "udp", transports),
	K(sb_config_trunk, username, "username", SB_CT_STR, "", 0, 0),
	K(sb_config_trunk, password, "password", SB_CT_STR, "", 0, 0),
	K(sb_config_trunk, do_register, "register", SB_CT_BOOL, "false", 0, 0),
	K(sb_config_trunk, register_expires_s, "register_expires", SB_CT_INT, "600", 60, 86400),
	K(sb_config_trunk, codecs, "codecs", SB_CT_LIST, "", 0, 0),
	KE(sb_config_trunk, srtp, "srtp", "off", srtp_modes),
	KE(sb_config_trunk, dtmf, "dtmf", "rfc4733", dtmf_modes),
	K(sb_config_trunk, caller_id, "caller_id", SB_CT_STR, "", 0, 0),
	K(sb_config_trunk, register_retry_min_s, "register_retry_min", SB_CT_INT, "5", 1, 3600),
	K(sb_config_trunk, register_retry_max_s, "register_retry_max", SB_CT_INT, "300", 1, 86400),
	K(sb_config_trunk, options_interval_s, "options_interval", SB_CT_INT, "30", 0, 3600),
	K(sb_config_trunk, options_down_after, "options_down_after", SB_CT_INT, "2", 1, 100),
	K(sb_config_trunk, options_up_after, "options_up_after", SB_CT_INT, "1", 1, 100),
	K(sb_config_trunk, inbound_addresses, "inbound_addresses", SB_CT_LIST, "", 0, 0),
	K(sb_config_trunk, max_calls, "max_calls", SB_CT_INT, "0", 0, 10000000),
	K(sb_config_trunk, max_cps, "max_cps", SB_CT_INT, "0", 0, 1000000),
	K(sb_config_trunk, outbound_proxy, "outbound_proxy", SB_CT_STR, "", 0, 0),
	END,
};

static int check_hours(const char *value, struct sb_strbuf *why)
{
	struct sb_hours h;
	char err[128];

	if (!*value || sb_hours_parse(value, &h, err, sizeof(err)) == 0)
		return 0;
	sb_strbuf_printf(why, "%s (such as 'mon-fri 09:00-17:00, sat 10:00-13:00')", err);
	return -EINVAL;
}

/* A zone GLib knows: a tz database name (the tzdata package), "UTC", or a
 * fixed offset such as "+01:00". */
static int check_timezone(const char *value, struct sb_strbuf *why)
{
	GTimeZone *tz;

	if (!*value)
		return 0;
	if ((tz = g_time_zone_new_identifier(value))) {
		g_time_zone_unref(tz);
		return 0;
	}
	sb_strbuf_printf(why,
			 "unknown time zone '%s' (a tz name such as Europe/Paris, UTC, or +01:00)",
			 value);
	return -EINVAL;
}

static const struct sb_config_key route_keys[] = {
	K(sb_config_route, destination, "destination", SB_CT_STR, "*", 0, 0),
	K(sb_config_route, caller, "caller", SB_CT_STR, "*", 0, 0),
	KE(sb_config_route, action, "action", NULL, route_actions),
	K(sb_config_route, target, "target", SB_CT_STR, "", 0, 0),
	K(sb_config_route, status, "status", SB_CT_INT, "404", 300, 699),
	KC(sb_config_route, hours, "hours", "", check_hours),
	KC(sb_config_route, timezone, "timezone", "", check_timezone),
	END,
};

static const struct sb_config_key queue_keys[] = {
	K(sb_config_queue, agents, "agents", SB_CT_LIST, "", 0, 0),
	KE(sb_config_queue, strategy, "strategy", "longest_idle", queue_strategies),
	K(sb_config_queue, agent_timeout_ms, "agent_timeout", SB_CT_DURATION, "15s", 1000, DUR_MAX),
	K(sb_config_queue, max_wait_ms, "max_wait", SB_CT_DURATION, "5m", 1000, DUR_MAX),
	K(sb_config_queue, max_callers, "max_callers", SB_CT_INT, "50", 1, 100000),
	K(sb_config_queue, wrapup_ms, "wrapup", SB_CT_DURATION, "0s", 0, DUR_MAX),
	END,
};

static const struct sb_config_key conference_keys[] = {
	K(sb_config_conference, max_members, "max_members", SB_CT_INT, "20", 2, 1000),
	END,
};

#define SINGLE(nm, field, keys_)                                                                   \
	{                                                                                          \
		.name = nm, .offset = offsetof(struct sb_config, field), .keys = keys_             \
	}
#define REPEAT(nm, arr, cnt, type, keys_)                                                          \
	{                                                                                          \
		.name = nm, .repeat = true, .offset = offsetof(struct sb_config, arr),             \
		.count_offset = offsetof(struct sb_config, cnt), .elem_size = sizeof(struct type), \
		.keys = keys_                                                                      \
	}

const struct sb_config_section sb__config_sections[] = {
	SINGLE("general", general, general_keys),
	SINGLE("log", log, log_keys),
	SINGLE("bus", bus, bus_keys),
	SINGLE("http", http, http_keys),
	SINGLE("auth", auth, auth_keys),
	SINGLE("sip", sip, sip_keys),
	SINGLE("media", media, media_keys),
	SINGLE("store", store, store_keys),
	SINGLE("limits", limits, limits_keys),
	REPEAT("user", users, n_users, sb_config_user, user_keys),
	REPEAT("trunk", trunks, n_trunks, sb_config_trunk, trunk_keys),
	REPEAT("route", routes, n_routes, sb_config_route, route_keys),
	REPEAT("queue", queues, n_queues, sb_config_queue, queue_keys),
	REPEAT("conference", conferences, n_conferences, sb_config_conference, conference_keys),
	{.name = NULL},
};
