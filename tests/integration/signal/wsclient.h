/* A minimal WebSocket (RFC 6455) and HTTP/1.1 client for the signal tests:
 * blocking sockets with timeouts, optional TLS, frames built by hand so that
 * tests can send what a browser never would (oversized, binary, fragmented).
 * One thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws;

struct ws_frame {
	int opcode; /* 1 text, 2 binary, 8 close, 9 ping, 10 pong; -1 timeout/EOF */
	char *data; /* NUL-terminated, malloc'd */
	size_t len;
	int close_code; /* for opcode 8 */
};

/* Connects to host:port (tls: wss with no certificate check). Returns NULL on
 * a connection failure. */
struct ws *ws_connect_raw(const char *host, int port, bool tls);
/* Sends an upgrade with the given subprotocol (NULL: none) and origin (NULL:
 * none); returns the HTTP status (101 on success) or -1. */
int ws_upgrade(struct ws *ws, const char *path, const char *protocol, const char *origin);
/* Both in one: NULL unless the status was 101. */
struct ws *ws_open(const char *host, int port, bool tls, const char *origin);
void ws_close(struct ws *ws);
/* Sends one frame (masked, as a client must). fin false: a fragment. */
int ws_send_frame(struct ws *ws, int opcode, const void *data, size_t len, bool fin);
int ws_send_text(struct ws *ws, const char *text);
/* Sends raw bytes as they are (several frames in one write). */
int ws_send_raw(struct ws *ws, const void *data, size_t len);
/* Builds one masked frame into out (size >= len + 14); returns its length. */
size_t ws_build_frame(uint8_t *out, int opcode, const void *data, size_t len, bool fin);
/* Reads the next frame within timeout_ms, answering pings with pongs unless
 * ws_set_auto_pong(false). The caller frees f->data. */
int ws_read_frame(struct ws *ws, int timeout_ms, struct ws_frame *f);
/* Reads frames until a text one (skips pings/pongs); NULL on close/timeout,
 * with *ret_close_code set when a close frame came (else 0). */
char *ws_read_text(struct ws *ws, int timeout_ms, int *ret_close_code);
void ws_set_auto_pong(struct ws *ws, bool on);
unsigned ws_pings_seen(const struct ws *ws);

/* One HTTP GET (or HEAD) on a fresh connection. Returns the status, the body
 * (malloc'd) and the raw headers (malloc'd, may be NULL). */
int http_get(const char *host, int port, bool tls, const char *method, const char *path,
	     const char *auth, char **ret_body, char **ret_headers);
