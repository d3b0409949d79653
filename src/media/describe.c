/* The media plane's SDP, through src/sdp: taking the peer's description,
 * choosing a codec from it, and writing ours (WebRTC and plain RTP, offer
 * or answer). Worker thread; the session owns both descriptions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "media/media_internal.h"

int sb__remote_take(struct sb_msession *s, const char *text, char *err, size_t errlen)
{
	struct sb_sdp *sdp = NULL;
	const struct sb_sdp_media *a;
	size_t len = text ? strnlen(text, SB_SDP_MAX_LEN + 1) : 0;
	int r;

	if ((r = sb_sdp_parse(text ? text : "", len, &sdp, err, errlen)) < 0)
		return r;
	if (!(a = sb_sdp_media_find(sdp, "audio"))) {
		snprintf(err, errlen, "the SDP has no audio section");
		sb_sdp_free(sdp);
		return -EBADMSG;
	}
	sb_sdp_free(s->remote);
	s->remote = sdp;
	s->ra = a;
	s->remote_fp[0] = '\0';
	if (a->fingerprint.hash && a->fingerprint.value)
		snprintf(s->remote_fp, sizeof(s->remote_fp), "%s %s", a->fingerprint.hash,
			 a->fingerprint.value);
	return 0;
}

void sb__remote_drop(struct sb_msession *s)
{
	s->remote = sb_sdp_free(s->remote);
	s->ra = NULL;
}

const struct sb_sdp_codec *sb__pick_codec(const struct sb_sdp_media *a)
{
	static const char *const prefs[] = {"opus", "PCMU", "PCMA"};
	const struct sb_sdp_codec *c;

	for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++)
		if ((c = sb_sdp_codec_find(a, prefs[i], 0)) != NULL)
			return c;
	return NULL;
}

int sb__dtmf_pt(const struct sb_sdp_media *a, int rate)
{
	const struct sb_sdp_codec *c =
		a ? sb_sdp_codec_find(a, "telephone-event", (unsigned)rate) : NULL;

	return c ? c->pt : -1;
}

void sb__mcodec_set(struct sb_mcodec *out, const struct sb_sdp_codec *c)
{
	memset(out, 0, sizeof(*out));
	out->pt = c->pt;
	snprintf(out->name, sizeof(out->name), "%s", c->name);
	out->rate = (int)c->rate;
	out->channels = (int)c->channels;
	snprintf(out->fmtp, sizeof(out->fmtp), "%s", c->fmtp ? c->fmtp : "");
}

bool sb__codec_webrtc(const char *name)
{
	enum sb_xcode_codec c = sb_xcode_codec_of(name);

	/* Browsers have G.722 too, but we keep to what every one has. */
	return c == SB_XC_OPUS || c == SB_XC_PCMU || c == SB_XC_PCMA;
}

/* What our offers toward SIP can carry besides the other leg's codec:
 * G.711 (which nearly every SIP peer has), Opus and G.722, all transcoded
 * from and to the other leg's codec (transcode.c). Without a trunk's list
 * only G.711 is added (dflt); Opus and G.722 when the trunk names them.
 * RFC 3551 section 4.5.2: G.722 is payload type 9 at an 8000 Hz clock,
 * although it samples at 16 kHz. */
static const struct {
	struct sb_mcodec c;
	bool dflt;
} offerable[] = {
	{{.pt = 0, .name = "PCMU", .rate = 8000, .channels = 1}, true},
	{{.pt = 8, .name = "PCMA", .rate = 8000, .channels = 1}, true},
	{{.pt = 111,
	  .name = "opus",
	  .rate = 48000,
	  .channels = 2,
	  .fmtp = "minptime=10;useinbandfec=1"},
	 false},
	{{.pt = 9, .name = "G722", .rate = 8000, .channels = 1}, false},
};

bool sb__codec_offerable(const char *name)
{
	for (size_t i = 0; i < sizeof(offerable) / sizeof(offerable[0]); i++)
		if (strcasecmp(name, offerable[i].c.name) == 0)
			return true;
	return strcasecmp(name, "telephone-event") == 0;
}

/* The next name of a comma-separated list at *p into out; false at the
 * end. */
static bool next_name(const char **p, char *out, size_t len)
{
	const char *s = *p, *e;

	while (*s == ',' || *s == ' ')
		s++;
	if (!*s)
		return false;
	e = s + strcspn(s, ", ");
	snprintf(out, len, "%.*s", (int)(e - s), s);
	*p = e;
	return true;
}

int sb__offer_codecs(const struct sb_mcodec *other, const char *prefs, struct sb_mcodec *out)
{
	struct sb_mcodec can[SB_OFFER_CODECS_MAX];
	bool used[SB_OFFER_CODECS_MAX] = {false}, dflt[SB_OFFER_CODECS_MAX] = {false};
	char name[sizeof(can[0].name)];
	int n_can = 0, n = 0;

	if (other) {
		dflt[n_can] = true;
		can[n_can++] = *other;
	}
	for (size_t i = 0; i < sizeof(offerable) / sizeof(offerable[0]); i++)
		if (!other || (sb_xcode_codec_of(other->name) != SB_XC_NONE &&
			       strcasecmp(other->name, offerable[i].c.name) != 0)) {
			dflt[n_can] = offerable[i].dflt;
			can[n_can++] = offerable[i].c;
		}
	if (!prefs) {
		/* The other leg's codec first (relayed as it is), then G.711;
		 * Opus and G.722 only as the other leg's. */
		for (int i = 0; i < n_can; i++)
			if (dflt[i])
				out[n++] = can[i];
		return n;
	}
	while (next_name(&prefs, name, sizeof(name)))
		for (int i = 0; i < n_can; i++)
			if (!used[i] && strcasecmp(can[i].name, name) == 0) {
				used[i] = true;
				out[n++] = can[i];
			}
	return n;
}

static struct sb_sdp_codec sdp_codec_of(const struct sb_mcodec *c)
{
	return (struct sb_sdp_codec){.pt = c->pt,
				     .name = c->name,
				     .rate = (unsigned)c->rate,
				     .channels = (unsigned)c->channels,
				     .fmtp = c->fmtp[0] ? c->fmtp : NULL};
}

/* Prints d; keeps it in s->local when it is our offer (until its answer),
 * else as the current description (an answer completes the exchange). */
static int finish(struct sb_msession *s, struct sb_sdp *d, bool offer, char **ret)
{
	int r = sb_sdp_print(d, ret);
	struct sb_sdp **keep = offer ? &s->local : &s->current;

	if (r < 0) {
		sb_sdp_free(d);
		return r;
	}
	sb_sdp_free(*keep);
	*keep = d;
	return 0;
}

int sb__describe_webrtc(struct sb_msession *s, const char *ufrag, const char *pwd, const char *fp,
			const char *const *cands, int n_cands, char **ret)
{
	struct sb_sdp_codec codecs[2] = {sdp_codec_of(&s->codec)};
	/* RFC 8841: a data channel for chat, BUNDLEd with the audio. */
	struct sb_sdp_caps caps[2] = {{.type = "audio", .codecs = codecs, .n_codecs = 2},
				      {.type = "application",
				       .sctp_port = SB_DC_SCTP_PORT,
				       .max_message_size = SB_DC_MAX_MESSAGE}};
	char hash[32];
	const char *sp = strchr(fp, ' ');
	struct sb_sdp_local l = {.addr = "0.0.0.0",
				 .port = 9,
				 .rtcp_port = 9,
				 .rtcp_mux = true,
				 .bundle = true,
				 .ice = {.ufrag = ufrag, .pwd = pwd},
				 .fingerprint = {.hash = hash, .value = sp ? sp + 1 : ""},
				 /* RFC 8842 section 5.3: answering actpass
				  * with active makes us the DTLS client,
				  * which Chromium completes reliably. */
				 .setup = SB_SDP_SETUP_ACTIVE,
				 .ssrc = s->ssrc_out,
				 .candidates = cands,
				 .n_candidates = n_cands,
				 .end_of_candidates = true};
	struct sb_sdp *d = NULL;
	int r;

	snprintf(hash, sizeof(hash), "%.*s", sp ? (int)(sp - fp) : 0, fp);
	codecs[1] = (struct sb_sdp_codec){.pt = 101,
					  .name = "telephone-event",
					  .rate = (unsigned)s->codec.rate,
					  .channels = 1};
	if (s->offering) {
		/* RFC 8829 section 5.2.1 shape: one audio section, BUNDLE,
		 * rtcp-mux, actpass; the answer decides the DTLS role. */
		l.proto = "UDP/TLS/RTP/SAVPF";
		l.setup = SB_SDP_SETUP_ACTPASS;
		r = sb_sdp_offer(caps, 2, &l, &d);
	} else {
		caps[0].max_codecs = 1;
		codecs[0].fmtp = NULL; /* echo the offer's */
		r = sb_sdp_answer(s->remote, caps, 2, &l, &d);
	}
	if (r < 0)
		return r;
	/* Our answer accepted the browser's data channel section (the
	 * answer's sections are the offer's, in order). */
	for (int i = 0; !s->offering && i < d->n_media && i < s->remote->n_media; i++) {
		if (d->media[i]->port == 0 || !sb_sdp_media_is_datachannel(d->media[i]))
			continue;
		if ((r = sb__dc_negotiated(s, s->remote->media[i])) < 0) {
			sb_sdp_free(d);
			return r;
		}
		break;
	}
	/* [media] ice_lite: we only answer checks (RFC 8445 section 2.5). */
	d->ice_lite = s->w->m->cfg->media.ice_lite;
	return finish(s, d, s->offering, ret);
}

int sb__describe_reoffer(struct sb_msession *s, const char *ufrag, const char *pwd,
			 const char *const *cands, int n_cands, char **ret)
{
	struct sb_sdp_local l = {.ice = {.ufrag = ufrag, .pwd = pwd},
				 /* RFC 8842 section 5.2: an offer says actpass,
				  * also for an association that stays. */
				 .setup = SB_SDP_SETUP_ACTPASS,
				 .candidates = cands,
				 .n_candidates = n_cands,
				 .end_of_candidates = true};
	struct sb_sdp *d = NULL;
	int r;

	if (!s->current)
		return -ENOENT;
	r = sb_sdp_reoffer(s->current, &l, &d);
	return r < 0 ? r : finish(s, d, true, ret);
}

int sb__describe_rtp(struct sb_msession *s, const char *addr, const struct sb_mcodec *codecs,
		     int n_codecs, char **ret)
{
	struct sb_sdp_codec list[8];
	struct sb_sdp_caps caps = {.type = "audio", .codecs = list};
	struct sb_sdp_local l = {.addr = addr,
				 .port = (unsigned)s->local_port,
				 /* RFC 4568 section 3.1.4: SRTP required
				  * is RTP/SAVP; best effort keeps RTP/AVP */
				 .proto = s->n_sdes_offer && s->srtp_mode == SB_ENGINE_SRTP_SDES
						  ? "RTP/SAVP"
						  : "RTP/AVP",
				 .rtcp_port = (unsigned)s->local_port + 1,
				 .ptime = 20,
				 /* RFC 5761: one socket when the peer agrees. */
				 .rtcp_mux = true,
				 .ssrc = s->ssrc_out,
				 /* RFC 4568: our line and key, when SDES */
				 .crypto = s->sdes,
				 .crypto_offer = s->sdes_offer,
				 .n_crypto_offer = s->n_sdes_offer};
	struct sb_sdp *d = NULL;
	int dtmf_rate = n_codecs > 0 ? codecs[0].rate : 8000, n = 0, r;

	/* telephone-event at 8 kHz when any codec runs at 8 kHz (SIP peers). */
	for (int i = 0; i < n_codecs && n < 7; i++) {
		list[n++] = sdp_codec_of(&codecs[i]);
		if (codecs[i].rate == 8000)
			dtmf_rate = 8000;
	}
	if (s->remote) {
		caps.max_codecs = 1;
		dtmf_rate = s->codec.rate;
	}
	list[n++] = (struct sb_sdp_codec){.pt = s->dtmf_pt >= 0 ? s->dtmf_pt : 101,
					  .name = "telephone-event",
					  .rate = (unsigned)dtmf_rate,
					  .channels = 1,
					  .fmtp = "0-16"};
	caps.n_codecs = n;
	if (s->remote)
		r = sb_sdp_answer(s->remote, &caps, 1, &l, &d);
	else
		r = sb_sdp_offer(&caps, 1, &l, &d);
	return r < 0 ? r : finish(s, d, !s->remote, ret);
}

int sb__describe_rtp_reanswer(struct sb_msession *s, const struct sb_sdp *offer, const char *addr,
			      const struct sb_mcodec *codec, struct sb_sdp **ret)
{
	struct sb_sdp_codec list[2] = {
		sdp_codec_of(codec),
		/* RFC 4733: kept when offered at the codec's rate. */
		{.pt = 101,
		 .name = "telephone-event",
		 .rate = (unsigned)codec->rate,
		 .channels = 1,
		 .fmtp = "0-16"},
	};
	struct sb_sdp_caps caps = {.type = "audio", .codecs = list, .n_codecs = 2, .max_codecs = 1};
	struct sb_sdp_local l = {.addr = addr,
				 .port = (unsigned)s->local_port,
				 .rtcp_port = (unsigned)s->local_port + 1,
				 .ptime = 20,
				 /* RFC 5761: kept, never started here (the
				  * RTCP socket is gone once it is on). */
				 .rtcp_mux = s->rtcp_mux,
				 .ssrc = s->ssrc_out,
				 .crypto = s->sdes};
	struct sb_sdp *d = NULL;
	int r = sb_sdp_answer(offer, &caps, 1, &l, &d);

	if (r < 0)
		return r;
	/* RFC 3264 section 8: the same o= session, its version one higher. */
	if (s->current) {
		d->sess_id = s->current->sess_id;
		d->sess_version = s->current->sess_version + 1;
	}
	*ret = d;
	return 0;
}

int sb__describe_rtp_hold(const struct sb_sdp *current, enum sb_sdp_dir dir,
			  const struct sb_sdp_crypto *crypto, struct sb_sdp **ret)
{
	/* No ICE, candidates nor fingerprint toward SIP: sb_sdp_reoffer only
	 * copies the description with its version one up. */
	static const struct sb_sdp_local none;
	struct sb_sdp *d = NULL;
	struct sb_sdp_media *m;
	int r = sb_sdp_reoffer(current, &none, &d);

	if (r < 0)
		return r;
	if (!(m = sb_sdp_media_find(d, "audio"))) {
		sb_sdp_free(d);
		return -EINVAL;
	}
	m->dir = dir;
	/* Our offer listed a line per suite; the answer took one, and only
	 * it stays in force. */
	m->n_crypto = 0;
	if (crypto && crypto->suite) {
		m->crypto[0] = (struct sb_sdp_crypto){
			.tag = crypto->tag,
			.suite = sb_sdp_strdup(d, crypto->suite),
			.key_params = sb_sdp_strdup(d, crypto->key_params),
			.session_params = sb_sdp_strdup(d, crypto->session_params)};
		m->n_crypto = 1;
		if (!m->crypto[0].suite || !m->crypto[0].key_params ||
		    (crypto->session_params && !m->crypto[0].session_params)) {
			sb_sdp_free(d);
			return -ENOMEM;
		}
	}
	*ret = d;
	return 0;
}

int sb__answer_check(struct sb_msession *s, char *err, size_t errlen)
{
	int r = 0;

	if (s->local && s->remote)
		r = sb_sdp_answer_check(s->local, s->remote, err, errlen);
	if (r < 0) {
		s->local = sb_sdp_free(s->local);
		return -EPROTO;
	}
	if (s->local) {
		sb_sdp_free(s->current);
		s->current = s->local;
		s->local = NULL;
	}
	return 0;
}
