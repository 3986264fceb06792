"""The one versions file (`versions.yml`), read by the renderer and the roles alike."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from oscar_iac.errors import Problem, UserError
from oscar_iac.paths import data_path
from oscar_iac.yamlpos import load_yaml

VERSIONS_KEY = "oscar_iac_versions"


def versions_file() -> Path:
    return data_path("versions.yml")


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, dict[str, Any]]:
    data = load_yaml(path) or {}
    table = data.get(VERSIONS_KEY) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise UserError(Problem(path, VERSIONS_KEY, "expected a mapping of component -> pins"))
    return table


def versions(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """component -> {version, artifacts: [{name, url, sha256}], ...}."""
    return _load(path or versions_file())


def pin(component: str, key: str = "version", path: Path | None = None) -> str:
    table = versions(path)
    try:
        return str(table[component][key])
    except KeyError as exc:
        raise UserError(
            Problem(path or versions_file(), f"{VERSIONS_KEY}.{component}.{key}", "not pinned")
        ) from exc
