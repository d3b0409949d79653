/* Config loading: a line parser for the INI-like file, typed conversion
 * through the schema, environment overrides and cross-key checks. Control
 * thread. Owns the snapshot it builds; a failed load frees everything. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/schema.h"
#include "core/strbuf.h"

#define MAX_LINE       4096
#define MAX_FILE_BYTES (4 * 1024 * 1024)
#define MAX_ERRORS     64

struct parse {
	struct sb_config *cfg;
	struct sb_config_errors *errs;
	const char *name;
	const struct sb_config_section *sect; /* current, or NULL */
	void *obj;			      /* current section struct */
	unsigned char seen[64];		      /* keys set in the current section */
};

static void add_error(struct sb_config_errors *errs, const char *fmt, ...) SB_PRINTF(2, 3);

static void add_error(struct sb_config_errors *errs, const char *fmt, ...)
{
	struct sb_strbuf b;
	char **v;
	char *s;
	va_list ap;

	if (errs->n >= MAX_ERRORS)
		return;
	sb_strbuf_init(&b);
	va_start(ap, fmt);
	sb_strbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	s = sb_strbuf_steal(&b);
	v = s ? realloc(errs->msgs, (errs->n + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(s);
		return;
	}
	v[errs->n++] = s;
	errs->msgs = v;
}

void sb_config_errors_clear(struct sb_config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

size_t sb_config_strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static char **split_list(const char *value)
{
	size_t n = 1, i = 0;
	char **v;
	char *copy, *p, *save = NULL;

	for (const char *q = value; *q; q++)
		n += *q == ',';
	v = calloc(n + 1, sizeof(*v));
	copy = strdup(value);
	if (!v || !copy) {
		free(v);
		free(copy);
		return NULL;
	}
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *t = trim(p);
		if (*t == '\0')
			continue;
		v[i] = strdup(t);
		if (!v[i]) {
			strv_free(v);
			free(copy);
			return NULL;
		}
		i++;
	}
	free(copy);
	return v;
}

static int parse_int(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < SB_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_duration(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *suffix;
		int64_t mul;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < SB_ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > INT64_MAX / units[i].mul)
				return -ERANGE;
			*ret_ms = v * units[i].mul;
			return 0;
		}
	}
	return -EINVAL;
}

static void describe_choices(struct sb_strbuf *b, const char *const *choices)
{
	for (size_t i = 0; choices[i]; i++)
		sb_strbuf_printf(b, "%s%s", i ? ", " : "", choices[i]);
}

/* Converts value into the field; on failure returns a message for the user. */
static int set_value(const struct sb_config_key *k, void *obj, const char *value,
		     struct sb_strbuf *why)
{
	char *field = (char *)obj + k->offset;
	int64_t iv;
	bool bv;

	switch (k->type) {
	case SB_CT_INT:
		if (parse_int(value, &iv) < 0) {
			sb_strbuf_printf(why, "expected an integer, got '%s'", value);
			return -EINVAL;
		}
		if (iv < k->min || iv > k->max) {
			sb_strbuf_printf(why, "%lld is out of range %lld..%lld", (long long)iv,
					 (long long)k->min, (long long)k->max);
			return -ERANGE;
		}
		*(int64_t *)field = iv;
		return 0;
	case SB_CT_DURATION:
		if (parse_duration(value, &iv) < 0) {
			sb_strbuf_printf(
				why, "expected a duration such as 500ms, 30s, 5m, got '%s'", value);
			return -EINVAL;
		}
		if (iv < k->min || iv > k->max) {
			sb_strbuf_printf(why, "%lldms is out of range %lldms..%lldms",
					 (long long)iv, (long long)k->min, (long long)k->max);
			return -ERANGE;
		}
		*(int64_t *)field = iv;
		return 0;
	case SB_CT_BOOL:
		if (parse_bool(value, &bv) < 0) {
			sb_strbuf_printf(why, "expected true or false, got '%s'", value);
			return -EINVAL;
		}
		*(bool *)field = bv;
		return 0;
	case SB_CT_ENUM:
		for (size_t i = 0; k->choices[i]; i++) {
			if (strcmp(value, k->choices[i]) == 0)
				goto set_string;
		}
		sb_strbuf_printf(why, "'%s' is not one of: ", value);
		describe_choices(why, k->choices);
		return -EINVAL;
	case SB_CT_STR:
		if (k->check && k->check(value, why) < 0)
			return -EINVAL;
	set_string : {
		char *s = strdup(value);
		if (!s)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	}
	case SB_CT_LIST: {
		char **v = split_list(value);
		if (!v)
			return -ENOMEM;
		strv_free(*(char ***)field);
		*(char ***)field = v;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static void free_fields(const struct sb_config_key *keys, void *obj)
{
	for (const struct sb_config_key *k = keys; k->name; k++) {
		char *field = (char *)obj + k->offset;
		if (k->type == SB_CT_STR || k->type == SB_CT_ENUM) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (k->type == SB_CT_LIST) {
			strv_free(*(char ***)field);
			*(char ***)field = NULL;
		}
	}
}

static int apply_defaults(const struct sb_config_section *s, void *obj)
{
	for (const struct sb_config_key *k = s->keys; k->name; k++) {
		struct sb_strbuf why;
		int r;

		if (!k->def)
			continue;
		sb_strbuf_init(&why);
		r = set_value(k, obj, k->def, &why);
		sb_strbuf_fini(&why);
		if (r < 0)
			return r; /* a schema bug or out of memory */
	}
	return 0;
}

static struct sb_config *config_alloc(void)
{
	struct sb_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->refs = 1;
	for (const struct sb_config_section *s = sb__config_sections; s->name; s++) {
		if (s->repeat)
			continue;
		if (apply_defaults(s, (char *)cfg + s->offset) < 0)
			return sb_config_unref(cfg);
	}
	return cfg;
}

struct sb_config *sb_config_new_default(void)
{
	return config_alloc();
}

struct sb_config *sb_config_ref(struct sb_config *cfg)
{
	if (cfg)
		cfg->refs++;
	return cfg;
}

static void free_config(struct sb_config *cfg)
{
	for (const struct sb_config_section *s = sb__config_sections; s->name; s++) {
		if (!s->repeat) {
			free_fields(s->keys, (char *)cfg + s->offset);
			continue;
		}
		char **arr = (char **)((char *)cfg + s->offset);
		size_t n = *(size_t *)((char *)cfg + s->count_offset);
		for (size_t i = 0; i < n; i++) {
			char *elem = *arr + i * s->elem_size;
			free(*(char **)elem); /* name */
			free_fields(s->keys, elem);
		}
		free(*arr);
	}
	free(cfg->path);
	free(cfg);
}

struct sb_config *sb_config_unref(struct sb_config *cfg)
{
	if (cfg && --cfg->refs == 0)
		free_config(cfg);
	return NULL;
}

static const struct sb_config_section *find_section(const char *name)
{
	for (const struct sb_config_section *s = sb__config_sections; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static const struct sb_config_key *find_key(const struct sb_config_section *s, const char *name,
					    size_t *ret_idx)
{
	size_t i = 0;

	for (const struct sb_config_key *k = s->keys; k->name; k++, i++) {
		if (strcmp(k->name, name) == 0) {
			*ret_idx = i;
			return k;
		}
	}
	return NULL;
}

static bool valid_label(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-.+", *s))
			return false;
	return true;
}

/* Appends one element to a repeatable section; returns it or NULL. */
static void *repeat_append(struct sb_config *cfg, const struct sb_config_section *s,
			   const char *label)
{
	char **arr = (char **)((char *)cfg + s->offset);
	size_t *n = (size_t *)((char *)cfg + s->count_offset);
	char *grown = realloc(*arr, (*n + 1) * s->elem_size);
	char *elem;

	if (!grown)
		return NULL;
	*arr = grown;
	elem = grown + *n * s->elem_size;
	memset(elem, 0, s->elem_size);
	(*n)++;
	*(char **)elem = strdup(label);
	if (!*(char **)elem || apply_defaults(s, elem) < 0)
		return NULL;
	return elem;
}

static bool repeat_has(struct sb_config *cfg, const struct sb_config_section *s, const char *label)
{
	char *arr = *(char **)((char *)cfg + s->offset);
	size_t n = *(size_t *)((char *)cfg + s->count_offset);

	for (size_t i = 0; i < n; i++)
		if (strcmp(*(char **)(arr + i * s->elem_size), label) == 0)
			return true;
	return false;
}

static void parse_header(struct parse *p, char *line, unsigned lineno)
{
	char *end = strchr(line, ']');
	char *name, *label;
	const struct sb_config_section *s;

	p->sect = NULL;
	p->obj = NULL;
	memset(p->seen, 0, sizeof(p->seen));
	if (!end || *trim(end + 1) != '\0') {
		add_error(p->errs,
			  "%s:%u: malformed section header (expected [section] or "
			  "[section name])",
			  p->name, lineno);
		return;
	}
	*end = '\0';
	name = trim(line + 1);
	label = name + strcspn(name, " \t");
	if (*label) {
		*label++ = '\0';
		label = trim(label);
	}
	s = find_section(name);
	if (!s) {
		add_error(p->errs, "%s:%u: unknown section [%s]", p->name, lineno, name);
		return;
	}
	if (s->repeat != (*label != '\0')) {
		add_error(p->errs,
			  s->repeat ? "%s:%u: section [%s] needs a name: [%s NAME]"
				    : "%s:%u: section [%s] takes no name%s",
			  p->name, lineno, name, s->repeat ? name : "");
		return;
	}
	if (s->repeat && !valid_label(label)) {
		add_error(p->errs, "%s:%u: [%s %s]: a name may use letters, digits and _-.+",
			  p->name, lineno, name, label);
		return;
	}
	if (s->repeat && repeat_has(p->cfg, s, label)) {
		add_error(p->errs, "%s:%u: [%s %s] is defined twice", p->name, lineno, name, label);
		return;
	}
	p->sect = s;
	p->obj = s->repeat ? repeat_append(p->cfg, s, label) : (char *)p->cfg + s->offset;
	if (!p->obj) {
		add_error(p->errs, "%s:%u: out of memory", p->name, lineno);
		p->sect = NULL;
	}
}

static void parse_keyval(struct parse *p, char *line, unsigned lineno)
{
	char *eq = strchr(line, '=');
	char *key, *value;
	const struct sb_config_key *k;
	struct sb_strbuf why;
	size_t idx, vlen;

	if (!eq) {
		add_error(p->errs, "%s:%u: expected 'key = value'", p->name, lineno);
		return;
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	vlen = strlen(value);
	if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
		value[vlen - 1] = '\0';
		value++;
	}
	if (!p->sect) {
		add_error(p->errs, "%s:%u: key '%s' outside a known section", p->name, lineno, key);
		return;
	}
	k = find_key(p->sect, key, &idx);
	if (!k) {
		add_error(p->errs, "%s:%u: unknown key '%s' in [%s]", p->name, lineno, key,
			  p->sect->name);
		return;
	}
	if (idx < sizeof(p->seen) && p->seen[idx]) {
		add_error(p->errs, "%s:%u: key '%s' in [%s] is set twice", p->name, lineno, key,
			  p->sect->name);
		return;
	}
	if (idx < sizeof(p->seen))
		p->seen[idx] = 1;
	sb_strbuf_init(&why);
	if (set_value(k, p->obj, value, &why) < 0)
		add_error(p->errs, "%s:%u: key '%s' in [%s]: %s", p->name, lineno, key,
			  p->sect->name, sb_strbuf_cstr(&why));
	sb_strbuf_fini(&why);
}

static void parse_text(struct parse *p, const char *text)
{
	unsigned lineno = 0;
	const char *s = text;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char buf[MAX_LINE];
		char *line;

		lineno++;
		if (len >= sizeof(buf)) {
			add_error(p->errs, "%s:%u: line longer than %d bytes", p->name, lineno,
				  MAX_LINE - 1);
		} else {
			memcpy(buf, s, len);
			buf[len] = '\0';
			line = trim(buf);
			if (*line == '[')
				parse_header(p, line, lineno);
			else if (*line && *line != '#' && *line != ';')
				parse_keyval(p, line, lineno);
		}
		s += len + (nl ? 1 : 0);
	}
}

static void upper(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i]; i++)
		dst[i] = (char)toupper((unsigned char)src[i]);
	dst[i] = '\0';
}

/* SWITCHBOARD_<SECTION>_<KEY>=value overrides singleton sections. */
static void apply_env(struct parse *p, char *const *envp)
{
	static const char prefix[] = "SWITCHBOARD_";

	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq = strchr(e, '=');
		bool matched = false;

		if (strncmp(e, prefix, sizeof(prefix) - 1) != 0 || !eq)
			continue;
		for (const struct sb_config_section *s = sb__config_sections; s->name; s++) {
			for (const struct sb_config_key *k = s->keys; k->name && !s->repeat; k++) {
				char want[160], us[64], uk[64];
				struct sb_strbuf why;

				upper(us, sizeof(us), s->name);
				upper(uk, sizeof(uk), k->name);
				snprintf(want, sizeof(want), "%s%s_%s", prefix, us, uk);
				if (strlen(want) != (size_t)(eq - e) ||
				    strncmp(e, want, (size_t)(eq - e)) != 0)
					continue;
				matched = true;
				sb_strbuf_init(&why);
				if (set_value(k, (char *)p->cfg + s->offset, eq + 1, &why) < 0)
					add_error(p->errs, "environment %s (key '%s' in [%s]): %s",
						  want, k->name, s->name, sb_strbuf_cstr(&why));
				sb_strbuf_fini(&why);
			}
		}
		if (!matched)
			add_error(p->errs, "environment %.*s: no such config key", (int)(eq - e),
				  e);
	}
}

static bool is_power_of_two(int64_t v)
{
	return v > 0 && (v & (v - 1)) == 0;
}

/* A [user]'s upstream account: a known trunk, a username, and no other
 * user with the same account (an inbound call must name one user). */
static void check_accounts(struct parse *p)
{
	const struct sb_config *c = p->cfg;

	for (size_t i = 0; i < c->n_users; i++) {
		const struct sb_config_user *u = &c->users[i];
		bool has_trunk = u->sip_trunk && *u->sip_trunk;

		if (!has_trunk) {
			if ((u->sip_username && *u->sip_username) ||
			    (u->sip_password && *u->sip_password))
				add_error(p->errs,
					  "%s: [user %s] sip_username needs key 'sip_trunk'",
					  p->name, u->name);
			continue;
		}
		if (!sb_config_find_trunk(c, u->sip_trunk))
			add_error(p->errs, "%s: [user %s] key 'sip_trunk': no [trunk %s]", p->name,
				  u->name, u->sip_trunk);
		if (!u->sip_username || !*u->sip_username) {
			add_error(p->errs, "%s: [user %s] sip_trunk needs key 'sip_username'",
				  p->name, u->name);
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (sb_config_user_has_account(&c->users[j]) &&
			    strcmp(c->users[j].sip_trunk, u->sip_trunk) == 0 &&
			    strcmp(c->users[j].sip_username, u->sip_username) == 0)
				add_error(p->errs,
					  "%s: [user %s] has the account of [user %s] (%s at %s)",
					  p->name, u->name, c->users[j].name, u->sip_username,
					  u->sip_trunk);
	}
}

/* A queue's agents are configured users: the engine finds their devices
 * by user name. */
static void check_queues(struct parse *p)
{
	struct sb_config *c = p->cfg;

	for (size_t i = 0; i < c->n_queues; i++) {
		const struct sb_config_queue *q = &c->queues[i];

		if (!q->agents || !q->agents[0])
			add_error(p->errs, "%s: [queue %s] needs key 'agents'", p->name, q->name);
		for (size_t j = 0; q->agents && q->agents[j]; j++)
			if (!sb_config_find_user(c, q->agents[j]))
				add_error(p->errs, "%s: [queue %s] key 'agents': no [user %s]",
					  p->name, q->name, q->agents[j]);
	}
}

/* Checks that involve more than one key. */
static void check_cross(struct parse *p)
{
	struct sb_config *c = p->cfg;

	if (c->media.rtp_port_min > c->media.rtp_port_max)
		add_error(p->errs, "%s: [media] rtp_port_min (%lld) is above rtp_port_max (%lld)",
			  p->name, (long long)c->media.rtp_port_min,
			  (long long)c->media.rtp_port_max);
	if (c->sip.register_min_expires_s > c->sip.register_max_expires_s)
		add_error(p->errs, "%s: [sip] register_min_expires is above register_max_expires",
			  p->name);
	if (c->sip.min_se_s > c->sip.session_expires_s)
		add_error(p->errs, "%s: [sip] min_se is above session_expires", p->name);
	if (!is_power_of_two(c->bus.broadcast_capacity))
		add_error(p->errs, "%s: [bus] broadcast_capacity must be a power of two, got %lld",
			  p->name, (long long)c->bus.broadcast_capacity);
	if (!is_power_of_two(c->bus.critical_capacity))
		add_error(p->errs, "%s: [bus] critical_capacity must be a power of two, got %lld",
			  p->name, (long long)c->bus.critical_capacity);
	for (size_t i = 0; i < c->n_trunks; i++) {
		const struct sb_config_trunk *t = &c->trunks[i];
		if (!t->host || !*t->host)
			add_error(p->errs, "%s: [trunk %s] needs key 'host'", p->name, t->name);
		if (t->do_register && (!t->username || !*t->username))
			add_error(p->errs, "%s: [trunk %s] register = true needs key 'username'",
				  p->name, t->name);
		if (t->register_retry_min_s > t->register_retry_max_s)
			add_error(p->errs,
				  "%s: [trunk %s] register_retry_min is above register_retry_max",
				  p->name, t->name);
	}
	check_accounts(p);
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct sb_config_route *r = &c->routes[i];
		if (!r->action) {
			add_error(p->errs, "%s: [route %s] needs key 'action'", p->name, r->name);
			continue;
		}
		if (strcmp(r->action, "trunk") == 0 && !sb_config_find_trunk(c, r->target))
			add_error(p->errs, "%s: [route %s] key 'target': no [trunk %s]", p->name,
				  r->name, r->target);
		if (strcmp(r->action, "queue") == 0 && !sb_config_find_queue(c, r->target))
			add_error(p->errs, "%s: [route %s] key 'target': no [queue %s]", p->name,
				  r->name, r->target);
		if (strcmp(r->action, "conference") == 0 &&
		    !sb_config_find_conference(c, r->target))
			add_error(p->errs, "%s: [route %s] key 'target': no [conference %s]",
				  p->name, r->name, r->target);
	}
	check_queues(p);
}

int sb_config_load_string(const char *name, const char *text, char *const *envp,
			  struct sb_config **ret_cfg, struct sb_config_errors *errs)
{
	struct parse p = {.errs = errs, .name = name};

	p.cfg = config_alloc();
	if (!p.cfg)
		return -ENOMEM;
	p.cfg->path = strdup(name);
	parse_text(&p, text);
	apply_env(&p, envp);
	if (errs->n == 0)
		check_cross(&p);
	if (errs->n > 0 || !p.cfg->path) {
		sb_config_unref(p.cfg);
		return -EINVAL;
	}
	*ret_cfg = p.cfg;
	return 0;
}

int sb_config_load(const char *path, char *const *envp, struct sb_config **ret_cfg,
		   struct sb_config_errors *errs)
{
	FILE *f = fopen(path, "re");
	struct sb_strbuf text;
	char chunk[8192];
	size_t n;
	int r;

	if (!f) {
		r = -errno;
		add_error(errs, "%s: cannot open config file: %s", path, strerror(errno));
		return r == -ENOENT ? -ENOENT : -EINVAL;
	}
	sb_strbuf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		sb_strbuf_append(&text, chunk, n);
		if (text.len > MAX_FILE_BYTES)
			break;
	}
	fclose(f);
	if (text.len > MAX_FILE_BYTES) {
		add_error(errs, "%s: config file larger than %d bytes", path, MAX_FILE_BYTES);
		sb_strbuf_fini(&text);
		return -EINVAL;
	}
	if (memchr(sb_strbuf_cstr(&text), '\0', text.len)) {
		add_error(errs, "%s: config file contains a NUL byte", path);
		sb_strbuf_fini(&text);
		return -EINVAL;
	}
	r = sb_strbuf_failed(&text)
		    ? -ENOMEM
		    : sb_config_load_string(path, sb_strbuf_cstr(&text), envp, ret_cfg, errs);
	sb_strbuf_fini(&text);
	return r;
}

const struct sb_config_user *sb_config_find_user(const struct sb_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

bool sb_config_user_has_account(const struct sb_config_user *u)
{
	return u && u->sip_trunk && *u->sip_trunk && u->sip_username && *u->sip_username;
}

const struct sb_config_conference *sb_config_find_conference(const struct sb_config *cfg,
							     const char *name)
{
	for (size_t i = 0; name && i < cfg->n_conferences; i++)
		if (strcmp(cfg->conferences[i].name, name) == 0)
			return &cfg->conferences[i];
	return NULL;
}

const struct sb_config_queue *sb_config_find_queue(const struct sb_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_queues; i++)
		if (strcmp(cfg->queues[i].name, name) == 0)
			return &cfg->queues[i];
	return NULL;
}

const struct sb_config_trunk *sb_config_find_trunk(const struct sb_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_trunks; i++)
		if (strcmp(cfg->trunks[i].name, name) == 0)
			return &cfg->trunks[i];
	return NULL;
}
