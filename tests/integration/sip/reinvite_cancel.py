#!/usr/bin/env python3
"""A trunk's call that CANCELs its own re-INVITE (RFC 3261 section 9.2):
calls NUMBER through the gateway at 127.0.0.1:PORT, then sends a re-INVITE
and its CANCEL back to back, so that the CANCEL arrives while the re-INVITE
waits for the media plane's answer. The CANCEL must get 200, the re-INVITE
487 (or 200 when the answer won the race), and the dialog must stay: BYE
then gets 200 and ends the call (the far end, a SIPp UAS, gets its BYE).
Exits 0 when every response came as expected.
With MEDIA_PORT (the calls tests, tests/integration/calls): the media is at
MEDIA_PORT (the test's UDP echo), the re-INVITE (a hold) is sent 1.5 s after
the ACK and gets 487 (the CANCEL wins the race: both go in one sendmmsg,
so it is read before the media plane's answer can come back, unless the
gateway's machine is very loaded: then 200, reported for the test to check
that the hold was taken), and the BYE follows HOLD_S seconds after it
(default 5), while the test checks that audio went on.
Usage: reinvite_cancel.py PORT NUMBER [MEDIA_PORT [HOLD_S]]"""
import ctypes
import ctypes.util
import random
import re
import socket
import sys
import time

port, number = int(sys.argv[1]), sys.argv[2]
given_media = int(sys.argv[3]) if len(sys.argv) > 3 else 0
hold_s = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
me = s.getsockname()[1]
call_id = f"rc-{random.getrandbits(48):x}@127.0.0.1"
tag = f"{random.getrandbits(32):x}"
uri = f"sip:{number}@127.0.0.1:{port}"
to_tag = ""
SDP = ("v=0\r\no=- 1 {v} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {mp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=rtpmap:101 telephone-event/8000\r\na={dir}\r\n")
media_port = given_media or (me + 2 if me % 2 == 0 else me + 1)


def request(method, cseq, branch, body="", cseq_method=None):
    to = f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{branch}\r\n"
            f"From: <sip:15550001@127.0.0.1:{me}>;tag={tag}\r\n"
            f"To: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\n"
            f"Contact: <sip:15550001@127.0.0.1:{me}>\r\nMax-Forwards: 70\r\n")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n" + body).encode()


def send(data):
    s.sendto(data, ("127.0.0.1", port))


def responses(method, cseq, until):
    """Final responses to (cseq, method); returns the first final status."""
    while True:
        data = s.recv(65535).decode(errors="replace")
        m = re.match(r"SIP/2.0 (\d+)", data)
        c = re.search(r"^CSeq:\s*(\d+)\s+(\w+)", data, re.M | re.I)
        if not m or not c or int(c.group(1)) != cseq or c.group(2) != method:
            continue
        status = int(m.group(1))
        if status >= until:
            return status, data


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


def send_both(a, b):
    """Both datagrams in one sendmmsg(2): no gap between them in which this
    process could be descheduled. The socket is connected to the gateway
    first (its answers come from that address)."""
    s.connect(("127.0.0.1", port))
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    bufs = [ctypes.create_string_buffer(m, len(m)) for m in (a, b)]
    iovs = (Iovec * 2)(*[Iovec(ctypes.cast(x, ctypes.c_void_p), len(x)) for x in bufs])
    msgs = (Mmsghdr * 2)()
    for i in range(2):
        msgs[i].hdr.iov = ctypes.pointer(iovs[i])
        msgs[i].hdr.iovlen = 1
    if libc.sendmmsg(s.fileno(), msgs, 2, 0) != 2:
        fail(f"sendmmsg: errno {ctypes.get_errno()}")


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


send(request("INVITE", 1, "b1", SDP.format(v=1, mp=media_port, dir="sendrecv")))
status, ok = responses("INVITE", 1, 200)
if status != 200:
    fail(f"INVITE answered {status}")
to_tag = re.search(r"^To:.*;tag=([^;\s]+)", ok, re.M | re.I).group(1)
send(request("ACK", 1, "b2"))
if given_media:
    time.sleep(1.5)
# The re-INVITE and its CANCEL back to back: the CANCEL is read before the
# media plane's answer comes back.
send_both(request("INVITE", 2, "b3", SDP.format(v=2, mp=media_port, dir="sendonly")),
          request("CANCEL", 2, "b3"))
status, _ = responses("CANCEL", 2, 200)
# 481: the re-INVITE's 200 went out before the CANCEL was read (the answer
# won the race; nothing left to cancel).
if status not in (200, 481):
    fail(f"CANCEL answered {status}")
status, _ = responses("INVITE", 2, 200)
if status not in (200, 487):
    fail(f"the cancelled re-INVITE answered {status}")
send(request("ACK", 2, "b3" if status != 200 else "b4"))
print(f"re-INVITE: {status}")
if given_media:
    time.sleep(hold_s)
send(request("BYE", 3, "b5"))
status, _ = responses("BYE", 3, 200)
if status != 200:
    fail(f"BYE answered {status}")
print("ok")
