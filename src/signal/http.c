/* HTTP on the signal listeners: upgrade checks (subprotocol, origin,
 * connection limit), /livez, /readyz, /metrics, /api/v1 with bearer admin
 * auth, and static files of [http] web_root. libwebsockets callbacks on the
 * control thread; owns each response body until it is written. */
#define SB_LOG_COMP SB_COMP_HTTP

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/lifecycle.h"
#include "core/strbuf.h"
#include "log/log.h"
#include "signal/server.h"

static int send_response(struct lws *wsi, struct sb__http_pss *p, unsigned code, const char *ctype,
			 char *body, const char *extra_name, const char *extra_value)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *pos = start,
					   *end = buf + sizeof(buf) - 1;
	size_t len = body ? strlen(body) : 0;

	free(p->body);
	p->body = body;
	p->len = len;
	p->sent = 0;
	if (lws_add_http_common_headers(wsi, code, ctype, len, &pos, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &pos, end) ||
	    (extra_name && lws_add_http_header_by_name(wsi, (const unsigned char *)extra_name,
						       (const unsigned char *)extra_value,
						       (int)strlen(extra_value), &pos, end)) ||
	    lws_finalize_write_http_header(wsi, start, &pos, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int send_text(struct lws *wsi, struct sb__http_pss *p, unsigned code, const char *text)
{
	return send_response(wsi, p, code, "text/plain; charset=utf-8", strdup(text), NULL, NULL);
}

static int send_json_error(struct lws *wsi, struct sb__http_pss *p, unsigned code, const char *name,
			   const char *message)
{
	json_t *j = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", (int)code, "name", name,
			      "message", message);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return send_response(wsi, p, code, "application/json", body,
			     code == 401 ? "www-authenticate:" : NULL, "Bearer");
}

static int write_body(struct lws *wsi, struct sb__http_pss *p)
{
	size_t chunk = p->len - p->sent > 4096 ? 4096 : p->len - p->sent;
	unsigned char buf[LWS_PRE + 4096];
	bool last = p->sent + chunk == p->len;

	if (!p->body || p->head) {
		free(p->body);
		p->body = NULL;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	memcpy(buf + LWS_PRE, p->body + p->sent, chunk);
	if (lws_write(wsi, buf + LWS_PRE, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)chunk)
		return -1;
	p->sent += chunk;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(p->body);
	p->body = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- resources ---- */

static int do_readyz(struct sb_signal_server *srv, struct lws *wsi, struct sb__http_pss *p)
{
	const char *names[SB_LIFECYCLE_MAX];
	size_t n = srv->lc ? sb_lifecycle_not_ready(srv->lc, names, SB_LIFECYCLE_MAX) : 1;
	struct sb_strbuf b;

	if (srv->lc && n == 0 && sb_lifecycle_all_ready(srv->lc) && !srv->draining)
		return send_text(wsi, p, 200, "ready\n");
	sb_strbuf_init(&b);
	sb_strbuf_puts(&b, srv->draining ? "not ready: draining" : "not ready:");
	for (size_t i = 0; srv->lc && i < n; i++)
		sb_strbuf_printf(&b, " %s", names[i]);
	sb_strbuf_puts(&b, "\n");
	return send_response(wsi, p, 503, "text/plain; charset=utf-8", sb_strbuf_steal(&b), NULL,
			     NULL);
}

static int do_metrics(struct sb_signal_server *srv, struct lws *wsi, struct sb__http_pss *p)
{
	struct sb_strbuf b;

	sb__signal_sweep(srv); /* fresh connection and session gauges */
	sb_strbuf_init(&b);
	sb_metrics_render(srv->metrics, &b);
	return send_response(wsi, p, 200, "text/plain; version=0.0.4; charset=utf-8",
			     sb_strbuf_steal(&b), NULL, NULL);
}

static json_t *api_status(struct sb_signal_server *srv)
{
	const char *names[SB_LIFECYCLE_MAX];
	size_t n = srv->lc ? sb_lifecycle_not_ready(srv->lc, names, SB_LIFECYCLE_MAX) : 0;
	json_t *nr = json_array();
	GHashTableIter it;
	gpointer k, v;
	json_int_t detached = 0;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(nr, json_string(names[i]));
	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, &k, &v))
		detached += ((struct sb__session *)v)->conn == NULL;
	return json_pack("{s:s, s:s, s:I, s:b, s:o, s:I, s:I, s:I}", "version", SB_VERSION, "node",
			 srv->cfg->general.node_name ? srv->cfg->general.node_name : "", "uptime_s",
			 (json_int_t)((sb_clock_mono_us() - srv->start_us) / 1000000), "ready",
			 srv->lc && n == 0 && sb_lifecycle_all_ready(srv->lc), "not_ready", nr,
			 "connections", (json_int_t)srv->n_ws, "sessions",
			 (json_int_t)g_hash_table_size(srv->sessions), "detached_sessions",
			 detached);
}

static json_t *conn_json(const struct sb__conn *c, uint64_t now)
{
	const struct sb__session *s = c->session;

	return json_pack(
		"{s:I, s:s, s:s, s:b, s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:I}", "id",
		(json_int_t)c->id, "remote", c->remote, "origin", c->origin, "tls", c->tls,
		"authenticated", s != NULL, "session", s ? json_string(s->id) : json_null(), "user",
		s ? json_string(s->ident.user) : json_null(), "connected_s",
		(json_int_t)((now - c->connected_us) / 1000000), "messages_in",
		(json_int_t)c->msgs_in, "messages_out", (json_int_t)c->msgs_out, "violations",
		(json_int_t)c->violations, "calls", (json_int_t)(s ? s->calls : 0));
}

static json_t *api_connections(struct sb_signal_server *srv)
{
	json_t *list = json_array();
	uint64_t now = sb_clock_mono_us();
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, srv->conns);
	while (g_hash_table_iter_next(&it, &k, &v))
		json_array_append_new(list, conn_json(v, now));
	return json_pack("{s:o}", "connections", list);
}

/* Compares the whole token in time independent of where it differs. */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0;
}

/* The request's method ("GET", "POST", ...), or NULL for one we do not
 * know. */
static const char *method_of(struct lws *wsi)
{
	static const struct {
		enum lws_token_indexes tok;
		const char *name;
	} methods[] = {
		{WSI_TOKEN_GET_URI, "GET"},	    {WSI_TOKEN_HEAD_URI, "HEAD"},
		{WSI_TOKEN_POST_URI, "POST"},	    {WSI_TOKEN_PUT_URI, "PUT"},
		{WSI_TOKEN_PATCH_URI, "PATCH"},	    {WSI_TOKEN_DELETE_URI, "DELETE"},
		{WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
	};

	for (size_t i = 0; i < SB_ARRAY_SIZE(methods); i++)
		if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
			return methods[i].name;
	return NULL;
}

static bool method_get(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static int send_not_allowed(struct lws *wsi, struct sb__http_pss *p, const char *allow)
{
	json_t *j = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 405, "name",
			      "method_not_allowed", "message", "method not allowed");
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return send_response(wsi, p, 405, "application/json", body, "allow:", allow);
}

static const char *status_name(unsigned code)
{
	switch (code) {
	case 400:
		return "bad_request";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	default:
		return "internal_error";
	}
}

/* A resource with methods (sb_signal_api_add_action) at path, rest being
 * the path after its prefix. */
static int do_api_action(struct lws *wsi, struct sb__http_pss *p, const struct sb__api_route *r,
			 const char *method, const char *rest)
{
	struct sb_signal_api_reply reply = {0};
	unsigned code = r->action(method, rest, &reply, r->ud);

	if (code == 200 && reply.body)
		return send_response(wsi, p, 200, "application/json", reply.body, NULL, NULL);
	free(reply.body);
	if (code == 204)
		return send_response(wsi, p, 204, NULL, NULL, NULL, NULL);
	if (code == 405)
		return send_not_allowed(wsi, p, reply.allow ? reply.allow : "GET");
	if (code < 400 || code > 599)
		code = 500;
	return send_json_error(wsi, p, code, status_name(code),
			       reply.error ? reply.error : "request failed");
}

/* A resource another component serves (sb_signal_api_add,
 * sb_signal_api_add_action). */
static int do_api_route(struct sb_signal_server *srv, struct lws *wsi, struct sb__http_pss *p,
			const char *path, const char *method)
{
	const struct sb__api_route *route = NULL;
	char query[256] = "";
	char *body;

	for (size_t i = 0; i < srv->n_api && !route; i++) {
		const struct sb__api_route *r = &srv->api[i];

		if (r->action ? strncmp(r->path, path, strlen(r->path)) == 0
			      : strcmp(r->path, path) == 0)
			route = r;
	}
	if (!route)
		return send_json_error(wsi, p, 404, "not_found", "no such resource");
	if (route->action)
		return do_api_action(wsi, p, route, method, path + strlen(route->path));
	if (!method_get(method))
		return send_not_allowed(wsi, p, "GET");
	for (int i = 0; lws_hdr_copy_fragment(wsi, query + strlen(query),
					      (int)(sizeof(query) - strlen(query) - 1),
					      WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
	     i++) {
		if (strlen(query) + 2 >= sizeof(query))
			break;
		strncat(query, "&", sizeof(query) - strlen(query) - 1);
	}
	if (*query && query[strlen(query) - 1] == '&')
		query[strlen(query) - 1] = '\0';
	body = route->cb(query, route->ud);
	if (!body)
		return send_json_error(wsi, p, 404, "not_found", "no such resource");
	return send_response(wsi, p, 200, "application/json", body, NULL, NULL);
}

static int do_api(struct sb_signal_server *srv, struct lws *wsi, struct sb__http_pss *p,
		  const char *path, const char *method)
{
	const char *want = srv->cfg->http.admin_token;
	char auth[512] = "";
	json_t *j = NULL;
	char *body;

	if (!want || !want[0])
		return send_json_error(wsi, p, 404, "not_found", "the admin API is disabled");
	if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
	    strncmp(auth, "Bearer ", 7) != 0 || !token_equal(auth + 7, want))
		return send_json_error(wsi, p, 401, "unauthorized",
				       "a valid bearer token is needed");
	if (strcmp(path, "/api/v1/status") == 0 || strcmp(path, "/api/v1/connections") == 0) {
		if (!method_get(method))
			return send_not_allowed(wsi, p, "GET");
		j = strcmp(path, "/api/v1/status") == 0 ? api_status(srv) : api_connections(srv);
	} else {
		return do_api_route(srv, wsi, p, path, method);
	}
	if (!j)
		return send_json_error(wsi, p, 404, "not_found", "no such resource");
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return send_response(wsi, p, 200, "application/json", body, NULL, NULL);
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".d.ts", "application/typescript"},
		{".html", "text/html; charset=utf-8"},
		{".mjs", "text/javascript"},
		{".js", "text/javascript"},
		{".css", "text/css"},
		{".json", "application/json"},
		{".map", "application/json"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".txt", "text/plain; charset=utf-8"},
	};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(path + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* Refuses .., //, backslashes and anything not under web_root. */
static bool path_safe(const char *path)
{
	if (path[0] != '/' || strstr(path, "//") || strchr(path, '\\') || strstr(path, "/../") ||
	    (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0) ||
	    strstr(path, "/./"))
		return false;
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c < 0x20)
			return false;
	return true;
}

static int do_static(struct sb_signal_server *srv, struct lws *wsi, struct sb__http_pss *p,
		     const char *path)
{
	char file[1024];
	struct stat st;
	int n;

	if (!path_safe(path))
		return send_text(wsi, p, 404, "not found\n");
	n = snprintf(file, sizeof(file), "%s%s%s", srv->cfg->http.web_root, path,
		     path[strlen(path) - 1] == '/' ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(file) || stat(file, &st) < 0 || !S_ISREG(st.st_mode))
		return send_text(wsi, p, 404, "not found\n");
	n = lws_serve_http_file(wsi, file, content_type(file), NULL, 0);
	if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
		return -1;
	return 0;
}

static int on_http(struct sb_signal_server *srv, struct lws *wsi, struct sb__http_pss *p,
		   const char *path)
{
	const char *method = method_of(wsi);

	sb_metrics_add(srv->metrics, "switchboard_http_requests_total", NULL, 1);
	p->head = method && strcmp(method, "HEAD") == 0;
	/* The admin API has methods of its own; the rest is read-only. */
	if (method && strncmp(path, "/api/", 5) == 0)
		return do_api(srv, wsi, p, path, method);
	if (!method || !method_get(method))
		return send_text(wsi, p, 405, "method not allowed\n");
	if (strcmp(path, "/livez") == 0)
		return send_text(wsi, p, 200, "ok\n");
	if (strcmp(path, "/readyz") == 0)
		return do_readyz(srv, wsi, p);
	if (strcmp(path, "/metrics") == 0)
		return do_metrics(srv, wsi, p);
	return do_static(srv, wsi, p, path);
}

static bool origin_allowed(struct sb_signal_server *srv, struct lws *wsi)
{
	char *const *allow = srv->cfg->http.origins;
	char origin[256] = "";

	if (!allow || !allow[0])
		return true;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return false;
	for (size_t i = 0; allow[i]; i++)
		if (strcmp(allow[i], origin) == 0)
			return true;
	return false;
}

static bool subprotocol_offered(struct lws *wsi)
{
	char list[256] = "";
	size_t want = strlen(SB_SIGNAL_PROTOCOL);

	if (lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL) <= 0)
		return false;
	/* A comma-separated list (RFC 6455 section 4.1): match whole items. */
	for (const char *t = list; *t;) {
		size_t n;

		while (*t == ' ' || *t == ',')
			t++;
		n = strcspn(t, ", ");
		if (n == want && strncmp(t, SB_SIGNAL_PROTOCOL, want) == 0)
			return true;
		t += n;
	}
	return false;
}

/* protocol.md section 1: refusals before a WebSocket exists. */
static int confirm_upgrade(struct sb_signal_server *srv, struct lws *wsi)
{
	unsigned code = 0;
	const char *why = NULL;

	if (!subprotocol_offered(wsi))
		code = 400, why = "subprotocol switchboard.v1 required";
	else if (!origin_allowed(srv, wsi))
		code = 403, why = "origin not allowed";
	else if (srv->n_ws >= (unsigned)srv->cfg->http.max_connections)
		code = 503, why = "too many connections";
	else if (srv->draining)
		code = 503, why = "draining";
	if (!code)
		return 0;
	sb_info("upgrade refused (%u): %s", code, why);
	sb_metrics_add(srv->metrics, "switchboard_ws_upgrades_refused_total", NULL, 1);
	lws_return_http_status(wsi, code, why);
	return 1;
}

int sb__signal_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct sb_signal_server *srv = ctx ? lws_context_user(ctx) : NULL;
	struct sb__http_pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(srv, wsi, p, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return write_body(wsi, p);
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		/* The admin API's methods take no body: the response is on
		 * its way already (the default would close the connection
		 * under it). */
		return 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(srv, wsi);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (p) {
			free(p->body);
			p->body = NULL;
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv && srv->sweep_due)
			sb__signal_sweep(srv);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
