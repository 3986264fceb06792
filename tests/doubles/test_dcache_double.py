"""The dCache events test server refuses what dCache refuses and behaves as its docs and
Channel.java say (see doubles/dcache_server.py for the sources)."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from doubles.dcache_server import DcacheEventsServer


@pytest.fixture
def server() -> Iterator[DcacheEventsServer]:
    s = DcacheEventsServer(default_timeout=300).start()
    s.makedirs("/data/in")
    try:
        yield s
    finally:
        s.stop()


def call(
    s: DcacheEventsServer,
    method: str,
    url: str,
    body: Any = None,
    auth: bool = True,
    **headers: str,
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url if url.startswith("http") else s.api + url, data, method=method
    )
    if auth:
        req.add_header(
            "Authorization",
            "Basic " + base64.b64encode(f"{s.username}:{s.password}".encode()).decode(),
        )
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in headers.items():
        req.add_header(k.replace("_", "-"), v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, dict(r.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), json.loads(raw) if raw else None


def channel(s: DcacheEventsServer, client_id: str | None = None) -> str:
    code, headers, _ = call(
        s, "POST", "/events/channels", {"client-id": client_id} if client_id else None
    )
    assert code == 201
    return headers["Location"]


def read_events(
    s: DcacheEventsServer, url: str, n: int, last: str | None = None
) -> list[tuple[str, str | None, Any]]:
    """Open the SSE stream and read `n` events (event, id, data)."""
    host, port = s.url.split("//")[1].split(":")
    path = url.split(s.url, 1)[1]
    sock = socket.create_connection((host, int(port)), timeout=10)
    auth = base64.b64encode(f"{s.username}:{s.password}".encode()).decode()
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nAccept: text/event-stream\r\n"
    if last is not None:
        head += f"Last-Event-ID: {last}\r\n"
    sock.sendall((head + "\r\n").encode())
    f = sock.makefile("rb")
    assert f.readline().split()[1] == b"200"
    while f.readline() not in (b"\r\n", b""):
        pass
    out: list[tuple[str, str | None, Any]] = []
    ev: dict[str, str] = {}
    while len(out) < n:
        line = f.readline().decode().rstrip("\n")
        if not line:
            out.append((ev["event"], ev.get("id"), json.loads(ev["data"])))
            ev = {}
            continue
        k, _, v = line.partition(": ")
        ev[k] = v
    sock.close()
    return out


def test_dcache_double_channels(server: DcacheEventsServer) -> None:
    assert call(server, "GET", "/events", auth=False)[0] == 401
    info = call(server, "GET", "/events")[2]
    assert info["channels"]["lifetimeWhenDisconnected"]["default"] == 300
    assert call(server, "GET", "/events/eventTypes")[2] == ["inotify", "metronome"]
    a = channel(server, "mine")
    b = channel(server)
    assert a.startswith(server.api + "/events/channels/")
    assert call(server, "GET", "/events/channels")[2] == [a, b]
    assert call(server, "GET", "/events/channels?client-id=mine")[2] == [a]
    assert call(server, "GET", "/events/channels?client-id=")[2] == [b]
    assert call(server, "GET", a)[0] == 406  # metadata needs Accept: application/json
    assert call(server, "GET", a, Accept="application/json")[2] == {"timeout": 300}
    assert call(server, "PATCH", a, {"timeout": 0})[0] == 400
    assert call(server, "PATCH", a, {"timeout": 86401})[0] == 400
    assert call(server, "PATCH", a, {"timeout": 60})[0] == 204
    assert call(server, "POST", "/events/channels", {"clientId": "x"})[0] == 400
    assert call(server, "DELETE", a)[0] == 204
    code, _, body = call(server, "GET", a, Accept="application/json")
    assert code == 404 and body == {"errors": [{"message": "Not Found", "status": "404"}]}


def test_dcache_double_subscriptions(server: DcacheEventsServer) -> None:
    ch = channel(server)
    subs = ch + "/subscriptions/inotify"
    assert call(server, "POST", subs, {"path": "/data/in/"})[0] == 400  # schema: no trailing /
    assert call(server, "POST", subs, {"path": "/data/in", "flags": ["IN_WHATEVER"]})[0] == 400
    assert call(server, "POST", subs, {"path": "/data/in", "recursive": True})[0] == 400
    assert call(server, "POST", subs, {"path": "/nowhere"})[0] == 400
    assert call(server, "POST", ch + "/subscriptions/bogus", {"path": "/data/in"})[0] == 400
    code, headers, _ = call(server, "POST", subs, {"path": "/data/in", "flags": ["IN_CLOSE_WRITE"]})
    assert code == 201
    sub = headers["Location"]
    assert call(server, "GET", ch + "/subscriptions")[2] == [sub]
    assert call(server, "GET", sub)[2] == {"path": "/data/in", "flags": ["IN_CLOSE_WRITE"]}
    assert (
        call(server, "POST", subs, {"path": "/data/in", "flags": ["IN_MOVED_TO"]})[1]["Location"]
        == sub
    )
    assert call(server, "DELETE", sub)[0] == 204
    assert call(server, "GET", sub)[0] == 404


def test_dcache_double_stream_replay_and_loss(server: DcacheEventsServer) -> None:
    server.ring_size = 4
    ch = channel(server)
    call(
        server,
        "POST",
        ch + "/subscriptions/inotify",
        {"path": "/data/in", "flags": ["IN_CLOSE_WRITE", "IN_CREATE"]},
    )
    for i in range(3):
        server.upload(f"/data/in/f{i}.csv")  # IN_CREATE + IN_CLOSE_WRITE each: ids 0..5
    # No Last-Event-ID: nothing is replayed (Channel.acceptConnection).
    server.upload("/data/in/live.csv")
    got = read_events(server, ch, 0)
    assert got == []
    # The ring holds the last 4 (ids 4..7); after id 5: 6 and 7.
    got = read_events(server, ch, 2, last="5")
    assert [(e, i) for e, i, _ in got] == [("inotify", "6"), ("inotify", "7")]
    assert got[1][2]["event"] == {"name": "live.csv", "mask": ["IN_CLOSE_WRITE"]}
    assert got[1][2]["subscription"].startswith(ch + "/subscriptions/inotify/")
    # An id the ring no longer holds: EVENT_LOSS.
    got = read_events(server, ch, 1, last="1")
    assert got == [("SYSTEM", None, {"type": "EVENT_LOSS"})]


def test_dcache_double_channel_expires_without_a_client(server: DcacheEventsServer) -> None:
    ch = channel(server)
    assert call(server, "PATCH", ch, {"timeout": 1})[0] == 204
    deadline = time.monotonic() + 10
    while call(server, "GET", ch, Accept="application/json")[0] != 404:
        assert time.monotonic() < deadline, "the channel did not expire"
        time.sleep(0.1)
