"""Call policy and fraud controls (issue 5), end to end: per-gateway and
per-account limits (calls per second, channels, max duration), number lists,
the dynamic blacklist and its three automatic rules (threshold, expiry,
count-only, cutting live calls), fraud thresholds, carrier limits, OPTIONS
keep-alive and failover controls, and the state surviving a restart.

Every test drives real SIPp customers and carriers through a real tollgate
and checks the SIP codes each side saw and the CDR reasons. Thresholds and
times are small; waits have deadlines. Expiry checks wait until a computed
instant (the behaviour under test is time itself).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from harness import HarnessError, check_cdr, mapping_gateway, routing_gateway, wait_until

CALLER = "4420"
CALLEE = "15551234567"


# ---------------------------------------------------------------------------
# helpers


def cli(tg, *args, check=True):
    return tg.cli(*args, "--config", str(tg.config_path), check=check)


def make_node(tollgate, settings=None, provisioning="", lists=(), start=True, name="tg"):
    """A node whose number lists [(name, kind, [patterns])] exist before the
    provisioning that refers to them is imported."""
    tg = tollgate(settings=settings, start=False, name=name)
    for list_name, kind, patterns in lists:
        cli(tg, "list", "create", list_name, "--kind", kind)
        if patterns:
            cli(tg, "list", "add", list_name, *patterns)
    if provisioning:
        tg.import_text(provisioning)
    if start:
        tg.start()
    return tg


def reasons(rows) -> Counter:
    return Counter(r["reason"] for r in rows)


def epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def sleep_until(t: float) -> None:
    """Waits until wall-clock time t (bounded: t is seconds away)."""
    assert t - time.time() < 30, "a wait of more than 30 s is a test bug"
    while time.time() < t:
        time.sleep(min(0.05, max(0.0, t - time.time())))


def blacklist(tg) -> list[dict]:
    return json.loads(cli(tg, "blacklist", "show", "--json").stdout)


def entry(tg, number: str, side: str) -> dict | None:
    for e in blacklist(tg):
        if e["number"] == number and e["side"] == side:
            return e
    return None


def call(sipp, tg, scenario, name, **kw):
    """One UAC run to completion; asserts SIPp saw what the scenario expects."""
    uac = sipp(name, scenario, remote=f"127.0.0.1:{tg.port}", **kw)
    uac.run()
    uac.assert_ok()
    return uac


def newest(tg, n=1):
    return tg.wait_cdrs(n)[:n]


def carrier(name, port, **extra):
    return routing_gateway(name, f"127.0.0.1:{port}", **extra)


# ---------------------------------------------------------------------------
# per-gateway and per-account limits


def test_cps_burst_gets_503_for_the_excess_only(tollgate, sipp, ports):
    """cps = 1, cps_burst = 4: of 10 INVITEs sent within ~50 ms exactly 4
    connect; the other 6 get 503 with Retry-After and CDR cps_limit. A second
    later a token is back."""
    uas_port = ports.port()
    tg = make_node(tollgate, provisioning=mapping_gateway("cust-a", ["127.0.0.1"], cps=1,
                                                          cps_burst=4) + carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=5, timeout=30).start().wait_listening()
    uac = call(sipp, tg, "uac-answer-or-refused.xml", "uac", calls=10, rate=200, limit=10,
               hold_ms=100, caller=CALLER)
    rows = tg.wait_cdrs(10)
    assert reasons(rows) == {"caller_bye": 4, "cps_limit": 6}, reasons(rows)
    refused = uac.received(503)
    assert len(refused) == 6
    for m in refused:
        assert int(m.header("Retry-After")) >= 1, m.text
    for r in rows:
        if r["reason"] == "cps_limit":
            check_cdr(r, reason="cps_limit", final_code=503, answered=False, gateways=[],
                      mapping_gateway="cust-a")
    assert len(uas.received("INVITE")) == 4

    sleep_until(time.time() + 1.1)  # one token refills per second
    call(sipp, tg, "uac-caller-bye.xml", "uac2", hold_ms=50, caller=CALLER)
    uas.wait()
    uas.assert_ok()
    assert newest(tg)[0]["reason"] == "caller_bye"


def test_channel_limit_refuses_calls_over_max_concurrent(tollgate, sipp, ports):
    """max_concurrent = 3: six simultaneous calls, three connect, three get
    the channel-limit code (503, no Retry-After) and CDR concurrent_limit."""
    uas_port = ports.port()
    tg = make_node(tollgate, provisioning=mapping_gateway("cust-a", ["127.0.0.1"],
                                                          max_concurrent=3) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=3).start().wait_listening()
    uac = call(sipp, tg, "uac-answer-or-refused.xml", "uac", calls=6, rate=100, limit=6,
               hold_ms=1500, caller=CALLER)
    uas.wait()
    uas.assert_ok()
    rows = tg.wait_cdrs(6)
    assert reasons(rows) == {"caller_bye": 3, "concurrent_limit": 3}, reasons(rows)
    for m in uac.received(503):
        assert m.header("Retry-After") is None, m.text
    assert len(uac.received(503)) == 3


def test_concurrent_limit_code_setting(tollgate, sipp, ports):
    """policy.concurrent_limit_code replaces the 503; the account's channels
    are shared by its gateways on different addresses."""
    uas_port = ports.port()
    prov = ('[[account]]\nname = "acme"\nmax_concurrent = 2\n' +
            mapping_gateway("pop1", ["127.0.0.1"], account="acme") +
            mapping_gateway("pop2", ["127.0.0.2"], account="acme") +
            carrier("carrier-a", uas_port))
    tg = make_node(tollgate, settings={"policy": {"concurrent_limit_code": 486}}, provisioning=prov)
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=2).start().wait_listening()
    held = sipp("uac1", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", calls=2, rate=100,
                limit=2, hold_ms=4000, caller=CALLER).start()
    wait_until(lambda: len(uas.received("ACK")) >= 2, 5, "two calls of pop1 up")
    call(sipp, tg, "uac-expect-486.xml", "uac2", ip="127.0.0.2", caller="3310")
    refused = newest(tg)[0]
    check_cdr(refused, reason="concurrent_limit", final_code=486, answered=False,
              mapping_gateway="pop2", caller="3310", gateways=[])
    assert held.wait() == 0
    uas.wait()
    uas.assert_ok()


def test_max_duration_ends_both_legs_on_time(tollgate, sipp, ports):
    """max_duration = 2 on the gateway (the node allows 60): the call is cut
    2 s after the answer with BYE to the caller and to the carrier; CDR
    max_duration, hangup system; a warning is logged 1 s before."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"policy": {"max_duration": 60, "duration_warning": 1}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"], max_duration=2) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    started = time.monotonic()
    uac = call(sipp, tg, "uac-expect-callee-bye.xml", "uac", caller=CALLER)
    elapsed = time.monotonic() - started
    uas.wait()
    uas.assert_ok()
    assert uac.received("BYE") and uas.received("BYE"), "both legs get a BYE"
    assert 1.0 <= elapsed <= 3.5, f"the call lasted {elapsed:.2f}s, wanted 2 +- 1"
    cdr = newest(tg)[0]
    check_cdr(cdr, reason="max_duration", final_code=200, answered=True, hangup="system",
              gateways=["carrier-a"], min_duration_ms=1000, max_duration_ms=3000)
    assert abs(cdr["duration_ms"] - 2000) <= 1000
    log = tg.log()
    assert "event=call.max_duration_warning" in log
    assert "event=call.max_duration " in log


# ---------------------------------------------------------------------------
# number lists


def test_blacklisted_caller_and_callee_are_refused(tollgate, sipp, ports):
    """A black list on the caller and one on the callee: each refused with 403
    and its CDR reason, nothing reaches the carrier; a white list on the
    account refuses callers it does not list; a list change applies live."""
    uas_port = ports.port()
    prov = ('[[account]]\nname = "acme"\ncaller_lists = ["uk-clis"]\n' +
            mapping_gateway("cust-a", ["127.0.0.1"], account="acme", caller_lists=["bad-callers"],
                            callee_lists=["premium"]) + carrier("carrier-a", uas_port))
    tg = make_node(tollgate, settings={"store": {"provisioning_poll_ms": 200}}, provisioning=prov,
                   lists=[("bad-callers", "black", ["4420666"]),
                          ("premium", "black", ["1900*", "44909???4"]),
                          ("uk-clis", "white", ["44*"])])
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    call(sipp, tg, "uac-caller-bye.xml", "ok", caller="4420111", hold_ms=50)
    uas.wait()
    uas.assert_ok()
    call(sipp, tg, "uac-expect-403.xml", "bad-caller", caller="4420666")
    check_cdr(newest(tg)[0], reason="caller_blacklisted", final_code=403, answered=False,
              gateways=[], caller="4420666")
    call(sipp, tg, "uac-expect-403.xml", "premium", caller="4420111", service="19005551234")
    check_cdr(newest(tg)[0], reason="callee_blacklisted", final_code=403, answered=False,
              callee="19005551234")
    call(sipp, tg, "uac-expect-403.xml", "wildcard", caller="4420111", service="449091234")
    assert newest(tg)[0]["reason"] == "callee_blacklisted"
    call(sipp, tg, "uac-expect-403.xml", "not-white", caller="3310111")
    assert newest(tg)[0]["reason"] == "caller_blacklisted"
    assert len(uas.received("INVITE")) == 1

    # Live: list the good caller; the running node refuses it within the poll.
    mark = len(tg.log())
    cli(tg, "list", "add", "bad-callers", "4420111")
    tg.wait_log(r"event=provisioning\.reloaded", timeout=5, start=mark)
    call(sipp, tg, "uac-expect-403.xml", "listed-live", caller="4420111")
    assert newest(tg)[0]["reason"] == "caller_blacklisted"


def test_system_white_list_beats_the_dynamic_list(tollgate, sipp, ports):
    """Two callers on the dynamic blacklist; one is also on the system white
    list: it calls through, the other gets 403. The automatic rules do not
    list white-listed numbers either."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"caller_malicious_limit": 1}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port),
                   lists=[("staff", "system_white", ["44207946????"])], start=False)
    for number in ("442079460000", "4420555"):
        cli(tg, "blacklist", "add", number, "--side", "caller", "--expire", "600")
    tg.start()
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=2).start().wait_listening()
    call(sipp, tg, "uac-caller-bye.xml", "white", caller="442079460000", hold_ms=50)
    call(sipp, tg, "uac-caller-bye.xml", "white2", caller="442079460000", hold_ms=50)
    uas.wait()
    uas.assert_ok()
    call(sipp, tg, "uac-expect-403.xml", "listed", caller="4420555")
    assert newest(tg)[0]["reason"] == "caller_blacklisted"
    e = entry(tg, "442079460000", "caller")
    assert e is not None and e["rule"] == "manual" and e["hits"] == 0, e


# ---------------------------------------------------------------------------
# the dynamic blacklist's automatic rules


def test_malicious_caller_listed_at_threshold_and_expires_after_last_call(tollgate, sipp, ports):
    """limit 3 in 30 s, expire 3 s: calls 1-3 connect, the 4th is refused
    (caller_blacklisted). Each refused call keeps the number listed for 3 s
    more; 3 s after the last one it calls again."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"caller_malicious_limit": 3,
                                                     "caller_malicious_interval": 30,
                                                     "caller_malicious_expire": 3}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=4, timeout=40).start().wait_listening()
    call(sipp, tg, "uac-caller-bye.xml", "three", calls=3, rate=20, hold_ms=0, caller=CALLER)
    assert reasons(tg.wait_cdrs(3)) == {"caller_bye": 3}
    tg.wait_log(r"event=blacklist\.listed number=4420 side=caller rule=malicious_caller")
    call(sipp, tg, "uac-expect-403.xml", "fourth", caller=CALLER)
    fourth = newest(tg)[0]
    check_cdr(fourth, reason="caller_blacklisted", final_code=403, answered=False, gateways=[])
    # The refused call extended the entry to 3 s after it (written to the
    # store in the background).
    e = wait_until(lambda: (x := entry(tg, CALLER, "caller")) and
                   abs(epoch(x["expires"]) - (epoch(fourth["end"]) + 3)) < 0.3 and x, 5,
                   "the entry expiring 3 s after the 4th call")
    assert e["rule"] == "malicious_caller" and e["mode"] == "enforce", e

    # Still listed 1 s before that expiry (and the refusal extends it) ...
    sleep_until(epoch(e["expires"]) - 1.0)
    call(sipp, tg, "uac-expect-403.xml", "fifth", caller=CALLER)
    fifth = newest(tg)[0]
    assert fifth["reason"] == "caller_blacklisted"
    e = wait_until(lambda: (x := entry(tg, CALLER, "caller")) and
                   abs(epoch(x["expires"]) - (epoch(fifth["end"]) + 3)) < 0.3 and x, 5,
                   "the entry expiring 3 s after the 5th call")
    # ... and free 3 s after its last call.
    sleep_until(epoch(e["expires"]) + 0.3)
    call(sipp, tg, "uac-caller-bye.xml", "after", hold_ms=0, caller=CALLER)
    uas.wait()
    uas.assert_ok()
    assert newest(tg)[0]["reason"] == "caller_bye"


def test_malicious_callee_listed_at_threshold_and_expires(tollgate, sipp, ports):
    """A number receiving 3 calls (from different callers) within 30 s is
    listed as callee; the 4th call to it is refused; other numbers are not
    affected; it is callable again once the entry expires."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"callee_malicious_limit": 3,
                                                     "callee_malicious_interval": 30,
                                                     "callee_malicious_expire": 2}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=5, timeout=40).start().wait_listening()
    for i in range(3):
        call(sipp, tg, "uac-caller-bye.xml", f"c{i}", hold_ms=0, caller=f"100{i}", service="900")
    call(sipp, tg, "uac-expect-403.xml", "refused", caller="1009", service="900")
    refused = newest(tg)[0]
    check_cdr(refused, reason="callee_blacklisted", final_code=403, answered=False, callee="900")
    call(sipp, tg, "uac-caller-bye.xml", "other", hold_ms=0, caller="1009", service="901")
    e = wait_until(lambda: entry(tg, "900", "callee"), 5, "the callee's entry")
    assert e["rule"] == "malicious_callee", e
    sleep_until(epoch(e["expires"]) + 0.3)
    call(sipp, tg, "uac-caller-bye.xml", "again", hold_ms=0, caller="1010", service="900")
    uas.wait()
    uas.assert_ok()
    assert newest(tg)[0]["reason"] == "caller_bye"


def test_no_answer_rule_lists_callee_at_threshold_and_expires_on_time(tollgate, sipp, recorder):
    """3 unanswered (busy) calls in a row to one number list it as callee for
    3 s; the 4th call is refused without reaching the carrier; a refused call
    does not extend this rule's entry; after 3 s the carrier gets calls again."""
    busy = recorder(answer=486)
    tg = make_node(tollgate, settings={"blacklist": {"no_answer_limit": 3, "no_answer_period": 30,
                                                     "no_answer_expire": 3}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-busy", busy.addr[1]))
    call(sipp, tg, "uac-expect-486.xml", "busy", calls=2, rate=20, caller=CALLER, service="900")
    assert entry(tg, "900", "callee") is None, "listed before the threshold"
    call(sipp, tg, "uac-expect-486.xml", "busy3", caller=CALLER, service="900")
    third = newest(tg)[0]
    assert third["reason"] == "busy"
    tg.wait_log(r"event=blacklist\.listed number=900 side=callee rule=no_answer")
    call(sipp, tg, "uac-expect-403.xml", "listed", caller=CALLER, service="900")
    check_cdr(newest(tg)[0], reason="callee_blacklisted", final_code=403, answered=False,
              gateways=[])
    assert len(busy.requests("INVITE")) == 3
    e = wait_until(lambda: entry(tg, "900", "callee"), 5, "the callee's entry")
    assert e["rule"] == "no_answer", e
    assert abs(epoch(e["expires"]) - (epoch(third["end"]) + 3)) < 0.3, (e, third)
    sleep_until(epoch(e["expires"]) - 1.0)
    call(sipp, tg, "uac-expect-403.xml", "still", caller=CALLER, service="900")
    assert abs(epoch(entry(tg, "900", "callee")["expires"]) - epoch(e["expires"])) < 0.01
    sleep_until(epoch(e["expires"]) + 0.3)
    call(sipp, tg, "uac-expect-486.xml", "free", caller=CALLER, service="900")
    assert len(busy.requests("INVITE")) == 4


def test_caller_concurrency_rule_refuses_the_call_over_the_limit(tollgate, sipp, ports):
    """caller_concurrent_limit 2: three simultaneous calls from one caller,
    two connect, the third lists the caller and is refused; the listing
    outlives the calls and expires after 3 s."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"caller_concurrent_limit": 2,
                                                     "caller_concurrent_expire": 3}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=3, timeout=40).start().wait_listening()
    call(sipp, tg, "uac-answer-or-refused.xml", "three", calls=3, rate=100, limit=3, hold_ms=1500,
         caller=CALLER)
    rows = tg.wait_cdrs(3)
    assert reasons(rows) == {"caller_bye": 2, "caller_blacklisted": 1}, reasons(rows)
    listed_at = epoch(next(r for r in rows if r["reason"] == "caller_blacklisted")["end"])
    e = wait_until(lambda: entry(tg, CALLER, "caller"), 5, "the caller's entry")
    assert e["rule"] == "caller_concurrent", e
    assert abs(epoch(e["expires"]) - (listed_at + 3)) < 0.3
    call(sipp, tg, "uac-expect-403.xml", "alone", caller=CALLER)  # one call, still listed
    sleep_until(epoch(e["expires"]) + 0.3)
    call(sipp, tg, "uac-caller-bye.xml", "free", hold_ms=0, caller=CALLER)
    uas.wait()
    uas.assert_ok()


def test_count_only_mode_refuses_nothing_but_counts(tollgate, sipp, ports):
    """caller_malicious_limit 2 in count-only mode: all 4 calls connect; the
    caller is on the list marked count-only, with the 2 calls it would have
    refused counted."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"caller_malicious_limit": 2,
                                                     "caller_malicious_mode": "count-only"}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=4).start().wait_listening()
    for i in range(4):
        call(sipp, tg, "uac-caller-bye.xml", f"c{i}", hold_ms=0, caller=CALLER)
    uas.wait()
    uas.assert_ok()
    assert reasons(tg.wait_cdrs(4)) == {"caller_bye": 4}
    e = wait_until(lambda: (x := entry(tg, CALLER, "caller")) and x["hits"] >= 2 and x, 5,
                   "the count-only entry with its hits")
    assert e["mode"] == "count-only" and e["rule"] == "malicious_caller" and e["hits"] == 2, e
    assert "event=blacklist.would_list" in tg.log()


def test_listing_cuts_the_live_calls_of_the_number(tollgate, sipp, ports):
    """caller_malicious_cut_calls: the call that reaches the limit is refused
    and the caller's call in progress is ended at once (BYE both legs, CDR
    caller_blacklisted, hangup system). An operator's `blacklist add --cut`
    does the same to a running call."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"caller_malicious_limit": 2,
                                                     "caller_malicious_cut_calls": True},
                                       "store": {"provisioning_poll_ms": 200}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=2, timeout=30).start().wait_listening()
    first = sipp("first", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}",
                 caller=CALLER).start()
    wait_until(lambda: uas.received("ACK"), 5, "the first call up")
    call(sipp, tg, "uac-expect-403.xml", "second", caller=CALLER)
    assert first.wait() == 0, first.report()
    rows = tg.wait_cdrs(2)
    assert reasons(rows) == {"caller_blacklisted": 2}, reasons(rows)
    cut = next(r for r in rows if r["answer"] is not None)
    check_cdr(cut, reason="caller_blacklisted", final_code=200, answered=True, hangup="system",
              gateways=["carrier-a"])

    # The operator lists another caller with --cut while its call is up.
    other = sipp("other", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}",
                 caller="3399").start()
    wait_until(lambda: len(uas.received("ACK")) >= 2, 5, "the operator's victim call up")
    cli(tg, "blacklist", "add", "3399", "--side", "caller", "--expire", "60", "--cut")
    assert other.wait() == 0, other.report()
    uas.wait()
    uas.assert_ok()
    cut = newest(tg)[0]
    check_cdr(cut, reason="caller_blacklisted", final_code=200, answered=True, hangup="system",
              caller="3399")


def test_operator_removal_frees_a_number_at_once(tollgate, sipp, ports):
    """`tollgate blacklist remove` on a running node: the number calls again
    within the poll interval, and the node does not write the entry back."""
    uas_port = ports.port()
    tg = make_node(tollgate, settings={"blacklist": {"caller_malicious_limit": 1,
                                                     "caller_malicious_expire": 600},
                                       "store": {"provisioning_poll_ms": 200}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=2).start().wait_listening()
    call(sipp, tg, "uac-caller-bye.xml", "listed", hold_ms=0, caller=CALLER)
    call(sipp, tg, "uac-expect-403.xml", "refused", caller=CALLER)
    wait_until(lambda: entry(tg, CALLER, "caller"), 5, "the entry written to the store")
    mark = len(tg.log())
    out = cli(tg, "blacklist", "remove", CALLER).stdout
    assert "removed 1 entry" in out, out
    tg.wait_log(r"event=blacklist\.operator_remove number=4420", timeout=5, start=mark)
    call(sipp, tg, "uac-caller-bye.xml", "freed", hold_ms=0, caller=CALLER)  # lists it again
    uas.wait()
    uas.assert_ok()
    assert newest(tg)[0]["reason"] == "caller_bye"


# ---------------------------------------------------------------------------
# fraud thresholds


def test_fraud_threshold_blocks_at_the_critical_level(tollgate, sipp, ports):
    """calls_per_minute_critical 2 for the account's calls to 1900...: two
    connect, the third is refused (fraud_threshold); a warning is logged
    above 1; calls elsewhere are not affected."""
    uas_port = ports.port()
    prov = ('[[account]]\nname = "acme"\n' +
            mapping_gateway("cust-a", ["127.0.0.1"], account="acme") +
            carrier("carrier-a", uas_port) +
            '[[fraud_rule]]\nname = "premium"\naccount = "acme"\nprefixes = ["1900"]\n'
            'calls_per_minute_warning = 1\ncalls_per_minute_critical = 2\n')
    tg = make_node(tollgate, provisioning=prov)
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=3).start().wait_listening()
    for i in range(2):
        call(sipp, tg, "uac-caller-bye.xml", f"p{i}", hold_ms=0, caller=CALLER,
             service=f"190055500{i}")
    call(sipp, tg, "uac-expect-403.xml", "blocked", caller=CALLER, service="19005550009")
    check_cdr(newest(tg)[0], reason="fraud_threshold", final_code=403, answered=False, gateways=[])
    call(sipp, tg, "uac-caller-bye.xml", "elsewhere", hold_ms=0, caller=CALLER)
    uas.wait()
    uas.assert_ok()
    log = tg.log()
    assert "event=fraud.warning rule=premium subject=account:acme measure=calls_per_minute" in log
    assert "event=fraud.blocked rule=premium" in log


# ---------------------------------------------------------------------------
# carriers: limits, keep-alive, failover controls


def test_full_carrier_is_skipped_for_the_next_route(tollgate, sipp, ports):
    """carrier-a (priority 1) and carrier-b (2) take one call each: three
    simultaneous calls go a, b, and the third finds both full: 503,
    carrier_unavailable. A skipped carrier is not in gateways_tried."""
    a_port, b_port = ports.port(), ports.port()
    tg = make_node(tollgate, provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", a_port, priority=1, max_concurrent=1) +
                   carrier("carrier-b", b_port, priority=2, max_concurrent=1))
    uas_a = sipp("uas-a", "uas-answer.xml", port=a_port).start().wait_listening()
    uas_b = sipp("uas-b", "uas-answer.xml", port=b_port).start().wait_listening()
    call(sipp, tg, "uac-answer-or-refused.xml", "uac", calls=3, rate=100, limit=3, hold_ms=1500,
         caller=CALLER)
    uas_a.wait()
    uas_b.wait()
    uas_a.assert_ok()
    uas_b.assert_ok()
    rows = tg.wait_cdrs(3)
    assert reasons(rows) == {"caller_bye": 2, "carrier_unavailable": 1}, reasons(rows)
    tried = sorted(tuple(r["gateways_tried"]) for r in rows)
    assert tried == [(), ("carrier-a",), ("carrier-b",)], tried
    refused = next(r for r in rows if r["reason"] == "carrier_unavailable")
    check_cdr(refused, reason="carrier_unavailable", final_code=503, answered=False, gateways=[])


def test_carrier_failing_options_is_skipped_then_restored(tollgate, sipp, ports, recorder):
    """OPTIONS every second: carrier-a (first choice, busy for calls) answers
    them, so calls go to it; it stops answering and is taken out of routing,
    so calls go to carrier-b; it answers again and gets calls again."""
    b_port = ports.port()
    a = recorder(answer=486, answer_options=True)
    tg = make_node(tollgate, settings={"routing": {"options_check_period": 1,
                                                   "options_failure_limit": 1}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", a.addr[1], priority=1) +
                   # a SIPp UAS does not answer OPTIONS: this one is not watched
                   carrier("carrier-b", b_port, priority=2, options_check=False))
    wait_until(lambda: a.requests("OPTIONS"), 5, "a keep-alive to carrier-a")
    call(sipp, tg, "uac-expect-486.xml", "to-a", caller=CALLER)
    check_cdr(newest(tg)[0], reason="busy", final_code=486, answered=False, gateways=["carrier-a"])

    mark = len(tg.log())
    a.answer_options = False
    tg.wait_log(r"event=carrier\.down gateway=carrier-a", timeout=5, start=mark)
    uas_b = sipp("uas-b", "uas-answer.xml", port=b_port).start().wait_listening()
    call(sipp, tg, "uac-caller-bye.xml", "to-b", hold_ms=0, caller=CALLER)
    uas_b.wait()
    uas_b.assert_ok()
    check_cdr(newest(tg)[0], reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-b"])

    mark = len(tg.log())
    a.answer_options = True
    tg.wait_log(r"event=carrier\.up gateway=carrier-a", timeout=5, start=mark)
    call(sipp, tg, "uac-expect-486.xml", "to-a-again", caller=CALLER)
    check_cdr(newest(tg)[0], reason="busy", final_code=486, answered=False, gateways=["carrier-a"])
    assert len(a.requests("INVITE")) == 2


def test_switch_limit_caps_the_carriers_tried(tollgate, sipp, recorder):
    """routing.switch_limit = 2 with three failing carriers: two are tried,
    the third never hears of the call."""
    carriers = [recorder(answer=503) for _ in range(3)]
    prov = mapping_gateway("cust-a", ["127.0.0.1"]) + "".join(
        carrier(f"carrier-{i}", c.addr[1], priority=i) for i, c in enumerate(carriers))
    tg = make_node(tollgate, settings={"routing": {"switch_limit": 2}}, provisioning=prov)
    call(sipp, tg, "uac-expect-503.xml", "uac", caller=CALLER)
    check_cdr(newest(tg)[0], reason="route_failed", final_code=503, answered=False,
              gateways=["carrier-0", "carrier-1"])
    time.sleep(0.3)  # proving an absence: nothing arrives late either
    assert [len(c.requests("INVITE")) for c in carriers] == [1, 1, 0]


def test_busy_stops_failover_unless_turned_off(tollgate, sipp, ports, recorder):
    """486 ends failover by default (routing.stop_after_busy); with it off
    the next carrier gets the call."""
    b_port = ports.port()
    busy = recorder(answer=486)
    prov = (mapping_gateway("cust-a", ["127.0.0.1"]) + carrier("carrier-a", busy.addr[1], priority=1)
            + carrier("carrier-b", b_port, priority=2))
    tg = make_node(tollgate, provisioning=prov)
    call(sipp, tg, "uac-expect-486.xml", "stops", caller=CALLER)
    check_cdr(newest(tg)[0], reason="busy", final_code=486, answered=False, gateways=["carrier-a"])

    tg2 = make_node(tollgate, settings={"routing": {"stop_after_busy": False}}, provisioning=prov,
                    name="tg2")
    uas_b = sipp("uas-b", "uas-answer.xml", port=b_port).start().wait_listening()
    call(sipp, tg2, "uac-caller-bye.xml", "goes-on", hold_ms=0, caller=CALLER)
    uas_b.wait()
    uas_b.assert_ok()
    check_cdr(newest(tg2)[0], reason="caller_bye", final_code=200, answered=True, hangup="caller",
              gateways=["carrier-a", "carrier-b"])


@pytest.mark.parametrize("until_connect", [False, True])
def test_switch_until_connect(tollgate, sipp, ports, until_connect):
    """carrier-a rings, then fails with 503. Off (the default): the call
    stays with the carrier that rang and fails. On: failover goes on and
    carrier-b answers."""
    a_port, b_port = ports.port(), ports.port()
    tg = make_node(tollgate, settings={"routing": {"switch_until_connect": until_connect}},
                   provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                   carrier("carrier-a", a_port, priority=1) + carrier("carrier-b", b_port, priority=2))
    uas_a = sipp("uas-a", "uas-ring-then-503.xml", port=a_port).start().wait_listening()
    # carrier-b answers without ringing: the caller hears one 180 (carrier-a's).
    uas_b = sipp("uas-b", "uas-answer-at-once.xml", port=b_port).start().wait_listening()
    uac = call(sipp, tg, "uac-answer-or-refused.xml", "uac", hold_ms=0, caller=CALLER)
    uas_a.wait()
    uas_a.assert_ok()
    cdr = newest(tg)[0]
    assert uac.received(180), "the caller heard the first carrier ring"
    if until_connect:
        uas_b.wait()
        uas_b.assert_ok()
        check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
                  gateways=["carrier-a", "carrier-b"])
    else:
        check_cdr(cdr, reason="route_failed", final_code=503, answered=False,
                  gateways=["carrier-a"])
        assert uas_b.received() == []
        uas_b.kill()


# ---------------------------------------------------------------------------
# restart


def test_blacklist_entries_and_counters_survive_a_restart(tollgate, sipp, ports):
    """Two calls towards a limit of 3, then the node restarts (SIGTERM saves
    the counters): the next call is the third and lists the caller. The entry
    survives a second restart."""
    uas_port = ports.port()
    settings = {"blacklist": {"caller_malicious_limit": 3, "caller_malicious_interval": 120,
                              "caller_malicious_expire": 120}}
    prov = mapping_gateway("cust-a", ["127.0.0.1"]) + carrier("carrier-a", uas_port)
    tg = make_node(tollgate, settings=settings, provisioning=prov)
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=3, timeout=40).start().wait_listening()
    call(sipp, tg, "uac-caller-bye.xml", "two", calls=2, rate=20, hold_ms=0, caller=CALLER)
    assert entry(tg, CALLER, "caller") is None
    assert tg.stop() == 0

    # The same store: the file, or (PostgreSQL) the same database.
    shared = {**settings, "store": {"path": str(tg.store_path),
                                    **({"url": tg.settings["store"]["url"]} if tg.pg else {})}}
    tg2 = make_node(tollgate, settings=shared, name="tg2")
    call(sipp, tg2, "uac-caller-bye.xml", "third", hold_ms=0, caller=CALLER)
    uas.wait()
    uas.assert_ok()
    tg2.wait_log(r"event=blacklist\.listed number=4420")
    wait_until(lambda: entry(tg2, CALLER, "caller"), 5, "the entry in the store")
    assert tg2.stop() == 0

    tg3 = make_node(tollgate, settings=shared, name="tg3")
    call(sipp, tg3, "uac-expect-403.xml", "refused", caller=CALLER)
    # The store already holds the three earlier calls: wait for the fourth CDR
    # (written by the CDR thread after the 403), not the newest one present.
    assert tg3.wait_cdrs(4)[0]["reason"] == "caller_blacklisted"


# ---------------------------------------------------------------------------
# the CLI


def test_list_and_blacklist_commands(tollgate):
    tg = tollgate(start=False)
    assert "created black list premium" in cli(tg, "list", "create", "premium",
                                               "--description", "premium ranges").stdout
    assert "added 2 pattern(s)" in cli(tg, "list", "add", "premium", "1900*", "4490?1").stdout
    patterns = tg.workdir / "more.txt"
    patterns.write_text("# comment\n\n  33*  \n4491\n")
    assert "added 2 new pattern(s) of 2" in cli(tg, "list", "import", "premium", str(patterns)).stdout
    shown = json.loads(cli(tg, "list", "show", "premium", "--json").stdout)
    assert shown == {"name": "premium", "kind": "black", "description": "premium ranges",
                     "patterns": ["1900*", "33*", "4490?1", "4491"]}
    assert cli(tg, "list", "test", "premium", "449051").returncode == 0
    assert cli(tg, "list", "test", "premium", "449052", check=False).returncode == 1

    bad = cli(tg, "list", "add", "premium", "19 00", check=False)
    assert bad.returncode == 2 and "no spaces" in bad.stderr, bad.stderr
    patterns.write_text("1\n2 3\n")
    bad = cli(tg, "list", "import", "premium", str(patterns), check=False)
    assert bad.returncode == 2 and f"{patterns}:2:" in bad.stderr, bad.stderr
    assert cli(tg, "list", "create", "x", "--kind", "grey", check=False).returncode == 2
    assert cli(tg, "list", "create", "premium", check=False).returncode == 1

    # An import naming a list that does not exist: file:line:key, nothing imported.
    prov = tg.workdir / "p.toml"
    prov.write_text(mapping_gateway("cust-a", ["127.0.0.1"], callee_lists=["premium", "nope"]))
    r = tg.cli("import", "--config", str(tg.config_path), str(prov), check=False)
    assert r.returncode == 2, r.stderr
    assert f"{prov}:5: mapping_gateway[cust-a].callee_lists: \"nope\" is not a number list" in r.stderr
    prov.write_text(mapping_gateway("cust-a", ["127.0.0.1"], callee_lists=["premium"]))
    tg.cli("import", "--config", str(tg.config_path), str(prov))
    # A list in use cannot be deleted.
    r = cli(tg, "list", "delete", "premium", check=False)
    assert r.returncode == 1 and "still used by mapping gateway cust-a" in r.stderr, r.stderr

    assert "listed 5551 as callee" in cli(tg, "blacklist", "add", "5551", "--side", "callee").stdout
    e = blacklist(tg)
    assert len(e) == 1 and e[0]["number"] == "5551" and e[0]["rule"] == "manual", e
    assert cli(tg, "blacklist", "add", "55*", "--side", "callee", check=False).returncode == 2
    assert cli(tg, "blacklist", "add", "1", "--side", "both", check=False).returncode == 2
    assert "removed 1 entry" in cli(tg, "blacklist", "remove", "5551").stdout
    assert blacklist(tg) == []


# ---------------------------------------------------------------------------
# concurrency


@pytest.mark.slow
def test_500_simultaneous_calls_against_200_channels(tollgate, sipp, ports):
    """500 calls offered at once to a gateway with max_concurrent = 200 and a
    long hold: exactly 200 connect, 300 get 503 concurrent_limit."""
    uas_port = ports.port()
    tg = make_node(tollgate, provisioning=mapping_gateway("cust-a", ["127.0.0.1"],
                                                          max_concurrent=200) +
                   carrier("carrier-a", uas_port))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=200, timeout=60,
               trace_msg=False).start().wait_listening()
    uac = call(sipp, tg, "uac-answer-or-refused.xml", "uac", calls=500, rate=1000, limit=500,
               hold_ms=6000, timeout=60, caller=CALLER)
    uas.wait(timeout=30)
    uas.assert_ok()
    rows = tg.wait_cdrs(500, timeout=20, limit=600)
    assert len(rows) == 500
    assert reasons(rows) == {"caller_bye": 200, "concurrent_limit": 300}, reasons(rows)
    assert Counter(r["final_code"] for r in rows) == {200: 200, 503: 300}
    assert len(uac.received(503)) == 300
    assert len([m for m in uac.received(200) if "INVITE" in (m.header("CSeq") or "")]) >= 200
