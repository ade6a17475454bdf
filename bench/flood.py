#!/usr/bin/python3
"""Legitimate calls under a flood: does tollgate keep serving its customers?

Two runs, side by side, each with a fresh tollgate, store and SIPp carrier:

  1. no flood: a SIPp customer (a trusted mapping gateway, 127.0.0.1) places
     calls at a fixed rate through tollgate to a SIPp carrier;
  2. flood: the same calls while flood_gen sends OPTIONS/REGISTER/INVITE from
     many 127.x.y.z source addresses, as fast as it can, for the same time.

It prints legitimate call success, INVITE->200 latency (p50/p99/max, per
call from the customer SIPp's message trace, whose timestamps are in
microseconds; SIPp's own response-time trace moves in 4 ms steps) and, for
the flood run, the flood packets sent, received by tollgate, dropped by the
kernel (kernel offload) and answered. Pass: success >= 99.9 % in both runs
and flood p99 <= 2 x the no-flood p99, where a p99 under 1 ms counts as
1 ms (below that, scheduling on a shared machine is the noise).

By default everything runs inside a private network namespace made for the
run (its own loopback; nothing outside it changes), where tollgate may push
its bans into the kernel (firewall.kernel_offload). --no-netns runs on the
host's loopback with the shield in user space only.

Usage: bench/flood.py [--seconds 20] [--cps 50] [--sources 8192]
                      [--flood-rate 0] [--no-netns] [--short] [--json]
Exit 0 when the run passes, 1 when it does not, 2 on a setup error.
Bounded: every process has a deadline; the flood is at most 60 s.
"""

import argparse
import csv
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
TOLLGATE = os.environ.get("TOLLGATE_BIN", os.path.join(BIN, "tollgate"))
FLOOD_GEN = os.environ.get("FLOOD_GEN_BIN", os.path.join(BIN, "flood_gen"))
SUCCESS_TARGET = 0.999
LATENCY_FACTOR = 2.0
FLOOR_MS = 1.0  # p99s below this count as this (scheduling noise)
HOLD_MS = 200


class Setup(Exception):
    pass


class Env:
    """Where processes run: the host, or a private network namespace."""

    def __init__(self, netns: bool):
        self.ns = None
        if netns:
            name = f"tgflood{os.getpid()}"
            r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
            if r.returncode != 0:
                raise Setup(f"cannot create a network namespace ({r.stderr.strip()}); "
                            "use --no-netns")
            self.ns = name
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.ns, *argv] if self.ns else list(argv)

    def close(self):
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def free_port(env, used):
    """A port free on loopback. In a fresh namespace nothing is bound, so
    any unused port of ours will do; on the host, ask the kernel."""
    while True:
        if env.ns:
            port = 20000 + len(used) * 7 + 1
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
        if port not in used and 20000 <= port <= 60000:
            used.add(port)
            return port


def stop(p, grace=10):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def last_stats(log_path):
    text = open(log_path, errors="replace").read()
    lines = [l for l in text.splitlines() if "event=node.stats" in l]
    if not lines:
        return {}
    out = {}
    for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', lines[-1]):
        out[k] = json.loads(v) if v.startswith('"') else v
    return out


def counts(field):
    out = {}
    for part in filter(None, (field or "").split(",")):
        k, _, n = part.partition(":")
        out[k] = int(n)
    return out


_MSG = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\n"
                  r"\w+ message (sent|received)[^\n]*\n\n", re.M)


def invite_latencies(message_log):
    """INVITE->200 per call (ms) from a SIPp -trace_msg file: first INVITE
    sent to the first 200 for it, matched by Call-ID."""
    text = open(message_log, errors="replace").read()
    marks = list(_MSG.finditer(text))
    sent, out = {}, []
    for i, m in enumerate(marks):
        body = text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        first = body.split("\n", 1)[0].strip()
        cid = re.search(r"^(?:Call-ID|i)\s*:\s*(\S+)", body, re.M | re.I)
        cseq = re.search(r"^CSeq\s*:\s*\d+\s+(\w+)", body, re.M | re.I)
        if not cid or not cseq or cseq.group(1) != "INVITE":
            continue
        t = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + \
            int(m.group(1)[20:]) / 1e6
        key = cid.group(1)
        if m.group(2) == "sent" and first.startswith("INVITE") and key not in sent:
            sent[key] = t
        elif m.group(2) == "received" and first.startswith("SIP/2.0 200") and key in sent:
            out.append((t - sent.pop(key)) * 1000.0)
    return out


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def run(label, args, env, flood):
    used = set()
    with tempfile.TemporaryDirectory(prefix=f"tg-flood-{label.replace(' ', '-')}-") as work:
        if args.keep:
            work = tempfile.mkdtemp(prefix=f"tg-flood-{label.replace(' ', '-')}-kept-")
            print(f"  {label}: files kept in {work}", flush=True)
        tg_port, uas_port, uac_port = (free_port(env, used) for _ in range(3))
        cfg = os.path.join(work, "tg.toml")
        with open(cfg, "w") as f:
            f.write(f"""[sip]
listen = ["udp:127.0.0.1:{tg_port}"]
[store]
path = "{work}/tg.db"
[log]
level = "info"
[node]
drain_timeout = 1
[firewall]
kernel_offload = {"true" if env.ns else "false"}
table = "tgflood{os.getpid()}"
[api]
listen = []
""")
        prov = os.path.join(work, "prov.toml")
        with open(prov, "w") as f:
            f.write(f"""[[mapping_gateway]]
name = "customer"
auth = "ip"
addresses = ["127.0.0.1"]
[[routing_gateway]]
name = "carrier"
address = "127.0.0.1:{uas_port}"
prefixes = [""]
priority = 1
""")
        subprocess.run([TOLLGATE, "import", "--config", cfg, prov], check=True,
                       stdout=subprocess.DEVNULL)
        tg_log = os.path.join(work, "tg.log")
        procs = []
        try:
            tg = subprocess.Popen(env.cmd([TOLLGATE, "run", "--config", cfg]),
                                  stdout=open(tg_log, "w"), stderr=subprocess.STDOUT)
            procs.append(tg)
            deadline = time.time() + 5
            while "node.ready" not in open(tg_log).read():
                if time.time() > deadline or tg.poll() is not None:
                    raise Setup("tollgate did not start:\n" + open(tg_log).read())
                time.sleep(0.05)
            calls = int(args.cps * args.seconds)
            timeout = args.seconds + 30
            uas = subprocess.Popen(env.cmd(
                ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port),
                 "-mp", str(free_port(env, used)), "-cp", str(free_port(env, used)),
                 "-nostdin", "-timeout", f"{timeout}s", "-buff_size", "4194304"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
            procs.append(uas)
            time.sleep(0.3)
            gen = None
            if flood:
                gen = subprocess.Popen(env.cmd(
                    [FLOOD_GEN, "--target", f"127.0.0.1:{tg_port}", "--sources",
                     str(args.sources), "--first", "127.1.0.1", "--seconds", str(args.seconds),
                     "--rate", str(args.flood_rate)]),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                procs.append(gen)
                time.sleep(0.2)  # the flood is on before the first call
            stf = os.path.join(work, "uac.csv")
            msgs = os.path.join(work, "uac-messages.log")
            uac = subprocess.Popen(env.cmd(
                ["sipp", "-sn", "uac", f"127.0.0.1:{tg_port}", "-s", "1000",
                 "-i", "127.0.0.1", "-p", str(uac_port), "-mp", str(free_port(env, used)),
                 "-cp", str(free_port(env, used)), "-r", str(args.cps), "-rp", "1000",
                 "-m", str(calls), "-d", str(HOLD_MS), "-nostdin", "-timeout", f"{timeout}s",
                 "-trace_stat", "-stf", stf, "-trace_msg", "-message_file", msgs,
                 "-buff_size", "4194304"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
            procs.append(uac)
            uac.wait(timeout + 10)
            flood_out = {}
            if gen is not None:
                out, err = gen.communicate(timeout=args.seconds + 15)
                if gen.returncode != 0:
                    raise Setup(f"flood_gen failed: {err}")
                flood_out = json.loads(out)
            stop(tg)
            stop(uas, 2)
            stats = last_stats(tg_log)
            rows = list(csv.reader(open(stf), delimiter=";"))
            last = dict(zip(rows[0], rows[-1])) if len(rows) > 1 else {}
            ok = int(last.get("SuccessfulCall(C)", 0) or 0)
            failed = int(last.get("FailedCall(C)", 0) or 0)
            rtts = invite_latencies(msgs)
            return {
                "label": label, "calls": calls, "ok": ok, "failed": failed,
                "success": ok / calls if calls else 0.0,
                "p50_ms": percentile(rtts, 50), "p99_ms": percentile(rtts, 99),
                "max_ms": max(rtts) if rtts else float("nan"), "samples": len(rtts),
                "flood": flood_out, "stats": stats,
            }
        finally:
            for p in reversed(procs):
                stop(p, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20, help="length of each run (<= 60)")
    ap.add_argument("--cps", type=int, default=50, help="legitimate calls per second")
    ap.add_argument("--sources", type=int, default=8192, help="flood source addresses")
    ap.add_argument("--flood-rate", type=float, default=0,
                    help="flood datagrams/s (0: as fast as the generator goes)")
    ap.add_argument("--no-netns", action="store_true",
                    help="run on the host's loopback, shield in user space only")
    ap.add_argument("--short", action="store_true", help="6 s runs, 20 calls/s (test suites)")
    ap.add_argument("--json", action="store_true", help="also print the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep each run's files (logs, traces)")
    args = ap.parse_args()
    if args.short:
        args.seconds, args.cps = 6, 20
    if not 0 < args.seconds <= 60:
        sys.exit("--seconds must be in (0, 60]")
    for b in (TOLLGATE, FLOOD_GEN):
        if not os.access(b, os.X_OK):
            print(f"{b} not found: run make build first", file=sys.stderr)
            return 2
    try:
        env = Env(not args.no_netns)
    except Setup as e:
        print(e, file=sys.stderr)
        return 2
    try:
        mode = (f"network namespace {env.ns}, kernel offload on" if env.ns
                else "host loopback, shield in user space only")
        print(f"flood benchmark: {args.seconds:g} s runs, {args.cps} legitimate calls/s from a "
              f"trusted gateway, flood from {args.sources} sources; {mode}; "
              f"{os.cpu_count()} CPUs", flush=True)
        base = run("no flood", args, env, flood=False)
        under = run("flood", args, env, flood=True)
    except Setup as e:
        print(e, file=sys.stderr)
        return 2
    finally:
        env.close()

    f, s = under["flood"], under["stats"]
    dropped = counts(s.get("shield_dropped"))
    received = int(s.get("shield_received", 0)) - int(s.get("shield_trusted", 0))
    kernel = int(s.get("kernel_drops", 0))
    print()
    print(f"{'':34s} {'no flood':>14s} {'flood':>14s}")
    for name, key, fmt in (("legitimate calls", "calls", "{:d}"), ("successful", "ok", "{:d}"),
                           ("failed", "failed", "{:d}")):
        print(f"{name:34s} {fmt.format(base[key]):>14s} {fmt.format(under[key]):>14s}")
    print(f"{'success':34s} {base['success'] * 100:>13.2f}% {under['success'] * 100:>13.2f}%")
    for name, key in (("INVITE->200 p50 (ms)", "p50_ms"), ("INVITE->200 p99 (ms)", "p99_ms"),
                      ("INVITE->200 max (ms)", "max_ms")):
        print(f"{name:34s} {base[key]:>14.2f} {under[key]:>14.2f}")
    print()
    print(f"flood: {f.get('sent', 0)} datagrams in {f.get('seconds', 0):.1f} s "
          f"({f.get('rate', 0):.0f}/s) from {f.get('sources', 0)} sources")
    print(f"  dropped in the kernel (banned):   {kernel}")
    print(f"  received by tollgate:             {received}")
    print(f"    dropped by the shield:          {sum(dropped.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(dropped.items())) or '-'})")
    print(f"    passed to the parser:           {int(s.get('shield_passed', 0)) - int(s.get('shield_trusted', 0))}")
    print(f"  answered:                         {f.get('answered', 0)}")
    print(f"  bans placed:                      {s.get('bans_placed', 0)}")
    unaccounted = f.get("sent", 0) - kernel - received
    print(f"  lost before tollgate (socket buffer or still queued): {max(unaccounted, 0)}")

    base_p99 = max(base["p99_ms"], FLOOR_MS)
    good = (base["success"] >= SUCCESS_TARGET and under["success"] >= SUCCESS_TARGET and
            under["p99_ms"] <= LATENCY_FACTOR * base_p99)
    print()
    print(f"verdict: {'PASS' if good else 'FAIL'} (success >= {SUCCESS_TARGET * 100:.1f} % both "
          f"runs; flood p99 {under['p99_ms']:.2f} ms <= {LATENCY_FACTOR:g} x "
          f"{base_p99:.2f} ms)")
    if args.json:
        print(json.dumps({"base": base, "flood": under, "pass": good}, default=str))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
