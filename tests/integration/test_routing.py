"""Routing and failover: busy stops failover, 503 and silence fail over in
priority order, no route, longest prefix first with number translation."""

from __future__ import annotations

import time

from harness import check_cdr, mapping_gateway, routing_gateway

CALLEE = "15551234567"
CALLER = "4420"


def test_busy_486_stops_failover(tollgate, sipp, recorder, ports):
    """486 from the first carrier is relayed; the second carrier (configured,
    matching) receives nothing at all."""
    uas_port = ports.port()
    second = recorder()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}", priority=10) +
                  routing_gateway("carrier-b", f"127.0.0.1:{second.addr[1]}", priority=20))
    uas = sipp("uas", "uas-busy-486.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-expect-486.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    assert uas.received("ACK"), "tollgate must ACK the carrier's 486"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="busy", final_code=486, answered=False, hangup="",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)
    # The CDR is written when the call ends: had tollgate failed over, the
    # INVITE to carrier-b would have left before it. A short extra window
    # covers a late retransmission path anyway.
    time.sleep(0.3)
    assert second.datagrams == [], [d.text for d in second.datagrams]


def test_503_fails_over_to_second_carrier(tollgate, sipp, ports):
    """503 from the first carrier: the call goes to the second and is answered
    there; the caller never sees the 503."""
    a_port, b_port = ports.port(), ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-b", f"127.0.0.1:{b_port}", priority=20) +
                  routing_gateway("carrier-a", f"127.0.0.1:{a_port}", priority=10))
    uas_a = sipp("uas-a", "uas-unavailable-503.xml", port=a_port).start().wait_listening()
    uas_b = sipp("uas-b", "uas-answer.xml", port=b_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=300)
    uac.run()
    uas_a.wait()
    uas_b.wait()
    uac.assert_ok()
    uas_a.assert_ok()
    uas_b.assert_ok()

    assert 503 not in [m.status for m in uac.received()]
    a_inv, b_inv = uas_a.received("INVITE")[0], uas_b.received("INVITE")[0]
    assert a_inv.header("Call-ID") != b_inv.header("Call-ID"), "each attempt is its own dialog"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a", "carrier-b"], caller=CALLER, callee=CALLEE)


def test_no_route_404(tollgate, sipp):
    """No routing gateway matches the number: 404, CDR no_route, nobody tried."""
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-99", "127.0.0.1:9", prefixes=["99"]))
    uac = sipp("uac", "uac-expect-404.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE)
    uac.run()
    uac.assert_ok()

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="no_route", final_code=404, answered=False, hangup="",
              gateways=[], caller=CALLER, callee=CALLEE, mapping_gateway="cust-a")


def test_no_route_code_setting(tollgate, sipp):
    """routing.no_route_code replaces the 404."""
    tg = tollgate(settings={"routing": {"no_route_code": 503}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-99", "127.0.0.1:9", prefixes=["99"]))
    uac = sipp("uac", "uac-expect-503.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE)
    uac.run()
    uac.assert_ok()
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="no_route", final_code=503, answered=False, gateways=[])


def test_failover_on_setup_timeout(tollgate, sipp, ports):
    """The first carrier's address has nothing listening: after
    routing.setup_timeout (1 s) without any response the second is tried."""
    dead_port, live_port = ports.port(), ports.port()  # dead_port: allocated, never bound
    tg = tollgate(settings={"routing": {"setup_timeout": 1}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-dead", f"127.0.0.1:{dead_port}", priority=1) +
                  routing_gateway("carrier-live", f"127.0.0.1:{live_port}", priority=2))
    uas = sipp("uas", "uas-answer.xml", port=live_port).start().wait_listening()
    started = time.monotonic()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    assert time.monotonic() - started >= 0.9, "the live carrier answered before setup_timeout"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-dead", "carrier-live"], caller=CALLER, callee=CALLEE)


def test_longest_prefix_first_then_translation(tollgate, sipp, recorder, ports):
    """The longest matching prefix wins over a better priority; strip_digits
    and add_prefix rewrite the number the carrier sees (the CDR keeps the
    dialled one)."""
    uas_port = ports.port()
    default = recorder()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-default", f"127.0.0.1:{default.addr[1]}",
                                  prefixes=[""], priority=1) +
                  routing_gateway("carrier-1555", f"127.0.0.1:{uas_port}", prefixes=["1555"],
                                  priority=50, strip_digits=1, add_prefix="0044"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    b_invite = uas.received("INVITE")[0]
    assert b_invite.first_line.startswith("INVITE sip:00445551234567@"), b_invite.first_line
    assert default.datagrams == []
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-1555"], callee=CALLEE)


def test_late_answer_after_setup_timeout_is_acked_and_hung_up(tollgate, sipp, ports):
    """A carrier silent past routing.setup_timeout loses the call to the next
    carrier; when it answers 200 anyway, tollgate ACKs that 200 and sends BYE
    so the carrier does not keep (and bill) a call nobody is on."""
    late_port, live_port = ports.port(), ports.port()
    tg = tollgate(settings={"routing": {"setup_timeout": 1}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-late", f"127.0.0.1:{late_port}", priority=1) +
                  routing_gateway("carrier-live", f"127.0.0.1:{live_port}", priority=2))
    late = sipp("uas-late", "uas-answer-late.xml", port=late_port).start().wait_listening()
    live = sipp("uas-live", "uas-answer.xml", port=live_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=2500)
    uac.run()
    late.wait()
    live.wait()
    uac.assert_ok()
    live.assert_ok()
    late.assert_ok()  # it got its ACK and a BYE
    assert late.received("ACK") and late.received("BYE")

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-late", "carrier-live"], caller=CALLER, callee=CALLEE)
