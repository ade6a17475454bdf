"""Logs and capture as an operator observes them.

Journal: with log.target = "journal" (or "auto" under systemd, detected by
JOURNAL_STREAM) every event is one datagram of journald's native protocol.
The main test runs a real systemd-journald in a journal namespace of its own
(no systemd PID 1 needed) and reads it back with journalctl: real info,
warning and error events, `journalctl -p warning` showing warnings and
errors only, `journalctl EVENT=auth.suspended` finding the suspension with
its fields. The detection test stands in for journald with a unix datagram
socket (log.journal_socket).

HEP: a SIPp call through the node with [hep] set; the test receives the
HEPv3 datagrams on a UDP socket, has them decoded by sngrep (an
independent HEP implementation; tshark 4.0 has no HEP dissector) into a
pcap that tshark decodes as SIP, and finds every SIP message both SIPp
instances sent and received, on both legs, with the right source and
destination address and port, and nothing else. The HEP chunks tshark does
not see (capture id, password, correlation id, time) are checked from the
datagrams directly."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import harness
from harness import TOLLGATE_BIN, mapping_gateway, routing_gateway, wait_until
from sipua import Ua
from test_auth import PASSWORD, USER, password_gateway

# ---------------------------------------------------------------------------
# Journal


class FakeJournal:
    """journald's native socket, as far as a client can tell: a unix
    datagram socket; each datagram is one entry of KEY=value lines."""

    def __init__(self, path: Path):
        assert len(str(path)) < 108, path
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.entries: list[dict[str, str]] = []

    def close(self):
        self.sock.close()

    def _drain(self, timeout: float):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return
        entry: dict[str, str] = {}
        for line in data.decode().split("\n")[:-1]:
            key, sep, value = line.partition("=")
            assert sep, f"not a KEY=value field: {line!r}"  # no binary fields are needed
            assert key not in entry, f"{key} twice in {data!r}"
            entry[key] = value
        assert data.endswith(b"\n")
        self.entries.append(entry)

    def wait_event(self, event: str, timeout: float = 5) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.entries:
                if e.get("EVENT") == event:
                    return e
            self._drain(0.05)
        raise AssertionError(f"no journal entry EVENT={event}; got "
                             f"{[e.get('EVENT') for e in self.entries]}")

    def settle(self, quiet: float = 0.3):
        """Reads until nothing came for `quiet` seconds."""
        while True:
            n = len(self.entries)
            self._drain(quiet)
            if len(self.entries) == n:
                return


def run_unready(tg: harness.Tollgate, env: dict | None = None) -> None:
    """Starts `tollgate run` as the fixture would, but without waiting for
    node.ready on stderr (it goes to the journal); the fixture still stops it."""
    tg._log_file = open(tg.log_path, "ab")
    tg.proc = subprocess.Popen([TOLLGATE_BIN, "run", "--config", str(tg.config_path)],
                               stdout=tg._log_file, stderr=tg._log_file,
                               stdin=subprocess.DEVNULL, env=env)


JOURNALD = "/lib/systemd/systemd-journald"


class Journald:
    """A real systemd-journald in a journal namespace of its own
    (systemd-journald@.service(8)): its sockets in /run/systemd/journal.NS,
    its files under /var/log/journal or /run/log/journal as MACHINE-ID.NS;
    all removed at close. Read with `journalctl --namespace=NS`."""

    def __init__(self):
        assert os.access(JOURNALD, os.X_OK) and shutil.which("journalctl"), (
            "systemd-journald and journalctl come with the systemd test package")
        self.ns = f"tollgate-test-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
        self.socket = Path(f"/run/systemd/journal.{self.ns}/socket")
        self.proc = subprocess.Popen([JOURNALD, self.ns], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.socket.exists, 5, "journald's native socket")

    def query(self, *args: str) -> list[dict]:
        r = subprocess.run(["journalctl", f"--namespace={self.ns}", "--no-pager", "-o", "json",
                            "-t", "tollgate", *args],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode in (0, 1), r.stderr  # 1: no entries
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def wait_event(self, event: str, timeout: float = 5) -> dict:
        return wait_until(lambda: next(iter(self.query(f"EVENT={event}")), None), timeout,
                          f"journal entry EVENT={event}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        machine = Path("/etc/machine-id").read_text().strip()
        for d in (f"/var/log/journal/{machine}.{self.ns}", f"/run/log/journal/{machine}.{self.ns}",
                  f"/run/systemd/journal.{self.ns}"):
            shutil.rmtree(d, ignore_errors=True)


def test_journal_priorities_and_fields_in_journalctl(tollgate, ports):
    """Through a real journald: info events are priority 6, warnings 4,
    errors 3, so `journalctl -p warning` shows exactly the warning and error
    events; `journalctl EVENT=auth.suspended` finds the suspension with its
    fields (USERNAME, SOURCE, KIND); nothing goes to stderr."""
    journal = Journald()
    try:
        settings = {"log": {"target": "journal", "journal_socket": str(journal.socket)},
                    "auth": {"max_retry": 2}}
        tg = tollgate(settings=settings, provisioning=password_gateway(register=True),
                      start=False)
        # A store readable by others: the node tightens it and warns.
        os.chmod(tg.store_path, 0o644)
        run_unready(tg)
        ready = journal.wait_event("node.ready")
        assert ready["PRIORITY"] == "6"
        assert ready["MESSAGE"].startswith("node.ready listen=")
        assert ready["_PID"] == ready["PID"] == str(tg.proc.pid)
        assert ready["_TRANSPORT"] == "journal"  # the native protocol, not a stream

        # A warning an attacker causes: a digest suspension.
        attacker = Ua("127.0.0.2", ports.port(), ("127.0.0.1", tg.port))
        try:
            for i in range(3):
                attacker.register(f"guess-{i}", timeout=1.0)
        finally:
            attacker.close()
        suspended = journal.wait_event("auth.suspended")
        assert (suspended["PRIORITY"], suspended["USERNAME"], suspended["SOURCE"],
                suspended["KIND"]) == ("4", USER, "127.0.0.2", "user_source"), suspended

        # An error: a second node that cannot listen where the first does.
        second = tollgate(settings={"log": settings["log"]}, name="tg2", start=False,
                          listen=[f"tcp:127.0.0.1:{tg.port}"])
        r = subprocess.run([TOLLGATE_BIN, "run", "--config", str(second.config_path)],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        failed = journal.wait_event("node.listen_failed")
        assert (failed["PRIORITY"], failed["LISTEN"]) == ("3", f"tcp:127.0.0.1:{tg.port}")
        assert "event=" not in r.stderr  # it went to the journal

        tg.stop()
        journal.wait_event("node.stopped")
        everything = journal.query()
        warnings = journal.query("-p", "warning")
        errors = journal.query("-p", "err")
        suspensions = journal.query("EVENT=auth.suspended", "USERNAME=" + USER)
    finally:
        journal.close()

    by_event = collections.defaultdict(set)
    for e in everything:
        assert e["MESSAGE"].split(" ", 1)[0] == e["EVENT"]
        by_event[e["EVENT"]].add(e["PRIORITY"])
    info = {"node.ready", "provisioning.loaded", "blacklist.loaded", "node.draining",
            "node.stats", "node.auth_stats", "node.stopped"}
    assert info <= set(by_event), sorted(by_event)
    for event in info:
        assert by_event[event] == {"6"}, (event, by_event[event])
    assert {e["EVENT"] for e in warnings} == {
        "store.permissions_tightened", "auth.suspended", "node.listen_failed"}, warnings
    assert {e["EVENT"] for e in errors} == {"node.listen_failed"}, errors
    assert len(suspensions) == 1
    assert "event=" not in tg.log(), tg.log_tail()


def test_journal_is_chosen_when_stderr_is_the_journal_stream(tollgate, tmp_path):
    """log.target = "auto" (the default) sends to the journal only when
    stderr is the stream systemd connected to it (JOURNAL_STREAM names its
    device:inode); a JOURNAL_STREAM inherited by a process whose stderr goes
    elsewhere keeps logging on stderr."""
    journal = FakeJournal(tmp_path / "journal.sock")
    try:
        tg = tollgate(settings={"log": {"journal_socket": str(journal.path)}}, start=False)
        tg.log_path.touch()
        st = os.stat(tg.log_path)
        run_unready(tg, env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        journal.wait_event("node.ready")
        tg.stop()
        journal.wait_event("node.stopped")
        assert "event=node.ready" not in tg.log()
        journal.settle(0.2)
        journal.entries.clear()

        other = tollgate(settings={"log": {"journal_socket": str(journal.path)}}, name="tg2",
                         start=False)
        other.log_path.touch()
        run_unready(other, env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        other.wait_log(r"event=node\.ready", timeout=5)
        other.stop()
        journal.settle(0.2)
        assert not journal.entries
    finally:
        journal.close()


# ---------------------------------------------------------------------------
# HEP


def hep_chunks(packet: bytes) -> dict[int, bytes]:
    """HEPv3 (HEP3 rev12): "HEP3", total length, chunks of (vendor, type,
    length including the 6-byte chunk header)."""
    assert packet[:4] == b"HEP3"
    (total,) = struct.unpack("!H", packet[4:6])
    assert total == len(packet)
    chunks, at = {}, 6
    while at < len(packet):
        vendor, kind, length = struct.unpack("!HHH", packet[at:at + 6])
        assert vendor == 0 and length >= 6
        chunks[kind] = packet[at + 6:at + length]
        at += length
    assert at == len(packet)
    return chunks


class Collector:
    """A HEP collector: a UDP socket that keeps every datagram."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []

    def collect(self, count: int, timeout: float = 5, quiet: float = 0.3) -> list[bytes]:
        """Until `count` came (and then `quiet` seconds more, for extras)."""
        deadline = time.monotonic() + timeout
        while True:
            wait = quiet if len(self.packets) >= count else deadline - time.monotonic()
            if wait <= 0:
                break
            self.sock.settimeout(wait)
            try:
                self.packets.append(self.sock.recv(70000))
            except socket.timeout:
                if len(self.packets) >= count:
                    break
        return self.packets

    def close(self):
        self.sock.close()


def _udp_bound(port: int) -> bool:
    want = f"0100007F:{port:04X}"
    return any(line.split()[1] == want
               for line in Path("/proc/net/udp").read_text().splitlines()[1:])


def sngrep_tshark(packets: list[bytes], workdir: Path, port: int) -> list[tuple]:
    """The HEP datagrams decoded by sngrep (written out as plain SIP over
    IP) and read back by tshark: (src, dst, first line, Call-ID, CSeq)."""
    sngrep, tshark = shutil.which("sngrep"), shutil.which("tshark")
    assert sngrep and tshark, "sngrep and tshark are test packages (make deps-test)"
    pcap = workdir / "hep-decoded.pcap"
    proc = subprocess.Popen([sngrep, "-N", "-q", "-L", f"udp:127.0.0.1:{port}", "-O", str(pcap)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _udp_bound(port), 5, "sngrep listening for HEP")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in packets:
                s.sendto(p, ("127.0.0.1", port))
                time.sleep(0.002)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)  # sngrep writes the pcap out as it exits
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    r = subprocess.run([tshark, "-r", str(pcap), "-Y", "sip", "-T", "fields", "-E",
                        "separator=|", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst",
                        "-e", "udp.dstport", "-e", "sip.Request-Line", "-e", "sip.Status-Line",
                        "-e", "sip.Call-ID", "-e", "sip.CSeq"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = []
    for line in r.stdout.splitlines():
        src, sport, dst, dport, req, status, call_id, cseq = line.split("|")
        rows.append((f"{src}:{sport}", f"{dst}:{dport}", req or status, call_id, cseq))
    return rows


def sipp_rows(sipp: harness.Sipp, peer: str) -> list[tuple]:
    """What a SIPp instance sent and received, as the node saw it."""
    me = f"{sipp.ip}:{sipp.port}"
    rows = []
    for m in sipp.messages():
        src, dst = (me, peer) if m.direction == "sent" else (peer, me)
        rows.append((src, dst, m.first_line, m.header("Call-ID"), m.header("CSeq")))
    return rows


def call_with_hep(tollgate, sipp, ports, collector: Collector, **hep):
    """A customer (127.0.0.5) calls through a node capturing to `collector`
    towards a carrier; returns the node and (leg a, leg b) as SIPp saw them."""
    uas_port = ports.port()
    tg = tollgate(settings={"hep": {"address": f"127.0.0.1:{collector.port}", **hep}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.5"]) +
                  routing_gateway("carrier", f"127.0.0.1:{uas_port}"))
    node = f"127.0.0.1:{tg.port}"
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=1).start().wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=node, ip="127.0.0.5", caller="5005",
               service="4420001", hold_ms=200)
    uac.start()
    uac.wait()
    uas.wait()
    uac.assert_ok()
    uas.assert_ok()
    tg.wait_cdrs(1)
    return tg, sipp_rows(uac, node), sipp_rows(uas, node)


def test_hep_captures_every_message_of_a_call_on_both_legs(tollgate, sipp, ports, tmp_path):
    collector = Collector()
    try:
        t0 = time.time()
        tg, leg_a, leg_b = call_with_hep(tollgate, sipp, ports, collector, capture_id=2001,
                                         password="homer-pw")
        assert len(leg_a) >= 6 and len(leg_b) >= 6, (leg_a, leg_b)
        packets = collector.collect(len(leg_a) + len(leg_b))
        t1 = time.time()
        metrics = tg.api("GET", "/metrics").text
        stats = tg.api("GET", "/api/v1/stats").json()
    finally:
        collector.close()

    # Every message of both legs, with the right addresses, and nothing else.
    decoded = sngrep_tshark(packets, tmp_path, ports.port())
    assert collections.Counter(decoded) == collections.Counter(leg_a + leg_b), (
        sorted(decoded), sorted(leg_a + leg_b))

    # What tshark does not show: one capture id, the password, UDP, SIP, the
    # time the node handled each message, and the caller's Call-ID as the
    # correlation id of both legs.
    caller_call_id = leg_a[0][3]
    assert leg_b[0][3] != caller_call_id  # a B2BUA: the carrier leg has its own
    for p in packets:
        c = hep_chunks(p)
        assert struct.unpack("!I", c[0x000C])[0] == 2001
        assert c[0x000E] == b"homer-pw"
        assert c[0x0001] == bytes([socket.AF_INET]) and c[0x0002] == bytes([17])
        assert c[0x000B] == b"\x01"
        assert c[0x0011].decode() == caller_call_id
        when = struct.unpack("!I", c[0x0009])[0] + struct.unpack("!I", c[0x000A])[0] / 1e6
        assert t0 - 1 <= when <= t1 + 1
    times = [struct.unpack("!I", hep_chunks(p)[0x0009])[0] * 1_000_000 +
             struct.unpack("!I", hep_chunks(p)[0x000A])[0] for p in packets]
    assert times == sorted(times), "sent in the order the worker handled them"
    n = len(leg_a) + len(leg_b)
    assert f"tollgate_hep_sent_total {n}" in metrics
    assert f"tollgate_hep_captured_total {n}" in metrics
    assert 'tollgate_hep_dropped_total{reason="queue_full"} 0' in metrics
    assert stats["hep"] == {"enabled": True, "captured": n, "sent": n, "dropped_queue_full": 0,
                            "dropped_too_large": 0, "send_errors": 0, "queued": 0}


def test_hep_legs_setting_captures_the_carrier_side_only(tollgate, sipp, ports):
    """hep.legs = ["b"]: the carrier leg's messages, none of the caller's."""
    collector = Collector()
    try:
        _, _, leg_b = call_with_hep(tollgate, sipp, ports, collector, legs=["b"])
        packets = collector.collect(len(leg_b))
    finally:
        collector.close()
    got = []
    for p in packets:
        c = hep_chunks(p)
        src = f"{socket.inet_ntoa(c[0x0003])}:{struct.unpack('!H', c[0x0007])[0]}"
        dst = f"{socket.inet_ntoa(c[0x0004])}:{struct.unpack('!H', c[0x0008])[0]}"
        text = c[0x000F].decode()
        got.append((src, dst, text.split("\r\n", 1)[0]))
    assert sorted(got) == sorted((r[0], r[1], r[2]) for r in leg_b)
