/* Process entry: load the config, build the components in dependency order,
 * run the control thread's GLib loop, drain and stop on SIGTERM, reload on
 * SIGHUP. Control thread. Owns the loop, the control bus and the config. */
#define SB_LOG_COMP SB_COMP_MAIN

#include <errno.h>
#include <getopt.h>
#include <glib-unix.h>
#include <glib.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/strbuf.h"
#include "core/lifecycle.h"
#include "log/log.h"
#include "engine/engine.h"
#include "media/media.h"
#include "signal/route.h"
#include "signal/signal.h"
#include "sip/sip.h"
#include "store/store.h"

extern char **environ;

#define DEFAULT_CONFIG "conf/switchboard.conf"

struct app {
	GMainLoop *loop;
	char *config_path;
	struct sb_config *cfg;
	struct sb_lifecycle *lc;
	struct sb_bus *bus; /* the control thread's bus */
	struct sb_signal_server *signal;
	struct sb_store *store;
	struct sb_media *media;
	struct sb_sip *sip;
	struct sb_engine *engine;
	struct sb_engine_ops engine_ops;
	guint drain_timer;
	uint64_t drain_deadline_us;
	int exit_code;
	unsigned sigterms;
};

static void apply_log_config(const struct sb_config *cfg)
{
	sb_log_set_level_all(sb_log_level_from_name(cfg->log.level));
	sb_log_set_format(strcmp(cfg->log.format, "json") == 0	 ? SB_LOG_FORMAT_JSON
			  : strcmp(cfg->log.format, "text") == 0 ? SB_LOG_FORMAT_TEXT
								 : SB_LOG_FORMAT_AUTO);
	for (size_t i = 0; cfg->log.components && cfg->log.components[i]; i++) {
		char name[32];
		const char *entry = cfg->log.components[i], *eq = strchr(entry, '=');
		size_t n = eq ? (size_t)(eq - entry) : 0;

		if (!eq || n >= sizeof(name))
			continue;
		memcpy(name, entry, n);
		name[n] = '\0';
		sb_log_set_level(sb_log_comp_from_name(name), sb_log_level_from_name(eq + 1));
	}
}

/* [log] components entries are "component=level"; checked here because the
 * component and level names belong to the logger. */
static int check_log_components(const struct sb_config *cfg)
{
	int bad = 0;

	for (size_t i = 0; cfg->log.components && cfg->log.components[i]; i++) {
		const char *entry = cfg->log.components[i], *eq = strchr(entry, '=');
		char name[32];
		size_t n = eq ? (size_t)(eq - entry) : 0;

		if (eq && n < sizeof(name)) {
			memcpy(name, entry, n);
			name[n] = '\0';
		}
		if (!eq || n >= sizeof(name) || (int)sb_log_comp_from_name(name) < 0 ||
		    (int)sb_log_level_from_name(eq + 1) < 0) {
			fprintf(stderr,
				"%s: key 'components' in [log]: '%s' is not component=level\n",
				cfg->path, entry);
			bad = -EINVAL;
		}
	}
	return bad;
}

static int load_config(const char *path, struct sb_config **ret_cfg)
{
	struct sb_config_errors errs = {0};
	struct sb_config *cfg = NULL;
	int r = sb_config_load(path, environ, &cfg, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "config error: %s\n", errs.msgs[i]);
	sb_config_errors_clear(&errs);
	if (r == 0 && check_log_components(cfg) < 0) {
		cfg = sb_config_unref(cfg);
		r = -EINVAL;
	}
	if (r == 0)
		*ret_cfg = cfg;
	return r;
}

/* The control bus as a component: ready as soon as it dispatches. */
static int bus_start(void *ud, struct sb_lifecycle *lc)
{
	sb_lifecycle_ready(lc, "bus");
	return 0;
}

static void bus_stop(void *ud)
{
	struct app *app = ud;

	/* Deliver what is still queued (teardowns, CDRs) before stopping. */
	for (int i = 0; i < 1000 && sb_bus_pending(app->bus); i++)
		sb_bus_dispatch(app->bus);
}

static const struct sb_component_ops bus_ops = {
	.name = "bus",
	.start = bus_start,
	.stop = bus_stop,
};

/* GET /api/v1/calls: the engine's live calls. */
static char *calls_api_cb(const char *query, void *ud)
{
	char *calls = sb_engine_calls_json(ud);
	struct sb_strbuf b;

	if (!calls)
		return NULL;
	sb_strbuf_init(&b);
	sb_strbuf_printf(&b, "{\"calls\":%s}", calls);
	free(calls);
	return sb_strbuf_steal(&b);
}

/* GET /api/v1/queues: the engine's call queues. */
static char *queues_api_cb(const char *query, void *ud)
{
	char *queues = sb_engine_queues_json(ud);
	struct sb_strbuf b;

	if (!queues)
		return NULL;
	sb_strbuf_init(&b);
	sb_strbuf_printf(&b, "{\"queues\":%s}", queues);
	free(queues);
	return sb_strbuf_steal(&b);
}

/* GET /api/v1/conferences: the engine's conference rooms. */
static char *conferences_api_cb(const char *query, void *ud)
{
	char *rooms = sb_engine_conferences_json(ud);
	struct sb_strbuf b;

	if (!rooms)
		return NULL;
	sb_strbuf_init(&b);
	sb_strbuf_printf(&b, "{\"conferences\":%s}", rooms);
	free(rooms);
	return sb_strbuf_steal(&b);
}

/* /api/v1/conferences/{name}/members/{call}: DELETE removes the member
 * (kick); .../mute and .../unmute take POST and answer the member. */
enum { MEMBER_KICK, MEMBER_MUTE, MEMBER_UNMUTE };
static const struct sb_signal_route member_routes[] = {
	[MEMBER_KICK] = {"DELETE", "{}/members/{}", {127, 31}},
	[MEMBER_MUTE] = {"POST", "{}/members/{}/mute", {127, 31}},
	[MEMBER_UNMUTE] = {"POST", "{}/members/{}/unmute", {127, 31}},
};

static unsigned conference_member_api_cb(const char *method, const char *rest,
					 struct sb_signal_api_reply *ret, void *ud)
{
	struct sb_signal_route_params p;
	int i = sb_signal_route_match(member_routes, SB_ARRAY_SIZE(member_routes), method, rest,
				      &p);
	int r;

	if (i < 0) {
		ret->error = "no such resource";
		return 404;
	}
	if (strcmp(method, member_routes[i].method) != 0) {
		ret->allow = member_routes[i].method;
		return 405;
	}
	if (i == MEMBER_KICK)
		r = sb_engine_conference_kick(ud, p.v[0], p.v[1]);
	else
		r = sb_engine_conference_mute(ud, p.v[0], p.v[1], i == MEMBER_MUTE, &ret->body);
	if (r == -ENOENT) {
		ret->error = "no such conference member";
		return 404;
	}
	if (r < 0) {
		ret->error = "the media plane refused";
		return 500;
	}
	return i == MEMBER_KICK ? 204 : 200;
}

/* Reads one integer parameter of a query string ("offset=20&limit=50"). */
static int64_t query_int(const char *query, const char *key, int64_t def)
{
	size_t n = strlen(key);

	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, key, n) == 0 && p[n] == '=') {
			char *end;
			long long v = strtoll(p + n + 1, &end, 10);
			return (*end == '\0' || *end == '&') ? (int64_t)v : def;
		}
	}
	return def;
}

/* GET /api/v1/cdrs?offset=N&limit=N: call history, newest first. */
static char *cdrs_api_cb(const char *query, void *ud)
{
	return sb_store_cdrs_json(ud, query_int(query, "offset", 0), query_int(query, "limit", 50));
}

static int store_cdr_cb(void *ud, const struct sb_cdr *cdr, const char *json)
{
	return sb_store_cdr_add(ud, cdr->call_id, (int64_t)(cdr->start_us / 1000), json);
}

static const struct sb_engine_store_ops store_ops = {.cdr = store_cdr_cb};

/* Registrations live in the store: every change is written there, and the
 * SIP component starts with the bindings that have not expired. */
static void reg_put_cb(void *ud, const char *aor, const char *contact, int64_t expires_at_s,
		       bool nat)
{
	/* The row's json column carries what the binding needs besides its
	 * expiry: whether nat.c rewrote it (keepalives resume at start). */
	sb_store_reg_put(ud, aor, contact, expires_at_s, nat ? "{\"nat\":true}" : NULL);
}

static void reg_del_cb(void *ud, const char *aor, const char *contact)
{
	sb_store_reg_del(ud, aor, contact);
}

static void reg_restore_cb(const char *aor, const char *contact, int64_t expires_at_s,
			   const char *json, void *ud)
{
	json_t *o = json && *json ? json_loads(json, 0, NULL) : NULL;

	sb_sip_location_restore(ud, aor, contact, expires_at_s,
				json_is_true(json_object_get(o, "nat")));
	json_decref(o);
}

static int sip_start_cb(void *ud, struct sb_lifecycle *lc)
{
	struct app *app = ud;
	int n = sb_store_reg_load(app->store, (int64_t)time(NULL), reg_restore_cb, app->sip);

	if (n > 0)
		sb_info("%d registrations restored from the store", n);
	return sb_sip_component.start(app->sip, lc);
}

static void sip_stop_cb(void *ud)
{
	sb_sip_component.stop(((struct app *)ud)->sip);
}

static const struct sb_component_ops sip_with_store_ops = {
	.name = "sip",
	.start = sip_start_cb,
	.stop = sip_stop_cb,
};

static void media_metrics_cb(struct sb_strbuf *out, void *ud)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} rows[] = {
#define ROW(f, h) {#f, h, offsetof(struct sb_media_counters, f)}
		ROW(sessions_created, "Media sessions created"),
		ROW(sessions_connected, "Media sessions that completed DTLS-SRTP"),
		ROW(sessions_failed, "Media sessions that failed"),
		ROW(rtp_in, "Authentic RTP packets received"),
		ROW(rtp_out, "RTP packets sent"),
		ROW(rtcp_in, "Authentic RTCP packets received"),
		ROW(dropped_plain, "Unencrypted packets dropped on WebRTC legs"),
		ROW(dropped_auth, "SRTP packets that failed authentication"),
		ROW(dropped_replay, "SRTP packets dropped as replays"),
		ROW(dtls_failed, "DTLS handshakes failed or certificate fingerprints not matching"),
		ROW(ice_restarts,
		    "ICE restarts offered to clients that resumed from a new address"),
		ROW(ice_direct, "Connected ICE pairs whose socket the media worker reads itself"),
		ROW(stun_answered, "ICE checks (consent) answered on such sockets"),
		ROW(stun_refused,
		    "ICE checks refused on such sockets: wrong USERNAME or integrity"),
		ROW(dropped_held, "Packets not relayed to or from sessions held from our side"),
		ROW(hold_music_frames, "Music on hold frames sent to parties held from our side"),
		ROW(conf_frames_mixed, "Conference mixes sent to members (20 ms frames)"),
		ROW(conf_frames_dropped,
		    "Conference members' frames dropped: more than the mixer's allowance ahead"),
		ROW(chat_in, "Chat messages received on WebRTC data channels"),
		ROW(chat_out, "Chat messages sent on WebRTC data channels"),
		ROW(chat_dropped,
		    "Chat messages dropped: too long, not UTF-8, or no data channel to carry them"),
#undef ROW
	};
	struct sb_media_counters c;

	sb_media_counters(ud, &c);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		sb_strbuf_printf(out,
				 "# HELP switchboard_media_%s_total %s\n"
				 "# TYPE switchboard_media_%s_total counter\n"
				 "switchboard_media_%s_total %llu\n",
				 rows[i].name, rows[i].help, rows[i].name, rows[i].name,
				 *(unsigned long long *)((char *)&c + rows[i].off));
}

/* GET /api/v1/trunks, /api/v1/accounts and /api/v1/registrations: SIP
 * client and registrar state. */
static char *trunks_api_cb(const char *query, void *ud)
{
	return sb_sip_trunks_json(ud);
}

static char *registrations_api_cb(const char *query, void *ud)
{
	return sb_sip_location_json(ud);
}

static char *accounts_api_cb(const char *query, void *ud)
{
	return sb_sip_accounts_json(ud);
}

static void sip_metrics_cb(struct sb_strbuf *out, void *ud)
{
	sb_sip_client_metrics_write(ud, out);
}

static void engine_metrics_cb(struct sb_strbuf *out, void *ud)
{
	sb_engine_metrics_write(ud, out);
}

/* Tells every component on the control bus that another one is ready (the
 * signal server starts passing calls on once the engine is). */
static void component_ready_cb(const char *name, void *ud)
{
	struct app *app = ud;
	struct sb_event ev = {.type = SB_EV_SYS_COMPONENT_READY};

	snprintf(ev.str, sizeof(ev.str), "%s", name);
	sb_bus_post(app->bus, &ev);
}

static void finish(struct app *app, const char *why)
{
	sb_info("stopping (%s)", why);
	if (app->drain_timer) {
		g_source_remove(app->drain_timer);
		app->drain_timer = 0;
	}
	sb_lifecycle_stop(app->lc);
	g_main_loop_quit(app->loop);
}

static gboolean drain_tick_cb(gpointer ud)
{
	struct app *app = ud;
	size_t active = sb_lifecycle_active(app->lc);

	if (active == 0) {
		app->drain_timer = 0;
		finish(app, "drained");
		return G_SOURCE_REMOVE;
	}
	if (g_get_monotonic_time() >= (gint64)app->drain_deadline_us) {
		sb_warn("drain deadline reached with %zu calls still active", active);
		app->drain_timer = 0;
		finish(app, "drain deadline");
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean sigterm_cb(gpointer ud)
{
	struct app *app = ud;

	app->sigterms++;
	if (app->sigterms > 1) {
		finish(app, "second signal");
		return G_SOURCE_CONTINUE;
	}
	sb_info("draining: no new calls, waiting up to %lld ms for %zu active",
		(long long)app->cfg->general.drain_timeout_ms, sb_lifecycle_active(app->lc));
	sb_lifecycle_drain(app->lc);
	sb_bus_post_simple(app->bus, SB_EV_SYS_DRAIN, 0, 0);
	app->drain_deadline_us = (uint64_t)g_get_monotonic_time() +
				 (uint64_t)app->cfg->general.drain_timeout_ms * 1000;
	drain_tick_cb(app);
	if (g_main_loop_is_running(app->loop) && sb_lifecycle_state(app->lc) != SB_LC_STOPPED)
		app->drain_timer = g_timeout_add(50, drain_tick_cb, app);
	return G_SOURCE_CONTINUE;
}

static gboolean sighup_cb(gpointer ud)
{
	struct app *app = ud;
	struct sb_config *cfg = NULL;

	sb_info("reloading %s", app->config_path);
	if (load_config(app->config_path, &cfg) < 0) {
		sb_error("reload failed: keeping the running config");
		return G_SOURCE_CONTINUE;
	}
	apply_log_config(cfg);
	sb_lifecycle_reload(app->lc, cfg);
	sb_config_unref(app->cfg);
	app->cfg = cfg;
	sb_bus_post_simple(app->bus, SB_EV_SYS_CONFIG_RELOADED, 0, 0);
	sb_info("config reloaded");
	return G_SOURCE_CONTINUE;
}

static gboolean announce_ready_cb(gpointer ud)
{
	struct app *app = ud;
	const char *waiting[SB_LIFECYCLE_MAX];
	size_t n = sb_lifecycle_not_ready(app->lc, waiting, SB_LIFECYCLE_MAX);

	if (n == 0) {
		sb_info("switchboard ready");
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: switchboard [-c FILE] [--check-config] [--version]\n"
		     "  -c, --config FILE   config file (default " DEFAULT_CONFIG ")\n"
		     "      --check-config  validate the config and exit\n"
		     "  -V, --version       print the version\n");
}

static int parse_args(int argc, char **argv, struct app *app, bool *ret_check)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			app->config_path = optarg;
			break;
		case 'k':
			*ret_check = true;
			break;
		case 'V':
			printf("switchboard %s\n", SB_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	return 0;
}

static int run(struct app *app)
{
	const char *failed = NULL;
	int r;

	app->loop = g_main_loop_new(NULL, FALSE);
	app->bus = sb_bus_new(&app->cfg->bus, g_main_context_default());
	app->lc = sb_lifecycle_new();
	app->signal = sb_signal_server_new(app->cfg, app->loop, app->bus);
	if (!app->bus || !app->lc || !app->signal)
		return -ENOMEM;
	app->store = sb_store_new(app->cfg);
	app->media = sb_media_new(app->cfg, app->bus);
	app->sip = sb_sip_new(app->cfg, app->bus);
	if (!app->store || !app->media || !app->sip)
		return -ENOMEM;
	sb_sip_set_persist(
		app->sip,
		&(struct sb_sip_persist){.put = reg_put_cb, .del = reg_del_cb, .ud = app->store});
	app->engine_ops = (struct sb_engine_ops){
		.client = &sb_engine_client_bus_ops,
		.client_ud = app->bus,
		.store = &store_ops,
		.store_ud = app->store,
		.media = &sb_media_engine_ops,
		.media_ud = app->media,
		.sip = &sb_sip_engine_ops,
		.sip_ud = app->sip,
	};
	app->engine = sb_engine_new(app->cfg, app->bus, sb_clock_system(), &app->engine_ops);
	if (!app->engine)
		return -ENOMEM;
	sb_signal_api_add(app->signal, "/api/v1/calls", calls_api_cb, app->engine);
	sb_signal_api_add(app->signal, "/api/v1/queues", queues_api_cb, app->engine);
	sb_signal_api_add(app->signal, "/api/v1/conferences", conferences_api_cb, app->engine);
	sb_signal_api_add_action(app->signal, "/api/v1/conferences/", conference_member_api_cb,
				 app->engine);
	sb_signal_api_add(app->signal, "/api/v1/cdrs", cdrs_api_cb, app->store);
	sb_signal_api_add(app->signal, "/api/v1/trunks", trunks_api_cb, app->sip);
	sb_signal_api_add(app->signal, "/api/v1/registrations", registrations_api_cb, app->sip);
	sb_signal_api_add(app->signal, "/api/v1/accounts", accounts_api_cb, app->sip);
	sb_signal_metrics_add(app->signal, engine_metrics_cb, app->engine);
	sb_signal_metrics_add(app->signal, sip_metrics_cb, app->sip);
	sb_signal_metrics_add(app->signal, media_metrics_cb, app->media);
	sb_lifecycle_set_ready_cb(app->lc, component_ready_cb, app);
	sb_lifecycle_add(app->lc, &bus_ops, app);
	sb_lifecycle_add(app->lc, &sb_store_component, app->store);
	sb_lifecycle_add(app->lc, &sb_media_component, app->media);
	sb_lifecycle_add(app->lc, &sip_with_store_ops, app);
	sb_lifecycle_add(app->lc, &sb_engine_component, app->engine);
	sb_lifecycle_add(app->lc, &sb_signal_component_ops, app->signal);
	r = sb_lifecycle_start(app->lc, &failed);
	if (r < 0) {
		sb_error("component %s failed to start: %s", failed, strerror(-r));
		return r;
	}
	g_unix_signal_add(SIGTERM, sigterm_cb, app);
	g_unix_signal_add(SIGINT, sigterm_cb, app);
	g_unix_signal_add(SIGHUP, sighup_cb, app);
	if (announce_ready_cb(app) == G_SOURCE_CONTINUE)
		g_timeout_add(20, announce_ready_cb, app);
	g_main_loop_run(app->loop);
	return 0;
}

int main(int argc, char **argv)
{
	struct app app = {.config_path = DEFAULT_CONFIG};
	bool check = false;
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = parse_args(argc, argv, &app, &check);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (load_config(app.config_path, &app.cfg) < 0) {
		fprintf(stderr, "switchboard: refusing to start with an invalid config\n");
		return 1;
	}
	if (check) {
		printf("%s: ok\n", app.config_path);
		sb_config_unref(app.cfg);
		return 0;
	}
	apply_log_config(app.cfg);
	sb_info("switchboard %s starting with %s", SB_VERSION, app.config_path);
	r = run(&app);
	app.exit_code = r < 0 ? 1 : 0;
	if (app.lc)
		sb_lifecycle_stop(app.lc);
	app.lc = sb_lifecycle_free(app.lc);
	app.signal = sb_signal_server_free(app.signal);
	app.engine = sb_engine_free(app.engine);
	app.sip = sb_sip_free(app.sip);
	app.media = sb_media_free(app.media);
	app.store = sb_store_free(app.store);
	app.bus = sb_bus_free(app.bus);
	if (app.loop)
		g_main_loop_unref(app.loop);
	sb_config_unref(app.cfg);
	sb_info("exit %d", app.exit_code);
	return app.exit_code;
}
