/* WebSocket side of the signal component: connections, protocol v1 requests,
 * sessions and resume, limits, keepalive. Runs inside libwebsockets callbacks
 * on the control thread; owns every connection and session object. */
#define SB_LOG_COMP SB_COMP_SIGNAL

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/ids.h"
#include "log/log.h"
#include "signal/server.h"

static const struct sb_config_http *http_cfg(const struct sb_signal_server *srv)
{
	return &srv->cfg->http;
}

void sb__signal_count_error(struct sb_signal_server *srv, int code)
{
	char name[64], labels[128];

	snprintf(labels, sizeof(labels), "code=\"%d\",name=\"%s\"", code,
		 sb_signal_err_name(code, name, sizeof(name)));
	sb_metrics_add(srv->metrics, "switchboard_ws_errors_total", labels, 1);
}

static void outmsg_free(gpointer p)
{
	struct sb__outmsg *m = p;

	free(m->text);
	free(m);
}

/* Queues text (taking it) for the socket; NULL text (out of memory) is
 * dropped but still counts as an answer. */
static void conn_send(struct sb__conn *c, char *text, bool response)
{
	struct sb__outmsg *m;

	if (!text || !c->wsi || !(m = calloc(1, sizeof(*m)))) {
		free(text);
		if (response && c->pending)
			c->pending--;
		return;
	}
	m->text = text;
	m->len = strlen(text);
	m->response = response;
	g_queue_push_tail(&c->out, m);
	if (c->out.length > SB__OUT_MAX && !c->close_code) {
		/* A client that does not read: drop what waits and close. */
		sb_info("connection %llu: %u messages unread, closing", (unsigned long long)c->id,
			c->out.length);
		g_queue_clear_full(&c->out, outmsg_free);
		c->close_code = 4002;
		snprintf(c->close_name, sizeof(c->close_name), "slow_consumer");
	}
	lws_callback_on_writable(c->wsi);
}

static void conn_close(struct sb__conn *c, int code, const char *name)
{
	if (c->close_code)
		return;
	c->close_code = code;
	snprintf(c->close_name, sizeof(c->close_name), "%s", name);
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void reply_error(struct sb__conn *c, const char *id, int code, const char *message)
{
	char name[64];

	sb__signal_count_error(c->srv, code);
	conn_send(c, sb_signal_msg_error(id, code, message), true);
	if (sb_signal_err_is_violation(code) &&
	    ++c->violations >= (unsigned)http_cfg(c->srv)->max_violations) {
		sb_info("connection %llu: %u violations, closing", (unsigned long long)c->id,
			c->violations);
		conn_close(c, 4002, sb_signal_err_name(code, name, sizeof(name)));
	}
}

static void reply_result(struct sb__conn *c, const char *id, json_t *result)
{
	conn_send(c, sb_signal_msg_result(id, result), true);
	json_decref(result);
}

static void post(struct sb_signal_server *srv, enum sb_event_type type, uint64_t conn, int64_t arg1,
		 const char *str, char *text)
{
	struct sb_event ev = {.type = type, .arg = {(int64_t)conn, arg1}, .text = text};

	if (str)
		snprintf(ev.str, sizeof(ev.str), "%s", str);
	if (sb_bus_post(srv->bus, &ev) < 0)
		sb_warn("bus refused %s", sb_event_desc(type)->name);
}

/* ---- sessions ---- */

static void session_end(struct sb_signal_server *srv, struct sb__session *s)
{
	post(srv, SB_EV_WS_SESSION_ENDED, 0, 0, s->id, NULL);
	g_hash_table_remove(srv->sessions, s->id); /* frees it */
}

static int session_rotate(struct sb__session *s)
{
	return sb_id_random_hex(s->resume, sizeof(s->resume), 32);
}

static struct sb__session *session_by_resume(struct sb_signal_server *srv, const char *token)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct sb__session *s = v;

		/* Constant-time enough for 64 hex digits: compare all of them. */
		unsigned diff = strlen(token) != 64;

		for (size_t i = 0; i < 64 && !diff; i++)
			diff |= (unsigned)(s->resume[i] ^ token[i]);
		if (!diff)
			return s;
	}
	return NULL;
}

static json_t *hello_result(struct sb__conn *c, bool resumed)
{
	const struct sb_config_http *h = http_cfg(c->srv);
	struct sb__session *s = c->session;
	json_t *may = json_array();

	for (size_t i = 0; i < s->ident.n_may_dial; i++)
		json_array_append_new(may, json_string(s->ident.may_dial[i]));
	return json_pack(
		"{s:s, s:s, s:b, s:I, s:I, s:I, s:{s:s, s:s, s:o}, s:{s:I, s:I, s:I, s:I}}",
		"session", s->id, "resume_token", s->resume, "resumed", resumed, "ping_interval_ms",
		(json_int_t)h->ping_interval_ms, "idle_timeout_ms", (json_int_t)h->idle_timeout_ms,
		"resume_window_ms", (json_int_t)h->resume_window_ms, "identity", "user",
		s->ident.user, "display_name", s->ident.display_name, "may_dial", may, "limits",
		"max_frame", (json_int_t)h->max_frame, "max_msgs_per_sec",
		(json_int_t)h->max_msgs_per_sec, "max_pending", (json_int_t)h->max_pending,
		"max_calls", (json_int_t)h->max_calls_per_conn);
}

static int hello_resume(struct sb__conn *c, const char *token, struct sb_signal_identity *id)
{
	struct sb_signal_server *srv = c->srv;
	struct sb__session *s = session_by_resume(srv, token);
	uint64_t now = sb_clock_mono_us();

	if (!s || strcmp(s->ident.user, id->user) != 0 ||
	    (!s->conn && now - s->detached_us > (uint64_t)http_cfg(srv)->resume_window_ms * 1000))
		return -ENOENT;
	if (s->conn) {
		/* A half-open old socket: the new one takes over (protocol.md 3.5). */
		json_t *d = json_pack("{s:i, s:s}", "code", 4009, "name", "session_taken_over");

		conn_send(s->conn, sb_signal_msg_event("session.closing", d), false);
		json_decref(d);
		s->conn->session = NULL;
		conn_close(s->conn, 4009, "session_taken_over");
	}
	sb_signal_identity_clear(&s->ident);
	s->ident = *id;
	memset(id, 0, sizeof(*id));
	s->conn = c;
	c->session = s;
	return session_rotate(s);
}

static int hello_new(struct sb__conn *c, struct sb_signal_identity *id)
{
	struct sb__session *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->id[0] = 's';
	s->id[1] = '-';
	if (sb_id_random_hex(s->id + 2, sizeof(s->id) - 2, 8) < 0 || session_rotate(s) < 0) {
		free(s);
		return -EIO;
	}
	s->ident = *id;
	memset(id, 0, sizeof(*id));
	s->conn = c;
	c->session = s;
	g_hash_table_insert(c->srv->sessions, s->id, s);
	return 0;
}

static void do_hello(struct sb__conn *c, struct sb_signal_request *req)
{
	struct sb_signal_server *srv = c->srv;
	const char *token = json_string_value(json_object_get(req->params, "token"));
	const char *resume = json_string_value(json_object_get(req->params, "resume"));
	struct sb_signal_identity id = {0};
	struct sb_signal_error err = {0};
	char name[64];

	if (c->session)
		return reply_error(c, req->id, SB_SIGNAL_E_ALREADY_AUTHENTICATED,
				   "this connection is authenticated already");
	if (srv->draining)
		return reply_error(c, req->id, SB_SIGNAL_E_DRAINING, "the server is shutting down");
	if (sb_signal_auth_verify(srv->auth, token, (int64_t)(sb_clock_real_us() / 1000000), &id,
				  &err) < 0) {
		sb_info("connection %llu: authentication refused: %s", (unsigned long long)c->id,
			err.message);
		reply_error(c, req->id, err.code, err.message);
		c->no_resume = true;
		conn_close(c, 4001, sb_signal_err_name(err.code, name, sizeof(name)));
		return;
	}
	if (resume && hello_resume(c, resume, &id) == 0) {
		/* A new address means the media path changed too: the engine
		 * restarts ICE for the session's calls (RFC 8445 section 9). */
		bool moved = strcmp(c->session->remote, c->remote) != 0;

		sb_info("connection %llu: session %s resumed by %s%s", (unsigned long long)c->id,
			c->session->id, c->session->ident.user, moved ? " from a new address" : "");
		snprintf(c->session->remote, sizeof(c->session->remote), "%s", c->remote);
		post(srv, SB_EV_WS_RESUMED, c->id, moved, c->session->id,
		     strdup(c->session->ident.user));
		reply_result(c, req->id, hello_result(c, true));
	} else if (resume) {
		reply_error(c, req->id, SB_SIGNAL_E_RESUME_FAILED,
			    "resume token unknown, used, for another user or expired");
	} else if (hello_new(c, &id) == 0) {
		sb_info("connection %llu: session %s for %s", (unsigned long long)c->id,
			c->session->id, c->session->ident.user);
		snprintf(c->session->remote, sizeof(c->session->remote), "%s", c->remote);
		post(srv, SB_EV_WS_CONNECTED, c->id, 0, c->session->id,
		     strdup(c->session->ident.user));
		reply_result(c, req->id, hello_result(c, false));
	} else {
		reply_error(c, req->id, SB_SIGNAL_E_INTERNAL, "could not create the session");
	}
	sb_signal_identity_clear(&id);
}

static void do_ping(struct sb__conn *c, struct sb_signal_request *req)
{
	reply_result(c, req->id,
		     json_pack("{s:I}", "time_ms", (json_int_t)(sb_clock_real_us() / 1000)));
}

static void do_bye(struct sb__conn *c, struct sb_signal_request *req)
{
	reply_result(c, req->id, json_object());
	c->no_resume = true;
	conn_close(c, 1000, "bye");
}

static const enum sb_event_type call_events[_SB_SIGNAL_M_MAX] = {
	[SB_SIGNAL_M_CALL_DIAL] = SB_EV_WS_CALL_DIAL,
	[SB_SIGNAL_M_CALL_ANSWER] = SB_EV_WS_CALL_ANSWER,
	[SB_SIGNAL_M_CALL_HANGUP] = SB_EV_WS_CALL_HANGUP,
	[SB_SIGNAL_M_CALL_DTMF] = SB_EV_WS_CALL_DTMF,
	[SB_SIGNAL_M_CALL_HOLD] = SB_EV_WS_CALL_HOLD,
	[SB_SIGNAL_M_CALL_TRANSFER] = SB_EV_WS_CALL_TRANSFER,
	[SB_SIGNAL_M_CALL_ICE] = SB_EV_WS_ICE_CANDIDATE,
	[SB_SIGNAL_M_CALL_CONSULT] = SB_EV_WS_CALL_CONSULT,
	[SB_SIGNAL_M_CALL_CONSULT_END] = SB_EV_WS_CALL_CONSULT_END,
	[SB_SIGNAL_M_CALL_MUTE] = SB_EV_WS_CALL_MUTE,
	[SB_SIGNAL_M_PRESENCE_SET] = SB_EV_WS_PRESENCE_SET,
};

/* Call methods and presence.set go to the engine as bus events; its
 * WS_REPLY answers them. */
static void do_call(struct sb__conn *c, struct sb_signal_request *req)
{
	struct sb_signal_server *srv = c->srv;
	struct sb__session *s = c->session;
	struct sb__inflight *f;
	json_t *j;

	if (req->method == SB_SIGNAL_M_CALL_DIAL) {
		const char *to = json_string_value(json_object_get(req->params, "to"));

		if (!sb_signal_dial_allowed(s->ident.may_dial, s->ident.n_may_dial, to))
			return reply_error(c, req->id, SB_SIGNAL_E_NOT_ALLOWED,
					   "the token does not allow this destination");
		if (s->calls >= (unsigned)http_cfg(srv)->max_calls_per_conn)
			return reply_error(c, req->id, SB_SIGNAL_E_TOO_MANY_CALLS,
					   "this session holds max_calls calls");
		if (srv->draining)
			return reply_error(c, req->id, SB_SIGNAL_E_DRAINING,
					   "the server is shutting down");
	}
	/* A transfer or a consultation dials on the agent's behalf: the same
	 * token check (a transfer without to completes a consultation). */
	if ((req->method == SB_SIGNAL_M_CALL_CONSULT ||
	     (req->method == SB_SIGNAL_M_CALL_TRANSFER && json_object_get(req->params, "to"))) &&
	    !sb_signal_dial_allowed(s->ident.may_dial, s->ident.n_may_dial,
				    json_string_value(json_object_get(req->params, "to"))))
		return reply_error(c, req->id, SB_SIGNAL_E_NOT_ALLOWED,
				   "the token does not allow this destination");
	if (!srv->engine_ready)
		return reply_error(c, req->id, SB_SIGNAL_E_NOT_AVAILABLE,
				   "the call engine is not running");
	f = calloc(1, sizeof(*f));
	j = json_pack("{s:s, s:s, s:s, s:O}", "id", req->id, "method",
		      sb_signal_method_name(req->method), "user", s->ident.user, "params",
		      req->params);
	if (!f || !j) {
		free(f);
		json_decref(j);
		return reply_error(c, req->id, SB_SIGNAL_E_INTERNAL, "out of memory");
	}
	f->seq = ++srv->next_seq;
	f->method = req->method;
	memcpy(f->id, req->id, sizeof(f->id));
	g_queue_push_tail(&c->inflight, f);
	post(srv, call_events[req->method], c->id, (int64_t)f->seq, s->id,
	     json_dumps(j, JSON_COMPACT));
	json_decref(j);
}

static void dispatch(struct sb__conn *c, struct sb_signal_request *req)
{
	switch (req->method) {
	case SB_SIGNAL_M_HELLO:
		return do_hello(c, req);
	case SB_SIGNAL_M_PING:
		return do_ping(c, req);
	case SB_SIGNAL_M_BYE:
		return do_bye(c, req);
	default:
		return do_call(c, req);
	}
}

/* Limits checked before the message is read (protocol.md section 8). */
static int admit(struct sb__conn *c)
{
	const struct sb_config_http *h = http_cfg(c->srv);
	uint64_t now = sb_clock_mono_us();
	double rate = (double)h->max_msgs_per_sec;

	/* A token bucket (rate and burst max_msgs_per_sec): messages that a
	 * slow network delivers in a bunch are not punished, because the bucket
	 * filled while they were on the way. */
	c->rate_tokens += (double)(now - c->rate_last_us) * rate / 1e6;
	if (c->rate_tokens > rate)
		c->rate_tokens = rate;
	c->rate_last_us = now;
	if (c->rate_tokens < 1.0)
		return SB_SIGNAL_E_RATE_LIMITED;
	c->rate_tokens -= 1.0;
	if (c->pending > (unsigned)h->max_pending)
		return SB_SIGNAL_E_TOO_MANY_PENDING;
	return 0;
}

static void handle_message(struct sb__conn *c)
{
	struct sb_signal_request req;
	struct sb_signal_error err = {0};
	int limit;

	c->msgs_in++;
	c->pending++;
	sb_metrics_add(c->srv->metrics, "switchboard_ws_messages_received_total", NULL, 1);
	if (c->rx_oversize)
		return reply_error(c, NULL, SB_SIGNAL_E_FRAME_TOO_LARGE,
				   "message larger than max_frame");
	if (c->rx_binary)
		return reply_error(c, NULL, SB_SIGNAL_E_BINARY, "binary messages are not used");
	if ((limit = admit(c)) != 0)
		return reply_error(c, NULL, limit,
				   limit == SB_SIGNAL_E_RATE_LIMITED ? "more than max_msgs_per_sec"
								     : "more than max_pending");
	if (sb_signal_msg_decode(c->rx ? c->rx : "", c->rx_len, &req, &err) < 0) {
		reply_error(c, req.id, err.code, err.message);
	} else if (!c->session && req.method != SB_SIGNAL_M_HELLO) {
		reply_error(c, req.id, SB_SIGNAL_E_NOT_AUTHENTICATED, "send hello first");
	} else {
		dispatch(c, &req);
	}
	sb_signal_request_clear(&req);
}

/* Grows the reassembly buffer geometrically: idle connections hold little. */
static int rx_reserve(struct sb__conn *c, size_t need)
{
	size_t cap = c->rx_cap ? c->rx_cap : 1024;
	char *n;

	if (need <= c->rx_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	n = realloc(c->rx, cap);
	if (!n)
		return -ENOMEM;
	c->rx = n;
	c->rx_cap = cap;
	return 0;
}

/* Reassembles fragments; keeps at most max_frame bytes (protocol.md 1). */
static void on_receive(struct sb__conn *c, const void *in, size_t len)
{
	size_t max = (size_t)http_cfg(c->srv)->max_frame;

	c->last_rx_us = sb_clock_mono_us();
	if (lws_is_first_fragment(c->wsi)) {
		c->rx_len = 0;
		c->rx_oversize = false;
		c->rx_binary = lws_frame_is_binary(c->wsi);
	}
	if (!c->rx_oversize && !c->rx_binary) {
		if (c->rx_len + len > max || rx_reserve(c, c->rx_len + len) < 0) {
			c->rx_oversize = true;
		} else {
			memcpy(c->rx + c->rx_len, in, len);
			c->rx_len += len;
		}
	}
	if (lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi)) {
		handle_message(c);
		c->rx_len = 0;
		c->rx_oversize = false;
	}
}

static int on_writeable(struct sb__conn *c)
{
	struct sb__outmsg *m = g_queue_pop_head(&c->out);
	unsigned char ping[LWS_PRE + 4];

	if (m) {
		unsigned char *buf = malloc(LWS_PRE + m->len);
		int n = -1;

		if (buf) {
			memcpy(buf + LWS_PRE, m->text, m->len);
			n = lws_write(c->wsi, buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
			free(buf);
		}
		if (m->response && c->pending)
			c->pending--;
		c->msgs_out++;
		sb_metrics_add(c->srv->metrics, "switchboard_ws_messages_sent_total", NULL, 1);
		free(m->text);
		free(m);
		if (n < 0)
			return -1;
	} else if (c->ping_due) {
		c->ping_due = false;
		/* A payload: lws 4.1 does not report empty pongs. */
		memcpy(ping + LWS_PRE, "sb", 2);
		if (lws_write(c->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0)
			return -1;
	} else if (c->close_code) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_name, strlen(c->close_name));
		return -1;
	}
	if (c->out.length || c->ping_due || c->close_code)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static struct sb__conn *conn_new(struct sb_signal_server *srv, struct lws *wsi)
{
	struct sb__conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = sb_id_next();
	c->wsi = wsi;
	c->srv = srv;
	c->connected_us = c->last_rx_us = c->last_ping_us = c->rate_last_us = sb_clock_mono_us();
	c->rate_tokens = (double)http_cfg(srv)->max_msgs_per_sec;
	c->tls = lws_is_ssl(wsi);
	lws_get_peer_simple(wsi, c->remote, sizeof(c->remote));
	if (lws_hdr_copy(wsi, c->origin, sizeof(c->origin), WSI_TOKEN_ORIGIN) < 0)
		c->origin[0] = '\0';
	g_queue_init(&c->out);
	g_queue_init(&c->inflight);
	g_hash_table_insert(srv->conns, &c->id, c);
	srv->n_ws++;
	return c;
}

static void conn_closed(struct sb__conn *c)
{
	struct sb_signal_server *srv = c->srv;
	struct sb__session *s = c->session;

	if (s) {
		bool resumable = !c->no_resume && http_cfg(srv)->resume_window_ms > 0;

		s->conn = NULL;
		s->detached_us = sb_clock_mono_us();
		post(srv, SB_EV_WS_DISCONNECTED, c->id, resumable, s->id, NULL);
		if (!resumable)
			session_end(srv, s);
	}
	g_queue_clear_full(&c->out, outmsg_free);
	g_queue_clear_full(&c->inflight, free);
	free(c->rx);
	g_hash_table_remove(srv->conns, &c->id);
	srv->n_ws--;
	free(c);
}

int sb__signal_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	struct sb_signal_server *srv = lws_context_user(lws_get_context(wsi));
	struct sb__conn **pc = user, *c = pc ? *pc : NULL;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		*pc = conn_new(srv, wsi);
		if (!*pc)
			return -1;
		sb_debug("connection %llu from %s", (unsigned long long)(*pc)->id, (*pc)->remote);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c && !c->close_code)
			on_receive(c, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c)
			c->last_rx_us = sb_clock_mono_us();
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writeable(c) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			c->wsi = NULL;
			conn_closed(c);
			*pc = NULL;
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv && srv->sweep_due)
			sb__signal_sweep(srv);
		return 0;
	default:
		return 0;
	}
}

static void sweep_conn(struct sb__conn *c, uint64_t now)
{
	const struct sb_config_http *h = http_cfg(c->srv);

	if (c->close_code || !c->wsi)
		return;
	if (!c->session && now - c->connected_us > (uint64_t)h->hello_timeout_ms * 1000) {
		c->no_resume = true;
		conn_close(c, 4001, "hello_timeout");
	} else if (now - c->last_rx_us > (uint64_t)h->idle_timeout_ms * 1000) {
		json_t *d = json_pack("{s:i, s:s}", "code", 4008, "name", "idle_timeout");

		if (c->session)
			conn_send(c, sb_signal_msg_event("session.closing", d), false);
		json_decref(d);
		conn_close(c, 4008, "idle_timeout");
	} else if (now - c->last_ping_us >= (uint64_t)h->ping_interval_ms * 1000) {
		c->last_ping_us = now;
		c->ping_due = true;
		lws_callback_on_writable(c->wsi);
	}
}

/* Keepalive, hello and idle timeouts, expired detached sessions. Runs
 * inside an lws callback (EVENT_WAIT_CANCELLED) so that writes it asks for
 * start at once. */
void sb__signal_sweep(struct sb_signal_server *srv)
{
	uint64_t now = sb_clock_mono_us(),
		 window = (uint64_t)http_cfg(srv)->resume_window_ms * 1000;
	GHashTableIter it;
	gpointer k, v;
	GSList *ended = NULL;

	srv->sweep_due = false;
	g_hash_table_iter_init(&it, srv->conns);
	while (g_hash_table_iter_next(&it, &k, &v))
		sweep_conn(v, now);
	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct sb__session *s = v;

		if (!s->conn && now - s->detached_us > window)
			ended = g_slist_prepend(ended, s);
	}
	for (GSList *l = ended; l; l = l->next) {
		sb_info("session %s: resume window over", ((struct sb__session *)l->data)->id);
		session_end(srv, l->data);
	}
	g_slist_free(ended);
	sb_metrics_set(srv->metrics, "switchboard_ws_connections", NULL, srv->n_ws);
}

void sb__signal_close_all(struct sb_signal_server *srv, int code, const char *name)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, srv->conns);
	while (g_hash_table_iter_next(&it, &k, &v))
		conn_close(v, code, name);
}

/* The engine's answer to a request it was handed (WS_REPLY). */
void sb__signal_on_reply(struct sb_signal_server *srv, uint64_t conn, uint64_t seq,
			 const char *text);
void sb__signal_on_reply(struct sb_signal_server *srv, uint64_t conn, uint64_t seq,
			 const char *text)
{
	struct sb__conn *c = g_hash_table_lookup(srv->conns, &conn);
	json_t *j = text ? json_loads(text, 0, NULL) : NULL, *e;

	for (GList *l = c ? c->inflight.head : NULL; l; l = l->next) {
		struct sb__inflight *f = l->data;

		if (f->seq != seq)
			continue;
		g_queue_delete_link(&c->inflight, l);
		if ((e = json_object_get(j, "error")) != NULL) {
			int code = (int)json_integer_value(json_object_get(e, "code"));
			int retry = (int)json_integer_value(json_object_get(e, "retry_after"));

			sb__signal_count_error(srv, code);
			conn_send(c,
				  sb_signal_msg_error_retry(
					  f->id, code,
					  json_string_value(json_object_get(e, "message")), retry),
				  true);
		} else {
			/* A dialled call now counts against max_calls_per_conn. */
			if (f->method == SB_SIGNAL_M_CALL_DIAL && c->session)
				c->session->calls++;
			reply_result(c, f->id, json_incref(json_object_get(j, "result")));
		}
		free(f);
		break;
	}
	json_decref(j);
	lws_cancel_service(srv->ctx);
}

/* An engine event for a session (WS_EVENT): sent when attached. */
void sb__signal_on_event(struct sb_signal_server *srv, const char *session, const char *text);
void sb__signal_on_event(struct sb_signal_server *srv, const char *session, const char *text)
{
	struct sb__session *s = g_hash_table_lookup(srv->sessions, session);
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	const char *ev = json_string_value(json_object_get(j, "event"));

	/* The session's call count follows the engine's call events. */
	if (s && ev && strcmp(ev, "call.incoming") == 0)
		s->calls++;
	else if (s && ev && strcmp(ev, "call.ended") == 0 && s->calls > 0)
		s->calls--;
	if (s && s->conn && ev)
		conn_send(s->conn, sb_signal_msg_event(ev, json_object_get(j, "data")), false);
	json_decref(j);
	lws_cancel_service(srv->ctx);
}
