"""A real PostgreSQL server for the store tests (docs/store.md, "Backends").

`PgServer` runs Debian's PostgreSQL (postgresql-15) in a temporary directory:
initdb as an unprivileged user (initdb refuses root: the packaged `postgres`
user when the suite runs as root), trust authentication on 127.0.0.1 only, a
private port. Every tollgate node of a test gets its own database
(`create_database()`), so tests never see each other's rows. `kill9()` and
`start()` let a test take the server away mid-load and bring it back on the
same data directory and port.

Only the standard library and the `psql` client are used.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

PG_USER = "tollgate"  # the superuser initdb creates (-U): the nodes connect as it


def pg_bin_dir() -> Path | None:
    """The newest installed server's bin directory, or None."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                  key=lambda p: int(Path(p).parent.parent.name))
    return Path(dirs[-1]).parent if dirs else None


class PgServer:
    START_TIMEOUT = 30

    def __init__(self, port: int):
        self.bin = pg_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server not installed (apt-get install postgresql-15)")
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="tollgate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o700)
        self._dbs = 0
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER,
                   "--no-sync", "-E", "UTF8", "--locale=C"], timeout=120)

    def _run(self, cmd: list[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> "PgServer":
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c max_connections=300 -c shared_buffers=32MB")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.log),
                   "-w", "-t", str(self.START_TIMEOUT), "start"], timeout=self.START_TIMEOUT + 10)
        return self

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def kill9(self) -> None:
        """SIGKILL of the postmaster and its backends (what a crash looks like)."""
        pid = self.pid()
        if pid is None:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, children)]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        # Backends notice their postmaster's death within a moment; the
        # restart refuses to start while they hold the shared memory.
        for p in map(int, children):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(p, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def stop(self) -> None:
        if self.pid() is not None:
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                       "stop"], check=False, timeout=30)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases --------------------------------------------------------------

    def url(self, db: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{db}"

    def create_database(self, prefix: str = "tg") -> str:
        """A new empty database; returns its URL."""
        self._dbs += 1
        name = f"{prefix}_{os.getpid()}_{self._dbs}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, db_or_url: str, sql: str, timeout: float = 30) -> list[list[str]]:
        """Runs `sql`; returns the rows (tab-separated fields)."""
        url = db_or_url if "://" in db_or_url else self.url(db_or_url)
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-d", url, "-f", "-"], input=sql, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {r.stderr}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]
