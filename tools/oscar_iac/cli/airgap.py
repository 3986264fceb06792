"""`oscar-iac airgap list|fetch|verify`: the local artifact folder of air-gap mode."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import requests
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from oscar_iac.airgap import Artifact, Status, artifacts, fetch, status
from oscar_iac.cli import ui
from oscar_iac.errors import DeploymentError, UserError

airgap_app = typer.Typer(
    help=(
        "Air-gap mode: a local folder with every pinned artifact (k3s binary and images, "
        "chart archives, release manifests). Point a site at it with `artifacts.airgap_dir`; "
        "the roles then download nothing and check each file's sha256.\n\n"
        "Example: oscar-iac airgap fetch ./airgap && oscar-iac airgap verify ./airgap"
    ),
    no_args_is_help=True,
)
VERSIONS = typer.Option(
    None, "--versions", help="Another versions file (default: the project's versions.yml)."
)
FOLDER = typer.Argument(..., help="The air-gap artifact folder.")


def _table(rows: list[tuple[Artifact, str]]) -> Table:
    table = Table("component", "artifact", "status", "sha256", box=None)
    for art, state in rows:
        colour = "green" if state == Status.OK.value else "red"
        sha = art.sha256 if not ui.is_terminal() else art.sha256[:16]
        table.add_row(ui.safe(art.component), ui.safe(art.name), ui.safe(state, colour), sha or "-")
    return table


def _summary(states: list[Status]) -> None:
    bad = [s for s in states if s is not Status.OK]
    if bad:
        counts = {s.value: bad.count(s) for s in set(bad)}
        raise DeploymentError(
            f"{len(bad)} of {len(states)} artifacts are not usable: "
            + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
            hints=[
                "pin a missing sha256 in versions.yml from the project's published checksums",
                "re-run `oscar-iac airgap fetch DIR` on a machine that reaches the URLs",
            ],
        )


@airgap_app.command("list")
def list_(
    versions: Path | None = VERSIONS,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every artifact an air-gap folder must hold, with its URL and sha256.

    Example: oscar-iac airgap list --json
    """
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(a) for a in artifacts(versions)], indent=2))
        return
    table = Table("component", "artifact", "sha256", "url", box=None)
    for art in artifacts(versions):
        sha = ui.safe(art.sha256) if art.sha256 else ui.safe("not pinned", "red")
        table.add_row(ui.safe(art.component), ui.safe(art.name), sha, ui.safe(art.url))
    ui.show(table)


@airgap_app.command("verify")
def verify(folder: Path = FOLDER, versions: Path | None = VERSIONS) -> None:
    """Check a folder: every artifact present with its pinned sha256 (exit 1 otherwise).

    Example: oscar-iac airgap verify ./airgap
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    rows = [(art, status(art, folder)) for art in artifacts(versions)]
    ui.show(_table([(a, s.value) for a, s in rows]))
    _summary([s for _, s in rows])


@airgap_app.command("fetch")
def fetch_(folder: Path = FOLDER, versions: Path | None = VERSIONS) -> None:
    """Download every pinned artifact into a folder, each checked against its sha256.

    Present and valid files are kept; a download whose sha256 differs is thrown away.
    Unpinned artifacts are not fetched (and reported). Run it where the URLs can be
    reached, then carry the folder to the air-gapped site.

    Example: oscar-iac airgap fetch ./airgap
    """
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: exists and is not a folder")
    rows: list[tuple[Artifact, Status]] = []
    with (
        requests.Session() as session,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=ui.out(),
            transient=True,
            disable=not ui.is_terminal(),
        ) as bar,
    ):
        for art in artifacts(versions):
            task = bar.add_task(art.name, total=None)

            def advance(done: int, total: int | None, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                state = fetch(art, folder, session=session, progress=advance)
            except requests.RequestException as exc:
                ui.err_line(str(exc), label=art.name, style="red")
                state = Status.MISSING
            bar.remove_task(task)
            rows.append((art, state))
    ui.show(_table([(a, s.value) for a, s in rows]))
    _summary([s for _, s in rows])


@airgap_app.command("pin")
def pin_(
    site: Path = typer.Argument(..., help="The site folder (or its site.yml)."),
    versions: Path | None = VERSIONS,
) -> None:
    """Record the sha256 of the artifacts versions.yml leaves unpinned (`record: first-fetch`).

    Each one this site needs is downloaded once, checked against its release's checksum
    list where versions.yml names one (Knative's checksums.txt), and its sha256 recorded
    in the site's state folder (artifact-pins.json, 0600). Every later download, on every
    node, is checked against it. `oscar-iac up` does the same before it creates anything.

    Example: oscar-iac airgap pin inventories/egi-example
    """
    from oscar_iac.airgap import pins
    from oscar_iac.site import load_site
    from oscar_iac.state import site_state_dir

    loaded = load_site(site)
    state = site_state_dir(loaded.site.name)
    names = pins.needed_for(loaded.site, versions)
    recorded = pins.ensure(state, names, path=versions, on_event=lambda m: ui.line(m))
    table = Table("artifact", "sha256", box=None)
    for name in names:
        table.add_row(ui.safe(name), ui.safe(recorded.get(name, "not recorded")))
    ui.show(table)
    ui.line(f"pins: {pins.pin_file(state)}")


def register(app: typer.Typer) -> None:
    app.add_typer(airgap_app, name="airgap")
