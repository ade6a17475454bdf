"""The web console (docs/console.md) in a real headless Chromium (Debian's
chromium + chromium-driver, driven by python3-selenium) against a real node:
login and lockout, provisioning with field errors, live calls ended from the
console, a flood ban seen and lifted on the dashboard, CDR search and CSV,
trace ladder and pcap, role hiding, XSS payloads shown inert, CSRF refusal,
and page load times with 10,000 CDRs and 1,000 bans (reported, not
asserted). Each test writes screenshots of its pages to its tmp dir, or to
the directory named by TOLLGATE_CONSOLE_SCREENSHOTS (the docs' images:
TOLLGATE_CONSOLE_SCREENSHOTS=docs/console), so a test run leaves the tree
as it was."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from harness import (REPO, SDP, api_request, mapping_gateway, routing_gateway,
                     self_signed_certificate, sip_request, wait_until)

webdriver = pytest.importorskip("selenium.webdriver", reason="apt-get install python3-selenium")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORDS = {"alice": "Ledger-Quartz-47", "oscar": "Pylon-Meadow-83", "rita": "Copper-Fjord-29"}
ROLES = {"alice": "admin", "oscar": "operator", "rita": "readonly"}
CALLER, CALLEE = "2002", "15551234567"

# Payloads of the XSS test: if any became markup, it would set window.__xss.
XSS_DISPLAY = "<img src=x onerror=window.__xss=1>"
XSS_UA = "<script>window.__xss=2</script><b id=xssb>bold</b>"
XSS_CALLER = "%3Cscript%3Ewindow.__xss%3D3%3C%2Fscript%3E"
XSS_CALLEE = "%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D4%3E"


@pytest.fixture
def browser(tmp_path):
    if not Path(CHROMEDRIVER).exists():
        pytest.skip("apt-get install chromium chromium-driver")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1440,1000", "--lang=en-US",
              # the TLS test's node has a self-signed certificate
              "--ignore-certificate-errors"):
        o.add_argument(a)
    o.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                        "download.prompt_for_download": False})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(20)
    d.downloads = downloads
    shots = os.environ.get("TOLLGATE_CONSOLE_SCREENSHOTS")
    d.shots = Path(shots).resolve() if shots else tmp_path / "screenshots"
    yield d
    d.quit()


class Console:
    """One browser on one node's console."""

    def __init__(self, driver, tg, scheme: str = "http"):
        self.d = driver
        self.tg = tg
        self.base = f"{scheme}://127.0.0.1:{tg.api_port}"

    def open(self):
        self.d.get(self.base + "/console/")
        return self

    def login(self, user: str, password: str | None = None):
        self.open()
        self.wait("#login-user").send_keys(user)
        self.d.find_element(By.CSS_SELECTOR, "#login-password").send_keys(password or PASSWORDS[user])
        self.d.find_element(By.CSS_SELECTOR, "#login-submit").click()
        return self

    def wait(self, css: str, text: str | None = None, timeout: float = 10):
        def found(d):
            for el in d.find_elements(By.CSS_SELECTOR, css):
                if text is None or text in el.text:
                    return el
            return None
        return WebDriverWait(self.d, timeout, 0.05).until(found, f"{css} {text or ''}")

    def wait_gone(self, css: str, timeout: float = 10):
        WebDriverWait(self.d, timeout, 0.05).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, css), f"{css} gone")

    def go(self, page: str):
        self.d.get(f"{self.base}/console/#/{page}")
        self.wait(f"main[data-page='{page}']")
        return self

    def start_trace(self, number: str = ""):
        """Starts a trace on the trace page; returns once the node runs it."""
        self.go("trace")
        if number:
            self.wait("#trace-number").send_keys(number)
        self.wait("#trace-start").click()
        self.wait("#trace-running")
        wait_until(lambda: self.tg.api("GET", "/api/v1/audit?action=trace.start").json()["entries"],
                   5, "trace started")

    def js(self, script: str, *args):
        return self.d.execute_script(script, *args)

    def fetch(self, method: str, path: str, body=None, csrf: bool = True) -> dict:
        """A request from the page's own origin (the cookie goes with it)."""
        return self.d.execute_async_script("""
            const [method, path, body, csrf, done] = arguments;
            (async () => {
              const s = await (await fetch('/api/v1/console/session')).json();
              const headers = {'Content-Type': 'application/json'};
              if (csrf) headers['X-CSRF-Token'] = s.csrf_token;
              const r = await fetch(path, {method, headers,
                                           body: body === null ? undefined : JSON.stringify(body)});
              done({status: r.status, body: await r.text()});
            })().catch(e => done({status: -1, body: String(e)}));
        """, method, path, body, csrf)

    def shot(self, name: str):
        self.d.shots.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(self.d.shots / f"{name}.png"))

    def accept_confirm(self):
        WebDriverWait(self.d, 5).until(lambda d: _alert(d))
        self.d.switch_to.alert.accept()

    def xss_ran(self):
        return self.js("return window.__xss === undefined ? null : window.__xss")


def _alert(d):
    try:
        return d.switch_to.alert
    except NoAlertPresentException:
        return None


def add_users(tg, *names):
    for n in names:
        r = tg.api("POST", "/api/v1/users", {"name": n, "role": ROLES[n], "password": PASSWORDS[n]})
        assert r.status == 201, r.text


def node(tollgate, ports, settings=None, uas_port=None):
    uas_port = uas_port or ports.port()
    tg = tollgate(settings=settings,
                  provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-1", f"127.0.0.1:{uas_port}"))
    tg.uas_port = uas_port
    add_users(tg, "alice", "oscar", "rita")
    return tg


def test_login_shows_lockout_message_after_bad_passwords(tollgate, ports, browser):
    tg = node(tollgate, ports, settings={"api": {"lockout_attempts": 3}})
    c = Console(browser, tg).open()
    c.wait("#login-form")
    c.shot("login")
    for _ in range(3):
        c.login("alice", "wrong-password-123")
        c.wait("#login-error", "wrong user name or password")
    c.login("alice")  # the right password, but this address is locked now
    locked = c.wait("#login-locked")
    assert "too many failed logins" in locked.text and "try again in" in locked.text
    c.shot("login-locked")
    audit = tg.api("GET", "/api/v1/audit?action=login").json()["entries"]
    assert not any(e["action"] == "login" for e in audit)
    assert any(e["action"] == "login.refused_locked" for e in
               tg.api("GET", "/api/v1/audit?action=login.").json()["entries"])


def test_login_then_create_gateway_with_field_error(tollgate, ports, browser):
    tg = node(tollgate, ports)
    c = Console(browser, tg).login("alice")
    c.wait("#whoami", "alice (admin)")
    c.go("mapping-gateways")
    c.wait("tr[data-key='cust-a']")
    c.shot("mapping-gateways")
    c.wait("#resource-new").click()
    c.wait("#f-name").send_keys("cust-b")
    Select(c.wait("#f-auth")).select_by_value("ip")
    c.wait("#f-addresses").send_keys("10.0.0.300")
    c.wait("#form-submit").click()
    err = c.wait("#err-addresses", "")
    WebDriverWait(browser, 5).until(lambda d: err.text.strip() != "")
    assert "10.0.0.300" in err.text or "address" in err.text.lower(), err.text
    c.shot("mapping-gateway-field-error")
    assert tg.api("GET", "/api/v1/mapping-gateways/cust-b").status == 404
    box = c.wait("#f-addresses")
    box.clear()
    box.send_keys("192.0.2.10")
    c.wait("#form-submit").click()
    c.wait("tr[data-key='cust-b']")
    g = tg.api("GET", "/api/v1/mapping-gateways/cust-b").json()
    assert g["addresses"] == ["192.0.2.10"] and g["auth"] == "ip"
    created = tg.api("GET", "/api/v1/audit?actor=alice").json()["entries"]
    assert any(e["target"] == "cust-b" for e in created)


def test_live_calls_appear_and_one_is_ended_from_the_console(tollgate, ports, sipp, browser):
    tg = node(tollgate, ports)
    uas = sipp("uas", "uas-answer.xml", port=tg.uas_port, calls=2).start().wait_listening()
    c = Console(browser, tg).login("oscar")
    c.go("calls")
    uac = sipp("uac", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service=CALLEE, calls=2, rate=10, timeout=30).start()
    WebDriverWait(browser, 10, 0.1).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#calls-list tr[data-call]")) == 2)
    rows = browser.find_elements(By.CSS_SELECTOR, "#calls-list tr[data-call]")
    assert all(CALLEE in r.text for r in rows)
    c.wait("#calls-list td[data-col='state']", "confirmed")
    c.shot("calls")
    first = rows[0].get_attribute("data-call")
    rows[0].find_element(By.XPATH, ".//button[contains(., 'End call')]").click()
    c.accept_confirm()
    c.wait("#calls-msg", f"Call {first} ended")
    c.wait_gone(f"#calls-list tr[data-call='{first}']")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#calls-list tr[data-call]")) == 1
    # SIPp got the BYE for that call: one of its two calls completed.
    wait_until(lambda: uac.stats().get("SuccessfulCall(C)", "0") == "1", 10, "one call ended by BYE")
    assert len(uac.received("BYE")) == 1
    cdr = tg.wait_cdrs(1)[0]
    assert cdr["reason"] == "admin_hangup"
    ends = tg.api("GET", "/api/v1/audit?action=call.end").json()["entries"]
    assert len(ends) == 1 and ends[0]["actor"] == "oscar"
    # End the other one through the API so SIPp finishes cleanly.
    other = tg.api("GET", "/api/v1/calls").json()["calls"][0]["id"]
    assert tg.api("DELETE", f"/api/v1/calls/{other}").status == 200
    uac.wait()
    uac.assert_ok()


def test_flood_source_banned_shows_on_dashboard_and_is_lifted(tollgate, ports, udp, browser):
    tg = node(tollgate, ports, settings={"sip": {"unknown_source": "403"},
                                        "shield": {"recent_hits": 5}})
    c = Console(browser, tg).login("oscar")
    c.go("dashboard")
    c.wait("#dash-bans td", "no bans in force")
    peer = udp("127.0.0.8")
    for _ in range(12):
        msg, _ = sip_request("OPTIONS", f"sip:x@127.0.0.1:{tg.port}", peer.addr)
        peer.send(msg, ("127.0.0.1", tg.port))
        time.sleep(0.01)
    row = c.wait("#dash-bans tr[data-address='127.0.0.8']", timeout=15)
    assert "rate" in row.text
    c.wait("#dash-bans-active", "1")
    c.wait("#dash-drops tr[data-reason='banned']", timeout=15)
    c.shot("dashboard")
    # The bans page explains the address ("ban why").
    c.go("bans")
    c.wait("tr[data-key='127.0.0.8']")
    c.wait("#why-address").send_keys("127.0.0.8")
    c.wait("#why-submit").click()
    c.wait("#why-result", "is banned")
    c.wait("#why-result", "more than 5 messages in 60 s")
    c.shot("bans")
    # Lifted from the dashboard.
    c.go("dashboard")
    row = c.wait("#dash-bans tr[data-address='127.0.0.8']")
    row.find_element(By.XPATH, ".//button[contains(., 'Lift')]").click()
    c.wait_gone("#dash-bans tr[data-address='127.0.0.8']")
    assert not tg.ban_why("127.0.0.8")["banned"]
    lifted = tg.api("GET", "/api/v1/audit?actor=oscar").json()["entries"]
    assert any(e["target"] == "127.0.0.8" for e in lifted), lifted


def _insert_cdrs(db: Path, n: int, base_us: int, payload: bool = False) -> None:
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT INTO cdr(call_id, start_us, answer_us, end_us, caller, callee, "
            "source_address, transport, mapping_gateway, routing_gateway, gateways_tried, "
            "final_code, duration_ms, hangup, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(f"seed-{i}", base_us + i * 1_000_000, base_us + i * 1_000_000 + 2_000_000 if i % 3 else 0,
              base_us + i * 1_000_000 + 60_000_000, f"10{i % 7}", f"4420{i % 11:04d}",
              "192.0.2.1:5060", "udp", "cust-a" if i % 2 else "cust-b",
              "carrier-1" if i % 5 else "carrier-2", "carrier-1", 200 if i % 3 else 486,
              58_000 if i % 3 else 0, "caller" if i % 3 else "", "caller_bye" if i % 3 else "busy")
             for i in range(n)])
    con.close()


def test_cdr_search_paging_and_csv_download(tollgate, ports, browser):
    tg = node(tollgate, ports)
    base = 1_790_000_000_000_000  # 2026-09-21T14:13:20Z
    _insert_cdrs(tg.store_path, 200, base)
    c = Console(browser, tg).login("rita")
    c.go("cdrs")
    c.wait("#cdr-list tr[data-cdr]")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cdr-list tr[data-cdr]")) == 50
    c.wait("#cdr-older").click()
    c.wait("#cdr-page", "page 2")
    c.wait("#cdr-gateway").send_keys("carrier-2")
    Select(c.wait("#cdr-reason")).select_by_value("busy")
    c.wait("#cdr-search").click()
    c.wait("#cdr-page", "page 1")
    rows = browser.find_elements(By.CSS_SELECTOR, "#cdr-list tr[data-cdr]")
    # busy = i % 3 == 0, carrier-2 = i % 5 == 0: i % 15 == 0 -> 14 of 200.
    assert len(rows) == 14, len(rows)
    assert all("busy" in r.text and "carrier-2" in r.text for r in rows)
    c.shot("cdrs")
    # And by start time (UTC): from 14:15:00 leaves i >= 100: 105, 120, ... 195.
    c.js("document.getElementById('cdr-from').value = '2026-09-21T14:15:00'")
    c.wait("#cdr-search").click()
    WebDriverWait(browser, 10).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cdr-list tr[data-cdr]")) == 7)
    c.wait("#cdr-csv").click()
    csv_file = browser.downloads / "cdrs.csv"
    wait_until(lambda: csv_file.exists() and csv_file.stat().st_size > 0, 10, "cdrs.csv downloaded")
    lines = csv_file.read_text().strip().splitlines()
    assert len(lines) == 8 and "reason" in lines[0], lines[:2]
    assert all("busy" in l and "carrier-2" in l for l in lines[1:]), lines
    assert sorted(l.split(",")[1] for l in lines[1:]) == sorted(
        f"seed-{i}" for i in range(105, 200, 15)), lines


def test_trace_shows_the_ladder_of_a_call_and_downloads_pcap(tollgate, ports, sipp, browser):
    tg = node(tollgate, ports)
    uas = sipp("uas", "uas-answer-at-once.xml" if (REPO / "tests/integration/scenarios/uas-answer-at-once.xml").exists()
               else "uas-answer.xml", port=tg.uas_port).start().wait_listening()
    c = Console(browser, tg).login("oscar")
    c.start_trace(number=CALLEE)
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service=CALLEE, hold_ms=200).start()
    uac.wait()
    uac.assert_ok()
    c.wait("#trace-messages td.summary", "BYE")
    link = c.wait("#trace-calls a[data-call-id]")
    link.click()
    ladder = c.wait("#trace-ladder svg.ladder-svg")
    labels = [t.text for t in ladder.find_elements(By.CSS_SELECTOR, "text.label")]
    joined = " | ".join(labels)
    for step in ("INVITE", "200", "ACK", "BYE"):
        assert step in joined, joined
    peers = [t.text for t in ladder.find_elements(By.CSS_SELECTOR, "text.peer")]
    # Both legs in one ladder: caller, tollgate, carrier.
    assert len(peers) == 3 and str(tg.port) in peers[1] and str(tg.uas_port) in peers[2], peers
    assert joined.count("INVITE") == 2 and joined.count("BYE") == 2, joined
    ladder.find_elements(By.CSS_SELECTOR, "g.msg")[0].click()
    assert c.wait("#trace-detail").text.startswith("INVITE sip:")
    c.shot("trace")
    c.wait("#trace-pcap").click()
    pcap = browser.downloads / "trace.pcap"
    wait_until(lambda: pcap.exists() and pcap.stat().st_size > 24, 10, "trace.pcap downloaded")
    assert pcap.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # little-endian a1b2c3d4
    if shutil.which("tshark"):
        import subprocess
        out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "sip"], capture_output=True,
                             text=True, timeout=30).stdout
        assert "INVITE" in out and "BYE" in out, out
    c.wait("#trace-stop").click()
    c.wait("#trace-status", "stopped")


def test_trace_ladders_of_concurrent_calls_are_not_mixed(tollgate, ports, sipp, browser):
    """Two calls up at once: each ladder holds exactly its own two legs, paired
    by the caller leg's Call-ID the node records on the carrier leg's
    messages (caller_call_id), not by the order INVITEs crossed."""
    tg = node(tollgate, ports)
    uas = sipp("uas", "uas-answer.xml", port=tg.uas_port, calls=2).start().wait_listening()
    c = Console(browser, tg).login("oscar")
    c.start_trace(number=CALLEE)
    uac = sipp("uac", "uac-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}", caller=CALLER,
               service=CALLEE, calls=2, rate=50, timeout=30).start()
    wait_until(lambda: len([x for x in tg.api("GET", "/api/v1/calls").json()["calls"]
                            if x["state"] == "confirmed"]) == 2, 10, "two calls up")
    legs = {x["call_id"]: x["carrier_call_id"] for x in tg.api("GET", "/api/v1/calls").json()["calls"]}
    assert len(legs) == 2 and all(legs.values()), legs
    WebDriverWait(browser, 10, 0.1).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#trace-calls a[data-call-id]")) == 2)
    c.wait("#trace-messages td.summary", "ACK")
    links = {a.get_attribute("data-call-id") for a in
             browser.find_elements(By.CSS_SELECTOR, "#trace-calls a[data-call-id]")}
    assert links == set(legs), (links, legs)
    for caller_leg, carrier_leg in legs.items():
        c.wait(f"#trace-calls a[data-call-id='{caller_leg}']").click()
        ladder = c.wait(f"#trace-ladder svg.ladder-svg[data-call-id='{caller_leg}']")
        shown = c.wait("#trace-ladder .muted").text
        assert shown == f"Call-IDs: {caller_leg} · {carrier_leg}", (shown, legs)  # not "paired by order"
        labels = " | ".join(t.text for t in ladder.find_elements(By.CSS_SELECTOR, "text.label"))
        assert labels.count("INVITE") == 2 and labels.count("ACK") == 2, labels
    for cl in tg.api("GET", "/api/v1/calls").json()["calls"]:
        assert tg.api("DELETE", f"/api/v1/calls/{cl['id']}").status == 200
    uac.wait()
    uac.assert_ok()


def test_operator_cannot_see_or_use_user_management(tollgate, ports, browser):
    tg = node(tollgate, ports)
    c = Console(browser, tg).login("oscar")
    c.wait("#whoami", "oscar (operator)")
    nav = [a.get_attribute("data-page") for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")]
    assert "users" not in nav and "audit" not in nav and "lockouts" not in nav, nav
    assert "mapping-gateways" in nav and "trace" in nav
    # Going there by URL shows the dashboard instead.
    browser.get(c.base + "/console/#/users")
    c.wait("main[data-page='dashboard']")
    c.shot("operator-dashboard")
    # And the API refuses it anyway, with the CSRF token, audited.
    r = c.fetch("POST", "/api/v1/users", {"name": "mallory", "role": "admin",
                                          "password": "Tangent-Harbor-58"})
    assert r["status"] == 403, r
    assert c.fetch("GET", "/api/v1/users")["status"] == 403
    assert tg.api("GET", "/api/v1/users/mallory").status == 404
    refused = tg.api("GET", "/api/v1/audit?action=privilege.refused").json()["entries"]
    assert any(e["actor"] == "oscar" for e in refused)
    # A readonly user sees no create/edit/delete buttons.
    c2 = Console(browser, tg)
    c2.fetch("DELETE", "/api/v1/console/session")
    c2.login("rita")
    c2.wait("#whoami", "rita (readonly)")
    c2.go("mapping-gateways")
    c2.wait("tr[data-key='cust-a']")
    assert not browser.find_elements(By.CSS_SELECTOR, "#resource-new")
    assert not browser.find_elements(By.XPATH, "//main//button[contains(., 'Delete')]")
    # The admin sees users, tokens and the audit log.
    c2.fetch("DELETE", "/api/v1/console/session")
    c3 = Console(browser, tg).login("alice")
    c3.go("users")
    c3.wait("tr[data-key='oscar']")
    c3.shot("users")
    c3.go("audit")
    c3.wait("#resource-body tr[data-key]")
    c3.shot("audit")
    c3.go("tokens")
    c3.wait("#resource-new").click()
    c3.wait("#f-name").send_keys("grafana")
    c3.wait("#f-role").send_keys("readonly")
    c3.wait("#form-submit").click()
    assert c3.wait("#token-secret").text.startswith("tgt_")
    c3.shot("tokens")


def test_xss_payloads_from_sip_are_shown_as_inert_text(tollgate, ports, sipp, udp, browser):
    tg = node(tollgate, ports)
    uas = sipp("uas", "uas-answer.xml", port=tg.uas_port).start().wait_listening()
    c = Console(browser, tg).login("oscar")
    c.start_trace()
    uac = sipp("uac", "uac-payload-expect-callee-bye.xml", remote=f"127.0.0.1:{tg.port}",
               caller=CALLER, service=CALLEE, timeout=30,
               keys={"display": XSS_DISPLAY, "ua": XSS_UA}).start()
    # Numbers carrying markup (escaped in the URI, as SIP requires).
    peer = udp("127.0.0.1")
    msg, _ = sip_request("INVITE", f"sip:{XSS_CALLEE}@127.0.0.1:{tg.port}", peer.addr,
                         from_user=XSS_CALLER, to_user=XSS_CALLEE, body=SDP.format(ip="127.0.0.1"))
    peer.send(msg, ("127.0.0.1", tg.port))
    wait_until(lambda: [x for x in tg.api("GET", "/api/v1/calls").json()["calls"]
                        if x["state"] == "confirmed"], 10, "the payload call, answered")
    c.wait("#trace-messages td.summary", "ACK")
    # Every trace message is shown, as text.
    rows = browser.find_elements(By.CSS_SELECTOR, "#trace-messages tr.clickable")
    texts = []
    for r in rows:
        r.click()
        texts.append(c.wait("#trace-detail").get_attribute("textContent"))
    joined = "\n".join(texts)
    assert XSS_DISPLAY in joined and XSS_UA in joined and XSS_CALLER in joined, joined[:2000]
    c.shot("trace-xss")
    # Calls: the payload call is up (the carrier answered; SIPp waits for
    # our BYE), its display name and User-Agent shown as the text they are.
    live = tg.api("GET", "/api/v1/calls").json()["calls"]
    assert len(live) == 1 and live[0]["caller_name"] == XSS_DISPLAY, live
    assert live[0]["user_agent"] == XSS_UA, live
    c.go("calls")
    row = f"#calls-list tr[data-call='{live[0]['id']}']"
    c.wait(f"{row} td[data-col='state']", "confirmed")
    # (read in one script: the list is redrawn at every tick of the feed)
    cells = c.js("const r = document.querySelector(arguments[0]);"
                 "return [r.querySelector(\"td[data-col='caller_name']\").textContent,"
                 "        r.querySelector(\"td[data-col='user_agent']\").textContent];", row)
    assert cells == [XSS_DISPLAY, XSS_UA], cells
    assert c.js("return document.querySelectorAll('#calls-list img, #calls-list script, #xssb, "
                "#calls-list td :not(button)').length") == 0
    assert c.xss_ran() is None
    c.shot("calls-xss")
    # Still up after the checks: SIPp is waiting for the BYE, the call is confirmed.
    assert uac.proc.poll() is None, "the payload call is still up"
    assert tg.api("GET", "/api/v1/calls").json()["calls"][0]["state"] == "confirmed"
    # CDRs: the refused INVITE's numbers as sent.
    tg.wait_cdrs(1)
    c.go("cdrs")
    c.wait("#cdr-list tr[data-cdr]")
    cdr_text = c.wait("#cdr-list").get_attribute("textContent")
    assert "%3Cscript%3E" in cdr_text or "<script>" in cdr_text, cdr_text
    c.shot("cdrs-xss")
    # Nothing ran and nothing became an element, on any page.
    for page in ("trace", "calls", "cdrs", "dashboard"):
        c.go(page)
        time.sleep(0.5)
        assert c.xss_ran() is None, page
        injected = c.js("return document.querySelectorAll('main img, main script, #xssb').length")
        assert injected == 0, page
    console_log = browser.get_log("browser")
    assert not any("Content Security Policy" in e["message"] for e in console_log), console_log
    for cl in tg.api("GET", "/api/v1/calls").json()["calls"]:
        tg.api("DELETE", f"/api/v1/calls/{cl['id']}")
    uac.wait()
    uac.assert_ok()  # the call was up until ended here (SIPp got our BYE)


def test_csrf_change_without_the_token_is_refused(tollgate, ports, browser):
    tg = node(tollgate, ports)
    c = Console(browser, tg).login("oscar")
    c.wait("#whoami")
    cookie = next(x for x in browser.get_cookies() if x["name"] == "tg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert c.js("return document.cookie") == ""  # scripts cannot read it
    # In the browser: the same change without and with the token.
    no = c.fetch("POST", "/api/v1/bans", {"address": "192.0.2.66"}, csrf=False)
    assert no["status"] == 403 and json.loads(no["body"])["error"] == "csrf", no
    assert not tg.ban_why("192.0.2.66")["banned"]
    yes = c.fetch("POST", "/api/v1/bans", {"address": "192.0.2.66"}, csrf=True)
    assert yes["status"] == 201, yes
    # From outside the browser: the cookie alone does nothing; a wrong token neither.
    h = {"Cookie": f"tg_session={cookie['value']}"}
    for extra in ({}, {"X-CSRF-Token": "0" * 64}):
        r = api_request("127.0.0.1", tg.api_port, "DELETE", "/api/v1/bans?address=192.0.2.66",
                        headers={**h, **extra})
        assert r.status == 403 and r.json()["error"] == "csrf", r.text
    assert tg.ban_why("192.0.2.66")["banned"]
    # Reading needs no token; a bearer token (scripts) needs none either.
    assert api_request("127.0.0.1", tg.api_port, "GET", "/api/v1/bans", headers=h).status == 200
    refused = tg.api("GET", "/api/v1/audit?action=privilege.refused").json()["entries"]
    assert sum(json.dumps(e["after"]).count("csrf_token") for e in refused) == 3
    metrics = tg.api("GET", "/metrics").text
    assert 'tollgate_api_privilege_refusals_total{reason="csrf_token"} 3' in metrics
    # A login form posted from another site (no console header) sets no cookie.
    r = api_request("127.0.0.1", tg.api_port, "POST", "/api/v1/console/session",
                    body={"username": "oscar", "password": PASSWORDS["oscar"]}, token=None)
    assert r.status == 403 and "set-cookie" not in r.headers
    # The pages carry a strict CSP and refuse framing.
    r = api_request("127.0.0.1", tg.api_port, "GET", "/console/", token=None)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"


def test_page_load_times_with_10000_cdrs_and_1000_bans(tollgate, ports, browser):
    """Measured and reported (docs/console.md), not asserted as a timing."""
    tg = node(tollgate, ports)
    _insert_cdrs(tg.store_path, 10_000, 1_790_000_000_000_000)
    con = sqlite3.connect(tg.store_path)
    cols = [r[1] for r in con.execute("PRAGMA table_info(shield_ban)")]
    con.close()
    for i in range(1000):
        r = tg.api("POST", "/api/v1/bans", {"address": f"198.51.{100 + i // 250}.{i % 250 + 1}",
                                           "duration": 3600, "note": f"seed {i}"})
        assert r.status == 201, r.text
    c = Console(browser, tg).login("alice")
    c.wait("#whoami")
    times = {}
    in_page = {}  # ms from navigation start to the content, by the page's clock
    for page, ready in (("dashboard", "#dash-bans tr[data-address]"), ("cdrs", "#cdr-list tr[data-cdr]"),
                        ("bans", "#resource-body tr[data-key]"), ("calls", "#calls-list tr"),
                        ("mapping-gateways", "#resource-body tr[data-key]"),
                        ("audit", "#resource-body tr[data-key]")):
        t0 = time.monotonic()
        browser.get(f"{c.base}/console/#/{page}")
        browser.refresh()  # a full load: HTML, modules, session, data
        c.wait(ready, timeout=20)
        times[page] = round((time.monotonic() - t0) * 1000)
        in_page[page] = c.js("return Math.round(performance.now())")
    # Where the time goes: the API answers the pages wait for.
    api_ms = {}
    for path in ("/api/v1/bans?limit=1000", "/api/v1/cdrs?limit=50", "/api/v1/audit?limit=100"):
        t0 = time.monotonic()
        assert tg.api("GET", path).status == 200
        api_ms[path] = round((time.monotonic() - t0) * 1000)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#resource-body tr[data-key]")) >= 1
    report = {"cdrs": 10_000, "bans": 1000, "load_ms": times, "in_page_ms": in_page,
              "api_ms": api_ms}
    print("\nconsole page load times:", json.dumps(report))
    out = Path(os.environ.get("TOLLGATE_CONSOLE_TIMES", "/tmp/tollgate-console-load-times.json"))
    out.write_text(json.dumps(report, indent=1))


def test_every_page_renders_for_an_admin(tollgate, ports, browser):
    """Every page of the navigation shows its data without an error (and is
    photographed for docs/console.md); an edit form is prefilled."""
    tg = node(tollgate, ports)
    for method, path, body in (
            ("POST", "/api/v1/accounts", {"name": "acme", "max_concurrent": 30}),
            ("POST", "/api/v1/fraud-rules", {"name": "premium", "prefixes": ["1900"],
                                             "calls_per_minute_critical": 20}),
            ("POST", "/api/v1/number-lists", {"name": "bad-callers", "kind": "black",
                                              "description": "known fraud", "numbers": ["1900555"]}),
            ("POST", "/api/v1/blacklist", {"number": "4420999", "side": "callee", "expires_in": 3600}),
            ("POST", "/api/v1/bans", {"address": "203.0.113.0/24", "note": "scanner range"})):
        r = tg.api(method, path, body)
        assert r.status == 201, (path, r.text)
    c = Console(browser, tg).login("alice")
    c.wait("#whoami")
    pages = [a.get_attribute("data-page") for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")]
    assert len(pages) == 16, pages
    for page in pages:
        c.go(page)
        c.wait("main table, main form")
        time.sleep(0.3)
        assert not browser.find_elements(By.CSS_SELECTOR, "main .note.error"), page
        if page in ("routing-gateways", "accounts", "fraud-rules", "number-lists", "blacklist",
                    "suspensions", "lockouts"):
            c.shot(page)
    c.go("routing-gateways")
    c.wait("tr[data-key='carrier-1'] button").click()
    assert c.wait("#f-address").get_attribute("value") == f"127.0.0.1:{tg.uas_port}"
    assert c.wait("#f-name").get_attribute("disabled") is not None
    c.wait("#f-priority").clear()
    c.wait("#f-priority").send_keys("7")
    c.wait("#form-submit").click()
    c.wait("#resource-msg", "Saved")
    assert tg.api("GET", "/api/v1/routing-gateways/carrier-1").json()["priority"] == 7
    c.go("number-lists")
    c.wait("tr[data-key='bad-callers'] button").click()
    c.wait("#f-add").send_keys("1900666")
    c.wait("#form-submit").click()
    c.wait("#resource-msg", "Saved")
    assert "1900666" in tg.api("GET", "/api/v1/number-lists/bad-callers").json()["numbers"]


def test_live_feeds_are_bounded_per_user_and_counted(tollgate, ports):
    """GET /api/v1/live holds a connection thread: a user gets 2 at once, the
    third is refused 429 (counted); closing one frees its place."""
    import http.client
    tg = node(tollgate, ports)
    tok = tg.api("POST", "/api/v1/login", {"username": "rita", "password": PASSWORDS["rita"]},
                 token=None).json()["token"]

    def open_feed():
        conn = http.client.HTTPConnection("127.0.0.1", tg.api_port, timeout=10)
        conn.request("GET", "/api/v1/live?duration=30", headers={"Authorization": f"Bearer {tok}"})
        return conn, conn.getresponse()

    feeds = [open_feed() for _ in range(2)]
    for _, r in feeds:
        assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
        buf = b""
        while b"event: tick" not in buf:
            buf += r.fp.read1(4096)
    conn, third = open_feed()
    assert third.status == 429 and json.loads(third.read())["error"] == "too_many_streams"
    conn.close()
    # Another user still gets one.
    other = tg.api("GET", "/api/v1/live?duration=1")
    assert other.status == 200 and b"event: tick" in other.body
    metrics = tg.api("GET", "/metrics").text
    assert "tollgate_api_live_streams_refused_total 1" in metrics, metrics
    assert "tollgate_api_live_streams 2" in metrics
    feeds[0][0].close()

    def reopened():
        c, r = open_feed()
        ok = r.status == 200
        c.close()
        return ok
    wait_until(reopened, 10, "a place freed by the closed feed")
    feeds[1][0].close()


def _live_events(tg) -> list[tuple[str, dict]]:
    """One second of the live feed: (event, data) pairs."""
    body = tg.api("GET", "/api/v1/live?duration=1").body.decode()
    out = []
    for block in body.split("\n\n"):
        ev = [l[7:] for l in block.splitlines() if l.startswith("event: ")]
        data = [l[6:] for l in block.splitlines() if l.startswith("data: ")]
        if ev and data:
            out.append((ev[0], json.loads("".join(data))))
    return out


def test_dashboard_acd_counts_the_cdrs_written_since_the_node_started(tollgate, ports):
    """The sampler reads only CDRs newer than the last it saw (the store's
    after-id filter): rows written after the first sample make the hour's
    ACD; answered ones only."""
    tg = node(tollgate, ports)
    # (a history event is sent once the sampler has a sample)
    wait_until(lambda: any(e == "history" for e, _ in _live_events(tg)), 10, "the first sample")
    base = int(time.time() * 1_000_000)
    con = sqlite3.connect(tg.store_path)
    with con:
        con.executemany(
            "INSERT INTO cdr(call_id, start_us, answer_us, end_us, caller, callee, source_address, "
            "transport, mapping_gateway, routing_gateway, gateways_tried, final_code, duration_ms, "
            "hangup, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(f"acd-{i}", base, base + 1 if ms else 0, base + 2, "100", "4420", "192.0.2.1:5060",
              "udp", "cust-a", "carrier-1", "carrier-1", 200 if ms else 486, ms,
              "caller" if ms else "", "caller_bye" if ms else "busy")
             for i, ms in enumerate((10_000, 20_000, 30_000, 0, 0))])
    con.close()

    def acd():
        ticks = [d for e, d in _live_events(tg) if e == "tick"]
        return ticks and ticks[-1]["hour"]["acd"]
    wait_until(lambda: acd() == 20.0, 25, "ACD of the three answered CDRs")


def test_console_over_tls_sets_a_secure_host_cookie(tollgate, ports, tmp_path, browser):
    """With api.certificate the session cookie is __Host-tg_session; Secure,
    HttpOnly, SameSite=Strict; the console works over HTTPS."""
    import ssl
    cert, key = self_signed_certificate(tmp_path)
    tg = tollgate(settings={"api": {"certificate": str(cert), "private_key": str(key)}})
    ctx = ssl.create_default_context(cafile=str(cert))
    r = tg.api("POST", "/api/v1/users", {"name": "alice", "role": "admin",
                                         "password": PASSWORDS["alice"]}, tls_context=ctx)
    assert r.status == 201, r.text
    c = Console(browser, tg, scheme="https").login("alice")
    c.wait("#whoami", "alice (admin)")
    cookies = browser.get_cookies()
    assert [x["name"] for x in cookies] == ["__Host-tg_session"], cookies
    k = cookies[0]
    assert k["secure"] and k["httpOnly"] and k["sameSite"] == "Strict" and k["path"] == "/", k
    c.go("users")
    c.wait("tr[data-key='alice']")
    assert c.fetch("POST", "/api/v1/bans", {"address": "192.0.2.77"}, csrf=False)["status"] == 403
    assert c.fetch("POST", "/api/v1/bans", {"address": "192.0.2.77"})["status"] == 201
