"""Podman machines for the `nodes` cloud: a front and workers that IM contextualizes.

Each node runs the node image (tests/images/build-im-node-image.sh: the project's
Debian 12 image with systemd and sshd, IM's tooling provided offline, a login user
with passwordless sudo) at a fixed address on podman's default network (10.88.0.0/16;
10.88.42.x is Molecule's), named `imnodes-<name>`. The login user's key is made per
run. The project reaches the nodes as a release tarball served over HTTP on the
bridge's gateway address, as a real site would serve it (artifacts.repo_url).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "tests" / "images"
NODE_IMAGE = "localhost/imnodes-node:latest"
BASE_IMAGE = "localhost/oscar-iac-debian12:latest"
LOGIN_USER = "cloudadm"
GATEWAY = "10.88.0.1"  # podman's default network: the host side of the bridge


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(IMAGES / "containers.conf")
    return env


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, check=check
    )


def build_node_image() -> str:
    """The node image, built when missing (base image first, about 3 minutes cold)."""
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        subprocess.run(
            ["bash", str(IMAGES / "build-base-image.sh"), BASE_IMAGE], check=True, cwd=REPO
        )
    subprocess.run(
        ["bash", str(IMAGES / "build-im-node-image.sh"), NODE_IMAGE, LOGIN_USER],
        check=True,
        cwd=REPO,
        env=podman_env(),
    )
    return NODE_IMAGE


def make_key(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = folder / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imnodes-test", "-f", str(key)],
            check=True,
        )
    return key


def wait_until(what: str, check: object, timeout: float, interval: float = 0.5) -> None:
    """Poll `check()` until true; fail naming what was awaited."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _ssh_open(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2) as s:
            return s.recv(4).startswith(b"SSH")
    except OSError:
        return False


@dataclass
class Node:
    name: str  # the site's machine name
    address: str

    @property
    def container(self) -> str:
        return f"imnodes-{self.name}"

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.container, "sh", "-c", script, check=check)


@dataclass
class NodeSet:
    """`with NodeSet(prefix, {name: address}, key) as nodes:` — running, SSH reachable."""

    nodes: dict[str, Node]
    key: Path
    image: str = NODE_IMAGE
    started: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, addresses: dict[str, str], key: Path) -> NodeSet:
        return cls({n: Node(n, a) for n, a in addresses.items()}, key)

    def start(self, names: list[str] | None = None) -> None:
        pub = Path(f"{self.key}.pub").read_text().strip()
        chosen = [self.nodes[n] for n in (names or list(self.nodes))]
        for node in chosen:
            podman("rm", "-f", node.container, check=False)
            extra = ["--tmpfs=/pv:rw,mode=0755", "--cap-add=DAC_READ_SEARCH"]
            podman(
                "run", "-d", "--name", node.container, "--hostname", node.container,
                "--ip", node.address, "--systemd=always", "--runtime=runc", *extra,
                self.image, "/sbin/init",
            )  # fmt: skip
            self.started.append(node.container)
        for node in chosen:
            wait_until(f"sshd of {node.container}", lambda n=node: _ssh_open(n.address), timeout=90)
            # The login user's key for this run (an operator's cloud-init would do this).
            node.sh(
                f"umask 077; echo '{pub}' > /home/{LOGIN_USER}/.ssh/authorized_keys && "
                f"chown {LOGIN_USER}: /home/{LOGIN_USER}/.ssh/authorized_keys"
            )

    def stop(self) -> None:
        for name in self.started:
            podman("rm", "-f", "-t", "2", name, check=False)
        self.started.clear()

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def __enter__(self) -> NodeSet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def project_tarball(dest: Path) -> Path:
    """This checkout's files (tracked + untracked, not ignored) as a release tarball."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for raw in files:
            rel = raw.decode()
            path = REPO / rel
            if rel and (path.exists() or path.is_symlink()):
                tar.add(path, arcname=f"oscar-iac/{rel}", recursive=False)
    return dest


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """An HTTP server on the bridge's gateway (what the nodes reach), on a free port."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer((GATEWAY, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{GATEWAY}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ensure_bridge() -> None:
    """podman creates its bridge (and the gateway address) with the first container."""
    if subprocess.run(["ip", "addr", "show", "podman0"], capture_output=True).returncode != 0:
        podman("run", "--rm", "--runtime=runc", NODE_IMAGE, "true")


# The roles' configured-only mode, as Molecule's multinode scenario sets it
# (molecule/multinode/molecule.yml): no k3s binary, no chart or image can be fetched
# here, and this kernel has no NFS server.
CONFIGURED_ONLY = {
    "k3s_state": "configured",
    "nfs_server_backend": "ganesha",
    "nfs_ganesha_graceless": True,
    **{f"{r}_apply": False for r in ("nfs", "ingress", "minio", "knative", "oscar", "gpu")},
}


def write_site(
    folder: Path,
    *,
    name: str,
    front: Node,
    workers: list[Node],
    count: int,
    key: Path,
    repo_url: str,
    role_vars: dict[str, object] | None = None,
) -> Path:
    """A site of kind im / cloud nodes for these machines (the README's shape)."""
    import yaml

    site = {
        "name": name,
        "target": {
            "kind": "im",
            "endpoint": "embedded",
            "cloud": {
                "kind": "nodes",
                "user": LOGIN_USER,
                "key": f"file:{key}",
                "front": {"address": front.address},
                "workers": [{"name": w.name, "address": w.address} for w in workers],
            },
        },
        "cluster": {"name": "oscar", "domain": "nodes.test", "workers": {"count": count}},
        "artifacts": {"repo_url": repo_url},
        "stack": {
            "ingress": {"tls": {"mode": "self-signed"}},
            "knative": {"enabled": True},
            "role_vars": {**CONFIGURED_ONLY, **(role_vars or {})},
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.yml").write_text(yaml.safe_dump(site, sort_keys=False))
    return folder
