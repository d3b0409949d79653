/* A small Prometheus registry (text format 0.0.4): counters and gauges with
 * an optional label set, plus collectors that write their own lines at render
 * time (bus lanes, process figures). Control thread only.
 *
 * Other components do not link this module: they post SB_EV_METRICS_SAMPLE
 * events (str=name, arg0=value) on the control bus, and the signal component
 * sets the gauge of that name (see docs/signaling.md). */
#pragma once

#include <stdint.h>

#include "core/strbuf.h"

struct sb_metrics;

enum sb_metric_type {
	SB_METRIC_COUNTER,
	SB_METRIC_GAUGE,
	_SB_METRIC_MAX,
	_SB_METRIC_INVALID = -22
};

typedef void (*sb_metrics_collect_cb)(struct sb_strbuf *out, void *ud);

/* Returns NULL when out of memory. */
struct sb_metrics *sb_metrics_new(void);
/* Accepts NULL; returns NULL. */
struct sb_metrics *sb_metrics_free(struct sb_metrics *m);

/* Declares a family (name with its switchboard_ prefix, [a-z_:][a-z0-9_:]*).
 * Declaring again is a no-op. Returns 0, -EINVAL (bad name), -ENOMEM. */
int sb_metrics_declare(struct sb_metrics *m, const char *name, enum sb_metric_type type,
		       const char *help);
/* Adds delta to (name, labels); labels is NULL or Prometheus label text
 * without braces (`code="1003",name="invalid_params"`). An undeclared name is
 * declared as an untyped gauge. Returns 0 or a negative code. */
int sb_metrics_add(struct sb_metrics *m, const char *name, const char *labels, double delta);
int sb_metrics_set(struct sb_metrics *m, const char *name, const char *labels, double value);
/* Current value, 0 when absent. */
double sb_metrics_get(const struct sb_metrics *m, const char *name, const char *labels);
/* Adds a collector called on each render, after the registered families. */
int sb_metrics_collector_add(struct sb_metrics *m, sb_metrics_collect_cb cb, void *ud);
/* Appends the whole exposition to out. */
void sb_metrics_render(const struct sb_metrics *m, struct sb_strbuf *out);
/* Appends the process_* families (RSS, CPU, fds, start time) with prefix. */
void sb_metrics_process_collect(struct sb_strbuf *out, void *ud);
/* True when name is a valid metric name. */
int sb_metrics_name_valid(const char *name);
