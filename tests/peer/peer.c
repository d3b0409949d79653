/* sb-peer's session: the libnice agent (controlling when it offers), the SDP
 * it writes and the SDP it reads, and the run's lifecycle (connect deadline,
 * end of sending, failure). Runs on the peer's GMainContext; owns the agent
 * and, through peer_dtls.c and peer_media.c, everything else. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "peer_internal.h"

/* ---- timers ---- */

static gboolean timer_dispatch(GSource *src, GSourceFunc fn, gpointer ud)
{
	return fn(ud);
}

static GSourceFuncs timer_funcs = {.dispatch = timer_dispatch};

GSource *sb__peer_timer_at(struct sb_peer *p, gint64 at_us, GSourceFunc fn)
{
	GSource *src = g_source_new(&timer_funcs, sizeof(GSource));

	/* An absolute ready time: a 20 ms ticker that does not drift. */
	g_source_set_ready_time(src, at_us);
	g_source_set_callback(src, fn, p, NULL);
	g_source_attach(src, p->ctx);
	return src;
}

GSource *sb__peer_timer_drop(GSource *src)
{
	if (src) {
		g_source_destroy(src);
		g_source_unref(src);
	}
	return NULL;
}

/* ---- lifecycle ---- */

void sb__peer_fail(struct sb_peer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	p->finished = true;
	va_start(ap, fmt);
	vsnprintf(p->st.error, sizeof(p->st.error), fmt, ap);
	va_end(ap);
	p->send_src = sb__peer_timer_drop(p->send_src);
	p->dtls_timer = sb__peer_timer_drop(p->dtls_timer);
}

static gboolean deadline_cb(gpointer ud)
{
	struct sb_peer *p = ud;

	g_source_unref(p->deadline_src);
	p->deadline_src = NULL;
	if (!p->sending && !p->finished)
		sb__peer_fail(p, "not connected within %d ms", p->o.connect_ms);
	return G_SOURCE_REMOVE;
}

void sb__peer_send(struct sb_peer *p, const uint8_t *data, size_t len)
{
	nice_agent_send(p->agent, p->stream, 1, (guint)len, (const gchar *)data);
}

/* ---- SDP ---- */

static const char *codec_rtpmap(enum sb_peer_codec c)
{
	return c == SB_PEER_OPUS ? "opus/48000" : "PCMU/8000";
}

static int default_pt(enum sb_peer_codec c)
{
	return c == SB_PEER_OPUS ? 111 : 0;
}

/* Our description: an offer (actpass) or an answer (the DTLS role chosen in
 * sb_peer_remote_sdp_set), one audio section in the browser's shape. */
static void local_sdp_build(struct sb_peer *p)
{
	GString *s = g_string_new(NULL);
	GSList *cands = nice_agent_get_local_candidates(p->agent, p->stream, 1);
	gchar *ufrag = NULL, *pwd = NULL;
	const char *setup = p->o.offer ? "actpass" : (p->dtls_client ? "active" : "passive");

	nice_agent_get_local_credentials(p->agent, p->stream, &ufrag, &pwd);
	g_string_append_printf(s,
			       "v=0\r\no=- %u 1 IN IP4 127.0.0.1\r\ns=sb-peer\r\nt=0 0\r\n"
			       "a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n"
			       "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 0.0.0.0\r\n"
			       "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n",
			       p->tag, p->pt, ufrag, pwd);
	if (p->o.fault != SB_PEER_FAULT_NO_FINGERPRINT) {
		char fp[SB_PEER_FP_LEN];

		snprintf(fp, sizeof(fp), "%s", p->fingerprint);
		/* Another certificate's digest: flip the first hex digit. */
		if (p->o.fault == SB_PEER_FAULT_WRONG_FINGERPRINT)
			fp[8] = fp[8] == 'A' ? 'B' : 'A';
		g_string_append_printf(s, "a=fingerprint:%s\r\n", fp);
	}
	g_string_append_printf(s, "a=setup:%s\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n", setup);
	if (p->o.codec == SB_PEER_OPUS)
		g_string_append_printf(s,
				       "a=rtpmap:%d opus/48000/2\r\n"
				       "a=fmtp:%d minptime=10;useinbandfec=1\r\n",
				       p->pt, p->pt);
	else
		g_string_append_printf(s, "a=rtpmap:%d PCMU/8000\r\n", p->pt);
	g_string_append_printf(s, "a=ssrc:%u cname:sb-peer\r\n", p->ssrc);
	for (GSList *c = cands; c; c = c->next) {
		gchar *line = nice_agent_generate_local_candidate_sdp(p->agent, c->data);

		g_string_append_printf(s, "%s\r\n", line);
		g_free(line);
	}
	g_string_append(s, "a=end-of-candidates\r\n");
	/* An answer has as many sections as the offer: the ones we do not
	 * take are rejected with port 0 (RFC 3264 section 6). */
	for (int i = 0; !p->o.offer && i < p->remote.n_others; i++) {
		char media[128];
		const char *sp;

		snprintf(media, sizeof(media), "%s", p->remote.others[i]);
		sp = strchr(media, ' ');
		if (!sp)
			continue;
		g_string_append_printf(s, "m=%.*s 0 %s\r\nc=IN IP4 0.0.0.0\r\n", (int)(sp - media),
				       media, sp + 1);
		if (p->remote.other_mids[i][0])
			g_string_append_printf(s, "a=mid:%s\r\n", p->remote.other_mids[i]);
	}
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	g_free(ufrag);
	g_free(pwd);
	p->local_sdp = g_string_free(s, FALSE);
}

/* Copies the rest of line after prefix into out when it starts with it. */
static bool take(const char *line, size_t len, const char *prefix, char *out, size_t cap)
{
	size_t n = strlen(prefix);

	if (len < n || strncmp(line, prefix, n) != 0)
		return false;
	len -= n;
	if (len >= cap)
		len = cap - 1;
	memcpy(out, line + n, len);
	out[len] = '\0';
	return true;
}

/* True when the m= line's format list (after the proto) holds pt. */
static bool mline_has(const char *fmts, int pt)
{
	char want[8];
	size_t wl = (size_t)snprintf(want, sizeof(want), "%d", pt);

	for (const char *f = fmts; *f;) {
		size_t n = strcspn(f, " ");

		if (n == wl && strncmp(f, want, n) == 0)
			return true;
		f += n;
		f += strspn(f, " ");
	}
	return false;
}

static void parse_line(struct sb_peer *p, struct sb__peer_remote *r, const char *l, size_t len,
		       char *fmts, size_t fmts_cap)
{
	char tmp[256];

	if (take(l, len, "m=audio ", tmp, sizeof(tmp))) {
		/* port, proto, then the formats */
		const char *f = tmp + strcspn(tmp, " ");

		f += strspn(f, " ");
		f += strcspn(f, " ");
		f += strspn(f, " ");
		snprintf(fmts, fmts_cap, "%s", f);
	} else if (take(l, len, "a=ice-ufrag:", r->ufrag, sizeof(r->ufrag)) ||
		   take(l, len, "a=ice-pwd:", r->pwd, sizeof(r->pwd)) ||
		   take(l, len, "a=fingerprint:", r->fingerprint, sizeof(r->fingerprint)) ||
		   take(l, len, "a=setup:", r->setup, sizeof(r->setup))) {
		return;
	} else if (len < sizeof(r->candidates[0]) && strncmp(l, "a=candidate:", 12) == 0) {
		if (r->n_candidates < SB_PEER_MAX_CANDS) {
			memcpy(r->candidates[r->n_candidates], l, len);
			r->candidates[r->n_candidates++][len] = '\0';
		}
	} else if (take(l, len, "a=rtpmap:", tmp, sizeof(tmp))) {
		char *end;
		long pt = strtol(tmp, &end, 10);

		if (end != tmp && *end == ' ' && pt >= 0 && pt < 128 &&
		    strncasecmp(end + 1, codec_rtpmap(p->o.codec),
				strlen(codec_rtpmap(p->o.codec))) == 0 &&
		    r->pt < 0)
			r->pt = (int)pt;
	}
}

/* Reads the few facts we need from the first audio section (a session
 * level attribute counts too). */
static int remote_parse(struct sb_peer *p, const char *sdp, struct sb__peer_remote *r)
{
	char fmts[256] = "";
	bool audio = false, past = false;

	memset(r, 0, sizeof(*r));
	r->pt = -1;
	for (const char *l = sdp; *l;) {
		size_t len = strcspn(l, "\r\n");

		if (len >= 2 && l[0] == 'm' && l[1] == '=') {
			past = audio;
			if (!audio)
				audio = strncmp(l, "m=audio ", 8) == 0;
		}
		if (past) {
			/* Only the first audio section is read; the others'
			 * "media proto format" (the port left out) and mid,
			 * for our answer to reject them. */
			if (l[0] == 'm' && r->n_others < 4) {
				char m[128];
				const char *port, *rest;

				snprintf(m, sizeof(m), "%.*s", (int)len - 2, l + 2);
				port = strchr(m, ' ');
				rest = port ? strchr(port + 1, ' ') : NULL;
				if (port && rest)
					snprintf(r->others[r->n_others++], sizeof(r->others[0]),
						 "%.*s%s", (int)(port - m), m, rest);
			} else if (r->n_others > 0) {
				take(l, len, "a=mid:", r->other_mids[r->n_others - 1],
				     sizeof(r->other_mids[0]));
			}
			l += len;
			l += strspn(l, "\r\n");
			continue;
		}
		parse_line(p, r, l, len, fmts, sizeof(fmts));
		l += len;
		l += strspn(l, "\r\n");
	}
	/* PCMU is static payload type 0 and needs no rtpmap (RFC 3551). */
	if (r->pt < 0 && p->o.codec == SB_PEER_PCMU && mline_has(fmts, 0))
		r->pt = 0;
	if (r->pt >= 0 && !mline_has(fmts, r->pt))
		r->pt = -1;
	if (!audio || !r->ufrag[0] || !r->pwd[0] || r->pt < 0)
		return -EBADMSG;
	return 0;
}

static void remote_candidates_add(struct sb_peer *p)
{
	GSList *list = NULL;

	for (int i = 0; i < p->remote.n_candidates; i++) {
		NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(p->agent, p->stream,
									 p->remote.candidates[i]);
		if (c)
			list = g_slist_append(list, c);
	}
	if (list)
		nice_agent_set_remote_candidates(p->agent, p->stream, 1, list);
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
}

int sb_peer_remote_sdp_set(struct sb_peer *p, const char *sdp)
{
	if (p->remote_set)
		return -EALREADY;
	if (p->failed)
		return -EPROTO;
	if (!sdp || remote_parse(p, sdp, &p->remote) < 0) {
		sb__peer_fail(p, "the remote SDP lacks audio, ICE credentials or %s",
			      sb_peer_codec_name(p->o.codec));
		return -EBADMSG;
	}
	p->remote_set = true;
	/* RFC 8842 section 5: the answerer picks the role; answering actpass we
	 * take active (the DTLS client), as browsers do. */
	if (p->o.offer)
		p->dtls_client = strcmp(p->remote.setup, "passive") == 0;
	else
		p->dtls_client = strcmp(p->remote.setup, "active") != 0;
	p->pt = p->remote.pt;
	if (p->o.fault != SB_PEER_FAULT_PLAIN && sb__peer_dtls_prepare(p) < 0)
		return -EPROTO;
	nice_agent_set_remote_credentials(p->agent, p->stream, p->remote.ufrag, p->remote.pwd);
	remote_candidates_add(p);
	if (!p->o.offer && p->gathered && !p->local_sdp)
		local_sdp_build(p);
	return 0;
}

const char *sb_peer_local_sdp(struct sb_peer *p)
{
	return p->local_sdp;
}

/* ---- ICE ---- */

static void gathering_done_cb(NiceAgent *agent, guint stream, gpointer ud)
{
	struct sb_peer *p = ud;

	p->gathered = true;
	if (!p->local_sdp && (p->o.offer || p->remote_set))
		local_sdp_build(p);
}

static void state_cb(NiceAgent *agent, guint stream, guint component, guint state, gpointer ud)
{
	struct sb_peer *p = ud;

	if (state == NICE_COMPONENT_STATE_FAILED) {
		sb__peer_fail(p, "ICE failed");
		return;
	}
	if (state != NICE_COMPONENT_STATE_READY || p->ice_ready)
		return;
	p->ice_ready = true;
	p->st.ice_connected = true;
	if (p->o.fault == SB_PEER_FAULT_PLAIN)
		sb__peer_media_start(p);
	else
		sb__peer_dtls_start(p);
}

static void recv_cb(NiceAgent *agent, guint stream, guint component, guint len, gchar *data,
		    gpointer ud)
{
	struct sb_peer *p = ud;
	uint8_t buf[SB_PEER_MAX_PKT + SRTP_MAX_TRAILER_LEN];
	uint8_t first;

	if (len == 0 || len > SB_PEER_MAX_PKT || p->finished)
		return;
	first = (uint8_t)data[0];
	/* RFC 7983 section 7: DTLS 20..63, RTP and RTCP 128..191. */
	if (first >= 20 && first <= 63) {
		if (p->ssl)
			sb__peer_dtls_input(p, (const uint8_t *)data, len);
	} else if (first >= 128 && first <= 191) {
		memcpy(buf, data, len);
		sb__peer_media_input(p, buf, (int)len);
	}
}

static gboolean mute_read_cb(GSocket *sock, GIOCondition cond, gpointer ud)
{
	struct sb_peer *p = ud;
	gchar buf[SB_PEER_MAX_PKT];
	gssize n;

	while ((n = g_socket_receive_with_blocking(sock, buf, sizeof(buf), FALSE, NULL, NULL)) > 0)
		if ((uint8_t)buf[0] >= 4)
			recv_cb(p->agent, p->stream, 1, (guint)n, buf, p);
	return G_SOURCE_CONTINUE;
}

void sb__peer_stun_mute(struct sb_peer *p)
{
	GSocket *sock = nice_agent_get_selected_socket(p->agent, p->stream, 1);

	if (!sock) {
		sb__peer_fail(p, "no selected socket to read");
		return;
	}
	/* libnice moves its socket sources to the context it is given. */
	p->mute_ctx = g_main_context_new();
	nice_agent_attach_recv(p->agent, p->stream, 1, p->mute_ctx, NULL, NULL);
	p->mute_src = g_socket_create_source(sock, G_IO_IN, NULL);
	g_source_set_callback(p->mute_src, G_SOURCE_FUNC(mute_read_cb), p, NULL);
	g_source_attach(p->mute_src, p->ctx);
	g_object_unref(sock);
}

static int agent_start(struct sb_peer *p)
{
	NiceAddress a;

	p->agent = nice_agent_new_full(p->ctx, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_NONE);
	if (!p->agent)
		return -ENOMEM;
	/* The offerer controls (RFC 8445 section 6.1.1); no UPnP (DESIGN.md). */
	g_object_set(p->agent, "controlling-mode", p->o.offer, "upnp", FALSE, NULL);
	nice_address_init(&a);
	if (!nice_address_set_from_string(&a, p->o.address ? p->o.address : "127.0.0.1"))
		return -EINVAL;
	nice_agent_add_local_address(p->agent, &a);
	p->stream = nice_agent_add_stream(p->agent, 1);
	if (!p->stream)
		return -EIO;
	g_signal_connect(p->agent, "candidate-gathering-done", G_CALLBACK(gathering_done_cb), p);
	g_signal_connect(p->agent, "component-state-changed", G_CALLBACK(state_cb), p);
	nice_agent_attach_recv(p->agent, p->stream, 1, p->ctx, recv_cb, p);
	if (!nice_agent_gather_candidates(p->agent, p->stream))
		return -EADDRNOTAVAIL;
	return 0;
}

struct sb_peer *sb_peer_new(GMainContext *ctx, const struct sb_peer_opts *opts)
{
	struct sb_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->ctx = g_main_context_ref(ctx);
	p->o = *opts;
	if (p->o.send_ms <= 0)
		p->o.send_ms = 3000;
	if (p->o.grace_ms <= 0)
		p->o.grace_ms = 500;
	if (p->o.connect_ms <= 0)
		p->o.connect_ms = 10000;
	p->pt = default_pt(p->o.codec);
	p->ssrc = g_random_int();
	p->tag = g_random_int();
	/* libsrtp2 2.5 reports a failure when it is already initialized (the
	 * gateway in the same process) and works on: srtp_create tells. */
	srtp_init();
	if (sb__peer_dtls_init(p) < 0 || sb__peer_media_init(p) < 0 || agent_start(p) < 0)
		return sb_peer_free(p);
	p->deadline_src = sb__peer_timer_at(p, g_get_monotonic_time() + p->o.connect_ms * 1000LL,
					    deadline_cb);
	return p;
}

struct sb_peer *sb_peer_free(struct sb_peer *p)
{
	if (!p)
		return NULL;
	p->deadline_src = sb__peer_timer_drop(p->deadline_src);
	p->send_src = sb__peer_timer_drop(p->send_src);
	p->mute_src = sb__peer_timer_drop(p->mute_src);
	if (p->agent) {
		nice_agent_attach_recv(p->agent, p->stream, 1, p->ctx, NULL, NULL);
		g_signal_handlers_disconnect_by_data(p->agent, p);
		g_object_unref(p->agent);
	}
	if (p->mute_ctx)
		g_main_context_unref(p->mute_ctx);
	sb__peer_dtls_free(p);
	sb__peer_media_free(p);
	g_free(p->local_sdp);
	g_main_context_unref(p->ctx);
	free(p);
	return NULL;
}

bool sb_peer_finished(const struct sb_peer *p)
{
	return p->finished;
}

/* ---- names ---- */

static const char *const codec_names[_SB_PEER_CODEC_MAX] = {"pcmu", "opus"};
static const char *const fault_names[_SB_PEER_FAULT_MAX] = {
	"none",	  "wrong-fingerprint", "no-fingerprint", "dtls10", "plain-rtp", "tamper", "replay",
	"no-stun"};
static const char *const srtp_names[_SB_PEER_SRTP_MAX] = {"any", "gcm", "cm"};

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (strcasecmp(names[i], name) == 0)
			return i;
	return -EINVAL;
}

int sb_peer_codec_from_name(const char *name)
{
	return lookup(codec_names, _SB_PEER_CODEC_MAX, name);
}

int sb_peer_fault_from_name(const char *name)
{
	return lookup(fault_names, _SB_PEER_FAULT_MAX, name);
}

int sb_peer_srtp_from_name(const char *name)
{
	return lookup(srtp_names, _SB_PEER_SRTP_MAX, name);
}

const char *sb_peer_codec_name(enum sb_peer_codec c)
{
	return c == SB_PEER_OPUS ? "opus" : "PCMU";
}

const char *sb_peer_fault_name(enum sb_peer_fault f)
{
	return (unsigned)f < _SB_PEER_FAULT_MAX ? fault_names[f] : "?";
}
