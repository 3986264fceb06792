"""A NiFi 2.x REST test double: only the paths and bodies oscar-iac's dCache wiring uses.

No NiFi server can be had on these machines (no NAR or assembly on Maven Central). The
contract is NiFi 2.x's REST API as nipyapi 1.8.1 models it (generated from NiFi's OpenAPI
document: `nipyapi.nifi.apis.*` for paths and methods, `nipyapi.nifi.models.*` for bodies)
and NiFi's ProcessGroupResource / ParameterContextResource for behaviour:
  - every JSON body must fit its nipyapi model: an unknown field anywhere is a 400;
  - login over HTTPS only (`POST /access/token`, form username/password -> 201 text/plain);
    every other call needs `Authorization: Bearer <that token>` (401 otherwise);
  - deletes need `version` and `clientId` and the current revision (409 when stale), and
    NiFi refuses to delete a group with running processors or queued flowfiles, or a
    parameter context still bound to a group (409);
  - `POST /process-groups/{id}/process-groups/upload` is multipart with groupName,
    positionX, positionY, clientId and file (400 when one is missing, as in NiFi 2.6.0);
    the file must be a RegisteredFlowSnapshot (flowContents, ...); its parameter context
    binds to an existing context of the same name (KEEP_EXISTING, NiFi's default) or is
    created from the snapshot with no sensitive values;
  - parameter-context updates are asynchronous requests (submit, poll, delete);
  - sensitive parameter values are never returned (masked like NiFi: "********").
Anything else answers 404 with the path, so a client calling a path NiFi 2 lacks (for
example the variable registry) fails loudly.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import secrets
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nipyapi.nifi.models as models

from helpers.tls import self_signed

MASK = "********"
SNAPSHOT_FIELDS = {
    # org.apache.nifi.registry.flow.RegisteredFlowSnapshot (nifi-api 2.x)
    "snapshotMetadata",
    "flowContents",
    "externalControllerServices",
    "parameterContexts",
    "flowEncodingVersion",
    "parameterProviders",
    "latest",
    "bucket",
    "flow",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def conform(value: Any, type_name: str, where: str) -> None:
    """Raise HttpError(400) when `value` does not fit nipyapi's model `type_name`."""
    if value is None:
        return
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            raise HttpError(400, f"{where}: expected a list")
        for i, item in enumerate(value):
            conform(item, m.group(1), f"{where}[{i}]")
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            raise HttpError(400, f"{where}: expected an object")
        for k, item in value.items():
            conform(item, m.group(1), f"{where}.{k}")
        return
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in simple:
        if not isinstance(value, simple[type_name]):  # type: ignore[arg-type]
            raise HttpError(400, f"{where}: expected {type_name}")
        return
    if type_name == "object":
        return
    cls = getattr(models, type_name)
    if not isinstance(value, dict):
        raise HttpError(400, f"{where}: expected a {type_name} object")
    by_json = {j: p for p, j in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            raise HttpError(400, f'Unrecognized field "{key}" in {type_name} ({where})')
        conform(item, cls.swagger_types[by_json[key]], f"{where}.{key}")


@dataclass
class FakeGroup:
    id: str
    name: str
    comments: str
    parent: str
    context_id: str | None
    processors: int
    snapshot: dict[str, Any]
    version: int = 1
    running: bool = False
    queued: int = 0
    # Threads still busy after a stop (the listener's current run): each read of the
    # group lets one end, like tasks finishing one by one.
    active_after_stop: int = 0
    active: int = 0


@dataclass
class FakeContext:
    id: str
    name: str
    description: str
    params: dict[str, tuple[str | None, bool]]  # name -> (value, sensitive)
    version: int = 1


@dataclass
class NifiDouble:
    username: str
    password: str
    version: str = "2.6.0"
    root_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    groups: dict[str, FakeGroup] = field(default_factory=dict)
    contexts: dict[str, FakeContext] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    update_requests: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------ test helpers
    def add_foreign_group(self, name: str, comments: str = "") -> FakeGroup:
        g = FakeGroup(str(uuid.uuid4()), name, comments, self.root_id, None, 1, {})
        self.groups[g.id] = g
        return g

    def by_name(self, name: str) -> FakeGroup | None:
        return next((g for g in self.groups.values() if g.name == name), None)

    def calls(self, method: str | None = None) -> list[tuple[str, str, int]]:
        return [c for c in self.log if method is None or c[0] == method]

    # ------------------------------------------------------------ entities
    def group_entity(self, g: FakeGroup) -> dict[str, Any]:
        ctx = self.contexts.get(g.context_id or "")
        return {
            "id": g.id,
            "uri": f"/nifi-api/process-groups/{g.id}",
            "revision": {"version": g.version},
            "component": {
                "id": g.id,
                "name": g.name,
                "comments": g.comments,
                "parentGroupId": g.parent,
                **(
                    {
                        "parameterContext": {
                            "id": ctx.id,
                            "component": {"id": ctx.id, "name": ctx.name},
                        }
                    }
                    if ctx
                    else {}
                ),
            },
            "status": {
                "id": g.id,
                "name": g.name,
                "aggregateSnapshot": {
                    "id": g.id,
                    "name": g.name,
                    "flowFilesQueued": g.queued,
                    "activeThreadCount": g.active,
                },
            },
            "runningCount": g.processors if g.running else 0,
            "stoppedCount": 0 if g.running else g.processors,
        }

    def context_entity(self, c: FakeContext) -> dict[str, Any]:
        bound = [g for g in self.groups.values() if g.context_id == c.id]
        return {
            "id": c.id,
            "revision": {"version": c.version},
            "component": {
                "id": c.id,
                "name": c.name,
                "description": c.description,
                "parameters": [
                    {
                        "canWrite": True,
                        "parameter": {
                            "name": n,
                            "sensitive": s,
                            "description": "",
                            "value": (MASK if s and v is not None else v),
                            "provided": False,
                        },
                    }
                    for n, (v, s) in sorted(c.params.items())
                ],
                "boundProcessGroups": [{"id": g.id} for g in bound],
                "inheritedParameterContexts": [],
            },
        }

    # ------------------------------------------------------------ dispatch
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, Any]:
        if not path.startswith("/nifi-api/"):
            raise HttpError(404, f"no such path {path}")
        p = path[len("/nifi-api") :]
        if method == "POST" and p == "/access/token":
            return self.login(headers, body)
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise HttpError(401, "Authentication credentials are missing or invalid")
        routes: list[tuple[str, str, Any]] = [
            ("DELETE", r"/access/logout", self.logout),
            ("GET", r"/flow/about", self.about),
            ("GET", r"/flow/process-groups/(?P<id>[^/]+)", self.flow_group),
            ("PUT", r"/flow/process-groups/(?P<id>[^/]+)", self.schedule),
            ("GET", r"/process-groups/(?P<id>[^/]+)/process-groups", self.children),
            ("POST", r"/process-groups/(?P<id>[^/]+)/process-groups/upload", self.upload),
            ("GET", r"/process-groups/(?P<id>[^/]+)", self.get_group),
            ("DELETE", r"/process-groups/(?P<id>[^/]+)", self.delete_group),
            ("GET", r"/flow/parameter-contexts", self.list_contexts),
            ("POST", r"/parameter-contexts", self.create_context),
            ("GET", r"/parameter-contexts/(?P<id>[^/]+)", self.get_context),
            ("DELETE", r"/parameter-contexts/(?P<id>[^/]+)", self.delete_context),
            ("POST", r"/parameter-contexts/(?P<id>[^/]+)/update-requests", self.submit_update),
            (
                "GET",
                r"/parameter-contexts/(?P<id>[^/]+)/update-requests/(?P<rid>[^/]+)",
                self.get_update,
            ),
            (
                "DELETE",
                r"/parameter-contexts/(?P<id>[^/]+)/update-requests/(?P<rid>[^/]+)",
                self.delete_update,
            ),
        ]
        for verb, pattern, fn in routes:
            m = re.fullmatch(pattern, p)
            if m and verb == method:
                result: tuple[int, Any] = fn(
                    query=query, headers=headers, body=body, **m.groupdict()
                )
                return result
        raise HttpError(404, f"NiFi 2.x has no {method} {path}")

    @staticmethod
    def _json(body: bytes, model: str) -> dict[str, Any]:
        try:
            data = json.loads(body or b"null")
        except ValueError as e:
            raise HttpError(400, f"body is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise HttpError(400, f"expected a {model} object")
        conform(data, model, model)
        return data

    @staticmethod
    def _revision(query: dict[str, list[str]], current: int, what: str) -> None:
        version = query.get("version", [None])[0]
        if version is None or not query.get("clientId", [""])[0]:
            raise HttpError(400, f"deleting {what} needs the query parameters version and clientId")
        if int(version) != current:
            raise HttpError(
                409,
                f"Error: [{version}] is not the most up-to-date revision. This component appears to have been modified",
            )

    def login(self, headers: Any, body: bytes) -> tuple[int, Any]:
        if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            raise HttpError(415, "POST /access/token takes application/x-www-form-urlencoded")
        form = parse_qs(body.decode())
        if (
            form.get("username", [""])[0] != self.username
            or form.get("password", [""])[0] != self.password
        ):
            raise HttpError(400, "The supplied username and password are not valid.")
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 201, token

    def logout(self, headers: Any, **_: Any) -> tuple[int, Any]:
        self.tokens.discard(headers.get("Authorization", "")[7:])
        return 200, None

    def about(self, **_: Any) -> tuple[int, Any]:
        return 200, {"about": {"title": "NiFi", "version": self.version, "uri": "/nifi-api/"}}

    def _group(self, gid: str) -> FakeGroup:
        gid = self.root_id if gid == "root" else gid
        if gid not in self.groups:
            raise HttpError(404, f"Unable to locate group with id '{gid}'.")
        return self.groups[gid]

    def flow_group(self, id: str, **_: Any) -> tuple[int, Any]:
        gid = self.root_id if id == "root" else id
        if gid != self.root_id:
            self._group(gid)
        children = [self.group_entity(g) for g in self.groups.values() if g.parent == gid]
        return 200, {
            "processGroupFlow": {
                "id": gid,
                "uri": f"/nifi-api/flow/process-groups/{gid}",
                "flow": {"processGroups": children},
            }
        }

    def children(self, id: str, **_: Any) -> tuple[int, Any]:
        gid = self.root_id if id == "root" else id
        if gid != self.root_id:
            self._group(gid)
        return 200, {
            "processGroups": [self.group_entity(g) for g in self.groups.values() if g.parent == gid]
        }

    def get_group(self, id: str, **_: Any) -> tuple[int, Any]:
        g = self._group(id)
        entity = self.group_entity(g)
        g.active = max(0, g.active - 1)
        return 200, entity

    def schedule(self, id: str, body: bytes, **_: Any) -> tuple[int, Any]:
        data = self._json(body, "ScheduleComponentsEntity")
        if data.get("id") != id:
            raise HttpError(400, "The process group id of the request body does not match the path")
        if data.get("state") not in ("RUNNING", "STOPPED", "ENABLED", "DISABLED"):
            raise HttpError(
                400, "The scheduled state must be RUNNING, STOPPED, ENABLED or DISABLED"
            )
        g = self._group(id)
        if data["state"] == "RUNNING":
            ctx = self.contexts.get(g.context_id or "")
            missing = [n for n, (v, _s) in (ctx.params.items() if ctx else []) if v is None]
            # NiFi starts only valid processors; a missing sensitive value leaves them invalid.
            if ctx is None or missing:
                raise HttpError(
                    409,
                    f"group {g.name}: processors are invalid (parameters without value: {missing})",
                )
        if g.running and data["state"] == "STOPPED":
            g.active = g.active_after_stop
        g.running = data["state"] == "RUNNING"
        return 200, data

    def upload(self, id: str, headers: Any, body: bytes, **_: Any) -> tuple[int, Any]:
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HttpError(415, "upload takes multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        parts: dict[str, bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[str(name)] = part.get_payload(decode=True) or b""
        for required in ("groupName", "positionX", "positionY", "clientId"):
            if not parts.get(required, b"").strip():
                raise HttpError(400, f"The {required} is required.")
        for coord in ("positionX", "positionY"):
            try:
                float(parts[coord])
            except ValueError as e:
                raise HttpError(400, f"{coord} is not a number") from e
        parent = self.root_id if id == "root" else id
        if parent != self.root_id:
            self._group(parent)
        try:
            snapshot = json.loads(parts.get("file", b""))
        except ValueError as e:
            raise HttpError(400, "Deserialization of uploaded JSON failed") from e
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("flowContents"), dict):
            raise HttpError(400, "Deserialization of uploaded JSON failed: no flowContents")
        unknown = set(snapshot) - SNAPSHOT_FIELDS
        if unknown:
            raise HttpError(
                400, f"Deserialization of uploaded JSON failed: unknown {sorted(unknown)}"
            )
        self.uploads.append(parts["file"])
        flow = snapshot["flowContents"]
        ctx_name = flow.get("parameterContextName")
        ctx_id = None
        if ctx_name:
            existing = next((c for c in self.contexts.values() if c.name == ctx_name), None)
            if existing is None:
                spec = snapshot.get("parameterContexts", {}).get(ctx_name)
                if spec is None:
                    raise HttpError(
                        400, f"parameter context {ctx_name} is neither in NiFi nor in the flow"
                    )
                existing = FakeContext(
                    str(uuid.uuid4()),
                    ctx_name,
                    spec.get("description", ""),
                    {
                        p["name"]: (
                            None if p.get("sensitive") else p.get("value"),
                            bool(p.get("sensitive")),
                        )
                        for p in spec.get("parameters", [])
                    },
                )
                self.contexts[existing.id] = existing
            ctx_id = existing.id
        g = FakeGroup(
            str(uuid.uuid4()),
            parts["groupName"].decode(),
            str(flow.get("comments", "")),
            parent,
            ctx_id,
            len(flow.get("processors", [])),
            snapshot,
        )
        self.groups[g.id] = g
        return 201, self.group_entity(g)

    def delete_group(self, id: str, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        g = self._group(id)
        self._revision(query, g.version, f"group {g.name}")
        if g.running:
            raise HttpError(
                409, f"Cannot delete Process Group {g.id} because it has running components"
            )
        if g.queued:
            raise HttpError(409, f"Cannot delete Process Group {g.id} because it has data queued")
        del self.groups[g.id]
        return 200, self.group_entity(g)

    def list_contexts(self, **_: Any) -> tuple[int, Any]:
        return 200, {"parameterContexts": [self.context_entity(c) for c in self.contexts.values()]}

    def _context(self, cid: str) -> FakeContext:
        if cid not in self.contexts:
            raise HttpError(404, f"Unable to find Parameter Context with id '{cid}'.")
        return self.contexts[cid]

    def get_context(self, id: str, **_: Any) -> tuple[int, Any]:
        return 200, self.context_entity(self._context(id))

    @staticmethod
    def _params(component: dict[str, Any]) -> dict[str, tuple[str | None, bool]]:
        out: dict[str, tuple[str | None, bool]] = {}
        for entry in component.get("parameters") or []:
            p = entry.get("parameter") or {}
            if not p.get("name"):
                raise HttpError(400, "every parameter needs a name")
            out[p["name"]] = (p.get("value"), bool(p.get("sensitive")))
        return out

    def create_context(self, body: bytes, **_: Any) -> tuple[int, Any]:
        data = self._json(body, "ParameterContextEntity")
        if (data.get("revision") or {}).get("version") != 0:
            raise HttpError(
                400, "A revision of 0 must be specified when creating a new Parameter Context."
            )
        comp = data.get("component") or {}
        if not comp.get("name"):
            raise HttpError(400, "The name of the Parameter Context must be specified.")
        if any(c.name == comp["name"] for c in self.contexts.values()):
            raise HttpError(
                409, f"A Parameter Context with the name '{comp['name']}' already exists"
            )
        c = FakeContext(
            str(uuid.uuid4()), comp["name"], comp.get("description") or "", self._params(comp)
        )
        self.contexts[c.id] = c
        return 201, self.context_entity(c)

    def submit_update(self, id: str, body: bytes, **_: Any) -> tuple[int, Any]:
        data = self._json(body, "ParameterContextEntity")
        c = self._context(id)
        if data.get("id") != id or (data.get("component") or {}).get("id", id) != id:
            raise HttpError(400, "The Parameter Context id in the body does not match the path")
        if (data.get("revision") or {}).get("version") != c.version:
            raise HttpError(
                409,
                f"Error: [{(data.get('revision') or {}).get('version')}] is not the most up-to-date revision.",
            )
        comp = data["component"]
        params = self._params(comp)
        for name, (value, sensitive) in params.items():
            old = c.params.get(name)
            if old is not None and old[1] != sensitive:
                raise HttpError(400, f"Cannot change the sensitivity of parameter {name}")
            c.params[name] = (old[0] if (sensitive and value == MASK and old) else value, sensitive)
        if "description" in comp:
            c.description = comp["description"] or ""
        c.version += 1
        rid = str(uuid.uuid4())
        self.update_requests[rid] = id
        return 200, self._update_entity(c, rid)

    def _update_entity(self, c: FakeContext, rid: str) -> dict[str, Any]:
        return {
            "parameterContextRevision": {"version": c.version},
            "request": {
                "requestId": rid,
                "complete": True,
                "percentCompleted": 100,
                "state": "Complete",
                "parameterContext": self.context_entity(c)["component"],
            },
        }

    def get_update(self, id: str, rid: str, **_: Any) -> tuple[int, Any]:
        if self.update_requests.get(rid) != id:
            raise HttpError(404, f"no update request {rid}")
        return 200, self._update_entity(self._context(id), rid)

    def delete_update(self, id: str, rid: str, **_: Any) -> tuple[int, Any]:
        if self.update_requests.pop(rid, None) != id:
            raise HttpError(404, f"no update request {rid}")
        return 200, self._update_entity(self._context(id), rid)

    def delete_context(self, id: str, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        c = self._context(id)
        self._revision(query, c.version, f"parameter context {c.name}")
        if any(g.context_id == id for g in self.groups.values()):
            raise HttpError(
                409, f"Cannot delete Parameter Context {c.name}: it is bound to a Process Group"
            )
        del self.contexts[id]
        return 200, self.context_entity(c)


class _Handler(BaseHTTPRequestHandler):
    double: NifiDouble

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            with self.double.lock:
                status, payload = self.double.handle(
                    method, parts.path, parse_qs(parts.query), self.headers, body
                )
        except HttpError as e:
            status, payload = e.status, e.message
        self.double.log.append((method, parts.path, status))
        if isinstance(payload, str):
            data, ctype = payload.encode(), "text/plain"
        else:
            data, ctype = (
                json.dumps(payload).encode() if payload is not None else b"",
                "application/json",
            )
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


@dataclass
class RunningNifi:
    double: NifiDouble
    url: str
    ca: Path
    server: ThreadingHTTPServer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(folder: Path, username: str, password: str) -> RunningNifi:
    """Serve the double over HTTPS on a free loopback port (self-signed; `ca` trusts it)."""
    double = NifiDouble(username, password)
    double.groups[double.root_id] = FakeGroup(double.root_id, "NiFi Flow", "", "", None, 0, {})
    cert, key = self_signed(folder, "nifi-")
    handler = type("Handler", (_Handler,), {"double": double})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return RunningNifi(double, f"https://localhost:{server.server_address[1]}", cert, server)
