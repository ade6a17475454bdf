"""Who may call: unknown sources (drop or 403), ip_port gateways (right and
wrong source port), OPTIONS from known and unknown sources."""

from __future__ import annotations

import subprocess

from harness import SDP, check_cdr, mapping_gateway, routing_gateway, sip_request

CALLEE = "15551234567"
CALLER = "4420"
SILENCE_WINDOW = 2.0  # seconds an ignored request must stay unanswered


def _invite(src, tg_port, caller="666", callee=CALLEE):
    return sip_request("INVITE", f"sip:{callee}@127.0.0.1:{tg_port}", src, from_user=caller,
                       to_user=callee, body=SDP.format(ip=src[0]))


def test_unknown_source_dropped_silently(tollgate, udp, recorder):
    """An INVITE from 127.0.0.2 (not provisioned) gets no response at all,
    the carrier sees nothing, and a CDR unknown_source (final_code 0) exists."""
    carrier = recorder()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}"))
    peer = udp("127.0.0.2")
    data, call_id = _invite(peer.addr, tg.port)
    peer.send(data, ("127.0.0.1", tg.port))
    got = peer.recv_all(SILENCE_WINDOW)
    assert got == [], [d.text for d in got]
    assert carrier.datagrams == []

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="unknown_source", final_code=0, answered=False, hangup="",
              gateways=[], mapping_gateway="", caller="666", callee=CALLEE,
              source=f"127.0.0.2:{peer.addr[1]}", transport="udp", call_id=call_id)


def test_unknown_source_no_cdr_without_illegal_calls(tollgate, udp):
    """With cdr.illegal_calls = false the dropped attempt leaves no CDR: a
    later attempt from the known gateway (no route: an immediate 404) is the
    only row, so the writer was not just slow."""
    tg = tollgate(settings={"cdr": {"illegal_calls": False}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-99", "127.0.0.1:9", prefixes=["99"]))
    peer = udp("127.0.0.2")
    data, _ = _invite(peer.addr, tg.port)
    peer.send(data, ("127.0.0.1", tg.port))
    assert peer.recv_all(SILENCE_WINDOW) == []
    known = udp("127.0.0.1")
    data, call_id = _invite(known.addr, tg.port, caller="555")
    known.send(data, ("127.0.0.1", tg.port))
    got = known.recv_until(lambda d: d.status >= 200, 5)
    assert got and got[-1].status == 404, [d.text for d in got]
    rows = tg.wait_cdrs(1)
    assert [(r["call_id"], r["reason"]) for r in rows] == [(call_id, "no_route")], rows


def test_unknown_source_403(tollgate, sipp, recorder):
    """With sip.unknown_source = "403" the same INVITE (here from SIPp on
    127.0.0.2) gets 403 Forbidden; CDR unknown_source, final_code 403."""
    carrier = recorder()
    tg = tollgate(settings={"sip": {"unknown_source": "403"}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}"))
    uac = sipp("uac", "uac-expect-403.xml", remote=f"127.0.0.1:{tg.port}", ip="127.0.0.2",
               caller=CALLER, service=CALLEE)
    uac.run()
    uac.assert_ok()
    assert [m.status for m in uac.received()] == [403], "no 100 Trying for an unknown source"
    assert carrier.datagrams == []

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="unknown_source", final_code=403, answered=False, gateways=[],
              mapping_gateway="", caller=CALLER, callee=CALLEE,
              source=f"127.0.0.2:{uac.port}")


def test_ip_port_gateway_right_and_wrong_port(tollgate, sipp, udp, ports):
    """An ip_port gateway (127.0.0.3:P): a call from exactly that address
    works; an INVITE from the same IP but another port is dropped silently
    with a CDR port_mismatch."""
    uas_port, good_port = ports.port(), ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-port", [f"127.0.0.3:{good_port}"],
                                               auth="ip_port") +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", ip="127.0.0.3",
               port=good_port, caller=CALLER, service=CALLEE, hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], mapping_gateway="cust-port",
              source=f"127.0.0.3:{good_port}")

    wrong = udp("127.0.0.3")
    data, call_id = _invite(wrong.addr, tg.port, caller="777")
    wrong.send(data, ("127.0.0.1", tg.port))
    got = wrong.recv_all(SILENCE_WINDOW)
    assert got == [], [d.text for d in got]
    rows = tg.wait_cdrs(1, where=lambda c: c["call_id"] == call_id)
    check_cdr(rows[0], reason="port_mismatch", final_code=0, answered=False, gateways=[],
              mapping_gateway="", caller="777", source=f"127.0.0.3:{wrong.addr[1]}")
    assert len(uas.received("INVITE")) == 1, "the rejected INVITE must not reach the carrier"


def test_options_known_gateway_200_sipsak(tollgate, ports):
    """OPTIONS (sipsak) from a known gateway's address: 200 OK."""
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    lport = ports.port()
    r = subprocess.run(["sipsak", "-s", f"sip:ping@127.0.0.1:{tg.port}", "-l", str(lport),
                        "-H", "127.0.0.1", "-vv", "-D", "2"],
                       capture_output=True, text=True, timeout=20, errors="replace")
    assert r.returncode == 0, f"sipsak exit {r.returncode}:\n{r.stdout}\n{r.stderr}"
    assert "SIP/2.0 200 OK" in r.stdout
    assert "Allow: " in r.stdout and "INVITE" in r.stdout
    assert tg.cdrs() == [], "OPTIONS is not a call attempt"


def test_options_known_200_unknown_nothing(tollgate, udp):
    """The same OPTIONS over a raw socket: 200 from the known address,
    nothing at all from an unknown one; neither writes a CDR."""
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    known = udp("127.0.0.1")
    data, call_id = sip_request("OPTIONS", f"sip:ping@127.0.0.1:{tg.port}", known.addr)
    known.send(data, ("127.0.0.1", tg.port))
    got = known.recv_until(lambda d: d.status >= 200, 5)
    assert got and got[-1].status == 200, [d.text for d in got]
    assert got[-1].header("Call-ID") == call_id

    stranger = udp("127.0.0.2")
    data, _ = sip_request("OPTIONS", f"sip:ping@127.0.0.1:{tg.port}", stranger.addr)
    stranger.send(data, ("127.0.0.1", tg.port))
    got = stranger.recv_all(SILENCE_WINDOW)
    assert got == [], [d.text for d in got]
    assert tg.cdrs() == []
