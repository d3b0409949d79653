/* A WebRTC session's libnice agent off the worker's GLib loop: the agent
 * runs on a GMainContext of the session's own (its timers: checks,
 * keepalives, consent), which is never polled; its context is dispatched by
 * hand when its next timer is due (one heap of deadlines and one GSource per
 * worker). No receive callback is attached, so the agent adds no socket
 * sources: when the worker's epoll (poll.c) reports one of its sockets
 * ready, the worker reads the agent in batches with
 * nice_agent_recv_messages_nonblocking (libnice answers and consumes STUN
 * inside) into buffers of its own and hands each packet to the session. So
 * a packet costs no GLib source dispatch, and a worker's loop prepares and
 * checks a handful of sources per wake-up. With ICE-TCP (sockets come and
 * go during checks) the agent stays on the worker's context with a receive
 * callback. Once ICE is connected on a UDP pair of ours, the worker takes
 * that pair's socket from libnice's reads and reads it itself with recvmmsg
 * (STUN to consent.c, the rest to the session), until an ICE restart or
 * another selected pair hands it back. Worker thread only; the session owns
 * its context and watches. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "config/config.h"
#include "log/log.h"
#include "media/media_internal.h"

/* Descriptors of a session's context: the agent's sockets, GLib's
 * wake-up; more than this are not expected without ICE-TCP. */
#define NICE_POLLFDS 16

/* Packets taken from an agent per read, and reads per wake-up. */
#define NRX_BATCH  16
#define NRX_ROUNDS 4

/* Once connected, how often a data read re-takes the agent's deadline
 * (STUN consumed by a read, such as a consent answer, only moves timers
 * later; a check started by a read before connection is taken at once). */
#define REARM_DATA_US 100000

/* Datagrams taken per recvmmsg from a socket read directly. */
#define DRX_BATCH 32

struct sb_direct_rx {
	struct mmsghdr mh[DRX_BATCH];
	struct iovec iov[DRX_BATCH];
	struct sockaddr_storage from[DRX_BATCH];
	uint8_t buf[DRX_BATCH][SB_MEDIA_MAX_PKT + SRTP_MAX_TRAILER_LEN];
};

struct sb_nice_rx {
	NiceInputMessage msg[NRX_BATCH];
	GInputVector vec[NRX_BATCH];
	uint8_t buf[NRX_BATCH][SB_MEDIA_MAX_PKT + SRTP_MAX_TRAILER_LEN];
};

/* ---- the worker's heap of deadlines (binary, by nice_due_us) ---- */

static void heap_swap(struct sb_mworker *w, unsigned a, unsigned b)
{
	struct sb_msession *x = w->nh[a];

	w->nh[a] = w->nh[b];
	w->nh[b] = x;
	w->nh[a]->nice_hidx = a + 1;
	w->nh[b]->nice_hidx = b + 1;
}

static void heap_fix(struct sb_mworker *w, unsigned i)
{
	while (i > 0 && w->nh[(i - 1) / 2]->nice_due_us > w->nh[i]->nice_due_us) {
		heap_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->nh_n && w->nh[l]->nice_due_us < w->nh[m]->nice_due_us)
			m = l;
		if (r < w->nh_n && w->nh[r]->nice_due_us < w->nh[m]->nice_due_us)
			m = r;
		if (m == i)
			return;
		heap_swap(w, i, m);
		i = m;
	}
}

static void heap_remove(struct sb_mworker *w, struct sb_msession *s)
{
	unsigned i = s->nice_hidx - 1;

	if (!s->nice_hidx)
		return;
	s->nice_hidx = 0;
	w->nh_n--;
	if (i != w->nh_n) {
		w->nh[i] = w->nh[w->nh_n];
		w->nh[i]->nice_hidx = i + 1;
		heap_fix(w, i);
	}
}

/* Puts s in the heap at due (or takes it out, due < 0). */
static int heap_set(struct sb_mworker *w, struct sb_msession *s, int64_t due)
{
	if (due < 0) {
		heap_remove(w, s);
	} else if (s->nice_hidx) {
		s->nice_due_us = due;
		heap_fix(w, s->nice_hidx - 1);
	} else {
		if (w->nh_n == w->nh_cap) {
			unsigned cap = w->nh_cap ? 2 * w->nh_cap : 64;
			struct sb_msession **nh = g_try_renew(struct sb_msession *, w->nh, cap);

			if (!nh)
				return -ENOMEM;
			w->nh = nh;
			w->nh_cap = cap;
		}
		s->nice_due_us = due;
		w->nh[w->nh_n] = s;
		s->nice_hidx = ++w->nh_n;
		heap_fix(w, w->nh_n - 1);
	}
	return 0;
}

/* ---- dispatching a session's context ---- */

/* One g_main_context_iteration() of s's context for its timers (its
 * descriptors are never ready: the agent's sockets are read by
 * nice_ready_cb). Then the next deadline of the context goes into the heap. */
static void nice_run(struct sb_msession *s)
{
	GMainContext *c = s->nice_ctx;
	GPollFD fds[NICE_POLLFDS];
	gint prio, timeout, n;

	if (!g_main_context_acquire(c))
		return;
	g_main_context_prepare(c, &prio);
	n = g_main_context_query(c, prio, &timeout, fds, NICE_POLLFDS);
	n = n > NICE_POLLFDS ? NICE_POLLFDS : n;
	for (gint i = 0; i < n; i++)
		fds[i].revents = 0;
	if (g_main_context_check(c, prio, fds, n))
		g_main_context_dispatch(c);
	g_main_context_release(c);
	sb__nice_io_rearm(s);
}

void sb__nice_io_rearm(struct sb_msession *s)
{
	GMainContext *c = s->nice_ctx;
	GPollFD fds[NICE_POLLFDS];
	gint prio, timeout = -1, n;
	bool ready;

	if (!c || !g_main_context_acquire(c))
		return;
	/* The context's own computation of its next deadline; what is ready
	 * now runs on the worker's next iteration, not inside the caller. */
	ready = g_main_context_prepare(c, &prio);
	n = g_main_context_query(c, prio, &timeout, fds, NICE_POLLFDS);
	n = n > NICE_POLLFDS ? NICE_POLLFDS : n;
	for (gint i = 0; i < n; i++)
		fds[i].revents = 0;
	ready = g_main_context_check(c, prio, fds, n) || ready;
	g_main_context_release(c);
	if (ready)
		timeout = 0;
	if (heap_set(s->w, s, timeout < 0 ? -1 : g_get_monotonic_time() + (int64_t)timeout * 1000) <
	    0)
		sb__msession_fail(s, -ENOMEM, "out of memory");
}

static void nice_ready_cb(struct sb_mwatch *wt, uint32_t events)
{
	struct sb_msession *s = wt->owner;
	struct sb_nice_rx *rx = s->w->nrx;
	NiceAgent *agent = s->agent;
	gint n = NRX_BATCH;
	GError *err = NULL;
	int64_t now;

	g_object_ref(agent); /* a packet may fail the session */
	/* At most NRX_ROUNDS batches per wake-up, so that a peer that keeps its
	 * socket full cannot hold the worker; epoll is level-triggered, so the
	 * rest is read on the next pass. Read also once the session has failed
	 * (what it reads is dropped), or its socket would stay ready. */
	for (int round = 0; round < NRX_ROUNDS && n == NRX_BATCH && wt->fn == nice_ready_cb;
	     round++) {
		for (unsigned i = 0; i < NRX_BATCH; i++) {
			rx->vec[i] = (GInputVector){rx->buf[i], SB_MEDIA_MAX_PKT};
			rx->msg[i] = (NiceInputMessage){&rx->vec[i], 1, NULL, 0};
		}
		n = nice_agent_recv_messages_nonblocking(agent, s->stream, 1, rx->msg, NRX_BATCH,
							 NULL, &err);
		if (n < 0 && !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			/* The agent will not read this socket (its stream is
			 * gone): stop watching it rather than wake for it. */
			sb_warn("session %" PRIu64 ": ICE read failed (%s), socket unwatched",
				s->id, err ? err->message : "?");
			sb__mpoll_del(s->w, wt);
		}
		g_clear_error(&err);
		for (gint i = 0; i < n && !s->failed; i++)
			if (rx->msg[i].length > 0)
				sb__msession_on_packet(s, rx->buf[i], (unsigned)rx->msg[i].length);
	}
	g_object_unref(agent);
	now = g_get_monotonic_time();
	if (!s->connected || now - s->nice_rearm_us >= REARM_DATA_US) {
		s->nice_rearm_us = now;
		sb__nice_io_rearm(s);
	}
}

/* The heap's source computes its timeout from the heap in prepare rather
 * than being given a ready time: g_source_set_ready_time() signals the
 * context's wake-up descriptor on every change, which cost the worker a
 * write, a read and an extra loop pass several thousand times a second. */
struct nice_due_source {
	GSource base;
	struct sb_mworker *w;
};

static gboolean nice_due_prepare(GSource *src, gint *timeout)
{
	struct sb_mworker *w = ((struct nice_due_source *)src)->w;
	int64_t now, due;

	if (!w->nh_n) {
		*timeout = -1;
		return FALSE;
	}
	now = g_source_get_time(src);
	due = w->nh[0]->nice_due_us;
	if (due <= now)
		return TRUE;
	*timeout = (gint)MIN((due - now + 999) / 1000, (int64_t)G_MAXINT);
	return FALSE;
}

static gboolean nice_due_check(GSource *src)
{
	struct sb_mworker *w = ((struct nice_due_source *)src)->w;

	return w->nh_n && w->nh[0]->nice_due_us <= g_source_get_time(src);
}

static gboolean nice_due_dispatch(GSource *src, GSourceFunc cb, gpointer ud)
{
	struct sb_mworker *w = ((struct nice_due_source *)src)->w;
	int64_t now = g_get_monotonic_time();

	/* Each session runs once per pass; its new deadline is later. */
	for (unsigned k = w->nh_n; k > 0 && w->nh_n && w->nh[0]->nice_due_us <= now; k--) {
		struct sb_msession *s = w->nh[0];

		heap_remove(w, s);
		nice_run(s);
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs nice_due_funcs = {
	.prepare = nice_due_prepare,
	.check = nice_due_check,
	.dispatch = nice_due_dispatch,
};

/* ---- per worker ---- */

int sb__nice_io_init(struct sb_mworker *w)
{
	w->nrx = g_try_new(struct sb_nice_rx, 1);
	w->drx = g_try_new(struct sb_direct_rx, 1);
	if (!w->nrx || !w->drx || sb__consent_init(w) < 0)
		return -ENOMEM;
	/* Set once: a read only puts back the address lengths it used. */
	for (unsigned i = 0; i < DRX_BATCH; i++) {
		w->drx->iov[i] = (struct iovec){w->drx->buf[i], SB_MEDIA_MAX_PKT};
		w->drx->mh[i].msg_hdr = (struct msghdr){.msg_name = &w->drx->from[i],
							.msg_namelen = sizeof(w->drx->from[i]),
							.msg_iov = &w->drx->iov[i],
							.msg_iovlen = 1};
	}
	w->nh_src = g_source_new(&nice_due_funcs, sizeof(struct nice_due_source));
	((struct nice_due_source *)w->nh_src)->w = w;
	g_source_attach(w->nh_src, w->ctx);
	return 0;
}

void sb__nice_io_fini(struct sb_mworker *w)
{
	if (w->nh_src) {
		g_source_destroy(w->nh_src);
		g_source_unref(w->nh_src);
	}
	w->nh_src = NULL;
	g_free(w->nh);
	w->nh = NULL;
	g_free(w->nrx);
	w->nrx = NULL;
	g_free(w->drx);
	w->drx = NULL;
	sb__consent_fini(w);
	w->nh_n = w->nh_cap = 0;
}

/* ---- per session ---- */

GMainContext *sb__nice_io_context(struct sb_msession *s)
{
	/* ICE-TCP opens and accepts sockets while checks run, which a watch
	 * set taken after gathering would miss. */
	if (s->w->m->cfg->media.ice_tcp)
		return s->w->ctx;
	if (!s->nice_ctx)
		s->nice_ctx = g_main_context_new();
	return s->nice_ctx;
}

int sb__nice_io_attach(struct sb_msession *s, NiceAgentRecvFunc fn)
{
	if (s->nice_ctx)
		return 0; /* read in batches by nice_ready_cb */
	return nice_agent_attach_recv(s->agent, s->stream, 1, s->w->ctx, fn, s) ? 0 : -EINVAL;
}

int sb__nice_io_watch(struct sb_msession *s)
{
	GPtrArray *socks;
	int r = 0;

	if (!s->nice_ctx)
		return 0;
	socks = nice_agent_get_sockets(s->agent, s->stream, 1);
	if (!socks)
		return -EINVAL;
	sb__nice_io_detach(s);
	g_free(s->nice_w);
	s->nice_w = g_new0(struct sb_mwatch, socks->len);
	s->n_nice_w = socks->len;
	for (guint i = 0; i < socks->len && r == 0; i++) {
		s->nice_w[i].owner = s;
		r = sb__mpoll_add(s->w, &s->nice_w[i], g_socket_get_fd(socks->pdata[i]),
				  nice_ready_cb);
	}
	g_ptr_array_unref(socks);
	sb__nice_io_rearm(s);
	return r;
}

void sb__nice_io_detach(struct sb_msession *s)
{
	sb__nice_io_direct_leave(s);
	for (unsigned i = 0; i < s->n_nice_w; i++)
		sb__mpoll_del(s->w, &s->nice_w[i]);
	heap_remove(s->w, s);
}

void sb__nice_io_free(struct sb_msession *s)
{
	sb__nice_io_detach(s);
	g_free(s->nice_w);
	s->nice_w = NULL;
	s->n_nice_w = 0;
	if (s->nice_ctx)
		g_main_context_unref(s->nice_ctx);
	s->nice_ctx = NULL;
}

/* ---- the connected pair's socket, read directly ---- */

/* One datagram of a direct read: STUN (RFC 7983: first byte 0-3) to
 * consent.c from any source; DTLS and SRTP only from the selected remote
 * address (RFC 7675 section 5.1: media is sent and taken on the pair that
 * has consent), others dropped. */
static void direct_packet(struct sb_msession *s, struct sb_direct_rx *rx, int i)
{
	const struct msghdr *h = &rx->mh[i].msg_hdr;
	unsigned len = rx->mh[i].msg_len;

	if (len == 0 || (h->msg_flags & MSG_TRUNC))
		return;
	if (rx->buf[i][0] < 4) {
		if (s->dx.wt)
			sb__consent_input(s, rx->buf[i], len, &rx->from[i], h->msg_namelen);
		return;
	}
	if (sb__sockaddr_eq((const struct sockaddr *)&rx->from[i],
			    (const struct sockaddr *)&s->dx.peer))
		sb__msession_on_packet(s, rx->buf[i], len);
}

static void direct_ready_cb(struct sb_mwatch *wt, uint32_t events)
{
	struct sb_msession *s = wt->owner;
	struct sb_direct_rx *rx = s->w->drx;
	int n = DRX_BATCH;

	/* At most NRX_ROUNDS batches per wake-up, as nice_ready_cb; also after
	 * the session failed (what is read is dropped). */
	for (int round = 0; round < NRX_ROUNDS && n == DRX_BATCH && s->dx.wt == wt; round++) {
		n = recvmmsg(wt->fd, rx->mh, DRX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				sb_debug("session %" PRIu64 ": ICE socket read: %s", s->id,
					 strerror(errno));
			return;
		}
		/* A packet may hand the socket back to libnice (another pair
		 * nominated): the rest of the batch is still ours to demux. */
		for (int i = 0; i < n; i++) {
			direct_packet(s, rx, i);
			rx->mh[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
		}
	}
}

void sb__nice_io_direct_take(struct sb_msession *s)
{
	struct sb_ice_direct *d = &s->dx;
	NiceCandidate *local = NULL, *remote = NULL;
	struct sb_mwatch *wt = NULL;
	GSocket *gs;
	guint st;
	int fd;

	if (d->wt || !s->agent || !s->nice_ctx || s->failed || d->rechecking)
		return;
	st = nice_agent_get_component_state(s->agent, s->stream, 1);
	if ((st != NICE_COMPONENT_STATE_CONNECTED && st != NICE_COMPONENT_STATE_READY) ||
	    !nice_agent_get_selected_pair(s->agent, s->stream, 1, &local, &remote))
		return;
	/* A socket of ours (host, or a peer-reflexive candidate on a host
	 * socket), UDP: nice_agent_get_selected_socket refuses TCP and relays. */
	if (local->type != NICE_CANDIDATE_TYPE_HOST &&
	    local->type != NICE_CANDIDATE_TYPE_PEER_REFLEXIVE)
		return;
	gs = nice_agent_get_selected_socket(s->agent, s->stream, 1);
	if (!gs)
		return;
	/* The agent keeps the socket open until the session frees it. */
	fd = g_socket_get_fd(gs);
	g_object_unref(gs);
	for (unsigned i = 0; i < s->n_nice_w && !wt; i++)
		if (s->nice_w[i].added && s->nice_w[i].fd == fd)
			wt = &s->nice_w[i];
	if (!wt)
		return;
	memset(&d->peer, 0, sizeof(d->peer));
	nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&d->peer);
	d->peer_len = d->peer.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	if (sb__consent_start(s, local) < 0)
		return;
	d->wt = wt;
	d->fd = fd;
	wt->fn = direct_ready_cb;
	atomic_fetch_add(&s->w->m->ice_direct, 1);
	sb_debug("session %" PRIu64 ": reading the selected ICE socket directly", s->id);
}

void sb__nice_io_direct_leave(struct sb_msession *s)
{
	if (!s->dx.wt)
		return;
	s->dx.wt->fn = nice_ready_cb;
	s->dx.wt = NULL;
	sb__consent_stop(s);
	/* No rearm here: this runs inside libnice's signals too; the deadline
	 * is taken after each command, dispatch and libnice read. */
}

void sb__nice_io_send(struct sb_msession *s, const uint8_t *buf, size_t len)
{
	if (s->dx.wt) {
		/* A full socket buffer drops the datagram, as libnice does. */
		(void)sendto(s->dx.fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&s->dx.peer,
			     s->dx.peer_len);
		return;
	}
	nice_agent_send(s->agent, s->stream, 1, (guint)len, (const gchar *)buf);
}
