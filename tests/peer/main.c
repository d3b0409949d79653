/* sb-peer: runs one or many headless WebRTC peers (tests/peer/peer.h) on one
 * main loop. Signaling-agnostic: each peer's SDP goes out as a JSON line on
 * stdout, the other side's SDP comes in as a JSON line on stdin, and each
 * peer ends with a JSON report line (docs/media.md, "sb-peer"). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

struct cli {
	GMainLoop *loop;
	GMainContext *ctx;
	struct sb_peer **peers;
	bool *sdp_out;
	unsigned n;
	bool offer;
	bool failed;
	gint64 deadline_us;
	unsigned next; /* the next peer for a line that names none */
};

static void usage(FILE *f)
{
	fputs("usage: sb-peer [--offer|--answer] [--codec pcmu|opus] [--seconds N] [--count N]\n"
	      "               [--srtp any|gcm|cm] [--fault NAME] [--address IP]\n"
	      "               [--connect-ms N] [--grace-ms N]\n"
	      "faults: none wrong-fingerprint no-fingerprint dtls10 plain-rtp tamper replay "
	      "no-stun\n"
	      "stdout: {\"type\":\"offer\"|\"answer\",\"peer\":i,\"sdp\":...} then "
	      "{\"type\":\"report\",...}\n"
	      "stdin:  {\"type\":\"answer\"|\"offer\",\"peer\":i,\"sdp\":...} (peer optional)\n",
	      f);
}

static int number(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void line_print(json_t *o)
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

/* Hands one stdin line to its peer: the one it names, else the first that
 * has no remote description yet. */
static void line_take(struct cli *c, const char *line)
{
	json_error_t err;
	json_t *o = json_loads(line, 0, &err);
	const char *sdp = NULL;
	json_int_t idx = -1;

	if (o && json_is_string(json_object_get(o, "type")) &&
	    strcmp(json_string_value(json_object_get(o, "type")), "report") == 0) {
		json_decref(o); /* the other side's report, when piped back to back */
		return;
	}
	if (!o || json_unpack(o, "{s:s, s?I}", "sdp", &sdp, "peer", &idx) < 0) {
		fprintf(stderr, "sb-peer: ignored a line that is not {\"sdp\":...}\n");
		json_decref(o);
		return;
	}
	if (idx < 0)
		idx = (json_int_t)c->next++;
	if (idx >= (json_int_t)c->n) {
		fprintf(stderr, "sb-peer: no peer %lld\n", (long long)idx);
	} else if (sb_peer_remote_sdp_set(c->peers[idx], sdp) < 0) {
		fprintf(stderr, "sb-peer: peer %lld refused the SDP\n", (long long)idx);
	}
	json_decref(o);
}

static gboolean stdin_cb(GIOChannel *ch, GIOCondition cond, gpointer ud)
{
	struct cli *c = ud;
	gchar *line = NULL;
	GIOStatus st;

	st = g_io_channel_read_line(ch, &line, NULL, NULL, NULL);
	if (st == G_IO_STATUS_NORMAL && line && line[0] != '\n')
		line_take(c, line);
	g_free(line);
	return st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR ? G_SOURCE_REMOVE
								: G_SOURCE_CONTINUE;
}

/* Prints SDPs as they become ready; ends when every peer has finished. */
static gboolean tick_cb(gpointer ud)
{
	struct cli *c = ud;
	bool all = true;

	for (unsigned i = 0; i < c->n; i++) {
		const char *sdp = sb_peer_local_sdp(c->peers[i]);

		if (sdp && !c->sdp_out[i]) {
			c->sdp_out[i] = true;
			line_print(json_pack("{s:s, s:i, s:s}", "type",
					     c->offer ? "offer" : "answer", "peer", (int)i, "sdp",
					     sdp));
		}
		all = all && sb_peer_finished(c->peers[i]);
	}
	if (all || g_get_monotonic_time() > c->deadline_us) {
		g_main_loop_quit(c->loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static int opts_parse(int argc, char **argv, struct sb_peer_opts *o, long *count)
{
	static const struct option longs[] = {{"offer", no_argument, NULL, 'o'},
					      {"answer", no_argument, NULL, 'a'},
					      {"codec", required_argument, NULL, 'c'},
					      {"seconds", required_argument, NULL, 's'},
					      {"count", required_argument, NULL, 'n'},
					      {"fault", required_argument, NULL, 'f'},
					      {"srtp", required_argument, NULL, 'p'},
					      {"address", required_argument, NULL, 'A'},
					      {"connect-ms", required_argument, NULL, 'C'},
					      {"grace-ms", required_argument, NULL, 'g'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	long v;
	int k, r = 0;

	while (r == 0 && (k = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (k) {
		case 'o':
		case 'a':
			o->offer = k == 'o';
			break;
		case 'c':
			v = sb_peer_codec_from_name(optarg);
			r = v < 0 ? (int)v : 0;
			o->codec = (enum sb_peer_codec)v;
			break;
		case 'f':
			v = sb_peer_fault_from_name(optarg);
			r = v < 0 ? (int)v : 0;
			o->fault = (enum sb_peer_fault)v;
			break;
		case 'p':
			v = sb_peer_srtp_from_name(optarg);
			r = v < 0 ? (int)v : 0;
			o->srtp = (enum sb_peer_srtp)v;
			break;
		case 'A':
			o->address = optarg;
			break;
		case 's':
			r = number(optarg, 1, 3600, &v);
			o->send_ms = (int)v * 1000;
			break;
		case 'n':
			r = number(optarg, 1, 10000, count);
			break;
		case 'C':
			r = number(optarg, 1, 600000, &v);
			o->connect_ms = (int)v;
			break;
		case 'g':
			r = number(optarg, 1, 600000, &v);
			o->grace_ms = (int)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			r = -EINVAL;
		}
	}
	return r < 0 || optind != argc ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	struct sb_peer_opts o = {
		.offer = true, .send_ms = 5000, .grace_ms = 500, .connect_ms = 10000};
	struct cli c = {0};
	GIOChannel *in;
	long count = 1;
	int rc = 0;

	if (opts_parse(argc, argv, &o, &count) < 0) {
		usage(stderr);
		return 2;
	}
	c.ctx = g_main_context_default();
	c.loop = g_main_loop_new(c.ctx, FALSE);
	c.n = (unsigned)count;
	c.offer = o.offer;
	c.peers = calloc(c.n, sizeof(*c.peers));
	c.sdp_out = calloc(c.n, sizeof(*c.sdp_out));
	c.deadline_us = g_get_monotonic_time() +
			((gint64)o.connect_ms + o.send_ms + o.grace_ms + 2000) * 1000;
	if (!c.peers || !c.sdp_out) {
		fputs("sb-peer: out of memory\n", stderr);
		return 1;
	}
	for (unsigned i = 0; i < c.n; i++) {
		o.index = i;
		c.peers[i] = sb_peer_new(c.ctx, &o);
		if (!c.peers[i]) {
			fprintf(stderr, "sb-peer: peer %u could not start\n", i);
			return 1;
		}
	}
	in = g_io_channel_unix_new(STDIN_FILENO);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_cb, &c);
	g_timeout_add(10, tick_cb, &c);
	g_main_loop_run(c.loop);
	for (unsigned i = 0; i < c.n; i++) {
		char *report = sb_peer_report_json(c.peers[i]);
		struct sb_peer_stats s;

		sb_peer_stats_get(c.peers[i], &s);
		if (s.error[0] || !sb_peer_finished(c.peers[i]))
			rc = 1;
		if (report)
			printf("%s\n", report);
		free(report);
		c.peers[i] = sb_peer_free(c.peers[i]);
	}
	fflush(stdout);
	g_io_channel_unref(in);
	g_main_loop_unref(c.loop);
	free(c.peers);
	free(c.sdp_out);
	return rc;
}
