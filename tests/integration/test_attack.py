"""Real attack tools against a password gateway (sipvicious 0.3.3, always
bound to 127.0.0.x with -b, never -R/-A):

- svcrack with a wordlist whose 61st entry is the real password does not
  find it while retry limits are on (the pair is suspended after
  auth.max_retry guesses and nothing answers any more), and finds it with
  auth.retry_limits = false, which proves the test can fail. The real user,
  from another source, registers during the attack.
- svwar learns nothing: the made-up extension it probes first gets the same
  challenge as every real one, so it reports nothing (REGISTER and INVITE
  scans, forced or not).

These prove the auth layer on its own. The shield would stop both tools at
their first packets (their User-Agent is a scanner signature, and their rate
trips the per-source limits: see test_shield.py), so here its signature and
rate checks only count (AUTH_ONLY). Its ban list still takes the auth
layer's suspensions: the svcrack source ends up banned with reason "auth"."""

from __future__ import annotations

import subprocess

import pytest

from harness import wait_until
from sipua import Ua
from test_auth import password_gateway

USER, SECRET = "100", "zebra-71"
# The shield's own scanner and rate checks counted only, so the tools reach
# the auth layer (defence in depth: each layer holds without the other).
AUTH_ONLY = {"shield": {"signature_mode": "count-only", "rate_mode": "count-only",
                        "prefix_rate_mode": "count-only"}}
POSITION = 61  # the real password's line in the wordlist (after position 50)


def wordlist(tmp_path):
    words = [f"guess{i:03d}" for i in range(POSITION - 1)] + [SECRET] + ["after1", "after2"]
    f = tmp_path / "words.txt"
    f.write_text("\n".join(words) + "\n")
    assert f.read_text().splitlines().index(SECRET) + 1 == POSITION
    return f


def run_tool(cmd, timeout=90):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def svcrack(tg, words, local_port):
    return run_tool(["svcrack", "-b", "127.0.0.2", "-P", str(local_port), "-p", str(tg.port),
                     "-u", USER, "-d", str(words), "--maximumtime=4", "127.0.0.1"])


def test_svcrack_does_not_find_the_password_with_retry_limits(tollgate, ports, tmp_path):
    tg = tollgate(settings=AUTH_ONLY,
                  provisioning=password_gateway(username=USER, password=SECRET, register=True))
    out = svcrack(tg, wordlist(tmp_path), ports.port())
    assert "found nothing" in out, out
    assert SECRET not in out, out
    m = tg.wait_log(r"event=auth\.suspended kind=user_source username=100 "
                    r"source=(127\.0\.0\.\d+) seconds=180 offenses=1 failures=6")
    # The suspension is a ban in the shield too (one ban list).
    why = wait_until(lambda: (lambda w: w if w.get("banned") else None)(tg.ban_why(m.group(1))),
                     5, "the auth ban in the store")
    assert why["bans"][0]["reason"] == "auth", why
    assert why["bans"][0]["detail"] == "6 failed digest attempts for user 100", why
    # The account's owner, elsewhere, is not locked out by the attack.
    u = Ua("127.0.0.3", ports.port(), ("127.0.0.1", tg.port))
    try:
        _, ok, _ = u.register(SECRET)
        assert ok is not None and ok.status == 200
    finally:
        u.close()


def test_svcrack_finds_the_password_without_retry_limits(tollgate, ports, tmp_path):
    """The control: the same attack with auth.retry_limits = false works."""
    tg = tollgate(settings={**AUTH_ONLY, "auth": {"retry_limits": False}},
                  provisioning=password_gateway(username=USER, password=SECRET, register=True))
    out = svcrack(tg, wordlist(tmp_path), ports.port())
    assert f"| {USER}       | {SECRET} |" in out, out


@pytest.mark.parametrize("method,force", [("REGISTER", False), ("INVITE", False),
                                          ("REGISTER", True)])
def test_svwar_learns_nothing(tollgate, ports, method, force):
    tg = tollgate(settings=AUTH_ONLY,
                  provisioning=password_gateway(username=USER, password=SECRET, register=True) +
                  password_gateway(name="phone-102", username="102", password="x"))
    cmd = ["svwar", "-b", "127.0.0.2", "-P", str(ports.port()), "-p", str(tg.port),
           "-e", "95-105", "-m", method, "127.0.0.1"]
    if force:
        cmd.insert(1, "--force")
    out = run_tool(cmd)
    assert "found nothing" in out, out
    for ext in ("100", "102"):
        assert f"| {ext} " not in out, out
    if not force:
        # Its made-up extension got the same answer as real ones.
        assert "authentication request for an unknown extension" in out, out
