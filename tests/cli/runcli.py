"""Run the real `oscar-iac` console script with its output on a real pipe or terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
BIN = Path(sys.executable).parent
OSCAR_IAC = str(BIN / "oscar-iac")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


@dataclass
class Run:
    code: int
    out: str
    err: str


def env(**extra: str) -> dict[str, str]:
    """The test's environment; a narrow COLUMNS proves the width is not what matters."""
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PY_COLORS")}
    return {**base, "COLUMNS": "40", **extra}


def piped(*args: str, stdin: str = "", timeout: float = 300, **extra: str) -> Run:
    """`oscar-iac ARGS` with stdout and stderr on pipes (as `... | cat`)."""
    proc = subprocess.run(
        [OSCAR_IAC, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env(**extra),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def on_terminal(argv: list[str], timeout: float = 120, **extra: str) -> Run:
    """`argv` with stdout and stderr on a pseudo-terminal (80 columns): what a person sees.
    `out` holds both streams (one terminal), ANSI codes removed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env(**extra), cwd=REPO
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{argv} did not finish within {timeout} s on a terminal")
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed: the program ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=30)
    text = b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")
    return Run(code, ANSI.sub("", text), "")
