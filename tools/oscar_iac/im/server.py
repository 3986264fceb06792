"""A real IM server for the embedded default site, kept running between commands.

Its config, sqlite database and log live in the site's state folder (`<state>/im/`).
`ensure_running(folder)` returns the site's IM, starting it when none runs; it stays
up for later commands (status, scale, down answer in a fraction of a second instead
of waiting for IM to start) until `down` stops it or it has been idle for
`OSCAR_IAC_IM_IDLE` seconds (default 1800; every command that uses it counts as use).

Only its owner may use it: IM's `USER_DB` (IM 2.0 `IM/config.py`, checked for every
request that carries an IM username in `InfrastructureManager.check_im_user`) names one
IM user, the site's `oscar-iac-<site>` with its generated password (0600 in the state
folder), so another local user reaching the loopback port is refused (401). IM runs
with a minimal environment (`ENV_KEPT`): secrets in the operator's environment are not
inherited.

`im.json` records its pid and port as soon as it is spawned (not once it answers): a
command killed while IM starts leaves a record, and the next command stops that IM (it
is ours but does not answer) instead of orphaning it. Before a command talks to that
port (and sends it the site's IM password) it checks that the process is ours: the pid is alive, runs as
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
from oscar_iac.state.files import write_private

# What IM inherits from the environment: where programs, the home folder and the CA
# bundle are, the locale and the proxy (IM reaches cloud APIs and runs Ansible/SSH).
# Nothing else: the operator's tokens and passwords stay out of IM's process.
ENV_KEPT = (
    *("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
    *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"),
)
USER_DB = "users.json"
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
    """0600, atomic, never through a symlink planted in the folder (oscar_iac.state.files)."""
    write_private(path, text)


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


def is_our_bootstrap(pid: int, cfg: Path) -> bool:
    """The process `pid` runs as this user and is our bootstrap for `cfg`."""
    proc = Path(f"/proc/{pid}")
    try:
        if proc.stat().st_uid != os.getuid():
            return False
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv if a]
    return "oscar_iac.im.bootstrap" in args and str(cfg.resolve()) in args


def process_is_ours(pid: int, port: int, cfg: Path) -> bool:
    """The process `pid` is our IM for `cfg` and listens on 127.0.0.1:`port`."""
    if not is_our_bootstrap(pid, cfg):
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
    owner: tuple[str, str] | None = None  # the one IM user (name, password) it accepts
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
        users = ""
        if self.owner is not None:
            name, password = self.owner
            db = self.folder / USER_DB
            _private_write(db, json.dumps({"users": [{"username": name, "password": password}]}))
            users = f"USER_DB = {db.resolve()}\n"
        _private_write(
            self.cfg,
            "[im]\n"
            f"{users}"
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
            "CHECK_CTXT_PROCESS_INTERVAL = 2\n"
            # How long IM's configuration thread sleeps before it looks again whether a
            # step ended, so it can start the next one (IM/ConfManager.py run(); IM's
            # default: 5 s, paid at every step boundary of every contextualization).
            "CONFMAMAGER_CHECK_STATE_INTERVAL = 1\n",
        )
        return self.cfg

    def environment(self) -> dict[str, str]:
        """IM's environment. IM runs Ansible from this host to prepare the master VM
        (IM/ConfManager.py call_ansible); OpenSSH refuses hosts it does not know. Keep
        the site's host keys in a file of its own: a machine's first key is recorded,
        a changed one is refused (OpenSSH's accept-new), instead of turning checks off."""
        known = (self.folder / "known_hosts").resolve()
        return {
            **{k: v for k, v in os.environ.items() if k in ENV_KEPT},
            "ANSIBLE_SSH_COMMON_ARGS": (
                f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=accept-new"
            ),
        }

    def start(self) -> EmbeddedIM:
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the IM process (it answers later: see `wait_ready`)."""
        if not self.port:
            self.port = free_port()
        cfg = self.write_config()
        argv = [sys.executable, "-m", "oscar_iac.im.bootstrap", str(cfg.resolve())]
        if self.idle:
            argv += ["--idle", str(self.idle), "--used", str((self.folder / USED).resolve())]
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        out = os.fdopen(os.open(self.folder / "im.stdout", flags, 0o600), "ab")
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
        return self.process

    def wait_ready(self) -> None:
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
    fd = os.open(folder / "im.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
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


def _stop_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group of `pid`, SIGKILL it if it is still there after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if _is_zombie(pid):
            return
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _stop_unanswering(folder: Path) -> None:
    """An IM of ours recorded at spawn that does not answer (its starter was killed
    during start-up, or it hangs): stop it rather than leave it running."""
    rec = _recorded(folder)
    if rec is not None and is_our_bootstrap(rec.pid, folder / "im.cfg"):
        _stop_group(rec.pid, STOP_TIMEOUT)


# Servers started by this process (tests stop them at the end of each test), and
# their Popen objects, so that a stop in the same process also reaps the child.
started: list[Path] = []
_children: dict[Path, subprocess.Popen[bytes]] = {}


def ensure_running(folder: Path, owner: tuple[str, str] | None = None) -> RunningIM:
    """The site's IM, started (and recorded in im.json at spawn) when none of ours runs.
    `owner`: the one IM user (name, password) a newly started IM accepts."""
    with _locked(folder):
        rec = running(folder)
        if rec is None:
            _stop_unanswering(folder)
            (folder / RECORD).unlink(missing_ok=True)
            server = EmbeddedIM(folder, idle=idle_seconds(), owner=owner)
            process = server.spawn()
            rec = RunningIM(process.pid, server.port)
            _private_write(
                folder / RECORD,
                json.dumps({"pid": rec.pid, "port": rec.port, "started": time.time()}),
            )
            started.append(folder)
            _children[folder.resolve()] = process
            try:
                server.wait_ready()
            except BaseException:
                (folder / RECORD).unlink(missing_ok=True)
                server.stop()
                raise
        touch(folder)
        return rec


def stop_running(folder: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the site's IM if one of ours runs; True when one was stopped."""
    with _locked(folder):
        rec = running(folder)
        if rec is None:
            _stop_unanswering(folder)
            (folder / RECORD).unlink(missing_ok=True)
            return False
        (folder / RECORD).unlink(missing_ok=True)
        _stop_group(rec.pid, timeout)
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
