"""Outbound authentication towards carriers: a routing gateway with
auth_username/auth_password answers the carrier's 401 (checked by SIPp
verifyauth) and 407 (Proxy-Authorization, checked here with hashlib since
verifyauth only reads Authorization) with a new CSeq on the same Call-ID;
a second challenge ends the attempt (carrier_auth_failed) and fails over;
a challenged BYE and a challenged relayed re-INVITE are answered; and our own REGISTER to a carrier is
authenticated and refreshed before the granted expiry."""

from __future__ import annotations

from harness import check_cdr, mapping_gateway, routing_gateway, wait_until
from sipua import digest_response, parse_params

TRUNK_USER, TRUNK_PASSWORD = "trunk-7", "s3cret!"
CALLEE = "4420712345"


def creds(**extra):
    return {"auth_username": TRUNK_USER, "auth_password": TRUNK_PASSWORD, **extra}


def carrier_keys():
    return {"authuser": TRUNK_USER, "authpass": TRUNK_PASSWORD}


def check_answer(challenge_msg, answer_msg, header, method):
    """The answer's digest, computed independently from the challenge."""
    c = parse_params(answer_msg.header(header))
    assert c["username"] == TRUNK_USER and c["realm"] == "carrier.example"
    offered = {parse_params(v)["nonce"]: parse_params(v) for v in challenge_msg.headers(
        "Proxy-Authenticate" if header == "Proxy-Authorization" else "WWW-Authenticate")}
    assert c["nonce"] in offered
    alg = c.get("algorithm", "MD5")
    expect = digest_response(alg, TRUNK_USER, "carrier.example", TRUNK_PASSWORD, method, c["uri"],
                             c["nonce"], c.get("nc", ""), c.get("cnonce", ""), c.get("qop", ""))
    assert c["response"] == expect, answer_msg.text
    assert c["uri"] == answer_msg.first_line.split()[1], "uri= is the Request-URI we sent"
    return c


def test_carrier_401_answered_and_verified(tollgate, sipp, ports):
    """401 from the carrier: the INVITE is sent again with Authorization
    (SIPp verifyauth accepts it), CSeq 2, same Call-ID; the call completes."""
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}", **creds()))
    uas = sipp("uas", "uas-challenge-401-verify.xml", port=uas_port,
               keys=carrier_keys()).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", service=CALLEE,
               hold_ms=300)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    first, second = uas.received("INVITE")
    assert second.header("Call-ID") == first.header("Call-ID")
    assert first.header("CSeq") == "1 INVITE" and second.header("CSeq") == "2 INVITE"
    assert second.header("Via") != first.header("Via"), "a new transaction (branch)"
    assert not first.header("Authorization")
    c = check_answer(uas.sent(401)[0], second, "Authorization", "INVITE")
    assert c["qop"] == "auth" and c["nc"] == "00000001" and c["opaque"] == "op4que"
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-a"])


def test_carrier_407_answered_with_proxy_authorization(tollgate, sipp, ports):
    """407 with SHA-256 and MD5 challenges: answered in Proxy-Authorization
    with the first one offered (SHA-256), correct by an independent
    computation; the caller never sees the challenge."""
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}", **creds()))
    uas = sipp("uas", "uas-challenge-407.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", service=CALLEE,
               hold_ms=300)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    second = uas.received("INVITE")[1]
    assert not second.header("Authorization")
    c = check_answer(uas.sent(407)[0], second, "Proxy-Authorization", "INVITE")
    assert c["algorithm"] == "SHA-256"
    assert [m.status for m in uac.received() if m.status >= 200] == [200, 200]
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-a"])


def test_second_challenge_fails_over_with_carrier_auth_failed(tollgate, sipp, ports):
    """A carrier that challenges our answer again refused the credentials:
    the attempt ends and the next carrier takes the call. Alone, the call
    fails 503 with CDR carrier_auth_failed."""
    bad_port, good_port = ports.port(), ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-bad", f"127.0.0.1:{bad_port}", priority=1, **creds()) +
                  routing_gateway("carrier-good", f"127.0.0.1:{good_port}", priority=2))
    bad = sipp("bad", "uas-challenge-twice.xml", port=bad_port).start().wait_listening()
    good = sipp("good", "uas-answer.xml", port=good_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", service=CALLEE,
               hold_ms=200)
    uac.run()
    bad.wait()
    good.wait()
    uac.assert_ok()
    bad.assert_ok()
    good.assert_ok()
    assert len(bad.received("INVITE")) == 2, "answered once, then given up"
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-bad", "carrier-good"])
    tg.wait_log(r"event=call\.carrier_auth_failed .*gateway=carrier-bad code=401 credentials=true")

    alone = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                     routing_gateway("carrier-bad", f"127.0.0.1:{bad_port}", **creds()),
                     name="alone")
    bad2 = sipp("bad2", "uas-challenge-twice.xml", port=bad_port).start().wait_listening()
    uac2 = sipp("uac2", "uac-expect-503.xml", remote=f"127.0.0.1:{alone.port}", service=CALLEE)
    uac2.run()
    bad2.wait()
    uac2.assert_ok()
    check_cdr(alone.wait_cdrs(1)[0], reason="carrier_auth_failed", final_code=503,
              answered=False, gateways=["carrier-bad"])


def test_challenged_bye_is_answered(tollgate, sipp, ports):
    """The carrier challenges the relayed BYE with 407: it is sent again with
    Proxy-Authorization and a new CSeq, and the carrier accepts it."""
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}", **creds()))
    uas = sipp("uas", "uas-answer-challenge-bye.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", service=CALLEE,
               hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    bye1, bye2 = uas.received("BYE")
    assert int(bye2.header("CSeq").split()[0]) == int(bye1.header("CSeq").split()[0]) + 1
    assert bye2.header("Call-ID") == bye1.header("Call-ID")
    check_answer(uas.sent(407)[0], bye2, "Proxy-Authorization", "BYE")


def test_challenged_reinvite_is_answered(tollgate, sipp, ports):
    """A re-INVITE relayed from the caller is challenged by the carrier: it
    is sent again with credentials (verifyauth) and a new CSeq, and the
    caller only sees the carrier's final 200, never the 401."""
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}", **creds()))
    uas = sipp("uas", "uas-answer-challenge-reinvite.xml", port=uas_port,
               keys=carrier_keys()).start().wait_listening()
    uac = sipp("uac", "uac-reinvite.xml", remote=f"127.0.0.1:{tg.port}", service=CALLEE,
               hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    first, challenged, answered = uas.received("INVITE")
    assert challenged.header("Call-ID") == answered.header("Call-ID") == first.header("Call-ID")
    assert int(answered.header("CSeq").split()[0]) == int(challenged.header("CSeq").split()[0]) + 1
    check_answer(uas.sent(401)[0], answered, "Authorization", "INVITE")
    assert uac.received(401) == []
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-a"])


def test_outbound_register_authenticates_and_refreshes(tollgate, sipp, ports):
    """register = true on a routing gateway: we REGISTER as auth_username,
    answer the 401 (verifyauth), and refresh before the granted 2 s run out
    (same Call-ID, higher CSeq, authenticated again)."""
    reg_port = ports.port()
    registrar = sipp("registrar", "uas-registrar-401-verify.xml", port=reg_port,
                     keys=carrier_keys(), timeout=15).start().wait_listening()
    tg = tollgate(provisioning=routing_gateway("carrier-a", f"127.0.0.1:{reg_port}",
                                               register=True, register_expires=300, **creds()))
    registrar.wait()
    registrar.assert_ok()
    regs = registrar.received("REGISTER")
    assert len(regs) == 4
    assert len({r.header("Call-ID") for r in regs}) == 1
    cseqs = [int(r.header("CSeq").split()[0]) for r in regs]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == 4
    assert regs[0].header("Expires") == "300"
    assert regs[0].header("To") == f"<sip:{TRUNK_USER}@127.0.0.1:{reg_port}>"
    assert regs[0].header("Contact") == f"<sip:{TRUNK_USER}@127.0.0.1:{tg.port}>"
    tg.wait_log(r"event=registrar\.outbound_registered gateway=carrier-a expires=2")
