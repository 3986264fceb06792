"""The dCache listener's checkpoint file, byte for byte, and its write: a hidden temp file
beside it, renamed over it. The tracker's resume id before any acknowledgement, and its
delivered count."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from oscar_iac.dcache.listener.checkpoint import Checkpoint, Tracker


def test_the_checkpoint_file_is_sorted_json_indented_by_one(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    Checkpoint(channel="c", last_event_id="7", watches={"/d": "s"}, delivered=3).save(str(path))
    assert path.read_text() == (
        '{\n "channel": "c",\n "delivered": 3,\n "endpoint": "",\n "gaps": [],\n'
        ' "last_event_id": "7",\n "version": 1,\n "watches": {\n  "/d": "s"\n }\n}'
    )


def test_a_checkpoint_with_only_its_version_has_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text('{"version": 1, "delivered": null}')
    assert Checkpoint.load(str(path)) == Checkpoint(
        channel=None, last_event_id=None, watches={}, endpoint="", gaps=[], delivered=0
    )


def test_the_write_goes_through_a_hidden_temp_file_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the folder holds when the data is flushed (os.fsync, observed, then done)."""
    folder = tmp_path / "state"
    seen: list[list[str]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.append(sorted(os.listdir(folder)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    Checkpoint(last_event_id="1").save(str(folder / "checkpoint.json"))
    monkeypatch.undo()
    # First the file's own fsync (only the temp file exists), then the folder's.
    assert len(seen) == 2 and seen[1] == ["checkpoint.json"]
    assert len(seen[0]) == 1 and re.fullmatch(r"\.checkpoint\.json\.[^.]+\.tmp", seen[0][0])


def test_the_resume_id_before_any_acknowledgement_is_the_newest_received() -> None:
    tracker = Tracker(None)
    assert tracker.resume_id() is None
    tracker.add("1", done=False)
    tracker.add("2", done=False)
    assert tracker.resume_id() == "2" and tracker.pending() == 2
    tracker.ack("2")
    assert tracker.resume_id() == "2" and tracker.delivered == 1
    tracker.ack("1", delivered=False)
    assert tracker.resume_id() == "2" and tracker.delivered == 1 and tracker.pending() == 0
    tracker.ack("9")
    assert tracker.delivered == 2
