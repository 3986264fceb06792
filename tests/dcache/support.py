"""Helpers of the dCache events tests: run the listener as a process, wait, count jobs."""

from __future__ import annotations

import collections
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doubles.dcache_server import DcacheEventsServer
from doubles.oscar_server import OscarTestServer

REPO = Path(__file__).resolve().parents[2]
LISTENER = REPO / "tools" / "oscar_iac" / "dcache" / "listener" / "__main__.py"


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `cond` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")


def add_service(oscar: OscarTestServer, name: str = "dcache-svc") -> str:
    token = secrets.token_hex(16)
    with oscar._lock:
        oscar.services[name] = {"name": name, "token": token}
    return token


def job_paths(oscar: OscarTestServer, service: str = "dcache-svc") -> list[str]:
    """dCache paths of the events OSCAR accepted (201) on /job/<service>, in order."""
    out = []
    for call in oscar.calls_to(f"/job/{service}"):
        if call.status == 201:
            out.append(json.loads(call.body)["path"])
    return out


@dataclass
class Delivery:
    expected: list[str]
    got: list[str]
    counts: collections.Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = collections.Counter(self.got)

    @property
    def lost(self) -> list[str]:
        return [p for p in self.expected if self.counts[p] == 0]

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)

    @property
    def unexpected(self) -> list[str]:
        want = set(self.expected)
        return [p for p in self.counts if p not in want]


@dataclass
class ListenerProc:
    config: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ListenerProc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(LISTENER), "--config", str(self.config)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def listener_config(
    tmp: Path,
    dcache: DcacheEventsServer,
    sink: dict[str, Any],
    paths: list[str],
    **extra: Any,
) -> tuple[Path, dict[str, str]]:
    """A config using Basic auth (password from an env var) and the env to run it with."""
    cfg = {
        "endpoint": dcache.api,
        "paths": paths,
        "recursive": False,
        "checkpoint": str(tmp / "state" / "checkpoint.json"),
        "auth": {"kind": "basic", "username": dcache.username, "password_env": "DCACHE_PASSWORD"},
        "verify_tls": True,
        "ca_bundle": None,
        "sink": sink,
        "source": "edge-dcache",
        "stream_idle_timeout": 30,
        **extra,
    }
    path = tmp / "listener.json"
    path.write_text(json.dumps(cfg, indent=1))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DCACHE_PASSWORD": dcache.password,
    }
    return path, env


def checkpoint(tmp: Path) -> dict[str, Any]:
    path = tmp / "state" / "checkpoint.json"
    return json.loads(path.read_text()) if path.exists() else {}
