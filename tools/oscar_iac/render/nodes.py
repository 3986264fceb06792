"""The `nodes` cloud: existing machines that IM contextualizes (DeployedNode connector)."""

from __future__ import annotations

from oscar_iac.render.context import template_context
from oscar_iac.render.tosca import render_tosca
from oscar_iac.site.load import LoadedSite


def nodes_tosca(loaded: LoadedSite, workers: int | None) -> str:
    """The TOSCA for the front and the first `workers` listed workers (secrets empty)."""
    return render_tosca(template_context(loaded, workers=workers))


def machines_stay_message(loaded: LoadedSite) -> str:
    """What `down` tells about a nodes cloud: IM forgets, the machines keep running."""
    return (
        f"the machines of site '{loaded.site.name}' stay as they are and keep running: "
        "IM's DeployedNode connector destroys nothing; what the roles installed stays too "
        "(playbooks/reset.yml removes it)"
    )
