"""The management API resources of the features merged beside it, over real
HTTP on loopback against a running node: gateways with digest credentials
and call policy, accounts, fraud rules, number lists, the dynamic blacklist,
bans, digest suspensions, registrations, carriers' keep-alive state, the
stats and metrics sections of the shield, the call policy and digest
authentication, and `tollgate calls`. Each resource: a valid change that
takes effect on SIP traffic, and invalid input answered 4xx naming the
field, with nothing changed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from harness import (UdpPeer, check_cdr, mapping_gateway, routing_gateway, sip_request,
                     wait_until)
from sipua import Ua
from test_auth import PASSWORD, password_gateway

CALLER, CALLEE = "2002", "15551234567"
FAST = {"store": {"provisioning_poll_ms": 200}}


def _refused(tg, body, status, field, method="POST", path=None):
    """A request that must be refused with `status`, naming `field`."""
    r = tg.api(method, path, body)
    assert r.status == status, (body, r.status, r.text)
    err = r.json()
    assert err["field"] == field, (body, err)
    assert err["message"], err
    return err


def _ua(ports, tg, ip="127.0.0.1", user=CALLER):
    return Ua(ip, ports.port(), ("127.0.0.1", tg.port), user=user)


# ---------------------------------------------------------------------------
# Gateways: digest credentials and call policy through the API


def test_password_gateway_through_the_api_registers_with_its_hashed_password(tollgate, ports):
    """A password gateway created through the API stores HA1 digests for
    sip.domain (never the password, which the API never shows) and a phone
    registers with that password at once; changing the username needs the
    password again; the digest keys are checked like a provisioning file's."""
    tg = tollgate(settings=FAST)
    base = "/api/v1/mapping-gateways"
    r = tg.api("POST", base, {"name": "phone-1", "auth": "password", "username": "301",
                              "password": PASSWORD, "register": True, "max_contacts": 2,
                              "challenge": "401", "digest_algorithms": ["MD5"]})
    assert r.status == 201, r.text
    g = r.json()
    assert "password" not in g and g["username"] == "301" and g["register"] is True
    assert (g["challenge"], g["digest_algorithms"], g["max_contacts"]) == ("401", ["MD5"], 2)
    stored = json.loads(tg.cli("gateway", "list", "--config", str(tg.config_path),
                               "--json").stdout)["mapping_gateways"][0]
    assert stored["username"] == "301" and "password" not in stored
    realm, ha1 = tg.db_rows("SELECT realm, ha1_md5 FROM mapping_gateway")[0]
    assert realm == "tollgate.local" and re.fullmatch(r"[0-9a-f]{32}", ha1)
    assert PASSWORD not in tg.db_dump()
    if tg.pg is None:  # and not in the file's free pages either
        assert PASSWORD.encode() not in tg.store_path.read_bytes()

    phone = _ua(ports, tg, "127.0.0.2", user="301")
    first, ok, _ = phone.register(PASSWORD)
    assert first.status == 401 and ok is not None and ok.status == 200, ok

    _refused(tg, {"username": "302"}, 400, "password", "PATCH", base + "/phone-1")
    _refused(tg, {"challenge": "402"}, 400, "challenge", "PATCH", base + "/phone-1")
    _refused(tg, {"digest_algorithms": ["SHA-1"]}, 400, "digest_algorithms", "PATCH",
             base + "/phone-1")
    _refused(tg, {"max_contacts": 1000}, 400, "max_contacts", "PATCH", base + "/phone-1")
    _refused(tg, {"name": "ip-gw", "auth": "ip", "addresses": ["192.0.2.1"],
                  "password": "x" * 12}, 400, "password", "POST", base)
    _refused(tg, {"name": "p2", "auth": "password", "username": "bad user", "password": "x"},
             400, "username", "POST", base)
    _refused(tg, {"name": "p3", "auth": "password", "username": "301", "password": "pw1"},
             400, "username", "POST", base)  # taken by phone-1
    # New username with its password: the phone's old credentials stop working.
    r = tg.api("PATCH", base + "/phone-1", {"username": "302", "password": PASSWORD})
    assert r.status == 200 and r.json()["username"] == "302", r.text
    phone2 = _ua(ports, tg, "127.0.0.3", user="302")
    _, ok, _ = phone2.register(PASSWORD)
    assert ok is not None and ok.status == 200


def test_gateway_call_policy_fields_apply_live(tollgate, ports, recorder):
    """Policy keys of a mapping gateway set through the API apply to the next
    call: a caller black list refuses the caller (403, caller_blacklisted);
    references to lists and accounts that do not exist are refused."""
    carrier = recorder(answer=486)
    tg = tollgate(settings=FAST,
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}"))
    r = tg.api("POST", "/api/v1/number-lists", {"name": "bad-callers", "kind": "black",
                                                "numbers": [CALLER]})
    assert r.status == 201, r.text
    r = tg.api("PATCH", "/api/v1/mapping-gateways/cust-a",
               {"caller_lists": ["bad-callers"], "cps": 50, "max_concurrent": 20,
                "max_duration": 600})
    assert r.status == 200 and r.headers["x-tollgate-applied"] == "true", r.text
    g = r.json()
    assert (g["caller_lists"], g["cps"], g["max_concurrent"], g["max_duration"]) == (
        ["bad-callers"], 50, 20, 600)
    u = _ua(ports, tg)
    assert u.call(None, CALLEE) == [403]
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_blacklisted", final_code=403, answered=False,
              hangup="", gateways=[])
    assert carrier.requests("INVITE") == []
    base = "/api/v1/mapping-gateways/cust-a"
    _refused(tg, {"caller_lists": ["no-such-list"]}, 400, "caller_lists", "PATCH", base)
    _refused(tg, {"account": "nobody"}, 400, "account", "PATCH", base)
    _refused(tg, {"cps": -1}, 400, "cps", "PATCH", base)
    _refused(tg, {"max_duration": 10 ** 7}, 400, "max_duration", "PATCH", base)
    _refused(tg, {"dynamic_blacklist": "yes"}, 400, "dynamic_blacklist", "PATCH", base)
    assert tg.api("GET", base).json()["caller_lists"] == ["bad-callers"]  # unchanged


def test_routing_gateway_credentials_and_limits(tollgate):
    tg = tollgate(settings=FAST)
    base = "/api/v1/routing-gateways"
    r = tg.api("POST", base, {"name": "carrier-t", "address": "192.0.2.5", "transport": "tls",
                              "prefixes": [""], "priority": 1, "auth_username": "tg",
                              "auth_password": "s3cret", "register": True,
                              "register_expires": 600, "max_concurrent": 30,
                              "options_check": False})
    assert r.status == 201, r.text
    c = r.json()
    assert "auth_password" not in c and c["auth_username"] == "tg"
    assert (c["transport"], c["register"], c["register_expires"], c["max_concurrent"],
            c["options_check"]) == ("tls", True, 600, 30, False)
    _refused(tg, {"name": "c2", "address": "192.0.2.6", "prefixes": [""], "priority": 1,
                  "auth_username": "only-user"}, 400, "auth_password", "POST", base)
    _refused(tg, {"register_expires": 5}, 400, "register_expires", "PATCH", base + "/carrier-t")
    _refused(tg, {"callee_lists": ["nope"]}, 400, "callee_lists", "PATCH", base + "/carrier-t")
    _refused(tg, {"options_check": 1}, 400, "options_check", "PATCH", base + "/carrier-t")


# ---------------------------------------------------------------------------
# Accounts and fraud rules


def test_accounts_crud_and_invalid_input(tollgate, ports, recorder):
    """An account's channel limit set through the API is shared by its
    gateways at once; an account in use cannot be deleted."""
    carrier = recorder(answer=486)
    tg = tollgate(settings=FAST,
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}"))
    base = "/api/v1/accounts"
    r = tg.api("POST", base, {"name": "acme", "cps": 0.001, "cps_burst": 1})
    assert r.status == 201, r.text
    assert r.json() == {"name": "acme", "cps": 0.001, "cps_burst": 1, "max_concurrent": 0,
                        "max_duration": 0, "caller_lists": [], "callee_lists": [],
                        "dynamic_blacklist": False}
    assert tg.api("PATCH", "/api/v1/mapping-gateways/cust-a", {"account": "acme"}).status == 200
    u = _ua(ports, tg)
    assert u.call(None, CALLEE) == [486]  # the one token of the burst
    assert u.call(None, CALLEE) == [503]  # the account's rate: cps_limit
    cdrs = tg.wait_cdrs(2)
    assert sorted(c["reason"] for c in cdrs) == ["busy", "cps_limit"]
    assert [a["name"] for a in tg.api("GET", base).json()["accounts"]] == ["acme"]
    r = tg.api("DELETE", base + "/acme")
    assert r.status == 409 and r.json()["field"] == "name" and "cust-a" in r.json()["message"]
    _refused(tg, {"name": "bad name"}, 400, "name", "POST", base)
    _refused(tg, {"name": "x", "cps": 10 ** 9}, 400, "cps", "POST", base)
    _refused(tg, {"name": "x", "max_concurrent": -5}, 400, "max_concurrent", "POST", base)
    _refused(tg, {"name": "x", "callee_lists": ["missing"]}, 400, "callee_lists", "POST", base)
    _refused(tg, {"name": "x", "colour": 1}, 400, "colour", "POST", base)
    _refused(tg, {"name": "acme"}, 409, "name", "POST", base)
    assert tg.api("GET", base + "/x").status == 404
    assert tg.api("PATCH", "/api/v1/mapping-gateways/cust-a", {"account": ""}).status == 200
    assert tg.api("DELETE", base + "/acme").status == 204
    actions = [e["action"] for e in tg.api("GET", "/api/v1/audit?action=account.").json()["entries"]]
    assert actions == ["account.delete", "account.create"]


def test_fraud_rules_crud_and_invalid_input(tollgate, ports, recorder):
    carrier = recorder(answer=486)
    tg = tollgate(settings=FAST,
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}"))
    base = "/api/v1/fraud-rules"
    r = tg.api("POST", base, {"name": "premium", "prefixes": ["1555"],
                              "sequential_same_number_critical": 1})
    assert r.status == 201, r.text
    assert r.json()["sequential_same_number_critical"] == 1 and r.json()["window"] == ""
    u = _ua(ports, tg)
    assert u.call(None, CALLEE) == [486]  # the first call to the number
    assert u.call(None, CALLEE) == [403]  # the second in a row is over the critical level
    assert sorted(c["reason"] for c in tg.wait_cdrs(2)) == ["busy", "fraud_threshold"]
    _refused(tg, {"name": "w", "prefixes": ["44"], "window": "25:00-26:00",
                  "concurrent_critical": 5}, 400, "window", "POST", base)
    _refused(tg, {"name": "w", "window": "08:00-18:00"}, 400, "prefixes", "POST", base)
    _refused(tg, {"name": "w", "prefixes": ["44"], "account": "nobody",
                  "concurrent_critical": 5}, 400, "account", "POST", base)
    _refused(tg, {"name": "w", "prefixes": ["44x"], "concurrent_critical": 5}, 400, "prefixes", "POST", base)
    _refused(tg, {"name": "w", "prefixes": ["44"], "concurrent_warning": -1}, 400,
             "concurrent_warning", "POST", base)
    r = tg.api("PATCH", base + "/premium", {"sequential_same_number_critical": 100})
    assert r.status == 200, r.text
    assert u.call(None, CALLEE) == [486]  # rule relaxed live: the carrier gets it
    assert tg.api("DELETE", base + "/premium").status == 204
    assert tg.api("GET", base).json() == {"fraud_rules": []}


# ---------------------------------------------------------------------------
# Number lists and the dynamic blacklist


def test_number_lists_crud_and_invalid_input(tollgate):
    tg = tollgate(settings=FAST, provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    base = "/api/v1/number-lists"
    r = tg.api("POST", base, {"name": "premium", "kind": "black", "description": "UK premium",
                              "numbers": ["44909*", "1900*"]})
    assert r.status == 201, r.text
    assert r.json() == {"name": "premium", "kind": "black", "description": "UK premium",
                        "numbers": ["1900*", "44909*"]}
    r = tg.api("PATCH", base + "/premium", {"add": ["4470?1"], "remove": ["1900*"]})
    assert r.status == 200, r.text
    assert (r.json()["numbers"], r.json()["added"], r.json()["removed"]) == (
        ["4470?1", "44909*"], 1, 1)
    r = tg.api("PUT", base + "/premium/numbers", {"numbers": ["44871*"]})
    assert r.status == 200 and r.json()["numbers"] == ["44871*"]
    listed = tg.api("GET", base).json()["number_lists"]
    assert [(l["name"], l["kind"], l["entries"]) for l in listed] == [("premium", "black", 1)]
    # The CLI reads the same lists from the store.
    assert "44871*" in tg.cli("list", "show", "premium", "--config", str(tg.config_path)).stdout

    _refused(tg, {"name": "x", "kind": "grey"}, 400, "kind", "POST", base)
    _refused(tg, {"name": "bad name", "kind": "black"}, 400, "name", "POST", base)
    _refused(tg, {"name": "x", "kind": "black", "numbers": ["12 3"]}, 400, "numbers", "POST", base)
    _refused(tg, {"name": "x", "kind": "black", "description": "two\nlines"}, 400, "description", "POST", base)
    _refused(tg, {"name": "premium", "kind": "white"}, 409, "name", "POST", base)
    _refused(tg, {"add": ["a" * 80]}, 400, "add", "PATCH", base + "/premium")
    _refused(tg, {}, 400, "add", "PATCH", base + "/premium")
    _refused(tg, {"numbers": "44"}, 400, "numbers", "PUT", base + "/premium/numbers")
    assert tg.api("GET", base + "/nope").status == 404
    assert tg.api("GET", base).json()["number_lists"][0]["entries"] == 1  # nothing changed

    assert tg.api("PATCH", "/api/v1/mapping-gateways/cust-a",
                  {"callee_lists": ["premium"]}).status == 200
    r = tg.api("DELETE", base + "/premium")
    assert r.status == 409 and "cust-a" in r.json()["message"]
    assert tg.api("PATCH", "/api/v1/mapping-gateways/cust-a", {"callee_lists": []}).status == 200
    assert tg.api("DELETE", base + "/premium").status == 204
    assert tg.api("GET", base).json() == {"number_lists": []}


def test_dynamic_blacklist_list_add_and_remove(tollgate, ports, recorder):
    """An operator lists a callee through the API: the node refuses calls to
    it (callee_blacklisted) once its PolicySync has read the change, lists
    it, and lets calls through again after the removal."""
    carrier = recorder(answer=486)
    tg = tollgate(settings=FAST,
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{carrier.addr[1]}"))
    r = tg.api("POST", "/api/v1/blacklist", {"number": CALLEE, "side": "callee",
                                             "expires_in": 600})
    assert r.status == 201 and r.json()["rule"] == "manual", r.text
    entries = wait_until(lambda: tg.api("GET", "/api/v1/blacklist").json()["entries"], 5,
                         "the entry on the node")
    assert [(e["number"], e["side"], e["mode"]) for e in entries] == [(CALLEE, "callee",
                                                                       "enforce")]
    u = _ua(ports, tg)
    assert u.call(None, CALLEE) == [403]
    assert tg.wait_cdrs(1)[0]["reason"] == "callee_blacklisted"
    for body, field in [({"number": "1555*", "side": "callee", "expires_in": 60}, "number"),
                        ({"number": "1555", "side": "both", "expires_in": 60}, "side"),
                        ({"number": "1555", "side": "caller"}, "expires_in"),
                        ({"number": "1555", "side": "caller", "expires_in": 60,
                          "mode": "maybe"}, "mode")]:
        _refused(tg, body, 400, field, "POST", "/api/v1/blacklist")
    r = tg.api("DELETE", f"/api/v1/blacklist/{CALLEE}?side=sideways")
    assert r.status == 400 and r.json()["field"] == "side"
    assert tg.api("DELETE", "/api/v1/blacklist/99999").status == 404
    r = tg.api("DELETE", f"/api/v1/blacklist/{CALLEE}?side=callee")
    assert r.status == 200 and r.json()["removed"] == 1
    wait_until(lambda: tg.api("GET", "/api/v1/blacklist").json()["entries"] == [], 5,
               "the removal on the node")
    assert u.call(None, CALLEE) == [486]


# ---------------------------------------------------------------------------
# Bans, suspensions, registrations


def _invite_answered(tg, ports, ip) -> bool:
    peer = UdpPeer(ip, ports.port())
    try:
        data, _ = sip_request("INVITE", f"sip:{CALLEE}@127.0.0.1:{tg.port}", peer.addr,
                              to_user=CALLEE)
        peer.send(data, ("127.0.0.1", tg.port))
        return any(d.status == 403 for d in peer.recv_all(1.0))
    finally:
        peer.close()


def test_bans_crud_reach_the_running_shield(tollgate, ports):
    """A ban added through the API drops the address in the running node
    (with sip.unknown_source = "403" an unbanned stranger is answered, a
    banned one is not); `why` explains it; DELETE lifts it; a trusted
    address cannot be banned."""
    tg = tollgate(settings={**FAST, "sip": {"unknown_source": "403"}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    assert _invite_answered(tg, ports, "127.0.0.7")
    r = tg.api("POST", "/api/v1/bans", {"address": "127.0.0.7", "duration": 600,
                                        "note": "ticket 7"})
    assert r.status == 201, r.text
    assert (r.json()["reason"], r.json()["detail"], r.json()["origin"]) == ("manual", "ticket 7",
                                                                           "manual")
    wait_until(lambda: tg.api("GET", "/api/v1/stats").json()["shield"]["tables"]["bans_active"]
               == 1, 5, "the ban on the node")
    assert not _invite_answered(tg, ports, "127.0.0.7")
    why = tg.api("GET", "/api/v1/bans/why?address=127.0.0.7").json()
    assert why["banned"] and why["bans"][0]["detail"] == "ticket 7" and why["trusted"] is None
    assert [b["address"] for b in tg.api("GET", "/api/v1/bans").json()["bans"]] == ["127.0.0.7"]
    # A /29 around the trusted gateway: banned, the gateway stays trusted.
    r = tg.api("POST", "/api/v1/bans", {"address": "127.0.0.0/29"})
    assert r.status == 201 and r.json()["trusted_inside"] == ["127.0.0.1"], r.text
    assert tg.api("GET", "/api/v1/bans/why?address=127.0.0.1").json()["trusted"] == \
        "a gateway address"

    _refused(tg, {"address": "127.0.0.1"}, 400, "address", "POST", "/api/v1/bans")
    _refused(tg, {"address": "not-an-ip"}, 400, "address", "POST", "/api/v1/bans")
    _refused(tg, {"address": "127.0.0.8", "duration": 0}, 400, "duration", "POST",
             "/api/v1/bans")
    _refused(tg, {"address": "127.0.0.8", "note": "a\x01b"}, 400, "note", "POST",
             "/api/v1/bans")
    r = tg.api("GET", "/api/v1/bans/why")
    assert r.status == 400 and r.json()["field"] == "address"
    r = tg.api("DELETE", "/api/v1/bans?address=127.0.0.9")
    assert r.status == 404 and r.json()["field"] == "address"

    assert tg.api("DELETE", "/api/v1/bans?address=127.0.0.0/29").status == 200
    r = tg.api("DELETE", "/api/v1/bans?address=127.0.0.7")
    assert r.status == 200 and r.json()["unbanned"] is True
    wait_until(lambda: tg.api("GET", "/api/v1/stats").json()["shield"]["tables"]["bans_active"]
               == 0, 5, "the lift on the node")
    assert _invite_answered(tg, ports, "127.0.0.7")
    actions = [e["action"] for e in tg.api("GET", "/api/v1/audit?action=ban.").json()["entries"]]
    assert actions == ["ban.delete", "ban.delete", "ban.add", "ban.add"]


def test_suspensions_list_and_clear_lift_the_auth_ban(tollgate, ports):
    tg = tollgate(settings={**FAST, "auth": {"max_retry": 2}},
                  provisioning=password_gateway(register=True))
    guesser = _ua(ports, tg, "127.0.0.2", user="100")
    for i in range(2):
        guesser.register(f"guess-{i}")
    susp = wait_until(lambda: tg.api("GET", "/api/v1/suspensions").json()["suspensions"], 5,
                      "the suspension")
    assert [(s["kind"], s["username"], s["source"]) for s in susp] == [
        ("user_source", "100", "127.0.0.2")]
    assert 170 <= susp[0]["remaining_s"] <= 180
    wait_until(lambda: tg.api("GET", "/api/v1/bans/why?address=127.0.0.2").json()["banned"], 5,
               "the auth ban")
    for query, field in [("", "source"), ("?source=nope", "source"),
                         ("?all=true&source=127.0.0.2", "all")]:
        r = tg.api("DELETE", "/api/v1/suspensions" + query)
        assert r.status == 400 and r.json()["field"] == field, (query, r.text)
    assert tg.api("DELETE", "/api/v1/suspensions?source=127.0.0.9").status == 404
    r = tg.api("DELETE", "/api/v1/suspensions?source=127.0.0.2&username=100")
    assert r.status == 200 and r.json() == {"cleared": 1, "bans_lifted": 1}, r.text
    tg.wait_log(r"event=auth\.suspension_cleared .*lifted=true")
    tg.wait_log(r"event=shield\.ban_lifted address=127\.0\.0\.2")
    wait_until(lambda: tg.api("GET", "/api/v1/suspensions").json()["suspensions"] == [], 5,
               "the suspension gone from the node")
    _, ok, _ = guesser.register(PASSWORD)
    assert ok is not None and ok.status == 200


def test_registrations_list_and_force_unregister(tollgate, ports, sipp):
    tg = tollgate(settings=FAST, provisioning=password_gateway(register=True) +
                  mapping_gateway("cust-a", ["127.0.0.1"]))
    phone = _ua(ports, tg, "127.0.0.2", user="100")
    _, ok, _ = phone.register(PASSWORD, expires=300)
    assert ok.status == 200
    regs = tg.api("GET", "/api/v1/registrations").json()["registrations"]
    assert len(regs) == 1
    reg = regs[0]
    assert (reg["username"], reg["gateway"], reg["online"], reg["transport"]) == (
        "100", "phone-100", True, "udp")
    assert reg["source"].startswith("127.0.0.2:")
    assert tg.api("GET", "/api/v1/registrations?username=999").json() == {"registrations": []}
    r = tg.api("DELETE", "/api/v1/registrations/999")
    assert r.status == 404 and r.json()["field"] == "username"
    r = tg.api("DELETE", "/api/v1/registrations/100?contact=sip:100@192.0.2.1")
    assert r.status == 404 and r.json()["field"] == "contact"
    r = tg.api("DELETE", "/api/v1/registrations/100")
    assert r.status == 200 and r.json() == {"username": "100", "removed": 1}
    assert tg.api("GET", "/api/v1/registrations").json() == {"registrations": []}
    # The phone is no longer reachable: a call to it is callee_offline.
    uac = sipp("uac", "uac-expect-480.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service="100")
    uac.run()
    uac.assert_ok()
    assert tg.wait_cdrs(1)[0]["reason"] == "callee_offline"
    # ... and the store forgot the binding too (written by a background thread).
    wait_until(lambda: json.loads(tg.cli("registration", "list", "--config",
                                         str(tg.config_path), "--json").stdout) == [], 5,
               "the binding gone from the store")


# ---------------------------------------------------------------------------
# Carriers, stats, metrics, `tollgate calls`


def test_carriers_out_of_rotation_in_api_stats_and_metrics(tollgate, ports, recorder):
    live = recorder(answer_options=True)
    dead_port = ports.port()  # nothing listens there
    tg = tollgate(settings={**FAST, "routing": {"options_check_period": 1,
                                                "options_failure_limit": 1}},
                  provisioning=routing_gateway("live", f"127.0.0.1:{live.addr[1]}") +
                  routing_gateway("dead", f"127.0.0.1:{dead_port}", priority=20))

    def states():
        return {c["name"]: c["in_rotation"]
                for c in tg.api("GET", "/api/v1/carriers").json()["carriers"]}
    wait_until(lambda: states() == {"live": True, "dead": False}, 10, "the dead carrier out")
    s = tg.api("GET", "/api/v1/stats").json()["carriers"]
    assert s["monitored"] == 2 and s["out_of_rotation"] == 1 and s["went_down"] >= 1
    text = tg.api("GET", "/metrics").text
    assert 'tollgate_carrier_in_rotation{gateway="dead"} 0' in text
    assert 'tollgate_carrier_in_rotation{gateway="live"} 1' in text


def test_stats_and_metrics_have_the_shield_policy_and_auth_sections(tollgate, ports):
    tg = tollgate(settings={**FAST, "auth": {"max_retry": 2}},
                  provisioning=password_gateway(register=True))
    guesser = _ua(ports, tg, "127.0.0.2", user="100")
    for i in range(2):
        guesser.register(f"guess-{i}")
    wait_until(lambda: tg.api("GET", "/api/v1/stats").json()["auth"]["suspensions_active"] == 1,
               5, "the suspension counted")
    s = tg.api("GET", "/api/v1/stats").json()
    assert s["auth"]["failures"] == 2 and s["auth"]["challenges"] >= 2
    assert s["auth"]["bans_placed"] == 1
    assert s["shield"]["enabled"] is True and s["shield"]["bans_by_reason"]["auth"] == 1
    assert s["shield"]["kernel_offload"]["state"] == "off"
    assert set(s["policy"]["refused_by_reason"]) == {
        "cps_limit", "concurrent_limit", "caller_blacklisted", "callee_blacklisted",
        "fraud_threshold"}
    assert s["registrar"]["online"] == 0
    text = tg.cli("stats", "--config", str(tg.config_path)).stdout
    assert re.search(r"shield\.bans_by_reason\.auth\s+1", text), text
    assert re.search(r"auth\.suspensions_active\s+1", text), text
    r = tg.api("GET", "/metrics")
    assert 'tollgate_sip_auth_total{result="failed"} 2' in r.text
    assert 'tollgate_bans_total{reason="auth"} 1' in r.text
    assert "tollgate_sip_auth_suspensions_active 1" in r.text
    assert 'tollgate_policy_refused_total{reason="cps_limit"} 0' in r.text
    assert 'tollgate_registrations{state="online"} 0' in r.text
    assert 'tollgate_shield_dropped_total{reason="signature"}' in r.text
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_tollgate_calls_lists_and_ends_through_the_api(tollgate, sipp, ports):
    """`tollgate calls` (issue 5's command) speaks the API: it lists the
    call in progress with its max duration and `calls end ID` ends it."""
    uas_port = ports.port()
    tg = tollgate(settings={"policy": {"max_duration": 600}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service=CALLEE).start()
    conf = str(tg.config_path)
    calls = wait_until(lambda: [c for c in json.loads(
        tg.cli("calls", "--config", conf, "--json").stdout)["calls"]
        if c["state"] == "confirmed"], 10, "a confirmed call")
    assert calls[0]["max_duration_s"] == 600
    table = tg.cli("calls", "--config", conf).stdout
    assert re.search(rf"{calls[0]['id']}\s+confirmed\s+{CALLER}\s+{CALLEE}.*\s600\n", table), table
    bad = tg.cli("calls", "end", "999999", "--config", conf, check=False)
    assert bad.returncode == 2 and "404" in bad.stderr
    tg.cli("calls", "end", str(calls[0]["id"]), "--config", conf)
    uac.wait()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    check_cdr(tg.wait_cdrs(1)[0], reason="admin_hangup", final_code=200, answered=True,
              hangup="system", gateways=["carrier-a"])
