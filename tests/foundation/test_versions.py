"""The one versions file: loadable by Python and Ansible alike, well-formed pins."""

from __future__ import annotations

import re

import yaml

from foundation.conftest import REPO
from oscar_iac.versions import VERSIONS_KEY, pin, versions, versions_file


def test_the_package_reads_the_repository_file() -> None:
    assert versions_file() == REPO / "versions.yml"


def test_every_component_pins_something() -> None:
    table = versions()
    assert {"k3s", "oscar", "minio", "knative_serving", "nifi"} <= set(table)
    for name, spec in table.items():
        assert any(k in spec for k in ("version", "chart_version", "go_module")), name


def test_checksums_are_sha256_and_urls_are_https() -> None:
    # An empty sha256 means "not pinned yet" (the air-gap tool refuses such an
    # artifact); anything else must be a full sha256.
    pinned = set()
    for name, spec in versions().items():
        for art in spec.get("artifacts", []) or []:
            assert art["url"].startswith("https://"), (name, art)
            assert art["sha256"] == "" or re.fullmatch(r"[0-9a-f]{64}", art["sha256"]), (
                name,
                art["name"],
                "sha256",
            )
            if art["sha256"]:
                pinned.add(name)
    assert {"k3s", "oscar"} <= pinned


def test_ansible_sees_only_prefixed_variables() -> None:
    # What the roles deploy, and beside it what the tests build (issue #19: one file).
    data = yaml.safe_load((REPO / "versions.yml").read_text())
    assert list(data) == [VERSIONS_KEY, "oscar_iac_test_components"]


def test_pin_reads_a_value() -> None:
    assert pin("k3s").startswith("v1.")
