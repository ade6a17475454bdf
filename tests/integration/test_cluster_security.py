"""Security state shared by the nodes of a cluster through Redis
(docs/cluster-security.md): two tollgate nodes on their own loopback
addresses and one real redis-server. Password guessing spread over both
nodes gets auth.max_retry wrong answers in total and is then suspended on
both; a ban placed on node A (through the API, or automatically by a flood)
drops the source on node B within 1 s and its lift lifts it there; a ban
placed while Redis is down reaches B when Redis returns; a number listed
on A's dynamic blacklist is refused by B.

Against a build without [cluster] (the baseline) the nodes start without
it, each alone, which is the behaviour these tests exist to rule out: each
test then fails on its attack assertion, not at start-up."""

from __future__ import annotations

import functools
import subprocess
import time

import pytest

import harness
from harness import mapping_gateway, sip_request, wait_until
from sipua import Ua

USER, PASSWORD = "100", "correct horse"
A_IP, B_IP = "127.0.0.11", "127.0.0.12"
# The probes that watch for a drop send a request every 0.1 s: the node's
# own rate checks only count them, so a drop can only come from a ban.
PROBED = {"rate_mode": "count-only", "prefix_rate_mode": "count-only"}


@functools.lru_cache(maxsize=1)
def _binary_knows_cluster() -> bool:
    """Whether TOLLGATE_BIN parses [cluster] (the baseline build does not)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/probe.toml"
        with open(path, "w") as f:
            f.write(harness.toml_tables({
                "sip": {"listen": ["udp:127.0.0.1:5060"]},
                "store": {"path": f"{d}/probe.db"},
                "cluster": {"node_id": "probe", "redis": ["127.0.0.1:1"]}}))
        r = subprocess.run([harness.TOLLGATE_BIN, "config", "check", "--config", path],
                           capture_output=True, text=True, timeout=20)
        return r.returncode == 0


def password_gateway(name="phone-100", username=USER, password=PASSWORD, **extra) -> str:
    keys = {"name": name, "auth": "password", "username": username, "password": password, **extra}
    return "[[mapping_gateway]]\n" + "".join(
        f"{k} = {harness.toml_value(v)}\n" for k, v in keys.items())


@pytest.fixture
def two_nodes(tollgate, redis, ports):
    """Factory: nodes "a" (127.0.0.11) and "b" (127.0.0.12) on one Redis,
    same settings (`b_settings` added to b's) and provisioning; returns
    (a, b, redis server)."""
    def make(settings: dict | None = None, provisioning: str | None = None,
             b_settings: dict | None = None):
        server = redis()
        nodes = []
        for node_id, ip in (("a", A_IP), ("b", B_IP)):
            s = {k: dict(v) for k, v in (settings or {}).items()}
            for k, v in ((b_settings or {}) if node_id == "b" else {}).items():
                s.setdefault(k, {}).update(v)
            if _binary_knows_cluster():
                s["cluster"] = harness.cluster_config(node_id, redis=server)
            listen = harness.cluster_listen(ports, ip)
            node = tollgate(settings=s, provisioning=provisioning, name=node_id, listen=listen)
            node.port = int(listen[0].rsplit(":", 1)[1])  # where it listens for SIP
            nodes.append(node)
        if _binary_knows_cluster():
            for n in nodes:
                n.wait_log(r"event=cluster\.bans_resynced", timeout=5)
        return nodes[0], nodes[1], server
    return make


def _register(peer, node, ip):
    data, _ = sip_request("REGISTER", f"sip:{ip}:{node.port}", peer.addr)
    return data


def _answered(peer, node, ip, window=0.15) -> bool:
    peer.send(_register(peer, node, ip), (ip, node.port))
    return bool(peer.recv_all(window))


def _seconds_until(pred, limit: float, what: str) -> float:
    """Seconds until pred() holds (polled); fails past `limit` x 3."""
    t0 = time.monotonic()
    wait_until(pred, limit * 3, what, interval=0.01)
    return time.monotonic() - t0


# ---------------------------------------------------------------------------
# digest retry counters and suspensions


def test_password_guessing_over_two_nodes_gets_max_retry_wrong_answers_in_total(two_nodes,
                                                                                ports):
    """auth.max_retry = 3; a guesser at 127.0.0.2 alternates its wrong
    passwords between A and B. Alone, each node would answer 3 x 2 = 4
    wrong tries with a new challenge before both had suspended it; shared,
    exactly 2 wrong answers come back, the 3rd wrong try (on A) suspends
    the (user, source) on both, and from then on the right password gets
    no answer from either node. The real user at 127.0.0.3 registers on B
    all along. An operator's clear on A lifts it on B too."""
    a, b, _ = two_nodes(settings={"auth": {"max_retry": 3},
                                  "store": {"provisioning_poll_ms": 200}},
                        provisioning=password_gateway(register=True))
    port = ports.port()
    to_a = Ua("127.0.0.2", port, (A_IP, a.port))
    to_b = Ua("127.0.0.2", ports.port(), (B_IP, b.port))
    try:
        answers = []
        for i in range(6):
            u = (to_a, to_b)[i % 2]
            first, final, _ = u.register(f"guess-{i}", timeout=0.6)
            answers.append(final.status if final is not None else None)
        assert answers == [407, 407, None, None, None, None], answers

        for u in (to_a, to_b):
            first, final, _ = u.register(PASSWORD, timeout=0.6)
            assert first is None and final is None, "suspended on both: not even challenged"
        a.wait_log(r"event=auth\.suspended kind=user_source username=100 source=127\.0\.0\.2")
        b.wait_log(r"event=auth\.suspension_shared kind=user_source username=100 "
                   r"source=127\.0\.0\.2 seconds=1[78]\d node=a")
        real = Ua("127.0.0.3", ports.port(), (B_IP, b.port))
        try:
            _, ok, _ = real.register(PASSWORD)
            assert ok is not None and ok.status == 200, "the real user elsewhere is unaffected"
        finally:
            real.close()

        r = a.cli("auth", "suspensions", "clear", "--config", str(a.config_path), "--source",
                  "127.0.0.2", "--user", USER)
        assert "cleared 1 suspension" in r.stdout, r.stdout
        b.wait_log(r"event=auth\.suspension_cleared kind=user_source username=100 "
                   r"source=127\.0\.0\.2 lifted=true node=a")

        def registers_on_b():
            _, ok, _ = to_b.register(PASSWORD, timeout=0.5)
            return ok is not None and ok.status == 200
        wait_until(registers_on_b, 5, "B to lift the suspension and the auth ban")
    finally:
        to_a.close()
        to_b.close()


# ---------------------------------------------------------------------------
# shield bans


def test_api_ban_on_a_drops_the_source_on_b_within_1s_and_its_lift_follows(two_nodes, udp):
    """POST /api/v1/bans on A: B drops the source within 1 s (measured), its
    `ban why` names node a; DELETE on A: B answers it again within 1 s."""
    a, b, _ = two_nodes(settings={"sip": {"unknown_source": "403"}, "shield": PROBED},
                        provisioning=mapping_gateway("cust-a", ["127.0.0.5"]))
    peer = udp("127.0.0.6")
    assert _answered(peer, b, B_IP), "unknown_source = 403: answered before the ban"
    r = a.api("POST", "/api/v1/bans", {"address": "127.0.0.6", "duration": 600, "note": "t-14"})
    assert r.status == 201, r.text
    took = _seconds_until(lambda: not _answered(peer, b, B_IP, 0.1), 1.0, "B to drop 127.0.0.6")
    print(f"measured: B drops the source {took:.3f} s after A's API placed the ban")
    assert took < 1.0, f"B dropped the source {took:.3f} s after A's API placed the ban"
    why = wait_until(lambda: (lambda w: w if w["banned"] else None)(b.ban_why("127.0.0.6")), 5,
                     "the shared ban in B's store")
    assert why["bans"][0]["detail"] == "t-14 (placed by node a)", why
    assert why["bans"][0]["reason"] == "manual"

    r = a.api("DELETE", "/api/v1/bans?address=127.0.0.6")
    assert r.status == 200, r.text
    took = _seconds_until(lambda: _answered(peer, b, B_IP, 0.1), 1.0, "B to lift the ban")
    print(f"measured: B lifts the ban {took:.3f} s after A's API lifted it")
    assert took < 1.0, f"B lifted the ban {took:.3f} s after A's API lifted it"
    b.wait_log(r"event=shield\.ban_lifted address=127\.0\.0\.6")


def test_flood_ban_on_a_is_enforced_by_b(two_nodes, udp):
    """A source flooding A past shield.recent_hits is banned by A's shield;
    B drops it too (within 1 s) without having seen the flood."""
    a, b, _ = two_nodes(settings={"sip": {"unknown_source": "403"},
                                  "shield": {"recent_hits": 5}},
                        b_settings={"shield": PROBED},
                        provisioning=mapping_gateway("cust-a", ["127.0.0.5"]))
    peer = udp("127.0.0.8")
    assert _answered(peer, b, B_IP)
    for _ in range(8):
        peer.send(_register(peer, a, A_IP), (A_IP, a.port))
    t0 = time.monotonic()
    a.wait_log(r"event=shield\.ban address=127\.0\.0\.8 reason=rate")
    wait_until(lambda: not _answered(peer, b, B_IP, 0.1), 3, "B to drop the flooder")
    print(f"measured: B drops the flooder {time.monotonic() - t0:.3f} s after A's ban")
    assert time.monotonic() - t0 < 1.0 + 0.1
    b.wait_log(r"event=shield\.ban address=127\.0\.0\.8 reason=rate .*origin=store")
    why = wait_until(lambda: (lambda w: w if w["banned"] else None)(b.ban_why("127.0.0.8")), 5,
                     "the shared ban in B's store")
    assert why["bans"][0]["detail"].endswith("(placed by node a)"), why


def test_ban_placed_while_redis_is_down_reaches_b_when_it_returns(two_nodes, udp):
    """Redis stopped: A still enforces its own new ban (locally), B cannot
    know of it yet; Redis back: A re-publishes its bans and B drops the
    source within a few seconds."""
    a, b, server = two_nodes(settings={"sip": {"unknown_source": "403"}, "shield": PROBED},
                             provisioning=mapping_gateway("cust-a", ["127.0.0.5"]))
    peer = udp("127.0.0.9")
    server.stop()
    mark_a, mark_b = len(a.log()), len(b.log())
    r = a.api("POST", "/api/v1/bans", {"address": "127.0.0.9", "duration": 600})
    assert r.status == 201, r.text
    wait_until(lambda: not _answered(peer, a, A_IP, 0.1), 2, "A to enforce its own ban")
    assert _answered(peer, b, B_IP), "B cannot have heard of it: Redis is down"
    server.start()
    took = _seconds_until(lambda: not _answered(peer, b, B_IP, 0.1), 3.0,
                          "B to get A's ban after Redis returned")
    assert took < 5.0, took
    a.wait_log(r"event=cluster\.bans_resynced republished=[1-9]", start=mark_a)
    b.wait_log(r"event=cluster\.bans_resynced", start=mark_b)


# ---------------------------------------------------------------------------
# dynamic blacklist entries


def test_number_blacklisted_on_a_is_refused_by_b(two_nodes, udp):
    """`tollgate blacklist add` on A's store: A lists the number and shares
    the entry; B, whose store lists nothing, refuses an INVITE from that
    caller (403, CDR reason caller_blacklisted) within a second of A."""
    a, b, _ = two_nodes(settings={"store": {"provisioning_poll_ms": 200}},
                        provisioning=mapping_gateway("cust-a", ["127.0.0.5"]))
    peer = udp("127.0.0.5")

    def b_answers() -> int:
        data, call_id = sip_request("INVITE", f"sip:15551234567@{B_IP}:{b.port}", peer.addr,
                                    from_user="4420666", body=harness.SDP.format(ip="127.0.0.5"))
        peer.send(data, (B_IP, b.port))
        # Earlier calls' finals are retransmitted (never ACKed): match ours.
        final = wait_until(lambda: next((d for d in peer.recv_all(0.1) if d.status >= 200 and
                                         d.header("Call-ID") == call_id), None), 5,
                           "B's final answer")
        return final.status

    assert b_answers() != 403, "not listed anywhere yet (no route: refused otherwise)"
    mark = len(a.log())
    a.cli("blacklist", "add", "4420666", "--side", "caller", "--expire", "600", "--config",
          str(a.config_path))
    a.wait_log(r"event=blacklist\.operator_add number=4420666 side=caller", start=mark)
    took = _seconds_until(lambda: b_answers() == 403, 1.0, "B to refuse the listed caller")
    assert took < 1.0, took
    cdr = b.wait_cdrs(1, where=lambda c: c["reason"] == "caller_blacklisted")[0]
    assert cdr["caller"] == "4420666", cdr
    b.wait_log(r"event=blacklist\.shared number=4420666 side=caller rule=manual enforced=true "
               r"node=a")


# ---------------------------------------------------------------------------
# kernel offload on the node that did not place the ban


def test_ban_from_a_reaches_bs_nftables_set(tollgate, ports):
    """Both nodes and their Redis in network namespace b (the host under
    test; B with firewall.kernel_offload): a ban added on A (`ban add`
    against A's store) reaches B's nftables ban set, and its lift removes
    it there. Skipped where namespaces cannot be created."""
    from harness import NamespacesUnavailable, NetnsPair
    import json as _json
    try:
        ns = NetnsPair().__enter__()
    except NamespacesUnavailable as e:
        pytest.skip(f"network namespaces are not available here: {e}")
    redis_port = ports.port()
    server = subprocess.Popen(
        ns.wrapper(ns.b) + ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--protected-mode", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nodes = {}
    try:
        table = f"tg{ns.b[3:]}"
        for node_id, port, extra in (("a", 5060, {}),
                                     ("b", 5070, {"firewall": {"kernel_offload": True,
                                                               "table": table}})):
            s = {"sip": {"unknown_source": "403"}, "store": {"provisioning_poll_ms": 200},
                 **extra}
            if _binary_knows_cluster():
                s["cluster"] = harness.cluster_config(node_id, redis=f"127.0.0.1:{redis_port}")
            nodes[node_id] = tollgate(settings=s, name=node_id,
                                      provisioning=mapping_gateway("cust-a", [ns.ip_other]),
                                      listen=[f"udp:{ns.ip_b}:{port}"], wrapper=ns.wrapper(ns.b))
        a, b = nodes["a"], nodes["b"]

        def b_set() -> list:
            r = ns.exec(ns.b, "nft", "-j", "list", "set", "inet", table, "ban4")
            for item in _json.loads(r.stdout)["nftables"]:
                if "set" in item:
                    return [e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e
                            for e in item["set"].get("elem", [])]
            return []

        a.cli("ban", "add", "--config", str(a.config_path), ns.ip_a, "--duration", "600")
        wait_until(lambda: ns.ip_a in b_set(), 3, "A's ban in B's kernel set")
        a.cli("ban", "del", "--config", str(a.config_path), ns.ip_a)
        wait_until(lambda: ns.ip_a not in b_set(), 3, "the lift in B's kernel set")
    finally:
        for n in nodes.values():
            n.stop()
        server.kill()
        server.wait(timeout=5)
        ns.close()


def test_malicious_caller_count_is_shared_between_nodes(two_nodes, udp):
    """[blacklist] caller_malicious_limit = 3 in 30 s: calls from 4420777
    alternate A, B, A. No node alone has seen 3, the cluster has: the 3rd
    call lists the number (on A, by the shared count) and the 4th, on B,
    is refused 403 caller_blacklisted."""
    a, b, _ = two_nodes(settings={"blacklist": {"caller_malicious_limit": 3,
                                                "caller_malicious_interval": 30,
                                                "caller_malicious_expire": 60}},
                        provisioning=mapping_gateway("cust-a", ["127.0.0.5"]))
    peer = udp("127.0.0.5")

    def call(node, ip) -> int:
        data, call_id = sip_request("INVITE", f"sip:15551234567@{ip}:{node.port}", peer.addr,
                                    from_user="4420777", body=harness.SDP.format(ip="127.0.0.5"))
        peer.send(data, (ip, node.port))
        # Earlier calls' finals are retransmitted (never ACKed): match ours.
        final = wait_until(lambda: next((d for d in peer.recv_all(0.1) if d.status >= 200 and
                                         d.header("Call-ID") == call_id), None), 5,
                           "the final answer")
        return final.status

    first = [call(a, A_IP), call(b, B_IP), call(a, A_IP)]
    assert 403 not in first, first
    time.sleep(0.5)  # the shared count's verdict and the entry's publish
    assert call(b, B_IP) == 403, "the 4th call of the cluster is refused on B"
    cdr = b.wait_cdrs(1, where=lambda c: c["reason"] == "caller_blacklisted")[0]
    assert cdr["caller"] == "4420777", cdr
    a.wait_log(r"event=blacklist\.listed number=4420777 side=caller rule=malicious_caller")
    b.wait_log(r"event=blacklist\.shared number=4420777 side=caller rule=malicious_caller "
               r"enforced=true node=a")
