"""`oscar-iac services try`: the generated script on the real DEEPaaS demo model in podman."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.cli import CliResult
from oscar_iac.fdl import fdl_document
from oscar_iac.versions import pin
from runner.fixtures import DEMO_CATALOG, EXPECTED_SPECIES, IRIS_SAMPLE, runner_image_name

Cli = Callable[..., CliResult]


def _species(text: str) -> list[str]:
    return [row["species"] for row in json.loads(text)["predictions"]]


@pytest.mark.slow
def test_try_returns_the_demo_models_real_prediction(
    cli: Cli, runner_image: str, demo_fdl: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli("services", "try", str(demo_fdl), "--input", str(IRIS_SAMPLE), "-o", str(out))
    assert result.code == 0, result.err
    assert _species(result.out) == EXPECTED_SPECIES
    # The script ran under DEEPaaS (its log) and left its file where OSCAR uploads from.
    assert "deepaas.cmd.cli" in result.err and "predict was called" in result.err
    written = out / "iris-sample.prediction.json"
    assert _species(written.read_text()) == EXPECTED_SPECIES


@pytest.mark.slow
def test_try_sync_takes_the_ai4os_envelope_with_model_arguments(
    cli: Cli, runner_image: str, demo_fdl: Path, tmp_path: Path
) -> None:
    body = {
        "probabilities": True,
        "oscar-files": [
            {
                "key": "files",
                "file_format": "csv",
                "data": base64.b64encode(IRIS_SAMPLE.read_bytes()).decode(),
            }
        ],
    }
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    result = cli("services", "try", str(demo_fdl), "--input", str(request), "--sync")
    assert result.code == 0, result.err
    rows = json.loads(result.out)["predictions"]
    assert [r["species"] for r in rows] == EXPECTED_SPECIES
    assert all(abs(sum(r["probabilities"].values()) - 1) < 0.01 for r in rows)


@pytest.mark.slow
def test_service_variables_reach_the_script_but_never_podmans_arguments(
    cli: Cli,
    runner_image: str,
    demo_service: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cr3t-" + os.urandom(6).hex()
    svc = {
        **demo_service,
        "script": (
            'printf "%s" "$API_KEY" > "$TMP_OUTPUT_DIR/key.txt"\n'
            'printf "%s|%s|%s" "$INPUT_FILE_PATH" "$STORAGE_OBJECT_KEY" "$DEEPAAS_INPUT_ARG"'
            ' > "$TMP_OUTPUT_DIR/env.txt"\n'
        ),
        "environment": {
            "variables": {"DEEPAAS_INPUT_ARG": "files"},
            "secrets": {"API_KEY": secret},
        },
    }
    fdl = tmp_path / "svc.yaml"
    fdl.write_text(yaml.safe_dump(fdl_document([svc])))
    # A podman on PATH that records its arguments, then runs the real one.
    shim = tmp_path / "bin" / "podman"
    shim.parent.mkdir()
    real = next(
        p / "podman" for p in map(Path, os.environ["PATH"].split(":")) if (p / "podman").is_file()
    )
    shim.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/argv.log\nexec {real} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    out = tmp_path / "out"
    result = cli("services", "try", str(fdl), "--input", str(IRIS_SAMPLE), "-o", str(out))
    assert result.code == 0, result.err
    assert (out / "key.txt").read_text() == secret
    input_path, object_key, arg = (out / "env.txt").read_text().split("|")
    assert input_path.endswith("/iris-sample.csv") and object_key == "in/iris-sample.csv"
    assert arg == "files"
    argv = (tmp_path / "argv.log").read_text()
    assert "\nrun --rm" in f"\n{argv}" and secret not in argv
    # Listed by name only (stdout shows it solely because this script wrote it to an output).
    assert secret not in result.err
    assert "API_KEY (secret)" in result.err


def test_bad_input_exits_2_naming_file_and_field(cli: Cli, demo_fdl: Path, tmp_path: Path) -> None:
    missing = cli("services", "try", str(tmp_path / "nope.yaml"), "--input", str(IRIS_SAMPLE))
    assert missing.code == 2 and "nope.yaml" in missing.err

    no_input = cli("services", "try", str(demo_fdl), "--input", str(tmp_path / "none.csv"))
    assert no_input.code == 2 and "none.csv" in no_input.err and "--input" in no_input.err

    doc = yaml.safe_load(demo_fdl.read_text())
    del doc["functions"]["oscar"][0]["oscar"]["image"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc))
    no_image = cli("services", "try", str(broken), "--input", str(IRIS_SAMPLE))
    assert no_image.code == 2
    assert "broken.yaml" in no_image.err and "functions.oscar[0].oscar.image" in no_image.err

    unknown = cli("services", "try", str(demo_fdl), "--input", str(IRIS_SAMPLE), "--service", "x")
    assert unknown.code == 2 and "no service named 'x'" in unknown.err

    not_fdl = tmp_path / "list.yaml"
    not_fdl.write_text("- 1\n- 2\n")
    wrong = cli("services", "try", str(not_fdl), "--input", str(IRIS_SAMPLE))
    assert wrong.code == 2 and "functions.oscar" in wrong.err


def test_a_missing_image_is_a_deployment_error_with_a_hint(cli: Cli, demo_fdl: Path) -> None:
    result = cli(
        "services",
        "try",
        str(demo_fdl),
        "--input",
        str(IRIS_SAMPLE),
        "--image",
        "localhost/oscar-iac-no-such-image:0",
    )
    assert result.code == 1
    assert "localhost/oscar-iac-no-such-image:0 is not on this machine" in result.err
    assert "next:" in result.err


def test_demo_catalog_entry_uses_the_pinned_deepaas_image() -> None:
    meta = yaml.safe_load((DEMO_CATALOG / "oscar-iac-demo-model" / "ai4-metadata.yml").read_text())
    assert meta["links"]["docker_image"] == runner_image_name()
    assert runner_image_name().endswith(":" + pin("deepaas"))
