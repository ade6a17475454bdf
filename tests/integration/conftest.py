"""Fixtures of the integration suite (see README.md).

- `ports`: the session's PortAllocator (free UDP+TCP ports, never handed out twice).
- `tollgate`: factory `tollgate(settings=..., provisioning=..., start=True)` -> a
  started harness.Tollgate in the test's tmp dir, stopped (SIGTERM, then SIGKILL
  after a bound) at teardown.
- `sipp`: factory `sipp(name, scenario, remote=..., ...)` -> harness.Sipp (not
  started); every instance is killed by PID at teardown.
- `udp`: factory `udp(ip, port=None)` -> harness.UdpPeer, closed at teardown.
- `recorder`: factory `recorder(ip, port=None, answer=None)` -> harness.UdpRecorder.
- `store_backend`: "sqlite" or "postgresql". The tests of the files in
  BOTH_BACKENDS run once per backend (ids `[sqlite]`, `[postgresql]`); each
  node of a PostgreSQL run gets its own database on the session's server.
  `-m "not postgresql"` skips the PostgreSQL runs; a test marked
  `sqlite_only` (it reads the SQLite file itself) runs on SQLite only.
- `pg_server`: the session's PostgreSQL server (pg_server.PgServer), started on
  first use: initdb into a temp dir as an unprivileged user, private port.
- `redis`: factory `redis(replica_of=None, password=None, tls=False)` -> a started
  redis_server.RedisServer on a private port (no persistence), stopped at
  teardown. `sentinels`: factory `sentinels(master, count=3)` -> started
  redis_server.RedisSentinels. Both skip the test when redis-server or
  redis-sentinel is not installed. A node's `[cluster]` settings:
  `harness.cluster_config(node_id, redis=..., sentinels=..., **keys)`.

When a test fails, the tollgate log tails and the SIPp screen/error logs are
attached to its report.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import harness
import pg_server as pg
import redis_server as rs

# The store, API and CDR tests: every test that starts a node runs on both
# store backends.
BOTH_BACKENDS = {"test_api.py", "test_api_resources.py", "test_api_auth.py", "test_cli.py",
                 "test_calls.py", "test_registrar.py", "test_shield.py", "test_policy.py"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running load test (still run by default)")
    config.addinivalue_line("markers", "postgresql: runs against a PostgreSQL store")
    config.addinivalue_line("markers", "sqlite_only: reads or writes the SQLite file itself")


def pytest_generate_tests(metafunc):
    if "store_backend" not in metafunc.fixturenames:
        return
    if Path(str(metafunc.definition.fspath)).name not in BOTH_BACKENDS:
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        return
    metafunc.parametrize("store_backend", [
        "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)


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


@pytest.fixture(scope="session")
def pg_server(ports):
    server = pg.PgServer(ports.port()).start()
    yield server
    server.cleanup()


@pytest.fixture
def store_backend(request):
    return getattr(request, "param", "sqlite")


@pytest.fixture
def tollgate(request, tmp_path, ports, store_backend):
    nodes: list[harness.Tollgate] = []
    server = request.getfixturevalue("pg_server") if store_backend == "postgresql" else None

    def make(settings: dict | None = None, provisioning: str | None = None, start: bool = True,
             listen: list[str] | None = None, name: str = "tg",
             wrapper: list[str] | None = None) -> harness.Tollgate:
        tg = harness.Tollgate(tmp_path, ports, settings=settings, provisioning=provisioning,
                              listen=listen, name=name, wrapper=wrapper, pg=server)
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


def _need_redis():
    if not rs.installed():
        pytest.skip("redis-server / redis-sentinel not installed "
                    "(apt-get install redis-server redis-sentinel; `make test` does)")


@pytest.fixture
def redis(request, ports):
    _need_redis()
    servers: list[rs.RedisServer] = []

    def make(replica_of: rs.RedisServer | None = None, password: str | None = None,
             tls: bool = False) -> rs.RedisServer:
        s = rs.RedisServer(ports.port(), replica_of=replica_of, password=password, tls=tls)
        servers.append(s)
        _artifacts(request).append((f"redis log {s.name}", s.log_tail))
        return s.start()

    yield make
    for s in servers:
        s.cleanup()


@pytest.fixture
def sentinels(request, ports):
    _need_redis()
    groups: list[rs.RedisSentinels] = []

    def make(master: rs.RedisServer, count: int = 3) -> rs.RedisSentinels:
        g = rs.RedisSentinels([ports.port() for _ in range(count)], master)
        groups.append(g)
        for s in g.sentinels:
            _artifacts(request).append((f"sentinel log {s.name}", s.log_tail))
        return g.start()

    yield make
    for g in groups:
        g.cleanup()
