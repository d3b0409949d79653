/* The media component: worker threads, the command path from the control
 * thread to them (one bus per worker), and the engine's media ops. Control
 * thread for everything but the worker loops. Owns the workers, which own
 * their sessions. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"
#include "log/log.h"
#include "media/media_internal.h"

/* n capped by the CPU quota in a cgroup v2 cpu.max file ("max 100000" or
 * "150000 100000": 1.5 cores, rounded up). */
static unsigned quota_cap(const char *file, unsigned n)
{
	FILE *f = fopen(file, "re");
	char quota[32] = "";
	unsigned long long q, period;

	if (!f)
		return n;
	if (fscanf(f, "%31s %llu", quota, &period) == 2 && strcmp(quota, "max") != 0 &&
	    sscanf(quota, "%llu", &q) == 1 && period > 0 && q > 0) {
		unsigned long long allowed = (q + period - 1) / period;

		if (allowed < n)
			n = (unsigned)allowed;
	}
	fclose(f);
	return n;
}

/* The cores this process may use: those of its CPU affinity (a container's
 * cpuset, taskset), fewer if the CPU quota of its cgroup or of one above it
 * allows fewer (cgroup v2: docker --cpus, systemd CPUQuota=, a Kubernetes
 * limit). Two workers time-sharing one core queue each other's packets for a
 * scheduler slice. */
unsigned sb__media_cores(const char *cgroup_root, const char *self_cgroup)
{
	cpu_set_t set;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = online > 0 ? (unsigned)online : 1;
	char line[512], dir[1024] = "", file[1100];
	FILE *f;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		n = (unsigned)CPU_COUNT(&set);
	/* cgroup v2's line is "0::/path" (relative to the root we see). */
	f = fopen(self_cgroup, "re");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(dir, sizeof(dir), "%s", line + 3);
			break;
		}
	if (f)
		fclose(f);
	/* From our cgroup up to the root: the tightest quota holds. */
	for (;;) {
		char *slash = strrchr(dir, '/');

		snprintf(file, sizeof(file), "%s%s/cpu.max", cgroup_root, dir);
		n = quota_cap(file, n);
		if (!slash)
			break;
		*slash = 0;
	}
	return n ? n : 1;
}

struct sb_media *sb_media_new(struct sb_config *cfg, struct sb_bus *control_bus)
{
	struct sb_media *m = calloc(1, sizeof(*m));
	unsigned cores = sb__media_cores("/sys/fs/cgroup", "/proc/self/cgroup");

	if (!m)
		return NULL;
	m->cfg = sb_config_ref(cfg);
	m->control = control_bus;
	m->n_workers = cfg->media.workers > 0 ? (unsigned)cfg->media.workers : cores;
	m->workers = calloc(m->n_workers, sizeof(*m->workers));
	m->where = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	if (!m->workers)
		return sb_media_free(m);
	return m;
}

/* A session bridged anew (the engine's transfer joins a party to another
 * leg) leaves its old partner: what the old one sends goes nowhere, rather
 * than on to the party that has moved on, until it is destroyed. */
static void bridge_leave(struct sb_msession *s, const struct sb_msession *to)
{
	struct sb_msession *old = s->peer_s;

	if (old && old != to && old->peer_s == s)
		sb__msession_point(old, NULL);
}

static void worker_cmd_cb(const struct sb_event *ev, void *ud)
{
	struct sb_mworker *w = ud;
	uint64_t id = (uint64_t)ev->arg[0];
	struct sb_msession *s;

	switch (ev->type) {
	case SB_EV_MEDIA_CMD_CREATE:
		sb__msession_create(w, ev);
		break;
	case SB_EV_MEDIA_CMD_UPDATE:
		sb__msession_update(w, id, ev->text);
		break;
	case SB_EV_MEDIA_CMD_REOFFER:
		sb__msession_reoffer(w, id, ev->arg[1], ev->text);
		break;
	case SB_EV_MEDIA_CMD_REOFFER_DONE:
		sb__msession_reoffer_done(w, id, ev->arg[1], ev->arg[2] != 0);
		break;
	case SB_EV_MEDIA_CMD_HOLD:
		sb__msession_hold(w, id, ev->arg[1], ev->arg[2] != 0);
		break;
	case SB_EV_MEDIA_CMD_OFFER_DONE:
		sb__msession_offer_done(w, id, ev->arg[1], ev->text);
		break;
	case SB_EV_MEDIA_CMD_CANDIDATE:
		sb__msession_candidate(w, id, ev->text);
		break;
	case SB_EV_MEDIA_CMD_BRIDGE: {
		uint64_t other = (uint64_t)ev->arg[1];
		struct sb_msession *a = g_hash_table_lookup(w->sessions, &id);
		struct sb_msession *b = g_hash_table_lookup(w->sessions, &other);
		if (a && b) {
			/* A bridge takes both out of any conference. */
			sb__conf_leave(a);
			sb__conf_leave(b);
			bridge_leave(a, b);
			bridge_leave(b, a);
			sb__msession_point(a, b);
			sb__msession_point(b, a);
		}
		break;
	}
	case SB_EV_MEDIA_CMD_ICE_RESTART:
		sb__msession_ice_restart(w, id);
		break;
	case SB_EV_MEDIA_CMD_CHAT:
		sb__dc_chat(w, id, ev->text);
		break;
	case SB_EV_MEDIA_CMD_DTMF:
		sb__msession_dtmf(w, id, ev->text, (int)ev->arg[1]);
		break;
	case SB_EV_MEDIA_CMD_CONF_JOIN:
		sb__conf_join(w, id, (uint64_t)ev->arg[1]);
		break;
	case SB_EV_MEDIA_CMD_CONF_LEAVE:
		s = g_hash_table_lookup(w->sessions, &id);
		if (s)
			sb__conf_leave(s);
		break;
	case SB_EV_MEDIA_CMD_CONF_MUTE:
		sb__conf_mute(w, id, ev->arg[1] != 0);
		break;
	case SB_EV_MEDIA_CMD_DESTROY:
		sb__msession_destroy(w, id);
		return;
	default:
		break;
	}
	/* A command may have started or moved timers of the session's ICE
	 * agent, which runs off the worker's loop (nice_io.c). */
	s = g_hash_table_lookup(w->sessions, &id);
	if (s)
		sb__nice_io_rearm(s);
}

static gpointer worker_main(gpointer ud)
{
	struct sb_mworker *w = ud;

	g_main_context_push_thread_default(w->ctx);
	g_main_loop_run(w->loop);
	/* Sessions are freed on their own thread, with their agents. */
	g_hash_table_remove_all(w->sessions);
	while (g_main_context_iteration(w->ctx, FALSE))
		;
	g_main_context_pop_thread_default(w->ctx);
	return NULL;
}

static int worker_start(struct sb_media *m, struct sb_mworker *w, unsigned i)
{
	static const enum sb_event_type cmds[] = {
		SB_EV_MEDIA_CMD_CREATE,	      SB_EV_MEDIA_CMD_UPDATE,
		SB_EV_MEDIA_CMD_CANDIDATE,    SB_EV_MEDIA_CMD_BRIDGE,
		SB_EV_MEDIA_CMD_DESTROY,      SB_EV_MEDIA_CMD_DTMF,
		SB_EV_MEDIA_CMD_ICE_RESTART,  SB_EV_MEDIA_CMD_REOFFER,
		SB_EV_MEDIA_CMD_REOFFER_DONE, SB_EV_MEDIA_CMD_HOLD,
		SB_EV_MEDIA_CMD_OFFER_DONE,   SB_EV_MEDIA_CMD_CONF_JOIN,
		SB_EV_MEDIA_CMD_CONF_LEAVE,   SB_EV_MEDIA_CMD_CONF_MUTE,
		SB_EV_MEDIA_CMD_CHAT};
	char name[24];

	w->m = m;
	w->index = i;
	w->mp_fd = -1;
	w->ctx = g_main_context_new();
	w->loop = g_main_loop_new(w->ctx, FALSE);
	w->bus = sb_bus_new(&m->cfg->bus, w->ctx);
	w->sessions = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, sb__msession_free);
	if (!w->bus || sb__mpoll_init(w) < 0 || sb__nice_io_init(w) < 0 || sb__rtp_rx_init(w) < 0 ||
	    sb__conf_worker_init(w) < 0)
		return -ENOMEM;
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		sb_bus_subscribe(w->bus, cmds[k], worker_cmd_cb, w);
	snprintf(name, sizeof(name), "sb-media-%u", i);
	w->thread = g_thread_new(name, worker_main, w);
	return 0;
}

static gboolean quit_cb(gpointer ud)
{
	g_main_loop_quit(ud);
	return G_SOURCE_REMOVE;
}

static void worker_stop(struct sb_mworker *w)
{
	if (w->thread) {
		GSource *src = g_idle_source_new();
		g_source_set_callback(src, quit_cb, w->loop, NULL);
		g_source_attach(src, w->ctx);
		g_source_unref(src);
		g_thread_join(w->thread);
		w->thread = NULL;
	}
	if (w->sessions)
		g_hash_table_destroy(w->sessions);
	w->sessions = NULL;
	sb__moh_fini(w);
	sb__conf_worker_fini(w);
	sb__nice_io_fini(w);
	sb__rtp_rx_fini(w);
	sb__mpoll_fini(w);
	w->bus = sb_bus_free(w->bus);
	if (w->loop)
		g_main_loop_unref(w->loop);
	if (w->ctx)
		g_main_context_unref(w->ctx);
	w->loop = NULL;
	w->ctx = NULL;
}

static void media_stop(void *ud)
{
	struct sb_media *m = ud;

	for (unsigned i = 0; m->workers && i < m->n_workers; i++)
		worker_stop(&m->workers[i]);
	m->dtls = sb_dtls_ctx_free(m->dtls);
	m->running = false;
}

struct sb_media *sb_media_free(struct sb_media *m)
{
	if (!m)
		return NULL;
	media_stop(m);
	sb__dc_release(m);
	if (m->where)
		g_hash_table_destroy(m->where);
	free(m->workers);
	sb__moh_free(m->moh);
	sb_config_unref(m->cfg);
	free(m);
	return NULL;
}

static int media_start(void *ud, struct sb_lifecycle *lc)
{
	struct sb_media *m = ud;
	char err[160] = "";

	if (srtp_init() != srtp_err_status_ok) {
		sb_error("libsrtp2 did not initialise");
		return -EIO;
	}
	m->dtls =
		sb_dtls_ctx_new(m->cfg->media.dtls_cert, m->cfg->media.dtls_key, err, sizeof(err));
	if (!m->dtls) {
		sb_error("%s", err);
		return -EIO;
	}
	if (!m->moh && sb__moh_new(m->cfg->media.hold_music, &m->moh, err, sizeof(err)) < 0) {
		sb_error("[media] hold_music: %s", err);
		return -EIO;
	}
	for (unsigned i = 0; i < m->n_workers; i++)
		if (worker_start(m, &m->workers[i], i) < 0)
			return -ENOMEM;
	m->running = true;
	sb_info("%u media workers, DTLS fingerprint %s", m->n_workers,
		sb_dtls_ctx_fingerprint(m->dtls));
	sb_lifecycle_ready(lc, "media");
	return 0;
}

const struct sb_component_ops sb_media_component = {
	.name = "media",
	.start = media_start,
	.stop = media_stop,
};

/* ---- the engine's media ops (control thread) ---- */

static struct sb_mworker *worker_of(struct sb_media *m, uint64_t id)
{
	gpointer v = g_hash_table_lookup(m->where, &id);

	return v ? &m->workers[(GPOINTER_TO_UINT(v) & 0xffff) - 1] : NULL;
}

static int post_cmd(struct sb_mworker *w, enum sb_event_type type, uint64_t id, int64_t arg1,
		    uint64_t call, uint32_t leg, const char *text)
{
	struct sb_event ev = {.type = (uint16_t)type,
			      .call = call,
			      .leg = leg,
			      .arg = {(int64_t)id, arg1},
			      .text = text ? strdup(text) : NULL};

	if (text && !ev.text)
		return -ENOMEM;
	return sb_bus_post(w->bus, &ev) < 0 ? -EAGAIN : 0;
}

/* The options of an offer into the create command: arg2 the SRTP mode,
 * arg3 1 when a codec list was given, str the names in it that an offer of
 * ours can carry, comma-separated (the others could never be offered, and
 * so the list fits in str: a list of only those means no codec to offer). */
static int opts_put(const struct sb_engine_media_opts *o, struct sb_event *ev)
{
	size_t len = 0;

	if (!o)
		return 0;
	if (o->srtp < 0 || o->srtp >= _SB_ENGINE_SRTP_MAX)
		return -EINVAL;
	ev->arg[2] = o->srtp;
	ev->arg[3] = o->codecs && o->codecs[0];
	for (size_t i = 0; o->codecs && o->codecs[i]; i++) {
		const char *c = o->codecs[i];
		bool again = false;
		int n;

		for (size_t j = 0; j < i && !again; j++)
			again = strcasecmp(o->codecs[j], c) == 0;
		if (again || !sb__codec_offerable(c))
			continue;
		n = snprintf(ev->str + len, sizeof(ev->str) - len, "%s%s", len ? "," : "", c);
		if (n < 0 || (size_t)n >= sizeof(ev->str) - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return 0;
}

static int op_create(void *ud, uint64_t id, uint64_t call, uint32_t leg,
		     enum sb_engine_media_kind kind, const char *remote_sdp,
		     const struct sb_engine_media_opts *opts)
{
	struct sb_media *m = ud;
	struct sb_event ev = {.type = SB_EV_MEDIA_CMD_CREATE,
			      .call = call,
			      .leg = leg,
			      .arg = {(int64_t)id, kind}};
	unsigned idx;
	uint64_t *key;
	int r;

	if (!m->running)
		return -ESHUTDOWN;
	if ((r = opts_put(opts, &ev)) < 0)
		return r;
	if (remote_sdp && !(ev.text = strdup(remote_sdp)))
		return -ENOMEM;
	idx = (unsigned)((opts && opts->affinity ? opts->affinity : call) % m->n_workers);
	key = g_new(uint64_t, 1);
	*key = id;
	/* The worker (1 + index, low 16 bits) and the kind (op_chat). */
	g_hash_table_replace(m->where, key, GUINT_TO_POINTER((idx + 1) | (unsigned)kind << 16));
	return sb_bus_post(m->workers[idx].bus, &ev) < 0 ? -EAGAIN : 0;
}

static int op_update(void *ud, uint64_t id, const char *remote_sdp)
{
	struct sb_mworker *w = worker_of(ud, id);

	/* The answer to our offer: of an RTP leg, of a browser's first offer
	 * or of an ICE restart. A peer's new offer goes through op_reoffer. */
	return w ? post_cmd(w, SB_EV_MEDIA_CMD_UPDATE, id, 0, 0, 0, remote_sdp ? remote_sdp : "")
		 : -ENOENT;
}

static int op_reoffer(void *ud, uint64_t id, uint64_t seq, const char *remote_sdp)
{
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_REOFFER, id, (int64_t)seq, 0, 0,
			    remote_sdp ? remote_sdp : "")
		 : -ENOENT;
}

/* A command about session id's offer seq, with a flag and no text. */
static int post_flag(struct sb_media *m, enum sb_event_type type, uint64_t id, uint64_t seq,
		     bool flag)
{
	struct sb_mworker *w = worker_of(m, id);
	struct sb_event ev = {.type = (uint16_t)type,
			      .arg = {(int64_t)id, (int64_t)seq, flag ? 1 : 0}};

	if (!w)
		return -ENOENT;
	return sb_bus_post(w->bus, &ev) < 0 ? -EAGAIN : 0;
}

static int op_reoffer_done(void *ud, uint64_t id, uint64_t seq, bool sent)
{
	/* The same lane as media.cmd_reoffer: the worker has its offer first. */
	return post_flag(ud, SB_EV_MEDIA_CMD_REOFFER_DONE, id, seq, sent);
}

static int op_hold(void *ud, uint64_t id, uint64_t seq, bool hold)
{
	return post_flag(ud, SB_EV_MEDIA_CMD_HOLD, id, seq, hold);
}

static int op_offer_done(void *ud, uint64_t id, uint64_t seq, const char *answer_sdp)
{
	/* The same lane as media.cmd_hold (both HIGH): the worker has the
	 * offer first. No text is the offer failed, so an empty answer is
	 * still an answer. */
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_OFFER_DONE, id, (int64_t)seq, 0, 0, answer_sdp)
		 : -ENOENT;
}

static int op_bridge(void *ud, uint64_t a, uint64_t b)
{
	struct sb_media *m = ud;
	struct sb_mworker *wa = worker_of(m, a), *wb = worker_of(m, b);

	if (!wa || wa != wb)
		return -EINVAL;
	return post_cmd(wa, SB_EV_MEDIA_CMD_BRIDGE, a, (int64_t)b, 0, 0, NULL);
}

static int op_conf_join(void *ud, uint64_t id, uint64_t conf)
{
	struct sb_media *m = ud;
	struct sb_mworker *w;

	if (!conf)
		return -EINVAL;
	w = worker_of(m, id);
	if (!w)
		return -ENOENT;
	/* One worker mixes a conference: the one its members' affinity
	 * (the conference id) picks at create. */
	if (w != &m->workers[conf % m->n_workers])
		return -EXDEV;
	return post_cmd(w, SB_EV_MEDIA_CMD_CONF_JOIN, id, (int64_t)conf, 0, 0, NULL);
}

static int op_conf_leave(void *ud, uint64_t id)
{
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_CONF_LEAVE, id, 0, 0, 0, NULL) : -ENOENT;
}

static int op_conf_mute(void *ud, uint64_t id, bool mute)
{
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_CONF_MUTE, id, mute ? 1 : 0, 0, 0, NULL) : -ENOENT;
}

static int op_ice_restart(void *ud, uint64_t id)
{
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_ICE_RESTART, id, 0, 0, 0, NULL) : -ENOENT;
}

static int op_candidate(void *ud, uint64_t id, const char *candidate)
{
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_CANDIDATE, id, 0, 0, 0, candidate ? candidate : "")
		 : -ENOENT;
}

static int op_dtmf(void *ud, uint64_t id, const char *digits, int duration_ms)
{
	struct sb_mworker *w = worker_of(ud, id);

	return w ? post_cmd(w, SB_EV_MEDIA_CMD_DTMF, id, duration_ms, 0, 0, digits ? digits : "")
		 : -ENOENT;
}

static int op_chat(void *ud, uint64_t id, const char *text)
{
	struct sb_media *m = ud;
	gpointer v = g_hash_table_lookup(m->where, &id);
	enum sb_engine_media_kind kind = (enum sb_engine_media_kind)(GPOINTER_TO_UINT(v) >> 16);

	if (!v)
		return -ENOENT;
	if (kind != SB_MEDIA_WEBRTC && kind != SB_MEDIA_ECHO)
		return -ENOTSUP;
	if (!text || strlen(text) > SB_CHAT_MAX || !g_utf8_validate(text, -1, NULL))
		return -EINVAL;
	/* The worker sends it, or queues it until the browser's channel is
	 * open (datachan.c; a full queue drops and counts it there). */
	return post_cmd(worker_of(m, id), SB_EV_MEDIA_CMD_CHAT, id, 0, 0, 0, text);
}

static int op_destroy(void *ud, uint64_t id)
{
	struct sb_media *m = ud;
	struct sb_mworker *w = worker_of(m, id);
	int r;

	if (!w)
		return -ENOENT;
	r = post_cmd(w, SB_EV_MEDIA_CMD_DESTROY, id, 0, 0, 0, NULL);
	g_hash_table_remove(m->where, &id);
	return r;
}

const struct sb_engine_media_ops sb_media_engine_ops = {
	.create = op_create,
	.update = op_update,
	.reoffer = op_reoffer,
	.reoffer_done = op_reoffer_done,
	.hold = op_hold,
	.offer_done = op_offer_done,
	.bridge = op_bridge,
	.conf_join = op_conf_join,
	.conf_leave = op_conf_leave,
	.conf_mute = op_conf_mute,
	.ice_restart = op_ice_restart,
	.candidate = op_candidate,
	.dtmf = op_dtmf,
	.chat = op_chat,
	.destroy = op_destroy,
};

void sb_media_counters(struct sb_media *m, struct sb_media_counters *r)
{
	r->sessions_created = atomic_load(&m->sessions_created);
	r->sessions_connected = atomic_load(&m->sessions_connected);
	r->sessions_failed = atomic_load(&m->sessions_failed);
	r->rtp_in = atomic_load(&m->rtp_in);
	r->rtp_out = atomic_load(&m->rtp_out);
	r->rtcp_in = atomic_load(&m->rtcp_in);
	r->dropped_plain = atomic_load(&m->dropped_plain);
	r->dropped_auth = atomic_load(&m->dropped_auth);
	r->dropped_replay = atomic_load(&m->dropped_replay);
	r->dtls_failed = atomic_load(&m->dtls_failed);
	r->ice_restarts = atomic_load(&m->ice_restarts);
	r->ice_direct = atomic_load(&m->ice_direct);
	r->stun_answered = atomic_load(&m->stun_answered);
	r->stun_refused = atomic_load(&m->stun_refused);
	r->dropped_held = atomic_load(&m->dropped_held);
	r->hold_music_frames = atomic_load(&m->moh_frames);
	r->conf_frames_mixed = atomic_load(&m->conf_frames_mixed);
	r->conf_frames_dropped = atomic_load(&m->conf_frames_dropped);
	r->chat_in = atomic_load(&m->chat_in);
	r->chat_out = atomic_load(&m->chat_out);
	r->chat_dropped = atomic_load(&m->chat_dropped);
}
