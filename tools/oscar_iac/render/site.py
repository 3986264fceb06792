"""One site rendered: its TOSCA (checked by IM's own translator), native RADL, Ansible
inventory (hosts target), the steps left undone and a summary; no secret in any of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from oscar_iac.errors import Problem, UserError
from oscar_iac.render.ansible_vars import hosts_inventory, skipped_steps
from oscar_iac.render.context import (
    SECRET_INPUTS,
    is_dummy,
    key_refs,
    secret_refs,
    template_context,
)
from oscar_iac.render.radl import render_radl
from oscar_iac.render.tosca import render_tosca, with_inputs
from oscar_iac.render.translate import check_radl, tosca_to_radl
from oscar_iac.site.load import LoadedSite

# Stand-in secret values used only to let the translator check a document.
_PLACEHOLDER = "oscar-iac-placeholder"


@dataclass(frozen=True)
class RenderedSite:
    """Everything rendered for one site. Holds no secret."""

    tosca: str  # TOSCA YAML to submit to IM (secret inputs empty)
    radl: str  # RADL that IM's own translator made of `tosca`
    native_radl: str  # the native RADL template's rendering
    summary: dict[str, Any]
    simulated: list[str] = field(default_factory=list)
    inventory: dict[str, Any] = field(default_factory=dict)  # hosts target only
    # Steps the roles leave undone on purpose (site role variables), with the reason.
    skipped: list[str] = field(default_factory=list)


def _require_local_entry_playbooks(loaded: LoadedSite, ctx: dict[str, Any]) -> None:
    """IM falls back to downloading a missing implementation from GitHub; refuse first."""
    if not ctx["contextualize"]:
        return
    for conf in ctx["configure_nodes"]:
        path = Path(urlparse(conf["playbook"]).path)
        if not path.is_file():
            raise UserError(
                Problem(
                    loaded.path, "artifacts", f"entry playbook {path} is missing from this checkout"
                )
            )


def render_site(loaded: LoadedSite, *, translate: bool = True) -> RenderedSite:
    """Render every document of a site; with `translate`, check them with IM's code."""
    site = loaded.site
    ctx = template_context(loaded)
    tosca = render_tosca(ctx)
    # Entry playbooks as this checkout's files: RADL inlines them, and IM's translator
    # would download http(s) ones (only those URLs differ from `tosca`).
    offline_ctx = template_context(loaded, offline=True)
    native = render_radl(offline_ctx)
    radl = ""
    if translate:
        _require_local_entry_playbooks(loaded, offline_ctx)
        offline_tosca = render_tosca(offline_ctx)
        placeholders = {name: _PLACEHOLDER for name in (*SECRET_INPUTS, *key_refs(site))}
        radl = tosca_to_radl(with_inputs(offline_tosca, placeholders), loaded.path)
        radl = radl.replace(_PLACEHOLDER, "<secret>")
        check_radl(native, loaded.path, what="native RADL template")
    simulated: list[str] = []
    if is_dummy(site):
        simulated = [
            "VMs: IM's Dummy cloud reports them running at once (IP 10.0.0.1); nothing is booted",
            "contextualization: no configure steps are sent, so no playbook runs on the fake VMs",
            "outputs: endpoints are computed from the site, nothing answers there",
        ]
    summary = {
        "site": site.name,
        "target": site.target.kind,
        "cloud": getattr(getattr(site.target, "cloud", None), "kind", None),
        "cluster": site.cluster.fqdn,
        "workers": site.cluster.workers.count,
        "gpu_workers": site.cluster.gpu_workers.count,
        "kubernetes": site.stack.kubernetes.flavour,
        "knative": site.stack.knative.enabled,
        "nifi": site.stack.nifi.enabled,
        "tls": site.stack.ingress.tls.mode,
        "oidc": site.stack.oidc.enabled,
        "models": [m.module for m in site.models],
        "events": [f"{e.kind}:{e.name}" for e in site.events],
        "contextualize": ctx["contextualize"],
        "repo_url": ctx["repo_url"],
        "entry_url": ctx["entry_url"],
        "secrets": "TOSCA inputs "
        + ", ".join(SECRET_INPUTS)
        + " are empty here; `up` fills the env:/file:/vault: ones (IM stores them), "
        "`generate` ones are made on the front node and never sent to IM",
        "role_vars": ctx["role_vars"],
    }
    inventory = hosts_inventory(site, secret_refs(site))
    return RenderedSite(
        tosca=tosca,
        radl=radl,
        native_radl=native,
        summary=summary,
        simulated=simulated,
        inventory=inventory,
        skipped=skipped_steps(ctx["role_vars"]),
    )


def summary_yaml(rendered: RenderedSite) -> str:
    return yaml.safe_dump({**rendered.summary, "simulated": rendered.simulated}, sort_keys=False)
