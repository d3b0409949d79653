/* Bus benchmark: events per second from one and two producers into one
 * consumer, and the dispatch latency (p50, p99) of critical events while
 * low events flood at full rate, with a spinning consumer and with a GLib
 * loop consumer woken by the bus. Prints figures; asserts nothing. */
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "config/config.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct ctx {
	struct sb_bus *bus;
	atomic_int stop;
	atomic_long produced;
	uint64_t consumed;
	uint64_t *lat;
	size_t n_lat, cap_lat;
	long per_producer;
};

static void count_cb(const struct sb_event *ev, void *ud)
{
	struct ctx *c = ud;

	c->consumed++;
}

static void latency_cb(const struct sb_event *ev, void *ud)
{
	struct ctx *c = ud;

	if (c->n_lat < c->cap_lat)
		c->lat[c->n_lat++] = now_ns() - (uint64_t)ev->arg[2];
}

static void *producer(void *ud)
{
	struct ctx *c = ud;
	struct sb_event ev = {.type = SB_EV_TEST_NORMAL};

	for (long i = 0; i < c->per_producer; i++) {
		ev.arg[1] = i;
		while (sb_bus_post(c->bus, &ev) < 0)
			; /* lane full: retry, nothing is lost in a throughput run */
	}
	return NULL;
}

static void throughput(int producers, long per_producer)
{
	struct sb_config *cfg = sb_config_new_default();
	struct ctx c = {.per_producer = per_producer};
	pthread_t th[4];
	uint64_t t0, t1, total = (uint64_t)producers * (uint64_t)per_producer;

	cfg->bus.journal_size = 0;
	c.bus = sb_bus_new(&cfg->bus, NULL);
	sb_bus_subscribe(c.bus, SB_EV_TEST_NORMAL, count_cb, &c);
	t0 = now_ns();
	for (int i = 0; i < producers; i++)
		pthread_create(&th[i], NULL, producer, &c);
	while (c.consumed < total)
		sb_bus_dispatch(c.bus);
	t1 = now_ns();
	for (int i = 0; i < producers; i++)
		pthread_join(th[i], NULL);
	printf("throughput  producers=%d  events=%llu  %.2f M events/s\n", producers,
	       (unsigned long long)total, (double)total / ((double)(t1 - t0) / 1e9) / 1e6);
	sb_bus_free(c.bus);
	sb_config_unref(cfg);
}

static void *flooder(void *ud)
{
	struct ctx *c = ud;
	struct sb_event ev = {.type = SB_EV_TEST_LOW};

	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		ev.arg[1]++;
		if (sb_bus_post(c->bus, &ev) > 0)
			atomic_fetch_add_explicit(&c->produced, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *critical_poster(void *ud)
{
	struct ctx *c = ud;
	struct sb_event ev = {.type = SB_EV_TEST_CRITICAL};

	for (size_t i = 0; i < c->cap_lat; i++) {
		g_usleep(500);
		ev.arg[1] = (int64_t)i;
		ev.arg[2] = (int64_t)now_ns();
		sb_bus_post(c->bus, &ev);
	}
	atomic_store(&c->stop, 1);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report_latency(const char *how, struct ctx *c, struct sb_bus *bus)
{
	struct sb_bus_stats st;

	sb_bus_stats(bus, &st);
	qsort(c->lat, c->n_lat, sizeof(*c->lat), cmp_u64);
	printf("latency     consumer=%-6s critical=%zu  p50=%.1f us  p99=%.1f us  max=%.1f us"
	       "  low dispatched=%llu dropped=%llu\n",
	       how, c->n_lat, (double)c->lat[c->n_lat / 2] / 1e3,
	       (double)c->lat[c->n_lat * 99 / 100] / 1e3, (double)c->lat[c->n_lat - 1] / 1e3,
	       (unsigned long long)st.lane[SB_PRIO_LOW].dispatched,
	       (unsigned long long)st.lane[SB_PRIO_LOW].dropped);
}

static void latency(bool glib_loop, size_t samples)
{
	struct sb_config *cfg = sb_config_new_default();
	GMainContext *mctx = glib_loop ? g_main_context_new() : NULL;
	struct ctx c = {.cap_lat = samples};
	pthread_t fl, cp;

	cfg->bus.journal_size = 0;
	c.lat = calloc(samples, sizeof(*c.lat));
	c.bus = sb_bus_new(&cfg->bus, mctx);
	sb_bus_subscribe(c.bus, SB_EV_TEST_CRITICAL, latency_cb, &c);
	sb_bus_subscribe(c.bus, SB_EV_TEST_LOW, count_cb, &c);
	pthread_create(&fl, NULL, flooder, &c);
	pthread_create(&cp, NULL, critical_poster, &c);
	while (!atomic_load(&c.stop) || c.n_lat < samples) {
		if (glib_loop)
			g_main_context_iteration(mctx, FALSE);
		else
			sb_bus_dispatch(c.bus);
		if (atomic_load(&c.stop) && !sb_bus_pending(c.bus))
			break;
	}
	pthread_join(fl, NULL);
	pthread_join(cp, NULL);
	report_latency(glib_loop ? "glib" : "spin", &c, c.bus);
	sb_bus_free(c.bus);
	if (mctx)
		g_main_context_unref(mctx);
	free(c.lat);
	sb_config_unref(cfg);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000000;

	printf("bus benchmark (%ld events per producer)\n", n);
	throughput(1, n);
	throughput(2, n / 2);
	latency(false, 4000);
	latency(true, 4000);
	return 0;
}
