"""The cluster's entry point (issue #21 items 1 and 8): Traefik with the Gateway API, as
OSCAR v4.1.2 deploys it, and every public host one label below the cluster's name.

Upstream facts, each checked here against the upstream file where it is vendored:
- grycap/oscar v4.1.2 deploy/kind-deploy.sh deployGatewayController: helm install
  traefik/traefik --version 39.0.9 --set providers.kubernetesGateway.enabled=true
  --set gateway.enabled=true ...; Gateway API CRDs v1.4.0 standard-install.yaml; the OSCAR
  chart with httproute.create=true, ingress.create=false, exposedServices.routeKind=httproute.
- OSCAR chart 4.1.2 (../shared/vendor/oscar-chart-4.1.2.tgz): templates/oscar-httproute.yaml,
  values.yaml httproute.gateway {name: traefik-gateway, namespace: traefik}.
- OSCAR v4.1.2 source pkg/types/config.go: HTTPROUTE_GATEWAY_NAME default traefik-gateway,
  HTTPROUTE_GATEWAY_NAMESPACE default traefik.
- traefik chart 39.0.9 source (../shared/vendor/chart-sources): Chart.yaml appVersion v3.6.15,
  values.yaml providers.kubernetesGateway.enabled false by default, crds/ carrying the
  Gateway API v1.4.0 standard CRDs.
- grycap/tosca templates/oscar.yaml: minio_dns_host_console "console-minio." + name + domain.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.inventory import load_inventory
from roles.conftest import REPO
from roles.front_render import FQDN, HOSTS, all_docs, docs, helm_values, render_front

SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
VENDOR = SHARED / "vendor"
VERSIONS: dict[str, Any] = yaml.safe_load((REPO / "versions.yml").read_text())["oscar_iac_versions"]


def _member(archive: Path, suffix: str) -> bytes:
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.name.endswith(suffix):
                f = tar.extractfile(m)
                assert f is not None
                return f.read()
    raise AssertionError(f"{suffix} not in {archive}")


TRAEFIK_SRC = VENDOR / "chart-sources" / "traefik-39.0.9-source-b138b95.tar.gz"
OSCAR_CHART = VENDOR / "oscar-chart-4.1.2.tgz"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("front-tls")
    code, out = render_front(tmp, "self-signed")
    assert code == 0, out
    return tmp


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("front-plain")
    code, out = render_front(tmp, "none")
    assert code == 0, out
    return tmp


def test_traefik_is_the_chart_oscar_deploys() -> None:
    traefik = VERSIONS["traefik"]
    assert traefik["chart_version"] == "39.0.9"
    chart = yaml.safe_load(_member(TRAEFIK_SRC, "traefik/Chart.yaml"))
    assert chart["version"] == traefik["chart_version"]
    assert chart["appVersion"] == traefik["app_version"]
    assert traefik["artifacts"][0]["name"] == f"traefik-{traefik['chart_version']}.tgz"
    # ingress-nginx is no longer deployed: nothing of it is fetched.
    assert not VERSIONS["ingress_nginx"].get("artifacts")


def test_gateway_api_crds_are_the_ones_the_traefik_chart_ships() -> None:
    pinned = VERSIONS["gateway_api"]["standard_install_sha256"]
    upstream = (
        VENDOR / f"gateway-api-{VERSIONS['gateway_api']['version']}-standard-install.yaml"
    ).read_bytes()
    shipped = _member(TRAEFIK_SRC, "traefik/crds/gateway-standard-install.yaml")
    assert hashlib.sha256(upstream).hexdigest() == pinned
    assert hashlib.sha256(shipped).hexdigest() == pinned


def test_the_gateway_is_the_one_oscar_and_its_chart_attach_to() -> None:
    gw = VERSIONS["gateway_api"]
    chart_values = yaml.safe_load(_member(OSCAR_CHART, "oscar/values.yaml"))
    assert chart_values["httproute"]["gateway"] == {
        "name": gw["gateway_name"],
        "namespace": gw["gateway_namespace"],
    }
    assert _member(OSCAR_CHART, "oscar/templates/oscar-httproute.yaml")
    config = _member(VENDOR / "oscar-v4.1.2-src.tgz", "pkg/types/config.go").decode()
    assert f'"HTTPROUTE_GATEWAY_NAME", false, stringType, "{gw["gateway_name"]}"' in config
    assert (
        f'"HTTPROUTE_GATEWAY_NAMESPACE", false, stringType, "{gw["gateway_namespace"]}"' in config
    )


def test_nothing_rendered_is_an_ingress(tls: Path, plain: Path) -> None:
    for tmp in (tls, plain):
        kinds = {d["kind"] for d in all_docs(tmp)}
        assert "Ingress" not in kinds and "IngressClass" not in kinds, kinds
        assert not (tmp / "ingress" / "ingress-nginx.yaml").exists()
        minio = helm_values(tmp / "minio" / "minio.yaml")
        assert minio["ingress"] == {"enabled": False}
        assert minio["consoleIngress"] == {"enabled": False}


def test_oscar_chart_publishes_an_httproute_as_kind_deploy_does(tls: Path) -> None:
    values = helm_values(tls / "oscar" / "oscar.yaml")
    gw = VERSIONS["gateway_api"]
    assert values["ingress"] == {"create": False}
    assert values["httproute"] == {
        "create": True,
        "type": "traefik",
        "host": FQDN,
        "gateway": {"name": gw["gateway_name"], "namespace": gw["gateway_namespace"]},
    }
    assert values["exposedServices"] == {"routeKind": "httproute"}


def _traefik(tmp: Path) -> dict[str, Any]:
    return helm_values(tmp / "ingress" / "traefik.yaml")


def test_traefik_runs_the_gateway_provider_and_the_gateway(tls: Path) -> None:
    values = _traefik(tls)
    chart_defaults = yaml.safe_load(_member(TRAEFIK_SRC, "traefik/values.yaml"))
    # Off by default in the chart: turned on here.
    assert chart_defaults["providers"]["kubernetesGateway"]["enabled"] is False
    assert values["providers"]["kubernetesGateway"] == {"enabled": True}
    assert values["gateway"]["name"] == VERSIONS["gateway_api"]["gateway_name"]
    assert values["gatewayClass"] == {"enabled": True, "name": "traefik"}
    chart = yaml.safe_load((tls / "ingress" / "traefik.yaml").read_text())
    assert chart["spec"]["targetNamespace"] == VERSIONS["gateway_api"]["gateway_namespace"]
    # The archive kube_apply checked into k3s' static charts folder (no repo: k3s downloads
    # nothing itself).
    assert "repo" not in chart["spec"] and "version" not in chart["spec"]
    assert chart["spec"]["chart"].endswith(
        f"/static/charts/traefik-{VERSIONS['traefik']['chart_version']}.tgz"
    )
    # Every listener's port is one the chart declares (templates/gateway.yaml fails otherwise).
    ports = {
        p["port"] for p in chart_defaults["ports"].values() if isinstance(p, dict) and "port" in p
    }
    assert {lis["port"] for lis in values["gateway"]["listeners"].values()} <= ports


def test_each_host_has_an_https_listener_with_its_own_certificate(tls: Path) -> None:
    listeners = _traefik(tls)["gateway"]["listeners"]
    https = {v["hostname"]: v for v in listeners.values() if v["protocol"] == "HTTPS"}
    assert sorted(https) == sorted(HOSTS)
    certs = {d["spec"]["secretName"]: d for d in docs(tls / "ingress" / "certificates.yaml")}
    for host, lis in https.items():
        (ref,) = lis["certificateRefs"]
        cert = certs[ref["name"]]
        assert cert["spec"]["dnsNames"] == [host]
        assert cert["metadata"]["namespace"] == VERSIONS["gateway_api"]["gateway_namespace"]
        assert cert["spec"]["issuerRef"] == {
            "kind": "ClusterIssuer",
            "name": "oscar-iac-selfsigned",
        }
        assert lis["namespacePolicy"] == {"from": "All"}
    # Plain HTTP takes only the Gateway's own routes: the redirect (and ACME's solvers).
    assert listeners["web"]["namespacePolicy"] == {"from": "Same"}
    (redirect,) = docs(tls / "ingress" / "http-redirect.yaml")
    assert redirect["metadata"]["namespace"] == VERSIONS["gateway_api"]["gateway_namespace"]
    assert sorted(redirect["spec"]["hostnames"]) == sorted(HOSTS)
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"]["scheme"] == "https"


def test_without_tls_plain_http_carries_every_route(plain: Path) -> None:
    listeners = _traefik(plain)["gateway"]["listeners"]
    assert listeners == {
        "web": {"port": 8000, "protocol": "HTTP", "namespacePolicy": {"from": "All"}}
    }
    assert sorted(p.name for p in (plain / "ingress").iterdir()) == ["traefik.yaml"]


def test_letsencrypt_answers_http01_through_the_gateway(tmp_path: Path) -> None:
    code, out = render_front(tmp_path, "letsencrypt")
    assert code == 0, out
    (issuer,) = docs(tmp_path / "ingress" / "cluster-issuer.yaml")
    (solver,) = issuer["spec"]["acme"]["solvers"]
    assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"] == [
        {"name": "traefik-gateway", "namespace": "traefik", "kind": "Gateway", "sectionName": "web"}
    ]
    cert_manager = helm_values(tmp_path / "ingress" / "cert-manager.yaml")
    assert cert_manager["config"]["enableGatewayAPI"] is True


def test_minio_routes_name_the_public_hosts(tls: Path) -> None:
    routes = {d["metadata"]["name"]: d for d in docs(tls / "minio" / "minio-routes.yaml")}
    assert routes["minio"]["spec"]["hostnames"] == [f"minio.{FQDN}"]
    assert routes["minio-console"]["spec"]["hostnames"] == [f"console-minio.{FQDN}"]
    for route in routes.values():
        assert route["spec"]["parentRefs"] == [{"name": "traefik-gateway", "namespace": "traefik"}]


def test_a_host_two_labels_deep_is_refused(tmp_path: Path) -> None:
    code, out = render_front(tmp_path, "self-signed", ingress_hosts=[FQDN, f"console.minio.{FQDN}"])
    assert code != 0
    assert f"ingress_hosts must be {FQDN} or one DNS label below it" in out, out
    assert not (tmp_path / "ingress").exists()


def test_upstream_names_the_console_one_label_deep() -> None:
    defaults = yaml.safe_load((REPO / "roles" / "minio" / "defaults" / "main.yml").read_text())
    assert defaults["minio_console_hostname"].startswith("console-minio.")


def test_the_site_renders_one_label_deep_names(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    out = tmp_path / "out"
    res = cli("render", str(REPO / "inventories" / "hosts-example"), "-o", str(out))
    assert res.code == 0, res.err
    variables = load_inventory((out / "hosts.yml").read_text())["all"]["vars"]
    fqdn = variables["oscar_iac_cluster_fqdn"]
    assert variables["minio_console_hostname"] == f"console-minio.{fqdn}"
    assert variables["ingress_hosts"][:3] == [fqdn, f"minio.{fqdn}", f"console-minio.{fqdn}"]
    for host in variables["ingress_hosts"][1:]:
        assert host.removesuffix("." + fqdn).count(".") == 0, host
    text = "\n".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "console.minio." not in text


def test_upgrade_removes_what_the_old_role_handed_to_k3s() -> None:
    # The old role rendered ingress-nginx.yaml, a HelmChart kube-system/ingress-nginx, and
    # kube_apply copied it as <kube_apply_prefix><name> into k3s' manifests folder.
    prefix = yaml.safe_load((REPO / "roles" / "kube_apply" / "defaults" / "main.yml").read_text())[
        "kube_apply_prefix"
    ]
    tasks = (REPO / "playbooks" / "tasks" / "leave-ingress-nginx.yml").read_text()
    assert f"/{prefix}ingress-nginx.yaml" in tasks
    assert VERSIONS["ingress_nginx"]["helmchart_name"] == "ingress-nginx"
    assert "delete helmchart {{ leave_nginx_chart.helmchart_name }}" in tasks
    for book in ("upgrade.yml", "im/front.yml"):
        assert "leave-ingress-nginx.yml" in (REPO / "playbooks" / book).read_text(), book
    # It waits for the Gateway before removing anything.
    assert tasks.index("condition=Programmed") < tasks.index("delete helmchart")


def test_the_vendored_crds_carry_the_kinds_we_render() -> None:
    # BackendTLSPolicy is in the v1.4.0 standard channel (NiFi's HTTPS backend needs it).
    data = (VENDOR / "gateway-api-v1.4.0-standard-install.yaml").read_bytes()
    kinds = {d["spec"]["names"]["kind"] for d in yaml.safe_load_all(io.BytesIO(data)) if d}
    assert {"Gateway", "HTTPRoute", "BackendTLSPolicy", "GatewayClass"} <= kinds
