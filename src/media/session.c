/* A WebRTC media session on a worker: libnice ICE (controlled), DTLS-SRTP,
 * ICE restart with a re-offer, and the echo of what the browser sends; a
 * data channel's DTLS application data goes to datachan.c. Worker thread
 * only; the worker's session table owns each session. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "log/log.h"
#include "media/media_internal.h"

#define MAX_PKT SB_MEDIA_MAX_PKT

void sb__media_post(struct sb_msession *s, enum sb_event_type type, int64_t arg1, const char *str,
		    char *text)
{
	struct sb_event ev = {.type = (uint16_t)type,
			      .call = s->call,
			      .leg = s->leg,
			      .arg = {(int64_t)s->id, arg1},
			      .text = text};

	if (str)
		snprintf(ev.str, sizeof(ev.str), "%s", str);
	if (type == SB_EV_MEDIA_STATS)
		ev.flags = SB_EVF_COALESCE;
	sb_bus_post(s->w->m->control, &ev);
}

void sb__media_post_seq(struct sb_msession *s, enum sb_event_type type, int64_t arg1, int64_t seq,
			const char *str, char *text)
{
	struct sb_event ev = {.type = (uint16_t)type,
			      .call = s->call,
			      .leg = s->leg,
			      .arg = {(int64_t)s->id, arg1, seq},
			      .text = text};

	snprintf(ev.str, sizeof(ev.str), "%s", str);
	sb_bus_post(s->w->m->control, &ev);
}

void sb__media_post_stats(struct sb_msession *s, int64_t lost, int64_t jitter_us, int64_t rtt_us,
			  const char *mos, char *text)
{
	struct sb_event ev = {.type = SB_EV_MEDIA_STATS,
			      .flags = SB_EVF_COALESCE,
			      .call = s->call,
			      .leg = s->leg,
			      .arg = {(int64_t)s->id, lost, jitter_us, rtt_us},
			      .text = text};

	snprintf(ev.str, sizeof(ev.str), "%s", mos);
	sb_bus_post(s->w->m->control, &ev);
}

void sb__media_post_dtmf(struct sb_msession *s, const char *digit, int64_t duration_ms)
{
	struct sb_event ev = {.type = SB_EV_MEDIA_DTMF,
			      .call = s->call,
			      .leg = s->leg,
			      .arg = {(int64_t)s->id, duration_ms}};

	snprintf(ev.str, sizeof(ev.str), "%s", digit);
	sb_bus_post(s->w->m->control, &ev);
}

void sb__msession_fail_as(struct sb_msession *s, enum sb_engine_media_fail cause, int code,
			  const char *why)
{
	struct sb_event ev = {.type = SB_EV_MEDIA_FAILED,
			      .call = s->call,
			      .leg = s->leg,
			      .arg = {(int64_t)s->id, code, cause}};

	if (s->failed)
		return;
	s->failed = true;
	atomic_fetch_add(&s->w->m->sessions_failed, 1);
	sb_warn("session %llu failed: %s", (unsigned long long)s->id, why);
	snprintf(ev.str, sizeof(ev.str), "%s", why);
	sb_bus_post(s->w->m->control, &ev);
}

static void session_fail(struct sb_msession *s, int code, const char *why)
{
	sb__msession_fail_as(s, SB_MEDIA_FAIL_OTHER, code, why);
}

void sb__msession_fail(struct sb_msession *s, int code, const char *why)
{
	session_fail(s, code, why);
}

static void send_cb(const uint8_t *data, size_t len, void *ud)
{
	sb__nice_io_send(ud, data, len);
}

static gboolean dtls_timer_cb(gpointer ud);

static void arm_dtls_timer(struct sb_msession *s)
{
	long ms = s->dtls ? sb_dtls_timeout_ms(s->dtls) : -1;
	GSource *src;

	if (s->dtls_timer) {
		src = g_main_context_find_source_by_id(s->w->ctx, s->dtls_timer);
		if (src)
			g_source_destroy(src);
		s->dtls_timer = 0;
	}
	if (ms < 0)
		return;
	src = g_timeout_source_new((guint)(ms > 0 ? ms : 1));
	g_source_set_callback(src, dtls_timer_cb, s, NULL);
	s->dtls_timer = g_source_attach(src, s->w->ctx);
	g_source_unref(src);
}

static gboolean dtls_timer_cb(gpointer ud)
{
	struct sb_msession *s = ud;

	s->dtls_timer = 0;
	if (sb_dtls_on_timeout(s->dtls) < 0) {
		atomic_fetch_add(&s->w->m->dtls_failed, 1);
		session_fail(s, -ETIMEDOUT, sb_dtls_error(s->dtls));
	} else {
		arm_dtls_timer(s);
	}
	return G_SOURCE_REMOVE;
}

static int srtp_setup(struct sb_msession *s)
{
	struct sb_srtp_keys k;
	srtp_policy_t p;

	if (sb_dtls_keys(s->dtls, &k) < 0)
		return -EPROTO;
	memset(&p, 0, sizeof(p));
	if (k.profile == SB_SRTP_AEAD_AES_128_GCM) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
	} else {
		srtp_crypto_policy_set_rtp_default(&p.rtp);
		srtp_crypto_policy_set_rtcp_default(&p.rtcp);
	}
	/* Replay protection stays on (window of 1024 packets). */
	p.window_size = 1024;
	p.ssrc.type = ssrc_any_inbound;
	p.key = k.remote;
	if (srtp_create(&s->srtp_in, &p) != srtp_err_status_ok)
		return -EIO;
	p.ssrc.type = ssrc_any_outbound;
	p.key = k.local;
	if (srtp_create(&s->srtp_out, &p) != srtp_err_status_ok)
		return -EIO;
	memset(&k, 0, sizeof(k));
	s->srtp_ready = true;
	return 0;
}

static void on_dtls(struct sb_msession *s, const uint8_t *buf, size_t len)
{
	/* After the handshake a data channel's SCTP comes as DTLS
	 * application data (RFC 8261); SRTP never does. */
	int r = s->dc && sb_dtls_done(s->dtls) ? sb__dc_input(s, buf, len)
					       : sb_dtls_input(s->dtls, buf, len);

	if (r == -EPIPE) {
		/* close_notify: the browser closed its peer connection; the
		 * hang-up comes through signalling (or consent expires). */
		sb_debug("session %llu: peer closed DTLS", (unsigned long long)s->id);
		s->srtp_ready = false;
		return;
	}
	if (r < 0) {
		atomic_fetch_add(&s->w->m->dtls_failed, 1);
		session_fail(s, r, sb_dtls_error(s->dtls));
		return;
	}
	arm_dtls_timer(s);
	if (r == 1) {
		if (srtp_setup(s) < 0) {
			session_fail(s, -EIO, "SRTP keys could not be installed");
			return;
		}
		s->connected = true;
		sb__remote_drop(s);
		atomic_fetch_add(&s->w->m->sessions_connected, 1);
		sb_info("session %llu connected (DTLS-SRTP, %s)", (unsigned long long)s->id,
			s->codec.name);
		sb__media_post(s, SB_EV_MEDIA_CONNECTED, 0, s->codec.name, NULL);
		sb__stats_start(s);
		sb__dc_start(s);
	}
}

void sb__webrtc_send(struct sb_msession *s, uint8_t *buf, int len)
{
	if (!s->srtp_ready)
		return;
	sb_rtcp_sender_note(&s->sent, buf, (size_t)len, s->codec.rate, (uint64_t)g_get_real_time());
	if (srtp_protect(s->srtp_out, buf, &len) != srtp_err_status_ok)
		return;
	sb__nice_io_send(s, buf, (size_t)len);
	s->pkts_out++;
	atomic_fetch_add_explicit(&s->w->m->rtp_out, 1, memory_order_relaxed);
}

static void on_rtp(struct sb_msession *s, uint8_t *buf, int len)
{
	struct sb_media *m = s->w->m;
	srtp_err_status_t e;
	struct sb_msession *peer;
	struct sb_rtp_hdr h;

	if (!s->srtp_ready) {
		/* Media before DTLS finished is plain RTP: never relayed. */
		atomic_fetch_add_explicit(&m->dropped_plain, 1, memory_order_relaxed);
		return;
	}
	if (len < 12)
		return;
	if ((buf[1] & 0x7f) >= 72 && (buf[1] & 0x7f) <= 95) {
		/* RTCP (RFC 5761 section 4): terminated here. */
		e = srtp_unprotect_rtcp(s->srtp_in, buf, &len);
		if (e == srtp_err_status_ok)
			atomic_fetch_add_explicit(&m->rtcp_in, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&m->dropped_auth, 1, memory_order_relaxed);
		return;
	}
	e = srtp_unprotect(s->srtp_in, buf, &len);
	if (e != srtp_err_status_ok) {
		if (e == srtp_err_status_replay_fail || e == srtp_err_status_replay_old)
			atomic_fetch_add_explicit(&m->dropped_replay, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&m->dropped_auth, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&m->rtp_in, 1, memory_order_relaxed);
	if (sb_rtp_parse(buf, (size_t)len, &h) < 0)
		return;
	sb__rx_count(s, buf, &h);
	if (s->kind == SB_MEDIA_ECHO) {
		if (s->local_hold) {
			/* held from our side: nothing echoed */
			atomic_fetch_add_explicit(&m->dropped_held, 1, memory_order_relaxed);
			return;
		}
		/* Our own SSRC toward this peer (RFC 3550 section 8). */
		sb_rtp_rewrite_apply(&s->rw, buf, &h, h.pt, (uint32_t)s->codec.rate / 50);
		sb__webrtc_send(s, buf, len);
		return;
	}
	/* A conference member has no partner: its branch costs the relay
	 * nothing. */
	peer = s->peer_s;
	if (peer)
		sb__relay(s, peer, buf, len, &h);
	else if (s->cm)
		sb__conf_input(s, buf, &h);
}

/* Creates the DTLS endpoint once the peer's fingerprint is known: when ICE
 * connects, or earlier when the peer's ClientHello arrives first (we are
 * the DTLS server and the browser already sees the path). */
static int dtls_begin(struct sb_msession *s)
{
	bool active = !s->ra || s->ra->setup != SB_SDP_SETUP_ACTIVE;

	if (s->dtls)
		return 0;
	if (!s->remote_fp[0])
		return -EAGAIN;
	s->dtls = sb_dtls_new(s->w->m->dtls, active, s->remote_fp, send_cb, s);
	if (s->dtls && s->dc)
		sb_dtls_app_data(s->dtls);
	if (!s->dtls || sb_dtls_start(s->dtls) < 0) {
		session_fail(s, -EPROTO, "DTLS could not start");
		return -EPROTO;
	}
	arm_dtls_timer(s);
	return 0;
}

void sb__msession_on_packet(struct sb_msession *s, uint8_t *buf, unsigned len)
{
	uint8_t first;

	if (len == 0 || len > MAX_PKT || s->failed)
		return;
	first = buf[0];
	/* RFC 7983 demultiplexing by the first byte. */
	if (first >= 20 && first <= 63) {
		if (dtls_begin(s) == 0)
			on_dtls(s, buf, len);
	} else if (first >= 128 && first <= 191) {
		on_rtp(s, buf, (int)len);
	}
}

/* With ICE-TCP: the agent's receive callback on the worker's context. */
static void recv_cb(NiceAgent *agent, guint stream, guint component, guint len, gchar *data,
		    gpointer ud)
{
	uint8_t buf[SB_MEDIA_MAX_PKT + SRTP_MAX_TRAILER_LEN];

	if (len == 0 || len > MAX_PKT)
		return;
	memcpy(buf, data, len);
	sb__msession_on_packet(ud, buf, len);
}

/* Our description with the agent's credentials and local candidates: the
 * first one (answer or offer), or the ICE restart offer. Posts it with
 * media.ready. */
/* [media] public_address (1:1 NAT, as in clouds and containers): for each
 * UDP host candidate, the same port at the public address, so that a
 * browser outside reaches the socket through the NAT. A host candidate of
 * its own (the address is one of ours, only translated), with a foundation
 * of its own and a lower priority than the private one. */
static gchar *public_candidate(const NiceCandidate *c, const char *pub, int n)
{
	if (c->type != NICE_CANDIDATE_TYPE_HOST || c->transport != NICE_CANDIDATE_TRANSPORT_UDP)
		return NULL;
	return g_strdup_printf("candidate:pub%d %u udp %u %s %u typ host", n, c->component_id,
			       c->priority > 1 ? c->priority - 1 : 1, pub,
			       nice_address_get_port(&c->addr));
}

static void describe_local(struct sb_msession *s, bool reoffer)
{
	const char *pub = s->w->m->cfg->media.public_address;
	GSList *cands = nice_agent_get_local_candidates(s->agent, s->stream, 1);
	const char *lines[SB_SDP_MAX_CANDS];
	gchar *owned[SB_SDP_MAX_CANDS];
	gchar *ufrag = NULL, *pwd = NULL;
	int n = 0, r;
	char *sdp = NULL;

	for (GSList *c = cands; c && n < SB_SDP_MAX_CANDS; c = c->next) {
		owned[n] = nice_agent_generate_local_candidate_sdp(s->agent, c->data);
		lines[n] = owned[n] + (strncmp(owned[n], "a=", 2) == 0 ? 2 : 0);
		n++;
		if (pub && *pub && n < SB_SDP_MAX_CANDS &&
		    (owned[n] = public_candidate(c->data, pub, n)) != NULL) {
			lines[n] = owned[n];
			n++;
		}
	}
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	nice_agent_get_local_credentials(s->agent, s->stream, &ufrag, &pwd);
	if (reoffer)
		r = sb__describe_reoffer(s, ufrag, pwd, lines, n, &sdp);
	else
		r = sb__describe_webrtc(s, ufrag, pwd, sb_dtls_ctx_fingerprint(s->w->m->dtls),
					lines, n, &sdp);
	for (int i = 0; i < n; i++)
		g_free(owned[i]);
	g_free(ufrag);
	g_free(pwd);
	if (r < 0) {
		session_fail(s, r, r == -ENOMEM ? "out of memory" : "no SDP answer possible");
		return;
	}
	s->ready_sent = true;
	sb__media_post(s, SB_EV_MEDIA_READY, 0, NULL, sdp);
}

static void gathering_done_cb(NiceAgent *agent, guint stream, gpointer ud)
{
	struct sb_msession *s = ud;

	if (!s->gathered) {
		s->gathered = true;
		describe_local(s, false);
	}
}

static void state_cb(NiceAgent *agent, guint stream, guint component, guint state, gpointer ud)
{
	struct sb_msession *s = ud;

	if (state == NICE_COMPONENT_STATE_FAILED) {
		session_fail(s, -EHOSTUNREACH, "ICE failed");
		return;
	}
	if (state == NICE_COMPONENT_STATE_READY)
		dtls_begin(s);
	if (state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY)
		sb__nice_io_direct_take(s);
}

/* libnice selected a pair: the first one, another one nominated by the
 * browser, or the one of an ICE restart's checks. Its socket is taken
 * (again) from libnice's reads. */
static void selected_pair_cb(NiceAgent *agent, guint stream, guint component, gchar *lfound,
			     gchar *rfound, gpointer ud)
{
	struct sb_msession *s = ud;

	sb__nice_io_direct_leave(s);
	s->dx.rechecking = false;
	sb__nice_io_direct_take(s);
}

static void add_remote_candidate(struct sb_msession *s, const char *cand)
{
	char line[300];
	GSList *list;

	NiceCandidate *c;

	snprintf(line, sizeof(line), "a=%s", cand);
	c = nice_agent_parse_remote_candidate_sdp(s->agent, s->stream, line);
	if (!c) {
		sb_debug("session %llu: unusable candidate '%s'", (unsigned long long)s->id, cand);
		return;
	}
	list = g_slist_append(NULL, c);
	nice_agent_set_remote_candidates(s->agent, s->stream, 1, list);
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
}

static void add_local_addresses(struct sb_msession *s, const struct sb_config_media *mc)
{
	GList *ips = NULL;
	NiceAddress a;

	if (mc->interfaces && mc->interfaces[0]) {
		for (size_t i = 0; mc->interfaces[i]; i++)
			ips = g_list_append(ips, g_strdup(mc->interfaces[i]));
	} else {
		ips = nice_interfaces_get_local_ips(FALSE);
	}
	if (mc->allow_loopback)
		ips = g_list_append(ips, g_strdup("127.0.0.1"));
	for (GList *l = ips; l; l = l->next) {
		nice_address_init(&a);
		if (nice_address_set_from_string(&a, l->data))
			nice_agent_add_local_address(s->agent, &a);
	}
	g_list_free_full(ips, g_free);
}

static int session_start(struct sb_msession *s, const char *remote_sdp)
{
	const struct sb_config_media *mc = &s->w->m->cfg->media;
	const struct sb_sdp_codec *c = NULL;
	struct sb_mcodec mine;
	NiceAgentOption opts = NICE_AGENT_OPTION_ICE_TRICKLE;
	char err[128] = "";

	if (!remote_sdp) {
		/* We offer (a call toward a browser): the other leg's codec, so
		 * the relay needs no transcoding; Opus when there is none yet
		 * or it is not one for browsers. */
		static const struct sb_sdp_codec opus = {.pt = 111,
							 .name = "opus",
							 .rate = 48000,
							 .channels = 2,
							 .fmtp = "minptime=10;useinbandfec=1"};
		s->offering = true;
		sb__mcodec_set(&mine, &opus);
		/* A G.722 leg is transcoded to Opus (sb__codec_webrtc). */
		if (sb__sibling_codec(s) && sb__codec_webrtc(sb__sibling_codec(s)->name))
			mine = *sb__sibling_codec(s);
	} else if (sb__remote_take(s, remote_sdp, err, sizeof(err)) < 0) {
		session_fail(s, -EBADMSG, err);
		return -EBADMSG;
	} else if (!s->ra->ice.ufrag || !s->ra->ice.pwd || !s->remote_fp[0]) {
		session_fail(s, -EBADMSG, "the offer lacks ICE credentials or a DTLS fingerprint");
		return -EBADMSG;
	} else if (!(c = sb__pick_codec(s->ra))) {
		session_fail(s, -ENOTSUP, "no codec in common (opus, PCMU, PCMA)");
		return -ENOTSUP;
	} else {
		sb__mcodec_set(&mine, c);
	}
	s->codec = mine;
	s->dtmf_pt = sb__dtmf_pt(s->ra, mine.rate);
	if (mc->ice_lite)
		opts |= NICE_AGENT_OPTION_LITE_MODE;
	/* Consent (RFC 7675) is ours once the worker reads the connected
	 * pair's socket (consent.c): libnice then sends only keepalive
	 * indications. With ICE-TCP the agent keeps its sockets, and libnice
	 * does consent as before. */
	if (mc->ice_tcp)
		opts |= NICE_AGENT_OPTION_CONSENT_FRESHNESS;
	s->agent = nice_agent_new_full(sb__nice_io_context(s), NICE_COMPATIBILITY_RFC5245, opts);
	if (!s->agent) {
		session_fail(s, -ENOMEM, "ICE agent");
		return -ENOMEM;
	}
	/* UPnP costs a thread and many descriptors per agent and delays
	 * gathering (DESIGN.md); a media server needs none of it. ICE-TCP
	 * adds a listening socket per session, only when configured. */
	/* The offerer controls ICE, and a lite agent never does (RFC 8445
	 * section 6.1.1). */
	g_object_set(s->agent, "controlling-mode", s->offering && !mc->ice_lite, "upnp", FALSE,
		     "ice-tcp", (gboolean)mc->ice_tcp, NULL);
	add_local_addresses(s, mc);
	s->stream = nice_agent_add_stream(s->agent, 1);
	nice_agent_set_port_range(s->agent, s->stream, 1, (guint)mc->rtp_port_min,
				  (guint)mc->rtp_port_max);
	g_signal_connect(s->agent, "candidate-gathering-done", G_CALLBACK(gathering_done_cb), s);
	g_signal_connect(s->agent, "component-state-changed", G_CALLBACK(state_cb), s);
	g_signal_connect(s->agent, "new-selected-pair", G_CALLBACK(selected_pair_cb), s);
	sb__nice_io_attach(s, recv_cb);
	if (!s->offering) {
		nice_agent_set_remote_credentials(s->agent, s->stream, s->ra->ice.ufrag,
						  s->ra->ice.pwd);
		sb__consent_remote_creds(s, s->ra->ice.ufrag, s->ra->ice.pwd);
	}
	if (!nice_agent_gather_candidates(s->agent, s->stream)) {
		session_fail(s, -EADDRNOTAVAIL, "no local address to gather candidates on");
		return -EADDRNOTAVAIL;
	}
	if (sb__nice_io_watch(s) < 0) { /* host sockets exist once gathering starts */
		session_fail(s, -EIO, "ICE sockets not watched");
		return -EIO;
	}
	for (int i = 0; s->ra && i < s->ra->n_candidates; i++)
		add_remote_candidate(s, s->ra->candidates[i]);
	return 0;
}

void sb__msession_create(struct sb_mworker *w, const struct sb_event *ev)
{
	struct sb_msession *s = calloc(1, sizeof(*s));

	if (!s)
		return;
	s->w = w;
	s->id = (uint64_t)ev->arg[0];
	s->kind = (enum sb_engine_media_kind)ev->arg[1];
	s->call = ev->call;
	s->leg = ev->leg;
	s->ssrc_out = g_random_int();
	s->rw.ssrc_out = s->ssrc_out;
	s->dtmf_pt = -1;
	s->pt_prev = -1;
	s->rtp_fd = s->rtcp_fd = -1;
	/* The engine's options for our offer (media.c, op_create). */
	s->srtp_mode = (enum sb_engine_srtp)ev->arg[2];
	s->has_prefs = ev->arg[3] != 0;
	snprintf(s->prefs, sizeof(s->prefs), "%s", ev->str);
	g_hash_table_replace(w->sessions, &s->id, s);
	atomic_fetch_add(&w->m->sessions_created, 1);
	SB_LOG_SCOPE(NULL, NULL, "media session starting");
	if (s->kind == SB_MEDIA_RTP || s->kind == SB_MEDIA_RTP_ECHO)
		sb__rtp_start(s, ev->text);
	else
		session_start(s, ev->text);
}

void sb__msession_candidate(struct sb_mworker *w, uint64_t id, const char *cand)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);

	if (!s || !s->agent || s->failed)
		return;
	if (!cand || !*cand) {
		nice_agent_peer_candidate_gathering_done(s->agent, s->stream);
		return;
	}
	if (strncmp(cand, "a=", 2) == 0)
		cand += 2;
	add_remote_candidate(s, cand);
}

/* Our offer had a data channel section: when the browser's answer
 * accepts it (RFC 8841), the session gets one (out of memory: the call
 * goes on without). */
static void dc_answered(struct sb_msession *s)
{
	for (int i = 0; s->current && i < s->remote->n_media && i < s->current->n_media; i++)
		if (s->remote->media[i]->port != 0 &&
		    sb_sdp_media_is_datachannel(s->current->media[i]) &&
		    sb_sdp_media_is_datachannel(s->remote->media[i])) {
			(void)sb__dc_negotiated(s, s->remote->media[i]);
			return;
		}
}

/* Checks the browser's answer (already s->remote) against our offer and
 * takes its codec's payload type. 0, or -errno with the session failed. */
static int answer_take(struct sb_msession *s, const char *sdp)
{
	const struct sb_sdp_codec *c;
	char err[160] = "";

	if (sb__remote_take(s, sdp, err, sizeof(err)) < 0 ||
	    sb__answer_check(s, err, sizeof(err)) < 0 || !s->ra->ice.ufrag || !s->ra->ice.pwd ||
	    !s->remote_fp[0]) {
		session_fail(s, -EBADMSG, err[0] ? err : "the answer lacks ICE or DTLS attributes");
		return -EBADMSG;
	}
	c = sb__pick_codec(s->ra);
	if (!c || strcasecmp(c->name, s->codec.name) != 0) {
		session_fail(s, -ENOTSUP, "the answer does not accept the offered codec");
		return -ENOTSUP;
	}
	s->codec.pt = c->pt; /* the answerer's payload type for it */
	s->dtmf_pt = sb__dtmf_pt(s->ra, s->codec.rate);
	dc_answered(s);
	return 0;
}

static void remote_ice_set(struct sb_msession *s)
{
	nice_agent_set_remote_credentials(s->agent, s->stream, s->ra->ice.ufrag, s->ra->ice.pwd);
	sb__consent_remote_creds(s, s->ra->ice.ufrag, s->ra->ice.pwd);
	for (int i = 0; i < s->ra->n_candidates; i++)
		add_remote_candidate(s, s->ra->candidates[i]);
}

/* The browser's answer to our first offer. */
static void webrtc_answer(struct sb_msession *s, const char *sdp)
{
	if (answer_take(s, sdp) == 0)
		remote_ice_set(s);
}

/* The browser's answer to our ICE restart offer: its new credentials and
 * candidates go to the agent. The DTLS association and the SRTP keys stay
 * (RFC 8842 section 5.5): a new fingerprint would need a new handshake,
 * which is not supported, so it fails the session. */
static void webrtc_restart_answer(struct sb_msession *s, const char *sdp)
{
	char fp[sizeof(s->remote_fp)];

	snprintf(fp, sizeof(fp), "%s", s->remote_fp);
	s->restarting = false;
	if (answer_take(s, sdp) < 0)
		return;
	if (strcasecmp(fp, s->remote_fp) != 0) {
		session_fail(s, -EPROTO, "the DTLS fingerprint changed in the ICE restart");
		return;
	}
	sb_info("session %llu: ICE restart answered", (unsigned long long)s->id);
	remote_ice_set(s);
	if (s->connected)
		sb__remote_drop(s);
}

/* RFC 8445 section 9: new local credentials on the same agent and stream.
 * libnice keeps the local candidates (gathered already) and the selected
 * pair, which carries media until the new checks nominate one; the offer
 * goes out with media.ready. */
void sb__msession_ice_restart(struct sb_mworker *w, uint64_t id)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);

	if (!s || s->failed)
		return;
	if (!s->agent || !s->ready_sent ||
	    (s->offering && !s->remote && !s->connected && !s->restarting)) {
		/* Not WebRTC, or its first exchange is not complete: the
		 * engine restarts only legs that are up. */
		sb_debug("session %llu: no ICE restart before the first exchange",
			 (unsigned long long)s->id);
		return;
	}
	/* libnice reads the selected socket again while the new checks run
	 * (they and their answers are its own); it is taken back once a pair
	 * is selected (selected_pair_cb). */
	sb__nice_io_direct_leave(s);
	s->dx.rechecking = true;
	s->dx.recheck_us = g_get_monotonic_time();
	if (!nice_agent_restart_stream(s->agent, s->stream)) {
		session_fail(s, -EIO, "ICE restart refused by the agent");
		return;
	}
	/* An offer still unanswered is replaced: the client never got it. */
	s->local = sb_sdp_free(s->local);
	s->restarting = true;
	atomic_fetch_add(&w->m->ice_restarts, 1);
	sb_info("session %llu: ICE restart", (unsigned long long)s->id);
	describe_local(s, true);
}

void sb__msession_update(struct sb_mworker *w, uint64_t id, const char *sdp)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);

	if (!s)
		return;
	if (s->kind == SB_MEDIA_RTP || s->kind == SB_MEDIA_RTP_ECHO)
		sb__rtp_update(s, sdp);
	else if (s->restarting && s->agent && !s->failed)
		webrtc_restart_answer(s, sdp);
	else if (s->offering && s->agent && !s->failed && !s->remote && !s->connected)
		webrtc_answer(s, sdp);
	/* Other re-offers are not handled yet (docs/media.md). */
}

/* The peer's new offer on a live session: RTP legs answer it
 * (rtp_reoffer.c); a browser's re-offer is not handled (docs/media.md), so
 * it is refused, which leaves the session as it is. */
void sb__msession_reoffer(struct sb_mworker *w, uint64_t id, int64_t seq, const char *sdp)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);
	struct sb_event ev = {.type = SB_EV_MEDIA_REANSWER, .arg = {(int64_t)id, -EOPNOTSUPP, seq}};

	if (s && (s->kind == SB_MEDIA_RTP || s->kind == SB_MEDIA_RTP_ECHO)) {
		sb__rtp_reoffer(s, seq, sdp);
		return;
	}
	if (!s)
		return; /* destroyed meanwhile: the engine no longer waits */
	ev.call = s->call;
	ev.leg = s->leg;
	snprintf(ev.str, sizeof(ev.str), "re-offers on a WebRTC session are not handled");
	sb_bus_post(w->m->control, &ev);
}

void sb__msession_reoffer_done(struct sb_mworker *w, uint64_t id, int64_t seq, bool sent)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);

	if (s && (s->kind == SB_MEDIA_RTP || s->kind == SB_MEDIA_RTP_ECHO))
		sb__rtp_reoffer_done(s, seq, sent);
}

static bool is_rtp(const struct sb_msession *s)
{
	return s->kind == SB_MEDIA_RTP || s->kind == SB_MEDIA_RTP_ECHO;
}

/* Our hold on or off. After a hold both streams that paused (toward the
 * party, and toward the session bridged to it, which got nothing from
 * it) go on with the next sequence number (RFC 3550 section 5.1: it
 * counts packets sent), their timestamps keeping their clock. */
static void hold_set(struct sb_msession *s, bool hold)
{
	if (s->local_hold && !hold) {
		s->rw.resync = true;
		if (s->peer_s)
			s->peer_s->rw.resync = true;
		sb__moh_stop(s);
	} else if (!s->local_hold && hold) {
		sb__moh_start(s);
	}
	s->local_hold = hold;
}

void sb__msession_hold(struct sb_mworker *w, uint64_t id, int64_t seq, bool hold)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);
	struct sb_event gone = {.type = SB_EV_MEDIA_OFFER, .arg = {(int64_t)id, -ENOENT, seq}};
	const char *dir = hold ? "sendonly" : "sendrecv", *why;
	char *text = NULL;
	int r = 0;

	if (!s) {
		/* Never created (out of memory) or already destroyed: the
		 * engine is told, without a call to name. */
		snprintf(gone.str, sizeof(gone.str), "no such session");
		sb_bus_post(w->m->control, &gone);
		return;
	}
	if (s->failed || !s->current)
		r = -EAGAIN;
	else if (s->offer_out)
		r = -EBUSY;
	else if (is_rtp(s))
		r = sb__rtp_hold_offer(s, hold, &text, &dir);
	if (r < 0) {
		why = r == -EAGAIN  ? "no completed exchange yet"
		      : r == -EBUSY ? "an offer of ours is outstanding"
				    : "out of memory";
		sb_info("session %llu: no %s: %s", (unsigned long long)s->id,
			hold ? "hold" : "resume", why);
		sb__media_post_seq(s, SB_EV_MEDIA_OFFER, r, seq, why, NULL);
		return;
	}
	/* Only an RTP session's offer goes out and waits for offer_done; a
	 * browser's or an echo's hold is done here (nothing to signal). */
	s->offer_out = is_rtp(s);
	s->offer_seq = seq;
	s->hold_undo = s->local_hold;
	hold_set(s, hold);
	sb_info("session %llu: %s from our side (%s)", (unsigned long long)s->id,
		hold ? "held" : "resumed", dir);
	sb__media_post_seq(s, SB_EV_MEDIA_OFFER, 0, seq, dir, text);
}

void sb__msession_offer_done(struct sb_mworker *w, uint64_t id, int64_t seq, const char *answer)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);

	if (!s || !s->offer_out || s->offer_seq != seq) {
		sb_debug("session %llu: no offer %lld of ours out", (unsigned long long)id,
			 (long long)seq);
		return;
	}
	s->offer_out = false;
	if (!answer) {
		/* RFC 3264 section 8: a new offer that fails leaves the
		 * session as it was. */
		sb_info("session %llu: our offer failed: %s undone", (unsigned long long)s->id,
			s->local_hold ? "hold" : "resume");
		hold_set(s, s->hold_undo);
		s->offer_kept = sb_sdp_free(s->offer_kept);
		return;
	}
	sb__rtp_offer_done(s, answer);
}

void sb__msession_point(struct sb_msession *s, struct sb_msession *to)
{
	if (s->peer_s)
		s->peer_s->peer_refs--;
	s->peer_s = to;
	if (to)
		to->peer_refs++;
}

void sb__msession_destroy(struct sb_mworker *w, uint64_t id)
{
	struct sb_msession *doomed = g_hash_table_lookup(w->sessions, &id);
	GHashTableIter it;
	gpointer v;

	if (!doomed)
		return;
	sb__msession_point(doomed, NULL);
	/* Usually only its bridge partner points at it; a session bridged
	 * anew leaves its old partner pointing at it too. */
	if (doomed->peer_refs) {
		g_hash_table_iter_init(&it, w->sessions);
		while (g_hash_table_iter_next(&it, NULL, &v))
			if (((struct sb_msession *)v)->peer_s == doomed)
				sb__msession_point(v, NULL);
	}
	g_hash_table_remove(w->sessions, &id);
}

void sb__msession_free(gpointer p)
{
	struct sb_msession *s = p;

	/* Its ABORT goes out through DTLS and ICE, which are still there. */
	sb__dc_free(s);
	if (s->dtls_timer) {
		GSource *src = g_main_context_find_source_by_id(s->w->ctx, s->dtls_timer);
		if (src)
			g_source_destroy(src);
	}
	if (s->agent) {
		sb__nice_io_detach(s);
		nice_agent_attach_recv(s->agent, s->stream, 1, s->w->ctx, NULL, NULL);
		g_signal_handlers_disconnect_by_data(s->agent, s);
		g_object_unref(s->agent);
	}
	sb__moh_stop(s);
	sb__conf_leave(s);
	sb__nice_io_free(s);
	sb__rtp_free(s);
	sb_sdp_free(s->remote);
	sb_sdp_free(s->local);
	sb_sdp_free(s->current);
	sb_sdp_free(s->offer_kept);
	sb_dtls_free(s->dtls);
	if (s->srtp_in)
		srtp_dealloc(s->srtp_in);
	if (s->srtp_out)
		srtp_dealloc(s->srtp_out);
	free(s);
}
