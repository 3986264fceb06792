"""`oscar-iac events plan|apply|remove` for dCache sources delivered through NiFi 2.x.

Real: oscar-iac's CLI and backend, nipyapi 1.8.1's client (its generated APIs make every
request), the flow generator. Doubles: NiFi's REST API (doubles.nifi_server, enforcing
nipyapi's models and NiFi 2.x's paths and rules) and OSCAR (doubles.oscar_server).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from doubles.nifi_server import RunningNifi, start
from doubles.oscar_server import OscarTestServer
from helpers.cli import CliResult
from oscar_iac.events.nifi_flow import FlowInputs, build_flow, flow_digest, parse_marker
from oscar_iac.versions import pin

REPO = Path(__file__).resolve().parents[2]
Cli = Callable[..., CliResult]
NIFI_PASSWORD = "nifi-password-for-tests"
GROUP = "oscar-iac-dcsite-plants-dcache"


@pytest.fixture
def nifi(tmp_path: Path) -> Iterator[RunningNifi]:
    running = start(tmp_path, "oscar-iac", NIFI_PASSWORD)
    try:
        yield running
    finally:
        running.stop()


def _write_site(folder: Path, path: str = "/data/plants") -> Path:
    site = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    site["name"] = "dcsite"
    site.setdefault("stack", {})["nifi"] = {"enabled": True, "password": "env:NIFI_PASSWORD"}
    # An event feeds a service of the site's own models (site rule): one async model.
    site["models"] = [{"module": "plants-classification", "service": "plants", "mode": "async"}]
    site["events"] = [
        {
            "kind": "dcache",
            "name": "plants-dcache",
            "frontend": "https://dcache.example.org:3880",
            "webdav": "https://dcache.example.org:2880",
            "path": path,
            "recursive": True,
            "auth": "oidc",
            "credential": "env:DCACHE_TOKEN",
            "service": "plants",
        }
    ]
    folder.mkdir(exist_ok=True)
    (folder / "site.yml").write_text(yaml.safe_dump(site, sort_keys=False))
    return folder


@pytest.fixture
def site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    nifi: RunningNifi,
    oscar_server: OscarTestServer,
) -> Path:
    oscar_server.services["plants"] = {"name": "plants", "token": "svc-token-1"}
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("OSCAR_PASSWORD", oscar_server.password)
    monkeypatch.setenv("OSCAR_IAC_NIFI_URL", nifi.url)
    monkeypatch.setenv("OSCAR_IAC_NIFI_CA", str(nifi.ca))
    monkeypatch.setenv("NIFI_PASSWORD", NIFI_PASSWORD)
    monkeypatch.setenv("DCACHE_TOKEN", "dcache-token-1")
    return _write_site(tmp_path / "dcsite")


def _events(cli: Cli, op: str, site: Path, oscar: OscarTestServer) -> CliResult:
    return cli("events", op, str(site), "--oscar-endpoint", oscar.url)


def _actions(out: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in out.splitlines():
        # Piped (as here) a table is plain aligned lines: columns apart by 2+ spaces.
        cells = [c.strip() for c in re.split(r"│| {2,}", line) if c.strip()]
        if len(cells) >= 4 and cells[1] == "dcache":
            # Rich may shorten the object column: the kind of object is enough here.
            obj = cells[2]
            key = "parameter-context" if obj.startswith("param") else "process-group"
            found[key] = cells[3]
    return found


def _writes(nifi: RunningNifi) -> list[tuple[str, str, int]]:
    return [c for c in nifi.double.log if c[0] != "GET" and "/access/" not in c[1]]


def test_nifi_apply_uploads_starts_and_is_idempotent(
    cli: Cli, site: Path, nifi: RunningNifi, oscar_server: OscarTestServer
) -> None:
    r = _events(cli, "plan", site, oscar_server)
    assert r.code == 0, r.out + r.err
    assert _actions(r.out) == {"parameter-context": "create", "process-group": "create"}
    assert not _writes(nifi), "plan changed NiFi"

    r = _events(cli, "apply", site, oscar_server)
    assert r.code == 0, r.out + r.err
    assert _actions(r.out) == {"parameter-context": "create", "process-group": "create"}
    group = nifi.double.by_name(GROUP)
    assert group is not None and group.running
    marker = parse_marker(group.comments)
    assert marker["site"] == "dcsite" and marker["source"] == "plants-dcache"
    assert marker["flow"] == flow_digest(group.snapshot)
    ctx = nifi.double.contexts[group.context_id or ""]
    assert ctx.name == GROUP
    assert ctx.params["oscar-authorization"] == ("Bearer svc-token-1", True)
    assert ctx.params["dcache-credential"] == ("dcache-token-1", True)
    assert json.loads(ctx.params["listener-config"][0] or "")["auth"] == {
        "kind": "oidc",
        "token_env": "DCACHE_CREDENTIAL",
    }
    uploaded = nifi.double.uploads[-1].decode()
    assert "svc-token-1" not in uploaded and "dcache-token-1" not in uploaded
    # What was uploaded is exactly the definition tests/nifi/flowcheck checks with NiFi's code.
    inputs = FlowInputs(
        site="dcsite", source="plants-dcache", frontend="https://dcache.example.org:3880/",
        webdav="https://dcache.example.org:2880/", path="/data/plants", recursive=True,
        auth="oidc", username=None, verify_tls=True, oscar_url=oscar_server.url,
        service="plants", nifi_version=pin("nifi"),
    )  # fmt: skip
    assert json.loads(uploaded) == build_flow(inputs)
    assert "svc-token-1" not in r.out + r.err and "dcache-token-1" not in r.out + r.err

    before = len(_writes(nifi))
    r = _events(cli, "apply", site, oscar_server)
    assert r.code == 0, r.out + r.err
    assert _actions(r.out) == {"parameter-context": "unchanged", "process-group": "unchanged"}
    assert len(_writes(nifi)) == before, "a second apply changed NiFi"
    r = _events(cli, "plan", site, oscar_server)
    assert _actions(r.out) == {"parameter-context": "unchanged", "process-group": "unchanged"}


def test_nifi_new_token_updates_the_context_and_keeps_the_group(
    cli: Cli, site: Path, nifi: RunningNifi, oscar_server: OscarTestServer
) -> None:
    assert _events(cli, "apply", site, oscar_server).code == 0
    group = nifi.double.by_name(GROUP)
    assert group is not None
    oscar_server.services["plants"]["token"] = "svc-token-2"
    r = _events(cli, "plan", site, oscar_server)
    assert _actions(r.out) == {"parameter-context": "update", "process-group": "unchanged"}
    r = _events(cli, "apply", site, oscar_server)
    assert r.code == 0, r.out + r.err
    assert _actions(r.out) == {"parameter-context": "update", "process-group": "unchanged"}
    assert nifi.double.by_name(GROUP) is group and group.running
    ctx = nifi.double.contexts[group.context_id or ""]
    assert ctx.params["oscar-authorization"] == ("Bearer svc-token-2", True)
    assert not nifi.double.update_requests, "the update request was not deleted"


def test_nifi_changed_flow_replaces_the_group_but_never_drops_queued_events(
    cli: Cli, site: Path, nifi: RunningNifi, oscar_server: OscarTestServer
) -> None:
    assert _events(cli, "apply", site, oscar_server).code == 0
    old = nifi.double.by_name(GROUP)
    assert old is not None
    _write_site(site, path="/data/plants-v2")
    old.queued = 3
    r = _events(cli, "apply", site, oscar_server)
    assert r.code != 0
    assert "3 queued event(s)" in r.out + r.err
    assert nifi.double.groups.get(old.id) is old and not old.running, "must stop, not delete"

    old.queued = 0
    r = _events(cli, "apply", site, oscar_server)
    assert r.code == 0, r.out + r.err
    # The refused run had already updated the context (it goes first): this one resumes.
    assert _actions(r.out) == {"parameter-context": "unchanged", "process-group": "update"}
    new = nifi.double.by_name(GROUP)
    assert new is not None and new.id != old.id and new.running
    assert old.id not in nifi.double.groups
    config = json.loads(
        nifi.double.contexts[new.context_id or ""].params["listener-config"][0] or ""
    )
    assert config["paths"] == ["/data/plants-v2"]


def test_nifi_remove_touches_only_its_own_groups(
    cli: Cli, site: Path, nifi: RunningNifi, oscar_server: OscarTestServer
) -> None:
    assert _events(cli, "apply", site, oscar_server).code == 0
    ours = nifi.double.by_name(GROUP)
    assert ours is not None
    ours.active_after_stop = 3  # the listener's run is still ending when the stop is asked
    foreign = nifi.double.add_foreign_group("someone-elses-flow")
    other_site = nifi.double.add_foreign_group(
        "oscar-iac-othersite-plants-dcache",
        "oscar-iac site=othersite source=plants-dcache flow=0000",
    )
    r = _events(cli, "remove", site, oscar_server)
    assert r.code == 0, r.out + r.err
    assert _actions(r.out) == {"process-group": "delete", "parameter-context": "delete"}
    assert set(nifi.double.groups) == {nifi.double.root_id, foreign.id, other_site.id}
    assert not nifi.double.contexts
    r = _events(cli, "remove", site, oscar_server)
    assert r.code == 0, r.out + r.err
    assert _actions(r.out) == {"process-group": "unchanged", "parameter-context": "unchanged"}


def test_nifi_group_with_our_name_but_not_ours_is_refused(
    cli: Cli, site: Path, nifi: RunningNifi, oscar_server: OscarTestServer
) -> None:
    squatter = nifi.double.add_foreign_group(GROUP)
    r = _events(cli, "apply", site, oscar_server)
    assert r.code != 0
    assert "did not create" in r.out + r.err
    assert set(nifi.double.groups) == {nifi.double.root_id, squatter.id}
    assert not nifi.double.contexts


def test_nifi_wrong_password_is_a_clear_error(
    cli: Cli, site: Path, monkeypatch: pytest.MonkeyPatch, oscar_server: OscarTestServer
) -> None:
    monkeypatch.setenv("NIFI_PASSWORD", "not-the-password")
    r = _events(cli, "apply", site, oscar_server)
    assert r.code != 0
    assert "login 'oscar-iac' refused" in r.out + r.err
    assert "not-the-password" not in r.out + r.err


# ------------------------------------------------------------------ the double's contract


def _raw(
    nifi: RunningNifi, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, str]:
    import urllib3

    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(nifi.ca))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = http.request(
        method,
        nifi.url + "/nifi-api" + path,
        body=None if body is None else json.dumps(body),
        headers=headers,
    )
    return r.status, r.data.decode()


def _token(nifi: RunningNifi) -> str:
    import urllib3

    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(nifi.ca))
    r = http.request(
        "POST",
        nifi.url + "/nifi-api/access/token",
        fields={"username": "oscar-iac", "password": NIFI_PASSWORD},
        encode_multipart=False,
    )
    assert r.status == 201
    return str(r.data.decode())


def test_nifi_double_refuses_what_nifi_2_refuses(nifi: RunningNifi) -> None:
    assert _raw(nifi, "GET", "/flow/about")[0] == 401
    token = _token(nifi)
    assert _raw(nifi, "GET", "/flow/about", token=token)[0] == 200
    # NiFi 2 has no variable registry (NIFI-12505).
    status, text = _raw(nifi, "GET", "/process-groups/root/variable-registry", token=token)
    assert status == 404 and "no GET" in text
    # Bodies must fit nipyapi's models.
    body = {"revision": {"version": 0}, "component": {"name": "x", "variables": {}}}
    status, text = _raw(nifi, "POST", "/parameter-contexts", body, token=token)
    assert status == 400 and 'Unrecognized field "variables"' in text
    body = {"revision": {"version": 0}, "component": {"name": "x", "parameters": []}}
    status, text = _raw(nifi, "POST", "/parameter-contexts", body, token=token)
    assert status == 201
    cid = json.loads(text)["id"]
    # Deletes need the current revision.
    assert _raw(nifi, "DELETE", f"/parameter-contexts/{cid}", token=token)[0] == 400
    assert (
        _raw(nifi, "DELETE", f"/parameter-contexts/{cid}?version=7&clientId=c", token=token)[0]
        == 409
    )
    assert (
        _raw(nifi, "DELETE", f"/parameter-contexts/{cid}?version=1&clientId=c", token=token)[0]
        == 200
    )
