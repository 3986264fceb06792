"""Stage 2 of the preflight (gate.py), and discovery, on OpenStack and EGI sites, through
openstacksdk.

`run(loaded)` checks, before any VM exists, what makes a cloud deployment fail half-way:
compute limits (cores, RAM, instances) against front + workers + GPU workers in the
flavours IM would pick, Cinder limits for the boot volumes and the NFS volume, floating
IPs and security groups (Neutron quota details), a fitting flavour per role, the image
(`egi://` or `ost://`, as IM 2.0 reads them) visible to the project, and a public network.
Each service is asked once (flavours with their extra specs in one listing; the image by
id), whatever the number of flavours and images. Unreachable APIs give "not checked" rows
naming what could not be checked.

`discover(loaded)` lists the project's flavours, images and external networks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import openstack.connection
import openstack.exceptions
import openstack.utils
import requests
from keystoneauth1 import exceptions as ks_exc

from oscar_iac.errors import UserError
from oscar_iac.im.tokens import MIN_VALIDITY, Token, expiry, find_token, sources
from oscar_iac.preflight import connect as cx
from oscar_iac.preflight.flavours import FlavourInfo, near_misses, pick, units_trap
from oscar_iac.preflight.needs import Needs, needs
from oscar_iac.preflight.offline import vo_member
from oscar_iac.preflight.report import Report
from oscar_iac.secrets import SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import (
    EgiCloud,
    ImTarget,
    LocalCloud,
    NodesCloud,
    OpenStackCloud,
    TokenSource,
)
from oscar_iac.state import site_state_dir

API_ERRORS = (
    ks_exc.ClientException,
    openstack.exceptions.SDKException,
    requests.RequestException,
)


@dataclass
class Site:
    """A scoped connection to the site's project and what was learnt getting it."""

    conn: openstack.connection.Connection
    scoped: cx.Scoped
    http: cx.Http
    cloud: EgiCloud | OpenStackCloud
    cloudinfo: cx.CloudInfo | None = None
    notes: list[tuple[str, str, str, str]] = field(default_factory=list)


def _fresh(token: Token, cfg: TokenSource, site_dir: Path, force: bool = False) -> bool:
    """Make `token` valid for MIN_VALIDITY more seconds: through its own source first, then
    the rest of the token chain. True if the value changed to a usable one."""
    left = token.seconds_left()
    if not force and (left is None or left > MIN_VALIDITY):
        return False
    candidates: list[tuple[str, Callable[[], str | None]]] = [(token.source, token.refresh)]
    candidates += [(n, f) for n, f in sources(cfg, site_dir) if n != token.source]
    for name, fetch in candidates:
        value = fetch()
        if not value or value == token.value:
            continue
        exp = expiry(value)
        if exp is None or exp - time.time() > MIN_VALIDITY:
            token.value, token.source, token.refresh = value, name, fetch
            return True
    return False


def _token_rows(report: Report, token: Token, cloud: EgiCloud | OpenStackCloud, was: str) -> bool:
    """Token and VO rows; False when the token cannot be used at all."""
    left = token.seconds_left()
    note = f"refreshed (the one from {was} had expired)" if token.source != was else ""
    if left is not None and left < MIN_VALIDITY:
        report.add(
            "access token",
            f"valid for {MIN_VALIDITY} s",
            f"expires in {max(left, 0):.0f} s",
            "failed",
            f"from {token.source}; no source in the token chain gave a fresh one",
        )
        return False
    validity = "expiry unknown (not a JWT)" if left is None else f"{left / 60:.0f} min left"
    report.add("access token", "valid", f"from {token.source}, {validity}", "ok", note)
    if isinstance(cloud, EgiCloud):
        member = vo_member(token.value, cloud.vo)
        if member is None:
            report.add("VO membership", cloud.vo, "no entitlement claim", "not checked")
        elif member:
            report.add("VO membership", cloud.vo, "member", "ok")
        else:
            report.add(
                "VO membership", cloud.vo, "not a member", "failed", "no entitlement in the token"
            )
            return False
    return True


def _connect(loaded: LoadedSite, token: Token | None, http: cx.Http, report: Report | None) -> Site:
    tgt = loaded.site.target
    assert isinstance(tgt, ImTarget)
    cloud = tgt.cloud
    assert isinstance(cloud, EgiCloud | OpenStackCloud)
    uses_token = isinstance(cloud, EgiCloud) or cloud.auth == "oidc"
    tok: Token | None = None
    if uses_token:
        tok = token or find_token(tgt.token, loaded.path)
        was = tok.source
        _fresh(tok, tgt.token, loaded.directory)
        if report is not None and not _token_rows(report, tok, cloud, was):
            raise cx.Refused("access token", "see the access token / VO rows")
        if report is None and (tok.seconds_left() or MIN_VALIDITY + 1) < MIN_VALIDITY:
            raise cx.Refused("access token", f"the token from {tok.source} has expired")
    held = tok

    def value() -> str:
        assert held is not None
        return held.value

    def refresh() -> bool:
        assert held is not None
        return _fresh(held, tgt.token, loaded.directory, force=True)

    cloudinfo = None
    if isinstance(cloud, EgiCloud):
        cloudinfo = cx.CloudInfo.from_env(http)
        auth_url = cx.keystone_v3(cloudinfo.keystone_url(cloud.site))
        hint, hint_from = cloud.project_id, "site.yml cloud.project_id"
        if not hint:
            hint = cloudinfo.vo_project(cloud.site, cloud.vo)
            hint_from = "EGI cloud-info (the project IM uses)"
        vo = cloud.vo
        scoped = cx.scope(
            http,
            auth_url,
            cx.oidc_plugin(auth_url, cx.EGI_IDP, value),
            lambda projects: cx.match_vo(projects, vo, hint, hint_from),
            refresh,
        )
    else:
        auth_url = cx.keystone_v3(str(cloud.auth_url))
        cx.check_transport(auth_url, f"{loaded.path}: target.cloud.auth_url")
        if cloud.auth == "oidc":
            plugin = cx.oidc_plugin(auth_url, cloud.username, value)
        else:
            assert cloud.password is not None
            pw = SecretResolver(
                site_dir=loaded.directory, state_dir=site_state_dir(loaded.site.name)
            ).resolve(cloud.password, "cloud_password")
            plugin = cx.password_plugin(auth_url, cloud.username, pw, cloud.domain or "Default")
        want = cloud.project
        scoped = cx.scope(
            http, auth_url, plugin, lambda ps: cx.match_project(ps, want), refresh if tok else None
        )
    conn = openstack.connection.Connection(
        session=scoped.session,
        region_name=cloud.region,
        app_name="oscar-iac",
    )
    return Site(conn, scoped, http, cloud, cloudinfo)


def _get(adapter: Any, path: str, **kwargs: Any) -> Any:
    resp = adapter.get(path, **kwargs)
    openstack.exceptions.raise_from_response(resp)
    return resp.json()


def _flavours(conn: openstack.connection.Connection) -> tuple[list[FlavourInfo], bool]:
    """All flavours the project may use, extra specs included, in one listing (Nova's
    `flavors_links` pages followed). Through openstacksdk's compute proxy (catalog, version
    discovery, microversion negotiation), parsed here from the documented JSON: building
    openstacksdk Flavor objects costs ~7 ms each, 1.4 s for 200 flavours.
    The bool says whether extra specs came with it (microversion >= 2.61)."""
    mv = openstack.utils.maximum_supported_microversion(conn.compute, "2.61")
    specs = mv is not None and tuple(int(x) for x in mv.split(".")) >= (2, 61)
    out: list[FlavourInfo] = []
    url: str | None = "/flavors/detail"
    while url:
        body = _get(conn.compute, url, microversion=mv)
        for f in body.get("flavors", []):
            out.append(
                FlavourInfo(
                    id=str(f["id"]),
                    name=str(f.get("name", "")),
                    vcpus=int(f.get("vcpus") or 0),
                    ram_mib=int(f.get("ram") or 0),
                    disk_gb=int(f.get("disk") or 0),
                    extra_specs={str(k): str(v) for k, v in (f.get("extra_specs") or {}).items()},
                    disabled=bool(f.get("OS-FLV-DISABLED:disabled", False)),
                )
            )
        links = body.get("flavors_links") or []
        url = next((str(x["href"]) for x in links if x.get("rel") == "next"), None)
    return out, specs


def _images(conn: openstack.connection.Connection) -> list[dict[str, Any]]:
    """Every image the project sees, in Glance's largest pages (api_limit_max 1000)."""
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 1000}
    while True:
        body = _get(conn.image, "/images", params=query)
        page = body.get("images", [])
        out += page
        if not body.get("next") or not page:
            return out
        query = {"limit": 1000, "marker": page[-1]["id"]}


def _free(limit: Any, used: Any) -> int | None:
    """Free amount; None when unlimited (-1)."""
    if limit is None or int(limit) < 0:
        return None
    return int(limit) - int(used or 0)


def _quota_row(
    report: Report, check: str, need: int, limit: Any, used: Any, unit: str = ""
) -> None:
    free = _free(limit, used)
    if free is None:
        report.add(check, f"{need}{unit}", "unlimited", "ok")
        return
    available = f"{free}{unit} free of {int(limit)}{unit}"
    report.add(check, f"{need}{unit}", available, "ok" if need <= free else "failed")


@contextmanager
def _checking(report: Report, checks: list[str], what: str) -> Iterator[None]:
    """Run a group of checks; if its API fails, say which checks did not run."""
    try:
        yield
    except cx.Unreachable as exc:
        for c in checks:
            report.add(c, "-", "-", "not checked", f"{exc.what}: {exc.reason}")
    except API_ERRORS as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        for c in checks:
            report.add(c, "-", "-", "not checked", f"{what}: {reason}")


def _image_row(report: Report, site: Site, url: str | None) -> None:
    """The image as IM 2.0's OpenStack connector resolves it (`concrete_system`, `launch`)."""
    if not url:
        report.add(
            "image",
            "an egi:// or ost:// URL",
            "none in cluster.image.url",
            "failed",
            "IM 2.0 launches OpenStack VMs from disk.0.image.url only",
        )
        return
    parsed = urlparse(url)
    keystone_host = urlparse(site.scoped.auth_url).hostname
    image_id: str | None
    if parsed.scheme == "egi":
        cloud = site.cloud
        vo = parsed.query or (cloud.vo if isinstance(cloud, EgiCloud) else "")
        if not isinstance(cloud, EgiCloud) or parsed.netloc != cloud.site:
            report.add(
                "image", url, f"site {parsed.netloc}", "failed", "the URL names another site"
            )
            return
        assert site.cloudinfo is not None
        egi_id = parsed.path.strip("/")
        image_id = site.cloudinfo.egi_image_id(cloud.site, vo, egi_id)
        if image_id is None:
            report.add(
                "image",
                url,
                "not published",
                "failed",
                f"EGI cloud-info lists no image {egi_id!r} for VO {vo} on {cloud.site}",
            )
            return
    elif parsed.scheme == "ost":
        if parsed.hostname != keystone_host:
            report.add(
                "image", url, f"Keystone host {keystone_host}", "failed",
                "IM uses an ost:// image only on the cloud whose host it names",
            )  # fmt: skip
            return
        path = parsed.path.lstrip("/")
        image_id = path[6:] if path.startswith("image/") else path
    else:
        report.add(
            "image",
            url,
            f"scheme {parsed.scheme}://",
            "failed",
            "IM 2.0's OpenStack connector understands egi:// and ost:// image URLs",
        )
        return
    try:
        img = site.conn.image.get_image(image_id)
    except openstack.exceptions.NotFoundException:
        report.add("image", url, f"no image {image_id} visible to the project", "failed")
        return
    status = str(img.status)
    report.add(
        "image",
        url,
        f"{img.name} ({img.id}), {status}, {img.visibility}",
        "ok" if status == "active" else "failed",
    )


def _compute_rows(report: Report, site: Site, need: Needs) -> None:
    flavours, specs_known = _flavours(site.conn)
    cores = ram = 0
    for req in need.roles:
        chosen = pick(flavours, req)
        check = f"flavour ({req.role})"
        if req.gpus and not specs_known:
            report.add(
                check,
                req.label,
                "-",
                "not checked",
                "Nova older than microversion 2.61 lists no extra specs (GPU flavours)",
            )
            cores += req.cpus * req.count
            ram += req.memory_mb * 1000 * 1000 // 2**20 * req.count
            continue
        trap = units_trap(flavours, req, chosen)
        if chosen is None:
            largest = "; ".join(f.describe() for f in near_misses(flavours, req)) or "none"
            report.add(
                check,
                req.label,
                "no fitting flavour",
                "failed",
                " ".join(x for x in (f"largest: {largest} ({len(flavours)} flavours).", trap) if x),
            )
            cores += req.cpus * req.count
            ram += req.memory_mb * 1000 * 1000 // 2**20 * req.count
        else:
            report.add(check, req.label, chosen.describe(), "ok", trap or "the one IM would pick")
            cores += chosen.vcpus * req.count
            ram += chosen.ram_mib * req.count
    lim = site.conn.compute.get_limits().absolute
    _quota_row(report, "instances", need.instances, lim.instances, lim.instances_used)
    _quota_row(report, "cores", cores, lim.total_cores, lim.total_cores_used)
    _quota_row(report, "RAM", ram, lim.total_ram, lim.total_ram_used, " MiB")


def _volume_rows(report: Report, site: Site, need: Needs) -> None:
    lim = site.conn.block_storage.get_limits().absolute
    _quota_row(report, "volumes", need.volumes, lim.max_total_volumes, lim.total_volumes_used)
    _quota_row(
        report,
        "volume storage",
        need.volume_gb,
        lim.max_total_volume_gigabytes,
        lim.total_gigabytes_used,
        " GB",
    )


def _network_rows(report: Report, site: Site, need: Needs) -> None:
    q = site.conn.network.get_quota(site.scoped.project_id, details=True)
    for check, n, detail in (
        ("floating IPs", need.floating_ips, q.floating_ips),
        ("security groups", need.security_groups, q.security_groups),
        ("security group rules", need.security_group_rules, q.security_group_rules),
    ):
        d = detail or {}
        used = int(d.get("used", 0)) + int(d.get("reserved", 0))
        _quota_row(report, check, n, d.get("limit"), used)


def _public_network_row(report: Report, site: Site) -> None:
    nets = [n for n in site.conn.network.networks(is_router_external=True)]
    names = ", ".join(sorted(str(n.name) for n in nets))
    report.add(
        "public network",
        "an external network",
        names or "none",
        "ok" if nets else "failed",
        "" if nets else "IM needs one for the front's public IP",
    )


def run(loaded: LoadedSite, token: Token | None = None, *, timeout: float = cx.TIMEOUT) -> Report:
    """Check the site's cloud before `up`. Bad input (no token source, insecure URL) raises
    UserError; everything else lands in the report."""
    started = time.monotonic()
    report = Report(loaded.site.name)
    tgt = loaded.site.target
    if not isinstance(tgt, ImTarget):
        raise UserError(f"{loaded.path}: target.kind is '{tgt.kind}'; preflight checks clouds")
    cloud = tgt.cloud
    if isinstance(cloud, LocalCloud):
        report.add("cloud", "-", "embedded IM, Dummy cloud", "ok", "nothing to check")
        return report
    if isinstance(cloud, NodesCloud):
        report.add("cloud", "-", "your own machines (nodes cloud)", "ok", "no cloud quota to check")
        return report
    http = cx.Http(verify=tgt.verify_tls, timeout=timeout)
    need = needs(loaded.site)
    api_checks = [
        *(f"flavour ({r.role})" for r in need.roles),
        "instances",
        "cores",
        "RAM",
        "volumes",
        "volume storage",
        "floating IPs",
        "security groups",
        "security group rules",
        "image",
        "public network",
    ]
    try:
        site = _connect(loaded, token, http, report)
    except cx.Refused as exc:
        if exc.check != "access token":
            report.add(exc.check, "-", "-", "failed", exc.message)
        for c in api_checks:
            report.add(c, "-", "-", "not checked", f"no project session ({exc.check} failed)")
        return _done(report, http, started)
    except cx.Unreachable as exc:
        for c in ["project", *api_checks]:
            report.add(c, "-", "-", "not checked", f"{exc.what}: {exc.reason}")
        return _done(report, http, started)
    sc = site.scoped
    report.add(
        "project",
        cloud.vo if isinstance(cloud, EgiCloud) else cloud.project,
        f"{sc.project_name} ({sc.project_id})",
        "ok",
        f"found by {sc.found_by}; Keystone {sc.auth_url}",
    )
    flav_checks = [
        c for c in api_checks if c.startswith("flavour") or c in ("instances", "cores", "RAM")
    ]
    with _checking(report, flav_checks, "compute (Nova)"):
        _compute_rows(report, site, need)
    with _checking(report, ["volumes", "volume storage"], "block storage (Cinder)"):
        _volume_rows(report, site, need)
    net_checks = ["floating IPs", "security groups", "security group rules"]
    with _checking(report, net_checks, "network (Neutron)"):
        _network_rows(report, site, need)
    with _checking(report, ["image"], "image (Glance)"):
        _image_row(report, site, loaded.site.cluster.image.url)
    with _checking(report, ["public network"], "network (Neutron)"):
        _public_network_row(report, site)
    return _done(report, http, started)


def _done(report: Report, http: cx.Http, started: float) -> Report:
    report.requests = http.counter.count
    report.seconds = time.monotonic() - started
    return report


# ------------------------------------------------------------------- discovery


@dataclass
class Inventory:
    site: str
    project_id: str
    project_name: str
    flavours: list[FlavourInfo]
    images: list[dict[str, Any]]
    networks: list[dict[str, Any]]
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "project": {"id": self.project_id, "name": self.project_name},
            "flavours": [f.__dict__ for f in self.flavours],
            "images": self.images,
            "external_networks": self.networks,
        }


def discover(
    loaded: LoadedSite, token: Token | None = None, *, timeout: float = cx.TIMEOUT
) -> Inventory:
    """The flavours, images and external networks the site's project can use.
    Raises UserError (bad input, refused) or cx.Unreachable."""
    tgt = loaded.site.target
    if not isinstance(tgt, ImTarget) or not isinstance(tgt.cloud, EgiCloud | OpenStackCloud):
        raise UserError(f"{loaded.path}: target.cloud is not an OpenStack or EGI cloud")
    http = cx.Http(verify=tgt.verify_tls, timeout=timeout)
    try:
        site = _connect(loaded, token, http, None)
    except cx.Refused as exc:
        raise UserError(f"{loaded.path}: {exc.check}: {exc.message}") from exc
    host = urlparse(site.scoped.auth_url).hostname
    images = [
        {
            "id": str(i["id"]),
            "name": str(i.get("name")),
            "visibility": str(i.get("visibility")),
            "status": str(i.get("status")),
            "url": f"ost://{host}/{i['id']}",
        }
        for i in _images(site.conn)
    ]
    networks = [
        {"id": str(n.id), "name": str(n.name)}
        for n in site.conn.network.networks(is_router_external=True)
    ]
    return Inventory(
        loaded.site.name,
        site.scoped.project_id,
        site.scoped.project_name,
        sorted(_flavours(site.conn)[0], key=lambda f: (f.vcpus, f.ram_mib, f.name)),
        sorted(images, key=lambda i: i["name"]),
        networks,
        http.counter.count,
    )
