"""A preflight report: one row per check, needed against available, and a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["ok", "failed", "not checked"]
Verdict = Literal["ready", "missing", "unchecked"]


@dataclass(frozen=True)
class Row:
    check: str
    needed: str
    available: str
    outcome: Outcome
    detail: str = ""


@dataclass
class Report:
    site: str
    rows: list[Row] = field(default_factory=list)
    requests: int = 0  # HTTP requests made (Keystone, cloud-info, services)
    seconds: float = 0.0

    def add(
        self, check: str, needed: Any, available: Any, outcome: Outcome, detail: str = ""
    ) -> None:
        self.rows.append(Row(check, str(needed), str(available), outcome, detail))

    @property
    def missing(self) -> list[Row]:
        return [r for r in self.rows if r.outcome == "failed"]

    @property
    def unchecked(self) -> list[Row]:
        return [r for r in self.rows if r.outcome == "not checked"]

    @property
    def verdict(self) -> Verdict:
        """'missing' if anything the site needs is absent, else 'unchecked' if a check
        could not run, else 'ready'."""
        if self.missing:
            return "missing"
        return "unchecked" if self.unchecked else "ready"

    def summary(self) -> str:
        """The lines naming what is missing or could not be checked."""
        lines = [
            f"  {r.outcome:>11}  {r.check}: needs {r.needed}, has {r.available}"
            + (f" ({r.detail})" if r.detail else "")
            for r in self.missing + self.unchecked
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "verdict": self.verdict,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "checks": [r.__dict__ for r in self.rows],
        }
