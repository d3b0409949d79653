/* Minimal SDP reading and answering for the media plane (see sdp_min.h).
 * Pure; no allocation but the answer text. */
#include "media/sdp_min.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ids.h"
#include "core/strbuf.h"

/* Copies the value after prefix when line starts with it. */
static bool take(const char *line, size_t len, const char *prefix, char *out, size_t outlen)
{
	size_t n = strlen(prefix);

	if (len < n || strncmp(line, prefix, n) != 0)
		return false;
	len -= n;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, line + n, len);
	out[len] = '\0';
	return true;
}

static struct sb_sdpmin_codec *codec_for(struct sb_sdpmin *s, int pt)
{
	for (int i = 0; i < s->n_codecs; i++)
		if (s->codecs[i].pt == pt)
			return &s->codecs[i];
	return NULL;
}

static void parse_mline(struct sb_sdpmin *s, const char *v)
{
	char fmt[256];
	char *p, *save = NULL;
	int i = 0;

	if (sscanf(v, "audio %d %31s %255[^\n]", &s->port, s->proto, fmt) != 3)
		return;
	for (p = strtok_r(fmt, " ", &save); p && s->n_codecs < SB_SDPMIN_MAX_CODECS;
	     p = strtok_r(NULL, " ", &save), i++) {
		char *end;
		long pt = strtol(p, &end, 10);
		if (*end || pt < 0 || pt > 127)
			continue;
		s->codecs[s->n_codecs].pt = (int)pt;
		/* Static payload types need no rtpmap (RFC 3551). */
		if (pt == 0)
			snprintf(s->codecs[s->n_codecs].name, 24, "PCMU");
		else if (pt == 8)
			snprintf(s->codecs[s->n_codecs].name, 24, "PCMA");
		s->codecs[s->n_codecs].rate = 8000;
		s->codecs[s->n_codecs].channels = 1;
		s->n_codecs++;
	}
}

static void parse_attr(struct sb_sdpmin *s, const char *a, size_t len, bool in_audio)
{
	char tmp[256];
	int pt, rate, ch;

	if (take(a, len, "ice-ufrag:", s->ufrag, sizeof(s->ufrag)) ||
	    take(a, len, "ice-pwd:", s->pwd, sizeof(s->pwd)) ||
	    take(a, len, "fingerprint:", s->fingerprint, sizeof(s->fingerprint)) ||
	    take(a, len, "setup:", s->setup, sizeof(s->setup)))
		return;
	if (take(a, len, "group:BUNDLE", tmp, sizeof(tmp))) {
		s->bundle = true;
		return;
	}
	if (!in_audio)
		return;
	if (take(a, len, "mid:", s->mid, sizeof(s->mid)))
		return;
	if (len == 8 && strncmp(a, "rtcp-mux", 8) == 0) {
		s->rtcp_mux = true;
		return;
	}
	if (len < sizeof(s->candidates[0]) && strncmp(a, "candidate:", 10) == 0 &&
	    s->n_candidates < SB_SDPMIN_MAX_CANDS) {
		memcpy(s->candidates[s->n_candidates], a, len);
		s->candidates[s->n_candidates++][len] = '\0';
		return;
	}
	if (take(a, len, "rtpmap:", tmp, sizeof(tmp))) {
		char name[24];
		struct sb_sdpmin_codec *c;

		ch = 1;
		if (sscanf(tmp, "%d %23[^/]/%d/%d", &pt, name, &rate, &ch) >= 3 &&
		    (c = codec_for(s, pt)) != NULL) {
			snprintf(c->name, sizeof(c->name), "%s", name);
			c->rate = rate;
			c->channels = ch;
		}
		return;
	}
	if (take(a, len, "fmtp:", tmp, sizeof(tmp))) {
		struct sb_sdpmin_codec *c;
		char *sp = strchr(tmp, ' ');

		if (sp && sscanf(tmp, "%d", &pt) == 1 && (c = codec_for(s, pt)) != NULL)
			snprintf(c->fmtp, sizeof(c->fmtp), "%s", sp + 1);
	}
}

int sb_sdpmin_parse(const char *sdp, struct sb_sdpmin *ret, char *err, size_t errlen)
{
	size_t total = strnlen(sdp, SB_SDPMIN_MAX_LEN + 1);
	bool in_audio = false, seen_audio = false, seen_m = false;
	const char *p = sdp;

	memset(ret, 0, sizeof(*ret));
	if (total > SB_SDPMIN_MAX_LEN) {
		snprintf(err, errlen, "SDP longer than %d bytes", SB_SDPMIN_MAX_LEN);
		return -E2BIG;
	}
	while (*p) {
		size_t len = strcspn(p, "\r\n");
		char v[512];

		if (len >= sizeof(v)) {
			snprintf(err, errlen, "an SDP line is longer than %zu bytes",
				 sizeof(v) - 1);
			return -EBADMSG;
		}
		memcpy(v, p, len);
		v[len] = '\0';
		if (len > 2 && v[1] == '=') {
			if (v[0] == 'm') {
				seen_m = true;
				in_audio = !seen_audio && strncmp(v + 2, "audio ", 6) == 0;
				if (in_audio) {
					seen_audio = true;
					parse_mline(ret, v + 2);
				}
			} else if (v[0] == 'a') {
				parse_attr(ret, v + 2, len - 2, in_audio);
			} else if (v[0] == 'c' && (in_audio || !seen_m)) {
				/* session level (before any m=), or the audio
				 * section's own, which wins */
				sscanf(v + 2, "IN IP%*c %63s", ret->addr);
			}
		}
		p += len;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	if (!seen_audio) {
		snprintf(err, errlen, "the SDP has no audio section");
		return -EBADMSG;
	}
	return 0;
}

const struct sb_sdpmin_codec *sb_sdpmin_pick(const struct sb_sdpmin *s)
{
	static const char *const prefs[] = {"opus", "PCMU", "PCMA"};

	for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++)
		for (int j = 0; j < s->n_codecs; j++)
			if (strcasecmp(s->codecs[j].name, prefs[i]) == 0)
				return &s->codecs[j];
	return NULL;
}

int sb_sdpmin_dtmf_pt(const struct sb_sdpmin *s, int rate)
{
	for (int j = 0; j < s->n_codecs; j++)
		if (strcasecmp(s->codecs[j].name, "telephone-event") == 0 &&
		    s->codecs[j].rate == rate)
			return s->codecs[j].pt;
	return -1;
}

char *sb_sdpmin_answer_webrtc(const struct sb_sdpmin *offer, const struct sb_sdpmin_codec *codec,
			      const struct sb_sdpmin_local *l)
{
	int dtmf = sb_sdpmin_dtmf_pt(offer, codec->rate);
	struct sb_strbuf b;

	sb_strbuf_init(&b);
	sb_strbuf_printf(&b, "v=0\r\no=- %llu 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
			 (unsigned long long)(sb_id_next() + 1000000));
	if (offer->bundle)
		sb_strbuf_printf(&b, "a=group:BUNDLE %s\r\n", offer->mid);
	sb_strbuf_printf(&b, "m=audio 9 %s %d", offer->proto, codec->pt);
	if (dtmf >= 0)
		sb_strbuf_printf(&b, " %d", dtmf);
	sb_strbuf_printf(&b,
			 "\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
			 "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:%s\r\n",
			 l->ufrag, l->pwd, l->fingerprint, l->setup);
	if (offer->mid[0])
		sb_strbuf_printf(&b, "a=mid:%s\r\n", offer->mid);
	sb_strbuf_puts(&b, "a=sendrecv\r\n");
	if (offer->rtcp_mux)
		sb_strbuf_puts(&b, "a=rtcp-mux\r\n");
	if (codec->channels > 1)
		sb_strbuf_printf(&b, "a=rtpmap:%d %s/%d/%d\r\n", codec->pt, codec->name,
				 codec->rate, codec->channels);
	else
		sb_strbuf_printf(&b, "a=rtpmap:%d %s/%d\r\n", codec->pt, codec->name, codec->rate);
	if (codec->fmtp[0])
		sb_strbuf_printf(&b, "a=fmtp:%d %s\r\n", codec->pt, codec->fmtp);
	if (dtmf >= 0)
		sb_strbuf_printf(&b, "a=rtpmap:%d telephone-event/%d\r\n", dtmf, codec->rate);
	sb_strbuf_printf(&b, "a=ssrc:%u cname:switchboard\r\n", l->ssrc);
	for (int i = 0; i < l->n_candidates; i++)
		sb_strbuf_printf(&b, "a=%s\r\n", l->candidates[i]);
	sb_strbuf_puts(&b, "a=end-of-candidates\r\n");
	return sb_strbuf_steal(&b);
}

char *sb_sdpmin_rtp(const char *addr, int port, const struct sb_sdpmin_codec *codecs, int n_codecs,
		    int dtmf_pt, unsigned ssrc)
{
	struct sb_strbuf b;
	const char *ip = strchr(addr, ':') ? "IP6" : "IP4";
	int dtmf_rate = n_codecs > 0 ? codecs[0].rate : 8000;

	/* telephone-event at 8 kHz when any codec runs at 8 kHz (SIP peers). */
	for (int i = 0; i < n_codecs; i++)
		if (codecs[i].rate == 8000)
			dtmf_rate = 8000;

	sb_strbuf_init(&b);
	sb_strbuf_printf(&b, "v=0\r\no=- %llu 1 IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n",
			 (unsigned long long)(sb_id_next() + 1000000), ip, addr, ip, addr);
	sb_strbuf_printf(&b, "m=audio %d RTP/AVP", port);
	for (int i = 0; i < n_codecs; i++)
		sb_strbuf_printf(&b, " %d", codecs[i].pt);
	if (dtmf_pt >= 0)
		sb_strbuf_printf(&b, " %d", dtmf_pt);
	sb_strbuf_printf(&b, "\r\na=rtcp:%d\r\n", port + 1);
	for (int i = 0; i < n_codecs; i++) {
		const struct sb_sdpmin_codec *c = &codecs[i];

		if (c->channels > 1)
			sb_strbuf_printf(&b, "a=rtpmap:%d %s/%d/%d\r\n", c->pt, c->name, c->rate,
					 c->channels);
		else
			sb_strbuf_printf(&b, "a=rtpmap:%d %s/%d\r\n", c->pt, c->name, c->rate);
		if (c->fmtp[0])
			sb_strbuf_printf(&b, "a=fmtp:%d %s\r\n", c->pt, c->fmtp);
	}
	if (dtmf_pt >= 0)
		sb_strbuf_printf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-16\r\n",
				 dtmf_pt, dtmf_rate, dtmf_pt);
	sb_strbuf_printf(&b, "a=ptime:20\r\na=sendrecv\r\na=ssrc:%u cname:switchboard\r\n", ssrc);
	return sb_strbuf_steal(&b);
}
