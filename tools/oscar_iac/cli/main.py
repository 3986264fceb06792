"""Entry point of `oscar-iac`. Each area registers its commands from its own module."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from oscar_iac import __version__
from oscar_iac.cli import airgap, deploy, events, manifests, models, preflight, services, site
from oscar_iac.errors import DeploymentError, OscarIacError, UserError

app = typer.Typer(
    name="oscar-iac",
    help=(
        "Turn one site description (inventories/<site>/site.yml) into a working OSCAR "
        "AI-models-as-a-service platform.\n\n"
        "Example: oscar-iac validate inventories/local && oscar-iac up inventories/local"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (site, deploy, preflight, models, services, events, manifests, airgap):
    module.register(app)


@app.command("version")
def version() -> None:
    """Print the oscar-iac version.

    Example: oscar-iac version
    """
    typer.echo(__version__)


err_console = Console(stderr=True, highlight=False)


def report(exc: OscarIacError) -> int:
    """Print an error the way every command does; return its exit code."""
    label = "error" if isinstance(exc, UserError) else "failed"
    for line in str(exc).splitlines() or [type(exc).__name__]:
        err_console.print(f"[bold red]{label}:[/] {line}", markup=True, soft_wrap=True)
    if isinstance(exc, DeploymentError):
        for hint in exc.hints:
            err_console.print(f"  next: {hint}", soft_wrap=True)
    return exc.exit_code


def run() -> None:
    """Console entry point: Typer handles usage errors (exit 2) and Ctrl-C; we handle ours."""
    try:
        app()
    except OscarIacError as exc:
        sys.exit(report(exc))
