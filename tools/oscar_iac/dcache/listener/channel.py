"""The dCache frontend REST calls the listener makes: channels, subscriptions, the event
stream (facts from dCache's User Guide, chapter "Frontend" / "Storage Events",
dCache/dcache docs/UserGuide/src/main/markdown/frontend.md, and its implementation
modules/dcache-frontend/.../restful/events/Channel.java):
  - a channel is found again (`GET <endpoint>/events/channels?client-id=ID`) or created
    (`POST <endpoint>/events/channels` `{"client-id": ID}` -> 201 + Location);
  - the SSE stream is `GET <channel>` with `Accept: text/event-stream` (and
    `Last-Event-ID` to resume);
  - a watch is `POST <channel>/subscriptions/inotify` `{"path": P, "flags": [...]}` ->
    Location; one metronome tick (`POST <channel>/subscriptions/metronome`) gives a first
    id to resume from;
  - sub-directories are listed through `GET <endpoint>/namespace<path>?children=true`
    (fileType DIR);
  - 404 on the channel means it expired after `timeout` seconds without a client, or was
    deleted (ChannelGone).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .config import Config
from .credentials import Secret, ssl_context
from .errors import ChannelGone, ConfigError, Refused
from .transport import Http, Response


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
        self.ctx = ssl_context(cfg.verify_tls, cfg.ca_bundle, a)
        self.http = Http(self.ctx, self._header, origin_url=cfg.endpoint)

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
        self.http.check_origin(channel)  # the credential goes to the configured origin only
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
