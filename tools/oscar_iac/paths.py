"""Where the project's data (templates, versions.yml, roles) lives.

In a checkout (editable install) that is the repository root; an installed wheel
carries the same files under `oscar_iac/_data`.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def project_root() -> Path | None:
    """The repository root when running from a checkout, else None."""
    root = _PKG.parent.parent
    return root if (root / "versions.yml").is_file() and (root / "roles").is_dir() else None


def data_path(relative: str) -> Path:
    """A project data file: checkout first, then the wheel's `_data` copy."""
    root = project_root()
    if root is not None:
        return root / relative
    return _PKG / "_data" / relative
