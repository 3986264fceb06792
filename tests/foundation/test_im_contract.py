"""What the rendered TOSCA must be for IM to run it on a real cloud (issue #10, items 4d
and 4e), checked with IM's own translator. Each test names the upstream fact."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from foundation.conftest import REPO
from helpers.inventory import load_inventory
from oscar_iac.render import SECRET_INPUTS, render_site, with_inputs
from oscar_iac.render.ansible_vars import role_vars
from oscar_iac.render.context import template_context
from oscar_iac.render.tosca import render_tosca
from oscar_iac.render.translate import tosca_to_radl
from oscar_iac.site import load_site


def _serialize_like_im_master(value: Any) -> str:
    """IM's current master (grycap/im, IM/tosca/Tosca.py `_gen_configure_from_interfaces`,
    seen at commit c2fc99ee): string inputs are wrapped as '"%s"' with no escaping, other
    values go through str(); newlines become the two characters \\n."""
    text = f'"{value}"' if isinstance(value, str) and not value.startswith("|") else str(value)
    return text.replace("\n", "\\n")


@pytest.fixture(params=["im-2.0.0", "im-master"])
def im_serialisation(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """IM 2.0.0 as installed (json.dumps of string inputs, `_serialize_interface_input`),
    and IM's current master behaviour patched in."""
    from IM.tosca.Tosca import Tosca

    if request.param == "im-master":
        monkeypatch.setattr(
            Tosca, "_serialize_interface_input", staticmethod(_serialize_like_im_master)
        )
    yield request.param


def _configure_vars(radl_text: str, name: str) -> dict[str, Any]:
    from radl.radl_parse import parse_radl

    conf = parse_radl(radl_text).get_configure_by_name(name)
    assert conf is not None, f"no configure {name} in the translated RADL"
    plays = yaml.safe_load(conf.recipes)
    return dict(plays[0]["vars"])


def _translated(site_dir: str) -> tuple[str, dict[str, Any]]:
    loaded = load_site(REPO / "inventories" / site_dir)
    ctx = template_context(loaded, offline=True)
    doc = with_inputs(render_tosca(ctx), {n: "x" for n in SECRET_INPUTS})
    return tosca_to_radl(doc, loaded.path), role_vars(loaded.site)


def test_role_vars_reach_the_play_intact(im_serialisation: str) -> None:
    # 4e: the role variables must survive both IM behaviours: base64 has no quote,
    # backslash or newline for either to mangle.
    radl, expected = _translated("egi-example")
    for conf in ("front_conf_front_conf", "wn_conf_wn_conf"):
        variables = _configure_vars(radl, conf)
        decoded = load_inventory(base64.b64decode(variables["oscar_iac_role_vars"]).decode())
        assert decoded == expected, (im_serialisation, conf)


def test_rendered_role_vars_survive_im_master_where_json_would_not(im_serialisation: str) -> None:
    # 4e: what tools/ renders as the `oscar_iac_role_vars` input must come out of IM's
    # input serialisation (both behaviours) byte for byte; the old form (the JSON text of
    # the same variables) does not survive IM master's '"%s"' wrapping. A renderer that
    # went back to JSON (or any text with a quote, backslash or newline) fails here.
    loaded = load_site(REPO / "inventories" / "egi-example")
    doc = yaml.safe_load(render_tosca(template_context(loaded, offline=True)))
    confs = doc["topology_template"]["node_templates"]
    values = {
        conf["interfaces"]["Standard"]["configure"]["inputs"]["oscar_iac_role_vars"]
        for conf in (confs["front_conf"], confs["wn_conf"])
    }
    assert len(values) == 1
    (value,) = values
    serialise = _serialize_like_im_master if im_serialisation == "im-master" else json.dumps
    assert yaml.safe_load("v: " + serialise(value))["v"] == value
    assert load_inventory(base64.b64decode(value).decode()) == role_vars(loaded.site)
    old_form = json.dumps(role_vars(loaded.site))
    if im_serialisation == "im-master":
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load("v: " + serialise(old_form))


def _front_connections(radl_text: str) -> list[bool]:
    """For each network interface of the front: is its network public?"""
    from radl.radl_parse import parse_radl

    radl = parse_radl(radl_text)
    front = radl.get_system_by_name("front")
    out = []
    i = 0
    while front.getValue(f"net_interface.{i}.connection"):
        net = radl.get_network_by_id(front.getValue(f"net_interface.{i}.connection"))
        out.append(net.isPublic())
        i += 1
    return out


@pytest.mark.parametrize("site_dir", ["egi-example"])
def test_real_cloud_front_is_on_both_networks(site_dir: str) -> None:
    # 4d: IM/tosca/Tosca.py `_add_node_nets` adds the private network only when
    # `not public_ip or private_ip`; `private_ip: false` left the front public-only, so
    # private-only workers could not reach k3s (6443), flannel (8472/udp) or NFS on it.
    # The RADL template gives the front both networks; the TOSCA must too.
    radl, _ = _translated(site_dir)
    assert sorted(_front_connections(radl)) == [False, True]
    rendered = render_site(load_site(REPO / "inventories" / site_dir))
    assert "private_ip: false" not in rendered.tosca


def test_dummy_cloud_keeps_its_workaround() -> None:
    # IM's Dummy cloud never sets a public IP: without `private_ip: false` IM would wait
    # for one (shared/NOTES.md). Only the local site carries it.
    rendered = render_site(load_site(REPO / "inventories" / "local"))
    assert "private_ip: false" in rendered.tosca


def _steps(radl_text: str) -> dict[int, set[str]]:
    """The configure names of each contextualize step of a RADL."""
    from radl.radl_parse import parse_radl

    by_step = parse_radl(radl_text).contextualize.get_contextualize_items_by_step({})
    return {step: {item.configure for item in items} for step, items in by_step.items()}


@pytest.mark.parametrize("site_dir", ["egi-example", "nodes-example"])
def test_front_and_workers_are_configured_in_one_step(site_dir: str) -> None:
    # Issue #25: IM starts the configure steps of one contextualize step on every VM at
    # once and waits for them all before the next step (IM/ConfManager.py run(); the
    # step is `ctxt_num + init_steps` per VM in IM/InfrastructureInfo.py Contextualize).
    # A TOSCA dependency of the workers' configure on the front's puts them one level
    # deeper (IM/tosca/Tosca.py _get_dependency_level), i.e. a later step: front, then
    # workers, where site.yml configures all nodes at once. Both documents IM may get
    # (the TOSCA, translated by IM itself, and the native RADL) must have one step.
    loaded = load_site(REPO / "inventories" / site_dir)
    ctx = template_context(loaded, offline=True)
    translated = tosca_to_radl(
        with_inputs(render_tosca(ctx), {n: "x" for n in SECRET_INPUTS}), loaded.path
    )
    native = render_site(loaded).native_radl
    for what, text in (("TOSCA", translated), ("native RADL", native)):
        steps = _steps(text)
        assert len(steps) == 1, (what, steps)
        (names,) = steps.values()
        assert any(n.startswith("front_conf") for n in names) and len(names) >= 2, (what, names)


def test_embedded_im_settings_are_options_im_reads(tmp_path: Path) -> None:
    # IM ignores an option its Config class lacks (IM/config.py parse_options logs
    # "Unknown option in the IM config file. Ignoring it"), so a misspelt setting would
    # silently cost its time back. Every setting the embedded IM's im.cfg carries must be
    # a Config attribute (IM's own spelling, e.g. CONFMAMAGER_CHECK_STATE_INTERVAL), with
    # the value IM parses it to.
    import configparser

    from IM.config import Config

    from oscar_iac.im.server import EmbeddedIM

    cfg = configparser.ConfigParser()
    cfg.optionxform = str  # type: ignore[assignment,method-assign]
    cfg.read(EmbeddedIM(tmp_path, port=1).write_config())
    options = dict(cfg["im"])
    for name in options:
        assert hasattr(Config, name), name
    # The waits IM pays at every step boundary and progress check, turned down.
    assert (
        int(options["CONFMAMAGER_CHECK_STATE_INTERVAL"]) < Config.CONFMAMAGER_CHECK_STATE_INTERVAL
    )
    assert int(options["CHECK_CTXT_PROCESS_INTERVAL"]) < Config.CHECK_CTXT_PROCESS_INTERVAL
