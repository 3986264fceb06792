"""Where complete uploads go: a spool folder (one JSON file per event, for NiFi's GetFile)
or OSCAR's /job/<service> (bounded retries with backoff; the service token given, or read
with OSCAR's Basic-auth user and read again after a 401).

Spool files are named `<safe event id>.json`, written as a hidden `.<name>.tmp` and
renamed, so NiFi's GetFile (which skips hidden files) never reads a partial file.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import threading
from typing import Any

from .checkpoint import write_atomic
from .config import Sink
from .credentials import Secret, ssl_context
from .errors import LOG, Refused, SinkUnavailable
from .transport import Http


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
        ctx = ssl_context(sink.verify_tls, sink.ca_bundle)
        self.http = Http(ctx, dict, sink.timeout, origin_url=self.url)
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
