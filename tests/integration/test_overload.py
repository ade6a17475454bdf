"""Overload control (docs/overload.md), short and with generous bounds.

- A real overload: tollgate confined to a tenth of a core by a cgroup (v1
  cpu controller; skipped, with the reason, where it cannot be created) is
  offered a storm of new calls from SIPp. The excess is refused with 503 and
  Retry-After, nearly nothing goes unanswered, calls established before the
  storm end normally during it, and once the storm stops the node leaves
  overload and carries every call again.
- The documented bounds (overload.max_calls): with the node's calls at the
  bound, new INVITEs get 503 + Retry-After (RFC 7339 feedback in the Via of
  a client that asked for it), the calls in progress end normally, and a
  refused call has a CDR with reason `overload`.
"""

from __future__ import annotations

import os
import re
import socket
import time

import pytest

from harness import mapping_gateway, routing_gateway, wait_until

CUSTOMER_IP = "127.0.0.5"
CGROUP_ROOT = "/sys/fs/cgroup/cpu"


def metric(tg, name: str) -> float:
    text = tg.api("GET", "/metrics").text
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    assert seen, f"{name} not in /metrics"
    return total


class Cgroup:
    """A cpu cgroup (v1) with a quota; removed at exit."""

    def __init__(self, quota_us: int, period_us: int = 10_000):
        self.path = os.path.join(CGROUP_ROOT, f"tg-test-overload-{os.getpid()}")
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
            f.write(str(period_us))
        with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(quota_us))

    def confine(self, pid: int) -> None:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(os.path.join(self.path, "tasks"), "w") as f:
                f.write(tid)

    def remove(self) -> None:
        try:
            for tid in open(os.path.join(self.path, "tasks")).read().split():
                try:
                    with open(os.path.join(CGROUP_ROOT, "tasks"), "w") as f:
                        f.write(tid)
                except OSError:
                    pass
            os.rmdir(self.path)
        except OSError:
            pass


@pytest.fixture
def cgroup():
    if os.geteuid() != 0 or not os.access(CGROUP_ROOT, os.W_OK):
        pytest.skip(f"needs root and a writable cgroup v1 cpu controller at {CGROUP_ROOT}")
    try:
        cg = Cgroup(1_000)
    except OSError as e:
        pytest.skip(f"cannot create a cpu cgroup: {e}")
    yield cg
    cg.remove()


def provisioning(uas_port: int, **customer) -> str:
    return (mapping_gateway("cust", [CUSTOMER_IP], **customer) +
            routing_gateway("carrier", f"127.0.0.1:{uas_port}"))


def outcomes(uac):
    """Per Call-ID: the final status of its INVITE (None: no final answer)."""
    finals, invites = {}, set()
    for m in uac.messages():
        cid = m.header("Call-ID")
        cseq = m.header("CSeq") or ""
        if not cid or not cseq.endswith("INVITE"):
            continue
        if m.direction == "sent" and m.is_request:
            invites.add(cid)
        elif m.direction == "received" and not m.is_request and m.status >= 200:
            finals.setdefault(cid, m)
    return invites, finals


def test_a_storm_is_refused_at_once_while_established_calls_end_normally(tollgate, sipp, ports,
                                                                          cgroup):
    uas_port = ports.port()
    tg = tollgate(provisioning=provisioning(uas_port),
                  settings={"shield": {"trusted_rate": 1_000_000, "trusted_burst": 1_000_000}})
    cgroup.confine(tg.pid)
    sipp("uas", "uas-answer.xml", port=uas_port, calls=100_000, timeout=60).start().wait_listening()

    # Calls established before the storm, held through it.
    held = sipp("held", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
                calls=20, rate=20, hold_ms=5_000, timeout=40).start()
    time.sleep(1.5)
    # The storm: far beyond what a tenth of a core carries.
    storm = sipp("storm", "uac-call-or-503.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
                 calls=9_000, rate=3_000, limit=6_000, hold_ms=100, timeout=40).start()
    storm.wait(60)
    held.wait(40)
    held.assert_ok()  # every held call ended normally: BYE answered 200

    invites, finals = outcomes(storm)
    refused = [m for m in finals.values() if m.status == 503]
    answered = [m for m in finals.values() if m.status == 200]
    report = (f"{len(invites)} INVITEs, {len(answered)} answered, {len(refused)} refused, "
              f"{len(invites) - len(finals)} unanswered")
    assert len(invites) >= 8_000, report
    assert len(refused) >= 0.2 * len(invites), f"the storm was not shed: {report}"
    # Answered of 9,000 on a tenth of a core (about 20 x its capacity), by
    # sitting: 1,263-1,920 before new UDP work waited its turn, 965-1,977
    # after it alone, and about 490 in two full-suite runs (docs/overload.md).
    # The bound says "still carrying", not "as many as before".
    assert len(answered) >= 250, f"the node stopped carrying calls: {report}"
    assert all(m.header("Retry-After") == "1" for m in refused), "503 without Retry-After: 1"
    assert len(invites) - len(finals) <= 0.01 * len(invites), f"INVITEs went unanswered: {report}"
    assert metric(tg, "tollgate_overload_episodes_total") >= 1
    assert metric(tg, "tollgate_overload_shed_total") >= len(refused)

    # The load is gone: the node leaves overload and carries every call.
    wait_until(lambda: metric(tg, "tollgate_overload_active") == 0, 10, "overload to end")
    after = sipp("after", "uac-call-or-503.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
                 calls=40, rate=20, hold_ms=100, timeout=30)
    after.run(40)
    invites, finals = outcomes(after)
    assert len(invites) == 40 and all(m.status == 200 for m in finals.values()) and \
        len(finals) == 40, f"after the storm: {[m.status for m in finals.values()]}"
    assert "event=overload.start" in tg.log() and "event=overload.end" in tg.log()


def invite_with_oc(dst_port: int, src: socket.socket, n: int) -> bytes:
    host, port = src.getsockname()
    return (f"INVITE sip:15551234567@127.0.0.1:{dst_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-oc{n};rport;oc;oc-algo=\"loss\"\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:1001@{host}>;tag=oc{n}\r\n"
            f"To: <sip:15551234567@127.0.0.1>\r\nCall-ID: oc-{n}-{time.time()}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:1001@{host}:{port}>\r\nContent-Length: 0\r\n\r\n"
            ).encode()


def test_at_the_call_bound_new_calls_get_503_and_calls_in_progress_end_normally(tollgate, sipp,
                                                                                 ports):
    uas_port = ports.port()
    tg = tollgate(provisioning=provisioning(uas_port),
                  settings={"overload": {"max_calls": 3}})
    sipp("uas", "uas-answer.xml", port=uas_port, calls=1_000, timeout=40).start().wait_listening()
    held = sipp("held", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
                calls=3, rate=10, hold_ms=4_000, timeout=30).start()
    wait_until(lambda: int(tg.stats().get("calls_active", 0) or 0) >= 3, 10, "3 calls up")

    refused = sipp("refused", "uac-call-or-503.xml", remote=f"127.0.0.1:{tg.port}",
                   ip=CUSTOMER_IP, calls=5, rate=10, hold_ms=100, timeout=20)
    refused.run(30)
    invites, finals = outcomes(refused)
    assert len(finals) == 5 and all(m.status == 503 for m in finals.values()), \
        [m.status for m in finals.values()]
    assert all(m.header("Retry-After") == "1" for m in finals.values())
    assert all(re.search(r";tag=sh-", m.header("To") or "") for m in finals.values())

    # RFC 7339: a client whose Via says `oc` hears how much to hold back, in
    # its own Via (its bare `oc` replaced by a value).
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((CUSTOMER_IP, 0))
    s.settimeout(2)
    try:
        time.sleep(0.2)  # an interval at the bound: the node is in overload now
        s.sendto(invite_with_oc(tg.port, s, 1), ("127.0.0.1", tg.port))
        resp = s.recv(65535).decode()
    finally:
        s.close()
    assert resp.startswith("SIP/2.0 503"), resp
    via = re.search(r"^Via: (.*)$", resp, re.M).group(1)
    assert re.search(r";oc=\d+", via) and 'oc-algo="loss"' in via and "oc-validity=" in via \
        and "oc-seq=" in via, via
    assert ";oc;" not in via, via

    held.wait(30)
    held.assert_ok()  # the calls in progress ended normally
    cdrs = tg.wait_cdrs(4, timeout=10, where=lambda c: c["reason"] == "overload")
    assert all(c["final_code"] == 503 for c in cdrs)
    assert metric(tg, "tollgate_overload_shed_total") >= 6
    # Below the bound again: calls are carried.
    after = sipp("after", "uac-call-or-503.xml", remote=f"127.0.0.1:{tg.port}", ip=CUSTOMER_IP,
                 calls=3, rate=10, hold_ms=100, timeout=20)
    after.run(30)
    _, finals = outcomes(after)
    assert [m.status for m in finals.values()] == [200, 200, 200]
