"""The management API over real HTTP on loopback: every route is in the
OpenAPI document and vice versa, provisioning resources (CRUD, invalid input
naming the field, concurrent edits, live apply), live calls, CDRs (filters,
paging, CSV), stats, /metrics (promtool), web access control at accept, HTTPS,
and the CLI commands that speak the API."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import (REPO, TOLLGATE_BIN, api_request, check_cdr, mapping_gateway,
                     routing_gateway, self_signed_certificate, wait_until)

CALLER, CALLEE = "2002", "15551234567"
# Keys a gateway has beside the core ones, at their defaults (digest
# credentials and call policy; see test_api_resources.py for them).
MAPPING_DEFAULTS = {"username": "", "register": False, "max_contacts": 1, "challenge": "",
                    "digest_algorithms": [], "tls_names": [], "account": "", "cps": 0,
                    "cps_burst": 0, "max_concurrent": 0, "max_duration": 0,
                    "overload_weight": 1, "caller_lists": [], "callee_lists": [],
                    "dynamic_blacklist": False, "trust_identity": False, "pass_headers": [],
                    "asserted_identity": "", "media": "", "codecs": []}
ROUTING_DEFAULTS = {"auth_username": "", "register": False, "register_expires": 3600, "cps": 0,
                    "cps_burst": 0, "max_concurrent": 0, "caller_lists": [], "callee_lists": [],
                    "options_check": True, "trust_identity": False, "pass_headers": [],
                    "media": "", "codecs": []}


def _route_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "no-such-thing", template)


def test_openapi_document_matches_routes_and_checked_in_copy(tollgate):
    """The served document equals docs/openapi.json (kept in sync), every
    documented operation is routed (never the router's 404/405), and paths
    that are not documented are not routed."""
    tg = tollgate()
    r = tg.api("GET", "/api/v1/openapi.json", token=None)  # public
    assert r.status == 200, r.text
    doc = r.json()
    assert doc == json.loads((REPO / "docs" / "openapi.json").read_text()), \
        "docs/openapi.json is stale: regenerate with `tollgate api openapi > docs/openapi.json`"
    ops = [(m.upper(), p) for p, item in doc["paths"].items() for m in item]
    assert len(ops) >= 30
    for method, template in ops:
        path = _route_path(template)
        if template in ("/api/v1/trace", "/api/v1/live"):
            path += "?duration=1"
        resp = tg.api(method, path, body={} if method in ("POST", "PUT", "PATCH") else None)
        assert resp.status != 405, (method, template, resp.text)
        if resp.status == 404:
            assert resp.json()["error"] != "no_route", (method, template)
    for method, path in [("GET", "/api/v1/nothing"), ("GET", "/api/v2/stats"),
                         ("POST", "/api/v1/stats"), ("GET", "/admin")]:
        resp = tg.api(method, path)
        assert resp.status in (404, 405), (method, path, resp.status)
        if resp.status == 404:
            assert resp.json()["error"] == "no_route"
    cli = tg.cli("api", "openapi")
    assert json.loads(cli.stdout) == doc


def test_unauthenticated_and_bad_tokens_are_refused(tollgate):
    tg = tollgate()
    for token in (None, "tgs_nonsense", "tgt_" + "A" * 43, "tgl_" + "B" * 43, "x" * 500):
        r = tg.api("GET", "/api/v1/stats", token=token)
        assert r.status == 401, (token, r.text)
        assert r.json()["error"] == "unauthenticated"
        assert r.headers.get("www-authenticate") == "Bearer"
    assert tg.api("GET", "/api/v1/stats").status == 200


def test_mapping_gateway_crud_and_invalid_input(tollgate):
    tg = tollgate()
    base = "/api/v1/mapping-gateways"
    r = tg.api("POST", base, {"name": "cust-a", "auth": "ip", "addresses": ["192.0.2.10"]})
    assert r.status == 201, r.text
    assert r.json() == {"name": "cust-a", "auth": "ip", "addresses": ["192.0.2.10"],
                        "enabled": True, **MAPPING_DEFAULTS}
    assert r.headers["x-tollgate-applied"] == "true"
    assert tg.api("GET", base + "/cust-a").json()["addresses"] == ["192.0.2.10"]
    # PATCH changes only what it names; PUT replaces.
    r = tg.api("PATCH", base + "/cust-a", {"enabled": False})
    assert r.status == 200 and r.json()["enabled"] is False and r.json()["addresses"] == ["192.0.2.10"]
    r = tg.api("PUT", base + "/cust-a", {"auth": "ip_port", "addresses": ["192.0.2.10:5060"]})
    assert r.status == 200, r.text
    assert r.json() == {"name": "cust-a", "auth": "ip_port", "addresses": ["192.0.2.10:5060"],
                        "enabled": True, **MAPPING_DEFAULTS}
    listed = tg.api("GET", base).json()["mapping_gateways"]
    assert [g["name"] for g in listed] == ["cust-a"]
    # The store holds what the API said (the CLI reads the store directly).
    stored = json.loads(tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout)
    assert stored["mapping_gateways"][0]["addresses"] == ["192.0.2.10:5060"]

    invalid = [
        ({"name": "bad name", "auth": "ip", "addresses": ["192.0.2.1"]}, 400, "name"),
        ({"name": "x", "auth": "ip", "addresses": ["10.0.0.300"]}, 400, "addresses"),
        ({"name": "x", "auth": "ip_port", "addresses": ["192.0.2.1"]}, 400, "addresses"),
        ({"name": "x", "auth": "magic", "addresses": ["192.0.2.1"]}, 400, "auth"),
        ({"name": "x", "auth": "ip"}, 400, "addresses"),
        ({"name": "x", "auth": "ip", "addresses": "192.0.2.1"}, 400, "addresses"),
        ({"name": "x", "auth": "ip", "addresses": [1]}, 400, "addresses"),
        ({"name": "x", "auth": "ip", "addresses": ["192.0.2.1"], "colour": "red"}, 400, "colour"),
        ({"name": "x", "auth": "ip", "addresses": ["192.0.2.1"], "enabled": "yes"}, 400, "enabled"),
        # Same source, same specificity as cust-a: ambiguous.
        ({"name": "x", "auth": "ip_port", "addresses": ["192.0.2.10:5060"]}, 400, "addresses"),
        ({"name": "cust-a", "auth": "ip", "addresses": ["192.0.2.99"]}, 409, "name"),
    ]
    for body, status, field in invalid:
        r = tg.api("POST", base, body)
        assert r.status == status, (body, r.text)
        err = r.json()
        assert err["field"] == field, (body, err)
        assert err["message"], err
    for raw in (b"{not json", b"[1,2]", b""):
        r = tg.api("POST", base, raw)
        assert r.status == 400 and r.json()["error"] in ("invalid_json", "invalid_body"), r.text
    r = tg.api("PATCH", base + "/cust-a", {"name": "renamed"})
    assert r.status == 400 and r.json()["field"] == "name"
    r = tg.api("PATCH", base + "/nobody", {"enabled": True})
    assert r.status == 404 and r.json()["field"] == "name"
    # Nothing of the refused requests was written.
    assert [g["name"] for g in tg.api("GET", base).json()["mapping_gateways"]] == ["cust-a"]
    assert tg.api("DELETE", base + "/cust-a").status == 204
    assert tg.api("GET", base + "/cust-a").status == 404
    assert tg.api("DELETE", base + "/cust-a").status == 404

    audit = tg.api("GET", "/api/v1/audit?action=mapping_gateway.").json()["entries"]
    actions = [e["action"] for e in reversed(audit)]
    assert actions == ["mapping_gateway.create", "mapping_gateway.update",
                       "mapping_gateway.update", "mapping_gateway.delete"]
    upd = audit[1]  # the PUT
    assert upd["actor"] == "local-cli" and upd["source"].startswith("127.0.0.1:")
    assert upd["before"]["auth"] == "ip" and upd["after"]["auth"] == "ip_port"


def test_routing_gateway_crud_and_invalid_input(tollgate):
    tg = tollgate()
    base = "/api/v1/routing-gateways"
    body = {"name": "carrier-a", "address": "192.0.2.5:5060", "prefixes": ["44", ""],
            "priority": 10}
    r = tg.api("POST", base, body)
    assert r.status == 201, r.text
    assert r.json() == {"name": "carrier-a", "address": "192.0.2.5:5060", "transport": "udp",
                        "prefixes": ["44", ""], "priority": 10, "strip_digits": 0,
                        "add_prefix": "", "enabled": True, **ROUTING_DEFAULTS}
    r = tg.api("PATCH", base + "/carrier-a", {"strip_digits": 1, "add_prefix": "0044"})
    assert r.status == 200 and r.json()["strip_digits"] == 1 and r.json()["add_prefix"] == "0044"
    for bad, field in [({"address": "carrier.example.com"}, "address"),
                       ({"transport": "sctp"}, "transport"),
                       ({"prefixes": ["44a"]}, "prefixes"),
                       ({"prefixes": []}, "prefixes"),
                       ({"priority": -1}, "priority"),
                       ({"strip_digits": 99}, "strip_digits"),
                       ({"add_prefix": "x"}, "add_prefix")]:
        r = tg.api("PATCH", base + "/carrier-a", bad)
        assert r.status == 400 and r.json()["field"] == field, (bad, r.text)
    assert tg.api("GET", base + "/carrier-a").json()["strip_digits"] == 1
    r = tg.api("POST", base, {"name": "c2", "address": "192.0.2.6"})
    assert r.status == 400 and r.json()["field"] == "prefixes", r.text


def test_concurrent_edits_lose_nothing(tollgate):
    """20 clients create 20 gateways at once and 5 race to create the same
    one: all 20 exist, exactly one racer wins, the others get 409; the
    version moved once per successful create."""
    tg = tollgate()
    results: dict = {}

    def create(i):
        results[i] = tg.api("POST", "/api/v1/routing-gateways",
                            {"name": f"c{i:02d}", "address": f"192.0.2.{i + 1}",
                             "prefixes": [str(i)], "priority": i}).status

    def race(j):
        results[f"race{j}"] = tg.api("POST", "/api/v1/routing-gateways",
                                     {"name": "same", "address": f"198.51.100.{j + 1}",
                                      "prefixes": [""], "priority": 1}).status

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    threads += [threading.Thread(target=race, args=(j,)) for j in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [results[i] for i in range(20)] == [201] * 20, results
    races = sorted(results[f"race{j}"] for j in range(5))
    assert races == [201, 409, 409, 409, 409], races
    names = [g["name"] for g in tg.api("GET", "/api/v1/routing-gateways").json()["routing_gateways"]]
    assert names == [f"c{i:02d}" for i in range(20)] + ["same"]
    stats = tg.api("GET", "/api/v1/stats").json()
    assert stats["node"]["provisioning_version"] == 21
    assert set(stats["gateways"]["routing"]) == set(names)


def test_call_right_after_gateway_added_through_api(tollgate, sipp, ports):
    """No provisioning at start and a slow poll; the CLI adds a customer and a
    carrier through the API; a call placed right after succeeds (no restart,
    no waiting for the poll)."""
    uas_port = ports.port()
    tg = tollgate(settings={"store": {"provisioning_poll_ms": 60000}})
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    conf = str(tg.config_path)
    r = tg.cli("gateway", "add", "mapping", "cust-a", "--addresses", "127.0.0.1", "--config", conf)
    assert '"name": "cust-a"' in r.stdout
    tg.cli("gateway", "add", "routing", "carrier-a", "--address", f"127.0.0.1:{uas_port}",
           "--prefixes", "1", "--priority", "5", "--config", conf)
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service=CALLEE, hold_ms=200)
    uac.run()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", gateways=["carrier-a"], mapping_gateway="cust-a")
    # CLI errors name the field and exit 2; nothing changes.
    bad = tg.cli("gateway", "add", "mapping", "cust-b", "--addresses", "10.0.0.300",
                 "--config", conf, check=False)
    assert bad.returncode == 2 and "addresses" in bad.stderr, bad.stderr
    upd = tg.cli("gateway", "update", "routing", "carrier-a", "--disable", "--config", conf)
    assert '"enabled": false' in upd.stdout
    rm = tg.cli("gateway", "remove", "routing", "carrier-a", "--config", conf)
    assert "removed" in rm.stdout
    assert tg.api("GET", "/api/v1/routing-gateways").json()["routing_gateways"] == []


def test_live_calls_list_and_end(tollgate, sipp, ports):
    """A call in progress is listed (API and CLI) and ended by an operator:
    both legs get BYE, the CDR says admin_hangup, hangup system."""
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service=CALLEE).start()
    calls = wait_until(lambda: [c for c in tg.api("GET", "/api/v1/calls").json()["calls"]
                                if c["state"] == "confirmed"], 10, "a confirmed call")
    c = calls[0]
    assert c["caller"] == CALLER and c["callee"] == CALLEE
    assert c["mapping_gateway"] == "cust-a" and c["routing_gateway"] == "carrier-a"
    listing = tg.cli("call", "list", "--config", str(tg.config_path)).stdout
    assert "confirmed" in listing and CALLEE in listing
    assert tg.api("DELETE", "/api/v1/calls/999999").status == 404
    r = tg.api("DELETE", f"/api/v1/calls/{c['id']}")
    assert r.status == 200 and r.json() == {"id": c["id"], "ended": True}
    uac.wait()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    check_cdr(tg.wait_cdrs(1)[0], reason="admin_hangup", final_code=200, answered=True,
              hangup="system", gateways=["carrier-a"])
    assert tg.api("GET", "/api/v1/calls").json() == {"calls": [], "total": 0}
    ends = tg.api("GET", "/api/v1/audit?action=call.end").json()["entries"]
    assert len(ends) == 1 and ends[0]["before"]["callee"] == CALLEE


def _insert_cdrs(tg, rows: list[dict]) -> None:
    tg.db_execute(
        "INSERT INTO cdr(call_id, start_us, answer_us, end_us, caller, callee, "
        "source_address, transport, mapping_gateway, routing_gateway, gateways_tried, "
        "final_code, duration_ms, hangup, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(r["call_id"], r["start_us"], 0, r["start_us"] + 1000, r["caller"], r["callee"],
          "192.0.2.1:5060", "udp", r["mapping"], r["routing"], r["routing"],
          r["code"], 0, "", r["reason"]) for r in rows])


def test_cdrs_filter_page_and_csv(tollgate):
    tg = tollgate()
    base = 1_790_000_000_000_000  # 2026-09-21T...Z
    rows = []
    for i in range(30):
        rows.append({"call_id": f"c{i}", "start_us": base + i * 60_000_000,
                     "caller": "=HYPERLINK(\"x\")" if i == 7 else f"10{i % 3}",
                     "callee": f"4420{i % 5}", "mapping": "cust-a" if i % 2 else "cust-b",
                     "routing": "carrier-x" if i % 3 == 0 else "carrier-y",
                     "code": 486 if i % 4 == 0 else 404,
                     "reason": "busy" if i % 4 == 0 else "no_route"})
    _insert_cdrs(tg, rows)

    def get(q):
        r = tg.api("GET", "/api/v1/cdrs" + q)
        assert r.status == 200, (q, r.text)
        return r.json()

    assert len(get("?limit=1000")["cdrs"]) == 30
    assert {c["reason"] for c in get("?reason=busy")["cdrs"]} == {"busy"}
    assert len(get("?reason=busy")["cdrs"]) == 8
    assert len(get("?gateway=cust-a")["cdrs"]) == 15
    assert len(get("?gateway=carrier-x")["cdrs"]) == 10
    assert len(get("?routing_gateway=carrier-y&mapping_gateway=cust-b")["cdrs"]) == 10
    assert len(get("?number=44203")["cdrs"]) == 6
    assert len(get("?number=101")["cdrs"]) == 10 - 1  # c7 has the odd caller
    # Time window: minutes 10..19 (ISO and Unix seconds spell the same time).
    frm = base // 1_000_000 + 600
    to = base // 1_000_000 + 1200
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(frm))
    assert [c["call_id"] for c in get(f"?from={frm}&to={to}")["cdrs"]] == \
        [f"c{i}" for i in range(19, 9, -1)]
    assert len(get(f"?from={iso}&to={to}")["cdrs"]) == 10
    # Paging: newest first, next_before_id until null, nothing seen twice.
    seen, q = [], "?limit=7"
    while True:
        page = get(q)
        seen += [c["call_id"] for c in page["cdrs"]]
        if page["next_before_id"] is None:
            break
        q = f"?limit=7&before_id={page['next_before_id']}"
    assert seen == [f"c{i}" for i in range(29, -1, -1)]
    for q, field in [("?reason=nope", "reason"), ("?from=yesterday", "from"),
                     ("?limit=0", "limit"), ("?limit=abc", "limit"), ("?format=xml", "format")]:
        r = tg.api("GET", "/api/v1/cdrs" + q)
        assert r.status == 400 and r.json()["field"] == field, (q, r.text)
    # CSV: all rows, RFC 4180, formula injection defused.
    r = tg.api("GET", "/api/v1/cdrs?format=csv&gateway=cust-a")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0][:3] == ["id", "call_id", "start"]
    assert len(table) == 1 + 15
    c7 = [row for row in table if row[1] == "c7"][0]
    assert c7[5] == "'=HYPERLINK(\"x\")"
    out = tg.workdir / "export.csv"
    tg.cli("cdr", "export", "--config", str(tg.config_path), "--reason", "busy", "-o", str(out))
    assert len(list(csv.reader(out.open()))) == 1 + 8


def _check_exposition(text: str) -> set[str]:
    """A format check of the Prometheus text format: every sample line
    belongs to a family announced by one HELP and one TYPE line; names and
    labels are well formed; values parse; counters end in _total."""
    families: dict[str, str] = {}
    helps: set[str] = set()
    name_rx = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    sample_rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
                           r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)\})? (\S+)$')
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helps, f"second HELP for {name}"
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name_rx.match(name) and name not in families, line
            assert kind in ("counter", "gauge", "histogram"), line
            if kind == "counter":
                assert name.endswith("_total"), name
            families[name] = kind
        else:
            m = sample_rx.match(line)
            assert m, f"bad sample line: {line!r}"
            name = m.group(1)
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in families or (base in families and families[base] == "histogram"), line
            float(m.group(7))
    assert set(families) == helps
    return set(families)


def test_stats_and_metrics(tollgate, sipp, ports):
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=3).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", calls=3, rate=10,
               caller=CALLER, service=CALLEE, hold_ms=100)
    uac.run()
    uas.wait()
    uac.assert_ok()
    tg.wait_cdrs(3)
    s = tg.api("GET", "/api/v1/stats").json()
    assert s["calls"]["ended_by_reason"]["caller_bye"] == 3
    assert s["calls"]["answered"] == 3
    assert s["gateways"]["mapping"]["cust-a"] == {"attempts": 3, "answered": 3, "failed": 0,
                                                 "active": 0}
    assert s["gateways"]["routing"]["carrier-a"]["attempts"] == 3
    assert s["tables"]["calls"] == 0 and "server_transactions" in s["tables"]
    assert s["transport"]["udp_received"] > 0
    text = tg.cli("stats", "--config", str(tg.config_path)).stdout
    assert re.search(r"calls\.ended_by_reason\.caller_bye\s+3", text), text

    assert tg.api("GET", "/metrics", token=None).status == 401  # metrics_auth default
    r = tg.api("GET", "/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    fams = _check_exposition(r.text)
    for f in ("tollgate_calls_active", "tollgate_calls_ended_total",
              "tollgate_gateway_call_attempts_total", "tollgate_api_auth_failures_total",
              "tollgate_store_operation_duration_seconds", "tollgate_sip_messages_received_total"):
        assert f in fams, f
    assert 'tollgate_calls_ended_total{reason="caller_bye"} 3' in r.text
    assert 'tollgate_gateway_call_attempts_total{kind="mapping",gateway="cust-a"} 3' in r.text
    assert re.search(r'tollgate_store_operation_duration_seconds_count\{operation="cdr_write"\} [1-9]',
                     r.text)
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_metrics_without_auth_when_configured(tollgate):
    tg = tollgate(settings={"api": {"metrics_auth": False}})
    r = tg.api("GET", "/metrics", token=None)
    assert r.status == 200 and "tollgate_up 1" in r.text
    assert tg.api("GET", "/api/v1/stats", token=None).status == 401


def test_alert_rules_parse():
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus)")
    p = subprocess.run([promtool, "check", "rules", str(REPO / "docs" / "alerts.yml")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


def _raw_connect(source: str, port: int) -> bytes | str:
    """Connects from `source`, sends a request, returns what came back (bytes)
    or the name of the error."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.bind((source, 0))
    try:
        # The reset may already arrive while connect() returns.
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
            if b"\r\n\r\n" in data and len(data) > 200:
                return data
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except socket.timeout:
        return "timeout"
    finally:
        s.close()


def test_allowlist_refuses_at_accept_with_reset(tollgate):
    """api.allow = ["127.0.0.1/32"]: 127.0.0.2 is reset at accept and gets no
    HTTP byte; 127.0.0.1 works; the refusal is counted."""
    tg = tollgate(settings={"api": {"allow": ["127.0.0.1/32"]}})
    got = _raw_connect("127.0.0.2", tg.api_port)
    assert got in ("reset", b""), f"127.0.0.2 got HTTP bytes: {got!r}"
    got = _raw_connect("127.0.0.2", tg.api_port)
    assert got in ("reset", b""), got
    ok = _raw_connect("127.0.0.1", tg.api_port)
    assert isinstance(ok, bytes) and ok.startswith(b"HTTP/1.1 200"), ok
    m = tg.api("GET", "/metrics").text
    assert 'tollgate_api_connections_refused_total{reason="not_allowed"} 2' in m
    tg.wait_log(r"event=api\.connection_refused source=127\.0\.0\.2:\d+ reason=not_allowed")


def test_default_allow_is_loopback_only(tollgate):
    tg = tollgate()
    assert tg.settings["api"] == {"listen": [f"127.0.0.1:{tg.api_port}"]}
    assert isinstance(_raw_connect("127.0.0.9", tg.api_port), bytes)  # all of 127/8 is loopback


def test_https_when_a_certificate_is_configured(tollgate, tmp_path):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl not installed")
    cert, key = self_signed_certificate(tmp_path)
    tg = tollgate(settings={"api": {"certificate": str(cert), "private_key": str(key)}})
    ctx = ssl.create_default_context(cafile=str(cert))
    r = tg.api("GET", "/api/v1/whoami", tls_context=ctx)
    assert r.status == 200 and r.json()["user"] == "local-cli"
    with pytest.raises(Exception):
        tg.api("GET", "/api/v1/whoami")  # plain HTTP to a TLS port gets no HTTP answer
    out = tg.cli("stats", "--config", str(tg.config_path), "--json").stdout
    assert json.loads(out)["node"]["provisioning_version"] == 0
    # A key that does not match the certificate stops the node at start.
    other = tmp_path / "other.key"
    subprocess.run([openssl, "genpkey", "-algorithm", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", str(other)], check=True,
                   capture_output=True, timeout=30)
    bad = tollgate(settings={"api": {"certificate": str(cert), "private_key": str(other)}},
                   start=False, name="bad")
    p = subprocess.run([TOLLGATE_BIN, "run", "--config", str(bad.config_path)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "api.private_key" in p.stderr, p.stderr


def test_cli_without_running_node_or_token(tollgate):
    tg = tollgate(start=False)
    r = tg.cli("stats", "--config", str(tg.config_path), check=False)
    assert r.returncode == 1 and "token file" in r.stderr, r.stderr
    r = tg.cli("stats", "--config", str(tg.config_path), "--token", "tgl_x", check=False)
    assert r.returncode == 1 and "cannot reach" in r.stderr, r.stderr


def test_api_port_in_use_stops_the_node(tollgate):
    tg = tollgate()
    other = tollgate(settings={"api": {"listen": [f"127.0.0.1:{tg.api_port}"]}}, start=False,
                     name="other")
    p = subprocess.run([TOLLGATE_BIN, "run", "--config", str(other.config_path)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "api.listen 127.0.0.1:" in p.stderr, p.stderr
    assert not other.token_path.exists()
    assert tg.api("GET", "/api/v1/whoami").status == 200


def test_api_off_leaves_cli_commands_a_clear_error(tollgate):
    tg = tollgate(settings={"api": {"listen": []}})
    assert not tg.token_path.exists()
    r = tg.cli("stats", "--config", str(tg.config_path), check=False)
    assert r.returncode == 2 and "api.listen = []" in r.stderr, r.stderr
