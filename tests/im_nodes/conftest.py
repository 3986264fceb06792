"""A front and three workers as podman machines, contextualized by the embedded IM.

One set of machines per module: the tests of a module follow one deployment
through its life (the order of the tests in the file is the order of the story).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from im_nodes.podnodes import (
    NodeSet,
    build_node_image,
    ensure_bridge,
    make_key,
    project_tarball,
    serve_folder,
)

BIN = Path(sys.executable).parent

# Fixed addresses on podman's default network (10.88.0.0/16); 10.88.42.x is Molecule's.
ADDRESSES = {
    "front": "10.88.77.10",
    "wn1": "10.88.77.11",
    "wn2": "10.88.77.12",
    "wn3": "10.88.77.13",
}


@dataclass
class Run:
    code: int
    out: str

    def __str__(self) -> str:
        return f"exit {self.code}\n{self.out[-6000:]}"


@dataclass
class Cluster:
    nodes: NodeSet
    key: Path
    repo_url: str
    work: Path
    state: Path

    def oscar_iac(self, *args: str, timeout: float = 1200) -> Run:
        """`oscar-iac ARGS` as a user runs it (a process of its own), output merged."""
        # The machines' key lives outside the site folder, as ~/.ssh keys do: its folder is
        # allowed the way users allow theirs (file: secrets are confined to the site folder).
        env = dict(
            os.environ,
            OSCAR_IAC_STATE=str(self.state),
            OSCAR_IAC_SECRET_DIRS=str(self.key.parent),
            NO_COLOR="1",
            COLUMNS="200",
        )
        res = subprocess.run(
            [str(BIN / "oscar-iac"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return Run(res.returncode, res.stdout)


@pytest.fixture(scope="session")
def node_image() -> str:
    return build_node_image()


@pytest.fixture(scope="module")
def cluster(node_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("imnodes")
    key = make_key(work / "ssh")
    ensure_bridge()
    www = work / "www"
    project_tarball(www / "oscar-iac.tar.gz")
    with NodeSet.of(ADDRESSES, key) as nodes, serve_folder(www) as url:
        yield Cluster(nodes, key, f"{url}/oscar-iac.tar.gz", work, work / "state")
