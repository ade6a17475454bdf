"""Management logins over real HTTP: users and roles, sessions (expiry,
logout), API tokens (shown once, stored hashed), brute-force lockout per
(account, source IP) and per source IP, the account scope, lock expiry and
admin unlock, same answer whether the user exists or not, password policy
rules, and the audit log of all of it."""

from __future__ import annotations

import sqlite3
import statistics
import time

import pytest

from harness import wait_until

GOOD = "correct horse battery"
OTHER_GOOD = "purple elephant umbrella"


def _mk_user(tg, name, role, password=GOOD):
    r = tg.api("POST", "/api/v1/users", {"name": name, "role": role, "password": password})
    assert r.status == 201, r.text
    return r.json()


def _login(tg, user, password, source="127.0.0.1"):
    return tg.api("POST", "/api/v1/login", {"username": user, "password": password}, token=None,
                  source=source)


def test_roles_sessions_logout_and_tokens(tollgate):
    tg = tollgate()
    _mk_user(tg, "alice", "admin")
    _mk_user(tg, "olga", "operator", OTHER_GOOD)
    _mk_user(tg, "rita", "readonly", "quiet river stone")
    r = _login(tg, "rita", "quiet river stone")
    assert r.status == 200, r.text
    s = r.json()
    assert s["role"] == "readonly" and s["token"].startswith("tgs_")
    rita = s["token"]
    assert tg.api("GET", "/api/v1/whoami", token=rita).json() == \
        {"user": "rita", "role": "readonly", "auth": "session"}
    # readonly reads, cannot change or see admin things.
    assert tg.api("GET", "/api/v1/mapping-gateways", token=rita).status == 200
    r = tg.api("POST", "/api/v1/mapping-gateways",
               {"name": "x", "auth": "ip", "addresses": ["192.0.2.1"]}, token=rita)
    assert r.status == 403 and r.json()["error"] == "forbidden"
    assert tg.api("GET", "/api/v1/users", token=rita).status == 403
    olga = _login(tg, "olga", OTHER_GOOD).json()["token"]
    r = tg.api("POST", "/api/v1/mapping-gateways",
               {"name": "x", "auth": "ip", "addresses": ["192.0.2.1"]}, token=olga)
    assert r.status == 201, r.text
    assert tg.api("GET", "/api/v1/audit", token=olga).status == 403
    # Logout ends the session.
    assert tg.api("POST", "/api/v1/logout", token=rita).status == 204
    assert tg.api("GET", "/api/v1/whoami", token=rita).status == 401

    # API token: shown once, stored as a SHA-256 digest only.
    r = tg.api("POST", "/api/v1/tokens", {"name": "prometheus", "role": "readonly"}, token=olga)
    assert r.status == 201, r.text
    tok = r.json()
    secret = tok.pop("token")
    assert secret.startswith("tgt_") and tok["role"] == "readonly" and tok["user"] == "olga"
    listed = tg.api("GET", "/api/v1/tokens", token=olga).json()["tokens"]
    assert listed == [tok] and "token" not in listed[0]
    stored = tg.db_rows("SELECT * FROM mgmt_token")
    dump = tg.db_dump()
    assert len(stored) == 1 and secret not in dump and secret[4:] not in dump
    assert tg.api("GET", "/metrics", token=secret).status == 200
    assert tg.api("DELETE", "/api/v1/calls/1", token=secret).status == 403  # token role readonly
    r = tg.api("POST", "/api/v1/tokens", {"name": "too-much", "role": "admin"}, token=olga)
    assert r.status == 400 and r.json()["field"] == "role"
    assert tg.api("DELETE", f"/api/v1/tokens/{tok['id']}", token=olga).status == 204
    assert tg.api("GET", "/metrics", token=secret).status == 401
    # The CLI creates tokens for a named user and prints the secret once.
    out = tg.cli("token", "create", "--name", "ci", "--user", "rita", "--config",
                 str(tg.config_path)).stdout
    assert '"token": "tgt_' in out
    # Passwords never reach the store or the audit log in the clear.
    dump = tg.db_dump()
    assert GOOD not in dump and OTHER_GOOD not in dump
    assert "$argon2id$v=19$m=65536,t=2,p=1$" in dump

    # Disabling a user ends its sessions; the last admin stays.
    assert tg.api("PATCH", "/api/v1/users/olga", {"enabled": False}).status == 200
    assert tg.api("GET", "/api/v1/whoami", token=olga).status == 401
    assert _login(tg, "olga", OTHER_GOOD).status == 401
    r = tg.api("PATCH", "/api/v1/users/alice", {"role": "operator"})
    assert r.status == 409 and r.json()["error"] == "last_admin"


def test_user_invalid_input_names_the_field(tollgate):
    tg = tollgate()
    cases = [
        ({"name": "bad name", "role": "admin", "password": "correct horse battery"}, "name"),
        ({"name": "local-cli", "role": "admin", "password": "correct horse battery"}, "name"),
        ({"name": "x", "role": "root", "password": "correct horse battery"}, "role"),
        ({"name": "x", "role": "admin"}, "password"),
        ({"name": "x", "role": "admin", "password": 12}, "password"),
        ({"name": "x", "role": "admin", "password": "correct horse battery", "mail": "a@b"}, "mail"),
    ]
    for body, field in cases:
        r = tg.api("POST", "/api/v1/users", body)
        assert r.status == 400 and r.json()["field"] == field, (body, r.text)
    _mk_user(tg, "x", "readonly")
    r = tg.api("POST", "/api/v1/users", {"name": "x", "role": "admin", "password": GOOD})
    assert r.status == 409 and r.json()["field"] == "name"
    r = tg.api("PATCH", "/api/v1/users/x", {"role": "boss"})
    assert r.status == 400 and r.json()["field"] == "role"
    assert tg.api("PATCH", "/api/v1/users/nobody", {"enabled": False}).status == 404
    assert [u["name"] for u in tg.api("GET", "/api/v1/users").json()["users"]] == ["x"]
    audit = tg.api("GET", "/api/v1/audit?action=user.").json()["entries"]
    assert [e["action"] for e in audit] == ["user.create"]
    assert GOOD not in json_dumps(audit[0]) and "argon2" not in json_dumps(audit[0])


def json_dumps(v) -> str:
    import json
    return json.dumps(v)


def test_own_password_change_needs_the_current_one(tollgate):
    tg = tollgate()
    _mk_user(tg, "olga", "operator", OTHER_GOOD)
    olga = _login(tg, "olga", OTHER_GOOD).json()["token"]
    r = tg.api("PUT", "/api/v1/users/olga/password", {"password": "new shiny passphrase"},
               token=olga)
    assert r.status == 400 and r.json()["field"] == "current_password"
    r = tg.api("PUT", "/api/v1/users/olga/password",
               {"current_password": "wrong", "password": "new shiny passphrase"}, token=olga)
    assert r.status == 403 and r.json()["field"] == "current_password"
    r = tg.api("PUT", "/api/v1/users/olga/password",
               {"current_password": OTHER_GOOD, "password": "new shiny passphrase"}, token=olga)
    assert r.status == 204, r.text
    assert tg.api("GET", "/api/v1/whoami", token=olga).status == 401  # sessions ended
    assert _login(tg, "olga", "new shiny passphrase").status == 200
    # The CLI sets passwords from stdin (admin through the local token).
    import subprocess
    from harness import TOLLGATE_BIN
    p = subprocess.run([TOLLGATE_BIN, "user", "passwd", "olga", "--config", str(tg.config_path)],
                       input="another fine passphrase\n", capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert _login(tg, "olga", "another fine passphrase").status == 200


@pytest.mark.parametrize("password,rule", [
    ("short pw", "min_length"),                  # 8 < 12
    ("x" * 257, "max_length"),
    ("tab\tis fine but\x01not", "characters"),
    ("Marjorie2024!", "user_name"),              # contains the user name
    ("marjorie", "min_length"),
    ("my tollgate password", "product_name"),
    ("trustno1trustno1", "repetitive"),          # a word repeated
    ("aaaaaaaaaaaaaaaa", "repetitive"),
    ("123456789012", "sequential"),
    ("zyxwvutsrqponm", "sequential"),
    ("baseball", "min_length"),
    ("Baseball1234", "common"),                  # list entry + digits
    ("!!Football2023", "common"),
    ("WinnieThePooh", "common"),                 # on the list as is (any case)
    ("abcabcabcabc", "repetitive"),
])
def test_password_policy_refuses(tollgate_shared, password, rule):
    tg = tollgate_shared
    r = tg.api("POST", "/api/v1/users", {"name": "marjorie", "role": "readonly",
                                         "password": password})
    assert r.status == 400, r.text
    err = r.json()
    assert err["error"] == "weak_password" and err["field"] == "password"
    assert f"(rule {rule})" in err["message"], err
    assert password not in err["message"]


@pytest.mark.parametrize("password", [
    "correct horse battery",     # a passphrase with spaces
    "Tr0ub4dor&3-but-longer",
    "ünïcödé pässwörd ok",       # 19 characters, more bytes
    "abcdefghij12",              # 12 characters, not a single run
])
def test_password_policy_accepts(tollgate_shared, password):
    tg = tollgate_shared
    r = tg.api("POST", "/api/v1/users", {"name": f"u{abs(hash(password)) % 100000}",
                                         "role": "readonly", "password": password})
    assert r.status == 201, r.text


def test_password_min_length_setting(tollgate):
    tg = tollgate(settings={"api": {"password_min_length": 20}})
    r = tg.api("POST", "/api/v1/users", {"name": "a", "role": "readonly",
                                         "password": "nineteen characters"})
    assert r.status == 400 and "(rule min_length)" in r.json()["message"]
    assert tg.api("POST", "/api/v1/users", {"name": "a", "role": "readonly",
                                            "password": "twenty characters ok"}).status == 201


@pytest.fixture(scope="module")
def tollgate_shared(tmp_path_factory):
    import harness
    d = tmp_path_factory.mktemp("shared")
    tg = harness.Tollgate(d, harness.PortAllocator())
    tg.start()
    yield tg
    tg.stop()


def _audit(tg, action_prefix):
    return tg.api("GET", f"/api/v1/audit?limit=1000&action={action_prefix}").json()["entries"]


def test_lockout_source_and_pair_default_scope(tollgate):
    """5 wrong passwords from 127.0.0.2 lock the source (every account) and
    the pair; the right password is refused there; the real admin logs in
    from 127.0.0.1; everything is in the audit log; an admin unlocks."""
    tg = tollgate()
    _mk_user(tg, "alice", "admin")
    _mk_user(tg, "bob", "operator", OTHER_GOOD)
    for i in range(5):
        r = _login(tg, "alice", f"guess {i}", source="127.0.0.2")
        assert r.status == 401, (i, r.text)
        assert r.json() == {"error": "login_failed", "field": None,
                            "message": "wrong user name or password"}
    r = _login(tg, "alice", GOOD, source="127.0.0.2")
    assert r.status == 429 and r.json()["error"] == "locked", r.text
    assert 850 <= int(r.headers["retry-after"]) <= 900
    assert _login(tg, "bob", OTHER_GOOD, source="127.0.0.2").status == 429  # source lock
    alice = _login(tg, "alice", GOOD, source="127.0.0.1")
    assert alice.status == 200, alice.text
    token = alice.json()["token"]

    locks = tg.api("GET", "/api/v1/lockouts", token=token).json()["lockouts"]
    keys = {(l["scope"], l["account"], l["source"]): l for l in locks}
    assert keys[("source", "", "127.0.0.2")]["locked_until"] is not None
    assert keys[("pair", "alice", "127.0.0.2")]["locked_until"] is not None
    assert keys[("source", "", "127.0.0.2")]["failures"] == 5
    assert ("account", "alice", "") not in keys  # default scope
    m = tg.api("GET", "/metrics", token=token).text
    assert 'tollgate_api_auth_failures_total{reason="bad_credentials"} 5' in m
    assert 'tollgate_api_auth_failures_total{reason="locked"} 2' in m
    assert 'tollgate_api_lockouts_total{scope="source"} 1' in m

    failed = _audit(tg, "login.failed")
    assert len(failed) == 5 and all(e["actor"] == "alice" for e in failed)
    assert all(e["source"].startswith("127.0.0.2:") for e in failed)
    starts = _audit(tg, "lockout.start")
    assert sorted(e["after"]["scope"] for e in starts) == ["pair", "source"]
    refused = _audit(tg, "login.refused_locked")
    assert sorted(e["actor"] for e in refused) == ["alice", "bob"]
    assert [e["actor"] for e in _audit(tg, "login")] == ["alice"]  # exact action

    # Admin unlock: the source lock first (bob can log in again from there),
    # then the pair (alice too).
    r = tg.api("DELETE", "/api/v1/lockouts?scope=source&source=127.0.0.2", token=token)
    assert r.status == 204, r.text
    assert _login(tg, "bob", OTHER_GOOD, source="127.0.0.2").status == 200
    assert _login(tg, "alice", GOOD, source="127.0.0.2").status == 429  # pair still locked
    out = tg.cli("lockout", "clear", "--scope", "pair", "--account", "alice", "--source",
                 "127.0.0.2", "--config", str(tg.config_path)).stdout
    assert "cleared" in out
    assert _login(tg, "alice", GOOD, source="127.0.0.2").status == 200
    clears = _audit(tg, "lockout.clear")
    assert {e["actor"] for e in clears} == {"alice", "local-cli"}
    assert clears[-1]["before"]["scope"] == "source"
    r = tg.api("DELETE", "/api/v1/lockouts?scope=pair&account=alice", token=token)
    assert r.status == 400 and r.json()["field"] == "source"


def test_lockout_account_scope_refuses_the_admin_everywhere(tollgate):
    tg = tollgate(settings={"api": {"lockout_scope": "account", "lockout_attempts": 3}})
    _mk_user(tg, "alice", "admin")
    for i in range(3):
        assert _login(tg, "alice", f"guess {i}", source="127.0.0.2").status == 401
    assert _login(tg, "alice", GOOD, source="127.0.0.1").status == 429
    locks = tg.api("GET", "/api/v1/lockouts").json()["lockouts"]
    assert {(l["scope"], l["account"], l["source"]) for l in locks if l["locked_until"]} == \
        {("account", "alice", ""), ("pair", "alice", "127.0.0.2"), ("source", "", "127.0.0.2")}
    assert [e["after"]["scope"] for e in _audit(tg, "lockout.start")].count("account") == 1
    # The local admin (CLI token) unlocks the account.
    tg.cli("lockout", "clear", "--scope", "account", "--account", "alice", "--config",
           str(tg.config_path))
    assert _login(tg, "alice", GOOD, source="127.0.0.1").status == 200


def test_lock_expires(tollgate):
    tg = tollgate(settings={"api": {"lockout_attempts": 2, "lockout_duration": 2}})
    _mk_user(tg, "alice", "admin")
    for i in range(2):
        assert _login(tg, "alice", "nope", source="127.0.0.3").status == 401
    assert _login(tg, "alice", GOOD, source="127.0.0.3").status == 429
    t0 = time.monotonic()
    r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(
        _login(tg, "alice", GOOD, source="127.0.0.3")), 6, "the lock to expire", interval=0.25)
    assert r.json()["user"] == "alice"
    assert time.monotonic() - t0 < 5


def test_unknown_user_same_answer_and_time(tollgate):
    """A user that does not exist gets the same status and body as a wrong
    password, in about the same time (one argon2id verification each)."""
    tg = tollgate(settings={"api": {"lockout_attempts": 100}})
    _mk_user(tg, "alice", "admin")

    def timed(user):
        t = time.perf_counter()
        r = _login(tg, user, "wrong password here")
        return time.perf_counter() - t, r

    samples = {"alice": [], "mallory": []}
    bodies = set()
    for _ in range(5):
        for user in samples:
            dt, r = timed(user)
            samples[user].append(dt)
            bodies.add((r.status, r.body))
    assert len(bodies) == 1, bodies
    known, unknown = statistics.median(samples["alice"]), statistics.median(samples["mallory"])
    assert 0.5 < unknown / known < 2.0, samples
    assert known > 0.02, "argon2id verification should take tens of milliseconds"
