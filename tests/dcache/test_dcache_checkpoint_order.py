"""The listener's checkpoint never passes an event that has not been delivered.

Deliveries finish out of order (several uploads in flight); the checkpoint id is what a
restarted listener resumes after (`Last-Event-ID`, dCache User Guide "Storage events"),
so it may only cover a PREFIX of the arrival order in which every event is done. The
reference below is that definition written out plainly; hypothesis drives the tracker
through arbitrary completion orders and compares after every step."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oscar_iac.dcache.listener.checkpoint import MAX_GAPS, Checkpoint, Tracker
from oscar_iac.dcache.listener.errors import ConfigError


def _reference(order: list[str], done: set[str], start: str | None) -> str | None:
    acked = start
    for eid in order:
        if eid not in done:
            break
        acked = eid
    return acked


# No timing health check: a busy 2-core CI is slow, not wrong.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(
            st.just(n), st.permutations(list(range(n))), st.sets(st.integers(0, n - 1))
        )
    )
)
def test_checkpoint_covers_only_a_delivered_prefix(case: tuple[int, list[int], set[int]]) -> None:
    n, completion, done_on_arrival = case
    order = [str(i + 1) for i in range(n)]
    tracker = Tracker("0")
    done: set[str] = set()
    for i, eid in enumerate(order):
        tracker.add(eid, i in done_on_arrival)  # e.g. ignored events are done on arrival
        if i in done_on_arrival:
            done.add(eid)
        assert tracker.acked == _reference(order[: i + 1], done, "0")
    for i in completion:
        tracker.ack(order[i])
        done.add(order[i])
        assert tracker.acked == _reference(order, done, "0")
        assert tracker.resume_id() == tracker.acked
    assert tracker.acked == order[-1]


def test_a_slow_first_delivery_holds_the_checkpoint() -> None:
    """Literal case: 1 in flight, 2 and 3 delivered: resume must replay from after 0."""
    tracker = Tracker("0")
    for eid in ("1", "2", "3"):
        tracker.add(eid, False)
    tracker.ack("3")
    tracker.ack("2")
    assert tracker.acked == "0" and tracker.resume_id() == "0"
    tracker.ack("1")
    assert tracker.acked == "3"


# ------------------------------------------------------------------ the checkpoint file


def test_checkpoint_round_trip_keeps_everything_a_restart_needs(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "checkpoint.json")
    gaps = [{"reason": f"EVENT_LOSS {i}", "at": "t"} for i in range(MAX_GAPS + 5)]
    saved = Checkpoint(
        channel="https://dcache.example.org:3880/api/v1/events/channels/abc",
        last_event_id="41",
        watches={"/data/plants": "https://dcache.example.org:3880/sub/1"},
        endpoint="https://dcache.example.org:3880",
        gaps=gaps,
        delivered=7,
    )
    saved.save(path)
    loaded = Checkpoint.load(path)
    assert loaded == Checkpoint(
        channel=saved.channel,
        last_event_id="41",
        watches={"/data/plants": "https://dcache.example.org:3880/sub/1"},
        endpoint="https://dcache.example.org:3880",
        gaps=gaps[-MAX_GAPS:],  # only the newest are kept
        delivered=7,
    )
    raw = json.loads(Path(path).read_text())
    assert raw["version"] == 1 and len(raw["gaps"]) == MAX_GAPS
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert os.listdir(os.path.dirname(path)) == ["checkpoint.json"]  # no temp file left
    Checkpoint(last_event_id="42").save(path)  # replaces, never appends
    again = Checkpoint.load(path)
    assert again is not None and again.last_event_id == "42" and again.watches == {}


def test_no_checkpoint_is_a_fresh_start(tmp_path: Path) -> None:
    assert Checkpoint.load(str(tmp_path / "none.json")) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "checkpoint unreadable"),
        ('{"version": 2}', "not a checkpoint of this listener (version 1)"),
        ("[1, 2]", "not a checkpoint of this listener (version 1)"),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        Checkpoint.load(str(path))
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "checkpoint.json"
    Checkpoint(last_event_id="1").save(str(path))

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        Checkpoint(last_event_id="2").save(str(path))
    monkeypatch.undo()
    old = Checkpoint.load(str(path))
    assert old is not None and old.last_event_id == "1"
    assert os.listdir(tmp_path) == ["checkpoint.json"]


def test_tracker_seen_and_reset() -> None:
    tracker = Tracker("5")
    tracker.add("6", False)
    assert tracker.seen("6") and not tracker.seen("7")
    tracker.reset()
    assert tracker.acked is None and tracker.resume_id() is None and not tracker.seen("6")
