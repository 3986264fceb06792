"""A real OCI registry for the test node, and containerd's hosts.toml that sends pulls to it.

OSCAR v4.1.2 gives every job Pod `imagePullPolicy: Always` (pkg/types/service.go,
Service.ToPodSpec: `ImagePullPolicy: v1.PullAlways`), so the kubelet asks containerd to pull the
service's image even when it was imported: with no registry, the Pod stops at ImagePullBackOff.
No public registry is reachable here, so the node runs one: the CNCF Distribution registry
(github.com/distribution/distribution/v3 cmd/registry, built by tests/components/build-node.sh,
pinned in versions.yml `oscar_iac_test_components.registry`) on 127.0.0.1, where containerd (a
host process) reaches it.

The images keep the references they were built with (`localhost/<name>:<tag>`, the one the demo
catalog names as docker_image): containerd's CRI plugin finds the registry host of a reference
under its `config_path` (containerd v2.4.2 docs/hosts.md "Specifying the Configuration
Directory", `[plugins."io.containerd.cri.v1.images".registry] config_path`) as
`<config_path>/<host>/hosts.toml`, a `:port` written `_port_`
(core/remotes/docker/config/hosts.go hostDirectory). Its `server` field is the default server of
that namespace (docs/hosts.md "server field"); an `http://` scheme makes containerd speak plain
HTTP to it (hosts.go parseHostConfig keeps the URL's scheme). Only the `localhost` namespace is
configured so: every other registry keeps containerd's default, HTTPS.

The images are pushed from containerd's own content store (`ctr images push --hosts-dir`, the
same hosts.toml; cmd/ctr/commands/resolver.go), so the registry serves exactly the manifests
and layers already imported: a pull resolves the tag there and finds every blob present.
"""

from __future__ import annotations

import secrets
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.minio_fixture import free_port

REGISTRY_NAMESPACE = "localhost"


def registry_host(ref: str) -> str:
    """The registry host of an image reference, as containerd and the kubelet normalize it
    (github.com/distribution/reference v0.6.0 normalize.go splitDockerDomain: the first path
    element is the host if it is `localhost` or holds a `.` or `:`; else Docker Hub)."""
    first, sep, _ = ref.partition("/")
    if sep and (first == "localhost" or any(c in first for c in ".:")):
        return first
    return "docker.io"


def hosts_directory(host: str) -> str:
    """containerd's folder name for a registry host (hosts.go hostDirectory)."""
    name, sep, port = host.rpartition(":")
    return f"{name}_{port}_" if sep and name else host


@dataclass
class Registry:
    """A started registry: `address` (127.0.0.1:<port>) and containerd's hosts folder."""

    address: str
    hosts_dir: Path

    def answers(self) -> bool:
        """The registry's API base answers 200 (distribution-spec: GET /v2/)."""
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=5) as res:
                return bool(res.status == 200)
        except OSError:
            return False

    def serves(self, ref: str) -> bool:
        """Whether `ref`'s registry host is the one this registry stands for."""
        return registry_host(ref) == REGISTRY_NAMESPACE


def prepare_registry(folder: Path) -> tuple[Registry, list[str]]:
    """Write the registry's configuration (storage under `folder`, 127.0.0.1:<free port>) and
    containerd's hosts.toml for the `localhost` namespace; returns the registry and the argv
    that serves it (the caller starts and stops the process)."""
    folder.mkdir(mode=0o700)
    address = f"127.0.0.1:{free_port()}"
    # configuration.Configuration v0.1 (distribution v3.1.2 configuration/configuration.go:
    # storage.filesystem.rootdirectory, http.addr, http.secret; cmd/registry/config-dev.yml).
    # The secret signs upload state only; one registry, so a fresh random one is fine.
    config = {
        "version": "0.1",
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": address, "secret": secrets.token_hex(16)},
    }
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    hosts_dir = folder / "certs.d"
    ns = hosts_dir / hosts_directory(REGISTRY_NAMESPACE)
    ns.mkdir(parents=True)
    (ns / "hosts.toml").write_text(f'server = "http://{address}"\n')
    return Registry(address=address, hosts_dir=hosts_dir), ["serve", str(folder / "config.yml")]


def push_images(
    registry: Registry,
    refs: list[str],
    ctr: Callable[..., subprocess.CompletedProcess[str]],
) -> list[str]:
    """Push the imported images the registry stands for from containerd's content store."""
    pushed = []
    for ref in refs:
        if not registry.serves(ref):
            continue
        ctr("images", "push", "--hosts-dir", str(registry.hosts_dir), ref, check=True)
        pushed.append(ref)
    return pushed
