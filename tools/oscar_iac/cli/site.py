"""`oscar-iac validate` and `oscar-iac render`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from oscar_iac.cli import ui
from oscar_iac.errors import Problem, UserError
from oscar_iac.render import RenderedSite, render_site, summary_yaml
from oscar_iac.render.ansible_vars import dump_inventory
from oscar_iac.site import load_site

SITE_ARG = typer.Argument(
    ..., help="Site folder (inventories/<site>) or its site.yml.", show_default=False
)


def _validate(site: Path) -> RenderedSite:
    loaded = load_site(site)
    return render_site(loaded, translate=True)


def validate(site: Path = SITE_ARG) -> None:
    """Check a site: schema, cross-field rules, secret references, rendering, and IM's
    own TOSCA translator and RADL parser. Writes nothing.

    Example: oscar-iac validate inventories/local
    """
    loaded = load_site(site)
    ok = ui.text("ok", "green")
    if loaded.site.target.kind == "oscar":  # an existing OSCAR: no documents for IM
        tgt = loaded.site.target
        ui.line(
            ok,
            f"{loaded.site.name}: an existing OSCAR at {getattr(tgt, 'endpoint', '')} "
            f"({len(loaded.site.models)} model(s), {len(loaded.site.events)} event source(s))",
        )
        return
    rendered = render_site(loaded, translate=True)
    s = rendered.summary
    if rendered.inventory:  # the hosts target: Ansible on the hosts, IM is not involved
        groups = rendered.inventory["all"]["children"].values()
        hosts = sum(len(g.get("hosts", {})) for g in groups)
        how = f"; Ansible inventory of {hosts} host(s) for ansible-playbook (IM is not used)"
    else:
        how = f"; TOSCA translated by IM to {rendered.radl.count('system ')} RADL system(s)"
    ui.line(
        ok,
        f"{s['site']}: {s['target']}"
        + (f"/{s['cloud']}" if s["cloud"] else "")
        + f", cluster {s['cluster']}, {s['workers']} worker(s)"
        + how,
    )


def _write_all(out: Path, files: dict[str, str]) -> None:
    """Write every file or none: render into a temporary folder, then move into place."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".render-", dir=out))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
            os.chmod(tmp / name, 0o644)
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()


def render(
    site: Path = SITE_ARG,
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write into (created)."),
) -> None:
    """Render a site's documents: tosca.yaml (what IM deploys), radl.radl (IM's
    translation of it), native.radl (the RADL template), summary.yml and, for the
    hosts target, hosts.yml (Ansible inventory). Secrets are never written.

    Example: oscar-iac render inventories/egi-example -o out/egi
    """
    if output.exists() and not output.is_dir():
        raise UserError(Problem(output, "--output", "expected a folder, found a file"))
    rendered = _validate(site)
    files = {
        "tosca.yaml": rendered.tosca,
        "radl.radl": rendered.radl,
        "native.radl": rendered.native_radl,
        "summary.yml": summary_yaml(rendered),
    }
    if rendered.inventory:
        files["hosts.yml"] = dump_inventory(rendered.inventory)
    _write_all(output, files)
    for name in files:
        ui.line(f"wrote {output / name}")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("render")(render)
