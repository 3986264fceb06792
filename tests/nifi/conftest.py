"""Fixtures for the NiFi tests: the flowcheck Maven module (real NiFi processor classes)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from nifi.java import MIN_JAVA, java_home, maven

REPO = Path(__file__).resolve().parents[2]
MODULE = Path(__file__).parent / "flowcheck"
# Maven's repository under the project's cache, so CI re-runs are warm (~15 s instead of ~31 s).
M2 = REPO / ".cache" / "m2"


@dataclass(frozen=True)
class MavenRun:
    returncode: int
    output: str


def run_flowcheck(flow_dir: Path, nifi_version: str, tests: str | None = None) -> MavenRun:
    """`mvn -q test` of the flowcheck module on the flow files in `flow_dir`."""
    home = java_home()
    mvn = maven()
    if home is None or mvn is None:
        pytest.fail(
            f"flowcheck needs a JDK {MIN_JAVA}+ and Maven (found JDK: {home}, mvn: {mvn}); "
            "run `bash .ci/install-system.sh`"
        )
    env = dict(os.environ, JAVA_HOME=str(home), PATH=f"{home}/bin:{os.environ['PATH']}")
    # Maven itself starts faster with the client compiler only (a short run on 2 cores).
    env.setdefault("MAVEN_OPTS", "-XX:+TieredCompilation -XX:TieredStopAtLevel=1")
    cmd = [
        mvn,
        "-q",
        "-B",
        f"-Dmaven.repo.local={M2}",
        f"-Dnifi.version={nifi_version}",
        f"-Dflowcheck.dir={flow_dir}",
        # Build output outside the source tree (the repo stays clean).
        f"-Dflowcheck.build={flow_dir / 'target'}",
        "test",
    ]
    if tests:
        cmd.insert(-1, f"-Dtest={tests}")
    M2.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        cmd, cwd=MODULE, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    return MavenRun(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def flowcheck() -> type[MavenRun]:
    return MavenRun
