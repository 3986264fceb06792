"""kernel_tunables: what a test run's kubelet changes in the kernel is put back exactly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components import kernel_tunables


@pytest.fixture
def proc_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /proc/sys with Debian 12's defaults for the six settings."""
    defaults = {
        "vm/overcommit_memory": "0",
        "vm/panic_on_oom": "0",
        "kernel/panic": "0",
        "kernel/panic_on_oops": "0",
        "kernel/keys/root_maxkeys": "1000000",
        "kernel/keys/root_maxbytes": "25000000",
    }
    for key, value in defaults.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text(value + "\n")
    monkeypatch.setattr(kernel_tunables, "SYSCTL", tmp_path)
    return tmp_path


def test_what_the_kubelet_sets_is_put_back(proc_sys: Path) -> None:
    saved = kernel_tunables.save()
    assert saved["kernel/panic_on_oops"] == "0" and len(saved) == 6
    for key, value in kernel_tunables.KUBELET_SETS.items():  # what the kubelet does
        (proc_sys / key).write_text(value + "\n")
    assert kernel_tunables.restore(saved) == {}
    assert (proc_sys / "vm/overcommit_memory").read_text() == "0\n"
    assert (proc_sys / "kernel/panic").read_text() == "0\n"
    assert (proc_sys / "kernel/panic_on_oops").read_text() == "0\n"


def test_an_unchanged_setting_is_not_written(proc_sys: Path) -> None:
    saved = kernel_tunables.save()
    untouched = proc_sys / "kernel/keys/root_maxkeys"
    os.utime(untouched, (1_000_000, 1_000_000))
    (proc_sys / "kernel/panic").write_text("10\n")
    assert kernel_tunables.restore(saved) == {}
    assert untouched.stat().st_mtime == 1_000_000
    assert (proc_sys / "kernel/panic").read_text() == "0\n"


def test_a_setting_that_cannot_be_read_is_reported_and_the_rest_put_back(proc_sys: Path) -> None:
    saved = kernel_tunables.save()
    (proc_sys / "kernel/panic").write_text("10\n")
    broken = proc_sys / "vm/panic_on_oom"
    broken.unlink()
    broken.mkdir()  # reading it fails
    failed = kernel_tunables.restore(saved)
    assert list(failed) == ["vm/panic_on_oom"]
    assert (proc_sys / "kernel/panic").read_text() == "0\n"
