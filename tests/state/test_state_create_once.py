"""IM's create is never sent twice (issue #22 item 5). The real IM server sits behind a
loopback proxy that forwards every request and then loses the answer to
`POST /infrastructures` (a 504 from a gateway, or a dropped connection): the client
must not POST again, and the lost-create lookup finds the one IM made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from oscar_iac.errors import DeploymentError
from oscar_iac.im import lifecycle
from oscar_iac.im.client import CreateUnclear, ImClient
from oscar_iac.im.server import EmbeddedIM
from oscar_iac.render import render_site
from oscar_iac.site import load_site

pytestmark = pytest.mark.slow
AUTH = "id = im; type = InfrastructureManager; username = t; password = p\\nid = d; type = Dummy"


class _LosesCreateAnswers(BaseHTTPRequestHandler):
    upstream: ClassVar[str] = ""
    fault: ClassVar[str] = "504"  # 504 | drop | refuse (IM never sees it)
    creates: ClassVar[list[str]] = []

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        is_create = self.command == "POST" and self.path.split("?")[0] == "/infrastructures"
        if is_create:
            self.creates.append(self.path)
            if self.fault == "refuse":
                self._answer(503, b'{"message": "Service Unavailable", "code": 503}')
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        resp = requests.request(
            self.command, self.upstream + self.path, headers=headers, data=body, timeout=60
        )
        if is_create and self.fault == "drop":
            self.close_connection = True
            self.connection.close()  # IM made it; the answer never reaches the client
            return
        if is_create:
            self._answer(504, b'{"message": "Gateway Timeout", "code": 504}')
            return
        self._answer(resp.status_code, resp.content, resp.headers.get("Content-Type"))

    def _answer(self, code: int, body: bytes, ctype: str | None = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def real_im(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedIM]:
    with EmbeddedIM(tmp_path_factory.mktemp("im")) as server:
        yield server


@pytest.fixture
def proxy(real_im: EmbeddedIM) -> Iterator[tuple[str, type[_LosesCreateAnswers]]]:
    handler = type("H", (_LosesCreateAnswers,), {"upstream": real_im.url, "creates": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    _clear(real_im)


def _clear(real_im: EmbeddedIM) -> None:
    """Destroy what the real IM holds (waiting while IM still launches: 409)."""
    direct = lifecycle.Connection(ImClient(real_im.url, lambda: AUTH), real_im.url)
    for inf_id in direct.client.list_ids():
        lifecycle._destroy(direct, inf_id)


def _document(local_site: Path) -> str:
    loaded = load_site(local_site)
    return lifecycle._document(loaded, render_site(loaded, translate=False))


@pytest.mark.parametrize("fault", ["504", "drop"])
def test_state_create_is_sent_once_and_found_again(
    fault: str,
    proxy: tuple[str, type[_LosesCreateAnswers]],
    real_im: EmbeddedIM,
    local_site: Path,
) -> None:
    url, handler = proxy
    handler.fault = fault
    client = ImClient(url, lambda: AUTH, backoff=0.01)
    conn = lifecycle.Connection(client, url)
    with pytest.raises(CreateUnclear):
        client.create(_document(local_site))
    assert len(handler.creates) == 1  # not retried
    made = ImClient(real_im.url, lambda: AUTH).list_ids()
    assert len(made) == 1

    # `up`'s create: sent once, then the site's infrastructure is found by name.
    _clear(real_im)
    handler.creates.clear()
    found = lifecycle.create_once(conn, "local", _document(local_site))
    assert len(handler.creates) == 1
    assert ImClient(real_im.url, lambda: AUTH).list_ids() == [found]


def test_state_unclear_create_that_made_nothing_says_so(
    proxy: tuple[str, type[_LosesCreateAnswers]], real_im: EmbeddedIM, local_site: Path
) -> None:
    url, handler = proxy
    handler.fault = "refuse"
    conn = lifecycle.Connection(ImClient(url, lambda: AUTH, backoff=0.01), url)
    with pytest.raises(DeploymentError, match="IM holds no infrastructure of site 'local'"):
        lifecycle.create_once(conn, "local", _document(local_site))
    assert len(handler.creates) == 1
    assert ImClient(real_im.url, lambda: AUTH).list_ids() == []
