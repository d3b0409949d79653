/* Helpers of the media integration tests: the real media component (two
 * workers, a private port range, symmetric RTP, loopback allowed) started
 * and stopped around each test, the media.* events it posts (kept in
 * order), and UDP sockets on 127.0.0.1 as SIP phones. Test thread only. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/events.h"
#include "bus/bus.h"
#include "media/media.h"
#include "media/rtp.h"

#define LEGS_MAX_EVENTS 128

extern GMainContext *legs_ctx; /* the control loop: run by wait_event */
extern struct sb_media *media;
extern struct sb_config *cfg;
extern struct sb_event legs_events[LEGS_MAX_EVENTS];
extern int legs_n_events;
/* [media] hold_music of the next legs_setup; NULL: silence, so that the
 * relay's tests see nothing reach a party held from our side (a suite
 * that wants music sets it in its own init). */
extern const char *legs_hold_music;

/* Criterion init and fini of a suite. */
void legs_setup(void);
void legs_teardown(void);
/* Runs the control loop until an event of type for session id arrives
 * (the first such one kept); NULL after ms. */
const struct sb_event *wait_event(enum sb_event_type type, uint64_t id, int ms);
/* As wait_event, for the answer to a numbered command: arg2 seq
 * (media.reanswer, media.offer). */
const struct sb_event *wait_seq(enum sb_event_type type, uint64_t id, uint64_t seq, int ms);
/* A UDP socket bound to 127.0.0.1 on a port of the kernel's (*port). */
int udp_peer(int *port);
/* An RTP/AVP offer at 127.0.0.1:port with formats m_fmt and attribute
 * lines attrs (CRLF ended); g_free it. */
char *sdp_of(int port, const char *m_fmt, const char *attrs);
/* The m=audio port of a description. */
int port_of(const char *sdp);
void send_rtp(int fd, int to_port, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
	      const char *payload);
/* Receives one RTP packet within ms; returns its length (0: none). */
size_t recv_rtp(int fd, uint8_t *buf, size_t cap, int ms);
uint32_t be32(const uint8_t *p);

/* Gives session id the new offer sdp (freed here) as offer seq and returns
 * its media.reanswer. */
const struct sb_event *reoffer(uint64_t id, uint64_t seq, char *sdp);
/* The offer is refused with err, without an answer. */
void refused(uint64_t id, uint64_t seq, char *sdp, int err);
/* Tells session id what SIP did with its answer to offer seq (sent: the
 * 200 went out), and waits until the worker has taken it (barrier). */
void done(uint64_t id, uint64_t seq, bool sent);
/* Returns once the worker has run every command given before for session
 * id: a text that is not SDP, given as offer seq, is refused after them
 * (the worker's commands are in order) and changes nothing. */
void barrier(uint64_t id, uint64_t seq);
/* An offer answered with an answer containing want, not applied until SIP
 * has sent it; the answer. */
const char *answered(uint64_t id, uint64_t seq, char *sdp, const char *want);
/* An offer answered, and the answer sent by SIP: the leg now has it. */
const char *accepted(uint64_t id, uint64_t seq, char *sdp, const char *want);
/* Two answering RTP legs of one call (offers freed here), bridged: ia at
 * leg 1, ib at leg 2; their ports. */
void bridged(uint64_t call, uint64_t ia, uint64_t ib, char *offer_a, char *offer_b, int *gw_a,
	     int *gw_b);
/* Expects payload at fd under payload type pt (-1: nothing comes within
 * 200 ms). */
void expect_at(int fd, int pt, const char *payload);
