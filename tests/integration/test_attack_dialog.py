"""In-dialog requests, ACK and CANCEL are taken only from the leg's peer.

An attacker who learns a live dialog's Call-ID and tags (on the path, from a
leaked trace, from a SIP ALG) sends requests in it from another address:
a BYE that ends the call, a re-INVITE that moves the media to the
attacker, an ACK that confirms the call with the attacker's SDP, a CANCEL
that kills it while ringing. Each test below performs the attack with raw
UDP sockets on loopback (customer 127.0.0.5, carrier 127.0.0.1, attacker
127.0.0.66: provisioned nowhere, so `unknown_source = "drop"` applies) and
checks that nothing reaches the other leg, nothing is answered, the call
goes on, and the drop is counted; then the real peer does the same thing and
it works (the control that proves each test can fail).

A password customer whose address changed mid-call (NAT rebinding) is not an
attacker: its in-dialog request is challenged and, once it authenticates as
the same gateway, relayed.
"""

from __future__ import annotations

from harness import SDP, mapping_gateway, routing_gateway
from rawcall import (ATTACKER_IP, CALLEE, CUSTOMER_IP, Call, branch, quiet, request, start_call,
                     wait_for)
from sipua import credentials, parse_params


def test_foreign_bye_and_reinvite_do_not_cross(tollgate, udp, ports):
    tg, call = start_call(tollgate, udp, ports)
    attacker = udp(ATTACKER_IP, ports.port())
    call.send_invite()
    call.answered()
    call.customer_ack()
    assert wait_for(call.carrier, "ACK", 3)

    # 1. The customer leg's dialog, from the attacker: BYE, then a re-INVITE
    # moving the media to the attacker.
    attacker.send(request("BYE", f"sip:{CALLEE}@127.0.0.1:{tg.port}", attacker.addr,
                           call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                           cseq=2), call.server)
    evil_sdp = SDP.format(ip="6.6.6.6")
    attacker.send(request("INVITE", f"sip:{CALLEE}@127.0.0.1:{tg.port}", attacker.addr,
                           call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                           cseq=3, body=evil_sdp), call.server)
    # 2. The carrier leg's dialog, from the attacker posing as the carrier.
    attacker.send(request("BYE", f"sip:x@127.0.0.1:{tg.port}", attacker.addr,
                           call_id=call.b_call_id, from_hdr=call.b_theirs,
                           to_hdr=call.b_ours, cseq=1), call.server)

    assert quiet(call.carrier, 1.5) == [], "nothing of the attacker's may reach the carrier"
    assert quiet(call.customer, 0.3) == [], "nothing of the attacker's may reach the customer"
    assert quiet(attacker, 0.3) == [], "the attacker gets no answer (dropped, not 481)"
    assert not tg.cdrs(), "the call is still up"
    calls = tg.api("GET", "/api/v1/calls").json()["calls"]
    assert len(calls) == 1 and calls[0]["state"] == "confirmed", calls
    stats = tg.stats()
    assert stats["in_dialog_foreign"] == "3", stats
    tg.wait_log(r"event=sip\.in_dialog_foreign_source method=BYE .*source=127\.0\.0\.66:")

    # The control: the same BYE from the customer ends the call.
    call.customer.send(request("BYE", f"sip:{CALLEE}@127.0.0.1:{tg.port}", call.customer.addr,
                                call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                                cseq=2), call.server)
    assert wait_for(call.carrier, "BYE", 3)
    cdr = tg.wait_cdrs(1)[0]
    assert cdr["reason"] == "caller_bye", cdr


def test_foreign_cancel_does_not_end_a_ringing_call(tollgate, udp, ports):
    tg, call = start_call(tollgate, udp, ports)
    attacker = udp(ATTACKER_IP, ports.port())
    call.send_invite()
    call.carrier_answers(180, "Ringing")
    call.customer_waits(180)
    # The INVITE's own Via branch, Call-ID, From and CSeq (all an on-path
    # observer sees), from the attacker's address.
    attacker.send(request("CANCEL", f"sip:{CALLEE}@127.0.0.1:{tg.port}", call.customer.addr,
                           call_id=call.call_id, from_hdr=call.a_from,
                           to_hdr=f"<sip:{CALLEE}@127.0.0.1>", cseq=1,
                           via_branch=call.invite_branch), call.server)
    assert quiet(call.carrier, 1.5, lambda d: d.text.startswith("CANCEL ")) == []
    assert quiet(call.customer, 0.3, lambda d: d.status == 487) == []
    assert quiet(attacker, 0.3) == [], "no 200 for the attacker's CANCEL"
    assert tg.stats()["cancel_foreign"] == "1"

    # The control: the customer's CANCEL ends the attempt.
    call.customer.send(request("CANCEL", f"sip:{CALLEE}@127.0.0.1:{tg.port}",
                                call.customer.addr, call_id=call.call_id,
                                from_hdr=call.a_from, to_hdr=f"<sip:{CALLEE}@127.0.0.1>", cseq=1,
                                via_branch=call.invite_branch), call.server)
    assert wait_for(call.carrier, "CANCEL", 3)
    call.customer_waits(487)


def test_foreign_ack_does_not_confirm_the_call(tollgate, udp, ports):
    """A delayed-offer ACK carries the SDP answer: the attacker's ACK must
    neither reach the carrier nor stand in for the customer's."""
    tg, call = start_call(tollgate, udp, ports)
    attacker = udp(ATTACKER_IP, ports.port())
    call.send_invite(body="")
    call.answered()
    evil = SDP.format(ip="6.6.6.6")
    attacker.send(request("ACK", f"sip:{CALLEE}@127.0.0.1:{tg.port}", attacker.addr,
                           call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                           cseq=1, body=evil), call.server)
    assert quiet(call.carrier, 1.0, lambda d: d.text.startswith("ACK ")) == []
    assert tg.stats()["ack_foreign"] == "1"
    call.customer_ack(body=SDP.format(ip=CUSTOMER_IP))
    ack = wait_for(call.carrier, "ACK", 3)
    assert ack and "6.6.6.6" not in ack.text and CUSTOMER_IP in ack.text


def test_password_customer_from_a_new_address_proves_itself(tollgate, udp, ports):
    """Not an attack: a password gateway's phone whose NAT mapping changed
    mid-call is challenged and its BYE relayed once it authenticates as the
    same gateway; the same BYE with another account's credentials is not."""
    carrier_port = ports.port()
    prov = (mapping_gateway("cust-a", [], auth="password", username="100", password="s3cret-100")
            + mapping_gateway("cust-b", [], auth="password", username="200",
                              password="s3cret-200")
            + routing_gateway("carrier-a", f"127.0.0.1:{carrier_port}"))
    tg = tollgate(provisioning=prov)
    call = Call(tg, udp, ports, carrier_port)
    # The INVITE with credentials (407 first).
    call.customer.send(request("INVITE", f"sip:{CALLEE}@127.0.0.1:{tg.port}",
                                call.customer.addr, call_id=call.call_id, from_hdr=call.a_from,
                                to_hdr=call.a_to, cseq=1, body=SDP.format(ip=CUSTOMER_IP)),
                       call.server)
    chal = call.customer_waits(407)
    ch = parse_params(chal.header("Proxy-Authenticate"))
    ruri = f"sip:{CALLEE}@127.0.0.1:{tg.port}"
    call.invite_branch = branch()
    call.customer.send(request(
        "INVITE", ruri, call.customer.addr, call_id=call.call_id, from_hdr=call.a_from,
        to_hdr=call.a_to, cseq=2, body=SDP.format(ip=CUSTOMER_IP), via_branch=call.invite_branch,
        extra=[f"Proxy-Authorization: {credentials(ch, '100', 's3cret-100', 'INVITE', ruri)}"]),
        call.server)
    got = wait_for(call.carrier, "INVITE", 5)
    call.b_invite = got.text
    call.answered()
    call.customer.send(request("ACK", ruri, call.customer.addr, call_id=call.call_id,
                                from_hdr=call.a_from, to_hdr=call.a_to, cseq=2), call.server)

    moved = udp("127.0.0.77", ports.port())
    bye = lambda cseq, extra=(): request("BYE", ruri, moved.addr, call_id=call.call_id,
                                          from_hdr=call.a_from, to_hdr=call.a_to, cseq=cseq,
                                          extra=extra)
    moved.send(bye(3), call.server)
    got = wait_for(moved, 407)
    assert got, "a BYE from the phone's new address is challenged"
    assert quiet(call.carrier, 0.3, lambda d: d.text.startswith("BYE ")) == []
    ch = parse_params(got.header("Proxy-Authenticate"))
    # Another account's valid credentials do not make it this call's peer.
    wrong = credentials(ch, "200", "s3cret-200", "BYE", ruri)
    moved.send(bye(4, [f"Proxy-Authorization: {wrong}"]), call.server)
    assert quiet(call.carrier, 1.0, lambda d: d.text.startswith("BYE ")) == []
    right = credentials(ch, "100", "s3cret-100", "BYE", ruri, nc=2)
    moved.send(bye(5, [f"Proxy-Authorization: {right}"]), call.server)
    assert wait_for(call.carrier, "BYE", 3)
    assert tg.wait_cdrs(1)[0]["reason"] == "caller_bye"
