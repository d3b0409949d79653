/* The bus journal: a ring of the last dispatched events, written as JSON
 * lines, searched for causal chains, and read back for replay. Owning
 * thread of the bus. The journal owns the text of the events it keeps. */
#include "bus/bus_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

#define MAX_REPLAY_LINE (1024 * 1024)

void sb__bus_journal_record(struct sb_bus *bus, struct sb_event *ev)
{
	struct sb_event *slot;

	if (!bus->journal_size) {
		free(ev->text);
		return;
	}
	slot = &bus->journal[bus->journal_next];
	if (bus->journal_count == bus->journal_size)
		free(slot->text);
	else
		bus->journal_count++;
	*slot = *ev;
	bus->journal_next = (bus->journal_next + 1) % bus->journal_size;
}

void sb__bus_journal_free(struct sb_bus *bus)
{
	for (size_t i = 0; bus->journal && i < bus->journal_count; i++)
		free(bus->journal[i].text);
	free(bus->journal);
	bus->journal = NULL;
	bus->journal_count = 0;
}

char *sb_bus_event_to_json(const struct sb_event *ev)
{
	const struct sb_event_desc *d = sb_event_desc((enum sb_event_type)ev->type);
	struct sb_strbuf b;

	sb_strbuf_init(&b);
	sb_strbuf_printf(&b,
			 "{\"id\":%llu,\"cause\":%llu,\"call\":%llu,\"leg\":%u,\"ts_us\":%llu,"
			 "\"type\":\"%s\",\"prio\":\"%s\",\"arg\":[%lld,%lld,%lld,%lld],\"str\":\"",
			 (unsigned long long)ev->id, (unsigned long long)ev->cause,
			 (unsigned long long)ev->call, ev->leg, (unsigned long long)ev->ts_us,
			 d ? d->name : "none", sb_prio_name((enum sb_prio)ev->prio),
			 (long long)ev->arg[0], (long long)ev->arg[1], (long long)ev->arg[2],
			 (long long)ev->arg[3]);
	sb_strbuf_json_escape(&b, ev->str);
	sb_strbuf_puts(&b, "\"");
	if (ev->text) {
		sb_strbuf_puts(&b, ",\"text\":\"");
		sb_strbuf_json_escape(&b, ev->text);
		sb_strbuf_puts(&b, "\"");
	}
	sb_strbuf_puts(&b, "}");
	return sb_strbuf_steal(&b);
}

static const struct sb_event *journal_at(struct sb_bus *bus, size_t i)
{
	size_t start = bus->journal_count == bus->journal_size ? bus->journal_next : 0;

	return &bus->journal[(start + i) % bus->journal_size];
}

static int write_line(FILE *out, const struct sb_event *ev)
{
	char *line = sb_bus_event_to_json(ev);
	int r = 0;

	if (!line)
		return -ENOMEM;
	if (fprintf(out, "%s\n", line) < 0)
		r = -EIO;
	free(line);
	return r;
}

int sb_bus_journal_write(struct sb_bus *bus, FILE *out, uint64_t call)
{
	int n = 0;

	for (size_t i = 0; i < bus->journal_count; i++) {
		const struct sb_event *ev = journal_at(bus, i);
		int r;

		if (call && ev->call != call)
			continue;
		r = write_line(out, ev);
		if (r < 0)
			return r;
		n++;
	}
	return n;
}

static const struct sb_event *journal_find(struct sb_bus *bus, uint64_t id)
{
	for (size_t i = bus->journal_count; i-- > 0;) {
		const struct sb_event *ev = journal_at(bus, i);
		if (ev->id == id)
			return ev;
	}
	return NULL;
}

int sb_bus_journal_chain(struct sb_bus *bus, uint64_t id, FILE *out)
{
	const struct sb_event *chain[256];
	int n = 0;

	for (const struct sb_event *ev = journal_find(bus, id); ev && n < 256;
	     ev = ev->cause ? journal_find(bus, ev->cause) : NULL)
		chain[n++] = ev;
	for (int i = n; i-- > 0;)
		if (write_line(out, chain[i]) < 0)
			return -EIO;
	return n;
}

static int u64_field(json_t *o, const char *k, uint64_t *ret)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int event_from_json(json_t *o, struct sb_event *ev)
{
	json_t *type = json_object_get(o, "type"), *arg = json_object_get(o, "arg");
	json_t *str = json_object_get(o, "str"), *text = json_object_get(o, "text");
	enum sb_event_type t;
	uint64_t leg;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_string(type) || !json_is_array(arg) || json_array_size(arg) != 4 ||
	    (str && !json_is_string(str)) || (text && !json_is_string(text)))
		return -EBADMSG;
	t = sb_event_type_from_name(json_string_value(type));
	if ((int)t < 0)
		return -EBADMSG;
	if (u64_field(o, "id", &ev->id) < 0 || u64_field(o, "cause", &ev->cause) < 0 ||
	    u64_field(o, "call", &ev->call) < 0 || u64_field(o, "leg", &leg) < 0 ||
	    u64_field(o, "ts_us", &ev->ts_us) < 0 || leg > UINT32_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < 4; i++) {
		json_t *a = json_array_get(arg, i);
		if (!json_is_integer(a))
			return -EBADMSG;
		ev->arg[i] = json_integer_value(a);
	}
	ev->leg = (uint32_t)leg;
	ev->type = (uint16_t)t;
	ev->prio = (uint8_t)sb_event_desc(t)->prio;
	ev->flags = SB_EVF_REPLAYED;
	if (str && strlen(json_string_value(str)) >= sizeof(ev->str))
		return -EBADMSG;
	if (str)
		memcpy(ev->str, json_string_value(str), strlen(json_string_value(str)) + 1);
	if (text) {
		ev->text = strdup(json_string_value(text));
		if (!ev->text)
			return -ENOMEM;
	}
	return 0;
}

int sb_bus_journal_replay(FILE *in, sb_bus_handler_cb cb, void *ud)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0, r = 0;

	while ((len = getline(&line, &cap, in)) > 0) {
		json_error_t jerr;
		struct sb_event ev;
		json_t *o;

		if (len > MAX_REPLAY_LINE) {
			r = -EBADMSG;
			break;
		}
		if (len == 1 && line[0] == '\n')
			continue;
		o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
		if (!o || !json_is_object(o)) {
			json_decref(o);
			r = -EBADMSG;
			break;
		}
		r = event_from_json(o, &ev);
		json_decref(o);
		if (r < 0)
			break;
		cb(&ev, ud);
		free(ev.text);
		n++;
	}
	free(line);
	return r < 0 ? r : n;
}
