"""A small HTTP client on http.client: one kept-alive connection per thread and host,
one retry when the server closed a kept-alive connection. Bound to one origin: the
credentials it carries go only to the scheme, host and port it was configured with; a
URL a server names elsewhere (a channel on another port, plain http://) is refused."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import Refused
from .secretfile import origin, redact_url


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
        self,
        ctx: ssl.SSLContext,
        header: Callable[[], dict[str, str]],
        timeout: float = 30.0,
        origin_url: str = "",
    ) -> None:
        self.ctx, self.header, self.timeout = ctx, header, timeout
        self.origin = origin(origin_url) if origin_url else None
        self._local = threading.local()

    def check_origin(self, url: str) -> None:
        """Refuse a URL outside the configured origin (the credentials go only there)."""
        if self.origin is not None and origin(url) != self.origin:
            scheme, host, port = self.origin
            raise Refused(
                f"{redact_url(url)} is not on {scheme}://{host}:{port}, the configured "
                "origin: its credentials are sent nowhere else"
            )

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
        self.check_origin(url)
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
