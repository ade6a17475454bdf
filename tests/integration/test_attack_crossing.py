"""What crosses the B2BUA, tried as an attacker (and a nosy carrier) would.

A customer's INVITE carries identity headers (P-Asserted-Identity,
Remote-Party-ID, P-Charge-Info: the carrier may bill on them), internal
X- headers, its software name and an SDP whose o=/s= name its user, host and
PBX; the carrier's answer carries its own (Warning with its host, X- headers,
its PAI, its SDP origin). Headers cross by an allow list: none of these may
reach the other side unless the operator says so per gateway
(`trust_identity`, `pass_headers`, `asserted_identity`), and every identity
that does cross is checked by the caller number lists: a listed number
presented in PAI is refused like one in From.

Raw UDP sockets on loopback (rawcall.py): the test writes every header
itself and reads every byte the other side gets.
"""

from __future__ import annotations

from harness import SDP, mapping_gateway, routing_gateway
from rawcall import CALLEE, CUSTOMER_IP, Call, quiet, request, response, wait_for

CUSTOMER_SDP = ("v=0\r\no=root 7777 3 IN IP4 10.9.8.7\r\ns=Asterisk PBX 18.2\r\n"
                f"c=IN IP4 {CUSTOMER_IP}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
                "a=rtpmap:0 PCMU/8000\r\n")
CARRIER_SDP = ("v=0\r\no=sbc-core-3 4242 9 IN IP4 172.16.0.9\r\ns=CarrierSBC v9\r\n"
               "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\n")
CUSTOMER_EXTRA = [
    'P-Asserted-Identity: "Boss" <sip:19005550000@10.1.2.3;user=phone>',
    "Remote-Party-ID: <sip:19005550000@10.1.2.3>;party=calling;screen=yes",
    "P-Charge-Info: <sip:19005550000@10.1.2.3>",
    "X-Internal-Route: core-7",
    "X-Account-Code: 7001",
    "Organization: Acme Wholesale Ltd",
    "User-Agent: Asterisk PBX 18.2",
]


def _node(tollgate, ports, lists=(), **customer):
    carrier_port = ports.port()
    tg = tollgate(start=False)
    for name, kind, patterns in lists:
        tg.cli("list", "create", name, "--kind", kind, "--config", str(tg.config_path))
        tg.cli("list", "add", name, *patterns, "--config", str(tg.config_path))
    tg.import_text(mapping_gateway("cust-a", [CUSTOMER_IP], **customer) +
                   routing_gateway("carrier-a", f"127.0.0.1:{carrier_port}"))
    tg.start()
    return tg, carrier_port


def _carrier_answer(call: Call, extra: list[str]) -> None:
    text = response(call.b_invite, 200, "OK", call.b_tag,
                    f"sip:carrier@127.0.0.1:{call.carrier.addr[1]}", CARRIER_SDP).decode()
    head, body = text.split("\r\n\r\n", 1)
    call.carrier.send(("\r\n".join([head, *extra]) + "\r\n\r\n" + body).encode(), call.server)


def test_untrusted_customer_identity_and_topology_stay_home(tollgate, udp, ports):
    tg, carrier_port = _node(tollgate, ports)
    call = Call(tg, udp, ports, carrier_port)
    b = call.send_invite(body=CUSTOMER_SDP, extra=CUSTOMER_EXTRA)
    head, body = b.split("\r\n\r\n", 1)
    for leaked in ("P-Asserted-Identity", "Remote-Party-ID", "P-Charge-Info", "X-Internal-Route",
                   "X-Account-Code", "Organization", "19005550000", "10.1.2.3", "Asterisk",
                   "10.9.8.7", "root", CUSTOMER_IP):
        assert leaked not in head, f"{leaked} reached the carrier:\n{head}"
    lines = body.split("\r\n")
    assert f"o=- 7777 3 IN IP4 127.0.0.1" in lines, body
    assert "s=-" in lines, body
    assert "Asterisk" not in body and "10.9.8.7" not in body
    # What remains visible without media anchoring: the media address.
    assert f"c=IN IP4 {CUSTOMER_IP}" in lines

    # The carrier's answer: its Warning (names its host), X- headers, its own
    # identity, its software and SDP origin stay on its side.
    _carrier_answer(call, ['Warning: 399 sbc7.carrier.internal "route 12 overloaded"',
                           "X-Carrier-Node: n7", "P-Asserted-Identity: <sip:999@carrier.internal>",
                           "Server: CarrierSwitch 9.1"])
    ok = call.customer_waits(200)
    a_head, a_body = ok.text.split("\r\n\r\n", 1)
    for leaked in ("Warning", "X-Carrier-Node", "P-Asserted-Identity", "carrier.internal",
                   "CarrierSwitch", "sbc-core-3", "172.16.0.9", "CarrierSBC"):
        assert leaked not in ok.text, f"{leaked} reached the customer:\n{ok.text}"
    assert "o=- 4242 9 IN IP4 127.0.0.1" in a_body.split("\r\n"), a_body


def test_a_body_without_content_type_does_not_cross(tollgate, udp, ports):
    """RFC 3261 §7.4.1: a non-empty body says what it is. An SDP sent without
    a Content-Type would otherwise cross unjudged, origin and all. The
    customer's untyped INVITE is refused (415, never reaches the carrier); a
    carrier's untyped answer and an untyped in-dialog INFO cross without their
    bodies, counted."""
    tg, carrier_port = _node(tollgate, ports)
    untyped = Call(tg, udp, ports, carrier_port)
    untyped.invite = request("INVITE", f"sip:{CALLEE}@127.0.0.1:{tg.port}",
                             untyped.customer.addr, call_id=untyped.call_id,
                             from_hdr=untyped.a_from, to_hdr=untyped.a_to, cseq=1,
                             body=CUSTOMER_SDP, content_type=None)
    untyped.customer.send(untyped.invite, untyped.server)
    untyped.customer_waits(415)
    assert not quiet(untyped.carrier, 0.5, lambda d: d.text.startswith("INVITE ")), "it crossed"

    call = Call(tg, udp, ports, carrier_port, carrier=untyped.carrier)
    call.send_invite(body=CUSTOMER_SDP)
    call.carrier_answers(200, "OK", body=CARRIER_SDP, content_type=None)
    ok = call.customer_waits(200)
    assert ok.text.split("\r\n\r\n", 1)[1] == "", ok.text
    assert "sbc-core-3" not in ok.text and "172.16.0.9" not in ok.text, ok.text

    # In the dialog: an INFO (its body is not judged by the 415 rule, which
    # covers offers only) with an untyped body crosses without it.
    call.a_to = ok.header("To")
    call.customer_ack()
    assert wait_for(call.carrier, "ACK", 3)
    call.customer.send(request("INFO", f"sip:{CALLEE}@127.0.0.1:{tg.port}", call.customer.addr,
                               call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                               cseq=2, body=CUSTOMER_SDP, content_type=None), call.server)
    info = wait_for(call.carrier, "INFO", 3)
    assert info, "the INFO must be relayed"
    assert info.text.split("\r\n\r\n", 1)[1] == "" and "10.9.8.7" not in info.text, info.text
    metrics = tg.api("GET", "/metrics").text
    assert "tollgate_untyped_bodies_dropped_total 2" in metrics, metrics


def test_trusted_identity_crosses_rewritten_and_is_checked_by_the_lists(tollgate, udp, ports):
    tg, carrier_port = _node(tollgate, ports, lists=[("premium", "black", ["1900*"])],
                             trust_identity=True, pass_headers=["X-Account-Code"],
                             caller_lists=["premium"])
    # 1. A listed number presented only in the identity headers (From is a
    # clean number): refused like a listed From, nothing reaches the carrier.
    call = Call(tg, udp, ports, carrier_port)
    call.customer.send(request("INVITE", f"sip:{CALLEE}@127.0.0.1:{tg.port}", call.customer.addr,
                               call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                               cseq=1, body=CUSTOMER_SDP, extra=CUSTOMER_EXTRA), call.server)
    call.customer_waits(403)
    assert quiet(call.carrier, 1.0) == []
    cdr = tg.wait_cdrs(1)[0]
    assert cdr["reason"] == "caller_blacklisted" and cdr["final_code"] == 403, cdr

    # 2. A clean asserted number crosses, its host rewritten to ours; the
    # pass_headers name crosses, other X- headers do not.
    call = Call(tg, udp, ports, carrier_port, carrier=call.carrier)
    extra = ['P-Asserted-Identity: "Boss" <sip:4420777@10.1.2.3;user=phone>',
             "X-Internal-Route: core-7", "X-Account-Code: 7001"]
    b = call.send_invite(body=CUSTOMER_SDP, extra=extra)
    head = b.split("\r\n\r\n", 1)[0]
    pai = [l for l in head.split("\r\n") if l.startswith("P-Asserted-Identity:")]
    assert pai == [f'P-Asserted-Identity: "Boss" <sip:4420777@127.0.0.1:{tg.port}>'], head
    assert "X-Account-Code: 7001" in head.split("\r\n")
    assert "X-Internal-Route" not in head and "10.1.2.3" not in head


def test_asserted_identity_replaces_the_customers(tollgate, udp, ports):
    tg, carrier_port = _node(tollgate, ports, asserted_identity="442071234567")
    call = Call(tg, udp, ports, carrier_port)
    b = call.send_invite(body=CUSTOMER_SDP, extra=CUSTOMER_EXTRA)
    head = b.split("\r\n\r\n", 1)[0]
    pai = [l for l in head.split("\r\n") if l.startswith("P-Asserted-Identity:")]
    assert pai == [f"P-Asserted-Identity: <sip:442071234567@127.0.0.1:{tg.port}>"], head
    assert "19005550000" not in head


def test_refer_does_not_cross_to_the_carrier(tollgate, udp, ports):
    """A REFER in an answered call would make the carrier place a call
    nobody admitted: answered 405 on the customer's leg, never relayed."""
    tg, carrier_port = _node(tollgate, ports)
    call = Call(tg, udp, ports, carrier_port)
    call.send_invite()
    call.answered()
    call.customer_ack()
    wait_for(call.carrier, "ACK", 3)
    call.customer.send(request("REFER", f"sip:{CALLEE}@127.0.0.1:{tg.port}", call.customer.addr,
                               call_id=call.call_id, from_hdr=call.a_from, to_hdr=call.a_to,
                               cseq=2, extra=["Refer-To: <sip:19005550000@127.0.0.1>"]),
                       call.server)
    assert call.customer_waits(405).header("Allow")
    assert quiet(call.carrier, 1.0, lambda d: d.text.startswith("REFER ")) == []
