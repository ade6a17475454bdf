"""Real Redis servers and Sentinels for the cluster tests (docs/cluster.md).

`RedisServer` runs Debian's redis-server on 127.0.0.1 and a private port, no
persistence, in a temporary directory: optionally a replica of another
(`replica_of`), with a password (`requirepass`/`masterauth`), or TLS only
(`tls=True`: a throwaway CA and server certificate; `ca_file` for the nodes).
`RedisSentinels` runs N redis-sentinel processes monitoring one master
(quorum N//2+1, down-after 1000 ms, failover-timeout 3000 ms) so a test can
kill the master (`kill9()`) and wait for the failover (`wait_failover()`).

`call(*args)` speaks RESP over a plain socket (no client library needed):
tests read and write the shared keys with it.

`cluster_config(...)` (also in harness.py) returns the `[cluster]` settings
dict of a node for `tollgate(settings={"cluster": ...})`.

Only the standard library and the redis-server / redis-sentinel binaries
are used. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"

# The Sentinel master name the fixtures use (cluster.master_name's default).
MASTER_NAME = "tollgate"


def installed() -> bool:
    return os.access(REDIS_SERVER, os.X_OK) and os.access(REDIS_SENTINEL, os.X_OK)


class RedisError(Exception):
    """An -ERR reply."""


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        out = []
        for _ in range(n):
            try:
                out.append(_read_reply(f))
            except RedisError as e:  # an error inside an array (EXEC, scripts)
                out.append(e)
        return out
    raise ConnectionError(f"bad reply line {line!r}")


def redis_call(port: int, *args, host: str = "127.0.0.1", password: str | None = None,
               timeout: float = 3.0, tls_ca: str | None = None):
    """One command on a fresh connection; returns the decoded reply."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        ctx.check_hostname = False
        sock = ctx.wrap_socket(sock)
    try:
        f = sock.makefile("rwb")
        cmds = ([["AUTH", password]] if password else []) + [list(args)]
        for cmd in cmds:
            parts = [str(a).encode() for a in cmd]
            f.write(b"*%d\r\n" % len(parts))
            for p in parts:
                f.write(b"$%d\r\n%s\r\n" % (len(p), p))
        f.flush()
        reply = None
        for _ in cmds:
            reply = _read_reply(f)
        return reply
    finally:
        sock.close()


def _tls_files(root: Path) -> dict:
    """A CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)
    ca_key, ca = root / "ca.key", root / "ca.crt"
    key, csr, crt = root / "redis.key", root / "redis.csr", root / "redis.crt"
    ext = root / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=tollgate-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return {"ca": str(ca), "cert": str(crt), "key": str(key)}


class _Process:
    START_TIMEOUT = 10.0

    def __init__(self, root: Path, name: str, port: int):
        self.root = root
        self.name = name
        self.port = port
        self.log = root / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL, no goodbye (a crashed or powered-off server)."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _spawn(self, cmd: list[str]) -> None:
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                     cwd=self.root)
        logf.close()

    def _wait_ready(self, probe) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if probe():
                    return
            except (OSError, RedisError, ConnectionError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready on port {self.port} ({last}):\n{self.log_tail()}")


class RedisServer(_Process):
    """redis-server on 127.0.0.1:port; restartable on the same port (`start()`
    after `kill9()`/`stop()`: an empty server, as after a crash without
    persistence)."""

    def __init__(self, port: int, replica_of: "RedisServer | None" = None,
                 password: str | None = None, tls: bool = False, root: Path | None = None,
                 name: str | None = None):
        self.own_root = root is None
        root = Path(root or tempfile.mkdtemp(prefix="tollgate-redis-"))
        super().__init__(root, name or f"redis-{port}", port)
        self.replica_of = replica_of
        self.password = password
        self.tls = _tls_files(root) if tls else None

    @property
    def ca_file(self) -> str | None:
        return self.tls["ca"] if self.tls else None

    def start(self) -> "RedisServer":
        cmd = [REDIS_SERVER, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--protected-mode", "no", "--dir", str(self.root), "--daemonize", "no",
               "--loglevel", "notice"]
        if self.tls:
            cmd += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls["cert"],
                    "--tls-key-file", self.tls["key"], "--tls-ca-cert-file", self.tls["ca"],
                    "--tls-auth-clients", "no"]
        else:
            cmd += ["--port", str(self.port)]
        if self.password:
            cmd += ["--requirepass", self.password, "--masterauth", self.password]
        if self.replica_of is not None:
            cmd += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        self._spawn(cmd)
        self._wait_ready(lambda: self.call("PING") == "PONG")
        return self

    def call(self, *args, timeout: float = 3.0):
        return redis_call(self.port, *args, password=self.password, timeout=timeout,
                          tls_ca=self.ca_file)

    def role(self) -> str:
        return self.call("ROLE")[0]

    def wait_synced(self, timeout: float = 10.0) -> None:
        """A replica: until its link to the master is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.call("INFO", "replication")
            if "master_link_status:up" in info:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: replication not up within {timeout}s")

    def cleanup(self) -> None:
        self.stop()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)


class RedisSentinels:
    """`count` redis-sentinel processes monitoring `master` under MASTER_NAME."""

    DOWN_AFTER_MS = 1000
    FAILOVER_TIMEOUT_MS = 3000

    def __init__(self, ports: list[int], master: RedisServer, root: Path | None = None):
        self.own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="tollgate-sentinel-"))
        self.master = master
        self.sentinels = [_Process(self.root, f"sentinel-{p}", p) for p in ports]

    @property
    def addresses(self) -> list[str]:
        return [s.address for s in self.sentinels]

    def start(self) -> "RedisSentinels":
        quorum = len(self.sentinels) // 2 + 1
        for s in self.sentinels:
            conf = self.root / f"{s.name}.conf"
            lines = [
                f"port {s.port}", "bind 127.0.0.1", "protected-mode no", "daemonize no",
                f"dir {self.root}",
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} {quorum}",
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER_NAME} {self.FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER_NAME} 1",
            ]
            if self.master.password:
                lines.append(f"sentinel auth-pass {MASTER_NAME} {self.master.password}")
            conf.write_text("\n".join(lines) + "\n")
            s._spawn([REDIS_SENTINEL, str(conf)])
        for s in self.sentinels:
            s._wait_ready(lambda s=s: self.master_address(s) is not None)
        return self

    def master_address(self, sentinel: _Process | None = None) -> str | None:
        """"ip:port" of the master as a Sentinel sees it."""
        s = sentinel or next(x for x in self.sentinels if x.running())
        r = redis_call(s.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return f"{r[0]}:{r[1]}" if r else None

    def wait_failover(self, away_from: str, timeout: float = 15.0) -> str:
        """Until every running Sentinel names a master other than `away_from`;
        returns the new master's "ip:port"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen = {self.master_address(s) for s in self.sentinels if s.running()}
            except (OSError, RedisError, ConnectionError):
                seen = set()
            if len(seen) == 1 and None not in seen and away_from not in seen:
                return seen.pop()
            time.sleep(0.1)
        raise RuntimeError(f"no failover away from {away_from} within {timeout}s")

    def stop(self) -> None:
        for s in self.sentinels:
            s.stop()

    def cleanup(self) -> None:
        self.stop()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)


def cluster_config(node_id: str, redis=None, sentinels=None, **extra) -> dict:
    """The `[cluster]` settings of one node: `redis` a RedisServer, an
    "ip:port" or a list of them (direct), or `sentinels` a RedisSentinels or
    a list of "ip:port" (then master_name is MASTER_NAME). Short timers so
    tests see failures and recoveries in a second or two; `extra` overrides
    any key (password_file, down_rule, tls, ...)."""
    def addrs(x):
        if x is None:
            return []
        if isinstance(x, RedisServer):
            return [x.address]
        if isinstance(x, RedisSentinels):
            return x.addresses
        if isinstance(x, str):
            return [x]
        return [a.address if isinstance(a, RedisServer) else a for a in x]

    c = {"node_id": node_id, "timeout_ms": 500, "connect_timeout_ms": 500,
         "reconnect_interval_ms": 200, "heartbeat_ms": 300, "node_ttl_ms": 1500}
    if redis is not None:
        c["redis"] = addrs(redis)
        if isinstance(redis, RedisServer) and redis.tls:
            c["tls"] = True
            c["tls_ca_file"] = redis.ca_file
    if sentinels is not None:
        c["sentinels"] = addrs(sentinels)
        c["master_name"] = MASTER_NAME
    c.update(extra)
    return c
