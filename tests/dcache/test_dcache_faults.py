"""Delivery under faults: every completed upload reaches /job at least once.

The listener runs as its own process (as under systemd or NiFi's ExecuteProcess); the
dCache events test server and the OSCAR double run in the test. Duplicates are allowed
(at-least-once) and printed; a loss fails the test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcache.support import (
    Delivery,
    ListenerProc,
    add_service,
    checkpoint,
    job_paths,
    listener_config,
    wait_for,
)
from doubles.dcache_server import DcacheEventsServer
from doubles.oscar_server import OscarTestServer


@pytest.fixture
def relay(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer
) -> Iterator[ListenerProc]:
    """A listener posting to the OSCAR double's /job/dcache-svc (not started yet)."""
    token = add_service(oscar_server)
    sink = {
        "kind": "oscar",
        "url": f"{oscar_server.url}/job/dcache-svc",
        "token_env": "OSCAR_TOKEN",
        "concurrency": 8,
        "backoff_initial": 0.1,
        "backoff_max": 1,
        "max_attempts": 40,
    }
    config, env = listener_config(tmp_path, dcache, sink, ["/data/in"], channel_timeout=600)
    env["OSCAR_TOKEN"] = token
    proc = ListenerProc(config, env, tmp_path / "listener.log")
    try:
        yield proc
    finally:
        if proc.alive():
            proc.kill()


def _uploads(
    dcache: DcacheEventsServer, names: list[str], pause: threading.Event | None = None
) -> threading.Thread:
    def run() -> None:
        for n in names:
            dcache.upload(n)
            if pause is not None:
                pause.wait(0.002)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _report(what: str, d: Delivery) -> None:
    print(
        f"{what}: uploads={len(d.expected)} delivered={len(d.got)} lost={len(d.lost)} duplicates={d.duplicates}"
    )


def _watching(dcache: DcacheEventsServer) -> None:
    wait_for(
        "the listener to watch /data/in",
        lambda: "/data/in" in dcache.watched() and dcache.connected() == 1,
    )


def test_dcache_sigkill_mid_stream_loses_nothing(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    names = [f"/data/in/k{i:04d}.csv" for i in range(600)]
    relay.start()
    _watching(dcache)
    t = _uploads(dcache, names, threading.Event())
    wait_for("200 jobs before the kill", lambda: len(job_paths(oscar_server)) >= 200)
    relay.kill()
    relay.start()
    t.join(timeout=60)
    wait_for("every upload at /job", lambda: not Delivery(names, job_paths(oscar_server)).lost, 60)
    assert relay.terminate() == 0, relay.text()
    d = Delivery(names, job_paths(oscar_server))
    _report("SIGKILL", d)
    assert d.lost == [] and d.unexpected == []
    assert checkpoint(tmp_path)["gaps"] == []
    assert len(dcache.channel_ids()) == 1  # the restart resumed the same channel


def test_dcache_sse_connection_dropped_resumes_with_last_event_id(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    names = [f"/data/in/d{i:04d}.csv" for i in range(400)]
    relay.start()
    _watching(dcache)
    t = _uploads(dcache, names, threading.Event())
    for n in (100, 200, 300):
        wait_for(f"{n} jobs", lambda n=n: len(job_paths(oscar_server)) >= n, 60)
        wait_for("the listener connected", lambda: dcache.connected() == 1)
        dcache.drop_connections()
    t.join(timeout=60)
    wait_for("the listener to reconnect", lambda: dcache.connected() == 1)
    wait_for("every upload at /job", lambda: not Delivery(names, job_paths(oscar_server)).lost, 60)
    assert relay.terminate() == 0, relay.text()
    d = Delivery(names, job_paths(oscar_server))
    _report("dropped SSE", d)
    assert d.lost == [] and d.duplicates == 0  # in-process resume replays nothing twice
    assert [ch.connections for ch in dcache.channels.values()] == [4]
    assert checkpoint(tmp_path)["gaps"] == []


def test_dcache_oscar_503_for_a_while(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    names = [f"/data/in/u{i:03d}.csv" for i in range(60)]
    relay.start()
    _watching(dcache)
    oscar_server.job_unavailable = True
    _uploads(dcache, names[:30]).join()
    wait_for(
        "OSCAR to refuse 20 posts",
        lambda: sum(1 for c in oscar_server.calls_to("/job/") if c.status == 503) >= 20,
    )
    oscar_server.job_unavailable = False
    _uploads(dcache, names[30:]).join()
    wait_for("every upload at /job", lambda: not Delivery(names, job_paths(oscar_server)).lost, 60)
    assert relay.terminate() == 0, relay.text()
    d = Delivery(names, job_paths(oscar_server))
    _report("OSCAR 503", d)
    assert d.lost == [] and d.unexpected == []
    assert "HTTP 503" in relay.text()


def test_dcache_oscar_down_past_the_retries_exits_and_resumes(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    import json

    cfg = json.loads(relay.config.read_text())
    cfg["sink"].update(max_attempts=3, backoff_initial=0.05)
    relay.config.write_text(json.dumps(cfg))
    relay.start()
    _watching(dcache)
    oscar_server.job_unavailable = True
    dcache.upload("/data/in/first.csv")
    wait_for("the listener to give up", lambda: not relay.alive(), 30)
    assert relay.proc is not None and relay.proc.returncode == 75
    assert "not delivered after 3 attempts" in relay.text()
    # Only the metronome mark (id 0) is acknowledged: the checkpoint stays before first.csv.
    assert checkpoint(tmp_path).get("last_event_id") == "0"
    dcache.upload("/data/in/second.csv")  # while no listener runs
    oscar_server.job_unavailable = False
    relay.start()
    wait_for(
        "both uploads at /job",
        lambda: {"/data/in/first.csv", "/data/in/second.csv"} <= set(job_paths(oscar_server)),
    )
    assert relay.terminate() == 0, relay.text()


def test_dcache_channel_expired_is_recreated_and_reported(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    import json

    cfg = json.loads(relay.config.read_text())
    cfg["channel_timeout"] = 1  # PATCHed on the channel: gone 1 s after the client is
    relay.config.write_text(json.dumps(cfg))
    relay.start()
    _watching(dcache)
    dcache.upload("/data/in/before.csv")
    wait_for("the first job", lambda: job_paths(oscar_server) == ["/data/in/before.csv"])
    wait_for("the checkpoint", lambda: checkpoint(tmp_path).get("last_event_id") == "0")
    old = dcache.channel_ids()
    relay.kill()
    wait_for("dCache to expire the channel", lambda: dcache.channel_ids() == [], 30)
    relay.start()
    wait_for(
        "a new channel watching /data/in",
        lambda: dcache.channel_ids() not in ([], old) and "/data/in" in dcache.watched(),
    )
    _watching(dcache)
    dcache.upload("/data/in/after.csv")
    wait_for("the job after re-creation", lambda: "/data/in/after.csv" in job_paths(oscar_server))
    assert relay.terminate() == 0, relay.text()
    gaps = checkpoint(tmp_path)["gaps"]
    assert len(gaps) == 1 and "gone (expired or deleted)" in gaps[0]["reason"], gaps
    assert gaps[0]["last_event_id"] == "0"
    assert "GAP: channel" in relay.text()


def test_dcache_event_loss_is_reported(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    dcache.ring_size = 10  # dCache keeps 16384; a smaller ring shows the same behaviour sooner
    relay.start()
    _watching(dcache)
    dcache.upload("/data/in/a.csv")
    wait_for("the checkpoint", lambda: checkpoint(tmp_path).get("last_event_id") == "0")
    relay.kill()
    wait_for("dCache to notice the client went", lambda: dcache.connected() == 0)
    for i in range(30):
        dcache.upload(f"/data/in/b{i:02d}.csv")
    relay.start()
    wait_for(
        "the EVENT_LOSS gap",
        lambda: any("EVENT_LOSS" in g["reason"] for g in checkpoint(tmp_path).get("gaps", [])),
    )
    assert "GAP: dCache reported EVENT_LOSS" in relay.text()
    dcache.upload("/data/in/c.csv")
    wait_for("the next upload still at /job", lambda: "/data/in/c.csv" in job_paths(oscar_server))
    assert relay.terminate() == 0, relay.text()


def test_dcache_inotify_overflow_is_reported(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer, relay: ListenerProc
) -> None:
    relay.start()
    _watching(dcache)
    dcache.overflow("/data/in")
    wait_for(
        "the overflow gap",
        lambda: any("IN_Q_OVERFLOW" in g["reason"] for g in checkpoint(tmp_path).get("gaps", [])),
    )
    assert relay.terminate() == 0, relay.text()
