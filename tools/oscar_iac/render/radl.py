"""Render the native RADL document (for IM users who work in RADL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from oscar_iac.render.context import SECRET_INPUTS
from oscar_iac.render.jinja import environment
from oscar_iac.site.model import size_to_bytes

TEMPLATE = "radl/oscar-cluster.radl.j2"


def rq(value: object) -> str:
    """A RADL single-quoted string; quotes inside cannot be expressed, so refuse them."""
    text = str(value)
    if "'" in text or "\n" in text:
        raise ValueError(f"a RADL string cannot contain quotes or newlines: {text!r}")
    return f"'{text}'"


def _recipe(playbook_url: str, variables: dict[str, Any]) -> str | None:
    """RADL carries recipes inline: the entry play with its variables, like IM does for TOSCA."""
    parsed = urlparse(playbook_url)
    if parsed.scheme != "file" or not Path(parsed.path).is_file():
        return None
    plays = yaml.safe_load(Path(parsed.path).read_text())
    if not isinstance(plays, list) or not plays or not isinstance(plays[0], dict):
        return None
    play = dict(plays[0])
    play.pop("hosts", None)  # IM targets the system the recipe is attached to
    play["vars"] = {**(play.get("vars") or {}), **variables}
    return yaml.safe_dump([play], sort_keys=False).rstrip()


def render_radl(context: dict[str, Any]) -> str:
    recipes: dict[str, str] = {}
    nodes = context.get("nodes") or []
    front_address = (
        nodes[0]["address"] if nodes else "{{ hostvars[groups['front'][0]]['IM_NODE_PRIVATE_IP'] }}"
    )
    for conf in context["configure_nodes"]:
        variables = {
            "oscar_iac_node_role": conf["role"],
            "oscar_iac_repo_url": context["repo_url"],
            "oscar_iac_role_vars": context["role_vars_b64"],
            "oscar_iac_front_address": front_address,
            **{f"oscar_iac_secret_{name}": "" for name in SECRET_INPUTS},
        }
        recipe = _recipe(conf["playbook"], variables)
        if recipe is None:
            recipes = {}
            break
        recipes[conf["name"]] = recipe
    env = environment().overlay()
    env.filters["rq"] = rq
    env.filters["bytes"] = size_to_bytes
    return env.get_template(TEMPLATE).render(recipes=recipes, **context)
