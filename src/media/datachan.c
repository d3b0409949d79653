/* WebRTC data channels for chat: SCTP (usrsctp, AF_CONN) over the
 * session's DTLS (RFC 8261, 8841), DCEP (RFC 8832) and text messages
 * (RFC 8831 section 6.6). Worker thread of each session; usrsctp's state is
 * per process, so every call into it holds one process lock, and usrsctp
 * runs without threads of its own: the workers drive its timers. Owns
 * s->dc and its SCTP socket. */
#define SB_LOG_COMP SB_COMP_MEDIA

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <usrsctp.h>

#include "log/log.h"
#include "media/media_internal.h"

#define DC_CHANS   8	/* channels a session keeps; more opens are ignored */
#define DC_QUEUE   8	/* chat messages waiting for a channel */
#define DC_TICK_MS 10	/* the timer tick (usrsctp's own thread ticks as often) */
#define DC_MTU	   1150 /* SCTP packets fit a 1200-byte datagram with DTLS */

/* RFC 8831 section 8: payload protocol identifiers. */
enum {
	PPID_DCEP = 50,
	PPID_STRING = 51,
	PPID_BINARY = 53,
	PPID_STRING_EMPTY = 56,
	PPID_BINARY_EMPTY = 57,
};

/* RFC 8832 section 8.2.1: message types. */
enum {
	DCEP_ACK = 0x02,
	DCEP_OPEN = 0x03,
};

struct sb_dc_chan {
	uint16_t sid;
	char label[64];
};

struct sb_dc {
	struct socket *sock; /* NULL until DTLS is up */
	unsigned peer_port;  /* the peer's a=sctp-port */
	bool up;	     /* the association is established */
	bool discard;	     /* the message being read is too long: to its end */
	struct sb_dc_chan chans[DC_CHANS];
	int n_chans;
	char *queue[DC_QUEUE]; /* chat waiting for a channel, oldest first */
	int n_queue;
	uint8_t rx[SB_CHAT_MAX]; /* the message being read */
	size_t rx_len;
};

/* usrsctp keeps one stack per process: this is its state, the one
 * exception to a component's context struct (tests make several media
 * components, each taking a reference). THREAD: any, under dc_lock. */
static GMutex dc_lock;
static unsigned dc_refs;
static int64_t dc_last_us; /* monotonic: the timers last advanced */

/* A packet usrsctp made on a thread that does not own its session: it
 * goes to the session's worker (any thread -> that worker). */
struct dc_pkt {
	struct sb_mworker *w;
	uint64_t id;
	size_t len;
	uint8_t data[];
};

static gboolean pkt_send_cb(gpointer ud)
{
	struct dc_pkt *p = ud;
	struct sb_msession *s = g_hash_table_lookup(p->w->sessions, &p->id);

	if (s && s->dtls && !s->failed)
		sb_dtls_send(s->dtls, p->data, p->len);
	return G_SOURCE_REMOVE;
}

/* usrsctp's output (AF_CONN): any thread that holds dc_lock. On the
 * session's worker (a send, an input) the packet goes out at once;
 * otherwise (a timer run by another worker) it is posted to the worker,
 * as DTLS and ICE are the worker's only. The session is alive: it closes
 * its socket under dc_lock before it goes. */
static int conn_output_cb(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df)
{
	struct sb_msession *s = addr;
	struct dc_pkt *p;

	if (g_main_context_is_owner(s->w->ctx)) {
		if (s->dtls && !s->failed)
			sb_dtls_send(s->dtls, buf, len);
		return 0;
	}
	if (!(p = malloc(sizeof(*p) + len)))
		return ENOMEM;
	p->w = s->w;
	p->id = s->id;
	p->len = len;
	memcpy(p->data, buf, len);
	g_main_context_invoke_full(s->w->ctx, G_PRIORITY_DEFAULT, pkt_send_cb, p, free);
	return 0;
}

/* Takes m's reference on usrsctp's state, starting it (without threads)
 * for the first one. Worker thread, under dc_lock. */
static void dc_ref(struct sb_media *m)
{
	if (atomic_exchange(&m->dc_ref, true))
		return;
	if (dc_refs++ == 0) {
		usrsctp_init_nothreads(0, conn_output_cb, NULL);
		/* No ECN over DTLS (the packets are not IP); the peer may
		 * open many streams. */
		usrsctp_sysctl_set_sctp_ecn_enable(0);
		usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(1024);
		dc_last_us = g_get_monotonic_time();
	}
}

void sb__dc_release(struct sb_media *m)
{
	if (!atomic_exchange(&m->dc_ref, false))
		return;
	g_mutex_lock(&dc_lock);
	if (--dc_refs == 0) {
		/* Closed endpoints are freed by a timer of usrsctp's
		 * (SCTP_INP_KILL_TIMEOUT): run them until it lets go. */
		for (int i = 0; i < 100 && usrsctp_finish() != 0; i++)
			usrsctp_handle_timers(100);
	}
	g_mutex_unlock(&dc_lock);
}

static gboolean dc_tick_cb(gpointer ud)
{
	int64_t now = g_get_monotonic_time();
	uint32_t elapsed;

	/* Whichever worker ticks advances the process's timers by the time
	 * since the last tick of any. */
	g_mutex_lock(&dc_lock);
	elapsed = (uint32_t)((now - dc_last_us) / 1000);
	if (elapsed > 0) {
		dc_last_us += (int64_t)elapsed * 1000;
		usrsctp_handle_timers(elapsed);
	}
	g_mutex_unlock(&dc_lock);
	return G_SOURCE_CONTINUE;
}

int sb__dc_negotiated(struct sb_msession *s, const struct sb_sdp_media *peer)
{
	if (!s->dc && !(s->dc = calloc(1, sizeof(*s->dc))))
		return -ENOMEM;
	s->dc->peer_port = peer && peer->sctp_port ? peer->sctp_port : SB_DC_SCTP_PORT;
	return 0;
}

/* Socket options of our end: non-blocking, no Nagle, the receive info of
 * each message, stream reset (RFC 8831 section 6.7), 1024 streams, a path
 * MTU that fits DTLS, an ABORT at close, and the events we read. */
static int sock_setup(struct socket *so)
{
	static const uint16_t events[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct sctp_assoc_value av = {.assoc_id = SCTP_FUTURE_ASSOC,
				      .assoc_value = SCTP_ENABLE_RESET_STREAM_REQ};
	struct sctp_initmsg init = {.sinit_num_ostreams = 1024, .sinit_max_instreams = 1024};
	struct sctp_paddrparams pp = {.spp_flags = SPP_PMTUD_DISABLE, .spp_pathmtu = DC_MTU};
	const int on = 1;
	int r = 0;

	r |= usrsctp_set_non_blocking(so, 1);
	r |= usrsctp_setsockopt(so, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	r |= usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on));
	r |= usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on));
	r |= usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof(av));
	r |= usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof(init));
	r |= usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp));
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		struct sctp_event ev = {
			.se_assoc_id = SCTP_FUTURE_ASSOC, .se_type = events[i], .se_on = 1};
		r |= usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev));
	}
	return r ? -errno : 0;
}

static int dc_connect(struct sb_msession *s)
{
	struct sockaddr_conn a = {
		.sconn_family = AF_CONN, .sconn_port = htons(SB_DC_SCTP_PORT), .sconn_addr = s};
	struct socket *so = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	int r;

	if (!so)
		return -errno;
	s->dc->sock = so;
	usrsctp_register_address(s);
	if ((r = sock_setup(so)) < 0)
		return r;
	if (usrsctp_bind(so, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	/* RFC 8841 section 9.3: both ends connect, to the other's port. */
	a.sconn_port = htons((uint16_t)s->dc->peer_port);
	if (usrsctp_connect(so, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
		return -errno;
	return 0;
}

int sb__dc_start(struct sb_msession *s)
{
	struct sb_mworker *w = s->w;
	int r;

	if (!s->dc || s->dc->sock)
		return 0;
	g_mutex_lock(&dc_lock);
	dc_ref(w->m);
	r = dc_connect(s);
	g_mutex_unlock(&dc_lock);
	if (s->dc->sock && w->dc_n++ == 0) {
		w->dc_src = g_timeout_source_new(DC_TICK_MS);
		g_source_set_callback(w->dc_src, dc_tick_cb, w, NULL);
		g_source_attach(w->dc_src, w->ctx);
	}
	if (r < 0)
		sb_warn("session %llu: no data channel: SCTP %s", (unsigned long long)s->id,
			g_strerror(-r));
	return r;
}

/* Sends one message on stream sid. Under dc_lock. */
static int dc_send(struct sb_dc *dc, uint16_t sid, uint32_t ppid, const void *data, size_t len)
{
	struct sctp_sndinfo si = {.snd_sid = sid, .snd_ppid = htonl(ppid)};

	if (usrsctp_sendv(dc->sock, data, len, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0) < 0)
		return -errno;
	return 0;
}

/* Sends what waits for a channel on the first one. Under dc_lock. */
static void queue_flush(struct sb_msession *s)
{
	struct sb_dc *dc = s->dc;
	struct sb_media *m = s->w->m;

	for (int i = 0; i < dc->n_queue; i++) {
		if (dc_send(dc, dc->chans[0].sid, PPID_STRING, dc->queue[i], strlen(dc->queue[i])) <
		    0)
			atomic_fetch_add(&m->chat_dropped, 1);
		else
			atomic_fetch_add(&m->chat_out, 1);
		free(dc->queue[i]);
	}
	dc->n_queue = 0;
}

static struct sb_dc_chan *chan_of(struct sb_dc *dc, uint16_t sid)
{
	for (int i = 0; i < dc->n_chans; i++)
		if (dc->chans[i].sid == sid)
			return &dc->chans[i];
	return NULL;
}

/* RFC 8832 section 5.1: DATA_CHANNEL_OPEN (type, channel type, priority,
 * reliability, label and protocol lengths, label, protocol). */
static int dcep_parse(const uint8_t *b, size_t len, struct sb_dc_msg *ret)
{
	size_t label_len, proto_len;

	if (len < 12)
		return -EBADMSG;
	label_len = (size_t)b[8] << 8 | b[9];
	proto_len = (size_t)b[10] << 8 | b[11];
	if (12 + label_len + proto_len > len)
		return -EBADMSG;
	ret->kind = SB_DC_MSG_OPEN;
	ret->data = b + 12;
	ret->len = label_len;
	return 0;
}

int sb__dc_msg_parse(uint32_t ppid, const uint8_t *b, size_t len, struct sb_dc_msg *ret)
{
	if (ppid == PPID_DCEP)
		return len > 0 && b[0] == DCEP_OPEN ? dcep_parse(b, len, ret) : -ENOMSG;
	/* RFC 8831 section 6.6: the empty ones carry one byte, not read. */
	if (ppid == PPID_STRING_EMPTY || ppid == PPID_BINARY_EMPTY)
		len = 0;
	else if (ppid != PPID_STRING && ppid != PPID_BINARY)
		return -ENOMSG;
	if (len > SB_CHAT_MAX)
		return -EMSGSIZE;
	/* Strings, and binary that is UTF-8, are chat. g_utf8_validate with
	 * a length refuses NUL bytes: the text can be a C string. */
	if (!g_utf8_validate((const char *)b, (gssize)len, NULL))
		return -EILSEQ;
	ret->kind = SB_DC_MSG_TEXT;
	ret->data = b;
	ret->len = len;
	return 0;
}

/* An open (RFC 8832 section 5.1) answered with DATA_CHANNEL_ACK on the
 * same stream. Under dc_lock. */
static void dcep_open(struct sb_msession *s, uint16_t sid, const struct sb_dc_msg *msg)
{
	struct sb_dc *dc = s->dc;
	struct sb_dc_chan *c = chan_of(dc, sid);
	const uint8_t ack = DCEP_ACK;

	if (!c && dc->n_chans < DC_CHANS)
		c = &dc->chans[dc->n_chans++];
	if (!c) {
		sb_debug("session %llu: channel on stream %u ignored: %d open",
			 (unsigned long long)s->id, sid, DC_CHANS);
		return;
	}
	c->sid = sid;
	snprintf(c->label, sizeof(c->label), "%.*s", (int)msg->len, (const char *)msg->data);
	dc_send(dc, sid, PPID_DCEP, &ack, 1);
	sb_info("session %llu: data channel '%s' open (stream %u)", (unsigned long long)s->id,
		c->label, sid);
	queue_flush(s);
}

/* A whole message: opens answered, chat on an open channel posted as
 * MEDIA_CHAT. Under dc_lock. */
static void on_message(struct sb_msession *s, uint16_t sid, uint32_t ppid, const uint8_t *b,
		       size_t len)
{
	struct sb_media *m = s->w->m;
	struct sb_dc_msg msg;
	char *text;
	int r = sb__dc_msg_parse(ppid, b, len, &msg);

	if (r == -ENOMSG || r == -EBADMSG)
		return;
	if (r == 0 && msg.kind == SB_DC_MSG_OPEN) {
		dcep_open(s, sid, &msg);
		return;
	}
	if (r < 0 || !chan_of(s->dc, sid)) {
		atomic_fetch_add(&m->chat_dropped, 1);
		return;
	}
	if (!(text = malloc(msg.len + 1)))
		return;
	memcpy(text, msg.data, msg.len);
	text[msg.len] = '\0';
	atomic_fetch_add(&m->chat_in, 1);
	sb__media_post(s, SB_EV_MEDIA_CHAT, 0, NULL, text);
}

/* RFC 8831 section 6.7: the peer reset its outgoing stream sid (it
 * closed the channel); ours is reset too, which closes it on its side.
 * Under dc_lock. */
static void reset_outgoing(struct sb_dc *dc, uint16_t sid)
{
	union {
		struct sctp_reset_streams rs;
		uint8_t b[sizeof(struct sctp_reset_streams) + sizeof(uint16_t)];
	} u;

	memset(&u, 0, sizeof(u));
	u.rs.srs_flags = SCTP_STREAM_RESET_OUTGOING;
	u.rs.srs_number_streams = 1;
	u.rs.srs_stream_list[0] = sid;
	(void)usrsctp_setsockopt(dc->sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, &u.rs,
				 (socklen_t)(sizeof(u.rs) + sizeof(uint16_t)));
}

/* Under dc_lock. */
static void on_notification(struct sb_msession *s, const union sctp_notification *n, size_t len)
{
	struct sb_dc *dc = s->dc;

	if (len < sizeof(n->sn_header))
		return;
	if (n->sn_header.sn_type == SCTP_ASSOC_CHANGE && len >= sizeof(n->sn_assoc_change)) {
		dc->up = n->sn_assoc_change.sac_state == SCTP_COMM_UP ||
			 n->sn_assoc_change.sac_state == SCTP_RESTART;
		if (!dc->up)
			dc->n_chans = 0;
		sb_debug("session %llu: SCTP association %s", (unsigned long long)s->id,
			 dc->up ? "up" : "down");
	} else if (n->sn_header.sn_type == SCTP_STREAM_RESET_EVENT &&
		   len >= sizeof(n->sn_strreset_event) &&
		   (n->sn_strreset_event.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) {
		/* RFC 8831 section 6.7: the peer closed these channels. */
		const struct sctp_stream_reset_event *e = &n->sn_strreset_event;
		size_t k = (len - sizeof(*e)) / sizeof(e->strreset_stream_list[0]);

		for (size_t i = 0; i < k; i++) {
			struct sb_dc_chan *c = chan_of(dc, e->strreset_stream_list[i]);
			if (c) {
				reset_outgoing(dc, c->sid);
				*c = dc->chans[--dc->n_chans];
			}
		}
	}
}

/* Reads what the socket holds: whole messages to on_message, the parts of
 * one too long dropped (counted once). Under dc_lock. */
static void dc_drain(struct sb_msession *s)
{
	struct sb_dc *dc = s->dc;
	uint8_t buf[2048];
	struct sctp_rcvinfo ri;
	struct sockaddr_conn from;
	socklen_t fl, il;
	unsigned int it;
	int flags;
	ssize_t n;

	for (;;) {
		fl = sizeof(from);
		il = sizeof(ri);
		it = 0;
		flags = 0;
		memset(&ri, 0, sizeof(ri));
		n = usrsctp_recvv(dc->sock, buf, sizeof(buf), (struct sockaddr *)&from, &fl, &ri,
				  &il, &it, &flags);
		if (n <= 0)
			return;
		if (flags & MSG_NOTIFICATION) {
			on_notification(s, (const union sctp_notification *)buf, (size_t)n);
			continue;
		}
		if (!dc->discard && dc->rx_len + (size_t)n <= sizeof(dc->rx)) {
			memcpy(dc->rx + dc->rx_len, buf, (size_t)n);
			dc->rx_len += (size_t)n;
		} else if (!dc->discard) {
			dc->discard = true;
			atomic_fetch_add(&s->w->m->chat_dropped, 1);
		}
		if (!(flags & MSG_EOR))
			continue;
		if (!dc->discard && it == SCTP_RECVV_RCVINFO)
			on_message(s, ri.rcv_sid, ntohl(ri.rcv_ppid), dc->rx, dc->rx_len);
		dc->rx_len = 0;
		dc->discard = false;
	}
}

static void app_cb(const uint8_t *data, size_t len, void *ud)
{
	struct sb_msession *s = ud;

	usrsctp_conninput(s, data, len, 0);
}

int sb__dc_input(struct sb_msession *s, const uint8_t *buf, size_t len)
{
	int r;

	if (!s->dc->sock)
		return sb_dtls_input(s->dtls, buf, len);
	g_mutex_lock(&dc_lock);
	r = sb_dtls_recv(s->dtls, buf, len, app_cb, s);
	dc_drain(s);
	g_mutex_unlock(&dc_lock);
	return r;
}

void sb__dc_chat(struct sb_mworker *w, uint64_t id, const char *text)
{
	struct sb_msession *s = g_hash_table_lookup(w->sessions, &id);
	struct sb_media *m = w->m;
	size_t len = text ? strlen(text) : 0;
	int r = -EAGAIN;

	if (!s || !s->dc || len > SB_CHAT_MAX) {
		atomic_fetch_add(&m->chat_dropped, 1);
		return;
	}
	if (s->dc->sock && s->dc->n_chans > 0) {
		g_mutex_lock(&dc_lock);
		/* RFC 8831 section 6.6: an empty string goes as PPID 56. */
		r = dc_send(s->dc, s->dc->chans[0].sid, len ? PPID_STRING : PPID_STRING_EMPTY,
			    len ? text : "", len ? len : 1);
		g_mutex_unlock(&dc_lock);
		atomic_fetch_add(r < 0 ? &m->chat_dropped : &m->chat_out, 1);
		return;
	}
	if (s->dc->n_queue >= DC_QUEUE || !(s->dc->queue[s->dc->n_queue] = strdup(text))) {
		atomic_fetch_add(&m->chat_dropped, 1);
		return;
	}
	s->dc->n_queue++;
}

void sb__dc_free(struct sb_msession *s)
{
	struct sb_dc *dc = s->dc;
	struct sb_mworker *w = s->w;

	if (!dc)
		return;
	if (dc->sock) {
		g_mutex_lock(&dc_lock);
		usrsctp_close(dc->sock);
		usrsctp_deregister_address(s);
		g_mutex_unlock(&dc_lock);
		if (--w->dc_n == 0 && w->dc_src) {
			g_source_destroy(w->dc_src);
			g_source_unref(w->dc_src);
			w->dc_src = NULL;
		}
	}
	for (int i = 0; i < dc->n_queue; i++)
		free(dc->queue[i]);
	free(dc);
	s->dc = NULL;
}
