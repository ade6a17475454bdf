"""Attacks on the SIP TCP/TLS connection table, with real sockets from
many loopback addresses (127.0.x.y), and what must hold against them
(docs/transport.md, "Who may hold a connection" and "Deadlines"):

- a flood of ~4,200 connections from 420 untrusted addresses, each under
  the shield's per-source limit, cannot take the share of the table kept
  for trusted sources: a provisioned gateway still connects over TCP and
  completes a call; the per-prefix limit refuses a dense /24 and the
  reserve the rest, each counted by reason;
- a message trickled a byte a second is closed by sip.tcp_message_timeout
  (FIN or RST per sip.tcp_close), while a gateway's keep-alive connection
  with no partial message stays under the idle timeout;
- over TLS, a trickled handshake is closed by sip.tls_handshake_timeout and
  a message trickled after the handshake by the message deadline;
- the table's memory per connection stays within the documented bound.

The tests set only keys the baseline also knows (the new deadlines are
used at their defaults), so against a build without these controls they
fail on the attack, not at start-up. Every loop is bounded in count and
time; every socket is closed at the end.
"""

from __future__ import annotations

import resource
import select
import socket
import ssl
import time

import pytest

from harness import check_cdr, counts_field, mapping_gateway, routing_gateway, wait_until
from test_tls import Pki, tls_node

GATEWAY = "127.0.0.5"          # the provisioned customer (mapping gateway)
CALLER, CALLEE = "4420", "15551234567"
PER_SOURCE = 10                # shield.max_concurrent (default): the flood stays at it
PER_PREFIX = 30                # shield.prefix_max_concurrent (default)
MESSAGE_TIMEOUT = 5.0          # sip.tcp_message_timeout (default)
HANDSHAKE_TIMEOUT = 5.0        # sip.tls_handshake_timeout (default)
FDS_NEEDED = 12_000            # our flood sockets + tollgate's table (inherits our limit)


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    return Pki(d)


@pytest.fixture(autouse=True)
def enough_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FDS_NEEDED if hard == resource.RLIM_INFINITY else min(FDS_NEEDED, hard)
    if want < FDS_NEEDED:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {FDS_NEEDED}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def flood_layout() -> list[str]:
    """420 untrusted addresses in 127.0.x.y (never the gateway's /24): one
    dense /24 of 12 addresses (120 connections: over the per-prefix limit),
    then 136 /24s of 3 addresses (30 connections each: at the limit)."""
    dense = [f"127.0.200.{y}" for y in range(1, 13)]
    spread = [f"127.0.{x}.{y}" for x in range(1, 137) for y in (1, 2, 3)]
    return dense + spread


def open_flood(target: tuple[str, int], addresses: list[str], per_address: int,
               deadline: float = 20.0) -> list[socket.socket]:
    """Non-blocking connects, `per_address` from each address, in batches
    so the listen backlog never overflows; returns every socket (accepted
    or about to be reset: the handshake completes in the kernel first)."""
    socks: list[socket.socket] = []
    end = time.monotonic() + deadline
    for i, a in enumerate(addresses):
        for _ in range(per_address):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((a, 0))
            try:
                s.connect(target)
            except BlockingIOError:
                pass
            socks.append(s)
        if i % 25 == 24:
            settle(socks[-25 * per_address:], end)
    settle(socks, end)
    return socks


def settle(socks: list[socket.socket], end: float) -> None:
    """Waits (bounded) until every connect in `socks` has completed or failed."""
    pending = list(socks)
    while pending and time.monotonic() < end:
        poller = select.poll()
        for s in pending:
            poller.register(s, select.POLLOUT)
        done = {fd for fd, _ in poller.poll(200)}
        pending = [s for s in pending if s.fileno() not in done]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_on_each(socks: list[socket.socket], data: bytes) -> None:
    """Sends `data` on every socket (bounded by a 1 s timeout each); those
    tollgate closed already (for the budget) are skipped."""
    for sock in socks:
        sock.setblocking(True)
        sock.settimeout(1)
        try:
            sock.sendall(data)
        except OSError:
            pass


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


@pytest.mark.parametrize("table", [4096, 1024], ids=["default-4096", "table-1024"])
def test_connection_flood_leaves_room_for_a_provisioned_gateway(tollgate, sipp, ports, table):
    """4,200 connections from 420 untrusted addresses, 10 each (the shield's
    per-source limit) and at most 30 per /24 except one dense /24: without a
    reserved share they fill the table and the gateway's connection is
    reset. With it, untrusted sources hold at most 75 % of the table, the
    dense /24 is cut to its per-prefix limit, and the provisioned gateway
    connects over TCP and completes a call with a TCP carrier (the outbound
    connection uses the reserve too)."""
    uas_port = ports.port()
    settings = {"sip": {"tcp_max_connections": table}} if table != 4096 else {}
    tg = tollgate(settings=settings,
                  provisioning=mapping_gateway("cust-a", [GATEWAY]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}", transport="tcp"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, transport="t1").start().wait_listening()
    rss_before = rss_kib(tg.pid)
    addresses = flood_layout()
    assert len(addresses) == 420
    started = time.monotonic()
    flood = open_flood(("127.0.0.1", tg.port), addresses, PER_SOURCE)
    try:
        assert len(flood) == 4200
        opened_s = time.monotonic() - started
        # The flood holds what it can get before the gateway comes.
        wait_until(lambda: int(tg.stats()["tcp_open"]) >= table * 3 // 4, 5,
                   "the flood to fill the untrusted share")
        during = tg.stats()
        rss_flood = rss_kib(tg.pid)

        # The attack's target: a provisioned gateway connects and calls.
        uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", ip=GATEWAY,
                   transport="t1", caller=CALLER, service=CALLEE, hold_ms=300, timeout=10)
        uac.run()
        uas.wait()
        uac.assert_ok()
        uas.assert_ok()
        check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
                  hangup="caller", gateways=["carrier-a"], caller=CALLER, callee=CALLEE,
                  transport="tcp")

        # Who was refused, and why: the dense /24 by the per-prefix limit
        # (it came first), the rest by the reserve; the table never filled.
        untrusted_cap = table - table * 25 // 100
        assert int(during["tcp_open_untrusted"]) == untrusted_cap, during
        s = tg.stats()
        refused = counts_field(s["tcp_refused"])
        assert refused.get("untrusted_prefix") == 120 - PER_PREFIX, refused
        assert refused.get("reserved") == 4200 - (120 - PER_PREFIX) - untrusted_cap, refused
        assert "table_full" not in refused and "untrusted_source" not in refused, refused
        assert counts_field(s["shield_dropped"]).get("concurrency") == 120 - PER_PREFIX, s
        per_conn = (rss_flood - rss_before) * 1024 / max(1, int(during["tcp_open"]))
        print(f"\nflood: {len(flood)} connects in {opened_s:.1f} s; {during['tcp_open']} open "
              f"({during['tcp_open_untrusted']} untrusted); RSS +{rss_flood - rss_before} KiB "
              f"= {per_conn:.0f} bytes per open connection; refused {refused}")
    finally:
        close_all(flood)
    wait_until(lambda: int(tg.stats()["tcp_open"]) == 0, 10, "the flood's connections to close")


# Documented in docs/transport.md ("Memory"): an idle connection costs under
# 2 KiB of tollgate's RSS, and the buffers of all untrusted connections
# together at most sip's untrusted buffer budget (32 MiB).
IDLE_BYTES_PER_CONNECTION = 2048
UNTRUSTED_BUFFER_BUDGET_KIB = 32 * 1024


def test_connection_table_memory_stays_within_the_documented_bound(tollgate):
    """2,000 untrusted connections cost a few KiB each; when each then sends
    a partial message of 60 KB (the largest kind an attacker would choose:
    held until the message deadline), tollgate's RSS grows by the untrusted
    buffer budget at most (connections past it are closed), not by 2,000 x
    64 KiB (125 MiB) as without a budget. Prints the measurements."""
    tg = tollgate(provisioning=mapping_gateway("cust-a", [GATEWAY]) +
                  routing_gateway("carrier-a", "127.0.0.1:9"))
    addresses = [f"127.0.{x}.{y}" for x in range(1, 68) for y in (1, 2, 3)][:200]
    time.sleep(0.5)
    rss0 = rss_kib(tg.pid)
    socks = open_flood(("127.0.0.1", tg.port), addresses, PER_SOURCE, deadline=3)
    try:
        wait_until(lambda: int(tg.stats()["tcp_open"]) == 2000, 3, "2,000 connections open")
        rss1 = rss_kib(tg.pid)
        idle = (rss1 - rss0) * 1024 / 2000
        send_on_each(socks, b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nX: " + b"a" * 60000)
        time.sleep(0.5)
        rss2 = rss_kib(tg.pid)
        s = tg.stats()
        print(f"\nmemory: idle {idle:.0f} bytes per connection (RSS {rss0} -> {rss1} KiB); "
              f"partial messages: RSS +{rss2 - rss1} KiB, {s['tcp_open']} open, "
              f"{s.get('tcp_closed_buffer_budget')} closed for the budget")
        assert idle <= IDLE_BYTES_PER_CONNECTION, idle
        assert rss2 - rss1 <= UNTRUSTED_BUFFER_BUDGET_KIB * 1.25, (rss1, rss2)
        assert int(s["tcp_closed_buffer_budget"]) > 0, s
    finally:
        close_all(socks)


def client_hello(pki) -> bytes:
    """A real TLS ClientHello for tollgate's test certificate."""
    hello_obj = pki.client_context().wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(),
                                              server_hostname="tollgate.test")
    with pytest.raises(ssl.SSLWantReadError):
        hello_obj.do_handshake()
    hello = out.read()
    assert len(hello) > 100
    return hello


# docs/transport.md ("Memory"): a TLS handshake in progress costs 42-47 KiB
# (an untrusted one is charged 48 KiB to the untrusted budget), an idle TLS
# connection 16-20 KiB (bound: 24 KiB).
IDLE_TLS_BYTES_PER_CONNECTION = 24 * 1024


def test_tls_handshakes_held_open_stay_within_the_untrusted_budget(tollgate, ports, pki):
    """1,500 strangers send a ClientHello each and then nothing, holding
    their handshakes open until the deadline: tollgate's RSS grows by the
    untrusted buffer budget at most (about 680 handshakes are kept, the
    rest closed `buffer_budget`), not by 1,500 x ~45 KiB. On a node of its
    own, 400 clients complete the handshake and stay idle: each costs under
    24 KiB. Prints the measurements."""
    provisioning = mapping_gateway("cust-a", [GATEWAY]) + routing_gateway("carrier-a", "127.0.0.1:9")
    addresses = [f"127.0.{x}.{y}" for x in range(1, 68) for y in (1, 2, 3)][:150]

    idle_node = tls_node(tollgate, ports, pki, provisioning, name="idle")
    ctx = pki.client_context()
    done: list[ssl.SSLSocket] = []
    try:
        time.sleep(0.5)
        rss0 = rss_kib(idle_node.pid)
        for a in addresses[:40]:
            for _ in range(PER_SOURCE):
                plain = socket.create_connection(("127.0.0.1", idle_node.tls_port), timeout=2,
                                                 source_address=(a, 0))
                done.append(ctx.wrap_socket(plain, server_hostname="tollgate.test"))
        time.sleep(0.5)
        rss1 = rss_kib(idle_node.pid)
        assert int(idle_node.stats()["tcp_open"]) == len(done) == 400
        idle = (rss1 - rss0) * 1024 / len(done)
        print(f"\ntls: {len(done)} idle after the handshake: {idle:.0f} bytes per connection")
        assert idle <= IDLE_TLS_BYTES_PER_CONNECTION, idle
    finally:
        for t in done:
            t.close()

    tg = tls_node(tollgate, ports, pki, provisioning, name="held")
    hello = client_hello(pki)
    time.sleep(0.5)
    rss0 = rss_kib(tg.pid)
    held = open_flood(("127.0.0.1", tg.tls_port), addresses, PER_SOURCE, deadline=3)
    try:
        send_on_each(held, hello)
        time.sleep(1)
        rss1 = rss_kib(tg.pid)
        s = tg.stats()
        print(f"tls: {len(held)} handshakes held: RSS +{rss1 - rss0} KiB, {s['tcp_open']} open, "
              f"{s.get('tcp_closed_buffer_budget')} closed for the budget")
        assert rss1 - rss0 <= UNTRUSTED_BUFFER_BUDGET_KIB * 1.25, (rss0, rss1)
        assert int(s["tcp_closed_buffer_budget"]) > 0, s
    finally:
        close_all(held)


def closed_within(sock, wait: float) -> str:
    """"fin" or "reset" when the peer closes within `wait` seconds, else ""."""
    sock.settimeout(max(wait, 0.01))
    try:
        data = sock.recv(4096)
        return "" if data else "fin"
    except (socket.timeout, BlockingIOError, ssl.SSLWantReadError):
        return ""
    except ConnectionResetError:
        return "reset"
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return "fin"


INVITE = (b"INVITE sip:15551234567@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.5:5099;"
          b"branch=z9hG4bK-trickle\r\nMax-Forwards: 70\r\nFrom: <sip:4420@127.0.0.5>;tag=1\r\n"
          b"To: <sip:15551234567@127.0.0.1>\r\nCall-ID: trickle@127.0.0.5\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize("close", ["fin", "reset"])
def test_trickled_message_is_closed_by_the_deadline(tollgate, close):
    """A byte a second of an INVITE, from the provisioned gateway's own
    address (the deadline is for everyone), is closed sip.tcp_message_timeout
    (5 s) after its first byte, with a FIN or an RST as sip.tcp_close says.
    The same gateway's keep-alive connection (CRLFCRLF pings, no partial
    message) stays open all the while: the idle timeout governs it."""
    tg = tollgate(settings={"sip": {"tcp_close": close}},
                  provisioning=mapping_gateway("cust-a", [GATEWAY]) +
                  routing_gateway("carrier-a", "127.0.0.1:9"))
    keepalive = socket.create_connection(("127.0.0.1", tg.port), timeout=2,
                                         source_address=(GATEWAY, 0))
    trickler = socket.create_connection(("127.0.0.1", tg.port), timeout=2,
                                        source_address=(GATEWAY, 0))
    try:
        kind, after = "open", 0.0
        start = time.monotonic()
        # Bytes at 0, 1.5, 2.5, 3.5 ... s: the deadline (5 s after the first)
        # falls half-way between two, so the close is read before the next
        # byte could turn a FIN into a reset.
        for i, b in enumerate(INVITE[:12]):
            try:
                trickler.send(bytes([b]))
            except ConnectionResetError:  # the reset came just before this byte
                kind, after = "reset", time.monotonic() - start
                break
            keepalive.send(b"\r\n\r\n")
            keepalive.settimeout(1)
            assert keepalive.recv(2) == b"\r\n", "the keep-alive connection must answer pings"
            next_byte = start + i + 1.5
            kind = closed_within(trickler, max(0.0, next_byte - time.monotonic())) or "open"
            if kind != "open":
                after = time.monotonic() - start
                break
        assert kind == close, f"trickled connection: {kind!r} after {after:.1f} s"
        assert MESSAGE_TIMEOUT - 0.5 <= after <= MESSAGE_TIMEOUT + 2, after
        keepalive.send(b"\r\n\r\n")
        assert keepalive.recv(2) == b"\r\n", "the keep-alive connection outlives the deadline"
        s = tg.stats()
        assert int(s["tcp_closed_message_timeout"]) == 1, s
        assert int(s["tcp_closed_deadline_reset"]) == (1 if close == "reset" else 0), s
        assert int(s["tcp_open"]) == 1, s
    finally:
        trickler.close()
        keepalive.close()


class MemoryTls:
    """A TLS client over a plain socket: the handshake is done at once
    (bounded by the socket's timeout), then send() encrypts and writes one
    record per call. The caller reads the plain socket to see the close."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, hostname: str):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=hostname)
        end = time.monotonic() + 5
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                if time.monotonic() > end:
                    raise AssertionError("TLS handshake did not finish")
                data = self.sock.recv(65536)
                if not data:
                    raise AssertionError("closed during the TLS handshake")
                self.inc.write(data)
        self.sock.sendall(self.out.read())

    def send(self, data: bytes) -> None:
        self.obj.write(data)
        self.sock.sendall(self.out.read())


def test_trickled_tls_handshake_and_message_are_closed_by_the_deadline(tollgate, ports, pki):
    """Over TLS, with sip.tcp_close = "reset": a ClientHello trickled a byte a
    second is reset sip.tls_handshake_timeout (5 s) after the accept; a
    connection that completes the handshake and then trickles a message is
    reset sip.tcp_message_timeout after its first byte. Both at once."""
    tg = tls_node(tollgate, ports, pki, mapping_gateway("cust-a", [GATEWAY]) +
                  routing_gateway("carrier-a", "127.0.0.1:9"), sip={"tcp_close": "reset"})
    ctx = pki.client_context()
    hello = client_hello(pki)  # a real one, to trickle over a plain socket

    raw = socket.create_connection(("127.0.0.1", tg.tls_port), timeout=2,
                                   source_address=("127.0.0.9", 0))
    # TLS over a plain socket we read ourselves (ssl.MemoryBIO), so a reset
    # shows as ECONNRESET rather than as whatever the TLS layer makes of it.
    plain = socket.create_connection(("127.0.0.1", tg.tls_port), timeout=2,
                                     source_address=(GATEWAY, 0))
    tls = MemoryTls(plain, ctx, "tollgate.test")
    try:
        start = time.monotonic()
        raw_kind = tls_kind = ""
        raw_after = tls_after = 0.0
        for i in range(12):
            # A send can meet the reset first (the deadline falls on a second).
            if not raw_kind:
                try:
                    raw.send(hello[i:i + 1])
                except ConnectionResetError:
                    raw_kind, raw_after = "reset", time.monotonic() - start
            if not tls_kind:
                try:
                    tls.send(INVITE[i:i + 1])
                except ConnectionResetError:
                    tls_kind, tls_after = "reset", time.monotonic() - start
            until = start + i + 1
            while time.monotonic() < until and not (raw_kind and tls_kind):
                if not raw_kind:
                    raw_kind = closed_within(raw, 0.05)
                    raw_after = time.monotonic() - start
                if not tls_kind:
                    tls_kind = closed_within(plain, 0.05)
                    tls_after = time.monotonic() - start
            if raw_kind and tls_kind:
                break
        assert raw_kind == "reset", f"trickled handshake: {raw_kind or 'open'} after {raw_after:.1f} s"
        assert HANDSHAKE_TIMEOUT - 0.5 <= raw_after <= HANDSHAKE_TIMEOUT + 2, raw_after
        assert tls_kind == "reset", f"trickled TLS message: {tls_kind or 'open'} after {tls_after:.1f} s"
        assert MESSAGE_TIMEOUT - 0.5 <= tls_after <= MESSAGE_TIMEOUT + 2, tls_after
        s = tg.stats()
        assert int(s["tls_handshake_timeouts"]) == 1, s
        assert int(s["tcp_closed_message_timeout"]) == 1, s
        assert int(s["tcp_closed_deadline_reset"]) == 2, s
    finally:
        raw.close()
        plain.close()
