"""The multi-node Molecule scenario (front + 2 workers in podman, systemd as PID 1):
converge, idempotence (zero changes on the second run) and verify."""

from __future__ import annotations

import re

import pytest

from helpers.molecule import recaps
from roles.conftest import run_tool

pytestmark = pytest.mark.slow


def test_multinode_scenario(base_image: str) -> None:
    res = run_tool("molecule", "test", "-s", "multinode")
    output = res.stdout + res.stderr
    assert res.returncode == 0, output[-8000:]
    # Recaps of create/destroy list only localhost; then converge, idempotence, verify.
    found = recaps(output)
    assert len(found) >= 2, output[-4000:]
    converge, idempotence = found[0], found[1]
    assert set(converge) == {"oscar-iac-front", "oscar-iac-worker1", "oscar-iac-worker2"}
    assert all(n > 0 for n in converge.values()), converge
    assert set(idempotence) == set(converge)
    assert all(n == 0 for n in idempotence.values()), idempotence
    assert re.search(r"multinode \S+ verify\]?: Executed: Successful", output), output[-4000:]
    assert "objects valid for Kubernetes" in output
    assert re.search(r"multinode \S+ side_effect\]?: Executed: Successful", output), output[-4000:]
