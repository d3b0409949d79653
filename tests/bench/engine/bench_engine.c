/* Engine benchmark: call setups per second through the real engine and bus
 * with components that do nothing but answer, and the memory a live call
 * holds. Prints figures; asserts nothing about time. */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "log/log.h"

struct bench {
	struct sb_bus *bus;
	struct sb_engine *eng;
	uint64_t last_media, last_call;
	uint32_t last_leg;
	char last_wire[24];
};

static struct bench B;

static int media_create(void *ud, uint64_t id, uint64_t call, uint32_t leg,
			enum sb_engine_media_kind kind, const char *sdp,
			const struct sb_engine_media_opts *opts)
{
	B.last_media = id;
	B.last_call = call;
	B.last_leg = leg;
	return 0;
}

static int media_nop(void *ud, uint64_t id)
{
	return 0;
}

static const struct sb_engine_media_ops media = {.create = media_create, .destroy = media_nop};

static int reply(void *ud, uint64_t conn, int64_t req, const char *result,
		 const struct sb_engine_error *err)
{
	json_t *o = err ? NULL : json_loads(result, 0, NULL);
	const char *w = json_string_value(json_object_get(o, "call"));

	if (w)
		snprintf(B.last_wire, sizeof(B.last_wire), "%s", w);
	json_decref(o);
	return 0;
}

static int event(void *ud, const char *session, const char *name, const char *data)
{
	return 0;
}

static const struct sb_engine_client_ops client = {.reply = reply, .event = event};

static int cdr(void *ud, const struct sb_cdr *c, const char *json)
{
	return 0;
}

static const struct sb_engine_store_ops store = {.cdr = cdr};

static void settle(void)
{
	while (sb_bus_pending(B.bus))
		sb_bus_dispatch(B.bus);
	sb_engine_reap(B.eng);
}

static void post(enum sb_event_type t, uint64_t call, uint32_t leg, int64_t a0, int64_t a1,
		 const char *str, char *text)
{
	struct sb_event ev = {.type = (uint16_t)t, .call = call, .leg = leg, .arg = {a0, a1}};

	snprintf(ev.str, sizeof(ev.str), "%s", str ? str : "");
	ev.text = text;
	sb_bus_post(B.bus, &ev);
}

static char *req(const char *key, const char *value)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "{\"params\":{\"%s\":\"%s\",\"sdp\":\"v=0\"}}", key, value);
	return strdup(buf);
}

/* One echo call from dial to hang-up; returns its wire id in B.last_wire. */
static void dial_answer(int64_t n)
{
	post(SB_EV_WS_CALL_DIAL, 0, 0, 1, n, "s1", req("to", "echo"));
	settle();
	post(SB_EV_MEDIA_READY, B.last_call, B.last_leg, (int64_t)B.last_media, 0, NULL,
	     strdup("v=0 echo"));
	settle();
}

static void hang_up(const char *wire, int64_t n)
{
	post(SB_EV_WS_CALL_HANGUP, 0, 0, 1, n, "s1", req("call", wire));
	settle();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
	struct sb_config_errors errs = {0};
	struct sb_config *cfg = NULL;
	struct sb_engine_ops ops = {.media = &media, .client = &client, .store = &store};
	struct sb_engine_metrics m;
	char(*wires)[24];
	double t0, t1;
	size_t before, after;

	sb_log_set_level_all(SB_LOG_ERROR);
	if (sb_config_load_string("bench",
				  "[limits]\nmax_calls = 0\nmax_cps = 0\n[bus]\njournal_size = 0\n"
				  "[route echo]\ndestination = echo\naction = echo\n",
				  NULL, &cfg, &errs) < 0)
		return 1;
	B.bus = sb_bus_new(&cfg->bus, NULL);
	B.eng = sb_engine_new(cfg, B.bus, NULL, &ops);
	post(SB_EV_WS_CONNECTED, 0, 0, 1, 0, "s1", strdup("alice"));
	settle();

	t0 = now_s();
	for (int i = 0; i < n; i++) {
		char wire[24];
		dial_answer(i);
		memcpy(wire, B.last_wire, sizeof(wire));
		hang_up(wire, i);
	}
	t1 = now_s();
	sb_engine_metrics(B.eng, &m);
	printf("sequential echo calls: %d in %.3f s: %.0f calls/s, %.1f us per call, "
	       "%.1f transitions per call\n",
	       n, t1 - t0, n / (t1 - t0), (t1 - t0) * 1e6 / n, (double)m.transitions / n);

	wires = calloc((size_t)n, sizeof(*wires));
	before = mallinfo2().uordblks;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		dial_answer(i);
		memcpy(wires[i], B.last_wire, sizeof(wires[i]));
	}
	t1 = now_s();
	after = mallinfo2().uordblks;
	printf("%d concurrent answered calls set up in %.3f s (%.0f calls/s); heap %.1f KiB per "
	       "live call\n",
	       n, t1 - t0, n / (t1 - t0), (double)(after - before) / 1024.0 / n);
	t0 = now_s();
	for (int i = 0; i < n; i++)
		hang_up(wires[i], i);
	t1 = now_s();
	printf("%d hang-ups in %.3f s (%.0f/s); live calls left: %zu\n", n, t1 - t0, n / (t1 - t0),
	       sb_engine_active(B.eng));
	free(wires);
	B.eng = sb_engine_free(B.eng);
	sb_bus_free(B.bus);
	sb_config_unref(cfg);
	return 0;
}
