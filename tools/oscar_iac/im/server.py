"""A real IM server for the embedded default site, kept running between commands.

Its config, sqlite database and log live in the site's state folder (`<state>/im/`).
`ensure_running(folder)` returns the site's IM, starting it when none runs; it stays
up for later commands (status, scale, down answer in a fraction of a second instead
of waiting for IM to start) until `down` stops it or it has been idle for
`OSCAR_IAC_IM_IDLE` seconds (default 1800; every command that uses it counts as use).

`im.json` records its pid and port. Before a command talks to that port (and sends it
the site's IM password) it checks that the process is ours: the pid is alive, runs as
this user, its command line is our bootstrap with THIS folder's im.cfg, and that very
process holds the listening socket on 127.0.0.1:<port> (read from /proc). Anything
else (a stale record, a recycled pid, another program on the port) is not trusted:
a fresh IM is started on a fresh port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from oscar_iac.errors import DeploymentError

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
RECORD = "im.json"
USED = "im.used"
IDLE_ENV = "OSCAR_IAC_IM_IDLE"
DEFAULT_IDLE = 1800.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def idle_seconds() -> float:
    try:
        return max(5.0, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE)))
    except ValueError:
        return DEFAULT_IDLE


def _private_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


# --------------------------------------------------------------------------- identity


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on 127.0.0.1:<port> (from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    found: set[str] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return found
    for row in lines:
        cols = row.split()
        # sl local_address rem_address st ... inode: st 0A is LISTEN
        if len(cols) > 9 and cols[1] == want and cols[3] == "0A":
            found.add(cols[9])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def process_is_ours(pid: int, port: int, cfg: Path) -> bool:
    """The process `pid` is our IM for `cfg` and listens on 127.0.0.1:`port`."""
    proc = Path(f"/proc/{pid}")
    try:
        if proc.stat().st_uid != os.getuid():
            return False
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv if a]
    if "oscar_iac.im.bootstrap" not in args or str(cfg.resolve()) not in args:
        return False
    listening = _listening_inodes(port)
    return bool(listening) and bool(listening & _socket_inodes(pid))


# --------------------------------------------------------------------------- one server


@dataclass
class EmbeddedIM:
    """`with EmbeddedIM(folder) as im: im.url` — an IM 2.0 REST server for a block.

    `ensure_running()` / `stop_running()` below keep one per site between commands.
    """

    folder: Path
    port: int = 0
    idle: float = 0.0  # seconds without use before the server stops itself (0: never)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.folder / "im.log"

    @property
    def cfg(self) -> Path:
        return self.folder / "im.cfg"

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _private_write(
            self.cfg,
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
        return self.cfg

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
        argv = [sys.executable, "-m", "oscar_iac.im.bootstrap", str(cfg.resolve())]
        if self.idle:
            argv += ["--idle", str(self.idle), "--used", str((self.folder / USED).resolve())]
        out = open(self.folder / "im.stdout", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            argv,
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
        import requests  # start-up speed: only when an embedded IM is started

        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DeploymentError(
                    f"the embedded IM server exited with code {self.process.returncode}",
                    hints=[f"see {self.folder / 'im.stdout'} and {self.log_file}"],
                )
            # Ask only once our own process listens on the port (not a stranger).
            if self.process is not None and process_is_ours(self.process.pid, self.port, self.cfg):
                try:
                    if requests.get(f"{self.url}/version", timeout=1).ok:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.stop()
        raise DeploymentError(
            f"the embedded IM server did not answer on {self.url} within {READY_TIMEOUT:.0f} s",
            hints=[f"see {self.folder / 'im.stdout'} and {self.log_file}"],
        )

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


# --------------------------------------------------------------------------- kept running


@dataclass(frozen=True)
class RunningIM:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One command at a time starts or stops a site's IM."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / "im.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _recorded(folder: Path) -> RunningIM | None:
    try:
        data = json.loads((folder / RECORD).read_text())
        return RunningIM(int(data["pid"]), int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def touch(folder: Path) -> None:
    """Count as use of the site's IM (postpones its idle stop)."""
    with contextlib.suppress(OSError):
        (folder / USED).touch(mode=0o600)


def running(folder: Path) -> RunningIM | None:
    """The site's IM when it runs and is verifiably ours; else None."""
    rec = _recorded(folder)
    if rec is not None and process_is_ours(rec.pid, rec.port, folder / "im.cfg"):
        return rec
    return None


# Servers started by this process (tests stop them at the end of each test), and
# their Popen objects, so that a stop in the same process also reaps the child.
started: list[Path] = []
_children: dict[Path, subprocess.Popen[bytes]] = {}


def ensure_running(folder: Path) -> RunningIM:
    """The site's IM, started (and recorded in im.json) when none of ours runs."""
    with _locked(folder):
        rec = running(folder)
        if rec is None:
            (folder / RECORD).unlink(missing_ok=True)
            server = EmbeddedIM(folder, idle=idle_seconds())
            server.start()
            assert server.process is not None
            rec = RunningIM(server.process.pid, server.port)
            _private_write(
                folder / RECORD,
                json.dumps({"pid": rec.pid, "port": rec.port, "started": time.time()}),
            )
            started.append(folder)
            _children[folder.resolve()] = server.process
        touch(folder)
        return rec


def stop_running(folder: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the site's IM if one of ours runs; True when one was stopped."""
    with _locked(folder):
        rec = running(folder)
        (folder / RECORD).unlink(missing_ok=True)
        if rec is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(rec.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{rec.pid}").exists():
            if _is_zombie(rec.pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec.pid, signal.SIGKILL)
        child = _children.pop(folder.resolve(), None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=timeout)
        return True


def _is_zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (OSError, IndexError):
        return True
