"""The models registry reading an API catalog (services.load_catalog / services.desired)
through the catalog API double (ai4-papi's routes, real samples): only the site's
modules are fetched, the cache answers unless a refresh is asked for, and the progress
callback gets each module as it arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from doubles.catalog_api_server import CatalogApiTestServer
from oscar_iac.errors import UserError
from oscar_iac.registry import services
from oscar_iac.site import load_site

EGI = Path(__file__).resolve().parents[2] / "inventories" / "egi-example" / "site.yml"

# inventories/egi-example lists these two modules (its `models:`).
SITE_MODELS = ["ai4os-demo-app", "plants-classification"]


def test_desired_fetches_only_the_sites_modules_then_reads_the_cache(
    api_site: Path, catalog_api: CatalogApiTestServer
) -> None:
    want = services.desired(load_site(api_site))
    assert sorted(want) == SITE_MODELS
    # ai4-papi: GET /v1/catalog/modules/<name>/metadata per module; no module list.
    assert sorted(c.path for c in catalog_api.calls) == [
        f"/v1/catalog/modules/{m}/metadata" for m in SITE_MODELS
    ]
    catalog_api.stop()  # offline: the site's cache answers, nothing is fetched again
    assert services.desired(load_site(api_site)) == want


def test_load_catalog_feeds_the_progress_callback(
    api_site: Path, catalog_api: CatalogApiTestServer
) -> None:
    seen: list[tuple[int, int]] = []
    got = services.load_catalog(
        load_site(api_site),
        modules=SITE_MODELS,
        refresh=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert sorted(got.models) == SITE_MODELS
    assert sorted(seen) == [(1, 2), (2, 2)]


def _own_site(tmp_path: Path, location: str, extra_module: str = "") -> Path:
    """inventories/egi-example with its catalog location pointed at `location`."""
    data = yaml.safe_load(EGI.read_text())
    data["catalog"]["location"] = location
    if extra_module:
        data["models"].append({"module": extra_module})
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "site.yml").write_text(yaml.safe_dump(data))
    return folder


def test_the_sites_own_location_is_used_and_its_trailing_slash_is_no_override(
    tmp_path: Path,
    api_state: Path,
    catalog_api: CatalogApiTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OSCAR_IAC_CATALOG_API", raising=False)
    got = services.load_catalog(
        load_site(_own_site(tmp_path, catalog_api.url + "/")), modules=SITE_MODELS
    )
    assert sorted(got.models) == SITE_MODELS
    assert got.note == f"catalog API {catalog_api.url}: fetched just now (kept for offline use)"


def test_a_module_the_api_does_not_serve_is_named_with_the_api_location(
    tmp_path: Path,
    api_state: Path,
    catalog_api: CatalogApiTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OSCAR_IAC_CATALOG_API", raising=False)
    api = catalog_api.url
    site = _own_site(tmp_path, api, extra_module="no-such-module")
    with pytest.raises(UserError) as err:
        services.desired(load_site(site))
    # ai4-papi's routes: /modules/<name>/metadata (404 when absent), /modules, /tools.
    assert [(p.field, p.message) for p in err.value.problems] == [
        (
            "models[2].module",
            f"'no-such-module' is not in the catalog API {api} (GET {api}/modules/"
            f"no-such-module/metadata answered 404; the modules are listed at {api}/modules, "
            f"and tools under {api}/tools are not models)",
        )
    ]
