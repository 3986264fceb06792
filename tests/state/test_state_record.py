"""Recording a phase of `up`: what a resumed or inspected run reads back. Literal
expectations: the phase names and statuses are those `up` records (phases/run.py), the
history is bounded by `state.deployment.HISTORY` (50 events)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from oscar_iac import state
from oscar_iac.state.deployment import HISTORY


def test_record_phase_on_a_new_site_writes_one_record(state_root: Path) -> None:
    dep = state.record_phase("rec", "models", "done", "2 created", "abc123", run_status="running")
    path = state_root / "rec" / "deployment.json"
    raw = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert raw["site"] == "rec" and raw["im_url"] == "" and raw["run"] == {"status": "running"}
    rec = raw["phases"]["models"]
    assert (rec["status"], rec["detail"], rec["digest"]) == ("done", "2 created", "abc123")
    assert rec["at"] and raw["updated_at"] == rec["at"]
    assert raw["history"] == [{"at": rec["at"], "event": "phase models: done (2 created)"}]
    assert dep.phase_record("models") == state.PhaseRecord("done", rec["at"], "2 created", "abc123")
    assert dep.phase_record("events") is None


def test_record_phase_keeps_earlier_phases_and_the_run_status(state_root: Path) -> None:
    state.record_phase("rec", "platform", "done", run_status="running")
    state.record_phase("rec", "models", "failed", "OSCAR answered 500")
    loaded = state.load("rec")
    assert loaded is not None
    assert loaded.phases["platform"]["status"] == "done"
    assert loaded.phases["models"]["status"] == "failed"
    assert loaded.run == {"status": "running"}  # not given: unchanged
    assert [h["event"] for h in loaded.history] == [
        "phase platform: done",
        "phase models: failed (OSCAR answered 500)",
    ]


def test_not_applicable_twice_is_recorded_once(state_root: Path) -> None:
    state.record_phase("rec", "preflight", "not-applicable", "no cloud")
    first = (state_root / "rec" / "deployment.json").read_text()
    state.record_phase("rec", "preflight", "not-applicable", "no cloud")
    assert (state_root / "rec" / "deployment.json").read_text() == first
    state.record_phase("rec", "preflight", "done")
    loaded = state.load("rec")
    assert loaded is not None and loaded.phases["preflight"]["status"] == "done"
    assert len(loaded.history) == 2


def test_history_keeps_the_newest_events(state_root: Path) -> None:
    dep = state.Deployment(site="rec", im_url="embedded")
    for i in range(HISTORY + 7):
        dep.note(f"event {i}")
    assert len(dep.history) == HISTORY == 50
    assert dep.history[0]["event"] == "event 7" and dep.history[-1]["event"] == "event 56"
    state.save(dep)
    loaded = state.load("rec")
    assert loaded is not None and loaded.history == dep.history
