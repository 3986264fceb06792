"""The dCache listener against the dCache events test server: what it passes on."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from dcache.support import (
    ListenerProc,
    add_service,
    checkpoint,
    job_paths,
    listener_config,
    wait_for,
)
from doubles.dcache_server import DcacheEventsServer
from doubles.oscar_server import OscarTestServer


def _spool_files(spool: Path) -> list[Path]:
    return sorted(p for p in spool.iterdir() if not p.name.startswith("."))


def test_dcache_spool_sink_gets_complete_files_only(
    tmp_path: Path, dcache: DcacheEventsServer
) -> None:
    spool = tmp_path / "spool"
    config, env = listener_config(
        tmp_path, dcache, {"kind": "spool", "dir": str(spool)}, ["/data/in"]
    )
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    try:
        wait_for("the listener to watch /data/in", lambda: dcache.watched() == {"/data/in"})
        dcache.upload("/data/in/a.csv")
        dcache.start_upload("/data/in/partial.csv")  # never closed: must not be passed on
        dcache.upload("/data/in/tmp.part")
        dcache.rename("/data/in/tmp.part", "/data/in/b.csv")
        dcache.makedirs("/data/in/sub")  # a directory is not a file
        dcache.upload("/data/in/sub/not-watched.csv")  # not recursive
        wait_for("3 spool files", lambda: len(_spool_files(spool)) >= 3)
        wait_for(
            "the checkpoint to pass the rename",
            lambda: int(checkpoint(tmp_path).get("last_event_id") or -1) >= 2,
        )
    finally:
        assert proc.terminate() == 0, proc.text()
    files = _spool_files(spool)
    events = [json.loads(p.read_text()) for p in files]
    assert sorted((e["path"], e["event"]) for e in events) == [
        ("/data/in/a.csv", "IN_CLOSE_WRITE"),
        ("/data/in/b.csv", "IN_MOVED_TO"),
        ("/data/in/tmp.part", "IN_CLOSE_WRITE"),
    ]
    for path, event in zip(files, events, strict=True):
        assert (
            path.name.endswith(".json")
            and path.name == f"edge-dcache-{event['event_id'].replace(':', '_')}.json"
        )
        assert event["source"] == "edge-dcache"
        assert event["channel"].startswith(dcache.api + "/events/channels/")
        assert event["endpoint"] == dcache.api
        assert event["directory"] == "/data/in" and event["name"] == event["path"].rsplit("/", 1)[1]
    moved = next(e for e in events if e["event"] == "IN_MOVED_TO")
    assert moved["cookie"]
    assert not [p for p in spool.iterdir() if p.name.endswith(".tmp")]
    state = checkpoint(tmp_path)
    assert state["channel"] == events[0]["channel"]
    assert state["watches"] == {"/data/in": state["watches"]["/data/in"]}
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "checkpoint.json").st_mode) == 0o600
    assert state["gaps"] == []


def test_dcache_oscar_sink_posts_each_upload(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer
) -> None:
    token = add_service(oscar_server)
    sink = {
        "kind": "oscar",
        "url": f"{oscar_server.url}/job/dcache-svc",
        "token_env": "OSCAR_TOKEN",
        "concurrency": 4,
    }
    config, env = listener_config(tmp_path, dcache, sink, ["/data/in"])
    env["OSCAR_TOKEN"] = token
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    try:
        wait_for("the listener to watch /data/in", lambda: dcache.watched() == {"/data/in"})
        expected = [f"/data/in/f{i:03d}.csv" for i in range(50)]
        for p in expected:
            dcache.upload(p)
        wait_for("50 jobs", lambda: len(job_paths(oscar_server)) >= 50)
    finally:
        assert proc.terminate() == 0, proc.text()
    assert sorted(job_paths(oscar_server)) == expected
    assert token not in proc.text() and dcache.password not in proc.text()
