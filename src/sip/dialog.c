/* Helpers of the call legs of src/sip: the media direction of a re-INVITE
 * and our answer to it (hold and resume, RFC 3264 section 8.4), and the
 * targets of 3xx redirects in q order with loop protection. Control
 * thread. Works on dialogs owned by sip.c; owns nothing of its own. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#include "sdp/sdp.h"
#include "sip/sip_internal.h"

/* The direction of a description: its first stream's (sofia folds
 * session-level attributes into every stream). */
static sdp_mode_t session_mode(const sdp_session_t *sdp)
{
	return sdp && sdp->sdp_media ? (sdp_mode_t)sdp->sdp_media->m_mode : sdp_sendrecv;
}

/* What we do toward a party whose direction is mode: send when it
 * receives, receive when it sends. */
static sdp_mode_t mirror(sdp_mode_t mode)
{
	return (sdp_mode_t)(((mode & sdp_sendonly) ? sdp_recvonly : 0) |
			    ((mode & sdp_recvonly) ? sdp_sendonly : 0));
}

const char *sb__sip_mode_name(int mode)
{
	static const char *const names[] = {"inactive", "sendonly", "recvonly", "sendrecv"};

	return names[mode & 3];
}

int sb__sip_sdp_answer_mode(const char *offer, const char *ours, char **ret_sdp, int *ret_mode)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	sdp_parser_t *po, *pl;
	sdp_session_t *o, *l;
	sdp_printer_t *pr = NULL;
	sdp_mode_t mode;
	char *out = NULL;
	int r = -EINVAL;

	struct sb_sdp *checked = NULL;
	char err[160];

	/* The offer comes from outside: it goes through src/sdp's scan and
	 * limits before sofia's parser sees it (some inputs make sofia
	 * allocate gigabytes, docs/sdp.md). */
	if (sb_sdp_parse(offer, strlen(offer), &checked, err, sizeof(err)) < 0)
		return -EINVAL;
	sb_sdp_free(checked);
	/* sdp_f_mode_0000: c=0.0.0.0 is the old way of saying sendonly. */
	po = sdp_parse(home, offer, (issize_t)strlen(offer), sdp_f_mode_0000);
	pl = sdp_parse(home, ours, (issize_t)strlen(ours), 0);
	o = sdp_session(po);
	l = sdp_session(pl);
	if (!o || !l || !l->sdp_origin)
		goto out;
	mode = session_mode(o);
	for (sdp_media_t *m = l->sdp_media; m; m = m->m_next)
		if (!m->m_rejected)
			m->m_mode = mirror(mode);
	l->sdp_origin->o_version++;
	/* Every stream says its direction, sendrecv included, so that the
	 * far end sees the resume as plainly as the hold. */
	pr = sdp_print(home, l, NULL, 0, sdp_f_mode_always);
	if (!pr || !sdp_message(pr)) {
		r = -ENOMEM;
		goto out;
	}
	out = strdup(sdp_message(pr));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	*ret_sdp = out;
	*ret_mode = (int)mode;
	r = 0;
out:
	sdp_printer_free(pr);
	sdp_parser_free(po);
	sdp_parser_free(pl);
	su_home_deinit(home);
	return r;
}

bool sb__sip_target_seen(struct sb_sip_dialog *d, const char *uri)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	url_t *u = url_make(home, uri);
	bool seen = false;

	for (size_t i = 0; u && i < d->n_tried && !seen; i++) {
		url_t *t = url_make(home, d->tried[i]);
		seen = t && url_cmp(u, t) == 0;
	}
	if (!seen && d->n_tried < SB_SIP_MAX_TARGETS) {
		d->tried[d->n_tried] = strdup(uri);
		if (d->tried[d->n_tried])
			d->n_tried++;
	}
	su_home_deinit(home);
	return seen;
}

/* q as thousandths (RFC 3261 section 20.10: 0 to 1, three decimals);
 * absent: 1000. Parsed by hand: no atof on a peer's text. */
static unsigned q_of(const sip_contact_t *m)
{
	const char *q = m->m_q;
	unsigned v = 0, scale = 1000;

	if (!q)
		return 1000;
	if (*q == '1')
		return 1000;
	if (*q++ != '0' || *q++ != '.')
		return 0;
	for (int i = 0; i < 3 && *q >= '0' && *q <= '9'; i++, q++) {
		scale /= 10;
		v += (unsigned)(*q - '0') * scale;
	}
	return v;
}

void sb__sip_targets_add(struct sb_sip_dialog *d, const sip_contact_t *m)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};

	for (; m && d->n_pending < SB_SIP_MAX_TARGETS; m = m->m_next) {
		char *uri = url_as_string(home, m->m_url);
		bool dup = false;

		if (!uri || (m->m_url->url_type != url_sip && m->m_url->url_type != url_sips))
			continue;
		for (size_t i = 0; i < d->n_pending && !dup; i++)
			dup = strcmp(d->pending[i].uri, uri) == 0;
		if (dup)
			continue;
		d->pending[d->n_pending].uri = strdup(uri);
		d->pending[d->n_pending].q = q_of(m);
		if (d->pending[d->n_pending].uri)
			d->n_pending++;
	}
	su_home_deinit(home);
}

char *sb__sip_target_next(struct sb_sip_dialog *d)
{
	size_t best = 0;
	char *uri;

	if (!d->n_pending)
		return NULL;
	for (size_t i = 1; i < d->n_pending; i++)
		if (d->pending[i].q > d->pending[best].q)
			best = i;
	uri = d->pending[best].uri;
	memmove(&d->pending[best], &d->pending[best + 1],
		(d->n_pending - best - 1) * sizeof(d->pending[0]));
	d->n_pending--;
	return uri;
}

void sb__sip_targets_clear(struct sb_sip_dialog *d)
{
	for (size_t i = 0; i < d->n_tried; i++)
		free(d->tried[i]);
	for (size_t i = 0; i < d->n_pending; i++)
		free(d->pending[i].uri);
	d->n_tried = d->n_pending = 0;
}
