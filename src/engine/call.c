/* Calls and legs: creation, lookup by id and wire id, and lifetime. A call
 * owns its legs (and through them their media session handles) and its
 * bridge. Closing a call takes it out of the tables and onto the engine's
 * free list; memory is freed by sb_engine_reap() at the end of the loop
 * iteration, never inside a running handler. Control thread. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "engine/engine_internal.h"

void sb__set_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (!size)
		return;
	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

struct sb_call *sb__call_new(struct sb_engine *eng)
{
	struct sb_call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	sb_refcount_init(&call->ref);
	call->id = sb_id_next();
	if (sb_id_random_hex(call->wire_id + 2, sizeof(call->wire_id) - 2, 8) < 0) {
		free(call);
		return NULL;
	}
	call->wire_id[0] = 'c';
	call->wire_id[1] = '-';
	call->state = SB_CALL_INIT;
	call->xfer.request = -1;
	call->start_us = sb_clock_now(eng->clock);
	g_hash_table_insert(eng->calls, &call->id, call);
	g_hash_table_insert(eng->by_wire, call->wire_id, call);
	eng->m.calls_total++;
	eng->m.calls_active++;
	return call;
}

struct sb_call *sb__call_ref(struct sb_call *call)
{
	if (call)
		sb_refcount_inc(&call->ref);
	return call;
}

static void leg_free(struct sb_leg *leg)
{
	free(leg->remote_sdp);
	free(leg->local_sdp);
	free(leg->answer.sdp);
	free(leg->hold_op.offer);
	free(leg);
}

struct sb_call *sb__call_unref(struct sb_call *call)
{
	if (!call || !sb_refcount_dec(&call->ref))
		return NULL;
	for (unsigned i = 0; i < call->n_legs; i++)
		leg_free(call->legs[i]);
	free(call);
	return NULL;
}

struct sb_call *sb__call_find(struct sb_engine *eng, uint64_t id)
{
	return id ? g_hash_table_lookup(eng->calls, &id) : NULL;
}

struct sb_call *sb__call_find_wire(struct sb_engine *eng, const char *wire)
{
	return wire ? g_hash_table_lookup(eng->by_wire, wire) : NULL;
}

struct sb_leg *sb__leg_add(struct sb_call *call, enum sb_leg_kind kind, bool outbound)
{
	struct sb_leg *leg;

	if (call->n_legs >= SB_CALL_MAX_LEGS)
		return NULL;
	leg = calloc(1, sizeof(*leg));
	if (!leg)
		return NULL;
	leg->call = call;
	leg->id = call->n_legs + 1;
	leg->kind = kind;
	leg->outbound = outbound;
	leg->state = SB_LEG_NEW;
	leg->hold_op.request = -1;
	leg->request = -1;
	call->legs[call->n_legs++] = leg;
	return leg;
}

struct sb_leg *sb__leg_find(struct sb_call *call, uint32_t id)
{
	return call && id >= 1 && id <= call->n_legs ? call->legs[id - 1] : NULL;
}

struct sb_leg *sb__call_caller(struct sb_call *call)
{
	return call->n_legs ? call->legs[0] : NULL;
}

static gint call_cmp(gconstpointer a, gconstpointer b)
{
	uint64_t x = (*(struct sb_call *const *)a)->id, y = (*(struct sb_call *const *)b)->id;

	return x < y ? -1 : x > y;
}

GPtrArray *sb__calls_sorted(struct sb_engine *eng)
{
	GPtrArray *out = g_ptr_array_new();
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, eng->calls);
	while (g_hash_table_iter_next(&it, NULL, &v))
		g_ptr_array_add(out, sb__call_ref(v));
	g_ptr_array_sort(out, call_cmp);
	return out;
}

static void unref_cb(gpointer call, gpointer ud)
{
	sb__call_unref(call);
}

void sb__calls_release(GPtrArray *calls)
{
	g_ptr_array_foreach(calls, unref_cb, NULL);
	g_ptr_array_free(calls, TRUE);
}

void sb__call_close(struct sb_engine *eng, struct sb_call *call)
{
	/* The tables' reference moves to the free list. */
	g_hash_table_remove(eng->by_wire, call->wire_id);
	g_hash_table_steal(eng->calls, &call->id);
	call->grave_next = eng->grave;
	eng->grave = call;
	if (eng->m.calls_active)
		eng->m.calls_active--;
	sb__engine_schedule_reap(eng);
}

void sb_engine_reap(struct sb_engine *eng)
{
	while (eng->grave) {
		struct sb_call *call = eng->grave;

		eng->grave = call->grave_next;
		sb__call_unref(call);
	}
}

struct sb_leg *sb__leg_peer(struct sb_leg *leg)
{
	struct sb_call *call = leg->call;
	uint32_t other = call->bridge.a == leg->id   ? call->bridge.b
			 : call->bridge.b == leg->id ? call->bridge.a
						     : 0;
	struct sb_leg *p = sb__leg_find(call, other);

	return p && p->state != SB_LEG_ENDED ? p : NULL;
}
