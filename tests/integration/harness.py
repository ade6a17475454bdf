"""Harness of the integration suite: a real `tollgate run` process, real SIPp
instances and raw sockets, all on loopback.

Everything here is bounded in time: every wait has a deadline, every child
process is stopped by its PID, every SIPp gets its own -p/-mp/-cp and -timeout.
Only the Python standard library is used (pytest lives in conftest.py and the
tests).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
TORTURE = REPO / "tests" / "torture"
TOLLGATE_BIN = os.environ.get("TOLLGATE_BIN", str(REPO / "build" / "bin" / "tollgate"))
SIPP_BIN = os.environ.get("SIPP_BIN", "sipp")


class HarnessError(AssertionError):
    """A bounded wait ran out or a helper process misbehaved."""


# ---------------------------------------------------------------------------
# Ports


class PortAllocator:
    """Hands out ports that are free right now, for UDP and TCP, on IPv4 and
    IPv6 wildcards (so 127.0.0.x and ::1 binds cannot collide either).

    The range sits below the kernel's ephemeral range (32768-60999 here) so an
    outgoing connection of another process cannot grab a port we handed out
    between the check and the bind. Picks are random so two suites running at
    the same time rarely try the same ports; a port is never handed out twice
    by one allocator.
    """

    def __init__(self, lo: int = 12000, hi: int = 32000):
        self.lo, self.hi = lo, hi
        self.given: set[int] = set()
        self.rng = random.Random(os.getpid() ^ time.time_ns())
        self.lock = threading.Lock()

    @staticmethod
    def _free(port: int) -> bool:
        held = []
        try:
            for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(family, kind)
                    held.append(s)
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((addr, port))
            return True
        except OSError:
            return False
        finally:
            for s in held:
                s.close()

    # Wide blocks (an rtpengine's media port range) come from the top of the
    # range, aligned to their width: the single ports scattered at random over
    # the rest would otherwise leave no long free run after a few hundred tests.
    WIDE_BLOCK = 16
    WIDE_REGION = 4000

    def _candidates(self, n: int):
        if n < self.WIDE_BLOCK:
            split = self.hi - self.WIDE_REGION
            for _ in range(2000):
                yield self.rng.randrange(self.lo, split - n)
            return
        bases = list(range(self.hi - self.WIDE_REGION, self.hi - n + 1, n))
        self.rng.shuffle(bases)
        yield from bases

    def block(self, n: int = 1) -> int:
        """First of `n` consecutive free ports."""
        with self.lock:
            for base in self._candidates(n):
                span = range(base, base + n)
                if any(p in self.given for p in span):
                    continue
                if all(self._free(p) for p in span):
                    self.given.update(span)
                    return base
        raise HarnessError(f"no {n} free consecutive ports in {self.lo}-{self.hi}")

    def port(self) -> int:
        return self.block(1)


# ---------------------------------------------------------------------------
# Small utilities


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Polls `predicate` until it returns something truthy; returns that value.
    Raises HarnessError naming `what` when `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(text.splitlines()[-lines:])


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def toml_tables(tables: dict[str, dict]) -> str:
    out = []
    for name, keys in tables.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {toml_value(v)}" for k, v in keys.items())
        out.append("")
    return "\n".join(out)


def mapping_gateway(name: str, addresses: Iterable[str], auth: str = "ip", **extra) -> str:
    keys = {"name": name, "auth": auth, "addresses": list(addresses), **extra}
    return "[[mapping_gateway]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())


def routing_gateway(name: str, address: str, prefixes: Iterable[str] = ("",), priority: int = 10,
                    transport: str = "udp", **extra) -> str:
    keys = {"name": name, "address": address, "transport": transport,
            "prefixes": list(prefixes), "priority": priority, **extra}
    return "[[routing_gateway]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())


# ---------------------------------------------------------------------------
# cluster ([cluster] on a shared Redis; redis_server.py runs the servers)


def cluster_config(node_id: str, redis=None, sentinels=None, **keys) -> dict:
    """The `[cluster]` settings of one node, for
    `tollgate({"cluster": cluster_config("a", redis=r)}, name="a", listen=[...])`:
    `redis` a RedisServer (or "ip:port", or a list), or `sentinels` a
    RedisSentinels (or a list of "ip:port"); short timers (heartbeat 300 ms,
    node_ttl 1500 ms, timeout 500 ms, reconnect 200 ms); `keys` override or add
    any key (password_file, down_rule, key_prefix, tls, advertise, ...)."""
    import redis_server
    return redis_server.cluster_config(node_id, redis=redis, sentinels=sentinels, **keys)


def cluster_toml(node_id: str, redis=None, sentinels=None, **keys) -> str:
    """The same as TOML text ("[cluster]" and its keys)."""
    return toml_tables({"cluster": cluster_config(node_id, redis=redis, sentinels=sentinels, **keys)})


def cluster_listen(ports: "PortAllocator", ip: str) -> list[str]:
    """Listeners of a cluster node on its own loopback address (127.0.0.x):
    UDP and TCP on one fresh port."""
    port = ports.port()
    return [f"udp:{ip}:{port}", f"tcp:{ip}:{port}"]


# ---------------------------------------------------------------------------
# tollgate


class Tollgate:
    """One tollgate node: its settings file, store, provisioning and (once
    started) its `tollgate run` process. All CLI calls go through `cli()`."""

    READY_TIMEOUT = 5.0

    def __init__(self, workdir: Path, ports: PortAllocator, settings: dict | None = None,
                 provisioning: str | None = None, listen: list[str] | None = None,
                 name: str = "tg", wrapper: list[str] | None = None, pg=None):
        self.workdir = Path(workdir)
        # Command prefix for `tollgate run` (e.g. ["ip", "netns", "exec", ns]);
        # it must exec tollgate so that the PID stays tollgate's.
        self.wrapper = list(wrapper or [])
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = ports.port()
        self.listen = listen or [f"udp:127.0.0.1:{self.port}", f"tcp:127.0.0.1:{self.port}"]
        self.config_path = self.workdir / f"{name}.toml"
        self.store_path = self.workdir / f"{name}.db"
        self.log_path = self.workdir / f"{name}.log"
        self.api_port = ports.port()
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self._imports = 0
        tables: dict[str, dict] = {
            "sip": {"listen": self.listen},
            "store": {"path": str(self.store_path)},
            "log": {"level": "info"},
            "api": {"listen": [f"127.0.0.1:{self.api_port}"]},
        }
        # A PostgreSQL store (pg: the session's pg_server.PgServer): a database
        # of this node's own unless the settings name one (nodes sharing one).
        self.pg = pg
        if pg is not None:
            tables["store"]["backend"] = "postgresql"
            if "url" not in (settings or {}).get("store", {}):
                tables["store"]["url"] = pg.create_database()
        for table, keys in (settings or {}).items():
            tables.setdefault(table, {}).update(keys)
        self.settings = tables
        self.config_path.write_text(toml_tables(tables))
        if provisioning is not None:
            self.import_text(provisioning)

    # -- CLI --------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [TOLLGATE_BIN, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
        if check and r.returncode != 0:
            raise HarnessError(f"{' '.join(cmd)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def import_text(self, text: str, prune: bool = False) -> subprocess.CompletedProcess:
        self._imports += 1
        path = self.workdir / f"{self.name}-prov{self._imports}.toml"
        path.write_text(text)
        args = ["import", "--config", str(self.config_path), str(path)]
        if prune:
            args.append("--prune")
        return self.cli(*args)

    def cdrs(self, limit: int = 50) -> list[dict]:
        r = self.cli("cdr", "list", "--config", str(self.config_path), "--json", "--limit", str(limit))
        return json.loads(r.stdout)

    def wait_cdrs(self, count: int = 1, timeout: float = 10,
                  where: Callable[[dict], bool] | None = None, limit: int | None = None) -> list[dict]:
        """Polls `cdr list` until at least `count` rows (matching `where`) exist;
        returns the matching rows, newest first."""
        lim = limit or max(50, count * 2)

        def ready():
            rows = [c for c in self.cdrs(lim) if where is None or where(c)]
            return rows if len(rows) >= count else None

        return wait_until(ready, timeout, f"{count} CDR(s) in {self.store_path}", interval=0.1)

    # -- the store's tables, on either backend (tests that look inside) -------

    def db_rows(self, sql: str) -> list[tuple]:
        """Rows of a SELECT on the node's store (SQLite file or its PostgreSQL
        database). PostgreSQL values come back as text."""
        if self.pg is not None:
            return [tuple(r) for r in self.pg.psql(self.settings["store"]["url"], sql)]
        import sqlite3
        con = sqlite3.connect(self.store_path)
        try:
            return list(con.execute(sql))
        finally:
            con.close()

    def db_execute(self, sql: str, rows: list[tuple]) -> None:
        """Runs `sql` (with ? placeholders) once per row, in one transaction."""
        if self.pg is not None:
            def lit(v):
                if v is None:
                    return "NULL"
                if isinstance(v, (int, float)):
                    return str(v)
                return "'" + str(v).replace("'", "''") + "'"
            stmts = []
            for row in rows:
                parts = sql.split("?")
                assert len(parts) == len(row) + 1, "one value per placeholder"
                stmts.append("".join(p + (lit(row[i]) if i < len(row) else "")
                                     for i, p in enumerate(parts)))
            self.pg.psql(self.settings["store"]["url"], "BEGIN; " + "; ".join(stmts) + "; COMMIT")
            return
        import sqlite3
        con = sqlite3.connect(self.store_path)
        with con:
            for row in rows:
                con.execute(sql, row)
        con.close()

    def db_dump(self) -> str:
        """Every row of the store as text (to look for secrets)."""
        if self.pg is not None:
            r = subprocess.run(["pg_dump", "--data-only", "-d", self.settings["store"]["url"]],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise HarnessError(f"pg_dump: {r.stderr}")
            return r.stdout
        import sqlite3
        con = sqlite3.connect(self.store_path)
        try:
            return "\n".join(con.iterdump())
        finally:
            con.close()

    # -- management API -----------------------------------------------------

    @property
    def token_path(self) -> Path:
        return Path(str(self.store_path) + ".api-token")

    def api_token(self) -> str:
        """The local admin token the node writes at start (what the CLI uses)."""
        return self.token_path.read_text().strip()

    def api(self, method: str, path: str, body=None, token: str | None = "local",
            source: str | None = None, headers: dict | None = None,
            timeout: float = 10, tls_context=None) -> "ApiResponse":
        """One request to the node's API over real HTTP on loopback. `token`
        "local" uses the node's token file, None sends no Authorization."""
        return api_request("127.0.0.1", self.api_port, method, path, body=body,
                           token=self.api_token() if token == "local" else token,
                           source=source, headers=headers, timeout=timeout,
                           tls_context=tls_context)

    # -- process ------------------------------------------------------------

    def start(self) -> "Tollgate":
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*self.wrapper, TOLLGATE_BIN, "run", "--config", str(self.config_path)],
                                     stdout=self._log_file, stderr=self._log_file,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.READY_TIMEOUT
        while time.monotonic() < deadline:
            if "event=node.ready" in self.log():
                return self
            if self.proc.poll() is not None:
                raise HarnessError(f"tollgate exited {self.proc.returncode} before node.ready:\n{self.log_tail()}")
            time.sleep(0.02)
        raise HarnessError(f"no event=node.ready within {self.READY_TIMEOUT}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise HarnessError(f"tollgate (pid {self.proc.pid}) still running after {timeout}s") from e

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        return self.proc.returncode

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=5)

    # -- logs ---------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return tail(self.log_path, lines)

    def wait_log(self, pattern: str, timeout: float = 5, start: int = 0) -> re.Match:
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log(), start), timeout, f"log line /{pattern}/")

    def stats(self, timeout: float = 5) -> dict[str, str]:
        """The node's counters now: SIGUSR1 makes it log a node.stats line,
        whose fields are returned (values as strings)."""
        before = self.log().count("event=node.stats")
        self.signal(signal.SIGUSR1)
        wait_until(lambda: self.log().count("event=node.stats") > before, timeout, "a node.stats line")
        line = [l for l in self.log().splitlines() if "event=node.stats" in l][-1]
        return parse_logfmt(line)

    def ban_why(self, address: str) -> dict:
        """`tollgate ban why --json ADDRESS` as a dict."""
        r = self.cli("ban", "why", "--config", str(self.config_path), "--json", address, check=False)
        if r.returncode not in (0, 1):
            raise HarnessError(f"ban why exited {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)


_LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """key=value pairs of one log line; quoted values unquoted."""
    out = {}
    for k, v in _LOGFMT.findall(line):
        if v.startswith('"'):
            v = json.loads(v)
        out[k] = v
    return out


def counts_field(value: str) -> dict[str, int]:
    """A "reason:n,reason:n" stats field as a dict."""
    out = {}
    for part in filter(None, value.split(",")):
        k, _, n = part.partition(":")
        out[k] = int(n)
    return out


def self_signed_certificate(workdir: Path, name: str = "api",
                            san: str = "IP:127.0.0.1") -> tuple[Path, Path]:
    """A self-signed P-256 certificate and its key (openssl command line)
    for an API or TLS listener; returns (certificate, key) paths."""
    cert, key = Path(workdir) / f"{name}.crt", Path(workdir) / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=tollgate",
                    "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


# ---------------------------------------------------------------------------
# Management API client (urllib is enough; http.client for the source address)


@dataclass
class ApiResponse:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode())

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def api_request(host: str, port: int, method: str, path: str, body=None, token: str | None = None,
                source: str | None = None, headers: dict | None = None, timeout: float = 10,
                tls_context=None) -> ApiResponse:
    import http.client
    src = (source, 0) if source else None
    if tls_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, source_address=src,
                                           context=tls_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=src)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return ApiResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# SIPp


@dataclass
class SipMessage:
    direction: str  # "sent" or "received"
    transport: str  # "UDP" / "TCP"
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0] if self.is_request else ""

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.first_line.split()[1])

    @property
    def head(self) -> str:
        return re.split(r"\r?\n\r?\n", self.text, maxsplit=1)[0]

    @property
    def body(self) -> str:
        parts = re.split(r"\r?\n\r?\n", self.text, maxsplit=1)
        return parts[1] if len(parts) > 1 else ""

    def header(self, name: str) -> str | None:
        for line in self.head.splitlines()[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def headers(self, name: str) -> list[str]:
        out = []
        for line in self.head.splitlines()[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                out.append(v.strip())
        return out

    def __repr__(self) -> str:
        return f"<{self.direction} {self.transport} {self.first_line!r}>"


_MSG_SPLIT = re.compile(r"^-{20,} [^\n]*\n(?P<transport>\w+) message (?P<dir>sent|received)[^\n]*\n\n",
                        re.M)


def parse_sipp_messages(text: str) -> list[SipMessage]:
    """Parses a SIPp -trace_msg file into messages in order."""
    out = []
    matches = list(_MSG_SPLIT.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end():end].rstrip("\n") + "\n"
        out.append(SipMessage(m.group("dir"), m.group("transport"), body))
    return out


class Sipp:
    """One SIPp instance, run in the foreground as our child (no -bg), bounded
    by its own -timeout and by wait(). Every trace file is named explicitly in
    the test's directory."""

    def __init__(self, workdir: Path, ports: PortAllocator, name: str, scenario: str,
                 remote: str | None = None, ip: str = "127.0.0.1", transport: str = "u1",
                 calls: int = 1, timeout: float = 20, service: str = "15551234567",
                 caller: str = "1001", hold_ms: int | None = None, rate: float | None = None,
                 limit: int | None = None, trace_msg: bool = True, port: int | None = None,
                 keys: dict[str, str] | None = None, extra: Iterable[str] = ()):
        self.workdir = Path(workdir)
        self.name = name
        self.port = port or ports.port()
        self.ip = ip
        self.transport = transport
        self.timeout = timeout
        self.calls = calls
        prefix = self.workdir / f"sipp-{name}"
        self.screen_file = Path(f"{prefix}-screen.log")
        self.error_file = Path(f"{prefix}-errors.log")
        self.message_file = Path(f"{prefix}-messages.log")
        self.stat_file = Path(f"{prefix}-stats.csv")
        self.out_file = Path(f"{prefix}-stdout.log")
        cmd = [SIPP_BIN]
        if scenario in ("uac", "uas"):
            cmd += ["-sn", scenario]
        else:
            path = Path(scenario)
            if not path.is_absolute():
                path = SCENARIOS / scenario
            if not path.exists():
                raise HarnessError(f"no scenario {path}")
            cmd += ["-sf", str(path)]
        if remote:
            cmd.append(remote)
        cmd += ["-i", ip, "-p", str(self.port), "-mp", str(ports.block(4)), "-cp", str(ports.port()),
                "-t", transport, "-m", str(calls), "-s", service, "-key", "caller", caller,
                "-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin",
                "-trace_err", "-error_file", str(self.error_file),
                "-trace_screen", "-screen_file", str(self.screen_file),
                "-trace_stat", "-stf", str(self.stat_file), "-fd", "1"]
        if trace_msg:
            cmd += ["-trace_msg", "-message_file", str(self.message_file)]
        if hold_ms is not None:
            cmd += ["-d", str(hold_ms)]
        if rate is not None:
            cmd += ["-r", str(rate), "-rp", "1000"]
        if limit is not None:
            cmd += ["-l", str(limit)]
        for k, v in (keys or {}).items():
            cmd += ["-key", k, v]
        cmd += list(extra)
        self.cmd = cmd
        self.proc: subprocess.Popen | None = None
        self._out = None

    def start(self) -> "Sipp":
        self._out = open(self.out_file, "wb")
        # cwd = the test dir, so even an unnamed trace lands there.
        self.proc = subprocess.Popen(self.cmd, cwd=self.workdir, stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_listening(self, timeout: float = 5) -> "Sipp":
        """A UAS is ready once its SIP socket is bound (we cannot bind it)."""
        def bound():
            if self.proc and self.proc.poll() is not None:
                raise HarnessError(f"sipp {self.name} exited {self.proc.returncode}:\n{self.report()}")
            fam = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
            kind = socket.SOCK_STREAM if self.transport.startswith("t") else socket.SOCK_DGRAM
            s = socket.socket(fam, kind)
            try:
                s.bind((self.ip, self.port))
                return False
            except OSError:
                return True
            finally:
                s.close()
        wait_until(bound, timeout, f"sipp {self.name} listening on {self.ip}:{self.port}", 0.02)
        return self

    def wait(self, timeout: float | None = None) -> int:
        assert self.proc is not None
        bound = timeout if timeout is not None else self.timeout + 10
        try:
            rc = self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired as e:
            self.kill()
            raise HarnessError(f"sipp {self.name} still running after {bound}s:\n{self.report()}") from e
        if self._out:
            self._out.close()
            self._out = None
        return rc

    def run(self, timeout: float | None = None) -> int:
        return self.start().wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self._out:
            self._out.close()
            self._out = None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    def messages(self) -> list[SipMessage]:
        try:
            return parse_sipp_messages(self.message_file.read_text(errors="replace"))
        except FileNotFoundError:
            return []

    def received(self, method_or_status=None) -> list[SipMessage]:
        out = [m for m in self.messages() if m.direction == "received"]
        if method_or_status is None:
            return out
        if isinstance(method_or_status, int):
            return [m for m in out if m.status == method_or_status]
        return [m for m in out if m.method == method_or_status]

    def sent(self, method_or_status=None) -> list[SipMessage]:
        out = [m for m in self.messages() if m.direction == "sent"]
        if method_or_status is None:
            return out
        if isinstance(method_or_status, int):
            return [m for m in out if m.status == method_or_status]
        return [m for m in out if m.method == method_or_status]

    def stats(self) -> dict[str, str]:
        """Last row of the -trace_stat CSV (cumulative counters)."""
        try:
            rows = list(csv.reader(self.stat_file.open(errors="replace"), delimiter=";"))
        except FileNotFoundError:
            return {}
        if len(rows) < 2:
            return {}
        return dict(zip(rows[0], rows[-1]))

    def counts(self) -> tuple[int, int]:
        """(successful, failed) calls, from the stat CSV."""
        s = self.stats()
        return int(s.get("SuccessfulCall(C)", 0) or 0), int(s.get("FailedCall(C)", 0) or 0)

    def report(self) -> str:
        parts = [f"$ {' '.join(self.cmd)}", f"exit: {self.returncode}",
                 "--- screen ---", tail(self.screen_file, 40),
                 "--- errors ---", tail(self.error_file, 40),
                 "--- stdout ---", tail(self.out_file, 20)]
        return "\n".join(parts)

    def assert_ok(self) -> None:
        rc = self.returncode
        ok, failed = self.counts()
        if rc != 0 or failed or ok < self.calls:
            raise HarnessError(f"sipp {self.name}: exit {rc}, {ok} successful, {failed} failed "
                               f"(wanted {self.calls} ok)\n{self.report()}")


# ---------------------------------------------------------------------------
# Raw SIP over sockets


_call_counter = 0


def new_call_id(tag: str = "itest") -> str:
    global _call_counter
    _call_counter += 1
    return f"{tag}-{os.getpid()}-{_call_counter}-{random.getrandbits(32):08x}"


def sip_request(method: str, ruri: str, src: tuple[str, int], *, call_id: str | None = None,
                from_user: str = "2002", to_user: str = "15551234567", cseq: int = 1,
                body: str = "", transport: str = "UDP") -> tuple[bytes, str]:
    """A minimal well-formed request from `src`; returns (bytes, call_id)."""
    call_id = call_id or new_call_id(method.lower())
    host = f"[{src[0]}]" if ":" in src[0] else src[0]
    branch = f"z9hG4bK-{random.getrandbits(48):012x}"
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host}:{src[1]};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{from_user}@{host}:{src[1]}>;tag={random.getrandbits(32):08x}",
        f"To: <sip:{to_user}@{host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{from_user}@{host}:{src[1]}>",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode(), call_id


SDP = ("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@dataclass
class Datagram:
    data: bytes
    source: tuple

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def status(self) -> int:
        m = re.match(r"SIP/2\.0 (\d{3})", self.text)
        return int(m.group(1)) if m else 0

    def header(self, name: str) -> str | None:
        head = re.split(r"\r?\n\r?\n", self.text, maxsplit=1)[0]
        for line in head.splitlines()[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None


class UdpPeer:
    """A raw UDP socket bound to (ip, port), for requests tollgate must answer
    (or ignore) and for checking silence."""

    def __init__(self, ip: str, port: int):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.addr = (ip, port)

    def send(self, data: bytes, dest: tuple) -> None:
        self.sock.sendto(data, dest)

    def recv_all(self, window: float) -> list[Datagram]:
        """Everything that arrives within `window` seconds."""
        out = []
        deadline = time.monotonic() + window
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                return out
            out.append(Datagram(data, src))

    def recv_until(self, done: Callable[[Datagram], bool], timeout: float,
                   keep: Callable[[Datagram], bool] = lambda d: True) -> list[Datagram]:
        """Datagrams (those `keep` accepts) until one satisfies `done` or the
        timeout passes."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                return out
            d = Datagram(data, src)
            if not keep(d):
                continue
            out.append(d)
            if done(d):
                return out

    def close(self) -> None:
        self.sock.close()


class UdpRecorder:
    """A UDP socket that records every datagram it gets, on a thread, and
    (optionally) answers INVITEs with a fixed final status like a trivial
    carrier: `answer=486` turns it into a busy carrier for any INVITE.
    With `answer_options` set (it may be flipped while running) it answers
    OPTIONS keep-alives 200, like a live carrier."""

    def __init__(self, ip: str, port: int, answer: int | None = None,
                 answer_options: bool = False):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.1)
        self.addr = (ip, port)
        self.answer = answer
        self.answer_options = answer_options
        self.datagrams: list[Datagram] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            d = Datagram(data, src)
            self.datagrams.append(d)
            if self.answer and d.text.startswith("INVITE "):
                self.sock.sendto(self._response(d, self.answer), src)
            elif self.answer_options and d.text.startswith("OPTIONS "):
                self.sock.sendto(self._response(d, 200), src)

    @staticmethod
    def _response(req: Datagram, status: int) -> bytes:
        head = re.split(r"\r?\n\r?\n", req.text, maxsplit=1)[0].splitlines()
        keep = []
        for line in head[1:]:
            k = line.partition(":")[0].strip().lower()
            if k in ("via", "v", "from", "f", "call-id", "i", "cseq"):
                keep.append(line)
            elif k in ("to", "t"):
                keep.append(line + ";tag=rec" + format(random.getrandbits(24), "06x"))
        if status in (401, 407):  # a carrier that challenges (and never accepts)
            name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            keep.append(f'{name}: Digest realm="carrier", nonce="{random.getrandbits(64):016x}", '
                        'algorithm=MD5, qop="auth"')
        reason = {200: "OK", 486: "Busy Here", 503: "Service Unavailable"}.get(status, "Whatever")
        return (f"SIP/2.0 {status} {reason}\r\n" + "\r\n".join(keep) +
                "\r\nContent-Length: 0\r\n\r\n").encode()

    def requests(self, method: str) -> list[Datagram]:
        return [d for d in list(self.datagrams) if d.text.startswith(method + " ")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


# ---------------------------------------------------------------------------
# CDR checks


ISO_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CDR_KEYS = ["id", "call_id", "start", "answer", "end", "caller", "callee", "source", "transport",
            "mapping_gateway", "routing_gateway", "gateways_tried", "final_code", "duration_ms",
            "hangup", "reason", "caller_raw", "callee_raw"]


def check_cdr(cdr: dict, *, reason: str, final_code: int, answered: bool, hangup: str | None = "",
              gateways: list[str] | None = None, caller: str | None = None,
              callee: str | None = None, mapping_gateway: str | None = None,
              transport: str | None = None, source: str | None = None,
              call_id: str | None = None, min_duration_ms: int | None = None,
              max_duration_ms: int | None = None) -> None:
    """Asserts one CDR row field by field, with a readable message.
    `hangup=None` skips the hangup check (asserted apart where it is a known bug)."""
    where = json.dumps(cdr)
    assert list(cdr.keys())[:len(CDR_KEYS)] == CDR_KEYS, f"CDR keys/order: {where}"
    assert cdr["reason"] == reason, f"reason {cdr['reason']!r} != {reason!r}: {where}"
    assert cdr["final_code"] == final_code, f"final_code {cdr['final_code']} != {final_code}: {where}"
    if hangup is not None:
        assert cdr["hangup"] == hangup, f"hangup {cdr['hangup']!r} != {hangup!r}: {where}"
    assert ISO_RX.match(cdr["start"]) and ISO_RX.match(cdr["end"]), where
    assert cdr["start"] <= cdr["end"], where
    if answered:
        assert cdr["answer"] is not None and ISO_RX.match(cdr["answer"]), f"unanswered: {where}"
        assert cdr["start"] <= cdr["answer"] <= cdr["end"], where
        assert cdr["duration_ms"] >= 0, where
    else:
        assert cdr["answer"] is None, f"answer should be null: {where}"
        assert cdr["duration_ms"] == 0, f"duration of an unanswered call: {where}"
    if min_duration_ms is not None:
        assert cdr["duration_ms"] >= min_duration_ms, f"duration < {min_duration_ms}: {where}"
    if max_duration_ms is not None:
        assert cdr["duration_ms"] <= max_duration_ms, f"duration > {max_duration_ms}: {where}"
    if gateways is not None:
        assert cdr["gateways_tried"] == gateways, f"gateways_tried {cdr['gateways_tried']} != {gateways}: {where}"
        assert cdr["routing_gateway"] == (gateways[-1] if gateways else ""), where
    for key, want in (("caller", caller), ("callee", callee), ("mapping_gateway", mapping_gateway),
                      ("transport", transport), ("source", source), ("call_id", call_id)):
        if want is not None:
            assert cdr[key] == want, f"{key} {cdr[key]!r} != {want!r}: {where}"


# ---------------------------------------------------------------------------
# Network namespaces


class NamespacesUnavailable(Exception):
    """This machine does not let us create network namespaces (not root, or
    no CAP_SYS_ADMIN/CAP_NET_ADMIN): namespace tests skip with this reason."""


_netns_counter = 0


class NetnsPair:
    """Two network namespaces, `a` (a remote host) and `b` (the host under
    test), joined by a veth pair. Every address lives inside them: nothing
    in the caller's namespace changes. Names carry our PID, so concurrent
    suites do not collide. Use as a context manager; `close()` deletes both
    namespaces (the veth pair goes with them)."""

    def __init__(self):
        global _netns_counter
        _netns_counter += 1
        tag = f"{os.getpid() % 100000}{_netns_counter}"
        self.a, self.b = f"tga{tag}", f"tgb{tag}"
        self.veth_a, self.veth_b = f"tva{tag}"[:15], f"tvb{tag}"[:15]
        net = 10 + (os.getpid() + _netns_counter) % 200
        self.ip_a, self.ip_b = f"10.251.{net}.1", f"10.251.{net}.2"
        self.ip_other = f"10.251.{net}.3"  # on the link, owned by nobody
        self._made: list[str] = []

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=20)

    def __enter__(self) -> "NetnsPair":
        for ns in (self.a, self.b):
            r = self._run("ip", "netns", "add", ns)
            if r.returncode != 0:
                self.close()
                raise NamespacesUnavailable(f"`ip netns add` failed: {r.stderr.strip()}")
            self._made.append(ns)
        steps = [
            ["ip", "link", "add", self.veth_a, "type", "veth", "peer", "name", self.veth_b],
            ["ip", "link", "set", self.veth_a, "netns", self.a],
            ["ip", "link", "set", self.veth_b, "netns", self.b],
            ["ip", "-n", self.a, "addr", "add", f"{self.ip_a}/24", "dev", self.veth_a],
            ["ip", "-n", self.b, "addr", "add", f"{self.ip_b}/24", "dev", self.veth_b],
            ["ip", "-n", self.a, "link", "set", "lo", "up"],
            ["ip", "-n", self.b, "link", "set", "lo", "up"],
            ["ip", "-n", self.a, "link", "set", self.veth_a, "up"],
            ["ip", "-n", self.b, "link", "set", self.veth_b, "up"],
        ]
        for cmd in steps:
            r = self._run(*cmd)
            if r.returncode != 0:
                self.close()
                raise NamespacesUnavailable(f"{' '.join(cmd)}: {r.stderr.strip()}")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for ns in self._made:
            self._run("ip", "netns", "del", ns)
        self._made = []

    def exec(self, ns: str, *cmd: str, timeout: float = 30,
             check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError(f"in {ns}: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def peer(self, *args: str, timeout: float = 30) -> dict:
        """netns_peer.py in namespace `a` (send) and its JSON result."""
        r = self.exec(self.a, sys.executable, str(HERE / "netns_peer.py"), *args, timeout=timeout)
        return json.loads(r.stdout)

    def wrapper(self, ns: str) -> list[str]:
        """Command prefix that runs a program inside `ns` (exec'ed: the PID stays)."""
        return ["ip", "netns", "exec", ns]


# ---------------------------------------------------------------------------
# rtpengine (media anchoring tests): one userspace engine per test


RTPENGINE_BIN = os.environ.get("RTPENGINE_BIN", "/usr/bin/rtpengine")


def bencode(v) -> bytes:
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return str(len(v)).encode() + b":" + v
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(type(v))


def bdecode(data: bytes, i: int = 0):
    """(value, next index); strings come back as str (latin-1 safe enough for ng)."""
    c = data[i:i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[0::2], items[1::2])), i + 1
    j = data.index(b":", i)
    n = int(data[i:j])
    return data[j + 1:j + 1 + n].decode("latin-1"), j + 1 + n


class Rtpengine:
    """A real rtpengine in userspace (no kernel module: --table=-1) on
    127.0.0.1 with its own ng control port and media port range, started and
    stopped by the test. delete-delay 0 so its session count is honest."""

    def __init__(self, workdir: Path, ports: PortAllocator, name: str = "rtpe", span: int = 60):
        self.workdir = Path(workdir)
        self.name = name
        self.ng_port = ports.port()
        self.cli_port = ports.port()
        self.port_min = ports.block(span)
        self.port_max = self.port_min + span - 1
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self._cookie = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ng_port}"

    def start(self) -> "Rtpengine":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [RTPENGINE_BIN, "--config-file=none", "--foreground", "--table=-1",
             "--interface=127.0.0.1", f"--listen-cli=127.0.0.1:{self.cli_port}",
             f"--listen-ng=127.0.0.1:{self.ng_port}", f"--port-min={self.port_min}",
             f"--port-max={self.port_max}", "--log-stderr", "--log-level=6",
             "--delete-delay=0", "--num-threads=2"],
            stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.ping(timeout=0.2), 5, f"rtpengine {self.name} answering ng ping")
        return self

    def ng(self, command: dict, timeout: float = 2.0) -> dict:
        self._cookie += 1
        cookie = f"t{os.getpid()}_{self._cookie}_{time.monotonic_ns()}".encode()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.sendto(cookie + b" " + bencode(command), ("127.0.0.1", self.ng_port))
            data = s.recv(65535)
        finally:
            s.close()
        _, _, body = data.partition(b" ")
        return bdecode(body)[0]

    def ping(self, timeout: float = 1.0) -> bool:
        try:
            return self.ng({"command": "ping"}, timeout=timeout).get("result") == "pong"
        except OSError:
            return False

    def calls(self) -> list[str]:
        return self.ng({"command": "list"}).get("calls", [])

    def sessions(self) -> int:
        st = self.ng({"command": "statistics"})["statistics"]["currentstatistics"]
        return int(st["sessionsown"])

    def wait_no_sessions(self, timeout: float = 5) -> None:
        wait_until(lambda: self.sessions() == 0 and not self.calls(), timeout,
                   f"rtpengine {self.name} back at zero sessions (calls: {self.calls()})")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log:
            self._log.close()
            self._log = None
