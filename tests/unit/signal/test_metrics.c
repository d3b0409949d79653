/* Unit tests of the Prometheus registry (src/signal/metrics.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "signal/metrics.h"

static void collect(struct sb_strbuf *out, void *ud)
{
	sb_strbuf_printf(out, "switchboard_extra %d\n", *(int *)ud);
}

Test(metrics, render_exposition)
{
	struct sb_metrics *m = sb_metrics_new();
	struct sb_strbuf b;
	int extra = 7;

	cr_assert_eq(sb_metrics_declare(m, "switchboard_x_total", SB_METRIC_COUNTER, "X things."),
		     0);
	cr_assert_eq(sb_metrics_declare(m, "Bad-Name", SB_METRIC_GAUGE, ""), -EINVAL);
	sb_metrics_add(m, "switchboard_x_total", "code=\"1\"", 2);
	sb_metrics_add(m, "switchboard_x_total", "code=\"1\"", 1);
	sb_metrics_add(m, "switchboard_x_total", "code=\"2\"", 1);
	sb_metrics_set(m, "switchboard_g", NULL, 1.5);
	sb_metrics_collector_add(m, collect, &extra);
	cr_assert_eq(sb_metrics_get(m, "switchboard_x_total", "code=\"1\""), 3);
	sb_strbuf_init(&b);
	sb_metrics_render(m, &b);
	cr_assert_str_eq(sb_strbuf_cstr(&b), "# HELP switchboard_x_total X things.\n"
					     "# TYPE switchboard_x_total counter\n"
					     "switchboard_x_total{code=\"1\"} 3\n"
					     "switchboard_x_total{code=\"2\"} 1\n"
					     "# TYPE switchboard_g gauge\n"
					     "switchboard_g 1.5\n"
					     "switchboard_extra 7\n");
	sb_strbuf_fini(&b);
	sb_metrics_free(m);
}

Test(metrics, process_figures)
{
	struct sb_strbuf b;
	uint64_t start = 1000000;

	sb_strbuf_init(&b);
	sb_metrics_process_collect(&b, &start);
	cr_assert(strstr(sb_strbuf_cstr(&b), "switchboard_process_resident_memory_bytes "));
	cr_assert_null(strstr(sb_strbuf_cstr(&b), "switchboard_process_resident_memory_bytes 0\n"));
	cr_assert(strstr(sb_strbuf_cstr(&b), "switchboard_process_start_time_seconds 1.000\n"));
	sb_strbuf_fini(&b);
}
