"""One lock per site (issue #22 item 4): a second command that changes a site while
another runs ends at once (exit 2, naming the holder's pid) instead of making a
second infrastructure. Two real `oscar-iac up` processes against the real embedded IM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import CliResult
from oscar_iac.errors import UserError
from oscar_iac.im import lifecycle
from oscar_iac.site import load_site

Cli = Callable[..., CliResult]
OSCAR_IAC = [sys.executable, "-m", "oscar_iac"]


def _wait_for_holder(lock_file: Path, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the first up ended (code {proc.returncode}) before locking")
        if lock_file.exists() and lock_file.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {deadline_s} s for pid {proc.pid} to hold {lock_file}")


@pytest.mark.slow
def test_state_two_ups_make_one_infrastructure(
    cli: Cli, local_site: Path, state_root: Path
) -> None:
    env = {**os.environ, "OSCAR_IAC_STATE": str(state_root)}
    first = subprocess.Popen(
        [*OSCAR_IAC, "up", str(local_site), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_holder(state_root / "local" / "site.lock", first, 60)
        os.kill(first.pid, signal.SIGSTOP)  # the first `up` is now frozen holding the lock
        try:
            second = subprocess.run(
                [*OSCAR_IAC, "up", str(local_site), "--quiet"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert second.returncode == 2, second.stderr
            msg = " ".join(second.stderr.split())
            assert f"another oscar-iac command (pid {first.pid}) holds the lock on local" in msg
            assert "Traceback" not in second.stderr
            # Every other command that changes the site is refused the same way.
            for args in (
                ("down", str(local_site), "--yes"),
                ("scale", str(local_site), "--workers", "1"),
                ("reconfigure", str(local_site)),
                ("models", "apply", str(local_site)),
                ("models", "remove", str(local_site)),
            ):
                res = cli(*args)
                assert res.code == 2, (args, res.err)
                assert f"(pid {first.pid}) holds the lock" in " ".join(res.err.split()), args
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _out, err = first.communicate(timeout=600)
        assert first.returncode == 0, err.decode()
        ids = lifecycle.list_infrastructures(load_site(local_site))
        assert len(ids) == 1, ids
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        cli("down", str(local_site), "--yes")


def test_state_lock_is_released_when_its_holder_dies(local_site: Path, state_root: Path) -> None:
    """The kernel drops a flock with its process: a killed command leaves no stale lock."""
    from oscar_iac import state

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from oscar_iac.state import lock\n"
            "with lock('local'):\n    print('held', flush=True); sys.stdin.read()",
        ],
        env={**os.environ, "OSCAR_IAC_STATE": str(state_root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        _wait_for_holder(state_root / "local" / "site.lock", holder, 60)
        refused = pytest.raises(UserError, match=rf"pid {holder.pid}\) holds the lock on local")
        with refused, state.lock("local"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with state.lock("local"), state.lock("local"):  # free again, and re-entrant
        assert (state_root / "local" / "site.lock").read_text().strip() == str(os.getpid())
    assert (state_root / "local" / "site.lock").stat().st_mode & 0o777 == 0o600
