/* The signal component: the libwebsockets server (WS and WSS) on the control
 * thread's GLib loop, protocol v1 sessions (docs/protocol.md), and HTTP on the
 * same listeners (static files, /livez, /readyz, /metrics, /api/v1).
 * Control thread only. docs/signaling.md describes the server side. */
#pragma once

#include <stdint.h>

#include "core/lifecycle.h"

struct sb_config;
struct sb_bus;
struct sb_strbuf;
struct sb_signal_server;
typedef struct _GMainLoop GMainLoop;

/* Creates the component (no sockets yet). cfg is referenced; bus is the
 * control bus (borrowed, must outlive the server). Returns NULL when out of
 * memory. */
struct sb_signal_server *sb_signal_server_new(struct sb_config *cfg, GMainLoop *loop,
					      struct sb_bus *bus);
/* Frees a stopped (or never started) server. Accepts NULL; returns NULL. */
struct sb_signal_server *sb_signal_server_free(struct sb_signal_server *srv);
/* The lifecycle operations: start opens the listeners and reports ready;
 * drain refuses new sessions and calls; stop closes every connection. */
extern const struct sb_component_ops sb_signal_component_ops;

/* A GET resource under /api/v1 served for another component (behind the
 * admin token): returns malloc'd JSON text, or NULL for 404. query is the
 * raw query string ("" when none). Control thread. */
typedef char *(*sb_signal_api_cb)(const char *query, void *ud);
/* Adds one (path like "/api/v1/calls"). Before start. Returns 0, -ENOSPC
 * (too many), -EINVAL. */
int sb_signal_api_add(struct sb_signal_server *srv, const char *path, sb_signal_api_cb cb,
		      void *ud);
/* What a resource with methods answers (sb_signal_api_action_cb). */
struct sb_signal_api_reply {
	char *body;	   /* 200: malloc'd JSON, freed by the server */
	const char *error; /* an error status: the message of its JSON error */
	const char *allow; /* 405: the methods allowed ("POST") */
};
/* A resource with methods under /api/v1 (behind the admin token) for every
 * path under a prefix: gets the method ("GET", "HEAD", "POST", "PUT",
 * "PATCH", "DELETE", "OPTIONS") and the path after the prefix (a request
 * body is not read), and returns the HTTP status: 200 with ret->body, 204,
 * or an error status (400, 404, 405, 500) with ret->error. Control
 * thread. */
typedef unsigned (*sb_signal_api_action_cb)(const char *method, const char *rest,
					    struct sb_signal_api_reply *ret, void *ud);
/* Adds one for the paths under prefix ("/api/v1/conferences/"). Before
 * start. Returns 0, -ENOSPC (too many), -EINVAL. */
int sb_signal_api_add_action(struct sb_signal_server *srv, const char *prefix,
			     sb_signal_api_action_cb cb, void *ud);
/* Adds lines in the Prometheus text format to every /metrics scrape. */
typedef void (*sb_signal_metrics_cb)(struct sb_strbuf *out, void *ud);
int sb_signal_metrics_add(struct sb_signal_server *srv, sb_signal_metrics_cb cb, void *ud);
