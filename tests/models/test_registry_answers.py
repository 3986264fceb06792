"""The models registry facing an endpoint that answers, but not as OSCAR does.

A proxy or a web server in front of the wrong path answers `GET /system/services` with
200 and an HTML page instead of OSCAR's JSON list (OSCAR v4.1.2 swagger: 200 with
`application/json`, an array of services). requests then raises its JSONDecodeError, a
RequestException and a ValueError. That is no unreachable OSCAR: the failure names the
URL that answered and says what OSCAR answers instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from oscar_iac.errors import DeploymentError
from oscar_iac.oscar import OscarConnection
from oscar_iac.registry import services
from oscar_iac.site import load_site

REPO = Path(__file__).resolve().parents[2]


class _Html(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>It works!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _site(tmp_path: Path) -> Path:
    data = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    data["models"] = []
    data.pop("events", None)
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(yaml.safe_dump(data))
    return folder


def test_an_html_answer_to_the_service_list_is_a_failure_naming_the_url(
    tmp_path: Path, html_server: str
) -> None:
    with pytest.raises(DeploymentError) as err:
        services.plan(OscarConnection(html_server, "oscar", "pw"), load_site(_site(tmp_path)))
    assert str(err.value) == (
        f"{html_server} answered GET /system/services with something that is not JSON "
        "(OSCAR answers a JSON list of services): is it OSCAR's endpoint?"
    )
    assert err.value.hints == ["--oscar-endpoint URL names another OSCAR"]


def test_an_endpoint_without_a_host_fails_in_words(tmp_path: Path) -> None:
    """The endpoint recorded in the deployment state (an IM output) is not re-checked as
    a URL; one without a host makes requests refuse before any request exists
    (InvalidURL "No host supplied", requests/models.py prepare_url; the connection keeps the
    URL without its trailing slash), so there is no URL
    to name: the failure says "its endpoint" and gives requests' reason."""
    with pytest.raises(DeploymentError) as err:
        services.plan(OscarConnection("http://", "oscar", "pw"), load_site(_site(tmp_path)))
    assert str(err.value) == (
        "cannot reach OSCAR at its endpoint: Invalid URL 'http:/system/services': No host "
        "supplied; site 'local' runs IM's Dummy cloud, which boots no VM, so nothing answers "
        "at its endpoints"
    )
