"""A burst of 1,000 calls at 100 calls/s through one node: every call
succeeds and every call has its CDR."""

from __future__ import annotations

from collections import Counter

import pytest

from harness import check_cdr, mapping_gateway, routing_gateway

CALLS = 1000
RATE = 100


@pytest.mark.slow
def test_burst_1000_calls_at_100_cps(tollgate, sipp, ports):
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=CALLS, timeout=50,
               trace_msg=False).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", calls=CALLS,
               rate=RATE, hold_ms=200, timeout=45, trace_msg=False, caller="4420")
    uac.run(timeout=55)
    uas.wait(timeout=20)
    uac.assert_ok()
    uas.assert_ok()
    assert uac.counts() == (CALLS, 0)

    rows = tg.wait_cdrs(CALLS, timeout=20, limit=CALLS + 100)
    assert len(rows) == CALLS, f"{len(rows)} CDRs for {CALLS} calls"
    reasons = Counter(r["reason"] for r in rows)
    assert reasons == {"caller_bye": CALLS}, reasons
    assert len({r["call_id"] for r in rows}) == CALLS, "one CDR per call"
    for r in rows[:: CALLS // 20]:  # a sample, field by field
        check_cdr(r, reason="caller_bye", final_code=200, answered=True, hangup="caller",
                  gateways=["carrier-a"], caller="4420", min_duration_ms=150,
                  max_duration_ms=10000)
