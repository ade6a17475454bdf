"""A call driven step by step over raw UDP sockets, for attack tests that need
to forge or inspect individual messages: a customer on 127.0.0.5 calls
through tollgate to a carrier on 127.0.0.1, both plain sockets the test
drives (`Call`), plus request/response builders (`request`, `response`).
Standard library and harness only; every wait has a deadline."""

from __future__ import annotations

import random
import re

from harness import SDP, mapping_gateway, new_call_id, routing_gateway

CUSTOMER_IP = "127.0.0.5"
ATTACKER_IP = "127.0.0.66"
CALLEE = "15551234567"


def tag_of(header: str) -> str:
    m = re.search(r"tag=([^;>\s]+)", header)
    return m.group(1) if m else ""


def branch() -> str:
    return f"z9hG4bK-{random.getrandbits(48):012x}"


def request(method, ruri, src, *, call_id, from_hdr, to_hdr, cseq, body="", via_branch=None,
             extra=(), content_type="application/sdp"):
    host = src[0]
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: SIP/2.0/UDP {host}:{src[1]};branch={via_branch or branch()};rport",
             "Max-Forwards: 70", f"From: {from_hdr}", f"To: {to_hdr}", f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}", f"Contact: <sip:x@{host}:{src[1]}>", *extra]
    if body and content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def response(req_text: str, status: int, reason: str, to_tag: str, contact: str,
              body: str = "", content_type: str | None = "application/sdp") -> bytes:
    head = req_text.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [l for l in head[1:] if l.split(":", 1)[0].strip().lower()
            in ("via", "from", "to", "call-id", "cseq")]
    out = [f"SIP/2.0 {status} {reason}"]
    for l in keep:
        if l.lower().startswith("to:") and "tag=" not in l:
            l += f";tag={to_tag}"
        out.append(l)
    out.append(f"Contact: <{contact}>")
    if body and content_type:
        out.append(f"Content-Type: {content_type}")
    out.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(out) + "\r\n\r\n" + body).encode()


def header(text: str, name: str) -> str | None:
    for line in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class Call:
    """A customer (raw UDP on 127.0.0.5) calling through tollgate to a carrier
    (raw UDP on 127.0.0.1) that the test drives step by step."""

    def __init__(self, tg, udp, ports, carrier_port, customer_ip=CUSTOMER_IP, carrier=None):
        self.tg = tg
        self.server = ("127.0.0.1", tg.port)
        self.customer = udp(customer_ip, ports.port())
        # A later call of the same test reuses the carrier's socket.
        self.carrier = carrier or udp("127.0.0.1", carrier_port)
        self.call_id = new_call_id("dlg")
        self.a_from = f"<sip:4420@{customer_ip}>;tag={random.getrandbits(32):08x}"
        self.a_to = f"<sip:{CALLEE}@127.0.0.1>"
        self.invite_branch = branch()
        self.invite = b""
        self.b_invite = ""
        self.b_tag = f"carrier{random.getrandbits(24):06x}"

    def send_invite(self, body=SDP.format(ip=CUSTOMER_IP), extra=(),
                    content_type="application/sdp"):
        self.invite = request("INVITE", f"sip:{CALLEE}@127.0.0.1:{self.tg.port}",
                               self.customer.addr, call_id=self.call_id, from_hdr=self.a_from,
                               to_hdr=self.a_to, cseq=1, body=body,
                               via_branch=self.invite_branch, extra=extra,
                               content_type=content_type)
        self.customer.send(self.invite, self.server)
        got = wait_for(self.carrier, "INVITE", 5)
        assert got, "the INVITE must reach the carrier"
        self.b_invite = got.text
        return self.b_invite

    def carrier_answers(self, status, reason, body="", content_type="application/sdp"):
        self.carrier.send(response(self.b_invite, status, reason, self.b_tag,
                                    f"sip:carrier@127.0.0.1:{self.carrier.addr[1]}", body,
                                    content_type),
                          self.server)

    def customer_waits(self, status):
        got = wait_for(self.customer, status, 5)
        assert got, f"the customer must get a {status}"
        return got

    def answered(self):
        """180 then 200 from the carrier; returns the customer's 200."""
        self.carrier_answers(180, "Ringing")
        self.customer_waits(180)
        self.carrier_answers(200, "OK", SDP.format(ip="127.0.0.1"))
        ok = self.customer_waits(200)
        self.a_to = ok.header("To")
        return ok

    def customer_ack(self, body=""):
        self.customer.send(request("ACK", f"sip:{CALLEE}@127.0.0.1:{self.tg.port}",
                                    self.customer.addr, call_id=self.call_id,
                                    from_hdr=self.a_from, to_hdr=self.a_to, cseq=1, body=body),
                           self.server)

    # The carrier leg as the carrier sees it.
    @property
    def b_call_id(self):
        return header(self.b_invite, "Call-ID")

    @property
    def b_ours(self):  # tollgate's From on the carrier leg
        return header(self.b_invite, "From")

    @property
    def b_theirs(self):  # the carrier's To, with its tag
        return header(self.b_invite, "To") + f";tag={self.b_tag}"


def wait_for(peer, what, timeout=3.0):
    """The first datagram `peer` gets within `timeout` that is the request
    `what` (a method name) or the response `what` (a status); None if none."""
    def match(d):
        return d.status == what if isinstance(what, int) else d.text.startswith(what + " ")
    got = peer.recv_until(match, timeout)
    return got[-1] if got and match(got[-1]) else None


def quiet(peer, window=1.0, what=lambda d: True):
    return [d for d in peer.recv_all(window) if what(d)]


def provisioning(carrier_port, **customer):
    return (mapping_gateway("cust-a", [CUSTOMER_IP], **customer) +
            routing_gateway("carrier-a", f"127.0.0.1:{carrier_port}"))


def start_call(tollgate, udp, ports, **prov):
    carrier_port = ports.port()
    tg = tollgate(provisioning=provisioning(carrier_port, **prov))
    return tg, Call(tg, udp, ports, carrier_port)


