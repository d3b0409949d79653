/* Writing the model as SDP text: the model becomes sofia-sip's session
 * structure in a scratch home, and sofia's printer writes it (CRLF lines).
 * Pure; any thread. */
#include "sdp/sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

/* Appends a=name[:value] to a list; false when out of memory. */
static bool attr(su_home_t *h, sdp_attribute_t ***tail, const char *name, const char *value)
{
	sdp_attribute_t *a = su_zalloc(h, sizeof(*a));

	if (!a)
		return false;
	a->a_size = sizeof(*a);
	a->a_name = name;
	a->a_value = value;
	**tail = a;
	*tail = &a->a_next;
	return true;
}

static sdp_connection_t *connection(su_home_t *h, const char *addr, bool ipv6)
{
	sdp_connection_t *c = su_zalloc(h, sizeof(*c));

	if (!c)
		return NULL;
	c->c_size = sizeof(*c);
	c->c_nettype = sdp_net_in;
	c->c_addrtype = ipv6 ? sdp_addr_ip6 : sdp_addr_ip4;
	c->c_address = addr;
	return c;
}

static bool format(su_home_t *h, sdp_list_t ***tail, const char *text)
{
	sdp_list_t *l = su_zalloc(h, sizeof(*l));

	if (!l || !text)
		return false;
	l->l_size = sizeof(*l);
	l->l_text = text;
	**tail = l;
	*tail = &l->l_next;
	return true;
}

/* The m= formats: payload types of the codecs, else the formats as text.
 * Codecs go out as format list plus rtpmap and fmtp attributes, not as
 * sofia rtpmaps: its printer writes "a=rtpmap:<pt> /0" for a type that has
 * no rtpmap, which its parser then refuses. */
static bool formats(su_home_t *h, const struct sb_sdp_media *m, sdp_list_t **list)
{
	sdp_list_t **t = list;
	bool ok = true;

	for (int i = 0; i < m->n_codecs; i++)
		ok &= format(h, &t, su_sprintf(h, "%d", m->codecs[i].pt));
	for (int i = 0; m->n_codecs == 0 && i < m->n_fmts; i++)
		ok &= format(h, &t, m->fmts[i]);
	return ok;
}

static bool codec_attrs(su_home_t *h, const struct sb_sdp_media *m, sdp_attribute_t ***t)
{
	bool ok = true;

	for (int i = 0; i < m->n_codecs; i++) {
		const struct sb_sdp_codec *c = &m->codecs[i];

		if (c->name[0] && c->rate > 0)
			ok &= attr(h, t, "rtpmap",
				   c->channels > 1
					   ? su_sprintf(h, "%d %s/%u/%u", c->pt, c->name, c->rate,
							c->channels)
					   : su_sprintf(h, "%d %s/%u", c->pt, c->name, c->rate));
		if (c->fmtp)
			ok &= attr(h, t, "fmtp", su_sprintf(h, "%d %s", c->pt, c->fmtp));
	}
	return ok;
}

/* The section's attributes but direction, which sofia prints from its
 * own field. */
static bool media_attrs(su_home_t *h, const struct sb_sdp_media *m, sdp_attribute_t **list)
{
	sdp_attribute_t **t = list;
	bool ok = codec_attrs(h, m, &t);

	if (m->mid)
		ok &= attr(h, &t, "mid", m->mid);
	if (m->ice.ufrag)
		ok &= attr(h, &t, "ice-ufrag", m->ice.ufrag);
	if (m->ice.pwd)
		ok &= attr(h, &t, "ice-pwd", m->ice.pwd);
	if (m->ice.options)
		ok &= attr(h, &t, "ice-options", m->ice.options);
	if (m->fingerprint.hash && m->fingerprint.value)
		ok &= attr(h, &t, "fingerprint",
			   su_sprintf(h, "%s %s", m->fingerprint.hash, m->fingerprint.value));
	if (sb_sdp_setup_to_string(m->setup))
		ok &= attr(h, &t, "setup", sb_sdp_setup_to_string(m->setup));
	if (m->rtcp_port)
		ok &= attr(h, &t, "rtcp", su_sprintf(h, "%u", m->rtcp_port));
	if (m->rtcp_mux)
		ok &= attr(h, &t, "rtcp-mux", NULL);
	if (m->ptime)
		ok &= attr(h, &t, "ptime", su_sprintf(h, "%u", m->ptime));
	if (m->sctp_port)
		ok &= attr(h, &t, "sctp-port", su_sprintf(h, "%u", m->sctp_port));
	if (m->max_message_size)
		ok &= attr(h, &t, "max-message-size", su_sprintf(h, "%u", m->max_message_size));
	for (int i = 0; i < m->n_crypto; i++) {
		const struct sb_sdp_crypto *c = &m->crypto[i];
		ok &= attr(h, &t, "crypto",
			   su_sprintf(h, "%u %s %s%s%s", c->tag, c->suite, c->key_params,
				      c->session_params ? " " : "",
				      c->session_params ? c->session_params : ""));
	}
	/* RFC 5576: only the first SSRC's cname is in the model. */
	if (m->n_ssrcs > 0 && m->cname)
		ok &= attr(h, &t, "ssrc", su_sprintf(h, "%u cname:%s", m->ssrcs[0], m->cname));
	for (int i = 0; i < m->n_candidates; i++) {
		const char *v = m->candidates[i];
		ok &= attr(h, &t, "candidate", strncmp(v, "candidate:", 10) == 0 ? v + 10 : v);
	}
	if (m->end_of_candidates)
		ok &= attr(h, &t, "end-of-candidates", NULL);
	return ok;
}

static sdp_media_t *media(su_home_t *h, sdp_session_t *s, const struct sb_sdp_media *m)
{
	sdp_media_t *sm = su_zalloc(h, sizeof(*sm));

	if (!sm)
		return NULL;
	sm->m_size = sizeof(*sm);
	sm->m_session = s;
	sdp_media_type(sm, m->type);
	sdp_media_transport(sm, m->proto);
	sm->m_port = m->port;
	sm->m_rejected = m->port == 0;
	sm->m_mode = (unsigned)m->dir & SB_SDP_SENDRECV;
	if (m->addr && !(sm->m_connections = connection(h, m->addr, m->ipv6)))
		return NULL;
	if (!formats(h, m, &sm->m_format))
		return NULL;
	if (!media_attrs(h, m, &sm->m_attributes))
		return NULL;
	return sm;
}

static sdp_session_t *session(su_home_t *h, const struct sb_sdp *sdp)
{
	sdp_session_t *s = su_zalloc(h, sizeof(*s));
	sdp_origin_t *o = su_zalloc(h, sizeof(*o));
	sdp_time_t *t = su_zalloc(h, sizeof(*t));
	sdp_attribute_t **at;
	sdp_media_t **mt;
	const char *oaddr = sdp->origin_addr ? sdp->origin_addr : sdp->addr;
	bool ok = true;

	if (!s || !o || !t)
		return NULL;
	s->sdp_size = sizeof(*s);
	o->o_size = sizeof(*o);
	t->t_size = sizeof(*t);
	o->o_username = "-";
	o->o_id = sdp->sess_id;
	o->o_version = sdp->sess_version;
	o->o_address = connection(h, oaddr ? oaddr : "0.0.0.0", oaddr && strchr(oaddr, ':'));
	s->sdp_origin = o;
	s->sdp_subject = "-";
	s->sdp_time = t;
	if (sdp->addr && !(s->sdp_connection = connection(h, sdp->addr, sdp->ipv6)))
		return NULL;
	at = &s->sdp_attributes;
	if (sdp->ice_lite)
		ok &= attr(h, &at, "ice-lite", NULL);
	if (sdp->n_bundle > 0) {
		char *v = su_strdup(h, "BUNDLE");
		for (int i = 0; v && i < sdp->n_bundle; i++)
			v = su_strcat(h, su_strcat(h, v, " "), sdp->bundle[i]);
		ok &= v && attr(h, &at, "group", v);
	}
	mt = &s->sdp_media;
	for (int i = 0; ok && i < sdp->n_media; i++) {
		if (!sdp->media[i]->type || !sdp->media[i]->proto)
			return NULL;
		if (!(*mt = media(h, s, sdp->media[i])))
			return NULL;
		mt = &(*mt)->m_next;
	}
	return ok && o->o_address ? s : NULL;
}

int sb_sdp_print(const struct sb_sdp *sdp, char **ret)
{
	su_home_t *h;
	sdp_session_t *s;
	sdp_printer_t *p;
	char *text = NULL;
	int r = -ENOMEM;

	for (int i = 0; i < sdp->n_media; i++)
		if (!sdp->media[i]->type || !sdp->media[i]->proto)
			return -EINVAL;
	if (!(h = su_home_new(sizeof(*h))))
		return -ENOMEM;
	s = session(h, sdp);
	/* JSEP (RFC 8829 section 5.2.1) writes the direction of every section;
	 * sofia's default would leave out a=sendrecv. */
	p = s ? sdp_print(h, s, NULL, 0, sdp_f_mode_always) : NULL;
	if (p && sdp_message(p) && !sdp_printing_error(p)) {
		size_t n = (size_t)sdp_message_size(p);
		text = malloc(n + 1);
		if (text) {
			memcpy(text, sdp_message(p), n);
			text[n] = '\0';
			r = 0;
		}
	}
	sdp_printer_free(p);
	su_home_unref(h);
	if (r == 0)
		*ret = text;
	return r;
}
