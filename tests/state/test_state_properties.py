"""Property-based tests of the state files (issue #22): a record survives a save and
a load unchanged, and ANY corruption of `deployment.json` or `owner.json` is exit 2
naming the file, never another exception."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oscar_iac import state
from oscar_iac.errors import UserError
from oscar_iac.state.owner import recorded_owner

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
text = st.text(max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
phase_records = st.builds(
    lambda status, at, detail, digest: {
        "status": status,
        "at": at,
        "detail": detail,
        "digest": digest,
    },
    text,
    text,
    text,
    text,
)
deployments = st.builds(
    state.Deployment,
    site=st.just("prop"),
    im_url=text,
    inf_id=st.none() | text,
    phase=text,
    workers=st.integers(min_value=0, max_value=10**6),
    outputs=st.dictionaries(text, json_values, max_size=5),
    created_at=st.none() | text,
    updated_at=st.none() | text,
    history=st.lists(st.fixed_dictionaries({"at": text, "event": text}), max_size=5),
    phases=st.dictionaries(text, phase_records, max_size=5),
    run=st.dictionaries(text, text, max_size=4),
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


@SETTINGS
@given(dep=deployments)
def test_state_round_trip(root: Path, dep: state.Deployment) -> None:
    path = state.save(dep)
    assert state.load("prop") == dep
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def _use(dep: state.Deployment) -> None:
    """What the commands do with a loaded record (status, up's resume, down's summary)."""
    for name in dep.phases:
        rec = dep.phase_record(name)
        assert rec is not None
        _ = rec.status.upper() + rec.detail + rec.digest
    _ = [e["event"].removeprefix("leftovers: ") + e["at"] for e in dep.history]
    _ = sorted(str(k) + str(v) for k, v in dep.outputs.items())
    _ = dep.workers + 1, str(dep.run.get("status", "")), (dep.inf_id or "").strip()
    _ = dep.im_url.rstrip("/") + dep.phase + (dep.created_at or "") + (dep.updated_at or "")


def _refused_naming(path: Path, read: Any) -> None:
    """Either a record every command can use, or exit 2 naming the file in one line."""
    try:
        dep = read()
    except UserError as exc:
        assert str(path) in str(exc)
        assert len(str(exc).splitlines()) == 1
    else:
        _use(dep)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_state_any_bytes_in_deployment_json(root: Path, raw: bytes) -> None:
    path = state.state_path("prop")
    path.write_bytes(raw)
    _refused_naming(path, lambda: state.load("prop"))


@SETTINGS
@given(
    dep=deployments,
    field=st.sampled_from(list(state.Deployment.__dataclass_fields__)),
    value=json_values,
)
def test_state_any_value_in_any_field(
    root: Path, dep: state.Deployment, field: str, value: object
) -> None:
    path = state.save(dep)
    doc = json.loads(path.read_text())
    doc[field] = value
    path.write_text(json.dumps(doc))
    _refused_naming(path, lambda: state.load("prop"))


@SETTINGS
@given(dep=deployments, cut=st.integers(min_value=0, max_value=10**6))
def test_state_truncated_or_extended_record(root: Path, dep: state.Deployment, cut: int) -> None:
    path = state.save(dep)
    raw = path.read_bytes()
    path.write_bytes(raw[: cut % (len(raw) + 1)] + b"x" * (cut % 3))
    _refused_naming(path, lambda: state.load("prop"))


@SETTINGS
@given(
    doc=json_values | st.dictionaries(st.sampled_from(["site_file", "since"]), json_values),
    raw=st.none() | st.binary(max_size=100),
)
def test_state_any_owner_json(root: Path, doc: object, raw: bytes | None) -> None:
    folder = state.site_state_dir("prop")
    path = folder / "owner.json"
    path.write_bytes(raw if raw is not None else json.dumps(doc).encode())
    try:
        owner = recorded_owner(folder)
    except UserError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(doc, dict) and owner == doc["site_file"] and raw is None


@SETTINGS
@given(name=st.text(alphabet=string.printable, min_size=1, max_size=300))
def test_state_root_from_any_environment_value(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OSCAR_IAC_STATE: a usable folder, or exit 2 naming the variable."""
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "r") + "/" + name.replace("\0", ""))
    try:
        folder = state.site_state_dir("prop")
    except UserError as exc:
        assert "OSCAR_IAC_STATE" in str(exc) or str(tmp_path) in str(exc)
    else:
        assert folder.is_dir()
