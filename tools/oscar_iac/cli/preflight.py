"""`oscar-iac preflight` and `oscar-iac discover`; `gate` is the check `up` runs first."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from oscar_iac.cli import ui
from oscar_iac.errors import DeploymentError
from oscar_iac.preflight.report import Report
from oscar_iac.site import load_site

SITE = typer.Argument(
    ..., help="Site folder (inventories/<site>) or its site.yml.", show_default=False
)
AS_JSON = typer.Option(False, "--json", help="Print JSON.")
STYLE = {"ok": "green", "failed": "red", "not checked": "yellow"}
VERDICT = {
    "ready": ("green", "the site has what this deployment needs"),
    "missing": ("red", "the site lacks what the failed rows name"),
    "unchecked": ("yellow", "some checks could not run (see the rows)"),
}


def print_report(report: Report) -> None:
    table = Table(title=Text(f"preflight: {report.site}"), show_lines=False)
    table.add_column("check", no_wrap=True)
    for col in ("needed", "available", "result", "detail"):
        table.add_column(col, overflow="fold")
    for r in report.rows:
        s = STYLE[r.outcome]
        # Cells come from the cloud's answers (names, messages): text, never Rich markup.
        table.add_row(
            Text(r.check), Text(r.needed), Text(r.available), Text(r.outcome, s), Text(r.detail)
        )
    ui.show(table)
    colour, meaning = VERDICT[report.verdict]
    ui.line(
        "verdict:",
        ui.text(f"{report.verdict}:", colour),
        f"{meaning}  ({report.requests} API requests)",
    )
    if report.verdict != "ready":
        for line in report.summary().splitlines():
            ui.line(line)


def preflight(site: Path = SITE, as_json: bool = AS_JSON) -> None:
    """Check a cloud site before `up`, needed against available: compute limits (cores,
    RAM, instances), volumes for boot disks and NFS, floating IPs, security groups, the
    flavour IM would pick per role, the image, a public network. EGI sites: the Check-in
    token through Keystone's OIDC federation, the VO's project. Exit 0 ready, 1 missing or
    not checked, 2 bad input.

    Example: oscar-iac preflight inventories/egi-example
    """
    from oscar_iac.preflight import openstack as po  # openstacksdk: only when needed

    report = po.run(load_site(site))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    if report.verdict != "ready":
        raise typer.Exit(1)


def discover(site: Path = SITE, as_json: bool = AS_JSON) -> None:
    """List the flavours, images and external networks of the site's project, to help fill
    in site.yml (cluster.*.cpus/memory or instance_type, cluster.image.url).

    Example: oscar-iac discover inventories/egi-example --json
    """
    from oscar_iac.preflight import connect as cx
    from oscar_iac.preflight import openstack as po

    try:
        inv = po.discover(load_site(site))
    except cx.Unreachable as exc:
        raise DeploymentError(f"could not list the site's project: {exc}") from exc
    if as_json:
        typer.echo(json.dumps(inv.as_dict(), indent=2))
        return
    # Names below come from the cloud: printed as text, never parsed as Rich markup.
    ui.line(f"project {inv.project_name} ({inv.project_id}) on {inv.site}")
    flav = Table(title=f"flavours ({len(inv.flavours)})")
    for col in ("name", "vCPU", "RAM MiB", "disk GB", "extra"):
        flav.add_column(col)
    for f in inv.flavours:
        extra = ("disabled " if f.disabled else "") + f.gpu_label.lstrip(", ")
        flav.add_row(Text(f.name), str(f.vcpus), str(f.ram_mib), str(f.disk_gb), Text(extra))
    ui.show(flav)
    imgs = Table(title=f"images ({len(inv.images)})")
    for col in ("name", "visibility", "status", "IM url"):
        imgs.add_column(col, overflow="fold")
    for i in inv.images:
        imgs.add_row(*(Text(str(i[k])) for k in ("name", "visibility", "status", "url")))
    ui.show(imgs)
    ui.line("external networks: " + (", ".join(n["name"] for n in inv.networks) or "none"))


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight)
    app.command("discover")(discover)
