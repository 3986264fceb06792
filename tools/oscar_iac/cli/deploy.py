"""`up`, `status`, `outputs`, `logs`, `scale`, `reconfigure`, `down`, `list` (IM targets)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from oscar_iac.im import lifecycle
from oscar_iac.im.state import state_path
from oscar_iac.render.context import nodes_cloud
from oscar_iac.render.nodes import machines_stay_message
from oscar_iac.site import load_site

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
SITE = typer.Argument(
    ..., help="Site folder (inventories/<site>) or its site.yml.", show_default=False
)
QUIET = typer.Option(False, "--quiet", "-q", help="No live progress view.")
TIMEOUT = typer.Option(3600.0, "--timeout", help="Seconds to wait for IM to finish.")


def _print_outputs(outputs: dict[str, object]) -> None:
    table = Table(title="outputs", box=None, show_header=False)
    for key, value in outputs.items():
        table.add_row(f"[bold]{key}[/]", str(value))
    out.print(table)


def up(site: Path = SITE, timeout: float = TIMEOUT, quiet: bool = QUIET) -> None:
    """Deploy a site through IM (create, or reconcile what the state file records).

    Shows infrastructure and per-VM states while waiting; ends with the outputs.
    Interrupted? Run it again: it resumes. Exit codes: 0 ok, 2 bad input, 1 failure.

    Example: oscar-iac up inventories/local
    """
    loaded = load_site(site)
    result = lifecycle.up(
        loaded, timeout=timeout, quiet=quiet, on_event=lambda m: err.print(f"· {m}")
    )
    dep = result.deployment
    out.print(
        f"[green]{result.action}[/]: infrastructure {dep.inf_id} on IM {dep.im_url} is configured"
    )
    _print_outputs(dep.outputs)
    if result.rendered.simulated:
        out.print("[yellow]simulated on this site[/] (IM's Dummy cloud):")
        for line in result.rendered.simulated:
            out.print(f"  - {line}")
    if result.rendered.skipped:
        out.print("[yellow]skipped on purpose[/] (the site's stack.role_vars):")
        for line in result.rendered.skipped:
            out.print(f"  - {line}")
    out.print(f"state: {state_path(loaded.site.name)}")


def status(
    site: Path = SITE, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Show the recorded deployment and IM's current infrastructure and VM states.

    Example: oscar-iac status inventories/local
    """
    dep, state = lifecycle.status(load_site(site))
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "infrastructure": dep.inf_id,
                    "phase": dep.phase,
                    "im": dep.im_url,
                    "workers": dep.workers,
                    "state": state,
                }
            )
        )
        return
    out.print(
        f"infrastructure {dep.inf_id} on IM {dep.im_url}: [bold]{state.get('state')}[/]"
        f" (recorded phase: {dep.phase}, workers: {dep.workers})"
    )
    for vm, vm_state in sorted((state.get("vm_states") or {}).items(), key=lambda kv: int(kv[0])):
        out.print(f"  VM {vm}: {vm_state}")


def outputs(
    site: Path = SITE,
    refresh: bool = typer.Option(
        False, "--refresh", help="Ask IM again instead of the state file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the cluster's outputs (OSCAR and MinIO endpoints; never credentials).

    Example: oscar-iac outputs inventories/local --json
    """
    values = lifecycle.outputs(load_site(site), refresh=refresh)
    if as_json:
        out.print_json(json.dumps(values))
    else:
        _print_outputs(values)


def logs(
    site: Path = SITE,
    vm: str | None = typer.Option(None, "--vm", help="One VM's log (its id, see `status`)."),
    tail: int = typer.Option(0, "--tail", "-n", help="Only the last N lines (0: all)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until IM finishes."),
) -> None:
    """Show IM's contextualization log for the infrastructure or one VM.

    Example: oscar-iac logs inventories/egi-example --vm 0 --tail 50
    """
    loaded = load_site(site)
    if follow:
        lifecycle.follow_logs(loaded, emit=out.print, vm=vm)
        return
    lines = lifecycle.logs(loaded, vm).splitlines()
    for line in lines[-tail:] if tail else lines:
        out.print(line, markup=False)


def scale(
    site: Path = SITE,
    workers: int = typer.Option(
        ..., "--workers", "-w", min=0, help="Number of CPU workers wanted."
    ),
    timeout: float = TIMEOUT,
    quiet: bool = QUIET,
) -> None:
    """Add or remove worker nodes on the existing infrastructure.

    Example: oscar-iac scale inventories/local --workers 4
    """
    dep = lifecycle.scale(load_site(site), workers, timeout=timeout, quiet=quiet)
    out.print(f"[green]scaled[/]: infrastructure {dep.inf_id} now has {dep.workers} worker(s)")


def reconfigure(site: Path = SITE, timeout: float = TIMEOUT, quiet: bool = QUIET) -> None:
    """Run the configure steps (the playbooks) again on every VM.

    Example: oscar-iac reconfigure inventories/egi-example
    """
    dep = lifecycle.reconfigure(load_site(site), timeout=timeout, quiet=quiet)
    out.print(f"[green]reconfigured[/]: infrastructure {dep.inf_id}")


def down(
    site: Path = SITE,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Destroy the infrastructure recorded for the site (asks first unless --yes).

    Example: oscar-iac down inventories/local --yes
    """
    loaded = load_site(site)
    existing = nodes_cloud(loaded.site) is not None
    if not yes:
        what = "(the machines stay)" if existing else "and all its VMs"
        typer.confirm(
            f"Destroy the infrastructure of site '{loaded.site.name}' {what}?", abort=True
        )
    dep = lifecycle.down(loaded)
    out.print(f"[green]destroyed[/]: infrastructure {dep.inf_id}")
    if existing:
        out.print(machines_stay_message(loaded))
        for entry in dep.history:
            if entry["event"].startswith("leftovers: ") and entry["at"] == dep.updated_at:
                out.print(f"  - {entry['event'].removeprefix('leftovers: ')}")


def list_(site: Path = SITE) -> None:
    """List the infrastructures the site's IM user owns on that IM.

    Example: oscar-iac list inventories/egi-example
    """
    for inf_id in lifecycle.list_infrastructures(load_site(site)):
        out.print(inf_id)


def preflight(site: Path = SITE) -> None:
    """Check a cloud site before `up`: token validity, VO membership, project; says what it
    could not check (offline, or without fedcloudclient/openstacksdk). Exit 1 if a check fails.

    Example: oscar-iac preflight inventories/egi-example
    """
    checks = lifecycle.run_preflight(load_site(site))
    for c in checks:
        style = {"ok": "green", "failed": "red"}.get(c.outcome, "yellow")
        out.print(f"[{style}]{c.outcome:>11}[/]  {c.name}: {c.detail}")
    if any(c.outcome == "failed" for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight)
    for fn in (up, status, outputs, logs, scale, reconfigure, down):
        app.command(fn.__name__)(fn)
    app.command("list")(list_)
