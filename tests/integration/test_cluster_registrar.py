"""Registrations across the nodes of a cluster (docs/cluster-registrations.md):
a phone registered through node A is reached by a call entering node B,
through A (A holds the NAT mapping / the phone's TCP connection); A accepts
that INVITE only from a live peer's SIP address with a fresh, unused
X-Tollgate-Peer MAC; a phone that unregistered, or whose node died, gets
480 through B without a hang; the peer header is refused 403 from
customers, from spoofed peer addresses, and when replayed or stale."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
import struct
import time

import pytest

from harness import UdpPeer, mapping_gateway, new_call_id, wait_until
from sipua import Ua
from test_auth import PASSWORD, USER, password_gateway

try:
    import redis_server
except ImportError:  # the cluster fixture module lands with the cluster core
    redis_server = None

PEER_HEADER = "X-Tollgate-Peer"
PREFIX = "tg:"


def provisioning() -> str:
    # The phone's account (registers) and the customer PBX on 127.0.0.1.
    return password_gateway(register=True) + mapping_gateway("pbx", ["127.0.0.1"])


@pytest.fixture
def ua(ports):
    made = []

    def make(tg, ip="127.0.0.1", transport="udp", **kw):
        u = Ua(ip, ports.port(), (tg.listen_ip, tg.port), transport=transport, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def node_stats(tg) -> dict[str, str]:
    return tg.stats()


def peer_refused(tg) -> dict[str, int]:
    value = node_stats(tg).get("peer_refused", "")
    out = {}
    for part in filter(None, value.split(",")):
        k, _, v = part.partition(":")
        out[k] = int(v)
    return out


def invite(ruri: str, via: tuple[str, int], *, from_user="4420", to_user=USER,
           call_id: str | None = None, from_tag: str | None = None, branch: str | None = None,
           extra: list[str] = (), rport: bool = True) -> tuple[str, str, str]:
    """An INVITE with SDP; returns (text, call_id, from_tag)."""
    call_id = call_id or new_call_id("peer")
    from_tag = from_tag or f"{random.getrandbits(32):08x}"
    branch = branch or f"z9hG4bK-{random.getrandbits(48):012x}"
    host = f"{via[0]}:{via[1]}"
    sdp = (f"v=0\r\no=- 1 1 IN IP4 {via[0]}\r\ns=-\r\nc=IN IP4 {via[0]}\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    lines = [f"INVITE {ruri} SIP/2.0",
             f"Via: SIP/2.0/UDP {host};branch={branch}" + (";rport" if rport else ""),
             "Max-Forwards: 70",
             f"From: <sip:{from_user}@{host}>;tag={from_tag}",
             f"To: <sip:{to_user}@{ruri.split('@', 1)[1]}>",
             f"Call-ID: {call_id}",
             "CSeq: 1 INVITE",
             f"Contact: <sip:{from_user}@{host}>",
             *extra,
             "Content-Type: application/sdp",
             f"Content-Length: {len(sdp)}"]
    return "\r\n".join(lines) + "\r\n\r\n" + sdp, call_id, from_tag


def final_response(peer: UdpPeer, call_id: str, timeout: float = 3.0):
    got = peer.recv_until(lambda d: d.status >= 200 and call_id in d.text, timeout,
                          keep=lambda d: d.status > 0)
    finals = [d for d in got if d.status >= 200]
    return finals[0] if finals else None


def test_peer_header_from_a_customer_is_refused(tollgate, ua, ports):
    """A customer (the PBX, an authorized mapping gateway) adds
    X-Tollgate-Peer to its INVITE hoping to pass as a cluster node and skip
    its checks: 403, counted, and the phone never sees the call. (No
    [cluster] needed: the header is refused whether or not the node is in
    a cluster.)"""
    tg = tollgate(provisioning=provisioning())
    tg.listen_ip = "127.0.0.1"
    phone = ua(tg, "127.0.0.6").start_phone()
    assert phone.register(PASSWORD, expires=300)[1].status == 200
    pbx = UdpPeer("127.0.0.1", ports.port())
    try:
        forged = f"{PEER_HEADER}: tg-a;{int(time.time() * 1000)};{'0' * 32}"
        text, call_id, _ = invite(f"sip:{USER}@127.0.0.1:{tg.port}", pbx.addr, extra=[forged])
        pbx.send(text.encode(), ("127.0.0.1", tg.port))
        final = final_response(pbx, call_id)
        assert final is not None and final.status == 403, final and final.text
    finally:
        pbx.close()
    time.sleep(0.3)
    assert not [m for m in phone.received if m.method == "INVITE"]
    assert peer_refused(tg) == {"not_peer": 1}
    tg.wait_log(r"event=cluster\.peer_refused verdict=not_peer method=INVITE")
