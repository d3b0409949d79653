/* The gateway side of the relay benchmark, in its own process (so that its
 * CPU and memory are its own): the real media component (sb_media, its
 * worker threads), a control bus on the main thread, and an RTP echo on a
 * thread of its own standing in for the SIP side. The load process sends
 * each peer's offer over a SOCK_SEQPACKET socket; for each, a WebRTC
 * session answers it, an RTP leg toward the echo is set up and bridged, and
 * the answer goes back. Main thread: commands and media.* events. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <glib-unix.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "log/log.h"
#include "media/media.h"
#include "relay.h"

#define ECHO_BATCH 64

/* Latency histogram: 1 us buckets to 10 ms, then 100 us buckets to ~1 s. */
#define HIST_FINE   10000
#define HIST_COARSE 10000

struct hist {
	atomic_uint b[HIST_FINE + HIST_COARSE];
	atomic_uint n;
};

struct echo {
	int fd, port;
	GThread *thread;
	atomic_bool stop;
	atomic_ullong rx, marked, rtcp;
	int64_t real_minus_mono_ns;
	struct hist fwd, res; /* peer send -> echo receive; time inside the echo */
};

struct gw {
	GMainContext *ctx;
	GMainLoop *loop;
	struct sb_config *cfg;
	struct sb_bus *control;
	struct sb_media *media;
	struct sb_lifecycle *lc;
	int cmd_fd;
	struct echo echo;
	unsigned n_calls;
	char **answers; /* the WebRTC answer of each call until it is bridged */
};

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void hist_add(struct hist *h, int64_t us)
{
	size_t i;

	if (us < 0)
		us = 0;
	if (us < HIST_FINE)
		i = (size_t)us;
	else if ((us - HIST_FINE) / 100 < HIST_COARSE)
		i = HIST_FINE + (size_t)((us - HIST_FINE) / 100);
	else
		i = HIST_FINE + HIST_COARSE - 1;
	atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
}

/* The q-quantile in microseconds (the bucket's lower bound). */
static double hist_q(struct hist *h, double q)
{
	unsigned n = atomic_load(&h->n), want = (unsigned)((double)(n ? n - 1 : 0) * q), seen = 0;

	for (size_t i = 0; n && i < HIST_FINE + HIST_COARSE; i++) {
		seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
		if (seen > want)
			return i < HIST_FINE ? (double)i
					     : HIST_FINE + 100.0 * (double)(i - HIST_FINE);
	}
	return 0;
}

static uint64_t get64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* The kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME) on the
 * monotonic clock the peers stamp their packets with. */
static int64_t rx_mono_ns(struct echo *e, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec t;

			memcpy(&t, CMSG_DATA(c), sizeof(t));
			return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec - e->real_minus_mono_ns;
		}
	return mono_ns();
}

/* Returns every RTP packet to its sender in batches; notes from each
 * peer's marker (its last 20 payload bytes, tests/peer/peer_media.c) how
 * long the way from the peer through the gateway took. */
static gpointer echo_main(gpointer ud)
{
	static uint8_t bufs[ECHO_BATCH][1600];
	static char ctl[ECHO_BATCH][64];
	struct echo *e = ud;
	struct mmsghdr in[ECHO_BATCH], out[ECHO_BATCH];
	cpu_set_t load_cpu;

	/* --pin: the echo is load (the SIP side), on the load's CPU. */
	if (getenv("SB_BENCH_PIN")) {
		CPU_ZERO(&load_cpu);
		CPU_SET(1, &load_cpu);
		(void)sched_setaffinity(0, sizeof(load_cpu), &load_cpu);
	}
	struct iovec iov[ECHO_BATCH], oiov[ECHO_BATCH];
	struct sockaddr_storage from[ECHO_BATCH];
	int64_t rx[ECHO_BATCH];

	prctl(PR_SET_NAME, "sb-bench-echo");
	while (!atomic_load(&e->stop)) {
		int n, k = 0;

		for (int i = 0; i < ECHO_BATCH; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			in[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
							.msg_namelen = sizeof(from[i]),
							.msg_iov = &iov[i],
							.msg_iovlen = 1,
							.msg_control = ctl[i],
							.msg_controllen = sizeof(ctl[i])};
		}
		n = recvmmsg(e->fd, in, ECHO_BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue; /* the receive timeout: look at stop */
		for (int i = 0; i < n; i++) {
			uint8_t *b = bufs[i];
			size_t len = in[i].msg_len;

			rx[i] = rx_mono_ns(e, &in[i].msg_hdr);
			if (len < 12 || (b[1] >= 192 && b[1] <= 223)) {
				atomic_fetch_add_explicit(&e->rtcp, 1, memory_order_relaxed);
				continue;
			}
			atomic_fetch_add_explicit(&e->rx, 1, memory_order_relaxed);
			if (len >= 12 + 20 && memcmp(b + len - 20, "SBP1", 4) == 0) {
				atomic_fetch_add_explicit(&e->marked, 1, memory_order_relaxed);
				hist_add(&e->fwd, (rx[i] / 1000 - (int64_t)get64(b + len - 8)));
			}
			oiov[k] = (struct iovec){b, len};
			out[k].msg_hdr = (struct msghdr){.msg_name = &from[i],
							 .msg_namelen = in[i].msg_hdr.msg_namelen,
							 .msg_iov = &oiov[k],
							 .msg_iovlen = 1};
			rx[k] = rx[i];
			k++;
		}
		for (int sent = 0; sent < k;) {
			int r = sendmmsg(e->fd, out + sent, (unsigned)(k - sent), 0);
			if (r <= 0)
				break;
			sent += r;
		}
		if (k > 0) {
			int64_t now = mono_ns();

			for (int i = 0; i < k; i++)
				hist_add(&e->res, (now - rx[i]) / 1000);
		}
	}
	return NULL;
}

static int echo_start(struct echo *e)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	struct timeval tv = {.tv_usec = 200000};
	int one = 1, big = 16 << 20;

	e->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (e->fd < 0 || bind(e->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	/* One socket carries every leg: 100k packets a second at 1000 calls. */
	if (setsockopt(e->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (setsockopt(e->fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(e->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(e->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	setsockopt(e->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	getsockname(e->fd, (struct sockaddr *)&a, &l);
	e->port = ntohs(a.sin_port);
	e->real_minus_mono_ns = real_ns() - mono_ns();
	e->thread = g_thread_new("sb-bench-echo", echo_main, e);
	return 0;
}

/* CPU time (ns) of this process's threads but the echo's, and of the media
 * workers alone (threads named sb-media-*). */
static void cpu_ns(uint64_t *ret_gateway, uint64_t *ret_workers)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	char path[300], comm[32];
	uint64_t all = 0, workers = 0;

	while (d && (de = readdir(d))) {
		unsigned long long ns = 0;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		comm[0] = '\0';
		if (f && !fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", de->d_name);
		f = fopen(path, "r");
		if (f && fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		if (f)
			fclose(f);
		if (strncmp(comm, "sb-bench-echo", 13) == 0)
			continue;
		all += ns;
		if (strncmp(comm, "sb-media-", 9) == 0)
			workers += ns;
	}
	if (d)
		closedir(d);
	*ret_gateway = all;
	*ret_workers = workers;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static void reply(struct gw *g, const char *text)
{
	(void)send(g->cmd_fd, text, strlen(text), MSG_NOSIGNAL);
}

static void on_ready(struct gw *g, const struct sb_event *ev)
{
	uint64_t id = (uint64_t)ev->arg[0];
	char answer[512];

	if (id % 2 == 1) {
		/* The WebRTC session is ready: now its RTP leg, which offers. */
		if (sb_media_engine_ops.create(g->media, id + 1, ev->call, 2, SB_MEDIA_RTP, NULL,
					       NULL) < 0)
			reply(g, "F create");
		return;
	}
	snprintf(answer, sizeof(answer),
		 "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		 "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
		 g->echo.port);
	sb_media_engine_ops.update(g->media, id, answer);
}

static void event_cb(const struct sb_event *ev, void *ud)
{
	struct gw *g = ud;
	uint64_t id = (uint64_t)ev->arg[0];
	uint64_t call = ev->call;
	char *msg;

	if (call >= g->n_calls)
		return;
	switch (ev->type) {
	case SB_EV_MEDIA_READY:
		/* The answer waits until the RTP leg is bridged (test_peer.c). */
		if (id % 2 == 1)
			g->answers[call] = g_strdup(ev->text);
		on_ready(g, ev);
		break;
	case SB_EV_MEDIA_CONNECTED:
		if (id % 2 == 1) {
			reply(g, "C");
			break;
		}
		sb_media_engine_ops.bridge(g->media, id - 1, id);
		msg = g_strdup_printf("A %llu\n%s", (unsigned long long)call, g->answers[call]);
		reply(g, msg);
		g_free(msg);
		g_free(g->answers[call]);
		g->answers[call] = NULL;
		break;
	case SB_EV_MEDIA_FAILED:
		msg = g_strdup_printf("F %llu %s", (unsigned long long)call, ev->str);
		reply(g, msg);
		g_free(msg);
		break;
	default:
		break;
	}
}

static void stats_reply(struct gw *g)
{
	struct sb_media_counters c;
	uint64_t all, workers;
	char *msg;

	sb_media_counters(g->media, &c);
	cpu_ns(&all, &workers);
	msg = g_strdup_printf("S %llu %llu %llu %llu %ld %llu %llu %llu %llu %llu %llu %llu %llu",
			      (unsigned long long)all, (unsigned long long)workers, c.rtp_in,
			      c.rtp_out, rss_kib(), (unsigned long long)atomic_load(&g->echo.rx),
			      (unsigned long long)atomic_load(&g->echo.marked),
			      c.sessions_connected, c.sessions_failed, c.dropped_auth,
			      c.dropped_replay, c.dropped_plain, c.dtls_failed);
	reply(g, msg);
	g_free(msg);
}

static void echo_reply(struct gw *g)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "E %.0f %.0f %.0f %.0f %u", hist_q(&g->echo.fwd, 0.5),
		 hist_q(&g->echo.fwd, 0.99), hist_q(&g->echo.res, 0.5), hist_q(&g->echo.res, 0.99),
		 atomic_load(&g->echo.fwd.n));
	reply(g, msg);
}

/* One command from the load process: "O <call>\n<sdp>" (a peer's offer),
 * "S" (counters), "E" (echo figures), "Q" (quit). */
static gboolean cmd_cb(gint fd, GIOCondition cond, gpointer ud)
{
	static char buf[65536];
	struct gw *g = ud;
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	unsigned long long call;
	char *nl;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		g_main_loop_quit(g->loop);
		return G_SOURCE_REMOVE;
	}
	if (n < 0)
		return G_SOURCE_CONTINUE;
	buf[n] = '\0';
	switch (buf[0]) {
	case 'O':
		nl = strchr(buf, '\n');
		call = strtoull(buf + 2, NULL, 10);
		if (!nl || call >= g->n_calls ||
		    sb_media_engine_ops.create(g->media, 2 * call + 1, call, 1, SB_MEDIA_WEBRTC,
					       nl + 1, NULL) < 0)
			reply(g, "F bad offer");
		break;
	case 'S':
		stats_reply(g);
		break;
	case 'E':
		echo_reply(g);
		break;
	case 'Q':
		g_main_loop_quit(g->loop);
		return G_SOURCE_REMOVE;
	default:
		break;
	}
	return G_SOURCE_CONTINUE;
}

static void config_set(struct sb_config *cfg, int port_min, int port_max)
{
	const char *workers = getenv("SB_BENCH_WORKERS");

	/* 0: one per core the process may use, as deployed; SB_BENCH_WORKERS
	 * sets another count, for comparisons. */
	cfg->media.workers = workers ? atoi(workers) : 0;
	cfg->media.rtp_port_min = port_min;
	cfg->media.rtp_port_max = port_max;
	cfg->media.symmetric_rtp = true;
	for (size_t i = 0; cfg->media.interfaces && cfg->media.interfaces[i]; i++)
		free(cfg->media.interfaces[i]);
	free(cfg->media.interfaces);
	cfg->media.interfaces = calloc(2, sizeof(char *));
	cfg->media.interfaces[0] = strdup("127.0.0.1");
	cfg->media.allow_loopback = false;
}

int sb_bench_relay_gateway(int cmd_fd, unsigned n_calls, int port_min, int port_max)
{
	static const enum sb_event_type types[] = {SB_EV_MEDIA_READY, SB_EV_MEDIA_CONNECTED,
						   SB_EV_MEDIA_FAILED};
	struct gw *g = calloc(1, sizeof(*g));
	const char *failed = NULL;
	GSource *src;

	if (!g)
		return 1;
	/* Setup and teardown lines only; nothing is logged per packet. */
	sb_log_set_level_all(SB_LOG_WARN);
	g->cmd_fd = cmd_fd;
	g->n_calls = n_calls;
	g->answers = calloc(n_calls, sizeof(char *));
	g->ctx = g_main_context_new();
	g->loop = g_main_loop_new(g->ctx, FALSE);
	g->cfg = sb_config_new_default();
	config_set(g->cfg, port_min, port_max);
	g->control = sb_bus_new(&g->cfg->bus, g->ctx);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		sb_bus_subscribe(g->control, types[i], event_cb, g);
	g->media = sb_media_new(g->cfg, g->control);
	g->lc = sb_lifecycle_new();
	sb_lifecycle_add(g->lc, &sb_media_component, g->media);
	if (!g->answers || sb_lifecycle_start(g->lc, &failed) < 0 || echo_start(&g->echo) < 0) {
		fprintf(stderr, "relay gateway: start failed (%s)\n", failed ? failed : "echo");
		return 1;
	}
	src = g_unix_fd_source_new(cmd_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_set_callback(src, G_SOURCE_FUNC(cmd_cb), g, NULL);
	g_source_attach(src, g->ctx);
	reply(g, "R");
	g_main_loop_run(g->loop);
	atomic_store(&g->echo.stop, true);
	g_thread_join(g->echo.thread);
	/* The process ends here: the workers stop, the rest goes with it. */
	sb_lifecycle_stop(g->lc);
	return 0;
}
