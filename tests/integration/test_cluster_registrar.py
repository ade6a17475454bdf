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

from harness import (UdpPeer, check_cdr, cluster_config, cluster_listen, mapping_gateway,
                     new_call_id, wait_until)
from sipua import Ua
from test_auth import PASSWORD, USER, password_gateway

PEER_HEADER = "X-Tollgate-Peer"
PREFIX = "tg:"


def provisioning() -> str:
    # The phone's account (registers) and the customer PBX on 127.0.0.1.
    return password_gateway(register=True) + mapping_gateway("pbx", ["127.0.0.1"])


@pytest.fixture
def ua(ports):
    made = []

    def make(tg, ip="127.0.0.1", transport="udp", **kw):
        u = Ua(ip, ports.port(), sip_addr(tg), transport=transport, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def sip_addr(tg) -> tuple[str, int]:
    """The node's first listener (a cluster node listens on its own address
    and port, not on tg.port)."""
    _, ip, port = tg.listen[0].split(":")
    return ip, int(port)


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


# -- two nodes ------------------------------------------------------------

A_IP, B_IP = "127.0.0.2", "127.0.0.3"
PHONE_IP = "127.0.0.6"


def start_pair(tollgate, ports, r=None, sentinels=None):
    """Nodes node-a (127.0.0.2) and node-b (127.0.0.3) on Redis `r` (or
    through `sentinels`), the same provisioning on both, each seeing the
    other live."""
    a = tollgate({"cluster": cluster_config("node-a", redis=r, sentinels=sentinels)},
                 name="node-a", listen=cluster_listen(ports, A_IP), provisioning=provisioning())
    b = tollgate({"cluster": cluster_config("node-b", redis=r, sentinels=sentinels)},
                 name="node-b", listen=cluster_listen(ports, B_IP), provisioning=provisioning())
    a.wait_log(r"event=cluster\.peer_key_loaded", timeout=5)
    b.wait_log(r"event=cluster\.peer_key_loaded", timeout=5)
    a.wait_log(r"event=cluster\.nodes_changed nodes=2", timeout=5)
    b.wait_log(r"event=cluster\.nodes_changed nodes=2", timeout=5)
    return a, b


def registered_through_a(ua, a, r, transport="udp"):
    phone = ua(a, PHONE_IP, transport=transport).start_phone()
    assert phone.register(PASSWORD, expires=300)[1].status == 200
    wait_until(lambda: r.call("HLEN", f"{PREFIX}reg:{USER}") == 1, 5, "the binding in Redis")
    return phone


def phone_invites(phone):
    return [m for m in phone.received if m.method == "INVITE"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_entering_b_reaches_phone_registered_through_a(tollgate, ports, redis, ua, sipp,
                                                            transport):
    """The phone registers through A (over TCP it listens nowhere: only A's
    connection reaches it, as behind NAT); a customer calls its username
    through B: the phone gets the INVITE from A (on its own connection),
    without the peer header, answers; the caller's BYE ends both legs. B's
    CDR is the customer's call to the account, A's is marked peer transit."""
    r = redis()
    a, b = start_pair(tollgate, ports, r)
    phone = registered_through_a(ua, a, r, transport)
    owner = r.call("HGETALL", f"{PREFIX}reg:{USER}")[1]
    assert owner.startswith("1;") and owner.endswith(";1;node-a"), owner
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"{B_IP}:{sip_addr(b)[1]}", service=USER,
               caller="4420", hold_ms=300)
    uac.run()
    uac.assert_ok()
    invites = phone_invites(phone)
    assert len(invites) == 1
    if transport == "udp":
        assert invites[0].source == (A_IP, sip_addr(a)[1]), "the INVITE comes from the owner node"
    suffix = "" if transport == "udp" else ";transport=tcp"
    assert invites[0].first_line == f"INVITE sip:{USER}@{PHONE_IP}:{phone.port}{suffix} SIP/2.0"
    assert invites[0].header(PEER_HEADER) is None, "the peer header never reaches a phone"
    wait_until(lambda: any(m.method == "BYE" for m in phone.received), 3, "the BYE at the phone")
    assert phone.calls_answered == 1
    check_cdr(b.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", mapping_gateway="pbx", gateways=["phone-100"], callee=USER)
    check_cdr(a.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", mapping_gateway="peer:node-b", gateways=["phone-100"],
              callee=USER)
    sb, sa = node_stats(b), node_stats(a)
    assert (sb["peer_lookups"], sb["peer_routed"]) == ("1", "1")
    assert sa["peer_invites_in"] == "1"


def test_unregistered_phone_gets_480_through_b(tollgate, ports, redis, ua, sipp):
    r = redis()
    a, b = start_pair(tollgate, ports, r)
    phone = registered_through_a(ua, a, r)
    assert phone.register(PASSWORD, expires=0)[1].status == 200
    wait_until(lambda: r.call("HLEN", f"{PREFIX}reg:{USER}") == 0, 5, "the binding gone")
    uac = sipp("uac", "uac-expect-480.xml", remote=f"{B_IP}:{sip_addr(b)[1]}", service=USER)
    uac.run()
    uac.assert_ok()
    assert phone_invites(phone) == []
    check_cdr(b.wait_cdrs(1)[0], reason="callee_offline", final_code=480, answered=False,
              mapping_gateway="pbx", callee=USER, gateways=[])


def test_owner_killed_b_answers_480_after_node_ttl(tollgate, ports, redis, ua, sipp):
    """A dies (kill -9) with the phone's binding: once its heartbeat is older
    than node_ttl (1.5 s here) B no longer tries it and answers 480 at once,
    not after a setup timeout."""
    r = redis()
    a, b = start_pair(tollgate, ports, r)
    registered_through_a(ua, a, r)
    a.kill9()
    b.wait_log(r"event=cluster\.nodes_changed nodes=1", timeout=5)
    assert r.call("HLEN", f"{PREFIX}reg:{USER}") == 1, "the dead node's binding is still there"
    t0 = time.monotonic()
    uac = sipp("uac", "uac-expect-480.xml", remote=f"{B_IP}:{sip_addr(b)[1]}", service=USER)
    uac.run()
    uac.assert_ok()
    assert time.monotonic() - t0 < 3
    check_cdr(b.wait_cdrs(1)[0], reason="callee_offline", final_code=480, answered=False,
              mapping_gateway="pbx", callee=USER, gateways=[])


def test_redis_down_then_back_bindings_reannounced(tollgate, ports, redis, ua, sipp):
    """Redis killed: a call through B to the phone registered through A gets
    480 at once (its owner cannot be found), no hang. Redis back, empty (no
    persistence): A re-announces the binding, the nodes agree on a new peer
    key, and the next call through B reaches the phone through A."""
    r = redis()
    a, b = start_pair(tollgate, ports, r)
    phone = registered_through_a(ua, a, r)
    r.kill9()
    b.wait_log(r"event=cluster\.redis_down", timeout=5)
    t0 = time.monotonic()
    uac = sipp("uac-down", "uac-expect-480.xml", remote=f"{B_IP}:{sip_addr(b)[1]}", service=USER)
    uac.run()
    uac.assert_ok()
    assert time.monotonic() - t0 < 3
    check_cdr(b.wait_cdrs(1)[0], reason="callee_offline", final_code=480, answered=False,
              mapping_gateway="pbx", callee=USER, gateways=[])
    # The fallback is counted and logged (once per outage).
    assert "tollgate_cluster_registration_lookups_failed_total 1" in b.api("GET", "/metrics").text
    b.wait_log(r"event=cluster\.registrations_local_only first=lookup")
    r.start()  # same port, empty
    wait_until(lambda: r.call("HLEN", f"{PREFIX}reg:{USER}") == 1, 5, "the binding re-announced")
    for node in (a, b):
        wait_until(lambda: node.log().count("event=cluster.redis_up") >= 2, 5, "the link back")
    time.sleep(0.5)  # both nodes read the new key and saw each other's heartbeat
    uac = sipp("uac-back", "uac-caller-bye.xml", remote=f"{B_IP}:{sip_addr(b)[1]}",
               service=USER, caller="4420", hold_ms=200)
    uac.run()
    uac.assert_ok()
    assert len(phone_invites(phone)) == 1
    assert phone_invites(phone)[0].source == sip_addr(a)


def test_sentinel_failover_keeps_the_registration_reachable(tollgate, ports, redis, sentinels,
                                                            ua, sipp):
    """Nodes through Sentinel; the master is killed and its replica promoted:
    the binding (replicated, and re-announced when the link comes up on the
    new master) still routes a call through B to the phone behind A."""
    master = redis()
    replica = redis(replica_of=master)
    replica.wait_synced()
    s = sentinels(master)
    a, b = start_pair(tollgate, ports, sentinels=s)
    phone = registered_through_a(ua, a, master)
    master.kill9()
    assert s.wait_failover(master.address, timeout=20) == replica.address
    for node in (a, b):
        node.wait_log(r"event=cluster\.redis_up .*address=" + replica.address.replace(".", r"\."),
                      timeout=10)
    wait_until(lambda: replica.call("HLEN", f"{PREFIX}reg:{USER}") == 1, 5,
               "the binding on the new master")
    time.sleep(0.5)  # a heartbeat round on the new master
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"{B_IP}:{sip_addr(b)[1]}", service=USER,
               caller="4420", hold_ms=200)
    uac.run()
    uac.assert_ok()
    assert len(phone_invites(phone)) == 1
    assert phone_invites(phone)[0].source == sip_addr(a)


# -- attacks on the peer path ----------------------------------------------


def spoof_udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
    """One UDP datagram with a forged source address (a raw socket: root)."""
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload  # no checksum (IPv4)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(ip + udp, (dst[0], 0))
    finally:
        s.close()


def peer_mac(key_hex: str, node: str, ms: int, call_id: str, from_tag: str, user: str) -> str:
    data = "".join(f"{x}\n" for x in (node, str(ms), call_id, from_tag, user)).encode()
    return hmac.new(bytes.fromhex(key_hex), data, hashlib.sha256).hexdigest()[:32]


def send_as_b(b, a, attacker: UdpPeer, header_for) -> tuple[str, object]:
    """An INVITE for the phone's account to A, its source forged to B's SIP
    address; the Via (no rport) names the attacker's port on B's IP, so A's
    answer reaches the attacker. header_for(call_id, from_tag) -> value."""
    call_id = new_call_id("spoof")
    from_tag = f"{random.getrandbits(32):08x}"
    text, _, _ = invite(f"sip:{USER}@{A_IP}:{sip_addr(a)[1]}", attacker.addr, call_id=call_id,
                        from_tag=from_tag, rport=False,
                        extra=[f"{PEER_HEADER}: {header_for(call_id, from_tag)}"])
    spoof_udp((B_IP, sip_addr(b)[1]), (A_IP, sip_addr(a)[1]), text.encode())
    return text, final_response(attacker, call_id)


def test_forged_peer_header_from_a_spoofed_peer_address_is_refused(tollgate, ports, redis, ua):
    """An attacker who knows the cluster's layout but not its key: an INVITE
    whose source is forged to B's exact SIP address gets 403 (bad MAC); the
    same from B's IP on another port gets 403 (not a peer). The phone never
    rings. (The baseline has no [cluster] and does not start with one: this
    attack exists only with the cluster.)"""
    r = redis()
    a, b = start_pair(tollgate, ports, r)
    phone = registered_through_a(ua, a, r)
    attacker = UdpPeer(B_IP, ports.port())
    try:
        now = int(time.time() * 1000)
        _, final = send_as_b(b, a, attacker, lambda c, t: f"node-b;{now};{'ab' * 16}")
        assert final is not None and final.status == 403, final and final.text
        text, call_id, _ = invite(f"sip:{USER}@{A_IP}:{sip_addr(a)[1]}", attacker.addr,
                                  extra=[f"{PEER_HEADER}: node-b;{now};{'ab' * 16}"])
        attacker.send(text.encode(), (A_IP, sip_addr(a)[1]))
        final = final_response(attacker, call_id)
        assert final is not None and final.status == 403, final and final.text
    finally:
        attacker.close()
    time.sleep(0.3)
    assert phone_invites(phone) == []
    assert peer_refused(a) == {"bad_mac": 1, "not_peer": 1}
    a.wait_log(r"event=cluster\.peer_refused verdict=bad_mac method=INVITE")
    text = a.api("GET", "/metrics").text
    assert 'tollgate_requests_refused_total{reason="peer_bad_mac"} 1' in text


def test_stale_or_replayed_peer_header_is_refused(tollgate, ports, redis, ua):
    """Someone who captured (or, here, computed with the key) a peer INVITE:
    a header signed 60 s ago gets 403 (stale); a fresh one is accepted once
    (the phone rings) and the same header again, in a new transaction, gets
    403 (replayed)."""
    r = redis()
    a, b = start_pair(tollgate, ports, r)
    phone = registered_through_a(ua, a, r)
    key = r.call("GET", f"{PREFIX}peer-key")
    assert len(key) == 64
    attacker = UdpPeer(B_IP, ports.port())
    try:
        old = int(time.time() * 1000) - 60_000
        _, final = send_as_b(b, a, attacker, lambda c, t: f"node-b;{old};"
                             f"{peer_mac(key, 'node-b', old, c, t, USER)}")
        assert final is not None and final.status == 403, final and final.text
        assert phone_invites(phone) == []

        now = int(time.time() * 1000)
        header = {}

        def fresh(c, t):
            header["v"] = f"node-b;{now};{peer_mac(key, 'node-b', now, c, t, USER)}"
            header["call"] = (c, t)
            return header["v"]
        text, final = send_as_b(b, a, attacker, fresh)
        assert final is not None and final.status == 200, final and final.text
        assert len(phone_invites(phone)) == 1
        # The very same INVITE in a new transaction (another Via branch).
        c, t = header["call"]
        again, _, _ = invite(f"sip:{USER}@{A_IP}:{sip_addr(a)[1]}", attacker.addr, call_id=c,
                             from_tag=t, rport=False,
                             extra=[f"{PEER_HEADER}: {header['v']}"])
        spoof_udp((B_IP, sip_addr(b)[1]), (A_IP, sip_addr(a)[1]), again.encode())
        final = attacker.recv_until(lambda d: d.status == 403, 3, keep=lambda d: d.status > 0)
        assert final and final[-1].status == 403, [d.text for d in final]
    finally:
        attacker.close()
    assert len(phone_invites(phone)) == 1
    assert peer_refused(a) == {"stale": 1, "replayed": 1}
