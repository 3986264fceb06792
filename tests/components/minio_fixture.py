"""A real MinIO server on loopback, built from the Go module proxy.

`minio_server` (session scope) builds the pinned `minio` binary if it is missing
(tests/components/build-minio.sh, cached under .cache/), starts `minio server` on
127.0.0.1 with a free port and a temporary data directory, and stops it at the end.
The root credentials reach the server through its environment, never its arguments.
`minio_bucket` (function scope) gives each test a fresh, empty bucket.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "components" / "build-minio.sh"
MINIO_BIN = REPO / ".cache" / "bin" / "minio"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_minio(*targets: str) -> None:
    """Build the pinned binaries (a no-op when they are already built)."""
    subprocess.run(["bash", str(BUILD_SCRIPT), *targets], check=True, cwd=REPO)


@dataclass
class MinioServer:
    """A running MinIO server and how to talk to it."""

    endpoint: str  # host:port
    access_key: str
    secret_key: str = field(repr=False)
    data_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self) -> Minio:
        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )

    def admin(self) -> MinioAdmin:
        return MinioAdmin(
            endpoint=self.endpoint,
            credentials=StaticProvider(self.access_key, self.secret_key),
            secure=False,
        )

    def is_live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/minio/health/live", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_live(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"minio exited early; see {self.log_path}:\n{self.log()}")
            if self.is_live():
                return
            time.sleep(0.2)
        raise RuntimeError(f"minio not live after {timeout} s; log:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


# Run a command in a private mount namespace whose /etc/hosts is the file given as $0:
# names resolve there as that file says, without touching the machine's /etc/hosts.
WITH_HOSTS = 'mount --make-rprivate / && mount --bind "$0" /etc/hosts && exec "$@"'


def start_minio(base: Path, *, hosts_file: Path | None = None) -> MinioServer:
    """Start a real MinIO server with fresh credentials; the caller stops it.

    `hosts_file`: run it in a private mount namespace (`unshare -m`, root only) with that
    file as /etc/hosts (the real OSCAR's webhook host name must resolve in MinIO)."""
    if not MINIO_BIN.exists():
        build_minio("minio")  # the server only: no test runs `mc`
    port, console = free_port(), free_port()
    data_dir = base / "data"
    data_dir.mkdir(parents=True)
    access_key = "oscar-iac-test"
    secret_key = secrets.token_urlsafe(24)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
        "MINIO_CI_CD": "1",
    }
    log_path = base / "minio.log"
    wrap = ["unshare", "-m", "sh", "-c", WITH_HOSTS, str(hosts_file)] if hosts_file else []
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *wrap,
                str(MINIO_BIN),
                "server",
                "--quiet",
                "--address",
                f"127.0.0.1:{port}",
                "--console-address",
                f"127.0.0.1:{console}",
                str(data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = MinioServer(
        endpoint=f"127.0.0.1:{port}",
        access_key=access_key,
        secret_key=secret_key,
        data_dir=data_dir,
        process=proc,
        log_path=log_path,
    )
    try:
        server.wait_live()
    except BaseException:
        stop_minio(server)
        raise
    return server


def stop_minio(server: MinioServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def minio_server() -> Iterator[MinioServer]:
    """The real MinIO server shared by a test session."""
    base = Path(tempfile.mkdtemp(prefix="oscar-iac-minio-"))
    try:
        server = start_minio(base)
        try:
            yield server
        finally:
            stop_minio(server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def minio_bucket(minio_server: MinioServer) -> Iterator[str]:
    """A fresh bucket for one test, emptied and removed afterwards."""
    client = minio_server.client()
    name = f"t-{secrets.token_hex(6)}"
    client.make_bucket(name)
    try:
        yield name
    finally:
        if minio_server.process.poll() is None:
            for obj in client.list_objects(name, recursive=True):
                if obj.object_name is not None:
                    client.remove_object(name, obj.object_name)
            client.remove_bucket(name)
