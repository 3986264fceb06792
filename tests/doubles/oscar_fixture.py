"""`oscar_server`: a running OSCAR contract double (see doubles.oscar_server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.oscar_server import OscarTestServer


@pytest.fixture
def oscar_server() -> Iterator[OscarTestServer]:
    server = OscarTestServer().start()
    try:
        yield server
    finally:
        server.stop()
