"""Number lists are not bypassed by formatting.

With a callee black list `1900*`, an attacker (a customer placing premium-rate
fraud traffic) writes the barred number so that a naive prefix match misses
it: visual separators (`1-900-555-1234`, `1.900.5551234`, `(900)`), escapes
(`%2B19005551234`, `%31900...`), the international prefix (`0019005551234`),
tel-URI parameters. Every one of them must be refused like the plain number
(403, CDR `callee_blacklisted`) and never reach the carrier; a number that is
not a number at all after normalisation gets 484 and CDR `invalid_number`;
the same holds for the caller side and the dynamic blacklist. What the
carrier gets is the canonical number, and the CDR keeps both forms.

Raw UDP on loopback (rawcall.py): the test writes the Request-URI itself.
"""

from __future__ import annotations

import random

import pytest

from harness import SDP, mapping_gateway, new_call_id, routing_gateway
from rawcall import CUSTOMER_IP, quiet, request, wait_for

BARRED = [
    "1-900-555-1234",
    "1.900.5551234",
    "1(900)555-1234",
    "%2B19005551234",
    "%2B1-900-555-1234",
    "+1.900.555.1234",
    "0019005551234",
    "00-1-900-555-1234",
    "%31%39%30%30%35%35%35%31%32%33%34",
    "19005551234;phone-context=example.com",
    "%2B1%20900%205551234",
]


def _node(tollgate, ports, lists=(), blacklist=(), **customer):
    carrier_port = ports.port()
    tg = tollgate(start=False)
    for name, kind, patterns in lists:
        tg.cli("list", "create", name, "--kind", kind, "--config", str(tg.config_path))
        tg.cli("list", "add", name, *patterns, "--config", str(tg.config_path))
    for number, side in blacklist:
        tg.cli("blacklist", "add", number, "--side", side, "--config", str(tg.config_path))
    tg.import_text(mapping_gateway("cust-a", [CUSTOMER_IP], **customer) +
                   routing_gateway("carrier-a", f"127.0.0.1:{carrier_port}"))
    tg.start()
    return tg, carrier_port


def _invite(customer, tg, user, caller="4420"):
    call_id = new_call_id("num")
    msg = request("INVITE", f"sip:{user}@127.0.0.1:{tg.port}", customer.addr, call_id=call_id,
                  from_hdr=f"<sip:{caller}@{CUSTOMER_IP}>;tag={random.getrandbits(32):08x}",
                  to_hdr=f"<sip:{user}@127.0.0.1>", cseq=1, body=SDP.format(ip=CUSTOMER_IP))
    customer.send(msg, ("127.0.0.1", tg.port))
    return call_id


def _final(customer):
    got = customer.recv_until(lambda d: d.status >= 200, 5)
    return got[-1].status if got and got[-1].status >= 200 else None


def test_formatted_barred_numbers_are_refused(tollgate, udp, ports):
    tg, carrier_port = _node(tollgate, ports, lists=[("premium", "black", ["1900*"])],
                             callee_lists=["premium"])
    customer, carrier = udp(CUSTOMER_IP), udp("127.0.0.1", carrier_port)
    for user in BARRED:
        _invite(customer, tg, user)
        assert _final(customer) == 403, user
    assert quiet(carrier, 1.0, lambda d: d.text.startswith("INVITE ")) == [], \
        "no formatting of a barred number may reach the carrier"
    cdrs = tg.wait_cdrs(len(BARRED))
    assert {c["reason"] for c in cdrs} == {"callee_blacklisted"}, cdrs
    assert {c["callee"] for c in cdrs} == {"19005551234"}, [c["callee"] for c in cdrs]
    assert sorted(c["callee_raw"] for c in cdrs) == sorted(BARRED)


def test_carrier_gets_the_canonical_number(tollgate, udp, ports):
    tg, carrier_port = _node(tollgate, ports)
    customer, carrier = udp(CUSTOMER_IP), udp("127.0.0.1", carrier_port)
    _invite(customer, tg, "%2B44-20-7946-0000", caller="%2B44.161.496.0000")
    got = wait_for(carrier, "INVITE", 5)
    assert got, "a dialable number reaches the carrier"
    assert got.text.split("\r\n", 1)[0] == f"INVITE sip:442079460000@127.0.0.1:{carrier_port} SIP/2.0"
    assert "<sip:441614960000@" in got.header("From"), got.header("From")


@pytest.mark.parametrize("user", ["abc", "1900%ZZ", "19%005551234", "1" * 40, "%2B0123"])
def test_a_number_that_is_not_dialable_is_refused(tollgate, udp, ports, user):
    tg, carrier_port = _node(tollgate, ports)
    customer, carrier = udp(CUSTOMER_IP), udp("127.0.0.1", carrier_port)
    _invite(customer, tg, user)
    assert _final(customer) == 484
    assert quiet(carrier, 0.5, lambda d: d.text.startswith("INVITE ")) == []
    cdr = tg.wait_cdrs(1)[0]
    assert cdr["reason"] == "invalid_number" and cdr["final_code"] == 484, cdr
    assert cdr["callee_raw"] == user


def test_caller_lists_and_dynamic_blacklist_see_the_canonical_caller(tollgate, udp, ports):
    tg, carrier_port = _node(tollgate, ports, lists=[("bad-callers", "black", ["4490*"])],
                             blacklist=[("+1-555-010-0999", "callee")],
                             caller_lists=["bad-callers"])
    customer, carrier = udp(CUSTOMER_IP), udp("127.0.0.1", carrier_port)
    _invite(customer, tg, "15551234567", caller="%2B44-90-1234")
    assert _final(customer) == 403
    _invite(customer, tg, "1.555.010.0999")
    assert _final(customer) == 403
    assert quiet(carrier, 0.5, lambda d: d.text.startswith("INVITE ")) == []
    reasons = sorted(c["reason"] for c in tg.wait_cdrs(2))
    assert reasons == ["callee_blacklisted", "caller_blacklisted"], reasons
