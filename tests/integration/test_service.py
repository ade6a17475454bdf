"""tollgate as a systemd service, without systemd as PID 1: the unit file
passes `systemd-analyze verify`, and the node speaks the notification
protocol (sd_notify(3)) to a unix datagram socket standing in for systemd's
($NOTIFY_SOCKET): READY=1 only once its SIP and API listeners are bound,
WATCHDOG=1 at half of $WATCHDOG_USEC, STOPPING=1 (with the time the drain
needs) on SIGTERM. SIGHUP (`systemctl reload`) reads provisioning from the
store at once."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import REPO, TOLLGATE_BIN, HarnessError, mapping_gateway, routing_gateway, tail

UNIT = REPO / "debian" / "tollgate.service"


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """The unit as shipped, with ExecStart pointing at the binary under
    test (verify checks that the program exists) and its man: link dropped
    (the page is installed by the package; test_package.py verifies the
    installed unit as it is)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (make test installs systemd)")
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/tollgate run --config /etc/tollgate/tollgate.toml\n" in text
    text = text.replace("ExecStart=/usr/bin/tollgate", f"ExecStart={TOLLGATE_BIN}")
    text = text.replace("man:tollgate(8) ", "")
    unit = tmp_path / "tollgate.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stdout + r.stderr


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket the node sends to."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def next(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        self.messages.append((time.monotonic(), data))
        return data

    def wait_for(self, key: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if m is not None and key in m.split("\n"):
                return m
        raise HarnessError(f"no {key} within {timeout}s; got {[m for _, m in self.messages]}")

    def close(self):
        self.sock.close()


def _bound(kind, port: int) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def test_notify_ready_when_listening_watchdog_and_stopping(tollgate, tmp_path):
    tg = tollgate(start=False, settings={"node": {"drain_timeout": 7}})
    notify = NotifySocket(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    log = open(tmp_path / "node.log", "wb")
    proc = subprocess.Popen([TOLLGATE_BIN, "run", "--config", str(tg.config_path)], env=env,
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        first = notify.next(10)
        assert first is not None, f"no notification at all:\n{tail(tmp_path / 'node.log')}"
        assert "READY=1" in first.split("\n"), first
        # READY means serving: the SIP sockets and the API are bound by then.
        assert _bound(socket.SOCK_DGRAM, tg.port) and _bound(socket.SOCK_STREAM, tg.port)
        assert _bound(socket.SOCK_STREAM, tg.api_port)
        assert any(l.startswith("STATUS=listening on udp:127.0.0.1:") for l in first.split("\n"))

        # WATCHDOG=1 every 200 ms (half of WATCHDOG_USEC), from the event loop.
        t0 = time.monotonic()
        for _ in range(5):
            notify.wait_for("WATCHDOG=1", 2)
        assert time.monotonic() - t0 < 1.8

        proc.send_signal(signal.SIGTERM)
        stopping = notify.wait_for("STOPPING=1", 5).split("\n")
        # The drain (7 s) plus the shutdown after it, so systemd's
        # TimeoutStopSec cannot cut a long drain short.
        assert "EXTEND_TIMEOUT_USEC=22000000" in stopping, stopping
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        notify.close()


def test_sighup_reloads_provisioning_at_once(tollgate, sipp, ports):
    """`systemctl reload tollgate` sends SIGHUP: a gateway imported into the
    store is served at once, not at the next poll (a minute away here)."""
    uas_port = ports.port()
    tg = tollgate(settings={"store": {"provisioning_poll_ms": 60000}, "api": {"listen": []}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    mark = len(tg.log())
    tg.import_text(routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))  # the store, directly
    tg.signal(signal.SIGHUP)
    tg.wait_log(r"event=provisioning\.reloaded", timeout=3, start=mark)
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", hold_ms=100)
    uac.run()
    uac.assert_ok()
    uas.wait()
    uas.assert_ok()


def test_cli_finds_the_settings_without_config(tollgate, tmp_path):
    """--config defaults to $TOLLGATE_CONFIG, then /etc/tollgate/tollgate.toml;
    the store (and the API token file beside it) follow from the file."""
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))

    def cli(*args, env_config=None):
        env = {k: v for k, v in os.environ.items() if k != "TOLLGATE_CONFIG"}
        if env_config is not None:
            env["TOLLGATE_CONFIG"] = env_config
        return subprocess.run([TOLLGATE_BIN, *args], capture_output=True, text=True, timeout=20,
                              env=env, cwd=tmp_path)

    r = cli("config", "check", env_config=str(tg.config_path))
    assert r.returncode == 0 and r.stdout.strip() == f"{tg.config_path}: ok", r.stdout + r.stderr
    r = cli("gateway", "list", "--json", env_config=str(tg.config_path))
    assert r.returncode == 0 and '"cust-a"' in r.stdout, r.stderr
    # An API command finds the running node and its token the same way.
    r = cli("stats", "--json", env_config=str(tg.config_path))
    assert r.returncode == 0 and "cdr_writer" in r.stdout, r.stderr
    # --config wins over the environment.
    r = cli("config", "check", "--config", str(tg.config_path), env_config="/nonexistent.toml")
    assert r.returncode == 0, r.stderr
    if not os.path.exists("/etc/tollgate/tollgate.toml"):
        r = cli("config", "check")
        assert r.returncode == 2
        assert "/etc/tollgate/tollgate.toml" in r.stderr and "TOLLGATE_CONFIG" in r.stderr, r.stderr
