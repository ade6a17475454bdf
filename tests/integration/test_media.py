"""Media anchoring through a real rtpengine (userspace, on loopback, started
by each test) between a SIPp customer that plays G.711 RTP from the pcap
shipped with sip-tester and a SIPp carrier that echoes RTP (-rtp_echo):
RTP flows through rtpengine's ports, neither side's SDP names the other's
addresses, dead media ends the call at media.timeout, failover releases the
failed attempt's session, a stopped engine is skipped, and rtpengine's
session count is back at zero after every test."""

from __future__ import annotations

import re
import time

import pytest

from harness import Rtpengine, check_cdr, mapping_gateway, routing_gateway, wait_until

CALLEE = "15551234567"
CALLER = "4420"
PCAP = "/usr/share/sip-tester/g711a.pcap"
SHORT_PCAP = "/usr/share/sip-tester/dtmf_2833_1.pcap"  # 10 packets in 0.14 s
CUSTOMER_IP = "127.0.0.5"
CARRIER_IP = "127.0.0.6"


@pytest.fixture
def rtpengine(request, tmp_path, ports):
    engines: list[Rtpengine] = []

    def make(name: str = "rtpe", start: bool = True) -> Rtpengine:
        e = Rtpengine(tmp_path, ports, name=name)
        engines.append(e)
        if start:
            e.start()
        return e

    yield make
    try:
        # No test may leave a session behind on an engine that still runs.
        for e in engines:
            if e.proc and e.proc.poll() is None:
                e.wait_no_sessions(timeout=5)
    finally:
        for e in engines:
            e.stop()


def _media_settings(*engines, **extra):
    keys = {"engines": [e.address for e in engines], "retransmit_ms": 100, "tries": 2,
            "ping_interval": 1}
    keys.update(extra)
    return {"media": keys}


def _provisioning(*carriers, **gw):
    text = mapping_gateway("cust-a", [CUSTOMER_IP], **gw)
    for i, addr in enumerate(carriers):
        text += routing_gateway(f"carrier-{'abc'[i]}", addr, priority=10 + i)
    return text


def _run_call(sipp, tg, uas_port, uas_scenario, uac_scenario, name="", echo=False, hold_ms=300,
              pcap=None, calls=1, check_uas=True, **uac_kw):
    """Carrier SIPp (echoing RTP when `echo`) on CARRIER_IP, customer SIPp on
    CUSTOMER_IP through `tg`; runs the call(s) to the end, asserts the
    customer's (and the carrier's) scenario passed; returns (uac, uas)."""
    uas = sipp("uas" + name, uas_scenario, ip=CARRIER_IP, port=uas_port, calls=calls,
               extra=(["-rtp_echo"] if echo else []) + ["-mi", CARRIER_IP]
               ).start().wait_listening()
    uac = sipp("uac" + name, uac_scenario, remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
               caller=CALLER, service=CALLEE, hold_ms=hold_ms, calls=calls,
               keys={"pcap": pcap} if pcap else None, extra=["-mi", CUSTOMER_IP], **uac_kw)
    uac.run()
    uas.wait()
    uac.assert_ok()
    if check_uas:
        uas.assert_ok()
    return uac, uas


def _sdp_addresses(body: str) -> set[str]:
    found = set()
    for line in body.splitlines():
        if line.startswith(("c=", "o=")):
            found.add(line.split()[-1])
        if line.startswith("a=candidate"):
            found.add(line.split()[4])
    return found


def _sdp_ports(body: str) -> set[int]:
    return {int(m) for m in re.findall(r"^m=audio (\d+)", body, re.M)}


def test_rtp_flows_through_rtpengine_and_sdp_hides_both_sides(tollgate, sipp, ports, rtpengine):
    """A call with early media (183 + SDP) and RTP both ways: each side's SDP
    names only rtpengine's address and ports (o= and s= rewritten, ICE
    candidates removed), RTP crosses rtpengine in both directions (the CDR's
    media figures, from rtpengine), and the session is deleted at the BYE."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-rtp-echo.xml", "uac-rtp-call.xml", echo=True,
                         hold_ms=3000, pcap=PCAP)

    a_invite = uac.sent("INVITE")[0]
    b_invite = uas.received("INVITE")[0]
    # The carrier sees rtpengine's address, never the customer's.
    assert CUSTOMER_IP not in b_invite.body, b_invite.body
    assert _sdp_addresses(b_invite.body) == {"127.0.0.1"}, b_invite.body
    assert "a=candidate" not in b_invite.body and "CustomerPBX" not in b_invite.body
    b_ports = _sdp_ports(b_invite.body)
    assert b_ports and all(engine.port_min <= p <= engine.port_max for p in b_ports), b_invite.body
    assert b_ports != _sdp_ports(a_invite.body)
    # The customer sees rtpengine's address in the 183 and the 200, never the carrier's.
    for resp in [m for m in uac.received() if not m.is_request and m.status in (183, 200)
                 and "application/sdp" in (m.header("Content-Type") or "")]:
        assert CARRIER_IP not in resp.body, resp.body
        assert _sdp_addresses(resp.body) == {"127.0.0.1"}, resp.body
        assert "CarrierSBC" not in resp.body
        assert all(engine.port_min <= p <= engine.port_max for p in _sdp_ports(resp.body))

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], min_duration_ms=2500)
    media = cdr["media"]
    assert media is not None, cdr
    # RTP went through rtpengine both ways: the customer's pcap out, the
    # carrier's echo back.
    assert media["caller_packets"] >= 50 and media["caller_bytes"] >= 50 * 160, media
    assert media["callee_packets"] >= 50 and media["callee_bytes"] >= 50 * 160, media
    # SIPp sends no RTCP: rtpengine has no loss or jitter figures, and the
    # CDR says unknown (null), not a perfect 0.
    for k in ("caller_loss_pct", "caller_jitter_ms", "callee_loss_pct", "callee_jitter_ms"):
        assert k in media and media[k] is None, media
    engine.wait_no_sessions()


def test_media_timeout_ends_the_call_on_both_legs(tollgate, sipp, ports, rtpengine):
    """The customer plays a short burst of RTP and then sends nothing (nor
    does the echoing carrier): at media.timeout tollgate sends BYE to both
    legs and writes CDR media_timeout."""
    engine = rtpengine()
    uas_port = ports.port()
    timeout_s = 3
    tg = tollgate(settings=_media_settings(engine, timeout=timeout_s, setup_timeout=20),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-rtp-echo.xml", "uac-rtp-expect-bye.xml",
                         echo=True, pcap=SHORT_PCAP, timeout=30)
    assert uas.received("BYE"), "the carrier gets tollgate's BYE too"
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="media_timeout", final_code=200, answered=True, hangup="system",
              gateways=["carrier-a"])
    # The burst lasts 0.14 s after the answer; then media.timeout ± 2 s.
    assert abs(cdr["duration_ms"] / 1000 - timeout_s) <= 2, cdr
    assert cdr["media"]["caller_packets"] > 0, cdr
    assert "tollgate_media_timeouts_total 1" in tg.api("GET", "/metrics").text
    engine.wait_no_sessions()


def test_setup_timeout_ends_a_call_that_never_sends_media(tollgate, sipp, ports, rtpengine,
                                                          tmp_path):
    """No RTP at all after the answer: ended at media.setup_timeout."""
    engine = rtpengine()
    empty = tmp_path / "empty.pcap"  # a pcap header and no packets
    empty.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine, timeout=30, setup_timeout=2),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-rtp-echo.xml", "uac-rtp-expect-bye.xml",
                         pcap=str(empty), timeout=30, check_uas=False)
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="media_timeout", final_code=200, answered=True, hangup="system")
    assert abs(cdr["duration_ms"] / 1000 - 2) <= 2, cdr
    engine.wait_no_sessions()


def test_failover_from_503_releases_the_first_media_session(tollgate, sipp, ports, rtpengine):
    """The first carrier plays early media (183 + SDP: a full session on
    rtpengine) and then answers 503; tollgate deletes that session before
    trying the second carrier, whose call then holds the only session."""
    engine = rtpengine()
    bad_port, good_port = ports.port(), ports.port()
    # A carrier that rang keeps the call unless switch_until_connect.
    settings = _media_settings(engine)
    settings["routing"] = {"switch_until_connect": True}
    tg = tollgate(settings=settings,
                  provisioning=_provisioning(f"{CARRIER_IP}:{bad_port}",
                                             f"{CARRIER_IP}:{good_port}"))
    bad = sipp("bad", "uas-early-media-then-503.xml", ip=CARRIER_IP,
               port=bad_port, extra=["-mi", CARRIER_IP]).start().wait_listening()
    good = sipp("good", "uas-rtp-echo.xml", ip=CARRIER_IP, port=good_port,
                extra=["-rtp_echo", "-mi", CARRIER_IP]).start().wait_listening()
    uac = sipp("uac", "uac-rtp-call.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
               caller=CALLER, service=CALLEE, hold_ms=2500, keys={"pcap": PCAP},
               extra=["-mi", CUSTOMER_IP]).start()
    # While the second carrier's call is up, only its session exists.
    good_invite = lambda: good.received("INVITE") if good.message_file.exists() else []
    time.sleep(1.5)
    calls = engine.calls()
    assert len(calls) == 1, calls
    bad.wait()
    bad_call_id = bad.received("INVITE")[0].header("Call-ID")
    assert bad_call_id not in calls, calls
    uac.wait()
    good.wait()
    uac.assert_ok()
    bad.assert_ok()
    good.assert_ok()
    assert calls == [good_invite()[0].header("Call-ID")]
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a", "carrier-b"])
    assert "delete" in engine.log_path.read_text()
    engine.wait_no_sessions()


def test_two_engines_one_stopped_calls_still_connect(tollgate, sipp, ports, rtpengine):
    """Two rtpengines, one stopped: calls still connect (through the live
    one); the stopped one is reported down in the metrics."""
    live = rtpengine("live")
    dead = rtpengine("dead")
    dead.stop()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(dead, live),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-rtp-echo.xml", "uac-rtp-call.xml", echo=True,
                         calls=4, hold_ms=500, rate=4, pcap=SHORT_PCAP, check_uas=False)
    cdrs = tg.wait_cdrs(4)
    assert all(c["reason"] == "caller_bye" for c in cdrs), cdrs
    metrics = tg.api("GET", "/metrics").text
    def up(engine):
        m = re.search(rf'tollgate_media_engine_up{{engine="{re.escape(engine.address)}"}} (\d)',
                      metrics)
        return m and int(m.group(1))
    assert up(dead) == 0 and up(live) == 1, metrics
    live.wait_no_sessions()


def test_no_engine_answers_gives_503_and_media_unavailable(tollgate, sipp, ports, rtpengine):
    """Every rtpengine down: the call is refused 503 before any carrier is
    tried, CDR media_unavailable."""
    dead = rtpengine("dead")
    dead.stop()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(dead),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac = sipp("uac", "uac-expect-503.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
               caller=CALLER, service=CALLEE)
    uac.run()
    uac.assert_ok()
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="media_unavailable", final_code=503, answered=False)


def _only_engine_addresses(body: str, engine: Rtpengine, *hidden: str) -> None:
    for ip in hidden:
        assert ip not in body, body
    assert _sdp_addresses(body) == {"127.0.0.1"}, body
    ports = _sdp_ports(body)
    assert ports and all(engine.port_min <= p <= engine.port_max for p in ports), body


def test_reinvites_both_ways_and_hold_cross_rtpengine(tollgate, sipp, ports, rtpengine):
    """re-INVITEs from the caller (new offer, sendonly: hold) and from the
    carrier: each offer and answer reaches the other side with rtpengine's
    address only, the hold direction kept; no session left afterwards."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-answer-reinvite.xml", "uac-reinvite.xml",
                         hold_ms=300)
    first, re_invite = uas.received("INVITE")
    _only_engine_addresses(re_invite.body, engine, CUSTOMER_IP)
    assert "a=sendonly" in re_invite.body, re_invite.body  # the hold crosses
    for m in uac.received(200):
        if "application/sdp" in (m.header("Content-Type") or ""):
            _only_engine_addresses(m.body, engine, CARRIER_IP)
    engine.wait_no_sessions()

    # The other direction: the carrier re-INVITEs (same carrier address).
    uac, uas = _run_call(sipp, tg, uas_port, "uas-answer-then-reinvite.xml",
                         "uac-answer-reinvite.xml", name="2")
    re_invite = uac.received("INVITE")[0]
    _only_engine_addresses(re_invite.body, engine, CARRIER_IP)
    for m in uas.received(200):
        if "application/sdp" in (m.header("Content-Type") or ""):
            _only_engine_addresses(m.body, engine, CUSTOMER_IP)
    cdrs = tg.wait_cdrs(2)
    assert [c["reason"] for c in cdrs] == ["caller_bye", "caller_bye"], cdrs
    engine.wait_no_sessions()


def test_late_offer_offer_in_200_answer_in_ack(tollgate, sipp, ports, rtpengine):
    """INVITE without SDP: the carrier's 200 carries the offer and the
    caller's ACK the answer; both cross rtpengine."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-answer.xml", "uac-late-offer.xml", hold_ms=300)
    assert not uas.received("INVITE")[0].body.strip()
    offer = [m for m in uac.received(200) if "application/sdp" in (m.header("Content-Type") or "")]
    assert offer, "the carrier's offer in the 200 reaches the caller"
    _only_engine_addresses(offer[0].body, engine, CARRIER_IP)
    ack = uas.received("ACK")[0]
    assert "application/sdp" in (ack.header("Content-Type") or ""), ack
    _only_engine_addresses(ack.body, engine, CUSTOMER_IP)
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller")
    engine.wait_no_sessions()


def test_cancel_releases_the_media_session(tollgate, sipp, ports, rtpengine):
    """The caller CANCELs while the carrier rings: 487, CDR cancelled, and the
    session the offer opened is deleted."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uas = sipp("uas", "uas-ring-no-answer.xml", ip=CARRIER_IP, port=uas_port,
               extra=["-mi", CARRIER_IP]).start().wait_listening()
    uac = sipp("uac", "uac-cancel-after-ring.xml", remote=f"127.0.0.1:{tg.port}",
               ip=CUSTOMER_IP, caller=CALLER, service=CALLEE, hold_ms=1000,
               extra=["-mi", CUSTOMER_IP]).start()
    time.sleep(0.6)
    assert len(engine.calls()) == 1, "the offer opened a session while it rings"
    uac.wait()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    _only_engine_addresses(uas.received("INVITE")[0].body, engine, CUSTOMER_IP)
    check_cdr(tg.wait_cdrs(1)[0], reason="cancelled", final_code=487, answered=False)
    engine.wait_no_sessions()


def test_gateway_media_passthrough_and_codecs(tollgate, sipp, ports, rtpengine):
    """Per gateway: `codecs = ["PCMA"]` on the carrier strips telephone-event
    from the offer it gets; with `media = "passthrough"` on both gateways the
    SDP's media lines cross unchanged and rtpengine holds nothing."""
    engine = rtpengine()
    uas_port = ports.port()
    prov = (mapping_gateway("cust-a", [CUSTOMER_IP]) +
            routing_gateway("carrier-a", f"{CARRIER_IP}:{uas_port}", codecs=["PCMA"]))
    tg = tollgate(settings=_media_settings(engine), provisioning=prov)
    uac, uas = _run_call(sipp, tg, uas_port, "uas-rtp-echo.xml", "uac-rtp-call.xml", hold_ms=200,
                         pcap=SHORT_PCAP, check_uas=False)
    body = uas.received("INVITE")[0].body
    assert "PCMA/8000" in body and "telephone-event" not in body, body
    assert re.search(r"^m=audio \d+ RTP/AVP 8\s*$", body, re.M), body
    engine.wait_no_sessions()

    tg.stop()
    tg2 = tollgate(settings=_media_settings(engine), name="tg2",
                   provisioning=mapping_gateway("cust-a", [CUSTOMER_IP], media="passthrough") +
                   routing_gateway("carrier-a", f"{CARRIER_IP}:{uas_port}",
                                   media="passthrough"))
    uac, uas = _run_call(sipp, tg2, uas_port, "uas-rtp-echo.xml", "uac-rtp-call.xml", name="2",
                         hold_ms=200, pcap=SHORT_PCAP, check_uas=False)
    b_invite = uas.received("INVITE")[0]
    assert f"c=IN IP4 {CUSTOMER_IP}" in b_invite.body, b_invite.body
    assert "CustomerPBX" not in b_invite.body  # the session name is still replaced
    assert tg2.wait_cdrs(1)[0]["media"] is None
    assert engine.sessions() == 0 and not engine.calls()


def test_update_with_sdp_crosses_rtpengine_and_info_passes(tollgate, sipp, ports, rtpengine):
    """An UPDATE with a new offer from the caller (and an INFO without SDP):
    the carrier gets rtpengine's address, the caller the carrier's answer
    with rtpengine's address; no session left."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uac, uas = _run_call(sipp, tg, uas_port, "uas-answer-info-update.xml",
                         "uac-info-update.xml")
    update = uas.received("UPDATE")[0]
    _only_engine_addresses(update.body, engine, CUSTOMER_IP)
    assert "m=audio 49174" not in update.body, update.body
    assert uas.received("INFO"), "INFO (no SDP) is relayed"
    answers = [m for m in uac.received(200) if "application/sdp" in (m.header("Content-Type") or "")]
    assert len(answers) >= 2, answers  # the INVITE's and the UPDATE's
    for m in answers:
        _only_engine_addresses(m.body, engine, CARRIER_IP)
    engine.wait_no_sessions()


def test_node_stopped_mid_call_leaves_no_session(tollgate, sipp, ports, rtpengine):
    """tollgate stopped (SIGTERM) while a relayed call is up: the call's
    session is deleted on rtpengine and its CDR is written."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uas = sipp("uas", "uas-rtp-echo.xml", ip=CARRIER_IP, port=uas_port,
               extra=["-rtp_echo", "-mi", CARRIER_IP]).start().wait_listening()
    uac = sipp("uac", "uac-rtp-call.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
               caller=CALLER, service=CALLEE, hold_ms=10000, keys={"pcap": PCAP},
               extra=["-mi", CUSTOMER_IP]).start()
    wait_until(lambda: engine.calls(), 5, "the call's session on rtpengine")
    time.sleep(0.5)
    tg.stop(timeout=10)
    engine.wait_no_sessions(timeout=5)
    assert len(tg.cdrs()) == 1
    uac.kill()
    uas.kill()


def test_offer_rtpengine_refuses_gets_488_and_media_rejected(tollgate, sipp, ports, rtpengine):
    """The caller's INVITE offers SDP rtpengine refuses (result=error: media
    port 99999 fails its SDP parser): 488 Not Acceptable Here, CDR
    media_rejected, no carrier tried and no session left; media_unavailable
    (503) stays for an engine that does not answer."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", ip=CARRIER_IP, port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-bad-sdp-expect-488.xml", remote=f"127.0.0.1:{tg.port}",
               ip=CUSTOMER_IP, caller=CALLER, service=CALLEE)
    uac.run()
    uac.assert_ok()
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="media_rejected", final_code=488, answered=False)
    assert not uas.message_file.exists() or not uas.received("INVITE"), "no carrier tried"
    uas.kill()
    assert "tollgate_media_rejected_total 1" in tg.api("GET", "/metrics").text
    assert "tollgate_media_failures_total 0" in tg.api("GET", "/metrics").text
    engine.wait_no_sessions()


def test_reinvite_offer_rtpengine_refuses_gets_488_and_call_stays_up(tollgate, sipp, ports,
                                                                     rtpengine):
    """Mid-call, the caller's re-INVITE offers SDP rtpengine refuses: that
    re-INVITE gets 488 and never reaches the carrier; the call and its
    rtpengine session stay as they were, a good re-INVITE afterwards crosses
    as usual, and the call ends normally (caller_bye)."""
    engine = rtpengine()
    uas_port = ports.port()
    tg = tollgate(settings=_media_settings(engine),
                  provisioning=_provisioning(f"{CARRIER_IP}:{uas_port}"))
    uas = sipp("uas", "uas-answer-reinvite.xml", ip=CARRIER_IP, port=uas_port,
               extra=["-mi", CARRIER_IP]).start().wait_listening()
    uac = sipp("uac", "uac-reinvite-bad-sdp.xml", remote=f"127.0.0.1:{tg.port}",
               ip=CUSTOMER_IP, caller=CALLER, service=CALLEE, hold_ms=1500,
               extra=["-mi", CUSTOMER_IP]).start()
    # After the refused and the good re-INVITE (0.6 s in), the session is
    # still there with the engine's port the carrier was given first.
    wait_until(lambda: uac.message_file.exists() and uac.received(488), 5, "the 488")
    assert len(engine.calls()) == 1, engine.calls()
    uac.wait()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    invites = uas.received("INVITE")
    assert len(invites) == 2, "the refused re-INVITE never reaches the carrier"
    assert "a=x-marker:caller-reinvite" in invites[1].body, invites[1].body
    _only_engine_addresses(invites[1].body, engine, CUSTOMER_IP)
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller")
    assert "tollgate_media_rejected_total 1" in tg.api("GET", "/metrics").text
    engine.wait_no_sessions()
