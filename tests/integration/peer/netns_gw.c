/* The gateway's media for the network-namespace ICE test (netns_ice.py):
 * the real media component gathering on one address only (argv[1], a veth
 * address; loopback off), answering sb-peer offers that come as JSON lines
 * on stdin ({"type":"offer","peer":i,"sdp":...}) with answer lines on
 * stdout, each WebRTC session bridged to an RTP leg toward a UDP echo here
 * that checks the peers' markers in clear. When stdin closes it prints one
 * report line: {"type":"gateway","echo_rtp":n,"echo_marked":n,
 * "echo_distinct":n,"connected":n,"failed":n} and exits. One thread (plus
 * the media workers). */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "media/media.h"

#define MAX_PEERS 16
#define MAX_SEQ	  4096

struct gw {
	GMainLoop *loop;
	struct sb_media *media;
	char *answers[MAX_PEERS];
	int echo_fd, echo_port;
	unsigned echo_rtp, echo_marked, echo_distinct, connected, failed;
	uint8_t seen[MAX_PEERS][MAX_SEQ]; /* by peer, by marker sequence */
	uint32_t tags[MAX_PEERS];
	unsigned n_tags;
	GString *in;
};

static void line_out(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	if (text) {
		fputs(text, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	free(text);
	json_decref(o);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The SIP side: returns each RTP packet to its sender; counts the peers'
 * packets by the marker in their last 20 payload bytes (magic, tag,
 * sequence), each sequence once per peer. */
static gboolean echo_cb(gint fd, GIOCondition cond, gpointer ud)
{
	struct gw *g = ud;
	uint8_t buf[1500];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	const uint8_t *m;
	unsigned t;
	uint32_t seq;

	if (n < 12 || (buf[1] >= 192 && buf[1] <= 223))
		return G_SOURCE_CONTINUE;
	g->echo_rtp++;
	m = buf + n - 20;
	if (n >= 12 + 20 && memcmp(m, "SBP1", 4) == 0) {
		g->echo_marked++;
		for (t = 0; t < g->n_tags && g->tags[t] != get32(m + 4); t++)
			;
		if (t == g->n_tags && t < MAX_PEERS)
			g->tags[g->n_tags++] = get32(m + 4);
		seq = get32(m + 8);
		if (t < MAX_PEERS && seq < MAX_SEQ && !g->seen[t][seq]) {
			g->seen[t][seq] = 1;
			g->echo_distinct++;
		}
	}
	sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	return G_SOURCE_CONTINUE;
}

static int echo_open(struct gw *g, GMainContext *ctx)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	GSource *src;

	g->echo_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->echo_fd < 0 || bind(g->echo_fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	getsockname(g->echo_fd, (struct sockaddr *)&a, &l);
	g->echo_port = ntohs(a.sin_port);
	src = g_unix_fd_source_new(g->echo_fd, G_IO_IN);
	g_source_set_callback(src, G_SOURCE_FUNC(echo_cb), g, NULL);
	g_source_attach(src, ctx);
	g_source_unref(src);
	return 0;
}

/* Session ids: 2i+1 the WebRTC session of peer i, 2i+2 its RTP leg; the
 * call is i. */
static void event_cb(const struct sb_event *ev, void *ud)
{
	struct gw *g = ud;
	uint64_t id = (uint64_t)ev->arg[0];
	char answer[300];

	if (ev->call >= MAX_PEERS)
		return;
	if (ev->type == SB_EV_MEDIA_FAILED) {
		g->failed++;
		fprintf(stderr, "netns-gw: session %llu failed: %s\n", (unsigned long long)id,
			ev->str);
	} else if (ev->type == SB_EV_MEDIA_READY && id % 2 == 1) {
		g->answers[ev->call] = g_strdup(ev->text);
		sb_media_engine_ops.create(g->media, id + 1, ev->call, 2, SB_MEDIA_RTP, NULL, NULL);
	} else if (ev->type == SB_EV_MEDIA_READY) {
		snprintf(answer, sizeof(answer),
			 "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			 "m=audio %d RTP/AVP 0 111\r\na=rtpmap:0 PCMU/8000\r\n"
			 "a=rtpmap:111 opus/48000/2\r\n",
			 g->echo_port);
		sb_media_engine_ops.update(g->media, id, answer);
	} else if (ev->type == SB_EV_MEDIA_CONNECTED && id % 2 == 0) {
		/* Bridged before the peer sees the answer: no packet is early. */
		sb_media_engine_ops.bridge(g->media, id - 1, id);
		line_out(json_pack("{s:s, s:I, s:s}", "type", "answer", "peer",
				   (json_int_t)ev->call, "sdp", g->answers[ev->call]));
		g_free(g->answers[ev->call]);
		g->answers[ev->call] = NULL;
	} else if (ev->type == SB_EV_MEDIA_CONNECTED) {
		g->connected++;
	}
}

static void line_in(struct gw *g, const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	const char *type = json_string_value(json_object_get(o, "type"));
	const char *sdp = json_string_value(json_object_get(o, "sdp"));
	json_int_t peer = json_integer_value(json_object_get(o, "peer"));

	if (type && strcmp(type, "offer") == 0 && sdp && peer >= 0 && peer < MAX_PEERS)
		sb_media_engine_ops.create(g->media, 2 * (uint64_t)peer + 1, (uint64_t)peer, 1,
					   SB_MEDIA_WEBRTC, sdp, NULL);
	json_decref(o);
}

static gboolean stdin_cb(gint fd, GIOCondition cond, gpointer ud)
{
	struct gw *g = ud;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	char *nl;

	if (n <= 0) {
		g_main_loop_quit(g->loop);
		return G_SOURCE_REMOVE;
	}
	g_string_append_len(g->in, buf, n);
	while ((nl = memchr(g->in->str, '\n', g->in->len))) {
		*nl = '\0';
		line_in(g, g->in->str);
		g_string_erase(g->in, 0, nl - g->in->str + 1);
	}
	return G_SOURCE_CONTINUE;
}

static void config_set(struct sb_config *cfg, const char *address)
{
	for (size_t i = 0; cfg->media.interfaces && cfg->media.interfaces[i]; i++)
		free(cfg->media.interfaces[i]);
	free(cfg->media.interfaces);
	/* [media] interfaces = the veth address; no loopback candidate. */
	cfg->media.interfaces = calloc(2, sizeof(char *));
	cfg->media.interfaces[0] = strdup(address);
	cfg->media.allow_loopback = false;
	cfg->media.workers = 2;
	cfg->media.rtp_port_min = 30000;
	cfg->media.rtp_port_max = 30999;
}

int main(int argc, char **argv)
{
	static const enum sb_event_type types[] = {SB_EV_MEDIA_READY, SB_EV_MEDIA_CONNECTED,
						   SB_EV_MEDIA_FAILED};
	static struct gw g;
	GMainContext *ctx = g_main_context_new();
	struct sb_config *cfg = sb_config_new_default();
	struct sb_lifecycle *lc = sb_lifecycle_new();
	struct sb_bus *control;
	const char *failed = NULL;
	GSource *src;

	if (argc != 2) {
		fprintf(stderr, "usage: netns-gw ADDRESS\n");
		return 2;
	}
	config_set(cfg, argv[1]);
	g.loop = g_main_loop_new(ctx, FALSE);
	g.in = g_string_new(NULL);
	control = sb_bus_new(&cfg->bus, ctx);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		sb_bus_subscribe(control, types[i], event_cb, &g);
	g.media = sb_media_new(cfg, control);
	sb_lifecycle_add(lc, &sb_media_component, g.media);
	if (sb_lifecycle_start(lc, &failed) < 0 || echo_open(&g, ctx) < 0) {
		fprintf(stderr, "netns-gw: start failed (%s)\n", failed ? failed : "echo");
		return 1;
	}
	src = g_unix_fd_source_new(0, G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_set_callback(src, G_SOURCE_FUNC(stdin_cb), &g, NULL);
	g_source_attach(src, ctx);
	g_source_unref(src);
	g_main_loop_run(g.loop);
	line_out(json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "type", "gateway", "echo_rtp",
			   (int)g.echo_rtp, "echo_marked", (int)g.echo_marked, "echo_distinct",
			   (int)g.echo_distinct, "connected", (int)g.connected, "failed",
			   (int)g.failed));
	sb_lifecycle_stop(lc);
	sb_lifecycle_free(lc);
	sb_media_free(g.media);
	sb_bus_free(control);
	sb_config_unref(cfg);
	g_string_free(g.in, TRUE);
	close(g.echo_fd);
	g_main_loop_unref(g.loop);
	g_main_context_unref(ctx);
	return 0;
}
