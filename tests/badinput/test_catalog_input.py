"""Broken catalog metadata (AI4OS ai4-metadata.yml, DEEP metadata.json): exit 2 naming the
file, the line when the format has lines, the field and what is expected; no traceback.

Each folder under broken/catalog/ is a catalog holding one class of bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import CliResult

BROKEN = Path(__file__).parent / "broken" / "catalog"
GOOD = Path(__file__).parent / "catalog"

# case -> (file inside the case folder, field named, text that says what is expected)
CASES: dict[str, tuple[str, str, str]] = {
    "image-empty": ("mod/ai4-metadata.yml", "links.docker_image", "container image reference"),
    "image-spaces": ("mod/ai4-metadata.yml", "links.docker_image", "container image reference"),
    "image-semicolon": ("mod/ai4-metadata.yml", "links.docker_image", "container image reference"),
    "image-uppercase": ("mod/ai4-metadata.yml", "links.docker_image", "lowercase path"),
    "cpu-inf": ("mod/ai4-metadata.yml", "resources.inference.cpu", "expected a number > 0"),
    "cpu-nan": ("mod/ai4-metadata.yml", "resources.inference.cpu", "expected a number > 0"),
    "cpu-zero": ("mod/ai4-metadata.yml", "resources.inference.cpu", "expected a number > 0"),
    "memory-inf": ("mod/ai4-metadata.yml", "resources.inference.memory_MB", "> 0"),
    "memory-zero": ("mod/ai4-metadata.yml", "resources.inference.memory_MB", "> 0"),
    "memory-fraction": ("mod/ai4-metadata.yml", "resources.inference.memory_MB", "whole number"),
    "resources-list": ("mod/ai4-metadata.yml", "resources", "expected a mapping"),
    "tags-number": ("mod/ai4-metadata.yml", "tags", "expected a list of strings"),
    "title-empty": ("mod/ai4-metadata.yml", "title", "non-empty title"),
    "categories-mapping": ("mod/ai4-metadata.yml", "categories", "expected list"),
    "yaml-alias-bomb": ("mod/ai4-metadata.yml", "", "expands to more than"),
    "yaml-unhashable-key": ("mod/ai4-metadata.yml", "", "a key must be a plain value"),
    "yaml-not-utf8": ("mod/ai4-metadata.yml", "", "not UTF-8"),
    "json-not-utf8": ("mod/metadata.json", "", "not UTF-8"),
    "json-nan": ("mod/metadata.json", "", "NaN is not a JSON number"),
    "json-deep": ("mod/metadata.json", "", "levels deep"),
    "json-deep-small": ("mod/metadata.json", "", "levels deep"),
    "json-keywords-number": ("mod/metadata.json", "keywords", "expected a list of strings"),
    "json-image-blank": ("mod/metadata.json", "sources.docker_registry_repo", "image reference"),
    "service-collision": (
        "plants-classification/ai4-metadata.yml",
        "",
        "both become OSCAR service",
    ),
}


def test_every_case_has_a_folder_and_every_folder_a_case() -> None:
    assert sorted(CASES) == sorted(p.name for p in BROKEN.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", sorted(CASES))
def test_catalog_case_exits_2_naming_file_and_field(
    case: str, cli: Callable[..., CliResult]
) -> None:
    file, field, text = CASES[case]
    result = cli("models", "list", "--catalog", str(BROKEN / case))
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    path = BROKEN / case / file
    # YAML problems name the line; JSON problems name the file (json gives no key lines).
    # A collision is about two folders, not a line of either.
    line = r":\d+" if path.suffix == ".yml" and case != "service-collision" else r"(:\d+)?"
    prefix = rf"{re.escape(str(path))}{line}:"
    if field:
        prefix += rf" {re.escape(field)}:"
    assert re.search(prefix, result.err), result.err
    assert text in result.err, result.err


def test_the_good_catalog_reads(cli: Callable[..., CliResult]) -> None:
    result = cli("models", "list", "--catalog", str(GOOD), "--json")
    assert result.code == 0, result.err
    assert "demo-model" in result.out and "dev-env" in result.out
