"""Policy counters shared by the nodes of a cluster through Redis
(docs/cluster-security.md, "Fraud thresholds" and "Dynamic blacklist"):
two tollgate nodes on their own loopback addresses and one real
redis-server. A customer spreading its calls over both nodes meets a fraud
rule's critical calls_per_minute and concurrent levels once in total, not
once per node; the dynamic blacklist's no-answer streak of a number is
counted over both nodes; while Redis is down each node counts alone, and
when it returns the nodes re-announce what they hold and the counts
converge.

Each test fails against a build that does not share these counters (every
node then counts only its own calls: the assertion on the call the cluster
must refuse fails), and against the baseline without [cluster] (the nodes
start alone)."""

from __future__ import annotations

import time

import harness
from harness import mapping_gateway, routing_gateway, sip_request, wait_until
from test_cluster_security import A_IP, B_IP, two_nodes  # noqa: F401 (fixture)

CUSTOMER = "127.0.0.5"
CALLER = "4420555"


def fraud_provisioning(carrier_port: int | None = None, **levels) -> str:
    """Account acme behind mapping gateway cust-a; fraud rule "premium" on
    its calls to 1900...; a carrier when `carrier_port` is given."""
    rule = ('[[fraud_rule]]\nname = "premium"\naccount = "acme"\nprefixes = ["1900"]\n' +
            "".join(f"{k} = {v}\n" for k, v in levels.items()))
    carrier = routing_gateway("carrier-a", f"127.0.0.1:{carrier_port}") if carrier_port else ""
    return ('[[account]]\nname = "acme"\n' + mapping_gateway("cust-a", [CUSTOMER], account="acme")
            + carrier + rule)


def invite(peer, node, ip, callee="19005550001") -> int:
    """One INVITE from the customer to `node`; returns the final status."""
    data, call_id = sip_request("INVITE", f"sip:{callee}@{ip}:{node.port}", peer.addr,
                                from_user=CALLER, body=harness.SDP.format(ip=CUSTOMER))
    peer.send(data, (ip, node.port))
    # Earlier calls' finals are retransmitted (never ACKed): match ours.
    final = wait_until(lambda: next((d for d in peer.recv_all(0.05) if d.status >= 200 and
                                     d.header("Call-ID") == call_id), None), 5,
                       "the final answer")
    return final.status


def alternate(peer, a, b, n: int, start: int = 0) -> list[int]:
    """n calls, alternating A, B, A, ... (B first when `start` is odd)."""
    out = []
    for i in range(start, start + n):
        node, ip = (a, A_IP) if i % 2 == 0 else (b, B_IP)
        out.append(invite(peer, node, ip))
        time.sleep(0.05)  # the shared counters' reply, in flight for well under 1 ms
    return out


def held_calls_abab(sipp, carrier_port: int, a, b, hold_ms: int = 5000) -> list:
    """A carrier answering, then four calls from CALLER to 1900555000<i>,
    held `hold_ms`, offered A, B, A, B, each connected (or refused) before
    the next (0.7 s apart). Asserts that the first three connect and the
    4th (on B) is refused 403; returns the UACs, finished."""
    sipp("carrier", "uas-answer.xml", port=carrier_port, calls=4, timeout=30,
         trace_msg=False).start().wait_listening()
    uacs = []
    for i, (node, ip) in enumerate(((a, A_IP), (b, B_IP), (a, A_IP), (b, B_IP))):
        u = sipp(f"uac-{i}", "uac-answer-or-refused.xml", remote=f"{ip}:{node.port}", calls=1,
                 hold_ms=hold_ms, caller=CALLER, service=f"190055500{i}", ip=CUSTOMER).start()
        uacs.append(u)
        time.sleep(0.7)
    for u in uacs:
        u.wait(timeout=20)
        u.assert_ok()
    answered = [bool(u.received(200)) for u in uacs]
    assert answered == [True, True, True, False], answered
    assert uacs[3].received(403)
    return uacs


def fraud_cdrs(*nodes) -> list[dict]:
    return [c for n in nodes for c in n.cdrs() if c["reason"] == "fraud_threshold"]


# ---------------------------------------------------------------------------
# fraud thresholds


def test_fraud_calls_per_minute_holds_across_two_nodes(two_nodes, udp):
    """calls_per_minute_critical = 4 on account acme's calls to 1900...: calls
    alternating A, B. Each node alone would admit 4 (8 in all); the cluster
    refuses from the 6th call on (the 5th crosses the level on the cluster
    and is admitted: a node judges on the other node's count from its last
    reply), on whichever node, 403 fraud_threshold."""
    a, b, _ = two_nodes(provisioning=fraud_provisioning(calls_per_minute_critical=4))
    peer = udp(CUSTOMER)
    statuses = alternate(peer, a, b, 8)
    assert 403 not in statuses[:5], statuses
    assert statuses[5:] == [403, 403, 403], statuses
    rows = wait_until(lambda: len(fraud_cdrs(a, b)) == 3 and fraud_cdrs(a, b), 10,
                      "three fraud_threshold CDRs")
    assert {r["final_code"] for r in rows} == {403}, rows
    assert fraud_cdrs(b), "B refused too"
    b.wait_log(r"event=fraud\.blocked rule=premium subject=account:acme "
               r"measure=calls_per_minute value=5 critical=4")


def test_fraud_concurrent_calls_hold_across_two_nodes(two_nodes, sipp, ports):
    """concurrent_critical = 2: four calls held 5 s, offered A, B, A, B.
    Each node alone would take 2 (4 in all); the cluster connects 3 (the
    3rd crosses the level and is admitted) and refuses the 4th on B, 403
    fraud_threshold; after the calls end the shared count is 0 again."""
    uas_port = ports.port()
    a, b, server = two_nodes(provisioning=fraud_provisioning(uas_port, concurrent_critical=2))
    held_calls_abab(sipp, uas_port, a, b)
    rows = wait_until(lambda: fraud_cdrs(a, b), 10, "the fraud_threshold CDR")
    assert len(rows) == 1 and fraud_cdrs(b) == rows, rows
    b.wait_log(r"event=fraud\.blocked rule=premium subject=account:acme measure=concurrent")
    wait_until(lambda: not server.call("HGETALL", "tg:fraud:cc:premium:account:acme"), 5,
               "the shared calls in progress back to 0")


def test_redis_down_each_node_counts_alone_then_counts_converge(two_nodes, udp):
    """calls_per_minute_critical = 6. Redis stopped: 6 calls alternating A, B
    are all admitted (each node counts its own 3, as a single node would).
    Redis back (restarted empty): each node re-announces its minute's count;
    the next two calls (A, B: each node does not know the other's yet) are
    admitted and bring back the other node's count, and the 9th call, on A
    (4 of its own + B's 4 = 9th, over 6), is refused 403 fraud_threshold.
    Without the re-announcement Redis would hold 1 call of B's and A would
    admit it."""
    a, b, server = two_nodes(provisioning=fraud_provisioning(calls_per_minute_critical=6))
    peer = udp(CUSTOMER)
    marks = [len(a.log()), len(b.log())]
    server.stop()
    for n, m in zip((a, b), marks):
        n.wait_log(r"event=cluster\.redis_down", start=m, timeout=5)
    down = alternate(peer, a, b, 6)
    assert 403 not in down, down
    marks = [len(a.log()), len(b.log())]
    server.start()
    for n, m in zip((a, b), marks):
        n.wait_log(r"event=cluster\.redis_up", start=m, timeout=10)
    time.sleep(0.5)  # the re-announcement's round trip
    back = alternate(peer, a, b, 3, start=6)
    assert 403 not in back[:2], back
    assert back[2] == 403, f"the 9th call must be refused on A: {back}"
    for n, m in zip((a, b), marks):
        n.wait_log(r"event=cluster\.fraud_resynced announced=1", start=m)


# ---------------------------------------------------------------------------
# dynamic blacklist: no-answer streaks


def test_no_answer_streak_is_counted_across_two_nodes(two_nodes, udp, sipp, ports):
    """[blacklist] no_answer_limit = 3: calls to 15557770001 end busy at the
    carrier (486), alternating A, B, A. No node alone has seen 3 unanswered
    calls, the cluster has: the 3rd lists the callee (on A) and the 4th, on
    B, is refused 403 callee_blacklisted without reaching the carrier."""
    uas_port = ports.port()
    a, b, _ = two_nodes(settings={"blacklist": {"no_answer_limit": 3, "no_answer_period": 600,
                                                "no_answer_expire": 600}},
                        provisioning=mapping_gateway("cust-a", [CUSTOMER]) +
                        routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("carrier", "uas-busy-486.xml", port=uas_port, calls=4,
               timeout=30).start().wait_listening()
    peer = udp(CUSTOMER)
    callee = "15557770001"
    first = [invite(peer, n, ip, callee) for n, ip in ((a, A_IP), (b, B_IP), (a, A_IP))]
    assert first == [486, 486, 486], first
    time.sleep(0.5)  # the shared count's reply and the entry's publish
    assert invite(peer, b, B_IP, callee) == 403, "the 4th call of the cluster is refused on B"
    cdr = b.wait_cdrs(1, where=lambda c: c["reason"] == "callee_blacklisted")[0]
    assert cdr["callee"] == callee, cdr
    a.wait_log(r"event=blacklist\.listed number=15557770001 side=callee rule=no_answer")
    b.wait_log(r"event=blacklist\.shared number=15557770001 side=callee rule=no_answer "
               r"enforced=true node=a")
    assert len(uas.received("INVITE")) == 3, "the refused call never reached the carrier"


# ---------------------------------------------------------------------------
# dynamic blacklist: calls in progress per caller


def test_caller_concurrency_is_counted_across_two_nodes(two_nodes, sipp, ports):
    """[blacklist] caller_concurrent_limit = 2: four calls from one caller
    held 5 s, offered A, B, A, B. Each node alone would hold 2 (4 in all);
    the 3rd call puts the cluster's count over the limit (it is admitted: its
    verdict comes after) and lists the caller on A, so the 4th, on B, is
    refused 403 caller_blacklisted; the shared hash is empty once the calls
    end."""
    uas_port = ports.port()
    a, b, server = two_nodes(settings={"blacklist": {"caller_concurrent_limit": 2,
                                                     "caller_concurrent_expire": 600}},
                             provisioning=mapping_gateway("cust-a", [CUSTOMER]) +
                             routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    held_calls_abab(sipp, uas_port, a, b)
    cdr = b.wait_cdrs(1, where=lambda c: c["reason"] == "caller_blacklisted")[0]
    assert cdr["caller"] == CALLER, cdr
    a.wait_log(rf"event=blacklist\.listed number={CALLER} side=caller rule=caller_concurrent")
    b.wait_log(rf"event=blacklist\.shared number={CALLER} side=caller rule=caller_concurrent")
    wait_until(lambda: not server.call("HGETALL", f"tg:bl:cc:{CALLER}"), 5,
               "the caller's shared calls in progress back to 0")
