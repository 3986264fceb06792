"""Fixtures: the dCache events test server and the OSCAR double with one service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.dcache_server import DcacheEventsServer

# The Molecule scenario needs the Debian base image, built by the roles' session fixture
# (fixtures of tests/roles/conftest.py are not visible from this folder otherwise).
from roles.conftest import base_image  # noqa: F401


@pytest.fixture
def dcache() -> Iterator[DcacheEventsServer]:
    server = DcacheEventsServer().start()
    server.makedirs("/data/in")
    try:
        yield server
    finally:
        server.stop()
