"""The sample sites validate, and what they render was translated by IM's own code."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from foundation.conftest import REPO, SAMPLES, CliResult
from helpers.inventory import load_inventory
from oscar_iac.render import SECRET_INPUTS, render_site, with_inputs
from oscar_iac.render.translate import tosca_to_radl
from oscar_iac.site import load_site


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_validates(name: str, cli: Callable[..., CliResult]) -> None:
    result = cli("validate", str(REPO / "inventories" / name))
    assert result.code == 0, result.err
    if name == "hosts-example":  # Ansible on the hosts: IM plays no part, the line says so
        assert "Ansible inventory of 3 host(s)" in result.out
        assert "IM" not in result.out.replace("IM is not used", "")
    else:
        assert "translated by IM" in result.out


@pytest.mark.parametrize("name", SAMPLES)
def test_render_writes_translated_documents(
    name: str, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    result = cli("render", str(REPO / "inventories" / name), "-o", str(tmp_path))
    assert result.code == 0, result.err
    site = load_site(REPO / "inventories" / name).site
    radl = (tmp_path / "radl.radl").read_text()
    # Written by IM's translator, not by us: it names systems after node templates
    # and turns `scalable.count` into a deploy line.
    assert "system front (" in radl
    assert f"deploy wn {site.cluster.workers.count}" in radl
    assert "instance_name = '" + site.cluster.name + "-front'" in radl
    tosca = yaml.safe_load((tmp_path / "tosca.yaml").read_text())
    assert (
        tosca["topology_template"]["node_templates"]["front"]["type"]
        == "tosca.nodes.indigo.Compute"
    )
    for secret in SECRET_INPUTS:
        assert tosca["topology_template"]["inputs"][secret]["default"] == ""
    for f in tmp_path.iterdir():
        assert not f.stat().st_mode & stat.S_IWOTH
    summary = yaml.safe_load((tmp_path / "summary.yml").read_text())
    assert summary["site"] == name
    if name == "hosts-example":
        inv = load_inventory((tmp_path / "hosts.yml").read_text())
        assert set(inv["all"]["children"]["workers"]["hosts"]) == {"worker1", "worker2"}


def test_local_site_sends_no_configure_steps_and_says_so() -> None:
    rendered = render_site(load_site(REPO / "inventories" / "local"))
    assert "interfaces" not in rendered.tosca
    # Both facts, each for its own document: the native RADL says so explicitly, and IM's
    # translation of the TOSCA carries no configure section at all.
    assert "contextualize ()" in rendered.native_radl
    assert "configure" not in rendered.radl
    assert any("contextualization" in s for s in rendered.simulated)


def test_cloud_sites_run_the_projects_entry_playbooks() -> None:
    rendered = render_site(load_site(REPO / "inventories" / "egi-example"))
    doc = yaml.safe_load(rendered.tosca)
    conf = doc["topology_template"]["node_templates"]["wn_conf"]
    impl = conf["interfaces"]["Standard"]["configure"]["implementation"]
    assert impl.endswith("/playbooks/im/worker.yml")
    assert impl.startswith("https://")  # what IM downloads in production
    # IM merged the entry play into a configure step of the translated RADL...
    assert "configure wn_conf" in rendered.radl
    # ... in the same step as the front (issue #25: configured at once, as site.yml
    # does; the agents retry until the front's k3s server answers).
    steps = dict(re.findall(r"system (\w+) configure \S+ step (\d+)", rendered.radl))
    assert steps["wn"] == steps["front"], steps


def test_secrets_never_reach_rendered_files(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    secret = "s3cr3t-value-that-must-not-leak"
    (site_dir / "oscar.pw").write_text(secret)
    os.chmod(site_dir / "oscar.pw", 0o600)
    text = (REPO / "inventories" / "local" / "site.yml").read_text()
    text = text.replace("stack:\n", "stack:\n  oscar:\n    password: file:oscar.pw\n", 1)
    (site_dir / "site.yml").write_text(text)
    out = tmp_path / "out"
    result = cli("render", str(site_dir), "-o", str(out))
    assert result.code == 0, result.err
    for f in out.iterdir():
        assert secret not in f.read_text()
    assert secret not in result.out + result.err


def test_with_inputs_fills_only_known_inputs() -> None:
    rendered = render_site(load_site(REPO / "inventories" / "local"), translate=False)
    filled = yaml.safe_load(with_inputs(rendered.tosca, {"oscar_password": "x", "wn_num": 4}))
    assert filled["topology_template"]["inputs"]["oscar_password"]["default"] == "x"
    assert filled["topology_template"]["inputs"]["wn_num"]["default"] == 4
    with pytest.raises(KeyError):
        with_inputs(rendered.tosca, {"no_such_input": 1})


def test_translator_rejection_is_a_user_error(tmp_path: Path) -> None:
    from oscar_iac.errors import UserError

    bad = (
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n"
        "    front:\n      type: tosca.nodes.indigo.NoSuchType\n"
    )
    with pytest.raises(UserError) as info:
        tosca_to_radl(bad, tmp_path / "site.yml")
    assert "IM's TOSCA translator rejected the document" in str(info.value)
    assert "NoSuchType" in str(info.value)


def test_translator_rejection_via_cli(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A template that IM refuses (here: one whose node type is unknown) exits 2, writes nothing."""
    import oscar_iac.render.site as render_pkg

    real = render_pkg.render_tosca
    monkeypatch.setattr(
        render_pkg,
        "render_tosca",
        lambda ctx: real(ctx).replace(
            "type: tosca.nodes.indigo.Compute", "type: tosca.nodes.indigo.Komputer"
        ),
    )
    out = tmp_path / "out"
    result = cli("render", str(REPO / "inventories" / "local"), "-o", str(out))
    assert result.code == 2
    # toscaparser's own wording for an unknown type is poor; the message still says who refused.
    assert "site.yml: (rendered TOSCA): IM's TOSCA translator rejected the document" in result.err
    assert not out.exists()


def test_validate_writes_nothing_in_the_working_directory(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("validate", str(REPO / "inventories" / "egi-example")).code == 0
    assert list(tmp_path.iterdir()) == []
