"""The embedded IM (issue #22 item 7) accepts only its owner, inherits no secrets from
the operator's environment, and is recorded at spawn, so an IM whose starter was killed
during start-up is cleaned up by the next command. Real IM 2.0 server throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from helpers.cli import CliResult
from oscar_iac.im import server

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.slow
SECRET = "s3cret-in-the-operators-environment"


def _auth(user: str, password: str) -> str:
    return f"id = im; type = InfrastructureManager; username = {user}; password = {password}"


def _bootstraps(cfg: Path) -> list[int]:
    """Pids of our IM bootstrap processes for this site's im.cfg."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"oscar_iac.im.bootstrap" in args and str(cfg.resolve()).encode() in args
        if ours and not server._is_zombie(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def test_state_embedded_im_accepts_only_its_owner_and_no_inherited_secret(
    cli: Cli, local_site: Path, state_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCAR_IAC_TEST_TOKEN", SECRET)
    try:
        assert cli("up", str(local_site), "--quiet").code == 0
        folder = state_root / "local" / "im"
        rec = json.loads((folder / "im.json").read_text())
        url = f"http://127.0.0.1:{rec['port']}/infrastructures"
        password = (state_root / "local" / "secrets" / "im_password").read_text().strip()
        headers = {"Accept": "application/json"}

        # Another local user, any IM user name or password of theirs: refused by IM.
        for user, pw in (("mallory", "x"), ("oscar-iac-local", "guess"), ("t", "p")):
            resp = requests.get(url, headers={**headers, "Authorization": _auth(user, pw)})
            assert resp.status_code == 401, (user, resp.text)
        resp = requests.get(
            url, headers={**headers, "Authorization": _auth("oscar-iac-local", password)}
        )
        assert resp.status_code == 200 and len(resp.json()["uri-list"]) == 1
        assert (folder / "users.json").stat().st_mode & 0o777 == 0o600

        environ = Path(f"/proc/{rec['pid']}/environ").read_bytes()
        assert SECRET.encode() not in environ
        assert b"OSCAR_IAC_STATE=" not in environ  # only what ENV_KEPT names
        assert b"PATH=" in environ
    finally:
        cli("down", str(local_site), "--yes")


def test_state_embedded_im_killed_during_start_up_is_cleaned_up(
    cli: Cli, local_site: Path, state_root: Path
) -> None:
    folder = state_root / "local" / "im"
    env = {**os.environ, "OSCAR_IAC_STATE": str(state_root)}
    starter = subprocess.Popen(
        [sys.executable, "-m", "oscar_iac", "up", str(local_site), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (folder / "im.json").exists():
            assert starter.poll() is None, "up ended before it recorded its IM"
            assert time.monotonic() < deadline, "waited 120 s for im.json to be written"
            time.sleep(0.01)
        rec = json.loads((folder / "im.json").read_text())
        # Recorded at spawn: the IM does not answer on its port yet.
        assert server.is_our_bootstrap(rec["pid"], folder / "im.cfg")
        assert not server.process_is_ours(rec["pid"], rec["port"], folder / "im.cfg")
        starter.send_signal(signal.SIGKILL)  # the CLI dies while its IM starts
        starter.wait()
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
    # The next command finds that IM (stops it, or reuses it once it answers) ...
    res = cli("down", str(local_site), "--yes")
    assert res.code == 0, res.err
    # ... and `down` leaves no IM process of this site behind.
    deadline = time.monotonic() + 60
    while _bootstraps(folder / "im.cfg"):
        assert time.monotonic() < deadline, f"IM left running: {_bootstraps(folder / 'im.cfg')}"
        time.sleep(0.1)
