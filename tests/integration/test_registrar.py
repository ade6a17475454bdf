"""The registrar over the wire: replace/kick on and off, max_contacts,
expiry bounds (423 + Min-Expires, clamping, unregister), liveness probing
(a silent contact is offline within 2 x registrar.keepalive_interval and
online again when it answers), calls to a registered phone over UDP and
over the phone's own TCP connection (NAT), and a call to an offline phone."""

from __future__ import annotations

import json
import time

import pytest

from harness import check_cdr, mapping_gateway, wait_until
from sipua import Ua
from test_auth import PASSWORD, USER, password_gateway, sipp_auth_args


@pytest.fixture
def ua(ports):
    made = []

    def make(tg, ip="127.0.0.1", transport="udp", **kw):
        u = Ua(ip, ports.port(), ("127.0.0.1", tg.port), transport=transport, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def bindings(tg) -> list[dict]:
    return json.loads(tg.cli("registration", "list", "--config", str(tg.config_path),
                             "--json").stdout)


def wait_bindings(tg, pred, what, timeout=5.0):
    """Polls `registration list` until pred(rows); returns the rows."""
    def ready():
        rows = bindings(tg)
        return (rows,) if pred(rows) else None
    return wait_until(ready, timeout, what)[0]


@pytest.mark.parametrize("replace", [True, False])
def test_registration_from_another_contact_replace_on_and_off(tollgate, sipp, replace):
    """Two phones (SIPp on two ports) register the same account.
    registrar.replace = true: the second kicks the first. false: the second
    gets 403 and the first keeps the account."""
    tg = tollgate(settings={"registrar": {"replace": replace}},
                  provisioning=password_gateway(register=True))
    first = sipp("phone1", "uac-register-auth.xml", remote=f"127.0.0.1:{tg.port}", caller=USER,
                 keys={"expires": "300"}, extra=sipp_auth_args())
    first.run()
    first.assert_ok()
    wait_bindings(tg, lambda b: len(b) == 1, "first binding")
    second = sipp("phone2", "uac-register-auth.xml" if replace else
                  "uac-register-auth-expect-403.xml", remote=f"127.0.0.1:{tg.port}", caller=USER,
                  keys={"expires": "300"}, extra=sipp_auth_args())
    second.run()
    second.assert_ok()
    winner = second if replace else first
    rows = wait_bindings(
        tg, lambda b: len(b) == 1 and b[0]["contact"].lower().endswith(
            f":{winner.port};transport=udp"),
        f"the binding of phone on port {winner.port}")
    assert rows[0]["username"] == USER and rows[0]["gateway"] == "phone-100"
    assert rows[0]["source"] == f"udp:127.0.0.1:{winner.port}"
    if replace:
        tg.wait_log(r"event=registrar\.replaced username=100")
        ok = second.received(200)[0]
        assert ok.headers("Contact") == [f"<sip:100@127.0.0.1:{second.port};transport=UDP>;"
                                         "expires=300"]
    else:
        refused = second.received(403)[0]
        assert "already registered" in (refused.header("Warning") or "")


def test_max_contacts_holds_several_then_refuses(tollgate, ua):
    tg = tollgate(settings={"registrar": {"replace": False}},
                  provisioning=password_gateway(register=True, max_contacts=2))
    results = [ua(tg).register(PASSWORD)[1].status for _ in range(3)]
    assert results == [200, 200, 403]
    wait_bindings(tg, lambda b: len(b) == 2, "two bindings")


def test_expiry_bounds_and_unregister(tollgate, ua):
    """Too short -> 423 with Min-Expires; too long -> clamped to
    registrar.max_expires; Expires: 0 removes the binding."""
    tg = tollgate(settings={"registrar": {"min_expires": 60, "default_expires": 300,
                                          "max_expires": 600}},
                  provisioning=password_gateway(register=True))
    u = ua(tg)
    _, brief, _ = u.register(PASSWORD, expires=10)
    assert brief.status == 423 and brief.header("Min-Expires") == "60"
    assert bindings(tg) == []
    _, ok, _ = u.register(PASSWORD, expires=100000)
    assert ok.status == 200
    assert ok.header("Contact").endswith(";expires=600"), ok.text
    _, gone, _ = u.register(PASSWORD, expires=0)
    assert gone.status == 200 and gone.header("Contact") is None
    wait_bindings(tg, lambda b: b == [], "no binding after Expires: 0")


def test_silent_contact_goes_offline_within_two_intervals_and_back(tollgate, ua, sipp, ports):
    """registrar.keepalive_interval = 2: the phone answers the OPTIONS
    probes; once it stops, it is offline within 4 s (a call to it then gets
    480, CDR callee_offline); when it answers again it is back online."""
    interval = 2
    tg = tollgate(settings={"registrar": {"keepalive_interval": interval}},
                  provisioning=password_gateway(register=True) +
                  mapping_gateway("pbx", ["127.0.0.1"]))
    phone = ua(tg, "127.0.0.6").start_phone()
    _, ok, _ = phone.register(PASSWORD, expires=300)
    assert ok.status == 200
    wait_until(lambda: any(m.method == "OPTIONS" for m in phone.received), 2 * interval + 1,
               "a liveness probe")
    assert bindings(tg)[0]["online"] is True
    phone.alive = False
    silent_at = time.monotonic()
    wait_bindings(tg, lambda b: b and b[0]["online"] is False, "the contact offline",
                  timeout=2 * interval + 1)
    took = time.monotonic() - silent_at
    assert took <= 2 * interval, f"offline after {took:.1f}s"
    tg.wait_log(r"event=registrar\.contact_offline username=100")

    uac = sipp("uac", "uac-expect-480.xml", remote=f"127.0.0.1:{tg.port}", service=USER)
    uac.run()
    uac.assert_ok()
    check_cdr(tg.wait_cdrs(1)[0], reason="callee_offline", final_code=480, answered=False,
              mapping_gateway="pbx", callee=USER, gateways=[])

    phone.alive = True
    wait_bindings(tg, lambda b: b and b[0]["online"] is True, "the contact online again",
                  timeout=2 * interval + 1)
    tg.wait_log(r"event=registrar\.contact_online username=100")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_to_registered_phone_rings_it(tollgate, ua, sipp, transport):
    """A phone registers (from 127.0.0.6; over TCP it listens nowhere, as
    behind NAT); a customer dials its username; the INVITE reaches the phone
    at the registered contact, over the observed source (TCP: on the phone's
    own connection); it rings and answers; the call ends normally."""
    tg = tollgate(provisioning=password_gateway(register=True) +
                  mapping_gateway("pbx", ["127.0.0.1"]))
    phone = ua(tg, "127.0.0.6", transport=transport).start_phone()
    _, ok, _ = phone.register(PASSWORD, expires=300)
    assert ok.status == 200
    row = wait_bindings(tg, lambda b: len(b) == 1, "the binding")[0]
    assert row["source"] == f"{transport}:127.0.0.6:{phone.port}"
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", service=USER,
               caller="4420", hold_ms=300)
    uac.run()
    uac.assert_ok()
    invites = [m for m in phone.received if m.method == "INVITE"]
    assert len(invites) == 1
    suffix = "" if transport == "udp" else ";transport=tcp"
    assert invites[0].first_line == f"INVITE sip:{USER}@127.0.0.6:{phone.port}{suffix} SIP/2.0"
    assert any(m.method == "BYE" for m in phone.received)
    assert phone.calls_answered == 1
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", mapping_gateway="pbx", gateways=["phone-100"], callee=USER)


def test_unregistered_account_is_offline_not_routed_to_carriers(tollgate, sipp, recorder):
    """An account's number never leaks to a carrier: with no binding the
    call fails 480 callee_offline even though the default route matches."""
    carrier = recorder()
    tg = tollgate(provisioning=password_gateway(register=True) +
                  mapping_gateway("pbx", ["127.0.0.1"]) +
                  f'[[routing_gateway]]\nname = "c"\naddress = "127.0.0.1:{carrier.addr[1]}"\n'
                  'prefixes = [""]\npriority = 1\n')
    uac = sipp("uac", "uac-expect-480.xml", remote=f"127.0.0.1:{tg.port}", service=USER)
    uac.run()
    uac.assert_ok()
    assert carrier.requests("INVITE") == []
    check_cdr(tg.wait_cdrs(1)[0], reason="callee_offline", final_code=480, answered=False)


def test_bindings_survive_a_restart(tollgate, ua):
    """Bindings come back after a restart; those of an account removed from
    provisioning while the node was down are dropped (from the store too)."""
    tg = tollgate(provisioning=password_gateway(register=True) +
                  password_gateway(name="phone-200", username="200", password="x", register=True))
    assert ua(tg).register(PASSWORD, expires=300)[1].status == 200
    assert ua(tg, user="200").register("x", expires=300)[1].status == 200
    wait_bindings(tg, lambda b: len(b) == 2, "the bindings")
    assert tg.stop() == 0
    tg.import_text(password_gateway(register=True), prune=True)
    tg.start()
    tg.wait_log(r"event=state\.restored bindings=2")
    rows = wait_bindings(tg, lambda b: len(b) == 1, "only phone-100's binding")
    assert rows[0]["username"] == USER
