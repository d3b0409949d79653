/* The kernel's floor for the relay: N two-way 20 ms streams of 172-byte
 * datagrams through a relay thread that does nothing but move them (no
 * SRTP, no rewrite), each stream with a socket toward its client and one
 * toward the far end as the gateway's sessions have. It prints the relay
 * thread's CPU per relayed packet for each way of driving the sockets:
 *
 *   epoll  epoll_wait, recvmmsg per ready socket, sendto per packet (the
 *          gateway's media workers today);
 *   uring  io_uring: a multishot recvmsg per socket into one ring of
 *          provided buffers, every send of a pass queued and submitted
 *          with the wait for the next completions (one system call a pass).
 *
 * The load (one client socket sending each stream's packets when they are
 * due, and an echo) runs on another thread, pinned to the other CPU with --pin.
 * Every returned datagram is checked by content (stream, sequence number).
 * Figures only; nothing is asserted (docs/performance.md). */

#include <errno.h>
#ifdef SB_HAVE_LIBURING
#include <liburing.h>
#endif
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PKT   172
#define BATCH 64
#define NBUF  4096
#define BUFSZ 256

struct stream {
	int a, b; /* relay: toward the client, toward the echo */
	uint32_t id;
	struct sockaddr_in a_addr;
};

struct bench {
	unsigned n;
	int seconds;
	bool pin, connected;
	const char *mode;
	struct stream *st;
	int client, echo;
	int shared_a, shared_b;
	struct sockaddr_in shared_a_addr;
	struct sockaddr_in client_addr, echo_addr;
	atomic_bool stop;
	uint64_t relayed;
	double relay_cpu_s;
	uint64_t sent, back, bad;
	uint32_t *rtt_us;
	size_t nrtt, caprtt;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int udp_bound(struct sockaddr_in *out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int big = 4 << 20;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("socket");
		exit(1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (out)
		*out = sa;
	return fd;
}

/* ---- the relay, epoll ---- */

static void relay_one(struct bench *b, struct stream *s, int from_fd, const uint8_t *p, size_t len)
{
	int to = from_fd == s->a ? s->b : s->a;
	const struct sockaddr_in *dst = from_fd == s->a ? &b->echo_addr : &b->client_addr;

	if ((b->connected ? send(to, p, len, MSG_DONTWAIT)
			  : sendto(to, p, len, MSG_DONTWAIT, (const struct sockaddr *)dst,
				   sizeof(*dst))) > 0)
		b->relayed++;
}

static void relay_epoll(struct bench *b)
{
	if (b->connected)
		for (unsigned i = 0; i < b->n; i++) {
			(void)connect(b->st[i].a, (const struct sockaddr *)&b->client_addr,
				      sizeof(b->client_addr));
			(void)connect(b->st[i].b, (const struct sockaddr *)&b->echo_addr,
				      sizeof(b->echo_addr));
		}

	static uint8_t buf[16][BUFSZ];
	struct epoll_event ev[BATCH];
	struct mmsghdr mh[16];
	struct iovec iov[16];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (unsigned i = 0; i < b->n; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)i << 1};

		(void)epoll_ctl(ep, EPOLL_CTL_ADD, b->st[i].a, &e);
		e.data.u64 |= 1;
		(void)epoll_ctl(ep, EPOLL_CTL_ADD, b->st[i].b, &e);
	}
	for (int i = 0; i < 16; i++) {
		iov[i] = (struct iovec){buf[i], BUFSZ};
		mh[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		int k = epoll_wait(ep, ev, BATCH, 50);

		for (int e = 0; e < k; e++) {
			struct stream *s = &b->st[ev[e].data.u64 >> 1];
			int fd = ev[e].data.u64 & 1 ? s->b : s->a;
			int m = recvmmsg(fd, mh, 16, MSG_DONTWAIT, NULL);

			for (int j = 0; j < m; j++)
				relay_one(b, s, fd, buf[j], mh[j].msg_len);
		}
	}
	close(ep);
}

/* ---- the relay, io_uring ---- */
#ifdef SB_HAVE_LIBURING

struct send_slot {
	struct msghdr mh;
	struct iovec iov;
	uint8_t data[BUFSZ];
};

#define UD_SEND (1ull << 63)

static struct io_uring_sqe *sqe_get(struct io_uring *ring)
{
	struct io_uring_sqe *q = io_uring_get_sqe(ring);

	if (!q) {
		io_uring_submit(ring);
		q = io_uring_get_sqe(ring);
	}
	return q;
}

/* A multishot recvmsg on fd into buffer group 1. */
static void arm(struct io_uring *ring, struct msghdr *rmh, int fd, uint64_t ud)
{
	struct io_uring_sqe *q = sqe_get(ring);

	io_uring_prep_recvmsg_multishot(q, fd, rmh, 0);
	q->flags |= IOSQE_BUFFER_SELECT;
	q->buf_group = 1;
	io_uring_sqe_set_data64(q, ud);
}

static void relay_uring(struct bench *b)
{
	struct io_uring ring;
	struct io_uring_params prm = {.flags = IORING_SETUP_SINGLE_ISSUER |
					       IORING_SETUP_DEFER_TASKRUN,
				      .cq_entries = 16384};
	struct io_uring_buf_ring *br;
	struct msghdr rmh = {.msg_namelen = sizeof(struct sockaddr_in)};
	uint8_t *bufs = malloc((size_t)NBUF * BUFSZ);
	struct send_slot *slots = calloc(NBUF, sizeof(*slots));
	unsigned *free_slots = malloc(NBUF * sizeof(*free_slots)), nfree = NBUF;
	int r, ret;

	prm.flags |= IORING_SETUP_CQSIZE;
	r = io_uring_queue_init_params(4096, &ring, &prm);
	if (r < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
		exit(1);
	}
	{
		struct io_uring_buf_reg reg = {.ring_entries = NBUF, .bgid = 1};

		if (posix_memalign((void **)&br, 4096, NBUF * sizeof(struct io_uring_buf)))
			exit(1);
		reg.ring_addr = (uint64_t)(uintptr_t)br;
		io_uring_buf_ring_init(br);
		r = io_uring_register_buf_ring(&ring, &reg, 0);
		if (r < 0) {
			fprintf(stderr, "register_buf_ring: %s\n", strerror(-r));
			exit(1);
		}
		for (unsigned i = 0; i < NBUF; i++)
			io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ,
					      (unsigned short)i, io_uring_buf_ring_mask(NBUF),
					      (int)i);
		io_uring_buf_ring_advance(br, NBUF);
	}
	for (unsigned i = 0; i < NBUF; i++)
		free_slots[i] = i;

	for (unsigned i = 0; i < b->n; i++) {
		arm(&ring, &rmh, b->st[i].a, (uint64_t)i << 1);
		arm(&ring, &rmh, b->st[i].b, ((uint64_t)i << 1) | 1);
	}
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		struct __kernel_timespec ts = {.tv_nsec = 50000000};
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, returned = 0;

		ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			break;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			uint64_t ud = cqe->user_data;

			seen++;
			if (ud & UD_SEND) {
				free_slots[nfree++] = (unsigned)(ud & 0xffffffffu);
				if (cqe->res > 0)
					b->relayed++;
				continue;
			}
			struct stream *s = &b->st[ud >> 1];
			int fd = ud & 1 ? s->b : s->a;

			if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
				unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
				uint8_t *base = bufs + (size_t)bid * BUFSZ;
				struct io_uring_recvmsg_out *o =
					io_uring_recvmsg_validate(base, cqe->res, &rmh);

				if (o && nfree) {
					struct send_slot *sl = &slots[free_slots[--nfree]];
					size_t len =
						io_uring_recvmsg_payload_length(o, cqe->res, &rmh);
					struct io_uring_sqe *q = sqe_get(&ring);

					memcpy(sl->data, io_uring_recvmsg_payload(o, &rmh), len);
					sl->iov = (struct iovec){sl->data, len};
					sl->mh = (struct msghdr){
						.msg_name = fd == s->a ? &b->echo_addr
								       : &b->client_addr,
						.msg_namelen = sizeof(struct sockaddr_in),
						.msg_iov = &sl->iov,
						.msg_iovlen = 1};
					io_uring_prep_sendmsg(q, fd == s->a ? s->b : s->a, &sl->mh,
							      0);
					io_uring_sqe_set_data64(q,
								UD_SEND | (uint64_t)(sl - slots));
				}
				io_uring_buf_ring_add(br, base, BUFSZ, (unsigned short)bid,
						      io_uring_buf_ring_mask(NBUF),
						      (int)returned++);
			}
			if (!(cqe->flags & IORING_CQE_F_MORE))
				arm(&ring, &rmh, fd, ud);
		}
		io_uring_buf_ring_advance(br, (int)returned);
		io_uring_cq_advance(&ring, seen);
	}
	io_uring_queue_exit(&ring);
	free(bufs);
	free(slots);
	free(free_slots);
}
#else
static void relay_uring(struct bench *b)
{
	(void)b;
	fprintf(stderr, "bench-relay-floor: built without liburing\n");
}
#endif

/* ---- the relay, shared sockets: the best case of batching ---- */

/* One socket toward every client and one toward the far end, as a relay
 * with one port per worker (demultiplexing by address) would have:
 * recvmmsg and sendmmsg carry whole batches. */
static void relay_shared(struct bench *b)
{
	static uint8_t buf[BATCH][BUFSZ];
	struct mmsghdr mh[BATCH];
	struct iovec iov[BATCH];
	struct epoll_event ev[2];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fds[2] = {b->shared_a, b->shared_b};

	for (int i = 0; i < 2; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

		(void)epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
	}
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		int k = epoll_wait(ep, ev, 2, 50);

		for (int e = 0; e < k; e++) {
			int from = fds[ev[e].data.u32], to = fds[!ev[e].data.u32];
			const struct sockaddr_in *dst =
				ev[e].data.u32 ? &b->client_addr : &b->echo_addr;
			int m;

			for (int i = 0; i < BATCH; i++) {
				iov[i] = (struct iovec){buf[i], BUFSZ};
				mh[i] = (struct mmsghdr){
					.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
			}
			m = recvmmsg(from, mh, BATCH, MSG_DONTWAIT, NULL);
			if (m <= 0)
				continue;
			for (int i = 0; i < m; i++) {
				iov[i].iov_len = mh[i].msg_len;
				mh[i].msg_hdr.msg_name = (void *)dst;
				mh[i].msg_hdr.msg_namelen = sizeof(*dst);
			}
			m = sendmmsg(to, mh, (unsigned)m, MSG_DONTWAIT);
			if (m > 0)
				b->relayed += (uint64_t)m;
		}
	}
	close(ep);
}

static void *relay_main(void *arg)
{
	struct bench *b = arg;
	double c0;

	if (b->pin)
		pin_to(0);
	c0 = thread_cpu_s();
	if (!strncmp(b->mode, "epoll", 5))
		relay_epoll(b);
	else if (!strcmp(b->mode, "uring"))
		relay_uring(b);
	else if (!strcmp(b->mode, "shared"))
		relay_shared(b);
	else
		fprintf(stderr, "bench-relay-floor: no mode %s\n", b->mode);
	b->relay_cpu_s = thread_cpu_s() - c0;
	return NULL;
}

/* ---- the load: every stream's packets from one socket, an echo ---- */

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;

	return a < c ? -1 : a > c;
}

static void load(struct bench *b)
{
	static uint8_t out[BATCH][PKT], in[BATCH][BUFSZ];
	struct mmsghdr mo[BATCH], mi[BATCH];
	struct iovec io[BATCH], ii[BATCH];
	struct sockaddr_in to[BATCH], from[BATCH];
	uint32_t *seq = calloc(b->n, sizeof(*seq));
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)b->seconds * 1000000000u;
	uint64_t period = 20000000u, next_i = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = {.events = EPOLLIN, .data.fd = b->echo};

	(void)epoll_ctl(ep, EPOLL_CTL_ADD, b->echo, &e);
	e.data.fd = b->client;
	(void)epoll_ctl(ep, EPOLL_CTL_ADD, b->client, &e);
	for (int i = 0; i < BATCH; i++) {
		io[i] = (struct iovec){out[i], PKT};
		ii[i] = (struct iovec){in[i], BUFSZ};
	}
	for (;;) {
		uint64_t now = now_ns();
		/* stream i sends at t0 + k*period + i*period/n */
		uint64_t due = now >= end ? 0 : (now - t0) * b->n / period;
		int k = 0;

		while (next_i < due && k < BATCH) {
			unsigned i = (unsigned)(next_i % b->n);
			to[k] = b->shared_a >= 0 ? b->shared_a_addr : b->st[i].a_addr;
			memset(out[k], 0x5a, PKT);
			memcpy(out[k], &i, 4);
			memcpy(out[k] + 4, &seq[i], 4);
			memcpy(out[k] + 8, &now, 8);
			seq[i]++;
			mo[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &to[k],
							     .msg_namelen = sizeof(to[k]),
							     .msg_iov = &io[k],
							     .msg_iovlen = 1}};
			k++;
			next_i++;
		}
		if (k) {
			int s = sendmmsg(b->client, mo, (unsigned)k, 0);

			if (s > 0)
				b->sent += (uint64_t)s;
		}
		if (now >= end + 300000000u)
			break;
		struct epoll_event ev[2];
		/* Sleep until the next stream's packet is due, as browsers each
		 * sending on their own clock do (not a batch of every stream due
		 * in the last millisecond, which would wake the relay less). */
		uint64_t due_at = t0 + (next_i + 1) * period / b->n;
		uint64_t t = now_ns();
		uint64_t wait = k == BATCH || due_at <= t ? 0 : due_at - t;
		struct timespec ts = {0, (long)(wait < 1000000u ? wait : 1000000u)};
		int nev = epoll_pwait2(ep, ev, 2, &ts, NULL);

		for (int x = 0; x < nev; x++) {
			int fd = ev[x].data.fd;
			int m;

			for (int i = 0; i < BATCH; i++)
				mi[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
								     .msg_namelen = sizeof(from[i]),
								     .msg_iov = &ii[i],
								     .msg_iovlen = 1}};
			m = recvmmsg(fd, mi, BATCH, MSG_DONTWAIT, NULL);
			if (m <= 0)
				continue;
			if (fd == b->echo) {
				for (int i = 0; i < m; i++) {
					ii[i].iov_len = mi[i].msg_len;
					mi[i].msg_hdr.msg_namelen = sizeof(from[i]);
				}
				(void)sendmmsg(b->echo, mi, (unsigned)m, 0);
				for (int i = 0; i < m; i++)
					ii[i].iov_len = BUFSZ;
				continue;
			}
			t = now_ns();
			for (int i = 0; i < m; i++) {
				uint32_t id;
				uint64_t sent_at;

				memcpy(&id, in[i], 4);
				memcpy(&sent_at, in[i] + 8, 8);
				if (mi[i].msg_len != PKT || id >= b->n || in[i][PKT - 1] != 0x5a) {
					b->bad++;
					continue;
				}
				b->back++;
				if (b->nrtt < b->caprtt)
					b->rtt_us[b->nrtt++] = (uint32_t)((t - sent_at) / 1000);
			}
		}
	}
	free(seq);
	close(ep);
}

int main(int argc, char **argv)
{
	static const char *const all_modes[] = {"epoll", "epoll-connected", "uring", "shared"};
	struct bench b = {.seconds = 10};
	const char *modes[4] = {0};
	unsigned ns[8], nn = 0, nm = 0;
	struct rlimit rl = {20000, 20000};

	(void)setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pin"))
			b.pin = true;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			b.seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc && nm < 4)
			modes[nm++] = argv[++i];
		else if (nn < 8)
			ns[nn++] = (unsigned)atoi(argv[i]);
	}
	if (!nn) {
		ns[nn++] = 100;
		ns[nn++] = 500;
		ns[nn++] = 1000;
	}
	if (!nm)
		for (; nm < 4; nm++)
			modes[nm] = all_modes[nm];
	printf("relay floor: no SRTP, 172-byte datagrams, 20 ms streams, %d s windows%s\n",
	       b.seconds, b.pin ? ", relay on CPU 0, load on CPU 1" : "");
	for (unsigned x = 0; x < nn * nm; x++) {
		pthread_t th;

		b.mode = modes[x % nm];
		b.connected = !strcmp(b.mode, "epoll-connected");
		b.n = ns[x / nm];
		b.st = calloc(b.n, sizeof(*b.st));
		b.client = udp_bound(&b.client_addr);
		b.echo = udp_bound(&b.echo_addr);
		for (unsigned i = 0; i < b.n; i++) {
			b.st[i].a = udp_bound(&b.st[i].a_addr);
			b.st[i].b = udp_bound(NULL);
			b.st[i].id = i;
		}
		b.shared_a = b.shared_b = -1;
		if (!strcmp(b.mode, "shared")) {
			b.shared_a = udp_bound(&b.shared_a_addr);
			b.shared_b = udp_bound(NULL);
		}
		b.caprtt = (size_t)b.n * 50 * (size_t)b.seconds + 1024;
		b.rtt_us = malloc(b.caprtt * sizeof(uint32_t));
		b.nrtt = b.sent = b.back = b.bad = b.relayed = 0;
		atomic_store(&b.stop, false);
		pthread_create(&th, NULL, relay_main, &b);
		if (b.pin)
			pin_to(1);
		load(&b);
		atomic_store(&b.stop, true);
		pthread_join(th, NULL);
		qsort(b.rtt_us, b.nrtt, sizeof(uint32_t), cmp_u32);
		printf("%-16s N=%-5u relay CPU per relayed packet %.2f us (%.0f%% of a core); "
		       "sent %llu, back %llu, bad %llu; round trip p50/p99 %u / %u us\n",
		       b.mode, b.n, b.relayed ? b.relay_cpu_s * 1e6 / (double)b.relayed : 0,
		       b.relay_cpu_s * 100 / (b.seconds + 0.3), (unsigned long long)b.sent,
		       (unsigned long long)b.back, (unsigned long long)b.bad,
		       b.nrtt ? b.rtt_us[b.nrtt / 2] : 0, b.nrtt ? b.rtt_us[b.nrtt * 99 / 100] : 0);
		fflush(stdout);
		for (unsigned i = 0; i < b.n; i++) {
			close(b.st[i].a);
			close(b.st[i].b);
		}
		if (b.shared_a >= 0) {
			close(b.shared_a);
			close(b.shared_b);
		}
		close(b.client);
		close(b.echo);
		free(b.st);
		free(b.rtt_us);
	}
	return 0;
}
