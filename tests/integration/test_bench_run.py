"""bench/run stays runnable, and its memory target is checked on every run
of the suite: tollgate alone (no Kamailio), one repetition of the latency
row (2 s at 200 calls/s) and of the memory row (10,000 calls held open at
once), inside the namespace bench/run makes for itself. The full
side-by-side table is `bench/run` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import REPO, TOLLGATE_BIN

BENCH_RUN = REPO / "bench" / "run"


@pytest.mark.slow
def test_bench_run_latency_and_memory_rows(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, str(BENCH_RUN), "--no-build", "--systems", "tollgate", "--reps", "1",
         "--rows", "latency,memory", "--seconds", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=240,
        env={"TOLLGATE_BIN": TOLLGATE_BIN, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    report = f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert r.returncode == 0, report
    assert "| INVITE->200 p99 (ms) |" in r.stdout, report
    assert "target: memory <= 10000 bytes per concurrent call: ok" in r.stdout, report
    res = json.loads(out.read_text())
    lat = res["tollgate_latency"][0]
    assert lat["ok"] == lat["calls"] == 400, report
    assert 0 < lat["p50"] <= lat["p99"] < 100, report
    mem = res["tollgate_memory"][0]
    assert mem["ok"] == 10_000, report
    assert 0 < mem["per_call_bytes"] <= 10_000, report
    assert mem["cpu_per_1000"] > 0, report
