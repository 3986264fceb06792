"""The state store's exact answers: a deployment.json of the wrong shape is exit 2 naming
the file and the first wrong field in the words below; a record is written as indented,
sorted JSON with UTC times; owner.json ties a state folder to one site file, and a second
site file of the same name is refused naming both files and its `name:` line. State files
and folders (files.py, folder.py) are refused in exact words too."""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from oscar_iac import state
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.site import load_site
from oscar_iac.state.deployment import Deployment, load, save
from oscar_iac.state.files import read_private, write_error, write_private
from oscar_iac.state.folder import check_private, site_state_dir, state_root
from oscar_iac.state.owner import claim, recorded_owner

OK: dict[str, Any] = {"site": "s", "im_url": ""}
ADVICE = (
    "restore it from a backup, or move it aside to start over "
    "(an infrastructure it recorded stays on IM until removed there)"
)
LONG = "f" * 200
HISTORY_FIELDS = "a history entry does not have the fields ['at', 'event']"
PHASE_FIELDS = "phase 'up' does not have the fields ['at', 'detail', 'digest', 'status']"


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ([], "not a JSON object"),
        ({**OK, "zzz": 1, "extra": 2}, "unexpected fields ['extra', 'zzz']"),
        ({**OK, LONG: 1}, f"unexpected fields ['{LONG}']"[:120]),
        ({"im_url": ""}, "site is missing or not text"),
        ({"site": "s"}, "im_url is missing or not text"),
        ({**OK, "inf_id": 5}, "inf_id is not text"),
        ({**OK, "created_at": 5}, "created_at is not text"),
        ({**OK, "updated_at": []}, "updated_at is not text"),
        ({**OK, "phase": 3}, "phase is not text"),
        ({**OK, "workers": -1}, "workers is not a whole number of 0 or more"),
        ({**OK, "workers": True}, "workers is not a whole number of 0 or more"),
        ({**OK, "workers": "2"}, "workers is not a whole number of 0 or more"),
        ({**OK, "outputs": []}, "outputs is not a mapping"),
        ({**OK, "history": {}}, "history is not a list"),
        ({**OK, "history": [["x"]]}, "a history entry is not a mapping of text to text"),
        ({**OK, "history": [{"at": "t"}]}, HISTORY_FIELDS),
        ({**OK, "phases": []}, "phases is not a mapping"),
        ({**OK, "phases": {"up": {"status": 1}}}, "phase 'up' is not a mapping of text to text"),
        ({**OK, "phases": {"up": {"status": "done"}}}, PHASE_FIELDS),
        ({**OK, "phases": {"up": {"status": "done", "at": "t", "x": "y"}}}, PHASE_FIELDS),
        ({**OK, "run": []}, "run is not a mapping of text to text"),
    ],
)
def test_a_state_of_the_wrong_shape_names_file_and_field(
    state_root: Path, doc: object, why: str
) -> None:
    path = state_root / "s" / "deployment.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError) as err:
        load("s")
    assert err.value.problems == [
        Problem(
            path, "", f"is not a deployment state this tool can read (TypeError: {why}); {ADVICE}"
        )
    ]


def test_a_state_that_is_not_json_names_the_parser_error(state_root: Path) -> None:
    path = state_root / "s" / "deployment.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("{")
    with pytest.raises(UserError) as err:
        load("s")
    assert str(err.value) == (
        f"{path}: is not a deployment state this tool can read (JSONDecodeError: Expecting "
        f"property name enclosed in double quotes: line 1 column 2 (char 1)); {ADVICE}"
    )


def test_the_least_state_is_read_with_its_defaults(state_root: Path) -> None:
    path = state_root / "s" / "deployment.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(json.dumps({**OK, "phases": {"up": {"status": "done", "at": "t"}}}))
    dep = load("s")
    assert dep == Deployment(site="s", im_url="", phases={"up": {"status": "done", "at": "t"}})
    assert (dep.workers, dep.history, dep.run, dep.phase) == (0, [], {}, "new")


def test_a_state_is_written_as_indented_sorted_json(state_root: Path) -> None:
    path = save(Deployment(site="s", im_url="embedded", workers=2))
    assert path.read_text() == (
        '{\n  "created_at": null,\n  "history": [],\n  "im_url": "embedded",\n  "inf_id": null,\n'
        '  "outputs": {},\n  "phase": "new",\n  "phases": {},\n  "run": {},\n  "site": "s",\n'
        '  "updated_at": null,\n  "workers": 2\n}'
    )


def test_phase_times_are_utc_and_the_digest_defaults_to_empty(state_root: Path) -> None:
    dep = state.record_phase("s", "platform", "done")
    rec = dep.phases["platform"]
    assert rec["at"].endswith("+00:00") and len(rec["at"]) == len("2026-01-01T00:00:00+00:00")
    assert (rec["detail"], rec["digest"]) == ("", "")


def _site(folder: Path, name: str) -> Path:
    folder.mkdir()
    text = (Path(__file__).resolve().parents[2] / "inventories" / "local" / "site.yml").read_text()
    # `name:` last, so its line is not the document's first (a missing key's fallback).
    assert "\nname: local\n" in text
    (folder / "site.yml").write_text(text.replace("\nname: local\n", "\n") + f"name: {name}\n")
    return folder


def test_a_second_site_file_of_the_same_name_is_refused_naming_both(
    tmp_path: Path, state_root: Path
) -> None:
    first = load_site(_site(tmp_path / "a", "twin"))
    second = load_site(_site(tmp_path / "b", "twin"))
    folder = claim(first)
    assert folder == state_root / "twin"
    owner = json.loads((folder / "owner.json").read_text())
    assert owner["site_file"] == str(tmp_path / "a" / "site.yml")
    assert owner["since"].endswith("+00:00")
    assert (folder / "owner.json").read_text().startswith('{\n  "site_file": ')
    assert claim(first) == folder  # the owner again: fine
    with pytest.raises(UserError) as err:
        claim(second)
    line = (tmp_path / "b" / "site.yml").read_text().splitlines().index("name: twin") + 1
    assert err.value.problems == [
        Problem(
            tmp_path / "b" / "site.yml",
            "name",
            f"the state of site 'twin' ({folder}) belongs to {tmp_path / 'a' / 'site.yml'}, "
            "another site file with the same name. Give this site its own `name:` (a copied "
            "folder keeps the original's name), or set OSCAR_IAC_STATE to another state root",
            line,
        )
    ]


def test_a_moved_site_file_takes_its_folder_over_and_the_move_is_noted(
    tmp_path: Path, state_root: Path
) -> None:
    old = load_site(_site(tmp_path / "old", "moved"))
    claim(old)
    state.record_phase("moved", "platform", "done")
    (tmp_path / "old" / "site.yml").unlink()
    new = load_site(_site(tmp_path / "new", "moved"))
    folder = claim(new)
    assert recorded_owner(folder) == str(tmp_path / "new" / "site.yml")
    dep = load("moved")
    assert dep is not None
    assert dep.history[-1]["event"] == (
        f"site file moved: {tmp_path / 'old' / 'site.yml'} -> {tmp_path / 'new' / 'site.yml'}"
    )
    # A first claim of an existing folder with no record notes nothing.
    fresh = load_site(_site(tmp_path / "fresh", "fresh"))
    state.record_phase("fresh", "platform", "done")
    claim(fresh)
    dep = load("fresh")
    assert dep is not None and [h["event"] for h in dep.history] == ["phase platform: done"]


def test_an_owner_record_of_the_wrong_shape_names_the_file(state_root: Path) -> None:
    folder = state_root / "s"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "owner.json").write_text('{"site_file": 7}')
    with pytest.raises(UserError) as err:
        recorded_owner(folder)
    assert err.value.problems == [
        Problem(
            folder / "owner.json",
            "",
            "is not an owner record this tool can read (TypeError: no 'site_file' text field); "
            "it names the site file this state folder belongs to: restore it, or move the "
            "folder aside if it is not yours",
        )
    ]


def test_a_read_only_claim_makes_no_folder_but_records_an_existing_ones_owner(
    tmp_path: Path, state_root: Path
) -> None:
    loaded = load_site(_site(tmp_path / "ro", "readonly"))
    assert claim(loaded, create=False) == state_root / "readonly"
    assert not (state_root / "readonly").exists()
    (state_root / "readonly").mkdir(parents=True, mode=0o700)
    claim(loaded, create=False)
    assert recorded_owner(state_root / "readonly") == str(tmp_path / "ro" / "site.yml")


# -- state files and folders refused in exact words: a write error is exit 2 for a folder
# the user must fix and exit 1 (with a hint) for the machine.
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
            "is not a usable folder path (4096 bytes or longer)",
        )
    ]
    # Exactly PATH_MAX bytes: the kernel refuses it (the limit counts the final NUL).
    exactly = "/" + "b" * 4095
    assert len(exactly) == 4096
    assert _root_refusal(monkeypatch, exactly) == [
        Problem(
            f"OSCAR_IAC_STATE={exactly[:80]}...",
            "",
            "is not a usable folder path (4096 bytes or longer)",
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
    for bad in ("", "a/b", ".", ".."):
        with pytest.raises(UserError) as err:
            site_state_dir(bad)
        assert err.value.problems == [
            Problem(bad or "''", "", "is not a site name a state folder can have")
        ]


def test_a_state_write_replaces_the_file_and_never_goes_through_a_symlinked_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    write_private(tmp_path / "real" / "f.json", b"bytes\n")
    write_private(tmp_path / "real" / "f.json", "text\n")
    assert (tmp_path / "real" / "f.json").read_text() == "text\n"
    assert os.listdir(tmp_path / "real") == ["f.json"]  # no temp file left
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UserError) as err:
        write_private(tmp_path / "link" / "f.json", "x")
    assert err.value.problems == [
        Problem(
            tmp_path / "link" / "f.json",
            "",
            # open(2) with O_DIRECTORY|O_NOFOLLOW on a symlink: ENOTDIR.
            f"cannot be written ({os.strerror(errno.ENOTDIR)}); nothing was changed",
        )
    ]
    assert (tmp_path / "real" / "f.json").read_text() == "text\n"


def test_a_state_file_larger_than_one_read_is_read_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * 400  # 100 KiB: more than one 64 KiB read
    (tmp_path / "big").write_bytes(data)
    assert read_private(tmp_path / "big") == data


def test_the_default_state_root_is_the_checkouts_or_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oscar_iac.state import folder

    monkeypatch.delenv("OSCAR_IAC_STATE", raising=False)
    monkeypatch.setattr(folder, "project_root", lambda: tmp_path / "checkout")
    assert state_root() == tmp_path / "checkout" / ".oscar-iac"
    monkeypatch.setattr(folder, "project_root", lambda: None)  # an installed wheel
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_root() == tmp_path / "home" / ".local" / "state" / "oscar-iac"


def test_state_root_limits_to_the_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"{tmp_path}/"
    for size, shown in ((80, ""), (81, "...")):
        path = base + "f" * (size - len(base))
        Path(path).write_text("x")
        assert _root_refusal(monkeypatch, path) == [
            Problem(
                f"OSCAR_IAC_STATE={path[:80]}{shown}",
                "",
                "is not a folder; name a folder (it is created when missing)",
            )
        ]
    # A 255-byte component is allowed (Linux NAME_MAX), a 256-byte one is not.
    longest = f"{tmp_path}/{'c' * 255}"
    monkeypatch.setenv("OSCAR_IAC_STATE", longest)
    assert state_root() == Path(longest)
    assert _root_refusal(monkeypatch, "/proc") == [
        Problem(
            "OSCAR_IAC_STATE=/proc",
            "",
            "is inside a kernel pseudo-filesystem; name a folder of your own",
        )
    ]


def test_a_state_folder_missing_a_file_or_anothers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        check_private(tmp_path / "none")
    assert err.value.problems == [
        Problem(str(tmp_path / "none"), "", f"cannot be read ({os.strerror(errno.ENOENT)})")
    ]
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError) as err:
        check_private(tmp_path / "file")
    assert err.value.problems == [
        Problem(
            str(tmp_path / "file"),
            "",
            "is not a folder (a state folder is never a symlink or a file)",
        )
    ]
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 12345, -1)  # root here (see tests/state/test_state_folder.py)
    with pytest.raises(UserError) as err:
        check_private(theirs)
    assert err.value.problems == [
        Problem(
            str(theirs),
            "",
            f"belongs to uid 12345, not to you (uid {os.getuid()}); a state folder must be "
            "your own: set OSCAR_IAC_STATE to a folder of yours",
        )
    ]
