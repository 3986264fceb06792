"""`up`, `down` (phases), and `status`, `outputs`, `logs`, `scale`, `reconfigure`, `list`,
`preflight` (the IM infrastructure).

Library modules are imported inside the commands: `oscar-iac --help` and the fast
commands (`outputs`, `status`) must not pay for IM, oscar-python or MinIO.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from oscar_iac.cli import bounds, ui

if TYPE_CHECKING:
    from oscar_iac.site.load import LoadedSite

# The phase names of `up`, in order (oscar_iac.phases.run.PHASES; a test checks they match).
PHASE_NAMES = "preflight, infrastructure, platform, models, events, smoke, summary"
SITE = typer.Argument(
    ..., help="Site folder (inventories/<site>) or its site.yml.", show_default=False
)
QUIET = typer.Option(False, "--quiet", "-q", help="No live progress view.")
TIMEOUT = typer.Option(
    3600.0, "--timeout", callback=bounds.timeout, help="Seconds to wait for IM to finish."
)
SYMBOL = {
    "done": "ok",
    "done earlier": "ok",
    "failed": "FAILED",
    "skipped": "skip",
    "not-applicable": "n/a",
    "removed": "ok",
    "stopped": "ok",
    "nothing to remove": "ok",
    "gone": "gone",
    "unreachable": "FAILED",
    "kept": "kept",
}
STYLE = {"ok": "green", "FAILED": "bold red", "gone": "yellow", "kept": "yellow"}


def _load(site: Path) -> LoadedSite:
    from oscar_iac.site import load_site

    return load_site(site)


def _print_outputs(outputs: dict[str, object]) -> None:
    """`key: value` lines in a stable (sorted) order; values printed as text. A value IM
    did not report (null) says so instead of Python's `None`."""
    for key in sorted(outputs):
        value = outputs[key]
        shown = "(not reported by IM)" if value is None else str(value)
        ui.line(ui.text(f"{key}:", "bold"), shown)


class CliReporter:
    """Phase results on stdout (one line each); progress on stderr (changes only)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = ""

    def start(self, phase: str) -> None:
        self.last = ""

    def progress(self, message: str) -> None:
        if not self.quiet and message != self.last:
            self.last = message
            ui.err_line(f"  · {message}")

    def info(self, message: str) -> None:
        ui.line(message)

    def end(self, phase: str, status: str, detail: str) -> None:
        mark = SYMBOL.get(status, status)
        word = "" if status in ("done", "removed") else f"({status}) "
        ui.line(ui.text(f"{mark:>6}", STYLE.get(mark, "")), f"{phase:<15} {word}{detail}")


def _phases(flag: list[str] | None) -> set[str]:
    return {p.strip() for item in flag or [] for p in item.split(",") if p.strip()}


def up(
    site: Path = SITE,
    only: list[str] | None = typer.Option(
        None,
        "--only",
        callback=bounds.phases,
        help=f"Run only these phases (repeat or comma-separate): {PHASE_NAMES}.",
    ),
    skip: list[str] | None = typer.Option(
        None,
        "--skip",
        callback=bounds.phases,
        help=f"Do not run these phases (repeat or comma-separate): {PHASE_NAMES}.",
    ),
    timeout: float = TIMEOUT,
    platform_timeout: float = typer.Option(
        900.0,
        "--platform-timeout",
        callback=bounds.timeout,
        help="Seconds to wait for OSCAR to answer.",
    ),
    quiet: bool = QUIET,
    ignore_preflight: bool = typer.Option(
        False, "--ignore-preflight", help="Deploy even if preflight finds something missing."
    ),
) -> None:
    """Deploy a site: preflight, infrastructure, platform ready, models, events, smoke
    test, summary. Each phase is recorded in the site's state file; an interrupted `up`
    resumes at the phase that did not finish.

    Phases run depend on the target: a cloud or your hosts get all of them, an existing
    OSCAR (target kind `oscar`) starts at `platform`, the embedded default stops after
    the infrastructure (its Dummy cloud boots nothing). Exit codes: 0 ok, 2 bad input,
    1 failure.

    Example: oscar-iac up inventories/local
    Example: oscar-iac up inventories/mysite --only models,events
    """
    from oscar_iac import phases

    loaded = _load(site)
    quiet = quiet or not sys.stderr.isatty()
    report = phases.up(
        loaded,
        only=_phases(only),
        skip=_phases(skip),
        timeout=timeout,
        platform_timeout=platform_timeout,
        quiet=quiet,
        reporter=CliReporter(quiet),
        ignore_preflight=ignore_preflight,
    )
    ui.line(ui.text("summary", "bold"), f"(site {loaded.site.name})")
    for entry in report.summary:
        ui.line(f"  {entry}")


def status(
    site: Path = SITE, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Show the site's recorded phases, and IM's infrastructure and VM states.

    Example: oscar-iac status inventories/local
    """
    from oscar_iac import state as st
    from oscar_iac.im import lifecycle
    from oscar_iac.site.model import ImTarget

    loaded = _load(site)
    st.claim(loaded, create=False)
    dep = st.load(loaded.site.name)
    state: dict[str, object] = {}
    has_infra = dep is not None and bool(dep.inf_id) and dep.phase != "destroyed"
    if isinstance(loaded.site.target, ImTarget) or has_infra:
        dep, state = lifecycle.status(loaded)
    elif dep is None or not dep.phases:
        from oscar_iac.errors import UserError

        raise UserError(
            f"site '{loaded.site.name}' has no deployment recorded; "
            f"run: oscar-iac up {loaded.directory}"
        )
    assert dep is not None
    if as_json:
        doc = {
            "infrastructure": dep.inf_id,
            "phase": dep.phase,
            "im": dep.im_url,
            "workers": dep.workers,
            "state": state,
            "phases": dep.phases,
            "run": dep.run,
        }
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    if state:
        ui.line(
            f"infrastructure {dep.inf_id} on IM {dep.im_url}:",
            ui.text(str(state.get("state")), "bold"),
            f"(recorded: {dep.phase}, workers: {dep.workers})",
        )
        vms = state.get("vm_states") or {}
        assert isinstance(vms, dict)
        for vm, vm_state in sorted(vms.items(), key=lambda kv: int(kv[0])):
            ui.line(f"  VM {vm}: {vm_state}")
    if dep.run:
        ui.line(f"last up: {dep.run.get('status', '?')}")
    from oscar_iac.phases.run import PHASES

    for name in sorted(dep.phases, key=lambda p: PHASES.index(p) if p in PHASES else 99):
        rec = dep.phases[name]
        ui.line(f"  {name:<15} {rec.get('status', '?'):<15} {rec.get('detail', '')}")


def outputs(
    site: Path = SITE,
    refresh: bool = typer.Option(
        False, "--refresh", help="Ask IM again instead of the state file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the cluster's outputs (OSCAR and MinIO endpoints; never credentials), sorted.

    Example: oscar-iac outputs inventories/local --json
    """
    loaded = _load(site)
    if refresh:
        from oscar_iac.im import lifecycle

        values = lifecycle.outputs(loaded, refresh=True)
    else:  # the state file only: no IM, no network
        from oscar_iac import state as st

        st.claim(loaded, create=False)
        dep = st.load(loaded.site.name)
        if dep is None or not dep.outputs:
            from oscar_iac.errors import UserError

            raise UserError(
                f"site '{loaded.site.name}' has no outputs recorded; "
                f"run: oscar-iac up {loaded.directory}"
            )
        values = dep.outputs
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True))
    else:
        _print_outputs(values)


def logs(
    site: Path = SITE,
    vm: str | None = typer.Option(None, "--vm", help="One VM's log (its id, see `status`)."),
    tail: int = typer.Option(0, "--tail", "-n", min=0, help="Only the last N lines (0: all)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until IM finishes."),
) -> None:
    """Show IM's contextualization log for the infrastructure or one VM.

    Example: oscar-iac logs inventories/egi-example --vm 0 --tail 50
    """
    from oscar_iac.im import lifecycle

    loaded = _load(site)
    if follow:
        lifecycle.follow_logs(loaded, emit=lambda s: ui.line(s), vm=vm)
        return
    lines = lifecycle.logs(loaded, vm).splitlines()
    for text in lines[-tail:] if tail else lines:
        ui.line(text)


def scale(
    site: Path = SITE,
    workers: int = typer.Option(
        ..., "--workers", "-w", callback=bounds.workers, help="Number of CPU workers wanted."
    ),
    timeout: float = TIMEOUT,
    quiet: bool = QUIET,
) -> None:
    """Add or remove worker nodes on the existing infrastructure.

    Example: oscar-iac scale inventories/local --workers 4
    """
    from oscar_iac.im import lifecycle

    dep = lifecycle.scale(_load(site), workers, timeout=timeout, quiet=quiet)
    ui.line(
        ui.text("scaled", "green"), f"infrastructure {dep.inf_id} now has {dep.workers} worker(s)"
    )


def reconfigure(site: Path = SITE, timeout: float = TIMEOUT, quiet: bool = QUIET) -> None:
    """Run the configure steps (the playbooks) again on every VM.

    Example: oscar-iac reconfigure inventories/egi-example
    """
    from oscar_iac.im import lifecycle

    dep = lifecycle.reconfigure(_load(site), timeout=timeout, quiet=quiet)
    ui.line(ui.text("reconfigured", "green"), f"infrastructure {dep.inf_id}")


def down(
    site: Path = SITE,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Undo `up` in reverse: event wiring, registered models, then the infrastructure
    (and the embedded IM server). Goes on past a system that is already gone, saying so.
    Asks first unless --yes.

    Example: oscar-iac down inventories/local --yes
    """
    from oscar_iac import phases

    loaded = _load(site)
    from oscar_iac.render.context import nodes_cloud

    existing = nodes_cloud(loaded.site) is not None
    if not yes:
        what = "(the machines stay)" if existing else "and all its VMs"
        question = (
            f"Remove what `up` made for site '{loaded.site.name}' (events, models, "
            f"infrastructure {what})?"
        )
        try:
            agreed = typer.confirm(question)
        except typer.Abort:  # end of input or Ctrl-C at the prompt: a "no"
            agreed = False
            ui.err_line("")
        if not agreed:
            ui.err_line(
                f"nothing removed: site '{loaded.site.name}' keeps its event wiring, models "
                f"and infrastructure (`oscar-iac down {site} --yes` removes them without asking)"
            )
            raise typer.Exit(1)
    phases.down(loaded, reporter=CliReporter(quiet=True))


def list_(site: Path = SITE) -> None:
    """List the infrastructures the site's IM user owns on that IM.

    Example: oscar-iac list inventories/egi-example
    """
    from oscar_iac.im import lifecycle

    for inf_id in lifecycle.list_infrastructures(_load(site)):
        ui.line(inf_id)


def register(app: typer.Typer) -> None:
    for fn in (up, status, outputs, logs, scale, reconfigure, down):
        app.command(fn.__name__)(fn)
    app.command("list")(list_)
