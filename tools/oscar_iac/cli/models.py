"""`oscar-iac models list|fdl`: the catalog and the OSCAR services made from it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from oscar_iac import registry
from oscar_iac.catalog import CatalogModel, read_folder
from oscar_iac.errors import UserError
from oscar_iac.fdl import fdl_document, service_definition
from oscar_iac.oscar import connection_for
from oscar_iac.site import load_site
from oscar_iac.site.load import LoadedSite
from oscar_iac.state import lock

models_app = typer.Typer(
    help="Catalog models as OSCAR services.\n\nExample: oscar-iac models list --catalog ./catalog --inference-only",
    no_args_is_help=True,
)
out = Console(highlight=False)
CATALOG = typer.Option(
    None, "--catalog", help="A folder of catalog modules (a git checkout or metadata only)."
)
SITE = typer.Option(
    None,
    "--site",
    help="Take the catalog from this site's `catalog:` (folder, git checkout or catalog API).",
)
REFRESH = typer.Option(
    False,
    "--refresh",
    help="Catalog API: fetch again instead of using the site's cached copy.",
)
err = Console(stderr=True, highlight=False)


def _note(cat: registry.SiteCatalog) -> None:
    """Where an API catalog's data came from and how old it is (stderr: --json stays clean)."""
    if cat.note:
        err.print(cat.note, soft_wrap=True)
    for warning in cat.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)


def _load(loaded: LoadedSite, modules: list[str] | None, refresh: bool) -> registry.SiteCatalog:
    """The site's catalog, with a progress bar while a catalog API is being fetched."""
    with Progress(
        TextColumn("catalog API"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("modules", total=None)
        cat = registry.load_catalog(
            loaded,
            modules=modules,
            refresh=refresh,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    _note(cat)
    return cat


def _catalog(
    catalog: Path | None, site: Path | None, refresh: bool, modules: list[str] | None = None
) -> list[CatalogModel]:
    if catalog is not None:
        return read_folder(catalog)
    if site is not None:
        return list(_load(load_site(site, check_secrets=False), modules, refresh).models.values())
    raise UserError("say where the catalog is: --catalog DIR or --site SITE")


def _site_catalog(loaded: LoadedSite, refresh: bool) -> dict[str, CatalogModel]:
    return _load(loaded, [m.module for m in loaded.site.models], refresh).models


@models_app.command("list")
def list_(
    catalog: Path | None = CATALOG,
    site: Path | None = SITE,
    inference_only: bool = typer.Option(False, "--inference-only", help="Only servable models."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    wide: bool = typer.Option(
        False, "--wide", help="No width limit (whole cells even on a narrow terminal)."
    ),
    refresh: bool = REFRESH,
) -> None:
    """List catalog models: name, title, image, resources. Module ids and image names
    are never cut (piped output has no width limit); titles are shortened on a narrow
    terminal unless --wide.

    Example: oscar-iac models list --catalog ../shared/catalog --inference-only

    Example: oscar-iac models list --site inventories/egi-example --refresh
    """
    from rich.text import Text

    from oscar_iac.cli import ui

    models = [m for m in _catalog(catalog, site, refresh) if m.inference or not inference_only]
    if as_json:
        rows = [
            {
                "module": m.module,
                "title": m.title,
                "image": m.image,
                "inference": m.inference,
                "cpu": m.resources.cpu,
                "memory_mb": m.resources.memory_mb,
                "gpu": m.resources.gpu,
                "metadata": str(m.source),
            }
            for m in models
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None)
    # Module ids and images are what users copy: never shortened (min_width = longest).
    table.add_column(
        "module", no_wrap=True, min_width=max((len(m.module) for m in models), default=6)
    )
    table.add_column("title", overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column(
        "image", no_wrap=True, min_width=max((len(m.image) for m in models), default=5)
    )
    for col in ("cpu", "memory", "gpu", "inference"):
        table.add_column(col, no_wrap=True)
    for m in models:
        r = m.resources
        table.add_row(
            Text(m.module),
            Text(m.title),
            Text(m.image),
            f"{r.cpu:g}",
            f"{r.memory_mb} MB",
            str(r.gpu),
            "yes" if m.inference else "no",
        )
    console = ui.out()
    if wide:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True, width=ui.UNLIMITED)
    console.print(table)


@models_app.command("fdl")
def fdl(
    module: str = typer.Argument(..., help="Catalog module id, e.g. ai4os-demo-app."),
    catalog: Path | None = CATALOG,
    site: Path | None = SITE,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the FDL here (default: stdout)."
    ),
    cluster_id: str = typer.Option("oscar", "--cluster-id", help="Cluster id in the FDL."),
    refresh: bool = REFRESH,
) -> None:
    """Print (or write) the OSCAR service definition (FDL) for one catalog model.

    Example: oscar-iac models fdl ai4os-demo-app --catalog ../shared/catalog -o demo.yaml
    """
    models = {m.module: m for m in _catalog(catalog, site, refresh, [module])}
    if module not in models:
        raise UserError(f"module {module!r} is not in the catalog; see: oscar-iac models list")
    if not models[module].inference:
        raise UserError(
            f"module {module!r} is not an inference model (no 'AI4 inference' category)"
        )
    spec = None
    if site is not None:
        specs = {s.module: s for s in load_site(site, check_secrets=False).site.models}
        spec = specs.get(module)
    text = yaml.safe_dump(
        fdl_document([service_definition(models[module], spec)], cluster_id), sort_keys=False
    )
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        out.print(f"wrote {output}", markup=False)


SITE_ARG = typer.Argument(
    ..., help="Site folder (inventories/<site>) or its site.yml.", show_default=False
)
ENDPOINT = typer.Option(
    None, "--oscar-endpoint", help="OSCAR URL; default: from the deployment state."
)
USER = typer.Option(
    None, "--oscar-user", help="OSCAR user; default: the site's stack.oscar.username."
)


def _show(changes: list[registry.ServiceChange]) -> None:
    from rich.text import Text

    from oscar_iac.cli import ui

    table = Table("service", "action", "module", box=None)
    for c in changes:
        style = {"create": "green", "update": "yellow", "delete": "red"}.get(c.action, "dim")
        table.add_row(Text(c.service), Text(c.action, style=style), Text(c.module))
    ui.out().print(table)


@models_app.command("plan")
def plan(
    site: Path = SITE_ARG,
    oscar_endpoint: str | None = ENDPOINT,
    oscar_user: str | None = USER,
    refresh: bool = REFRESH,
) -> None:
    """Show what `models apply` would create, update or delete on the cluster's OSCAR.

    Example: OSCAR_PASSWORD=... oscar-iac models plan inventories/egi-example

    A catalog API (catalog.source: api) is read from the site's cached copy when it has
    the site's models (its age is printed); OSCAR_IAC_CATALOG_API=URL overrides the
    site's catalog.location (a mirror or a test double).
    """
    loaded = load_site(site)
    models = _site_catalog(loaded, refresh)
    conn = connection_for(loaded, oscar_endpoint, oscar_user, "models plan")
    _show(registry.plan(conn, loaded, catalog=models))


@models_app.command("apply")
def apply(
    site: Path = SITE_ARG,
    oscar_endpoint: str | None = ENDPOINT,
    oscar_user: str | None = USER,
    refresh: bool = REFRESH,
) -> None:
    """Register the site's models as OSCAR services (concurrently; a second run changes nothing).

    Example: oscar-iac models apply inventories/egi-example
    """
    loaded = load_site(site)
    with lock(loaded.site.name):  # one command changes a site at a time
        models = _site_catalog(loaded, refresh)
        conn = connection_for(loaded, oscar_endpoint, oscar_user, "models apply")
        _show(registry.apply(conn, loaded, catalog=models))


@models_app.command("remove")
def remove(
    site: Path = SITE_ARG, oscar_endpoint: str | None = ENDPOINT, oscar_user: str | None = USER
) -> None:
    """Remove the OSCAR services this tool created for the site (and only those).

    Example: oscar-iac models remove inventories/egi-example
    """
    loaded = load_site(site)
    with lock(loaded.site.name):
        conn = connection_for(loaded, oscar_endpoint, oscar_user, "models remove")
        _show(registry.apply(conn, loaded, remove_all=True))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
