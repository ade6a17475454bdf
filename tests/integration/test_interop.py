"""A real SIP user agent through tollgate, non-interactively: baresip
(`baresip-core`, headless: aufile source, aubridge sink, ctrl_tcp remote
control) registers with digest as a password gateway with register = true,
receives a call from a customer (SIPp on 127.0.0.2) and auto-answers it,
then places a call, answering tollgate's 407 with its own digest, to a
carrier (SIPp UAS).

baresip binds 127.0.0.1: libre does not use other loopback addresses
(127.0.0.7 gives "Function not implemented"). So the customer PBX is
127.0.0.2 and the carrier shares 127.0.0.1 with baresip, which does not
make baresip known: a carrier's address only covers its OPTIONS, and the
INVITE is challenged like any other."""

from __future__ import annotations

import json
import math
import shutil
import socket
import struct
import subprocess
import time
import wave

from harness import check_cdr, mapping_gateway, routing_gateway, wait_until
from test_auth import password_gateway

BARESIP = shutil.which("baresip")
USER, SECRET = "100", "b4resip-pw"


def tone(path, seconds=1.0):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                               for i in range(int(8000 * seconds))))


def ctrl(port, command, params=""):
    """One baresip ctrl_tcp command (a netstring of JSON); returns the first
    netstring that comes back."""
    msg = json.dumps({"command": command, "params": params, "token": "t"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(str(len(msg)).encode() + b":" + msg + b",")
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            head, colon, rest = data.partition(b":")
            if colon and head.isdigit() and len(rest) > int(head):
                return rest[:int(head)]
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_baresip_registers_receives_and_places_calls(tollgate, sipp, ports, tmp_path):
    assert BARESIP, "baresip not found (apt-get install baresip-core; `make test` does)"
    uas_port, sip_port, ctrl_port = ports.port(), ports.port(), ports.port()
    # baresip 1.0.0 (libre) gives up on a whole 401/407 when one of its
    # challenges has an algorithm it lacks ("Function not implemented"),
    # instead of answering the one it knows (RFC 8760 §2.4): so this account
    # is challenged with MD5 only, as an operator would set it for such
    # phones. The node keeps offering SHA-256 and MD5 to everyone else.
    tg = tollgate(provisioning=password_gateway(username=USER, password=SECRET, register=True,
                                                digest_algorithms=["MD5"]) +
                  mapping_gateway("pbx", ["127.0.0.2"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    home = tmp_path / "baresip"
    home.mkdir()
    tone(home / "tone.wav", seconds=1.5)  # baresip hangs up when it ends
    (home / "config").write_text(f"""poll_method\tepoll
sip_listen\t127.0.0.1:{sip_port}
net_interface\t127.0.0.1
call_local_timeout\t20
call_max_calls\t4
audio_player\taubridge,null
audio_source\taufile,{home / 'tone.wav'}
audio_alert\taubridge,null
module_path\t/usr/lib/baresip/modules
module\tg711.so
module\taufile.so
module\taubridge.so
module_tmp\taccount.so
module_app\tmenu.so
module_app\tctrl_tcp.so
ctrl_tcp_listen\t127.0.0.1:{ctrl_port}
""")
    (home / "accounts").write_text(
        f"<sip:{USER}@127.0.0.1:{tg.port}>;auth_pass={SECRET};regint=300;answermode=auto;"
        "audio_codecs=pcmu\n")
    log = open(tmp_path / "baresip.log", "wb")
    proc = subprocess.Popen([BARESIP, "-f", str(home), "-t", "40"], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, cwd=home)
    try:
        def registered():
            rows = json.loads(tg.cli("registration", "list", "--config", str(tg.config_path),
                                     "--json").stdout)
            return rows if rows and rows[0]["online"] else None
        rows = wait_until(registered, 10, "baresip's registration")
        assert rows[0]["username"] == USER and rows[0]["gateway"] == "phone-100"
        assert rows[0]["user_agent"].startswith("baresip")
        assert rows[0]["source"] == f"udp:127.0.0.1:{sip_port}"

        # Incoming: the PBX customer dials 100; baresip answers on its own.
        uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", ip="127.0.0.2",
                   service=USER, caller="4420", hold_ms=300)
        uac.run()
        uac.assert_ok()
        check_cdr(tg.wait_cdrs(1)[0], reason="caller_bye", final_code=200, answered=True,
                  hangup="caller", mapping_gateway="pbx", gateways=["phone-100"], callee=USER)

        # Outgoing: baresip dials a number; tollgate challenges, baresip
        # answers, the carrier answers; baresip hangs up when its 1 s tone ends.
        uas = sipp("uas", "uas-answer.xml", port=uas_port).start().wait_listening()
        # The first netstring back may be an event rather than the command's
        # response; the carrier's side below is what proves the call.
        ctrl(ctrl_port, "dial", f"sip:15551234567@127.0.0.1:{tg.port}")
        uas.wait(timeout=20)
        uas.assert_ok()
        rows = tg.wait_cdrs(2)
        # mapping_gateway phone-100: identified by its digest answer, since
        # 127.0.0.1 is no customer's address.
        check_cdr(rows[0], reason="caller_bye", final_code=200, answered=True, hangup="caller",
                  mapping_gateway="phone-100", gateways=["carrier-a"], caller=USER,
                  callee="15551234567")
        assert tg.log().count("event=registrar.registered username=100") == 1
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()
