"""The MinIO chart as the minio role configures it, rendered by the real helm (v4.3.2)
from the published chart archive 5.4.0 (../shared/vendor/minio-chart-5.4.0.tgz).

Issue 21 item 4: chart 5.4.0's values.yaml defaults `users` to console/console123 with
policy consoleAdmin and templates/post-job.yaml creates it; item 5: the server image.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from roles.conftest import REPO, load_yaml
from roles.test_upstream_facts import render_template

CHART = "minio-chart-5.4.0.tgz"


def _shared() -> Path:
    env = os.environ.get("OSCAR_IAC_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def helm() -> str:
    """helm v4.3.2 from the Go module proxy (tests/components/build-k8s.sh helm, which keeps
    a built one), or the one OSCAR_IAC_HELM names."""
    named = os.environ.get("OSCAR_IAC_HELM", "")
    if named:
        return named
    subprocess.run(
        ["bash", str(REPO / "tests" / "components" / "build-k8s.sh"), "helm"], check=True
    )
    return str(REPO / ".cache" / "bin" / "helm")


def _template(tmp_path: Path, values: dict[str, Any] | None) -> list[dict[str, Any]]:
    args = [helm(), "template", "minio", str(_shared() / "vendor" / CHART), "--namespace", "minio"]
    if values is not None:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        args += ["--values", str(path)]
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(tmp_path / "hc"),
        "HELM_CONFIG_HOME": str(tmp_path / "hg"),
    }
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def _role_values(tmp_path: Path) -> dict[str, Any]:
    text = render_template(
        tmp_path / "render",
        "minio",
        "minio.yaml",
        {"minio_secret_key": "test-only-minio-key", "oscar_iac_cluster_fqdn": "oscar.example.org"},
    )
    chart = yaml.safe_load(text)
    values: dict[str, Any] = yaml.safe_load(chart["spec"]["valuesContent"])
    return values


def test_the_charts_own_defaults_create_the_public_console_login(tmp_path: Path) -> None:
    # The premise, from the chart itself: left alone, it creates console/console123.
    objects = _template(tmp_path, None)
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert [j["metadata"]["name"] for j in jobs] == ["minio-post-job"]
    assert "console123" in yaml.safe_dump_all(objects)


def test_the_role_leaves_no_account_but_root(tmp_path: Path) -> None:
    values = _role_values(tmp_path)
    assert values["users"] == values["policies"] == values["svcaccts"] == []
    objects = _template(tmp_path, values)
    text = yaml.safe_dump_all(objects)
    assert "console123" not in text
    assert not [o for o in objects if o["kind"] == "Job"], "post-job.yaml must not render"
    # The only credentials are the root user and password the role sets.
    secret = next(o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "minio")
    assert set(secret["data"]) == {"rootUser", "rootPassword"}


def test_the_server_is_past_ghsa_jjjj_jwhf_8rgr(tmp_path: Path) -> None:
    # GHSA-jjjj-jwhf-8rgr: fixed in RELEASE.2025-10-15T17-29-55Z (RELEASE.* tags sort by date).
    minio = load_yaml(REPO / "versions.yml")["oscar_iac_versions"]["minio"]
    assert minio["version"] >= "RELEASE.2025-10-15T17-29-55Z"
    objects = _template(tmp_path, _role_values(tmp_path))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [f"{minio['image']}:{minio['version']}"]
