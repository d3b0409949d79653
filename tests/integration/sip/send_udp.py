#!/usr/bin/env python3
"""Sends each file named on the command line as one UDP datagram to HOST PORT
(the RFC 4475/5118 torture messages, garbage, oversized messages)."""
import socket
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
for path in sys.argv[3:]:
    with open(path, "rb") as f:
        data = f.read()
    try:
        s.sendto(data[:65000], (host, port))
    except OSError as e:
        print(f"{path}: {e}")
    time.sleep(0.01)
    try:
        while True:
            s.recv(65535)
    except (socket.timeout, OSError):
        pass
print(f"sent {len(sys.argv) - 3} datagrams")
