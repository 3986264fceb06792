"""One state file per site: what `up` created, so later commands act on exactly that.

JSON, written atomically (temporary file + rename), mode 0600, never a secret.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oscar_iac.errors import Problem, UserError
from oscar_iac.paths import site_state_dir

STATE_FILE = "deployment.json"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Deployment:
    site: str
    im_url: str  # 'embedded' for the local IM, else its URL
    inf_id: str | None = None
    phase: str = "new"  # new -> creating -> created -> configured | failed ; destroyed
    workers: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)

    def note(self, event: str) -> None:
        self.updated_at = now()
        self.history.append({"at": self.updated_at, "event": event})
        self.history = self.history[-50:]


def state_path(site: str) -> Path:
    return site_state_dir(site) / STATE_FILE


def load(site: str) -> Deployment | None:
    path = state_path(site)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
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


def save(dep: Deployment) -> Path:
    path = state_path(dep.site)
    fd, tmp = tempfile.mkstemp(prefix=".deployment-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(dep), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
