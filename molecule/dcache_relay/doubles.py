"""Runs inside the Molecule node: the dCache events test server and the OSCAR double, plus
a small control API for verify.yml (POST /upload?prefix=P&count=N, GET /jobs, GET /status).

Started by prepare.yml as the systemd service `dcache-relay-doubles`; reads the test
secrets from /opt/doubles/secrets.json (0600) and writes the OSCAR double's URL to
/opt/doubles/urls.json for converge.yml.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from doubles.dcache_server import DcacheEventsServer
from doubles.oscar_server import OscarTestServer

HERE = Path(__file__).resolve().parent
secrets = json.loads((HERE / "secrets.json").read_text())
dcache = DcacheEventsServer(token=secrets["dcache_token"]).start(18080)
dcache.makedirs("/data/in")
oscar = OscarTestServer(password=secrets["oscar_password"]).start()
oscar.services["dcache-svc"] = {"name": "dcache-svc", "token": secrets["service_token"]}
(HERE / "urls.json").write_text(json.dumps({"dcache": dcache.api, "oscar": oscar.url}))
lock = threading.Lock()


class Control(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/jobs":
            paths = [
                json.loads(c.body)["path"] for c in oscar.calls_to("/job/dcache-svc") if c.status == 201
            ]
            return self._json({"paths": paths, "count": len(paths), "unique": len(set(paths))})
        return self._json({"watched": sorted(dcache.watched()), "connected": dcache.connected()})

    def do_POST(self) -> None:
        q = parse_qs(urlsplit(self.path).query)
        prefix, count = q["prefix"][0], int(q["count"][0])
        with lock:
            for i in range(count):
                dcache.upload(f"/data/in/{prefix}-{i:04d}.csv")
        return self._json({"uploaded": count})


ThreadingHTTPServer(("127.0.0.1", 18082), Control).serve_forever()
