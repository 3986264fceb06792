"""The models registry's exact answers: each bad-input Problem names the file, field, line
and what is expected; updates keep the owner; only OSCAR's MinIO restart race is retried,
a bounded number of times. Against the OSCAR contract double (tests/doubles/oscar_server.py)
with the real catalog samples of ../shared/catalog."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import yaml

from doubles.oscar_server import OscarTestServer
from oscar_iac.catalog import read_folder
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.oscar import OscarConnection
from oscar_iac.registry import services
from oscar_iac.site import load_site

REPO = Path(__file__).resolve().parents[2]
CATALOG = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared")) / "catalog"
# What OSCAR v4.1.2 answers when a write meets its MinIO restarted by another request
# (measured on the real OSCAR; see services.TRANSIENT_MINIO).
RACE = "error registering the service's webhook: dial tcp 10.43.0.5:9000: connection refused"


def _site(tmp_path: Path, models_yaml: str, events_yaml: str = "") -> Path:
    """The local site with these models written by hand (`mode` before `module`, so a
    model's line and its `module:` line differ)."""
    data = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    data["catalog"] = {"source": "folder", "location": str(CATALOG)}
    data.pop("models", None)
    data.pop("events", None)
    if events_yaml:
        data["stack"]["nifi"] = {"enabled": True}
    folder = tmp_path / "site"
    folder.mkdir()
    text = yaml.safe_dump(data) + "models:\n" + models_yaml + events_yaml
    (folder / "site.yml").write_text(text)
    return folder


def _line(site: Path, text: str) -> int:
    return (site / "site.yml").read_text().splitlines().index(text) + 1


def _problems(site: Path) -> list[Problem]:
    with pytest.raises(UserError) as err:
        services.desired(load_site(site))
    return err.value.problems


MODELS = "  - mode: async\n    module: ai4os-demo-app\n"


def test_a_model_the_given_catalog_cannot_serve_names_file_field_and_line(
    tmp_path: Path,
) -> None:
    """`desired` with a catalog passed in (an API catalog read earlier) checks each model
    again: one that is missing, or not servable, is a Problem at its `module:` line."""
    site = _site(tmp_path, MODELS + "  - mode: async\n    module: plants-classification\n")
    loaded = load_site(site)
    samples = {m.module: m for m in read_folder(CATALOG)}
    demo, plants = samples["ai4os-demo-app"], samples["plants-classification"]
    where = (site / "site.yml", "models[1].module")
    line = _line(site, "    module: plants-classification")
    for catalog, why in [
        ({"ai4os-demo-app": demo}, "'plants-classification' is not in the catalog"),
        (
            {"ai4os-demo-app": demo, "plants-classification": replace(plants, inference=False)},
            "'plants-classification' is not an inference model",
        ),
    ]:
        with pytest.raises(UserError) as err:
            services.desired(loaded, catalog)
        assert err.value.problems == [Problem(*where, why, line)]


DCACHE = """events:
  - kind: dcache
    name: {name}
    frontend: https://dcache.example.org:3880
    webdav: https://dcache.example.org:2880
    path: /data/{name}
    credential: env:DCACHE_TOKEN
    service: {service}
"""


def test_dcache_input_without_its_source_names_file_field_and_line(tmp_path: Path) -> None:
    site = _site(tmp_path, MODELS + "  - mode: async\n    dcache_input: true\n"
                 "    module: plants-classification\n")  # fmt: skip
    assert _problems(site) == [
        Problem(
            site / "site.yml",
            "models[1].dcache_input",
            "needs a dcache event source whose service is 'plants-classification'",
            _line(site, "    dcache_input: true"),
        )
    ]


def test_dcache_input_comes_from_the_source_of_that_service_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCACHE_TOKEN", "not-a-real-token")
    events = DCACHE.format(name="demo", service="ai4os-demo-app") + DCACHE.format(
        name="plants", service="plants-classification"
    ).removeprefix("events:\n")
    site = _site(
        tmp_path,
        MODELS + "  - mode: async\n    dcache_input: true\n    module: plants-classification\n",
        events,
    )
    want = services.desired(load_site(site))
    plants = [
        i for i in want["plants-classification"]["input"] if "dcache" in i["storage_provider"]
    ]
    assert plants == [{"storage_provider": "webdav.dcache", "path": "data/plants"}]
    # ai4os-demo-app has a dCache source but no dcache_input: MinIO input only.
    assert want["ai4os-demo-app"]["input"] == [
        {"storage_provider": "minio.default", "path": "ai4os-demo-app/in"}
    ]


@pytest.fixture
def conn(oscar_server: OscarTestServer) -> OscarConnection:
    return OscarConnection(oscar_server.url, oscar_server.username, oscar_server.password)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between write attempts, recorded instead of slept (the tests assert
    how often and how long apply waits, not wall-clock time)."""
    got: list[float] = []
    monkeypatch.setattr(time, "sleep", got.append)
    return got


def test_an_update_keeps_the_owner_oscar_recorded(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection
) -> None:
    site = _site(tmp_path, MODELS)
    services.apply(conn, load_site(site))
    oscar_server.services["ai4os-demo-app"]["owner"] = "alice@egi.eu"
    (site / "site.yml").write_text(
        (site / "site.yml").read_text() + "    overrides: {memory: 3 GiB}\n"
    )
    done = services.apply(conn, load_site(site))
    assert done == [services.ServiceChange("ai4os-demo-app", "update", "ai4os-demo-app")]
    assert oscar_server.services["ai4os-demo-app"]["owner"] == "alice@egi.eu"
    assert oscar_server.services["ai4os-demo-app"]["labels"]["oscar-iac/site"] == "local"


def test_a_write_that_lost_the_minio_restart_race_is_retried_after_a_jittered_pause(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection, pauses: list[float]
) -> None:
    site = _site(tmp_path, MODELS)
    oscar_server.write_failures += [("POST", 500, RACE, False), ("POST", 500, RACE, False)]
    done = services.apply(conn, load_site(site))
    assert done == [services.ServiceChange("ai4os-demo-app", "create", "ai4os-demo-app")]
    assert set(oscar_server.services) == {"ai4os-demo-app"}
    posts = [c.status for c in oscar_server.calls if c.method == "POST"]
    assert posts == [500, 500, 201]
    # Pause n waits 1-3 s times n.
    assert len(pauses) == 2
    assert 1.0 <= pauses[0] <= 3.0 and 2.0 <= pauses[1] <= 6.0


def test_a_write_is_tried_ten_times_then_fails_naming_what_and_why(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection, pauses: list[float]
) -> None:
    site = _site(tmp_path, MODELS)
    oscar_server.write_failures += [("POST", 500, RACE, False)] * 11
    with pytest.raises(DeploymentError) as err:
        services.apply(conn, load_site(site))
    assert str(err.value) == f"OSCAR failed to create service ai4os-demo-app (500): {RACE}"
    assert [c.status for c in oscar_server.calls if c.method == "POST"] == [500] * 10
    assert len(pauses) == 9
    assert oscar_server.services == {}


def test_a_refused_write_is_not_retried(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection, pauses: list[float]
) -> None:
    site = _site(tmp_path, MODELS)
    oscar_server.write_failures.append(("POST", 500, "quantities must match", False))
    with pytest.raises(DeploymentError) as err:
        services.apply(conn, load_site(site))
    assert str(err.value) == (
        "OSCAR failed to create service ai4os-demo-app (500): quantities must match"
    )
    assert pauses == [] and len(oscar_server.write_failures) == 0


def test_a_delete_whose_first_attempt_removed_the_service_is_done(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection, pauses: list[float]
) -> None:
    """OSCAR deletes the Kubernetes objects first and the buckets last: a delete that
    failed on a restarting MinIO already removed the service, and the retry gets 404."""
    site = _site(tmp_path, MODELS)
    services.apply(conn, load_site(site))
    oscar_server.write_failures.append(("DELETE", 500, RACE, True))
    done = services.apply(conn, load_site(site), remove_all=True)
    assert done == [services.ServiceChange("ai4os-demo-app", "delete")]
    assert [c.status for c in oscar_server.calls if c.method == "DELETE"] == [500, 404]
    assert oscar_server.services == {} and len(pauses) == 1


def test_a_delete_answered_404_at_once_is_an_error(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection, pauses: list[float]
) -> None:
    """A first delete answered 404 was not ours to call done: someone else removed it
    between the plan and the delete, and the user is told."""
    site = _site(tmp_path, MODELS)
    services.apply(conn, load_site(site))
    oscar_server.write_failures.append(("DELETE", 404, "service not found", False))
    with pytest.raises(DeploymentError) as err:
        services.apply(conn, load_site(site), remove_all=True)
    assert str(err.value) == (
        "OSCAR failed to delete service ai4os-demo-app (404): service not found"
    )
    assert pauses == []


def test_a_delete_that_failed_twice_on_the_race_is_tried_again(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection, pauses: list[float]
) -> None:
    site = _site(tmp_path, MODELS)
    services.apply(conn, load_site(site))
    oscar_server.write_failures += [("DELETE", 500, RACE, False)] * 2
    done = services.apply(conn, load_site(site), remove_all=True)
    assert done == [services.ServiceChange("ai4os-demo-app", "delete")]
    assert [c.status for c in oscar_server.calls if c.method == "DELETE"] == [500, 500, 204]
    assert oscar_server.services == {} and len(pauses) == 2


def test_apply_uses_the_catalog_it_is_given_and_remove_needs_none(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection
) -> None:
    site = _site(tmp_path, MODELS)
    demo = {m.module: m for m in read_folder(CATALOG)}["ai4os-demo-app"]
    given = {"ai4os-demo-app": replace(demo, image="ai4oshub/ai4os-demo-app:1.2.3")}
    services.apply(conn, load_site(site), catalog=given)
    assert oscar_server.services["ai4os-demo-app"]["image"] == "ai4oshub/ai4os-demo-app:1.2.3"
    # The plan compares with the same given catalog: nothing to change the second time.
    again = services.apply(conn, load_site(site), catalog=given)
    assert again == [services.ServiceChange("ai4os-demo-app", "unchanged", "ai4os-demo-app")]
    # Removing everything asks nothing of the catalog: an empty one does.
    done = services.apply(conn, load_site(site), remove_all=True, catalog={})
    assert done == [services.ServiceChange("ai4os-demo-app", "delete")]
    assert oscar_server.services == {}


def test_a_missing_api_module_is_named_at_its_module_line(tmp_path: Path) -> None:
    site = _site(tmp_path, MODELS)
    loaded = load_site(site)
    api = "https://api.cloud.ai4eosc.eu/v1/catalog"
    why = (
        f"'ai4os-demo-app' is not in the catalog API {api} (GET {api}/modules/ai4os-demo-app/"
        f"metadata answered 404; the modules are listed at {api}/modules, and tools under "
        f"{api}/tools are not models)"
    )
    assert services._missing(loaded, "ai4os-demo-app", api) == Problem(
        site / "site.yml", "models[0].module", why, _line(site, "    module: ai4os-demo-app")
    )
    # A module the API listed but does not serve, which the site did not ask for.
    assert services._missing(loaded, "other", api) == Problem(api, "", why.replace(
        "ai4os-demo-app", "other"))  # fmt: skip
    assert set(services.site_catalog(loaded)) == {m.module for m in read_folder(CATALOG)}


def test_an_http_error_without_an_answer_is_a_failure_naming_it() -> None:
    err = services._http_error(requests.HTTPError("connection aborted"), "list services")
    assert isinstance(err, DeploymentError)
    assert str(err) == "OSCAR failed to list services (0): connection aborted"


def test_the_plan_lists_each_service_once_with_its_action(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection
) -> None:
    two = MODELS + "  - mode: async\n    module: plants-classification\n"
    site = _site(tmp_path, two)
    assert services.plan(conn, load_site(site)) == [
        services.ServiceChange("ai4os-demo-app", "create", "ai4os-demo-app"),
        services.ServiceChange("plants-classification", "create", "plants-classification"),
    ]
    services.apply(conn, load_site(site))
    # Another site's managed service and an unlabelled one are never in the plan.
    oscar_server.services["theirs"] = {
        "name": "theirs",
        "labels": {"oscar-iac/managed": "true", "oscar-iac/site": "other"},
    }
    oscar_server.services["plain"] = {"name": "plain", "labels": None}
    oscar_server.services["unmanaged"] = {
        "name": "unmanaged",
        "labels": {"oscar-iac/site": "local"},
    }
    (site / "site.yml").write_text(
        (site / "site.yml").read_text().replace(two, MODELS + "    overrides: {cpu: 0.5}\n")
    )
    assert services.plan(conn, load_site(site)) == [
        services.ServiceChange("ai4os-demo-app", "update", "ai4os-demo-app"),
        services.ServiceChange("plants-classification", "delete"),
    ]
    services.apply(conn, load_site(site))
    assert services.plan(conn, load_site(site)) == [
        services.ServiceChange("ai4os-demo-app", "unchanged", "ai4os-demo-app")
    ]
    assert services.plan(conn, load_site(site), remove_all=True) == [
        services.ServiceChange("ai4os-demo-app", "delete")
    ]


def test_listing_services_fails_in_words(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection
) -> None:
    site = _site(tmp_path, MODELS)
    wrong = OscarConnection(oscar_server.url, oscar_server.username, "wrong")
    with pytest.raises(UserError) as refused:
        services.plan(wrong, load_site(site))
    assert str(refused.value) == "OSCAR refused to list services (401): unauthorized"
    nowhere = OscarConnection("http://127.0.0.1:9/", "oscar", "pw")
    with pytest.raises(DeploymentError) as err:
        services.plan(nowhere, load_site(site))
    # Nothing listens on 127.0.0.1:9 (the discard port): the kernel refuses the connection.
    assert str(err.value) == (
        "cannot reach OSCAR at http://127.0.0.1:9: the connection was refused; site 'local' "
        "runs IM's Dummy cloud, which boots no VM, so nothing answers at its endpoints"
    )


def test_at_most_two_writes_are_in_flight(
    tmp_path: Path, oscar_server: OscarTestServer, conn: OscarConnection
) -> None:
    """OSCAR serializes on its MinIO restarts (services.WRITE_CONCURRENCY, measured): apply
    never keeps more than 2 creates in flight, and `workers=1` keeps one."""
    four = "".join(
        f"  - mode: async\n    module: {m}\n"
        for m in ("ai4os-demo-app", "plants-classification", "dogs-breed-detector", "posenet-tf")
    )
    site = _site(tmp_path, four)
    oscar_server.write_latency = 0.3
    assert len(services.apply(conn, load_site(site))) == 4
    assert len(oscar_server.services) == 4 and oscar_server.most_writes_in_flight <= 2
    services.apply(conn, load_site(site), remove_all=True)
    oscar_server.most_writes_in_flight = 0
    assert len(services.apply(conn, load_site(site), workers=1)) == 4
    assert oscar_server.most_writes_in_flight == 1


def test_the_hash_label_ignores_the_order_of_a_sites_mapping(tmp_path: Path) -> None:
    """A YAML mapping is an unordered set of key/value pairs (YAML 1.2.2, 3.2.1.1), so a
    site that lists its environment in another order wants the same service: the same
    hash label, no update. The label is 16 hex digits: services registered by earlier
    releases carry such labels, and another format would read as changed after an upgrade."""

    def label(folder: str, env: str) -> str:
        (tmp_path / folder).mkdir()
        site = _site(tmp_path / folder, MODELS + f"    overrides: {{environment: {env}}}\n")
        return str(services.desired(load_site(site))["ai4os-demo-app"]["labels"]["oscar-iac/hash"])

    ab = label("ab", "{A: '1', B: '2'}")
    assert label("ba", "{B: '2', A: '1'}") == ab
    assert label("changed", "{A: '1', B: '3'}") != ab
    assert len(ab) == 16 and set(ab) <= set("0123456789abcdef")


def test_a_relative_catalog_folder_is_read_from_the_site_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README ("Where the catalog comes from") gives a folder catalog's location as
    relative to the site folder; the current directory plays no part."""
    site = _site(tmp_path, MODELS)
    shutil.copytree(CATALOG, site / "my-catalog")
    data = yaml.safe_load((site / "site.yml").read_text())
    data["catalog"] = {"source": "folder", "location": "my-catalog"}
    (site / "site.yml").write_text(yaml.safe_dump(data))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    got = services.load_catalog(load_site(site))
    assert set(got.models) == {m.module for m in read_folder(CATALOG)}
