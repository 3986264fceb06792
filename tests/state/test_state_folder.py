"""The state folder stays the user's own (issue #22 item 6): modes set whatever the
umask, no symlink followed, another user's or a group/world-writable folder refused,
an unreadable owner.json or a record of the wrong shape is exit 2 naming the file, a
bad OSCAR_IAC_STATE is exit 2, and read-only commands write nothing."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers.cli import CliResult
from oscar_iac import state
from oscar_iac.errors import UserError

Cli = Callable[..., CliResult]
RECORD = {"site": "local", "im_url": "", "outputs": {"oscar_endpoint": "https://o.example"}}


def _one_line_error(res: CliResult, *needles: str) -> str:
    assert res.code == 2, (res.out, res.err)
    assert "Traceback" not in res.err
    text = " ".join(res.err.split())
    for needle in needles:
        assert needle in text, (needle, text)
    return text


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_000")
def test_state_modes_do_not_follow_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "a" / "b" / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(root))
    state.save(state.Deployment(site="local", im_url=""))
    for folder in (tmp_path / "a", tmp_path / "a" / "b", root, root / "local"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((root / "local" / "deployment.json").stat().st_mode) == 0o600
    with state.lock("local"):
        assert stat.S_IMODE((root / "local" / "site.lock").stat().st_mode) == 0o600


def test_state_write_replaces_a_planted_symlink_and_never_follows_it(
    cli: Cli, local_site: Path, state_root: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    folder = state_root / "local"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "deployment.json").symlink_to(victim)
    # Reading through it is refused, naming the file...
    _one_line_error(cli("outputs", str(local_site)), "deployment.json", "symlink")
    # ...and a save replaces the link itself: the victim is never written.
    state.save(state.Deployment(site="local", im_url=""))
    assert victim.read_text() == "root's file\n"
    assert not (folder / "deployment.json").is_symlink()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_state_folder_symlinked_elsewhere_is_refused(
    cli: Cli, local_site: Path, state_root: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    state_root.mkdir(mode=0o700)
    (state_root / "local").symlink_to(elsewhere)
    _one_line_error(cli("up", str(local_site)), str(state_root / "local"), "not a folder")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_state_folder_writable_by_others_is_refused(
    mode: int, cli: Cli, local_site: Path, state_root: Path
) -> None:
    (state_root / "local").mkdir(parents=True, mode=0o700)
    os.chmod(state_root / "local", mode)
    _one_line_error(cli("up", str(local_site)), "can be written by others", "chmod go-w")
    assert sorted(p.name for p in (state_root / "local").iterdir()) == []


def test_state_root_writable_by_others_is_refused(
    cli: Cli, local_site: Path, state_root: Path
) -> None:
    state_root.mkdir(mode=0o700)
    os.chmod(state_root, 0o777)
    _one_line_error(cli("up", str(local_site)), str(state_root), "can be written by others")
    assert list(state_root.iterdir()) == []


def test_state_folder_of_another_user_is_refused(
    cli: Cli, local_site: Path, state_root: Path
) -> None:
    folder = state_root / "local"
    folder.mkdir(parents=True, mode=0o700)
    stranger = os.getuid() + 4242
    try:
        os.chown(folder, stranger, -1)
    except PermissionError as exc:  # only root can give a folder away
        raise AssertionError("this test needs to chown (it runs as root here)") from exc
    _one_line_error(cli("status", str(local_site)), f"belongs to uid {stranger}")
    _one_line_error(cli("up", str(local_site)), f"belongs to uid {stranger}")


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe", b"[]", b'{"site_file": 7}', b"{}", b'"x"'],
)
def test_state_corrupt_owner_is_exit_2_never_no_owner(
    content: bytes, cli: Cli, local_site: Path, state_root: Path
) -> None:
    folder = state_root / "local"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "owner.json").write_bytes(content)
    (folder / "deployment.json").write_text(json.dumps({**RECORD, "inf_id": "theirs"}))
    for args in (("outputs", str(local_site)), ("down", str(local_site), "--yes")):
        _one_line_error(cli(*args), str(folder / "owner.json"))
    assert (folder / "owner.json").read_bytes() == content  # not taken over


def test_state_unreadable_owner_is_exit_2(cli: Cli, local_site: Path, state_root: Path) -> None:
    folder = state_root / "local"
    (folder / "owner.json").mkdir(parents=True, mode=0o700)  # cannot be read as a file
    _one_line_error(cli("up", str(local_site)), str(folder / "owner.json"))


@pytest.mark.parametrize(
    "record",
    [
        {**RECORD, "phases": {"infrastructure": "done"}},
        {**RECORD, "phases": {"infrastructure": {"status": 1, "at": "x"}}},
        {**RECORD, "history": [1, 2]},
        {**RECORD, "history": {"at": "x"}},
        {**RECORD, "workers": "two"},
        {**RECORD, "workers": True},
        {**RECORD, "outputs": ["a"]},
        {**RECORD, "run": {"status": None}},
        {**RECORD, "inf_id": 5},
        {"im_url": ""},
        [RECORD],
    ],
)
def test_state_record_of_the_wrong_shape_is_exit_2_naming_it(
    record: object, cli: Cli, local_site: Path, state_root: Path
) -> None:
    folder = state_root / "local"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "deployment.json").write_text(json.dumps(record))
    for args in (
        ("status", str(local_site)),
        ("outputs", str(local_site)),
        ("up", str(local_site)),
    ):
        _one_line_error(cli(*args), str(folder / "deployment.json"), "not a deployment state")


def _bad_roots(tmp_path: Path) -> list[tuple[str, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return [
        (str(a_file), "is not a folder"),
        ("/proc/self", "pseudo-filesystem"),
        ("/proc", "pseudo-filesystem"),
        ("/sys/kernel", "pseudo-filesystem"),
        (str(tmp_path / ("x" * 120_000)), "4096"),
        (str(tmp_path / ("y" * 300) / "z"), "255"),
    ]


def test_state_bad_state_root_is_exit_2(
    cli: Cli, local_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for root, why in _bad_roots(tmp_path):
        monkeypatch.setenv("OSCAR_IAC_STATE", root)
        for args in (("up", str(local_site)), ("status", str(local_site))):
            _one_line_error(cli(*args), "OSCAR_IAC_STATE", why)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


def test_state_read_only_commands_write_nothing(
    cli: Cli, local_site: Path, state_root: Path
) -> None:
    # A site never deployed: no state folder is made.
    for args in (("status", str(local_site)), ("outputs", str(local_site))):
        assert cli(*args).code == 2
        assert not state_root.exists(), args
    # A deployed one (a hosts-like record with outputs): nothing changes, nothing new.
    state.claim(__import__("oscar_iac.site", fromlist=["load_site"]).load_site(local_site))
    state.save(state.Deployment(**RECORD))  # type: ignore[arg-type]
    before = _snapshot(state_root)
    for args in (("outputs", str(local_site)), ("outputs", str(local_site), "--json")):
        res = cli(*args)
        assert res.code == 0, res.err
        assert _snapshot(state_root) == before, args


def test_state_load_refuses_a_fifo_without_hanging(state_root: Path) -> None:
    folder = state.site_state_dir("local")
    os.mkfifo(folder / "deployment.json", 0o600)
    with pytest.raises(UserError, match="not a regular file"):
        state.load("local")
