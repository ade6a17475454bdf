"""Two attacks on secrets, performed for real:

- Reading the store. The SQLite file and its -wal/-shm hold HA1 digests
  (enough to authenticate as the account) and carrier passwords in clear;
  another local user must not be able to read them. A node and the CLI run
  under a permissive umask (0022, 0000) on a fresh store path whose
  directories do not exist yet; after imports, registrations, calls, a ban
  and API use (so the -wal and -shm exist and every kind of connection has
  opened the file), every file in the store's directory is 0600 and the
  directories tollgate created are 0700. A store chmod'ed 0644 (and a
  directory 0755) is flagged by `tollgate doctor`, and the next node start
  warns and tightens the files.
- Moving digest credentials to another target (RFC 3261 §22.4, RFC 7616
  §3.4.6). A customer's valid Proxy-Authorization for a call to 4420555 is
  put on an INVITE to 1900666 (what a man in the middle or a rewriting
  proxy does: the original request never arrives). The call must not reach
  the carrier; it is challenged again and counted as `uri_mismatch`. The
  untouched request with the same credentials still goes through, so the
  credentials were right and only the target was refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness import routing_gateway
from sipua import SDP, Ua, credentials
from test_auth import PASSWORD, USER, password_gateway


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Sets this process's umask (inherited by every tollgate it starts)
    for one test, and puts the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_to(value: int) -> None:
        os.umask(value)

    yield set_to
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-0022", "umask-0000"])
def test_store_files_are_owner_only_whatever_the_umask(tollgate, recorder, ports, tmp_path, umask,
                                                       mask):
    umask(mask)
    carrier = recorder(answer=486)
    store_dir = tmp_path / "state" / "tollgate"  # neither exists yet: tollgate creates both
    tg = tollgate(settings={"store": {"path": str(store_dir / "tg.db")}}, start=False)
    tg.store_path = store_dir / "tg.db"
    # A CLI process creates the file (provisioning with an HA1 digest and a
    # carrier password in clear).
    tg.import_text(password_gateway(register=True) +
                   routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}",
                                   auth_username="tg", auth_password="carrier-secret"))
    tg.start()
    # Every kind of connection opens the file: registrations and CDRs (the
    # node), the ban list and the number lists (CLI), the management store
    # (API threads).
    u = Ua("127.0.0.2", ports.port(), ("127.0.0.1", tg.port), user=USER)
    try:
        _, ok, _ = u.register(PASSWORD)
        assert ok is not None and ok.status == 200
        assert u.call(PASSWORD, "4420555")[-1] == 486
    finally:
        u.close()
    tg.wait_cdrs(1)
    cfg = str(tg.config_path)
    tg.cli("ban", "add", "--config", cfg, "203.0.113.9")
    tg.cli("list", "create", "--config", cfg, "blocked", "--kind", "black")
    assert tg.api("GET", "/api/v1/stats").status == 200

    db = store_dir / "tg.db"
    present = {p.name for p in store_dir.iterdir()}
    assert {"tg.db", "tg.db-wal", "tg.db-shm", "tg.db.api-token"} <= present, present
    wide = {p.name: oct(mode(p)) for p in store_dir.iterdir() if mode(p) & 0o077}
    assert not wide, f"store files others can read (umask {mask:04o}): {wide}"
    for name in ("tg.db", "tg.db-wal", "tg.db-shm", "tg.db.api-token"):
        assert mode(store_dir / name) == 0o600, (name, oct(mode(store_dir / name)))
    assert mode(store_dir) == 0o700, oct(mode(store_dir))
    assert mode(store_dir.parent) == 0o700, "every directory tollgate creates"

    # doctor: the store as the node left it passes; a world-readable one
    # (and a directory others can list) is flagged, with the fix.
    out = tg.cli("doctor", "--config", cfg, check=False).stdout
    store_lines = [l for l in out.splitlines() if str(store_dir) in l and "chmod" not in l]
    assert store_lines and all(l.split()[0] == "ok" for l in store_lines), out
    os.chmod(db, 0o644)
    os.chmod(store_dir, 0o755)
    r = tg.cli("doctor", "--config", cfg, check=False)
    assert r.returncode == 1
    flagged = [l for l in r.stdout.splitlines() if l.split()[:1] == ["CHANGE"]]
    assert any(l.split()[1] == str(db) and l.split()[2] == "0644" for l in flagged), r.stdout
    assert any(l.split()[1] == str(store_dir) for l in flagged), r.stdout
    assert f"chmod 600 {db}" in r.stdout

    # The node warns at start and tightens the files (never the directory:
    # it may be shared); doctor then only reports the directory.
    tg.stop()
    os.chmod(db, 0o644)
    mark = len(tg.log())
    tg.start()
    tg.wait_log(r"level=warn event=store\.permissions_tightened path=\S*tg\.db was=0644 now=0600",
                start=mark)
    tg.wait_log(r"level=warn event=store\.directory_open path=\S+ mode=0755", start=mark)
    assert mode(db) == 0o600
    assert mode(store_dir) == 0o755


def test_digest_credentials_for_another_number_are_refused(tollgate, recorder, ports):
    carrier = recorder(answer=486)
    tg = tollgate(settings={"auth": {"max_retry": 3}},
                  provisioning=password_gateway() +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}",
                                  prefixes=["4420", "1900"]))
    u = Ua("127.0.0.2", ports.port(), ("127.0.0.1", tg.port), user=USER)
    to_premium = lambda: [d for d in carrier.requests("INVITE") if "1900666" in d.text]
    try:
        host = f"127.0.0.1:{tg.port}"
        paid, premium = f"sip:4420555@{host}", f"sip:1900666@{host}"
        body = SDP.format(ip=u.ip)

        def invite(ruri, to_user, cseq, cred=None, timeout=3.0):
            return u.transact(u.build("INVITE", ruri, call_id="mitm", cseq=cseq, from_user=USER,
                                      to_user=to_user, from_tag="t1", body=body,
                                      auth=("Proxy-Authorization", cred) if cred else None),
                              timeout)

        # A challenge for the call, as the phone gets it.
        first = invite(paid, "4420555", 1)
        assert first is not None and first.status == 407
        cred = credentials(first.challenges()[0], USER, PASSWORD, "INVITE", paid)
        # The phone's answer, rewritten on the way to a premium number.
        moved = invite(premium, "1900666", 2, cred)
        assert not to_premium(), "the call to 1900666 reached the carrier"
        assert moved is not None and moved.status == 407, moved and moved.first_line
        assert moved.challenges(), "challenged again, like a wrong password"
        # The same credentials on the request they were computed for work:
        # only the target was refused.
        ok = invite(paid, "4420555", 3, cred)
        assert ok is not None and ok.status == 486, ok and ok.first_line
        assert [d for d in carrier.requests("INVITE") if "4420555" in d.text]

        # Counted by the retry limits like wrong passwords: auth.max_retry
        # (3) moved answers, each with a fresh nonce, suspend the pair.
        last = moved
        for cseq in (4, 5, 6):
            fresh = credentials(last.challenges()[0], USER, PASSWORD, "INVITE", paid)
            last = invite(premium, "1900666", cseq, fresh, timeout=1.0 if cseq == 6 else 3.0)
            if cseq < 6:
                assert last is not None and last.status == 407
        assert last is None, "suspended: no answer (sip.unknown_source = drop)"
    finally:
        u.close()
    assert not to_premium()
    auth = tg.api("GET", "/api/v1/stats").json()["auth"]
    assert auth["uri_mismatches"] == 4, auth
    assert auth["failures"] == 0 and auth["authenticated"] == 1, auth
    assert auth["suspensions"] >= 1, auth
    metrics = tg.api("GET", "/metrics").text
    assert 'tollgate_sip_auth_total{result="uri_mismatch"} 4' in metrics
