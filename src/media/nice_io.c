/* Reading a WebRTC session's libnice sockets from the worker's epoll
 * (poll.c) instead of the worker's GLib poll: the agent's socket sources
 * live on a GMainContext of the session's own, which is never polled; when
 * epoll reports one of the agent's descriptors ready, that context is
 * dispatched by hand with the readiness epoll gave (no poll() call), and
 * libnice reads, answers STUN (checks, consent) and hands the rest to the
 * session's receive callback as before. Worker thread only; the session
 * owns the context and the watches. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <sys/epoll.h>

#include "config/config.h"
#include "log/log.h"
#include "media/media_internal.h"

/* Descriptors of the context: the agent's sockets and GLib's wake-up. */
#define NICE_POLLFDS (SB_MSESSION_NICE_FDS + 4)

static gushort gio_of(uint32_t events)
{
	return (gushort)(((events & EPOLLIN) ? G_IO_IN : 0) | ((events & EPOLLERR) ? G_IO_ERR : 0) |
			 ((events & EPOLLHUP) ? G_IO_HUP : 0));
}

static void nice_ready_cb(struct sb_mwatch *wt, uint32_t events)
{
	struct sb_msession *s = wt->owner;
	GMainContext *c = s->nice_ctx;
	GPollFD fds[NICE_POLLFDS];
	gint prio, timeout, n;

	if (!c || !g_main_context_acquire(c))
		return;
	/* The steps of g_main_context_iteration() with the poll() replaced by
	 * what epoll already said. */
	g_main_context_prepare(c, &prio);
	n = g_main_context_query(c, prio, &timeout, fds, NICE_POLLFDS);
	if (n > NICE_POLLFDS)
		n = NICE_POLLFDS; /* sb__nice_io_watch keeps it from happening */
	for (gint i = 0; i < n; i++)
		fds[i].revents =
			fds[i].fd == wt->fd
				? (gushort)(gio_of(events) & (fds[i].events | G_IO_ERR | G_IO_HUP))
				: 0;
	if (g_main_context_check(c, prio, fds, n))
		g_main_context_dispatch(c);
	g_main_context_release(c);
}

int sb__nice_io_attach(struct sb_msession *s, NiceAgentRecvFunc fn)
{
	/* ICE-TCP opens and accepts sockets while checks run, which a watch
	 * set taken after gathering would miss: those agents stay on the
	 * worker's context. */
	if (!s->w->m->cfg->media.ice_tcp)
		s->nice_ctx = g_main_context_new();
	s->nice_fn = fn;
	return nice_agent_attach_recv(s->agent, s->stream, 1, s->nice_ctx ? s->nice_ctx : s->w->ctx,
				      fn, s)
		       ? 0
		       : -EINVAL;
}

/* Back to the worker's context: the agent reads its sockets there. */
static void nice_io_fallback(struct sb_msession *s)
{
	sb__nice_io_detach(s);
	nice_agent_attach_recv(s->agent, s->stream, 1, s->w->ctx, s->nice_fn, s);
	if (s->nice_ctx)
		g_main_context_unref(s->nice_ctx);
	s->nice_ctx = NULL;
}

void sb__nice_io_watch(struct sb_msession *s)
{
	GPtrArray *socks;

	if (!s->nice_ctx)
		return;
	socks = nice_agent_get_sockets(s->agent, s->stream, 1);
	if (!socks || socks->len > SB_MSESSION_NICE_FDS) {
		nice_io_fallback(s);
		goto out;
	}
	for (guint i = 0; i < socks->len; i++) {
		int fd = g_socket_get_fd(socks->pdata[i]);

		s->nice_w[i].owner = s;
		if (sb__mpoll_add(s->w, &s->nice_w[i], fd, nice_ready_cb) < 0) {
			nice_io_fallback(s);
			goto out;
		}
	}
out:
	if (socks)
		g_ptr_array_unref(socks);
}

void sb__nice_io_detach(struct sb_msession *s)
{
	for (int i = 0; i < SB_MSESSION_NICE_FDS; i++)
		sb__mpoll_del(s->w, &s->nice_w[i]);
}

void sb__nice_io_free(struct sb_msession *s)
{
	if (s->nice_ctx)
		g_main_context_unref(s->nice_ctx);
	s->nice_ctx = NULL;
}
