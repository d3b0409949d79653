/* Relay benchmark: N simultaneous two-way 20 ms PCMU streams through the
 * gateway's media plane. This process runs N sb-peers (the browsers, one
 * GLib loop); a child process (relay_gw.c) runs the real media component
 * and an RTP echo for the SIP side, so that the gateway's CPU and memory are
 * measured apart from the load. Prints figures next to the targets;
 * asserts nothing about time.
 *
 * Usage: bench-relay [--seconds S] [--pin] [N ...]   (default: 10 s; 1 100 500 1000)
 * --pin: the gateway's threads on CPU 0, the peers and the echo on CPU 1, so
 * that the load does not share the gateway's core (2 cores or more). */
#include <errno.h>
#include <sched.h>
#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"
#include "relay.h"

#define PORT_MIN    20000
#define PORT_MAX    39999
#define WARM_MS	    1000
#define SETUP_MS(n) (10000 + 40 * (n)) /* how long the first peers send before all are up */
#define MAX_N	    5000
#define IN_SETUP    50	  /* offers out at once: calls arrive, not all in one instant */
#define TARGET_CPU  5.0	  /* us per relayed packet */
#define TARGET_P99  1.0	  /* ms added */
#define TARGET_KIB  128.0 /* per session */

struct snap {
	bool have;
	unsigned long long gw_ns, worker_ns, rtp_in, rtp_out, echo_rx, echo_marked;
	unsigned long long connected, failed, dropped_auth, dropped_replay, dropped_plain,
		dtls_failed;
	long rss_kib;
	gint64 at;
};

struct echo_figs {
	bool have;
	double fwd50, fwd99, res50, res99;
	unsigned n;
};

struct run {
	unsigned n;
	int window_ms;
	int fd;
	GMainContext *ctx;
	struct sb_peer **peers;
	bool *offered, *answered;
	unsigned n_offered, n_answered, n_connected, n_failed;
	char first_failure[160];
	struct snap snap;
	struct echo_figs echo;
	bool ready;
};

struct result {
	unsigned n;
	double setup_s, cpu_us, worker_us, pps, kib, load_cpu_pct;
	unsigned long long sent, received, lost, dup, corrupt, undecryptable, failed;
	unsigned long long kernel_drops, finished_early;
	double rtt50, rtt99, add50, add99;
	struct echo_figs echo;
};

static int64_t process_cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The n-th space-separated word of line (n from 0), or NULL. */
static const char *word(const char *line, int n)
{
	line += strspn(line, " ");
	for (; n > 0 && *line; n--) {
		line += strcspn(line, " \n");
		line += strspn(line, " ");
	}
	return *line && *line != '\n' ? line : NULL;
}

/* UDP receive-buffer drops of this network namespace (/proc/net/snmp). */
static unsigned long long udp_rcvbuf_errors(void)
{
	FILE *f = fopen("/proc/net/snmp", "r");
	char head[1024], vals[1024];
	unsigned long long v = 0;

	while (f && fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		const char *h;

		if (strncmp(head, "Udp:", 4) != 0)
			continue;
		for (int k = 0; (h = word(head, k)); k++)
			if (strncmp(h, "RcvbufErrors", 12) == 0 && word(vals, k))
				v = strtoull(word(vals, k), NULL, 10);
		break;
	}
	if (f)
		fclose(f);
	return v;
}

static void on_answer(struct run *r, const char *msg)
{
	unsigned long long i = strtoull(msg + 2, NULL, 10);
	const char *sdp = strchr(msg, '\n');

	if (i >= r->n || !sdp || r->answered[i])
		return;
	r->answered[i] = true;
	r->n_answered++;
	if (sb_peer_remote_sdp_set(r->peers[i], sdp + 1) < 0)
		r->n_failed++;
}

static void on_snap(struct run *r, const char *msg)
{
	struct snap *s = &r->snap;

	if (sscanf(msg + 2, "%llu %llu %llu %llu %ld %llu %llu %llu %llu %llu %llu %llu %llu",
		   &s->gw_ns, &s->worker_ns, &s->rtp_in, &s->rtp_out, &s->rss_kib, &s->echo_rx,
		   &s->echo_marked, &s->connected, &s->failed, &s->dropped_auth, &s->dropped_replay,
		   &s->dropped_plain, &s->dtls_failed) == 13) {
		s->have = true;
		s->at = g_get_monotonic_time();
	}
}

static gboolean gw_cb(gint fd, GIOCondition cond, gpointer ud)
{
	static char msg[65536];
	struct run *r = ud;
	ssize_t n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);

	if (n <= 0)
		return n < 0 && errno == EAGAIN ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
	msg[n] = '\0';
	switch (msg[0]) {
	case 'R':
		r->ready = true;
		break;
	case 'A':
		on_answer(r, msg);
		break;
	case 'C':
		r->n_connected++;
		break;
	case 'F':
		r->n_failed++;
		if (!r->first_failure[0])
			snprintf(r->first_failure, sizeof(r->first_failure), "gateway: %.140s",
				 msg + 2);
		break;
	case 'S':
		on_snap(r, msg);
		break;
	case 'E':
		r->echo.have = sscanf(msg + 2, "%lf %lf %lf %lf %u", &r->echo.fwd50, &r->echo.fwd99,
				      &r->echo.res50, &r->echo.res99, &r->echo.n) == 5;
		break;
	default:
		break;
	}
	return G_SOURCE_CONTINUE;
}

static void gw_send(struct run *r, const char *text, size_t len)
{
	(void)send(r->fd, text, len, MSG_NOSIGNAL);
}

/* Pumps the loop until *flag or the deadline. */
static bool pump_until(struct run *r, bool *flag, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000LL;

	while (!*flag && g_get_monotonic_time() < end)
		g_main_context_iteration(r->ctx, TRUE);
	return *flag;
}

static void pump_for(struct run *r, int ms)
{
	bool never = false;

	pump_until(r, &never, ms);
}

static bool snap_take(struct run *r, struct snap *ret)
{
	r->snap.have = false;
	gw_send(r, "S", 1);
	if (!pump_until(r, &r->snap.have, 5000))
		return false;
	*ret = r->snap;
	return true;
}

/* Sends each gathered peer's offer once, at most IN_SETUP not yet up. */
static void offers_send(struct run *r)
{
	for (unsigned i = 0; i < r->n && r->n_offered < r->n; i++) {
		if (r->n_offered - r->n_connected - r->n_failed >= IN_SETUP)
			break;
		const char *sdp;
		char *msg;

		if (r->offered[i] || !(sdp = sb_peer_local_sdp(r->peers[i])))
			continue;
		msg = g_strdup_printf("O %u\n%s", i, sdp);
		gw_send(r, msg, strlen(msg));
		g_free(msg);
		r->offered[i] = true;
		r->n_offered++;
	}
}

static bool pin_cpus;

static pid_t gateway_spawn(struct run *r, const char *self)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char fd[16], n[16];

		if (pin_cpus) {
			cpu_set_t gw;

			CPU_ZERO(&gw);
			CPU_SET(0, &gw);
			(void)sched_setaffinity(0, sizeof(gw), &gw);
			setenv("SB_BENCH_PIN", "1", 1);
		}
		close(sv[0]);
		snprintf(fd, sizeof(fd), "%d", sv[1]);
		snprintf(n, sizeof(n), "%u", r->n);
		execl("/proc/self/exe", self, "--gateway", fd, n, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	r->fd = sv[0];
	return pid;
}

static int float_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Pools every peer's figures into res. */
static void peers_collect(struct run *r, struct result *res)
{
	size_t cap = 0, n = 0;
	float *all;

	for (unsigned i = 0; i < r->n; i++) {
		const float *l;
		cap += sb_peer_latencies(r->peers[i], &l);
	}
	all = malloc((cap ? cap : 1) * sizeof(*all));
	for (unsigned i = 0; i < r->n; i++) {
		struct sb_peer_stats s;
		const float *l;
		unsigned k = sb_peer_latencies(r->peers[i], &l);

		sb_peer_stats_get(r->peers[i], &s);
		res->sent += s.sent;
		res->received += s.received;
		res->lost += s.lost;
		res->dup += s.duplicates;
		res->corrupt += s.corrupt;
		res->undecryptable += s.undecryptable;
		if (s.error[0]) {
			res->failed++;
			if (!r->first_failure[0])
				snprintf(r->first_failure, sizeof(r->first_failure),
					 "peer %u: %.140s", i, s.error);
		}
		if (all) {
			memcpy(all + n, l, k * sizeof(*l));
			n += k;
		}
	}
	if (all && n) {
		qsort(all, n, sizeof(*all), float_cmp);
		res->rtt50 = all[(n - 1) / 2];
		res->rtt99 = all[(size_t)((double)(n - 1) * 0.99)];
	}
	free(all);
}

static void figures(struct run *r, const struct snap *s0, const struct snap *s1,
		    const struct snap *s2, int64_t load_ns, struct result *res)
{
	unsigned long long pkts = s2->rtp_out - s1->rtp_out;
	double secs = (double)(s2->at - s1->at) / 1e6;

	res->cpu_us = pkts ? (double)(s2->gw_ns - s1->gw_ns) / 1000.0 / (double)pkts : 0;
	res->worker_us = pkts ? (double)(s2->worker_ns - s1->worker_ns) / 1000.0 / (double)pkts : 0;
	res->pps = secs > 0 ? (double)pkts / secs : 0;
	res->kib = (double)(s1->rss_kib - s0->rss_kib) / r->n;
	res->load_cpu_pct = secs > 0 ? 100.0 * (double)load_ns / 1e9 / secs : 0;
	res->echo = r->echo;
	/* The echo's own time, taken out of the round trip at the median. */
	res->add50 = res->rtt50 - r->echo.res50 / 1000.0;
	res->add99 = res->rtt99 - r->echo.res50 / 1000.0;
}

static struct sb_peer *peer_make(struct run *r, unsigned i)
{
	struct sb_peer_opts o = {.offer = true,
				 .codec = SB_PEER_PCMU,
				 .srtp = SB_PEER_SRTP_ANY,
				 .send_ms = 0,
				 .grace_ms = 1500,
				 .connect_ms = SETUP_MS(r->n) + 30000,
				 .index = i};

	/* Long enough that the first peer up still sends at the window's end. */
	o.send_ms = SETUP_MS(r->n) + WARM_MS + r->window_ms + 2000;
	return sb_peer_new(r->ctx, &o);
}

static bool all_gathered(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!sb_peer_local_sdp(r->peers[i]))
			return false;
	return true;
}

static bool all_finished(struct run *r, unsigned *ret_count)
{
	unsigned k = 0;

	for (unsigned i = 0; i < r->n; i++)
		k += sb_peer_finished(r->peers[i]);
	*ret_count = k;
	return k == r->n;
}

static int run_one(const char *self, unsigned n, int window_ms, struct result *res)
{
	struct run r = {.n = n, .window_ms = window_ms};
	struct snap s0 = {0}, s1 = {0}, s2 = {0};
	unsigned long long drops0 = udp_rcvbuf_errors();
	gint64 t0, end;
	int64_t load0, load_ns;
	unsigned fin;
	bool up = false;
	GSource *src;
	pid_t pid;
	int status;

	memset(res, 0, sizeof(*res));
	res->n = n;
	r.ctx = g_main_context_new();
	r.peers = calloc(n, sizeof(*r.peers));
	r.offered = calloc(n, sizeof(bool));
	r.answered = calloc(n, sizeof(bool));
	if (!r.peers || !r.offered || !r.answered || (pid = gateway_spawn(&r, self)) < 0)
		return -ENOMEM;
	src = g_unix_fd_source_new(r.fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_set_callback(src, G_SOURCE_FUNC(gw_cb), &r, NULL);
	g_source_attach(src, r.ctx);
	if (!pump_until(&r, &r.ready, 10000) || !snap_take(&r, &s0)) {
		fprintf(stderr, "relay: the gateway process did not start\n");
		return -EIO;
	}
	/* The browsers first (certificates, gathering): the load's own cost. */
	for (unsigned i = 0; i < n; i++)
		if (!(r.peers[i] = peer_make(&r, i)))
			return -ENOMEM;
	end = g_get_monotonic_time() + 60000 * 1000LL;
	while (!all_gathered(&r) && g_get_monotonic_time() < end)
		g_main_context_iteration(r.ctx, TRUE);
	t0 = g_get_monotonic_time();
	end = t0 + (SETUP_MS(n) + 30000) * 1000LL;
	while (!up && g_get_monotonic_time() < end) {
		g_main_context_iteration(r.ctx, TRUE);
		offers_send(&r);
		up = r.n_connected + r.n_failed >= n && r.n_answered + r.n_failed >= n;
	}
	res->setup_s = (double)(g_get_monotonic_time() - t0) / 1e6;
	pump_for(&r, WARM_MS);
	load0 = process_cpu_ns();
	snap_take(&r, &s1);
	pump_for(&r, window_ms);
	snap_take(&r, &s2);
	load_ns = process_cpu_ns() - load0;
	all_finished(&r, &fin);
	res->finished_early = fin;
	end = g_get_monotonic_time() + (SETUP_MS(n) + WARM_MS + window_ms + 20000) * 1000LL;
	while (!all_finished(&r, &fin) && g_get_monotonic_time() < end)
		pump_for(&r, 100);
	pump_for(&r, 200);
	peers_collect(&r, res);
	res->failed += r.n_failed;
	r.echo.have = false;
	gw_send(&r, "E", 1);
	pump_until(&r, &r.echo.have, 5000);
	figures(&r, &s0, &s1, &s2, load_ns, res);
	res->kernel_drops = udp_rcvbuf_errors() - drops0;
	gw_send(&r, "Q", 1);
	waitpid(pid, &status, 0);
	if (r.first_failure[0])
		fprintf(stderr, "relay N=%u: first failure: %s\n", n, r.first_failure);
	for (unsigned i = 0; i < n; i++)
		sb_peer_free(r.peers[i]);
	g_source_destroy(src);
	g_source_unref(src);
	close(r.fd);
	g_main_context_unref(r.ctx);
	free(r.peers);
	free(r.offered);
	free(r.answered);
	return 0;
}

static void print_result(const struct result *r)
{
	printf("\nN=%u streams (two-way, 20 ms PCMU, SRTP AEAD_AES_128_GCM on the browser side)\n",
	       r->n);
	printf("  setup of %u sessions:            %.2f s\n", r->n, r->setup_s);
	printf("  gateway CPU per relayed packet:  %.2f us (media workers %.2f us)   target <= "
	       "%.0f "
	       "us\n",
	       r->cpu_us, r->worker_us, TARGET_CPU);
	printf("  relayed packets per second:      %.0f (gateway load %.0f%% of one core)\n",
	       r->pps, r->pps * r->cpu_us / 1e4);
	printf("  packets sent / echoed intact:    %llu / %llu\n", r->sent, r->received);
	printf("  packets lost:                    %llu (%.3f%%)   target 0 at 1000 streams\n",
	       r->lost, r->sent ? 100.0 * (double)r->lost / (double)r->sent : 0);
	printf("  duplicates/corrupt/undecryptable: %llu/%llu/%llu; failed sessions %llu; "
	       "kernel UDP drops %llu\n",
	       r->dup, r->corrupt, r->undecryptable, r->failed, r->kernel_drops);
	printf("  round trip at the peer p50/p99:  %.3f / %.3f ms\n", r->rtt50, r->rtt99);
	printf("  echo's own time p50/p99:         %.0f / %.0f us\n", r->echo.res50, r->echo.res99);
	printf("  added latency p50/p99:           %.3f / %.3f ms   target p99 < %.0f ms\n",
	       r->add50, r->add99, TARGET_P99);
	printf("  one way peer -> echo p50/p99:    %.0f / %.0f us (one gateway pass)\n",
	       r->echo.fwd50, r->echo.fwd99);
	printf("  resident memory per session:     %.1f KiB   target <= %.0f KiB\n", r->kib,
	       TARGET_KIB);
	printf("  load process CPU (sb-peers):     %.0f%% of one core%s\n", r->load_cpu_pct,
	       r->finished_early ? "  (some peers stopped inside the window)" : "");
	fflush(stdout);
}

static void nofile_raise(void)
{
	struct rlimit rl;

	/* Three descriptors a call in the gateway, one a peer here. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 16384) {
		rl.rlim_cur = rl.rlim_max = 16384;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const unsigned defaults[] = {1, 100, 500, 1000};
	unsigned ns[16], n_ns = 0;
	int window_ms = 10000;
	struct result res[16];
	struct rlimit rl;

	if (argc == 4 && strcmp(argv[1], "--gateway") == 0)
		return sb_bench_relay_gateway((int)strtol(argv[2], NULL, 10),
					      (unsigned)strtoul(argv[3], NULL, 10), PORT_MIN,
					      PORT_MAX);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			window_ms = (int)(strtod(argv[++i], NULL) * 1000);
		else if (strcmp(argv[i], "--pin") == 0)
			pin_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
		else if (n_ns < 16 && strtoul(argv[i], NULL, 10) > 0 &&
			 strtoul(argv[i], NULL, 10) <= MAX_N)
			ns[n_ns++] = (unsigned)strtoul(argv[i], NULL, 10);
	}
	if (!n_ns)
		for (; n_ns < 4; n_ns++)
			ns[n_ns] = defaults[n_ns];
	if (pin_cpus) {
		cpu_set_t load;

		CPU_ZERO(&load);
		CPU_SET(1, &load);
		(void)sched_setaffinity(0, sizeof(load), &load);
	}
	nofile_raise();
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("relay benchmark: %ld cores%s, window %d ms per N, RLIMIT_NOFILE %llu, RTP ports "
	       "%d-%d\n",
	       sysconf(_SC_NPROCESSORS_ONLN),
	       pin_cpus ? " (gateway on CPU 0, peers and echo on CPU 1)" : "", window_ms,
	       (unsigned long long)rl.rlim_cur, PORT_MIN, PORT_MAX);
	for (unsigned i = 0; i < n_ns; i++) {
		if (run_one(argv[0], ns[i], window_ms, &res[i]) < 0) {
			fprintf(stderr, "relay: N=%u could not run\n", ns[i]);
			return 1;
		}
		print_result(&res[i]);
	}
	printf("\n| N | setup s | CPU us/pkt | lost | added p50/p99 ms | one pass p50/p99 ms | "
	       "KiB/session |\n");
	printf("| --- | --- | --- | --- | --- | --- | --- |\n");
	for (unsigned i = 0; i < n_ns; i++)
		printf("| %u | %.2f | %.2f | %llu of %llu | %.3f / %.3f | %.3f / %.3f | %.1f |\n",
		       res[i].n, res[i].setup_s, res[i].cpu_us, res[i].lost, res[i].sent,
		       res[i].add50, res[i].add99, res[i].echo.fwd50 / 1000.0,
		       res[i].echo.fwd99 / 1000.0, res[i].kib);
	printf("| target | | <= %.0f | 0 at 1000 | p99 < %.0f | | <= %.0f |\n", TARGET_CPU,
	       TARGET_P99, TARGET_KIB);
	return 0;
}
