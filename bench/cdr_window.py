#!/usr/bin/python3
"""How long a finished call's CDR is only in memory (the kill -9 window).

tollgate answers the caller's BYE and hands the CDR to its asynchronous
writer (store/cdr_writer.h): the SIP worker never waits on the disk. Until
the writer's next commit, a kill -9 loses that CDR; once committed it
survives (WAL). This measures that window: SIPp UAC -> tollgate (IP-
authenticated customer) -> SIPp UAS at a few fixed call rates, then reads the
node's own per-CDR histogram `tollgate_cdr_commit_delay_seconds` (submit to
commit) and the largest delay seen from the management API. Each rate runs
in fresh processes on loopback; everything is bounded in time and count.

Usage: bench/cdr_window.py [--seconds 5] [--rates 20,200,1000]
Prints one table; exit 0. Needs build/bin/tollgate and sipp.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from call_rate import HOLD_MS, TOLLGATE, free_port, sipp_counts, start_uas, stop  # noqa: E402

import subprocess  # noqa: E402


def start_node(work, port, uas_port, api_port):
    cfg = os.path.join(work, "tollgate.toml")
    with open(cfg, "w") as f:
        f.write(f"""[sip]
listen = ["udp:127.0.0.1:{port}"]
[store]
path = "{work}/tg.db"
[log]
level = "info"
[api]
listen = ["127.0.0.1:{api_port}"]
[shield]
trusted_rate = 1000000
trusted_burst = 1000000
""")
    prov = os.path.join(work, "prov.toml")
    with open(prov, "w") as f:
        f.write(f"""[[mapping_gateway]]
name = "bench-customer"
auth = "ip"
addresses = ["127.0.0.1"]
[[routing_gateway]]
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
    raise RuntimeError("tollgate did not start")


def api(work, api_port, path):
    token = open(os.path.join(work, "tg.db.api-token")).read().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{api_port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def histogram(text, name):
    """(upper bound -> cumulative count), sum, count of one histogram."""
    buckets, total, count = [], 0.0, 0
    for line in text.splitlines():
        m = re.match(rf'{name}_bucket{{[^}}]*le="([^"]+)"}} (\S+)', line)
        if m:
            buckets.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)),
                            int(float(m.group(2)))))
        elif line.startswith(f"{name}_sum"):
            total = float(line.split()[-1])
        elif line.startswith(f"{name}_count"):
            count = int(float(line.split()[-1]))
    return buckets, total, count


def quantile_bound(buckets, count, q):
    """The smallest bucket bound holding the q-quantile (an upper bound)."""
    for bound, cum in buckets:
        if cum >= q * count:
            return bound
    return float("inf")


def run(rate, seconds):
    calls = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="tg-cdrwin-") as work:
        uas_port, tg_port, api_port = free_port(), free_port(), free_port()
        uas = start_uas(work, uas_port)
        tg = None
        try:
            tg = start_node(work, tg_port, uas_port, api_port)
            time.sleep(0.3)
            screen = os.path.join(work, "uac_screen.log")
            cmd = ["sipp", "-sn", "uac", f"127.0.0.1:{tg_port}", "-s", "1000", "-i", "127.0.0.1",
                   "-p", str(free_port()), "-mp", str(free_port()), "-cp", str(free_port()),
                   "-r", str(rate), "-m", str(calls), "-l", str(max(1000, rate * 4)),
                   "-d", str(HOLD_MS), "-nostdin", "-timeout", f"{seconds + 40}s",
                   "-buff_size", "4194304", "-trace_screen", "-screen_file", screen]
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
                           timeout=seconds + 60)
            ok, _ = sipp_counts(screen)
            deadline = time.time() + 10
            while time.time() < deadline:
                stats = json.loads(api(work, api_port, "/api/v1/stats"))
                if stats["cdr_writer"]["written"] >= ok:
                    break
                time.sleep(0.05)
            buckets, total, count = histogram(api(work, api_port, "/metrics"),
                                              "tollgate_cdr_commit_delay_seconds")
            return (ok, count, total / count * 1000 if count else 0,
                    quantile_bound(buckets, count, 0.5) * 1000,
                    quantile_bound(buckets, count, 0.99) * 1000,
                    stats["cdr_writer"]["commit_delay_max_ms"])
        finally:
            stop(tg)
            stop(uas, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rates", default="20,200,1000")
    args = ap.parse_args()
    if not os.access(TOLLGATE, os.X_OK):
        sys.exit(f"{TOLLGATE} not found: run make build first")
    print(f"CDR commit window: {args.seconds} s per rate, hold {HOLD_MS} ms, "
          f"{os.cpu_count()} CPUs (p50/p99 are histogram bucket bounds)")
    print(f"{'calls/s':>8s} {'calls ok':>9s} {'CDRs':>6s} {'mean ms':>8s} {'p50 <= ms':>10s} "
          f"{'p99 <= ms':>10s} {'max ms':>8s}")
    for rate in (int(r) for r in args.rates.split(",")):
        ok, count, mean, p50, p99, mx = run(rate, args.seconds)
        print(f"{rate:8d} {ok:9d} {count:6d} {mean:8.3f} {p50:10.3f} {p99:10.3f} {mx:8.3f}",
              flush=True)


if __name__ == "__main__":
    main()
