/* Prometheus registry and exposition for /metrics. Control thread; owns its
 * families and samples (small arrays, searched linearly: tens of entries). */
#include "signal/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"

struct sample {
	char *labels; /* "" for none */
	double value;
};

struct family {
	char *name;
	char *help;
	enum sb_metric_type type;
	struct sample *samples;
	size_t n, cap;
};

struct collector {
	sb_metrics_collect_cb cb;
	void *ud;
};

struct sb_metrics {
	struct family *fams;
	size_t n, cap;
	struct collector coll[8];
	size_t n_coll;
};

struct sb_metrics *sb_metrics_new(void)
{
	return calloc(1, sizeof(struct sb_metrics));
}

struct sb_metrics *sb_metrics_free(struct sb_metrics *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		for (size_t j = 0; j < m->fams[i].n; j++)
			free(m->fams[i].samples[j].labels);
		free(m->fams[i].samples);
		free(m->fams[i].name);
		free(m->fams[i].help);
	}
	free(m->fams);
	free(m);
	return NULL;
}

int sb_metrics_name_valid(const char *s)
{
	if (!s || !*s || !(((*s >= 'a' && *s <= 'z') || *s == '_' || *s == ':')))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == ':'))
			return 0;
	return 1;
}

static struct family *find(const struct sb_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->fams[i].name, name) == 0)
			return &m->fams[i];
	return NULL;
}

int sb_metrics_declare(struct sb_metrics *m, const char *name, enum sb_metric_type type,
		       const char *help)
{
	struct family *f;

	if (!sb_metrics_name_valid(name))
		return -EINVAL;
	if (find(m, name))
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct family *n = realloc(m->fams, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->fams = n;
		m->cap = cap;
	}
	f = &m->fams[m->n];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	f->type = type;
	if (!f->name || !f->help) {
		free(f->name);
		free(f->help);
		return -ENOMEM;
	}
	m->n++;
	return 0;
}

static struct sample *sample_get(struct sb_metrics *m, const char *name, const char *labels)
{
	struct family *f;

	labels = labels ? labels : "";
	if (!find(m, name) && sb_metrics_declare(m, name, SB_METRIC_GAUGE, "") < 0)
		return NULL;
	f = find(m, name);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->samples[i].labels, labels) == 0)
			return &f->samples[i];
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;
		struct sample *n = realloc(f->samples, cap * sizeof(*n));

		if (!n)
			return NULL;
		f->samples = n;
		f->cap = cap;
	}
	f->samples[f->n].labels = strdup(labels);
	f->samples[f->n].value = 0;
	if (!f->samples[f->n].labels)
		return NULL;
	return &f->samples[f->n++];
}

int sb_metrics_add(struct sb_metrics *m, const char *name, const char *labels, double delta)
{
	struct sample *s = sample_get(m, name, labels);

	if (!s)
		return sb_metrics_name_valid(name) ? -ENOMEM : -EINVAL;
	s->value += delta;
	return 0;
}

int sb_metrics_set(struct sb_metrics *m, const char *name, const char *labels, double value)
{
	struct sample *s = sample_get(m, name, labels);

	if (!s)
		return sb_metrics_name_valid(name) ? -ENOMEM : -EINVAL;
	s->value = value;
	return 0;
}

double sb_metrics_get(const struct sb_metrics *m, const char *name, const char *labels)
{
	const struct family *f = find(m, name);

	for (size_t i = 0; f && i < f->n; i++)
		if (strcmp(f->samples[i].labels, labels ? labels : "") == 0)
			return f->samples[i].value;
	return 0;
}

int sb_metrics_collector_add(struct sb_metrics *m, sb_metrics_collect_cb cb, void *ud)
{
	if (m->n_coll == sizeof(m->coll) / sizeof(m->coll[0]))
		return -ENOSPC;
	m->coll[m->n_coll++] = (struct collector){cb, ud};
	return 0;
}

void sb_metrics_render(const struct sb_metrics *m, struct sb_strbuf *out)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct family *f = &m->fams[i];

		if (f->help[0])
			sb_strbuf_printf(out, "# HELP %s %s\n", f->name, f->help);
		sb_strbuf_printf(out, "# TYPE %s %s\n", f->name,
				 f->type == SB_METRIC_COUNTER ? "counter" : "gauge");
		for (size_t j = 0; j < f->n; j++)
			sb_strbuf_printf(out, "%s%s%s%s %.17g\n", f->name,
					 f->samples[j].labels[0] ? "{" : "", f->samples[j].labels,
					 f->samples[j].labels[0] ? "}" : "", f->samples[j].value);
	}
	for (size_t i = 0; i < m->n_coll; i++)
		m->coll[i].cb(out, m->coll[i].ud);
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

void sb_metrics_process_collect(struct sb_strbuf *out, void *ud)
{
	const uint64_t *start_real_us = ud;
	struct rusage ru;
	long pages = 0, rss = 0, fds = count_fds();
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	getrusage(RUSAGE_SELF, &ru);
	sb_strbuf_printf(out,
			 "# HELP switchboard_process_cpu_seconds_total User and system CPU time.\n"
			 "# TYPE switchboard_process_cpu_seconds_total counter\n"
			 "switchboard_process_cpu_seconds_total %.6f\n",
			 (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	sb_strbuf_printf(out,
			 "# HELP switchboard_process_resident_memory_bytes Resident set size.\n"
			 "# TYPE switchboard_process_resident_memory_bytes gauge\n"
			 "switchboard_process_resident_memory_bytes %ld\n",
			 rss * sysconf(_SC_PAGESIZE));
	sb_strbuf_printf(out,
			 "# HELP switchboard_process_open_fds Open file descriptors.\n"
			 "# TYPE switchboard_process_open_fds gauge\n"
			 "switchboard_process_open_fds %ld\n",
			 fds);
	if (start_real_us)
		sb_strbuf_printf(out,
				 "# HELP switchboard_process_start_time_seconds Start time since "
				 "the epoch.\n"
				 "# TYPE switchboard_process_start_time_seconds gauge\n"
				 "switchboard_process_start_time_seconds %.3f\n",
				 (double)*start_real_us / 1e6);
}
