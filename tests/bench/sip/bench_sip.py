#!/usr/bin/env python3
"""SIP benchmark: call setups per second (SIPp UAC -> Switchboard -> SIPp UAS,
no RTP) and registrations per second (SIPp phones with digest), each run at
a fixed rate for a fixed time. Prints, per run: the offered rate, calls or
registrations that succeeded and failed, the gateway's CPU (share of one
core, and microseconds per call or registration), and round-trip latency
percentiles as SIPp saw them on loopback.

Latency: "INVITE->180" is the caller's INVITE to the 180 that the gateway
relays back. It crosses the gateway twice (INVITE in, INVITE out; 180 in,
180 out) plus SIPp's UAS, so the gateway's own reaction per hop is at most
half of it. "REGISTER->401" and "REGISTER->200" are one gateway reaction
each (the 200 after the store has the binding queued for write).

Usage: bench_sip.py SWITCHBOARD_BINARY SOURCE_DIR [--seconds N]
       [--call-rates 100,500] [--register-rates 500,1000]
Everything listens on loopback; every process is stopped at the end."""
import argparse
import csv
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

USERS = 2000
# --pin: the gateway on CPU 0, both SIPp instances on the other CPUs
# (taskset), so that the load generators do not take the gateway's core.
PIN_GW = []
PIN_SIPP = []


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def read_messages(pattern):
    """SIPp -trace_msg logs: (time_s, "sent"|"received", first line, headers
    dict of lower-case name -> first value) for each message."""
    out = []
    for path in glob.glob(pattern):
        with open(path, encoding="latin-1") as f:
            blocks = f.read().split("----------------------------------------------- ")
        for b in blocks[1:]:
            lines = b.split("\n")
            try:
                day, clock = lines[0].split()[:2]
                t = time.mktime(time.strptime(day + " " + clock.split(".")[0],
                                              "%Y-%m-%d %H:%M:%S"))
                t += float("0." + clock.split(".")[1])
            except (ValueError, IndexError):
                continue
            way = "sent" if " sent " in lines[1] else "received"
            body = [ln.strip() for ln in lines[3:]]
            if not body or not body[0]:
                continue
            headers = {}
            for ln in body[1:]:
                if not ln:
                    break
                name, _, value = ln.partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            out.append((t, way, body[0], headers))
    return out


def caller_of(headers):
    """The caller number in a From header (kept by the gateway across legs)."""
    m = re.search(r"sip:([^@;>]+)@", headers.get("from", ""))
    return m.group(1) if m else None


def call_latencies(msgs):
    """Per call, in ms: the gateway's first reaction to the INVITE (UAC sent
    -> 100 Trying received at the UAC, one round trip on loopback), its
    INVITE hop (UAC sent -> UAS received) and its 180 hop (UAS sent -> UAC
    received); first transmissions only."""
    first = {}
    for t, way, line, h in sorted(msgs, key=lambda m: m[0]):
        key = caller_of(h)
        kind = "INVITE" if line.startswith("INVITE ") else line[8:11]
        if key and kind in ("INVITE", "100", "180"):
            first.setdefault((key, way, kind), t)
    hops = {"INVITE": [], "180": [], "100": []}
    for (key, way, kind), t in first.items():
        if kind in ("INVITE", "180") and way == "sent" and (key, "received", kind) in first:
            hops[kind].append((first[(key, "received", kind)] - t) * 1000)
        if kind == "100" and way == "received" and (key, "sent", "INVITE") in first:
            hops["100"].append((t - first[(key, "sent", "INVITE")]) * 1000)
    return hops["INVITE"], hops["180"], hops["100"]


def register_latencies(msgs):
    """REGISTER sent -> 401 received, and REGISTER with credentials sent ->
    200 received, in ms, matched by Call-ID and CSeq."""
    sent = {}
    challenge, accept = [], []
    for t, way, line, h in sorted(msgs, key=lambda m: m[0]):
        key = (h.get("call-id"), h.get("cseq"))
        if way == "sent" and line.startswith("REGISTER"):
            sent.setdefault(key, t)
        elif way == "received" and key in sent:
            if line.startswith("SIP/2.0 401"):
                challenge.append((t - sent.pop(key)) * 1000)
            elif line.startswith("SIP/2.0 200"):
                accept.append((t - sent.pop(key)) * 1000)
    return challenge, accept


def read_stat(pattern):
    """The last row of SIPp's -trace_stat file, as a dict."""
    for path in glob.glob(pattern):
        with open(path, encoding="ascii", errors="replace") as f:
            rows = list(csv.reader(f, delimiter=";"))
        if len(rows) >= 2:
            return dict(zip(rows[0], rows[-1]))
    return {}


class Gateway:
    def __init__(self, binary, tmp, uas_port):
        self.sip = free_port()
        http = self.http = free_port(socket.SOCK_STREAM)
        conf = os.path.join(tmp, "sb.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"[general]\ndata_dir = {tmp}/var\n[log]\nlevel = warn\nformat = json\n"
                    f"[http]\nlisten = ws://127.0.0.1:{http}\n"
                    f"[sip]\nlisten = udp:127.0.0.1:{self.sip}\nregister_min_expires = 60\n"
                    "[limits]\nmax_calls = 100000\nmax_cps = 0\n"
                    "[media]\nworkers = 1\nrtp_port_min = 20000\nrtp_port_max = 29999\n"
                    "[trunk caller]\nhost = 127.0.0.1\ninbound_addresses = 127.0.0.1\n"
                    "options_interval = 0\n"
                    f"[trunk callee]\nhost = 127.0.0.2\nport = {uas_port}\n"
                    "options_interval = 0\n"
                    "[route all]\ndestination = *\naction = trunk\ntarget = callee\n")
            for i in range(USERS):
                f.write(f"[user u{i}]\npassword = bench-secret\n")
        self.err = open(os.path.join(tmp, "err"), "w+b")
        self.proc = subprocess.Popen(PIN_GW + [binary, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.err.seek(0)
        raise RuntimeError("switchboard did not start:\n" + self.err.read()[-2000:].decode())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def sipp(args, cwd, timeout):
    with open(os.path.join(cwd, "sipp.err"), "wb") as err:
        r = subprocess.run(PIN_SIPP + ["sipp"] + args + ["-nostdin"], cwd=cwd,
                           stdout=subprocess.DEVNULL,
                           stderr=err, timeout=timeout, check=False)
    if r.returncode not in (0, 1):
        with open(os.path.join(cwd, "sipp.err"), "rb") as err:
            sys.stderr.write(f"sipp exit {r.returncode}: " + err.read()[-1000:].decode())
    return r


def run_calls(gw, here, tmp, uas_port, rate, seconds):
    work = tempfile.mkdtemp(dir=tmp, prefix=f"calls{rate}-")
    total = rate * seconds
    uas = subprocess.Popen(PIN_SIPP + ["sipp", "-sf", os.path.join(here, "uas.xml"), "-i", "127.0.0.2",
                            "-p", str(uas_port), "-mp", str(free_port()), "-nostdin",
                            "-timeout", str(seconds + 30) + "s", "-trace_msg"],
                           cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    cpu0, t0 = cpu_seconds(gw.proc.pid), time.monotonic()
    sipp(["-sf", os.path.join(here, "uac.xml"), "-s", "7000", "-i", "127.0.0.1",
          "-p", str(free_port()), "-mp", str(free_port()), "-r", str(rate), "-m", str(total),
          "-l", str(max(100, rate * 4)), "-trace_msg", "-trace_err", "-trace_stat",
          "-fd", "1", "-timeout", str(seconds + 30) + "s",
          f"127.0.0.1:{gw.sip}"], work, seconds + 60)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(gw.proc.pid) - cpu0
    uas.terminate()
    try:
        uas.wait(timeout=5)
    except subprocess.TimeoutExpired:
        uas.kill()
    stat = read_stat(os.path.join(work, "uac_*_.csv"))
    invite, ringing, trying = call_latencies(
        read_messages(os.path.join(work, "*_messages.log")))
    ok = int(stat.get("SuccessfulCall(C)", 0))
    failed = int(stat.get("FailedCall(C)", 0))
    return {
        "rate": rate, "offered": total, "ok": ok, "failed": failed, "wall": wall, "cpu": cpu,
        "inv": invite, "ring": ringing, "trying": trying,
    }


def run_registers(gw, here, tmp, rate, seconds):
    work = tempfile.mkdtemp(dir=tmp, prefix=f"reg{rate}-")
    users = os.path.join(work, "users.csv")
    with open(users, "w", encoding="ascii") as f:
        f.write("SEQUENTIAL\n")
        for i in range(USERS):
            f.write(f"u{i};[authentication username=u{i} password=bench-secret]\n")
    total = rate * seconds
    cpu0, t0 = cpu_seconds(gw.proc.pid), time.monotonic()
    sipp(["-sf", os.path.join(here, "register.xml"), "-inf", users, "-i", "127.0.0.1",
          "-p", str(free_port()), "-r", str(rate), "-m", str(total), "-l", str(max(100, rate)),
          "-trace_msg", "-trace_err", "-trace_stat", "-fd", "1",
          "-timeout", str(seconds + 30) + "s", f"127.0.0.1:{gw.sip}"], work, seconds + 60)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(gw.proc.pid) - cpu0
    stat = read_stat(os.path.join(work, "register_*_.csv"))
    challenge, accept = register_latencies(read_messages(os.path.join(work, "*_messages.log")))
    return {
        "rate": rate, "offered": total, "ok": int(stat.get("SuccessfulCall(C)", 0)),
        "failed": int(stat.get("FailedCall(C)", 0)), "wall": wall, "cpu": cpu,
        "chal": challenge, "acc": accept,
    }


def spread(values):
    if not values:
        return "        (no samples)"
    return (f"{percentile(values, 50):6.3f} / {percentile(values, 99):6.3f} / "
            f"{max(values):7.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("source")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--call-rates", default="100,250,500")
    ap.add_argument("--register-rates", default="250,500,1000")
    ap.add_argument("--pin", action="store_true",
                    help="gateway on CPU 0, SIPp on the other CPUs (taskset)")
    a = ap.parse_args()
    if a.pin and (os.cpu_count() or 1) > 1:
        PIN_GW[:] = ["taskset", "-c", "0"]
        PIN_SIPP[:] = ["taskset", "-c", f"1-{os.cpu_count() - 1}"]
    here = os.path.join(os.path.abspath(a.source), "tests", "bench", "sip")
    tmp = tempfile.mkdtemp(prefix="sb-bench-sip-")
    uas_port = free_port()
    gw = Gateway(os.path.abspath(a.binary), tmp, uas_port)
    print(f"bench-sip: {os.cpu_count()} cores{' (pinned)' if PIN_GW else ''}, {a.seconds} s per run, "
          f"gateway pid {gw.proc.pid}, "
          f"resident {rss_kib(gw.proc.pid)} KiB at start")
    try:
        print("calls (SIPp UAC -> switchboard -> SIPp UAS, no RTP):")
        print("  rate/s  offered       ok  failed  gw-core%   us/call  "
              "INVITE->100 p50/p99/max ms  INVITE hop p50/p99/max ms   "
              "180 hop p50/p99/max ms")
        for rate in [int(x) for x in a.call_rates.split(",") if x]:
            r = run_calls(gw, here, tmp, uas_port, rate, a.seconds)
            per = r["cpu"] / max(1, r["ok"]) * 1e6
            print(f"  {rate:6d} {r['offered']:8d} {r['ok']:8d} {r['failed']:7d} "
                  f"{100 * r['cpu'] / r['wall']:8.1f} {per:9.0f}  "
                  f"{spread(r['trying'])}   {spread(r['inv'])}   {spread(r['ring'])}   "
                  f"rss {rss_kib(gw.proc.pid)} KiB")
            time.sleep(1)
        print("registrations (digest: REGISTER, 401, REGISTER, 200; stored in SQLite):")
        print("  rate/s  offered       ok  failed  gw-core%    us/reg  "
              "->401 p50/p99/max ms        ->200 p50/p99/max ms")
        for rate in [int(x) for x in a.register_rates.split(",") if x]:
            r = run_registers(gw, here, tmp, rate, a.seconds)
            per = r["cpu"] / max(1, r["ok"]) * 1e6
            print(f"  {rate:6d} {r['offered']:8d} {r['ok']:8d} {r['failed']:7d} "
                  f"{100 * r['cpu'] / r['wall']:8.1f} {per:9.0f}  "
                  f"{spread(r['chal'])}   {spread(r['acc'])}")
            time.sleep(1)
        print(f"gateway resident memory at the end: {rss_kib(gw.proc.pid)} KiB")
        if os.environ.get("SB_KEEP"):
            with urllib.request.urlopen(f"http://127.0.0.1:{gw.http}/metrics", timeout=2) as m:
                with open(os.path.join(tmp, "metrics.txt"), "wb") as f:
                    f.write(m.read())
            shutil.copy(f"/proc/{gw.proc.pid}/smaps", os.path.join(tmp, "smaps"))
    finally:
        gw.stop()
        if os.environ.get("SB_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
