"""The DNS label rule at the site boundary, with its limits from RFC 1123 section 2.1 and
RFC 1035 section 2.3.1: 1-63 characters of [a-z0-9-], starting and ending with a letter or
digit. Kubernetes applies the same rule to namespace and Service names (`IsDNS1123Label`,
k8s.io/apimachinery pkg/util/validation/validation.go: DNS1123LabelMaxLength = 63).

The expected verdicts are literals of those documents, not the code's own output: a
mutant that accepts a trailing '-' or a 64-character label fails here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import CliResult

Cli = Callable[..., CliResult]
SITE = """\
name: {site}
target:
  kind: im
  endpoint: embedded
  cloud: {{kind: local}}
cluster:
  name: {cluster}
  domain: {domain}
"""


def _validate(tmp_path: Path, cli: Cli, site: str, cluster: str, domain: str) -> CliResult:
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / "site.yml").write_text(SITE.format(site=site, cluster=cluster, domain=domain))
    return cli("validate", str(folder))


@pytest.mark.parametrize(
    "label",
    [
        "oscar-",  # ends with '-'
        "-oscar",  # starts with '-'
        "a" * 64,  # one over RFC 1035's 63
        "Oscar",  # upper case (Kubernetes names are lower case)
        "os_car",  # '_' is not in the alphabet
        "",  # empty
    ],
)
def test_bad_cluster_name_is_refused(tmp_path: Path, cli: Cli, label: str) -> None:
    res = _validate(tmp_path, cli, "lbl", repr(label) if label else "''", "example.org")
    assert res.code == 2, (label, res.out, res.err)
    assert "cluster.name" in res.err
    assert "Traceback" not in res.err


@pytest.mark.parametrize("label", ["a" * 63, "o", "0scar-1", "a-b"])
def test_good_cluster_name_is_accepted(tmp_path: Path, cli: Cli, label: str) -> None:
    res = _validate(tmp_path, cli, "lbl", label, "example.org")
    assert "cluster.name" not in res.err, res.err


@pytest.mark.parametrize(
    "domain", ["example.org-", "exa_mple.org", "oscar-.example.org", ("a" * 64) + ".org"]
)
def test_bad_domain_label_is_refused(tmp_path: Path, cli: Cli, domain: str) -> None:
    res = _validate(tmp_path, cli, "lbl", "oscar", domain)
    assert res.code == 2 and "cluster.domain" in res.err, (domain, res.err)


@pytest.mark.parametrize("name", ["site-", "a" * 64])
def test_bad_site_name_is_refused(tmp_path: Path, cli: Cli, name: str) -> None:
    res = _validate(tmp_path, cli, name, "oscar", "example.org")
    assert res.code == 2 and "name" in res.err, (name, res.err)
