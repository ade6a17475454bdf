"""Call flows through a real tollgate between a SIPp customer (UAC) and SIPp
carriers (UAS): answered calls hung up by either side, CANCEL, re-INVITE in
both directions, TCP, mixed UDP/TCP and IPv6. Every test checks the SIP flow
seen by both SIPp instances AND the CDR row."""

from __future__ import annotations

import re

import pytest

from harness import check_cdr, mapping_gateway, routing_gateway

CALLEE = "15551234567"
CALLER = "4420"


def _provisioning(uas_addr: str, customer=("127.0.0.1",), transport="udp", customer_auth="ip"):
    return (mapping_gateway("cust-a", customer, auth=customer_auth) +
            routing_gateway("carrier-a", uas_addr, transport=transport))


def _received_statuses(uac) -> list[int]:
    return [m.status for m in uac.received() if not m.is_request]


def test_basic_call_caller_bye_udp(tollgate, sipp, ports):
    """Basic UDP call, caller hangs up. Also proves topology hiding: the
    carrier's INVITE has its own Call-ID, tags, CSeq, Via and Contact, and no
    header of it names the customer's address."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}", customer=["127.0.0.5"]))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", ip="127.0.0.5",
               caller=CALLER, service=CALLEE, hold_ms=1000)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    # Caller leg: 100 Trying at once (before anything from the carrier), then
    # the carrier's 180 and 200 relayed, and 200 to the BYE.
    statuses = _received_statuses(uac)
    assert statuses[0] == 100, statuses
    assert 180 in statuses and statuses.count(200) == 2, statuses

    a_invite = uac.sent("INVITE")[0]
    b_invite = uas.received("INVITE")[0]
    # Carrier leg: a new dialog, not the customer's.
    assert b_invite.header("Call-ID") != a_invite.header("Call-ID")
    a_tag = re.search(r"tag=([^;>\s]+)", a_invite.header("From")).group(1)
    assert a_tag not in b_invite.header("From")
    assert b_invite.header("CSeq") == "1 INVITE"
    vias = b_invite.headers("Via")
    assert len(vias) == 1 and f"127.0.0.1:{tg.port}" in vias[0], vias
    assert f"127.0.0.1:{tg.port}" in b_invite.header("Contact")
    # The customer's address appears nowhere in the carrier's header section
    # (the SDP body is relayed unchanged: there is no media relay).
    assert "127.0.0.5" not in b_invite.head, b_invite.head
    assert b_invite.first_line == f"INVITE sip:{CALLEE}@127.0.0.1:{uas_port} SIP/2.0"
    # The SDP crosses with its origin and session name replaced (they name the
    # customer's user, host and software); the media lines cross unchanged.
    def without_origin(body):
        return [l for l in body.strip().splitlines() if not l.startswith(("o=", "s="))]
    assert without_origin(b_invite.body) == without_origin(a_invite.body)
    b_lines = b_invite.body.splitlines()
    assert "s=-" in b_lines and any(l.startswith("o=- ") and l.endswith(" IN IP4 127.0.0.1")
                                    for l in b_lines), b_invite.body
    assert uas.received("BYE"), "the caller's BYE must reach the carrier"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE, mapping_gateway="cust-a",
              transport="udp", source=f"127.0.0.5:{uac.port}", call_id=a_invite.header("Call-ID"),
              min_duration_ms=900, max_duration_ms=10000)


def test_callee_bye(tollgate, sipp, ports):
    """The carrier hangs up: its BYE reaches the caller; CDR callee_bye."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer-then-bye.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    bye = uac.received("BYE")[0]
    a_invite = uac.sent("INVITE")[0]
    assert bye.header("Call-ID") == a_invite.header("Call-ID")
    assert uas.received(200), "the carrier's BYE must be answered 200"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="callee_bye", final_code=200, answered=True, hangup="callee",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE, transport="udp",
              min_duration_ms=400, max_duration_ms=10000)


def test_cancel_while_ringing(tollgate, sipp, ports):
    """The carrier rings and never answers; the caller CANCELs after ~1 s:
    200 to the CANCEL, 487 to the INVITE, CANCEL reaches the carrier."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-ring-no-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-cancel-after-ring.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=1000)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    statuses = _received_statuses(uac)
    assert 180 in statuses and 487 in statuses and 200 in statuses, statuses
    assert uas.received("CANCEL"), "tollgate must CANCEL the carrier leg"
    b_cancel = uas.received("CANCEL")[0]
    assert b_cancel.header("Call-ID") == uas.received("INVITE")[0].header("Call-ID")
    assert uas.received("ACK"), "tollgate must ACK the carrier's 487"

    cdr = tg.wait_cdrs(1)[0]
    # hangup: see test_unanswered_calls_have_no_hangup_side (BUG-3)
    check_cdr(cdr, reason="cancelled", final_code=487, answered=False, hangup=None,
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)


def test_ring_timeout_no_answer(tollgate, sipp, ports):
    """The carrier rings longer than sip.ring_timeout (1 s): the caller gets
    408, the carrier leg is CANCELled, CDR no_answer."""
    uas_port = ports.port()
    tg = tollgate(settings={"sip": {"ring_timeout": 1}},
                  provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-ring-no-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-expect-408.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    assert uas.received("CANCEL"), "tollgate must CANCEL the carrier leg"
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="no_answer", final_code=408, answered=False, hangup=None,
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)
    assert cdr["end"] > cdr["start"]


def test_unanswered_calls_have_no_hangup_side(tollgate, sipp, ports):
    uas_port = ports.port()
    tg = tollgate(settings={"sip": {"ring_timeout": 1}},
                  provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-ring-no-answer.xml", port=uas_port, calls=2).start().wait_listening()
    cancel = sipp("uac-cancel", "uac-cancel-after-ring.xml", remote=f"127.0.0.1:{tg.port}",
                  caller="1111", hold_ms=300)
    cancel.run()
    timeout = sipp("uac-timeout", "uac-expect-408.xml", remote=f"127.0.0.1:{tg.port}",
                   caller="2222")
    timeout.run()
    uas.wait()
    cancel.assert_ok()
    timeout.assert_ok()
    rows = {r["caller"]: r for r in tg.wait_cdrs(2)}
    assert (rows["1111"]["reason"], rows["2222"]["reason"]) == ("cancelled", "no_answer")
    assert (rows["1111"]["hangup"], rows["2222"]["hangup"]) == ("", "")


def test_reinvite_from_caller(tollgate, sipp, ports):
    """A re-INVITE from the caller reaches the carrier in the carrier's dialog
    with the caller's new SDP; the carrier's 200 and the ACK go through."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer-reinvite.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-reinvite.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=300)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    invites = uas.received("INVITE")
    assert len(invites) == 2, invites
    first, re_invite = invites
    assert re_invite.header("Call-ID") == first.header("Call-ID")
    assert "tag=" in re_invite.header("To"), "a re-INVITE is in-dialog (To tag)"
    assert "a=x-marker:caller-reinvite" in re_invite.body and "m=audio 49170" in re_invite.body, re_invite.body
    assert "s=caller-reinvite" not in re_invite.body, "the session name is replaced on re-INVITEs too"
    assert "a=sendonly" in re_invite.body
    # The carrier's answer to it reaches the caller.
    answers = [m for m in uac.received(200) if "a=x-marker:callee-answer" in m.body]
    assert answers, "the carrier's 200 (with its SDP) must be relayed to the caller"
    assert len(uas.received("ACK")) == 2

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)
    assert len(tg.cdrs()) == 1, "a re-INVITE is not a new call attempt"


def test_reinvite_from_callee(tollgate, sipp, ports):
    """A re-INVITE from the carrier side reaches the caller in the caller's
    dialog with the new SDP; the caller's 200 and ACK go back."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer-then-reinvite.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-answer-reinvite.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=300)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    a_invite = uac.sent("INVITE")[0]
    re_invite = uac.received("INVITE")[0]
    assert re_invite.header("Call-ID") == a_invite.header("Call-ID")
    assert "a=x-marker:callee-reinvite" in re_invite.body and "m=audio 49172" in re_invite.body
    # In the caller's dialog tollgate is the remote party: From carries
    # tollgate's tag for this leg, To the caller's tag.
    a_tag = re.search(r"tag=([^;>\s]+)", a_invite.header("From")).group(1)
    assert a_tag in re_invite.header("To")
    answers = [m for m in uas.received(200) if "a=x-marker:caller-answer" in m.body]
    assert answers, "the caller's 200 (with its SDP) must be relayed to the carrier"
    assert uac.received("ACK"), "the carrier's ACK must be relayed to the caller"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)
    assert len(tg.cdrs()) == 1


def test_tcp_both_legs(tollgate, sipp, ports):
    """Customer over TCP, carrier over TCP."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}", transport="tcp"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, transport="t1").start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", transport="t1",
               caller=CALLER, service=CALLEE, hold_ms=500)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    b_invite = uas.received("INVITE")[0]
    assert b_invite.transport == "TCP"
    assert b_invite.headers("Via")[0].startswith("SIP/2.0/TCP "), b_invite.headers("Via")
    assert "transport=tcp" in b_invite.header("Contact").lower()
    assert all(m.transport == "TCP" for m in uac.messages())

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE, transport="tcp",
              min_duration_ms=400)


def test_udp_to_tcp_mixed(tollgate, sipp, ports):
    """Customer over UDP, carrier over TCP."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}", transport="tcp"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, transport="t1").start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=500)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    assert all(m.transport == "UDP" for m in uac.messages())
    assert all(m.transport == "TCP" for m in uas.messages())
    assert uas.received("INVITE")[0].headers("Via")[0].startswith("SIP/2.0/TCP ")

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], transport="udp", source=f"127.0.0.1:{uac.port}")


def test_ipv6_call(tollgate, sipp, ports):
    """Both legs over UDP on [::1]."""
    uas_port = ports.port()
    prov = mapping_gateway("cust-v6", ["::1"]) + routing_gateway("carrier-v6", f"[::1]:{uas_port}")
    port = ports.port()
    tg = tollgate(provisioning=prov, listen=[f"udp:[::1]:{port}"])
    uas = sipp("uas", "uas-answer.xml", port=uas_port, ip="::1").start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"[::1]:{port}", ip="::1",
               caller=CALLER, service=CALLEE, hold_ms=500)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    b_invite = uas.received("INVITE")[0]
    assert f"[::1]:{port}" in b_invite.headers("Via")[0], b_invite.headers("Via")

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-v6"], mapping_gateway="cust-v6", caller=CALLER, callee=CALLEE,
              source=f"[::1]:{uac.port}", transport="udp")


def test_info_and_update_relayed_in_dialog(tollgate, sipp, ports):
    """INFO (DTMF body) and UPDATE (new SDP) from the caller reach the carrier
    in the carrier's dialog with their bodies; the carrier's 200s (the
    UPDATE's with its SDP answer) come back to the caller."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer-info-update.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-info-update.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    invite = uas.received("INVITE")[0]
    info, update = uas.received("INFO")[0], uas.received("UPDATE")[0]
    for m in (info, update):
        assert m.header("Call-ID") == invite.header("Call-ID"), "relayed in the carrier's dialog"
        assert "tag=" in m.header("To")
    assert "Signal=5" in info.body and "dtmf-relay" in info.header("Content-Type")
    assert "a=x-marker:caller-update" in update.body
    assert [m for m in uac.received(200) if "a=x-marker:callee-update-answer" in m.body], \
        "the carrier's answer to UPDATE must reach the caller"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)


def test_reliable_provisional_prack_relayed(tollgate, sipp, ports):
    """RFC 3262 through the B2BUA: the carrier's reliable 183 (Require:
    100rel, RSeq) reaches the caller; the caller's PRACK reaches the carrier
    in the carrier's early dialog with RAck rewritten to the carrier leg's
    INVITE CSeq (the caller used CSeq 7, tollgate's leg uses its own), and
    the 200 for the PRACK comes back before the call is answered."""
    uas_port = ports.port()
    tg = tollgate(provisioning=_provisioning(f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-reliable-183.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-prack.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()

    early = uac.received(183)[0]
    assert "100rel" in early.header("Require") and early.header("RSeq") == "1"
    assert "a=x-marker:early-media" in early.body
    prack = uas.received("PRACK")[0]
    invite = uas.received("INVITE")[0]
    assert prack.header("Call-ID") == invite.header("Call-ID")
    carrier_cseq = invite.header("CSeq").split()[0]
    assert prack.header("RAck") == f"1 {carrier_cseq} INVITE"

    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a"], caller=CALLER, callee=CALLEE)
