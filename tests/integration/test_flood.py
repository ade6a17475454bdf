"""The flood benchmark's short variant (bench/flood.py --short): 6 s of
legitimate calls from a trusted gateway, alone and then under a flood from
8192 loopback sources at the highest rate flood_gen reaches, inside a
private network namespace with kernel offload on. Skipped, with the reason,
only where namespaces cannot be created.

The full run (20 s, 50 calls/s; `make bench` or `bench/flood.py`) applies
the strict verdict: p99 under flood within 2x the no-flood p99. Here, with
120 calls, the p99 is the second-worst call and a single scheduling hiccup
on a shared machine moves it by milliseconds, so this test asserts what
must hold however busy the machine is: every legitimate call succeeds, none
needs an INVITE retransmission (which would cost 500 ms), the p99 stays
within 2x the no-flood p99 or 25 ms (10 ms failed on a loaded 2-core machine
at 10.2 ms: scheduling, not the flood), and the flood is dropped (in the
kernel once banned) and never answered.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import REPO, TOLLGATE_BIN

FLOOD = REPO / "bench" / "flood.py"
FLOOD_GEN = REPO / "build" / "bin" / "flood_gen"


@pytest.mark.slow
def test_legitimate_calls_survive_a_flood():
    if not FLOOD_GEN.exists():
        pytest.skip(f"{FLOOD_GEN} not built")
    r = subprocess.run([sys.executable, str(FLOOD), "--short", "--json"], capture_output=True,
                       text=True, timeout=180, env={"TOLLGATE_BIN": TOLLGATE_BIN, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if r.returncode == 2 and "network namespace" in r.stderr:
        pytest.skip(f"network namespaces are not available here: {r.stderr.strip()}")
    assert r.returncode in (0, 1), f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    result = json.loads(r.stdout.strip().splitlines()[-1])
    base, flood = result["base"], result["flood"]
    report = r.stdout
    assert base["success"] == 1.0, report
    assert flood["success"] >= 0.999, report
    assert flood["max_ms"] < 500, f"a legitimate INVITE was retransmitted:\n{report}"
    assert flood["p99_ms"] <= max(2 * base["p99_ms"], 25.0), report

    sent = flood["flood"]["sent"]
    stats = flood["stats"]
    assert sent >= 50_000, f"the generator hardly flooded:\n{report}"
    assert flood["flood"]["answered"] == 0, report
    kernel = int(stats["kernel_drops"])
    received = int(stats["shield_received"]) - int(stats["shield_trusted"])
    passed = int(stats["shield_passed"]) - int(stats["shield_trusted"])
    assert kernel + received >= 0.95 * sent, report
    assert kernel >= 0.9 * sent, f"the kernel should drop the banned flood:\n{report}"
    assert passed <= 0.01 * sent, f"the parser saw too much of the flood:\n{report}"
