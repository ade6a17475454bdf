"""Cluster membership and the Redis link (docs/cluster.md): real
redis-server / redis-sentinel processes and two or three tollgate nodes on
127.0.0.x. Shared limits, bans and registrations have their own files
(test_cluster_limits.py, test_cluster_security.py, test_cluster_registrar.py).
"""

from __future__ import annotations

import os
import time

import pytest

from harness import cluster_config, cluster_listen, wait_until


def live_nodes(r, prefix: str = "tg:") -> list[str]:
    """Members of <prefix>nodes whose heartbeat is within node_ttl (1500 ms)."""
    sec, usec = r.call("TIME")
    now_ms = int(sec) * 1000 + int(usec) // 1000
    return sorted(r.call("ZRANGEBYSCORE", f"{prefix}nodes", now_ms - 1500, "+inf"))


def start_node(tollgate, ports, node_id: str, ip: str, **cluster):
    return tollgate({"cluster": cluster_config(node_id, **cluster)}, name=node_id,
                    listen=cluster_listen(ports, ip))


def test_two_nodes_see_each_other_and_a_clean_stop_leaves(tollgate, ports, redis):
    r = redis()
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r)
    b = start_node(tollgate, ports, "node-b", "127.0.0.3", redis=r)
    wait_until(lambda: live_nodes(r) == ["node-a", "node-b"], 5, "both nodes in tg:nodes")
    h = r.call("HGETALL", "tg:node:node-b")
    fields = dict(zip(h[::2], h[1::2]))
    assert fields["sip"] == b.listen[0].removeprefix("udp:")
    assert int(r.call("PTTL", "tg:node:node-b")) > 0, "the node hash carries a TTL"
    a.wait_log(r"event=cluster.nodes_changed nodes=2", timeout=5)
    b.stop()
    # A clean stop removes the node at once (no wait for node_ttl).
    assert r.call("ZSCORE", "tg:nodes", "node-b") is None
    assert r.call("EXISTS", "tg:node:node-b") == 0
    a.wait_log(r"event=cluster.nodes_changed nodes=1", timeout=5)


def test_killed_node_ages_out_within_node_ttl(tollgate, ports, redis):
    r = redis()
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r)
    b = start_node(tollgate, ports, "node-b", "127.0.0.3", redis=r)
    wait_until(lambda: live_nodes(r) == ["node-a", "node-b"], 5, "both nodes live")
    b.kill9()
    t0 = time.monotonic()
    a.wait_log(r"event=cluster.nodes_changed nodes=1", timeout=5)
    # node_ttl 1500 ms + one heartbeat (300 ms) + slack.
    assert time.monotonic() - t0 < 2.5
    assert live_nodes(r) == ["node-a"]


def test_link_reconnects_when_redis_returns(tollgate, ports, redis):
    r = redis()
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r)
    wait_until(lambda: live_nodes(r) == ["node-a"], 5, "node-a live")
    r.kill9()
    a.wait_log(r"event=cluster.redis_down", timeout=5)
    r.start()  # same port, empty (no persistence)
    # The membership re-converges: the node writes its heartbeat again.
    wait_until(lambda: live_nodes(r) == ["node-a"], 5, "node-a back in tg:nodes")
    assert a.log().count("event=cluster.redis_up") >= 2


def test_password_and_database(tollgate, ports, redis, tmp_path):
    r = redis(password="s3cret-redis")
    pw = tmp_path / "redis.pw"
    pw.write_text("s3cret-redis\n")
    os.chmod(pw, 0o600)
    start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r, password_file=str(pw),
               database=3, key_prefix="tgx:")
    def members():
        # redis_call opens one connection per command: SELECT then read in one
        # Lua call instead.
        return r.call("EVAL", "redis.call('SELECT', 3) return redis.call('ZRANGE', KEYS[1], 0, -1)",
                      1, "tgx:nodes")
    wait_until(lambda: members() == ["node-a"], 5, "node-a in db 3 under tgx:")
    assert r.call("EXISTS", "tgx:nodes") == 0, "nothing written to db 0"


def test_wrong_password_keeps_link_down_and_node_serving(tollgate, ports, redis, tmp_path):
    r = redis(password="right-one")
    pw = tmp_path / "redis.pw"
    pw.write_text("wrong-one\n")
    os.chmod(pw, 0o600)
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r, password_file=str(pw))
    a.wait_log(r"event=cluster.redis_unreachable .*WRONGPASS", timeout=5)
    assert r.call("EXISTS", "tg:nodes") == 0
    assert a.running()


def test_sentinel_failover_moves_the_link(tollgate, ports, redis, sentinels):
    master = redis()
    replica = redis(replica_of=master)
    replica.wait_synced()
    s = sentinels(master)
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", sentinels=s)
    wait_until(lambda: live_nodes(master) == ["node-a"], 5, "node-a live on the master")
    master.kill9()
    new = s.wait_failover(master.address, timeout=20)
    assert new == replica.address
    wait_until(lambda: replica.role() == "master" and live_nodes(replica) == ["node-a"], 10,
               "node-a heartbeating on the promoted replica")
    a.wait_log(r"event=cluster.redis_up .*address=" + replica.address.replace(".", r"\."), timeout=5)
