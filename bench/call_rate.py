#!/usr/bin/python3
"""Highest sustained call rate with >= 99.9 % success, tollgate vs direct.

Workload: SIPp UAC -> tollgate (IP-authenticated mapping gateway) -> SIPp UAS,
call = INVITE/100/180/200/ACK, short hold, BYE/200. The same workload is sent
straight UAC -> UAS in the same run, which is the ceiling of the load
generator on this machine. System "tollgate-digest" is the same through a
password mapping gateway: every INVITE is challenged (407, MD5 first) and
sent again with digest credentials that tollgate verifies, so a call costs
one more round trip and a nonce + HA2 + response computation. For each system the rate is doubled until a trial
falls below the success target, then bisected. Every trial starts fresh
processes (an overloaded probe must not poison the next one) and everything
is bounded in time and count. Loopback only.

Usage: bench/call_rate.py [--seconds 8] [--start 250] [--max 40000] [--bisect 3]
                          [--systems direct,tollgate,tollgate-digest]
Prints one table; exit 0. Needs build/bin/tollgate and sipp.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLLGATE = os.environ.get("TOLLGATE_BIN", os.path.join(ROOT, "build", "bin", "tollgate"))
DIGEST_SCENARIO = os.path.join(ROOT, "tests", "integration", "scenarios", "uac-invite-auth.xml")
DIGEST_USER, DIGEST_PASSWORD = "bench", "bench-password"
TARGET = 0.999
KEEP_UP = 0.95  # a trial passes only if this share of the offered rate was achieved
HOLD_MS = 100


def free_port(proto=socket.SOCK_DGRAM):
    for _ in range(200):
        s = socket.socket(socket.AF_INET, proto)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if 20000 <= port <= 60000:
            return port
    raise RuntimeError("no free port")


def sipp_counts(screen_file):
    ok = failed = 0
    try:
        text = open(screen_file, errors="replace").read()
    except OSError:
        return 0, 0
    m = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    if m:
        ok = int(m[-1])
    m = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    if m:
        failed = int(m[-1])
    return ok, failed


def start_uas(work, port):
    log = open(os.path.join(work, "uas.out"), "w")
    return subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port()),
         "-cp", str(free_port()), "-nostdin", "-timeout", "120s", "-buff_size", "4194304",
         "-max_socket", "65000"],
        stdout=log, stderr=subprocess.STDOUT, cwd=work)


def start_tollgate(work, port, uas_port, digest=False):
    cfg = os.path.join(work, "tollgate.toml")
    prov = os.path.join(work, "prov.toml")
    with open(cfg, "w") as f:
        f.write(f"""[sip]
listen = ["udp:127.0.0.1:{port}"]
[store]
path = "{work}/tg.db"
[log]
level = "info"
# No management API (it would take 127.0.0.1:8080). The load generator is a
# trusted source to the shield (a gateway address; shield.trusted covers the
# digest customer too, which has no address), and the shield's default
# per-source bucket for trusted sources (trusted_rate 1000/s, burst 2000)
# would answer the excess 503 and cap this benchmark: it is opened wide to
# measure the call path itself.
[api]
listen = []
[shield]
trusted = ["127.0.0.0/8"]
trusted_rate = 1000000
trusted_burst = 1000000
""")
    customer = (f"""auth = "password"
username = "{DIGEST_USER}"
password = "{DIGEST_PASSWORD}"
""" if digest else """auth = "ip"
addresses = ["127.0.0.1"]
""")
    with open(prov, "w") as f:
        f.write(f"""[[mapping_gateway]]
name = "bench-customer"
{customer}[[routing_gateway]]
name = "bench-carrier"
address = "127.0.0.1:{uas_port}"
prefixes = [""]
priority = 1
""")
    subprocess.run([TOLLGATE, "import", "--config", cfg, prov], check=True,
                   stdout=subprocess.DEVNULL)
    log = open(os.path.join(work, "tollgate.log"), "w")
    p = subprocess.Popen([TOLLGATE, "run", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 5
    while time.time() < deadline:
        if "node.ready" in open(os.path.join(work, "tollgate.log")).read():
            return p
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("tollgate did not start: " + open(os.path.join(work, "tollgate.log")).read())


def stop(p, grace=5):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def trial(system, rate, seconds):
    """One fresh run at `rate` calls/s for `seconds`; returns success ratio."""
    calls = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as work:
        uas_port = free_port()
        uas = start_uas(work, uas_port)
        tg = None
        try:
            target_port = uas_port
            if system.startswith("tollgate"):
                target_port = free_port()
                tg = start_tollgate(work, target_port, uas_port, digest=system == "tollgate-digest")
            time.sleep(0.3)
            screen = os.path.join(work, "uac_screen.log")
            scenario = ["-sn", "uac"]
            if system == "tollgate-digest":
                scenario = ["-sf", DIGEST_SCENARIO, "-au", DIGEST_USER, "-ap", DIGEST_PASSWORD,
                            "-key", "caller", DIGEST_USER]
            cmd = (
                ["sipp", *scenario, f"127.0.0.1:{target_port}", "-s", "1000",
                 "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
                 "-cp", str(free_port()), "-r", str(rate), "-m", str(calls),
                 "-l", str(max(1000, rate * 4)), "-d", str(HOLD_MS), "-nostdin",
                 "-timeout", f"{seconds + 40}s", "-buff_size", "4194304", "-max_socket", "65000",
                 "-trace_screen", "-screen_file", screen])
            began = time.monotonic()
            uac = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   cwd=work)
            try:
                uac.wait(seconds + 60)
            except subprocess.TimeoutExpired:
                # Overloaded beyond recovery: SIPp's own -timeout did not end it.
                uac.kill()
                uac.wait()
                return 0.0, 0, calls, 0.0
            wall = time.monotonic() - began
            ok, failed = sipp_counts(screen)
            # The rate actually offered: calls over the time it took, minus the
            # last call's hold and setup. A generator (or a switch) that falls
            # behind stretches the run instead of failing calls.
            achieved = calls / max(wall - HOLD_MS / 1000 - 0.2, 0.001)
            return ok / calls if calls else 0.0, ok, failed, achieved
        finally:
            stop(tg)
            stop(uas, 2)


def passes(system, rate, args):
    ratio, ok, failed, achieved = trial(system, rate, args.seconds)
    good = ratio >= TARGET and achieved >= KEEP_UP * rate
    print(f"  {system:15s} {rate:6d} calls/s offered, {achieved:8.0f} achieved: {ok} ok, "
          f"{failed} failed ({ratio * 100:.2f} %) {'pass' if good else 'FAIL'}", flush=True)
    return good


def max_rate(system, args):
    good, bad = 0, None
    rate = args.start
    while rate <= args.max:
        if passes(system, rate, args):
            good = rate
            rate *= 2
        else:
            bad = rate
            break
    if bad is not None:
        for _ in range(args.bisect):
            if good and bad - good <= max(50, good // 20):
                break
            mid = (good + bad) // 2 if good else bad // 2
            if passes(system, mid, args):
                good = mid
            else:
                bad = mid
    return good


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8, help="length of each trial")
    ap.add_argument("--start", type=int, default=250, help="first rate tried (calls/s)")
    ap.add_argument("--max", type=int, default=64000, help="highest rate tried")
    ap.add_argument("--bisect", type=int, default=3, help="bisection steps after the first failure")
    ap.add_argument("--systems", default="direct,tollgate,tollgate-digest",
                    help="comma-separated subset of direct,tollgate,tollgate-digest")
    args = ap.parse_args()
    systems = args.systems.split(",")
    if not os.access(TOLLGATE, os.X_OK):
        sys.exit(f"{TOLLGATE} not found: run make build first")
    print(f"call rate benchmark: {args.seconds} s trials, target {TARGET * 100:.1f} % success, "
          f"hold {HOLD_MS} ms, {os.cpu_count()} CPUs")
    direct = max_rate("direct", args) if "direct" in systems else 0
    tollgate = max_rate("tollgate", args) if "tollgate" in systems else 0
    digest = max_rate("tollgate-digest", args) if "tollgate-digest" in systems else 0
    print()
    print(f"{'path':42s} {'max calls/s @ >=99.9 %':>24s}")
    print(f"{'SIPp UAC -> UAS (direct ceiling)':42s} {direct:>24d}")
    print(f"{'SIPp UAC -> tollgate -> UAS (IP auth)':42s} {tollgate:>24d}")
    print(f"{'SIPp UAC -> tollgate -> UAS (digest, 407)':42s} {digest:>24d}")
    if direct and tollgate:
        print(f"{'tollgate IP auth / direct':42s} {tollgate / direct:>24.2f}")
    if tollgate and digest:
        print(f"{'tollgate digest / IP auth':42s} {digest / tollgate:>24.2f}")


if __name__ == "__main__":
    main()
