/* Minimal WebSocket and HTTP client for the signal tests (see wsclient.h). */
#include "wsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct ws {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint8_t buf[1 << 17];
	size_t have;
	bool auto_pong;
	unsigned pings;
};

static int io_wait(struct ws *ws, int timeout_ms)
{
	struct pollfd p = {.fd = ws->fd, .events = POLLIN};

	if (ws->ssl && SSL_pending(ws->ssl) > 0)
		return 1;
	return poll(&p, 1, timeout_ms);
}

static ssize_t io_read(struct ws *ws, void *b, size_t n)
{
	if (ws->ssl) {
		int r = SSL_read(ws->ssl, b, (int)n);

		return r > 0 ? r : -1;
	}
	return read(ws->fd, b, n);
}

int ws_send_raw(struct ws *ws, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = ws->ssl ? SSL_write(ws->ssl, p, (int)len) : write(ws->fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct ws *ws_connect_raw(const char *host, int port, bool tls)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct ws *ws = calloc(1, sizeof(*ws));
	int one = 1;

	ws->auto_pong = true;
	inet_pton(AF_INET, host, &a.sin_addr);
	ws->fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ws->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(ws->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(ws->fd);
		free(ws);
		return NULL;
	}
	if (tls) {
		ws->ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(ws->ctx, SSL_VERIFY_NONE, NULL);
		ws->ssl = SSL_new(ws->ctx);
		SSL_set_fd(ws->ssl, ws->fd);
		SSL_set_tlsext_host_name(ws->ssl, "localhost");
		if (SSL_connect(ws->ssl) != 1) {
			ws_close(ws);
			return NULL;
		}
	}
	return ws;
}

void ws_close(struct ws *ws)
{
	if (!ws)
		return;
	if (ws->ssl)
		SSL_free(ws->ssl);
	if (ws->ctx)
		SSL_CTX_free(ws->ctx);
	close(ws->fd);
	free(ws);
}

/* Reads until the end of the HTTP head; returns its length or -1. */
static int read_head(struct ws *ws, int timeout_ms)
{
	while (1) {
		uint8_t *end = memmem(ws->buf, ws->have, "\r\n\r\n", 4);
		ssize_t n;

		if (end)
			return (int)(end - ws->buf) + 4;
		if (io_wait(ws, timeout_ms) <= 0 || ws->have == sizeof(ws->buf) ||
		    (n = io_read(ws, ws->buf + ws->have, sizeof(ws->buf) - ws->have)) <= 0)
			return -1;
		ws->have += (size_t)n;
	}
}

int ws_upgrade(struct ws *ws, const char *path, const char *protocol, const char *origin)
{
	char req[1024], proto[160] = "", org[300] = "";
	int status = -1, head;

	if (protocol)
		snprintf(proto, sizeof(proto), "Sec-WebSocket-Protocol: %s\r\n", protocol);
	if (origin)
		snprintf(org, sizeof(org), "Origin: %s\r\n", origin);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n%s%s\r\n",
		 path, proto, org);
	if (ws_send_raw(ws, req, strlen(req)) < 0 || (head = read_head(ws, 3000)) < 0)
		return -1;
	if (sscanf((char *)ws->buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	memmove(ws->buf, ws->buf + head, ws->have - (size_t)head);
	ws->have -= (size_t)head;
	return status;
}

struct ws *ws_open(const char *host, int port, bool tls, const char *origin)
{
	struct ws *ws = ws_connect_raw(host, port, tls);

	if (ws && ws_upgrade(ws, "/ws", "switchboard.v1", origin) != 101) {
		ws_close(ws);
		return NULL;
	}
	return ws;
}

size_t ws_build_frame(uint8_t *out, int opcode, const void *data, size_t len, bool fin)
{
	static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	size_t h = 0;

	out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		out[h++] = (uint8_t)(0x80 | len);
	} else if (len < 65536) {
		out[h++] = 0x80 | 126;
		out[h++] = (uint8_t)(len >> 8);
		out[h++] = (uint8_t)len;
	} else {
		out[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	memcpy(out + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		out[h + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
	return h + len;
}

int ws_send_frame(struct ws *ws, int opcode, const void *data, size_t len, bool fin)
{
	uint8_t *f = malloc(len + 14);
	int r = ws_send_raw(ws, f, ws_build_frame(f, opcode, data, len, fin));

	free(f);
	return r;
}

int ws_send_text(struct ws *ws, const char *text)
{
	return ws_send_frame(ws, 1, text, strlen(text), true);
}

static int fill(struct ws *ws, size_t need, int timeout_ms)
{
	while (ws->have < need) {
		ssize_t n;

		if (need > sizeof(ws->buf) || io_wait(ws, timeout_ms) <= 0 ||
		    (n = io_read(ws, ws->buf + ws->have, sizeof(ws->buf) - ws->have)) <= 0)
			return -1;
		ws->have += (size_t)n;
	}
	return 0;
}

int ws_read_frame(struct ws *ws, int timeout_ms, struct ws_frame *f)
{
	size_t h = 2, len;

	memset(f, 0, sizeof(*f));
	f->opcode = -1;
	if (fill(ws, 2, timeout_ms) < 0)
		return -1;
	len = ws->buf[1] & 0x7f;
	if (len == 126)
		h = 4;
	else if (len == 127)
		h = 10;
	if (fill(ws, h, timeout_ms) < 0)
		return -1;
	if (len == 126)
		len = (size_t)ws->buf[2] << 8 | ws->buf[3];
	else if (len == 127)
		for (int i = 0, j = 2; i < 8; i++, j++)
			len = (i ? len << 8 : 0) | ws->buf[j];
	if (fill(ws, h + len, timeout_ms) < 0)
		return -1;
	f->opcode = ws->buf[0] & 0x0f;
	f->data = malloc(len + 1);
	memcpy(f->data, ws->buf + h, len);
	f->data[len] = '\0';
	f->len = len;
	if (f->opcode == 8 && len >= 2)
		f->close_code = (uint8_t)f->data[0] << 8 | (uint8_t)f->data[1];
	memmove(ws->buf, ws->buf + h + len, ws->have - h - len);
	ws->have -= h + len;
	if (f->opcode == 9) {
		ws->pings++;
		if (ws->auto_pong)
			ws_send_frame(ws, 10, f->data, f->len, true);
	}
	return 0;
}

char *ws_read_text(struct ws *ws, int timeout_ms, int *ret_close_code)
{
	struct ws_frame f;

	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ret_close_code)
		*ret_close_code = 0;
	/* timeout_ms bounds the whole call, whatever pings arrive meanwhile */
	while (1) {
		long spent;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms || ws_read_frame(ws, (int)(timeout_ms - spent), &f) < 0)
			break;
		if (f.opcode == 1)
			return f.data;
		if (f.opcode == 8 && ret_close_code)
			*ret_close_code = f.close_code ? f.close_code : 1005;
		free(f.data);
		if (f.opcode == 8)
			return NULL;
	}
	return NULL;
}

void ws_set_auto_pong(struct ws *ws, bool on)
{
	ws->auto_pong = on;
}

unsigned ws_pings_seen(const struct ws *ws)
{
	return ws->pings;
}

int http_get(const char *host, int port, bool tls, const char *method, const char *path,
	     const char *auth, char **ret_body, char **ret_headers)
{
	struct ws *c = ws_connect_raw(host, port, tls);
	char req[1024], authh[600] = "";
	int status = -1, head;
	size_t clen = 0;
	const char *cl;

	*ret_body = NULL;
	if (ret_headers)
		*ret_headers = NULL;
	if (!c)
		return -1;
	if (auth)
		snprintf(authh, sizeof(authh), "Authorization: %s\r\n", auth);
	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", method, path,
		 authh);
	if (ws_send_raw(c, req, strlen(req)) < 0 || (head = read_head(c, 3000)) < 0 ||
	    sscanf((char *)c->buf, "HTTP/1.%*d %d", &status) != 1)
		goto out;
	if (ret_headers)
		*ret_headers = strndup((char *)c->buf, (size_t)head);
	cl = strcasestr((char *)c->buf, "content-length:");
	if (cl && cl < (char *)c->buf + head)
		clen = strtoul(cl + 15, NULL, 10);
	if (strcmp(method, "HEAD") == 0)
		clen = 0;
	if (fill(c, (size_t)head + clen, 3000) < 0) {
		status = -1;
		goto out;
	}
	*ret_body = strndup((char *)c->buf + head, clen);
out:
	ws_close(c);
	return status;
}
