/* New offers on a live RTP leg toward SIP (RFC 3264 section 8: a re-INVITE
 * or an UPDATE with SDP), the party's and ours. The party's offer is
 * checked whole and answered before anything changes; an accepted offer is
 * kept (s->ro_kept, owned by the session) and applied only once SIP has
 * sent our answer: a new address or port (and the relatch rules below),
 * another codec or other payload type numbers, and the direction (hold and
 * resume, section 8.4). A refused offer, or one SIP gave up on, leaves the
 * leg as it was. Our offer (hold and resume from our side, section 8.4) is
 * s->current again with another direction; the party's answer to it is
 * taken and applied the same way. Worker thread only. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log/log.h"
#include "media/media_internal.h"

/* How long packets from the source latched before a move are still taken:
 * the old stream's last packets, already on their way. */
#define PREV_GRACE_US (2 * G_USEC_PER_SEC)

/* What the party's new description (its offer, or its answer to ours)
 * asks for, worked out before anything changes. */
struct sb_mreoffer {
	int64_t seq;
	struct sb_sdp *theirs;	/* the party's offer or answer */
	struct sb_sdp_media *m; /* its audio section */
	struct sb_mcodec codec;
	struct sockaddr_in addr;
	bool hold_addr;	     /* c=0.0.0.0 */
	struct sb_sdp *ours; /* our answer, s->current once applied */
	char *text;	     /* the answer printed */
};

static void reply(struct sb_msession *s, int64_t seq, int err, const char *str, char *text)
{
	sb__media_post_seq(s, SB_EV_MEDIA_REANSWER, err, seq, str, text);
}

/* Our address toward the peer: the one we gave before (it does not change
 * within a call). */
static void our_addr(struct sb_msession *s, const struct sb_mreoffer *ro, char *out, size_t n)
{
	for (int i = 0; s->current && i < s->current->n_media; i++)
		if (s->current->media[i]->port && s->current->media[i]->addr) {
			snprintf(out, n, "%s", s->current->media[i]->addr);
			return;
		}
	sb__rtp_local_addr(s, ro->m->addr, out, n);
}

/* The codec: the one in use when it is still offered (RFC 3264 section
 * 8.3.2 lets the answerer keep it, and the relay keeps working as it
 * did), under the offer's payload type; else the one a new call would
 * choose. */
static int codec_take(struct sb_msession *s, struct sb_mreoffer *ro)
{
	const struct sb_sdp_codec *c =
		sb_sdp_codec_find(ro->m, s->codec.name, (unsigned)s->codec.rate);

	if (c) {
		sb__mcodec_set(&ro->codec, c);
		return 0;
	}
	return sb__rtp_codec_choose(s, ro->m, &ro->codec);
}

static int addr_take(struct sb_mreoffer *ro)
{
	struct sb_sdp_media *m = ro->m;

	ro->addr.sin_family = AF_INET;
	if (m->ipv6 || !m->addr || m->port == 0 || m->port > 65535 ||
	    inet_pton(AF_INET, m->addr, &ro->addr.sin_addr) != 1)
		return -EBADMSG;
	ro->addr.sin_port = htons((uint16_t)m->port);
	/* RFC 3264 section 8.4: c=0.0.0.0 is the RFC 2543 hold, the peer
	 * receiving nothing (sendonly, or inactive when it was recvonly). */
	ro->hold_addr = ro->addr.sin_addr.s_addr == htonl(INADDR_ANY);
	if (ro->hold_addr)
		m->dir = (enum sb_sdp_dir)(m->dir & SB_SDP_SENDONLY);
	return 0;
}

/* Parses and checks the party's description text (what: "offer" or
 * "answer") into ro; s is not changed. Returns 0, or -EBADMSG (malformed),
 * -ENOTSUP (nothing we can take), -ENOMEM, with a reason in err. */
static int take(struct sb_msession *s, struct sb_mreoffer *ro, const char *text, const char *what,
		char *err, size_t errlen)
{
	int r;

	r = sb_sdp_parse(text, strnlen(text, SB_SDP_MAX_LEN + 1), &ro->theirs, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	if (!(ro->m = sb_sdp_media_find(ro->theirs, "audio"))) {
		snprintf(err, errlen, "the %s has no audio stream", what);
		return -ENOTSUP;
	}
	if (addr_take(ro) < 0) {
		snprintf(err, errlen, "the %s has no usable IPv4 address and port", what);
		return -EBADMSG;
	}
	if (codec_take(s, ro) < 0) {
		snprintf(err, errlen, "no codec in common");
		return -ENOTSUP;
	}
	if (sb__sdes_reoffer(s, ro->m) < 0) {
		snprintf(err, errlen, "the %s changes the SRTP keys or drops SRTP", what);
		return -ENOTSUP;
	}
	if (s->rtcp_mux && !ro->m->rtcp_mux) {
		snprintf(err, errlen, "the %s drops rtcp-mux", what);
		return -ENOTSUP;
	}
	return 0;
}

/* Parses, checks and answers the offer in ro; s is not changed. Returns 0,
 * or -EBADMSG (malformed), -ENOTSUP (nothing we can take), -ENOMEM, with a
 * reason in err. */
static int prepare(struct sb_msession *s, struct sb_mreoffer *ro, const char *text, char *err,
		   size_t errlen)
{
	char addr[64];
	int r;

	if ((r = take(s, ro, text, "offer", err, errlen)) < 0)
		return r;
	our_addr(s, ro, addr, sizeof(addr));
	if ((r = sb__describe_rtp_reanswer(s, ro->theirs, addr, &ro->codec, &ro->ours)) < 0 ||
	    (r = sb_sdp_print(ro->ours, &ro->text)) < 0) {
		snprintf(err, errlen, "%s", r == -ENOMEM ? "out of memory" : "nothing to answer");
		return r == -ENOMEM ? r : -ENOTSUP;
	}
	return 0;
}

/* A payload type no codec of m uses, or -1. */
static int pt_unused(const struct sb_sdp_media *m, int pt)
{
	for (int i = 0; i < m->n_codecs; i++)
		if (m->codecs[i].pt == pt)
			return -1;
	return pt;
}

static void codec_apply(struct sb_msession *s, const struct sb_mreoffer *ro)
{
	if (strcasecmp(ro->codec.name, s->codec.name) != 0 || ro->codec.rate != s->codec.rate) {
		sb_info("session %llu: codec %s -> %s", (unsigned long long)s->id, s->codec.name,
			ro->codec.name);
		/* What we send is transcoded into our codec: a new one needs a
		 * new transcoder; the receive statistics had the old clock. */
		s->xc = sb_xcode_free(s->xc);
		memset(&s->rx, 0, sizeof(s->rx));
		s->pt_prev = -1;
		s->codec = ro->codec;
		sb__media_post(s, SB_EV_MEDIA_CONNECTED, 0, s->codec.name, NULL);
	} else if (ro->codec.pt != s->codec.pt) {
		/* Renumbered: packets under the old number may still be on
		 * their way; they are taken until one comes under the new one
		 * (unless the offer gave the old number to another codec). */
		s->pt_prev = pt_unused(ro->m, s->codec.pt);
		sb_info("session %llu: %s now payload type %d", (unsigned long long)s->id,
			s->codec.name, ro->codec.pt);
		s->codec = ro->codec;
	}
	s->dtmf_pt = sb__dtmf_pt(ro->m, s->codec.rate);
}

/* A new address or port from the peer takes effect at once. With
 * symmetric RTP the new signalled address is where we send until the first
 * authentic packet from any source but the one latched before latches
 * anew; that old source's packets are still taken (never latched onto) for
 * PREV_GRACE_US, so that the old stream's last packets are not lost, and
 * are dropped after. RTCP latches anew once that grace is over. */
static void addr_apply(struct sb_msession *s, const struct sb_mreoffer *ro)
{
	const struct sockaddr_in *sig = (const struct sockaddr_in *)&s->sig_rtp;
	char ip[INET_ADDRSTRLEN] = "";

	if (ro->hold_addr ||
	    (sig->sin_family == AF_INET && sig->sin_addr.s_addr == ro->addr.sin_addr.s_addr &&
	     sig->sin_port == ro->addr.sin_port && s->have_remote))
		return;
	if (s->latched) {
		s->prev_src = s->peer_rtp;
		s->prev_until_us = g_get_monotonic_time() + PREV_GRACE_US;
	}
	memset(&s->peer_rtp, 0, sizeof(s->peer_rtp));
	memcpy(&s->peer_rtp, &ro->addr, sizeof(ro->addr));
	s->peer_rtp_len = sizeof(ro->addr);
	s->sig_rtp = s->peer_rtp;
	s->have_remote = true;
	s->latched = false;
	s->rtcp_latched = false;
	inet_ntop(AF_INET, &ro->addr.sin_addr, ip, sizeof(ip));
	sb_info("session %llu: the peer moved to %s:%u", (unsigned long long)s->id, ip,
		(unsigned)ntohs(ro->addr.sin_port));
}

/* RFC 3264 section 8.4: a peer that is sendonly or inactive receives
 * nothing from us (RTCP goes on); when it receives again, our stream
 * continues with the next sequence number. */
static void dir_apply(struct sb_msession *s, const struct sb_mreoffer *ro)
{
	bool held = !(ro->m->dir & SB_SDP_RECVONLY);

	if (held == s->send_held)
		return;
	s->send_held = held;
	if (!held)
		s->rw.resync = true;
	sb_info("session %llu: the peer is %s: %s", (unsigned long long)s->id,
		sb_sdp_dir_to_string(ro->m->dir), held ? "nothing sent to it" : "sending again");
}

/* The party's description in ro takes effect, and ours (ro->ours, taken)
 * becomes the one in force. */
static void apply(struct sb_msession *s, struct sb_mreoffer *ro)
{
	codec_apply(s, ro);
	addr_apply(s, ro);
	dir_apply(s, ro);
	sb_sdp_free(s->current);
	s->current = ro->ours;
	ro->ours = NULL;
}

static void reoffer_clear(struct sb_mreoffer *ro)
{
	sb_sdp_free(ro->ours);
	sb_sdp_free(ro->theirs);
	free(ro->text);
}

static struct sb_mreoffer *reoffer_free(struct sb_mreoffer *ro)
{
	if (ro) {
		reoffer_clear(ro);
		free(ro);
	}
	return NULL;
}

void sb__rtp_reoffer_drop(struct sb_msession *s)
{
	s->ro_kept = reoffer_free(s->ro_kept);
}

void sb__rtp_reoffer(struct sb_msession *s, int64_t seq, const char *text)
{
	struct sb_mreoffer *ro;
	char err[160] = "";
	int r;

	/* An offer still kept was never answered by SIP (it gave up before
	 * our answer came): the new one is answered against the state in
	 * force, so our o= version goes one up from what the party last got. */
	sb__rtp_reoffer_drop(s);
	if (s->failed || s->rtp_fd < 0 || !s->current) {
		reply(s, seq, -EAGAIN, "no completed exchange to renegotiate", NULL);
		return;
	}
	if (!(ro = calloc(1, sizeof(*ro)))) {
		reply(s, seq, -ENOMEM, "out of memory", NULL);
		return;
	}
	ro->seq = seq;
	r = prepare(s, ro, text ? text : "", err, sizeof(err));
	if (r < 0) {
		sb_info("session %llu: new offer refused: %s", (unsigned long long)s->id, err);
		reply(s, seq, r, err, NULL);
		reoffer_free(ro);
		return;
	}
	reply(s, seq, 0, sb_sdp_dir_to_string(ro->m->dir), ro->text);
	ro->text = NULL;
	s->ro_kept = ro;
}

void sb__rtp_reoffer_done(struct sb_msession *s, int64_t seq, bool sent)
{
	struct sb_mreoffer *ro = s->ro_kept;

	if (!ro || ro->seq != seq) {
		sb_debug("session %llu: no answer to offer %lld kept", (unsigned long long)s->id,
			 (long long)seq);
		return;
	}
	s->ro_kept = NULL;
	if (!sent) {
		/* RFC 3264 section 8: the party keeps the old session when its
		 * offer fails (a CANCEL's 487, our 500), and so do we. */
		sb_info("session %llu: the new offer was abandoned: the leg stays as it was",
			(unsigned long long)s->id);
	} else if (!s->failed) {
		apply(s, ro);
	}
	reoffer_free(ro);
}

int sb__rtp_hold_offer(struct sb_msession *s, bool hold, char **ret_text, const char **ret_dir)
{
	/* RFC 3264 section 8.4: sendonly holds, sendrecv resumes; a party
	 * that holds us itself (sendonly or inactive: it receives nothing)
	 * gets inactive and recvonly, we having nothing to send it. */
	enum sb_sdp_dir dir = hold ? SB_SDP_SENDONLY : SB_SDP_SENDRECV;
	struct sb_sdp *d = NULL;
	char *text = NULL;
	int r;

	if (s->send_held)
		dir = (enum sb_sdp_dir)(dir & SB_SDP_RECVONLY);
	if (s->rtp_fd < 0 || !s->current)
		return -EAGAIN;
	if ((r = sb__describe_rtp_hold(s->current, dir, &s->sdes, &d)) < 0 ||
	    (r = sb_sdp_print(d, &text)) < 0) {
		sb_sdp_free(d);
		return r == -ENOMEM ? r : -EAGAIN;
	}
	s->offer_kept = d;
	*ret_text = text;
	*ret_dir = sb_sdp_dir_to_string(dir);
	return 0;
}

/* The party's answer to our offer ours, usable when it takes what ours
 * offered (RFC 3264 section 6: the same sections, a codec of ours) as
 * take() takes an offer. */
static int answer_take(struct sb_msession *s, struct sb_mreoffer *ro, const struct sb_sdp *ours,
		       const char *text, char *err, size_t errlen)
{
	const struct sb_sdp_media *om = sb_sdp_media_find(ours, "audio");
	int r;

	if ((r = take(s, ro, text, "answer", err, errlen)) < 0)
		return r;
	if ((r = sb_sdp_answer_check(ours, ro->theirs, err, errlen)) < 0)
		return r;
	if (!om || !sb_sdp_codec_find(om, ro->codec.name, (unsigned)ro->codec.rate)) {
		snprintf(err, errlen, "the answer's %s was not offered", ro->codec.name);
		return -EPROTO;
	}
	return 0;
}

void sb__rtp_offer_done(struct sb_msession *s, const char *answer)
{
	struct sb_mreoffer ro = {.ours = s->offer_kept};
	char err[160] = "";

	s->offer_kept = NULL;
	if (!ro.ours || s->failed) {
		reoffer_clear(&ro);
		return;
	}
	if (answer_take(s, &ro, ro.ours, answer, err, sizeof(err)) == 0) {
		apply(s, &ro);
	} else {
		/* The party has our offer whatever it answered: later
		 * descriptions continue from its o= version. The leg keeps
		 * its address, codec and direction toward the party. */
		sb_warn("session %llu: the answer to our offer is unusable: %s",
			(unsigned long long)s->id, err);
		sb_sdp_free(s->current);
		s->current = ro.ours;
		ro.ours = NULL;
	}
	reoffer_clear(&ro);
}
