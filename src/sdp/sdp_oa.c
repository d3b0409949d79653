/* RFC 3264 offer/answer on the model: answering an offer, making an offer
 * from our capabilities or again from the last exchange (ICE restart), and
 * checking an answer against our offer. Pure; any thread. */
#include "sdp/sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/macros.h"

static bool is_dtmf(const struct sb_sdp_codec *c)
{
	return strcasecmp(c->name, "telephone-event") == 0;
}

static bool codec_match(const struct sb_sdp_codec *offered, const struct sb_sdp_codec *ours)
{
	return strcasecmp(offered->name, ours->name) == 0 && offered->rate == ours->rate &&
	       (ours->channels == 0 || offered->channels == ours->channels);
}

static const struct sb_sdp_codec *cap_codec(const struct sb_sdp_caps *cap,
					    const struct sb_sdp_codec *offered)
{
	for (int i = 0; i < cap->n_codecs; i++)
		if (codec_match(offered, &cap->codecs[i]))
			return &cap->codecs[i];
	return NULL;
}

/* Marks in keep[] the offered codecs the answer keeps; returns how many
 * are not telephone-event. */
static int pick_codecs(const struct sb_sdp_media *om, const struct sb_sdp_caps *cap, bool *keep)
{
	int kept = 0;

	for (int i = 0; i < om->n_codecs; i++) {
		keep[i] = !is_dtmf(&om->codecs[i]) && cap_codec(cap, &om->codecs[i]) &&
			  (cap->max_codecs <= 0 || kept < cap->max_codecs);
		kept += keep[i];
	}
	/* RFC 4733 section 7.1.1: telephone-event at the rate of the codec
	 * it goes with. */
	for (int i = 0; i < om->n_codecs; i++) {
		if (!is_dtmf(&om->codecs[i]) || !cap_codec(cap, &om->codecs[i]))
			continue;
		for (int j = 0; j < om->n_codecs && !keep[i]; j++)
			keep[i] = j != i && keep[j] && !is_dtmf(&om->codecs[j]) &&
				  om->codecs[j].rate == om->codecs[i].rate;
	}
	return kept;
}

static const struct sb_sdp_caps *caps_for(const struct sb_sdp_caps *caps, int n, const char *type)
{
	for (int i = 0; i < n; i++)
		if (caps[i].type && type && strcmp(caps[i].type, type) == 0)
			return &caps[i];
	return NULL;
}

/* RFC 4568 section 7.1.1: the offered line with our suite, or NULL. */
static const struct sb_sdp_crypto *crypto_match(const struct sb_sdp_media *om,
						const struct sb_sdp_local *l)
{
	for (int i = 0; l->crypto.suite && i < om->n_crypto; i++)
		if (strcmp(om->crypto[i].suite, l->crypto.suite) == 0)
			return &om->crypto[i];
	return NULL;
}

/* RFC 8842 section 5.3: the answerer's DTLS role. */
static enum sb_sdp_setup answer_setup(enum sb_sdp_setup offered, enum sb_sdp_setup ours)
{
	switch (offered) {
	case SB_SDP_SETUP_ACTIVE:
		return SB_SDP_SETUP_PASSIVE;
	case SB_SDP_SETUP_PASSIVE:
		return SB_SDP_SETUP_ACTIVE;
	case SB_SDP_SETUP_HOLDCONN:
		return SB_SDP_SETUP_HOLDCONN;
	default:
		return ours == SB_SDP_SETUP_PASSIVE ? SB_SDP_SETUP_PASSIVE : SB_SDP_SETUP_ACTIVE;
	}
}

/* Copies what every section of ours carries from local. */
static int put_local(struct sb_sdp *sdp, struct sb_sdp_media *m, const struct sb_sdp_local *l)
{
	int r;

	m->ice.ufrag = sb_sdp_strdup(sdp, l->ice.ufrag);
	m->ice.pwd = sb_sdp_strdup(sdp, l->ice.pwd);
	m->ice.options = sb_sdp_strdup(sdp, l->ice.options);
	m->fingerprint.hash = sb_sdp_strdup(sdp, l->fingerprint.hash);
	m->fingerprint.value = sb_sdp_strdup(sdp, l->fingerprint.value);
	m->rtcp_port = l->rtcp_port;
	m->ptime = l->ptime;
	if (l->ssrc) {
		m->ssrcs[0] = l->ssrc;
		m->n_ssrcs = 1;
		m->cname = sb_sdp_strdup(sdp, l->cname ? l->cname : "switchboard");
	}
	for (int i = 0; i < l->n_candidates; i++)
		if ((r = sb_sdp_candidate_add(sdp, m, l->candidates[i])) < 0)
			return r;
	m->end_of_candidates = l->end_of_candidates;
	return 0;
}

static int put_session(struct sb_sdp *sdp, const struct sb_sdp_local *l)
{
	sdp->addr = sb_sdp_strdup(sdp, l->addr ? l->addr : "0.0.0.0");
	sdp->ipv6 = strchr(sdp->addr ? sdp->addr : "", ':') != NULL;
	return sdp->addr ? 0 : -ENOMEM;
}

/* A rejected section: port 0, the offer's formats and mid (RFC 3264
 * section 6, RFC 8843 section 7.3.3). */
static int reject(struct sb_sdp *ans, const struct sb_sdp_media *om)
{
	struct sb_sdp_media *m = sb_sdp_media_add(ans, om->type, 0, om->proto);
	int r;

	if (!m)
		return -ENOMEM;
	for (int i = 0; i < om->n_codecs; i++)
		if ((r = sb_sdp_codec_add(ans, m, om->codecs[i].pt, om->codecs[i].name,
					  om->codecs[i].rate, om->codecs[i].channels, NULL)) < 0)
			return r;
	for (int i = 0; i < om->n_fmts; i++)
		m->fmts[m->n_fmts++] = sb_sdp_strdup(ans, om->fmts[i]);
	m->mid = sb_sdp_strdup(ans, om->mid);
	m->dir = SB_SDP_INACTIVE;
	return 0;
}

static int accept(struct sb_sdp *ans, const struct sb_sdp_media *om, const struct sb_sdp_caps *cap,
		  const bool *keep, const struct sb_sdp_local *l)
{
	struct sb_sdp_media *m = sb_sdp_media_add(ans, om->type, l->port, om->proto);
	const struct sb_sdp_crypto *cr = crypto_match(om, l);
	int r;

	if (!m)
		return -ENOMEM;
	for (int i = 0; i < om->n_codecs; i++) {
		const struct sb_sdp_codec *oc = &om->codecs[i], *ours;
		if (!keep[i])
			continue;
		ours = cap_codec(cap, oc);
		if ((r = sb_sdp_codec_add(ans, m, oc->pt, oc->name, oc->rate, oc->channels,
					  ours && ours->fmtp ? ours->fmtp : oc->fmtp)) < 0)
			return r;
	}
	m->mid = sb_sdp_strdup(ans, om->mid);
	m->dir = sb_sdp_dir_answer(om->dir, cap->dir ? cap->dir : SB_SDP_SENDRECV);
	m->rtcp_mux = om->rtcp_mux && l->rtcp_mux;
	if (l->fingerprint.hash && om->fingerprint.hash)
		m->setup = answer_setup(om->setup, l->setup);
	if (cr) {
		m->crypto[0].tag = cr->tag;
		m->crypto[0].suite = sb_sdp_strdup(ans, l->crypto.suite);
		m->crypto[0].key_params = sb_sdp_strdup(ans, l->crypto.key_params);
		m->crypto[0].session_params = sb_sdp_strdup(ans, l->crypto.session_params);
		m->n_crypto = 1;
	}
	if (l->bundle && m->mid && ans->n_bundle < SB_SDP_MAX_MEDIA)
		ans->bundle[ans->n_bundle++] = m->mid;
	return put_local(ans, m, l);
}

/* Makes m a data channel section of ours (RFC 8841): no RTP attributes. */
static int put_datachannel(struct sb_sdp *sdp, struct sb_sdp_media *m,
			   const struct sb_sdp_caps *cap, const struct sb_sdp_local *l)
{
	int r = put_local(sdp, m, l);

	m->fmts[0] = "webrtc-datachannel";
	m->n_fmts = 1;
	m->n_ssrcs = 0;
	m->cname = NULL;
	m->rtcp_port = 0;
	m->ptime = 0;
	m->rtcp_mux = false;
	m->sctp_port = cap->sctp_port;
	m->max_message_size = cap->max_message_size;
	return r;
}

/* RFC 8841 section 6: the answer to a data channel section. */
static int accept_datachannel(struct sb_sdp *ans, const struct sb_sdp_media *om,
			      const struct sb_sdp_caps *cap, const struct sb_sdp_local *l)
{
	struct sb_sdp_media *m = sb_sdp_media_add(ans, om->type, l->port, om->proto);

	if (!m)
		return -ENOMEM;
	m->mid = sb_sdp_strdup(ans, om->mid);
	m->dir = SB_SDP_SENDRECV;
	if (l->fingerprint.hash && om->fingerprint.hash)
		m->setup = answer_setup(om->setup, l->setup);
	if (l->bundle && m->mid && ans->n_bundle < SB_SDP_MAX_MEDIA)
		ans->bundle[ans->n_bundle++] = m->mid;
	return put_datachannel(ans, m, cap, l);
}

/* Whether the answer accepts offered section om with cap (keep: the
 * codecs it keeps). */
static bool acceptable(const struct sb_sdp_media *om, const struct sb_sdp_caps *cap, bool *keep,
		       const struct sb_sdp_local *local)
{
	if (!cap || om->port == 0)
		return false;
	if (cap->sctp_port)
		return sb_sdp_media_is_datachannel(om);
	return sb_sdp_media_is_rtp(om) && pick_codecs(om, cap, keep) > 0 &&
	       (om->n_crypto == 0 || crypto_match(om, local));
}

static bool in_offer_bundle(const struct sb_sdp *offer, const char *mid)
{
	for (int i = 0; mid && i < offer->n_bundle; i++)
		if (strcmp(offer->bundle[i], mid) == 0)
			return true;
	return false;
}

int sb_sdp_answer(const struct sb_sdp *offer, const struct sb_sdp_caps *caps, int n_caps,
		  const struct sb_sdp_local *local, struct sb_sdp **ret)
{
	struct sb_sdp *ans = sb_sdp_new();
	bool used[SB_SDP_MAX_MEDIA] = {false};
	int accepted = 0, r = 0;

	if (!ans)
		return -ENOMEM;
	if ((r = put_session(ans, local)) < 0)
		goto out_fail;
	for (int i = 0; i < offer->n_media && r == 0; i++) {
		const struct sb_sdp_media *om = offer->media[i];
		const struct sb_sdp_caps *cap = caps_for(caps, n_caps, om->type);
		bool keep[SB_SDP_MAX_CODECS];
		struct sb_sdp_local l = *local;
		int ci = cap ? (int)(cap - caps) : 0;
		bool ok = cap && ci < SB_SDP_MAX_MEDIA && !used[ci] &&
			  acceptable(om, cap, keep, local);

		/* BUNDLE only when the offer asked for it with this mid. */
		l.bundle = local->bundle && in_offer_bundle(offer, om->mid);
		if (ok) {
			used[ci] = true;
			accepted++;
			r = cap->sctp_port ? accept_datachannel(ans, om, cap, &l)
					   : accept(ans, om, cap, keep, &l);
		} else {
			r = reject(ans, om);
		}
	}
	if (r < 0)
		goto out_fail;
	if (accepted == 0) {
		r = -ENOTSUP;
		goto out_fail;
	}
	*ret = ans;
	return 0;

out_fail:
	sb_sdp_free(ans);
	return r;
}

/* RFC 4568 section 5.1.1: the offer's crypto lines, each with its tag. */
static int put_crypto_offer(struct sb_sdp *o, struct sb_sdp_media *m, const struct sb_sdp_local *l)
{
	struct sb_sdp_crypto one = l->crypto;
	const struct sb_sdp_crypto *list = l->n_crypto_offer > 0 ? l->crypto_offer : &one;
	int n = l->n_crypto_offer > 0 ? l->n_crypto_offer : l->crypto.suite ? 1 : 0;

	if (l->n_crypto_offer <= 0)
		one.tag = 1;
	for (int i = 0; i < n && m->n_crypto < SB_SDP_MAX_CRYPTO; i++) {
		struct sb_sdp_crypto *c = &m->crypto[m->n_crypto];

		c->tag = list[i].tag;
		c->suite = sb_sdp_strdup(o, list[i].suite);
		c->key_params = sb_sdp_strdup(o, list[i].key_params);
		c->session_params = sb_sdp_strdup(o, list[i].session_params);
		if (!c->suite || !c->key_params || (list[i].session_params && !c->session_params))
			return -ENOMEM;
		m->n_crypto++;
	}
	return 0;
}

int sb_sdp_offer(const struct sb_sdp_caps *caps, int n_caps, const struct sb_sdp_local *local,
		 struct sb_sdp **ret)
{
	struct sb_sdp *o;
	int r = 0;

	if (n_caps <= 0 || n_caps > SB_SDP_MAX_MEDIA || !local->proto)
		return -EINVAL;
	if (!(o = sb_sdp_new()))
		return -ENOMEM;
	if ((r = put_session(o, local)) < 0)
		goto out_fail;
	for (int i = 0; i < n_caps && r == 0; i++) {
		bool dc = caps[i].sctp_port != 0;
		struct sb_sdp_media *m = sb_sdp_media_add(o, caps[i].type, local->port,
							  dc ? "UDP/DTLS/SCTP" : local->proto);
		char mid[16];

		if (!m) {
			r = -ENOMEM;
			break;
		}
		for (int j = 0; j < caps[i].n_codecs && r == 0; j++) {
			const struct sb_sdp_codec *c = &caps[i].codecs[j];
			r = sb_sdp_codec_add(o, m, c->pt, c->name, c->rate, c->channels, c->fmtp);
		}
		/* mids name sections for BUNDLE (RFC 8843); plain SIP offers
		 * go without. */
		if (local->bundle) {
			snprintf(mid, sizeof(mid), "%d", i);
			m->mid = sb_sdp_strdup(o, mid);
			o->bundle[o->n_bundle++] = m->mid;
		}
		m->dir = caps[i].dir ? caps[i].dir : SB_SDP_SENDRECV;
		m->rtcp_mux = local->rtcp_mux;
		m->setup = local->fingerprint.hash ? local->setup : SB_SDP_SETUP_NONE;
		if (r == 0 && dc)
			r = put_datachannel(o, m, &caps[i], local);
		else if (r == 0)
			r = put_crypto_offer(o, m, local);
		if (r == 0 && !dc)
			r = put_local(o, m, local);
	}
	if (r < 0)
		goto out_fail;
	*ret = o;
	return 0;

out_fail:
	sb_sdp_free(o);
	return r;
}

/* One accepted answer section against its offered section. */
static int check_section(int i, const struct sb_sdp_media *om, const struct sb_sdp_media *am,
			 char *err, size_t errlen)
{
	bool common = false;

	if (!om->type || !am->type || strcmp(om->type, am->type) != 0) {
		snprintf(err, errlen, "answer section %d is %s, the offer's is %s", i,
			 am->type ? am->type : "?", om->type ? om->type : "?");
		return -EPROTO;
	}
	if (am->port == 0)
		return 0;
	if (om->port == 0) {
		snprintf(err, errlen, "answer section %d accepts a section the offer disabled", i);
		return -EPROTO;
	}
	if (!sb_sdp_media_is_rtp(am))
		return 0;
	for (int j = 0; j < am->n_codecs && !common; j++)
		common = !is_dtmf(&am->codecs[j]) &&
			 sb_sdp_codec_find(om, am->codecs[j].name, am->codecs[j].rate);
	if (!common) {
		snprintf(err, errlen, "answer section %d has no codec the offer has", i);
		return -EPROTO;
	}
	return 0;
}

int sb_sdp_answer_check(const struct sb_sdp *offer, const struct sb_sdp *answer, char *err,
			size_t errlen)
{
	int r;

	/* RFC 3264 section 6: "exactly the same number of m= lines". */
	if (offer->n_media != answer->n_media) {
		snprintf(err, errlen, "the answer has %d m= lines, the offer %d", answer->n_media,
			 offer->n_media);
		return -EPROTO;
	}
	for (int i = 0; i < offer->n_media; i++)
		if ((r = check_section(i, offer->media[i], answer->media[i], err, errlen)) < 0)
			return r;
	return 0;
}

/* A copy of sdp in a new arena, through its text (the printer and parser
 * round-trip everything the model holds). */
static int sdp_copy(const struct sb_sdp *sdp, struct sb_sdp **ret)
{
	char *text = NULL, err[128];
	int r = sb_sdp_print(sdp, &text);

	if (r == 0)
		r = sb_sdp_parse(text, strlen(text), ret, err, sizeof(err));
	free(text);
	return r == -ENOMEM ? r : r < 0 ? -EINVAL : 0;
}

int sb_sdp_reoffer(const struct sb_sdp *prev, const struct sb_sdp_local *local, struct sb_sdp **ret)
{
	struct sb_sdp *o = NULL;
	int accepted = 0, r;

	if ((r = sdp_copy(prev, &o)) < 0)
		return r;
	o->sess_version = prev->sess_version + 1;
	for (int i = 0; i < o->n_media && r == 0; i++) {
		struct sb_sdp_media *m = o->media[i];

		if (m->port == 0)
			continue;
		accepted++;
		m->n_candidates = 0;
		if (m->fingerprint.hash)
			m->setup = local->setup;
		m->ice.ufrag = sb_sdp_strdup(o, local->ice.ufrag);
		m->ice.pwd = sb_sdp_strdup(o, local->ice.pwd);
		if ((local->ice.ufrag && !m->ice.ufrag) || (local->ice.pwd && !m->ice.pwd))
			r = -ENOMEM;
		for (int k = 0; k < local->n_candidates && r == 0; k++)
			r = sb_sdp_candidate_add(o, m, local->candidates[k]);
		m->end_of_candidates = local->end_of_candidates;
	}
	if (r == 0 && accepted == 0)
		r = -EINVAL;
	if (r < 0) {
		sb_sdp_free(o);
		return r;
	}
	*ret = o;
	return 0;
}
