/* Internal to src/signal: the server state shared by server.c (WebSocket
 * sessions), http.c (HTTP resources) and component.c. Control thread only. */
#pragma once

#include <glib.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "signal/auth.h"
#include "signal/metrics.h"
#include "signal/msg.h"
#include "signal/signal.h"

struct sb_config;
struct sb_bus;
struct sb_lifecycle;

struct sb__session {
	char id[19];	 /* "s-" + 16 hex */
	char resume[65]; /* current resume token, 64 hex */
	struct sb_signal_identity ident;
	struct sb__conn *conn; /* NULL while detached */
	uint64_t detached_us;  /* monotonic time it lost its connection */
	unsigned calls;
	char remote[64]; /* the client's address when it last (re)connected */
};

struct sb__outmsg {
	char *text;
	size_t len;
	bool response; /* answers a request: decrements pending when written */
};

struct sb__inflight {
	uint64_t seq; /* request number handed to the engine */
	enum sb_signal_method method;
	char id[SB_SIGNAL_ID_MAX + 1];
};

/* Messages that may wait for a client that does not read its socket. */
#define SB__OUT_MAX 1024

struct sb__conn {
	uint64_t id;
	struct lws *wsi; /* NULL once closed */
	struct sb_signal_server *srv;
	struct sb__session *session;
	char remote[64];
	char origin[256];
	bool tls;
	uint64_t connected_us, last_rx_us, last_ping_us;
	char *rx; /* the message being reassembled */
	size_t rx_len, rx_cap;
	bool rx_oversize, rx_binary;
	uint64_t rate_last_us; /* token bucket for max_msgs_per_sec */
	double rate_tokens;
	unsigned pending;
	unsigned violations;
	GQueue out;	 /* struct sb__outmsg */
	GQueue inflight; /* struct sb__inflight, requests at the engine */
	bool ping_due;
	int close_code; /* > 0: close after the queue is written */
	char close_name[64];
	bool no_resume; /* session ends with the socket (bye, auth failure) */
	uint64_t msgs_in, msgs_out;
};

struct sb_signal_server {
	struct sb_config *cfg;
	GMainLoop *loop;
	struct sb_bus *bus;
	struct sb_lifecycle *lc;
	struct lws_context *ctx;
	struct sb_signal_auth *auth;
	struct sb_metrics *metrics;
	GHashTable *conns;    /* id -> struct sb__conn */
	GHashTable *sessions; /* session id -> struct sb__session (owned) */
	guint timer;
	bool sweep_due;
	bool draining;
	bool engine_ready;
	uint64_t next_seq;
	uint64_t start_us, start_real_us;
	unsigned n_ws;		     /* WebSocket connections */
	GPtrArray *keep;	     /* strings lws keeps pointers to (vhost names, hosts) */
	struct sb_config *start_cfg; /* the snapshot the listeners were made from */
	struct sb__api_route {
		char path[64];
		sb_signal_api_cb cb;		/* GET of path, or NULL */
		sb_signal_api_action_cb action; /* any method under path */
		void *ud;
	} api[16]; /* resources other components serve */
	size_t n_api;
};

/* Per HTTP connection (protocols[0]): the body being written. */
struct sb__http_pss {
	char *body;
	size_t len, sent;
	bool head; /* HEAD: headers only */
};

/* server.c */
int sb__signal_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len);
void sb__signal_sweep(struct sb_signal_server *srv);
void sb__signal_close_all(struct sb_signal_server *srv, int code, const char *name);
void sb__signal_count_error(struct sb_signal_server *srv, int code);
/* http.c */
int sb__signal_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len);
/* component.c */
void sb__signal_bus_stats_collect(struct sb_strbuf *out, void *ud);
