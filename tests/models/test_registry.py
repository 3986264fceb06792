"""models plan / apply / remove through oscar-python against the OSCAR contract double."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from doubles.oscar_server import OscarTestServer
from helpers.cli import CliResult

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
CATALOG = SHARED / "catalog"
SWAGGER = SHARED / "specs" / "oscar-swagger-v4.1.2.yaml"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, oscar_server: OscarTestServer) -> Path:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("OSCAR_PASSWORD", oscar_server.password)
    data = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    data["catalog"] = {"source": "folder", "location": str(CATALOG)}
    data["models"] = [
        {"module": "ai4os-demo-app"},
        {"module": "plants-classification", "mode": "async"},
        {"module": "DEEP-OC-plants-classification-tf", "mode": "async"},
    ]
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(yaml.safe_dump(data))
    return folder


def _edit(site: Path, fn: Callable[[dict[str, object]], None]) -> None:
    data = yaml.safe_load((site / "site.yml").read_text())
    fn(data)
    (site / "site.yml").write_text(yaml.safe_dump(data))


def _actions(res: CliResult) -> dict[str, str]:
    rows = [ln.split() for ln in res.out.splitlines()[1:] if ln.strip()]
    return {r[0]: r[1] for r in rows}


def test_plan_apply_idempotent_update_remove(
    cli: Callable[..., CliResult], site: Path, oscar_server: OscarTestServer
) -> None:
    ep = ["--oscar-endpoint", oscar_server.url]
    foreign = {"name": "someone-else", "image": "busybox", "script": "true"}
    auth = (oscar_server.username, oscar_server.password)
    assert (
        requests.post(
            f"{oscar_server.url}/system/services", json=foreign, auth=auth, timeout=5
        ).status_code
        == 201
    )

    planned = cli("models", "plan", str(site), *ep)
    assert planned.code == 0, planned.err
    assert set(_actions(planned).values()) == {"create"} and len(_actions(planned)) == 3
    assert cli("models", "apply", str(site), *ep).code == 0
    assert set(oscar_server.services) == {
        "someone-else",
        "ai4os-demo-app",
        "plants-classification",
        "deep-oc-plants-classification-tf",
    }

    writes = len([c for c in oscar_server.calls if c.method in ("POST", "PUT", "DELETE")])
    again = cli("models", "apply", str(site), *ep)
    assert again.code == 0 and set(_actions(again).values()) == {"unchanged"}
    assert len([c for c in oscar_server.calls if c.method in ("POST", "PUT", "DELETE")]) == writes

    _edit(site, lambda d: d["models"][1].update({"overrides": {"memory": "3 GiB"}}))  # type: ignore[index]
    assert _actions(cli("models", "apply", str(site), *ep))["plants-classification"] == "update"
    assert oscar_server.services["plants-classification"]["memory"] == "3072Mi"

    _edit(site, lambda d: d["models"].pop())  # type: ignore[attr-defined]
    assert (
        _actions(cli("models", "apply", str(site), *ep))["deep-oc-plants-classification-tf"]
        == "delete"
    )

    removed = cli("models", "remove", str(site), *ep)
    assert removed.code == 0
    assert set(oscar_server.services) == {"someone-else"}  # only what the tool created is gone


def test_bad_input(
    cli: Callable[..., CliResult],
    site: Path,
    oscar_server: OscarTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = ["--oscar-endpoint", oscar_server.url]
    _edit(site, lambda d: d["models"].append({"module": "no-such-module"}))  # type: ignore[attr-defined]
    res = cli("models", "apply", str(site), *ep)
    assert res.code == 2 and "models[3].module" in res.err and "not in the catalog" in res.err
    assert oscar_server.services == {}
    _edit(site, lambda d: d["models"].pop())  # type: ignore[attr-defined]
    monkeypatch.setenv("OSCAR_PASSWORD", "wrong")
    res = cli("models", "apply", str(site), *ep)
    assert res.code == 2 and "401" in res.err
    assert cli("models", "plan", str(site), "--oscar-endpoint", "http://127.0.0.1:9").code == 1
    nowhere = cli("models", "plan", str(site))
    assert nowhere.code == 1 and "no OSCAR endpoint known" in nowhere.err


def test_services_registered_match_the_contract(site: Path, oscar_server: OscarTestServer) -> None:
    from oscar_iac import registry
    from oscar_iac.oscar import OscarConnection
    from oscar_iac.site import load_site

    conn = OscarConnection(oscar_server.url, oscar_server.username, oscar_server.password)
    registry.apply(conn, load_site(site))
    # Literals from the catalog samples (links.docker_image; module names made DNS labels):
    # an apply that registered nothing, or the wrong images, fails here.
    assert {name: svc["image"] for name, svc in oscar_server.services.items()} == {
        "ai4os-demo-app": "ai4oshub/ai4os-demo-app:latest",
        "plants-classification": "ai4oshub/plants-classification:latest",
        "deep-oc-plants-classification-tf": "deephdc/deep-oc-plants-classification-tf:latest",
    }
    schema = yaml.safe_load(SWAGGER.read_text())["definitions"]
    service_schema = {**schema["types.Service"], "definitions": schema}
    for name, svc in oscar_server.services.items():
        jsonschema.validate(svc, service_schema)  # OSCAR v4.1.2's types.Service
        assert svc["labels"]["oscar-iac/site"] == "local"
        assert svc["labels"]["oscar-iac/managed"] == "true"
        assert svc["input"] == [{"storage_provider": "minio.default", "path": f"{name}/in"}]


def test_dcache_input_comes_from_the_sites_dcache_source(
    cli: Callable[..., CliResult],
    site: Path,
    oscar_server: OscarTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = ["--oscar-endpoint", oscar_server.url]
    _edit(site, lambda d: d["models"][1].update({"dcache_input": True}))  # type: ignore[index]
    res = cli("models", "apply", str(site), *ep)
    assert (
        res.code == 2 and "models[1].dcache_input" in res.err and "plants-classification" in res.err
    )
    assert oscar_server.services == {}  # nothing half-created

    monkeypatch.setenv("DCACHE_TOKEN", "not-a-real-token")

    def add_source(d: dict[str, object]) -> None:
        d["stack"]["nifi"] = {"enabled": True}  # type: ignore[index]
        d["events"] = [
            {
                "kind": "dcache",
                "name": "plants",
                "frontend": "https://dcache.example.org:3880",
                "webdav": "https://dcache.example.org:2880",
                "path": "/data/plants",
                "credential": "env:DCACHE_TOKEN",
                "service": "plants-classification",
            }
        ]

    _edit(site, add_source)
    assert cli("models", "apply", str(site), *ep).code == 0
    svc = oscar_server.services["plants-classification"]
    assert {"storage_provider": "webdav.dcache", "path": "data/plants"} in svc["input"]
    assert (
        svc["storage_providers"]["webdav"]["dcache"]["hostname"]
        == "https://dcache.example.org:2880"
    )
    assert "not-a-real-token" not in json.dumps(svc)
    assert all(
        i["storage_provider"] != "webdav.dcache"
        for i in oscar_server.services["ai4os-demo-app"]["input"]
    )


def test_another_sites_managed_services_are_never_ours(
    cli: Callable[..., CliResult], site: Path, oscar_server: OscarTestServer
) -> None:
    """Two sites may share one OSCAR. A service that oscar-iac manages for ANOTHER site
    (labels oscar-iac/managed=true, oscar-iac/site=other) is neither planned, updated nor
    removed by this site's commands: `models remove` deleting it would lose that site's
    service."""
    ep = ["--oscar-endpoint", oscar_server.url]
    auth = (oscar_server.username, oscar_server.password)
    theirs = {
        "name": "their-model",
        "image": "ai4oshub/ai4os-demo-app:latest",
        "script": "true",
        "labels": {"oscar-iac/managed": "true", "oscar-iac/site": "other"},
    }
    resp = requests.post(f"{oscar_server.url}/system/services", json=theirs, auth=auth, timeout=5)
    assert resp.status_code == 201
    planned = cli("models", "plan", str(site), *ep)
    assert planned.code == 0 and "their-model" not in planned.out
    assert cli("models", "apply", str(site), *ep).code == 0
    assert "their-model" not in _actions(cli("models", "apply", str(site), *ep))
    assert cli("models", "remove", str(site), *ep).code == 0
    assert set(oscar_server.services) == {"their-model"}
    assert oscar_server.services["their-model"]["labels"]["oscar-iac/site"] == "other"


def _http_error_of(status: int, text: str) -> requests.HTTPError:
    resp = requests.Response()
    resp.status_code = status
    resp._content = text.encode()
    return requests.HTTPError(response=resp)


@pytest.mark.parametrize(
    ("status", "text", "transient"),
    [
        # The real OSCAR v4.1.2's answers while another request restarts its MinIO
        # (tests/realoscar; pkg/utils/minio.go RestartServer): retried.
        (500, "error registering the service's webhook: dial tcp: connection refused", True),
        (500, "Error restarting the MinIO server", True),
        (502, "read: connection reset by peer", True),
        (503, "unexpected EOF", True),
        (500, "Server not initialized, please try again", True),
        # Anything else is an answer about the request itself: never retried.
        (500, "quantities must match the regular expression", False),
        (400, "connection refused", False),
        (404, "service not found", False),
    ],
)
def test_only_oscars_minio_restart_race_is_retried(status: int, text: str, transient: bool) -> None:
    from oscar_iac.registry import services

    assert services._transient(_http_error_of(status, text)) is transient


@pytest.mark.parametrize(
    ("status", "kind", "code"), [(400, "refused", 2), (401, "refused", 2), (403, "refused", 2),
                                 (409, "refused", 2), (500, "failed", 1), (503, "failed", 1)]
)  # fmt: skip
def test_oscar_errors_are_user_errors_or_failures(status: int, kind: str, code: int) -> None:
    from oscar_iac.errors import DeploymentError, UserError
    from oscar_iac.registry import services

    err = services._http_error(_http_error_of(status, "x" * 400), "create service demo")
    assert isinstance(err, UserError if code == 2 else DeploymentError)
    assert str(err).startswith(f"OSCAR {kind} to create service demo ({status}): ")
    assert str(err).endswith("x" * 300) and "x" * 301 not in str(err)  # the answer, cut
