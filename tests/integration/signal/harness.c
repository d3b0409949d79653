/* Harness for the signal integration tests (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jwt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "schema.h"

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void srv_sh(const struct srv *s, const char *cmd)
{
	char line[2048];

	snprintf(line, sizeof(line), "cd '%s' && (%s) >/dev/null 2>&1", s->dir, cmd);
	cr_assert(system(line) == 0, "command failed: %s", cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

void srv_mkdir(struct srv *s)
{
	if (s->dir[0])
		return;
	snprintf(s->dir, sizeof(s->dir), "/tmp/sb-signal-XXXXXX");
	cr_assert(mkdtemp(s->dir));
}

void srv_start(struct srv *s, const char *http_extra, const char *auth_extra, bool tls)
{
	const char *bin = getenv("SB_BINARY");
	char path[400], conf[4096], tlsconf[800] = "";

	cr_assert(bin, "SB_BINARY not set");
	srv_mkdir(s);
	s->port = free_port();
	snprintf(path, sizeof(path), "%s/web", s->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/web/index.html", s->dir);
	write_file(path, "<!doctype html><title>switchboard test</title>\n");
	snprintf(path, sizeof(path), "%s/web/sdk.js", s->dir);
	write_file(path, "export const hello = 'switchboard';\n");
	if (tls)
		srv_sh(s, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
			  "-nodes -keyout tls.key -out tls.crt -days 1 -subj /CN=localhost");
	if (tls)
		snprintf(tlsconf, sizeof(tlsconf), "tls_cert = %s/tls.crt\ntls_key = %s/tls.key\n",
			 s->dir, s->dir);
	snprintf(conf, sizeof(conf),
		 "[general]\nnode_name = sbtest\ndata_dir = %s/var\n[log]\nlevel = info\n"
		 "format = json\n[sip]\nlisten =\n"
		 "[http]\nlisten = %s://127.0.0.1:%d\nweb_root = %s/web\n"
		 "admin_token = admintoken123\n%s%s\n"
		 "[auth]\nhs256_secret = test-secret\naudience = switchboard\n%s\n",
		 s->dir, tls ? "wss" : "ws", s->port, s->dir, tlsconf, http_extra ? http_extra : "",
		 auth_extra ? auth_extra : "");
	snprintf(s->conf, sizeof(s->conf), "%s/sb.conf", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/sb.log", s->dir);
	write_file(s->conf, conf);
	s->pid = fork();
	if (s->pid == 0) {
		FILE *l = freopen(s->log, "w", stderr);

		(void)l;
		dup2(2, 1);
		execl(bin, bin, "-c", s->conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		char *body = NULL;
		int st = http_get("127.0.0.1", s->port, tls, "GET", "/livez", NULL, &body, NULL);

		free(body);
		if (st == 200)
			return;
		usleep(50000);
	}
	cr_assert_fail("switchboard did not come up on port %d (log %s)", s->port, s->log);
}

void srv_stop(struct srv *s)
{
	srv_halt(s);
	if (s->dir[0])
		srv_sh(s, "rm -rf -- \"$PWD\"");
	s->dir[0] = '\0';
}

void srv_halt(struct srv *s)
{
	int status = 0;

	if (s->pid <= 0)
		return;
	cr_assert(waitpid(s->pid, &status, WNOHANG) == 0, "switchboard died during the test");
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				  "switchboard exit status %d", status);
			return;
		}
		usleep(50000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	cr_assert_fail("switchboard did not stop on SIGTERM");
}

static void merge_claims(jwt_t *jwt, const char *claims)
{
	json_t *def = json_pack("{s:s, s:s, s:I, s:[s, s], s:s}", "sub", "alice", "aud",
				"switchboard", "exp", (json_int_t)time(NULL) + 300, "may_dial",
				"1*", "bob", "name", "Alice Example");
	json_t *over = claims ? json_loads(claims, 0, NULL) : NULL;
	char *text;

	if (claims)
		cr_assert(over, "bad claims JSON in test: %s", claims);
	if (over)
		json_object_update(def, over);
	/* null in the override removes a default claim */
	{
		const char *k;
		json_t *v;
		void *tmp;

		json_object_foreach_safe(def, tmp, k, v) if (json_is_null(v))
			json_object_del(def, k);
	}
	text = json_dumps(def, JSON_COMPACT);
	cr_assert(jwt_add_grants_json(jwt, text) == 0);
	free(text);
	json_decref(def);
	json_decref(over);
}

char *make_token(const char *alg, const char *key, const char *claims)
{
	jwt_t *jwt = NULL;
	unsigned char kbuf[8192];
	size_t klen;
	char *tok;

	cr_assert(jwt_new(&jwt) == 0);
	merge_claims(jwt, claims);
	if (strcmp(alg, "HS256") == 0 || strcmp(alg, "HS384") == 0) {
		klen = strlen(key);
		memcpy(kbuf, key, klen);
	} else {
		FILE *f = fopen(key, "r");

		cr_assert(f, "no key file %s", key);
		klen = fread(kbuf, 1, sizeof(kbuf), f);
		fclose(f);
	}
	cr_assert(jwt_set_alg(jwt, jwt_str_alg(alg), kbuf, (int)klen) == 0);
	tok = jwt_encode_str(jwt);
	cr_assert(tok);
	jwt_free(jwt);
	return tok;
}

static char *b64url(const char *s)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(s), o = 0;
	char *out = malloc(n * 4 / 3 + 4);
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | (unsigned char)s[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = t[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = t[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return out;
}

char *make_unsigned_token(const char *alg, const char *claims)
{
	char hdr[128], *tok, *h, *c;
	jwt_t *jwt = NULL;
	char *ctext;
	size_t n;

	cr_assert(jwt_new(&jwt) == 0);
	merge_claims(jwt, claims);
	ctext = jwt_get_grants_json(jwt, NULL);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	h = b64url(hdr);
	c = b64url(ctext);
	n = strlen(h) + strlen(c) + 3;
	tok = malloc(n);
	snprintf(tok, n, "%s.%s.", h, c);
	free(h);
	free(c);
	free(ctext);
	jwt_free(jwt);
	return tok;
}

static const char *schema_dir(void)
{
	const char *d = getenv("SB_SCHEMA_DIR");

	cr_assert(d, "SB_SCHEMA_DIR not set");
	return d;
}

json_t *next_msg(struct ws *ws, int timeout_ms, int *ret_close)
{
	char *text = ws_read_text(ws, timeout_ms, ret_close), why[256];
	json_t *m;

	if (!text)
		return NULL;
	m = json_loads(text, 0, NULL);
	cr_assert(m, "server sent invalid JSON: %s", text);
	if (strcmp(json_string_value(json_object_get(m, "type")), "event") == 0)
		cr_assert(schema_validate_message(schema_dir(), text, NULL, why, sizeof(why)) == 0,
			  "event fails its schema: %s\n%s", why, text);
	free(text);
	return m;
}

json_t *rpc(struct ws *ws, const char *id, const char *method, const char *params_json)
{
	char req[16384], why[256];
	json_t *m;

	snprintf(req, sizeof(req), "{\"type\":\"request\",\"id\":\"%s\",\"method\":\"%s\"%s%s}", id,
		 method, params_json ? ",\"params\":" : "", params_json ? params_json : "");
	cr_assert(ws_send_text(ws, req) == 0);
	{
		/* every request envelope the tests send is valid per request.json */
		json_t *q = json_loads(req, JSON_ALLOW_NUL, NULL);

		if (q &&
		    (!json_object_get(q, "params") || json_is_object(json_object_get(q, "params"))))
			cr_assert(schema_validate_file(schema_dir(), "request", q, why,
						       sizeof(why)) == 0,
				  "%s: %s", why, req);
		json_decref(q);
	}
	while ((m = next_msg(ws, 3000, NULL))) {
		char *text;

		if (strcmp(json_string_value(json_object_get(m, "type")), "response") != 0) {
			json_decref(m);
			continue;
		}
		text = json_dumps(m, JSON_COMPACT);
		cr_assert(schema_validate_message(schema_dir(), text, method, why, sizeof(why)) ==
				  0,
			  "response to %s fails its schema: %s\n%s", method, why, text);
		free(text);
		return m;
	}
	return NULL;
}

void expect_error(json_t *resp, int code, const char *name)
{
	json_t *e = json_object_get(resp, "error");
	char *text = resp ? json_dumps(resp, JSON_COMPACT) : strdup("(no response)");

	cr_assert(e, "expected error %d, got %s", code, text);
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), code, "expected %d, got %s",
		     code, text);
	cr_assert_str_eq(json_string_value(json_object_get(e, "name")), name);
	free(text);
}

json_t *hello_ok(struct ws *ws, const char *secret)
{
	char *tok = make_token("HS256", secret ? secret : "test-secret", NULL), params[4096];
	json_t *r, *res;

	snprintf(params, sizeof(params), "{\"version\":1,\"token\":\"%s\"}", tok);
	free(tok);
	{
		/* the request we send is checked against its schema too */
		json_t *p = json_loads(params, 0, NULL);
		char why[256];

		cr_assert(schema_validate_file(schema_dir(), "hello.params", p, why, sizeof(why)) ==
				  0,
			  "%s", why);
		json_decref(p);
	}
	r = rpc(ws, "h1", "hello", params);
	cr_assert(r && json_object_get(r, "result"), "hello failed: %s",
		  r ? json_dumps(r, 0) : "(closed)");
	res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	return res;
}

void expect_close(struct ws *ws, int code, int timeout_ms)
{
	int close = 0;
	json_t *m;

	while ((m = next_msg(ws, timeout_ms, &close)))
		json_decref(m);
	cr_assert_eq(close, code, "expected close %d, got %d", code, close);
}
