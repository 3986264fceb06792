"""Reading IM's contextualization log (GET /infrastructures/<id>/contmsg).

IM's agent runs ansible-playbook on the master VM and IM appends its output to the
log: `TASK [name]` headers, `fatal: [host]: FAILED! => {...}` lines and a
`PLAY RECAP` per run. This module finds the tasks that failed and the changed-task
counts, so `up` can name the failing task and tests can check that a second run
changed nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TASK = re.compile(r"TASK \[(?P<name>[^\]]*)\]")
_FAILED = re.compile(r"(?:fatal|failed): \[(?P<host>[^\]]+)\](?: => \(item=[^)]*\))?: [A-Z!]*")
_RECAP_HOST = re.compile(
    r"^\s*(?P<host>[\w.:-]+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class FailedTask:
    task: str
    host: str
    detail: str  # the rest of the `fatal:` line, shortened

    def __str__(self) -> str:
        return f"task '{self.task}' failed on {self.host}: {self.detail}"


def failed_tasks(log: str) -> list[FailedTask]:
    """Every task reported as failed (not the ignored ones), in log order."""
    found: list[FailedTask] = []
    task = "?"
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _TASK.search(line)
        if m:
            task = m.group("name").strip()
            continue
        f = _FAILED.search(line)
        if not f:
            continue
        # IM wraps the log at 80 columns: the message runs on until a blank line or
        # the next task; Ansible writes "...ignoring" right after it when ignored.
        block = [line.strip()]
        for nxt in lines[i + 1 :]:
            if not nxt.strip() or nxt.startswith(("TASK [", "PLAY ", "fatal: ", "failed: ")):
                break
            block.append(nxt.strip())
        if block[-1] == "...ignoring":
            continue
        rest = " ".join(block)
        detail = rest[f.end() :].strip()
        msg = re.search(r'"msg": "((?:[^"\\]|\\.)*)"', rest)
        found.append(FailedTask(task, f.group("host"), (msg.group(1) if msg else detail)[:300]))
    return found


@dataclass(frozen=True)
class Recap:
    host: str
    ok: int
    changed: int
    unreachable: int
    failed: int


def recaps(log: str) -> list[list[Recap]]:
    """One list per PLAY RECAP block, in log order."""
    out: list[list[Recap]] = []
    for block in log.split("PLAY RECAP")[1:]:
        block = block.split("TASK [", 1)[0].split("PLAY [", 1)[0]
        hosts = [
            Recap(
                m.group("host"),
                int(m.group("ok")),
                int(m.group("changed")),
                int(m.group("unreachable")),
                int(m.group("failed")),
            )
            for m in _RECAP_HOST.finditer(block)
        ]
        if hosts:
            out.append(hosts)
    return out
