"""A small SIP user agent for the authentication tests, standard library only.

- `digest_response()` computes RFC 2617/7616 digests with hashlib (MD5 and
  SHA-256): an implementation independent of tollgate's, so a test that passes
  proves interoperability, not agreement with itself.
- `Ua` sends requests over UDP, TCP or TLS from its own socket, collects the
  responses, answers challenges (`request_with_auth`), REGISTERs, and can act
  as a phone on a background thread: it answers OPTIONS (while `alive`) and
  INVITEs (100/180/200, then ACK and BYE), and records what it received.

Every wait has a deadline; sockets are closed by `close()`.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field


def H(alg: str, text: str) -> str:
    name = {"MD5": "md5", "SHA-256": "sha256"}[alg.upper()]
    return hashlib.new(name, text.encode()).hexdigest()


def parse_params(value: str) -> dict[str, str]:
    """Digest header parameters (scheme stripped), quoted or not."""
    value = re.sub(r"^\s*Digest\s+", "", value, flags=re.I)
    out = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))', value):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def digest_response(alg: str, user: str, realm: str, password: str, method: str, uri: str,
                    nonce: str, nc: str = "", cnonce: str = "", qop: str = "") -> str:
    ha1 = H(alg, f"{user}:{realm}:{password}")
    ha2 = H(alg, f"{method}:{uri}")
    if qop:
        return H(alg, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return H(alg, f"{ha1}:{nonce}:{ha2}")


def credentials(challenge: dict[str, str], user: str, password: str, method: str, uri: str,
                nc: int = 1, cnonce: str | None = None, qop: bool = True,
                alg: str | None = None) -> str:
    alg = alg or challenge.get("algorithm", "MD5")
    cnonce = cnonce or os.urandom(8).hex()
    ncs = f"{nc:08x}"
    use_qop = qop and "auth" in challenge.get("qop", "")
    resp = digest_response(alg, user, challenge["realm"], password, method, uri,
                           challenge["nonce"], ncs if use_qop else "", cnonce if use_qop else "",
                           "auth" if use_qop else "")
    v = (f'Digest username="{user}", realm="{challenge["realm"]}", nonce="{challenge["nonce"]}", '
         f'uri="{uri}", response="{resp}", algorithm={alg}')
    if use_qop:
        v += f', qop=auth, nc={ncs}, cnonce="{cnonce}"'
    return v


@dataclass
class Msg:
    text: str
    source: tuple = ()

    @property
    def first_line(self) -> str:
        return self.text.split("\r\n", 1)[0]

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.first_line.split()[1])

    @property
    def method(self) -> str:
        return self.first_line.split()[0] if self.is_request else ""

    @property
    def head(self) -> str:
        return self.text.split("\r\n\r\n", 1)[0]

    def headers(self, name: str) -> list[str]:
        out = []
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                out.append(v.strip())
        return out

    def header(self, name: str) -> str | None:
        h = self.headers(name)
        return h[0] if h else None

    def challenges(self) -> list[dict[str, str]]:
        name = "WWW-Authenticate" if self.status == 401 else "Proxy-Authenticate"
        return [parse_params(v) for v in self.headers(name)]


SDP = ("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class Ua:
    """One SIP endpoint on one socket. transport: "udp", "tcp" or "tls"."""

    def __init__(self, ip: str, port: int, server: tuple[str, int], transport: str = "udp",
                 tls_context: ssl.SSLContext | None = None, user: str = "100"):
        self.ip, self.port, self.server, self.transport = ip, port, server, transport
        self.user = user
        self.lock = threading.Lock()
        self.inbox: list[Msg] = []  # responses, and requests the phone thread did not take
        self.received: list[Msg] = []  # every message, in order
        self.alive = True  # answer OPTIONS
        self.answer_invites = True
        self.calls_answered = 0
        self._buf = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        if transport == "udp":
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.bind((ip, port))
        else:
            raw = socket.socket(fam, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            raw.bind((ip, port))
            raw.settimeout(5)
            raw.connect(server)
            if transport == "tls":
                ctx = tls_context or ssl._create_unverified_context()
                raw = ctx.wrap_socket(raw, server_hostname=server[0] if ctx.check_hostname
                                      else None)
            self.sock = raw
        self.sock.settimeout(0.1)
        self.closed_by_peer: str | None = None  # "fin" / "reset" once the server closed a stream

    # -- wire -------------------------------------------------------------

    @property
    def via_transport(self) -> str:
        return self.transport.upper()

    @property
    def hostport(self) -> str:
        return f"{self.ip}:{self.port}"

    def send(self, data: str) -> None:
        raw = data.encode()
        if self.transport == "udp":
            self.sock.sendto(raw, self.server)
        else:
            self.sock.sendall(raw)

    def _read(self) -> list[Msg]:
        try:
            if self.transport == "udp":
                data, src = self.sock.recvfrom(65535)
                return [Msg(data.decode(errors="replace"), src)]
            data = self.sock.recv(65535)
        except (socket.timeout, ssl.SSLWantReadError):
            return []
        except ConnectionResetError:
            self.closed_by_peer = "reset"
            time.sleep(0.05)
            return []
        except OSError:
            time.sleep(0.05)
            return []
        if not data:
            if self.closed_by_peer is None:
                self.closed_by_peer = "fin"
            time.sleep(0.05)
            return []
        self._buf += data
        out = []
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self._buf[:end].decode(errors="replace")
            m = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.I | re.M)
            n = int(m.group(1)) if m else 0
            if len(self._buf) < end + 4 + n:
                break
            out.append(Msg(self._buf[:end + 4 + n].decode(errors="replace"), self.server))
            self._buf = self._buf[end + 4 + n:]
        return out

    def _pump_once(self) -> None:
        for m in self._read():
            with self.lock:
                self.received.append(m)
            if m.is_request and self._handle_request(m):
                continue
            with self.lock:
                self.inbox.append(m)

    def _handle_request(self, m: Msg) -> bool:
        if m.method == "OPTIONS":
            if self.alive:
                self.send(self.response(m, 200, "OK"))
            return True
        if m.method == "INVITE" and self.answer_invites:
            tag = f"ph{random.getrandbits(24):06x}"
            self.send(self.response(m, 100, "Trying"))
            self.send(self.response(m, 180, "Ringing", tag=tag))
            sdp = SDP.format(ip=self.ip)
            self.send(self.response(m, 200, "OK", tag=tag, body=sdp,
                                    extra=[f"Contact: <sip:{self.user}@{self.hostport}>",
                                           "Content-Type: application/sdp"]))
            self.calls_answered += 1
            return True
        if m.method == "BYE":
            self.send(self.response(m, 200, "OK"))
            return True
        if m.method == "ACK":
            return True
        return False

    def start_phone(self) -> "Ua":
        """Answers OPTIONS/INVITE/BYE on a background thread from now on."""
        def run():
            while not self._stop.is_set():
                self._pump_once()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def wait(self, pred, timeout: float) -> Msg | None:
        """The first inbox message matching pred (removed from the inbox)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for i, m in enumerate(self.inbox):
                    if pred(m):
                        return self.inbox.pop(i)
            if self._thread is None:
                self._pump_once()
            else:
                time.sleep(0.01)
        return None

    def call(self, password: str | None, callee: str, hold: float = 0.2, timeout: float = 5.0):
        """A whole call: INVITE (answering a challenge when `password` is
        given), ACK the 200, hold, BYE. Returns the list of final statuses
        (challenge, INVITE, BYE)."""
        ruri = f"sip:{callee}@{self.server[0]}:{self.server[1]}"
        body = SDP.format(ip=self.ip)
        if password is not None:
            first, final, sent = self.request_with_auth("INVITE", ruri, password, to_user=callee,
                                                        body=body, timeout=timeout)
            statuses = [first.status if first else None]
            if final is None:
                return statuses + [None]
            call_id, tag, cseq = sent[2], sent[3], 2
        else:
            call_id, tag, cseq = f"ua-{random.getrandbits(64):016x}", "t0", 1
            final = self.transact(self.build("INVITE", ruri, call_id=call_id, cseq=1,
                                             from_user=self.user, to_user=callee, from_tag=tag,
                                             body=body), timeout)
            statuses = []
            if final is None:
                return [None]
        statuses.append(final.status)
        if final.status != 200:
            return statuses
        host = self.server[0]
        to = final.header("To")
        base = (f"Max-Forwards: 70\r\nFrom: <sip:{self.user}@{host}>;tag={tag}\r\nTo: {to}\r\n"
                f"Call-ID: {call_id}\r\n")
        target = re.search(r"<([^>]*)>", final.header("Contact") or f"<{ruri}>").group(1)
        via = lambda: (f"Via: SIP/2.0/{self.via_transport} {self.hostport};"
                       f"branch=z9hG4bK{random.getrandbits(64):016x};rport\r\n")
        self.send(f"ACK {target} SIP/2.0\r\n{via()}{base}CSeq: {cseq} ACK\r\n"
                  "Content-Length: 0\r\n\r\n")
        time.sleep(hold)
        bye = (f"BYE {target} SIP/2.0\r\n{via()}{base}CSeq: {cseq + 1} BYE\r\n"
               "Content-Length: 0\r\n\r\n")
        r = self.transact(bye, timeout)
        statuses.append(r.status if r else None)
        return statuses

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        try:
            self.sock.close()
        except OSError:
            pass

    # -- messages -----------------------------------------------------------

    @staticmethod
    def response(req: Msg, status: int, reason: str, tag: str | None = None, body: str = "",
                 extra: list[str] = ()) -> str:
        lines = [f"SIP/2.0 {status} {reason}"]
        for line in req.head.split("\r\n")[1:]:
            k = line.partition(":")[0].strip().lower()
            if k in ("via", "v", "from", "f", "call-id", "i", "cseq"):
                lines.append(line)
            elif k in ("to", "t"):
                lines.append(line + (f";tag={tag}" if tag and ";tag=" not in line else ""))
        lines += list(extra)
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def build(self, method: str, ruri: str, *, call_id: str, cseq: int, from_user: str,
              to_user: str, from_tag: str, auth: tuple[str, str] | None = None,
              extra: list[str] = (), body: str = "", branch: str | None = None) -> str:
        branch = branch or f"z9hG4bK{random.getrandbits(64):016x}"
        host = self.server[0]
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/{self.via_transport} {self.hostport};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"From: <sip:{from_user}@{host}>;tag={from_tag}",
                 f"To: <sip:{to_user}@{host}>",
                 f"Call-ID: {call_id}",
                 f"CSeq: {cseq} {method}",
                 f"Contact: <sip:{from_user}@{self.hostport}"
                 f"{'' if self.transport == 'udp' else ';transport=' + self.transport}>",
                 "User-Agent: tollgate-itest-ua"]
        if auth:
            lines.append(f"{auth[0]}: {auth[1]}")
        lines += list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def transact(self, text: str, timeout: float = 3.0) -> Msg | None:
        """Sends a request and returns its final response (None: none came)."""
        call_id = re.search(r"^Call-ID: (.*)$", text, re.M).group(1).strip()
        cseq = re.search(r"^CSeq: (.*)$", text, re.M).group(1).strip()
        self.send(text)
        final = self.wait(lambda m: not m.is_request and m.status >= 200 and
                          m.header("Call-ID") == call_id and m.header("CSeq") == cseq, timeout)
        if final is not None and final.status >= 300 and cseq.endswith("INVITE"):
            self._ack_non2xx(text, final)
        return final

    def _ack_non2xx(self, invite: str, resp: Msg) -> None:
        via = re.search(r"^Via: (.*)$", invite, re.M).group(1)
        ruri = invite.split(" ")[1]
        frm = re.search(r"^From: (.*)$", invite, re.M).group(1)
        cseq = resp.header("CSeq").split()[0]
        self.send(f"ACK {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {frm}\r\n"
                  f"To: {resp.header('To')}\r\nCall-ID: {resp.header('Call-ID')}\r\n"
                  f"CSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n")

    def request_with_auth(self, method: str, ruri: str, password: str, *, to_user: str,
                          from_user: str | None = None, user: str | None = None,
                          alg: str | None = None, body: str = "", extra: list[str] = (),
                          uri: str | None = None, timeout: float = 3.0):
        """method without credentials, then again answering the challenge.
        Returns (challenge response, final response, credentials sent)."""
        user = user or self.user
        from_user = from_user or user
        call_id = f"ua-{random.getrandbits(64):016x}"
        tag = f"{random.getrandbits(32):08x}"
        first = self.transact(self.build(method, ruri, call_id=call_id, cseq=1,
                                         from_user=from_user, to_user=to_user, from_tag=tag,
                                         body=body, extra=extra), timeout)
        if first is None or first.status not in (401, 407):
            return first, None, None
        chals = first.challenges()
        chal = next((c for c in chals if alg is None or c.get("algorithm", "MD5") == alg), None)
        if chal is None:
            return first, None, None
        hname = "Authorization" if first.status == 401 else "Proxy-Authorization"
        cred = credentials(chal, user, password, method, uri or ruri)
        final = self.transact(self.build(method, ruri, call_id=call_id, cseq=2,
                                         from_user=from_user, to_user=to_user, from_tag=tag,
                                         auth=(hname, cred), body=body, extra=extra), timeout)
        return first, final, (hname, cred, call_id, tag)

    def register(self, password: str, expires: int = 60, user: str | None = None,
                 alg: str | None = None, timeout: float = 3.0):
        user = user or self.user
        return self.request_with_auth("REGISTER", f"sip:{self.server[0]}:{self.server[1]}",
                                      password, to_user=user, user=user, alg=alg,
                                      extra=[f"Expires: {expires}"], timeout=timeout)
