"""Dispatch each event source of a site to its backend and gather the changes."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from typing import Literal

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.events.base import Change
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.state import site_state_dir

Operation = Literal["plan", "apply", "remove"]

# kind -> module implementing plan/apply/remove. Imported lazily: a backend that is
# missing or broken affects only the sources of its kind.
BACKENDS = {"minio": "oscar_iac.events.minio", "dcache": "oscar_iac.events.dcache"}


def _backend(kind: str, op: Operation) -> Callable[..., list[Change]]:
    module_name = BACKENDS.get(kind)
    if module_name is None:
        raise UserError(f"no event backend for kind '{kind}'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise DeploymentError(f"the '{kind}' event backend is not available: {e}") from e
    fn: Callable[..., list[Change]] = getattr(module, op)
    return fn


def _locate(loaded: LoadedSite, index: int, problem: Problem) -> Problem:
    """Name the real site file and line for problems a backend reports on 'site.yml'."""
    if str(problem.file) != "site.yml":
        return problem
    leaf = problem.field.rsplit(".", 1)[-1] if "." in problem.field else ""
    line = loaded.line(("events", index, leaf) if leaf else ("events", index))
    return dataclasses.replace(
        problem,
        file=loaded.path,
        field=f"events[{index}].{leaf}" if leaf else problem.field,
        line=line or problem.line,
    )


def run(
    loaded: LoadedSite,
    oscar: OscarConnection,
    op: Operation,
    only: str | None = None,
) -> list[Change]:
    """Run `op` on every event source (or only the one named `only`), in site order.

    `remove` goes in reverse order. A failure stops the run: what was already applied
    stays (apply is idempotent, so the next run resumes), and the error names the source.
    """
    sources = list(enumerate(loaded.site.events))
    if only is not None:
        sources = [(i, s) for i, s in sources if s.name == only]
        if not sources:
            names = ", ".join(s.name for s in loaded.site.events) or "none"
            raise UserError(
                Problem(loaded.path, "events", f"no event source named '{only}' (have: {names})")
            )
    if op == "remove":
        sources.reverse()
    resolver = SecretResolver(loaded.directory, site_state_dir(loaded.site.name))
    changes: list[Change] = []
    for index, source in sources:
        fn = _backend(source.kind, op)
        try:
            # Backends that need the site itself (dCache via NiFi: its name, NiFi's host)
            # take it as the keyword `site`.
            if "site" in inspect.signature(fn).parameters:
                changes.extend(fn(source, oscar, resolver, site=loaded))
            else:
                changes.extend(fn(source, oscar, resolver))
        except UserError as e:
            raise UserError([_locate(loaded, index, p) for p in e.problems] or str(e)) from e
    return changes
