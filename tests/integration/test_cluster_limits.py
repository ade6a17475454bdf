"""Channel and rate limits shared across the nodes of a cluster (Redis),
end to end: two tollgate nodes share one redis-server (or a Sentinel-managed
master and replica); SIPp customers offer calls through both nodes; the CDRs
of both nodes and the shared counters in Redis show that the nodes admit
together what one switch would (docs/cluster.md, "Shared limits"), what the
down rule does while Redis is gone, that the counts converge when it
returns, and that a killed node's channels are freed after node_ttl.

Every test drives real SIPp customers and carriers through real tollgate
nodes and a real redis-server; waits have deadlines.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from harness import cluster_config, cluster_listen, mapping_gateway, routing_gateway, wait_until

CALLER = "4420"
GATEWAY = "cust-a"
NODE_TTL_MS = 1500  # cluster_config's test timers (heartbeat 300 ms)


# ---------------------------------------------------------------------------
# helpers


def reasons(rows) -> Counter:
    return Counter(r["reason"] for r in rows)


def provisioning(uas_port: int, **limits) -> str:
    return (mapping_gateway(GATEWAY, ["127.0.0.1"], **limits) +
            routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))


def node(tollgate, ports, name: str, ip: str, prov: str, **cluster):
    return tollgate({"cluster": cluster_config(name, **cluster)}, provisioning=prov, name=name,
                    listen=cluster_listen(ports, ip))


def two_nodes(tollgate, ports, prov: str, **cluster):
    a = node(tollgate, ports, "node-a", "127.0.0.2", prov, **cluster)
    b = node(tollgate, ports, "node-b", "127.0.0.3", prov, **cluster)
    # Both see each other (the membership the shared counts are summed over).
    for tg in (a, b):
        tg.wait_log(r"cluster\.nodes_changed nodes=2", timeout=10)
    return a, b


def carrier_uas(sipp, port: int, calls: int, timeout: float = 40):
    return sipp(f"uas-{port}", "uas-answer.xml", port=port, calls=calls, timeout=timeout,
                trace_msg=False).start().wait_listening()


def after(nodes, action, pattern: str, timeout: float = 5):
    """Runs `action`, then waits for `pattern` in each node's log after it."""
    marks = {tg: len(tg.log()) for tg in nodes}
    result = action()
    for tg in nodes:
        tg.wait_log(pattern, timeout=timeout, start=marks[tg])
    return result


def sip_address(tg) -> str:
    return tg.listen[0].removeprefix("udp:")


def offer(sipp, tg, name: str, calls: int, hold_ms: int, rate: float = 200, **kw):
    return sipp(name, "uac-answer-or-refused.xml", remote=sip_address(tg), calls=calls,
                rate=rate, limit=calls, hold_ms=hold_ms, caller=CALLER, **kw).start()


def finish(*uacs, timeout: float = 30):
    for u in uacs:
        u.wait(timeout=timeout)
        u.assert_ok()


def channel_fields(server, entity: str = f"m:{GATEWAY}") -> dict[str, int]:
    """This entity's shared channel hash: node id -> calls in progress."""
    h = server.call("HGETALL", f"tg:lim:cc:{entity}")
    return {k: int(v) for k, v in zip(h[::2], h[1::2])}


def answered(uac) -> int:
    return len([m for m in uac.received(200) if "INVITE" in (m.header("CSeq") or "")])


def metric(tg, name: str, **labels) -> float:
    text = tg.api("GET", "/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# ---------------------------------------------------------------------------
# the limits hold across nodes


def test_max_concurrent_10_across_two_nodes_connects_exactly_10_of_40(tollgate, sipp, ports,
                                                                      redis):
    r = redis()
    """max_concurrent = 10 on the mapping gateway, 40 calls offered at once
    through both nodes (20 each), held 4 s: exactly 10 connect in total, the
    other 30 get 503 with CDR concurrent_limit; after they end the shared
    count is 0 again."""
    uas_port = ports.port()
    prov = provisioning(uas_port, max_concurrent=10)
    a, b = two_nodes(tollgate, ports, prov, redis=r)
    uas = carrier_uas(sipp, uas_port, 10, timeout=40)
    ua = offer(sipp, a, "uac-a", 20, hold_ms=4000)
    ub = offer(sipp, b, "uac-b", 20, hold_ms=4000)
    finish(ua, ub)
    uas.wait(timeout=20)
    uas.assert_ok()
    rows = a.wait_cdrs(20, limit=50) + b.wait_cdrs(20, limit=50)
    assert reasons(rows) == {"caller_bye": 10, "concurrent_limit": 30}, reasons(rows)
    assert answered(ua) + answered(ub) == 10
    assert len(ua.received(503)) + len(ub.received(503)) == 30
    wait_until(lambda: sum(channel_fields(r).values()) == 0, 5, "shared count back to 0")


def test_cps_5_holds_across_two_nodes(tollgate, sipp, ports, redis):
    """cps = 5 (burst 5) on the mapping gateway, 10 calls per second offered
    through each node for 3 s: the two nodes together admit the bucket's
    worth (5 + 5 per second), not twice it; the others get 503 with
    Retry-After and CDR cps_limit."""
    r = redis()
    uas_port = ports.port()
    prov = provisioning(uas_port, cps=5, cps_burst=5)
    a, b = two_nodes(tollgate, ports, prov, redis=r)
    uas = carrier_uas(sipp, uas_port, 100, timeout=30)
    t0 = time.monotonic()
    ua = offer(sipp, a, "uac-a", 30, hold_ms=100, rate=10)
    ub = offer(sipp, b, "uac-b", 30, hold_ms=100, rate=10)
    finish(ua, ub)
    elapsed = time.monotonic() - t0
    uas.kill()
    rows = a.wait_cdrs(30, limit=50) + b.wait_cdrs(30, limit=50)
    got = reasons(rows)
    assert set(got) <= {"caller_bye", "cps_limit"}, got
    # The INVITEs span ~3 s: the burst plus 5 per second, never the 2 x that
    # two separate buckets would admit.
    span = 3.0
    assert 5 + 5 * span - 3 <= got["caller_bye"] <= 5 + 5 * min(span + 0.5, elapsed) + 1, got
    assert got["cps_limit"] == 60 - got["caller_bye"]
    print(f"admitted {got['caller_bye']} of 60 in {elapsed:.2f} s")
    refused = ua.received(503) + ub.received(503)
    assert refused and all(m.header("Retry-After") for m in refused)


def test_carrier_channels_are_shared_across_nodes(tollgate, sipp, ports, redis):
    """A carrier with max_concurrent = 3 and a second carrier behind it: of 8
    calls through both nodes, exactly 3 go to the first carrier; the other 5
    skip it (full across the nodes) and go straight to the second."""
    r = redis()
    first, second = ports.port(), ports.port()
    prov = (mapping_gateway(GATEWAY, ["127.0.0.1"]) +
            routing_gateway("carrier-a", f"127.0.0.1:{first}", priority=1, max_concurrent=3) +
            routing_gateway("carrier-b", f"127.0.0.1:{second}", priority=2))
    a, b = two_nodes(tollgate, ports, prov, redis=r)
    ua_s = carrier_uas(sipp, first, 3, timeout=30)
    ub_s = carrier_uas(sipp, second, 5, timeout=30)
    ua = offer(sipp, a, "uac-a", 4, hold_ms=3000)
    ub = offer(sipp, b, "uac-b", 4, hold_ms=3000)
    finish(ua, ub)
    for s in (ua_s, ub_s):
        s.wait(timeout=20)
        s.assert_ok()
    rows = a.wait_cdrs(4) + b.wait_cdrs(4)
    assert reasons(rows) == {"caller_bye": 8}, reasons(rows)
    assert Counter(r["routing_gateway"] for r in rows) == {"carrier-a": 3, "carrier-b": 5}
    # The other 5 never tried the full carrier (skipped, not failed over).
    assert Counter(tuple(r["gateways_tried"]) for r in rows) == {("carrier-a",): 3,
                                                                ("carrier-b",): 5}
    wait_until(lambda: sum(channel_fields(r, "r:carrier-a").values()) == 0, 5,
               "carrier count back to 0")


# ---------------------------------------------------------------------------
# failure modes


def test_redis_killed_mid_load_local_share_then_counts_reconverge(tollgate, sipp, ports, redis):
    """max_concurrent = 10, down_rule = local_share. Node A holds 6 calls;
    Redis is killed (-9): each node now enforces ceil(10 / 2) = 5 alone, so
    A refuses and B admits 5 of 8; the fallbacks are counted. Redis comes
    back empty: within a few seconds the shared hash again says A 6, B 5,
    and a new call is refused against the whole limit."""
    r = redis()
    uas_port = ports.port()
    prov = provisioning(uas_port, max_concurrent=10)
    a, b = two_nodes(tollgate, ports, prov, redis=r, down_rule="local_share")
    uas = carrier_uas(sipp, uas_port, 11, timeout=60)
    held_a = offer(sipp, a, "uac-a", 6, hold_ms=14000, timeout=40)
    wait_until(lambda: channel_fields(r).get("node-a") == 6, 5, "A's 6 calls counted")

    after((a, b), r.kill9, r"cluster\.limits_local.*share_of=2")
    more_a = offer(sipp, a, "uac-a2", 2, hold_ms=100)
    more_b = offer(sipp, b, "uac-b", 8, hold_ms=10000, timeout=40)
    finish(more_a)
    wait_until(lambda: len(more_b.received(503)) == 3 and answered(more_b) == 5, 10,
               "B admits its share")
    assert answered(more_a) == 0 and len(more_a.received(503)) == 2
    assert metric(b, "tollgate_cluster_limit_fallback_total", rule="local_share",
                  outcome="admitted") == 5
    assert metric(a, "tollgate_cluster_limit_fallback_total", rule="local_share",
                  outcome="refused") == 2

    r.start()  # same port, empty: the nodes re-announce
    t0 = time.monotonic()
    wait_until(lambda: channel_fields(r) == {"node-a": 6, "node-b": 5}, 5,
               "counts re-announced")
    converged = time.monotonic() - t0
    one = offer(sipp, b, "uac-b2", 1, hold_ms=100)
    finish(one)
    assert answered(one) == 0 and len(one.received(503)) == 1
    finish(held_a, more_b, timeout=40)
    rows = a.wait_cdrs(8, limit=50) + b.wait_cdrs(9, limit=50)
    assert reasons(rows) == {"caller_bye": 11, "concurrent_limit": 6}, reasons(rows)
    wait_until(lambda: sum(channel_fields(r).values()) == 0, 5, "shared count back to 0")
    print(f"re-converged {converged:.2f} s after Redis returned")


def test_refuse_rule_refuses_new_calls_while_redis_is_down(tollgate, sipp, ports, redis):
    """down_rule = refuse: with Redis killed, a call in progress goes on to
    its BYE, a new call gets 503 with CDR cluster_unavailable; when Redis
    returns, calls connect again."""
    r = redis()
    uas_port = ports.port()
    prov = provisioning(uas_port, max_concurrent=10)
    a, b = two_nodes(tollgate, ports, prov, redis=r, down_rule="refuse")
    uas = carrier_uas(sipp, uas_port, 2, timeout=40)
    held = offer(sipp, a, "uac-held", 1, hold_ms=4000)
    wait_until(lambda: channel_fields(r).get("node-a") == 1, 5, "the call counted")
    after((a, b), r.kill9, r"cluster\.limits_local.*rule=refuse")
    refused = offer(sipp, b, "uac-refused", 1, hold_ms=100)
    finish(refused, held)
    assert answered(held) == 1
    assert answered(refused) == 0 and len(refused.received(503)) == 1
    rows_b = b.wait_cdrs(1)
    assert [r["reason"] for r in rows_b] == ["cluster_unavailable"]
    assert a.wait_cdrs(1)[0]["reason"] == "caller_bye"
    assert metric(b, "tollgate_cluster_limit_fallback_total", rule="refuse",
                  outcome="refused") == 1
    after((b,), r.start, r"cluster\.limits_shared")
    again = offer(sipp, b, "uac-again", 1, hold_ms=100)
    finish(again)
    assert answered(again) == 1


def test_killed_node_channels_are_freed_after_node_ttl(tollgate, sipp, ports, redis):
    """max_concurrent = 4: node A holds all 4 channels, B refuses a call;
    A is killed (-9): B keeps serving and, once A's heartbeat is older than
    node_ttl (1 s here), admits 4 calls on the channels A held."""
    r = redis()
    uas_port = ports.port()
    prov = provisioning(uas_port, max_concurrent=4)
    a, b = two_nodes(tollgate, ports, prov, redis=r)
    uas = carrier_uas(sipp, uas_port, 8, timeout=40)
    held = offer(sipp, a, "uac-a", 4, hold_ms=20000, timeout=40)
    wait_until(lambda: channel_fields(r).get("node-a") == 4, 5, "A holds 4")
    before = offer(sipp, b, "uac-b1", 1, hold_ms=100)
    finish(before)
    assert answered(before) == 0 and len(before.received(503)) == 1

    a.kill9()
    held.kill()
    t_kill = time.monotonic()
    time.sleep(NODE_TTL_MS / 1000 + 0.3)
    after = offer(sipp, b, "uac-b2", 4, hold_ms=500)
    finish(after)
    assert answered(after) == 4, after.report()
    # The dead node's field is gone from the shared hash.
    assert "node-a" not in channel_fields(r)
    print(f"freed within {time.monotonic() - t_kill:.2f} s of the kill")


def test_sentinel_failover_keeps_the_shared_limits(tollgate, sipp, ports, redis, sentinels):
    """A master, its replica and three Sentinels; two nodes reach Redis
    through the Sentinels. With max_concurrent = 10 and 6 calls held, the
    master is killed (-9); after the failover to the replica, 20 more calls
    through both nodes connect exactly 4: the held calls still count."""
    master = redis()
    replica = redis(replica_of=master)
    replica.wait_synced()
    s = sentinels(master)
    uas_port = ports.port()
    prov = provisioning(uas_port, max_concurrent=10)
    a, b = two_nodes(tollgate, ports, prov, sentinels=s)
    uas = carrier_uas(sipp, uas_port, 10, timeout=60)
    held = offer(sipp, a, "uac-held", 6, hold_ms=20000, timeout=50)
    wait_until(lambda: channel_fields(master).get("node-a") == 6, 5, "6 counted")
    def failover():
        master.kill9()
        return s.wait_failover(master.address, timeout=20)

    assert after((a, b), failover, r"cluster\.limits_shared", timeout=15) == replica.address
    wait_until(lambda: channel_fields(replica).get("node-a") == 6, 5, "6 counted on the new master")
    ua = offer(sipp, a, "uac-a", 10, hold_ms=2000)
    ub = offer(sipp, b, "uac-b", 10, hold_ms=2000)
    finish(ua, ub)
    assert answered(ua) + answered(ub) == 4
    assert len(ua.received(503)) + len(ub.received(503)) == 16
    finish(held, timeout=40)
