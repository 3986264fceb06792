"""IM's refusals, transient failures, auth lines and access-token expiry/refresh.

400 and 401 come from the real IM server. A 500/503 cannot be provoked from a
healthy IM, so those answers come from a loopback server replying in IM's error
shape ({"message": ..., "code": ...}). EGI Check-in, oidc-agent and fedcloud
cannot be reached here: tokens are JWTs made in the test, and the helper
commands are small executables put on PATH that print a token, as they do.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError

from oscar_iac.errors import UserError
from oscar_iac.im.auth import AuthBuilder
from oscar_iac.im.client import ImClient, ImError, ImUnreachable
from oscar_iac.im.server import EmbeddedIM
from oscar_iac.im.tokens import Token, find_token
from oscar_iac.site.model import ImTarget, TokenSource

BAD_TOSCA = (
    "tosca_definitions_version: tosca_simple_yaml_1_0\n"
    "topology_template: {node_templates: {x: {type: no.such.Type}}}\n"
)
LOCAL_AUTH = (
    "id = im; type = InfrastructureManager; username = t; password = p\\nid = d; type = Dummy"
)


@pytest.fixture(scope="module")
def real_im(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedIM]:
    with EmbeddedIM(tmp_path_factory.mktemp("im")) as server:
        yield server


@pytest.mark.slow
def test_400_carries_ims_message_and_is_a_user_error(real_im: EmbeddedIM) -> None:
    client = ImClient(real_im.url, lambda: LOCAL_AUTH)
    with pytest.raises(ImError) as info:
        client.create(BAD_TOSCA)
    assert info.value.status == 400 and info.value.exit_code == 2
    assert "no.such.Type" in str(info.value)


@pytest.mark.slow
def test_401_is_a_user_error(real_im: EmbeddedIM) -> None:
    client = ImClient(real_im.url, lambda: "id = d; type = Dummy")
    with pytest.raises(ImError) as info:
        client.list_ids()
    assert info.value.status == 401 and info.value.exit_code == 2
    assert "No credentials provided for the InfrastructureManager" in str(info.value)


class _Flaky(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        code = self.answers.pop(0) if self.answers else 200
        body = (
            json.dumps({"uri-list": []})
            if code == 200
            else json.dumps({"message": f"Error Getting Inf. List: boom {code}", "code": code})
        )
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[_Flaky]]]:
    handler = type("H", (_Flaky,), {"answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def test_transient_500_503_are_retried(flaky: tuple[str, type[_Flaky]]) -> None:
    url, handler = flaky
    handler.answers[:] = [500, 503]
    client = ImClient(url, lambda: "h", backoff=0.01)
    assert client.list_ids() == []
    assert len(handler.seen) == 3


def test_persistent_500_is_a_deployment_failure(flaky: tuple[str, type[_Flaky]]) -> None:
    url, handler = flaky
    handler.answers[:] = [500] * 10
    client = ImClient(url, lambda: "h", retries=2, backoff=0.01)
    with pytest.raises(ImUnreachable) as info:
        client.list_ids()
    assert info.value.exit_code == 1 and "boom 500" in str(info.value)
    assert len(handler.seen) == 3


def test_nothing_listening_is_a_clear_failure() -> None:
    client = ImClient("http://127.0.0.1:9", lambda: "h", retries=1, backoff=0.01)
    with pytest.raises(ImUnreachable, match="cannot connect to IM"):
        client.list_ids()


def jwt(exp: float) -> str:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'RS256'})}.{enc({'exp': int(exp), 'sub': 'x@egi.eu'})}.c2ln"


def test_expired_token_is_refreshed_through_its_source() -> None:
    fresh = jwt(time.time() + 3600)
    tok = Token(value=jwt(time.time() - 10), source="oidc-agent account egi", refresh=lambda: fresh)
    assert tok.fresh() == fresh


def test_expired_token_without_refresher_fails_clearly() -> None:
    old = jwt(time.time() + 60)  # about to expire: less than a long step needs
    tok = Token(value=old, source="environment variable EGI_ACCESS_TOKEN", refresh=lambda: old)
    with pytest.raises(UserError, match="could not be refreshed") as info:
        tok.fresh()
    assert "EGI_ACCESS_TOKEN" in str(info.value)


def _fake_command(folder: Path, name: str, output: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_token_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TokenSource(
        env="T_TOKEN",
        oidc_agent_account="egi",
        fedcloud=True,
        notebooks_file=str(tmp_path / "nb-token"),
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.delenv("T_TOKEN", raising=False)
    with pytest.raises(UserError) as info:
        find_token(cfg, tmp_path / "site.yml")
    assert "target.token" in str(info.value) and "oidc-agent" in str(info.value)
    (tmp_path / "nb-token").write_text(jwt(time.time() + 3600))
    assert find_token(cfg, tmp_path / "site.yml").source.startswith("EGI Notebooks")
    _fake_command(tmp_path, "fedcloud", jwt(time.time() + 3600))
    assert find_token(cfg, tmp_path / "site.yml").source == "fedcloud token issue"
    _fake_command(tmp_path, "oidc-token", jwt(time.time() + 3600))
    assert find_token(cfg, tmp_path / "site.yml").source == "oidc-agent account egi"
    monkeypatch.setenv("T_TOKEN", jwt(time.time() + 3600))
    assert find_token(cfg, tmp_path / "site.yml").source == "environment variable T_TOKEN"


def _target(cloud: dict[str, object]) -> ImTarget:
    return ImTarget.model_validate(
        {"kind": "im", "endpoint": "https://im.example.org", "cloud": cloud}
    )


def test_egi_auth_lines_use_ims_egi_shortcut() -> None:
    tok = jwt(time.time() + 3600)
    builder = AuthBuilder(
        _target({"kind": "egi", "site": "IFCA-LCG2", "vo": "vo.access.egi.eu"}),
        token=Token(tok, "env", lambda: tok),
    )
    im, egi = builder.lines()
    assert im == f"id = im; type = InfrastructureManager; token = {tok}"
    assert egi == f"id = egi; type = EGI; host = IFCA-LCG2; vo = vo.access.egi.eu; token = {tok}"
    assert builder.header() == f"{im}\\n{egi}"


def test_openstack_oidc_auth_line() -> None:
    tok = jwt(time.time() + 3600)
    target = _target(
        {
            "kind": "openstack",
            "auth_url": "https://keystone.example.org:5000/v3",
            "project": "abc123",
            "region": "RegionOne",
        }
    )
    _, ost = AuthBuilder(target, token=Token(tok, "env", lambda: tok)).lines()
    assert ost == (
        "id = ost; type = OpenStack; host = https://keystone.example.org:5000/v3; username = egi.eu; "
        f"tenant = openid; password = {tok}; auth_version = 3.x_oidc_access_token; domain = abc123; "
        "service_region = RegionOne"
    )


def test_auth_values_cannot_inject_lines() -> None:
    # The site boundary refuses the value first (site/fields.py: a single word)...
    with pytest.raises(ValidationError, match=r"cloud\.egi\.site"):
        _target({"kind": "egi", "site": "X; type = Dummy", "vo": "vo"})
    # ...and the auth builder refuses it too, whatever way it reaches it.
    target = _target({"kind": "egi", "site": "IFCA-LCG2", "vo": "vo"})
    object.__setattr__(target.cloud, "site", "X; type = Dummy")
    tok = jwt(time.time() + 3600)
    with pytest.raises(UserError, match="contains ';'"):
        AuthBuilder(target, token=Token(tok, "env", lambda: tok)).lines()
