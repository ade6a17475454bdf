"""Kernel offload and the exported firewall rulesets, in network namespaces
each test creates (a veth pair between namespace `a`, the remote host, and
`b`, the host under test; addresses only inside them). Skipped, with the
reason, only where namespaces cannot be created.

- Kernel offload: after a ban, packets from that address raise the nftables
  counter and never reach tollgate; after the ban expires they do again.
  Without CAP_NET_ADMIN the node says so once and keeps dropping in user
  space.
- `tollgate firewall export --format nft|iptables|ip6tables`: loads with
  `nft -c -f` / `iptables-restore --test` and for real, and the loaded rules
  do what the shield does (OPTIONS from untrusted sources and scanner
  User-Agents dropped, other requests let in).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from harness import NamespacesUnavailable, NetnsPair, counts_field, mapping_gateway, wait_until

SIP_PORT = 5060


@pytest.fixture
def netns():
    try:
        pair = NetnsPair().__enter__()
    except NamespacesUnavailable as e:
        pytest.skip(f"network namespaces are not available here: {e}")
    yield pair
    pair.close()


def _node_in_b(tollgate, netns, settings=None, provisioning=None, wrapper_extra=()):
    base = {"sip": {"unknown_source": "403"},
            "firewall": {"kernel_offload": True, "table": f"tg{netns.b[3:]}"}}
    for k, v in (settings or {}).items():
        base.setdefault(k, {}).update(v)
    return tollgate(settings=base,
                    provisioning=provisioning or mapping_gateway("cust-a", [netns.ip_other]),
                    listen=[f"udp:{netns.ip_b}:{SIP_PORT}"],
                    wrapper=netns.wrapper(netns.b) + list(wrapper_extra))


def _kernel_set(netns, table, name) -> list:
    r = netns.exec(netns.b, "nft", "-j", "list", "set", "inet", table, name)
    doc = json.loads(r.stdout)
    for item in doc["nftables"]:
        if "set" in item:
            return item["set"].get("elem", [])
    return []


def _elem_addr(e) -> str:
    return e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e


def _elem_packets(e) -> int:
    if isinstance(e, dict) and "elem" in e:
        return e["elem"].get("counter", {}).get("packets", 0)
    return 0


def _banned_drops(netns, table) -> int:
    r = netns.exec(netns.b, "nft", "-j", "list", "counter", "inet", table, "banned_drops")
    for item in json.loads(r.stdout)["nftables"]:
        if "counter" in item:
            return item["counter"]["packets"]
    raise AssertionError(r.stdout)


def test_kernel_offload_drops_a_banned_source_until_the_ban_expires(tollgate, netns):
    table = f"tg{netns.b[3:]}"
    tg = _node_in_b(tollgate, netns, settings={"shield": {"ban_time": 6}})
    tg.wait_log(r"event=firewall\.offload_active")
    dst = f"{netns.ip_b}:{SIP_PORT}"

    # Before: an unknown source is answered 403 (sip.unknown_source).
    assert netns.peer("send", "--bind", netns.ip_a, "--to", dst)["statuses"] == [403]
    # A scanner's REGISTER: dropped and banned in user space, pushed to the kernel.
    r = netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--ua", "friendly-scanner")
    assert r["statuses"] == []
    wait_until(lambda: netns.ip_a in [_elem_addr(e) for e in _kernel_set(netns, table, "ban4")], 3,
               "the ban in the kernel set")

    before = tg.stats()
    drops_before = _banned_drops(netns, table)
    r = netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--count", "5", "--wait", "1")
    assert r["statuses"] == [], "banned: no answer"
    assert _banned_drops(netns, table) - drops_before == 5
    elem = [e for e in _kernel_set(netns, table, "ban4") if _elem_addr(e) == netns.ip_a][0]
    assert _elem_packets(elem) == 5
    after = tg.stats()
    assert after["shield_received"] == before["shield_received"], "the kernel dropped them all"
    assert after["udp_rx"] == before["udp_rx"]
    assert after["kernel_offload"] == "active"

    # After the ban's 6 s: gone from the kernel, answered again.
    wait_until(lambda: netns.ip_a not in [_elem_addr(e) for e in _kernel_set(netns, table, "ban4")],
               10, "the kernel element to expire")
    wait_until(lambda: netns.peer("send", "--bind", netns.ip_a, "--to", dst,
                                  "--wait", "0.5")["statuses"] == [403], 3, "an answer again")
    assert int(tg.stats()["shield_received"]) > int(after["shield_received"])

    # A clean stop removes the table tollgate owns.
    assert tg.stop() == 0
    r = netns.exec(netns.b, "nft", "list", "table", "inet", table, check=False)
    assert r.returncode != 0


def test_manual_ban_and_lift_reach_the_kernel(tollgate, netns):
    table = f"tg{netns.b[3:]}"
    tg = _node_in_b(tollgate, netns, settings={"store": {"provisioning_poll_ms": 200}})
    tg.wait_log(r"event=firewall\.offload_active")
    tg.cli("ban", "add", "--config", str(tg.config_path), f"{netns.ip_a.rsplit('.', 1)[0]}.0/24")
    wait_until(lambda: [_elem_addr(e) for e in _kernel_set(netns, table, "ban4_pfx")], 3,
               "the /24 in the kernel's prefix set")
    dst = f"{netns.ip_b}:{SIP_PORT}"
    assert netns.peer("send", "--bind", netns.ip_a, "--to", dst)["statuses"] == []
    assert _banned_drops(netns, table) >= 1
    # The trusted gateway inside that /24 is accepted by the kernel too.
    trusted = [_elem_addr(e) for e in _kernel_set(netns, table, "trusted4")]
    assert netns.ip_other in trusted, trusted
    tg.cli("ban", "del", "--config", str(tg.config_path), f"{netns.ip_a.rsplit('.', 1)[0]}.0/24")
    wait_until(lambda: not _kernel_set(netns, table, "ban4_pfx"), 3, "the lift in the kernel")
    assert netns.peer("send", "--bind", netns.ip_a, "--to", dst)["statuses"] == [403]


def test_without_cap_net_admin_it_says_so_once_and_drops_in_user_space(tollgate, netns):
    tg = _node_in_b(tollgate, netns, wrapper_extra=["setpriv", "--bounding-set=-net_admin"])
    tg.wait_log(r"event=firewall\.offload_unavailable")
    dst = f"{netns.ip_b}:{SIP_PORT}"
    assert netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--ua", "sipvicious")["statuses"] == []
    assert netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--count", "3")["statuses"] == []
    s = tg.stats()
    assert s["kernel_offload"] == "unavailable"
    assert counts_field(s["shield_dropped"]) == {"signature": 1, "banned": 3}
    assert tg.log().count("firewall.offload_unavailable") == 1
    assert "user-space only" in tg.log()


def _export(tg, fmt) -> str:
    return tg.cli("firewall", "export", "--config", str(tg.config_path), "--format", fmt).stdout


def _receiver(netns, seconds):
    """A UDP receiver in `b` on the SIP port; returns (process, result())."""
    p = subprocess.Popen(["ip", "netns", "exec", netns.b, "python3",
                          str(__import__("harness").HERE / "netns_peer.py"), "recv", "--bind",
                          f"{netns.ip_b}:{SIP_PORT}", "--seconds", str(seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr.readline().strip() == "ready"
    return p


def test_nft_export_loads_and_drops_what_the_shield_drops(tollgate, netns):
    tg = tollgate(provisioning=mapping_gateway("cust-a", [netns.ip_other]),
                  listen=[f"udp:{netns.ip_b}:{SIP_PORT}", f"tcp:{netns.ip_b}:{SIP_PORT}"],
                  settings={"firewall": {"rtp_port_min": 16000, "rtp_port_max": 32000,
                                         "management_ports": [22],
                                         "management_allow": ["192.0.2.0/24"]}},
                  start=False)
    path = tg.workdir / "export.nft"
    path.write_text(_export(tg, "nft"))
    netns.exec(netns.b, "nft", "-c", "-f", str(path))
    netns.exec(netns.b, "nft", "-f", str(path))
    netns.exec(netns.b, "nft", "-f", str(path))  # reloading replaces it cleanly
    listed = netns.exec(netns.b, "nft", "list", "table", "inet", "tollgate_filter").stdout
    assert netns.ip_other in listed and "policy drop" in listed

    rx = _receiver(netns, 3)
    dst = f"{netns.ip_b}:{SIP_PORT}"
    netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--method", "OPTIONS", "--count", "2",
               "--wait", "0")
    netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--method", "REGISTER", "--wait", "0")
    got = json.loads(rx.communicate(timeout=10)[0])
    assert [l.split()[0] for l in got["first_lines"]] == ["REGISTER"], got
    rules = netns.exec(netns.b, "nft", "list", "chain", "inet", "tollgate_filter", "sip_udp").stdout
    assert "counter packets 2" in rules, rules


def test_iptables_exports_load_and_drop_scanners(tollgate, netns):
    tg = tollgate(provisioning=mapping_gateway("cust-a", [netns.ip_other, "2001:db8::7"]),
                  listen=[f"udp:{netns.ip_b}:{SIP_PORT}", f"tcp:{netns.ip_b}:{SIP_PORT}"],
                  start=False)
    v4, v6 = tg.workdir / "export.v4", tg.workdir / "export.v6"
    v4.write_text(_export(tg, "iptables"))
    v6.write_text(_export(tg, "ip6tables"))
    for tool, path in (("iptables-restore", v4), ("ip6tables-restore", v6)):
        r = subprocess.run(["ip", "netns", "exec", netns.b, tool, "--test"], stdin=path.open(),
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, (tool, r.stderr)
        r = subprocess.run(["ip", "netns", "exec", netns.b, tool], stdin=path.open(),
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, (tool, r.stderr)
    saved = netns.exec(netns.b, "iptables-save").stdout
    assert "friendly-scanner" in saved and "--connlimit-above 10" in saved and "recent" in saved
    assert f"-A INPUT -s {netns.ip_other}/32" in saved
    saved6 = netns.exec(netns.b, "ip6tables-save").stdout
    assert "-A INPUT -s 2001:db8::7/128" in saved6

    rx = _receiver(netns, 3)
    dst = f"{netns.ip_b}:{SIP_PORT}"
    netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--ua", "friendly-scanner", "--wait", "0")
    netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--method", "OPTIONS", "--wait", "0")
    netns.peer("send", "--bind", netns.ip_a, "--to", dst, "--method", "INVITE", "--wait", "0")
    got = json.loads(rx.communicate(timeout=10)[0])
    assert [l.split()[0] for l in got["first_lines"]] == ["INVITE"], got
