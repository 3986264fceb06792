"""Render the TOSCA document IM deploys, and fill its secret inputs in memory."""

from __future__ import annotations

from typing import Any

import yaml

from oscar_iac.paths import data_path
from oscar_iac.render.jinja import environment

TEMPLATE = "tosca/oscar-cluster.yaml.j2"


def types_block() -> str:
    """templates/tosca/types.yaml without its document marker, to inline at top level."""
    text = data_path("templates/tosca/types.yaml").read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() != "---"]
    return "\n".join(lines).strip()


def render_tosca(context: dict[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(types_yaml=types_block(), **context)


def with_inputs(tosca_text: str, values: dict[str, Any]) -> str:
    """The document with input defaults replaced (e.g. secrets, worker count).

    Used in memory just before a document is sent to IM; the result must never be
    written to disk when it carries secrets.
    """
    doc = yaml.safe_load(tosca_text)
    inputs = doc.setdefault("topology_template", {}).setdefault("inputs", {})
    for name, value in values.items():
        if name not in inputs:
            raise KeyError(f"the template has no input {name!r}")
        inputs[name]["default"] = value
    return yaml.safe_dump(doc, sort_keys=False)
