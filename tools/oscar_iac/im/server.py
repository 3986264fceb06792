"""A real IM server for the `local` site: started on loopback, stopped afterwards.

Its config, sqlite database and log live in the site's state folder, so later
commands (status, scale, down) start it again on the same database and see the
same infrastructures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

from oscar_iac.errors import DeploymentError

READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _private_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@dataclass
class EmbeddedIM:
    """`with EmbeddedIM(folder) as im: im.url` — a running IM 2.0 REST server."""

    folder: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.folder / "im.log"

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        cfg = self.folder / "im.cfg"
        _private_write(
            cfg,
            "[im]\n"
            "REST_ADDRESS = 127.0.0.1\n"
            f"REST_PORT = {self.port}\n"
            "REST_SSL = False\n"
            f"DATA_DB = sqlite:///{(self.folder / 'inf.dat').resolve()}\n"
            f"LOG_FILE = {self.log_file.resolve()}\n"
            "LOG_LEVEL = INFO\n"
            # Poll the (fake) VMs often: the Dummy cloud answers at once.
            "VM_INFO_UPDATE_FREQUENCY = 2\n"
            # How often IM asks its agent on the master VM for progress (IM's default: 10 s).
            # CONTEXTUALIZATION_DIR stays IM's own (the installed `contextualization`
            # package: conf-ansible.yml, the agent), which IM copies to the VMs.
            "CHECK_CTXT_PROCESS_INTERVAL = 2\n",
        )
        return cfg

    def environment(self) -> dict[str, str]:
        """IM's environment. IM runs Ansible from this host to prepare the master VM
        (IM/ConfManager.py call_ansible); OpenSSH refuses hosts it does not know. Keep
        the site's host keys in a file of its own: a machine's first key is recorded,
        a changed one is refused (OpenSSH's accept-new), instead of turning checks off."""
        known = (self.folder / "known_hosts").resolve()
        return {
            **os.environ,
            "ANSIBLE_SSH_COMMON_ARGS": (
                f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=accept-new"
            ),
        }

    def start(self) -> EmbeddedIM:
        if not self.port:
            self.port = free_port()
        cfg = self.write_config()
        out = open(self.folder / "im.stdout", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oscar_iac.im.bootstrap", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.folder,
            env=self.environment(),
            start_new_session=True,  # Ctrl-C on the CLI must not kill IM mid-request
        )
        out.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DeploymentError(
                    f"the embedded IM server exited with code {self.process.returncode}",
                    hints=[f"see {self.folder / 'im.stdout'} and {self.log_file}"],
                )
            try:
                if requests.get(f"{self.url}/version", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise DeploymentError(f"the embedded IM server did not answer within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedIM:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
