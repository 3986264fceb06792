"""Fixtures: the dCache events test server and the OSCAR double with one service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.dcache_server import DcacheEventsServer


@pytest.fixture
def dcache() -> Iterator[DcacheEventsServer]:
    server = DcacheEventsServer().start()
    server.makedirs("/data/in")
    try:
        yield server
    finally:
        server.stop()
