"""roles/nifi/files/run-listener.sh, the launcher NiFi's ExecuteStreamCommand runs: the
config from stdin (owner-only), a run bounded in time that ends with status 0, and the
listener stopped (not orphaned) when NiFi ends the launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).resolve().parents[2] / "roles" / "nifi" / "files" / "run-listener.sh"

FAKE = """
import pathlib, signal, sys, time
work = pathlib.Path(sys.argv[2]).parent
def stop(*_):
    (work / "stopped-by-term").write_text("yes")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
(work / "started").write_text(str(__import__("os").getpid()))
while True:
    time.sleep(0.05)
"""


def _start(tmp_path: Path, seconds: str) -> tuple[subprocess.Popen[bytes], Path]:
    fake = tmp_path / "fake_listener.py"
    fake.write_text(FAKE)
    work = tmp_path / "work"
    env = dict(
        os.environ,
        OSCAR_IAC_WORK_DIR=str(work),
        OSCAR_IAC_LISTENER_SECONDS=seconds,
        OSCAR_IAC_LISTENER=str(fake),
        DCACHE_CREDENTIAL="not-used-here",
    )
    proc = subprocess.Popen(["sh", str(LAUNCHER)], stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(b'{"config": true}')
    proc.stdin.close()
    return proc, work


def _wait_for(path: Path, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def test_nifi_launcher_forwards_sigterm_to_the_listener(tmp_path: Path) -> None:
    proc, work = _start(tmp_path, "300")
    _wait_for(work / "started", "the listener to start")
    config = work / "listener.json"
    assert config.read_text() == '{"config": true}'
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    _wait_for(work / "stopped-by-term", "the listener to get SIGTERM")
    pid = int((work / "started").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_nifi_launcher_run_limit_is_a_normal_end(tmp_path: Path) -> None:
    proc, work = _start(tmp_path, "1")
    assert proc.wait(timeout=60) == 0, "timeout(1)'s 124 must map to 0"
    assert (work / "stopped-by-term").exists()
    assert (work / "spool").is_dir() and (work / "failed").is_dir()
