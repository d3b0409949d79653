/* The signal component's lifecycle: builds the lws context on the control
 * GLib loop with one vhost per [http] listen entry, subscribes to the bus,
 * runs the sweep timer, drains and stops. Control thread; owns the context,
 * the JWT verifier, the metrics registry, connections and sessions. */
#define SB_LOG_COMP SB_COMP_SIGNAL

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "log/log.h"
#include "signal/server.h"

#define SWEEP_MS 100

void sb__signal_on_reply(struct sb_signal_server *srv, uint64_t conn, uint64_t seq,
			 const char *text);
void sb__signal_on_event(struct sb_signal_server *srv, const char *session, const char *text);

static const struct lws_protocols protocols[] = {
	{"http", sb__signal_http_cb, sizeof(struct sb__http_pss), 0, 0, NULL, 0},
	{SB_SIGNAL_PROTOCOL, sb__signal_ws_cb, sizeof(void *), 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void session_destroy(gpointer p)
{
	struct sb__session *s = p;

	sb_signal_identity_clear(&s->ident);
	free(s);
}

struct sb_signal_server *sb_signal_server_new(struct sb_config *cfg, GMainLoop *loop,
					      struct sb_bus *bus)
{
	struct sb_signal_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->cfg = sb_config_ref(cfg);
	srv->loop = loop;
	srv->bus = bus;
	srv->metrics = sb_metrics_new();
	srv->conns = g_hash_table_new(g_int64_hash, g_int64_equal);
	srv->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, session_destroy);
	srv->keep = g_ptr_array_new_with_free_func(g_free);
	srv->start_us = sb_clock_mono_us();
	srv->start_real_us = sb_clock_real_us();
	if (!srv->metrics)
		return sb_signal_server_free(srv);
	return srv;
}

struct sb_signal_server *sb_signal_server_free(struct sb_signal_server *srv)
{
	if (!srv)
		return NULL;
	/* Last: nothing iterates the main context after this (see
	 * signal_stop). CLOSED callbacks of what is left run here. */
	if (srv->ctx)
		lws_context_destroy(srv->ctx);
	srv->ctx = NULL;
	if (srv->timer)
		g_source_remove(srv->timer);
	g_hash_table_remove_all(srv->sessions);
	g_hash_table_destroy(srv->conns);
	g_hash_table_destroy(srv->sessions);
	g_ptr_array_free(srv->keep, TRUE);
	sb_config_unref(srv->start_cfg);
	sb_signal_auth_free(srv->auth);
	sb_metrics_free(srv->metrics);
	sb_config_unref(srv->cfg);
	free(srv);
	return NULL;
}

static void declare_metrics(struct sb_signal_server *srv)
{
	struct sb_metrics *m = srv->metrics;

	sb_metrics_declare(m, "switchboard_ws_connections", SB_METRIC_GAUGE,
			   "Open WebSocket connections.");
	sb_metrics_declare(m, "switchboard_ws_messages_received_total", SB_METRIC_COUNTER,
			   "WebSocket messages received from clients.");
	sb_metrics_declare(m, "switchboard_ws_messages_sent_total", SB_METRIC_COUNTER,
			   "WebSocket messages sent to clients.");
	sb_metrics_declare(m, "switchboard_ws_errors_total", SB_METRIC_COUNTER,
			   "Error responses sent, by protocol error code.");
	sb_metrics_declare(m, "switchboard_ws_upgrades_refused_total", SB_METRIC_COUNTER,
			   "WebSocket upgrades refused (subprotocol, origin, limit).");
	sb_metrics_declare(m, "switchboard_http_requests_total", SB_METRIC_COUNTER,
			   "HTTP requests served.");
	sb_metrics_set(m, "switchboard_ws_connections", NULL, 0);
	sb_metrics_add(m, "switchboard_ws_messages_received_total", NULL, 0);
	sb_metrics_add(m, "switchboard_ws_messages_sent_total", NULL, 0);
	sb_metrics_collector_add(m, sb__signal_bus_stats_collect, srv);
	sb_metrics_collector_add(m, sb_metrics_process_collect, &srv->start_real_us);
}

static void sessions_collect(struct sb_strbuf *out, void *ud)
{
	struct sb_signal_server *srv = ud;
	GHashTableIter it;
	gpointer k, v;
	unsigned detached = 0;

	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, &k, &v))
		detached += ((struct sb__session *)v)->conn == NULL;
	sb_strbuf_printf(out,
			 "# HELP switchboard_ws_sessions Protocol sessions, attached to a "
			 "connection or waiting for a resume.\n"
			 "# TYPE switchboard_ws_sessions gauge\n"
			 "switchboard_ws_sessions{state=\"attached\"} %u\n"
			 "switchboard_ws_sessions{state=\"detached\"} %u\n",
			 g_hash_table_size(srv->sessions) - detached, detached);
}

void sb__signal_bus_stats_collect(struct sb_strbuf *out, void *ud)
{
	static const char *const fams[][2] = {
		{"depth", "Events waiting in the control bus lane."},
		{"posted_total", "Events posted to the control bus lane."},
		{"dispatched_total", "Events dispatched from the control bus lane."},
		{"dropped_total", "Low-priority events dropped because the lane was full."},
		{"refused_total", "Posts refused because the lane was full."},
		{"coalesced_total", "Low-priority events merged into a pending one."},
		{"spilled_total", "Critical events that went through the overflow list."},
	};
	struct sb_signal_server *srv = ud;
	struct sb_bus_stats st;

	sb_bus_stats(srv->bus, &st);
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		sb_strbuf_printf(out,
				 "# HELP switchboard_bus_%s %s\n# TYPE switchboard_bus_%s %s\n",
				 fams[f][0], fams[f][1], fams[f][0], f == 0 ? "gauge" : "counter");
		for (int l = 0; l < _SB_PRIO_MAX; l++) {
			const struct sb_bus_lane_stats *s = &st.lane[l];
			uint64_t v[] = {s->depth,   s->posted,	  s->dispatched, s->dropped,
					s->refused, s->coalesced, s->spilled};

			sb_strbuf_printf(out, "switchboard_bus_%s{lane=\"%s\"} %llu\n", fams[f][0],
					 sb_prio_name((enum sb_prio)l), (unsigned long long)v[f]);
		}
	}
	sb_strbuf_printf(out,
			 "# HELP switchboard_bus_admissions_refused_total New work refused by "
			 "admission control.\n"
			 "# TYPE switchboard_bus_admissions_refused_total counter\n"
			 "switchboard_bus_admissions_refused_total %llu\n",
			 (unsigned long long)st.admissions_refused);
	sessions_collect(out, srv);
}

/* Bus handlers (control thread, outside lws callbacks). */
static void on_bus_event(const struct sb_event *ev, void *ud)
{
	struct sb_signal_server *srv = ud;

	switch (ev->type) {
	case SB_EV_METRICS_SAMPLE:
		if (sb_metrics_name_valid(ev->str))
			sb_metrics_set(srv->metrics, ev->str, NULL, (double)ev->arg[0]);
		break;
	case SB_EV_SYS_COMPONENT_READY:
		if (strcmp(ev->str, "engine") == 0)
			srv->engine_ready = true;
		break;
	case SB_EV_WS_REPLY:
		sb__signal_on_reply(srv, (uint64_t)ev->arg[0], (uint64_t)ev->arg[1], ev->text);
		break;
	case SB_EV_WS_EVENT:
		sb__signal_on_event(srv, ev->str, ev->text);
		break;
	default:
		break;
	}
}

static gboolean sweep_timer_cb(gpointer ud)
{
	struct sb_signal_server *srv = ud;

	/* The sweep runs inside lws (EVENT_WAIT_CANCELLED) so that the writes
	 * and closes it asks for start at once (DESIGN.md, lws facts). */
	srv->sweep_due = true;
	lws_cancel_service(srv->ctx);
	return G_SOURCE_CONTINUE;
}

static int parse_listen(const char *spec, bool *ret_tls, char *host, size_t hostsz, int *ret_port)
{
	const char *rest, *colon;
	char *end;
	long port;

	if (strncmp(spec, "ws://", 5) == 0)
		*ret_tls = false, rest = spec + 5;
	else if (strncmp(spec, "wss://", 6) == 0)
		*ret_tls = true, rest = spec + 6;
	else
		return -EINVAL;
	colon = strrchr(rest, ':');
	if (!colon || (size_t)(colon - rest) >= hostsz || colon == rest)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	memcpy(host, rest, (size_t)(colon - rest));
	host[colon - rest] = '\0';
	*ret_port = (int)port;
	return 0;
}

static int create_vhosts(struct sb_signal_server *srv)
{
	const struct sb_config_http *h;

	/* The certificate paths stay valid across reloads: keep this snapshot. */
	srv->start_cfg = sb_config_ref(srv->cfg);
	h = &srv->start_cfg->http;

	for (size_t i = 0; h->listen && h->listen[i]; i++) {
		struct lws_context_creation_info vi = {0};
		struct lws_vhost *vh;
		char host[128], name[32];
		bool tls;
		int port;

		if (parse_listen(h->listen[i], &tls, host, sizeof(host), &port) < 0) {
			sb_error("[http] listen: '%s' is not ws://HOST:PORT or wss://HOST:PORT",
				 h->listen[i]);
			return -EINVAL;
		}
		if (tls && (!h->tls_cert[0] || !h->tls_key[0])) {
			sb_error("[http] listen %s needs tls_cert and tls_key", h->listen[i]);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "listen%zu", i);
		/* lws keeps these pointers for the vhost's life. */
		vi.vhost_name = g_strdup(name);
		vi.iface = g_strdup(host);
		g_ptr_array_add(srv->keep, (char *)vi.vhost_name);
		g_ptr_array_add(srv->keep, (char *)vi.iface);
		vi.port = port;
		vi.protocols = protocols;
		vi.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
		if (tls) {
			vi.ssl_cert_filepath = h->tls_cert;
			vi.ssl_private_key_filepath = h->tls_key;
		}
		vh = lws_create_vhost(srv->ctx, &vi);
		if (!vh) {
			sb_error("cannot listen on %s", h->listen[i]);
			return -EADDRINUSE;
		}
		/* Port 0: the kernel picked one; the log line names it. */
		sb_info("listening on %s://%s:%d", tls ? "wss" : "ws", host,
			lws_get_vhost_listen_port(vh));
	}
	return 0;
}

static void lws_log_cb(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && line[n - 1] == '\n')
		n--;
	if (level & LLL_ERR)
		sb_warn("lws: %.*s", (int)n, line);
	else
		sb_debug("lws: %.*s", (int)n, line);
}

static int signal_start(void *ud, struct sb_lifecycle *lc)
{
	struct sb_signal_server *srv = ud;
	struct lws_context_creation_info info = {0};
	void *loops[1] = {srv->loop};
	char why[256] = "";
	int r;

	srv->lc = lc;
	r = sb_signal_auth_new(&srv->cfg->auth, &srv->auth, why, sizeof(why));
	if (r < 0) {
		sb_error("[auth] %s", why);
		return r;
	}
	declare_metrics(srv);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_cb);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = loops;
	info.user = srv;
	info.protocols = protocols;
	info.max_http_header_data = 4096;
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		sb_error("cannot create the libwebsockets context (is libwebsockets-evlib-glib "
			 "installed?)");
		return -ENOMEM;
	}
	r = create_vhosts(srv);
	if (r < 0)
		return r;
	sb_bus_subscribe(srv->bus, SB_EV_METRICS_SAMPLE, on_bus_event, srv);
	sb_bus_subscribe(srv->bus, SB_EV_SYS_COMPONENT_READY, on_bus_event, srv);
	sb_bus_subscribe(srv->bus, SB_EV_WS_REPLY, on_bus_event, srv);
	sb_bus_subscribe(srv->bus, SB_EV_WS_EVENT, on_bus_event, srv);
	srv->timer = g_timeout_add(SWEEP_MS, sweep_timer_cb, srv);
	sb_lifecycle_ready(lc, "signal");
	return 0;
}

static void signal_drain(void *ud)
{
	struct sb_signal_server *srv = ud;

	srv->draining = true;
}

static void signal_stop(void *ud)
{
	struct sb_signal_server *srv = ud;

	if (srv->timer) {
		g_source_remove(srv->timer);
		srv->timer = 0;
	}
	srv->draining = true;
	if (srv->ctx) {
		/* Tell clients we are going away (protocol.md 3.1), giving the
		 * loop up to 200 ms to write the close frames. The context
		 * itself is destroyed in sb_signal_server_free, once every
		 * component stopped: libwebsockets 4.1 can leave the GSource of
		 * a connection it closes while destroying attached to the main
		 * context, with its functions in the glib event plugin it then
		 * unloads, so the main context must not be iterated after the
		 * destroy (SIP's stop iterates it: a SEGV in
		 * g_main_context_prepare, seen under load). */
		uint64_t until = sb_clock_mono_us() + 200000;

		sb__signal_close_all(srv, 1001, "going_away");
		lws_cancel_service(srv->ctx);
		while (srv->n_ws > 0 && sb_clock_mono_us() < until)
			g_main_context_iteration(g_main_loop_get_context(srv->loop), FALSE);
	}
}

static void signal_reload(void *ud, struct sb_config *cfg)
{
	struct sb_signal_server *srv = ud;
	struct sb_signal_auth *auth = NULL;
	char why[256] = "";

	/* Keys, limits and allow-lists apply to new requests at once; the
	 * listeners themselves need a restart. */
	if (sb_signal_auth_new(&cfg->auth, &auth, why, sizeof(why)) < 0) {
		sb_error("reload: [auth] %s: keeping the old keys and config", why);
		return;
	}
	sb_signal_auth_free(srv->auth);
	srv->auth = auth;
	sb_config_unref(srv->cfg);
	srv->cfg = sb_config_ref(cfg);
}

const struct sb_component_ops sb_signal_component_ops = {
	.name = "signal",
	.start = signal_start,
	.drain = signal_drain,
	.stop = signal_stop,
	.reload = signal_reload,
};

int sb_signal_api_add(struct sb_signal_server *srv, const char *path, sb_signal_api_cb cb, void *ud)
{
	struct sb__api_route *r;

	if (!path || !cb || strlen(path) >= sizeof(r->path))
		return -EINVAL;
	if (srv->n_api >= SB_ARRAY_SIZE(srv->api))
		return -ENOSPC;
	r = &srv->api[srv->n_api++];
	memcpy(r->path, path, strlen(path) + 1);
	r->cb = cb;
	r->action = NULL;
	r->ud = ud;
	return 0;
}

int sb_signal_api_add_action(struct sb_signal_server *srv, const char *prefix,
			     sb_signal_api_action_cb cb, void *ud)
{
	struct sb__api_route *r;

	if (!prefix || !cb || strlen(prefix) >= sizeof(r->path))
		return -EINVAL;
	if (srv->n_api >= SB_ARRAY_SIZE(srv->api))
		return -ENOSPC;
	r = &srv->api[srv->n_api++];
	memcpy(r->path, prefix, strlen(prefix) + 1);
	r->cb = NULL;
	r->action = cb;
	r->ud = ud;
	return 0;
}

int sb_signal_metrics_add(struct sb_signal_server *srv, sb_signal_metrics_cb cb, void *ud)
{
	return sb_metrics_collector_add(srv->metrics, cb, ud);
}
