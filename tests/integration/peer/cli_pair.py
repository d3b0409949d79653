#!/usr/bin/env python3
"""Two sb-peer processes back to back through their JSON lines: one offers,
the other answers, the script carries the SDPs between them. Each must
connect (ICE, DTLS-SRTP) and decrypt every packet the other sent: with no
echo in between, those count as "corrupt" (not its own), and nothing is
undecryptable. Usage: cli_pair.py SB_PEER_BINARY. Bounded by timeouts."""
import json
import subprocess
import sys
import threading

COUNT = 2
ARGS = ["--count", str(COUNT), "--seconds", "1", "--codec", "opus", "--connect-ms", "8000"]


def pump(src, dst, reports, kind):
    for line in src:
        msg = json.loads(line)
        if msg["type"] == "report":
            reports.append(msg)
        elif msg["type"] == kind:
            dst.write(line)
            dst.flush()


def main():
    binary = sys.argv[1]
    off = subprocess.Popen([binary, "--offer"] + ARGS, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    ans = subprocess.Popen([binary, "--answer"] + ARGS, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    r_off, r_ans = [], []
    threads = [threading.Thread(target=pump, args=(off.stdout, ans.stdin, r_off, "offer")),
               threading.Thread(target=pump, args=(ans.stdout, off.stdin, r_ans, "answer"))]
    for t in threads:
        t.start()
    rc = [off.wait(timeout=30), ans.wait(timeout=30)]
    for t in threads:
        t.join(timeout=5)
    ok = rc == [0, 0] and len(r_off) == COUNT and len(r_ans) == COUNT
    for r in r_off + r_ans:
        print(json.dumps(r))
        ok = ok and r["ice"] and r["dtls"] and r["error"] is None and r["sent"] == 50
        ok = ok and r["corrupt"] == 50 and r["undecryptable"] == 0 and r["received"] == 0
    print("exit codes", rc)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
