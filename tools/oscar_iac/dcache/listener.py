#!/usr/bin/env python3
"""dCache storage-events listener: completed uploads -> a spool folder or OSCAR's /job.

Standard library only (Python 3.9+), so the same file runs inside NiFi's container,
on the front as a systemd service, and in-process as `oscar_iac.dcache.listener`:

    python3 listener.py --config CONFIG.json

What it does (facts from dCache's User Guide, chapter "Frontend" / "Storage Events",
dCache/dcache docs/UserGuide/src/main/markdown/frontend.md, and its implementation
modules/dcache-frontend/.../restful/events/Channel.java):
  - finds its channel again (`GET <endpoint>/events/channels?client-id=ID`) or creates
    one (`POST <endpoint>/events/channels` `{"client-id": ID}` -> 201 + Location);
  - opens the SSE stream first (`GET <channel>`, `Accept: text/event-stream`) and only
    then subscribes (`POST <channel>/subscriptions/inotify`
    `{"path": P, "flags": [...]}` -> Location): dCache replays missed events only to
    a client that sends `Last-Event-ID`, so events between subscribing and connecting
    would otherwise be lost;
  - with `recursive`, watches sub-directories too: existing ones are listed through
    `GET <endpoint>/namespace<path>?children=true` (fileType DIR), new ones are
    watched when `IN_CREATE`/`IN_MOVED_TO` with `IN_ISDIR` arrives (dCache's inotify
    watches one directory, like Linux inotify);
  - passes on complete files only: `IN_CLOSE_WRITE` and `IN_MOVED_TO` (no `IN_ISDIR`);
  - keeps a durable checkpoint (channel, last acknowledged event id, watches, gaps),
    written atomically (temp file, fsync, rename; mode 0600). The checkpoint id only
    advances past an event once the sink acknowledged it and every event before it
    (at-least-once: after a crash some events may be delivered twice, none lost);
  - reconnects with `Last-Event-ID: <checkpoint id>` after a dropped connection or a
    restart (dCache keeps the last 16384 events of a channel in a ring buffer; an
    id no longer held makes dCache send `SYSTEM` `EVENT_LOSS`);
  - re-creates the channel and its subscriptions when dCache answers 404 (the channel
    expired after `timeout` seconds without a client, or was deleted);
  - reports possible gaps LOUDLY (log line starting `GAP:` and an entry under `gaps`
    in the checkpoint): a re-created channel, `EVENT_LOSS`, inotify `IN_Q_OVERFLOW`,
    a restart before any event was acknowledged.

CONFIG.json (unknown keys are refused; secrets only through env vars or files):
  endpoint      dCache frontend REST base, e.g. "https://dcache.example.org:3880/api/v1"
  paths         ["/data/in", ...]   directories to watch
  recursive     bool (default false)
  checkpoint    path of the checkpoint file
  auth          {"kind": "oidc", "token_env": NAME | "token_file": PATH}
              | {"kind": "basic", "username": U, "password_env": NAME | "password_file": PATH}
              | {"kind": "x509", "cert": PATH, "key": PATH (optional if in cert)}
  verify_tls    bool (default true)
  ca_bundle     path or null
  sink          {"kind": "spool", "dir": DIR}
              | {"kind": "oscar", "url": "<oscar>/job/<service>",
                 "token_env": NAME | "token_file": PATH   (the service's token), or
                 "oscar_user": U, "oscar_password_env": NAME | "oscar_password_file": PATH
                 (OSCAR's Basic-auth user: the service token is read from
                 GET <oscar>/system/services/<service> and read again after a 401),
                 "verify_tls": bool,
                 "ca_bundle": PATH|null, "concurrency": 16, "max_attempts": 8,
                 "timeout": 30, "backoff_initial": 0.5, "backoff_max": 30}
  optional:     "source" (name put in every event, default "dcache"),
                "client_id" (channel client id, default "oscar-iac-<source>"),
                "webdav" (WebDAV base URL; adds "url" to events),
                "channel_timeout" (seconds a channel survives without a client; PATCHed),
                "stream_idle_timeout" (s, default 120), "checkpoint_interval" (s, 0.2),
                "log_level" ("INFO")

The event (one spool file, or one POST body to OSCAR's /job/<service>), a JSON object:
  {"source": "edge-dcache",            the site's event-source name
   "event": "IN_CLOSE_WRITE",          or "IN_MOVED_TO"
   "path": "/data/in/sub/file.csv",    full dCache path of the complete file
   "name": "file.csv", "directory": "/data/in/sub",
   "event_id": "<channel id>:<sse id>",  unique per event (SSE ids restart per channel)
   "sse_id": "42", "channel": "<channel URL>",
   "endpoint": "<frontend REST base>",
   "url": "<webdav>/data/in/sub/file.csv"   only when "webdav" is configured
   "cookie": "..."                      only for IN_MOVED_TO
   "received": "2026-12-01T22:00:00Z"}
Spool files are named `<safe event id>.json`, written as a hidden `.<name>.tmp` and
renamed, so NiFi's GetFile (which skips hidden files) never reads a partial file.

Exit codes: 0 stopped (SIGTERM/SIGINT), 2 bad config, 3 refused (dCache/OSCAR auth,
another client took the channel, OSCAR rejected an event), 75 OSCAR unreachable after
the bounded retries (the checkpoint stays before the undelivered event).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import http.client
import json
import logging
import os
import random
import re
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

COMPLETE = ("IN_CLOSE_WRITE", "IN_MOVED_TO")
LOG = logging.getLogger("dcache-listener")
EX_CONFIG, EX_REFUSED, EX_TEMPFAIL = 2, 3, 75
MAX_GAPS = 100


# ----------------------------------------------------------------------------- errors


class ListenerError(Exception):
    exit_code = 1


class ConfigError(ListenerError):
    exit_code = EX_CONFIG


class Refused(ListenerError):
    """A server refused us in a way retrying cannot mend."""

    exit_code = EX_REFUSED


class SinkUnavailable(ListenerError):
    exit_code = EX_TEMPFAIL


class ChannelGone(Exception):
    """dCache answered 404 for our channel."""


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Auth:
    kind: str
    token_env: str | None = None
    token_file: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Sink:
    kind: str
    dir: str | None = None
    url: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    oscar_user: str | None = None
    oscar_password_env: str | None = None
    oscar_password_file: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    concurrency: int = 16
    max_attempts: int = 8
    timeout: float = 30.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


@dataclass(frozen=True)
class Config:
    endpoint: str
    paths: tuple[str, ...]
    checkpoint: str
    auth: Auth
    sink: Sink
    recursive: bool = False
    verify_tls: bool = True
    ca_bundle: str | None = None
    source: str = "dcache"
    client_id: str = ""
    webdav: str | None = None
    channel_timeout: int | None = None
    stream_idle_timeout: float = 120.0
    checkpoint_interval: float = 0.2
    log_level: str = "INFO"


_NONE = type(None)
_TOP: dict[str, tuple[type, ...]] = {
    "endpoint": (str,),
    "paths": (list,),
    "recursive": (bool,),
    "checkpoint": (str,),
    "auth": (dict,),
    "verify_tls": (bool,),
    "ca_bundle": (str, _NONE),
    "sink": (dict,),
    "source": (str,),
    "client_id": (str,),
    "webdav": (str, _NONE),
    "channel_timeout": (int, _NONE),
    "stream_idle_timeout": (int, float),
    "checkpoint_interval": (int, float),
    "log_level": (str,),
}
_REQUIRED = ("endpoint", "paths", "checkpoint", "auth", "sink")
_AUTH_KEYS = {
    "oidc": {"kind", "token_env", "token_file"},
    "basic": {"kind", "username", "password_env", "password_file"},
    "x509": {"kind", "cert", "key"},
}
_SINK_KEYS = {
    "spool": {"kind", "dir"},
    "oscar": {
        "kind",
        "url",
        "token_env",
        "token_file",
        "oscar_user",
        "oscar_password_env",
        "oscar_password_file",
        "verify_tls",
        "ca_bundle",
        "concurrency",
        "max_attempts",
        "timeout",
        "backoff_initial",
        "backoff_max",
    },
}
_PATH_RE = re.compile(r"^/(.*[^/])?$")  # dCache's inotify selector schema: "^/(.*[^/])?$"


def _fail(where: str, field_name: str, expected: str) -> ConfigError:
    return ConfigError(f"{where}: field '{field_name}': {expected}")


def _one_of(where: str, d: dict[str, Any], prefix: str, keys: tuple[str, str]) -> None:
    given = [k for k in keys if d.get(k)]
    if len(given) != 1:
        raise _fail(where, prefix, f"expected exactly one of {keys[0]!r} or {keys[1]!r}")


def parse_config(raw: Any, where: str = "config") -> Config:
    """Validate a config mapping; every problem names the field and what is expected."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    for key in raw:
        if key not in _TOP:
            raise _fail(where, key, f"unknown key; expected one of {', '.join(sorted(_TOP))}")
    for key in _REQUIRED:
        if key not in raw:
            raise _fail(where, key, "is required")
    for key, typ in _TOP.items():
        value = raw.get(key)
        if key in raw and (
            not isinstance(value, typ) or (isinstance(value, bool) and bool not in typ)
        ):
            names = " or ".join("null" if t is _NONE else t.__name__ for t in typ)
            raise _fail(where, key, f"expected {names}, got {type(value).__name__}")
    endpoint = raw["endpoint"].rstrip("/")
    if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
        raise _fail(where, "endpoint", "expected an http(s) URL such as https://host:3880/api/v1")
    paths = raw["paths"]
    if not paths or not all(isinstance(p, str) and _PATH_RE.match(p) for p in paths):
        raise _fail(
            where, "paths", "expected a non-empty list of absolute paths without trailing '/'"
        )
    a = raw["auth"]
    kind = a.get("kind")
    if kind not in _AUTH_KEYS:
        raise _fail(where, "auth.kind", "expected 'oidc', 'basic' or 'x509'")
    for key in a:
        if key not in _AUTH_KEYS[kind]:
            raise _fail(where, f"auth.{key}", f"not used with kind {kind!r}")
    if kind == "oidc":
        _one_of(where, a, "auth", ("token_env", "token_file"))
    elif kind == "basic":
        if not a.get("username"):
            raise _fail(where, "auth.username", "is required for kind 'basic'")
        _one_of(where, a, "auth", ("password_env", "password_file"))
    elif not a.get("cert"):
        raise _fail(where, "auth.cert", "is required for kind 'x509' (certificate or proxy file)")
    auth = Auth(**{k: v for k, v in a.items()})
    s = raw["sink"]
    skind = s.get("kind")
    if skind not in _SINK_KEYS:
        raise _fail(where, "sink.kind", "expected 'spool' or 'oscar'")
    for key in s:
        if key not in _SINK_KEYS[skind]:
            raise _fail(where, f"sink.{key}", f"not used with kind {skind!r}")
    if skind == "spool":
        if not isinstance(s.get("dir"), str) or not s["dir"]:
            raise _fail(where, "sink.dir", "expected the spool folder")
    else:
        url = s.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/]+(/.*)?/job/[^/]+$", url):
            raise _fail(where, "sink.url", "expected <oscar>/job/<service>")
        given = [
            k
            for k in ("token_env", "token_file", "oscar_password_env", "oscar_password_file")
            if s.get(k)
        ]
        if len(given) != 1:
            raise _fail(
                where,
                "sink",
                "expected exactly one of 'token_env', 'token_file' (the service token), "
                "'oscar_password_env' or 'oscar_password_file' (with 'oscar_user')",
            )
        if given[0].startswith("oscar_password") and not s.get("oscar_user"):
            raise _fail(where, "sink.oscar_user", "is required with an OSCAR password")
        for key, lo in (("concurrency", 1), ("max_attempts", 1)):
            if key in s and (
                not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < lo
            ):
                raise _fail(where, f"sink.{key}", f"expected an integer >= {lo}")
    sink = Sink(**{k: v for k, v in s.items()})
    source = raw.get("source", "dcache")
    return Config(
        endpoint=endpoint,
        paths=tuple(paths),
        checkpoint=raw["checkpoint"],
        auth=auth,
        sink=sink,
        recursive=raw.get("recursive", False),
        verify_tls=raw.get("verify_tls", True),
        ca_bundle=raw.get("ca_bundle"),
        source=source,
        client_id=raw.get("client_id") or f"oscar-iac-{source}",
        webdav=(raw.get("webdav") or None),
        channel_timeout=raw.get("channel_timeout"),
        stream_idle_timeout=float(raw.get("stream_idle_timeout", 120.0)),
        checkpoint_interval=float(raw.get("checkpoint_interval", 0.2)),
        log_level=raw.get("log_level", "INFO"),
    )


def load_config(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from e
    return parse_config(raw, path)


# ----------------------------------------------------------------------------- secrets


class Secret:
    """A secret read from an env var or a file (re-read when the file changes)."""

    def __init__(self, what: str, env: str | None, path: str | None) -> None:
        self.what, self.env, self.path = what, env, path
        self._cache: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        if self.env:
            value = os.environ.get(self.env, "")
            if not value:
                raise ConfigError(f"{self.what}: environment variable {self.env} is not set")
            return value.strip()
        assert self.path is not None
        try:
            mtime = os.stat(self.path).st_mtime
            with self._lock:
                if self._cache is None or self._cache[0] != mtime:
                    with open(self.path, encoding="utf-8") as f:
                        self._cache = (mtime, f.read().strip())
                value = self._cache[1]
        except OSError as e:
            raise ConfigError(
                f"{self.what}: cannot read secret file {self.path}: {e.strerror}"
            ) from e
        if not value:
            raise ConfigError(f"{self.what}: secret file {self.path} is empty")
        return value


# ----------------------------------------------------------------------------- HTTP


def _ssl_context(verify: bool, ca_bundle: str | None, auth: Auth | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_bundle)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if auth is not None and auth.kind == "x509" and auth.cert:
        try:
            ctx.load_cert_chain(auth.cert, auth.key or None)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"auth.cert: cannot load certificate/key: {e}") from e
    return ctx


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Http:
    """Small HTTP client on http.client: one kept-alive connection per thread and host."""

    def __init__(
        self, ctx: ssl.SSLContext, header: Callable[[], dict[str, str]], timeout: float = 30.0
    ) -> None:
        self.ctx, self.header, self.timeout = ctx, header, timeout
        self._local = threading.local()

    def _conn(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        conn = pool.get((scheme, netloc))
        if conn is None:
            conn = self.new_connection(scheme, netloc, timeout)
            pool[(scheme, netloc)] = conn
        conn.timeout = timeout
        return conn

    def new_connection(
        self, scheme: str, netloc: str, timeout: float
    ) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=timeout, context=self.ctx)
        return http.client.HTTPConnection(netloc, timeout=timeout)

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        hdrs = {**self.header(), **(headers or {})}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):  # a kept-alive connection the server closed: retry once
            conn = self._conn(parts.scheme, parts.netloc, timeout or self.timeout)
            try:
                conn.request(method, target, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                if resp.will_close:
                    self._drop(parts.scheme, parts.netloc)
                return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(parts.scheme, parts.netloc)
                if attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                self._drop(parts.scheme, parts.netloc)
                raise
        raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- checkpoint


@dataclass
class Checkpoint:
    """What a restart needs. `last_event_id` is the newest id acknowledged with all before it."""

    channel: str | None = None
    last_event_id: str | None = None
    watches: dict[str, str] = field(default_factory=dict)  # dCache path -> subscription URL
    endpoint: str = ""
    gaps: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0

    @classmethod
    def load(cls, path: str) -> Checkpoint | None:
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"{path}: checkpoint unreadable ({e}); move it away to start afresh"
            ) from e
        if not isinstance(raw, dict) or raw.get("version") != 1:
            raise ConfigError(f"{path}: not a checkpoint of this listener (version 1)")
        return cls(
            channel=raw.get("channel"),
            last_event_id=raw.get("last_event_id"),
            watches=dict(raw.get("watches") or {}),
            endpoint=raw.get("endpoint", ""),
            gaps=list(raw.get("gaps") or []),
            delivered=int(raw.get("delivered") or 0),
        )

    def save(self, path: str) -> None:
        data = json.dumps(
            {
                "version": 1,
                "endpoint": self.endpoint,
                "channel": self.channel,
                "last_event_id": self.last_event_id,
                "watches": self.watches,
                "gaps": self.gaps[-MAX_GAPS:],
                "delivered": self.delivered,
            },
            indent=1,
            sort_keys=True,
        ).encode()
        write_atomic(path, data)


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` via a hidden temp file in the same folder (0600), fsync, rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# ----------------------------------------------------------------------------- sinks


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:200]


class SpoolSink:
    """One file per event: hidden temp file, fsync, atomic rename to `<safe id>.json`."""

    concurrency = 1

    def __init__(self, sink: Sink) -> None:
        assert sink.dir is not None
        self.dir = sink.dir
        os.makedirs(self.dir, mode=0o750, exist_ok=True)

    def deliver(self, event: dict[str, Any]) -> None:
        name = safe_name(f"{event['source']}-{event['event_id']}") + ".json"
        write_atomic(os.path.join(self.dir, name), json.dumps(event, sort_keys=True).encode())

    def close(self) -> None:
        return


class OscarSink:
    """POST each event to OSCAR's /job/<service> with the service token; bounded retries."""

    RETRY = frozenset({408, 425, 429, 500, 502, 503, 504})

    def __init__(self, sink: Sink) -> None:
        assert sink.url is not None
        self.sink = sink
        self.url = sink.url
        self.concurrency = sink.concurrency
        self.base, self.service = sink.url.rsplit("/job/", 1)
        if sink.token_env or sink.token_file:
            self.token: Secret | None = Secret("sink.token", sink.token_env, sink.token_file)
            self.token.get()  # fail early (exit 2) on a missing secret
            self.password: Secret | None = None
        else:
            self.token = None
            self.password = Secret(
                "sink.oscar_password", sink.oscar_password_env, sink.oscar_password_file
            )
            self.password.get()
        self._service_token: str | None = None
        self._token_lock = threading.Lock()
        ctx = _ssl_context(sink.verify_tls, sink.ca_bundle)
        self.http = Http(ctx, dict, sink.timeout)
        self.stop = threading.Event()

    def _bearer(self) -> str:
        if self.token is not None:
            return self.token.get()
        with self._token_lock:
            if self._service_token is None:
                assert self.password is not None
                pair = f"{self.sink.oscar_user}:{self.password.get()}".encode()
                resp = self.http.request(
                    "GET",
                    f"{self.base}/system/services/{self.service}",
                    headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
                )
                if resp.status in (401, 403, 404):
                    raise Refused(
                        f"OSCAR {self.base}: reading service '{self.service}' as "
                        f"'{self.sink.oscar_user}': HTTP {resp.status}"
                    )
                if resp.status != 200:
                    raise OSError(f"OSCAR {self.base}: reading the service: HTTP {resp.status}")
                token = (resp.json() or {}).get("token")
                if not isinstance(token, str) or not token:
                    raise Refused(f"OSCAR {self.base}: service '{self.service}' has no token")
                self._service_token = token
            return self._service_token

    def deliver(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, sort_keys=True).encode()
        delay = self.sink.backoff_initial
        last = ""
        for attempt in range(1, self.sink.max_attempts + 1):
            try:
                headers = {"Authorization": f"Bearer {self._bearer()}"}
                resp = self.http.request("POST", self.url, body=body, headers=headers)
                if 200 <= resp.status < 300:
                    return
                last = f"HTTP {resp.status}"
                if resp.status == 401 and self.token is None and attempt < self.sink.max_attempts:
                    with self._token_lock:  # the service was re-created: read its token again
                        self._service_token = None
                    continue
                if resp.status not in self.RETRY:
                    raise Refused(
                        f"OSCAR {self.url} refused event {event['event_id']} ({event['path']}): "
                        f"HTTP {resp.status} {resp.body[:200]!r}"
                    )
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
            if attempt == self.sink.max_attempts or self.stop.is_set():
                break
            LOG.warning(
                "OSCAR %s: %s for %s (attempt %d/%d); retrying in %.1fs",
                self.url,
                last,
                event["path"],
                attempt,
                self.sink.max_attempts,
                delay,
            )
            if self.stop.wait(delay * (0.75 + random.random() / 2)):
                break
            delay = min(delay * 2, self.sink.backoff_max)
        raise SinkUnavailable(
            f"OSCAR {self.url}: event {event['event_id']} ({event['path']}) not delivered "
            f"after {self.sink.max_attempts} attempts (last: {last}); the checkpoint stays before it"
        )

    def close(self) -> None:
        self.stop.set()


def make_sink(sink: Sink) -> SpoolSink | OscarSink:
    return SpoolSink(sink) if sink.kind == "spool" else OscarSink(sink)


# ----------------------------------------------------------------------------- in-order acks


class Tracker:
    """Event ids in arrival order; the checkpoint id advances over a prefix of done events."""

    def __init__(self, acked: str | None) -> None:
        self.lock = threading.Lock()
        self.order: collections.deque[str] = collections.deque()
        self.done: dict[str, bool] = {}
        self.acked = acked
        self.received = acked
        self.delivered = 0

    def seen(self, eid: str) -> bool:
        with self.lock:
            return eid in self.done

    def add(self, eid: str, done: bool) -> None:
        with self.lock:
            self.order.append(eid)
            self.done[eid] = done
            self.received = eid
            self._advance()

    def ack(self, eid: str, delivered: bool = True) -> None:
        with self.lock:
            if eid in self.done:
                self.done[eid] = True
            if delivered:
                self.delivered += 1
            self._advance()

    def _advance(self) -> None:
        while self.order and self.done.get(self.order[0]):
            self.acked = self.order.popleft()
            del self.done[self.acked]

    def resume_id(self) -> str | None:
        """The id to reconnect with: the acknowledged prefix (in-flight ones are skipped
        when replayed), or, before any acknowledgement, the newest id received."""
        with self.lock:
            return self.acked if self.acked is not None else self.received

    def reset(self) -> None:
        with self.lock:
            self.order.clear()
            self.done.clear()
            self.acked = self.received = None

    def pending(self) -> int:
        with self.lock:
            return len(self.order)


# ----------------------------------------------------------------------------- SSE


@dataclass
class SseMessage:
    event: str
    data: str
    id: str | None


def parse_sse(lines: Iterator[bytes]) -> Iterator[SseMessage]:
    """Server-Sent Events (WHATWG HTML, "Server-sent events") from a line iterator."""
    event, eid = "", None
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield SseMessage(event or "message", "\n".join(data), eid)
            event, data, eid = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            eid = value


# ----------------------------------------------------------------------------- dCache


class Dcache:
    """The calls this listener makes on the dCache frontend REST API."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.base = cfg.endpoint
        a = cfg.auth
        self.secret: Secret | None = None
        if a.kind == "oidc":
            self.secret = Secret("auth.token", a.token_env, a.token_file)
        elif a.kind == "basic":
            self.secret = Secret("auth.password", a.password_env, a.password_file)
        if self.secret is not None:
            self.secret.get()  # fail early (exit 2) on a missing secret
        self.ctx = _ssl_context(cfg.verify_tls, cfg.ca_bundle, a)
        self.http = Http(self.ctx, self._header)

    def _header(self) -> dict[str, str]:
        a = self.cfg.auth
        if self.secret is None:  # x509: the client certificate authenticates
            return {}
        if a.kind == "oidc":
            return {"Authorization": f"Bearer {self.secret.get()}"}
        pair = f"{a.username}:{self.secret.get()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def _check(self, resp: Response, what: str, ok: tuple[int, ...] = (200, 201, 204)) -> Response:
        if resp.status in ok:
            return resp
        if resp.status in (401, 403):
            raise Refused(f"dCache {self.base}: {what}: HTTP {resp.status} (check the credentials)")
        raise OSError(f"dCache {self.base}: {what}: HTTP {resp.status} {resp.body[:200]!r}")

    def _abs(self, location: str) -> str:
        return urljoin(self.base + "/", location)

    def find_channels(self, client_id: str) -> list[str]:
        url = f"{self.base}/events/channels?{urlencode({'client-id': client_id})}"
        resp = self._check(
            self.http.request("GET", url, headers={"Accept": "application/json"}),
            "listing channels",
        )
        return [self._abs(u) for u in resp.json() or []]

    def create_channel(self, client_id: str) -> str:
        resp = self._check(
            self.http.request(
                "POST", f"{self.base}/events/channels", body={"client-id": client_id}
            ),
            "creating a channel",
            (201,),
        )
        location = resp.headers.get("location")
        if not location:
            raise OSError(f"dCache {self.base}: channel created without a Location header")
        return self._abs(location)

    def channel_exists(self, channel: str) -> bool:
        resp = self.http.request("GET", channel, headers={"Accept": "application/json"})
        if resp.status == 404:
            return False
        self._check(resp, "reading the channel", (200,))
        return True

    def set_timeout(self, channel: str, seconds: int) -> None:
        resp = self.http.request("PATCH", channel, body={"timeout": seconds})
        if resp.status == 404:
            raise ChannelGone(channel)
        self._check(resp, "setting the channel timeout")

    def delete_channel(self, channel: str) -> None:
        resp = self.http.request("DELETE", channel)
        if resp.status not in (200, 204, 404):
            self._check(resp, "deleting a channel")

    def subscriptions(self, channel: str) -> dict[str, str]:
        """subscription URL -> watched path, for the channel's inotify subscriptions."""
        resp = self.http.request(
            "GET", f"{channel}/subscriptions", headers={"Accept": "application/json"}
        )
        if resp.status == 404:
            raise ChannelGone(channel)
        out: dict[str, str] = {}
        for url in self._check(resp, "listing subscriptions").json() or []:
            url = self._abs(url)
            if "/subscriptions/inotify/" not in url:
                continue
            sel = self.http.request("GET", url, headers={"Accept": "application/json"})
            if sel.status == 200 and isinstance(sel.json(), dict) and "path" in sel.json():
                out[url] = sel.json()["path"]
        return out

    def subscribe(self, channel: str, path: str, flags: list[str]) -> str:
        resp = self.http.request(
            "POST", f"{channel}/subscriptions/inotify", body={"path": path, "flags": flags}
        )
        if resp.status in (200, 201) and resp.headers.get("location"):
            return self._abs(resp.headers["location"])
        if resp.status in (400, 404) and not self.channel_exists(channel):
            raise ChannelGone(channel)
        if resp.status in (400, 404, 412):
            raise ConfigError(
                f"paths: dCache refused to watch {path!r}: HTTP {resp.status} "
                f"{_error_message(resp)} (expected an existing directory you may list)"
            )
        self._check(resp, f"subscribing to {path}", ())
        raise OSError("unreachable")

    def mark(self, channel: str) -> bool:
        """Ask for one metronome event: a first id to resume from before any upload event."""
        resp = self.http.request(
            "POST", f"{channel}/subscriptions/metronome", body={"delay": 0.01, "count": 1}
        )
        if resp.status == 404 and not self.channel_exists(channel):
            raise ChannelGone(channel)
        if resp.status in (401, 403):
            self._check(resp, "subscribing to metronome")
        return resp.status in (200, 201)

    def subdirectories(self, path: str) -> list[str]:
        url = f"{self.base}/namespace{quote(path)}?children=true"
        resp = self.http.request("GET", url, headers={"Accept": "application/json"})
        if resp.status == 404:
            return []
        body = self._check(resp, f"listing {path}").json() or {}
        return [
            f"{path.rstrip('/')}/{c['fileName']}"
            for c in body.get("children") or []
            if c.get("fileType") == "DIR"
        ]

    def open_stream(self, channel: str, last_id: str | None, timeout: float) -> Stream:
        parts = urlsplit(channel)
        conn = self.http.new_connection(parts.scheme, parts.netloc, timeout)
        headers = {**self._header(), "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        conn.request("GET", parts.path, headers=headers)
        sock = conn.sock  # kept: getresponse() hands a close-delimited stream to the response
        resp = conn.getresponse()
        if resp.status == 404:
            conn.close()
            raise ChannelGone(channel)
        if resp.status != 200:
            body = resp.read(300)
            conn.close()
            if resp.status in (401, 403):
                raise Refused(f"dCache {self.base}: opening the event stream: HTTP {resp.status}")
            raise OSError(
                f"dCache {self.base}: opening the event stream: HTTP {resp.status} {body!r}"
            )
        return Stream(conn, resp, sock)


@dataclass
class Stream:
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    sock: Any

    def interrupt(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


def _error_message(resp: Response) -> str:
    try:
        return str(resp.json()["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return repr(resp.body[:200])


# ----------------------------------------------------------------------------- listener


class Listener:
    """One dCache source: channel, subscriptions, stream, sink, checkpoint."""

    def __init__(self, cfg: Config, sink: SpoolSink | OscarSink | None = None) -> None:
        self.cfg = cfg
        self.dcache = Dcache(cfg)
        self.sink = sink or make_sink(cfg.sink)
        self.stop_event = threading.Event()
        self.fatal: ListenerError | None = None
        self.state_lock = threading.RLock()
        loaded = Checkpoint.load(cfg.checkpoint)
        self.state = loaded or Checkpoint(endpoint=cfg.endpoint)
        if loaded is not None and loaded.endpoint and loaded.endpoint != cfg.endpoint:
            LOG.warning(
                "checkpoint was for %s, now %s: starting with a new channel",
                loaded.endpoint,
                cfg.endpoint,
            )
            self.state = Checkpoint(
                endpoint=cfg.endpoint, gaps=loaded.gaps, delivered=loaded.delivered
            )
        self.fresh_start = loaded is None
        self.tracker = Tracker(self.state.last_event_id)
        self.tracker.delivered = self.state.delivered
        self._stream: Stream | None = None
        self._dirty = threading.Event()
        self._slots = threading.BoundedSemaphore(max(1, self.sink.concurrency) * 8)
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, self.sink.concurrency), thread_name_prefix="sink"
        )
        self.flags = ["IN_CLOSE_WRITE", "IN_MOVED_TO"] + (["IN_CREATE"] if cfg.recursive else [])
        self.channel_key = ""
        self.subs: dict[str, str] = {}  # subscription URL -> path
        self.awaiting_mark = False

    # --- lifecycle -------------------------------------------------------------------

    def stop(self) -> None:
        self.stop_event.set()
        stream = self._stream
        if stream is not None:
            stream.interrupt()

    def _fail(self, exc: ListenerError) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.stop()

    def gap(self, reason: str) -> None:
        """Report a possible loss of events loudly: log and checkpoint."""
        entry = {
            "time": _now(),
            "reason": reason,
            "channel": self.state.channel,
            "last_event_id": self.tracker.acked,
        }
        LOG.error(
            "GAP: %s (channel %s, last acknowledged event %s): uploads in that window may "
            "not have been passed on; check the watched paths by hand",
            reason,
            self.state.channel,
            self.tracker.acked,
        )
        with self.state_lock:
            self.state.gaps.append(entry)
            self.state.gaps = self.state.gaps[-MAX_GAPS:]
        self.save()

    def save(self) -> None:
        with self.state_lock:
            self.state.last_event_id = self.tracker.acked
            self.state.delivered = self.tracker.delivered
            self.state.save(self.cfg.checkpoint)

    def _saver(self) -> None:
        last: tuple[str | None, int] = (None, -1)
        while not self.stop_event.wait(self.cfg.checkpoint_interval):
            now = (self.tracker.acked, self.tracker.delivered)
            if now != last or self._dirty.is_set():
                self._dirty.clear()
                try:
                    self.save()
                    last = now
                except OSError as e:
                    LOG.error("cannot write checkpoint %s: %s", self.cfg.checkpoint, e)

    def run(self) -> int:
        """Listen until stop() or a fatal error; returns the exit code."""
        saver = threading.Thread(target=self._saver, name="checkpoint", daemon=True)
        saver.start()
        try:
            self._loop()
        except ListenerError as e:
            self._fail(e)
        finally:
            self.stop_event.set()
            if isinstance(self.sink, OscarSink) and self.fatal is not None:
                self.sink.close()
            self.pool.shutdown(wait=True)
            self.sink.close()
            saver.join()
            try:
                self.save()
            except OSError as e:
                LOG.error("cannot write checkpoint %s: %s", self.cfg.checkpoint, e)
        if self.fatal is not None:
            LOG.error("%s", self.fatal)
            return self.fatal.exit_code
        LOG.info("stopped; checkpoint at event %s", self.tracker.acked)
        return 0

    # --- channel ---------------------------------------------------------------------

    def _adopt_or_create(self) -> bool:
        """Ensure state.channel names a channel; True when its subscriptions are to be made."""
        st = self.state
        if st.channel:
            return False
        found = self.dcache.find_channels(self.cfg.client_id)
        if found:
            st.channel = found[0]
            for extra in found[1:]:
                LOG.warning(
                    "deleting duplicate channel %s of client id %s", extra, self.cfg.client_id
                )
                self.dcache.delete_channel(extra)
            try:
                st.watches = {p: u for u, p in self.dcache.subscriptions(st.channel).items()}
            except ChannelGone:
                st.channel = None
                return self._adopt_or_create()
            LOG.info(
                "found channel %s (client id %s) with %d watch(es)",
                st.channel,
                self.cfg.client_id,
                len(st.watches),
            )
            self.gap(
                "no checkpoint, an existing channel was adopted: events it held before this start are not replayed"
            )
            return True
        st.channel = self.dcache.create_channel(self.cfg.client_id)
        st.watches = {}
        LOG.info("created channel %s (client id %s)", st.channel, self.cfg.client_id)
        return True

    def _new_channel(self, reason: str) -> None:
        self.gap(reason)
        with self.state_lock:
            self.state.channel = None
            self.state.watches = {}
        self.tracker.reset()

    def _subscribe_all(self) -> None:
        """Watch every configured path (and sub-directories when recursive) not yet watched."""
        st = self.state
        assert st.channel is not None
        todo = list(self.cfg.paths)
        while todo:
            path = todo.pop(0)
            if path not in st.watches:
                url = self.dcache.subscribe(st.channel, path, self.flags)
                with self.state_lock:
                    st.watches[path] = url
                LOG.info("watching %s", path)
            if self.cfg.recursive:
                todo.extend(self.dcache.subdirectories(path))
        for path in [p for p in st.watches if not self._wanted(p)]:
            LOG.info("no longer watching %s", path)
            self.dcache.http.request("DELETE", st.watches[path])
            with self.state_lock:
                del st.watches[path]
        self.subs = {u: p for p, u in st.watches.items()}
        self._dirty.set()
        self.save()

    def _wanted(self, path: str) -> bool:
        for root in self.cfg.paths:
            if path == root or (self.cfg.recursive and path.startswith(root.rstrip("/") + "/")):
                return True
        return False

    # --- main loop -------------------------------------------------------------------

    def _loop(self) -> None:
        backoff = 0.5
        first = True
        if not self.fresh_start and self.state.channel and self.state.last_event_id is None:
            self.gap(
                "restarted before any event was acknowledged: events sent while stopped are not replayed"
            )
        while not self.stop_event.is_set() and self.fatal is None:
            try:
                subscribe = self._adopt_or_create()
                assert self.state.channel is not None
                if subscribe and self.cfg.channel_timeout:
                    self.dcache.set_timeout(self.state.channel, self.cfg.channel_timeout)
                self.channel_key = safe_name(self.state.channel.rstrip("/").rsplit("/", 1)[-1])
                resume = self.tracker.resume_id()
                stream = self.dcache.open_stream(
                    self.state.channel, resume, self.cfg.stream_idle_timeout
                )
                self._stream = stream
                LOG.info(
                    "connected to %s%s",
                    self.state.channel,
                    f" (resuming after event {resume})" if resume is not None else "",
                )
                try:
                    # Opened before subscribing: nothing emitted after this is missed.
                    if subscribe and self.tracker.resume_id() is None:
                        # dCache replays only after an id it still holds: a first event
                        # (one metronome tick) gives a resume point before any upload.
                        self.awaiting_mark = self.dcache.mark(self.state.channel)
                        if not self.awaiting_mark:
                            LOG.warning(
                                "dCache offers no metronome events: until the first "
                                "event is acknowledged a restart may miss events"
                            )
                    elif self.awaiting_mark:
                        self.awaiting_mark = False  # the tick was lost with the connection
                        first = True
                    if (subscribe or first) and not self.awaiting_mark:
                        self._subscribe_all()
                    first = False
                    backoff = 0.5
                    self._read(stream.resp)
                finally:
                    self._stream = None
                    stream.close()
                if not self.stop_event.is_set():
                    LOG.warning("event stream of %s ended; reconnecting", self.state.channel)
            except ChannelGone as e:
                self._new_channel(f"channel {e} is gone (expired or deleted): re-creating it")
                continue
            except (OSError, http.client.HTTPException) as e:
                if self.stop_event.is_set():
                    break
                LOG.warning("dCache %s: %s; retrying in %.1fs", self.cfg.endpoint, e, backoff)
            if self.stop_event.wait(backoff * (0.75 + random.random() / 2)):
                break
            backoff = min(backoff * 2, 30.0)

    def _read(self, resp: http.client.HTTPResponse) -> None:
        def lines() -> Iterator[bytes]:
            while not self.stop_event.is_set():
                try:
                    line = resp.fp.readline(65537) if resp.fp else b""
                except TimeoutError:
                    LOG.info("no event for %.0fs; reconnecting", self.cfg.stream_idle_timeout)
                    return
                if not line:
                    return
                yield line

        for msg in parse_sse(lines()):
            if self.fatal is not None:
                return
            if msg.event == "SYSTEM":
                self._system(msg)
            elif msg.event == "inotify":
                self._inotify(msg)
            elif msg.event == "metronome" and self.awaiting_mark and msg.id is not None:
                self.tracker.add(msg.id, True)
                self.awaiting_mark = False
                self.save()
                self._subscribe_all()
            elif msg.id is not None and not self.tracker.seen(msg.id):
                self.tracker.add(msg.id, True)

    def _system(self, msg: SseMessage) -> None:
        try:
            kind = json.loads(msg.data).get("type")
        except (ValueError, AttributeError):
            kind = msg.data
        if kind == "EVENT_LOSS":
            self.gap(
                "dCache reported EVENT_LOSS: it no longer held the events after the resume point"
            )
        elif kind == "COMPETING_CLIENT":
            self._fail(
                Refused(
                    f"another client connected to channel {self.state.channel}; "
                    "two listeners must not share one checkpoint/client id"
                )
            )
        elif kind == "SUBSCRIPTION_CLOSED":
            sub = json.loads(msg.data).get("subscription")
            path = self.subs.pop(self._abs(sub), None) if sub else None
            if path is not None:
                with self.state_lock:
                    self.state.watches.pop(path, None)
                self._dirty.set()
                if path in self.cfg.paths:
                    LOG.error(
                        "dCache closed the watch on %s (deleted or moved?); re-subscribing", path
                    )
                    self._subscribe_all()
        else:
            LOG.debug("SYSTEM %s", msg.data)

    def _inotify(self, msg: SseMessage) -> None:
        eid = msg.id
        if eid is not None and self.tracker.seen(eid):
            return  # replayed after a reconnect, already in flight
        try:
            data = json.loads(msg.data)
            ev = data["event"]
            sub = data["subscription"]
            mask = list(ev.get("mask") or [])
        except (ValueError, KeyError, TypeError, AttributeError):
            LOG.error("unreadable inotify event %s: %r", eid, msg.data[:300])
            if eid is not None:
                self.tracker.add(eid, True)
            return
        directory = self.subs.get(self._abs(sub))
        name = ev.get("name")
        isdir = "IN_ISDIR" in mask
        if "IN_Q_OVERFLOW" in mask:
            self.gap(f"dCache reported IN_Q_OVERFLOW on the watch of {directory}")
        if (
            directory is not None
            and isdir
            and name
            and self.cfg.recursive
            and ("IN_CREATE" in mask or "IN_MOVED_TO" in mask)
        ):
            self._watch_new_dir(f"{directory}/{name}")
        complete = next((f for f in COMPLETE if f in mask), None)
        if directory is None or isdir or not name or complete is None:
            if directory is None and name:
                LOG.warning("event %s for unknown subscription %s ignored", eid, sub)
            if eid is not None:
                self.tracker.add(eid, True)
            return
        path = f"{directory}/{name}"
        event: dict[str, Any] = {
            "source": self.cfg.source,
            "event": complete,
            "path": path,
            "name": name,
            "directory": directory,
            "event_id": f"{self.channel_key}:{eid}",
            "sse_id": eid,
            "channel": self.state.channel,
            "endpoint": self.cfg.endpoint,
            "received": _now(),
        }
        if self.cfg.webdav:
            event["url"] = self.cfg.webdav.rstrip("/") + quote(path)
        if ev.get("cookie"):
            event["cookie"] = ev["cookie"]
        if eid is None:
            LOG.warning("event without id for %s: delivered, but cannot be checkpointed", path)
        else:
            self.tracker.add(eid, False)
        self._submit(event, eid)

    def _abs(self, url: str) -> str:
        return urljoin(self.cfg.endpoint + "/", url)

    def _watch_new_dir(self, path: str) -> None:
        assert self.state.channel is not None
        todo = [path]
        while todo:
            p = todo.pop()
            if p in self.state.watches:
                continue
            try:
                url = self.dcache.subscribe(self.state.channel, p, self.flags)
            except ConfigError as e:
                LOG.warning("new directory %s not watched: %s", p, e)
                continue
            with self.state_lock:
                self.state.watches[p] = url
            self.subs[url] = p
            self._dirty.set()
            LOG.info("watching new directory %s", p)
            todo.extend(self.dcache.subdirectories(p))

    def _submit(self, event: dict[str, Any], eid: str | None) -> None:
        if self.sink.concurrency <= 1:
            self._deliver(event, eid)
            return
        while not self._slots.acquire(timeout=0.5):
            if self.stop_event.is_set() or self.fatal is not None:
                return
        try:
            self.pool.submit(self._deliver_released, event, eid)
        except RuntimeError:  # pool shut down
            self._slots.release()

    def _deliver_released(self, event: dict[str, Any], eid: str | None) -> None:
        try:
            self._deliver(event, eid)
        finally:
            self._slots.release()

    def _deliver(self, event: dict[str, Any], eid: str | None) -> None:
        if self.fatal is not None:
            return
        try:
            self.sink.deliver(event)
        except ListenerError as e:
            self._fail(e)
            return
        except OSError as e:
            self._fail(SinkUnavailable(f"sink: cannot write event {event['event_id']}: {e}"))
            return
        if eid is not None:
            self.tracker.ack(eid)
        else:
            with self.tracker.lock:
                self.tracker.delivered += 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ----------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="dCache storage events -> spool folder or OSCAR /job (see module docstring).",
        epilog="Example: python3 listener.py --config /etc/oscar-iac/dcache-relay/edge.json",
    )
    parser.add_argument("--config", required=True, help="JSON config file (no secrets in it)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, format="%(asctime)s dcache-listener %(levelname)s %(message)s"
    )
    try:
        cfg = load_config(args.config)
        LOG.setLevel(cfg.log_level.upper())
        listener = Listener(cfg)
    except ListenerError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: listener.stop())
    LOG.info(
        "listening to %s for %s (source %s, sink %s)",
        cfg.endpoint,
        ", ".join(cfg.paths),
        cfg.source,
        cfg.sink.kind,
    )
    return listener.run()


if __name__ == "__main__":
    sys.exit(main())
