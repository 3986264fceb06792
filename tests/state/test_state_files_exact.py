"""State files and folders refused in exact words: each Problem names the file or the
OSCAR_IAC_STATE value and what to do; a write error is exit 2 for a folder the user must
fix and exit 1 (with a hint) for the machine. Real files, folders, FIFOs and sockets."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.state.files import read_private, write_error
from oscar_iac.state.folder import check_private, site_state_dir, state_root


def test_a_write_error_is_the_users_or_the_machines(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    user = write_error(path, OSError(errno.EROFS, "Read-only file system"))
    assert isinstance(user, UserError)
    assert user.problems == [
        Problem(path, "", "cannot be written (Read-only file system); nothing was changed")
    ]
    machine = write_error(path, OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(machine, DeploymentError)
    assert str(machine) == (
        f"{path}: cannot be written (No space left on device); the previous version is kept"
    )
    assert machine.hints == ["free some space (or fix the disk), then re-run the same command"]
    bare = write_error(path, OSError("no errno"))
    assert str(bare) == f"{path}: cannot be written (OSError); the previous version is kept"


def _read_refusal(path: Path, limit: int | None = None) -> list[Problem]:
    with pytest.raises(UserError) as err:
        read_private(path) if limit is None else read_private(path, limit)
    return err.value.problems


def test_a_state_file_is_read_only_when_a_small_regular_file(tmp_path: Path) -> None:
    assert read_private(tmp_path / "none") is None
    (tmp_path / "f").write_bytes(b"abcd")
    assert read_private(tmp_path / "f", 4) == b"abcd"
    assert _read_refusal(tmp_path / "f", 3) == [
        Problem(tmp_path / "f", "", "is larger than 3 bytes")
    ]
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert _read_refusal(tmp_path / "link") == [
        Problem(tmp_path / "link", "", "is a symlink; a state file must be a regular file")
    ]
    (tmp_path / "dir").mkdir()
    assert _read_refusal(tmp_path / "dir") == [
        Problem(tmp_path / "dir", "", "is not a regular file")
    ]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        assert _read_refusal(tmp_path / "sock") == [
            Problem(
                tmp_path / "sock",
                "",
                f"cannot be read ({os.strerror(errno.ENXIO)}); a state file must be a regular file",
            )
        ]


def _root_refusal(monkeypatch: pytest.MonkeyPatch, value: str) -> list[Problem]:
    monkeypatch.setenv("OSCAR_IAC_STATE", value)
    with pytest.raises(UserError) as err:
        state_root()
    return err.value.problems


def test_a_bad_state_root_is_named_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    where = f"OSCAR_IAC_STATE={tmp_path / 'file'}"
    assert _root_refusal(monkeypatch, str(tmp_path / "file")) == [
        Problem(where, "", "is not a folder; name a folder (it is created when missing)")
    ]
    assert _root_refusal(monkeypatch, "/proc/oscar") == [
        Problem(
            "OSCAR_IAC_STATE=/proc/oscar",
            "",
            "is inside a kernel pseudo-filesystem; name a folder of your own",
        )
    ]
    long_part = f"{tmp_path}/{'n' * 256}"
    assert _root_refusal(monkeypatch, long_part) == [
        Problem(
            f"OSCAR_IAC_STATE={long_part[:80]}...",
            "",
            "has a path component longer than 255 bytes",
        )
    ]
    too_long = "/" + "a/" * 2100
    assert _root_refusal(monkeypatch, too_long) == [
        Problem(
            f"OSCAR_IAC_STATE={too_long[:80]}...",
            "",
            "is not a usable folder path (longer than 4096 bytes)",
        )
    ]


def test_a_state_folder_must_be_a_private_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    os.chmod(shared, 0o775)
    with pytest.raises(UserError) as err:
        check_private(shared)
    assert err.value.problems == [
        Problem(str(shared), "", f"can be written by others (mode 0775); run: chmod go-w {shared}")
    ]
    (tmp_path / "link").symlink_to(shared)
    with pytest.raises(UserError) as err:
        check_private(tmp_path / "link")
    assert err.value.problems == [
        Problem(
            str(tmp_path / "link"),
            "",
            "is not a folder (a state folder is never a symlink or a file)",
        )
    ]
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "file" / "state"))
    with pytest.raises(UserError) as err:
        site_state_dir("s")
    assert err.value.problems == [
        Problem(
            str(tmp_path / "file" / "state"),
            "",
            f"cannot be created ({os.strerror(errno.ENOTDIR)})",
        )
    ]
    for bad in ("", "a/b", ".."):
        with pytest.raises(UserError) as err:
            site_state_dir(bad)
        assert err.value.problems == [
            Problem(bad or "''", "", "is not a site name a state folder can have")
        ]
