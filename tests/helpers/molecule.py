"""Reading Molecule/Ansible output: the changed-task counts of each PLAY RECAP."""

from __future__ import annotations

import re

_HOST = re.compile(r"^\W*([\w.-]+)\s*:\s*ok=\d+\s+changed=(\d+)", re.MULTILINE)
# "INFO [multinode > converge] Executing" (plain) or "multinode ➜ converge: Executing" (colour)
_ACTION = re.compile(r"(?:\[\w+ > (\w+)\]|\w+ \S+ (\w+):) Executing")


def recaps(output: str) -> list[dict[str, int]]:
    """One dict per PLAY RECAP block, host -> changed tasks (hosts named oscar-iac-*)."""
    found: list[dict[str, int]] = []
    for block in output.split("PLAY RECAP")[1:]:
        hosts = {h: int(n) for h, n in _HOST.findall(block) if h.startswith("oscar-iac-")}
        if hosts:
            found.append(hosts)
    return found


def recaps_by_action(output: str) -> dict[str, dict[str, int]]:
    """Molecule action (converge, idempotence, ...) -> host -> changed tasks, summed
    over the plays the action ran."""
    by_action: dict[str, dict[str, int]] = {}
    marks = [(m.start(), m.group(1) or m.group(2)) for m in _ACTION.finditer(output)]
    for i, (start, action) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(output)
        for recap in recaps(output[start:end]):
            total = by_action.setdefault(action, {})
            for host, changed in recap.items():
                total[host] = total.get(host, 0) + changed
    return by_action
