"""A dCache frontend test double: the storage-events REST API and its SSE stream.

No dCache can run here. This server follows what dCache documents and implements:
  - dCache User Guide, "Frontend" / "Storage Events"
    (dCache/dcache docs/UserGuide/src/main/markdown/frontend.md): `GET /api/v1/events`
    (channel limits), `GET /api/v1/events/eventTypes`, `POST /api/v1/events/channels`
    (optional `{"client-id"}`) -> 201 + absolute `Location`, `GET .../channels[?client-id=]`
    (list of URLs; `?client-id=` with no value selects channels without one),
    `GET <channel>` with `Accept: application/json` -> `{"timeout": s}` and with
    `Accept: text/event-stream` -> SSE, `PATCH <channel>` `{"timeout"}` (1..86400),
    `DELETE <channel>` (afterwards 404 `{"errors":[{"message":"Not Found","status":"404"}]}`),
    `POST <channel>/subscriptions/inotify` with a selector valid against dCache's inotify
    selector schema (`path` pattern `^/(.*[^/])?$`, the `flags` enum,
    additionalProperties false; the target must exist) -> 201 + `Location`,
    `GET <channel>/subscriptions`, `GET|DELETE <subscription>`, SYSTEM events
    `NEW_SUBSCRIPTION` / `SUBSCRIPTION_CLOSED` (no id), inotify events with integer ids,
    an upload as IN_CREATE, IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE, IN_ATTRIB, a rename as
    IN_MOVED_FROM + IN_MOVED_TO with one cookie, `GET /api/v1/namespace/<path>?children=true`
    (`children[].fileName|fileType`, as the dCache team's DCNiOS client reads it);
  - dCache's Channel.java (modules/dcache-frontend/src/main/java/org/dcache/restful/
    events/Channel.java): ids count from 0 per channel; the last 16384 events are kept in
    a ring buffer; a reconnect with `Last-Event-ID: N` drops older entries and replays
    those after N, or, when N is no longer held, sends `SYSTEM` `{"type":"EVENT_LOSS"}`;
    without `Last-Event-ID` nothing is replayed; one SSE client per channel (a new one
    makes dCache send `COMPETING_CLIENT` to the old one and close it); a channel without
    a client for `timeout` seconds (also right after creation) is deleted;
  - Inotify.java (same module, streams/inotify): only events whose flag the subscription
    selected are sent; a second subscription to the same path on a channel is merged
    into the first; a full queue gives an `IN_Q_OVERFLOW` event.
Not confirmed from dCache and chosen here: the HTTP status for a missing watch path
(400, as DCNiOS' client handles it), PATCH answering 204, the per-user channel limit
answering 429.

Auth: HTTP Basic (username/password) or `Bearer <token>`; anything else is 401. With
`tls=(cert, key, client_ca)` the server speaks HTTPS and then also accepts a client
certificate signed by `client_ca` (dCache's X.509 login).
"""

from __future__ import annotations

import base64
import collections
import json
import queue
import re
import secrets
import select
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

RING = 16384  # Channel.java: EvictingQueue.create(16384)
FLAGS = {
    "IN_ACCESS",
    "IN_ATTRIB",
    "IN_CLOSE_WRITE",
    "IN_CLOSE_NOWRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_MODIFY",
    "IN_MOVE_SELF",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_OPEN",
    "IN_ALL_EVENTS",
    "IN_CLOSE",
    "IN_MOVE",
    "IN_DONT_FOLLOW",
    "IN_EXCL_UNLINK",
    "IN_MASK_ADD",
    "IN_ONESHOT",
    "IN_ONLYDIR",
}
_EXPAND = {
    "IN_ALL_EVENTS": {
        "IN_ACCESS",
        "IN_ATTRIB",
        "IN_CLOSE_WRITE",
        "IN_CLOSE_NOWRITE",
        "IN_CREATE",
        "IN_DELETE",
        "IN_DELETE_SELF",
        "IN_MODIFY",
        "IN_MOVE_SELF",
        "IN_MOVED_FROM",
        "IN_MOVED_TO",
        "IN_OPEN",
    },
    "IN_CLOSE": {"IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE"},
    "IN_MOVE": {"IN_MOVED_FROM", "IN_MOVED_TO"},
}
PATH_RE = re.compile(r"^/(.*[^/])?$")


def _selected(flags: list[str] | None) -> set[str]:
    if not flags:
        return set(_EXPAND["IN_ALL_EVENTS"])
    out: set[str] = set()
    for f in flags:
        out |= _EXPAND.get(f, {f})
    return out


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's default (5) drops concurrent connections

    def handle_error(self, request: object, client_address: object) -> None:
        # A client killed mid-request (the tests SIGKILL the relay) is expected here.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class Subscription:
    id: str
    path: str
    flags: list[str] | None
    selected: set[str]


@dataclass
class Channel:
    id: str
    owner: str
    client_id: str | None
    timeout: float
    ring: collections.deque[tuple[int, str, str]] = field(
        default_factory=lambda: collections.deque(maxlen=RING)
    )
    next_id: int = 0
    subs: dict[str, Subscription] = field(default_factory=dict)
    sink: queue.Queue[tuple[str, str | None, str] | None] | None = None
    disconnected_at: float | None = field(default_factory=time.monotonic)
    connections: int = 0


class DcacheEventsServer:
    """Start with .start(); drive with mkdir/upload/rename; inspect channels."""

    def __init__(
        self,
        username: str = "alice",
        password: str | None = None,
        token: str | None = None,
        default_timeout: int = 300,
        ring_size: int = RING,
        max_channels: int = 128,
        tls: tuple[str, str, str | None] | None = None,
    ) -> None:
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.token = token or secrets.token_urlsafe(24)
        self.default_timeout = default_timeout
        self.ring_size = ring_size
        self.max_channels = max_channels
        self.tls = tls
        self.lock = threading.RLock()
        self.channels: dict[str, Channel] = {}
        self.dirs: set[str] = {"/"}
        self.files: set[str] = set()
        self.requests: list[tuple[str, str, int]] = []
        self.uploads = 0
        self.url = ""
        self.api = ""
        self._server: ThreadingHTTPServer | None = None
        self._stop = threading.Event()

    # --- lifecycle --------------------------------------------------------------------

    def start(self, port: int = 0) -> DcacheEventsServer:
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        scheme = "http"
        if self.tls is not None:
            cert, key, client_ca = self.tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if client_ca:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_OPTIONAL
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self.api = f"{self.url}/api/v1"
        self._stop.clear()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._reaper, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.drop_connections()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _reaper(self) -> None:
        while not self._stop.wait(0.05):
            self.expire_idle()

    def expire_idle(self) -> None:
        now = time.monotonic()
        with self.lock:
            for cid, ch in list(self.channels.items()):
                idle = None if ch.sink is not None else ch.disconnected_at
                if idle is not None and now - idle > ch.timeout:
                    del self.channels[cid]

    # --- the namespace (what tests do to dCache) ---------------------------------------

    def mkdir(self, path: str) -> None:
        parent, name = path.rsplit("/", 1)
        parent = parent or "/"
        with self.lock:
            assert parent in self.dirs, f"no parent directory {parent}"
            self.dirs.add(path)
            self._emit(parent, name, ["IN_CREATE", "IN_ISDIR"])

    def makedirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:i])
            if sub not in self.dirs:
                self.mkdir(sub)

    def upload(self, path: str) -> None:
        """A WebDAV upload as dCache reports it (frontend.md, "Receiving events: SSE")."""
        parent, name = path.rsplit("/", 1)
        parent = parent or "/"
        with self.lock:
            assert parent in self.dirs, f"no directory {parent}"
            self.files.add(path)
            for flag in ("IN_CREATE", "IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE", "IN_ATTRIB"):
                self._emit(parent, name, [flag])
            self.uploads += 1

    def start_upload(self, path: str) -> None:
        """An upload that has not finished: IN_CREATE, IN_OPEN, IN_MODIFY only."""
        parent, name = path.rsplit("/", 1)
        with self.lock:
            self.files.add(path)
            for flag in ("IN_CREATE", "IN_OPEN", "IN_MODIFY"):
                self._emit(parent or "/", name, [flag])

    def rename(self, src: str, dst: str) -> None:
        sp, sn = src.rsplit("/", 1)
        dp, dn = dst.rsplit("/", 1)
        cookie = base64.b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        with self.lock:
            isdir = src in self.dirs
            (self.dirs if isdir else self.files).discard(src)
            (self.dirs if isdir else self.files).add(dst)
            extra = ["IN_ISDIR"] if isdir else []
            self._emit(sp or "/", sn, ["IN_MOVED_FROM", *extra], cookie)
            self._emit(dp or "/", dn, ["IN_MOVED_TO", *extra], cookie)

    def overflow(self, path: str) -> None:
        """dCache's inotify queue overflowed for watches of `path` (Inotify.java)."""
        with self.lock:
            for ch in self.channels.values():
                for sub in ch.subs.values():
                    if sub.path == path:
                        self._send(
                            ch, "inotify", self._sub_url(ch, sub), {"mask": ["IN_Q_OVERFLOW"]}
                        )

    def _emit(self, parent: str, name: str, mask: list[str], cookie: str | None = None) -> None:
        flag = mask[0]
        event: dict[str, Any] = {"name": name, "mask": mask}
        if cookie:
            event["cookie"] = cookie
        for ch in self.channels.values():
            for sub in ch.subs.values():
                if sub.path == parent and flag in sub.selected:
                    self._send(ch, "inotify", self._sub_url(ch, sub), event)

    def _sub_url(self, ch: Channel, sub: Subscription) -> str:
        return f"{self.api}/events/channels/{ch.id}/subscriptions/inotify/{sub.id}"

    def _send(self, ch: Channel, kind: str, sub_url: str, event: dict[str, Any]) -> None:
        eid = ch.next_id
        ch.next_id += 1
        data = json.dumps({"event": event, "subscription": sub_url}, separators=(",", ":"))
        ch.ring.append((eid, kind, data))
        if ch.sink is not None:
            ch.sink.put((kind, str(eid), data))

    def _system(self, ch: Channel, data: dict[str, Any]) -> None:
        if ch.sink is not None:
            ch.sink.put(("SYSTEM", None, json.dumps(data, separators=(",", ":"))))

    # --- faults -----------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Close every SSE connection (as a proxy or a frontend restart would)."""
        with self.lock:
            for ch in self.channels.values():
                if ch.sink is not None:
                    ch.sink.put(None)
                    ch.sink = None
                    ch.disconnected_at = time.monotonic()

    def delete_channel(self, cid: str) -> None:
        with self.lock:
            ch = self.channels.pop(cid, None)
            if ch is not None and ch.sink is not None:
                ch.sink.put(None)

    def channel_ids(self) -> list[str]:
        with self.lock:
            return list(self.channels)

    def connected(self) -> int:
        with self.lock:
            return sum(1 for ch in self.channels.values() if ch.sink is not None)

    def watched(self) -> set[str]:
        with self.lock:
            return {s.path for ch in self.channels.values() for s in ch.subs.values()}


def _handler(state: DcacheEventsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(
            self, code: int, body: Any = None, headers: dict[str, str] | None = None
        ) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            with state.lock:
                state.requests.append((self.command, self.path, code))

        def _error(self, code: int, message: str) -> None:
            self._reply(code, {"errors": [{"message": message, "status": str(code)}]})

        def _user(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            basic = base64.b64encode(f"{state.username}:{state.password}".encode()).decode()
            if auth == f"Basic {basic}" or auth == f"Bearer {state.token}":
                return state.username
            if not auth and state.tls is not None:
                cert = (
                    self.connection.getpeercert()
                    if hasattr(self.connection, "getpeercert")
                    else None
                )
                if cert:
                    return state.username
            return None

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            return json.loads(raw)

        def _dispatch(self) -> None:
            try:
                body = self._body()
            except ValueError:
                return self._error(400, "Bad JSON")
            if self._user() is None:
                return self._reply(401, None, {"WWW-Authenticate": 'Basic realm="dCache"'})
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            if parts[:2] != ["api", "v1"]:
                return self._error(404, "Not Found")
            parts = parts[2:]
            query = parse_qs(url.query, keep_blank_values=True)
            state.expire_idle()
            if parts and parts[0] == "namespace" and self.command == "GET":
                return self._namespace("/" + "/".join(parts[1:]), query)
            if parts[:1] != ["events"]:
                return self._error(404, "Not Found")
            parts = parts[1:]
            if not parts and self.command == "GET":
                return self._reply(
                    200,
                    {
                        "channels": {
                            "lifetimeWhenDisconnected": {
                                "maximum": 86400,
                                "minimum": 1,
                                "default": state.default_timeout,
                            },
                            "maximumPerUser": state.max_channels,
                        }
                    },
                )
            if parts == ["eventTypes"] and self.command == "GET":
                return self._reply(200, ["inotify", "metronome"])
            if parts[:1] == ["channels"]:
                return self._channels(parts[1:], query, body)
            return self._error(404, "Not Found")

        def _namespace(self, path: str, query: dict[str, list[str]]) -> None:
            path = path.rstrip("/") or "/"
            with state.lock:
                if path in state.files:
                    return self._reply(
                        200, {"fileName": path.rsplit("/", 1)[1], "fileType": "REGULAR"}
                    )
                if path not in state.dirs:
                    return self._error(404, "Not Found")
                body: dict[str, Any] = {"fileType": "DIR"}
                if query.get("children") == ["true"]:
                    prefix = path.rstrip("/") + "/"
                    kids = [
                        {"fileName": p[len(prefix) :], "fileType": "DIR"}
                        for p in state.dirs
                        if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != path
                    ] + [
                        {"fileName": p[len(prefix) :], "fileType": "REGULAR"}
                        for p in state.files
                        if p.startswith(prefix) and "/" not in p[len(prefix) :]
                    ]
                    body["children"] = kids
                return self._reply(200, body)

        def _channels(self, parts: list[str], query: dict[str, list[str]], body: Any) -> None:
            base = f"{state.api}/events/channels"
            if not parts:
                if self.command == "GET":
                    with state.lock:
                        chans = list(state.channels.values())
                    if "client-id" in query:
                        want = query["client-id"][0] or None
                        chans = [c for c in chans if c.client_id == want]
                    return self._reply(200, [f"{base}/{c.id}" for c in chans])
                if self.command == "POST":
                    if body is not None and (
                        not isinstance(body, dict)
                        or set(body) - {"client-id"}
                        or not isinstance(body.get("client-id", ""), str)
                    ):
                        return self._error(400, 'Bad request: expected {"client-id": string}')
                    with state.lock:
                        if len(state.channels) >= state.max_channels:
                            return self._error(429, "Too many channels")
                        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
                        state.channels[cid] = Channel(
                            cid,
                            state.username,
                            (body or {}).get("client-id"),
                            state.default_timeout,
                        )
                    return self._reply(201, None, {"Location": f"{base}/{cid}"})
                return self._error(405, "Method Not Allowed")
            with state.lock:
                ch = state.channels.get(parts[0])
            if ch is None:
                return self._error(404, "Not Found")
            rest = parts[1:]
            if not rest:
                return self._channel(ch, body)
            if rest[0] == "subscriptions":
                return self._subscriptions(ch, rest[1:], body)
            return self._error(404, "Not Found")

        def _channel(self, ch: Channel, body: Any) -> None:
            if self.command == "GET":
                accept = self.headers.get("Accept", "")
                if "text/event-stream" in accept:
                    return self._stream(ch)
                if "application/json" in accept:
                    return self._reply(200, {"timeout": int(ch.timeout)})
                return self._error(
                    406, "Not Acceptable: ask for application/json or text/event-stream"
                )
            if self.command == "PATCH":
                t = body.get("timeout") if isinstance(body, dict) else None
                if (
                    not isinstance(t, int)
                    or isinstance(t, bool)
                    or not 1 <= t <= 86400
                    or set(body) != {"timeout"}
                ):
                    return self._error(400, 'Bad request: expected {"timeout": 1..86400}')
                with state.lock:
                    ch.timeout = t
                return self._reply(204)
            if self.command == "DELETE":
                state.delete_channel(ch.id)
                return self._reply(204)
            return self._error(405, "Method Not Allowed")

        def _subscriptions(self, ch: Channel, rest: list[str], body: Any) -> None:
            if not rest and self.command == "GET":
                with state.lock:
                    return self._reply(200, [state._sub_url(ch, s) for s in ch.subs.values()])
            if not rest:
                return self._error(405, "Method Not Allowed")
            if rest == ["metronome"] and self.command == "POST":
                return self._metronome(ch, body)
            if rest[0] != "inotify":
                if self.command == "POST" and len(rest) == 1:
                    return self._error(400, f"Unknown event type: {rest[0]}")
                return self._error(404, "Not Found")
            if len(rest) == 1 and self.command == "POST":
                return self._subscribe(ch, body)
            if len(rest) == 2:
                with state.lock:
                    sub = ch.subs.get(rest[1])
                if sub is None:
                    return self._error(404, "Not Found")
                if self.command == "GET":
                    sel: dict[str, Any] = {"path": sub.path}
                    if sub.flags is not None:
                        sel["flags"] = sub.flags
                    return self._reply(200, sel)
                if self.command == "DELETE":
                    with state.lock:
                        ch.subs.pop(sub.id, None)
                        state._system(
                            ch,
                            {
                                "type": "SUBSCRIPTION_CLOSED",
                                "subscription": state._sub_url(ch, sub),
                            },
                        )
                    return self._reply(204)
            return self._error(405, "Method Not Allowed")

        def _metronome(self, ch: Channel, body: Any) -> None:
            # dCache's metronome selector schema (frontend.md, eventTypes/metronome/selector):
            # frequency (Hz) or delay (1e-06..300 s) required, message, count optional.
            allowed = {"frequency", "delay", "message", "count"}
            if not isinstance(body, dict) or set(body) - allowed:
                return self._error(400, "Bad selector value")
            if ("frequency" in body) == ("delay" in body):
                return self._error(400, "Bad selector value: one of frequency or delay")
            delay = body.get("delay") or 1 / float(body.get("frequency") or 1)
            if not isinstance(delay, (int, float)) or not 1e-06 <= delay <= 300:
                return self._error(400, "Bad selector value: delay")
            count = body.get("count")
            sid = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
            url = f"{state.api}/events/channels/{ch.id}/subscriptions/metronome/{sid}"
            message = str(body.get("message", "tick"))

            def tick() -> None:
                n = 0
                while count is None or n < count:
                    if state._stop.wait(delay):
                        return
                    with state.lock:
                        if ch.id not in state.channels:
                            return
                        n += 1
                        eid = ch.next_id
                        ch.next_id += 1
                        data = json.dumps(
                            {"event": message.replace("${count}", str(n)), "subscription": url},
                            separators=(",", ":"),
                        )
                        ch.ring.append((eid, "metronome", data))
                        if ch.sink is not None:
                            ch.sink.put(("metronome", str(eid), data))
                with state.lock:
                    state._system(ch, {"type": "SUBSCRIPTION_CLOSED", "subscription": url})

            with state.lock:
                state._system(ch, {"type": "NEW_SUBSCRIPTION", "subscription": url})
            threading.Thread(target=tick, daemon=True).start()
            return self._reply(201, None, {"Location": url})

        def _subscribe(self, ch: Channel, body: Any) -> None:
            # dCache's inotify selector schema (frontend.md, events/eventTypes/inotify/selector).
            if not isinstance(body, dict) or "path" not in body:
                return self._error(400, "Bad selector value: missing path")
            if set(body) - {"path", "flags"}:
                return self._error(
                    400, f"Bad selector value: unknown {sorted(set(body) - {'path', 'flags'})}"
                )
            path, flags = body["path"], body.get("flags")
            if not isinstance(path, str) or not PATH_RE.match(path):
                return self._error(400, "Bad selector value: path must match ^/(.*[^/])?$")
            if flags is not None and (
                not isinstance(flags, list)
                or not all(isinstance(f, str) and f in FLAGS for f in flags)
            ):
                return self._error(400, f"Bad selector value: flags {flags!r}")
            with state.lock:
                if path not in state.dirs and path not in state.files:
                    return self._error(400, f"Problem with path: {path} not found")
                for sub in ch.subs.values():  # Inotify.java: same watch on a channel is merged
                    if sub.path == path:
                        merged = set(sub.flags or []) | set(flags or [])
                        sub.flags = (
                            sorted(merged) if sub.flags is not None and flags is not None else None
                        )
                        sub.selected = _selected(sub.flags)
                        return self._reply(201, None, {"Location": state._sub_url(ch, sub)})
                sid = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
                sub = Subscription(sid, path, flags, _selected(flags))
                ch.subs[sid] = sub
                state._system(
                    ch, {"type": "NEW_SUBSCRIPTION", "subscription": state._sub_url(ch, sub)}
                )
            return self._reply(201, None, {"Location": state._sub_url(ch, sub)})

        def _stream(self, ch: Channel) -> None:
            last = self.headers.get("Last-Event-ID")
            q: queue.Queue[tuple[str, str | None, str] | None] = queue.Queue()
            with state.lock:
                if ch.id not in state.channels:
                    return self._error(404, "Not Found")
                if ch.sink is not None:  # Channel.acceptConnection: one client per channel
                    ch.sink.put(("SYSTEM", None, '{"type":"COMPETING_CLIENT"}'))
                    ch.sink.put(None)
                ch.sink = q
                ch.disconnected_at = None
                ch.connections += 1
                ring = ch.ring
                if ring.maxlen != state.ring_size:
                    ch.ring = ring = collections.deque(ring, maxlen=state.ring_size)
                if last is not None and re.fullmatch(r"-?\d+", last.strip()):
                    want = int(last)
                    while ring and ring[0][0] != want:
                        ring.popleft()
                    if not ring:
                        q.put(("SYSTEM", None, '{"type":"EVENT_LOSS"}'))
                    else:
                        for eid, kind, data in list(ring)[1:]:
                            q.put((kind, str(eid), data))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                state.requests.append((self.command, self.path, 200))
            try:
                self.wfile.flush()
                while not state._stop.is_set():
                    try:
                        item = q.get(timeout=0.2)
                    except queue.Empty:
                        if self._client_gone():
                            break
                        continue
                    batch = [item]
                    while True:  # write what is queued in one go
                        try:
                            batch.append(q.get_nowait())
                        except queue.Empty:
                            break
                    out = []
                    closed = False
                    for it in batch:
                        if it is None:
                            closed = True
                            break
                        kind, eid, data = it
                        out.append(
                            f"event: {kind}\n"
                            + (f"id: {eid}\n" if eid is not None else "")
                            + f"data: {data}\n\n"
                        )
                    if out:
                        self.wfile.write("".join(out).encode())
                        self.wfile.flush()
                    if closed:
                        break
            except OSError:
                pass
            finally:
                with state.lock:
                    if ch.sink is q:
                        ch.sink = None
                        ch.disconnected_at = time.monotonic()
                self.close_connection = True

        def _client_gone(self) -> bool:
            """A client that closed its end (e.g. was killed) while no event was due."""
            sock = self.connection
            if isinstance(sock, ssl.SSLSocket):
                return False  # noticed at the next write instead
            try:
                readable, _, _ = select.select([sock], [], [], 0)
                return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dispatch

    return Handler
