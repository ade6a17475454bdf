"""The command line has one path: every command that changes something goes
through the node's management API when the node runs (validated there,
audited, applied live) and writes the store itself only when nothing listens
on api.listen; it says which on stderr. An error answer of the API never
makes it fall back to the store.

Each test runs the converted commands against a running node (the audit log
names them, the node holds the change at once) and against a stopped one
(the store is written directly, the message says so, the next start has it).
"""

from __future__ import annotations

import json

import harness
from harness import mapping_gateway, routing_gateway, sip_request, wait_until
from sipua import Ua

VIA_API = "via the node's API at 127.0.0.1:"
DIRECT = "node not running (nothing listens on 127.0.0.1:"


def cli(tg, *args, check=True):
    return tg.cli(*args, "--config", str(tg.config_path), check=check)


def audit_actions(tg, prefix: str) -> list[str]:
    entries = tg.api("GET", f"/api/v1/audit?action={prefix}&limit=100").json()["entries"]
    return [e["action"] for e in reversed(entries)]


def audit_entries(tg, prefix: str) -> list[dict]:
    return list(reversed(tg.api("GET", f"/api/v1/audit?action={prefix}&limit=100").json()["entries"]))


def write(tg, name: str, text: str) -> str:
    path = tg.workdir / name
    path.write_text(text)
    return str(path)


def test_import_via_api_is_audited_applied_and_pruned(tollgate):
    """`tollgate import` of a running node: the node validates and writes the
    set in one transaction, audits it (by the local CLI token) and runs it
    before the command returns; --prune deletes what the file does not name.
    A file the node refuses changes nothing and never reaches the store by
    the back door."""
    tg = tollgate(provisioning=routing_gateway("carrier-a", "127.0.0.4:5060"))
    first = write(tg, "set1.toml", mapping_gateway("cust-a", ["127.0.0.5"]) +
                  mapping_gateway("cust-p", [], auth="password", username="alice",
                                  password="s3cret-pw") +
                  routing_gateway("carrier-a", "127.0.0.4:5060"))
    r = cli(tg, "import", first)
    assert VIA_API in r.stderr, r.stderr
    assert f"imported {first}: 2 added, 0 updated, 1 unchanged, 0 removed" in r.stdout, r.stdout
    names = [g["name"] for g in tg.api("GET", "/api/v1/mapping-gateways").json()["mapping_gateways"]]
    assert names == ["cust-a", "cust-p"], names
    # Applied before the command returned: the worker already runs it.
    assert "event=provisioning.reloaded" in tg.log()
    entry = audit_entries(tg, "provisioning.import")[-1]
    assert entry["actor"] == "local-cli" and entry["target"] == first, entry
    assert entry["after"]["added"] == 2 and entry["after"]["prune"] is False, entry
    assert "mapping_gateway cust-a" in entry["after"]["added_names"], entry
    # The password reached the store as HA1 digests only, never the audit log.
    assert "s3cret-pw" not in json.dumps(entry)
    assert "s3cret-pw" not in tg.store_path.read_bytes().decode("latin-1")

    second = write(tg, "set2.toml", mapping_gateway("cust-a", ["127.0.0.6"]) +
                   routing_gateway("carrier-a", "127.0.0.4:5060"))
    r = cli(tg, "import", second, "--prune")
    assert f"imported {second}: 0 added, 1 updated, 1 unchanged, 1 removed" in r.stdout, r.stdout
    gws = tg.api("GET", "/api/v1/mapping-gateways").json()["mapping_gateways"]
    assert [(g["name"], g["addresses"]) for g in gws] == [("cust-a", ["127.0.0.6"])], gws
    assert audit_entries(tg, "provisioning.import")[-1]["after"]["removed_names"] == \
        ["mapping_gateway cust-p"]

    # A conflict with a stored entry the file does not name: refused, exit 2.
    clash = write(tg, "clash.toml", mapping_gateway("cust-b", ["127.0.0.6"]))
    bad = cli(tg, "import", clash, check=False)
    assert bad.returncode == 2 and VIA_API in bad.stderr, bad.stderr
    assert "nothing changed" in bad.stderr and "wrote the store" not in bad.stderr, bad.stderr
    assert [g["name"] for g in tg.api("GET", "/api/v1/mapping-gateways").json()["mapping_gateways"]] \
        == ["cust-a"]
    assert len(audit_actions(tg, "provisioning.import")) == 2


def test_ban_and_suspension_commands_via_api_are_audited_and_live(tollgate, udp):
    """`ban add|del` and `auth suspensions clear` of a running node go through
    its API: audited, and the ban drops the source at once."""
    tg = tollgate(settings={"sip": {"unknown_source": "403"}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.5"]))
    peer = udp("127.0.0.9")

    def answered() -> bool:
        data, _ = sip_request("REGISTER", f"sip:127.0.0.1:{tg.port}", peer.addr)
        peer.send(data, ("127.0.0.1", tg.port))
        return bool(peer.recv_all(0.4))

    assert answered()
    r = cli(tg, "ban", "add", "127.0.0.9", "--note", "ticket 7")
    assert VIA_API in r.stderr and "banned 127.0.0.9 permanently" in r.stdout, (r.stdout, r.stderr)
    wait_until(lambda: not answered(), 5, "the node to drop the banned source")
    r = cli(tg, "ban", "del", "127.0.0.9")
    assert VIA_API in r.stderr and "unbanned 127.0.0.9" in r.stdout, (r.stdout, r.stderr)
    wait_until(answered, 5, "the node to lift the ban")
    entries = audit_entries(tg, "ban.")
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == \
        [("ban.add", "127.0.0.9", "local-cli"), ("ban.delete", "127.0.0.9", "local-cli")]
    assert entries[0]["after"]["detail"] == "ticket 7", entries[0]

    # Nothing to clear: the same answer as the store path (exit 1), and
    # nothing audited, but asked of the node.
    r = cli(tg, "auth", "suspensions", "clear", "--source", "127.0.0.9", check=False)
    assert r.returncode == 1 and VIA_API in r.stderr, r.stderr
    assert "cleared 0 suspensions" in r.stdout, r.stdout


def test_suspensions_clear_via_api_is_audited_and_live(tollgate, ports):
    """`auth suspensions clear` of a running node lifts a real suspension (and
    its auth ban) through the API: audited, and the node lifts it."""
    tg = tollgate(settings={"auth": {"max_retry": 2}},
                  provisioning="[[mapping_gateway]]\n" + "".join(
                      f"{k} = {harness.toml_value(v)}\n" for k, v in
                      {"name": "phone-100", "auth": "password", "username": "100",
                       "password": "correct horse", "register": True}.items()))
    attacker = Ua("127.0.0.2", ports.port(), ("127.0.0.1", tg.port))
    try:
        for i in range(2):
            attacker.register(f"guess-{i}")
    finally:
        attacker.close()
    wait_until(lambda: tg.api("GET", "/api/v1/suspensions").json()["suspensions"], 5,
               "the suspension")
    r = cli(tg, "auth", "suspensions", "clear", "--source", "127.0.0.2", "--user", "100")
    assert VIA_API in r.stderr, r.stderr
    assert r.stdout.strip().splitlines() == ["cleared 1 suspension", "lifted 1 auth ban"], r.stdout
    entry = audit_entries(tg, "suspension.")[-1]
    assert (entry["action"], entry["target"], entry["actor"]) == \
        ("suspension.clear", "127.0.0.2/100", "local-cli"), entry
    assert entry["after"] == {"cleared": 1, "bans_lifted": 1}, entry
    tg.wait_log(r"event=auth\.suspension_cleared kind=user_source username=100 "
                r"source=127\.0\.0\.2 lifted=true")


def test_number_list_and_blacklist_commands_via_api(tollgate):
    """`list create|add|remove|import|delete` and `blacklist add|remove|clear`
    of a running node: each audited under the local CLI token, the number
    lists and the dynamic blacklist as the node holds them show the change."""
    tg = tollgate(settings={"store": {"provisioning_poll_ms": 200}})
    r = cli(tg, "list", "create", "premium", "--kind", "black", "--description", "PRS")
    assert VIA_API in r.stderr and "created black list premium" in r.stdout, (r.stdout, r.stderr)
    assert "added 2 pattern(s) to premium" in cli(tg, "list", "add", "premium", "1900*", "44909*").stdout
    assert "removed 1 pattern(s) from premium" in cli(tg, "list", "remove", "premium", "44909*").stdout
    f = write(tg, "premium.txt", "# premium rate\n1976*\n1900*\n")
    assert "added 1 new pattern(s) of 2 to premium" in cli(tg, "list", "import", "premium", f).stdout
    assert tg.api("GET", "/api/v1/number-lists/premium").json()["numbers"] == ["1900*", "1976*"]
    f2 = write(tg, "premium2.txt", "1909*\n")
    r = cli(tg, "list", "import", "premium", f2, "--replace")
    assert f"list premium now holds 1 pattern(s) from {f2}" in r.stdout, r.stdout
    bad = cli(tg, "list", "add", "nosuch", "1900*", check=False)
    assert bad.returncode == 1 and VIA_API in bad.stderr and "404" in bad.stderr, bad.stderr
    assert "deleted list premium" in cli(tg, "list", "delete", "premium").stdout
    assert tg.api("GET", "/api/v1/number-lists").json()["number_lists"] == []
    assert audit_actions(tg, "number_list.") == ["number_list.create"] + ["number_list.update"] * 4 + \
        ["number_list.delete"]

    r = cli(tg, "blacklist", "add", "+1-900-555-0100", "--side", "callee", "--expire", "600")
    assert VIA_API in r.stderr and "listed 19005550100 as callee for 600s" in r.stdout, (r.stdout, r.stderr)
    live = lambda: [e["number"] for e in tg.api("GET", "/api/v1/blacklist").json()["entries"]]
    wait_until(lambda: live() == ["19005550100"], 5, "the node to hold the entry")
    assert "removed 1 entry for 19005550100" in cli(tg, "blacklist", "remove", "19005550100").stdout
    wait_until(lambda: live() == [], 5, "the node to drop the entry")
    # Not listed: an answer, as in the store (exit 0).
    assert "removed 0 entries for 19005550100" in cli(tg, "blacklist", "remove", "19005550100").stdout
    cli(tg, "blacklist", "add", "4420", "--side", "caller", "--count-only")
    assert "removed 1 entry" in cli(tg, "blacklist", "clear").stdout
    assert audit_actions(tg, "blacklist.") == ["blacklist.add", "blacklist.remove", "blacklist.add",
                                                "blacklist.clear"]


def test_stopped_node_commands_write_the_store_and_say_so(tollgate, udp):
    """With no node running every changing command writes the store itself
    and says so on stderr; stdout (--json too) stays the command's own. The
    next start runs what was written."""
    tg = tollgate(settings={"sip": {"unknown_source": "403"}}, start=False)
    f = write(tg, "set.toml", mapping_gateway("cust-a", ["127.0.0.5"]))
    r = cli(tg, "import", f)
    assert DIRECT in r.stderr and "writing the store directly" in r.stderr, r.stderr
    assert f"imported {f}: 1 added" in r.stdout and VIA_API not in r.stderr, r.stdout
    for args, out in [(("ban", "add", "127.0.0.9"), "banned 127.0.0.9 permanently"),
                      (("list", "create", "premium"), "created black list premium"),
                      (("list", "add", "premium", "1900*"), "added 1 pattern(s) to premium"),
                      (("blacklist", "add", "4420", "--side", "caller"), "listed 4420 as caller"),
                      (("blacklist", "remove", "4420"), "removed 1 entry for 4420")]:
        r = cli(tg, *args)
        assert DIRECT in r.stderr and out in r.stdout, (args, r.stdout, r.stderr)
    r = cli(tg, "auth", "suspensions", "clear", "--all", check=False)
    assert r.returncode == 1 and DIRECT in r.stderr and "cleared 0 suspensions" in r.stdout
    # Read-only commands read the store without a word about paths.
    listing = cli(tg, "ban", "list", "--json")
    assert json.loads(listing.stdout)[0]["address"] == "127.0.0.9"
    assert listing.stderr == "", listing.stderr

    tg.start()
    assert tg.api("GET", "/api/v1/number-lists/premium").json()["numbers"] == ["1900*"]
    peer = udp("127.0.0.9")
    data, _ = sip_request("REGISTER", f"sip:127.0.0.1:{tg.port}", peer.addr)
    peer.send(data, ("127.0.0.1", tg.port))
    assert peer.recv_all(1.0) == [], "the ban written while stopped is in force"
    # Nothing of it went through the API: nothing audited.
    assert audit_actions(tg, "ban.") == [] and audit_actions(tg, "provisioning.") == []


def test_api_error_never_falls_back_to_the_store(tollgate):
    """A running node that refuses the token (401) or the role (403) ends the
    command with its error: nothing is written behind its back. With
    api.listen = [] there is no API to ask: the store, and the message says
    why."""
    tg = tollgate()
    r = cli(tg, "ban", "add", "127.0.0.9", "--token", "not-a-token", check=False)
    assert r.returncode == 1 and "error 401" in r.stderr, r.stderr
    assert "store directly" not in r.stderr, r.stderr
    f = write(tg, "set.toml", mapping_gateway("cust-a", ["127.0.0.5"]))
    r = cli(tg, "import", f, "--token", "not-a-token", check=False)
    assert r.returncode == 1 and "error 401" in r.stderr, r.stderr
    # A reader may look but not change.
    assert tg.api("POST", "/api/v1/users", {"name": "rita", "role": "readonly",
                                            "password": "quiet river stone"}).status == 201
    tok = tg.api("POST", "/api/v1/login", {"username": "rita", "password": "quiet river stone"},
                 token=None).json()["token"]
    r = cli(tg, "blacklist", "add", "4420", "--side", "caller", "--token", tok, check=False)
    assert r.returncode == 1 and "error 403" in r.stderr, r.stderr
    assert tg.api("GET", "/api/v1/bans").json()["bans"] == []
    assert tg.api("GET", "/api/v1/mapping-gateways").json()["mapping_gateways"] == []
    assert tg.api("GET", "/api/v1/blacklist").json()["entries"] == []

    off = tollgate(settings={"api": {"listen": []}}, start=False, name="off")
    r = cli(off, "ban", "add", "127.0.0.9")
    assert "the management API is off (api.listen = []): writing the store directly" in r.stderr
