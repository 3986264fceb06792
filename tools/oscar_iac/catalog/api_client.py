"""HTTP client of the AI4OS catalog API (ai4-papi), the `api` catalog source.

Routes and shapes, as ai4-papi serves them (github.com/ai4os/ai4-papi, read at commit
6d25648df9f7 of 2026-07-01,
`ai4papi/routers/v1/catalog/modules.py` routes + `common.py` class `Catalog`;
mounted under `/v1` by `ai4papi/main.py` and `/catalog` by `routers/v1/catalog/__init__.py`):
  GET {location}/modules                 -> JSON list of module names (`get_filtered_list`)
  GET {location}/modules/detail          -> summaries WITHOUT `description` and `links`
                                            (`get_summary`: so no docker image there)
  GET {location}/modules/{name}/metadata -> the module's full ai4-metadata 2.x as JSON
                                            (`get_metadata`); 404 `{"detail": ...}` when
                                            the name is not in the catalog (`_get_metadata`)
  {location}/tools/...                   -> tools (dev-env, CVAT, ...): not models, never read
`get_metadata` answers 400 to any `Accept` other than `application/json` unless a
mapping `profile` is given, so every request here sends `Accept: application/json`
(requests' default `*/*` would be refused).

Fetching is concurrent (a thread pool, one session per thread), each request with a
connect/read timeout and a bounded number of retries on connection errors and 429/5xx.
TLS verification stays on (requests' default CA store, or REQUESTS_CA_BUNDLE).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# GitHub repository names: what ai4-papi's module names are (paths in the catalog's .gitmodules).
MODULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ACCEPT = {"Accept": "application/json"}
OnAnswer = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class FetchSettings:
    workers: int = 16
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3  # per request, on connection errors and 429/500/502/503/504
    backoff: float = 0.2  # seconds, doubled per retry


class CatalogApiError(Exception):
    """Base of the errors below; `url` is the request that failed."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url


class Unreachable(CatalogApiError):
    """No HTTP answer (DNS, refused, timeout, TLS) after the retries."""


class BadStatus(CatalogApiError):
    def __init__(self, url: str, status: int, text: str) -> None:
        super().__init__(url, f"GET {url} answered {status}: {text[:200]}")
        self.status = status


class Malformed(CatalogApiError):
    """An answer that is not what ai4-papi sends; `field` names the part that is wrong."""

    def __init__(self, url: str, field_: str, message: str) -> None:
        super().__init__(url, message)
        self.field = field_


@dataclass
class Fetched:
    """Metadata by module; modules the API does not have (404) in `missing`."""

    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


class CatalogApiClient:
    def __init__(self, location: str, settings: FetchSettings | None = None) -> None:
        self.location = location.rstrip("/")
        self.settings = settings or FetchSettings()
        self._local = threading.local()

    def modules_url(self) -> str:
        return f"{self.location}/modules"

    def metadata_url(self, name: str) -> str:
        return f"{self.location}/modules/{quote(name, safe='')}/metadata"

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            s = self.settings
            retry = Retry(
                total=s.retries,
                connect=s.retries,
                read=s.retries,
                status=s.retries,
                backoff_factor=s.backoff,
                status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=frozenset({"GET"}),
                respect_retry_after_header=False,  # keeps the wait bounded
                raise_on_status=False,
            )
            session = requests.Session()
            session.mount("https://", HTTPAdapter(max_retries=retry))
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.headers.update(ACCEPT)
            self._local.session = session
        return session

    def _get(self, url: str) -> requests.Response:
        s = self.settings
        try:
            return self._session().get(
                url, timeout=(s.connect_timeout, s.read_timeout), allow_redirects=False
            )
        except requests.exceptions.SSLError as exc:
            raise Unreachable(url, f"TLS verification failed for {url}: {_reason(exc)}") from exc
        except requests.RequestException as exc:
            raise Unreachable(url, f"no answer from {url}: {_reason(exc)}") from exc

    @staticmethod
    def _json(url: str, resp: requests.Response) -> Any:
        try:
            return resp.json()
        except (json.JSONDecodeError, requests.exceptions.JSONDecodeError) as exc:
            raise Malformed(url, "", f"the answer is not JSON: {exc}") from exc

    def names(self) -> list[str]:
        """GET {location}/modules: every module name."""
        url = self.modules_url()
        resp = self._get(url)
        if resp.status_code != 200:
            raise BadStatus(url, resp.status_code, resp.text)
        data = self._json(url, resp)
        if not isinstance(data, list):
            raise Malformed(url, "", f"expected a JSON list of module names, got {_kind(data)}")
        for i, name in enumerate(data):
            if not isinstance(name, str) or not MODULE_NAME.match(name):
                raise Malformed(url, f"[{i}]", f"expected a module name, got {name!r}")
        if len(set(data)) != len(data):
            raise Malformed(url, "", "the list names a module twice")
        return list(data)

    def metadata(self, name: str) -> dict[str, Any] | None:
        """GET {location}/modules/{name}/metadata; None when the catalog has no such module."""
        url = self.metadata_url(name)
        resp = self._get(url)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise BadStatus(url, resp.status_code, resp.text)
        data = self._json(url, resp)
        if not isinstance(data, dict):
            raise Malformed(url, "", f"expected a JSON object (ai4-metadata), got {_kind(data)}")
        return data

    def fetch(
        self,
        names: Iterable[str],
        each: OnAnswer | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Fetched:
        """The metadata of `names`, several requests at a time; `each(name, metadata)` is
        called in the fetching thread as each answer arrives. The first error wins (after
        every request has ended, so no thread outlives the call)."""
        todo = list(dict.fromkeys(names))
        for name in todo:
            if not MODULE_NAME.match(name):
                raise Malformed(self.metadata_url(name), "", f"{name!r} is not a module name")
        out = Fetched()
        if not todo:
            return out

        count = [0]
        lock = threading.Lock()

        def one(name: str) -> dict[str, Any] | None:
            try:
                data = self.metadata(name)
                if data is not None and each is not None:
                    each(name, data)
                return data
            finally:
                if progress is not None:
                    with lock:
                        count[0] += 1
                        progress(count[0], len(todo))

        with ThreadPoolExecutor(max_workers=max(1, min(self.settings.workers, len(todo)))) as pool:
            futures = [(name, pool.submit(one, name)) for name in todo]
        errors: list[CatalogApiError] = []
        for name, fut in futures:
            exc = fut.exception()
            if exc is not None:
                if not isinstance(exc, CatalogApiError):
                    raise exc
                errors.append(exc)
                continue
            data = fut.result()
            if data is None:
                out.missing.append(name)
            else:
                out.metadata[name] = data
        if errors:
            # Unreachable first: it explains the others.
            errors.sort(key=lambda e: not isinstance(e, Unreachable))
            raise errors[0]
        return out


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else type(value).__name__


def _reason(exc: Exception) -> str:
    """The innermost reason of a requests/urllib3 error, without the noise."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    return text.split(": ", 1)[-1] if text.startswith("<") else text
