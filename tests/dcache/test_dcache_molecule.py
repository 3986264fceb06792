"""The dcache_relay role's Molecule scenario: one node, systemd as PID 1, the dCache and
OSCAR test doubles inside it; check mode, converge, idempotence, verify (uploads across a
stop/start and a SIGKILL of the service all reach /job)."""

from __future__ import annotations

import re
import subprocess

import pytest

from roles.conftest import REPO, tool_env

# A whole Molecule scenario (create, converge twice, verify, destroy): ~4 min on an idle
# 2-core machine, ~9 min with both cores busy; the suite's 10-minute bound per test is too tight here.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_dcache_relay_molecule_scenario(base_image: str) -> None:
    res = subprocess.run(
        ["molecule", "test", "-s", "dcache_relay"],
        cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out = res.stdout
    assert res.returncode == 0, out[-8000:]
    for action in ("check", "converge", "idempotence", "verify"):
        assert re.search(rf"dcache_relay \S+ {action}\]?: Executed: Successful", out), out[-4000:]
    changed = [int(n) for n in re.findall(r"dcache-relay-front\s*:\s*ok=\d+\s+changed=(\d+)", out)]
    # prepare, check, converge, idempotence, verify: converge changed things, idempotence none.
    assert len(changed) >= 4 and changed[2] > 0 and changed[3] == 0, changed
    assert re.search(r"jobs=\d+ unique=120 duplicates=\d+", out), out[-4000:]
