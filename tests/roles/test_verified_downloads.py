"""Verified downloads online (issue 21 items 2-3): chart archives and Knative's release
manifests reach k3s only after a sha256 check, on the node, against a pin from
versions.yml or one recorded once on the controller (tools/oscar_iac/airgap/pins.py).

Real parts: the real HTTP transport (requests) against a loopback server, real
ansible-playbook running kube_apply / knative with local connection into tmp_path.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import stat
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

from helpers.inventory import load_inventory
from oscar_iac.airgap import pins
from oscar_iac.errors import UserError
from roles.conftest import REPO, load_yaml
from roles.test_upstream_facts import KNATIVE_SAMPLES, run_role

VENDOR_CHARTS = {
    # ../shared/vendor/README.md: the published archives, equal to their index digests.
    "minio": "minio-chart-5.4.0.tgz",
    "oscar": "oscar-chart-4.1.2.tgz",
}


def _shared() -> Path:
    env = os.environ.get("OSCAR_IAC_SHARED")
    return Path(env) if env else REPO.parent / "shared"


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                outer.requests.append(self.path)

        handler = partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    try:
        yield srv
    finally:
        srv.httpd.shutdown()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _knative_release(server: _Server, *, lie_about: str = "") -> Path:
    """Serve the sample Knative release files with a checksums.txt as release.sh writes
    it (`sha256sum` lines); a versions file whose Knative URLs point at that server."""
    lines = []
    for sample in sorted(KNATIVE_SAMPLES.iterdir()):
        data = sample.read_bytes()
        (server.root / sample.name).write_bytes(data)
        digest = _sha(b"other bytes") if sample.name == lie_about else _sha(data)
        lines.append(f"{digest}  {sample.name}\n")
    (server.root / "checksums.txt").write_text("".join(lines))
    data = load_yaml(REPO / "versions.yml")
    for art in data["oscar_iac_versions"]["knative_serving"]["artifacts"]:
        art["url"] = f"{server.url}/{art['name']}"
        art["checksums"] = f"{server.url}/checksums.txt"
    # The traefik chart is recorded on first fetch too (no checksum list is published).
    for art in data["oscar_iac_versions"]["traefik"]["artifacts"]:
        (server.root / art["name"]).write_bytes(b"the traefik chart archive")
        art["url"] = f"{server.url}/{art['name']}"
    path = server.root.parent / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    return path


# --------------------------------------------------------------------------- pins


def test_knative_is_recorded_once_against_its_checksums(tmp_path: Path, server: _Server) -> None:
    versions = _knative_release(server)
    state = tmp_path / "state"
    recorded = pins.ensure(state, path=versions)
    assert recorded == {
        **{p.name: _sha(p.read_bytes()) for p in KNATIVE_SAMPLES.iterdir()},
        "traefik-39.0.9.tgz": _sha(b"the traefik chart archive"),
    }
    assert stat.S_IMODE(pins.pin_file(state).stat().st_mode) == 0o600
    fetched = len(server.requests)
    assert fetched == 5  # three manifests, one checksums.txt and the traefik chart
    # Recorded: never fetched again, and handed to the roles.
    assert pins.ensure(state, path=versions) == recorded
    assert len(server.requests) == fetched
    assert pins.for_roles(state, versions) == recorded


def test_a_manifest_that_disagrees_with_checksums_is_refused(
    tmp_path: Path, server: _Server
) -> None:
    versions = _knative_release(server, lie_about="serving-core.yaml")
    with pytest.raises(UserError) as err:
        pins.ensure(tmp_path / "state", path=versions)
    assert err.value.exit_code == 2
    assert "serving-core.yaml" in str(err.value) and "refusing it" in str(err.value)
    assert not pins.pin_file(tmp_path / "state").exists()


def test_a_checksums_file_that_does_not_list_the_manifest_is_refused(
    tmp_path: Path, server: _Server
) -> None:
    versions = _knative_release(server)
    (server.root / "checksums.txt").write_text(f"{'0' * 64}  something-else.yaml\n")
    with pytest.raises(UserError, match="does not list"):
        pins.ensure(tmp_path / "state", path=versions)


def test_a_damaged_pin_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    pins.pin_file(state).write_text(json.dumps({"kourier.yaml": {"url": "x", "sha256": "abc"}}))
    with pytest.raises(UserError, match=r"kourier\.yaml: expected"):
        pins.load(state)


def test_versions_pins_the_published_chart_digests() -> None:
    # Issue 21 item 3 and ../shared/vendor/README.md: each chart's index digest.
    want = {
        "minio-5.4.0.tgz": "25fa2740480d1ebc9e64340854a6c42d3a7bc39c2a77378da91b21f144faa9af",
        "nfs-subdir-external-provisioner-4.0.18.tgz": (
            "a842163c1f5eedc4893e1f685e4249b0ddd62533c3c941228ee6a096ac308f6f"
        ),
        "cert-manager-v1.21.2.tgz": "73a56e1728edd6c99f1f31082618c3259d279a76b7ebd3d4bdc5475c2442d34a",
        "oscar-4.1.2.tgz": "b90943c9979818c53e95e4ac8487c1a2c2acd15bf65bd73912cc43187c444e4a",
    }
    arts = {
        a["name"]: a["sha256"]
        for spec in load_yaml(REPO / "versions.yml")["oscar_iac_versions"].values()
        for a in spec.get("artifacts") or []
    }
    assert {n: arts[n] for n in want} == want
    # The vendored published archives are those bytes.
    assert (
        _sha((_shared() / "vendor" / VENDOR_CHARTS["minio"]).read_bytes())
        == want["minio-5.4.0.tgz"]
    )
    assert (
        _sha((_shared() / "vendor" / VENDOR_CHARTS["oscar"]).read_bytes())
        == want["oscar-4.1.2.tgz"]
    )


def test_knative_is_the_patch_release_that_fixes_min_scale() -> None:
    # knative/serving issue 16100 (min-scale transitions) is fixed in serving 1.18.2.
    knative = load_yaml(REPO / "versions.yml")["oscar_iac_versions"]["knative_serving"]
    assert knative["version"] == "v1.18.2"
    serving = [a for a in knative["artifacts"] if a["name"].startswith("serving-")]
    assert serving and all("/knative-v1.18.2/" in a["url"] for a in serving)
    assert all(a["record"] == "first-fetch" and a["checksums"].endswith("/checksums.txt")
               for a in knative["artifacts"])  # fmt: skip


# --------------------------------------------------------------------------- kube_apply


def _kube_apply(
    tmp_path: Path, charts: list[dict[str, str]], pins_: dict[str, str]
) -> tuple[int, str]:
    (tmp_path / "k3s" / "server" / "manifests").mkdir(parents=True, exist_ok=True)
    return run_role(
        tmp_path / "play",
        "kube_apply",
        {
            "kube_apply_k3s_data_dir": str(tmp_path / "k3s"),
            "kube_apply_charts": charts,
            "oscar_iac_artifact_pins": pins_,
        },
    )


def test_charts_are_downloaded_checked_into_k3s_static_folder(
    tmp_path: Path, server: _Server
) -> None:
    chart = (_shared() / "vendor" / VENDOR_CHARTS["minio"]).read_bytes()
    (server.root / "minio-5.4.0.tgz").write_bytes(chart)
    (server.root / "traefik-39.0.9.tgz").write_bytes(b"a chart recorded on first fetch")
    charts = [
        {"name": "minio-5.4.0.tgz", "url": f"{server.url}/minio-5.4.0.tgz", "sha256": _sha(chart)},
        {"name": "traefik-39.0.9.tgz", "url": f"{server.url}/traefik-39.0.9.tgz", "sha256": ""},
    ]
    recorded = {"traefik-39.0.9.tgz": _sha(b"a chart recorded on first fetch")}
    code, out = _kube_apply(tmp_path, charts, recorded)
    assert code == 0, out
    static = tmp_path / "k3s" / "server" / "static" / "charts"
    assert (static / "minio-5.4.0.tgz").read_bytes() == chart
    assert (static / "traefik-39.0.9.tgz").exists()
    code, out = _kube_apply(tmp_path, charts, recorded)
    assert code == 0 and "changed=0" in out, out


def test_a_chart_with_other_bytes_or_no_pin_never_reaches_k3s(
    tmp_path: Path, server: _Server
) -> None:
    (server.root / "evil-1.0.0.tgz").write_bytes(b"tampered")
    tampered = [
        {"name": "evil-1.0.0.tgz", "url": f"{server.url}/evil-1.0.0.tgz", "sha256": "0" * 64}
    ]
    code, out = _kube_apply(tmp_path, tampered, {})
    assert code != 0 and "evil-1.0.0.tgz" in out, out
    static = tmp_path / "k3s" / "server" / "static" / "charts"
    assert not (static / "evil-1.0.0.tgz").exists()
    unpinned = [{"name": "evil-1.0.0.tgz", "url": f"{server.url}/evil-1.0.0.tgz", "sha256": ""}]
    code, out = _kube_apply(tmp_path, unpinned, {})
    assert code != 0 and "no sha256 for evil-1.0.0.tgz" in out, out
    assert server.requests.count("/evil-1.0.0.tgz") == 1  # the unpinned one was never fetched


@pytest.mark.parametrize(
    ("role", "template"),
    [
        ("minio", "minio.yaml"),
        ("oscar", "oscar.yaml"),
        ("nfs", "provisioner.yaml"),
        ("ingress", "traefik.yaml"),
        ("ingress", "cert-manager.yaml"),
    ],
)
def test_helmcharts_name_the_checked_archive_never_a_repo(role: str, template: str) -> None:
    # Before: online HelmCharts carried repo: + version: and k3s downloaded the archive
    # unchecked (k3s docs "HelmChart Field Definitions": spec.repo / spec.chart).
    text = (REPO / "roles" / role / "templates" / f"{template}.j2").read_text()
    assert "repo:" not in text
    assert "chart: https://%{KUBERNETES_API}%/static/charts/" in text


# --------------------------------------------------------------------------- the EGI sample


def test_the_egi_sample_would_install_knative_verified(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oscar_iac.render import render_site
    from oscar_iac.site import load_site

    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    loaded = load_site(REPO / "inventories" / "egi-example")
    assert loaded.site.stack.knative.enabled
    names = pins.needed_for(loaded.site)
    assert sorted(names) == [
        "kourier.yaml",
        "serving-core.yaml",
        "serving-crds.yaml",
        "traefik-39.0.9.tgz",
    ]

    def variables() -> dict[str, object]:
        tosca = yaml.safe_load(render_site(loaded, translate=False).tosca)
        for node in tosca["topology_template"]["node_templates"].values():
            inputs = (node.get("interfaces") or {}).get("Standard", {}).get("configure", {})
            b64 = (inputs.get("inputs") or {}).get("oscar_iac_role_vars")
            if b64:
                return dict(load_inventory(base64.b64decode(b64).decode()))
        raise AssertionError("no configure step carries oscar_iac_role_vars")

    # Before `up` recorded anything the roles get no pin, and the knative role refuses.
    assert variables()["oscar_iac_artifact_pins"] == {}
    code, out = run_role(
        tmp_path / "refused",
        "knative",
        {"knative_manifest_dir": str(tmp_path / "refused" / "knative"), "knative_airgap_dir": ""},
    )
    assert code != 0 and "no sha256 for" in out, out

    # `up`'s first step records them (real transport, loopback release); the rendered
    # deployment then carries them to the role, which downloads checked and applies.
    versions = _knative_release(server)

    def github_at_loopback(url: str) -> bytes:
        # The transport only: the release's URLs are answered by the loopback server.
        assert url.startswith(("https://github.com/knative", "https://traefik.github.io/")), url
        return pins.http_fetch(f"{server.url}/{url.rsplit('/', 1)[1]}")

    recorded = pins.ensure(tmp_path / "state" / loaded.site.name, names, fetch=github_at_loopback)
    rendered_pins = variables()["oscar_iac_artifact_pins"]
    assert rendered_pins == recorded
    (tmp_path / "k3s" / "server" / "manifests").mkdir(parents=True)
    code, out = run_role(
        tmp_path / "play",
        "knative",
        {
            "knative_manifest_dir": str(tmp_path / "knative"),
            "knative_airgap_dir": "",
            "kube_apply_k3s_data_dir": str(tmp_path / "k3s"),
            "oscar_iac_artifact_pins": rendered_pins,
        },
        versions=versions,
    )
    assert code == 0, out
    handed = sorted(p.name for p in (tmp_path / "k3s" / "server" / "manifests").iterdir())
    assert handed == [
        "oscar-iac-kourier.yaml",
        "oscar-iac-serving-core.yaml",
        "oscar-iac-serving-crds.yaml",
    ]


# --------------------------------------------------------------------------- up and the CLI


def test_up_records_the_pins_before_it_creates_anything(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oscar_iac.im import lifecycle
    from oscar_iac.phases import run
    from oscar_iac.site import load_site

    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    loaded = load_site(REPO / "inventories" / "egi-example")
    created: list[str] = []
    monkeypatch.setattr(lifecycle, "up", lambda *a, **k: created.append("infrastructure"))
    _knative_release(server, lie_about="kourier.yaml")
    # The release's real URLs, answered by the loopback release (the transport only).
    real_fetch = pins.http_fetch
    monkeypatch.setattr(
        pins, "http_fetch", lambda url: real_fetch(f"{server.url}/{url.rsplit('/', 1)[1]}")
    )
    ctx = run.Context(loaded, run.Quiet(), timeout=1, platform_timeout=1, quiet=True)
    with pytest.raises(UserError) as err:
        run._infrastructure(ctx)
    assert err.value.exit_code == 2 and "kourier.yaml" in str(err.value)
    assert created == []  # nothing was asked of IM


def test_airgap_pin_records_a_sites_pins(cli, tmp_path: Path, server: _Server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    versions = _knative_release(server)
    res = cli(
        "airgap", "pin", str(REPO / "inventories" / "egi-example"), "--versions", str(versions)
    )
    assert res.code == 0, res.err
    recorded = json.loads((tmp_path / "state" / "egi-example" / pins.PIN_FILE).read_text())
    assert sorted(recorded) == [
        "kourier.yaml",
        "serving-core.yaml",
        "serving-crds.yaml",
        "traefik-39.0.9.tgz",
    ]
    (server.root / "checksums.txt").write_text(f"{'0' * 64}  serving-crds.yaml\n")
    (tmp_path / "state" / "egi-example" / pins.PIN_FILE).unlink()
    res = cli(
        "airgap", "pin", str(REPO / "inventories" / "egi-example"), "--versions", str(versions)
    )
    assert res.code == 2 and "serving-crds.yaml" in res.err
