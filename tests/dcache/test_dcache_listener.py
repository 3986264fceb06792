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


def test_dcache_oscar_sink_reads_the_service_token_with_oscar_credentials(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer
) -> None:
    add_service(oscar_server)
    secret = tmp_path / "oscar-password"
    secret.write_text(oscar_server.password + "\n")
    secret.chmod(0o600)
    sink = {
        "kind": "oscar",
        "url": f"{oscar_server.url}/job/dcache-svc",
        "oscar_user": oscar_server.username,
        "oscar_password_file": str(secret),
    }
    config, env = listener_config(tmp_path, dcache, sink, ["/data/in"])
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    try:
        wait_for("the listener to watch /data/in", lambda: dcache.watched() == {"/data/in"})
        dcache.upload("/data/in/one.csv")
        wait_for("the first job", lambda: job_paths(oscar_server) == ["/data/in/one.csv"])
        add_service(oscar_server)  # the service was re-created: a new token
        dcache.upload("/data/in/two.csv")
        wait_for("the second job", lambda: "/data/in/two.csv" in job_paths(oscar_server))
    finally:
        assert proc.terminate() == 0, proc.text()
    assert [c.status for c in oscar_server.calls_to("/job/")].count(401) == 1
    assert oscar_server.password not in proc.text()


def test_dcache_oidc_token_file_and_recursive_watches(
    tmp_path: Path, dcache: DcacheEventsServer
) -> None:
    dcache.makedirs("/data/in/2026/01")
    token = tmp_path / "token"
    token.write_text(dcache.token)
    spool = tmp_path / "spool"
    config, env = listener_config(
        tmp_path, dcache, {"kind": "spool", "dir": str(spool)}, ["/data/in"], recursive=True
    )
    raw = json.loads(config.read_text())
    raw["auth"] = {"kind": "oidc", "token_file": str(token)}
    raw["webdav"] = "https://dcache.example.org:2880"
    config.write_text(json.dumps(raw))
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    try:
        wait_for(
            "watches on the tree",
            lambda: dcache.watched() == {"/data/in", "/data/in/2026", "/data/in/2026/01"},
        )
        dcache.upload("/data/in/2026/01/deep.csv")
        dcache.makedirs("/data/in/new/sub")  # created while listening: watched on IN_CREATE
        wait_for("watches on the new folders", lambda: "/data/in/new/sub" in dcache.watched())
        dcache.upload("/data/in/new/sub/fresh.csv")
        wait_for("2 spool files", lambda: len(_spool_files(spool)) == 2)
    finally:
        assert proc.terminate() == 0, proc.text()
    events = {
        json.loads(p.read_text())["path"]: json.loads(p.read_text()) for p in _spool_files(spool)
    }
    assert set(events) == {"/data/in/2026/01/deep.csv", "/data/in/new/sub/fresh.csv"}
    assert events["/data/in/new/sub/fresh.csv"]["url"] == (
        "https://dcache.example.org:2880/data/in/new/sub/fresh.csv"
    )
    assert set(checkpoint(tmp_path)["watches"]) == {
        "/data/in", "/data/in/2026", "/data/in/2026/01", "/data/in/new", "/data/in/new/sub"
    }  # fmt: skip


def test_dcache_wrong_password_is_refused_without_leaking_it(
    tmp_path: Path, dcache: DcacheEventsServer
) -> None:
    config, env = listener_config(
        tmp_path, dcache, {"kind": "spool", "dir": str(tmp_path / "s")}, ["/data/in"]
    )
    env["DCACHE_PASSWORD"] = "not-the-password-" + dcache.password[:4]
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    assert proc.proc is not None and proc.proc.wait(timeout=30) == 3
    assert "HTTP 401 (check the credentials)" in proc.text()
    assert env["DCACHE_PASSWORD"] not in proc.text()
    assert dcache.channel_ids() == []


def test_dcache_missing_watch_path_is_a_config_error(
    tmp_path: Path, dcache: DcacheEventsServer
) -> None:
    config, env = listener_config(
        tmp_path, dcache, {"kind": "spool", "dir": str(tmp_path / "s")}, ["/data/nope"]
    )
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    assert proc.proc is not None and proc.proc.wait(timeout=30) == 2
    assert "paths: dCache refused to watch '/data/nope': HTTP 400" in proc.text()
