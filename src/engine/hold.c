/* Hold and resume from our side (call.hold from a browser, or a SIP
 * party's hold relayed to the SIP party on the other side): the held leg's
 * media session stops at once (it gets nothing, what it sends is not
 * relayed); toward a SIP party media makes our new offer (RFC 3264 section
 * 8.4: sendonly to hold, sendrecv to resume) and SIP carries it by
 * re-INVITE; the party's answer completes it, a failure undoes it. A
 * browser on the other side of a browser call hears call.hold. One hold or
 * resume at a time per leg; the browser's request is answered when it is
 * over. Control thread. Works on legs owned by their calls; commands
 * through the component ops only. */
#define SB_LOG_COMP SB_COMP_ENGINE

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "log/log.h"

/* Answers the request waiting for the hold (if any): ok when code is 0,
 * else the error code (sb__engine_error, or 10000 + a SIP status). */
static void finish(struct sb_engine *eng, struct sb_leg *leg, int code)
{
	if (leg->hold_op.request >= 0) {
		struct sb_engine_error err;

		if (code)
			sb__engine_error(code, &err);
		sb__client_reply(eng, leg->hold_op.conn, leg->hold_op.request,
				 code ? NULL : json_object(), code ? &err : NULL);
	}
	free(leg->hold_op.offer);
	leg->hold_op.offer = NULL;
	leg->hold_op.seq = 0;
	leg->hold_op.request = -1;
	/* A transfer that completed or failed meanwhile resumes it now. */
	if (code != 10481 && code != 10408) {
		sb__transfer_hold_settled(eng, leg);
		sb__queue_hold_settled(eng, leg);
	}
}

/* Tells media what became of its offer: the party's answer, or NULL (the
 * hold or resume undone). */
static void offer_done(struct sb_engine *eng, struct sb_leg *leg, const char *answer)
{
	const struct sb_engine_media_ops *m = eng->ops.media;

	if (leg->media && m && m->offer_done &&
	    m->offer_done(eng->ops.media_ud, leg->media, leg->hold_op.seq, answer) < 0)
		sb_warn("leg %u: media not told what became of offer %llu", (unsigned)leg->id,
			(unsigned long long)leg->hold_op.seq);
}

/* The hold or resume took effect. A browser held by the other browser of
 * the call hears it (call.hold, as for a SIP party's hold). */
static void done(struct sb_engine *eng, struct sb_leg *leg)
{
	leg->local_hold = leg->hold_op.hold;
	sb_info("leg %u %s by us", (unsigned)leg->id, leg->local_hold ? "held" : "resumed");
	if (leg->kind == SB_LEG_CLIENT && leg->media_kind == SB_MEDIA_WEBRTC)
		sb__client_event(eng, leg->session, "call.hold",
				 json_pack("{s:s,s:b}", "call", leg->call->wire_id, "hold",
					   leg->local_hold));
	finish(eng, leg, 0);
}

/* arg: a struct sb_leg_arg with status 1 to hold, 0 to resume, and the
 * browser request waiting (conn, request; -1 none). The caller checked
 * that no hold and no offer of the party's is under way. */
void sb__h_leg_hold(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	const struct sb_engine_media_ops *m = eng->ops.media;
	struct sb_leg *leg = obj;
	int r = -ENOSYS;

	leg->hold_op.seq = ++leg->offer_next;
	leg->hold_op.hold = a && a->status;
	leg->hold_op.conn = a ? a->conn : 0;
	leg->hold_op.request = a ? a->request : -1;
	if (leg->media && m && m->hold)
		r = m->hold(eng->ops.media_ud, leg->media, leg->hold_op.seq, leg->hold_op.hold);
	if (r < 0) {
		sb_warn("leg %u: media cannot %s it (%s)", (unsigned)leg->id,
			leg->hold_op.hold ? "hold" : "resume", strerror(-r));
		finish(eng, leg, 5000);
	}
}

/* arg: a struct sb_leg_arg with media's offer (sdp; NULL: nothing to
 * signal, the hold took effect) or its refusal (error). */
void sb__h_leg_hold_offer(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	const struct sb_engine_sip_ops *s = eng->ops.sip;
	struct sb_leg *leg = obj;
	int r = -ENOSYS;

	if (!a || a->error < 0) {
		int e = a ? a->error : -EIO;

		sb_info("leg %u: media refused to %s it (%s)", (unsigned)leg->id,
			leg->hold_op.hold ? "hold" : "resume", a && a->cause ? a->cause : "");
		/* -EBUSY: an offer crossed ours (RFC 3261 section 14.1's 491). */
		finish(eng, leg, e == -EBUSY ? 10491 : e == -EAGAIN ? 3000 : 5000);
		return;
	}
	if (leg->kind != SB_LEG_SIP || !a->sdp || !*a->sdp) {
		done(eng, leg);
		return;
	}
	leg->hold_op.offer = strdup(a->sdp);
	if (leg->hold_op.offer && s && s->reinvite)
		r = s->reinvite(eng->ops.sip_ud, leg->call->id, leg->id, a->sdp);
	else if (!leg->hold_op.offer)
		r = -ENOMEM;
	if (r < 0) {
		sb_info("leg %u: our new offer not sent (%s): the call goes on as it was",
			(unsigned)leg->id, strerror(-r));
		offer_done(eng, leg, NULL);
		finish(eng, leg, r == -EBUSY ? 10491 : 5000);
	}
}

/* arg: a struct sb_leg_arg with the party's final response to our
 * re-INVITE (status) and, for a 2xx, its answer (sdp). A refusal leaves
 * the session as it was (RFC 3261 section 14.1) and the browser gets the
 * SIP status as its error; after 481 or 408 the dialog is gone (RFC 3261
 * section 12.2.1.2) and the leg ends. */
void sb__h_leg_hold_result(struct sb_engine *eng, void *obj, int from, const void *arg)
{
	const struct sb_leg_arg *a = arg;
	const struct sb_engine_sip_ops *s = eng->ops.sip;
	struct sb_leg *leg = obj;
	int status = a ? a->status : 500;

	if (status >= 200 && status < 300 && a->sdp && *a->sdp) {
		char *answer = strdup(a->sdp);

		if (answer) {
			offer_done(eng, leg, a->sdp);
			free(leg->local_sdp);
			leg->local_sdp = leg->hold_op.offer;
			leg->hold_op.offer = NULL;
			free(leg->remote_sdp);
			leg->remote_sdp = answer;
			done(eng, leg);
			return;
		}
		status = 500;
	} else if (status < 300) {
		/* RFC 3264 section 5: a 2xx to an offer carries the answer. */
		sb_warn("leg %u: the party's %d to our offer has no answer", (unsigned)leg->id,
			status);
		status = 488;
	}
	sb_info("leg %u: the party refused our offer to %s (%d)", (unsigned)leg->id,
		leg->hold_op.hold ? "hold" : "resume", status);
	offer_done(eng, leg, NULL);
	finish(eng, leg, 10000 + (status >= 400 && status <= 699 ? status : 500));
	if (status == 481 || status == 408) {
		if (s && s->bye)
			s->bye(eng->ops.sip_ud, leg->call->id, leg->id);
		sb__fsm_apply(eng, &sb__leg_fsm, leg, &leg->state, SB_LI_FAIL, leg->call->id,
			      leg->id, "sip.reinvite_result",
			      &(struct sb_leg_arg){.status = status,
						   .cause = status == 481 ? "dialog_gone"
									  : "reinvite_timeout",
						   .request = -1});
	}
}

void sb__hold_abandon(struct sb_engine *eng, struct sb_leg *leg)
{
	if (leg->hold_op.seq)
		finish(eng, leg, 3001);
}
