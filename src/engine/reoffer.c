/* New offers from a SIP party on a live leg (RFC 3264 section 8: a
 * re-INVITE or an UPDATE with SDP: hold, resume, a new address, a new
 * codec): the offer goes to the leg's media session, whose answer (or
 * refusal) goes back to SIP as the response, and media applies an answer
 * once SIP reports it sent. Control thread. Works on legs owned by their
 * calls (and the answer kept on one); commands through the component ops
 * only. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "log/log.h"

static const char *dir_name(int dir)
{
	static const char *const names[] = {"inactive", "sendonly", "recvonly", "sendrecv"};

	return names[dir & 3];
}

/* 0 when SIP sent the response, else a negative errno (-ENOENT: no offer
 * waits any more). */
static int reanswer(struct sb_engine *eng, struct sb_leg *leg, int status, const char *sdp)
{
	const struct sb_engine_sip_ops *s = eng->ops.sip;
	int r = s && s->reanswer ? s->reanswer(eng->ops.sip_ud, leg->call->id, leg->id, status, sdp)
				 : -ENOSYS;

	if (r < 0)
		sb_debug("leg %u: no offer waits for our %d", (unsigned)leg->id, status);
	return r;
}

/* Tells the leg's media session what became of its answer to offer seq. */
static void reoffer_done(struct sb_engine *eng, struct sb_leg *leg, uint64_t seq, bool sent)
{
	const struct sb_engine_media_ops *m = eng->ops.media;

	if (leg->media && m && m->reoffer_done &&
	    m->reoffer_done(eng->ops.media_ud, leg->media, seq, sent) < 0)
		sb_warn("leg %u: media not told that offer %llu was %s", (unsigned)leg->id,
			(unsigned long long)seq, sent ? "answered" : "abandoned");
}

/* Forgets the answer kept for SIP's report, telling media it was not
 * sent. */
static void answer_drop(struct sb_engine *eng, struct sb_leg *leg)
{
	if (!leg->answer.seq)
		return;
	reoffer_done(eng, leg, leg->answer.seq, false);
	free(leg->answer.sdp);
	leg->answer.sdp = NULL;
	leg->answer.seq = 0;
}

/* arg: a struct sb_leg_arg with the offer (sdp) and the party's direction
 * in it (status, enum sb_sdp_dir values). Each offer gets a new sequence
 * number, so that the answer to an offer SIP gave up on (its timeout) is
 * never taken for the answer to a later one. */
void sb__h_leg_reoffer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	const struct sb_engine_media_ops *m = eng->ops.media;
	struct sb_leg *leg = obj;
	int r = -ENOSYS;

	/* SIP settles an offer before it takes the next (one at a time per
	 * dialog); an answer still kept would never be reported. */
	if (leg->answer.seq) {
		sb_warn("leg %u: a new offer before SIP reported our answer to offer %llu",
			(unsigned)leg->id, (unsigned long long)leg->answer.seq);
		answer_drop(eng, leg);
	}
	if (leg->kind == SB_LEG_SIP && leg->media && m && m->reoffer && a && a->sdp && *a->sdp) {
		leg->offer_seq = ++leg->offer_next;
		leg->offer_dir = a->status & 3;
		r = m->reoffer(eng->ops.media_ud, leg->media, leg->offer_seq, a->sdp);
	}
	if (r < 0) {
		leg->offer_seq = 0;
		sb_warn("leg %u: the party's new offer not given to media (%s)", (unsigned)leg->id,
			strerror(-r));
		reanswer(eng, leg, r == -ENOSYS ? 488 : 500, NULL);
	}
}

/* The party on the other side hears that this one held or resumed: a
 * browser by call.hold (docs/protocol.md section 6), its own media
 * unchanged (the media plane sends nothing to the held party); a SIP party
 * is held or resumed in turn (hold.c: our re-INVITE), so that a hold
 * between two SIP parties reaches the other one (when a change of its own
 * session is under way, it is left as it is). */
static void tell_peer(struct sb_engine *eng, struct sb_leg *leg, bool held)
{
	struct sb_call *call = leg->call;
	struct sb_leg *p = sb__leg_peer(leg);

	if (p && p->kind == SB_LEG_CLIENT)
		sb__client_event(eng, p->session, "call.hold",
				 json_pack("{s:s,s:b}", "call", call->wire_id, "hold", held));
	else if (p && p->state == SB_LEG_UP && p->local_hold != held && !p->hold_op.seq &&
		 !p->offer_seq && !p->answer.seq)
		sb__fsm_apply(eng, &sb__leg_fsm, p, &p->state, SB_LI_HOLD, call->id, p->id,
			      "hold_relayed", &(struct sb_leg_arg){.status = held, .request = -1});
}

/* arg: a struct sb_leg_arg with media's answer (sdp) or its refusal
 * (error, cause). A refused offer leaves the session as it was (RFC 3264
 * section 8: the old description stays in force): 488 when the offer
 * itself is unacceptable (malformed, nothing in common), else 500. An
 * accepted one is given to SIP with 200 and kept until SIP reports what
 * became of it (sip.reoffer_gone). */
void sb__h_leg_reoffer_answer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;
	uint64_t seq = leg->offer_seq;

	leg->offer_seq = 0;
	if (!a || a->error < 0 || !a->sdp || !*a->sdp) {
		int e = a ? a->error : -EIO;
		bool unacceptable =
			e == -EBADMSG || e == -ENOTSUP || e == -EPROTO || e == -EOPNOTSUPP;

		sb_info("leg %u: the party's new offer refused (%s): the call goes on as it was",
			(unsigned)leg->id, a && a->cause && *a->cause ? a->cause : "no answer");
		reanswer(eng, leg, unacceptable ? 488 : 500, NULL);
		return;
	}
	if (reanswer(eng, leg, 200, a->sdp) < 0) {
		sb_info("leg %u: the party's new offer ended before our answer: the call goes on "
			"as it was",
			(unsigned)leg->id);
		reoffer_done(eng, leg, seq, false);
		return;
	}
	/* The answer takes effect in media only once SIP has sent it: until
	 * then the party may still CANCEL the re-INVITE and keep the old
	 * session (RFC 3264 section 8, RFC 3261 section 9.2). */
	leg->answer.seq = seq;
	leg->answer.sdp = strdup(a->sdp);
	leg->answer.dir = leg->offer_dir;
}

/* SIP sent our answer: media applies it, it becomes our description
 * toward the party, and the hold or resume is recorded. */
static void answer_apply(struct sb_engine *eng, struct sb_leg *leg)
{
	bool held;

	reoffer_done(eng, leg, leg->answer.seq, true);
	leg->answer.seq = 0;
	if (leg->answer.sdp) {
		free(leg->local_sdp);
		leg->local_sdp = leg->answer.sdp;
		leg->answer.sdp = NULL;
	}
	/* The party holds the call when it no longer receives (RFC 3264
	 * section 8.4: sendonly or inactive). */
	held = !(leg->answer.dir & 2);
	if (held == leg->held)
		return;
	leg->held = held;
	sb_info("leg %u %s by the party (%s)", (unsigned)leg->id, held ? "held" : "resumed",
		dir_name(leg->answer.dir));
	tell_peer(eng, leg, held);
}

/* arg: a struct sb_leg_arg with what SIP reports of the offer: status 200
 * when our answer was sent (media applies it), else the status the offer
 * ended with (487 after the party's CANCEL, 500 after SB_SIP_REOFFER_TIMEOUT_MS
 * or when nua could not send our 200) and why (cause). Then the party keeps
 * the old session (RFC 3264 section 8), so media drops its answer and a late
 * media.reanswer finds no offer: the leg is not marked held and its browser
 * hears nothing. */
void sb__h_leg_reoffer_gone(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	struct sb_leg *leg = obj;
	int status = a ? a->status : 0;

	if (status >= 200 && status < 300) {
		if (leg->answer.seq)
			answer_apply(eng, leg);
		return;
	}
	sb_info("leg %u: the party's new offer ended with %d (%s): the call goes on as it was",
		(unsigned)leg->id, status, a && a->cause ? a->cause : "gone");
	if (leg->offer_seq)
		reoffer_done(eng, leg, leg->offer_seq, false);
	leg->offer_seq = 0;
	answer_drop(eng, leg);
}
