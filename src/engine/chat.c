/* In-call chat (docs/engine.md, "Chat"): text one party of a call sends,
 * relayed to the other party of its bridge (a browser's by its data
 * channel, the media chat op; a SIP party's by MESSAGE, the sip message
 * op), back to the sender on an echo call, to every other member of a
 * conference room. Control thread. Owns nothing but the record, per SIP
 * leg, of who sent its MESSAGEs in flight; the text is never logged. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "log/log.h"

/* Remembers that MESSAGE seq on SIP leg to carries from's text, so that a
 * failure can be told to from; the oldest record makes way when all are
 * taken (its failure then goes untold). */
static void remember(struct sb_leg *to, uint64_t seq, const struct sb_leg *from)
{
	struct sb_chat_out *slot = &to->chat_out[0];

	for (size_t i = 0; i < SB_CHAT_OUT_MAX; i++) {
		if (to->chat_out[i].seq < slot->seq)
			slot = &to->chat_out[i];
	}
	slot->seq = seq;
	slot->call = from->call->id;
	slot->leg = from->id;
}

/* Gives text to leg to (a party up); true when the op took it. */
static bool deliver(struct sb_engine *eng, struct sb_leg *to, const struct sb_leg *from,
		    const char *text)
{
	uint64_t seq;
	int r = -ENOSYS;

	if (to->state != SB_LEG_UP)
		r = -ENOENT;
	else if (to->kind == SB_LEG_CLIENT && eng->ops.media && eng->ops.media->chat)
		r = eng->ops.media->chat(eng->ops.media_ud, to->media, text);
	else if (to->kind == SB_LEG_SIP && eng->ops.sip && eng->ops.sip->message) {
		seq = ++eng->chat_next;
		r = eng->ops.sip->message(eng->ops.sip_ud, to->call->id, to->id, seq, text);
		if (r == 0)
			remember(to, seq, from);
	}
	if (r < 0) {
		eng->m.chat_dropped++;
		sb_debug("chat of %zu bytes for leg %u not sent: %s", strlen(text),
			 (unsigned)to->id, strerror(-r));
		return false;
	}
	eng->m.chat_relayed++;
	return true;
}

static void drop(struct sb_engine *eng, const struct sb_leg *from, const char *text,
		 const char *why)
{
	eng->m.chat_dropped++;
	sb_debug("chat of %zu bytes from leg %u dropped: %s", strlen(text), (unsigned)from->id,
		 why);
}

/* A room member's text: to every other member joined, oldest call first. */
static void relay_room(struct sb_engine *eng, struct sb_leg *from, const char *text)
{
	GPtrArray *calls = sb__calls_sorted(eng);
	unsigned n = 0;

	for (guint i = 0; i < calls->len; i++) {
		struct sb_call *c = calls->pdata[i];
		struct sb_leg *m = sb__call_caller(c);

		if (c == from->call || !c->conf.joined || c->conf.id != from->call->conf.id || !m)
			continue;
		deliver(eng, m, from, text);
		n++;
	}
	sb__calls_release(calls);
	if (!n)
		drop(eng, from, text, "alone in the room");
}

void sb__chat_relay(struct sb_engine *eng, struct sb_leg *from, const char *text)
{
	struct sb_call *call = from->call;
	struct sb_leg *p;

	if (!text || !*text || strnlen(text, SB_CHAT_MAX + 1) > SB_CHAT_MAX ||
	    !g_utf8_validate(text, -1, NULL))
		return drop(eng, from, text ? text : "", "empty, too long or not UTF-8");
	if (from->state != SB_LEG_UP)
		return drop(eng, from, text, "not answered");
	if (from->media_kind == SB_MEDIA_ECHO || from->media_kind == SB_MEDIA_RTP_ECHO) {
		/* The echo returns chat too. */
		deliver(eng, from, from, text);
		return;
	}
	if (sb__conf_call(call)) {
		if (!call->conf.joined)
			return drop(eng, from, text, "not in the room yet");
		return relay_room(eng, from, text);
	}
	/* Waiting in a queue, or held while a transfer's target rings: there
	 * is no other party to read it. */
	p = sb__leg_peer(from);
	if (!p || call->xfer.active || call->queue.waiting)
		return drop(eng, from, text, "no other party");
	deliver(eng, p, from, text);
}

void sb__chat_result(struct sb_engine *eng, struct sb_leg *leg, int status, uint64_t seq)
{
	struct sb_chat_out out = {0};
	struct sb_leg *from;

	for (size_t i = 0; seq && i < SB_CHAT_OUT_MAX; i++) {
		if (leg->chat_out[i].seq == seq) {
			out = leg->chat_out[i];
			leg->chat_out[i] = (struct sb_chat_out){0};
		}
	}
	if (!out.seq || status < 300)
		return;
	eng->m.chat_failed++;
	from = sb__leg_find(sb__call_find(eng, out.call), out.leg);
	sb_info("chat to leg %u refused: %d", (unsigned)leg->id, status);
	/* A browser is told; a SIP sender already had its 200. */
	if (from && from->kind == SB_LEG_CLIENT && from->state != SB_LEG_ENDED)
		sb__client_event(
			eng, from->session, "call.chat_failed",
			json_pack("{s:s,s:i}", "call", from->call->wire_id, "status", status));
}
