"""Digest authentication of password gateways, over the wire: the challenge
modes and their header names, credentials in either header, wrong password
and unknown user (indistinguishable), retry limits and suspension (the real
user from another source unaffected; CLI list/clear; persisted across a
restart), stale nonces, replayed nonce counts, SHA-256 and MD5.

Customers are SIPp (MD5, [authentication]) or tests/integration/sipua.py
(hashlib digests, SHA-256 too) on 127.0.0.x; carriers are SIPp UASs."""

from __future__ import annotations

import json
import re
import time

import pytest

import harness
from harness import check_cdr, mapping_gateway, routing_gateway, wait_until
from sipua import Ua, credentials, digest_response, parse_params

USER, PASSWORD = "100", "correct horse"
CALLEE = "15551234567"


def password_gateway(name="phone-100", username=USER, password=PASSWORD, **extra) -> str:
    keys = {"name": name, "auth": "password", "username": username, "password": password, **extra}
    return "[[mapping_gateway]]\n" + "".join(
        f"{k} = {harness.toml_value(v)}\n" for k, v in keys.items())


def carrier(port: int, **extra) -> str:
    return routing_gateway("carrier-a", f"127.0.0.1:{port}", **extra)


@pytest.fixture
def ua(tollgate, ports):
    """Factory: a sipua.Ua on ip (own port) towards tollgate `tg`."""
    made = []

    def make(tg, ip="127.0.0.1", transport="udp", **kw):
        u = Ua(ip, ports.port(), ("127.0.0.1", tg.port), transport=transport, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def sipp_auth_args(user=USER, password=PASSWORD):
    return ["-au", user, "-ap", password]


def suspensions(tg, pred=lambda rows: True, what="suspensions in the store"):
    """`auth suspensions list --json`, polled until pred(rows): the node
    writes suspensions on a background thread."""
    def ready():
        rows = json.loads(tg.cli("auth", "suspensions", "list", "--config", str(tg.config_path),
                                 "--json").stdout)
        return (rows,) if pred(rows) else None
    return wait_until(ready, 5, what)[0]


# ---------------------------------------------------------------------------
# Challenge modes


@pytest.mark.parametrize("mode,register_code,invite_code", [
    ("401", 401, 401), ("407", 407, 407), ("both", 401, 407)])
def test_challenge_mode_on_register_and_invite(tollgate, sipp, ports, mode, register_code,
                                               invite_code):
    """sip.challenge = 401 | 407 | both: the REGISTER and the INVITE get the
    right code and header name (WWW-Authenticate / Proxy-Authenticate, one
    per algorithm, MD5 first), SIPp answers in the matching header, and the
    answer is accepted: the account registers and the call goes through."""
    uas_port = ports.port()
    tg = tollgate(settings={"sip": {"challenge": mode}},
                  provisioning=password_gateway(register=True) + carrier(uas_port))
    reg = sipp("reg", "uac-register-auth.xml", remote=f"127.0.0.1:{tg.port}", caller=USER,
               keys={"expires": "120"}, extra=sipp_auth_args())
    reg.run()
    reg.assert_ok()
    challenge = reg.received()[0]
    assert challenge.status == register_code
    header = "WWW-Authenticate" if register_code == 401 else "Proxy-Authenticate"
    other = "Proxy-Authenticate" if register_code == 401 else "WWW-Authenticate"
    values = challenge.headers(header)
    assert [parse_params(v)["algorithm"] for v in values] == ["MD5", "SHA-256"], values
    assert challenge.headers(other) == []
    assert all(parse_params(v)["realm"] == "tollgate.local" for v in values)
    answer = reg.sent("REGISTER")[1]
    cred = "Authorization" if register_code == 401 else "Proxy-Authorization"
    assert answer.header(cred), answer.text
    ok = reg.received(200)[0]
    assert ok.header("Contact").endswith(";expires=120"), ok.text

    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-invite-auth.xml", remote=f"127.0.0.1:{tg.port}", ip="127.0.0.2",
               caller=USER, service=CALLEE, hold_ms=200, extra=sipp_auth_args())
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    first = uac.received()[0]
    assert first.status == invite_code
    assert first.headers("WWW-Authenticate" if invite_code == 401 else "Proxy-Authenticate")
    assert uac.sent("INVITE")[1].header(
        "Authorization" if invite_code == 401 else "Proxy-Authorization")
    # No credentials or challenges leak to the carrier.
    carrier_invite = uas.received("INVITE")[0]
    assert not carrier_invite.header("Authorization")
    assert not carrier_invite.header("Proxy-Authorization")
    cdr = tg.wait_cdrs(1)[0]
    check_cdr(cdr, reason="caller_bye", final_code=200, answered=True, hangup="caller",
              mapping_gateway="phone-100", gateways=["carrier-a"], caller=USER, callee=CALLEE,
              source=f"127.0.0.2:{uac.port}")


def test_gateway_override_of_challenge_mode(tollgate, ua):
    """A gateway's own `challenge` wins for requests naming its username."""
    tg = tollgate(settings={"sip": {"challenge": "407"}},
                  provisioning=password_gateway(challenge="401", register=True) +
                  password_gateway(name="other", username="200", password="x"))
    u = ua(tg)
    first, final, _ = u.register(PASSWORD)
    assert first.status == 401 and final.status == 200
    u2 = ua(tg, user="200")
    first, _, _ = u2.register("x")
    assert first.status == 407


def test_gateway_override_of_digest_algorithms(tollgate, ua):
    """A gateway's own digest_algorithms (here MD5 only, for phones that
    choke on a SHA-256 challenge) is what requests naming it are offered."""
    tg = tollgate(provisioning=password_gateway(register=True, digest_algorithms=["MD5"]) +
                  password_gateway(name="other", username="200", password="x"))
    first, final, _ = ua(tg).register(PASSWORD)
    assert [c["algorithm"] for c in first.challenges()] == ["MD5"]
    assert final.status == 200
    first, _, _ = ua(tg, user="200").register("x")
    assert [c["algorithm"] for c in first.challenges()] == ["MD5", "SHA-256"]


def test_credentials_accepted_in_either_header(tollgate, ua):
    """Challenged with 401, a client answering in Proxy-Authorization (and
    the reverse) is accepted: the header name does not matter."""
    tg = tollgate(settings={"sip": {"challenge": "401"}},
                  provisioning=password_gateway(register=True))
    u = ua(tg)
    call_id, tag = "either-1", "t1"
    ruri = f"sip:127.0.0.1:{tg.port}"
    r = u.transact(u.build("REGISTER", ruri, call_id=call_id, cseq=1, from_user=USER,
                           to_user=USER, from_tag=tag, extra=["Expires: 60"]))
    assert r.status == 401
    cred = credentials(r.challenges()[0], USER, PASSWORD, "REGISTER", ruri)
    r = u.transact(u.build("REGISTER", ruri, call_id=call_id, cseq=2, from_user=USER,
                           to_user=USER, from_tag=tag, auth=("Proxy-Authorization", cred),
                           extra=["Expires: 60"]))
    assert r.status == 200, r.text


def test_credentials_decide_only_for_our_realm(tollgate, ua):
    """From an IP gateway's address: an INVITE with credentials for *our*
    realm is identified by them (a phone behind the PBX's NAT), one with
    credentials for another realm (passed on by the PBX) stays the PBX's."""
    tg = tollgate(provisioning=password_gateway() + mapping_gateway("pbx", ["127.0.0.5"]) +
                  routing_gateway("carrier-99", "127.0.0.1:9", prefixes=["99"]))
    u = ua(tg, "127.0.0.5")
    ruri = f"sip:{CALLEE}@127.0.0.1:{tg.port}"
    foreign = ('Digest username="x", realm="pbx.local", nonce="n", uri="sip:y", '
               'response="00000000000000000000000000000000"')
    r = u.transact(u.build("INVITE", ruri, call_id="fr", cseq=1, from_user="4420",
                           to_user=CALLEE, from_tag="t", auth=("Proxy-Authorization", foreign)))
    assert r.status == 404, "admitted by address (no route), not challenged"
    # A client that already holds a nonce (from a REGISTER challenge) and
    # sends its credentials up front is identified by them.
    reg = u.transact(u.build("REGISTER", f"sip:127.0.0.1:{tg.port}", call_id="r", cseq=1,
                             from_user=USER, to_user=USER, from_tag="t"))
    assert reg.status == 407
    cred = credentials(reg.challenges()[0], USER, PASSWORD, "INVITE", ruri)
    r = u.transact(u.build("INVITE", ruri, call_id="own", cseq=1, from_user=USER, to_user=CALLEE,
                           from_tag="t", auth=("Proxy-Authorization", cred)))
    assert r.status == 404
    rows = tg.wait_cdrs(2)
    assert sorted(c["mapping_gateway"] for c in rows) == ["pbx", "phone-100"]


# ---------------------------------------------------------------------------
# Wrong password, unknown user, retry limits


def test_wrong_password_and_unknown_user_get_the_same_challenge(tollgate, ua):
    """A wrong password is challenged again; an unknown username gets exactly
    the same treatment (no user enumeration)."""
    tg = tollgate(provisioning=password_gateway(register=True))
    u = ua(tg, "127.0.0.2")
    _, wrong, _ = u.register("nope")
    v = ua(tg, "127.0.0.2", user="999")
    _, unknown, _ = v.register("nope")
    for r in (wrong, unknown):
        assert r is not None and r.status == 407, r
    def shape(m):
        return (m.status, m.first_line, [re.sub(r'nonce="[^"]*"', 'nonce=""', h)
                                         for h in m.headers("Proxy-Authenticate")],
                [h.split(":")[0] for h in m.head.split("\r\n")[1:]])
    assert shape(wrong) == shape(unknown)


def _suspend(u, tries):
    """`tries` REGISTERs with a wrong password; returns their final answers."""
    return [u.register("guess-%d" % i)[1] for i in range(tries)]


def test_retry_limit_suspends_the_pair_but_not_the_real_user(tollgate, ua):
    """Past auth.max_retry wrong passwords from 127.0.0.2, that source gets
    no answer for that username, even with the right password; the real
    user from 127.0.0.3 registers and calls fine. The suspension is listed by
    the CLI, cleared by it, and the node picks the clear up without a
    restart."""
    tg = tollgate(settings={"auth": {"max_retry": 4}, "store": {"provisioning_poll_ms": 200}},
                  provisioning=password_gateway(register=True))
    attacker = ua(tg, "127.0.0.2")
    answers = _suspend(attacker, 4)
    assert [a.status if a else None for a in answers] == [407, 407, 407, None], answers
    _, right, _ = attacker.register(PASSWORD, timeout=1.0)
    assert right is None, "a suspended pair is not even verified"
    first = attacker.transact(attacker.build(
        "REGISTER", f"sip:127.0.0.1:{tg.port}", call_id="bare", cseq=1, from_user=USER,
        to_user=USER, from_tag="x"), timeout=1.0)
    assert first is None, "nor challenged"

    real = ua(tg, "127.0.0.3")
    _, ok, _ = real.register(PASSWORD)
    assert ok is not None and ok.status == 200

    listed = suspensions(tg, lambda rows: rows)
    assert [(s["kind"], s["username"], s["source"], s["offenses"]) for s in listed] == [
        ("user_source", USER, "127.0.0.2", 1)], listed
    assert 170 <= listed[0]["remaining_s"] <= 180
    assert re.search(r"event=auth\.suspended kind=user_source username=100 source=127\.0\.0\.2 "
                     r"seconds=180", tg.log())

    # The suspension also banned the address in the shield (one ban list).
    why = wait_until(lambda: (lambda w: w if w["banned"] else None)(tg.ban_why("127.0.0.2")), 5,
                     "the auth ban in the store")
    assert (why["bans"][0]["reason"], why["bans"][0]["detail"]) == (
        "auth", "4 failed digest attempts for user 100"), why

    r = tg.cli("auth", "suspensions", "clear", "--config", str(tg.config_path), "--source",
               "127.0.0.2", "--user", USER)
    assert r.stdout.strip().splitlines() == ["cleared 1 suspension", "lifted 1 auth ban"]
    tg.wait_log(r"event=auth\.suspension_cleared kind=user_source username=100 "
                r"source=127\.0\.0\.2 lifted=true")
    tg.wait_log(r"event=shield\.ban_lifted address=127\.0\.0\.2")
    _, ok, _ = attacker.register(PASSWORD)
    assert ok is not None and ok.status == 200
    suspensions(tg, lambda rows: rows == [], "the cleared suspension gone")
    miss = tg.cli("auth", "suspensions", "clear", "--config", str(tg.config_path), "--source",
                  "127.0.0.2", check=False)
    assert miss.returncode == 1 and miss.stdout.strip() == "cleared 0 suspensions"


@pytest.mark.parametrize("auto_ban", [True, False])
def test_source_limit_catches_username_spraying_and_403_policy(tollgate, ua, auto_ban):
    """Many usernames from one source trip auth.source_max_retry: the whole
    source is suspended. With sip.unknown_source = "403" the request that
    tripped it gets 403 rather than silence. The suspension also bans the
    source in the shield, which then drops it before parsing (silence); when
    the shield places no ban (here shield.auto_ban = false; also a trusted
    source) the auth layer answers later requests 403 itself."""
    tg = tollgate(settings={"auth": {"source_max_retry": 5}, "sip": {"unknown_source": "403"},
                            "shield": {"auto_ban": auto_ban}},
                  provisioning=password_gateway(register=True))
    answers = []
    for i in range(5):
        u = ua(tg, "127.0.0.2", user=f"u{i}")
        answers.append(u.register("x")[1])
    assert [a.status for a in answers] == [407, 407, 407, 407, 403]
    u = ua(tg, "127.0.0.2")
    first, _, _ = u.register(PASSWORD, timeout=1.0)
    listed = suspensions(tg, lambda rows: rows)
    assert [(s["kind"], s["source"]) for s in listed] == [("source", "127.0.0.2")]
    if auto_ban:
        assert first is None, "banned by the shield: dropped unparsed"
        why = wait_until(lambda: (lambda w: w if w["banned"] else None)(tg.ban_why("127.0.0.2")),
                         5, "the auth ban in the store")
        assert (why["bans"][0]["reason"], why["bans"][0]["detail"]) == (
            "auth", "5 failed digest attempts from this source"), why
        # Lifting the ban lifts the suspension behind it (one step).
        r = tg.cli("ban", "del", "--config", str(tg.config_path), "127.0.0.2")
        assert r.stdout.strip().splitlines() == ["unbanned 127.0.0.2", "cleared 1 auth suspension"]
        tg.wait_log(r"event=shield\.ban_lifted address=127\.0\.0\.2")
        tg.wait_log(r"event=auth\.suspension_cleared kind=source .*lifted=true")
        _, ok, _ = u.register(PASSWORD)
        assert ok is not None and ok.status == 200
    else:
        assert first.status == 403
        assert not tg.ban_why("127.0.0.2")["banned"]
        tg.stats()  # SIGUSR1: node.stats, then node.auth_stats
        tg.wait_log(r"event=node\.auth_stats .*auth_bans_placed=0 auth_bans_refused=1")


def test_authenticated_source_is_vouched_for_in_the_shield(tollgate, ua):
    """A password customer at an address the shield does not know is a
    stranger only until it authenticates: then the shield treats it like a
    gateway address (no per-source limits meant for strangers), while an
    unauthenticated source at the same rate is rate-banned."""
    tg = tollgate(settings={"shield": {"recent_hits": 5}},
                  provisioning=password_gateway(register=True))
    phone = ua(tg, "127.0.0.2")
    # Each register() is two requests (challenged, then with credentials):
    # 16 in all, past recent_hits = 5 from the second registration on.
    for i in range(8):
        _, ok, _ = phone.register(PASSWORD)
        assert ok is not None and ok.status == 200, f"registration {i}: {ok}"
    stranger = ua(tg, "127.0.0.3")
    ruri = f"sip:127.0.0.1:{tg.port}"
    answered = 0
    for i in range(8):
        r = stranger.transact(stranger.build("REGISTER", ruri, call_id=f"s{i}", cseq=1,
                                             from_user=USER, to_user=USER, from_tag="t"),
                              timeout=0.5)
        answered += r is not None
    assert answered == 5, "a stranger gets recent_hits answers, then the rate ban"
    assert tg.ban_why("127.0.0.3")["bans"][0]["reason"] == "rate"
    assert not tg.ban_why("127.0.0.2")["banned"]


def test_suspension_survives_a_restart(tollgate, ua):
    tg = tollgate(settings={"auth": {"max_retry": 2}},
                  provisioning=password_gateway(register=True))
    attacker = ua(tg, "127.0.0.2")
    _suspend(attacker, 2)
    tg.wait_log(r"event=auth\.suspended")
    assert tg.stop() == 0
    tg.start()
    tg.wait_log(r"event=state\.restored bindings=\d+ suspensions=1")
    _, right, _ = attacker.register(PASSWORD, timeout=1.0)
    assert right is None, "still suspended after the restart"


# ---------------------------------------------------------------------------
# Nonces


def test_stale_nonce_is_rechallenged_with_stale_true(tollgate, ua):
    """The right password with a nonce older than auth.nonce_lifetime gets a
    fresh challenge with stale=true (not a failure); answering that works."""
    tg = tollgate(settings={"auth": {"nonce_lifetime": 10}},
                  provisioning=password_gateway(register=True))
    u = ua(tg)
    ruri = f"sip:127.0.0.1:{tg.port}"
    r = u.transact(u.build("REGISTER", ruri, call_id="st", cseq=1, from_user=USER,
                           to_user=USER, from_tag="t", extra=["Expires: 60"]))
    old = r.challenges()[0]
    time.sleep(10.6)
    r = u.transact(u.build("REGISTER", ruri, call_id="st", cseq=2, from_user=USER, to_user=USER,
                           from_tag="t", extra=["Expires: 60"],
                           auth=("Proxy-Authorization",
                                 credentials(old, USER, PASSWORD, "REGISTER", ruri))))
    assert r.status == 407
    fresh = r.challenges()
    assert all(c.get("stale") == "true" for c in fresh), r.text
    r = u.transact(u.build("REGISTER", ruri, call_id="st", cseq=3, from_user=USER, to_user=USER,
                           from_tag="t", extra=["Expires: 60"],
                           auth=("Proxy-Authorization",
                                 credentials(fresh[0], USER, PASSWORD, "REGISTER", ruri))))
    assert r.status == 200, r.text
    assert json.loads(tg.cli("auth", "suspensions", "list", "--config", str(tg.config_path),
                             "--json").stdout) == []


def test_replayed_nonce_count_and_foreign_nonce_are_refused(tollgate, ua):
    """Credentials that worked once do not work again with the same nc, nor
    from another address; the next nc works."""
    tg = tollgate(provisioning=password_gateway(register=True))
    u = ua(tg)
    ruri = f"sip:127.0.0.1:{tg.port}"
    r = u.transact(u.build("REGISTER", ruri, call_id="rp", cseq=1, from_user=USER,
                           to_user=USER, from_tag="t", extra=["Expires: 60"]))
    chal = r.challenges()[0]
    cred1 = credentials(chal, USER, PASSWORD, "REGISTER", ruri, nc=1, cnonce="c1")
    ok = u.transact(u.build("REGISTER", ruri, call_id="rp", cseq=2, from_user=USER, to_user=USER,
                            from_tag="t", extra=["Expires: 60"],
                            auth=("Proxy-Authorization", cred1)))
    assert ok.status == 200
    replay = u.transact(u.build("REGISTER", ruri, call_id="rp", cseq=3, from_user=USER,
                                to_user=USER, from_tag="t", extra=["Expires: 60"],
                                auth=("Proxy-Authorization", cred1)))
    assert replay.status == 407 and "stale=true" in replay.header("Proxy-Authenticate")
    elsewhere = ua(tg, "127.0.0.4")
    r = elsewhere.transact(elsewhere.build("REGISTER", ruri, call_id="rp2", cseq=1,
                                           from_user=USER, to_user=USER, from_tag="t",
                                           extra=["Expires: 60"],
                                           auth=("Proxy-Authorization", credentials(
                                               chal, USER, PASSWORD, "REGISTER", ruri, nc=2))))
    assert r.status == 407 and "stale" not in r.header("Proxy-Authenticate"), \
        "a nonce is bound to the address it was issued to"
    cred2 = credentials(chal, USER, PASSWORD, "REGISTER", ruri, nc=2, cnonce="c2")
    ok = u.transact(u.build("REGISTER", ruri, call_id="rp", cseq=4, from_user=USER, to_user=USER,
                            from_tag="t", extra=["Expires: 60"],
                            auth=("Proxy-Authorization", cred2)))
    assert ok.status == 200


def test_sha256_and_md5_both_work_and_the_order_is_a_setting(tollgate, ua, sipp, ports):
    """SHA-256 (RFC 7616/8760) and MD5 credentials both authenticate; with
    auth.digest_algorithms = ["SHA-256"] only SHA-256 is offered and MD5
    answers are refused."""
    tg = tollgate(provisioning=password_gateway(register=True))
    for alg in ("SHA-256", "MD5"):
        u = ua(tg)
        first, final, cred = u.register(PASSWORD, alg=alg)
        assert final is not None and final.status == 200, (alg, final)
        assert f"algorithm={alg}" in cred[1]

    tg2 = tollgate(settings={"auth": {"digest_algorithms": ["SHA-256"]}},
                   provisioning=password_gateway(register=True), name="tg2")
    u = ua(tg2)
    first, final, _ = u.register(PASSWORD)
    assert [c["algorithm"] for c in first.challenges()] == ["SHA-256"]
    assert final.status == 200
    ruri = f"sip:127.0.0.1:{tg2.port}"
    chal = dict(first.challenges()[0], algorithm="MD5")
    r = u.transact(u.build("REGISTER", ruri, call_id="md5", cseq=9, from_user=USER, to_user=USER,
                           from_tag="t", extra=["Expires: 60"],
                           auth=("Proxy-Authorization",
                                 credentials(chal, USER, PASSWORD, "REGISTER", ruri))))
    assert r.status == 407, "MD5 is not accepted when it is not offered"
