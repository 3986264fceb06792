"""The NiFi flow's listener runs, for real: the launcher (roles/nifi/files/run-listener.sh)
runs the real listener (tools/oscar_iac/dcache/listener/) with the config the flow
generates, against the dCache events test server (doubles.dcache_server). Uploads made
while no run is active (between two runs of the flow's trigger) are caught up by the next
run through its checkpoint: bounded runs lose nothing.

Needs the listener and the dCache double from the dcache-relay work (imported inside the
test, so a missing one fails this test only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from oscar_iac.events.nifi_flow import CREDENTIAL_ENV, FlowInputs, listener_config

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "roles" / "nifi" / "files" / "run-listener.sh"
LISTENER = REPO / "tools" / "oscar_iac" / "dcache" / "listener" / "__main__.py"


def _wait(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")
        time.sleep(0.05)


def _spooled(spool: Path) -> set[str]:
    return {json.loads(p.read_text())["path"] for p in spool.glob("[!.]*.json")}


def test_nifi_bounded_listener_runs_lose_no_upload(tmp_path: Path) -> None:
    from doubles.dcache_server import DcacheEventsServer

    assert LISTENER.is_file(), f"{LISTENER} is missing"
    dcache = DcacheEventsServer().start()
    try:
        dcache.makedirs("/data/plants")
        inputs = FlowInputs(
            site="demo", source="plants", frontend=dcache.url, webdav=dcache.url,
            path="/data/plants", recursive=False, auth="oidc", username=None,
            verify_tls=True, oscar_url="https://oscar.example.org", service="plants",
            nifi_version="2.6.0",
        )  # fmt: skip
        work = tmp_path / "work"
        config = listener_config(inputs)
        config["checkpoint"] = str(work / "checkpoint.json")
        config["sink"]["dir"] = str(work / "spool")
        env = dict(
            os.environ,
            OSCAR_IAC_WORK_DIR=str(work),
            OSCAR_IAC_LISTENER_SECONDS="120",
            OSCAR_IAC_LISTENER=str(LISTENER),
            **{CREDENTIAL_ENV: dcache.token},
        )

        def run() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                ["sh", str(LAUNCHER)], stdin=subprocess.PIPE, env=env, stderr=subprocess.PIPE
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(config).encode())
            proc.stdin.close()
            return proc

        first = run()
        _wait("the listener to watch /data/plants", lambda: "/data/plants" in dcache.watched())
        dcache.upload("/data/plants/a.csv")
        _wait("a.csv in the spool", lambda: "/data/plants/a.csv" in _spooled(work / "spool"))
        # NiFi ends the run (stop, or the run's time limit): SIGTERM, a clean stop.
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0, first.stderr.read().decode() if first.stderr else ""
        assert dcache.token not in (first.stderr.read().decode() if first.stderr else "")

        # Between two runs: uploads nobody is listening to.
        dcache.upload("/data/plants/b.csv")
        dcache.upload("/data/plants/c.csv")
        second = run()
        want = {"/data/plants/a.csv", "/data/plants/b.csv", "/data/plants/c.csv"}
        _wait("b.csv and c.csv caught up", lambda: _spooled(work / "spool") >= want)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
        assert _spooled(work / "spool") == want
    finally:
        dcache.stop()
