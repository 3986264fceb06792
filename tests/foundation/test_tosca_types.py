"""Our inlined TOSCA types agree with IM's published custom types (the contract).

The project ships its own subset (templates/tosca/types.yaml) so that it needs no
network; this test is where the reference is read (../shared/specs), never at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from foundation.conftest import REPO

# CI puts shared/ beside the clone; OSCAR_IAC_SHARED points elsewhere when it is not.
SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "specs" / "im-tosca-custom_types.yaml"
OURS = REPO / "templates" / "tosca" / "types.yaml"
SECTIONS = ("data_types", "capability_types", "node_types")


def _load(path: Path) -> dict[str, Any]:
    assert path.is_file(), f"missing {path}"
    return yaml.safe_load(path.read_text())


def _contract_types() -> list[tuple[str, str]]:
    ours = _load(OURS)
    return [
        (sec, name)
        for sec in SECTIONS
        for name in ours.get(sec, {})
        if not name.startswith("oscar_iac.")
    ]


@pytest.mark.parametrize(("section", "name"), _contract_types())
def test_type_matches_reference(section: str, name: str) -> None:
    ours = _load(OURS)[section][name]
    ref = _load(REFERENCE)[section].get(name)
    assert ref is not None, f"{name} is not in IM's published types"
    assert ours["derived_from"] == ref["derived_from"]
    for prop, spec in (ours.get("properties") or {}).items():
        assert prop in ref.get("properties", {}), f"{name}.{prop} is not a property IM knows"
        assert spec["type"] == ref["properties"][prop]["type"], f"{name}.{prop} type differs"
        if "default" in spec:
            assert spec["default"] == ref["properties"][prop].get("default"), (
                f"{name}.{prop} default"
            )
    for cap, spec in (ours.get("capabilities") or {}).items():
        assert ref["capabilities"][cap]["type"] == spec["type"], f"{name} capability {cap}"
    for attr, spec in (ours.get("attributes") or {}).items():
        assert ref["attributes"][attr]["type"] == spec["type"], f"{name} attribute {attr}"


def test_our_own_types_do_not_shadow_the_contract() -> None:
    ref = _load(REFERENCE)
    ours = _load(OURS)
    for sec in SECTIONS:
        for name in ours.get(sec, {}):
            if name.startswith("oscar_iac."):
                assert name not in ref.get(sec, {})


def test_every_type_the_template_uses_is_defined() -> None:
    from oscar_iac.render import render_site
    from oscar_iac.site import load_site

    ours = _load(OURS)
    normative = ("tosca.nodes.BlockStorage",)
    for site in ("local", "egi-example"):
        doc = yaml.safe_load(
            render_site(load_site(REPO / "inventories" / site), translate=False).tosca
        )
        for tpl in doc["topology_template"]["node_templates"].values():
            assert tpl["type"] in ours["node_types"] or tpl["type"] in normative
