/* Reading SDP text into the model: limits first, then sofia-sip's parser,
 * then its generic attributes (ICE, DTLS, SDES, RTP maps of protos sofia
 * does not know) through bounds-checked token reads. Pure; any thread. */
#include "sdp/sdp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

#include "core/macros.h"

/* A read position in an attribute value: [p, end). */
struct tok {
	const char *p, *end;
};

struct pctx {
	struct sb_sdp *sdp;
	struct sb_sdp_media *m; /* NULL at session level */
	struct sb_sdp_ice *ice;
	struct sb_sdp_fingerprint *fp;
	enum sb_sdp_setup *setup;
	char *err;
	size_t errlen;
};

static void tok_init(struct tok *t, const char *s)
{
	t->p = s ? s : "";
	t->end = t->p + strlen(t->p);
}

static void tok_skip_sp(struct tok *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t'))
		t->p++;
}

/* The next word (up to a space or one of stops); false when empty. */
static bool tok_word(struct tok *t, const char *stops, const char **ret, size_t *ret_len)
{
	const char *s;

	tok_skip_sp(t);
	s = t->p;
	while (t->p < t->end && *t->p != ' ' && *t->p != '\t' && !strchr(stops, *t->p))
		t->p++;
	*ret = s;
	*ret_len = (size_t)(t->p - s);
	return t->p > s;
}

/* A decimal number up to max; false (position kept) otherwise. */
static bool tok_uint(struct tok *t, unsigned long max, unsigned long *ret)
{
	const char *p;
	unsigned long v = 0;

	tok_skip_sp(t);
	p = t->p;
	if (p >= t->end || *p < '0' || *p > '9')
		return false;
	for (; p < t->end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max)
			return false;
	}
	t->p = p;
	*ret = v;
	return true;
}

static const char *dup_n(struct pctx *c, const char *p, size_t n)
{
	return su_strndup(c->sdp->home, p, (isize_t)n);
}

/* Everything left after spaces, or NULL when nothing is. */
static const char *dup_rest(struct pctx *c, struct tok *t)
{
	tok_skip_sp(t);
	return t->p < t->end ? dup_n(c, t->p, (size_t)(t->end - t->p)) : NULL;
}

static struct sb_sdp_codec *codec_of(struct sb_sdp_media *m, unsigned long pt)
{
	for (int i = 0; i < m->n_codecs; i++)
		if ((unsigned long)m->codecs[i].pt == pt)
			return &m->codecs[i];
	return NULL;
}

/* Attribute handlers: 0, or a negative errno that fails the parse. Values
 * that do not parse are ignored, as RFC 8866 section 5.13 asks of
 * attributes a receiver does not understand. */

static int at_rtpmap(struct pctx *c, const char *v)
{
	struct tok t;
	unsigned long pt, rate, ch = 1;
	const char *name;
	size_t n;
	struct sb_sdp_codec *codec;

	tok_init(&t, v);
	if (!c->m || !tok_uint(&t, 127, &pt) || !tok_word(&t, "/", &name, &n) || t.p >= t.end ||
	    *t.p++ != '/' || !tok_uint(&t, 10000000, &rate))
		return 0;
	if (t.p < t.end && *t.p == '/') {
		t.p++;
		if (!tok_uint(&t, 255, &ch))
			ch = 1;
	}
	if (!(codec = codec_of(c->m, pt)))
		return 0; /* not on the m= line */
	codec->name = dup_n(c, name, n);
	codec->rate = (unsigned)rate;
	codec->channels = ch ? (unsigned)ch : 1;
	return codec->name ? 0 : -ENOMEM;
}

static int at_fmtp(struct pctx *c, const char *v)
{
	struct tok t;
	unsigned long pt;
	struct sb_sdp_codec *codec;

	tok_init(&t, v);
	if (!c->m || !tok_uint(&t, 127, &pt) || !(codec = codec_of(c->m, pt)))
		return 0;
	codec->fmtp = dup_rest(c, &t);
	return 0;
}

static int at_string(struct pctx *c, const char *v, const char **where)
{
	if (!v || !*v)
		return 0;
	*where = su_strdup(c->sdp->home, v);
	return *where ? 0 : -ENOMEM;
}

static int at_ufrag(struct pctx *c, const char *v)
{
	return at_string(c, v, &c->ice->ufrag);
}

static int at_pwd(struct pctx *c, const char *v)
{
	return at_string(c, v, &c->ice->pwd);
}

static int at_ice_options(struct pctx *c, const char *v)
{
	return at_string(c, v, &c->ice->options);
}

static int at_ice_lite(struct pctx *c, const char *v)
{
	if (!c->m)
		c->sdp->ice_lite = true;
	return 0;
}

static int at_fingerprint(struct pctx *c, const char *v)
{
	struct tok t;
	const char *hash, *value;
	size_t hn, vn;

	tok_init(&t, v);
	if (!tok_word(&t, "", &hash, &hn) || !tok_word(&t, "", &value, &vn))
		return 0;
	c->fp->hash = dup_n(c, hash, hn);
	c->fp->value = dup_n(c, value, vn);
	return c->fp->hash && c->fp->value ? 0 : -ENOMEM;
}

static int at_setup(struct pctx *c, const char *v)
{
	enum sb_sdp_setup s = sb_sdp_setup_from_string(v ? v : "");

	if (s != _SB_SDP_SETUP_INVALID)
		*c->setup = s;
	return 0;
}

static int at_mid(struct pctx *c, const char *v)
{
	return c->m ? at_string(c, v, &c->m->mid) : 0;
}

static int at_group(struct pctx *c, const char *v)
{
	struct tok t;
	const char *w;
	size_t n;

	tok_init(&t, v);
	if (c->m || !tok_word(&t, "", &w, &n) || n != 6 || strncmp(w, "BUNDLE", 6) != 0)
		return 0; /* other semantics (RFC 5888 LS, FID) are not used */
	while (tok_word(&t, "", &w, &n)) {
		if (c->sdp->n_bundle >= SB_SDP_MAX_MEDIA) {
			snprintf(c->err, c->errlen, "a=group:BUNDLE lists more than %d mids",
				 SB_SDP_MAX_MEDIA);
			return -E2BIG;
		}
		if (!(c->sdp->bundle[c->sdp->n_bundle++] = dup_n(c, w, n)))
			return -ENOMEM;
	}
	return 0;
}

static int at_rtcp_mux(struct pctx *c, const char *v)
{
	if (c->m)
		c->m->rtcp_mux = true;
	return 0;
}

static int at_rtcp(struct pctx *c, const char *v)
{
	struct tok t;
	unsigned long port;

	tok_init(&t, v);
	if (c->m && tok_uint(&t, 65535, &port))
		c->m->rtcp_port = (unsigned)port;
	return 0;
}

static int at_ptime(struct pctx *c, const char *v)
{
	struct tok t;
	unsigned long ms;

	tok_init(&t, v);
	if (c->m && tok_uint(&t, 10000, &ms))
		c->m->ptime = (unsigned)ms;
	return 0;
}

/* RFC 5576: a=ssrc:<ssrc-id> <attribute>[:<value>] */
static int at_ssrc(struct pctx *c, const char *v)
{
	struct sb_sdp_media *m = c->m;
	struct tok t;
	unsigned long id;
	const char *a;
	size_t n;
	int i;

	tok_init(&t, v);
	if (!m || !tok_uint(&t, 0xffffffffUL, &id))
		return 0;
	for (i = 0; i < m->n_ssrcs && m->ssrcs[i] != (uint32_t)id; i++)
		;
	if (i == m->n_ssrcs) {
		if (m->n_ssrcs >= SB_SDP_MAX_SSRCS) {
			snprintf(c->err, c->errlen, "an SDP section has more than %d SSRCs",
				 SB_SDP_MAX_SSRCS);
			return -E2BIG;
		}
		m->ssrcs[m->n_ssrcs++] = (uint32_t)id;
	}
	if (i == 0 && !m->cname && tok_word(&t, ":", &a, &n) && n == 5 &&
	    strncmp(a, "cname", 5) == 0 && t.p < t.end && *t.p == ':') {
		t.p++;
		m->cname = dup_rest(c, &t);
	}
	return 0;
}

/* RFC 4568 section 9.1: a=crypto:<tag> <crypto-suite> <key-params> [<session-params>] */
static int at_crypto(struct pctx *c, const char *v)
{
	struct sb_sdp_crypto *cr;
	struct tok t;
	unsigned long tag;
	const char *suite, *key;
	size_t sn, kn;

	tok_init(&t, v);
	if (!c->m || !tok_uint(&t, 999999999, &tag) || !tok_word(&t, "", &suite, &sn) ||
	    !tok_word(&t, "", &key, &kn))
		return 0;
	if (c->m->n_crypto >= SB_SDP_MAX_CRYPTO)
		return 0; /* the limit check refused more lines already */
	cr = &c->m->crypto[c->m->n_crypto];
	cr->tag = (unsigned)tag;
	cr->suite = dup_n(c, suite, sn);
	cr->key_params = dup_n(c, key, kn);
	cr->session_params = dup_rest(c, &t);
	if (!cr->suite || !cr->key_params)
		return -ENOMEM;
	c->m->n_crypto++;
	return 0;
}

static int at_candidate(struct pctx *c, const char *v)
{
	const char *line;

	if (!c->m || !v || c->m->n_candidates >= SB_SDP_MAX_CANDS)
		return 0;
	line = su_sprintf(c->sdp->home, "candidate:%s", v);
	if (!line)
		return -ENOMEM;
	c->m->candidates[c->m->n_candidates++] = line;
	return 0;
}

/* RFC 8841 section 5: a=sctp-port:<port> and a=max-message-size:<bytes>. */
static int at_sctp_port(struct pctx *c, const char *v)
{
	struct tok t;
	unsigned long port;

	tok_init(&t, v);
	if (c->m && tok_uint(&t, 65535, &port))
		c->m->sctp_port = (unsigned)port;
	return 0;
}

static int at_max_message_size(struct pctx *c, const char *v)
{
	struct tok t;
	unsigned long n;

	tok_init(&t, v);
	if (c->m && tok_uint(&t, 0xffffffffUL, &n))
		c->m->max_message_size = (unsigned)n;
	return 0;
}

static int at_end_of_candidates(struct pctx *c, const char *v)
{
	if (c->m)
		c->m->end_of_candidates = true;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct pctx *c, const char *v);
} attr_table[] = {
	{"rtpmap", at_rtpmap},
	{"fmtp", at_fmtp},
	{"ice-ufrag", at_ufrag},
	{"ice-pwd", at_pwd},
	{"ice-options", at_ice_options},
	{"ice-lite", at_ice_lite},
	{"fingerprint", at_fingerprint},
	{"setup", at_setup},
	{"mid", at_mid},
	{"group", at_group},
	{"rtcp-mux", at_rtcp_mux},
	{"rtcp", at_rtcp},
	{"ptime", at_ptime},
	{"ssrc", at_ssrc},
	{"crypto", at_crypto},
	{"candidate", at_candidate},
	{"end-of-candidates", at_end_of_candidates},
	{"sctp-port", at_sctp_port},
	{"max-message-size", at_max_message_size},
};

static int take_attributes(struct pctx *c, const sdp_attribute_t *a)
{
	int r;

	for (; a; a = a->a_next) {
		if (!a->a_name)
			continue;
		for (size_t i = 0; i < SB_ARRAY_SIZE(attr_table); i++) {
			if (strcasecmp(a->a_name, attr_table[i].name) != 0)
				continue;
			if ((r = attr_table[i].fn(c, a->a_value)) < 0)
				return r;
			break;
		}
	}
	return 0;
}

/* The m= formats: sofia's RTP maps for the protos it knows as RTP, else its
 * format list (rtpmap and fmtp then come as plain attributes). */
static int take_formats(struct pctx *c, const sdp_media_t *sm)
{
	struct sb_sdp_media *m = c->m;
	bool rtp = sb_sdp_media_is_rtp(m);

	for (const sdp_rtpmap_t *rm = sm->m_rtpmaps; rm; rm = rm->rm_next) {
		unsigned long ch = 1;
		struct tok t;

		if (rm->rm_any)
			continue;
		tok_init(&t, rm->rm_params);
		if (!tok_uint(&t, 255, &ch) || ch == 0)
			ch = 1;
		if (sb_sdp_codec_add(c->sdp, m, rm->rm_pt, rm->rm_encoding, (unsigned)rm->rm_rate,
				     (unsigned)ch, rm->rm_fmtp) < 0)
			return -ENOMEM; /* the limit check capped the count */
	}
	for (const sdp_list_t *l = sm->m_format; l; l = l->l_next) {
		struct tok t;
		unsigned long pt;

		tok_init(&t, l->l_text);
		if (rtp && tok_uint(&t, 127, &pt) && t.p == t.end) {
			/* Static types need no rtpmap (RFC 3551 section 6). */
			const sdp_rtpmap_t *wk = sdp_rtpmap_well_known[pt];
			if (codec_of(m, pt))
				continue;
			if (sb_sdp_codec_add(c->sdp, m, (int)pt, wk ? wk->rm_encoding : "",
					     wk ? (unsigned)wk->rm_rate : 0, 1, NULL) < 0)
				return -ENOMEM;
		} else if (m->n_fmts < SB_SDP_MAX_CODECS) {
			if (!(m->fmts[m->n_fmts++] = sb_sdp_strdup(c->sdp, l->l_text)))
				return -ENOMEM;
		}
	}
	return 0;
}

/* sofia reads "c=IN IP4 /2" as an empty address with a TTL (found by
 * fuzzing); such a line cannot be printed back. */
static bool empty_address(const sdp_session_t *s)
{
	const sdp_origin_t *o = s->sdp_origin;

	if (o && o->o_address && o->o_address->c_address && !*o->o_address->c_address)
		return true;
	if (s->sdp_connection && s->sdp_connection->c_address && !*s->sdp_connection->c_address)
		return true;
	for (const sdp_media_t *m = s->sdp_media; m; m = m->m_next)
		for (const sdp_connection_t *c = m->m_connections; c; c = c->c_next)
			if (c->c_address && !*c->c_address)
				return true;
	return false;
}

static void take_connection(struct sb_sdp *sdp, const sdp_connection_t *cn, const char **addr,
			    bool *ipv6)
{
	if (!cn || !cn->c_address)
		return;
	*addr = sb_sdp_strdup(sdp, cn->c_address);
	*ipv6 = cn->c_addrtype == sdp_addr_ip6;
}

static int take_media(struct sb_sdp *sdp, const sdp_media_t *sm, char *err, size_t errlen)
{
	struct sb_sdp_media *m;
	struct pctx c;
	int r;

	m = sb_sdp_media_add(sdp, sm->m_type_name, sm->m_rejected ? 0 : (unsigned)sm->m_port,
			     sm->m_proto_name);
	if (!m)
		return -ENOMEM;
	if (!m->type || !m->proto) {
		snprintf(err, errlen, "m= line %d lacks a media type or proto", sdp->n_media);
		return -EBADMSG;
	}
	m->dir = (enum sb_sdp_dir)(sm->m_mode & SB_SDP_SENDRECV);
	take_connection(sdp, sdp_media_connections(sm), &m->addr, &m->ipv6);
	c = (struct pctx){.sdp = sdp,
			  .m = m,
			  .ice = &m->ice,
			  .fp = &m->fingerprint,
			  .setup = &m->setup,
			  .err = err,
			  .errlen = errlen};
	if ((r = take_formats(&c, sm)) < 0 || (r = take_attributes(&c, sm->m_attributes)) < 0)
		return r;
	/* RFC 8839 section 5.4, RFC 8122 section 5: session-level values
	 * apply to sections without their own. */
	if (!m->ice.ufrag)
		m->ice.ufrag = sdp->ice.ufrag;
	if (!m->ice.pwd)
		m->ice.pwd = sdp->ice.pwd;
	if (!m->ice.options)
		m->ice.options = sdp->ice.options;
	if (!m->fingerprint.hash)
		m->fingerprint = sdp->fingerprint;
	if (m->setup == SB_SDP_SETUP_NONE)
		m->setup = sdp->setup;
	return 0;
}

static int take_session(struct sb_sdp *sdp, const sdp_session_t *s, char *err, size_t errlen)
{
	struct pctx c = {.sdp = sdp,
			 .ice = &sdp->ice,
			 .fp = &sdp->fingerprint,
			 .setup = &sdp->setup,
			 .err = err,
			 .errlen = errlen};
	int r;

	if (s->sdp_origin) {
		sdp->sess_id = s->sdp_origin->o_id;
		sdp->sess_version = s->sdp_origin->o_version;
		if (s->sdp_origin->o_address)
			sdp->origin_addr = sb_sdp_strdup(sdp, s->sdp_origin->o_address->c_address);
	}
	take_connection(sdp, s->sdp_connection, &sdp->addr, &sdp->ipv6);
	if ((r = take_attributes(&c, s->sdp_attributes)) < 0)
		return r;
	for (const sdp_media_t *sm = s->sdp_media; sm; sm = sm->m_next)
		if ((r = take_media(sdp, sm, err, errlen)) < 0)
			return r;
	return 0;
}

int sb_sdp_parse(const char *text, size_t len, struct sb_sdp **ret, char *err, size_t errlen)
{
	struct sb_sdp *sdp;
	sdp_parser_t *p;
	const sdp_session_t *s;
	int r;

	if ((r = sb_sdp_check_limits(text, len, err, errlen)) < 0)
		return r;
	if (!(sdp = sb_sdp_new())) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Default flags: lenient about what RFC 8866 lets receivers be
	 * lenient about, but sofia's sanity check stays on (v=, o=, s=, t=,
	 * and c= for every section). */
	p = sdp_parse(sdp->home, text, (issize_t)len, 0);
	s = sdp_session(p);
	if (!s) {
		const char *why = p ? sdp_parsing_error(p) : NULL;
		snprintf(err, errlen, "not valid SDP (sofia-sip: %s)", why ? why : "out of memory");
		r = p ? -EBADMSG : -ENOMEM;
	} else if (empty_address(s)) {
		snprintf(err, errlen, "an o= or c= line has no address");
		r = -EBADMSG;
	} else {
		r = take_session(sdp, s, err, errlen);
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
	}
	sdp_parser_free(p);
	if (r < 0) {
		sb_sdp_free(sdp);
		return r;
	}
	*ret = sdp;
	return 0;
}
