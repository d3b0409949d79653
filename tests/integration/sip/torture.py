#!/usr/bin/env python3
"""RFC 4475 and RFC 5118 torture messages against the real gateway, over UDP
and over TCP: each message must get the outcome torture_expect.tsv allows
(derived from the manifests in shared/testdata/sip-torture), the process
must stay up, and it must still answer a well-formed OPTIONS afterwards.

Usage: torture.py SWITCHBOARD_BINARY SOURCE_DIR TESTDATA_DIR

Each message gets a fresh gateway per transport: several messages share a
Via branch and sent-by, and a gateway rightly takes a repeat as a
retransmission of the earlier transaction (RFC 3261 17.2.3), which would
make the outcome depend on the order of the files. The transport token of the
top Via is set to the transport used (sofia drops a request whose Via names
another transport than the one it came on); the rest of each message is sent
byte for byte.

Runs in a network namespace of its own (unshare -n, or -rn when not root):
UDP responses go to the port of the message's top Via, which is 5060 for
most of them, so the test binds that port on loopback without colliding with
anything on the machine. Outcomes: a final status code, "none" (silence for
the whole wait), or "closed" (TCP connection closed with no response)."""
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

WAIT_S = 0.6


def reexec_in_netns():
    if os.environ.get("SB_TORTURE_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    env = dict(os.environ, SB_TORTURE_NETNS="1")
    flags = "-n" if os.geteuid() == 0 else "-rn"
    os.execvpe("unshare", ["unshare", flags, sys.executable] + sys.argv, env)


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on loopback, below the ephemeral range
    (32768 up), so that no outgoing connection of another test can take it
    between this check and the gateway's bind. 20000-31999 is kept apart from
    the 12000-19999 the shell and e2e tests draw from."""
    for _ in range(200):
        port = random.randint(20000, 31999)
        socks = []
        try:
            for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, k)
                socks.append(s)
                s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port in 20000-31999")


def load_expectations(path):
    exp = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, udp, tcp, why = line.split("\t")
            exp[name] = (set(udp.split(",")), set(tcp.split(",")), why)
    return exp


def top_via_port(data):
    m = re.search(rb"^(?:Via|v)[ \t]*:[^\r\n]*", data, re.M | re.I)
    if not m:
        return 5060
    sent_by = re.search(rb"SIP\s*/\s*2\.0\s*/\s*\w+\s+(\[[^\]]*\]|[^\s;:,]+)(?:\s*:\s*(\d+))?",
                        m.group(0), re.I)
    if sent_by and sent_by.group(2):
        return int(sent_by.group(2))
    return 5060


def final_status(chunks):
    """The first final (>= 200) status line among the responses, else the
    last provisional one, else None."""
    seen = None
    for data in chunks:
        m = re.match(rb"SIP/2\.0 (\d{3})", data)
        if m:
            code = m.group(1).decode()
            if int(code) >= 200:
                return code
            seen = code
    return seen


def send_udp(port, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", top_via_port(data)))
    s.sendto(data[:65000], ("127.0.0.1", port))
    chunks = []
    deadline = time.monotonic() + WAIT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        chunks.append(s.recv(65535))
        if final_status(chunks) and int(final_status(chunks)) >= 200:
            break
    s.close()
    return final_status(chunks) or "none"


def send_tcp(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(data)
    buf = b""
    closed = False
    deadline = time.monotonic() + WAIT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        try:
            got = s.recv(65535)
        except ConnectionResetError:
            got = b""
        if not got:
            closed = True
            break
        buf += got
        codes = re.findall(rb"SIP/2\.0 (\d{3})", buf)
        if any(int(c) >= 200 for c in codes):
            break
    s.close()
    codes = [c.decode() for c in re.findall(rb"SIP/2\.0 (\d{3})", buf)]
    finals = [c for c in codes if int(c) >= 200]
    if finals:
        return finals[0]
    if codes:
        return codes[-1]
    return "closed" if closed else "none"


OPTIONS = (
    "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{tag};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:probe@127.0.0.1>;tag={tag}\r\n"
    "To: <sip:127.0.0.1:{port}>\r\n"
    "Call-ID: torture-probe-{tag}\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n")


def options_ok(port):
    me = free_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", me))
    s.settimeout(2)
    s.sendto(OPTIONS.format(port=port, me=me, tag=me).encode(), ("127.0.0.1", port))
    try:
        return s.recv(65535).startswith(b"SIP/2.0 200")
    except socket.timeout:
        return False
    finally:
        s.close()


# The top Via's transport token, across folded lines (wsinv.dat folds it).
VIA_PROTO = re.compile(rb"^((?:Via|v)[ \t]*:\s*SIP\s*/\s*2\.0\s*/\s*)([A-Za-z]+)", re.M | re.I)


def with_transport(data, transport):
    return VIA_PROTO.sub(lambda m: m.group(1) + transport.upper().encode(), data, count=1)


class Gateway:
    def __init__(self, binary, tmp):
        """Starts a gateway; a start that fails (a port taken between the
        check and the bind) is retried on new ports, twice."""
        self.binary = binary
        self.tmp = tmp
        for attempt in range(3):
            if self._start(attempt):
                return
        raise RuntimeError("switchboard did not start:\n" + self.log_tail())

    def _start(self, attempt):
        tmp = self.tmp
        self.port = free_port()
        http = free_port()
        self.conf = os.path.join(tmp, "sb.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(f"[general]\ndata_dir = {tmp}/var\n[http]\nlisten = ws://127.0.0.1:{http}\n"
                    f"[sip]\nlisten = udp:127.0.0.1:{self.port},tcp:127.0.0.1:{self.port}\n"
                    "[user alice]\npassword = alice-secret\n"
                    # INVITEs from loopback come from a trusted trunk, so they
                    # reach the checks past authentication; every call ends
                    # in a routing refusal rather than a media session.
                    "[trunk torture]\nhost = 127.0.0.1\ninbound_addresses = 127.0.0.1\n"
                    "options_interval = 0\n"
                    "[route all]\ndestination = *\naction = reject\nstatus = 480\n")
        self.err = open(os.path.join(tmp, f"err{attempt}"), "w+b")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.err.seek(0)
            if b"switchboard ready" in self.err.read():
                return True
            time.sleep(0.02)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False

    def stop(self):
        """SIGTERM; True when it exits 0 (sanitizer reports make it fail)."""
        if self.proc.poll() is not None:
            return False
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=10) == 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return False

    def log_tail(self):
        self.err.seek(0)
        return self.err.read()[-3000:].decode(errors="replace")


def ipv6_listeners(binary):
    """A gateway listening on [::1] over UDP and TCP answers OPTIONS on both
    (skipped when the machine has no IPv6 loopback)."""
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        print("ok - IPv6 listeners # SKIP no IPv6 loopback")
        return 1, 0
    port = free_port("::1")
    tmp = tempfile.mkdtemp(prefix="sb-torture-v6-")
    http = free_port()
    conf = os.path.join(tmp, "sb.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"[general]\ndata_dir = {tmp}/var\n[http]\nlisten = ws://127.0.0.1:{http}\n"
                f"[sip]\nlisten = udp:[::1]:{port},tcp:[::1]:{port}\n")
    err = open(os.path.join(tmp, "err"), "w+b")
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=err)
    passed = failed = 0
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            err.seek(0)
            if b"switchboard ready" in err.read():
                break
            time.sleep(0.02)
        for kind in ("udp", "tcp"):
            if kind == "udp":
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.bind(("::1", 0))
            else:
                s = socket.create_connection(("::1", port), timeout=2)
            me = s.getsockname()[1]
            msg = (f"OPTIONS sip:[::1]:{port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/{kind.upper()} [::1]:{me};branch=z9hG4bK-v6{kind};rport\r\n"
                   "Max-Forwards: 70\r\nFrom: <sip:probe@[::1]>;tag=1\r\nTo: <sip:[::1]>\r\n"
                   f"Call-ID: v6-{kind}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
            s.settimeout(2)
            try:
                if kind == "udp":
                    s.sendto(msg, ("::1", port))
                else:
                    s.sendall(msg)
                ok = s.recv(65535).startswith(b"SIP/2.0 200")
            except OSError:
                ok = False
            s.close()
            if ok:
                print(f"ok - a listener on [::1] answers OPTIONS over {kind}")
                passed += 1
            else:
                print(f"not ok - no 200 from the [::1] listener over {kind}")
                failed += 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    return passed, failed


def main():
    binary, source, testdata = sys.argv[1:4]
    reexec_in_netns()
    here = os.path.join(source, "tests", "integration", "sip")
    expect = load_expectations(os.path.join(here, "torture_expect.tsv"))
    tdir = os.path.join(testdata, "sip-torture")
    files = []
    for sub in ("rfc4475", "rfc4475_ersip_variants", "rfc5118"):
        for name in sorted(os.listdir(os.path.join(tdir, sub))):
            files.append((sub + "/" + name, os.path.join(tdir, sub, name)))

    passed = failed = 0
    for name, path in files:
        with open(path, "rb") as f:
            raw = f.read()
        if name not in expect:
            print(f"not ok - {name}: no expectation in torture_expect.tsv")
            failed += 1
            continue
        udp_ok, tcp_ok, why = expect[name]
        for transport, allowed, send in (("udp", udp_ok, send_udp), ("tcp", tcp_ok, send_tcp)):
            tmp = tempfile.mkdtemp(prefix="sb-torture-")
            gw = Gateway(binary, tmp)
            got = send(gw.port, with_transport(raw, transport))
            alive = gw.proc.poll() is None
            answers = alive and options_ok(gw.port)
            clean = gw.stop()
            problems = []
            if got not in allowed:
                problems.append(f"got {got}, expected one of {sorted(allowed)}")
            if not alive:
                problems.append("the process died")
            elif not answers:
                problems.append("no 200 to a well-formed OPTIONS afterwards")
            if alive and not clean:
                problems.append(f"exit status {gw.proc.returncode}")
            if problems:
                print(f"not ok - {name} over {transport}: {'; '.join(problems)} ({why})")
                sys.stdout.write(gw.log_tail())
                failed += 1
            else:
                print(f"ok - {name} over {transport}: {got} ({why})")
                passed += 1
            shutil.rmtree(tmp, ignore_errors=True)
    p, f = ipv6_listeners(binary)
    passed += p
    failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
