"""The Debian package as an operator gets it: `make deb` builds it into
build/deb ($TOLLGATE_DEB_DIR); this test checks it with lintian, installs
it with `dpkg -i`, runs the installed binary the way tollgate.service does
(the unit's ExecStart, as its User= and Group=, with its ambient and
bounding capabilities, a systemd-like environment with $NOTIFY_SOCKET and
$WATCHDOG_USEC, working directory /), places a SIPp call through it using
only the installed settings file, backs the store up and restores it as
root (the service's user keeps its files), and purges the package, after which
nothing of it is left on the file system (the tollgate user and group stay,
as Debian does for system users).

The node and SIPp run in a network namespace the test creates, so the
installed settings (SIP on 127.0.0.1:5060, the API on 127.0.0.1:8080) are
used unchanged without meeting anything else on this host's loopback. No
systemd PID 1 is needed. Skipped, with the reason, when not root, when no
.deb was built, or when a tollgate package is installed already (the test
would remove it)."""

from __future__ import annotations

import configparser
import json
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import REPO, HarnessError, Sipp, check_cdr, tail, wait_until

DEB_DIR = Path(os.environ.get("TOLLGATE_DEB_DIR", REPO / "build" / "deb"))
UNIT_PATH = Path("/lib/systemd/system/tollgate.service")
# Where a package could leave something behind; searched before and after.
SEARCH_ROOTS = ["/etc", "/var", "/usr", "/lib", "/opt", "/srv", "/run"]
SIP_PORT = 5060  # the installed settings' own
UAS_PORT = 5090


def _run(*cmd: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise HarnessError(f"{shlex.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def _package_files() -> set[str]:
    found = set()
    for root in SEARCH_ROOTS:
        r = _run("find", root, "-xdev", "-name", "*tollgate*", check=False, timeout=120)
        found.update(p for p in r.stdout.splitlines() if p and not p.startswith("/var/tmp/"))
    return found


def _installed() -> bool:
    r = _run("dpkg-query", "-W", "-f=${db:Status-Status}", "tollgate", check=False)
    return r.returncode == 0 and r.stdout.strip() not in ("", "not-installed")


def _unit() -> dict[str, str]:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str  # keys are case-sensitive
    p.read_string(UNIT_PATH.read_text())
    return dict(p["Service"])


def _as_the_service(unit: dict[str, str], *argv: str) -> list[str]:
    """argv run as the unit runs its ExecStart: User=, Group= and its
    supplementary groups, the ambient and bounding capability sets,
    NoNewPrivileges."""
    caps = [c.strip().lower().removeprefix("cap_") for c in unit["AmbientCapabilities"].split()]
    plus = ",".join(f"+{c}" for c in caps)
    return ["setpriv", "--reuid", unit["User"], "--regid", unit["Group"], "--init-groups",
            "--inh-caps", plus, "--ambient-caps", plus, "--bounding-set", f"-all,{plus}",
            "--no-new-privs", *argv]


@pytest.fixture
def deb():
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    debs = sorted(p for p in DEB_DIR.glob("tollgate_*.deb"))
    if not debs:
        pytest.skip(f"no tollgate_*.deb in {DEB_DIR}: run `make deb` (make test does)")
    if _installed():
        pytest.skip("a tollgate package is installed on this host; the test would purge it")
    return debs[-1]


@pytest.fixture
def netns():
    ns = f"tgpkg{os.getpid() % 100000}"
    r = _run("ip", "netns", "add", ns, check=False)
    if r.returncode != 0:
        pytest.skip(f"network namespaces are not available here: {r.stderr.strip()}")
    try:
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        yield ns
    finally:
        _run("ip", "netns", "del", ns, check=False)


def test_package_installs_serves_a_call_as_the_unit_runs_it_and_purges_clean(deb, netns,
                                                                             tmp_path, ports):
    lint = _run("lintian", "--fail-on", "error,warning", str(deb), check=False, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    before = _package_files()
    node = None
    share = Path(tempfile.mkdtemp(prefix="tollgate-pkg-"))  # readable by the tollgate user
    try:
        _run("dpkg", "-i", str(deb), timeout=300)

        # What the package installed, as Debian and the docs promise.
        unit = _unit()
        for path in ("/usr/bin/tollgate", "/etc/tollgate/tollgate.toml",
                     "/etc/sysctl.d/60-tollgate.conf", str(UNIT_PATH),
                     "/usr/share/doc/tollgate/examples/demo-provisioning.toml",
                     "/usr/share/man/man8/tollgate.8.gz"):
            assert Path(path).exists(), path
        conffiles = _run("dpkg-query", "-W", "-f=${Conffiles}", "tollgate").stdout
        assert "/etc/tollgate/tollgate.toml" in conffiles, conffiles
        assert "/etc/sysctl.d/60-tollgate.conf" in conffiles, conffiles
        user = pwd.getpwnam("tollgate")
        st = os.stat("/var/lib/tollgate")
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, 0o700)
        assert unit["User"] == "tollgate" and unit["Type"] == "notify"
        assert unit["ExecStart"] == "/usr/bin/tollgate run --config /etc/tollgate/tollgate.toml"
        # The sysctl drop-in forces nothing: every setting is commented out.
        assert all(l.startswith("#") or not l.strip()
                   for l in Path("/etc/sysctl.d/60-tollgate.conf").read_text().splitlines())
        verify = _run("systemd-analyze", "verify", "--man=no", str(UNIT_PATH), check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr

        # Provisioning through the CLI as the service user, with no --config:
        # the installed settings name the store.
        prov = share / "prov.toml"
        prov.write_text('[[mapping_gateway]]\nname = "cust"\nauth = "ip"\naddresses = ["127.0.0.1"]\n'
                        '[[routing_gateway]]\nname = "carrier"\n'
                        f'address = "127.0.0.1:{UAS_PORT}"\ntransport = "udp"\nprefixes = [""]\n'
                        "priority = 10\n")
        os.chmod(share, 0o755)
        os.chmod(prov, 0o644)
        imported = _run(*_as_the_service(unit, "/usr/bin/tollgate", "import", str(prov)),
                        cwd="/")
        assert "2 added" in imported.stdout, imported.stdout + imported.stderr

        # The node: ExecStart exactly, as the unit runs it, in the namespace.
        notify_path = share / "notify.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        os.chmod(notify_path, 0o777)  # like systemd's, writable by the service user
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "30000000"}
        log_path = tmp_path / "node.log"
        log = open(log_path, "wb")
        node = subprocess.Popen(["ip", "netns", "exec", netns,
                                 *_as_the_service(unit, *shlex.split(unit["ExecStart"]))],
                                env=env, cwd="/", stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        notify.settimeout(10)
        try:
            ready = notify.recv(4096).decode()
        except socket.timeout:
            raise HarnessError(f"the installed node sent no READY=1:\n{tail(log_path)}")
        assert "READY=1" in ready.split("\n"), ready
        status = _run("ip", "netns", "exec", netns, "ss", "-Hlnu", f"sport = :{SIP_PORT}").stdout
        assert f"127.0.0.1:{SIP_PORT}" in status, status

        # One call through it, carrier and customer in the same namespace.
        uas = Sipp(tmp_path, ports, "uas", "uas-answer.xml", port=UAS_PORT)
        uac = Sipp(tmp_path, ports, "uac", "uac-caller-bye.xml",
                   remote=f"127.0.0.1:{SIP_PORT}", hold_ms=200, caller="4420")
        for s in (uas, uac):
            s.cmd = ["ip", "netns", "exec", netns, *s.cmd]
        uas.start()
        wait_until(lambda: f":{UAS_PORT}" in _run("ip", "netns", "exec", netns, "ss", "-Hlnu",
                                                   f"sport = :{UAS_PORT}").stdout,
                   5, "the carrier UAS listening")
        try:
            uac.run()
            uas.wait()
            uac.assert_ok()
            uas.assert_ok()
        finally:
            uac.kill()
            uas.kill()

        # The CDR, read by the CLI as the service user with the default settings.
        def cdrs():
            r = _run(*_as_the_service(unit, "/usr/bin/tollgate", "cdr", "list", "--json"),
                     cwd="/", check=False)
            rows = json.loads(r.stdout) if r.returncode == 0 else []
            return rows or None
        rows = wait_until(cdrs, 5, "the call's CDR in /var/lib/tollgate")
        check_cdr(rows[0], reason="caller_bye", final_code=200, answered=True, hangup="caller",
                  gateways=["carrier"], caller="4420")

        node.terminate()
        assert node.wait(timeout=45) == 0, tail(log_path)
        log.close()
        notify.close()
        # Backup and restore as root with the default settings, as
        # docs/operations.md shows: the service's user keeps its store.
        backup = share / "backup.db"
        _run("/usr/bin/tollgate", "backup", str(backup), cwd="/")
        _run("/usr/bin/tollgate", "restore", str(backup), cwd="/")
        for f in ("tollgate.db", "tollgate.db.lock", "tollgate.db.before-restore"):
            assert Path("/var/lib/tollgate", f).stat().st_uid == user.pw_uid, f
        assert cdrs()[0]["call_id"] == rows[0]["call_id"]
    finally:
        if node is not None and node.poll() is None:
            node.kill()
            node.wait(timeout=5)
        purge = _run("dpkg", "--purge", "tollgate", check=False, timeout=300)
        shutil.rmtree(share, ignore_errors=True)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not _installed()
    left = _package_files() - before
    assert left == set(), f"left behind by purge: {sorted(left)}"
