"""Preflight and discover: the real openstacksdk/keystoneauth against the OpenStack double.

Every test ends by checking the double saw no request the real APIs do not define.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from doubles.openstack_server import Cloud, OpenStackDouble, flavor
from helpers.cli import CliResult
from oscar_iac.errors import UserError
from oscar_iac.im.tokens import Token
from oscar_iac.preflight import openstack as po
from oscar_iac.preflight.report import Report
from oscar_iac.site import load_site
from preflight.conftest import jwt

Site = Callable[..., Path]


def rows(report: Report) -> dict[str, tuple[str, str, str]]:
    return {r.check: (r.outcome, r.needed, r.available) for r in report.rows}


def strict(double: OpenStackDouble) -> None:
    assert double.failures == [], f"requests the real APIs would reject: {double.failures}"


def test_preflight_enough_quota_is_ready(double: OpenStackDouble, egi_site: Site) -> None:
    report = po.run(load_site(egi_site()))
    got = rows(report)
    assert report.verdict == "ready", report.summary()
    # '8 GiB' is 8590 MB in IM's units: m1.large (8192 MiB) does not fit, IM takes m1.xlarge.
    assert got["flavour (front)"][0] == "ok" and "m1.xlarge" in got["flavour (front)"][2]
    assert "m1.xlarge" in got["flavour (workers)"][2]
    front = next(r for r in report.rows if r.check == "flavour (front)")
    assert "m1.large does not fit" in front.detail and "'8 GB' would take it" in front.detail
    assert got["cores"][:2] == ("ok", "24")  # 3 VMs x the flavour's 8 vCPU
    assert got["RAM"][:2] == ("ok", "49152 MiB")
    assert got["instances"][:2] == ("ok", "3")
    # 3 boot volumes of 50 GiB (54 GB as IM asks Cinder) + NFS 100 GiB (107 GB).
    assert got["volumes"][:2] == ("ok", "4") and got["volume storage"][:2] == ("ok", "269 GB")
    assert got["project"][0] == "ok" and double.cloud.project_id in got["project"][2]
    assert got["image"][0] == "ok" and got["public network"] == (
        "ok",
        "an external network",
        "public",
    )
    assert got["VO membership"][0] == "ok"
    strict(double)


SHORTAGES: list[tuple[str, Callable[[Cloud], None], str]] = [
    ("cores", lambda c: c.compute.update(maxTotalCores=40, totalCoresUsed=20), "cores"),
    ("ram", lambda c: c.compute.update(maxTotalRAMSize=65536, totalRAMUsed=20000), "RAM"),
    ("instances", lambda c: c.compute.update(maxTotalInstances=5, totalInstancesUsed=3), "instances"),
    ("volumes", lambda c: c.volume.update(maxTotalVolumes=10, totalVolumesUsed=7), "volumes"),
    ("gigabytes", lambda c: c.volume.update(maxTotalVolumeGigabytes=300, totalGigabytesUsed=100), "volume storage"),
    ("floating-ip", lambda c: c.network_quota["floatingip"].update(limit=2, used=2), "floating IPs"),
    ("security-groups", lambda c: c.network_quota["security_group"].update(limit=10, used=9), "security groups"),
    ("sg-rules", lambda c: c.network_quota["security_group_rule"].update(limit=100, used=95), "security group rules"),
    ("public-network", lambda c: c.networks.pop(0), "public network"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "change", "check"), SHORTAGES, ids=[s[0] for s in SHORTAGES])
def test_preflight_reports_each_shortage(
    double: OpenStackDouble,
    egi_site: Site,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    kind: str,
    change: Callable[[Cloud], None],
    check: str,
) -> None:
    change(double.cloud)
    site = egi_site()
    report = po.run(load_site(site))
    assert report.verdict == "missing"
    assert [r.check for r in report.missing] == [check]
    res = cli("preflight", str(site))
    assert res.code == 1 and "missing" in res.out and check in res.out
    up = cli("up", str(site))
    assert up.code == 2, up.err
    assert "preflight failed" in up.err and check in up.err and "--ignore-preflight" in up.err
    # Nothing created: `up` records its phases, so a state file may exist, but it names
    # no infrastructure and records the preflight phase as failed.
    for recorded_file in (tmp_path / "state").rglob("deployment.json"):
        recorded = json.loads(recorded_file.read_text())
        assert recorded["inf_id"] is None
        assert recorded["phases"]["preflight"]["status"] == "failed"
    strict(double)


def test_preflight_no_fitting_flavour(double: OpenStackDouble, egi_site: Site) -> None:
    report = po.run(
        load_site(
            egi_site(
                {
                    "front": {"cpus": 64, "memory": "8 GiB", "disk": "50 GiB"},
                    "gpu_workers": {"count": 1, "cpus": 8, "memory": "16 GiB", "gpus": 2},
                }
            )
        )
    )
    got = rows(report)
    assert got["flavour (front)"][:3] == ("failed", "64 vCPU, 8590 MB", "no fitting flavour")
    # The only GPU flavour has one NVIDIA GPU (EGI's Accelerator:* extra specs).
    assert got["flavour (gpu workers)"][0] == "failed"
    assert "2 NVIDIA GPU" in got["flavour (gpu workers)"][1]
    assert got["flavour (workers)"][0] == "ok"
    strict(double)


def test_preflight_gpu_flavour_fits(double: OpenStackDouble, egi_site: Site) -> None:
    report = po.run(
        load_site(egi_site({"gpu_workers": {"count": 1, "cpus": 4, "memory": "16 GiB"}}))
    )
    assert "g1.xlarge-1v100" in rows(report)["flavour (gpu workers)"][2]
    assert report.verdict == "ready"
    strict(double)


def test_preflight_old_nova_cannot_check_gpu_flavours(
    double: OpenStackDouble, egi_site: Site
) -> None:
    """Before microversion 2.61 Nova lists no extra specs: GPU flavours cannot be told."""
    double.cloud.nova_max_microversion = "2.60"
    report = po.run(
        load_site(egi_site({"gpu_workers": {"count": 1, "cpus": 4, "memory": "16 GiB"}}))
    )
    got = rows(report)
    assert got["flavour (gpu workers)"][0] == "not checked"
    assert got["flavour (front)"][0] == "ok" and report.verdict == "unchecked"
    strict(double)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("egi://IFCA-LCG2/egi_vm_images/ubuntu:99.04?vo.access.egi.eu", "not published"),
        ("ost://127.0.0.1/0b0b0b0b-0000-0000-0000-000000000000", "no image"),
        ("egi://OTHER-SITE/egi_vm_images/ubuntu:22.04?vo.access.egi.eu", "site OTHER-SITE"),
    ],
)
def test_preflight_image_missing(
    double: OpenStackDouble, egi_site: Site, url: str, why: str
) -> None:
    report = po.run(load_site(egi_site({"image": {"url": url}})))
    outcome, needed, available = rows(report)["image"]
    assert outcome == "failed" and needed == url and why in available
    assert [r.check for r in report.missing] == ["image"]
    strict(double)


def test_preflight_appdb_image_is_refused_before_any_call(
    double: OpenStackDouble, egi_site: Site
) -> None:
    # IM 2.0 has no appdb:// support (its OpenStack connector takes egi:// and ost://):
    # the site rules refuse it at load, so preflight never asks the cloud about it.
    with pytest.raises(UserError, match="appdb://"):
        load_site(
            egi_site({"image": {"url": "appdb://IFCA-LCG2/egi.ubuntu.22.04?vo.access.egi.eu"}})
        )
    assert double.calls == []


def test_preflight_ost_image_by_id(double: OpenStackDouble, egi_site: Site) -> None:
    image = double.cloud.images[0]["id"]
    report = po.run(load_site(egi_site({"image": {"url": f"ost://127.0.0.1/{image}"}})))
    assert rows(report)["image"][0] == "ok"
    strict(double)


def test_preflight_expired_token_is_refreshed_through_the_chain(
    double: OpenStackDouble,
    egi_site: Site,
    monkeypatch: pytest.MonkeyPatch,
    stand_in: Callable[[str, str], Path],
    cli: Callable[..., CliResult],
) -> None:
    """The env token expired; the chain's next source (oidc-agent) gives a fresh one."""
    expired = jwt(time.time() - 60)
    fresh = jwt(time.time() + 3600)
    monkeypatch.setenv("EGI_ACCESS_TOKEN", expired)
    stand_in("oidc-token", fresh)
    site = egi_site()
    res = cli("preflight", str(site), "--json")
    assert res.code == 0, res.out
    token_row = next(c for c in json.loads(res.out)["checks"] if c["check"] == "access token")
    assert "oidc-agent account egi" in token_row["available"] and "refreshed" in token_row["detail"]
    assert double.federation_tokens_seen == [fresh]  # the expired one never left
    strict(double)


def test_preflight_revoked_token_refreshed_after_401(
    double: OpenStackDouble, egi_site: Site
) -> None:
    """Keystone refuses a token whose exp looks fine; preflight asks the source again."""
    old, new = jwt(time.time() + 3000), jwt(time.time() + 3600)
    double.revoked.add(old)
    token = Token(old, "oidc-agent account egi", lambda: new)
    report = po.run(load_site(egi_site()), token)
    assert report.verdict == "ready", report.summary()
    assert double.federation_tokens_seen == [old, new]
    strict(double)


def test_preflight_expired_token_without_fresh_source_fails(
    double: OpenStackDouble, egi_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EGI_ACCESS_TOKEN", jwt(time.time() - 60))
    report = po.run(load_site(egi_site({}, {})))
    got = rows(report)
    assert got["access token"][0] == "failed"
    assert got["cores"][0] == "not checked"
    assert double.federation_tokens_seen == []
    strict(double)


def test_preflight_non_member_refused_before_any_api(
    double: OpenStackDouble, egi_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "EGI_ACCESS_TOKEN", jwt(time.time() + 3600, ["urn:mace:egi.eu:group:x:role=member"])
    )
    report = po.run(load_site(egi_site()))
    assert rows(report)["VO membership"][0] == "failed" and report.verdict == "missing"
    assert double.calls == []


def test_preflight_api_unreachable_says_what_was_not_checked(
    double: OpenStackDouble,
    egi_site: Site,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> None:
    monkeypatch.setenv("OSCAR_IAC_EGI_CLOUDINFO_URL", f"http://127.0.0.1:{double.closed_port}")
    site = egi_site()
    res = cli("preflight", str(site), "--json")
    assert res.code == 1
    data = json.loads(res.out)
    assert data["verdict"] == "unchecked"
    not_checked = {c["check"]: c["detail"] for c in data["checks"] if c["outcome"] == "not checked"}
    assert {"project", "cores", "RAM", "instances", "image", "floating IPs"} <= set(not_checked)
    assert "EGI cloud-info" in not_checked["cores"] and "connection failed" in not_checked["cores"]
    up = cli("up", str(site))
    assert up.code == 1 and "could not check" in up.err
    assert double.calls == []


def test_preflight_keystone_unreachable(double: OpenStackDouble, egi_site: Site) -> None:
    double.cloud.unreachable.add("identity")  # cloud-info names a Keystone that is down
    report = po.run(load_site(egi_site()))
    assert report.verdict == "unchecked" and not report.missing
    detail = {r.check: r.detail for r in report.unchecked}
    assert "Keystone at http://127.0.0.1:" in detail["project"]
    assert "connection failed" in detail["cores"]
    strict(double)


def test_preflight_one_service_unreachable(double: OpenStackDouble, egi_site: Site) -> None:
    double.cloud.unreachable.add("block-storage")
    report = po.run(load_site(egi_site()))
    got = rows(report)
    assert report.verdict == "unchecked"
    assert {r.check for r in report.unchecked} == {"volumes", "volume storage"}
    assert got["cores"][0] == "ok" and got["image"][0] == "ok"
    strict(double)


def test_preflight_project_found_by_vo_name(double: OpenStackDouble, egi_site: Site) -> None:
    """cloud-info does not know the VO's project: the visible project named after the VO."""
    double.cloud.cloudinfo_knows_project = False
    report = po.run(load_site(egi_site()))
    project = next(r for r in report.rows if r.check == "project")
    assert project.outcome == "ok" and double.cloud.project_id in project.available
    assert "named after the VO" in project.detail
    strict(double)


def test_preflight_project_not_visible(double: OpenStackDouble, egi_site: Site) -> None:
    double.cloud.project_name = "some-other-name"
    report = po.run(load_site(egi_site({}, {"project_id": "ffffffffffffffffffffffffffffffff"})))
    outcome, _, _ = rows(report)["project"]
    assert outcome == "failed"
    assert "ffffffffffffffffffffffffffffffff" in report.missing[0].detail
    strict(double)


def test_preflight_plain_openstack_password(
    double: OpenStackDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    double.cloud.users["oscar"] = "s3cret-pw"
    monkeypatch.setenv("OS_TEST_PASSWORD", "s3cret-pw")
    site = tmp_path / "plain"
    site.mkdir()
    image = double.cloud.images[0]["id"]
    (site / "site.yml").write_text(
        f"""name: plain
target:
  kind: im
  endpoint: https://im.example.org
  cloud:
    kind: openstack
    auth_url: {double.auth_url}
    project: {double.cloud.project_name}
    auth: password
    username: oscar
    password: env:OS_TEST_PASSWORD
cluster:
  name: c
  domain: example.org
  image: {{url: "ost://127.0.0.1/{image}"}}
artifacts:  # a remote IM reads no file:// URL of this machine (site rule)
  repo_url: https://example.org/oscar-iac/releases/oscar-iac-0.1.0.tar.gz
  entry_url: https://example.org/oscar-iac/raw/v0.1.0
"""
    )
    report = po.run(load_site(site))
    assert report.verdict == "ready", report.summary()
    project = next(r for r in report.rows if r.check == "project")
    assert "cloud.project (name)" in project.detail and double.cloud.project_id in project.available
    assert "access token" not in rows(report)  # password sites use no token
    strict(double)
    double.cloud.users["oscar"] = "changed"
    refused = po.run(load_site(site))
    assert [r.check for r in refused.missing] == ["credentials"]
    assert "refused the credentials (401)" in refused.missing[0].detail
    strict(double)


def test_preflight_refuses_plain_http_to_remote_keystone(
    double: OpenStackDouble, egi_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCAR_IAC_EGI_CLOUDINFO_URL", "http://is.cloud.example.org")
    from oscar_iac.errors import UserError

    with pytest.raises(UserError, match="not https"):
        po.run(load_site(egi_site()))
    assert double.calls == []


def test_up_ignore_preflight_goes_on_loudly(
    double: OpenStackDouble,
    egi_site: Site,
    cli: Callable[..., CliResult],
) -> None:
    double.cloud.compute.update(maxTotalCores=4)
    closed = f"http://127.0.0.1:{double.closed_port}"
    site = egi_site()
    text = (site / "site.yml").read_text().replace("https://im.egi.eu/im", closed)
    (site / "site.yml").write_text(text)
    res = cli("up", str(site), "--ignore-preflight", "--quiet")
    assert "WARNING: preflight is not ready" in res.err and "cores" in res.err
    assert res.code == 1  # it went on, to an IM that is not there


def test_discover_preflight_lists_flavours_and_images(
    double: OpenStackDouble, egi_site: Site, cli: Callable[..., CliResult]
) -> None:
    site = egi_site()
    res = cli("discover", str(site), "--json")
    assert res.code == 0, res.err
    data: dict[str, Any] = json.loads(res.out)
    names = [f["name"] for f in data["flavours"]]
    assert "m1.xlarge" in names and "g1.xlarge-1v100" in names and len(names) == 7
    assert [f["disabled"] for f in data["flavours"] if f["name"] == "m1.retired"] == [True]
    assert len(data["images"]) == 2 and data["images"][0]["url"].startswith("ost://127.0.0.1/")
    assert data["project"]["id"] == double.cloud.project_id
    plain = cli("discover", str(site))
    assert plain.code == 0 and "m1.xlarge" in plain.out and "external networks: public" in plain.out
    strict(double)


def test_discover_preflight_unreachable_exits_1(
    double: OpenStackDouble,
    egi_site: Site,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> None:
    monkeypatch.setenv("OSCAR_IAC_EGI_CLOUDINFO_URL", f"http://127.0.0.1:{double.closed_port}")
    res = cli("discover", str(egi_site()))
    assert res.code == 1 and "EGI cloud-info" in res.err and "connection failed" in res.err


@pytest.mark.parametrize(("flavours", "images"), [(0, 0), (200, 500)])
def test_preflight_requests_do_not_grow_with_flavours_or_images(
    monkeypatch: pytest.MonkeyPatch, egi_site: Site, flavours: int, images: int
) -> None:
    from doubles.openstack_server import standard_cloud

    d = OpenStackDouble(standard_cloud(flavours, images)).start()
    try:
        monkeypatch.setenv("OSCAR_IAC_EGI_CLOUDINFO_URL", d.cloudinfo_url)
        monkeypatch.setenv("EGI_ACCESS_TOKEN", jwt(time.time() + 3600))
        report = po.run(load_site(egi_site()))
        assert report.verdict == "ready"
        assert report.requests == len(d.calls) <= 17
        assert not any("/flavors/" in c.path and "detail" not in c.path for c in d.calls)
        assert [c.path for c in d.calls].count("/compute/v2.1/flavors/detail") == 1
        assert not any(c.path == "/image/v2/images" for c in d.calls)
        assert d.failures == []
    finally:
        d.stop()


def test_preflight_double_rejects_undefined_requests(double: OpenStackDouble) -> None:
    import requests

    assert requests.get(f"{double.base}/compute/v2.1/servers/detail", timeout=5).status_code == 404
    assert requests.delete(f"{double.base}/compute/v2.1/limits", timeout=5).status_code == 405
    assert double.failures == [
        "404 GET /compute/v2.1/servers/detail",
        "405 DELETE /compute/v2.1/limits",
    ]
    double.failures.clear()


def test_preflight_flavour_choice_matches_im() -> None:
    """Our re-statement of IM 2.0's flavour choice against IM's own get_instance_type."""
    from IM.connectors.OpenStack import OpenStackCloudConnector
    from libcloud.compute.base import NodeSize
    from radl.radl import Feature, system

    from oscar_iac.preflight.flavours import FlavourInfo, pick
    from oscar_iac.preflight.needs import RoleRequest, im_units

    specs = [
        flavor("m1.large", 4, 8192, 40),
        flavor("m1.large-plus", 4, 9216, 40),
        flavor("m1.xlarge", 8, 16384, 80),
        flavor("pci.big", 4, 65536, 80, {"pci_passthrough:alias": "a100:2"}),
        flavor("gpu.small", 4, 16384, 40, {"Accelerator:Type": "GPU", "Accelerator:Number": "1", "Accelerator:Vendor": "NVIDIA"}),
        flavor("gpu.big", 16, 65536, 80, {"Accelerator:Type": "GPU", "Accelerator:Number": "4", "Accelerator:Vendor": "NVIDIA"}),
        flavor("tiny.disk", 8, 32768, 2),
        flavor("off", 4, 9000, 40, disabled=True),
    ]  # fmt: skip

    class Driver:
        def list_sizes(self) -> list[NodeSize]:
            out = []
            for f in specs:
                extra = {"disabled": f["OS-FLV-DISABLED:disabled"]}
                size = NodeSize(f["id"], f["name"], f["ram"], f["disk"], 0, None, self, extra)
                size.vcpus = f["vcpus"]
                out.append(size)
            return out

        def ex_get_size_extra_specs(self, size_id: str) -> dict[str, str]:
            return next(dict(f["extra_specs"]) for f in specs if f["id"] == size_id)

    im = object.__new__(OpenStackCloudConnector)  # no __init__: it would turn TLS checks off
    im.logger = __import__("logging").getLogger("im-under-test")
    im.inf = None
    ours = [
        FlavourInfo(f["id"], f["name"], f["vcpus"], f["ram"], f["disk"], f["extra_specs"], f["OS-FLV-DISABLED:disabled"])
        for f in specs
    ]  # fmt: skip
    cases = [
        (4, "8 GiB", "50 GiB", 0, None),
        (4, "8 GB", "50 GiB", 0, None),
        (2, "1 GiB", "50 GiB", 0, None),
        (8, "20 GiB", "50 GiB", 0, None),
        (4, "8 GiB", "50 GiB", 1, None),
        (4, "8 GiB", "50 GiB", 2, None),
        (32, "8 GiB", "50 GiB", 0, None),
        (1, "0 B", "0 B", 0, "m1.x*"),
        (1, "0 B", "0 B", 0, "tiny.disk"),
    ]
    for cpus, mem, disk, gpus, itype in cases:
        radl_sys = system("node")
        if itype:
            radl_sys.addFeature(Feature("instance_type", "=", itype))
            req = RoleRequest("r", 1, 1, 0, 0, itype, gpus, "NVIDIA" if gpus else None)
        else:
            radl_sys.addFeature(Feature("cpu.count", ">=", cpus))
            radl_sys.addFeature(Feature("memory.size", ">=", im_units(mem, "M") * 10**6, "B"))
            radl_sys.addFeature(Feature("disk.0.size", ">=", im_units(disk, "G") * 10**9, "B"))
            req = RoleRequest("r", 1, cpus, im_units(mem, "M"), im_units(disk, "G"), None, gpus, "NVIDIA" if gpus else None)  # fmt: skip
        if gpus:
            radl_sys.addFeature(Feature("gpu.count", ">=", gpus))
            radl_sys.addFeature(Feature("gpu.vendor", "=", "NVIDIA"))
        theirs = im.get_instance_type(Driver(), radl_sys)
        mine = pick(ours, req)
        assert (theirs.name if theirs else None) == (mine.name if mine else None), (
            cpus, mem, gpus, itype
        )  # fmt: skip


@pytest.mark.parametrize(
    ("glue_url", "v3"),
    [
        ("https://api.cloud.ifca.es:5000/v3/", "https://api.cloud.ifca.es:5000/v3"),
        ("https://keystone.example.org:5000/v3", "https://keystone.example.org:5000/v3"),
        ("https://cloud.example.org/identity/v3", "https://cloud.example.org/identity/v3"),
        ("https://keystone.example.org:5000/", "https://keystone.example.org:5000/v3"),
        ("https://keystone.example.org:5000/v2.0", "https://keystone.example.org:5000/v3"),
    ],
)
def test_preflight_keystone_url_from_cloud_info(glue_url: str, v3: str) -> None:
    from oscar_iac.preflight.connect import keystone_base, keystone_v3

    assert keystone_v3(keystone_base(glue_url)) == v3


def test_discover_preflight_prints_cloud_names_as_text(
    double: OpenStackDouble, egi_site: Site, cli: Callable[..., CliResult]
) -> None:
    # Names come from the cloud: a `[/]` or `[...]` in them is text, not Rich markup
    # (issue 11, item 5: markup crashed the printer or silently ate the brackets).
    from doubles.openstack_server import flavor

    double.cloud.flavors.append(flavor("odd[/]name", 2, 4096))
    res = cli("discover", str(egi_site()))
    assert res.code == 0, res.err
    assert "odd[/]name" in res.out
    assert "[Ubuntu/22.04/VirtualBox]" in res.out
