"""Issue 22 items 2 and 8 on the listener: its credential goes only to the configured
origin (a channel URL the server names on another port, or plain http://, is refused and
receives nothing), URLs in its config carry no user or password, a dCache URL is never
logged with its userinfo, reconnecting is bounded, and its token file is read by the one
secret-file reader (a FIFO or /dev/zero is refused, not hung on)."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oscar_iac.dcache.listener import ConfigError, Refused, parse_config
from oscar_iac.dcache.listener.channel import Dcache
from oscar_iac.dcache.listener.credentials import Secret
from oscar_iac.dcache.listener.listen import MAX_CONNECT_FAILURES

TOKEN = "listener-token-not-for-others"


class _Recorder(http.server.ThreadingHTTPServer):
    """A server on another port that records the Authorization headers it receives."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                recorder.seen.append(self.headers.get("Authorization", ""))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _cfg(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": "https://dcache.example.org:3880/api/v1",
        "paths": ["/data/in"],
        "checkpoint": str(tmp_path / "checkpoint.json"),
        "auth": {"kind": "oidc", "token_env": "OSCAR_IAC_TEST_LISTENER_TOKEN"},
        "sink": {"kind": "spool", "dir": str(tmp_path / "spool")},
        **extra,
    }


def test_the_credential_goes_to_no_channel_on_another_origin(
    tmp_path: Path, recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCAR_IAC_TEST_LISTENER_TOKEN", TOKEN)
    dcache = Dcache(parse_config(_cfg(tmp_path)))
    elsewhere = f"http://127.0.0.1:{recorder.server_port}/api/v1/events/channels/x"
    with pytest.raises(Refused, match="configured origin"):
        dcache.open_stream(elsewhere, None, 5.0)
    with pytest.raises(Refused, match="configured origin"):
        dcache.subscriptions(elsewhere)
    # plain http:// on the configured host and port is another origin too
    with pytest.raises(Refused):
        dcache.http.request("GET", "http://dcache.example.org:3880/api/v1/events/channels")
    assert recorder.seen == []
    # the same server as the configured origin does get it (the check is not "refuse all")
    local = Dcache(
        parse_config(_cfg(tmp_path, endpoint=f"http://127.0.0.1:{recorder.server_port}/api/v1"))
    )
    local.open_stream(elsewhere, None, 5.0).close()
    assert recorder.seen == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("key", ["endpoint", "webdav"])
def test_urls_with_userinfo_are_refused_and_not_repeated(tmp_path: Path, key: str) -> None:
    url = "https://alice:pw-in-url@dcache.example.org:3880/api/v1"
    with pytest.raises(ConfigError) as info:
        parse_config(_cfg(tmp_path, **{key: url}))
    assert key in str(info.value)
    assert "pw-in-url" not in str(info.value)


def test_reconnecting_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A dCache that never answers: the listener stops after the bound (exit 75, for its
    service manager to restart later) instead of retrying forever."""
    import socket

    from oscar_iac.dcache.listener import listen
    from oscar_iac.dcache.listener.listen import Listener

    monkeypatch.setenv("OSCAR_IAC_TEST_LISTENER_TOKEN", TOKEN)
    monkeypatch.setattr(listen, "MAX_CONNECT_FAILURES", 3)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = parse_config(_cfg(tmp_path, endpoint=f"http://127.0.0.1:{port}/api/v1"))
    listener = Listener(cfg)
    code: list[int] = []
    worker = threading.Thread(target=lambda: code.append(listener.run()), daemon=True)
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():
        listener.stop_event.set()
        raise AssertionError("the listener was still retrying after 60 s (bound: 3 attempts)")
    assert code == [75]
    assert "attempt 2 of 3" in caplog.text
    assert "3 attempts in a row failed" in caplog.text
    assert MAX_CONNECT_FAILURES <= 100


def test_the_token_file_is_read_by_the_one_reader(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    assert Secret("auth.token", None, str(token)).get() == TOKEN
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result: list[str] = []

    def read() -> None:
        for path in (str(fifo), "/dev/zero"):
            try:
                Secret("auth.token", None, path).get()
                result.append("read")
            except ConfigError as exc:
                result.append(str(exc))

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "reading a FIFO token file hung (waited 30 s)"
    assert "not a regular file" in result[0]
    assert "never read" in result[1]
