"""Site -> documents: TOSCA and RADL for IM, Ansible inventory/vars, and a summary.

site.py           one site rendered (RenderedSite, render_site, summary_yaml)
context.py        the template context drawn from the site (and its secret references)
tosca.py, radl.py the IM documents; translate.py checks them with IM's own code
ansible_vars.py   the hosts target's inventory and role variables
nodes.py          the `nodes` cloud (existing machines IM contextualizes)
jinja.py          the one strict Jinja2 environment for templates/
"""

from __future__ import annotations

from oscar_iac.render.context import SECRET_INPUTS, secret_refs
from oscar_iac.render.site import RenderedSite, render_site, summary_yaml
from oscar_iac.render.tosca import with_inputs

__all__ = [
    "SECRET_INPUTS",
    "RenderedSite",
    "render_site",
    "secret_refs",
    "summary_yaml",
    "with_inputs",
]
