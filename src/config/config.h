/* Configuration: load, validate, snapshot. Control thread (loading); the
 * snapshot itself is immutable and may be read from any thread.
 *
 * The file is INI-like: `[section]` or `[section name]` for repeatable
 * sections, `key = value`, `#` or `;` comments. Every key is declared in the
 * schema (schema.c); validation names the file, line and key of each error.
 * Environment variables SWITCHBOARD_<SECTION>_<KEY> override singleton
 * sections. A snapshot is reference counted so that a reload can replace it
 * while components still hold the old one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_config_general {
	char *node_name;
	char *data_dir;
	int64_t drain_timeout_ms;
};

struct sb_config_log {
	char *level;
	char *format;
	char **components; /* "component=level" entries, NULL-terminated */
};

struct sb_config_bus {
	int64_t max_concurrent_dispatches;
	int64_t broadcast_capacity;
	bool priority;
	int64_t batch_size;
	int64_t shard_count;
	int64_t journal_size;
	int64_t critical_capacity;
};

struct sb_config_http {
	char **listen; /* "ws://host:port" or "wss://host:port" */
	char *tls_cert;
	char *tls_key;
	char *web_root;
	char **origins;
	char *admin_token;
	int64_t ping_interval_ms;
	int64_t idle_timeout_ms;
	int64_t resume_window_ms;
	int64_t max_frame;
	int64_t max_msgs_per_sec;
	int64_t max_pending;
	int64_t max_calls_per_conn;
	int64_t max_connections;
	int64_t hello_timeout_ms;
	int64_t max_violations;
};

struct sb_config_auth {
	char **algorithms;
	char *hs256_secret;
	char *public_key; /* PEM file for ES256 / RS256 */
	char *audience;
	char *issuer;
	int64_t leeway_ms;
};

struct sb_config_sip {
	char **listen; /* "udp:host:port", "tcp:host:port", "tls:host:port" */
	char *domain;
	char *realm;
	char *user_agent;
	char *tls_cert;
	char *tls_key;
	int64_t session_expires_s;
	int64_t min_se_s;
	int64_t max_redirects;
	int64_t register_min_expires_s;
	int64_t register_max_expires_s;
	int64_t max_message_size;
	bool trace;
	bool nat_contact_rewrite;
	int64_t nat_keepalive_interval_s;
	int64_t crlf_keepalive_interval_s;
};

struct sb_config_media {
	int64_t workers; /* 0: one per core */
	int64_t rtp_port_min;
	int64_t rtp_port_max;
	bool ice_lite;
	char **interfaces;
	char *public_address;
	char *dtls_cert;
	char *dtls_key;
	bool symmetric_rtp;
	char **srtp_profiles;
	bool allow_loopback;
	int64_t consent_timeout_ms;
	bool ice_tcp; /* gather ICE-TCP candidates (RFC 6544) too */
	/* what a party held from our side hears: "tone", "silence" or the
	 * path of a 16-bit mono PCM WAV file (checked at load) */
	char *hold_music;
};

struct sb_config_store {
	char *path;
	int64_t batch_size;
	int64_t flush_interval_ms;
};

struct sb_config_limits {
	int64_t max_calls;
	int64_t max_cps;
	int64_t retry_after_s;
	int64_t ring_timeout_ms;
};

struct sb_config_user {
	char *name; /* from the section header */
	char *password;
	char *display_name;
	char **may_dial; /* patterns the user may dial */
	/* An upstream SIP account of this user, at the registrar of a [trunk]
	 * (docs/sip.md): registered, called in, used for the user's calls
	 * through that trunk. Empty sip_trunk: none. */
	char *sip_trunk;
	char *sip_username;
	char *sip_password;
};

struct sb_config_trunk {
	char *name;
	char *host;
	int64_t port;
	char *transport;
	char *username;
	char *password;
	bool do_register;
	int64_t register_expires_s;
	char **codecs; /* the order our offers to it follow (media plane) */
	char *srtp;    /* off | sdes | sdes_optional: SDES in our offers to it */
	char *dtmf;    /* rfc4733 | info | both: how digits toward it travel */
	char *caller_id;
	int64_t register_retry_min_s;
	int64_t register_retry_max_s;
	int64_t options_interval_s;
	int64_t options_down_after;
	int64_t options_up_after;
	char **inbound_addresses;
	int64_t max_calls;
	int64_t max_cps;
	char *outbound_proxy; /* host[:port], or "" */
};

struct sb_config_route {
	char *name;
	char *destination; /* pattern */
	char *caller;	   /* pattern */
	char *action;	   /* trunk | user | echo | reject | queue | conference */
	char *target;
	int64_t status;
	char *hours;	/* opening hours (core/hours.h); "": always */
	char *timezone; /* of hours: a tz name or "UTC" or "+01:00"; "": the host's */
};

/* A call queue (docs/engine.md, "Queues"): callers wait, held, while
 * agents (configured users) are offered them one at a time or all at
 * once. */
struct sb_config_queue {
	char *name;
	char **agents;		  /* [user] names, in the order round_robin follows */
	char *strategy;		  /* longest_idle | round_robin | ring_all */
	int64_t agent_timeout_ms; /* one offer rings this long */
	int64_t max_wait_ms;	  /* then the caller's call ends (queue_timeout) */
	int64_t max_callers;	  /* waiting at once; beyond: 503 (queue_full) */
	int64_t wrapup_ms;	  /* after a queue call, the agent rests this long */
};

/* A conference room (docs/engine.md, "Conferences"): every call routed to
 * it is answered and hears the mix of the others. */
struct sb_config_conference {
	char *name;
	int64_t max_members; /* at once; beyond: 486 (conference_full) */
};

struct sb_config {
	char *path; /* file it came from */
	struct sb_config_general general;
	struct sb_config_log log;
	struct sb_config_bus bus;
	struct sb_config_http http;
	struct sb_config_auth auth;
	struct sb_config_sip sip;
	struct sb_config_media media;
	struct sb_config_store store;
	struct sb_config_limits limits;
	struct sb_config_user *users;
	size_t n_users;
	struct sb_config_trunk *trunks;
	size_t n_trunks;
	struct sb_config_route *routes; /* in file order */
	size_t n_routes;
	struct sb_config_queue *queues; /* in file order */
	size_t n_queues;
	struct sb_config_conference *conferences; /* in file order */
	size_t n_conferences;
	int refs; /* control thread only */
};

/* Validation errors, each naming where and what. */
struct sb_config_errors {
	char **msgs;
	size_t n;
};

/* Loads and validates a file, then applies environment overrides from envp
 * (NULL: none). Returns 0 and a snapshot with one reference in *ret_cfg, or a
 * negative code with every problem in errs (the caller frees errs with
 * sb_config_errors_clear). -ENOENT: the file is missing; -EINVAL: invalid. */
int sb_config_load(const char *path, char *const *envp, struct sb_config **ret_cfg,
		   struct sb_config_errors *errs);
/* As sb_config_load, from text already in memory (name is used in messages). */
int sb_config_load_string(const char *name, const char *text, char *const *envp,
			  struct sb_config **ret_cfg, struct sb_config_errors *errs);
/* Defaults only, no file. Returns NULL when out of memory. */
struct sb_config *sb_config_new_default(void);

struct sb_config *sb_config_ref(struct sb_config *cfg);
/* Accepts NULL; returns NULL. */
struct sb_config *sb_config_unref(struct sb_config *cfg);

void sb_config_errors_clear(struct sb_config_errors *errs);

/* Lookup helpers. */
const struct sb_config_user *sb_config_find_user(const struct sb_config *cfg, const char *name);
const struct sb_config_queue *sb_config_find_queue(const struct sb_config *cfg, const char *name);
const struct sb_config_conference *sb_config_find_conference(const struct sb_config *cfg,
							     const char *name);
const struct sb_config_trunk *sb_config_find_trunk(const struct sb_config *cfg, const char *name);
size_t sb_config_strv_len(char *const *v);
/* True when the user has an upstream account (sip_trunk and sip_username). */
bool sb_config_user_has_account(const struct sb_config_user *u);
