/* The event catalogue: every event type, its name, priority and payload.
 * Any thread. Adding an event is adding one line to SB_EVENT_CATALOGUE.
 *
 * Payload convention: every event carries the generic fields of struct
 * sb_event (arg[0..3], str, text); the last column says what they mean for
 * that type, and docs/architecture.md lists the catalogue. */
#pragma once

#include <stdint.h>

enum sb_prio {
	SB_PRIO_CRITICAL, /* setup, teardown, failure recovery, auth: never dropped */
	SB_PRIO_HIGH,	  /* mid-call changes: hold, transfer, media updates, DTMF */
	SB_PRIO_NORMAL,	  /* progress, registration, messages */
	SB_PRIO_LOW,	  /* statistics, metrics, health: coalesced or dropped first */
	_SB_PRIO_MAX,
	_SB_PRIO_INVALID = -22,
};

/* X(ID, "name", PRIORITY, "payload") */
#define SB_EVENT_CATALOGUE(X)                                                                      \
	/* lifecycle and tests */                                                                  \
	X(SYS_COMPONENT_READY, "sys.component_ready", CRITICAL, "str=component")                   \
	X(SYS_DRAIN, "sys.drain", CRITICAL, "arg0=deadline ms")                                    \
	X(SYS_SHUTDOWN, "sys.shutdown", CRITICAL, "")                                              \
	X(SYS_CONFIG_RELOADED, "sys.config_reloaded", CRITICAL, "")                                \
	X(SYS_TICK, "sys.tick", NORMAL, "arg0=sequence")                                           \
	X(TEST_CRITICAL, "test.critical", CRITICAL, "arg0=producer arg1=sequence arg2=time us")    \
	X(TEST_HIGH, "test.high", HIGH, "arg0=producer arg1=sequence arg2=time us")                \
	X(TEST_NORMAL, "test.normal", NORMAL, "arg0=producer arg1=sequence arg2=time us")          \
	X(TEST_LOW, "test.low", LOW, "arg0=producer arg1=sequence arg2=time us")                   \
	/* signaling (browser side) */                                                             \
	X(WS_CONNECTED, "ws.connected", NORMAL, "arg0=connection id str=session text=user")        \
	X(WS_DISCONNECTED, "ws.disconnected", CRITICAL,                                            \
	  "arg0=connection id arg1=resumable str=session")                                         \
	X(WS_RESUMED, "ws.resumed", CRITICAL, "arg0=connection id str=session text=user")          \
	X(WS_SESSION_ENDED, "ws.session_ended", CRITICAL, "str=session")                           \
	X(WS_CALL_DIAL, "ws.call_dial", CRITICAL, "arg0=conn arg1=request str=session text=json")  \
	X(WS_CALL_ANSWER, "ws.call_answer", CRITICAL,                                              \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_CALL_HANGUP, "ws.call_hangup", CRITICAL,                                              \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_CALL_DTMF, "ws.call_dtmf", HIGH, "arg0=conn arg1=request str=session text=json")      \
	X(WS_CALL_HOLD, "ws.call_hold", HIGH, "arg0=conn arg1=request str=session text=json")      \
	X(WS_CALL_MUTE, "ws.call_mute", HIGH, "arg0=conn arg1=request str=session text=json")      \
	X(WS_PRESENCE_SET, "ws.presence_set", HIGH,                                                \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_CALL_TRANSFER, "ws.call_transfer", HIGH,                                              \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_CALL_CONSULT, "ws.call_consult", HIGH,                                                \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_CALL_CONSULT_END, "ws.call_consult_end", HIGH,                                        \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_ICE_CANDIDATE, "ws.ice_candidate", HIGH,                                              \
	  "arg0=conn arg1=request str=session text=json")                                          \
	X(WS_REPLY, "ws.reply", CRITICAL, "arg0=conn arg1=request text=result or error json")      \
	X(WS_EVENT, "ws.event", CRITICAL, "str=session text=event json {event, data}")             \
	/* SIP */                                                                                  \
	X(SIP_INVITE, "sip.invite", CRITICAL,                                                      \
	  "arg0=handle str=destination text=json {from, user, trunk, display_name, sdp}")          \
	X(SIP_PROGRESS, "sip.progress", NORMAL, "arg0=status text=early sdp")                      \
	X(SIP_ANSWERED, "sip.answered", CRITICAL, "arg0=status text=sdp")                          \
	X(SIP_FAILED, "sip.failed", CRITICAL, "arg0=status str=reason")                            \
	X(SIP_BYE, "sip.bye", CRITICAL, "str=reason")                                              \
	X(SIP_CANCEL, "sip.cancel", CRITICAL, "")                                                  \
	X(SIP_REINVITE, "sip.reinvite", HIGH,                                                      \
	  "arg0=direction (0 inactive 1 sendonly 2 recvonly 3 sendrecv) str=direction "            \
	  "text=offer sdp (a re-INVITE or UPDATE awaiting its answer)")                            \
	X(SIP_REOFFER_GONE, "sip.reoffer_gone", HIGH,                                              \
	  "arg0=status the offer ended with (200 our answer sent, 487 cancelled or ended, 500 "    \
	  "timeout, nua's on error) str=sent, cancelled, timeout, error or ended")                 \
	X(SIP_REINVITE_RESULT, "sip.reinvite_result", HIGH,                                        \
	  "arg0=final status of our re-INVITE (after one retry of a 491) text=answer sdp (2xx)")   \
	X(SIP_DTMF, "sip.dtmf", HIGH, "str=digits arg0=duration ms (0: not given)")                \
	X(SIP_REGISTERED, "sip.registered", NORMAL, "arg0=expires s str=aor text=contact")         \
	X(SIP_UNREGISTERED, "sip.unregistered", NORMAL, "str=aor text=contact")                    \
	X(SIP_TRUNK_STATE, "sip.trunk_state", NORMAL, "arg0=up str=trunk")                         \
	X(SIP_TRUNK_REGISTRATION, "sip.trunk_registration", NORMAL,                                \
	  "arg0=state (0 off, 1 registering, 2 registered, 3 backoff) arg1=status "                \
	  "arg2=seconds to expiry or retry str=trunk")                                             \
	X(SIP_ACCOUNT_REGISTRATION, "sip.account_registration", NORMAL,                            \
	  "arg0=state (0 off, 1 registering, 2 registered, 3 backoff) arg1=status "                \
	  "arg2=seconds to expiry or retry str=user")                                              \
	X(SIP_MESSAGE, "sip.message", NORMAL,                                                      \
	  "in the dialog of (call, leg): str=content type text=body")                              \
	X(SIP_MESSAGE_RESULT, "sip.message_result", NORMAL,                                        \
	  "of our MESSAGE: arg0=final status arg1=seq")                                            \
	/* media */                                                                                \
	X(MEDIA_READY, "media.ready", CRITICAL, "arg0=session id text=local sdp")                  \
	X(MEDIA_CONNECTED, "media.connected", CRITICAL, "arg0=session id str=codec")               \
	X(MEDIA_FAILED, "media.failed", CRITICAL,                                                  \
	  "arg0=session id arg1=error arg2=cause (enum sb_engine_media_fail) str=reason")          \
	X(MEDIA_CANDIDATE, "media.candidate", HIGH, "arg0=session id text=candidate")              \
	X(MEDIA_CHAT, "media.chat", NORMAL, "arg0=session id text=message (UTF-8)")                \
	X(MEDIA_DTMF, "media.dtmf", HIGH, "arg0=session id str=digit arg1=duration ms")            \
	X(MEDIA_STATS, "media.stats", LOW,                                                         \
	  "arg0=session id arg1=packets lost arg2=jitter us arg3=rtt us str=mos text=json")        \
	X(MEDIA_REANSWER, "media.reanswer", HIGH,                                                  \
	  "arg0=session id arg1=0 or -errno (offer refused, session unchanged) "                   \
	  "arg2=offer sequence str=direction or reason text=answer sdp")                           \
	X(MEDIA_OFFER, "media.offer", HIGH,                                                        \
	  "arg0=session id arg1=0 or -errno arg2=offer sequence str=direction or reason "          \
	  "text=our new offer (RTP sessions; none for the others)")                                \
	X(MEDIA_CMD_CREATE, "media.cmd_create", CRITICAL,                                          \
	  "arg0=session id arg1=kind arg2=srtp (enum sb_engine_srtp) arg3=1 with a codec list "    \
	  "str=codec names to offer, comma-separated text=remote sdp")                             \
	X(MEDIA_CMD_UPDATE, "media.cmd_update", HIGH, "arg0=session id text=remote sdp")           \
	X(MEDIA_CMD_REOFFER, "media.cmd_reoffer", HIGH,                                            \
	  "arg0=session id arg1=offer sequence text=remote offer")                                 \
	X(MEDIA_CMD_REOFFER_DONE, "media.cmd_reoffer_done", HIGH,                                  \
	  "arg0=session id arg1=offer sequence arg2=1 answer sent (apply it), 0 offer abandoned")  \
	X(MEDIA_CMD_HOLD, "media.cmd_hold", HIGH,                                                  \
	  "arg0=session id arg1=offer sequence arg2=1 hold, 0 resume")                             \
	X(MEDIA_CMD_OFFER_DONE, "media.cmd_offer_done", HIGH,                                      \
	  "arg0=session id arg1=offer sequence text=the party's answer (none: the offer failed)")  \
	X(MEDIA_CMD_CANDIDATE, "media.cmd_candidate", HIGH, "arg0=session id text=candidate")      \
	X(MEDIA_CMD_BRIDGE, "media.cmd_bridge", CRITICAL, "arg0=session id arg1=other session id") \
	X(MEDIA_CMD_ICE_RESTART, "media.cmd_ice_restart", HIGH, "arg0=session id")                 \
	X(MEDIA_CMD_DESTROY, "media.cmd_destroy", CRITICAL, "arg0=session id")                     \
	X(MEDIA_CMD_DTMF, "media.cmd_dtmf", HIGH, "arg0=session id arg1=duration ms text=digits")  \
	X(MEDIA_CMD_CONF_JOIN, "media.cmd_conf_join", CRITICAL,                                    \
	  "arg0=session id arg1=conference id")                                                    \
	X(MEDIA_CMD_CONF_LEAVE, "media.cmd_conf_leave", CRITICAL, "arg0=session id")               \
	X(MEDIA_CMD_CHAT, "media.cmd_chat", NORMAL, "arg0=session id text=message (UTF-8)")        \
	X(MEDIA_CMD_CONF_MUTE, "media.cmd_conf_mute", HIGH,                                        \
	  "arg0=session id arg1=1 mute, 0 unmute")                                                 \
	/* engine */                                                                               \
	X(CALL_STATE, "call.state", CRITICAL,                                                      \
	  "arg0=from arg1=to arg2=machine arg3=input str=cause text=json")                         \
	X(CALL_ENDED, "call.ended", CRITICAL, "arg0=status str=cause text=disposition")            \
	X(STORE_CDR, "store.cdr", NORMAL, "text=json")                                             \
	X(METRICS_SAMPLE, "metrics.sample", LOW, "str=name arg0=value")

enum sb_event_type {
	SB_EV_NONE,
#define SB_X(id, name, prio, payload) SB_EV_##id,
	SB_EVENT_CATALOGUE(SB_X)
#undef SB_X
		_SB_EV_MAX,
	_SB_EV_INVALID = -22,
};

struct sb_event_desc {
	const char *name;
	enum sb_prio prio;
	const char *payload;
};

/* The catalogue row for type, or NULL when type is out of range. */
const struct sb_event_desc *sb_event_desc(enum sb_event_type type);
/* The type whose name is s, or _SB_EV_INVALID. */
enum sb_event_type sb_event_type_from_name(const char *s);
const char *sb_prio_name(enum sb_prio prio);
