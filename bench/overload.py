#!/usr/bin/python3
"""bench/overload.py: tollgate beyond its capacity, under a cgroup CPU quota.

tollgate is confined to a share of one core (cgroup v1 cpu controller:
cpu.cfs_quota_us, the process's threads written to `tasks`), so the load
generator is never the limit. The benchmark finds tollgate's capacity C (the
highest call rate with >= 99.9 % success, bisected like bench/run's IP row),
then offers 2 C and 5 C for --seconds each and prints, for each:

  goodput            answered calls per second as a share of C (goal >= 90 %)
  p99 INVITE->200    of the answered calls, against the p99 at C / 2 (goal <= 3x)
  refused            calls answered with a final error (a 503 is the goal), and
                     the p99 time from INVITE to that answer (goal <= 50 ms)
  timed out          calls that got no final answer at all (goal 0)
  BYE success        BYEs of established calls answered 200 (goal 100 %)
  peak RSS           tollgate's VmHWM

It measures; it does not judge (the goals are those of the overload-control
issue, printed beside the figures). Loopback only; every SIPp run is bounded
by its call count and a timeout; the cgroup is removed at the end.

Then (tollgate) the fairness row: two customers with equal shares, one
offering five times its share of C, the other its share; the second should
keep >= 90 % of its calls. `--systems tollgate,kamailio` measures Kamailio
under the same quota with the same callers (bench/run's `overload` row).

Usage: bench/overload.py [--quota-us 2500] [--period-us 10000] [--seconds 20] [--trial-seconds 5]
                         [--factors 2,5] [--systems tollgate,kamailio] [--capacity C]
                         [--no-fairness] [--json FILE]
Needs root and a writable /sys/fs/cgroup/cpu (cgroup v1). Exit 2 on a setup
error.
"""

import argparse
import importlib.machinery
import importlib.util
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
br = importlib.util.module_from_spec(_spec)
_loader.exec_module(br)

CGROUP_ROOT = "/sys/fs/cgroup/cpu"
# A 503 fails the call (ACK, then done), in the capacity search too.
br.UAC_SCENARIO = "uac-overload.xml"
# ... and no BYE for it (SIPp sends one for a failed call by default).
br.UAC_BEHAVIORS = "all,-abortunexp,-bye"


class Cgroup:
    """A cpu cgroup (v1) with a quota; threads are moved in by pid."""

    def __init__(self, quota_us, period_us=100_000):
        self.path = os.path.join(CGROUP_ROOT, f"tg-overload-{os.getpid()}")
        try:
            os.makedirs(self.path, exist_ok=True)
            with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
                f.write(str(period_us))
            with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota_us))
        except OSError as e:
            raise br.SetupError(f"cannot set up the cgroup {self.path}: {e}")

    def confine(self, pid):
        """Every thread of pid and of its descendants (Kamailio's workers)."""
        for p in br.descendants(pid):
            try:
                tids = os.listdir(f"/proc/{p}/task")
            except OSError:
                continue  # a process that ended meanwhile
            for tid in tids:
                try:
                    with open(os.path.join(self.path, "tasks"), "w") as f:
                        f.write(tid)
                except OSError:
                    pass  # a thread that ended meanwhile

    def remove(self):
        try:
            for tid in open(os.path.join(self.path, "tasks")).read().split():
                try:
                    with open(os.path.join(CGROUP_ROOT, "tasks"), "w") as f:
                        f.write(tid)
                except OSError:
                    pass
            os.rmdir(self.path)
        except OSError:
            pass


def confined(base):
    """bench/run's set-up of `base` (tollgate or Kamailio), every thread of it
    in the cgroup once it is ready."""
    class Confined(base):
        def __init__(self, cgroup):
            self.cgroup = cgroup
            self.last = None

        def start(self, *a, **kw):
            p = super().start(*a, **kw)
            self.cgroup.confine(p.pid)
            self.last = p
            return p
    Confined.__name__ = f"Confined{base.__name__}"
    return Confined


ConfinedTollgate = confined(br.Tollgate)
ConfinedKamailio = confined(br.Kamailio)


def call_outcomes(message_log):
    """Per call (Call-ID), from a SIPp -trace_msg file: INVITE->final time
    (ms) and its status; BYEs sent and BYEs answered 200."""
    text = open(message_log, errors="replace").read()
    marks = list(br._MSG.finditer(text))
    invite_at, final, byes, bye_ok = {}, {}, set(), set()
    for i, m in enumerate(marks):
        body = text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        first = body.split("\n", 1)[0].strip()
        cid = br.re.search(r"^(?:Call-ID|i)\s*:\s*(\S+)", body, br.re.M | br.re.I)
        cseq = br.re.search(r"^CSeq\s*:\s*\d+\s+(\w+)", body, br.re.M | br.re.I)
        if not cid or not cseq:
            continue
        key, method = cid.group(1), cseq.group(1)
        t = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + \
            int(m.group(1)[20:]) / 1e6
        sent = m.group(2) == "sent"
        if method == "INVITE":
            if sent and first.startswith("INVITE") and key not in invite_at:
                invite_at[key] = t
            elif not sent and first.startswith("SIP/2.0 ") and key in invite_at \
                    and key not in final:
                status = int(first.split()[1])
                if status >= 200:
                    final[key] = (status, (t - invite_at[key]) * 1000.0, t)
        elif method == "BYE":
            if sent and first.startswith("BYE"):
                byes.add(key)
            elif not sent and first.startswith("SIP/2.0 200"):
                bye_ok.add(key)
    return invite_at, final, byes, bye_ok


def summarize(message_log, rate, calls, seconds):
    invite_at, final, byes, bye_ok = call_outcomes(message_log)
    answered = [ms for st, ms, _ in final.values() if 200 <= st < 300]
    refused = [ms for st, ms, _ in final.values() if st >= 300]
    # Goodput over the time calls were actually being answered: an overloaded
    # node answers long after the offered load stopped.
    span = seconds
    if final and invite_at:
        span = max(seconds, max(t for _, _, t in final.values()) - min(invite_at.values()))
    codes = {}
    for st, _, _ in final.values():
        if st >= 300:
            codes[st] = codes.get(st, 0) + 1
    return {"offered": rate, "calls": calls, "answered": len(answered),
            "refused": len(refused), "refused_codes": codes,
            "timed_out": len(invite_at) - len(final),
            "p99_answered_ms": br.percentile(answered, 99),
            "p99_refused_ms": br.percentile(refused, 99),
            "byes": len(byes), "byes_ok": len(bye_ok & byes),
            "span_s": span, "goodput": len(answered) / span}


def peak_rss_mib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def offered_run(system, rate, seconds):
    calls = max(1, int(rate * seconds))
    with br.Trial(system) as t:
        r = br.run_uac(t.work, t.ports, t.port, rate, calls, br.HOLD_MS, trace=True,
                       timeout_s=int(seconds) + 40, deadline_s=seconds * 3 + 40)
        rss = sum(peak_rss_mib(p) for p in t.pids())
        out = summarize(r["messages"], rate, calls, seconds)
    out["ok"] = r["ok"]
    out["rss_mib"] = rss
    return out


def add_customer(work, name, address):
    """A second mapping gateway on a running tollgate (the CLI writes the
    store; the node picks the change up within its provisioning poll)."""
    prov = os.path.join(work, f"{name}.toml")
    with open(prov, "w") as f:
        f.write(f'[[mapping_gateway]]\nname = "{name}"\nauth = "ip"\n'
                f'addresses = ["{address}"]\n')
    r = br.subprocess.run([br.TOLLGATE, "import", "--config", os.path.join(work, "tollgate.toml"),
                           prov], capture_output=True, text=True)
    if r.returncode != 0:
        raise br.SetupError(f"tollgate import failed: {r.stderr}")
    time.sleep(2.5)  # longer than the default provisioning poll


def fairness_run(system, capacity, seconds):
    """Two customers with equal shares of C: A (127.0.0.1) offers five times
    its share, B (127.0.0.2) its share. Returns both summaries."""
    share = max(1, capacity // 2)
    with br.Trial(system) as t:
        add_customer(t.work, "bench-customer-b", "127.0.0.2")
        results = {}
        ports, lock = t.ports, threading.Lock()

        class SharedPorts:  # the two callers take ports at once
            def get(self):
                with lock:
                    return ports.get()

        def caller(key, ip, rate):
            work = os.path.join(t.work, key)
            os.makedirs(work, exist_ok=True)
            calls = max(1, int(rate * seconds))
            r = br.run_uac(work, SharedPorts(), t.port, rate, calls, br.HOLD_MS, trace=True,
                           timeout_s=int(seconds) + 40, deadline_s=seconds * 3 + 40,
                           local_ip=ip)
            results[key] = summarize(r["messages"], rate, calls, seconds)
        threads = [threading.Thread(target=caller, args=("a", "127.0.0.1", share * 5)),
                   threading.Thread(target=caller, args=("b", "127.0.0.2", share))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    return results


def measure(name, quota_us=2_500, period_us=10_000, seconds=20.0, trial_seconds=5.0,
            factors=(2.0, 5.0), capacity=None, fairness=True):
    """The overload rows of one system ("tollgate" or "kamailio"): C, then
    C/2 and each factor of C offered, and (tollgate) the fairness row."""
    cg = Cgroup(quota_us, period_us)
    try:
        system = (ConfinedTollgate if name == "tollgate" else ConfinedKamailio)(cg)
        if not capacity:
            search = argparse.Namespace(trial_seconds=trial_seconds, start_rate=500,
                                        max_rate=64000)
            capacity = br.max_rate(f"{name} confined", system, False, search, None)
        if not capacity:
            raise br.SetupError(f"no rate passed for {name}")
        br.log(f"{name}: capacity C = {capacity}/s at {quota_us} us CPU per {period_us} us")
        runs = {"0.5": offered_run(system, max(1, capacity // 2), seconds)}
        for f in factors:
            runs[f"{f:g}"] = offered_run(system, int(capacity * f), seconds)
        fair = fairness_run(system, capacity, seconds) if fairness else None
    finally:
        cg.remove()
    return {"system": name, "quota_us": quota_us, "period_us": period_us,
            "seconds": seconds, "capacity": capacity, "runs": runs, "fairness": fair}


def print_rows(m):
    runs, capacity = m["runs"], m["capacity"]
    base_p99 = runs["0.5"]["p99_answered_ms"]
    print(f"\noverload, {m['system']}: cgroup quota {m['quota_us']} us per {m['period_us']} us; "
          f"capacity C = {capacity} calls/s; {m['seconds']:g} s per run")
    print(f"{'offered':>10} {'goodput/C':>10} {'p99 ok ms':>10} {'x C/2 p99':>10} "
          f"{'refused':>8} {'p99 ref ms':>10} {'timed out':>10} {'BYE ok':>8} {'RSS MiB':>8}")
    for k, r in runs.items():
        print(f"{k + ' C':>10} {r['goodput'] / capacity:>10.2f} {r['p99_answered_ms']:>10.1f} "
              f"{r['p99_answered_ms'] / base_p99 if base_p99 else float('nan'):>10.1f} "
              f"{r['refused']:>8} {r['p99_refused_ms']:>10.1f} {r['timed_out']:>10} "
              f"{(r['byes_ok'] / r['byes'] if r['byes'] else 1.0):>8.1%} {r['rss_mib']:>8.0f}"
              f"  codes {r['refused_codes'] or '-'}, answered over {r['span_s']:.1f} s")
    fair = m.get("fairness")
    if fair:
        a, b = fair["a"], fair["b"]
        print(f"fairness: A offers 5x its half of C ({a['offered']}/s), B its half "
              f"({b['offered']}/s): B answered {b['answered']}/{b['calls']} "
              f"({b['answered'] / max(1, b['calls']):.1%}, goal >= 90 %), A answered "
              f"{a['answered']}/{a['calls']}; together {(a['goodput'] + b['goodput']) / capacity:.2f} C")
    print("goals (overload control): goodput >= 0.90 C, p99 <= 3x the C/2 p99, refusals "
          "are 503 within 50 ms p99, nothing times out, every BYE answered")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quota-us", type=int, default=2_500,
                    help="CPU microseconds per period (2500 per 10 ms = a quarter core)")
    ap.add_argument("--period-us", type=int, default=10_000,
                    help="the cgroup's CFS period: a short one keeps the stalls of a "
                         "throttled process short (at most period - quota)")
    ap.add_argument("--seconds", type=float, default=20.0, help="each overload run")
    ap.add_argument("--trial-seconds", type=float, default=5.0, help="each capacity trial")
    ap.add_argument("--factors", default="2,5", help="offered load as multiples of C")
    ap.add_argument("--systems", default="tollgate",
                    help="tollgate and/or kamailio (same quota, same callers)")
    ap.add_argument("--capacity", type=int,
                    help="use this C instead of searching for it (a rerun on the same machine)")
    ap.add_argument("--no-fairness", action="store_true", help="skip the two-customer row")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/overload.py: needs root (cgroup)", file=sys.stderr)
        return 2
    results = []
    try:
        # Packages (Kamailio when asked for) and the build, as bench/run does.
        br.ensure_ready(argparse.Namespace(systems=args.systems, rows="overload", no_build=False))
        for name in args.systems.split(","):
            results.append(measure(name, args.quota_us, args.period_us, args.seconds,
                                   args.trial_seconds,
                                   [float(x) for x in args.factors.split(",") if x],
                                   args.capacity if name == "tollgate" else None,
                                   fairness=name == "tollgate" and not args.no_fairness))
    except (br.SetupError, br.subprocess.CalledProcessError) as e:
        print(f"bench/overload.py: {e}", file=sys.stderr)
        return 2
    for m in results:
        print_rows(m)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
