"""Roles: converge time, second-run time and changed-task counts of the multi-node
Molecule scenario (front + 2 workers in podman, reached over SSH), side by side in
one run. Both times are whole `molecule converge` commands (playbooks/site.yml).

Target: the second run changes 0 tasks and takes under half the first.
Needs podman and the project's base image (tests/images/build-base-image.sh).

Run: .venv/bin/python benchmarks/bench_roles.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from helpers.molecule import recaps_by_action  # noqa: E402

SCENARIO = "multinode"


def molecule(step: str) -> tuple[float, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["CONTAINERS_CONF"] = str(REPO / "tests" / "images" / "containers.conf")
    env["NO_COLOR"] = "1"
    start = time.perf_counter()
    # One stream: Molecule logs its actions on stderr, Ansible its recaps on stdout.
    res = subprocess.run(
        ["molecule", step, "-s", SCENARIO],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"molecule {step} failed:\n{res.stdout[-4000:]}")
    return took, res.stdout


def main() -> None:
    subprocess.run(["bash", str(REPO / "tests/images/build-base-image.sh")], check=True)
    molecule("destroy")
    molecule("create")
    try:
        molecule("prepare")  # SSH access, as on real hosts
        first, out1 = molecule("converge")
        second, out2 = molecule("converge")
    finally:
        molecule("destroy")
    changed1 = recaps_by_action(out1)["converge"]
    changed2 = recaps_by_action(out2)["converge"]
    print(f"{'run':<14}{'seconds':>9}  changed tasks per host")
    print(f"{'converge':<14}{first:>9.1f}  {changed1}")
    print(f"{'second run':<14}{second:>9.1f}  {changed2}")
    ratio = second / first
    print(
        f"second/first time: {ratio:.2f} (target < 0.5); changed on second run: {sum(changed2.values())} (target 0)"
    )


if __name__ == "__main__":
    main()
