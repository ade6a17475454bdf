"""SIP trace (VOS3000 Debug Trace): a traced SIPp call through a filtered
gateway shows exactly that gateway's messages, the pcap from `tollgate trace
-w` opens in tshark with the same message count, other gateways' traffic is
absent; challenge/response cycles are marked; tracing is bounded."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading

import pytest

from harness import (TOLLGATE_BIN, UdpPeer, api_request, mapping_gateway, routing_gateway,
                     sip_request, wait_until)
from sipua import credentials, parse_params
from test_auth import PASSWORD, password_gateway


def _trace_sessions(tg) -> int:
    return tg.api("GET", "/api/v1/stats").json()["tables"]["trace_sessions"]


def test_trace_filtered_gateway_pcap_and_text(tollgate, sipp, ports, tmp_path):
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.5"]) +
                  mapping_gateway("cust-b", ["127.0.0.6"]) +
                  routing_gateway("carrier", f"127.0.0.1:{uas_port}"))
    conf = str(tg.config_path)
    pcap = tmp_path / "cust-a.pcap"
    writer = subprocess.Popen([TOLLGATE_BIN, "trace", "--config", conf, "--gateway", "cust-a",
                               "-w", str(pcap), "--duration", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    texter = subprocess.Popen([TOLLGATE_BIN, "trace", "--config", conf, "--gateway", "cust-a",
                               "--format", "ndjson", "--duration", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _trace_sessions(tg) == 2, 10, "two trace sessions")
        uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=2).start().wait_listening()
        uac_a = sipp("uac-a", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
                     ip="127.0.0.5", caller="5005", service="4420001", hold_ms=200)
        uac_b = sipp("uac-b", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}",
                     ip="127.0.0.6", caller="6006", service="4420002", hold_ms=200)
        uac_a.start()
        uac_b.start()
        uac_a.wait()
        uac_b.wait()
        uas.wait()
        uac_a.assert_ok()
        uac_b.assert_ok()
        tg.wait_cdrs(2)
        sent_a, recv_a = len(uac_a.sent()), len(uac_a.received())
        expected = sent_a + recv_a
        assert expected >= 6, uac_a.report()
        # Both streams have everything once their counts are reached.
        m = tg.api("GET", "/metrics").text
        wait_until(lambda: f"tollgate_trace_messages_total {2 * expected}" in
                   tg.api("GET", "/metrics").text, 10, "trace messages delivered")
    finally:
        for p in (writer, texter):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        w_out, w_err = writer.communicate(timeout=10)
        t_out, t_err = texter.communicate(timeout=10)
    assert writer.returncode == 0, w_err
    assert texter.returncode == 0, t_err

    records = [json.loads(line) for line in t_out.splitlines() if line.strip()]
    assert len(records) == expected, (len(records), expected, t_out[:2000])
    ins = [r for r in records if r["direction"] == "in"]
    outs = [r for r in records if r["direction"] == "out"]
    assert len(ins) == sent_a and len(outs) == recv_a
    assert all(r["remote"].startswith("127.0.0.5:") for r in records)
    assert not any("127.0.0.6" in r["message"] or "6006" in r["message"] for r in records)
    methods = [r["summary"].split()[0] for r in ins]
    assert methods[0] == "INVITE" and "ACK" in methods and "BYE" in methods
    assert [r["seq"] for r in records] == list(range(1, expected + 1))

    tshark = shutil.which("tshark")
    if not tshark:
        pytest.skip("tshark not installed")
    r = subprocess.run([tshark, "-r", str(pcap), "-Y", "sip", "-T", "fields", "-e", "ip.src",
                        "-e", "ip.dst", "-e", "sip.Method", "-e", "sip.Status-Code"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines() if line.strip()]
    assert len(rows) == expected, r.stdout
    assert all("127.0.0.5" in (row[0], row[1]) for row in rows), rows
    assert not any("127.0.0.6" in (row[0], row[1]) for row in rows)
    assert sum(1 for row in rows if row[2] == "INVITE") == 1
    total = subprocess.run([tshark, "-r", str(pcap)], capture_output=True, text=True, timeout=60)
    assert len(total.stdout.splitlines()) == expected  # nothing else in the file


def _ack_for(invite: bytes, response) -> bytes:
    """ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's
    Request-URI, Via, From, Call-ID and CSeq number, the response's To."""
    head = invite.decode().split("\r\n\r\n")[0].split("\r\n")
    method, ruri, _ = head[0].split(" ")
    out = [f"ACK {ruri} SIP/2.0"]
    for line in head[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name == "to":
            out.append("To: " + response.header("To"))
        elif name == "cseq":
            out.append("CSeq: " + line.split(":", 1)[1].split()[0] + " ACK")
        elif name in ("via", "from", "call-id", "max-forwards"):
            out.append(line)
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def test_trace_marks_challenges_and_filters_by_number(tollgate, ports, recorder):
    """Challenge/response cycles on both legs, traced by number: a password
    customer is challenged, retries with a wrong password (challenged
    again), then with the right one; the call goes to a carrier that
    challenges tollgate every time, so tollgate answers once with the
    carrier's credentials and gives up (carrier_auth_failed). The trace marks
    every challenge and every request carrying credentials, counting the
    cycles per Call-ID, so a loop stands out; other numbers are absent."""
    carrier = recorder(answer=407)
    tg = tollgate(provisioning=password_gateway(name="phone", username="u7", password=PASSWORD) +
                  routing_gateway("carrier", f"127.0.0.1:{carrier.addr[1]}",
                                  auth_username="tg", auth_password="carrier-secret"))
    out: list = []

    def stream():
        out.append(api_request("127.0.0.1", tg.api_port, "GET",
                               "/api/v1/trace?number=4477&format=ndjson&count=100&duration=6",
                               token=tg.api_token(), timeout=25))

    t = threading.Thread(target=stream)
    t.start()
    wait_until(lambda: _trace_sessions(tg) == 1, 10, "the trace session")
    peer = UdpPeer("127.0.0.1", ports.port())
    ruri = f"sip:4477123@127.0.0.1:{tg.port}"
    try:
        call_id, challenge = None, None
        for cseq, password in ((1, None), (2, "wrong"), (3, PASSWORD)):
            data, call_id = sip_request("INVITE", ruri, peer.addr, call_id=call_id,
                                        from_user="u7", to_user="4477123", cseq=cseq)
            if password:
                cred = credentials(challenge, "u7", password, "INVITE", ruri)
                data = data.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" +
                                    f"Proxy-Authorization: {cred}\r\n".encode())
            peer.send(data, ("127.0.0.1", tg.port))
            final = 503 if password == PASSWORD else 407
            got = peer.recv_until(lambda d: d.status == final, 5)
            assert got and got[-1].status == final, [g.status for g in got]
            peer.send(_ack_for(data, got[-1]), ("127.0.0.1", tg.port))
            if final == 407:
                challenge = parse_params(got[-1].header("Proxy-Authenticate"))
        # A call to another number is not traced.
        data, _ = sip_request("INVITE", f"sip:5599@127.0.0.1:{tg.port}", peer.addr,
                              from_user="u7", to_user="5599")
        peer.send(data, ("127.0.0.1", tg.port))
        got = peer.recv_until(lambda d: d.status == 407, 5)
        peer.send(_ack_for(data, got[-1]), ("127.0.0.1", tg.port))
    finally:
        peer.close()
    t.join(timeout=30)
    assert out and out[0].status == 200
    recs = [json.loads(l) for l in out[0].text.splitlines() if l.strip()]
    assert not any("5599" in r["message"] for r in recs)
    caller_leg = [r for r in recs if r["call_id"] == call_id]
    marks = [(r["direction"], r["summary"].split()[0], r["mark"]) for r in caller_leg if r["mark"]]
    assert marks == [("out", "SIP/2.0", "challenge #1"), ("in", "INVITE", "credentials #1"),
                     ("out", "SIP/2.0", "challenge #2"), ("in", "INVITE", "credentials #2")], marks
    carrier_leg = [r for r in recs if r["call_id"] != call_id]
    carrier_marks = [(r["direction"], r["mark"]) for r in carrier_leg if r["mark"]]
    assert carrier_marks == [("in", "challenge #1"), ("out", "credentials #1"),
                             ("in", "challenge #2")], carrier_marks
    assert len({r["call_id"] for r in carrier_leg}) == 1  # the retry keeps the Call-ID
    assert tg.wait_cdrs(1)[0]["reason"] == "carrier_auth_failed"
    wait_until(lambda: _trace_sessions(tg) == 0, 10, "the session to close")


def test_trace_refusals(tollgate):
    tg = tollgate()
    r = tg.api("GET", "/api/v1/trace?gateway=nobody")
    assert r.status == 404 and r.json()["field"] == "gateway"
    r = tg.api("GET", "/api/v1/trace?source=not-an-ip")
    assert r.status == 400 and r.json()["field"] == "source"
    r = tg.api("GET", "/api/v1/trace?rate=100000")
    assert r.status == 400 and r.json()["field"] == "rate"
    tg.api("POST", "/api/v1/users", {"name": "rita", "role": "readonly",
                                     "password": "quiet river stone"})
    tok = tg.api("POST", "/api/v1/login", {"username": "rita", "password": "quiet river stone"},
                 token=None).json()["token"]
    assert tg.api("GET", "/api/v1/trace?duration=1", token=tok).status == 403
    starts = tg.api("GET", "/api/v1/audit?action=trace.start").json()["entries"]
    assert starts == []
