"""Catalog samples -> models -> OSCAR service definitions (FDL) that OSCAR's contract accepts.

Reads the real catalog metadata in ../shared/catalog and OSCAR's v4.1.2 swagger
(test-only references). The generated script is run with /bin/sh as OSCAR's
supervisor runs it; `deepaas-cli` is a small stand-in on PATH that writes the
arguments it got as its result, because what is under test here is how the script
turns each call style into a DEEPaaS call (tests/runner runs the real DEEPaaS).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from helpers.cli import CliResult
from oscar_iac.catalog import read_folder, read_module
from oscar_iac.catalog.model import CatalogModel, Resources
from oscar_iac.errors import UserError
from oscar_iac.fdl import MANAGED_LABEL, fdl_document, service_definition, service_name
from oscar_iac.site.model import DcacheEventSource, ModelSpec

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
CATALOG = SHARED / "catalog"
SWAGGER = SHARED / "specs" / "oscar-swagger-v4.1.2.yaml"
# The catalog's README names the modules that are not servable models.
NOT_SERVABLE = {"tf-cnn-benchmarks-api", "ai4os-dev-env", "DEEP-OC-generic-dev"}


def service_schema() -> dict[str, Any]:
    swagger = yaml.safe_load(SWAGGER.read_text())
    schema = dict(swagger["definitions"]["types.Service"])
    schema["definitions"] = swagger["definitions"]
    return schema


def test_every_sample_is_read_and_inference_filter_is_right() -> None:
    models = read_folder(CATALOG)
    assert len(models) == 14
    assert {m.module for m in models if not m.inference} == NOT_SERVABLE
    formats = {m.metadata_format for m in models}
    assert "DEEP metadata.json v1" in formats and any(
        f.startswith("ai4-metadata 2.") for f in formats
    )


def test_every_inference_sample_yields_a_valid_service() -> None:
    schema = service_schema()
    props = set(schema["properties"])
    names = set()
    for model in read_folder(CATALOG):
        if not model.inference:
            continue
        svc = service_definition(model)
        jsonschema.validate(svc, schema)
        assert set(svc) <= props, set(svc) - props  # nothing OSCAR does not know
        assert len(svc["name"]) <= 39
        assert svc["labels"][MANAGED_LABEL] == "true"
        assert svc["input"][0]["path"] == f"{svc['name']}/in"
        assert svc["output"][0]["path"] == f"{svc['name']}/out"
        names.add(svc["name"])
    assert len(names) == 11  # distinct services


def test_resources_come_from_the_metadata() -> None:
    demo = read_module(CATALOG / "ai4os" / "ai4os-demo-app")
    svc = service_definition(demo)
    assert (svc["cpu"], svc["memory"], svc["enable_gpu"]) == ("2", "1000Mi", True)


def test_site_overrides_win() -> None:
    demo = read_module(CATALOG / "ai4os" / "ai4os-demo-app")
    spec = ModelSpec.model_validate(
        {
            "module": "ai4os-demo-app",
            "service": "demo",
            "overrides": {
                "memory": "4 GiB",
                "cpu": 0.5,
                "gpu": False,
                "replicas": 2,
                "environment": {"DEEPAAS_INPUT_ARG": "demo_image"},
            },
        }
    )
    svc = service_definition(demo, spec)
    assert svc["name"] == "demo" and svc["input"][0]["path"] == "demo/in"
    assert (svc["cpu"], svc["memory"], svc["enable_gpu"]) == ("0.5", "4096Mi", False)
    assert svc["environment"]["variables"]["DEEPAAS_INPUT_ARG"] == "demo_image"
    assert svc["synchronous"]["min_scale"] == 2


@pytest.mark.parametrize(
    "module", ["a" * 60, "Some_Very.Long Module Name That Goes On And On 2025"]
)
def test_service_names_fit_and_are_stable(module: str) -> None:
    name = service_name(module)
    assert len(name) <= 39 and name == service_name(module)
    assert (
        name[0].isalnum()
        and name[-1].isalnum()
        and set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    )
    assert service_name(module + "x") != name


def test_fdl_document_shape() -> None:
    demo = read_module(CATALOG / "ai4os" / "ai4os-demo-app")
    doc = fdl_document([service_definition(demo)], "my-cluster")
    assert doc["functions"]["oscar"][0]["my-cluster"]["name"] == "ai4os-demo-app"


def _module(tmp: Path, name: str, filename: str, text: str) -> Path:
    folder = tmp / name
    folder.mkdir()
    (folder / filename).write_text(text)
    return folder


GOOD_AI4 = (
    (CATALOG / "ai4os" / "ai4os-demo-app" / "ai4-metadata.yml").read_text()
    if CATALOG.exists()
    else ""
)


@pytest.mark.parametrize(
    ("filename", "edit", "field", "text"),
    [
        (
            "ai4-metadata.yml",
            lambda s: s.replace("  docker_image: ai4oshub/ai4os-demo-app\n", ""),
            "links.docker_image",
            "required field is missing",
        ),
        (
            "ai4-metadata.yml",
            lambda s: s.replace("metadata_version: 2.0.0", "metadata_version: 1.0.0"),
            "metadata_version",
            "2.x",
        ),
        (
            "ai4-metadata.yml",
            lambda s: s.replace("    cpu: 2\n", "    cpu: -2\n"),
            "resources.inference.cpu",
            "expected a number > 0",
        ),
        (
            "ai4-metadata.yml",
            lambda s: s.replace("categories:\n", "categories: AI4 inference\nx:\n"),
            "categories",
            "expected list",
        ),
        ("ai4-metadata.yml", lambda s: s + "\n  : [unclosed\n", "", "invalid YAML"),
        (
            "metadata.json",
            lambda s: '{"title": "x", "sources": {"docker_registry_repo": "a/b"}}',
            "keywords",
            "required field is missing",
        ),
        ("metadata.json", lambda s: '{"title": "x",', "", "invalid JSON"),
    ],
)
def test_malformed_metadata_names_file_and_field(
    tmp_path: Path, filename: str, edit: Callable[[str], str], field: str, text: str
) -> None:
    folder = _module(tmp_path, "broken-module", filename, edit(GOOD_AI4))
    with pytest.raises(UserError) as info:
        read_module(folder)
    message = str(info.value)
    assert str(folder / filename) in message and text in message
    if field:
        assert f" {field}:" in message


def _fake_deepaas(bin_dir: Path) -> None:
    bin_dir.mkdir()
    script = bin_dir / "deepaas-cli"
    # Like the real deepaas-cli: the result goes to --deepaas_method_output (here: the args).
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        "args = sys.argv[1:]\n"
        "assert args[0] == '--deepaas_method_output', args\n"
        "open(args[1], 'w').write(json.dumps(args[2:]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _run_script(
    tmp_path: Path, input_bytes: bytes, name: str = "input.bin"
) -> tuple[list[str], Path]:
    demo = read_module(CATALOG / "ai4os" / "ai4os-demo-app")
    script = tmp_path / "script.sh"
    script.write_text(service_definition(demo)["script"])
    _fake_deepaas(tmp_path / "bin")
    (tmp_path / "out").mkdir()
    infile = tmp_path / name
    infile.write_bytes(input_bytes)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "INPUT_FILE_PATH": str(infile),
        "TMP_OUTPUT_DIR": str(tmp_path / "out"),
        "DEEPAAS_INPUT_ARG": "files",
    }
    # OSCAR's supervisor runs the script with /bin/sh (dash on Debian), not bash.
    done = subprocess.run(
        ["/bin/sh", str(script)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout), tmp_path / "out"


def test_script_passes_a_plain_file_to_the_input_argument(tmp_path: Path) -> None:
    args, out = _run_script(tmp_path, b"\x89PNG not json", "leaf.png")
    assert args == ["predict", "--files", str(tmp_path / "leaf.png")]
    assert (out / "leaf.prediction.json").exists()


def test_script_unpacks_the_ai4os_envelope(tmp_path: Path) -> None:
    envelope = {
        "top_k": 5,
        "accept": "application/json",
        "oscar-files": [
            {"key": "image", "file_format": "png", "data": base64.b64encode(b"PIXELS").decode()}
        ],
    }
    args, _ = _run_script(tmp_path, json.dumps(envelope).encode(), "request.json")
    assert args[0] == "predict"
    pairs = dict(zip(args[1::2], args[2::2], strict=True))
    assert pairs["--top_k"] == "5" and pairs["--accept"] == "application/json"
    assert Path(pairs["--image"]).read_bytes() == b"PIXELS"


def test_cli_list_and_fdl(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    listed = cli("models", "list", "--catalog", str(CATALOG), "--inference-only", "--json")
    assert listed.code == 0
    modules = {row["module"] for row in json.loads(listed.out)}
    assert len(modules) == 11 and not modules & NOT_SERVABLE
    table = cli("models", "list", "--catalog", str(CATALOG))
    assert table.code == 0 and "DEEP-OC-generic-dev" in table.out.replace("\n", "")
    target = tmp_path / "demo.yaml"
    made = cli("models", "fdl", "ai4os-demo-app", "--catalog", str(CATALOG), "-o", str(target))
    assert made.code == 0
    svc = yaml.safe_load(target.read_text())["functions"]["oscar"][0]["oscar"]
    jsonschema.validate(svc, service_schema())
    assert cli("models", "fdl", "no-such-module", "--catalog", str(CATALOG)).code == 2
    assert cli("models", "fdl", "ai4os-dev-env", "--catalog", str(CATALOG)).code == 2
    assert cli("models", "list", "--catalog", str(tmp_path / "missing")).code == 2


def test_untagged_catalog_image_gets_the_tag_and_a_tagged_one_keeps_its_own() -> None:
    """The catalog names `ai4oshub/ai4os-demo-app` (links.docker_image, no tag): OSCAR's
    service gets it with `:latest`, the tag Docker Hub's AI4OS images are published under
    (the default of docker's reference grammar, distribution/reference `normalize.go`).
    A reference with its own tag or a registry port keeps exactly what it names."""
    demo = read_module(CATALOG / "ai4os" / "ai4os-demo-app")
    assert demo.image == "ai4oshub/ai4os-demo-app"
    assert service_definition(demo)["image"] == "ai4oshub/ai4os-demo-app:latest"
    assert service_definition(demo, image_tag="1.2.0")["image"] == "ai4oshub/ai4os-demo-app:1.2.0"
    for ref in (
        "ai4oshub/ai4os-demo-app:2.0.1",
        "registry.example.org:5000/ai4oshub/demo:3",
        "ghcr.io/grycap/cowsay@sha256:" + "a" * 64,
    ):
        assert service_definition(dataclasses.replace(demo, image=ref))["image"] == ref
    port_only = "registry.example.org:5000/ai4oshub/demo"
    assert (
        service_definition(dataclasses.replace(demo, image=port_only))["image"]
        == port_only + ":latest"
    )


@pytest.mark.parametrize(("replicas", "min_scale", "max_scale"), [(0, 0, 4), (1, 1, 4), (3, 3, 12)])
def test_replicas_set_the_synchronous_scale(replicas: int, min_scale: int, max_scale: int) -> None:
    """`overrides.replicas` is the number of warm pods (OSCAR's `synchronous.min_scale`,
    types.Service in the v4.1.2 swagger); the ceiling is four per warm pod and never 0:
    Knative reads max-scale 0 as "unlimited" (knative.dev docs, autoscaling/scale-bounds),
    so replicas 0 (scale to zero) must still bound the service."""
    demo = read_module(CATALOG / "ai4os" / "ai4os-demo-app")
    spec = ModelSpec.model_validate(
        {"module": "ai4os-demo-app", "overrides": {"replicas": replicas}}
    )
    assert service_definition(demo, spec)["synchronous"] == {
        "min_scale": min_scale,
        "max_scale": max_scale,
    }
    assert "synchronous" not in service_definition(demo)


# -- service bodies asserted whole: the OSCAR v4.1.2 `types.Service` for a catalog model,
# with and without the site's overrides and a dCache input, every value literal.
MODEL = CatalogModel(
    module="My_Model",
    title="My model",
    summary="s",
    image="registry.example.org:5000/team/my-model",  # a registry port is no tag
    inference=True,
    resources=Resources(cpu=2.0, memory_mb=3072, gpu=0),
    source=Path("ai4-metadata.yml"),
    metadata_format="ai4-metadata 2.x",
)


def _without_script(svc: dict[str, Any]) -> dict[str, Any]:
    # templates/fdl/deepaas.sh.j2, rendered for this module.
    assert svc["script"].startswith("#!/bin/bash\n# OSCAR service script generated by oscar-iac")
    assert "for catalog module My_Model.\n" in svc["script"]
    return {k: v for k, v in svc.items() if k != "script"}


def test_a_model_without_overrides() -> None:
    assert _without_script(service_definition(MODEL)) == {
        "name": "my-model",
        "image": "registry.example.org:5000/team/my-model:latest",
        "cpu": "2",
        "memory": "3072Mi",
        "enable_gpu": False,
        "environment": {"variables": {"DEEPAAS_INPUT_ARG": "files"}},
        "input": [{"storage_provider": "minio.default", "path": "my-model/in"}],
        "output": [{"storage_provider": "minio.default", "path": "my-model/out"}],
        "labels": {"oscar-iac/managed": "true", "oscar-iac/module": "my-model"},
        "annotations": {"oscar-iac/catalog-title": "My model"},
        "log_level": "INFO",
    }
    tagged = CatalogModel(
        **{**MODEL.__dict__, "image": "team/m:1.0", "resources": Resources(gpu=1)}
    )
    svc = service_definition(tagged, image_tag="2.0")
    assert (svc["image"], svc["enable_gpu"], svc["cpu"], svc["memory"]) == (
        "team/m:1.0", True, "1", "2048Mi"
    )  # fmt: skip
    assert service_definition(MODEL, image_tag="2.0")["image"].endswith("/my-model:2.0")


def test_the_sites_overrides_and_a_dcache_input_win() -> None:
    spec = ModelSpec.model_validate(
        {
            "module": "My_Model",
            "service": "mine",
            "overrides": {
                "memory": "1.5 GiB",
                "cpu": 0.5,
                "gpu": False,
                "replicas": 0,
                "environment": {"DEEPAAS_INPUT_ARG": "data", "X": "1"},
            },
        }
    )
    dcache = DcacheEventSource.model_validate(
        {
            "kind": "dcache",
            "name": "d",
            "frontend": "https://dcache.example.org:3880",
            "webdav": "https://dcache.example.org:2880/DATAX/",
            "path": "/data/in",
            "credential": "env:T",
            "service": "mine",
        }
    )
    gpu_model = CatalogModel(**{**MODEL.__dict__, "resources": Resources(gpu=1)})
    svc = _without_script(service_definition(gpu_model, spec, dcache=dcache))
    assert svc == {
        "name": "mine",
        "image": "registry.example.org:5000/team/my-model:latest",
        "cpu": "0.5",
        "memory": "1536Mi",
        "enable_gpu": False,
        "environment": {"variables": {"DEEPAAS_INPUT_ARG": "data", "X": "1"}},
        "input": [
            {"storage_provider": "minio.default", "path": "mine/in"},
            {"storage_provider": "webdav.dcache", "path": "data/in"},
        ],
        "output": [{"storage_provider": "minio.default", "path": "mine/out"}],
        "labels": {"oscar-iac/managed": "true", "oscar-iac/module": "my-model"},
        "annotations": {"oscar-iac/catalog-title": "My model"},
        "log_level": "INFO",
        # replicas 0: scaled to zero, and at most 4 replicas once woken.
        "synchronous": {"min_scale": 0, "max_scale": 4},
        "storage_providers": {
            "webdav": {"dcache": {"hostname": "https://dcache.example.org:2880/DATAX"}}
        },
    }
    three = ModelSpec.model_validate({"module": "My_Model", "overrides": {"replicas": 3}})
    assert service_definition(MODEL, three)["synchronous"] == {"min_scale": 3, "max_scale": 12}


def test_the_fdl_file_wraps_services_under_the_cluster_id() -> None:
    svc = service_definition(MODEL)
    assert fdl_document([svc]) == {"functions": {"oscar": [{"oscar": svc}]}}
    assert fdl_document([svc, svc], "c1") == {"functions": {"oscar": [{"c1": svc}, {"c1": svc}]}}
