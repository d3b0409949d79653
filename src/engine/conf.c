/* Conference rooms: a call routed to a [conference] is a member of its
 * room from routing to its end; its media session is made with the room's
 * id as affinity (one media worker mixes a room), it is answered when that
 * session is ready and then joined to the room in the media plane. Browser
 * members hear of every change of membership (call.conference). Control
 * thread. Owns the live rooms (created at the first member, freed when the
 * last leaves); works on calls owned by the engine, commands through the
 * component ops only. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/strbuf.h"
#include "engine/engine_internal.h"
#include "log/log.h"

/* A live room: its members' calls in the order they came (each with a
 * reference, so that a member is never read after its call was freed). */
struct sb_conf_room {
	char name[SB_NAME_MAX];
	uint64_t id;
	GPtrArray *members; /* struct sb_call * */
};

static void room_free(gpointer p)
{
	struct sb_conf_room *room = p;

	g_ptr_array_free(room->members, TRUE);
	free(room);
}

static void member_unref(gpointer call)
{
	sb__call_unref(call);
}

int sb__conf_init(struct sb_engine *eng)
{
	eng->rooms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, room_free);
	return eng->rooms ? 0 : -ENOMEM;
}

void sb__conf_fini(struct sb_engine *eng)
{
	if (eng->rooms)
		g_hash_table_destroy(eng->rooms);
	eng->rooms = NULL;
}

bool sb__conf_call(const struct sb_call *call)
{
	return call->conf.id != 0;
}

static struct sb_conf_room *room_find(struct sb_engine *eng, const char *name)
{
	return g_hash_table_lookup(eng->rooms, name);
}

int sb__conf_check(struct sb_engine *eng, const char *name)
{
	const struct sb_config_conference *cc = sb_config_find_conference(eng->cfg, name);
	struct sb_conf_room *room = room_find(eng, name);
	const struct sb_engine_media_ops *m = eng->ops.media;

	if (!cc)
		return -ENOENT;
	if (!m || !m->conf_join)
		return -ENOSYS;
	if (room && (int64_t)room->members->len >= cc->max_members)
		return -EBUSY;
	return 0;
}

uint64_t sb__conf_enter(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_conf_room *room = room_find(eng, call->target);

	if (!room) {
		if (!(room = calloc(1, sizeof(*room))))
			return 0;
		sb__set_str(room->name, sizeof(room->name), call->target);
		room->id = ++eng->conf_next;
		room->members = g_ptr_array_new_with_free_func(member_unref);
		g_hash_table_insert(eng->rooms, room->name, room);
		sb_info("conference %s opens (id %llu)", room->name, (unsigned long long)room->id);
	}
	g_ptr_array_add(room->members, sb__call_ref(call));
	sb__set_str(call->conf.name, sizeof(call->conf.name), room->name);
	call->conf.id = room->id;
	return room->id;
}

/* The room's members as call.conference's "members": those joined. */
static json_t *members_json(const struct sb_conf_room *room)
{
	json_t *arr = json_array();

	for (guint i = 0; arr && i < room->members->len; i++) {
		const struct sb_call *m = room->members->pdata[i];

		if (m->conf.joined)
			json_array_append_new(arr,
					      json_pack("{s:s,s:s,s:b}", "call", m->wire_id, "from",
							m->caller, "muted", m->conf.muted));
	}
	return arr;
}

/* call.conference to the browser member of call (when it is in the room,
 * up and attached: events to a detached session are lost, and it gets the
 * room again when it resumes). */
static void tell(struct sb_engine *eng, const struct sb_conf_room *room, struct sb_call *call)
{
	struct sb_leg *caller = sb__call_caller(call);
	struct sb_session *s;

	if (!call->conf.joined || !caller || caller->kind != SB_LEG_CLIENT ||
	    caller->state != SB_LEG_UP)
		return;
	s = sb__session_find(eng, caller->session);
	if (!s || s->state != SB_SESSION_ATTACHED)
		return;
	sb__client_event(eng, caller->session, "call.conference",
			 json_pack("{s:s,s:s,s:o}", "call", call->wire_id, "conference", room->name,
				   "members", members_json(room)));
}

static void tell_all(struct sb_engine *eng, const struct sb_conf_room *room)
{
	for (guint i = 0; i < room->members->len; i++)
		tell(eng, room, room->members->pdata[i]);
}

void sb__conf_caller_answered(struct sb_engine *eng, struct sb_call *call)
{
	const struct sb_engine_media_ops *m = eng->ops.media;
	struct sb_conf_room *room = room_find(eng, call->conf.name);
	struct sb_leg *caller = sb__call_caller(call);
	int r = -ENOSYS;

	if (!room || call->conf.joined || call->state != SB_CALL_ANSWERED || !caller ||
	    caller->state != SB_LEG_UP)
		return;
	if (m && m->conf_join)
		r = m->conf_join(eng->ops.media_ud, caller->media, room->id);
	if (r < 0) {
		sb_warn("conference %s: media refused the member (%s)", room->name, strerror(-r));
		sb__call_end(eng, call, 0, "media_error", "answered");
		return;
	}
	call->conf.joined = true;
	call->conf.since_us = sb_clock_now(eng->clock);
	eng->m.conf_joins++;
	sb_info("joins conference %s (%u members)", room->name, room->members->len);
	tell_all(eng, room);
}

void sb__conf_call_ended(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_conf_room *room = call->conf.id ? room_find(eng, call->conf.name) : NULL;
	bool joined = call->conf.joined;

	if (!room)
		return;
	call->conf.joined = false;
	/* Its media session is gone (destroyed with its leg): that took it
	 * out of the mix, no conf_leave needed. The room's reference goes
	 * last. */
	sb__call_ref(call);
	g_ptr_array_remove(room->members, call);
	if (room->members->len == 0) {
		sb_info("conference %s closes (id %llu)", room->name, (unsigned long long)room->id);
		g_hash_table_remove(eng->rooms, room->name);
	} else if (joined) {
		tell_all(eng, room);
	}
	sb__call_unref(call);
}

void sb__conf_resumed(struct sb_engine *eng, struct sb_call *call)
{
	struct sb_conf_room *room = call->conf.id ? room_find(eng, call->conf.name) : NULL;

	if (room)
		tell(eng, room, call);
}

void sb__conf_error(const char *what, struct sb_engine_error *ret)
{
	sb__engine_error(3000, ret);
	snprintf(ret->message, sizeof(ret->message), "%s is not available in a conference", what);
}

int sb__conf_member_mute(struct sb_engine *eng, struct sb_call *call, bool mute)
{
	const struct sb_engine_media_ops *m = eng->ops.media;
	struct sb_conf_room *room = call->conf.id ? room_find(eng, call->conf.name) : NULL;
	struct sb_leg *caller = sb__call_caller(call);
	int r;

	if (!room || !call->conf.joined || !caller)
		return -ENOENT;
	if (call->conf.muted == mute)
		return 0;
	if (!m || !m->conf_mute)
		return -ENOSYS;
	r = m->conf_mute(eng->ops.media_ud, caller->media, mute);
	if (r < 0)
		return r;
	call->conf.muted = mute;
	if (mute)
		eng->m.conf_mutes++;
	sb_info("%s in conference %s", mute ? "muted" : "unmuted", room->name);
	tell_all(eng, room);
	return 0;
}

/* The joined member of live room name whose wire id is id, or NULL. */
static struct sb_call *member_find(struct sb_engine *eng, const char *name, const char *id)
{
	struct sb_conf_room *room = name ? room_find(eng, name) : NULL;

	for (guint i = 0; room && id && i < room->members->len; i++) {
		struct sb_call *c = room->members->pdata[i];

		if (c->conf.joined && strcmp(c->wire_id, id) == 0)
			return c;
	}
	return NULL;
}

/* ---- metrics, admin ---- */

static size_t room_members(const struct sb_engine *eng, const char *name)
{
	const struct sb_conf_room *room = g_hash_table_lookup(eng->rooms, name);

	return room ? room->members->len : 0;
}

void sb__conf_metrics_write(const struct sb_engine *eng, struct sb_strbuf *out)
{
	sb_strbuf_printf(out,
			 "# HELP switchboard_engine_conference_members Members of the conference "
			 "(joined or being set up)\n"
			 "# TYPE switchboard_engine_conference_members gauge\n");
	for (size_t i = 0; i < eng->cfg->n_conferences; i++) {
		const char *name = eng->cfg->conferences[i].name;

		sb_strbuf_printf(out,
				 "switchboard_engine_conference_members{conference=\"%s\"} %zu\n",
				 name, room_members(eng, name));
	}
	sb_strbuf_printf(out,
			 "# HELP switchboard_engine_conference_joins_total Members joined to a "
			 "conference\n"
			 "# TYPE switchboard_engine_conference_joins_total counter\n"
			 "switchboard_engine_conference_joins_total %llu\n"
			 "# HELP switchboard_engine_conference_refused_full_total Callers refused: "
			 "the conference was full\n"
			 "# TYPE switchboard_engine_conference_refused_full_total counter\n"
			 "switchboard_engine_conference_refused_full_total %llu\n",
			 (unsigned long long)eng->m.conf_joins,
			 (unsigned long long)eng->m.conf_refused_full);
	sb_strbuf_printf(out,
			 "# HELP switchboard_engine_conference_mutes_total Members muted (by an "
			 "admin or themselves)\n"
			 "# TYPE switchboard_engine_conference_mutes_total counter\n"
			 "switchboard_engine_conference_mutes_total %llu\n"
			 "# HELP switchboard_engine_conference_kicks_total Members removed by an "
			 "admin\n"
			 "# TYPE switchboard_engine_conference_kicks_total counter\n"
			 "switchboard_engine_conference_kicks_total %llu\n",
			 (unsigned long long)eng->m.conf_mutes,
			 (unsigned long long)eng->m.conf_kicks);
}

/* A member as the admin API shows it. */
static json_t *member_admin_json(struct sb_engine *eng, const struct sb_call *m)
{
	return json_pack("{s:s,s:s,s:I,s:b}", "call", m->wire_id, "from", m->caller, "since",
			 (json_int_t)(sb__engine_wall(eng, m->conf.since_us) / 1000), "muted",
			 m->conf.muted);
}

static json_t *room_json(struct sb_engine *eng, const struct sb_config_conference *cc)
{
	const struct sb_conf_room *room = room_find(eng, cc->name);
	json_t *members = json_array();

	for (guint i = 0; room && i < room->members->len; i++) {
		const struct sb_call *m = room->members->pdata[i];

		if (m->conf.joined)
			json_array_append_new(members, member_admin_json(eng, m));
	}
	return json_pack("{s:s,s:I,s:o}", "name", cc->name, "max_members",
			 (json_int_t)cc->max_members, "members", members);
}

char *sb_engine_conferences_json(struct sb_engine *eng)
{
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; arr && i < eng->cfg->n_conferences; i++)
		json_array_append_new(arr, room_json(eng, &eng->cfg->conferences[i]));
	text = arr ? json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(arr);
	return text;
}

int sb_engine_conference_mute(struct sb_engine *eng, const char *name, const char *call, bool mute,
			      char **ret_member)
{
	struct sb_call *c = member_find(eng, name, call);
	json_t *j;
	int r;

	if (!c)
		return -ENOENT;
	r = sb__conf_member_mute(eng, c, mute);
	if (r < 0 || !ret_member)
		return r;
	j = member_admin_json(eng, c);
	*ret_member = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return *ret_member ? 0 : -ENOMEM;
}

int sb_engine_conference_kick(struct sb_engine *eng, const char *name, const char *call)
{
	struct sb_call *c = member_find(eng, name, call);

	if (!c)
		return -ENOENT;
	sb_info("kicked from conference %s", name);
	eng->m.conf_kicks++;
	sb__call_end(eng, c, 0, "kicked", "answered");
	return 0;
}
