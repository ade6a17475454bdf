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
    t0 = time.monotonic()
    master.kill9()
    new = s.wait_failover(master.address, timeout=20)
    assert new == replica.address
    wait_until(lambda: replica.role() == "master" and live_nodes(replica) == ["node-a"], 10,
               "node-a heartbeating on the promoted replica")
    a.wait_log(r"event=cluster.redis_up .*address=" + replica.address.replace(".", r"\."), timeout=5)
    took = time.monotonic() - t0
    # Sentinel's down-after (1 s) + election + the link's move; docs/cluster.md quotes it.
    assert took < 8, f"failover took {took:.1f} s"
    print(f"failover: link up on the promoted replica {took:.1f} s after kill -9")
    j = a.api("GET", "/api/v1/cluster").json()
    assert j["redis"]["via"] == "sentinel" and j["redis"]["master_name"] == "tollgate"
    assert j["redis"]["failovers"] == 1 and j["redis"]["address"] == replica.address


def test_status_api_cli_and_metrics_follow_the_link(tollgate, ports, redis):
    r = redis()
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r)
    b = start_node(tollgate, ports, "node-b", "127.0.0.3", redis=r)
    wait_until(lambda: len(a.api("GET", "/api/v1/cluster").json()["nodes"]) == 2, 5,
               "node-a sees two nodes")
    j = a.api("GET", "/api/v1/cluster").json()
    assert j["enabled"] and j["node_id"] == "node-a" and j["shared"] is True
    assert j["down_rule"] == "local_share"
    assert j["redis"]["up"] and j["redis"]["address"] == r.address
    assert j["redis"]["role"] == "master" and j["redis"]["via"] == "direct"
    assert j["redis"]["latency_ms"] >= 0 and j["redis"]["connects"] == 1
    by_id = {n["id"]: n for n in j["nodes"]}
    assert by_id["node-a"]["self"] and not by_id["node-b"]["self"]
    assert by_id["node-b"]["sip"] == b.listen[0].removeprefix("udp:")
    assert 0 <= by_id["node-b"]["seen_ago_ms"] < 1500

    out = a.cli("cluster", "status", "--config", str(a.config_path))
    assert "redis up  " + r.address in out.stdout
    assert "node-b" in out.stdout and "2 live node(s)" in out.stdout

    metrics = a.api("GET", "/metrics").text
    assert "tollgate_cluster_enabled 1" in metrics
    assert "tollgate_cluster_up 1" in metrics
    assert "tollgate_cluster_nodes 2" in metrics
    assert "tollgate_cluster_redis_latency_seconds " in metrics

    r.kill9()
    wait_until(lambda: a.api("GET", "/api/v1/cluster").json()["redis"]["up"] is False, 5,
               "the link seen down")
    j = a.api("GET", "/api/v1/cluster").json()
    assert j["shared"] is False and j["redis"]["address"] is None and j["redis"]["downs"] == 1
    # The last known membership stays (the divisor of local_share).
    assert len(j["nodes"]) == 2
    down = a.cli("cluster", "status", "--config", str(a.config_path), check=False)
    assert down.returncode == 1, down.stdout + down.stderr
    assert "redis DOWN" in down.stdout
    metrics = a.api("GET", "/metrics").text
    assert "tollgate_cluster_up 0" in metrics
    assert "tollgate_cluster_redis_downs_total 1" in metrics


def test_single_node_reports_cluster_off(tollgate):
    tg = tollgate()
    assert tg.api("GET", "/api/v1/cluster").json() == {"enabled": False}
    out = tg.cli("cluster", "status", "--config", str(tg.config_path))
    assert "not configured" in out.stdout
    assert "tollgate_cluster_enabled 0" in tg.api("GET", "/metrics").text
    assert "tollgate_cluster_up" not in tg.api("GET", "/metrics").text


def test_tls_link_verifies_the_server(tollgate, ports, redis, tmp_path):
    r = redis(tls=True)
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r)  # tls + CA from the fixture
    wait_until(lambda: a.api("GET", "/api/v1/cluster").json()["redis"]["up"], 5, "TLS link up")
    assert live_nodes(r) == ["node-a"]
    # A CA that did not sign the server's certificate: the link stays down.
    other = tmp_path / "other-ca"
    other.mkdir()
    import redis_server
    wrong = redis_server._tls_files(other)["ca"]
    b = start_node(tollgate, ports, "node-b", "127.0.0.3", redis=r, tls_ca_file=wrong)
    b.wait_log(r"event=cluster.redis_unreachable .*certificate", timeout=5)
    assert live_nodes(r) == ["node-a"]


def test_peer_networks_bound_which_heartbeats_make_a_peer(tollgate, ports, redis):
    r = redis()
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r,
                   peer_networks=["127.0.0.2/32", "127.0.0.4/32"])
    start_node(tollgate, ports, "node-b", "127.0.0.3", redis=r)
    # node-b is alive (it counts among the nodes) but its address is not a peer.
    a.wait_log(r"event=cluster.peer_refused node_id=node-b sip=127\.0\.0\.3:\d+ "
               r"why=\"outside cluster.peer_networks\"", timeout=5)
    wait_until(lambda: len(a.api("GET", "/api/v1/cluster").json()["nodes"]) == 2, 5,
               "node-b still counted alive")
    assert a.log().count("event=cluster.peer_refused") == 1, "said once, not every heartbeat"


def test_duplicate_node_id_is_refused_not_merged(tollgate, ports, redis):
    r = redis()
    a = start_node(tollgate, ports, "node-a", "127.0.0.2", redis=r)
    wait_until(lambda: live_nodes(r) == ["node-a"], 5, "node-a live")
    twin = tollgate({"cluster": cluster_config("node-a", redis=r)}, name="twin",
                    listen=cluster_listen(ports, "127.0.0.3"))
    twin.wait_log(r"event=cluster.node_id_conflict node_id=node-a", timeout=5)
    time.sleep(1)  # several heartbeats: the first node's record is never overwritten
    h = r.call("HGETALL", "tg:node:node-a")
    assert dict(zip(h[::2], h[1::2]))["sip"] == a.listen[0].removeprefix("udp:")
    assert twin.api("GET", "/api/v1/cluster").json()["node_id_conflict"] is True
    assert twin.log().count("event=cluster.node_id_conflict ") == 1
