"""Reading Molecule/Ansible output: the changed-task counts of each PLAY RECAP."""

from __future__ import annotations

import re

_HOST = re.compile(r"^\W*([\w.-]+)\s*:\s*ok=\d+\s+changed=(\d+)", re.MULTILINE)


def recaps(output: str) -> list[dict[str, int]]:
    """One dict per PLAY RECAP block, host -> changed tasks (hosts named oscar-iac-*)."""
    found: list[dict[str, int]] = []
    for block in output.split("PLAY RECAP")[1:]:
        hosts = {h: int(n) for h, n in _HOST.findall(block) if h.startswith("oscar-iac-")}
        if hosts:
            found.append(hosts)
    return found
