"""Fixtures: the catalog API double (ai4-papi's routes, real samples) and a site using it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from doubles.catalog_api_server import CatalogApiTestServer
from doubles.oscar_server import OscarTestServer

REPO = Path(__file__).resolve().parents[2]
EGI = REPO / "inventories" / "egi-example" / "site.yml"


@pytest.fixture
def catalog_api() -> Iterator[CatalogApiTestServer]:
    server = CatalogApiTestServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state folder (where the catalog cache goes)."""
    state = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(state))
    return state


@pytest.fixture
def api_site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_state: Path,
    catalog_api: CatalogApiTestServer,
    oscar_server: OscarTestServer,
) -> Path:
    """A copy of inventories/egi-example (its real catalog URL kept) read through the double."""
    monkeypatch.setenv("OSCAR_PASSWORD", oscar_server.password)
    monkeypatch.setenv("OSCAR_IAC_CATALOG_API", catalog_api.url)
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(EGI.read_text())
    assert yaml.safe_load(EGI.read_text())["catalog"]["source"] == "api"
    return folder
