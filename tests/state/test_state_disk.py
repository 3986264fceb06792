"""A full disk or a read-only state folder during `up` (issue #22 item 11): one line
naming the file, exit 1 (the machine: no space) or 2 (a folder the user must fix),
never an OSError traceback, and the state stays as it was. The state root is a real
1 MiB tmpfs (this test mounts it: it runs as root here), filled to ENOSPC."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers.cli import CliResult
from oscar_iac import state
from oscar_iac.site import load_site

Cli = Callable[..., CliResult]


@pytest.fixture
def small_fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)], check=True
    )
    monkeypatch.setenv("OSCAR_IAC_STATE", str(mount / "state"))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(mount: Path) -> None:
    with open(mount / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # The last partial block too: nothing more fits.
    with open(mount / "filler2", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def _deployed(site: Path) -> Path:
    state.claim(load_site(site))
    dep = state.Deployment(site="local", im_url="embedded", inf_id="abc", phase="configured")
    dep.record("infrastructure", "done", "created", "d1")
    dep.run = {"status": "complete"}
    return state.save(dep)


def _one_line(res: CliResult, code: int, *needles: str) -> None:
    assert res.code == code, (res.out, res.err)
    assert "Traceback" not in res.err and "OSError" not in res.err
    first = res.err.strip().splitlines()[0]
    text = " ".join(res.err.split())
    for needle in needles:
        assert needle in text, (needle, res.err)
    assert "cannot be written" in first or "cannot be created" in first, res.err


def test_state_full_disk_during_up(cli: Cli, local_site: Path, small_fs: Path) -> None:
    path = _deployed(local_site)
    before = path.read_bytes()
    _fill(small_fs)
    _one_line(cli("up", str(local_site)), 1, str(path), "No space left on device")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_state_full_disk_on_a_first_up(cli: Cli, local_site: Path, small_fs: Path) -> None:
    (small_fs / "state" / "local").mkdir(parents=True, mode=0o700)
    _fill(small_fs)
    owner = small_fs / "state" / "local" / "owner.json"
    _one_line(cli("up", str(local_site)), 1, str(owner), "No space left on device")
    assert not owner.exists()


def test_state_read_only_folder_during_up(cli: Cli, local_site: Path, small_fs: Path) -> None:
    path = _deployed(local_site)
    before = path.read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    _one_line(cli("up", str(local_site)), 2, "Read-only file system")
    assert path.read_bytes() == before
    # A site whose folder is still to be made on it: the same, naming the folder.
    other = local_site.parent / "other"
    other.mkdir()
    (other / "site.yml").write_text(
        (local_site / "site.yml").read_text().replace("name: local", "name: other", 1)
    )
    _one_line(cli("up", str(other)), 2, str(small_fs / "state" / "other"), "Read-only")
