"""An OSCAR manager test double that enforces OSCAR's published REST contract (v4.1.2).

OSCAR's manager needs Kubernetes and cannot run here. This server answers the
calls oscar-iac makes, and refuses what the real server refuses:
  - /system/* needs Basic auth (401 otherwise);
  - POST/PUT /system/services bodies are checked against the swagger's
    `types.Service` schema (400), names longer than 39 characters are refused (400),
    creating an existing service is 400 (as OSCAR), updating or deleting a missing one 404;
    errors are plain text, as OSCAR answers them;
  - /job/{svc} and /run/{svc} need `Authorization: Bearer <service token>` (401);
    /job answers 201 with an empty body;
  - with `oidc_token` set, `Bearer <oidc_token>` is accepted wherever Basic auth or a
    service token is (OSCAR accepts its users' OIDC access tokens);
  - GET /system/config answers `types.ConfigForUser`, with `minio_provider` (the
    cluster's MinIO and the user's credentials) when the test gives one;
  - /job creates a job named like OSCAR's (`<service>-<uuid>`, the service name cut
    to 16 characters when it has 25 or more); GET /system/logs/{svc} lists the jobs
    (`types.JobsResponse`: Pending, Running, Succeeded or Failed) and
    GET /system/logs/{svc}/{job} answers the job's log;
  - every request is recorded in `calls`; anything unknown is 404 and recorded.
`executor(service, body, headers) -> (status, bytes)` runs /run calls, and /job in a
thread, where the job's name (its JOB_UUID) comes in the header `JOB_HEADER`; for a
job, a status below 300 is Succeeded and the bytes are its log. The default executor
records only. `latency` adds a delay per request, to model a real manager in benchmarks.
`job_unavailable` (tests set and clear it) makes /job answer 503, as a manager that is
restarting or overloaded would. GET /system/status answers `types.StatusInfo` (200), or
500 `{"error": status_error}` when a test sets `status_error` (as the real OSCAR v4.1.2
does when its ServiceAccount may not list nodes: pkg/handlers/status.go).
The double is pinned to the real OSCAR by tests/realoscar/test_double_contract.py.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import yaml

Executor = Callable[[dict[str, Any], bytes, dict[str, str]], tuple[int, bytes]]
REPO = Path(__file__).resolve().parents[2]
SWAGGER = (
    Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
    / "specs"
    / "oscar-swagger-v4.1.2.yaml"
)
NAME_MAX = 39
JOB_HEADER = "X-Oscar-Job-Uuid"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def job_name(service: str) -> str:
    """OSCAR's job names: the service name (cut to 16 characters when it has 25 or more)."""
    prefix = service[:16] if len(service) >= 25 else service
    return f"{prefix}-{uuid.uuid4()}"


@dataclass
class Job:
    name: str
    creation_time: str
    status: str = "Pending"
    start_time: str = ""
    finish_time: str = ""
    log: bytes = b""

    def info(self) -> dict[str, str]:
        info = {"status": self.status, "creation_time": self.creation_time}
        info |= {
            k: v
            for k, v in (("start_time", self.start_time), ("finish_time", self.finish_time))
            if v
        }
        return info


def _service_schema() -> dict[str, Any]:
    if not SWAGGER.is_file():
        raise FileNotFoundError(f"OSCAR's REST contract is needed by the test double: {SWAGGER}")
    swagger = yaml.safe_load(SWAGGER.read_text())
    schema = dict(swagger["definitions"]["types.Service"])
    schema["definitions"] = swagger["definitions"]
    return schema


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog (5) drops connections of concurrent clients
    # (each /job is a new connection here): they would wait for a SYN retransmit (1 s).
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        # A client killed mid-request (the tests SIGKILL the relay) is expected here.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    answer: bytes = b""  # what the double answered (a model's /run output, for instance)


@dataclass
class OscarTestServer:
    username: str = "oscar"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    executor: Executor | None = None
    latency: float = 0.0
    job_unavailable: bool = False
    status_error: str | None = None
    serverless_backend: str = "knative"
    oidc_token: str | None = field(default=None, repr=False)
    minio_provider: dict[str, Any] | None = field(default=None, repr=False)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Answers of the real OSCAR v4.1.2 when a service write meets its MinIO restarted by
    # another request (pkg/handlers/create.go registerMinIOWebhook -> pkg/utils/minio.go
    # RestartServer): (method, status, text, done), used once each, in order, by the next
    # POST/PUT/DELETE of /system/services. `done` says the write took effect before the
    # failure (a delete that removed the service, then failed on its buckets: 500).
    write_failures: list[tuple[str, int, str, bool]] = field(default_factory=list)
    # Service writes (POST/PUT/DELETE /system/services...) being answered at once, and
    # the most seen: how many a client keeps in flight (`write_latency` holds each one).
    write_latency: float = 0.0
    writes_in_flight: int = 0
    most_writes_in_flight: int = 0
    jobs: dict[str, dict[str, Job]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _validator: Any = field(
        default_factory=lambda: jsonschema.Draft4Validator(_service_schema()), repr=False
    )

    def token(self, service: str) -> str:
        return str(self.services[service]["token"])

    def start(self) -> OscarTestServer:
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _run_job(self, svc: dict[str, Any], job: Job, body: bytes, headers: dict[str, str]) -> None:
        assert self.executor is not None
        with self._lock:
            job.status, job.start_time = "Running", _now()
        try:
            status, log = self.executor(svc, body, {**headers, JOB_HEADER: job.name})
        except Exception as exc:  # a job that crashes is Failed, as a crashed pod would be
            status, log = 500, f"{type(exc).__name__}: {exc}".encode()
        with self._lock:
            job.log, job.finish_time = log, _now()
            job.status = "Succeeded" if status < 300 else "Failed"

    def calls_to(self, prefix: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.startswith(prefix)]


def _handler(state: OscarTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, code: int, body: object = None, raw: bytes | None = None) -> None:
            if code >= 400 and isinstance(body, dict) and raw is None and "message" in body:
                # The real OSCAR v4.1.2 answers errors as plain text (gin's c.String /
                # c.Status), never as JSON: pinned by tests/realoscar/test_double_contract.py.
                raw, body = str(body["message"]).encode(), None
            data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
            # Recorded BEFORE the answer leaves: a client that got its answer must find its
            # call in `calls` (recorded after, a loaded machine let tests count too early).
            with state._lock:
                state.calls.append(
                    Call(
                        self.command, self.path, code, self._body, dict(self.headers.items()), data
                    )
                )
            self.send_response(code)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _basic_ok(self) -> bool:
            want = base64.b64encode(f"{state.username}:{state.password}".encode()).decode()
            return self.headers.get("Authorization", "") == f"Basic {want}" or self._oidc_ok()

        def _oidc_ok(self) -> bool:
            auth = self.headers.get("Authorization", "")
            return bool(state.oidc_token) and auth == f"Bearer {state.oidc_token}"

        def _dispatch(self) -> None:
            if state.latency:
                time.sleep(state.latency)
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if parts == ["health"] and self.command == "GET":
                return self._reply(200, raw=b"Ok")
            if parts and parts[0] == "system":
                if not self._basic_ok():
                    return self._reply(401, {"message": "unauthorized"})
                return self._system(parts[1:])
            if len(parts) == 2 and parts[0] in ("job", "run") and self.command == "POST":
                return self._invoke(parts[0], parts[1])
            return self._reply(404, {"message": "not found"})

        def _system(self, parts: list[str]) -> None:
            if parts == ["info"] and self.command == "GET":
                # pkg/types/info.go types.Info (serverless_backend omitted when empty).
                return self._reply(
                    200,
                    {
                        "version": "v4.1.2",
                        "git_commit": "test-double",
                        "architecture": "amd64",
                        "kubernetes_version": "v1.37.2",
                    },
                )
            if parts == ["config"] and self.command == "GET":
                # `serverless_backend` is omitted by the real OSCAR when it has none.
                inner: dict[str, Any] = {"name": "oscar"}
                if state.serverless_backend:
                    inner["serverless_backend"] = state.serverless_backend
                config: dict[str, Any] = {"config": inner}
                if state.minio_provider is not None:
                    config["minio_provider"] = state.minio_provider
                return self._reply(200, config)
            if parts == ["status"] and self.command == "GET":
                if state.status_error is not None:
                    return self._reply(500, {"error": state.status_error})
                return self._reply(200, {"cluster": {"nodes": []}, "oscar": {}, "minio": {}})
            if parts and parts[0] == "logs" and self.command == "GET":
                return self._logs(parts[1:])
            if parts and parts[0] == "services":
                return self._services(parts[1:])
            return self._reply(404, {"message": "not found"})

        def _injected_failure(self) -> tuple[int, str, bool] | None:
            with state._lock:
                for i, (method, status, text, done) in enumerate(state.write_failures):
                    if method == self.command:
                        del state.write_failures[i]
                        return status, text, done
            return None

        def _services(self, parts: list[str]) -> None:
            if self.command == "GET":
                return self._services_answer(parts)
            with state._lock:
                state.writes_in_flight += 1
                state.most_writes_in_flight = max(
                    state.most_writes_in_flight, state.writes_in_flight
                )
            try:
                if state.write_latency:
                    time.sleep(state.write_latency)  # the write's own work, others in flight
                return self._services_answer(parts)
            finally:
                with state._lock:
                    state.writes_in_flight -= 1

        def _services_answer(self, parts: list[str]) -> None:
            failure = self._injected_failure()
            if failure is not None and not failure[2]:
                return self._reply(failure[0], raw=failure[1].encode())
            if failure is not None and self.command == "DELETE" and len(parts) == 1:
                with state._lock:
                    state.services.pop(parts[0], None)
                return self._reply(failure[0], raw=failure[1].encode())
            if not parts and self.command == "GET":
                with state._lock:
                    return self._reply(200, list(state.services.values()))
            if not parts and self.command in ("POST", "PUT"):
                try:
                    svc = json.loads(self._body or b"null")
                    state._validator.validate(svc)
                except (ValueError, jsonschema.ValidationError) as exc:
                    return self._reply(400, {"message": f"invalid service definition: {exc}"[:500]})
                name = svc["name"]
                if len(name) > NAME_MAX:
                    return self._reply(
                        400, {"message": f"service name longer than {NAME_MAX} characters"}
                    )
                with state._lock:
                    exists = name in state.services
                    if self.command == "POST" and exists:
                        # pkg/handlers/create.go MakeCreateHandler: 400, not 409.
                        return self._reply(
                            400, {"message": "A service with the provided name already exists"}
                        )
                    if self.command == "PUT" and not exists:
                        return self._reply(404, {"message": f"service {name} not found"})
                    token = state.services[name]["token"] if exists else secrets.token_hex(32)
                    state.services[name] = {**svc, "token": token}
                return self._reply(201 if self.command == "POST" else 204)
            if len(parts) == 1:
                name = parts[0]
                with state._lock:
                    svc = state.services.get(name)
                    if svc is None:
                        return self._reply(404, {"message": f"service {name} not found"})
                    if self.command == "GET":
                        return self._reply(200, svc)
                    if self.command == "DELETE":
                        del state.services[name]
                        return self._reply(204)
            return self._reply(404, {"message": "not found"})

        def _logs(self, parts: list[str]) -> None:
            with state._lock:
                if not parts or parts[0] not in state.services:
                    return self._reply(404, {"message": "service not found"})
                jobs = state.jobs.get(parts[0], {})
                if len(parts) == 1:
                    listing = {name: job.info() for name, job in jobs.items()}
                    # types.JobsResponse: remaining_jobs is omitempty (nil without a limit).
                    return self._reply(200, {"jobs": listing})
                job = jobs.get(parts[1]) if len(parts) == 2 else None
                if job is None:
                    return self._reply(404, {"message": "job not found"})
                return self._reply(200, raw=job.log)

        def _invoke(self, kind: str, name: str) -> None:
            with state._lock:
                svc = state.services.get(name)
            if svc is None and kind == "job":
                # pkg/handlers/job.go MakeJobHandler: no service matches the token -> 401.
                return self._reply(401, {"message": ""})
            if svc is None:
                return self._reply(404, {"message": f"service {name} not found"})
            if self.headers.get("Authorization", "") != f"Bearer {svc['token']}" and not (
                self._oidc_ok()
            ):
                return self._reply(401, {"message": "invalid token"})
            headers = {k: v for k, v in self.headers.items()}
            if kind == "job" and state.job_unavailable:
                return self._reply(503, {"message": "service unavailable"})
            if kind == "job":
                job = Job(job_name(name), _now())
                with state._lock:
                    state.jobs.setdefault(name, {})[job.name] = job
                if state.executor is not None:
                    threading.Thread(
                        target=state._run_job, args=(svc, job, self._body, headers), daemon=True
                    ).start()
                return self._reply(201)
            if state.executor is None:
                return self._reply(200, raw=b"")
            status, out = state.executor(svc, self._body, headers)
            return self._reply(status, raw=out)

        do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    return Handler
