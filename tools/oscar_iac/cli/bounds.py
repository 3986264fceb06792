"""Checks of numeric and list flags, with the bounds the site schema uses (site.fields):
a bad value is a usage error (exit 2) naming the flag, before anything is created."""

from __future__ import annotations

import typer

from oscar_iac.site.fields import WORKERS_MAX, check_timeout, check_workers


def timeout(value: float) -> float:
    try:
        return check_timeout(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def workers(value: int) -> int:
    try:
        return check_workers(value, "the number of workers")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def phases(value: list[str] | None) -> list[str] | None:
    """A phase list given at all names at least one phase (`--only ,,,` names none)."""
    if value is not None and not [p for item in value for p in item.split(",") if p.strip()]:
        raise typer.BadParameter("expected one or more phase names, comma-separated")
    return value


__all__ = ["WORKERS_MAX", "phases", "timeout", "workers"]
