/* Helpers of the media integration tests: the real media component (two
 * workers, a private port range, symmetric RTP, loopback allowed) started
 * and stopped around each test, the media.* events it posts (kept in
 * order), and UDP sockets on 127.0.0.1 as SIP phones. Test thread only. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/events.h"
#include "bus/bus.h"
#include "media/media.h"
#include "media/rtp.h"

#define LEGS_MAX_EVENTS 64

extern GMainContext *legs_ctx; /* the control loop: run by wait_event */
extern struct sb_media *media;
extern struct sb_config *cfg;
extern struct sb_event legs_events[LEGS_MAX_EVENTS];
extern int legs_n_events;

/* Criterion init and fini of a suite. */
void legs_setup(void);
void legs_teardown(void);
/* Runs the control loop until an event of type for session id arrives
 * (the first such one kept); NULL after ms. */
const struct sb_event *wait_event(enum sb_event_type type, uint64_t id, int ms);
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
