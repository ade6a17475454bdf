"""SIP over TLS and connection closing, over real sockets. SIPp 3.6.1 in
Debian is built without TLS (`sipp -v`: SCTP-PCAP-RTPSTREAM), so the TLS
customer is tests/integration/sipua.py on Python's ssl module; the
certificates are made per test with the openssl command line.

- A password gateway calls over TLS without a client certificate (digest).
- A tls_cert gateway is identified by its verified client certificate alone
  (no challenge); without the certificate, or with one from another CA, it
  gets nowhere.
- tls.min_version is enforced.
- sip.tcp_close: a dropped request's connection is reset (RST) or closed
  (FIN) as configured."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from harness import check_cdr, mapping_gateway, routing_gateway
from sipua import Ua
from test_auth import PASSWORD, USER, password_gateway


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Pki:
    """A CA, a server certificate for 127.0.0.1 and client certificates."""

    def __init__(self, d: Path):
        self.d = d
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=tollgate test CA", cwd=d)
        openssl("req", "-x509", *ec, "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem", "-days",
                "2", "-subj", "/CN=somebody else", cwd=d)
        self.issue("server", "/CN=tollgate.test", "subjectAltName=IP:127.0.0.1,DNS:tollgate.test")
        self.issue("client", "/CN=gw1", "subjectAltName=DNS:gw1.customer.example")
        self.issue("rogue", "/CN=gw1", "subjectAltName=DNS:gw1.customer.example", ca="rogue-ca")

    def issue(self, name, subject, ext, ca="ca"):
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
                cwd=self.d)
        (self.d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=self.d)

    def path(self, f):
        return str(self.d / f)

    def client_context(self, cert: str | None = None, maximum=None) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.path("ca.pem"))  # we verify tollgate too
        if cert:
            ctx.load_cert_chain(self.path(f"{cert}.pem"), self.path(f"{cert}.key"))
        if maximum:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = maximum
        return ctx


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    return Pki(d)


def tls_node(tollgate, ports, pki, provisioning, name="tg", tls=None, **settings):
    udp, tls_port = ports.port(), ports.port()
    tg = tollgate(listen=[f"udp:127.0.0.1:{udp}", f"tls:127.0.0.1:{tls_port}"],
                  settings={"tls": {"certificate": pki.path("server.pem"),
                                    "private_key": pki.path("server.key"),
                                    "client_ca": pki.path("ca.pem"), **(tls or {})},
                            **settings},
                  provisioning=provisioning, name=name)
    tg.tls_port = tls_port
    return tg


@pytest.fixture
def tls_ua(ports):
    made = []

    def make(tg, ctx, ip="127.0.0.1", user=USER):
        u = Ua(ip, ports.port(), ("127.0.0.1", tg.tls_port), transport="tls", tls_context=ctx,
               user=user)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def test_tls_call_with_password_and_no_client_certificate(tollgate, sipp, ports, pki, tls_ua):
    uas_port = ports.port()
    tg = tls_node(tollgate, ports, pki,
                  password_gateway() + routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    u = tls_ua(tg, pki.client_context())
    assert u.call(PASSWORD, "15551234567") == [407, 200, 200]
    uas.wait()
    uas.assert_ok()
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", mapping_gateway="phone-100", transport="tls",
              gateways=["carrier-a"])
    # Our answers over TLS name TLS in Via and Contact.
    ok = next(m for m in u.received if m.status == 200 and "INVITE" in m.header("CSeq"))
    assert ok.header("Via").startswith("SIP/2.0/TLS ")
    assert ok.header("Contact").endswith(";transport=tls>")


def test_tls_client_certificate_identifies_a_tls_cert_gateway(tollgate, sipp, ports, pki,
                                                              tls_ua):
    """auth = "tls_cert": the verified client certificate is the identity, no
    digest needed. Without a certificate nothing matches (dropped); a
    certificate from another CA does not even finish the handshake."""
    uas_port = ports.port()
    tg = tls_node(tollgate, ports, pki,
                  mapping_gateway("tls-cust", [], auth="tls_cert",
                                  tls_names=["gw1.customer.example"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
    u = tls_ua(tg, pki.client_context("client"))
    assert u.call(None, "15551234567") == [200, 200]
    uas.wait()
    uas.assert_ok()
    check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
              hangup="caller", mapping_gateway="tls-cust", transport="tls")

    anonymous = tls_ua(tg, pki.client_context())
    assert anonymous.call(None, "15551234567", timeout=1.5) == [None]
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        rogue = tls_ua(tg, pki.client_context("rogue"))
        # TLS 1.3 reports a refused client certificate on the first read.
        rogue.send("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        rogue.sock.settimeout(2)
        if rogue.sock.recv(100) == b"":
            raise ConnectionResetError("closed")
    rows = tg.wait_cdrs(2)
    assert sorted(r["reason"] for r in rows) == ["caller_bye", "unknown_source"]
    assert tg.cli("cdr", "list", "--config", str(tg.config_path), "--json").returncode == 0


def _handshake(port, ctx) -> str:
    raw = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version()
    except (ssl.SSLError, OSError) as e:
        return f"refused: {e.__class__.__name__}"


def test_tls_min_version_is_enforced(tollgate, ports, pki):
    """tls.min_version: a TLS 1.2-only client is served by a node with the
    default "1.2" and refused by one with "1.3" (which serves TLS 1.3)."""
    tls12 = pki.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    tls13 = pki.client_context()
    default = tls_node(tollgate, ports, pki, password_gateway())
    assert _handshake(default.tls_port, tls12) == "TLSv1.2"
    strict = tls_node(tollgate, ports, pki, password_gateway(), name="strict",
                      tls={"min_version": "1.3"})
    assert _handshake(strict.tls_port, tls12).startswith("refused")
    assert _handshake(strict.tls_port, tls13) == "TLSv1.3"


@pytest.mark.parametrize("mode", ["reset", "fin"])
def test_tcp_close_of_dropped_peers(tollgate, ports, mode):
    """A request from an unknown source over TCP is dropped and its
    connection closed: with sip.tcp_close = "reset" the client sees a reset,
    with "fin" an orderly end of stream. (A REGISTER: an OPTIONS from an
    untrusted source never reaches the switch, the shield drops it.)"""
    tg = tollgate(settings={"sip": {"tcp_close": mode}},
                  provisioning=mapping_gateway("cust-a", ["127.0.0.9"]))
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", tg.port))
    port = s.getsockname()[1]
    s.sendall((f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:{port};"
               f"branch=z9hG4bK1\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
               f"Call-ID: c1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
               f"Content-Length: 0\r\n\r\n").encode())
    s.settimeout(3)
    if mode == "reset":
        with pytest.raises(ConnectionResetError):
            s.recv(100)
    else:
        assert s.recv(100) == b""
    s.close()
