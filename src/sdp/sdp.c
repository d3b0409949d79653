/* The SDP model: its arena (a sofia-sip home), building it by hand, lookups,
 * and the size limits checked before any parsing. Pure; any thread. */
#include "sdp/sdp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/su_alloc.h>

#include "core/macros.h"

struct sb_sdp *sb_sdp_new(void)
{
	su_home_t *home = su_home_new(sizeof(*home));
	struct sb_sdp *sdp;
	struct timespec ts;

	if (!home)
		return NULL;
	sdp = su_zalloc(home, sizeof(*sdp));
	if (!sdp) {
		su_home_unref(home);
		return NULL;
	}
	sdp->home = home;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* RFC 8866 section 5.2 suggests an NTP-format timestamp; any unique
	 * number will do. */
	sdp->sess_id = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	sdp->sess_version = 1;
	return sdp;
}

struct sb_sdp *sb_sdp_free(struct sb_sdp *sdp)
{
	if (sdp)
		su_home_unref(sdp->home);
	return NULL;
}

const char *sb_sdp_strdup(struct sb_sdp *sdp, const char *s)
{
	return s ? su_strdup(sdp->home, s) : NULL;
}

struct sb_sdp_media *sb_sdp_media_add(struct sb_sdp *sdp, const char *type, unsigned port,
				      const char *proto)
{
	struct sb_sdp_media *m;

	if (sdp->n_media >= SB_SDP_MAX_MEDIA)
		return NULL;
	m = su_zalloc(sdp->home, sizeof(*m));
	if (!m)
		return NULL;
	m->type = sb_sdp_strdup(sdp, type);
	m->proto = sb_sdp_strdup(sdp, proto);
	if ((type && !m->type) || (proto && !m->proto))
		return NULL;
	m->port = port;
	m->dir = SB_SDP_SENDRECV;
	sdp->media[sdp->n_media++] = m;
	return m;
}

int sb_sdp_codec_add(struct sb_sdp *sdp, struct sb_sdp_media *m, int pt, const char *name,
		     unsigned rate, unsigned channels, const char *fmtp)
{
	struct sb_sdp_codec *c;

	if (pt < 0 || pt > 127)
		return -EINVAL;
	if (m->n_codecs >= SB_SDP_MAX_CODECS)
		return -E2BIG;
	c = &m->codecs[m->n_codecs];
	c->pt = pt;
	c->name = sb_sdp_strdup(sdp, name ? name : "");
	c->fmtp = fmtp && *fmtp ? sb_sdp_strdup(sdp, fmtp) : NULL;
	if (!c->name || (fmtp && *fmtp && !c->fmtp))
		return -ENOMEM;
	c->rate = rate;
	c->channels = channels ? channels : 1;
	m->n_codecs++;
	return 0;
}

int sb_sdp_candidate_add(struct sb_sdp *sdp, struct sb_sdp_media *m, const char *cand)
{
	const char *copy;

	if (m->n_candidates >= SB_SDP_MAX_CANDS)
		return -E2BIG;
	if (strncmp(cand, "a=", 2) == 0)
		cand += 2;
	copy = sb_sdp_strdup(sdp, cand);
	if (!copy)
		return -ENOMEM;
	m->candidates[m->n_candidates++] = copy;
	return 0;
}

struct sb_sdp_media *sb_sdp_media_find(const struct sb_sdp *sdp, const char *type)
{
	for (int i = 0; i < sdp->n_media; i++)
		if (sdp->media[i]->port != 0 && sdp->media[i]->type &&
		    strcmp(sdp->media[i]->type, type) == 0)
			return sdp->media[i];
	return NULL;
}

const struct sb_sdp_codec *sb_sdp_codec_find(const struct sb_sdp_media *m, const char *name,
					     unsigned rate)
{
	for (int i = 0; i < m->n_codecs; i++)
		if (strcasecmp(m->codecs[i].name, name) == 0 &&
		    (rate == 0 || m->codecs[i].rate == rate))
			return &m->codecs[i];
	return NULL;
}

bool sb_sdp_media_is_rtp(const struct sb_sdp_media *m)
{
	return m->proto && strstr(m->proto, "RTP/") != NULL;
}

bool sb_sdp_media_is_datachannel(const struct sb_sdp_media *m)
{
	bool fmt = false;

	for (int i = 0; i < m->n_fmts && !fmt; i++)
		fmt = m->fmts[i] && strcmp(m->fmts[i], "webrtc-datachannel") == 0;
	return fmt && m->type && strcmp(m->type, "application") == 0 && m->proto &&
	       (strcasecmp(m->proto, "UDP/DTLS/SCTP") == 0 ||
		strcasecmp(m->proto, "TCP/DTLS/SCTP") == 0);
}

static const char *const dir_names[_SB_SDP_DIR_MAX] = {
	[SB_SDP_INACTIVE] = "inactive",
	[SB_SDP_SENDONLY] = "sendonly",
	[SB_SDP_RECVONLY] = "recvonly",
	[SB_SDP_SENDRECV] = "sendrecv",
};

static const char *const setup_names[_SB_SDP_SETUP_MAX] = {
	[SB_SDP_SETUP_NONE] = NULL,	      [SB_SDP_SETUP_ACTPASS] = "actpass",
	[SB_SDP_SETUP_ACTIVE] = "active",     [SB_SDP_SETUP_PASSIVE] = "passive",
	[SB_SDP_SETUP_HOLDCONN] = "holdconn",
};

const char *sb_sdp_dir_to_string(enum sb_sdp_dir d)
{
	return d >= 0 && d < _SB_SDP_DIR_MAX ? dir_names[d] : NULL;
}

const char *sb_sdp_setup_to_string(enum sb_sdp_setup s)
{
	return s >= 0 && s < _SB_SDP_SETUP_MAX ? setup_names[s] : NULL;
}

enum sb_sdp_setup sb_sdp_setup_from_string(const char *s)
{
	for (int i = SB_SDP_SETUP_ACTPASS; i < _SB_SDP_SETUP_MAX; i++)
		if (strcasecmp(s, setup_names[i]) == 0)
			return (enum sb_sdp_setup)i;
	return _SB_SDP_SETUP_INVALID;
}

enum sb_sdp_dir sb_sdp_dir_answer(enum sb_sdp_dir offered, enum sb_sdp_dir wanted)
{
	/* What the offerer sends we receive, and the reverse. */
	unsigned mirrored = ((offered & SB_SDP_SENDONLY) ? SB_SDP_RECVONLY : 0) |
			    ((offered & SB_SDP_RECVONLY) ? SB_SDP_SENDONLY : 0);

	return (enum sb_sdp_dir)(mirrored & (unsigned)wanted);
}

/* RFC 8866 section 9 token-char. */
static bool is_token_char(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d ||
	       c == 0x2e || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
	       (c >= 0x5e && c <= 0x7e);
}

/* Checks the shape of an m= line (p, n without "m="): <media> <port>[/<n>]
 * <proto> <fmt>..., tokens of token-chars, proto tokens joined by '/'.
 * sofia-sip loops allocating gigabytes on a proto such as "X(/AVP" (found
 * by fuzzing), so no m= line reaches it unchecked. Returns the number of
 * formats, or -1 when the line is malformed. */
static int mline_formats(const char *p, size_t n)
{
	int field = 0;
	size_t i = 0;

	while (i < n) {
		size_t start = i;
		while (i < n && p[i] != ' ')
			i++;
		/* <port>[/<number of ports>]: digits, at most one '/', and a
		 * count that is not 0 ("49/0/0" printed back as "49 /0",
		 * found by fuzzing). */
		if (field == 1 && i > start) {
			const char *slash = memchr(p + start, '/', i - start);
			if (slash && (slash == p + start || slash + 1 == p + i || slash[1] == '0' ||
				      memchr(slash + 1, '/', (size_t)(p + i - slash - 1))))
				return -1;
		}
		for (size_t k = start; k < i; k++) {
			unsigned char c = (unsigned char)p[k];
			bool ok = is_token_char(c);
			if (field == 1)
				ok = (c >= '0' && c <= '9') || (c == '/' && k > start);
			else if (field == 2)
				ok = ok || (c == '/' && k > start && k + 1 < i && p[k - 1] != '/');
			if (!ok)
				return -1;
		}
		field += i > start;
		while (i < n && p[i] == ' ')
			i++;
	}
	return field >= 4 ? field - 3 : -1;
}

/* Per-section counters of the limit check. */
struct limit_scan {
	int lines, media, cands, crypto;
};

/* Checks one line (without its end) of a limit scan. */
static int check_line(struct limit_scan *s, const char *p, size_t n, char *err, size_t errlen)
{
	if (++s->lines > SB_SDP_MAX_LINES) {
		snprintf(err, errlen, "SDP has more than %d lines", SB_SDP_MAX_LINES);
		return -E2BIG;
	}
	if (n > SB_SDP_MAX_LINE_LEN) {
		snprintf(err, errlen, "SDP line %d is longer than %d bytes", s->lines,
			 SB_SDP_MAX_LINE_LEN);
		return -E2BIG;
	}
	/* Every line is <type>=<value> with a one-letter type (RFC 8866
	 * section 5). sofia skips leading whitespace, which would let an m=
	 * line past the checks below ("\tm=audio 9 RT(/A\255 0", found by
	 * fuzzing). */
	if (n > 0 && (n < 2 || p[1] != '=' ||
		      !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))) {
		snprintf(err, errlen, "SDP line %d is not <type>=<value>", s->lines);
		return -EBADMSG;
	}
	/* sofia-sip 1.13 loops allocating gigabytes on some bytes above 0x7e
	 * in an m= proto ("m=video 9 A/\260\310 96", found by fuzzing). The
	 * grammar of these lines is ASCII tokens (RFC 8866 section 9); text
	 * (s=, i=, a= values) may be UTF-8 and sofia keeps it as it is. */
	if (n >= 2 && p[1] == '=' && strchr("vomctbrz", p[0]))
		for (size_t i = 2; i < n; i++)
			if ((unsigned char)p[i] > 0x7e ||
			    ((unsigned char)p[i] < 0x20 && p[i] != '\t')) {
				snprintf(err, errlen,
					 "SDP line %d (%c=) has a byte 0x%02x outside ASCII",
					 s->lines, p[0], (unsigned char)p[i]);
				return -EBADMSG;
			}
	if (n >= 2 && p[0] == 'm' && p[1] == '=') {
		int fmts = mline_formats(p + 2, n - 2);

		if (++s->media > SB_SDP_MAX_MEDIA) {
			snprintf(err, errlen, "SDP has more than %d m= lines", SB_SDP_MAX_MEDIA);
			return -E2BIG;
		}
		s->cands = s->crypto = 0;
		if (fmts < 0) {
			snprintf(err, errlen,
				 "m= line %d is not <media> <port> <proto> <fmt>... (RFC 8866 "
				 "section 5.14)",
				 s->media);
			return -EBADMSG;
		}
		if (fmts > SB_SDP_MAX_CODECS) {
			snprintf(err, errlen, "m= line %d has more than %d formats", s->media,
				 SB_SDP_MAX_CODECS);
			return -E2BIG;
		}
	} else if (n >= 12 && memcmp(p, "a=candidate:", 12) == 0 && ++s->cands > SB_SDP_MAX_CANDS) {
		snprintf(err, errlen, "an SDP section has more than %d candidates",
			 SB_SDP_MAX_CANDS);
		return -E2BIG;
	} else if (n >= 9 && memcmp(p, "a=crypto:", 9) == 0 && ++s->crypto > SB_SDP_MAX_CRYPTO) {
		snprintf(err, errlen, "an SDP section has more than %d crypto lines",
			 SB_SDP_MAX_CRYPTO);
		return -E2BIG;
	}
	return 0;
}

int sb_sdp_check_limits(const char *text, size_t len, char *err, size_t errlen)
{
	struct limit_scan s = {0};
	size_t start = 0;
	int r;

	if (len > SB_SDP_MAX_LEN) {
		snprintf(err, errlen, "SDP of %zu bytes is longer than %d", len, SB_SDP_MAX_LEN);
		return -E2BIG;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] == '\0') {
			snprintf(err, errlen, "SDP has a NUL byte at offset %zu", i);
			return -EBADMSG;
		}
		/* Lines end with CRLF or LF (RFC 8866 section 5). sofia-sip also
		 * ends a line at a lone CR, which would hide a line from this
		 * scan ("a=x\rm=audio 9RTP//SAVPF 0", found by fuzzing). */
		if (i < len && text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n')) {
			snprintf(err, errlen, "SDP has a CR without LF at offset %zu", i);
			return -EBADMSG;
		}
		if (i < len && text[i] != '\n')
			continue;
		/* One line is text[start, i), its CR (RFC 8866 CRLF) excluded. */
		if (i > start || i < len) {
			size_t n = i - start;
			if (n > 0 && text[start + n - 1] == '\r')
				n--;
			if ((r = check_line(&s, text + start, n, err, errlen)) < 0)
				return r;
		}
		start = i + 1;
	}
	return 0;
}
