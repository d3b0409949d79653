/* Subset JSON Schema validator for the signal tests (see schema.h). */
#include "schema.h"

#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const known[] = {
	"$schema", "title", "type",	 "properties", "required", "additionalProperties",
	"const",   "enum",  "minLength", "maxLength",  "pattern",  "minimum",
	"maximum", "items", "maxItems",	 "oneOf",      NULL};

static int bad(char *why, size_t n, const char *path, const char *what)
{
	snprintf(why, n, "%s: %s", path[0] ? path : "(root)", what);
	return -1;
}

static bool type_is(const json_t *v, const char *t)
{
	if (strcmp(t, "object") == 0)
		return json_is_object(v);
	if (strcmp(t, "array") == 0)
		return json_is_array(v);
	if (strcmp(t, "string") == 0)
		return json_is_string(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v) ||
		       (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "null") == 0)
		return json_is_null(v);
	return false;
}

static size_t chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static int check(const json_t *s, const json_t *v, const char *path, char *why, size_t n);

static int check_type(const json_t *s, const json_t *v, const char *path, char *why, size_t n)
{
	const json_t *t = json_object_get(s, "type"), *x;
	size_t i;

	if (!t)
		return 0;
	if (json_is_string(t))
		return type_is(v, json_string_value(t)) ? 0 : bad(why, n, path, "wrong type");
	json_array_foreach(t, i, x) if (type_is(v, json_string_value(x))) return 0;
	return bad(why, n, path, "wrong type");
}

static int check_object(const json_t *s, const json_t *v, const char *path, char *why, size_t n)
{
	const json_t *props = json_object_get(s, "properties"),
		     *req = json_object_get(s, "required");
	const json_t *addl = json_object_get(s, "additionalProperties"), *x;
	const char *k;
	char sub[256];
	size_t i;

	json_array_foreach(req, i, x) if (!json_object_get(v, json_string_value(x)))
	{
		snprintf(sub, sizeof(sub), "%s.%s", path, json_string_value(x));
		return bad(why, n, sub, "required but missing");
	}
	json_object_foreach((json_t *)v, k, x)
	{
		const json_t *ps = json_object_get(props, k);

		snprintf(sub, sizeof(sub), "%s.%s", path, k);
		if (ps && check(ps, x, sub, why, n) < 0)
			return -1;
		if (!ps && json_is_false(addl))
			return bad(why, n, sub, "not allowed (additionalProperties false)");
	}
	return 0;
}

static int check_string(const json_t *s, const json_t *v, const char *path, char *why, size_t n)
{
	const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
	const json_t *pat = json_object_get(s, "pattern");
	size_t c = chars(json_string_value(v), json_string_length(v));
	regex_t re;
	int r;

	if (mn && (json_int_t)c < json_integer_value(mn))
		return bad(why, n, path, "shorter than minLength");
	if (mx && (json_int_t)c > json_integer_value(mx))
		return bad(why, n, path, "longer than maxLength");
	if (!pat)
		return 0;
	if (regcomp(&re, json_string_value(pat), REG_EXTENDED | REG_NOSUB) != 0)
		return bad(why, n, path, "schema pattern does not compile");
	r = regexec(&re, json_string_value(v), 0, NULL, 0);
	regfree(&re);
	return r == 0 ? 0 : bad(why, n, path, "does not match pattern");
}

static int check_rest(const json_t *s, const json_t *v, const char *path, char *why, size_t n)
{
	const json_t *c = json_object_get(s, "const"), *e = json_object_get(s, "enum"), *x;
	const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
	const json_t *items = json_object_get(s, "items"), *maxi = json_object_get(s, "maxItems");
	char sub[256];
	size_t i;
	bool found = false;

	if (c && !json_equal((json_t *)c, (json_t *)v))
		return bad(why, n, path, "differs from const");
	json_array_foreach(e, i, x) found |= json_equal((json_t *)x, (json_t *)v);
	if (e && !found)
		return bad(why, n, path, "not in enum");
	if (json_is_number(v) && mn && json_number_value(v) < json_number_value(mn))
		return bad(why, n, path, "below minimum");
	if (json_is_number(v) && mx && json_number_value(v) > json_number_value(mx))
		return bad(why, n, path, "above maximum");
	if (json_is_array(v) && maxi && (json_int_t)json_array_size(v) > json_integer_value(maxi))
		return bad(why, n, path, "more than maxItems");
	json_array_foreach(json_is_array(v) ? v : NULL, i, x)
	{
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (items && check(items, x, sub, why, n) < 0)
			return -1;
	}
	return 0;
}

static int check(const json_t *s, const json_t *v, const char *path, char *why, size_t n)
{
	const json_t *one = json_object_get(s, "oneOf"), *x;
	const char *k;
	size_t i, matches = 0;
	char tmp[256];

	json_object_foreach((json_t *)s, k, x)
	{
		bool ok = false;

		for (size_t j = 0; known[j]; j++)
			ok |= strcmp(known[j], k) == 0;
		if (!ok)
			return bad(why, n, path, "schema uses a keyword this validator lacks");
	}
	if (one) {
		json_array_foreach(one, i, x) matches += check(x, v, path, tmp, sizeof(tmp)) == 0;
		if (matches != 1) {
			snprintf(why, n, "%s: matches %zu of oneOf (last: %s)",
				 path[0] ? path : "(root)", matches, tmp);
			return -1;
		}
	}
	if (check_type(s, v, path, why, n) < 0)
		return -1;
	if (json_is_object(v) && check_object(s, v, path, why, n) < 0)
		return -1;
	if (json_is_string(v) && check_string(s, v, path, why, n) < 0)
		return -1;
	return check_rest(s, v, path, why, n);
}

int schema_validate(const json_t *schema, const json_t *v, char *why, size_t whysize)
{
	return check(schema, v, "", why, whysize);
}

int schema_validate_file(const char *dir, const char *name, const json_t *v, char *why,
			 size_t whysize)
{
	char path[1024];
	json_t *s;
	int r;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	s = json_load_file(path, 0, NULL);
	if (!s) {
		snprintf(why, whysize, "cannot load schema %s", path);
		return -1;
	}
	r = schema_validate(s, v, why, whysize);
	json_decref(s);
	return r;
}

static bool schema_exists(const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	return access(path, R_OK) == 0;
}

int schema_validate_message(const char *dir, const char *text, const char *method, char *why,
			    size_t whysize)
{
	json_t *m = json_loads(text, 0, NULL);
	const char *type = json_string_value(json_object_get(m, "type"));
	char name[160];
	int r = -1;

	if (!m || !type) {
		snprintf(why, whysize, "not a JSON message with a type: %.80s", text);
	} else if (strcmp(type, "response") == 0) {
		r = schema_validate_file(dir, "response", m, why, whysize);
		if (r == 0 && json_object_get(m, "error"))
			r = schema_validate_file(dir, "error", json_object_get(m, "error"), why,
						 whysize);
		snprintf(name, sizeof(name), "%s.result", method ? method : "");
		if (r == 0 && method && json_object_get(m, "result") && schema_exists(dir, name))
			r = schema_validate_file(dir, name, json_object_get(m, "result"), why,
						 whysize);
	} else if (strcmp(type, "event") == 0) {
		r = schema_validate_file(dir, "event", m, why, whysize);
		snprintf(name, sizeof(name), "event.%s.data",
			 json_string_value(json_object_get(m, "event")));
		if (r == 0 && schema_exists(dir, name))
			r = schema_validate_file(dir, name, json_object_get(m, "data"), why,
						 whysize);
		else if (r == 0) {
			snprintf(why, whysize, "no schema for event %s", name);
			r = -1;
		}
	} else {
		snprintf(why, whysize, "unknown message type %s", type);
	}
	json_decref(m);
	return r;
}
