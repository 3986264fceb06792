"""The `api` catalog source against a test double of the AI4OS catalog API (ai4-papi).

The double (tests/doubles/catalog_api_server.py) follows ai4-papi's own routes and
shapes (`ai4papi/routers/v1/catalog/modules.py`, `common.py`) and serves the real
metadata samples under ../shared/catalog; it refuses what the real API has no route for.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from doubles.catalog_api_server import CatalogApiTestServer
from doubles.oscar_server import OscarTestServer
from helpers.cli import CliResult
from helpers.tls import self_signed
from oscar_iac.catalog import api as api_source
from oscar_iac.catalog import read_folder
from oscar_iac.catalog.api_client import FetchSettings
from oscar_iac.errors import DeploymentError, UserError

REPO = Path(__file__).resolve().parents[2]
CATALOG = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared")) / "catalog"
SITE_MODELS = {"ai4os-demo-app", "plants-classification"}  # inventories/egi-example
Cli = Callable[..., CliResult]


def _actions(res: CliResult) -> dict[str, str]:
    rows = [ln.split() for ln in res.out.splitlines()[1:] if ln.strip()]
    return {r[0]: r[1] for r in rows}


def _cache_root(state: Path) -> Path:
    return state / "egi-example" / "catalog-api"


def _line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


# -- the double itself follows ai4-papi -------------------------------------------------


def test_catalog_api_double_serves_papi_routes_and_shapes(
    catalog_api: CatalogApiTestServer,
) -> None:
    base, ok = catalog_api.url, {"Accept": "application/json"}
    names = requests.get(f"{base}/modules", headers=ok, timeout=5).json()
    assert "ai4os-demo-app" in names and "plants-classification" in names
    assert "ai4os-dev-env" not in names  # a tool (ai4-papi's own test says the same)
    assert "ai4os-dev-env" in requests.get(f"{base}/tools", headers=ok, timeout=5).json()
    detail = requests.get(f"{base}/modules/detail", headers=ok, timeout=5).json()
    assert {d["name"] for d in detail} == set(names)
    assert all("links" not in d and "description" not in d for d in detail)
    meta = requests.get(f"{base}/modules/ai4os-demo-app/metadata", headers=ok, timeout=5).json()
    assert meta["id"] == "ai4os-demo-app" and meta["links"]["docker_image"]
    assert meta["links"]["self"].endswith("/v1/catalog/modules/ai4os-demo-app/metadata")
    gone = requests.get(f"{base}/modules/nope/metadata", headers=ok, timeout=5)
    assert gone.status_code == 404 and "not in the catalog" in gone.json()["detail"]
    assert catalog_api.refused == []
    # What the real API would not serve: requests' default Accept */*, a trailing
    # slash (FastAPI redirects), unknown paths and methods.
    assert requests.get(f"{base}/modules/ai4os-demo-app/metadata", timeout=5).status_code == 400
    slash = requests.get(f"{base}/modules/", headers=ok, timeout=5, allow_redirects=False)
    assert slash.status_code == 307
    assert requests.get(f"{base}/models", headers=ok, timeout=5).status_code == 404
    assert requests.post(f"{base}/modules", headers=ok, timeout=5).status_code == 405
    assert len(catalog_api.refused) == 4


# -- models plan / apply / list / fdl ---------------------------------------------------


def test_catalog_api_plan_egi_example_then_offline_from_cache(
    cli: Cli,
    api_site: Path,
    catalog_api: CatalogApiTestServer,
    oscar_server: OscarTestServer,
    tmp_path: Path,
) -> None:
    ep = ["--oscar-endpoint", oscar_server.url]
    res = cli("models", "plan", str(api_site), *ep)
    assert res.code == 0, res.err
    assert _actions(res) == {m: "create" for m in SITE_MODELS}
    assert "fetched just now" in res.err and "OSCAR_IAC_CATALOG_API overrides" in res.err
    # Only the site's modules, by their metadata route, each once, as JSON.
    asked = sorted(c.path for c in catalog_api.calls)
    assert asked == sorted(f"/v1/catalog/modules/{m}/metadata" for m in SITE_MODELS)
    assert {c.accept for c in catalog_api.calls} == {"application/json"}
    assert catalog_api.refused == []

    # The last good answer is kept, owner-only.
    root = _cache_root(tmp_path / "state")
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 3  # index.json + two ai4-metadata.yml
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))

    # apply registers what the API's metadata says (same reader as a folder catalog).
    assert cli("models", "apply", str(api_site), *ep).code == 0
    # Literals: each module's links.docker_image in the catalog samples the API serves
    # (untagged there, so OSCAR gets `:latest`).
    assert {name: oscar_server.services[name]["image"] for name in SITE_MODELS} == {
        "ai4os-demo-app": "ai4oshub/ai4os-demo-app:latest",
        "plants-classification": "ai4oshub/plants-classification:latest",
    }

    # Offline: the cache answers and says how old it is.
    catalog_api.stop()
    again = cli("models", "plan", str(api_site), *ep)
    assert again.code == 0, again.err
    assert _actions(again) == {m: "unchanged" for m in SITE_MODELS}
    assert "cached copy fetched" in again.err and "ago" in again.err

    # --refresh must fetch: unreachable says so and offers the cached copy.
    forced = cli("models", "plan", str(api_site), *ep, "--refresh")
    assert forced.code == 1
    assert "cannot reach the catalog API" in forced.err and catalog_api.url in forced.err
    assert "cached copy fetched" in forced.err and "without --refresh" in forced.err


def test_catalog_api_list_whole_catalog_and_offline(
    cli: Cli, api_site: Path, catalog_api: CatalogApiTestServer
) -> None:
    import json

    res = cli("models", "list", "--site", str(api_site), "--json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert [r["module"] for r in rows] == catalog_api.module_names()
    assert "ai4os-dev-env" not in {r["module"] for r in rows}  # tools are not models
    folder = {m.module: m for m in read_folder(CATALOG)}
    for r in rows:
        m = folder[r["module"]]
        assert (r["title"], r["image"], r["inference"]) == (m.title, m.image, m.inference)
        assert (r["cpu"], r["memory_mb"], r["gpu"]) == (
            m.resources.cpu,
            m.resources.memory_mb,
            m.resources.gpu,
        )
    assert catalog_api.calls[0].path == "/v1/catalog/modules"
    assert len(catalog_api.metadata_calls()) == len(rows)

    catalog_api.stop()
    offline = cli("models", "list", "--site", str(api_site), "--inference-only")
    assert offline.code == 0, offline.err
    assert "tf-cnn-benchmarks-api" not in offline.out and "plants-classification" in offline.out
    assert "cached copy fetched" in offline.err
    fdl = cli("models", "fdl", "plants-classification", "--site", str(api_site))
    assert fdl.code == 0 and yaml.safe_load(fdl.out)["functions"]["oscar"][0]


def test_catalog_api_unreachable_without_cache_says_so(
    cli: Cli, api_site: Path, catalog_api: CatalogApiTestServer, oscar_server: OscarTestServer
) -> None:
    # Only the site's two modules were cached: the whole list is not there offline.
    assert cli("models", "plan", str(api_site), "--oscar-endpoint", oscar_server.url).code == 0
    catalog_api.stop()
    res = cli("models", "list", "--site", str(api_site))
    assert res.code == 1
    assert "cannot reach the catalog API" in res.err and "lacks: the full module list" in res.err


def test_catalog_api_missing_module_names_module_and_site_line(
    cli: Cli, api_site: Path, catalog_api: CatalogApiTestServer, oscar_server: OscarTestServer
) -> None:
    site_yml = api_site / "site.yml"
    text = site_yml.read_text()
    site_yml.write_text(
        text.replace("  - module: ai4os-demo-app", "  - module: no-such-module").replace(
            "  - module: plants-classification", "  - module: ai4os-dev-env"
        )
    )
    res = cli("models", "plan", str(api_site), "--oscar-endpoint", oscar_server.url)
    assert res.code == 2
    line = _line_of(site_yml, "  - module: no-such-module")
    assert f"site.yml:{line}: models[0].module: 'no-such-module' is not in the catalog API" in (
        res.err
    )
    assert f"site.yml:{line + 1}: models[1].module: 'ai4os-dev-env'" in res.err
    assert "404" in res.err and "tools" in res.err
    assert oscar_server.calls == []  # OSCAR is not even asked


MALFORMED: list[tuple[str, Any, str, str]] = [
    ("not JSON", b"<html>502 Bad Gateway</html>", "", "not JSON"),
    ("not an object", ["a", "list"], "", "expected a JSON object"),
    ("no title", "drop:title", "title", "required field is missing"),
    ("links not a mapping", "set:links=gone", "links.docker_image", "required field is missing"),
    ("image not a string", "set:links.docker_image=42", "links.docker_image", "expected str"),
    ("old schema", "set:metadata_version=1.0.0", "metadata_version", "2.x"),
    ("empty image", "set:links.docker_image=", "links.docker_image", "empty"),
    ("other id", "set:id=someone-else", "id", "expected 'plants-classification'"),
]


def _mangle(good: dict[str, Any], how: Any) -> Any:
    if not isinstance(how, str):
        return how
    meta = yaml.safe_load(yaml.safe_dump(good))
    verb, _, rest = how.partition(":")
    if verb == "drop":
        del meta[rest]
        return meta
    dotted, _, value = rest.partition("=")
    *parents, leaf = dotted.split(".")
    target = meta
    for p in parents:
        target = target[p]
    target[leaf] = int(value) if value.isdigit() else value
    return meta


@pytest.mark.parametrize(("case", "how", "field", "says"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_catalog_api_malformed_answer_names_module_and_field(
    cli: Cli,
    api_site: Path,
    catalog_api: CatalogApiTestServer,
    oscar_server: OscarTestServer,
    tmp_path: Path,
    case: str,
    how: Any,
    field: str,
    says: str,
) -> None:
    ep = ["--oscar-endpoint", oscar_server.url]
    assert cli("models", "plan", str(api_site), *ep).code == 0  # a good answer is cached
    cached = sorted(p.read_bytes() for p in _cache_root(tmp_path / "state").rglob("*.yml"))

    name = "plants-classification"
    catalog_api.override[name] = _mangle(catalog_api.items["modules"][name], how)
    res = cli("models", "plan", str(api_site), *ep, "--refresh")
    assert res.code == 2, (case, res.err)
    url = f"{catalog_api.url}/modules/{name}/metadata"
    assert url in res.err and says in res.err
    if field:
        assert f"{url}: {field}:" in res.err
    # The bad answer replaced nothing: the last good one is still there and used.
    assert sorted(p.read_bytes() for p in _cache_root(tmp_path / "state").rglob("*.yml")) == cached
    assert cli("models", "plan", str(api_site), *ep).code == 0


def test_catalog_api_placeholder_is_refused_for_a_site_and_left_out_of_list(
    cli: Cli, api_site: Path, catalog_api: CatalogApiTestServer, oscar_server: OscarTestServer
) -> None:
    why = "The metadata of this module could not be retrieved because ..."
    catalog_api.break_module("plants-classification", why)
    res = cli("models", "plan", str(api_site), "--oscar-endpoint", oscar_server.url)
    assert res.code == 2
    assert "plants-classification/metadata: tags:" in res.err and "placeholder" in res.err
    listed = cli("models", "list", "--site", str(api_site))
    assert listed.code == 0, listed.err
    assert "left out plants-classification" in listed.err and "ai4os-demo-app" in listed.out
    assert "plants-classification" not in listed.out


@pytest.mark.parametrize(
    ("answer", "field", "says"),
    [
        ({"modules": []}, "", "expected a JSON list of module names"),
        (["ai4os-demo-app", "../../etc"], "[1]", "expected a module name"),
        (["ai4os-demo-app", "ai4os-demo-app"], "", "names a module twice"),
    ],
)
def test_catalog_api_malformed_module_list(
    cli: Cli, api_site: Path, catalog_api: CatalogApiTestServer, answer: Any, field: str, says: str
) -> None:
    catalog_api.names_override = answer
    res = cli("models", "list", "--site", str(api_site))
    assert res.code == 2
    where = f"{catalog_api.url}/modules:" + (f" {field}:" if field else "")
    assert where in res.err and says in res.err
    assert catalog_api.metadata_calls() == []  # nothing fetched from a bad list


# -- transport: retries, timeouts, TLS, concurrency -------------------------------------


def test_catalog_api_retries_transient_errors_a_bounded_number_of_times(
    api_state: Path, catalog_api: CatalogApiTestServer
) -> None:
    path = "/v1/catalog/modules/plants-classification/metadata"
    catalog_api.fail_next[path] = [503, 502]
    settings = FetchSettings(retries=3, backoff=0.01)
    out = catalog_api_load(catalog_api, ["plants-classification"], settings)
    assert set(out.models) == {"plants-classification"}
    assert [c.status for c in catalog_api.calls if c.path == path] == [503, 502, 200]

    catalog_api.fail_next[path] = [503] * 10
    with pytest.raises(DeploymentError, match="answered 503") as exc:
        catalog_api_load(catalog_api, ["plants-classification"], settings, refresh=True)
    assert "cached copy fetched" in "\n".join(exc.value.hints)
    assert len(catalog_api.fail_next[path]) == 10 - 4  # 1 try + 3 retries, then it stopped


def catalog_api_load(
    server: CatalogApiTestServer,
    modules: list[str] | None,
    settings: FetchSettings,
    *,
    refresh: bool = False,
) -> api_source.ApiCatalog:
    return api_source.load("egi-example", server.url, modules, refresh=refresh, settings=settings)


def test_catalog_api_timeout_is_unreachable(
    api_state: Path, catalog_api: CatalogApiTestServer
) -> None:
    catalog_api.latency = 2.0
    settings = FetchSettings(read_timeout=0.2, retries=1, backoff=0.01)
    with pytest.raises(DeploymentError, match="cannot reach the catalog API") as exc:
        catalog_api_load(catalog_api, ["ai4os-demo-app"], settings)
    assert "no cached copy" in "\n".join(exc.value.hints)


def test_catalog_api_verifies_tls(
    api_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server = CatalogApiTestServer(tls=(cert, key)).start()
    try:
        settings = FetchSettings(retries=0)
        with pytest.raises(DeploymentError, match="TLS verification failed"):
            catalog_api_load(server, ["ai4os-demo-app"], settings)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # trusting the CA: accepted
        out = catalog_api_load(server, ["ai4os-demo-app"], settings)
        assert set(out.models) == {"ai4os-demo-app"}
    finally:
        server.stop()


def test_catalog_api_fetches_concurrently(
    api_state: Path, catalog_api: CatalogApiTestServer
) -> None:
    catalog_api.clone(50)
    catalog_api.latency = 0.1
    seen: list[tuple[int, int]] = []
    out = api_source.load(
        "egi-example", catalog_api.url, None, progress=lambda d, t: seen.append((d, t))
    )
    total = len(catalog_api.module_names())
    assert len(out.models) == total
    assert sorted(seen) == [(i, total) for i in range(1, total + 1)]  # the progress bar's feed
    # Not a stopwatch: the double saw several metadata requests in flight at once.
    assert catalog_api.max_in_flight >= 4


# -- the cache folder -------------------------------------------------------------------


def test_catalog_api_cache_survives_interruptions(
    api_state: Path, catalog_api: CatalogApiTestServer, tmp_path: Path
) -> None:
    settings = FetchSettings()
    catalog_api_load(catalog_api, ["ai4os-demo-app"], settings)
    from oscar_iac.catalog.api_cache import cache_dir

    root = cache_dir("egi-example", catalog_api.url)
    # A run stopped half-way left a staging snapshot: the next commit removes it.
    (root / "snap-0-dead").mkdir()
    (root / "snap-0-dead" / "index.json").write_text("{")
    catalog_api_load(catalog_api, ["plants-classification"], settings)
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("snap-")) == [
        os.readlink(root / "current")
    ]
    # Both modules are now cached: offline, either is served from the cache.
    catalog_api.stop()
    out = catalog_api_load(catalog_api, ["ai4os-demo-app", "plants-classification"], settings)
    assert out.from_cache and set(out.models) == {"ai4os-demo-app", "plants-classification"}
    # A broken cache is no cache (and says so when the API is down), never a traceback.
    (root / "current").unlink()
    with pytest.raises(DeploymentError) as exc:
        catalog_api_load(catalog_api, ["ai4os-demo-app"], settings)
    assert "no cached copy" in "\n".join(exc.value.hints)


def test_catalog_api_tampered_cache_is_a_user_error_naming_the_file(
    api_state: Path, catalog_api: CatalogApiTestServer
) -> None:
    catalog_api_load(catalog_api, ["ai4os-demo-app"], FetchSettings())
    from oscar_iac.catalog.api_cache import cache_dir

    root = cache_dir("egi-example", catalog_api.url)
    cached = root / "current" / "modules" / "ai4os-demo-app" / "ai4-metadata.yml"
    cached.write_text("title: [unclosed\n")
    with pytest.raises(UserError, match=r"ai4-metadata\.yml"):
        catalog_api_load(catalog_api, ["ai4os-demo-app"], FetchSettings())
