"""`oscar-iac manifests validate`: check rendered Kubernetes objects offline."""

from __future__ import annotations

from pathlib import Path

import typer

from oscar_iac.cli import ui
from oscar_iac.errors import UserError
from oscar_iac.kube.validate import kubernetes_version, manifest_files, validate_files

manifests_app = typer.Typer(
    help=(
        "Kubernetes objects the roles render (kept on the front under /etc/oscar-iac/manifests "
        "for review).\n\nExample: oscar-iac manifests validate ./manifests"
    ),
    no_args_is_help=True,
)


@manifests_app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(..., help="Manifest files or folders of them."),
    kubernetes: str | None = typer.Option(
        None, "--kubernetes", help="Kubernetes version (default: the one pinned with k3s)."
    ),
) -> None:
    """Validate manifests offline against the pinned Kubernetes version (strict).

    Built-in kinds use the Kubernetes OpenAPI schemas of that version; k3s HelmCharts
    and cert-manager ClusterIssuers use the project's schemas. Exit 2 on any problem.

    Example: oscar-iac manifests validate /etc/oscar-iac/manifests
    """
    version = kubernetes or kubernetes_version()
    files = manifest_files(paths)
    missing = [p for p in files if not p.is_file()]
    if missing or not files:
        raise UserError(f"no manifest file at: {', '.join(map(str, missing or paths))}")
    checked, problems = validate_files(files, version)
    if problems:
        raise UserError(problems)
    for item in checked:
        ui.line(f"ok  {item.kind:<22} {item.name:<32} {item.file}")
    ui.line(f"{len(checked)} objects valid for Kubernetes {version}")


def register(app: typer.Typer) -> None:
    app.add_typer(manifests_app, name="manifests")
