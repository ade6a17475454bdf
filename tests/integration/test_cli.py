"""The command line: bad settings and provisioning files (exit 2, a
`file:line: key: message` error, nothing written), `tollgate lint`, and
`import` / `gateway list --json` (idempotent import by name)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import harness
from harness import mapping_gateway, routing_gateway

LISTEN = 'listen = ["udp:127.0.0.1:5060"]'


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([harness.TOLLGATE_BIN, *args], capture_output=True, text=True,
                          timeout=20, errors="replace")


# Each bad settings file: (text with {db} for the store path, line, key, message regex).
BAD_SETTINGS = {
    "unknown-key": ('[sip]\n' + LISTEN + '\nunknown_sorce = "drop"\n[store]\npath = "{db}"\n',
                    3, "sip.unknown_sorce", r'unknown key \(did you mean "unknown_source"\?\)'),
    "bad-enum": ('[sip]\n' + LISTEN + '\nunknown_source = "reject"\n[store]\npath = "{db}"\n',
                 3, "sip.unknown_source", r'must be "drop" or "403"'),
    "out-of-range": ('[sip]\n' + LISTEN + '\n[store]\npath = "{db}"\n[routing]\n'
                     'setup_timeout = 0\n', 6, "routing.setup_timeout", r"must be between 1 and 60"),
    "wrong-type": ('[sip]\n' + LISTEN + '\n[store]\npath = "{db}"\n[node]\n'
                   'drain_timeout = "30s"\n', 6, "node.drain_timeout", r"must be an integer"),
    "missing-required": ('[sip]\n' + LISTEN + '\n[store]\nprovisioning_poll_ms = 500\n',
                         3, "store.path", r"missing required key"),
    "bad-listen": ('[sip]\nlisten = ["sctp:127.0.0.1:5060"]\n[store]\npath = "{db}"\n',
                   2, "sip.listen[0]", r"must be protocol:address:port"),
}


@pytest.mark.parametrize("command", [["run"], ["config", "check"], ["cdr", "list"],
                                     ["gateway", "list"]], ids=" ".join)
@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_settings_exit_2(tmp_path, case, command):
    text, line, key, message = BAD_SETTINGS[case]
    db = tmp_path / "tg.db"
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text.format(db=db))
    r = run_cli(*command, "--config", str(cfg))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    want = rf"^{re.escape(str(cfg))}:{line}: {re.escape(key)}: {message}"
    assert re.search(want, r.stderr, re.M), f"stderr {r.stderr!r} does not match {want!r}"
    assert not db.exists(), "a bad settings file must not create or touch the store"
    assert list(tmp_path.iterdir()) == [cfg]


def test_toml_syntax_error_names_file_and_line(tmp_path):
    cfg = tmp_path / "broken.toml"
    cfg.write_text('[sip]\nlisten = ["udp:127.0.0.1:5060"\n[store]\npath = "x.db"\n')
    r = run_cli("run", "--config", str(cfg))
    assert r.returncode == 2
    assert re.search(rf"^{re.escape(str(cfg))}:\d+: ", r.stderr, re.M), r.stderr
    assert list(tmp_path.iterdir()) == [cfg]


def test_missing_settings_file_exit_2(tmp_path):
    r = run_cli("run", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2
    assert "nope.toml" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_config_check_ok(tollgate):
    tg = tollgate(start=False)
    r = tg.cli("config", "check", "--config", str(tg.config_path))
    assert r.stdout.strip() == f"{tg.config_path}: ok"


def test_bad_provisioning_import_exit_2_store_unchanged(tollgate):
    tg = tollgate(start=False, provisioning=mapping_gateway("cust-a", ["127.0.0.1"]))
    before = tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout
    bad = tg.workdir / "bad-prov.toml"
    # The first entry is fine, the second is not: nothing at all is imported.
    bad.write_text(mapping_gateway("cust-b", ["127.0.0.2"]) +
                   '[[routing_gateway]]\nname = "carrier-x"\naddress = "127.0.0.1:5090"\n'
                   'prefixes = [""]\npriority = -1\n')
    r = tg.cli("import", "--config", str(tg.config_path), str(bad), check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert re.search(rf"^{re.escape(str(bad))}:9: routing_gateway\[carrier-x\]\.priority: ",
                     r.stderr, re.M), r.stderr
    after = tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout
    assert after == before


# ---------------------------------------------------------------------------
# lint


def test_lint_ok_error_and_exit_codes():
    t = harness.TORTURE
    ok = run_cli("lint", str(t / "wsinv.dat"))
    assert ok.returncode == 0
    assert ok.stdout == f"{t / 'wsinv.dat'}: ok INVITE\n"

    answered = run_cli("lint", str(t / "unkscm.dat"))
    assert answered.returncode == 0
    assert answered.stdout == f"{t / 'unkscm.dat'}: ok OPTIONS (answered 416 Unsupported URI Scheme)\n"

    response = run_cli("lint", str(t / "noreason.dat"))
    assert response.returncode == 0 and response.stdout.endswith(": ok 100\n")

    bad = run_cli("lint", str(t / "badinv01.dat"))
    assert bad.returncode == 1
    assert re.fullmatch(rf"{re.escape(str(t / 'badinv01.dat'))}: error: .+ \(400\)\n", bad.stdout)

    dropped = run_cli("lint", str(t / "scalarlg.dat"))
    assert dropped.returncode == 1 and dropped.stdout.endswith("(drop)\n")

    # Several files: one line each, in order; any error makes the exit 1.
    mixed = run_cli("lint", str(t / "wsinv.dat"), str(t / "badinv01.dat"), str(t / "esc01.dat"))
    assert mixed.returncode == 1
    lines = mixed.stdout.splitlines()
    assert [l.split(": ", 1)[0] for l in lines] == [str(t / n) for n in
                                                    ("wsinv.dat", "badinv01.dat", "esc01.dat")]
    assert [l.split(": ", 1)[1].split()[0] for l in lines] == ["ok", "error:", "ok"]

    all_ok = run_cli("lint", str(t / "wsinv.dat"), str(t / "esc01.dat"))
    assert all_ok.returncode == 0


def test_lint_missing_file(tmp_path):
    r = run_cli("lint", str(tmp_path / "absent.sip"))
    assert r.returncode == 1
    assert r.stdout == f"{tmp_path / 'absent.sip'}: error: cannot read file\n"


def test_lint_own_message(tmp_path):
    """A message written here, CRLF-framed: ok; the same with a bad
    Content-Length: error (400)."""
    good, _ = harness.sip_request("INVITE", "sip:15551234567@127.0.0.1", ("127.0.0.1", 5070),
                                  body=harness.SDP.format(ip="127.0.0.1"))
    f = tmp_path / "good.sip"
    f.write_bytes(good)
    assert run_cli("lint", str(f)).stdout == f"{f}: ok INVITE\n"
    bad = tmp_path / "bad.sip"
    bad.write_bytes(good.replace(b"Content-Length: ", b"Content-Length: 9"))
    r = run_cli("lint", str(bad))
    assert r.returncode == 1 and r.stdout.endswith("(400)\n"), r.stdout


# ---------------------------------------------------------------------------
# import / gateway list


PROV = (mapping_gateway("cust-a", ["127.0.0.1", "10.1.0.0/16"]) +
        mapping_gateway("cust-b", ["127.0.0.3:5070"], auth="ip_port", enabled=False) +
        routing_gateway("carrier-a", "127.0.0.1:5090", prefixes=[""], priority=10) +
        routing_gateway("carrier-b", "[::1]:5092", prefixes=["44", "33"], priority=20,
                        transport="tcp", strip_digits=2, add_prefix="0044"))


def test_gateway_list_json_after_import(tollgate):
    tg = tollgate(start=False)
    r = tg.import_text(PROV)
    assert re.search(r": 4 added, 0 updated, 0 unchanged, 0 removed$", r.stdout.strip()), r.stdout
    out = json.loads(tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout)
    mapping = {g["name"]: g for g in out["mapping_gateways"]}
    routing = {g["name"]: g for g in out["routing_gateways"]}
    no_credentials = {"username": "", "register": False, "max_contacts": 1, "challenge": "",
                      "tls_names": [], "digest_algorithms": []}
    # Call policy keys (issue 5) with their defaults: no limits, no lists.
    mapping_policy = {"account": "", "cps": 0, "cps_burst": 0, "max_concurrent": 0,
                      "max_duration": 0, "overload_weight": 1, "caller_lists": [],
                      "callee_lists": [], "dynamic_blacklist": False,
                      # what of its signalling crosses the B2BUA: nothing extra
                      "trust_identity": False, "pass_headers": [], "asserted_identity": "",
                      # media anchoring: the node's media.mode, any codec
                      "media": "", "codecs": []}
    routing_policy = {"cps": 0, "cps_burst": 0, "max_concurrent": 0, "caller_lists": [],
                      "callee_lists": [], "options_check": True,
                      "trust_identity": False, "pass_headers": [], "media": "", "codecs": []}
    assert mapping == {
        "cust-a": {"name": "cust-a", "auth": "ip", "addresses": ["127.0.0.1", "10.1.0.0/16"],
                   "enabled": True, **no_credentials, "policy": mapping_policy},
        "cust-b": {"name": "cust-b", "auth": "ip_port", "addresses": ["127.0.0.3:5070"],
                   "enabled": False, **no_credentials, "policy": mapping_policy},
    }
    no_outbound = {"auth_username": "", "register": False, "register_expires": 3600}
    assert routing == {
        "carrier-a": {"name": "carrier-a", "address": "127.0.0.1:5090", "transport": "udp",
                      "prefixes": [""], "priority": 10, "strip_digits": 0, "add_prefix": "",
                      "enabled": True, **no_outbound, "policy": routing_policy},
        "carrier-b": {"name": "carrier-b", "address": "[::1]:5092", "transport": "tcp",
                      "prefixes": ["44", "33"], "priority": 20, "strip_digits": 2,
                      "add_prefix": "0044", "enabled": True, **no_outbound, "policy": routing_policy},
    }
    assert out["accounts"] == [] and out["fraud_rules"] == []
    table = tg.cli("gateway", "list", "--config", str(tg.config_path)).stdout
    for name in ("cust-a", "cust-b", "carrier-a", "carrier-b"):
        assert name in table


def test_import_is_idempotent_by_name(tollgate):
    tg = tollgate(start=False)
    tg.import_text(PROV)
    listed = tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout

    again = tg.import_text(PROV)
    assert again.stdout.strip().endswith(": 0 added, 0 updated, 4 unchanged, 0 removed"), again.stdout
    assert tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout == listed

    # Changing one entry updates it alone; a partial file removes nothing
    # without --prune, and --prune removes what the file does not name.
    changed = PROV.replace("priority = 10", "priority = 11")
    r = tg.import_text(changed)
    assert r.stdout.strip().endswith(": 0 added, 1 updated, 3 unchanged, 0 removed"), r.stdout
    partial = mapping_gateway("cust-a", ["127.0.0.1", "10.1.0.0/16"])
    r = tg.import_text(partial)
    assert r.stdout.strip().endswith(": 0 added, 0 updated, 1 unchanged, 0 removed"), r.stdout
    r = tg.import_text(partial, prune=True)
    assert r.stdout.strip().endswith(": 0 added, 0 updated, 1 unchanged, 3 removed"), r.stdout
    out = json.loads(tg.cli("gateway", "list", "--config", str(tg.config_path), "--json").stdout)
    assert [g["name"] for g in out["mapping_gateways"]] == ["cust-a"]
    assert out["routing_gateways"] == []
