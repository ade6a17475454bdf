"""Attacks on the management plane, performed with real HTTP clients and raw
sockets against a real tollgate (docs/api.md):

- a credential asks for more than it has: a readonly API token of an admin
  makes an admin token or sets its owner's password; tokens for other users
  or outliving their maker; a demoted or disabled owner's credentials;
- parallel wrong logins race the lockout;
- slow clients (trickled request heads, trickled TLS handshakes, many
  connections from one source) try to starve the API of its threads;
- a SIP trace reader collects digest responses and carrier passwords.

Each test fails on a build without the control it proves."""

from __future__ import annotations

import http.client
import json
import select
import shutil
import socket
import ssl
import threading
import time

import pytest

from harness import (UdpPeer, api_request, routing_gateway, self_signed_certificate, sip_request,
                     wait_until)
from sipua import credentials, parse_params
from test_auth import PASSWORD, password_gateway

GOOD = "correct horse battery"
BOB_PW = "purple elephant umbrella"
OLGA_PW = "quiet river stone"


def _mk_user(tg, name, role, password=GOOD):
    r = tg.api("POST", "/api/v1/users", {"name": name, "role": role, "password": password})
    assert r.status == 201, r.text


def _login(tg, user, password, source="127.0.0.1"):
    return tg.api("POST", "/api/v1/login", {"username": user, "password": password}, token=None,
                  source=source)


def _session(tg, user, password):
    r = _login(tg, user, password)
    assert r.status == 200, r.text
    return r.json()["token"]


def _metric(tg, name: str, labels: str = "", tls_context=None) -> float:
    """One sample of /metrics (labels as written, e.g. 'reason="x"')."""
    want = f"{name}{{{labels}}}" if labels else name
    for line in tg.api("GET", "/metrics", tls_context=tls_context).text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return 0.0


def _refusals(tg) -> list[str]:
    entries = tg.api("GET", "/api/v1/audit?limit=1000&action=privilege.refused").json()["entries"]
    return [e["after"]["reason"] for e in entries]


# ---------------------------------------------------------------------------
# A credential grants at most its effective role


def test_credentials_never_grant_more_than_their_effective_role(tollgate):
    """A readonly token of an admin cannot make an admin token, a token for
    another user or one that outlives it, and cannot set any password (not
    even its owner's, with or without the current one); an admin token
    cannot set passwords either. Sessions need the current password for
    their own, an admin session resets another user's without it. After the
    owner is demoted, its admin token and session act as readonly; after it
    is disabled, they are refused. Every refusal is audited with its reason
    and counted."""
    tg = tollgate()
    _mk_user(tg, "root", "admin", "another fine passphrase")
    _mk_user(tg, "alice", "admin")
    _mk_user(tg, "bob", "readonly", BOB_PW)
    _mk_user(tg, "olga", "operator", OLGA_PW)
    alice = _session(tg, "alice", GOOD)
    r = tg.api("POST", "/api/v1/tokens", {"name": "ro", "role": "readonly", "expires_in": 3600},
               token=alice)
    assert r.status == 201, r.text
    ro, ro_expires = r.json()["token"], r.json()["expires"]
    r = tg.api("POST", "/api/v1/tokens", {"name": "adm", "role": "admin"}, token=alice)
    adm = r.json()["token"]

    # The attack of the report: readonly token -> admin token.
    r = tg.api("POST", "/api/v1/tokens", {"name": "up", "role": "admin"}, token=ro)
    assert r.status == 403 and r.json()["field"] == "role", r.text
    r = tg.api("POST", "/api/v1/tokens", {"name": "up", "role": "operator"}, token=ro)
    assert r.status == 403, r.text
    # Without a role it gets what the maker has, and ends with the maker.
    r = tg.api("POST", "/api/v1/tokens", {"name": "same"}, token=ro)
    assert r.status == 201 and r.json()["role"] == "readonly", r.text
    assert r.json()["expires"] == ro_expires
    r = tg.api("POST", "/api/v1/tokens", {"name": "longer", "expires_in": 7200}, token=ro)
    assert r.status == 403 and r.json()["field"] == "expires_in", r.text
    r = tg.api("POST", "/api/v1/tokens", {"name": "for-bob", "user": "bob"}, token=ro)
    assert r.status == 403 and r.json()["field"] == "user", r.text
    r = tg.api("POST", "/api/v1/tokens", {"name": "for-bob", "user": "bob", "role": "readonly"},
               token=adm)
    assert r.status == 403 and r.json()["field"] == "user", r.text

    # The second attack: the readonly token sets its owner's password.
    for body in ({"password": "stolen account now"},
                 {"password": "stolen account now", "current_password": GOOD}):
        r = tg.api("PUT", "/api/v1/users/alice/password", body, token=ro)
        assert r.status == 403, r.text
        r = tg.api("PUT", "/api/v1/users/alice/password", body, token=adm)
        assert r.status == 403, r.text
    r = tg.api("PUT", "/api/v1/users/bob/password", {"password": "stolen account now"}, token=adm)
    assert r.status == 403, r.text
    assert _login(tg, "alice", GOOD).status == 200  # unchanged
    assert _login(tg, "bob", BOB_PW).status == 200

    # Readonly/operator sessions: no users, no admin tokens, no one else's password.
    olga = _session(tg, "olga", OLGA_PW)
    r = tg.api("POST", "/api/v1/users", {"name": "mallory", "role": "admin", "password": GOOD},
               token=olga)
    assert r.status == 403, r.text
    r = tg.api("PUT", "/api/v1/users/bob/password", {"password": "stolen account now"}, token=olga)
    assert r.status == 403, r.text
    r = tg.api("POST", "/api/v1/tokens", {"name": "x", "user": "bob"}, token=olga)
    assert r.status == 403, r.text
    r = tg.api("PATCH", "/api/v1/users/olga", {"role": "admin"}, token=olga)
    assert r.status == 403, r.text
    # Own password from a session: the current one is needed.
    r = tg.api("PUT", "/api/v1/users/alice/password", {"password": "a brand new phrase"},
               token=alice)
    assert r.status == 400 and r.json()["field"] == "current_password", r.text
    r = tg.api("PUT", "/api/v1/users/alice/password",
               {"password": "a brand new phrase", "current_password": "guess"}, token=alice)
    assert r.status == 403 and r.json()["error"] == "wrong_password", r.text
    # An admin session resets another user's password without it.
    r = tg.api("PUT", "/api/v1/users/bob/password", {"password": "reset by the admin"},
               token=alice)
    assert r.status == 204, r.text
    assert _login(tg, "bob", "reset by the admin").status == 200

    # Demoted owner: the admin token and the session act as readonly now.
    assert tg.api("PATCH", "/api/v1/users/alice", {"role": "readonly"}).status == 200
    assert tg.api("GET", "/api/v1/whoami", token=adm).json()["role"] == "readonly"
    assert tg.api("GET", "/api/v1/whoami", token=alice).json()["role"] == "readonly"
    r = tg.api("POST", "/api/v1/users", {"name": "mallory", "role": "admin", "password": GOOD},
               token=adm)
    assert r.status == 403, r.text
    r = tg.api("POST", "/api/v1/tokens", {"name": "x", "role": "admin"}, token=alice)
    assert r.status in (400, 403), r.text
    r = tg.api("PATCH", "/api/v1/users/alice", {"role": "admin"}, token=alice)
    assert r.status == 403, r.text
    # Disabled owner: nothing it made works.
    assert tg.api("PATCH", "/api/v1/users/alice", {"enabled": False}).status == 200
    for t in (alice, adm, ro):
        assert tg.api("GET", "/api/v1/whoami", token=t).status == 401
    users = {u["name"]: u for u in tg.api("GET", "/api/v1/users").json()["users"]}
    assert "mallory" not in users and users["olga"]["role"] == "operator"

    # Every refusal is in the audit log with its reason, and counted.
    reasons = _refusals(tg)
    for reason in ("role_above_own", "token_outlives_credential", "token_for_other_user",
                   "token_changes_password", "other_user_not_admin", "current_password_missing",
                   "current_password_wrong", "route_role"):
        assert reason in reasons, (reason, reasons)
        assert _metric(tg, "tollgate_api_privilege_refusals_total", f'reason="{reason}"') >= 1
    assert reasons.count("token_changes_password") == 5
    assert _metric(tg, "tollgate_api_privilege_refusals_total",
                   'reason="token_changes_password"') == 5


def test_current_password_guesses_count_against_the_lockout(tollgate):
    """A stolen session cannot guess its user's password through the
    password change: wrong current passwords count like failed logins and
    lock, after which even the right one is refused."""
    tg = tollgate(settings={"api": {"lockout_attempts": 3}})
    _mk_user(tg, "alice", "admin")
    alice = _session(tg, "alice", GOOD)
    statuses = []
    for i in range(4):
        r = tg.api("PUT", "/api/v1/users/alice/password",
                   {"password": "a brand new phrase", "current_password": f"guess {i}"},
                   token=alice)
        statuses.append(r.status)
    assert statuses == [403, 403, 403, 429], statuses
    r = tg.api("PUT", "/api/v1/users/alice/password",
               {"password": "a brand new phrase", "current_password": GOOD}, token=alice)
    assert r.status == 429, r.text
    assert _login(tg, "alice", GOOD).status == 429  # same source: locked
    assert _login(tg, "alice", GOOD, source="127.0.0.2").status == 200


# ---------------------------------------------------------------------------
# Parallel logins and the lockout


def test_parallel_wrong_logins_check_no_more_passwords_than_the_limit(tollgate):
    """20 wrong logins at once from one new source: exactly lockout_attempts
    (5) reach the password check (401 login_failed, counted as
    bad_credentials, audited as login.failed); the other 15 are refused
    before any hash (429); then the right password is refused too."""
    tg = tollgate()
    _mk_user(tg, "alice", "admin")
    n = 20
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def attempt(i):
        conn = http.client.HTTPConnection("127.0.0.1", tg.api_port, timeout=20,
                                          source_address=("127.0.0.7", 0))
        body = json.dumps({"username": "alice", "password": f"wrong {i}"})
        try:
            conn.connect()
            barrier.wait(timeout=10)
            conn.request("POST", "/api/v1/login", body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            results[i] = (r.status, json.loads(r.read())["error"])
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            results[i] = ("error", repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    checked = [r for r in results if r == (401, "login_failed")]
    refused = [r for r in results if r == (429, "locked")]
    assert len(checked) == 5 and len(refused) == 15, results
    assert _metric(tg, "tollgate_api_auth_failures_total", 'reason="bad_credentials"') == 5
    failed = tg.api("GET", "/api/v1/audit?limit=1000&action=login.failed").json()["entries"]
    assert len(failed) == 5
    r = _login(tg, "alice", GOOD, source="127.0.0.7")
    assert r.status == 429 and r.json()["error"] == "locked", r.text
    assert _metric(tg, "tollgate_api_auth_failures_total", 'reason="bad_credentials"') == 5
    assert _login(tg, "alice", GOOD, source="127.0.0.1").status == 200


# ---------------------------------------------------------------------------
# Slow clients cannot starve the API


def _connect(src: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


def _closed_by_peer(s: socket.socket) -> bool:
    """True when the server closed (FIN or RST) this idle client socket."""
    try:
        return s.recv(4096, socket.MSG_PEEK) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


def _timed_admin_request(tg, source="127.0.0.2", tls_context=None, timeout=3.0):
    t0 = time.monotonic()
    try:
        r = api_request("127.0.0.1", tg.api_port, "GET", "/api/v1/whoami", token=tg.api_token(),
                        source=source, timeout=timeout, tls_context=tls_context)
        status = r.status
    except Exception as e:  # noqa: BLE001 - a starved API times out or resets
        status = repr(e)
    return status, time.monotonic() - t0


class Trickler:
    """Client sockets that each send one byte of `payload` every `interval`
    seconds and record when the server closes them."""

    def __init__(self, sockets: list[socket.socket], payload: bytes, interval: float):
        self.socks = sockets
        self.payload = payload
        self.interval = interval
        self.opened = time.monotonic()
        self.closed_at: dict[int, float] = {}
        self.sent = [0] * len(sockets)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Trickler":
        self._thread.start()
        return self

    def _run(self) -> None:
        next_send = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_send:
                for i, s in enumerate(self.socks):
                    if i in self.closed_at or self.sent[i] >= len(self.payload):
                        continue
                    try:
                        s.send(self.payload[self.sent[i]:self.sent[i] + 1])
                        self.sent[i] += 1
                    except (BlockingIOError, ConnectionResetError, BrokenPipeError, OSError):
                        pass
                next_send = now + self.interval
            live = [s for i, s in enumerate(self.socks) if i not in self.closed_at]
            if live:
                readable, _, _ = select.select(live, [], [], 0.05)
                for s in readable:
                    if _closed_by_peer(s):
                        self.closed_at[self.socks.index(s)] = time.monotonic() - self.opened
            else:
                time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in self.socks:
            s.close()


def test_trickled_request_heads_do_not_starve_the_api(tollgate):
    """80 connections from 127.0.0.3-12 (8 each) trickle a request head one
    byte every 2 s. Requests of the admin at 127.0.0.2 still complete within
    1 s while they do, and every trickler is closed once its head is
    api.request_head_timeout (5 s) old although it never paused for longer
    than 2 s: the deadline covers the whole head, not each read."""
    tg = tollgate()
    socks = [_connect(f"127.0.0.{3 + i // 8}", tg.api_port) for i in range(80)]
    head = b"GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 64 + b"\r\n\r\n"
    attack = Trickler(socks, head, 2.0).start()
    try:
        latencies = []
        for at in (0.5, 2.0, 3.5):
            time.sleep(max(0.0, at - (time.monotonic() - attack.opened)))
            latencies.append(_timed_admin_request(tg))
        assert all(status == 200 and dt < 1.0 for status, dt in latencies), latencies
        wait_until(lambda: len(attack.closed_at) == 80, 8, "the server to close every trickler")
    finally:
        attack.stop()
    worst = max(attack.closed_at.values())
    assert 4.0 <= min(attack.closed_at.values()) and worst <= 6.5, attack.closed_at
    assert all(n >= 3 for n in attack.sent), attack.sent  # bytes kept coming until the close
    assert _metric(tg, "tollgate_api_connections_closed_total", 'reason="head_timeout"') == 80
    tg.wait_log(r"event=api\.connection_closed source=127\.0\.0\.\d+:\d+ reason=head_timeout")


def test_connections_per_source_are_limited_at_accept(tollgate):
    """One source opens 40 idle connections: api.max_connections_per_source
    (32) are held, the other 8 are reset at accept and counted; another
    source is served meanwhile; closed connections free their places."""
    tg = tollgate()
    socks, reset_at_connect = [], 0
    for _ in range(40):
        try:
            socks.append(_connect("127.0.0.3", tg.api_port))
        except ConnectionResetError:  # the RST beat connect()'s own check
            reset_at_connect += 1
    try:
        time.sleep(0.5)
        reset = [s for s in socks if _closed_by_peer(s)]
        assert len(reset) + reset_at_connect == 8, (len(reset), reset_at_connect)
        status, dt = _timed_admin_request(tg, source="127.0.0.4")
        assert status == 200 and dt < 1.0, (status, dt)
        assert _metric(tg, "tollgate_api_connections_refused_total", 'reason="per_source"') == 8
        for s in socks[:10]:
            s.close()
        time.sleep(0.3)
        status, _ = _timed_admin_request(tg, source="127.0.0.3")
        assert status == 200, status
    finally:
        for s in socks:
            s.close()
    tg.wait_log(r"event=api\.connection_refused source=127\.0\.0\.3:\d+ reason=per_source")


def test_a_full_connection_table_evicts_the_flood_not_the_operator(tollgate):
    """9 sources hold 32 idle connections each (288, over api.max_connections
    = 256) and reopen every one the server closes. The admin at 127.0.0.2
    still gets answers within 1 s: at the cap the server closes the oldest
    unfinished connection of the source holding the most, never the
    operator's single one."""
    tg = tollgate()
    sources = [f"127.0.0.{3 + i}" for i in range(9)]
    socks: dict = {}
    reopened = [0]

    def reopen(key):
        old = socks.get(key)
        if old is not None:
            old.close()
        try:
            socks[key] = _connect(key[0], tg.api_port)
            reopened[0] += 1
        except OSError:  # reset while connecting: the next round tries again
            socks[key] = None

    for src in sources:
        for k in range(32):
            reopen((src, k))
    stop = threading.Event()

    def flood():
        deadline = time.monotonic() + 6
        while not stop.is_set() and time.monotonic() < deadline and reopened[0] < 5000:
            for key, s in list(socks.items()):
                if s is None or _closed_by_peer(s):
                    reopen(key)
            time.sleep(0.02)

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        latencies = [_timed_admin_request(tg) for _ in range(3)]
        assert all(status == 200 and dt < 1.0 for status, dt in latencies), latencies
    finally:
        stop.set()
        t.join(timeout=10)
        for s in socks.values():
            if s is not None:
                s.close()
    assert _metric(tg, "tollgate_api_connections_closed_total", 'reason="evicted"') >= 32
    tg.wait_log(r"event=api\.connection_closed source=127\.0\.0\.\d+:\d+ reason=evicted")


def test_clients_that_do_not_read_their_answers_hold_no_thread(tollgate):
    """24 connections (3 sources) each send 20 pipelined requests for the
    ~140 KiB OpenAPI document and never read: the answers wait in memory
    for the intake to write, not on connection threads, so the admin's
    requests take < 1 s meanwhile."""
    tg = tollgate()
    request = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 20
    socks = []
    for i in range(24):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((f"127.0.0.{3 + i % 3}", 0))
        s.settimeout(2)
        s.connect(("127.0.0.1", tg.api_port))
        s.sendall(request)
        socks.append(s)
    try:
        time.sleep(0.5)
        latencies = []
        for _ in range(3):
            latencies.append(_timed_admin_request(tg))
            time.sleep(0.5)
        assert all(status == 200 and dt < 1.0 for status, dt in latencies), latencies
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def api_cert(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    return self_signed_certificate(tmp_path)


def test_trickled_tls_handshakes_do_not_starve_the_api(tollgate, api_cert):
    """12 connections trickle a TLS ClientHello one byte every second (each
    read well within any per-read timeout). An HTTPS request of the admin
    completes within 1 s meanwhile, and the tricklers are closed once the
    handshake is api.tls_handshake_timeout (5 s) old."""
    cert, key = api_cert
    tg = tollgate(settings={"api": {"certificate": str(cert), "private_key": str(key)}})
    ctx = ssl.create_default_context(cafile=str(cert))
    socks = [_connect(f"127.0.0.{3 + i % 2}", tg.api_port) for i in range(12)]
    # A TLS record header announcing a 512-byte handshake message, then its bytes.
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 2
    attack = Trickler(socks, hello, 1.0).start()
    try:
        latencies = []
        for at in (0.5, 2.5):
            time.sleep(max(0.0, at - (time.monotonic() - attack.opened)))
            latencies.append(_timed_admin_request(tg, tls_context=ctx))
        assert all(status == 200 and dt < 1.0 for status, dt in latencies), latencies
        wait_until(lambda: len(attack.closed_at) == 12, 8, "the server to close every trickler")
    finally:
        attack.stop()
    assert 4.0 <= min(attack.closed_at.values()) and max(attack.closed_at.values()) <= 6.5, \
        attack.closed_at
    assert _metric(tg, "tollgate_api_connections_closed_total", 'reason="tls_handshake_timeout"',
                   tls_context=ctx) == 12


# ---------------------------------------------------------------------------
# SIP trace never shows secrets


def test_trace_masks_digest_responses_and_never_shows_carrier_passwords(tollgate, ports,
                                                                        recorder):
    """An operator traces a password customer's call to a carrier that
    challenges tollgate: the customer's and tollgate's digest `response`
    values appear nowhere in the trace (shown as "***"; the rest of the
    credentials stay), and the carrier's password appears in no API answer,
    audit entry, log line or trace."""
    carrier = recorder(answer=407)
    tg = tollgate(provisioning=password_gateway(name="phone", username="u7", password=PASSWORD) +
                  routing_gateway("carrier", f"127.0.0.1:{carrier.addr[1]}",
                                  auth_username="tg", auth_password="carrier-secret"))
    _mk_user(tg, "olga", "operator", OLGA_PW)
    olga = _session(tg, "olga", OLGA_PW)
    out: list = []

    def stream():
        out.append(api_request("127.0.0.1", tg.api_port, "GET",
                               "/api/v1/trace?format=ndjson&count=100&duration=4",
                               token=olga, timeout=20))

    t = threading.Thread(target=stream)
    t.start()
    wait_until(lambda: tg.api("GET", "/api/v1/stats").json()["tables"]["trace_sessions"] == 1,
               10, "the trace session")
    peer = UdpPeer("127.0.0.1", ports.port())
    ruri = f"sip:4477123@127.0.0.1:{tg.port}"
    try:
        data, call_id = sip_request("INVITE", ruri, peer.addr, from_user="u7", to_user="4477123")
        peer.send(data, ("127.0.0.1", tg.port))
        got = peer.recv_until(lambda d: d.status == 407, 5)
        challenge = parse_params(got[-1].header("Proxy-Authenticate"))
        cred = credentials(challenge, "u7", PASSWORD, "INVITE", ruri)
        data, _ = sip_request("INVITE", ruri, peer.addr, call_id=call_id, from_user="u7",
                              to_user="4477123", cseq=2)
        data = data.replace(b"Max-Forwards: 70\r\n",
                            f"Max-Forwards: 70\r\nProxy-Authorization: {cred}\r\n".encode())
        peer.send(data, ("127.0.0.1", tg.port))
        wait_until(lambda: any("Proxy-Authorization" in d.text for d in carrier.requests("INVITE")),
                   5, "tollgate's credentials at the carrier")
    finally:
        peer.close()
    t.join(timeout=30)
    assert out and out[0].status == 200, out
    trace = out[0].text
    customer_response = parse_params(cred)["response"]
    carrier_cred = [d for d in carrier.requests("INVITE") if "Proxy-Authorization" in d.text][0]
    carrier_response = parse_params(carrier_cred.header("Proxy-Authorization"))["response"]
    records = [json.loads(line) for line in trace.splitlines() if line.strip()]
    with_creds = [r for r in records if "Authorization:" in r["message"]]
    assert len(with_creds) >= 2, [r["summary"] for r in records]
    assert customer_response not in trace and carrier_response not in trace
    assert all('response="***"' in r["message"] and 'username="' in r["message"]
               for r in with_creds), with_creds
    # The carrier's password: nowhere.
    assert "carrier-secret" not in trace
    gw = tg.api("GET", "/api/v1/routing-gateways/carrier", token=olga)
    assert gw.status == 200 and "carrier-secret" not in gw.text
    r = tg.api("PATCH", "/api/v1/routing-gateways/carrier", {"auth_password": "new-carrier-pw"},
               token=olga)
    assert r.status == 200 and "new-carrier-pw" not in r.text, r.text
    assert "carrier-secret" not in tg.api("GET", "/api/v1/routing-gateways").text
    audit = tg.api("GET", "/api/v1/audit?limit=1000").text
    assert "new-carrier-pw" not in audit and "carrier-secret" not in audit
    assert "carrier-secret" not in tg.log() and "new-carrier-pw" not in tg.log()
