"""A small OSCAR manager double for the two calls storage events need (swagger v4.1.2).

  GET  /system/services/{serviceName}  Basic auth; 200 with the service (incl. `token`),
                                       401 on wrong credentials, 404 for unknown services.
  POST /job/{serviceName}              Bearer auth with the service's token; 201 and the
                                       call is recorded; 401 on a missing/wrong token,
                                       404 for unknown services.
Anything else answers 404 and is recorded as rejected, so a test sees stray calls.
Used until the shared OSCAR test double (tests/doubles/oscar_server.py) is available.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class JobCall:
    service: str
    authorization: str
    content_type: str
    body: bytes


@dataclass
class OscarJobsDouble:
    username: str = "oscar"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)
    services: dict[str, str] = field(default_factory=dict)  # name -> token
    jobs: list[JobCall] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def add_service(self, name: str) -> str:
        token = secrets.token_hex(32)
        self.services[name] = token
        return token

    def jobs_for(self, service: str) -> list[JobCall]:
        with self.lock:
            return [j for j in self.jobs if j.service == service]


def _handler(state: OscarJobsDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reject(self, code: int, why: str) -> None:
            with state.lock:
                state.rejected.append(f"{self.command} {self.path}: {why}")
            self._reply(code, why)

        def do_GET(self) -> None:
            prefix = "/system/services/"
            if not self.path.startswith(prefix):
                return self._reject(404, "not part of this double's contract")
            expected = base64.b64encode(f"{state.username}:{state.password}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {expected}":
                return self._reject(401, "Unauthorized")
            name = self.path[len(prefix) :]
            if name not in state.services:
                return self._reject(404, "Not Found")
            self._reply(200, {"name": name, "token": state.services[name], "memory": "1Gi"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if not self.path.startswith("/job/"):
                return self._reject(404, "not part of this double's contract")
            name = self.path[len("/job/") :]
            if name not in state.services:
                return self._reject(404, "Not Found")
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {state.services[name]}":
                return self._reject(401, "Unauthorized")
            with state.lock:
                state.jobs.append(JobCall(name, auth, self.headers.get("Content-Type", ""), body))
            self._reply(201, "")

        def do_HEAD(self) -> None:
            self._reject(405, "method not allowed")

    return Handler


class RunningDouble:
    def __init__(self) -> None:
        self.state = OscarJobsDouble()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.state.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
