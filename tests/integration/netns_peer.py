#!/usr/bin/python3
"""A bounded SIP-over-UDP peer for namespace tests, run inside a network
namespace with `ip netns exec NS python3 netns_peer.py ...`. Prints one JSON
object on stdout and exits.

  send --bind IP --to IP:PORT --method M [--ua UA] [--count N] [--wait S]
      sends N requests (one socket, so one source port) and collects every
      answer that arrives within S seconds after the last one:
      {"sent": N, "statuses": [403, ...]}
  recv --bind IP:PORT --seconds S
      counts datagrams for S seconds: {"received": N, "first_lines": [...]}
"""

import argparse
import json
import random
import socket
import sys
import time


def request(method, src, dst, ua):
    branch = f"z9hG4bK-{random.getrandbits(48):012x}"
    lines = [
        f"{method} sip:100@{dst[0]}:{dst[1]} SIP/2.0",
        f"Via: SIP/2.0/UDP {src[0]}:{src[1]};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:100@{src[0]}>;tag={random.getrandbits(32):08x}",
        f"To: <sip:100@{dst[0]}>",
        f"Call-ID: nsp-{random.getrandbits(64):016x}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:100@{src[0]}:{src[1]}>",
    ]
    if ua:
        lines.append(f"User-Agent: {ua}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send(args):
    host, port = args.to.rsplit(":", 1)
    dst = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.bind, 0))
    src = s.getsockname()
    for _ in range(args.count):
        s.sendto(request(args.method, src, dst, args.ua), dst)
    statuses = []
    deadline = time.monotonic() + args.wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        if first.startswith("SIP/2.0 "):
            statuses.append(int(first.split()[1]))
    print(json.dumps({"sent": args.count, "statuses": statuses}))


def recv(args):
    host, port = args.bind.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    print("ready", file=sys.stderr, flush=True)
    got = []
    deadline = time.monotonic() + args.seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        got.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
    print(json.dumps({"received": len(got), "first_lines": got}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("send")
    a.add_argument("--bind", required=True)
    a.add_argument("--to", required=True)
    a.add_argument("--method", default="REGISTER")
    a.add_argument("--ua", default="")
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--wait", type=float, default=1.0)
    b = sub.add_parser("recv")
    b.add_argument("--bind", required=True)
    b.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    if args.count > 1000 if args.cmd == "send" else args.seconds > 60:
        sys.exit("bounded: at most 1000 datagrams / 60 s")
    send(args) if args.cmd == "send" else recv(args)


if __name__ == "__main__":
    main()
