"""components.registry_fixture's reading of image references and containerd's host folders.

The expected values are upstream's own cases: github.com/distribution/reference v0.6.0
normalize_test.go (TestParseRepositoryInfo: Domain of "localhost/fooo", "127.0.0.1:5000/...",
"fooo/bar", "ubuntu") and containerd v2.4.2 docs/hosts.md ("Port Handling in Registry Host":
myregistry.io:5000 is looked up as the folder myregistry.io_5000_).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.registry_fixture import hosts_directory, prepare_registry, registry_host


@pytest.mark.parametrize(
    ("ref", "host"),
    [
        ("localhost/fooo", "localhost"),
        ("localhost/oscar-iac-runner-demo:2.6.0", "localhost"),
        ("127.0.0.1:5000/debian", "127.0.0.1:5000"),
        ("example.com/fooo/bar", "example.com"),
        ("fooo/bar", "docker.io"),
        ("ubuntu", "docker.io"),
    ],
)
def test_registry_host_normalizes_like_docker_reference(ref: str, host: str) -> None:
    assert registry_host(ref) == host


def test_hosts_directory_writes_a_port_like_containerd() -> None:
    assert hosts_directory("myregistry.io:5000") == "myregistry.io_5000_"
    assert hosts_directory("localhost") == "localhost"


def test_only_the_localhost_namespace_goes_to_plain_http(tmp_path: Path) -> None:
    registry, argv = prepare_registry(tmp_path / "registry")
    assert argv[0] == "serve"
    (ns,) = registry.hosts_dir.iterdir()
    assert ns.name == "localhost"
    assert (ns / "hosts.toml").read_text() == f'server = "http://{registry.address}"\n'
    assert registry.address.startswith("127.0.0.1:")
    assert registry.serves("localhost/oscar-iac-pause:3.10")
    assert not registry.serves("docker.io/library/busybox:1")
    assert (tmp_path / "registry").stat().st_mode & 0o077 == 0
