"""A test double of the AI4OS catalog API (ai4-papi), serving the real catalog samples.

Routes and shapes, from ai4-papi's own source (github.com/ai4os/ai4-papi, commit
6d25648df9f7 of 2026-07-01):
  - `ai4papi/main.py` mounts the v1 router at `/v1`; `routers/v1/catalog/__init__.py`
    mounts modules and tools at `/catalog`; `routers/v1/catalog/modules.py` and
    `tools.py` add, each under `/modules` or `/tools`:
      GET ""                     -> JSON list of names (`Catalog.get_filtered_list`)
      GET "/detail"              -> list of metadata without `description` and `links`,
                                    plus `name` (`Catalog.get_summary`)
      GET "/{item_name}/metadata" -> the full ai4-metadata as JSON (`Catalog.get_metadata`)
      GET "/{item_name}/config", PUT "/refresh" (not used by oscar-iac: answered 501/401)
  - `routers/v1/catalog/common.py`, `Catalog._get_metadata`: an unknown name is 404
    `{"detail": "Item <name> not in the catalog: https://github.com/<repo>"}`; metadata
    that fails the latest ai4-metadata schema is replaced by a placeholder (title = name,
    empty links, tags ["invalid metadata"], the reason in `description`); on success it
    sets `id` to the name, strips "/ " from `links.docker_image` and adds `links.self`.
  - `Catalog.get_metadata`: an `Accept` other than `application/json` without a
    `profile` is 400 (so requests' default `*/*` is refused, as by the real API).
  - Modules are the paths of ai4os-hub/modules-catalog's .gitmodules, tools those of
    ai4os/tools-catalog's (`Catalog.get_items`); here: those that have a sample.
  - FastAPI (redirect_slashes) answers a trailing slash with 307 to the path without it;
    any other path is 404 `{"detail": "Not Found"}`, another method 405.
Every request is recorded in `calls`; those the real API would not serve (404/405) also
in `refused`, so a test can assert the client asked only for real routes.

Test knobs: `latency` (seconds per request), `fail_next[path] = [status, ...]` (answered
before the real answer, e.g. 503 to exercise retries), `override[name] = body` (a raw
answer for a module: malformed JSON, wrong shapes), `names_override` (the same for the
module list), `break_module(name, why)` (the
real API's placeholder), `clone(n)` (n more modules made from the samples, for benchmarks).

Run by hand (prints the base URL; Ctrl-C stops):
    .venv/bin/python tests/doubles/catalog_api_server.py [--port N] [--latency 0.1]
    .venv/bin/python tests/doubles/catalog_api_server.py --with-oscar -- \\
        .venv/bin/oscar-iac models plan inventories/egi-example --oscar-endpoint {oscar}
"""

from __future__ import annotations

import argparse
import configparser
import copy
import datetime as dt
import functools
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
CATALOG = SHARED / "catalog"
SCHEMA = CATALOG / "schema" / "ai4-metadata-schema-2.3.0.json"
PREFIX = "/v1/catalog"
# ai4papi/conf + etc/main.yaml: `self.domain`, used in `links.self`.
SELF_DOMAIN = "https://api.cloud.ai4eosc.eu"
REPOS = {"modules": "ai4os-hub/modules-catalog", "tools": "ai4os/tools-catalog"}


@dataclass
class Call:
    method: str
    path: str
    status: int
    accept: str = ""


def _gitmodule_paths(path: Path) -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read_string(path.read_text())
    return [cfg.get(section, "path") for section in cfg.sections()]


def _jsonable(value: Any) -> Any:
    """YAML dates -> ISO strings (the real API serves JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def placeholder(name: str, why: str) -> dict[str, Any]:
    """The metadata ai4-papi serves for a module it could not read or validate."""
    links = [
        "documentation",
        "source_code",
        "docker_image",
        "ai4_template",
        "dataset",
        "weights",
        "citation",
        "base_model",
        "self",
    ]
    return {
        "id": name,
        "metadata_version": "2.0.0",
        "title": name,
        "summary": "",
        "description": why,
        "doi": "",
        "dates": {"created": "", "updated": ""},
        "links": {k: "" for k in links},
        "tags": ["invalid metadata"],
        "tasks": [],
        "categories": [],
        "libraries": [],
        "data-type": [],
    }


@dataclass
class CatalogApiTestServer:
    catalog: Path = CATALOG
    latency: float = 0.0
    tls: tuple[Path, Path] | None = None  # (certificate, key): serve HTTPS
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    override: dict[str, bytes | Any] = field(default_factory=dict)
    names_override: Any = None  # a raw answer for GET /modules
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    refused: list[Call] = field(default_factory=list)
    base: str = ""  # scheme://host:port
    in_flight: int = 0
    max_in_flight: int = 0  # most requests being answered at once
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for kind, served in _served_catalog(self.catalog.resolve()).items():
            self.items.setdefault(kind, {}).update(copy.deepcopy(served))

    @staticmethod
    def _served(
        kind: str, name: str, raw: Any, validator: jsonschema.Draft202012Validator
    ) -> dict[str, Any]:
        """What `Catalog._get_metadata` makes of a module's ai4-metadata.yml."""
        if not isinstance(raw, dict) or not validator.is_valid(_jsonable(raw)):
            return placeholder(
                name,
                "The metadata of this module has failed to comply with the specifications "
                "of the AI4EOSC Platform (see the metadata validator).",
            )
        meta = _jsonable(copy.deepcopy(raw))
        links = meta.setdefault("links", {})
        links["docker_image"] = str(links.get("docker_image", "")).strip("/ ")
        links["self"] = f"{SELF_DOMAIN}{PREFIX}/{kind}/{name}/metadata"
        meta["id"] = name
        return dict(meta)

    # -- knobs -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The catalog location a site names (`.../v1/catalog`)."""
        return f"{self.base}{PREFIX}"

    def module_names(self) -> list[str]:
        return list(self.items["modules"])

    def break_module(self, name: str, why: str) -> None:
        self.items["modules"][name] = placeholder(name, why)

    def clone(self, count: int) -> list[str]:
        """Add `count` modules named bench-module-NN, each a sample's metadata."""
        samples = [m for m in self.items["modules"].values() if "invalid metadata" not in m["tags"]]
        names = []
        for i in range(count):
            name = f"bench-module-{i:02d}"
            meta = copy.deepcopy(samples[i % len(samples)])
            meta["id"] = name
            meta["links"]["self"] = f"{SELF_DOMAIN}{PREFIX}/modules/{name}/metadata"
            self.items["modules"][name] = meta
            names.append(name)
        return names

    def metadata_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path.endswith("/metadata")]

    # -- life cycle --------------------------------------------------------------
    def start(self, port: int = 0) -> CatalogApiTestServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        scheme = "http"
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@functools.cache
def _served_catalog(catalog: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """What the API serves from the samples (read and validated once per process)."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, listing in (
        ("modules", "modules-catalog.gitmodules"),
        ("tools", "tools-catalog.gitmodules"),
    ):
        out[kind] = {}
        for name in _gitmodule_paths(catalog / "ai4os" / listing):
            sample = catalog / "ai4os" / name / "ai4-metadata.yml"
            if sample.is_file():
                raw = yaml.safe_load(sample.read_text())
                out[kind][name] = CatalogApiTestServer._served(kind, name, raw, validator)
    return out


def _handler(state: CatalogApiTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(
            self,
            code: int,
            body: Any = None,
            headers: dict[str, str] | None = None,
            *,
            refused: bool = False,
        ) -> None:
            """`refused`: the real API has no such route (or method) either."""
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            call = Call(
                self.command, urlsplit(self.path).path, code, self.headers.get("Accept", "")
            )
            with state._lock:
                state.calls.append(call)
                if refused:
                    state.refused.append(call)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            with state._lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if state.latency:
                    time.sleep(state.latency)
                self._get()
            finally:
                with state._lock:
                    state.in_flight -= 1

        def _get(self) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            with state._lock:
                queued = state.fail_next.get(path)
                status = queued.pop(0) if queued else None
            if status is not None:
                self._reply(status, {"detail": "test double: injected failure"})
                return
            if path.endswith("/") and path != "/":
                self._reply(307, b"", {"Location": path.rstrip("/")}, refused=True)
                return
            if not path.startswith(PREFIX + "/"):
                self._reply(404, {"detail": "Not Found"}, refused=True)
                return
            segs = [unquote(s) for s in path[len(PREFIX) + 1 :].split("/")]
            kind = segs[0]
            if kind not in REPOS:
                self._reply(404, {"detail": "Not Found"}, refused=True)
                return
            items = state.items[kind]
            if len(segs) == 1:
                names = state.names_override if kind == "modules" else None
                self._reply(200, list(items) if names is None else names)
            elif segs[1:] == ["detail"]:
                summary = []
                for name, meta in items.items():
                    short = {k: v for k, v in meta.items() if k not in ("description", "links")}
                    summary.append({**short, "name": name})
                self._reply(200, summary)
            elif len(segs) == 3 and segs[2] == "metadata":
                self._metadata(kind, segs[1], query)
            elif len(segs) == 3 and segs[2] == "config":
                self._reply(501, {"detail": "test double: /config is not served"}, refused=True)
            else:
                self._reply(404, {"detail": "Not Found"}, refused=True)

        def _metadata(self, kind: str, name: str, query: dict[str, list[str]]) -> None:
            accept = self.headers.get("Accept", "application/json")
            profile = (query.get("profile") or [""])[0]
            if profile:
                self._reply(
                    501, {"detail": "test double: metadata profiles are not served"}, refused=True
                )
                return
            if accept != "application/json":
                self._reply(
                    400,
                    {"detail": "Please specify the profile to use to perform the mapping: ..."},
                    refused=True,
                )
                return
            if kind == "modules" and name in state.override:
                self._reply(200, state.override[name])
                return
            items = state.items[kind]
            if name not in items:
                detail = f"Item {name} not in the catalog: https://github.com/{REPOS[kind]}"
                self._reply(404, {"detail": detail})
                return
            self._reply(200, items[name])

        def _not_allowed(self) -> None:
            path = urlsplit(self.path).path
            if self.command == "PUT" and path.endswith("/refresh"):
                self._reply(403, {"detail": "Not authenticated"}, refused=True)
            else:
                self._reply(405, {"detail": "Method Not Allowed"}, refused=True)

        do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--with-oscar", action="store_true", help="also start the OSCAR double")
    ap.add_argument("command", nargs="*", help="run this with the doubles, then stop them")
    args = ap.parse_args(argv)
    server = CatalogApiTestServer(latency=args.latency).start(args.port)
    env = {**os.environ, "OSCAR_IAC_CATALOG_API": server.url}
    oscar_url = ""
    oscar = None
    if args.with_oscar:
        sys.path.insert(0, str(REPO / "tests"))
        from doubles.oscar_server import OscarTestServer

        oscar = OscarTestServer().start()
        oscar_url = oscar.url
        env["OSCAR_PASSWORD"] = oscar.password  # to the child only, never printed
    try:
        if not args.command:
            print(f"catalog API double: {server.url}", flush=True)
            if oscar is not None:
                print(f"OSCAR double: {oscar_url} (user {oscar.username})", flush=True)
            threading.Event().wait()
            return 0
        print(f"OSCAR_IAC_CATALOG_API={server.url}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as state:
            env.setdefault("OSCAR_IAC_STATE", state)
            cmd = [part.replace("{oscar}", oscar_url) for part in args.command]
            return subprocess.run(cmd, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()
        if oscar is not None:
            oscar.stop()


if __name__ == "__main__":
    sys.exit(main())
