/* The media worker's socket readiness: one epoll descriptor per worker,
 * watched by one GSource on the worker's context, so that a wake-up costs
 * the ready sockets rather than a poll() over every socket of every session.
 * Also the worker's tick for per-session periodic work (statistics).
 * Worker thread only, but for sb__mpoll_init/fini (before and after the
 * worker thread runs). The worker owns the epoll descriptor. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <glib-unix.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log/log.h"
#include "media/media_internal.h"

/* Events taken per epoll_wait; more stay ready for the next wake-up
 * (level-triggered), so one busy worker still returns to its loop. */
#define MPOLL_BATCH 64

/* Period of the worker tick. Statistics (every 5 s a session, randomized)
 * and consent checks (5 s +-20 %) fall due at their own times, and each tick
 * does the work due. With many sessions a short tick takes a few sessions'
 * work at a time instead of a burst that delays every packet queued behind
 * it (a 500 ms tick over 1000 sessions sent about 100 RTCP reports and
 * consent checks at once, some milliseconds); with few, a long one spares
 * the wake-ups (each costs tens of microseconds here). */
#define MPOLL_TICK_MS		 50
#define MPOLL_TICK_IDLE_MS	 500
#define MPOLL_TICK_BUSY_SESSIONS 50

static gboolean mpoll_ready_cb(gint fd, GIOCondition cond, gpointer ud)
{
	struct sb_mworker *w = ud;
	struct epoll_event ev[MPOLL_BATCH];
	int n = epoll_wait(fd, ev, MPOLL_BATCH, 0);

	if (n <= 0)
		return G_SOURCE_CONTINUE;
	w->mp_ev = ev;
	w->mp_n = n;
	for (int i = 0; i < n; i++) {
		struct sb_mwatch *wt = ev[i].data.ptr;

		/* NULL: removed by an earlier callback of this batch. */
		if (wt)
			wt->fn(wt, ev[i].events);
	}
	w->mp_ev = NULL;
	w->mp_n = 0;
	return G_SOURCE_CONTINUE;
}

static gboolean tick_cb(gpointer ud);

static void tick_arm(struct sb_mworker *w, unsigned ms)
{
	if (w->mp_tick)
		g_source_unref(w->mp_tick);
	w->mp_tick_ms = ms;
	w->mp_tick = g_timeout_source_new(ms);
	g_source_set_callback(w->mp_tick, tick_cb, w, NULL);
	g_source_attach(w->mp_tick, w->ctx);
}

static gboolean tick_cb(gpointer ud)
{
	struct sb_mworker *w = ud;
	unsigned want = g_hash_table_size(w->sessions) >= MPOLL_TICK_BUSY_SESSIONS
				? MPOLL_TICK_MS
				: MPOLL_TICK_IDLE_MS;

	sb__stats_tick(w);
	if (want == w->mp_tick_ms)
		return G_SOURCE_CONTINUE;
	/* The context holds the running source until it is removed. */
	tick_arm(w, want);
	return G_SOURCE_REMOVE;
}

int sb__mpoll_init(struct sb_mworker *w)
{
	w->mp_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->mp_fd < 0)
		return -errno;
	w->mp_src = g_unix_fd_source_new(w->mp_fd, G_IO_IN);
	/* GLib blocks a source that may not recurse while it dispatches it:
	 * its descriptor is taken out of the context's poll set and put back,
	 * and each change signals the context's wake-up eventfd (two writes,
	 * one read and an extra loop pass per wake-up). Nothing iterates the
	 * worker's context from inside this callback. */
	g_source_set_can_recurse(w->mp_src, TRUE);
	g_source_set_callback(w->mp_src, G_SOURCE_FUNC(mpoll_ready_cb), w, NULL);
	g_source_attach(w->mp_src, w->ctx);
	tick_arm(w, MPOLL_TICK_IDLE_MS);
	return 0;
}

void sb__mpoll_fini(struct sb_mworker *w)
{
	if (!w->mp_src)
		return; /* never initialised (a zeroed worker) */
	if (w->mp_tick) {
		g_source_destroy(w->mp_tick);
		g_source_unref(w->mp_tick);
		w->mp_tick = NULL;
	}
	if (w->mp_src) {
		g_source_destroy(w->mp_src);
		g_source_unref(w->mp_src);
		w->mp_src = NULL;
	}
	close(w->mp_fd);
	w->mp_fd = -1;
}

int sb__mpoll_add(struct sb_mworker *w, struct sb_mwatch *wt, int fd, sb_mwatch_fn fn)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = wt};

	if (wt->added)
		return -EBUSY;
	wt->fn = fn;
	wt->fd = fd;
	if (epoll_ctl(w->mp_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	wt->added = true;
	return 0;
}

void sb__mpoll_del(struct sb_mworker *w, struct sb_mwatch *wt)
{
	if (!wt->added)
		return;
	(void)epoll_ctl(w->mp_fd, EPOLL_CTL_DEL, wt->fd, NULL);
	wt->added = false;
	/* Not called back for what the batch being dispatched still holds. */
	for (int i = 0; i < w->mp_n; i++)
		if (w->mp_ev[i].data.ptr == wt)
			w->mp_ev[i].data.ptr = NULL;
}
