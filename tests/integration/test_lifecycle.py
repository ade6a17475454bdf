"""The node's life: CDRs survive kill -9, SIGTERM drains (live calls finish,
new INVITEs get 503, exit 0), provisioning imported while running applies
without a restart and without touching calls in progress."""

from __future__ import annotations

import signal
import time

from harness import check_cdr, mapping_gateway, routing_gateway, wait_until

CALLER = "4420"


def _wait_answered(uas, calls: int = 1, timeout: float = 10):
    """Bounded wait until the carrier UAS has seen the ACK of `calls` calls
    (the call is up on both legs)."""
    wait_until(lambda: len(uas.received("ACK")) >= calls or
               (uas.proc.poll() is not None and "uas exited"), timeout, "the call to be answered")
    assert len(uas.received("ACK")) >= calls, uas.report()


def test_cdrs_survive_kill9(tollgate, sipp, ports):
    """DESIGN.md "Nothing lost": a CDR the node has committed survives
    kill -9. tollgate answers the caller's BYE before the CDR is committed
    (the writer is asynchronous: the SIP worker never waits on the disk), so
    there is a window, measured in docs/store.md (bench/cdr_window.py: mean
    about 0.2 ms, at most a few ms), in which a kill -9 loses a finished
    call's CDR. The test therefore waits until the node reports every CDR
    committed (its own counter, not a reader of the file), SIGKILLs it at
    once, and finds every CDR in the store."""
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=5).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", calls=5, rate=10,
               caller=CALLER, hold_ms=100)
    uac.run()
    writer = wait_until(lambda: (lambda w: w if w["written"] == 5 else None)(
        tg.api("GET", "/api/v1/stats").json()["cdr_writer"]), 5, "5 CDRs committed")
    assert writer["commit_delay_max_ms"] < 1000, writer  # the window, measured by the node
    tg.kill9()  # nothing else happens to the store between the counter and the kill
    uac.assert_ok()
    assert tg.proc.returncode == -signal.SIGKILL
    rows = tg.cdrs(limit=50)
    assert len(rows) == 5, [r["reason"] for r in rows]
    for r in rows:
        check_cdr(r, reason="caller_bye", final_code=200, answered=True, hangup="caller",
                  gateways=["carrier-a"], caller=CALLER)
    want = {m.header("Call-ID") for m in uac.sent("INVITE")}
    assert {r["call_id"] for r in rows} == want
    uas.kill()


def test_sigterm_drain(tollgate, sipp, ports):
    """SIGTERM with a call up: the call goes on and ends normally, a new
    INVITE meanwhile gets 503 (CDR draining), and the process exits 0 soon
    after the last call ends (not at drain_timeout)."""
    uas_port = ports.port()
    tg = tollgate(settings={"node": {"drain_timeout": 30}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    live = sipp("uac-live", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
                caller="1111", hold_ms=5000).start()
    _wait_answered(uas)

    tg.signal(signal.SIGTERM)
    tg.wait_log(r"event=node\.draining", timeout=5)
    late = sipp("uac-late", "uac-expect-503.xml", remote=f"127.0.0.1:{tg.port}", caller="2222")
    late.run()
    late.assert_ok()
    assert tg.running(), "tollgate must wait for the call in progress"

    live.wait()
    ended = time.monotonic()
    uas.wait()
    live.assert_ok()
    uas.assert_ok()
    rc = tg.wait_exit(timeout=10)
    assert rc == 0, tg.log_tail()
    assert time.monotonic() - ended < 5, "exit should follow the end of the last call"
    assert "event=node.drain_timeout" not in tg.log()

    rows = tg.cdrs()
    assert len(rows) == 2, rows
    by_caller = {r["caller"]: r for r in rows}
    check_cdr(by_caller["1111"], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-a"], min_duration_ms=4500)
    check_cdr(by_caller["2222"], reason="draining", final_code=503, answered=False, hangup="",
              gateways=[], mapping_gateway="cust-a")
    assert len(uas.received("INVITE")) == 1, "the refused call must not reach the carrier"


def test_live_provisioning(tollgate, sipp, ports):
    """Start with carrier A only; while a call is up on A, import a prefix
    route to carrier B. Within provisioning_poll_ms a call to that prefix
    lands on B, and the call on A goes on and ends normally."""
    a_port, b_port = ports.port(), ports.port()
    customer = mapping_gateway("cust-a", ["127.0.0.1"])
    tg = tollgate(settings={"store": {"provisioning_poll_ms": 200}},
                  provisioning=customer + routing_gateway("carrier-a", f"127.0.0.1:{a_port}"))
    uas_a = sipp("uas-a", "uas-answer.xml", port=a_port).start().wait_listening()
    uas_b = sipp("uas-b", "uas-answer.xml", port=b_port).start().wait_listening()
    first = sipp("uac-first", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
                 caller="1111", service="4420791234", hold_ms=6000).start()
    _wait_answered(uas_a)

    log_mark = len(tg.log())
    r = tg.import_text(routing_gateway("carrier-b", f"127.0.0.1:{b_port}", prefixes=["44"],
                                       priority=10))
    assert "1 added" in r.stdout, r.stdout
    tg.wait_log(r"event=provisioning\.reloaded", timeout=5, start=log_mark)

    second = sipp("uac-second", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
                  caller="2222", service="4420795678", hold_ms=200)
    second.run()
    second.assert_ok()
    assert first.proc.poll() is None, "the call on carrier-a must still be up"
    uas_b.wait()
    uas_b.assert_ok()
    assert uas_b.received("INVITE")[0].first_line.startswith("INVITE sip:4420795678@")

    first.wait()
    uas_a.wait()
    first.assert_ok()
    uas_a.assert_ok()
    assert len(uas_a.received("INVITE")) == 1

    rows = tg.wait_cdrs(2)
    by_caller = {r["caller"]: r for r in rows}
    check_cdr(by_caller["1111"], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-a"], callee="4420791234", min_duration_ms=5500)
    check_cdr(by_caller["2222"], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-b"], callee="4420795678")
    assert tg.running(), "no restart"
