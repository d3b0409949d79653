/* Harness of the call integration tests (see harness.h): the gateway and
 * SIPp as child processes, browsers as protocol v1 over a WebSocket plus an
 * sb-peer. Runs on the test thread; owns the children it starts, their
 * temporary directory and each browser's socket, peer and main context. */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../signal/harness.h"
#include "schema.h"

#define ADMIN_TOKEN "calls-admin-token"
#define WAIT_MS	    10000 /* responses, ringing, answers */

/* ---- small helpers ---- */

static const char *env_dir(const char *name)
{
	const char *d = getenv(name);

	cr_assert(d, "%s not set (meson sets it)", name);
	return d;
}

/* A port the kernel just gave us for type (SOCK_STREAM or SOCK_DGRAM) on
 * 127.0.0.1; with pair, an even one whose next three are free too (SIPp's
 * RTP echo takes port and port + 2). */
static int free_port(int type, bool pair)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, type, 0), port, ok = 1;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
		getsockname(fd, (struct sockaddr *)&a, &len);
		port = ntohs(a.sin_port);
		close(fd);
		if (!pair)
			return port;
		port &= ~1;
		for (int i = 0; i < 4 && ok; i++) {
			fd = socket(AF_INET, type, 0);
			a.sin_port = htons((uint16_t)(port + i));
			ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
			close(fd);
		}
		if (ok)
			return port;
	}
	cr_assert_fail("no free port");
	return -1;
}

/* True when something is bound to 127.0.0.1:port over UDP. */
static bool udp_port_taken(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool taken;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	taken = bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Prints the last bytes of a log, for a failing test's output. */
static void dump_tail(const char *what, const char *path)
{
	char buf[4096];
	FILE *f = path && path[0] ? fopen(path, "r") : NULL;
	size_t n;

	if (!f)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf) - 1)
		fseek(f, -(long)sizeof(buf) + 1, SEEK_END);
	else
		rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- %s (%s), last %zu bytes ----\n%s\n", what, path, n, buf);
}

/* Forks a child that dies with us, in dir, with stdout and stderr to log. */
static pid_t spawn(const char *dir, const char *log, char *const argv[])
{
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (out < 0 || in < 0 || chdir(dir) < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Runs what is due on ctx (the browsers' media): timers and sockets. */
static void media_pump(GMainContext *ctx)
{
	for (int i = 0; ctx && i < 64 && g_main_context_iteration(ctx, FALSE); i++)
		;
}

/* Waits ms, running ctx meanwhile. */
static void idle(GMainContext *ctx, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000LL;

	do {
		media_pump(ctx);
		g_usleep(2000);
	} while (g_get_monotonic_time() < end);
}

/* Reaps pid within timeout_ms, running ctx meanwhile; returns its wait
 * status or -1 (still runs). */
static int reap(pid_t pid, int timeout_ms, GMainContext *ctx)
{
	gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		media_pump(ctx);
		g_usleep(2000);
	} while (g_get_monotonic_time() < end);
	return -1;
}

/* ---- the gateway ---- */

void ct_gw_start(struct ct_gw *g, const char *extra)
{
	ct_gw_start_trunk(g, NULL, extra);
}

void ct_gw_start_trunk(struct ct_gw *g, const char *trunk_keys, const char *extra)
{
	char conf[4096], path[160];
	char *argv[] = {(char *)env_dir("SB_BINARY"), "-c", g->conf, NULL};

	memset(g, 0, sizeof(*g));
	g->ctx = g_main_context_new();
	snprintf(g->dir, sizeof(g->dir), "/tmp/sb-calls-XXXXXX");
	cr_assert(mkdtemp(g->dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/web", g->dir);
	mkdir(path, 0755);
	snprintf(g->conf, sizeof(g->conf), "%s/sb.conf", g->dir);
	snprintf(g->log, sizeof(g->log), "%s/sb.log", g->dir);
	g->sip_port = free_port(SOCK_DGRAM, false);
	g->http_port = free_port(SOCK_STREAM, false);
	g->trunk_port = free_port(SOCK_DGRAM, false);
	/* RTP and ICE ports below the kernel's ephemeral range, where SIPp's are. */
	snprintf(conf, sizeof(conf),
		 "[general]\nnode_name = sbcalls\ndata_dir = %s/var\n"
		 "[log]\nlevel = info\nformat = json\n"
		 "[sip]\nlisten = udp:127.0.0.1:%d\ntrace = true\n"
		 "[http]\nlisten = ws://127.0.0.1:%d\nweb_root = %s/web\nadmin_token = %s\n"
		 "[auth]\nalgorithms = HS256\nhs256_secret = %s\naudience = switchboard\n"
		 "[media]\nworkers = 1\ninterfaces = 127.0.0.1\nallow_loopback = true\n"
		 "rtp_port_min = 20000\nrtp_port_max = 29999\n"
		 "[trunk far]\nhost = 127.0.0.1\nport = %d\noptions_interval = 0\n%s"
		 "[user bob]\npassword = bob-secret\n"
		 "[route bob]\ndestination = bob\naction = user\ntarget = bob\n"
		 "[route out]\ndestination = 7*\naction = trunk\ntarget = far\n%s",
		 g->dir, g->sip_port, g->http_port, g->dir, ADMIN_TOKEN, CT_SECRET, g->trunk_port,
		 trunk_keys ? trunk_keys : "", extra ? extra : "");
	write_file(g->conf, conf);
	g->pid = spawn(g->dir, g->log, argv);
	for (int i = 0; i < 200; i++) {
		char *body = NULL;
		int st = http_get("127.0.0.1", g->http_port, false, "GET", "/livez", NULL, &body,
				  NULL);

		free(body);
		if (st == 200)
			return;
		if (waitpid(g->pid, NULL, WNOHANG) == g->pid) {
			g->pid = 0;
			break;
		}
		g_usleep(50000);
	}
	dump_tail("switchboard", g->log);
	cr_assert_fail("switchboard did not come up on port %d", g->http_port);
}

void ct_gw_stop(struct ct_gw *g)
{
	char cmd[128];
	int status;

	if (g->pid > 0) {
		bool died = waitpid(g->pid, &status, WNOHANG) == g->pid;

		if (!died) {
			kill(g->pid, SIGTERM);
			status = reap(g->pid, 10000, NULL);
			if (status == -1) {
				kill(g->pid, SIGKILL);
				waitpid(g->pid, &status, 0);
			}
		}
		g->pid = 0;
		if (died || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			dump_tail("switchboard", g->log);
		cr_expect(!died, "switchboard died during the test");
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "switchboard did not stop cleanly on SIGTERM (status %d)", status);
	}
	if (g->dir[0] && !getenv("SB_CALLS_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", g->dir);
		cr_expect(system(cmd) == 0);
	}
	g->dir[0] = '\0';
	if (g->ctx) {
		media_pump(g->ctx);
		g_main_context_unref(g->ctx);
	}
	g->ctx = NULL;
}

json_t *ct_gw_cdr(const struct ct_gw *g, const char *call)
{
	for (int i = 0; i < 50; i++) {
		char *body = NULL;
		int st = http_get("127.0.0.1", g->http_port, false, "GET", "/api/v1/cdrs?limit=50",
				  "Bearer " ADMIN_TOKEN, &body, NULL);
		json_t *r = st == 200 ? json_loads(body, 0, NULL) : NULL, *c;
		size_t k;

		free(body);
		json_array_foreach(json_object_get(r, "cdrs"), k, c)
		{
			if (g_strcmp0(json_string_value(json_object_get(c, "call")), call) == 0) {
				json_incref(c);
				json_decref(r);
				return c;
			}
		}
		json_decref(r);
		idle(g->ctx, 100);
	}
	cr_assert_fail("no CDR for call %s", call);
	return NULL;
}

/* ---- SIPp ---- */

static void sipp_start(struct ct_sipp *s, const struct ct_gw *g, const char *scenario,
		       const char *service, const char *const *keys)
{
	char sf[512], port[16], mport[16], target[40];
	int sip_port = service ? free_port(SOCK_DGRAM, false) : g->trunk_port;
	const char *base = strrchr(scenario, '/') ? strrchr(scenario, '/') + 1 : scenario;
	char *argv[48] = {"sipp",     "-sf",	   sf,	  "-i",		"127.0.0.1",   "-p",  port,
			  "-mi",      "127.0.0.1", "-mp", mport,	"-rtp_echo",   "-m",  "1",
			  "-nostdin", "-timeout",  "50s", "-trace_err", "-error_file", s->err};
	int n = 20;

	memset(s, 0, sizeof(*s));
	s->gw = g;
	s->status = -1;
	snprintf(s->scenario, sizeof(s->scenario), "%s", base);
	snprintf(sf, sizeof(sf), "%s/%s", env_dir("SB_ITEST_DIR"), scenario);
	cr_assert(access(sf, R_OK) == 0, "no scenario %s", sf);
	snprintf(port, sizeof(port), "%d", sip_port);
	snprintf(mport, sizeof(mport), "%d", free_port(SOCK_DGRAM, true));
	snprintf(s->log, sizeof(s->log), "%s/sipp-%s-%s.log", g->dir, service ? "uac" : "uas",
		 base);
	snprintf(s->err, sizeof(s->err), "%s/sipp-%s.err", g->dir, base);
	if (service) {
		argv[n++] = "-s";
		argv[n++] = (char *)service;
		snprintf(target, sizeof(target), "127.0.0.1:%d", g->sip_port);
		argv[n++] = target;
	}
	for (size_t k = 0; keys && keys[k] && keys[k + 1] && n + 3 < 48; k += 2) {
		argv[n++] = "-key";
		argv[n++] = (char *)keys[k];
		argv[n++] = (char *)keys[k + 1];
	}
	s->pid = spawn(g->dir, s->log, argv);
	/* Ready once its SIP port is bound: an INVITE sent earlier would meet
	 * an ICMP port unreachable and fail its transaction at once. */
	for (int i = 0; i < 250 && !udp_port_taken(sip_port); i++)
		idle(g->ctx, 20);
	if (!udp_port_taken(sip_port)) {
		dump_tail("SIPp", s->log);
		cr_assert_fail("SIPp %s did not bind port %d in 5 s", s->scenario, sip_port);
	}
}

void ct_script_start(struct ct_sipp *s, const struct ct_gw *g, const char *script,
		     const char *const *args)
{
	char path[512], sip_port[16];
	const char *base = strrchr(script, '/') ? strrchr(script, '/') + 1 : script;
	char *argv[16] = {"python3", path, sip_port};
	int n = 3;

	memset(s, 0, sizeof(*s));
	s->gw = g;
	s->status = -1;
	snprintf(s->scenario, sizeof(s->scenario), "%s", base);
	snprintf(path, sizeof(path), "%s/%s", env_dir("SB_ITEST_DIR"), script);
	cr_assert(access(path, R_OK) == 0, "no script %s", path);
	snprintf(sip_port, sizeof(sip_port), "%d", g->sip_port);
	for (size_t k = 0; args && args[k] && n < 15; k++)
		argv[n++] = (char *)args[k];
	snprintf(s->log, sizeof(s->log), "%s/script-%s.log", g->dir, base);
	snprintf(s->err, sizeof(s->err), "%s", s->log);
	s->pid = spawn(g->dir, s->log, argv);
}

void ct_sipp_uas_start(struct ct_sipp *s, const struct ct_gw *g, const char *scenario)
{
	sipp_start(s, g, scenario, NULL, NULL);
}

void ct_sipp_uac_start(struct ct_sipp *s, const struct ct_gw *g, const char *scenario,
		       const char *service)
{
	sipp_start(s, g, scenario, service, NULL);
}

void ct_sipp_uac_start_keys(struct ct_sipp *s, const struct ct_gw *g, const char *scenario,
			    const char *service, const char *const *keys)
{
	sipp_start(s, g, scenario, service, keys);
}

void ct_sipp_expect_pass(struct ct_sipp *s, int timeout_ms)
{
	cr_assert(s->pid > 0, "SIPp %s was not started", s->scenario);
	s->status = reap(s->pid, timeout_ms, s->gw->ctx);
	if (s->status == -1) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
	if (s->status != -1 && WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0)
		return;
	dump_tail("switchboard", s->gw->log);
	dump_tail("SIPp", s->log);
	dump_tail("SIPp errors", s->err);
	if (s->status == -1)
		cr_assert_fail("SIPp %s still ran after %d ms (killed)", s->scenario, timeout_ms);
	cr_assert_fail("SIPp %s: %s %d", s->scenario,
		       WIFEXITED(s->status) ? "exit status" : "killed by signal",
		       WIFEXITED(s->status) ? WEXITSTATUS(s->status) : WTERMSIG(s->status));
}

void ct_sipp_kill(struct ct_sipp *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

/* ---- browsers ---- */

static const char *schema_dir(void)
{
	return env_dir("SB_SCHEMA_DIR");
}

static void browser_fail(const struct ct_browser *b, const char *what)
{
	char *pending = json_dumps(b->events, JSON_COMPACT);

	dump_tail("switchboard", b->gw->log);
	cr_assert_fail("%s: %s (session %s, call %s; events not taken: %s)", b->user, what,
		       b->session, b->call, pending ? pending : "?");
}

/* Reads one message within wait_ms and checks it against its schema (a
 * response's result against that of method). NULL when none came. */
static json_t *read_msg(struct ct_browser *b, int wait_ms, const char *method)
{
	char *text, why[256];
	int close_code = 0;
	json_t *m;

	text = ws_read_text(b->ws, wait_ms, &close_code);
	if (close_code)
		browser_fail(b, "the server closed the socket");
	if (!text)
		return NULL;
	cr_assert(schema_validate_message(schema_dir(), text, method, why, sizeof(why)) == 0,
		  "%s: a server message fails its schema: %s\n%s", b->user, why, text);
	m = json_loads(text, 0, NULL);
	free(text);
	return m;
}

/* One turn of the browser's loop: the peer's timers and sockets, then up to
 * 2 ms for a message, which is returned (events are not kept here). */
static json_t *turn(struct ct_browser *b, const char *method)
{
	media_pump(b->gw->ctx);
	if (!b->ws) {
		g_usleep(2000);
		return NULL;
	}
	return read_msg(b, 2, method);
}

static bool is_event(const json_t *m)
{
	return g_strcmp0(json_string_value(json_object_get(m, "type")), "event") == 0;
}

/* Keeps an event; anything else unasked for fails the test. */
static void keep(struct ct_browser *b, json_t *m)
{
	if (!is_event(m)) {
		char *t = json_dumps(m, JSON_COMPACT);

		cr_assert_fail("%s: unexpected message %s", b->user, t);
	}
	json_array_append_new(b->events, m);
}

void ct_browser_run(struct ct_browser *b, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000LL;
	json_t *m;

	while (g_get_monotonic_time() < end)
		if ((m = turn(b, NULL)))
			keep(b, m);
}

static json_t *request_json(struct ct_browser *b, const char *method, json_t *params)
{
	/* call.* results share one schema, call.result */
	const char *rmethod = strncmp(method, "call.", 5) == 0 ? "call" : method;
	char id[16], name[64], why[256], *text;
	gint64 end = g_get_monotonic_time() + WAIT_MS * 1000LL;
	json_t *req, *m;

	snprintf(name, sizeof(name), "%s.params", method);
	cr_assert(schema_validate_file(schema_dir(), name, params, why, sizeof(why)) == 0,
		  "the test sends invalid %s params: %s", method, why);
	snprintf(id, sizeof(id), "r%u", ++b->next_id);
	req = json_pack("{s:s, s:s, s:s, s:o}", "type", "request", "id", id, "method", method,
			"params", params);
	cr_assert(schema_validate_file(schema_dir(), "request", req, why, sizeof(why)) == 0, "%s",
		  why);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	cr_assert(b->ws && ws_send_text(b->ws, text) == 0, "%s: cannot send %s", b->user, method);
	free(text);
	while (g_get_monotonic_time() < end) {
		if (!(m = turn(b, rmethod)))
			continue;
		if (!is_event(m) && g_strcmp0(json_string_value(json_object_get(m, "id")), id) == 0)
			return m;
		keep(b, m);
	}
	browser_fail(b, method);
	return NULL;
}

json_t *ct_browser_request(struct ct_browser *b, const char *method, const char *params)
{
	json_t *p = params ? json_loads(params, 0, NULL) : json_object();

	cr_assert(json_is_object(p), "bad params in the test: %s", params);
	return request_json(b, method, p);
}

static json_t *result_of(struct ct_browser *b, const char *method, json_t *r)
{
	json_t *res = json_incref(json_object_get(r, "result"));

	if (!res) {
		char *t = json_dumps(r, JSON_COMPACT);

		cr_assert_fail("%s: %s failed: %s", b->user, method, t);
	}
	json_decref(r);
	return res;
}

json_t *ct_browser_request_ok(struct ct_browser *b, const char *method, const char *params)
{
	return result_of(b, method, ct_browser_request(b, method, params));
}

/* Takes the oldest kept event named name, or NULL. */
static json_t *take(struct ct_browser *b, const char *name)
{
	size_t i;
	json_t *m;

	json_array_foreach(b->events, i, m)
	{
		if (g_strcmp0(json_string_value(json_object_get(m, "event")), name) == 0) {
			json_t *data = json_incref(json_object_get(m, "data"));

			json_array_remove(b->events, i);
			return data;
		}
	}
	return NULL;
}

json_t *ct_browser_event(struct ct_browser *b, const char *name, int timeout_ms)
{
	gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
	json_t *data, *m;
	char what[96];

	while (!(data = take(b, name)) && g_get_monotonic_time() < end)
		if ((m = turn(b, NULL)))
			keep(b, m);
	if (!data) {
		snprintf(what, sizeof(what), "no %s within %d ms", name, timeout_ms);
		browser_fail(b, what);
	}
	if (strncmp(name, "call.", 5) == 0 && strcmp(name, "call.incoming") != 0)
		cr_assert_str_eq(json_string_value(json_object_get(data, "call")), b->call,
				 "%s: %s for another call", b->user, name);
	return data;
}

/* hello, new or resuming; keeps the session and the new resume token. */
static void hello(struct ct_browser *b, bool resume)
{
	char claims[256], *tok;
	json_t *p, *res;

	snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"name\":\"%s\",\"may_dial\":%s}",
		 b->user, b->user, b->may_dial);
	tok = make_token("HS256", CT_SECRET, claims);
	p = json_pack("{s:i, s:s}", "version", 1, "token", tok);
	free(tok);
	if (resume)
		json_object_set_new(p, "resume", json_string(b->resume_token));
	res = result_of(b, "hello", request_json(b, "hello", p));
	cr_assert_eq(json_is_true(json_object_get(res, "resumed")), resume,
		     "%s: hello resumed is not %d", b->user, resume);
	if (resume)
		cr_assert_str_eq(json_string_value(json_object_get(res, "session")), b->session,
				 "the resumed session is another");
	snprintf(b->session, sizeof(b->session), "%s",
		 json_string_value(json_object_get(res, "session")));
	snprintf(b->resume_token, sizeof(b->resume_token), "%s",
		 json_string_value(json_object_get(res, "resume_token")));
	json_decref(res);
}

static void connect_ws(struct ct_browser *b)
{
	b->ws = ws_open("127.0.0.1", b->gw->http_port, false, NULL);
	cr_assert(b->ws, "%s: no WebSocket to port %d", b->user, b->gw->http_port);
}

void ct_browser_open(struct ct_browser *b, const struct ct_gw *g, const char *user,
		     const char *may_dial)
{
	memset(b, 0, sizeof(*b));
	b->gw = g;
	b->events = json_array();
	snprintf(b->user, sizeof(b->user), "%s", user);
	snprintf(b->may_dial, sizeof(b->may_dial), "%s", may_dial);
	connect_ws(b);
	hello(b, false);
}

void ct_browser_close(struct ct_browser *b)
{
	b->peer = sb_peer_free(b->peer);
	if (b->ws)
		ws_close(b->ws);
	b->ws = NULL;
	json_decref(b->events);
	b->events = NULL;
}

void ct_browser_drop(struct ct_browser *b)
{
	ws_close(b->ws);
	b->ws = NULL;
}

void ct_browser_resume(struct ct_browser *b)
{
	cr_assert(!b->ws, "resume needs a dropped socket");
	connect_ws(b);
	hello(b, true);
}

/* ---- calls ---- */

/* A new peer (the old one freed); answering, remote_offer is set first.
 * Returns its SDP once gathered. */
static const char *peer_make(struct ct_browser *b, enum sb_peer_codec codec, int send_ms,
			     const char *remote_offer)
{
	struct sb_peer_opts o = {.offer = !remote_offer,
				 .codec = codec,
				 .send_ms = send_ms,
				 .grace_ms = 800,
				 .connect_ms = 20000};
	gint64 end = g_get_monotonic_time() + 5000 * 1000LL;
	int r;

	b->peer = sb_peer_free(b->peer);
	b->peer = sb_peer_new(b->gw->ctx, &o);
	cr_assert(b->peer, "sb-peer did not start");
	if (remote_offer)
		cr_assert((r = sb_peer_remote_sdp_set(b->peer, remote_offer)) == 0,
			  "sb-peer refuses the server's offer (%d):\n%s", r, remote_offer);
	while (!sb_peer_local_sdp(b->peer) && g_get_monotonic_time() < end)
		ct_browser_run(b, 5);
	cr_assert(sb_peer_local_sdp(b->peer), "sb-peer did not gather in 5 s");
	return sb_peer_local_sdp(b->peer);
}

json_t *ct_browser_dial(struct ct_browser *b, const char *to, enum sb_peer_codec codec, int send_ms)
{
	const char *sdp = peer_make(b, codec, send_ms, NULL);
	json_t *r = request_json(b, "call.dial", json_pack("{s:s, s:s}", "to", to, "sdp", sdp));
	const char *call = json_string_value(json_object_get(json_object_get(r, "result"), "call"));

	b->call[0] = '\0';
	if (call)
		snprintf(b->call, sizeof(b->call), "%s", call);
	return r;
}

void ct_browser_dial_answered(struct ct_browser *b, const char *to, enum sb_peer_codec codec,
			      int send_ms)
{
	json_t *d = result_of(b, "call.dial", ct_browser_dial(b, to, codec, send_ms));
	const char *sdp;
	int r;

	json_decref(d);
	d = ct_browser_event(b, "call.progress", WAIT_MS);
	cr_assert_eq(json_integer_value(json_object_get(d, "status")), 180);
	json_decref(d);
	d = ct_browser_event(b, "call.answered", WAIT_MS);
	sdp = json_string_value(json_object_get(d, "sdp"));
	cr_assert(sdp, "call.answered without the answer");
	cr_assert((r = sb_peer_remote_sdp_set(b->peer, sdp)) == 0,
		  "sb-peer refuses the server's answer (%d):\n%s", r, sdp);
	json_decref(d);
}

void ct_browser_answer_incoming(struct ct_browser *b, const char *from, enum sb_peer_codec codec,
				int send_ms)
{
	json_t *in = ct_browser_event(b, "call.incoming", WAIT_MS), *p;
	const char *sdp;

	cr_assert_str_eq(json_string_value(json_object_get(in, "from")), from);
	snprintf(b->call, sizeof(b->call), "%s", json_string_value(json_object_get(in, "call")));
	sdp = peer_make(b, codec, send_ms, json_string_value(json_object_get(in, "sdp")));
	p = json_pack("{s:s, s:s}", "call", b->call, "sdp", sdp);
	json_decref(result_of(b, "call.answer", request_json(b, "call.answer", p)));
	json_decref(in);
}

void ct_browser_run_peer(struct ct_browser *b, int timeout_ms, struct sb_peer_stats *ret)
{
	gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
	char *report;

	cr_assert(b->peer, "no peer");
	while (!sb_peer_finished(b->peer) && g_get_monotonic_time() < end)
		ct_browser_run(b, 5);
	sb_peer_stats_get(b->peer, ret);
	report = sb_peer_report_json(b->peer);
	fprintf(stderr, "%s: %s\n", b->user, report);
	if (!sb_peer_finished(b->peer) || ret->error[0])
		dump_tail("switchboard", b->gw->log);
	cr_assert(sb_peer_finished(b->peer), "%s: the peer still runs after %d ms: %s", b->user,
		  timeout_ms, report);
	cr_assert(ret->ice_connected && ret->dtls_done && !ret->error[0], "%s: media failed: %s",
		  b->user, report);
	cr_assert(ret->sent >= 50, "%s: too little audio sent: %s", b->user, report);
	free(report);
}

void ct_browser_expect_echo(struct ct_browser *b, int timeout_ms)
{
	struct sb_peer_stats s;

	ct_browser_run_peer(b, timeout_ms, &s);
	cr_assert(s.received == s.sent && s.lost == 0 && s.corrupt == 0 && s.undecryptable == 0,
		  "%s: not every packet came back intact: sent %u, received %u, lost %u, corrupt "
		  "%u, undecryptable %u",
		  b->user, s.sent, s.received, s.lost, s.corrupt, s.undecryptable);
}

int ct_browser_expect_ended(struct ct_browser *b, const char *reason, const char *error,
			    int timeout_ms)
{
	json_t *d = ct_browser_event(b, "call.ended", timeout_ms), *e;
	char *t = json_dumps(d, JSON_COMPACT);
	int code = 0;

	cr_assert_str_eq(json_string_value(json_object_get(d, "reason")), reason,
			 "%s: call.ended: %s", b->user, t);
	e = json_object_get(d, "error");
	if (error) {
		cr_assert_str_eq(json_string_value(json_object_get(e, "name")), error,
				 "%s: call.ended: %s", b->user, t);
		code = (int)json_integer_value(json_object_get(e, "code"));
	}
	free(t);
	json_decref(d);
	return code;
}

void ct_browser_hangup(struct ct_browser *b, const char *reason)
{
	char params[80];

	snprintf(params, sizeof(params), "{\"call\":\"%s\"}", b->call);
	json_decref(ct_browser_request_ok(b, "call.hangup", params));
	ct_browser_expect_ended(b, reason, NULL, WAIT_MS);
}

json_t *ct_expect_error(json_t *resp, int code, const char *name)
{
	json_t *e = json_object_get(resp, "error");
	char *t = resp ? json_dumps(resp, JSON_COMPACT) : NULL;

	cr_assert(e, "expected error %d %s, got %s", code, name, t);
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), code, "expected %d, got %s",
		     code, t);
	cr_assert_str_eq(json_string_value(json_object_get(e, "name")), name, "got %s", t);
	free(t);
	return e;
}
