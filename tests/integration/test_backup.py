"""`tollgate backup FILE` while calls run, and `tollgate restore FILE` with
the node stopped (docs/operations.md, "Backup and restore").

A backup taken in the middle of a 50 calls/s load (CDRs committed all the
while) restores to a store that passes `PRAGMA integrity_check` and holds
every CDR committed before the backup began; the load does not notice it
(every call completes, no CDR is dropped or fails to write). Restore refuses
while the node runs, and the node starts on the restored store."""

from __future__ import annotations

import os
import sqlite3
import stat
import time

from harness import mapping_gateway, routing_gateway, wait_until

RATE = 50  # calls per second
CALLS = 200  # four seconds of load


def _committed_call_ids(store) -> set[str]:
    """What another reader sees committed in the store right now."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return {r[0] for r in db.execute("SELECT call_id FROM cdr")}
    finally:
        db.close()


def test_backup_during_50cps_restores_every_cdr_committed_before_it(tollgate, sipp, ports,
                                                                     tmp_path):
    uas_port = ports.port()
    tg = tollgate(provisioning=mapping_gateway("cust-a", ["127.0.0.1"]) +
                  routing_gateway("carrier-a", f"127.0.0.1:{uas_port}"))
    uas = sipp("uas", "uas-answer.xml", port=uas_port, calls=CALLS, timeout=40).start()
    uas.wait_listening()
    uac = sipp("uac", "uac-caller-bye.xml", remote=f"127.0.0.1:{tg.port}", calls=CALLS,
               rate=RATE, hold_ms=100, timeout=40, trace_msg=False).start()

    # Mid-load: at least a second of calls ended and committed.
    wait_until(lambda: len(_committed_call_ids(tg.store_path)) >= RATE, 10, f"{RATE} CDRs")
    before = _committed_call_ids(tg.store_path)
    backup = tmp_path / "backup.db"
    r = tg.cli("backup", "--config", str(tg.config_path), str(backup), timeout=30)
    assert uac.proc.poll() is None, "the backup must be taken while the load runs"
    assert "integrity ok" in r.stdout, r.stdout
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600

    assert uac.wait() == 0 and uas.wait() == 0, uac.report()
    uac.assert_ok()
    writer = wait_until(lambda: (lambda w: w if w["written"] == CALLS else None)(
        tg.api("GET", "/api/v1/stats").json()["cdr_writer"]), 10, f"{CALLS} CDRs written")
    assert writer["dropped_queue_full"] == 0 and writer["write_errors"] == 0, writer
    after = _committed_call_ids(tg.store_path)
    assert len(after) == CALLS

    # Restore: refused while the node runs, nothing changed.
    refused = tg.cli("restore", "--config", str(tg.config_path), str(backup), check=False)
    assert refused.returncode == 1 and f"pid {tg.pid}" in refused.stderr, refused.stderr
    assert _committed_call_ids(tg.store_path) == after

    assert tg.stop() == 0
    done = tg.cli("restore", "--config", str(tg.config_path), str(backup))
    assert "integrity ok" in done.stdout, done.stdout
    db = sqlite3.connect(str(tg.store_path))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    restored = _committed_call_ids(tg.store_path)
    assert before <= restored, f"missing from the backup: {sorted(before - restored)[:5]}"
    assert restored <= after
    assert len(restored) < CALLS, "the backup is of an instant during the load, not after it"
    # The store it replaced is kept, complete.
    assert _committed_call_ids(str(tg.store_path) + ".before-restore") == after

    tg.start()
    assert {c["call_id"] for c in tg.cdrs(limit=1000)} == restored
