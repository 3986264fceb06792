"""The deployment record of a site: `deployment.json` in its state folder.

What `up` created (the IM infrastructure, its outputs), the phases of `up` and how
the last run ended, and a short history, so later commands act on exactly that.
JSON, never a secret. `load` checks the file's shape field by field: a file that is
not this tool's (wrong JSON, wrong types, unknown fields) is exit 2 naming it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oscar_iac.errors import Problem, UserError
from oscar_iac.state.files import read_private, write_private
from oscar_iac.state.folder import site_state_dir

STATE_FILE = "deployment.json"
HISTORY = 50  # events kept


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class PhaseRecord:
    """What one phase of `up` did last: running | done | failed | skipped | not-applicable."""

    status: str
    at: str
    detail: str = ""
    digest: str = ""  # the site's digest when the phase ran (resume only if unchanged)


@dataclass
class Deployment:
    site: str
    im_url: str  # 'embedded' for the local IM, else its URL ('' when no IM is involved)
    inf_id: str | None = None
    phase: str = (
        "new"  # IM infrastructure: new -> creating -> created -> configured | failed ; destroyed
    )
    workers: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    # `up` phases: name -> PhaseRecord as a dict; `run` says whether the last up finished.
    phases: dict[str, dict[str, str]] = field(default_factory=dict)
    run: dict[str, str] = field(default_factory=dict)

    def note(self, event: str) -> None:
        self.updated_at = now()
        self.history.append({"at": self.updated_at, "event": event})
        self.history = self.history[-HISTORY:]

    def record(self, name: str, status: str, detail: str = "", digest: str = "") -> None:
        self.phases[name] = asdict(PhaseRecord(status, now(), detail, digest))
        self.note(f"phase {name}: {status}" + (f" ({detail})" if detail else ""))

    def phase_record(self, name: str) -> PhaseRecord | None:
        raw = self.phases.get(name)
        return PhaseRecord(**raw) if raw else None


def _str_map(value: object, what: str) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError(f"{what} is not a mapping of text to text")


def check_shape(data: object) -> None:
    """TypeError naming the first field whose value is not what `Deployment` holds."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    known = {f.name for f in fields(Deployment)}
    if not known.issuperset(data):
        raise TypeError(f"unexpected fields {sorted(set(data) - known)}")
    for name in ("site", "im_url"):
        if not isinstance(data.get(name), str):
            raise TypeError(f"{name} is missing or not text")
    for name in ("inf_id", "created_at", "updated_at"):
        if not isinstance(data.get(name), str | None):
            raise TypeError(f"{name} is not text")
    if not isinstance(data.get("phase", ""), str):
        raise TypeError("phase is not text")
    workers = data.get("workers", 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise TypeError("workers is not a whole number of 0 or more")
    if not isinstance(data.get("outputs", {}), dict):
        raise TypeError("outputs is not a mapping")
    history = data.get("history", [])
    if not isinstance(history, list):
        raise TypeError("history is not a list")
    for entry in history:
        _str_map(entry, "a history entry")
    phases = data.get("phases", {})
    if not isinstance(phases, dict):
        raise TypeError("phases is not a mapping")
    record_fields = {f.name for f in fields(PhaseRecord)}
    for name, rec in phases.items():
        _str_map(rec, f"phase {name!r}")
        if not {"status", "at"} <= set(rec) <= record_fields:
            raise TypeError(f"phase {name!r} does not have the fields {sorted(record_fields)}")
    _str_map(data.get("run", {}), "run")


def state_path(site: str) -> Path:
    """The site's deployment.json (its folder is made when missing)."""
    return site_state_dir(site) / STATE_FILE


def load(site: str) -> Deployment | None:
    """The site's record; None when there is none. Writes nothing."""
    path = site_state_dir(site, create=False) / STATE_FILE
    raw = read_private(path)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        check_shape(data)
        return Deployment(**data)
    except (ValueError, TypeError, RecursionError) as exc:
        # ValueError covers invalid JSON and bytes that are not UTF-8; TypeError a
        # document that is not this tool's (unknown, missing or mistyped fields).
        raise UserError(
            Problem(
                path,
                "",
                f"is not a deployment state this tool can read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); restore it from a backup, or move it aside to start over "
                "(an infrastructure it recorded stays on IM until removed there)",
            )
        ) from exc


def save(dep: Deployment) -> Path:
    path = state_path(dep.site)
    write_private(path, json.dumps(asdict(dep), indent=2, sort_keys=True))
    return path


def record_phase(
    site: str,
    phase: str,
    status: str,
    detail: str = "",
    digest: str = "",
    run_status: str | None = None,
) -> Deployment:
    """Record what one phase of `up` did (and, with `run_status`, how the run stands)."""
    dep = load(site) or Deployment(site=site, im_url="")
    rec = dep.phase_record(phase)
    if status == "not-applicable" and rec is not None and rec.status == status:
        return dep
    dep.record(phase, status, detail, digest)
    if run_status:
        dep.run["status"] = run_status
    save(dep)
    return dep
