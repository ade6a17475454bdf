"""The canonical form of numbers ([numbers], docs/configuration.md#numbers)
where operators meet it without a call: number lists tested from the CLI,
blacklist entries added by CLI and API, the CDR API's number search and the
settings check. Real tollgate processes and store; the calls themselves
(routing, lists and the CDR of a call) are tested with the switch.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from harness import mapping_gateway

# One premium-rate number, as customers' gateways write it.
PREMIUM_FORMS = ["19005551234", "1-900-555-1234", "1.900.5551234", "%2B19005551234",
                 "+1 (900) 555-1234", "0019005551234", "%31900%35551234",
                 "+1-900-555-1234;phone-context=+1"]


def cli(tg, *args, check=True):
    return tg.cli(*args, "--config", str(tg.config_path), check=check)


def test_list_patterns_and_numbers_meet_in_canonical_form(tollgate):
    """A list entry written "+1-900*" matches every way of writing a 1900
    number, and nothing else; `list test` shows the canonical form."""
    tg = tollgate(start=False)
    cli(tg, "list", "create", "premium", "--kind", "black")
    cli(tg, "list", "add", "premium", "+1-900*")
    for number in PREMIUM_FORMS:
        r = cli(tg, "list", "test", "premium", number, check=False)
        assert r.returncode == 0, (number, r.stdout, r.stderr)
        assert "matches premium" in r.stdout, r.stdout
    r = cli(tg, "list", "test", "premium", "+1 (800) 555-1234", check=False)
    assert r.returncode == 1 and "(18005551234) does not match" in r.stdout, r.stdout
    r = cli(tg, "list", "test", "premium", "abc%2G", check=False)
    assert r.returncode == 1 and "abc%2G (abc?2G) (not dialable) does not match" in r.stdout, \
        r.stdout
    # The pattern is kept as the operator wrote it.
    shown = json.loads(cli(tg, "list", "show", "premium", "--json").stdout)
    assert shown["patterns"] == ["+1-900*"], shown


def test_form_e164_keeps_the_plus_and_national_numbers_apart(tollgate):
    tg = tollgate(settings={"numbers": {"form": "e164", "international_prefix": "011"}},
                  start=False)
    cli(tg, "list", "create", "premium", "--kind", "black")
    cli(tg, "list", "add", "premium", "011-1-900*")
    r = cli(tg, "list", "test", "premium", "%2B19005551234", check=False)
    assert r.returncode == 0 and "(+19005551234) matches" in r.stdout, r.stdout
    assert cli(tg, "list", "test", "premium", "01119005551234", check=False).returncode == 0
    # National "1900..." is another number in this form ("00" is no prefix here).
    assert cli(tg, "list", "test", "premium", "1-900-555-1234", check=False).returncode == 1
    assert cli(tg, "list", "test", "premium", "0019005551234", check=False).returncode == 1


def test_blacklist_entries_by_cli_and_api_are_canonical(tollgate):
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    out = cli(tg, "blacklist", "add", "+44-20-7123-4567", "--side", "callee").stdout
    assert "listed 442071234567 as callee" in out, out
    r = tg.api("POST", "/api/v1/blacklist", {"number": "%2B1(900)555-1234", "side": "caller",
                                             "expires_in": 600})
    assert r.status == 201 and r.json()["number"] == "19005551234", r.text
    numbers = {e["number"] for e in json.loads(cli(tg, "blacklist", "show", "--json").stdout)}
    assert numbers == {"442071234567", "19005551234"}, numbers
    # Taken off by any form of the number.
    assert "removed 1 entry for 442071234567" in cli(tg, "blacklist", "remove",
                                                     "0044-20-7123-4567").stdout
    r = tg.api("DELETE", "/api/v1/blacklist/1-900-555-1234")
    assert r.status == 200 and r.json()["removed"] == 1, r.text


def test_cdr_number_search_normalises_and_rows_carry_raw_numbers(tollgate):
    """CDRs hold canonical numbers beside the raw ones (written here as the
    switch writes them); a search by any form of a number finds its rows, and
    every rendering (API JSON, CSV, CLI table --raw) carries both forms."""
    tg = tollgate()
    con = sqlite3.connect(tg.store_path)
    with con:
        for i, (canonical, raw) in enumerate([("19005551234", "%2B1-900-555-1234"),
                                              ("442071234567", "+44 20 7123 4567")]):
            con.execute(
                "INSERT INTO cdr(call_id, start_us, answer_us, end_us, caller, callee, "
                "source_address, transport, mapping_gateway, routing_gateway, gateways_tried, "
                "final_code, duration_ms, hangup, reason, caller_raw, callee_raw) "
                "VALUES (?,?,0,?,?,?,'192.0.2.1:5060','udp','cust-a','','',?,0,'',?,?,?)",
                (f"c{i}", 1_790_000_000_000_000 + i, 1_790_000_000_001_000 + i, "4420", canonical,
                 484 if i == 0 else 403, "invalid_number" if i == 0 else "callee_blacklisted",
                 "4420;user=phone", raw))
    con.close()
    for q in ("%2B1%20(900)%20555-1234", "0019005551234", "1.900.555.1234"):
        r = tg.api("GET", "/api/v1/cdrs?number=" + q)
        assert r.status == 200, r.text
        assert [c["call_id"] for c in r.json()["cdrs"]] == ["c0"], (q, r.text)
    row = tg.api("GET", "/api/v1/cdrs?reason=invalid_number").json()["cdrs"][0]
    assert (row["callee"], row["callee_raw"], row["caller_raw"]) == \
        ("19005551234", "%2B1-900-555-1234", "4420;user=phone"), row
    table = list(csv.reader(io.StringIO(tg.api("GET", "/api/v1/cdrs?format=csv").text)))
    assert table[0][15:18] == ["reason", "caller_raw", "callee_raw"], table[0]
    assert table[1][15:18] == ["callee_blacklisted", "4420;user=phone", "'+44 20 7123 4567"], table[1]
    raw = cli(tg, "cdr", "list", "--raw").stdout.splitlines()
    assert "CALLEE (RAW)" in raw[0] and "%2B1-900-555-1234" in raw[2], raw
    plain = cli(tg, "cdr", "list").stdout.splitlines()
    assert "19005551234" in plain[2] and "%2B" not in plain[2], plain
    schema = tg.api("GET", "/api/v1/openapi.json", token=None).json()["components"]["schemas"]
    assert "invalid_number" in schema["Cdr"]["properties"]["reason"]["enum"]
    assert {"caller_raw", "callee_raw"} <= schema["Cdr"]["properties"].keys()


def test_bad_numbers_settings_name_file_line_and_key(tollgate):
    cases = (({"form": "E.164"}, 'numbers.form: must be "digits" or "e164"'),
             ({"international_prefix": "810"}, "numbers.international_prefix"),
             ({"invalid_code": 200}, "numbers.invalid_code: must be between 400"))
    for i, (table, want) in enumerate(cases):
        tg = tollgate(settings={"numbers": table}, start=False, name=f"n{i}")
        r = tg.cli("config", "check", "--config", str(tg.config_path), check=False)
        assert r.returncode == 2, (table, r.stdout, r.stderr)
        assert f"{tg.config_path}:" in r.stderr and want in r.stderr, r.stderr
