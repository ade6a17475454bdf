"""RFC 4475 / RFC 5118 torture messages over the wire: each
tests/torture/*.dat is sent as one UDP datagram from a known gateway's address,
and what tollgate answers (or that it stays silent) must be what
`tollgate lint` says offline for the same bytes.

Mapping from lint's verdict to the wire:
  "ok 200" / "ok 100"                 a response: silence (no transaction)
  "error: ... (drop)"                 silence
  "error: ... (N)"                    exactly N (stateless error response)
  "ok METHOD (answered N ...)"        exactly N
  "ok METHOD (dropped, would be N)"   silence (an ACK is never answered)
  "ok INVITE (answered 484 ...)"      484: the called number is not dialable
                                      once normalised (CDR invalid_number)
  "ok INVITE"                         routed: the carrier (a stub answering
                                      486) gets an INVITE, the sender gets
                                      optional 1xx then the relayed 486
  "ok INVITE" with a To tag           481 (a re-INVITE for no dialog, RFC 3261
                                      §12.2.2)
  "ok OPTIONS"                        200
  "ok <other method>"                 481 (no such dialog/transaction)
INVITEs also leave a CDR: bad_request / too_many_hops with final_code N, or
busy (486) when routed.

Responses go where RFC 3261 §18.2.2 says: to the source IP and the port in
the top Via (default 5060) unless it has rport. So the sender binds
127.0.0.9:<that port>, which makes both destinations the same socket.
Each file gets a fresh node: many files share a Via branch and sent-by, and
one node would rightly take them for retransmissions of each other.
"""

from __future__ import annotations

import re
import subprocess

import pytest

import harness
from harness import Datagram, UdpPeer, mapping_gateway, routing_gateway

GATEWAY_IP = "127.0.0.9"
SILENCE_WINDOW = 1.0  # loopback answers take milliseconds
ANSWER_TIMEOUT = 2.0
FILES = sorted(p.name for p in harness.TORTURE.glob("*.dat"))


def lint_verdict(path) -> str:
    r = subprocess.run([harness.TOLLGATE_BIN, "lint", str(path)], capture_output=True,
                       timeout=10, text=True, errors="replace")
    line = r.stdout.strip()
    prefix = f"{path}: "
    assert line.startswith(prefix), line
    verdict = line[len(prefix):]
    assert (r.returncode == 0) == verdict.startswith("ok "), (r.returncode, verdict)
    return verdict


def expectation(verdict: str) -> tuple:
    """("silence",), ("final", N) or ("routed",) - see the module docstring."""
    m = re.match(r"error: .* \((drop|\d{3})\)$", verdict)
    if m:
        return ("silence",) if m.group(1) == "drop" else ("final", int(m.group(1)))
    m = re.match(r"ok (\S+)(?: \((answered|dropped, would be) (\d{3})[^)]*\))?$", verdict)
    assert m, f"unexpected lint verdict {verdict!r}"
    what, how, code = m.groups()
    if what.isdigit():
        return ("silence",)
    if how == "answered":
        return ("final", int(code))
    if how:
        return ("silence",)
    if what == "INVITE":
        return ("routed",)
    if what == "OPTIONS":
        return ("final", 200)
    return ("final", 481)


def unfolded_head(raw: bytes) -> str:
    text = raw.decode("latin-1")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    return re.sub(r"\r?\n[ \t]+", " ", head)


def header_value(raw: bytes, *names: str) -> str | None:
    for line in unfolded_head(raw).splitlines()[1:]:
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() in names:
            return v.strip()
    return None


def via_port(raw: bytes) -> int:
    via = header_value(raw, "via", "v") or ""
    m = re.match(r"SIP\s*/\s*2\.0\s*/\s*\w+\s+(\[[^\]]*\]|[^\s;:,]+)\s*(?::\s*(\d+))?", via)
    return int(m.group(2)) if m and m.group(2) else 5060


def _bind_peer(port: int) -> UdpPeer:
    try:
        return UdpPeer(GATEWAY_IP, port)
    except OSError as e:
        pytest.skip(f"cannot bind {GATEWAY_IP}:{port} (the file's Via port): {e}")


def _ack_for(final: Datagram, ruri: str) -> bytes:
    """RFC 3261 §17.1.1.3 ACK for a non-2xx final to an INVITE, built from the
    response (its Via, From, To with tag, Call-ID; CSeq number)."""
    head = re.split(r"\r?\n\r?\n", final.text, maxsplit=1)[0].split("\r\n")
    out = [f"ACK {ruri} SIP/2.0"]
    for line in head[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k in ("via", "v", "from", "f", "to", "t", "call-id", "i"):
            out.append(line)
        elif k == "cseq":
            out.append(f"CSeq: {v.split()[0]} ACK")
    out += ["Max-Forwards: 70", "Content-Length: 0"]
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def _params():
    """One case per file."""
    return [pytest.param(name, lint_verdict(harness.TORTURE / name), id=name) for name in FILES]




@pytest.mark.parametrize("name,verdict", _params())
def test_torture_wire_matches_lint(tollgate, recorder, name, verdict):
    path = harness.TORTURE / name
    raw = path.read_bytes()
    expect = expectation(verdict)
    to = header_value(raw, "to", "t") or ""
    if expect == ("routed",) and re.search(r";\s*tag\s*=", to):
        # An INVITE with a To tag is a re-INVITE: no dialog -> 481 (RFC 3261 12.2.2).
        expect = ("final", 481)
    peer = _bind_peer(via_port(raw))
    carrier = recorder(answer=486)
    # A fresh node per file: several files share Via branch + sent-by, which
    # a node would rightly treat as retransmissions of each other.
    # Fast timers: the node's own retransmissions stop sooner.
    tg = tollgate(settings={"sip": {"t1_ms": 100}, "routing": {"setup_timeout": 2}},
                  provisioning=mapping_gateway("torture-gw", [GATEWAY_IP]) +
                  routing_gateway("busy-carrier", f"127.0.0.1:{carrier.addr[1]}"))
    call_id = header_value(raw, "call-id", "i")
    is_invite = raw.startswith(b"INVITE ")

    def ours(d: Datagram) -> bool:
        return call_id is None or d.header("Call-ID") in (call_id, None)

    try:
        peer.send(raw, ("127.0.0.1", tg.port))
        where = f"{name}: lint says {verdict!r}, expecting {expect}"
        if expect[0] == "silence":
            got = [d for d in peer.recv_all(SILENCE_WINDOW) if ours(d)]
            assert got == [], f"{where}; got {[d.text.splitlines()[0] for d in got]}"
            assert carrier.datagrams == []
            return

        got = peer.recv_until(lambda d: d.status >= 200, ANSWER_TIMEOUT, keep=ours)
        finals = [d for d in got if d.status >= 200]
        assert finals, f"{where}; got no final response ({[d.text.splitlines()[0] for d in got]})"
        final = finals[0]
        if is_invite:
            ruri = raw.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[1]
            peer.send(_ack_for(final, ruri), ("127.0.0.1", tg.port))
        assert all(d.status < 200 for d in got[:-1]), where
        if expect[0] == "final":
            assert final.status == expect[1], f"{where}; got {final.text.splitlines()[0]!r}"
            assert carrier.requests("INVITE") == [], f"{where}; must not reach the carrier"
        else:  # routed
            assert final.status == 486, f"{where}; got {final.text.splitlines()[0]!r}"
            assert len(carrier.requests("INVITE")) == 1, f"{where}; the carrier got no INVITE"

        if is_invite and expect != ("final", 481):
            want_code = 486 if expect[0] == "routed" else expect[1]
            want_reason = ("busy" if expect[0] == "routed" else
                           "too_many_hops" if want_code == 483 else
                           "invalid_number" if want_code == 484 else "bad_request")
            rows = tg.wait_cdrs(1, timeout=5)
            assert [(r["reason"], r["final_code"], r["mapping_gateway"]) for r in rows] == \
                [(want_reason, want_code, "torture-gw")], f"{where}; CDRs {rows}"
    finally:
        peer.close()
