"""The models registry reading an API catalog (services.load_catalog / services.desired)
through the catalog API double (ai4-papi's routes, real samples): only the site's
modules are fetched, the cache answers unless a refresh is asked for, and the progress
callback gets each module as it arrives."""

from __future__ import annotations

from pathlib import Path

from doubles.catalog_api_server import CatalogApiTestServer
from oscar_iac.registry import services
from oscar_iac.site import load_site

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
