"""`events apply` converges on a slowed-down MinIO whose bucket metadata load overwrites
the notification just written (the CI failure of issue #11).

The MinIO here is real and its own (not the session's shared one): it is slowed by
stopping and continuing its process (SIGSTOP/SIGCONT, stopped half of the time) for the
whole apply, and a watcher removes our bucket entry the first time it appears, as MinIO's
asynchronous load after a restart did. `apply` must notice, re-apply, and return only
when the target and the entry stay as set; an upload then gives exactly one job.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio.notificationconfig import NotificationConfig

from components.minio_fixture import MinioServer, start_minio, stop_minio
from events_minio.support import OscarJobs, make_source
from oscar_iac.errors import DeploymentError
from oscar_iac.events import minio as backend
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretResolver
from oscar_iac.site.model import MinioEventSource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slow_minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    server = start_minio(tmp_path_factory.mktemp("badinput-minio"))
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        stop_minio(server)


class Throttle:
    """Stops and continues a process, `stopped` seconds out of every `period`."""

    def __init__(self, pid: int, stopped: float = 0.15, period: float = 0.3) -> None:
        self.pid, self.stopped, self.period = pid, stopped, period
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            os.kill(self.pid, signal.SIGSTOP)
            self.done.wait(self.stopped)
            os.kill(self.pid, signal.SIGCONT)
            self.done.wait(self.period - self.stopped)

    def __enter__(self) -> Throttle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        os.kill(self.pid, signal.SIGCONT)


class Overwriter:
    """After `apply` writes the bucket notification, MinIO's own (slowed) load puts the
    old one back: here a second client writes the configuration read just before, right
    after each of apply's first `times` writes (real writes to the real server, ordered
    deterministically instead of racing a thread against the clock)."""

    def __init__(
        self, server: MinioServer, source: MinioEventSource, times: int, mp: pytest.MonkeyPatch
    ) -> None:
        self.client = server.client()
        self.source, self.left, self.removed = source, times, 0
        original = backend._Minio.set_notification

        def set_then_lose(minio: backend._Minio, config: NotificationConfig) -> None:
            before = self.client.get_bucket_notification(source.bucket)
            original(minio, config)
            if self.left > 0 and minio.source.name == source.name:
                others = [q for q in before.queue_config_list if not backend._ours(source, q)]
                self.client.set_bucket_notification(
                    source.bucket, NotificationConfig(queue_config_list=others)
                )
                self.left -= 1
                self.removed += 1

        mp.setattr(backend._Minio, "set_notification", set_then_lose)


@pytest.fixture
def slow_source(
    slow_minio: MinioServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[MinioEventSource, SecretResolver]:
    monkeypatch.setenv("EDGE_MINIO_SECRET", slow_minio.secret_key)
    bucket = f"slow-{secrets.token_hex(4)}"
    slow_minio.client().make_bucket(bucket)
    source = make_source(slow_minio, bucket, "plants", prefix="", suffix="")
    return source, SecretResolver(tmp_path, tmp_path / "state")


def _wait_jobs(oscar: OscarJobs, count: int, within: float = 60) -> int:
    """Poll until `count` jobs arrived (or the deadline); return how many did."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and len(oscar.jobs_for("plants")) < count:
        time.sleep(0.1)
    return len(oscar.jobs_for("plants"))


def test_apply_converges_on_a_slowed_minio_that_loses_the_notification(
    slow_minio: MinioServer,
    slow_source: tuple[MinioEventSource, SecretResolver],
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, resolver = slow_source
    oscar_jobs.add_service("plants")
    lost = Overwriter(slow_minio, source, 1, monkeypatch)
    with Throttle(slow_minio.process.pid):
        changes = backend.apply(source, oscar_conn, resolver)
    assert [c.action for c in changes] == ["create", "create"]
    assert lost.removed == 1  # MinIO "lost" the entry once, and apply put it back
    config = slow_minio.client().get_bucket_notification(source.bucket)
    assert [q.config_id for q in config.queue_config_list] == [backend.target_id(source)]
    data = b"x"
    slow_minio.client().put_object(source.bucket, "after.txt", io.BytesIO(data), len(data))
    assert _wait_jobs(oscar_jobs, 1) == 1
    # a second apply on the settled server changes nothing
    again = backend.apply(source, oscar_conn, resolver)
    assert [c.action for c in again] == ["unchanged", "unchanged"]
    backend.remove(source, oscar_conn, resolver)


def test_apply_gives_up_at_its_deadline_naming_what_it_waited_for(
    slow_minio: MinioServer,
    slow_source: tuple[MinioEventSource, SecretResolver],
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, resolver = slow_source
    oscar_jobs.add_service("plants")
    backend.apply(source, oscar_conn, resolver)  # target in place: no restart below
    source = source.model_copy(update={"prefix": "other/"})
    Overwriter(slow_minio, source, 10**6, monkeypatch)  # MinIO loses every write
    with pytest.raises(DeploymentError) as info:
        backend.apply(source, oscar_conn, resolver, timeout=15)
    message = str(info.value)
    assert f"waited 15 s for target {backend.target_key(source)}" in message
    assert f"notification of bucket '{source.bucket}' to stay as set" in message
    assert "re-applied: " in message and "bucket notification" in message
    backend.remove(source, oscar_conn, resolver)
