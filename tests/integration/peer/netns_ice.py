#!/usr/bin/env python3
"""ICE across two network namespaces joined by a veth pair: the gateway's
media (netns-gw, gathering on 10.77.0.1 only, loopback off) in one, sb-peer
(--address 10.77.0.2) in the other, SDP carried between their JSON lines.
Loopback candidates cannot connect across namespaces, so a connected call
proves the veth candidates. Audio by content both ways: each peer gets back
every packet it sent, intact (checked by sb-peer), and the gateway's echo on
the SIP side sees each peer's marked packets once each.

Usage: netns_ice.py NETNS_GW SB_PEER. Needs root and `ip netns`: exits 77
(skipped) otherwise. The namespaces are deleted whatever happens."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

GW_ADDR, PEER_ADDR = "10.77.0.1", "10.77.0.2"
COUNT, SECONDS = 2, 2
PACKETS = SECONDS * 50


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), check=check, capture_output=True, text=True,
                          timeout=10)


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    try:
        r = ip("netns", "list", check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "ip netns is unavailable: %s" % e
    if r.returncode != 0:
        return "ip netns is unavailable: %s" % r.stderr.strip()
    return None


def netns_up(ns_gw, ns_peer, veth_gw, veth_peer):
    ip("netns", "add", ns_gw)
    ip("netns", "add", ns_peer)
    ip("link", "add", veth_gw, "type", "veth", "peer", "name", veth_peer)
    ip("link", "set", veth_gw, "netns", ns_gw)
    ip("link", "set", veth_peer, "netns", ns_peer)
    for ns, dev, addr in ((ns_gw, veth_gw, GW_ADDR), (ns_peer, veth_peer, PEER_ADDR)):
        ip("-n", ns, "addr", "add", addr + "/24", "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")
        ip("-n", ns, "link", "set", "lo", "up")


def netns_down(ns_gw, ns_peer, veth_gw):
    # Deleting a namespace deletes the veth end inside it, and so the pair;
    # a pair that never moved is deleted here.
    for ns in (ns_gw, ns_peer):
        ip("netns", "delete", ns, check=False)
    ip("link", "delete", veth_gw, check=False)


def candidates(sdp):
    return [l for l in sdp.split("\r\n") if l.startswith("a=candidate:")]


def pump(src, dst, seen, kind, reports):
    for line in src:
        msg = json.loads(line)
        if msg["type"] == kind:
            seen.append(msg)
            dst.write(line)
            dst.flush()
        else:
            reports.append(msg)


def check(offers, answers, peer_reports, gw_reports):
    errors = []
    for o in offers:
        c = candidates(o["sdp"])
        if not c or not all(PEER_ADDR in l for l in c):
            errors.append("peer %d offered %s" % (o["peer"], c))
    for a in answers:
        c = candidates(a["sdp"])
        if not c or not all(GW_ADDR in l for l in c):
            errors.append("the gateway answered peer %d with %s" % (a["peer"], c))
    if len(peer_reports) != COUNT:
        errors.append("%d peer reports of %d" % (len(peer_reports), COUNT))
    for r in peer_reports:
        if not (r["ice"] and r["dtls"] and r["error"] is None and r["sent"] == PACKETS
                and r["received"] == PACKETS and r["corrupt"] == 0 and r["duplicates"] == 0
                and r["undecryptable"] == 0):
            errors.append("peer report %s" % json.dumps(r))
    if len(gw_reports) != 1:
        errors.append("no gateway report")
    else:
        g = gw_reports[0]
        want = COUNT * PACKETS
        if g["connected"] != COUNT or g["failed"] != 0 or g["echo_distinct"] != want \
                or g["echo_marked"] != want:
            errors.append("gateway report %s (want %d marked packets)" % (json.dumps(g), want))
    return errors


def run(ns_gw, ns_peer, gw_bin, peer_bin):
    gw = subprocess.Popen(["ip", "netns", "exec", ns_gw, gw_bin, GW_ADDR],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    peer = subprocess.Popen(["ip", "netns", "exec", ns_peer, peer_bin, "--offer", "--count",
                             str(COUNT), "--seconds", str(SECONDS), "--codec", "pcmu",
                             "--address", PEER_ADDR, "--connect-ms", "10000"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    offers, answers, peer_reports, gw_reports = [], [], [], []
    threads = [threading.Thread(target=pump, args=(peer.stdout, gw.stdin, offers, "offer",
                                                   peer_reports)),
               threading.Thread(target=pump, args=(gw.stdout, peer.stdin, answers, "answer",
                                                   gw_reports))]
    for t in threads:
        t.start()
    try:
        rc_peer = peer.wait(timeout=35)
    finally:
        gw.stdin.close()  # the gateway reports and exits
        try:
            rc_gw = gw.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gw.kill()
            rc_gw = gw.wait()
        if peer.poll() is None:
            peer.kill()
    for t in threads:
        t.join(timeout=5)
    for m in offers + answers:
        print(m["type"], m["peer"], " | ".join(candidates(m["sdp"])))
    for r in peer_reports + gw_reports:
        print(json.dumps(r))
    errors = check(offers, answers, peer_reports, gw_reports)
    if rc_peer != 0 or rc_gw != 0:
        errors.append("exit codes: sb-peer %s, netns-gw %s" % (rc_peer, rc_gw))
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


def main():
    reason = skip_reason()
    if reason:
        print("SKIP: netns ICE test %s" % reason)
        return 77
    tag = str(os.getpid() % 100000)
    ns_gw, ns_peer = "sbice-gw-" + tag, "sbice-peer-" + tag
    # meson's timeout sends SIGTERM: unwind so the namespaces go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        netns_up(ns_gw, ns_peer, "sbg" + tag, "sbp" + tag)
        return run(ns_gw, ns_peer, sys.argv[1], sys.argv[2])
    except subprocess.CalledProcessError as e:
        print("FAIL: %s: %s" % (" ".join(e.cmd), e.stderr))
        return 1
    finally:
        netns_down(ns_gw, ns_peer, "sbg" + tag)


if __name__ == "__main__":
    sys.exit(main())
