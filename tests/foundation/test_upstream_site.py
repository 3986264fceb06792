"""What the site renderer takes from upstream facts (issue #10): EGI's image URLs and
dynamic DNS as IM 2.0 handles them, what a remote IM can read, MinIO's public URL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from foundation.conftest import REPO, CliResult
from oscar_iac.render import render_site
from oscar_iac.render.ansible_vars import role_vars
from oscar_iac.site import load_site


def test_egi_sample_uses_im_2_image_urls_and_a_dns_zone() -> None:
    # IM 2.0 IM/FedcloudInfo.py get_image_data: "egi://site/project/repo:tag?vo";
    # IM/connectors/OpenStack.py concrete_system takes egi:// and ost:// (no appdb://).
    site = load_site(REPO / "inventories" / "egi-example").site
    url = site.cluster.image.url or ""
    assert url.startswith("egi://IFCA-LCG2/egi_vm_images/") and url.endswith("?vo.access.egi.eu")
    # A zone hosts are registered in, not EGI's parent domain.
    assert site.cluster.domain != "fedcloud.eu" and site.cluster.domain.endswith(".fedcloud.eu")


def test_egi_front_gets_one_wildcard_dns_name() -> None:
    # IM 2.0 IM/connectors/EGI.py: a name "*.<host>.<zone>" registers <host>.<zone> with
    # &wildcard=true (_get_wildcard_host_domain), so minio.<fqdn> etc. resolve; an earlier
    # plain registration of <host>.<zone> would make IM skip the wildcard ("already exists").
    rendered = render_site(load_site(REPO / "inventories" / "egi-example"))
    tosca = yaml.safe_load(rendered.tosca)
    endpoint = tosca["topology_template"]["node_templates"]["front"]["capabilities"]["endpoint"]
    assert endpoint["properties"]["additional_dns_names"] == [
        "*.oscar-demo.fedcloud-tf.fedcloud.eu"
    ]
    # IM's own translation keeps it as the front's DNS name.
    assert "*.oscar-demo.fedcloud-tf.fedcloud.eu" in rendered.radl


def test_other_clouds_keep_one_name_per_host() -> None:
    rendered = render_site(load_site(REPO / "inventories" / "local"))
    tosca = yaml.safe_load(rendered.tosca)
    endpoint = tosca["topology_template"]["node_templates"]["front"]["capabilities"]["endpoint"]
    assert not any("*" in n for n in endpoint["properties"]["additional_dns_names"])


def test_every_public_name_is_one_label_below_the_cluster() -> None:
    # A `*.<fqdn>` wildcard (EGI's DNS entry, a wildcard certificate) covers one label only:
    # the console is console-minio.<fqdn> (grycap/tosca templates/oscar.yaml
    # minio_dns_host_console), never console.minio.<fqdn>. The DNS names IM registers, the
    # TOSCA outputs and the Gateway's hosts agree.
    loaded = load_site(REPO / "inventories" / "local")
    rendered = render_site(loaded)
    tosca = yaml.safe_load(rendered.tosca)
    topo = tosca["topology_template"]
    endpoint = topo["node_templates"]["front"]["capabilities"]["endpoint"]
    cluster = loaded.site.cluster
    names = endpoint["properties"]["additional_dns_names"]
    assert f"console-minio.{cluster.name}@{cluster.domain}" in names
    for name in names:
        assert "." not in name.split("@")[0].removesuffix(cluster.name).rstrip("."), name
    fqdn = cluster.fqdn
    assert topo["outputs"]["minio_console"]["value"].endswith(f"://console-minio.{fqdn}")
    variables = role_vars(loaded.site)
    assert variables["minio_console_hostname"] == f"console-minio.{fqdn}"
    assert set(variables["ingress_hosts"]) == {
        n.replace(f"@{cluster.domain}", f".{cluster.domain}") for n in names
    }
    assert "console.minio." not in rendered.tosca + rendered.radl


@pytest.mark.parametrize(
    ("endpoint", "refused"),
    [("https://im.egi.eu/im", True), ("http://127.0.0.1:8800", False), ("embedded", False)],
)
def test_file_artifacts_only_for_an_im_that_shares_this_machine(
    endpoint: str, refused: bool, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(REPO / "inventories" / "egi-example", site)
    data = yaml.safe_load((site / "site.yml").read_text())
    data["target"]["endpoint"] = endpoint
    del data["artifacts"]  # both default to this checkout as file://
    (site / "site.yml").write_text(yaml.safe_dump(data))
    result = cli("validate", str(site))
    if refused:
        assert result.code == 2
        assert "artifacts.repo_url" in result.err and "artifacts.entry_url" in result.err
        assert "cannot read" in result.err
    else:
        assert "cannot read" not in result.err


@pytest.mark.parametrize(
    ("mode", "scheme", "verify"),
    [("letsencrypt", "https", True), ("self-signed", "https", False), ("none", "http", True)],
)
def test_oscar_hands_out_the_public_minio_url(mode: str, scheme: str, verify: bool) -> None:
    # grycap/oscar v4.1.2 pkg/handlers/config.go returns cfg.MinIOProvider (the endpoint)
    # and presign_bucket.go signs with it; grycap/tosca artifacts/oscar/oscar_install.yml
    # sets oscar_minio_endpoint: 'https://{{ minio_dns_host }}'.
    loaded = load_site(REPO / "inventories" / "hosts-example")
    tls = {"mode": mode, "email": "ops@example.org" if mode == "letsencrypt" else None}
    stack = loaded.site.stack.model_copy(
        update={
            "ingress": loaded.site.stack.ingress.model_copy(
                update={"tls": loaded.site.stack.ingress.tls.model_validate(tls)}
            )
        }
    )
    variables = role_vars(loaded.site.model_copy(update={"stack": stack}))
    fqdn = loaded.site.cluster.fqdn
    assert variables["oscar_minio_endpoint"] == f"{scheme}://minio.{fqdn}"
    assert variables["oscar_minio_tls_verify"] is verify
