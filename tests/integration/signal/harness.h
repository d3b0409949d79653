/* Test harness for the signal integration tests: runs the real switchboard
 * binary with a temporary config on a free port, makes JWTs, and checks
 * every server message against docs/schema. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "wsclient.h"

struct srv {
	pid_t pid;
	int port;
	char dir[256];
	char conf[320];
	char log[320];
};

/* Starts the binary; extra is appended to [http] (may hold other sections
 * after it). auth_extra goes in [auth]. Fails the test on error. */
void srv_start(struct srv *s, const char *http_extra, const char *auth_extra, bool tls);
/* Creates the temp dir (when not yet made). */
void srv_mkdir(struct srv *s);
/* SIGTERM, waits, asserts a clean exit; srv_stop also removes the dir. */
void srv_halt(struct srv *s);
void srv_stop(struct srv *s);
/* Runs a shell command in the server dir (openssl key generation). */
void srv_sh(const struct srv *s, const char *cmd);

/* A JWT: alg "HS256" with secret, or "ES256"/"RS256" with a PEM private key
 * file; claims is a JSON object text merged over the defaults (sub alice,
 * aud switchboard, exp now+300, may_dial ["1*", "bob"]). */
char *make_token(const char *alg, const char *key, const char *claims);
/* An unsigned token with the given header alg. */
char *make_unsigned_token(const char *alg, const char *claims);

/* Sends a request and reads its response, validating it (and any event read
 * on the way is validated too). Returns the response or NULL (closed). */
json_t *rpc(struct ws *ws, const char *id, const char *method, const char *params_json);
/* Reads the next text message and validates it; NULL on close/timeout. */
json_t *next_msg(struct ws *ws, int timeout_ms, int *ret_close);
/* Asserts resp is an error with this code and name. */
void expect_error(json_t *resp, int code, const char *name);
/* Sends hello with a valid default HS256 token; returns the result object
 * (a new reference). */
json_t *hello_ok(struct ws *ws, const char *secret);
/* Asserts the server closes ws with this close code within timeout_ms. */
void expect_close(struct ws *ws, int code, int timeout_ms);
