"""Roles: converge time, second-run time and changed-task counts of the multi-node
Molecule scenario (front + 2 workers in podman), side by side in one run.

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

from helpers.molecule import recaps  # noqa: E402

SCENARIO = "multinode"


def molecule(step: str) -> tuple[float, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["CONTAINERS_CONF"] = str(REPO / "tests" / "images" / "containers.conf")
    env["NO_COLOR"] = "1"
    start = time.perf_counter()
    res = subprocess.run(
        ["molecule", step, "-s", SCENARIO], cwd=REPO, env=env, capture_output=True, text=True
    )
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"molecule {step} failed:\n{(res.stdout + res.stderr)[-4000:]}")
    return took, res.stdout + res.stderr


def main() -> None:
    subprocess.run(["bash", str(REPO / "tests/images/build-base-image.sh")], check=True)
    molecule("destroy")
    molecule("create")
    try:
        first, out1 = molecule("converge")
        second, out2 = molecule("converge")
    finally:
        molecule("destroy")
    changed1 = recaps(out1)[-1]
    changed2 = recaps(out2)[-1]
    print(f"{'run':<14}{'seconds':>9}  changed tasks per host")
    print(f"{'converge':<14}{first:>9.1f}  {changed1}")
    print(f"{'second run':<14}{second:>9.1f}  {changed2}")
    ratio = second / first
    print(
        f"second/first time: {ratio:.2f} (target < 0.5); changed on second run: {sum(changed2.values())} (target 0)"
    )


if __name__ == "__main__":
    main()
