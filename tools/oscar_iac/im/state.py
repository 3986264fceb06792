"""One state file per site: what `up` created, so later commands act on exactly that.

JSON, written atomically (temporary file + rename), mode 0600, never a secret.

The state folder is named after the site's `name:`, and it belongs to ONE site file:
`owner.json` records the resolved path of the site.yml that first used it. A copied
folder that keeps `name: local` would otherwise see (and `down` would destroy) the
original's infrastructure; `claim()` refuses that with a message saying what to do.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oscar_iac.errors import Problem, UserError
from oscar_iac.paths import site_state_dir

if TYPE_CHECKING:
    from oscar_iac.site.load import LoadedSite

STATE_FILE = "deployment.json"
OWNER_FILE = "owner.json"


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
        self.history = self.history[-50:]

    def record(self, name: str, status: str, detail: str = "", digest: str = "") -> None:
        self.phases[name] = asdict(PhaseRecord(status, now(), detail, digest))
        self.note(f"phase {name}: {status}" + (f" ({detail})" if detail else ""))

    def phase_record(self, name: str) -> PhaseRecord | None:
        raw = self.phases.get(name)
        return PhaseRecord(**raw) if raw else None


def state_path(site: str) -> Path:
    return site_state_dir(site) / STATE_FILE


def load(site: str) -> Deployment | None:
    path = state_path(site)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        known = {f.name for f in fields(Deployment)}
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        if not known.issuperset(data):
            raise TypeError(f"unexpected fields {sorted(set(data) - known)}")
        return Deployment(**data)
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        # ValueError covers invalid JSON and bytes that are not UTF-8; TypeError a
        # document that is not this tool's (unknown or missing fields).
        raise UserError(
            Problem(
                path,
                "",
                f"is not a deployment state this tool can read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); restore it from a backup, or move it aside to start over "
                "(an infrastructure it recorded stays on IM until removed there)",
            )
        ) from exc


def _write_private(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(dep: Deployment) -> Path:
    path = state_path(dep.site)
    _write_private(path, json.dumps(asdict(dep), indent=2, sort_keys=True))
    return path


def claim(loaded: LoadedSite) -> Path:
    """Tie the site's state folder to this site file; refuse another file's folder.

    A folder first used by another site.yml that still exists belongs to that site:
    exit 2 naming both files. A folder whose recorded site.yml no longer exists is
    taken over (the site was moved or renamed on disk), and the move is noted.
    """
    folder = site_state_dir(loaded.site.name)
    owner_path = folder / OWNER_FILE
    mine = str(loaded.path.resolve())
    recorded: str | None = None
    if owner_path.exists():
        try:
            recorded = str(json.loads(owner_path.read_text())["site_file"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            recorded = None
    if recorded == mine:
        return folder
    if recorded is not None and Path(recorded).is_file():
        raise UserError(
            Problem(
                loaded.path,
                "name",
                f"the state of site '{loaded.site.name}' ({folder}) belongs to {recorded}, "
                "another site file with the same name. Give this site its own `name:` "
                "(a copied folder keeps the original's name), or set OSCAR_IAC_STATE to "
                "another state root",
                loaded.line(("name",)),
            )
        )
    _write_private(owner_path, json.dumps({"site_file": mine, "since": now()}, indent=2))
    if recorded is not None:
        dep = load(loaded.site.name)
        if dep is not None:
            dep.note(f"site file moved: {recorded} -> {mine}")
            save(dep)
    return folder
