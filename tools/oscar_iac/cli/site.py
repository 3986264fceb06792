"""`validate` and `render`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add validate/render (filled in by the foundation issue)."""
