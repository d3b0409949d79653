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
/* Adds lines in the Prometheus text format to every /metrics scrape. */
typedef void (*sb_signal_metrics_cb)(struct sb_strbuf *out, void *ud);
int sb_signal_metrics_add(struct sb_signal_server *srv, sb_signal_metrics_cb cb, void *ud);
