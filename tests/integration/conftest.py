"""Fixtures of the integration suite (see README.md).

- `ports`: the session's PortAllocator (free UDP+TCP ports, never handed out twice).
- `tollgate`: factory `tollgate(settings=..., provisioning=..., start=True)` -> a
  started harness.Tollgate in the test's tmp dir, stopped (SIGTERM, then SIGKILL
  after a bound) at teardown.
- `sipp`: factory `sipp(name, scenario, remote=..., ...)` -> harness.Sipp (not
  started); every instance is killed by PID at teardown.
- `udp`: factory `udp(ip, port=None)` -> harness.UdpPeer, closed at teardown.
- `recorder`: factory `recorder(ip, port=None, answer=None)` -> harness.UdpRecorder.

When a test fails, the tollgate log tails and the SIPp screen/error logs are
attached to its report.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import harness


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running load test (still run by default)")


def pytest_sessionstart(session):
    if not Path(harness.TOLLGATE_BIN).is_file() or not os.access(harness.TOLLGATE_BIN, os.X_OK):
        raise pytest.UsageError(
            f"tollgate binary not found at {harness.TOLLGATE_BIN}; build it or set TOLLGATE_BIN")
    if shutil.which(harness.SIPP_BIN) is None:
        raise pytest.UsageError("sipp not found (apt-get install sip-tester)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for title, produce in getattr(item, "_tg_artifacts", []):
            try:
                text = produce()
            except Exception as e:  # a diagnostic must never hide the failure
                text = f"<{e!r}>"
            report.sections.append((title, text))


def _artifacts(request) -> list:
    node = request.node
    if not hasattr(node, "_tg_artifacts"):
        node._tg_artifacts = []
    return node._tg_artifacts


@pytest.fixture(scope="session")
def ports():
    return harness.PortAllocator()


@pytest.fixture
def tollgate(request, tmp_path, ports):
    nodes: list[harness.Tollgate] = []

    def make(settings: dict | None = None, provisioning: str | None = None, start: bool = True,
             listen: list[str] | None = None, name: str = "tg",
             wrapper: list[str] | None = None) -> harness.Tollgate:
        tg = harness.Tollgate(tmp_path, ports, settings=settings, provisioning=provisioning,
                              listen=listen, name=name, wrapper=wrapper)
        nodes.append(tg)
        _artifacts(request).append((f"tollgate log {tg.log_path}", lambda: tg.log_tail(80)))
        if start:
            tg.start()
        return tg

    yield make
    for tg in nodes:
        tg.stop(timeout=10)


@pytest.fixture
def sipp(request, tmp_path, ports):
    instances: list[harness.Sipp] = []

    def make(name: str, scenario: str, **kw) -> harness.Sipp:
        s = harness.Sipp(tmp_path, ports, name, scenario, **kw)
        instances.append(s)
        _artifacts(request).append((f"sipp {name}", s.report))
        return s

    yield make
    for s in instances:
        s.kill()


@pytest.fixture
def udp(ports):
    peers: list[harness.UdpPeer] = []

    def make(ip: str = "127.0.0.1", port: int | None = None) -> harness.UdpPeer:
        p = harness.UdpPeer(ip, port or ports.port())
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


@pytest.fixture
def recorder(ports):
    recs: list[harness.UdpRecorder] = []

    def make(ip: str = "127.0.0.1", port: int | None = None, answer: int | None = None,
             answer_options: bool = False):
        r = harness.UdpRecorder(ip, port or ports.port(), answer=answer,
                                answer_options=answer_options)
        recs.append(r)
        return r

    yield make
    for r in recs:
        r.close()
