"""An OpenStack (+ EGI cloud-info) test double for preflight and discovery.

No OpenStack can run here. This loopback server answers the requests openstacksdk and
keystoneauth make for oscar-iac's preflight, shaped as the published API references
define them, and nothing else:

  Keystone v3   https://docs.openstack.org/api-ref/identity/v3/ and
                https://docs.openstack.org/api-ref/identity/v3-ext/ (OS-FEDERATION)
    GET  /identity/  /identity/v3/                 version documents (unauthenticated)
    GET|POST /identity/v3/OS-FEDERATION/identity_providers/{idp}/protocols/{protocol}/auth
         (keystone api-ref v3-ext/federation/auth/auth.inc: both methods)
         `Authorization: Bearer <OIDC access token>` -> 201, unscoped token in
         X-Subject-Token (unknown IdP/protocol -> 404, expired/unknown token -> 401)
    GET  /identity/v3/auth/projects                the projects a token may scope to
    POST /identity/v3/auth/tokens                  `token` or `password` method, project
         scope -> 201 with the service catalog
  Nova v2.1     https://docs.openstack.org/api-ref/compute/
    GET /compute/ /compute/v2.1/, /flavors, /flavors/detail (limit/marker pagination;
    `extra_specs` only from microversion 2.61: openstacksdk compute/v2/flavor.py
    `_max_microversion`), /flavors/{id}, /flavors/{id}/os-extra_specs, /limits (absolute
    limits and usage; the network ones gone from 2.36)
  Glance v2     https://docs.openstack.org/api-ref/image/v2/
    GET /image/ (300 Multiple Choices; /versions 200, glance api-ref versions.inc),
    /image/v2/images (glance's limit_param_default 25, api_limit_max 1000, `next` link),
    /image/v2/images/{id}
  Neutron v2.0  https://docs.openstack.org/api-ref/network/v2/
    GET /network/, /v2.0/networks (router:external filter), /v2.0/floatingips,
    /v2.0/security-groups, /v2.0/quotas/{project_id}, /v2.0/quotas/{project_id}/details
    (neutron-lib api-ref v2/quota_details.inc: used/limit/reserved, -1 = no limit)
  Cinder v3     https://docs.openstack.org/api-ref/block-storage/v3/
    GET /volume/ (200/300), /volume/v3 (volumes-v3-versions.inc),
    /volume/v3/{project_id}/limits (limits.inc: -1 = infinite)
  EGI cloud-info-api (the service IM 2.0's FedcloudInfo asks, https://is.cloud.egi.eu;
  routes from EGI-Federation/cloud-info-api app/main.py)
    GET /cloudinfo/site/{site}/, /site/{site}/projects, /site/{site}/{vo}/project,
        /site/{site}/{vo}/images

Service APIs need `X-Auth-Token` with a token scoped to the project (401 otherwise).
Any other path is 404 and any other method on a known path 405; both are recorded in
`failures`, which the tests check stays empty. Every request is recorded in `calls`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Json = dict[str, Any]
Reply = tuple[int, Any, dict[str, str]]


def jwt_exp(token: str) -> float | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def flavor(
    name: str,
    vcpus: int,
    ram_mib: int,
    disk_gb: int = 20,
    extra_specs: dict[str, str] | None = None,
    disabled: bool = False,
) -> Json:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "name": name,
        "vcpus": vcpus,
        "ram": ram_mib,
        "disk": disk_gb,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "swap": 0,
        "rxtx_factor": 1.0,
        "os-flavor-access:is_public": True,
        "OS-FLV-DISABLED:disabled": disabled,
        "description": None,
        "extra_specs": extra_specs or {},
    }


def image(name: str, visibility: str = "public", image_id: str | None = None) -> Json:
    return {
        "id": image_id or str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "name": name,
        "status": "active",
        "visibility": visibility,
        "protected": False,
        "os_hidden": False,
        "container_format": "bare",
        "disk_format": "qcow2",
        "min_disk": 0,
        "min_ram": 0,
        "size": 2361393152,
        "tags": [],
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": "2026-11-01T00:00:00Z",
        "owner": "0f5d7a1c2b3e4d5f8a9b0c1d2e3f4a5b",
        "schema": "/v2/schemas/image",
    }


@dataclass
class Cloud:
    """What the double's project has and uses. Tests change it before a run."""

    site: str = "IFCA-LCG2"
    vo: str = "vo.access.egi.eu"
    project_id: str = "8a3f0e6c9b1d4c2e9f7a6b5c4d3e2f10"
    project_name: str = "VO:vo.access.egi.eu"
    other_projects: list[Json] = field(
        default_factory=lambda: [
            {"id": "1b2c3d4e5f60718293a4b5c6d7e8f901", "name": "VO:other.vo", "enabled": True}
        ]
    )
    identity_provider: str = "egi.eu"
    protocols: tuple[str, ...] = ("openid",)
    # Local users for the `password` method (plain OpenStack sites).
    users: dict[str, str] = field(default_factory=dict)
    flavors: list[Json] = field(default_factory=list)
    images: list[Json] = field(default_factory=list)
    # cloud-info's EGI images for the VO (egi_id -> image id at the site).
    egi_images: dict[str, str] = field(default_factory=dict)
    networks: list[Json] = field(default_factory=list)
    compute: Json = field(
        default_factory=lambda: {
            "maxTotalCores": 100,
            "totalCoresUsed": 0,
            "maxTotalRAMSize": 204800,
            "totalRAMUsed": 0,
            "maxTotalInstances": 20,
            "totalInstancesUsed": 0,
        }
    )
    volume: Json = field(
        default_factory=lambda: {
            "maxTotalVolumes": 20,
            "totalVolumesUsed": 0,
            "maxTotalVolumeGigabytes": 2000,
            "totalGigabytesUsed": 0,
        }
    )
    network_quota: dict[str, Json] = field(
        default_factory=lambda: {
            "floatingip": {"limit": 10, "used": 0, "reserved": 0},
            "security_group": {"limit": 10, "used": 1, "reserved": 0},
            "security_group_rule": {"limit": 100, "used": 4, "reserved": 0},
            "network": {"limit": 10, "used": 1, "reserved": 0},
            "port": {"limit": 50, "used": 2, "reserved": 0},
            "router": {"limit": 10, "used": 1, "reserved": 0},
            "subnet": {"limit": 10, "used": 1, "reserved": 0},
        }
    )
    # Whether cloud-info knows the VO's project at this site (GET /site/{site}/{vo}/project).
    cloudinfo_knows_project: bool = True
    # Nova's newest microversion (extra_specs come with flavours from 2.61).
    nova_max_microversion: str = "2.96"
    # Services whose endpoints the catalog lists at a closed port (unreachable).
    unreachable: set[str] = field(default_factory=set)


@dataclass
class Call:
    method: str
    path: str
    query: str


class OpenStackDouble:
    def __init__(self, cloud: Cloud | None = None, latency: float = 0.0) -> None:
        self.cloud = cloud or Cloud()
        self.latency = latency
        self.calls: list[Call] = []
        self.failures: list[str] = []
        # Access tokens that were revoked at the IdP although their `exp` is ahead.
        self.revoked: set[str] = set()
        self.federation_tokens_seen: list[str] = []
        self._tokens: dict[str, Json] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.closed_port = _closed_port()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> OpenStackDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def cloudinfo_url(self) -> str:
        return f"{self.base}/cloudinfo"

    @property
    def auth_url(self) -> str:
        return f"{self.base}/identity/v3"

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def service_calls(self) -> list[Call]:
        return list(self.calls)

    # ------------------------------------------------------------------ helpers
    def _endpoint(self, service: str, path: str) -> str:
        if service in self.cloud.unreachable:
            return f"http://127.0.0.1:{self.closed_port}{path}"
        return f"{self.base}{path}"

    def _catalog(self) -> list[Json]:
        pid = self.cloud.project_id
        entries = [
            ("identity", "keystone", "/identity/v3"),
            ("compute", "nova", "/compute/v2.1"),
            ("image", "glance", "/image"),
            ("network", "neutron", "/network"),
            ("block-storage", "cinder", f"/volume/v3/{pid}"),
            ("volumev3", "cinderv3", f"/volume/v3/{pid}"),
        ]
        out = []
        for stype, name, path in entries:
            url = self._endpoint(stype if stype != "volumev3" else "block-storage", path)
            out.append(
                {
                    "type": stype,
                    "name": name,
                    "id": uuid.uuid5(uuid.NAMESPACE_URL, stype).hex,
                    "endpoints": [
                        {
                            "id": uuid.uuid5(uuid.NAMESPACE_URL, stype + i).hex,
                            "interface": i,
                            "region": "RegionOne",
                            "region_id": "RegionOne",
                            "url": url,
                        }
                        for i in ("public", "internal")
                    ],
                }
            )
        return out

    def _issue(self, project: Json | None, methods: list[str], user: str) -> tuple[str, Json]:
        tok = secrets.token_hex(16)
        now = time.time()
        body: Json = {
            "methods": methods,
            "user": {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, user).hex,
                "name": user,
                "domain": {"id": "federated" if "mapped" in methods else "default", "name": ""},
            },
            "audit_ids": [secrets.token_urlsafe(16)],
            "issued_at": _iso(now),
            "expires_at": _iso(now + 3600),
        }
        if "mapped" in methods:
            body["user"]["OS-FEDERATION"] = {
                "identity_provider": {"id": self.cloud.identity_provider},
                "protocol": {"id": self.cloud.protocols[0]},
                "groups": [],
            }
        if project is not None:
            body["project"] = {
                "id": project["id"],
                "name": project["name"],
                "domain": {"id": "default", "name": "Default"},
            }
            body["roles"] = [{"id": uuid.uuid4().hex, "name": "member"}]
            body["catalog"] = self._catalog()
        self._tokens[tok] = {"project": project["id"] if project else None, "exp": now + 3600}
        return tok, {"token": body}

    def _projects(self) -> list[Json]:
        own = {"id": self.cloud.project_id, "name": self.cloud.project_name, "enabled": True}
        return [own, *self.cloud.other_projects]

    def _scoped(self, headers: Any) -> str | None:
        """The project id of a valid X-Auth-Token, '' for a valid unscoped one."""
        tok = headers.get("X-Auth-Token")
        info = self._tokens.get(tok or "")
        if not info or info["exp"] < time.time():
            return None
        return info["project"] or ""

    # ------------------------------------------------------------------ routes
    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Reply]]]:
        r: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/identity/?", self.keystone_versions),
            ("GET", r"/identity/v3/?", self.keystone_v3),
            (
                "POST",
                r"/identity/v3/OS-FEDERATION/identity_providers/(?P<idp>[^/]+)/protocols/(?P<protocol>[^/]+)/auth",
                self.federation_auth,
            ),
            (
                "GET",
                r"/identity/v3/OS-FEDERATION/identity_providers/(?P<idp>[^/]+)/protocols/(?P<protocol>[^/]+)/auth",
                self.federation_auth,
            ),
            ("GET", r"/identity/v3/auth/projects", self.auth_projects),
            ("POST", r"/identity/v3/auth/tokens", self.auth_tokens),
            ("GET", r"/compute/?", self.nova_versions),
            ("GET", r"/compute/v2\.1/?", self.nova_v21),
            ("GET", r"/compute/v2\.1/flavors/detail", self.flavors_detail),
            ("GET", r"/compute/v2\.1/flavors", self.flavors_list),
            ("GET", r"/compute/v2\.1/flavors/(?P<fid>[^/]+)", self.flavor_show),
            ("GET", r"/compute/v2\.1/flavors/(?P<fid>[^/]+)/os-extra_specs", self.flavor_specs),
            ("GET", r"/compute/v2\.1/limits", self.nova_limits),
            ("GET", r"/image/?", self.glance_versions),
            ("GET", r"/image/versions", self.glance_versions_200),
            ("GET", r"/image/v2/images", self.images_list),
            ("GET", r"/image/v2/images/(?P<iid>[^/]+)", self.image_show),
            ("GET", r"/network/?", self.neutron_versions),
            ("GET", r"/network/v2\.0/networks", self.networks),
            ("GET", r"/network/v2\.0/floatingips", self.floatingips),
            ("GET", r"/network/v2\.0/security-groups", self.security_groups),
            ("GET", r"/network/v2\.0/quotas/(?P<pid>[^/]+)", self.neutron_quota),
            ("GET", r"/network/v2\.0/quotas/(?P<pid>[^/]+)/details", self.neutron_quota_details),
            ("GET", r"/volume/?", self.cinder_versions),
            ("GET", r"/volume/v3/?", self.cinder_v3),
            ("GET", r"/volume/v3/(?P<pid>[^/]+)/limits", self.cinder_limits),
            ("GET", r"/cloudinfo/site/(?P<site>[^/]+)/", self.ci_site),
            ("GET", r"/cloudinfo/site/(?P<site>[^/]+)/projects", self.ci_projects),
            ("GET", r"/cloudinfo/site/(?P<site>[^/]+)/(?P<vo>[^/]+)/project", self.ci_project),
            ("GET", r"/cloudinfo/site/(?P<site>[^/]+)/(?P<vo>[^/]+)/images", self.ci_images),
        ]
        return [(m, re.compile(p + r"\Z"), h) for m, p, h in r]

    # Keystone ------------------------------------------------------------------
    def _v3_doc(self) -> Json:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.base}/identity/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }

    def keystone_versions(self, **_: Any) -> Reply:
        return 300, {"versions": {"values": [self._v3_doc()]}}, {}

    def keystone_v3(self, **_: Any) -> Reply:
        return 200, {"version": self._v3_doc()}, {}

    def federation_auth(self, headers: Any, idp: str, protocol: str, **_: Any) -> Reply:
        if idp != self.cloud.identity_provider or protocol not in self.cloud.protocols:
            return _error(404, f"Could not find Identity Provider/protocol: {idp}/{protocol}.")
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return _error(401, "The request you have made requires authentication.")
        access = auth[len("Bearer ") :]
        self.federation_tokens_seen.append(access)
        exp = jwt_exp(access)
        if exp is None or exp < time.time() or access in self.revoked:
            return _error(401, "The request you have made requires authentication.")
        tok, body = self._issue(None, ["mapped"], "federated-user")
        return 201, body, {"X-Subject-Token": tok}

    def auth_projects(self, headers: Any, **_: Any) -> Reply:
        if self._scoped(headers) is None:
            return _error(401, "The request you have made requires authentication.")
        projects = [
            {**p, "domain_id": "default", "is_domain": False, "parent_id": "default"}
            for p in self._projects()
        ]
        return 200, {"projects": projects, "links": {"self": "", "next": None}}, {}

    def auth_tokens(self, body: Json | None, **_: Any) -> Reply:
        auth = (body or {}).get("auth") or {}
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or []
        user = "federated-user"
        if methods == ["token"]:
            info = self._tokens.get((identity.get("token") or {}).get("id", ""))
            if not info or info["exp"] < time.time():
                return _error(401, "The request you have made requires authentication.")
            out_methods = ["token", "mapped"]
        elif methods == ["password"]:
            pw_user = (identity.get("password") or {}).get("user") or {}
            user = pw_user.get("name", "")
            if self.cloud.users.get(user) != pw_user.get("password") or not user:
                return _error(401, "The request you have made requires authentication.")
            out_methods = ["password"]
        else:
            return _error(400, "Expecting to find identity methods token or password.")
        scope = (auth.get("scope") or {}).get("project")
        project = None
        if scope is not None:
            project = next(
                (
                    p
                    for p in self._projects()
                    if p["id"] == scope.get("id") or p["name"] == scope.get("name")
                ),
                None,
            )
            if project is None:
                return _error(401, "You are not authorized for the requested project.")
        tok, out = self._issue(project, out_methods, user)
        return 201, out, {"X-Subject-Token": tok}

    # Nova -----------------------------------------------------------------------
    def _v21_doc(self) -> Json:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": self.cloud.nova_max_microversion,
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/"}],
        }

    def nova_versions(self, **_: Any) -> Reply:
        return 200, {"versions": [self._v21_doc()]}, {}

    def nova_v21(self, **_: Any) -> Reply:
        return 200, {"version": self._v21_doc()}, {}

    def _need_project(self, headers: Any) -> Reply | None:
        if self._scoped(headers) != self.cloud.project_id:
            return _error(401, "The request you have made requires authentication.")
        return None

    def _flavor_out(self, f: Json, micro: tuple[int, int], detail: bool) -> Json:
        link = [{"rel": "self", "href": f"{self.base}/compute/v2.1/flavors/{f['id']}"}]
        if not detail:
            return {"id": f["id"], "name": f["name"], "links": link}
        out = {k: v for k, v in f.items() if k != "extra_specs"}
        out["links"] = link
        if micro < (2, 55):
            out.pop("description")
        if micro >= (2, 61):
            out["extra_specs"] = dict(f["extra_specs"])
        return out

    def _flavors(self, headers: Any, query: dict[str, list[str]], detail: bool) -> Reply:
        if err := self._need_project(headers):
            return err
        micro = _microversion(headers, "compute", (2, 1))
        top = tuple(int(x) for x in self.cloud.nova_max_microversion.split("."))
        if micro > top:
            return _error(406, f"Version {micro[0]}.{micro[1]} is not supported by the API.")
        items = sorted(self.cloud.flavors, key=lambda f: f["id"])  # Nova sorts by flavorid
        marker = (query.get("marker") or [None])[0]
        if marker:
            ids = [f["id"] for f in items]
            if marker not in ids:
                return _error(400, f"marker [{marker}] not found")
            items = items[ids.index(marker) + 1 :]
        limit = min(int((query.get("limit") or ["1000"])[0]), 1000)
        page = items[:limit]
        key = "flavors"
        body: Json = {key: [self._flavor_out(f, micro, detail) for f in page]}
        if len(items) > limit:
            path = "flavors/detail" if detail else "flavors"
            body["flavors_links"] = [
                {
                    "rel": "next",
                    "href": f"{self.base}/compute/v2.1/{path}?limit={limit}&marker={page[-1]['id']}",
                }
            ]
        return 200, body, {}

    def flavors_detail(self, headers: Any, query: dict[str, list[str]], **_: Any) -> Reply:
        return self._flavors(headers, query, True)

    def flavors_list(self, headers: Any, query: dict[str, list[str]], **_: Any) -> Reply:
        return self._flavors(headers, query, False)

    def flavor_show(self, headers: Any, fid: str, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        f = next((f for f in self.cloud.flavors if f["id"] == fid), None)
        if f is None:
            return _error(404, f"Flavor {fid} could not be found.")
        return 200, {"flavor": self._flavor_out(f, _microversion(headers, "compute"), True)}, {}

    def flavor_specs(self, headers: Any, fid: str, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        f = next((f for f in self.cloud.flavors if f["id"] == fid), None)
        if f is None:
            return _error(404, f"Flavor {fid} could not be found.")
        return 200, {"extra_specs": dict(f["extra_specs"])}, {}

    def nova_limits(self, headers: Any, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        absolute = {
            "maxServerMeta": 128,
            "maxImageMeta": 128,
            "maxPersonality": 5,
            "maxPersonalitySize": 10240,
            "maxServerGroups": 10,
            "maxServerGroupMembers": 10,
            "totalServerGroupsUsed": 0,
            "maxTotalKeypairs": 100,
            **self.cloud.compute,
        }
        micro = _microversion(headers, "compute", (2, 1))
        if micro < (2, 36):
            absolute.update(
                maxTotalFloatingIps=10,
                totalFloatingIpsUsed=0,
                maxSecurityGroups=10,
                totalSecurityGroupsUsed=0,
                maxSecurityGroupRules=20,
            )
        if micro >= (2, 57):
            for k in ("maxPersonality", "maxPersonalitySize", "maxImageMeta"):
                absolute.pop(k, None)
        return 200, {"limits": {"rate": [], "absolute": absolute}}, {}

    # Glance -----------------------------------------------------------------------
    def glance_versions(self, **_: Any) -> Reply:
        versions = [
            {
                "id": f"v2.{n}",
                "status": "CURRENT" if n == 17 else "SUPPORTED",
                "links": [{"rel": "self", "href": f"{self.base}/image/v2/"}],
            }
            for n in range(17, -1, -1)
        ]
        return 300, {"versions": versions}, {}

    def glance_versions_200(self, **_: Any) -> Reply:
        # GET /versions answers 200 and GET / 300 (glance api-ref versions/versions.inc).
        _, body, headers = self.glance_versions()
        return 200, body, headers

    def images_list(self, headers: Any, query: dict[str, list[str]], **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        items = sorted(self.cloud.images, key=lambda i: (i["created_at"], i["id"]), reverse=True)
        for key in ("name", "visibility", "status", "id"):
            if key in query:
                items = [i for i in items if i.get(key) == query[key][0]]
        marker = (query.get("marker") or [None])[0]
        if marker:
            ids = [i["id"] for i in items]
            if marker not in ids:
                return _error(400, f"Invalid marker. Image {marker} could not be found.")
            items = items[ids.index(marker) + 1 :]
        limit = min(int((query.get("limit") or ["25"])[0]), 1000)
        page = items[:limit]
        body: Json = {"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"}
        if len(items) > limit:
            body["next"] = f"/v2/images?marker={page[-1]['id']}&limit={limit}"
        return 200, body, {}

    def image_show(self, headers: Any, iid: str, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        img = next((i for i in self.cloud.images if i["id"] == iid), None)
        if img is None:
            return _error(404, f"No image found with ID {iid}")
        return 200, img, {}

    # Neutron ----------------------------------------------------------------------
    def neutron_versions(self, **_: Any) -> Reply:
        doc = {
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": f"{self.base}/network/v2.0/"}],
        }
        return 200, {"versions": [doc]}, {}

    def networks(self, headers: Any, query: dict[str, list[str]], **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        items = self.cloud.networks
        if "router:external" in query:
            want = query["router:external"][0].lower() == "true"
            items = [n for n in items if n.get("router:external") is want]
        return 200, {"networks": items}, {}

    def floatingips(self, headers: Any, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        used = self.cloud.network_quota["floatingip"]["used"]
        return 200, {"floatingips": [{"id": uuid.uuid4().hex} for _ in range(used)]}, {}

    def security_groups(self, headers: Any, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        used = self.cloud.network_quota["security_group"]["used"]
        groups = [{"id": uuid.uuid4().hex, "name": f"sg{n}"} for n in range(used)]
        return 200, {"security_groups": groups}, {}

    def neutron_quota(self, headers: Any, pid: str, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        if pid != self.cloud.project_id:
            return _error(403, "Not authorized.")
        return 200, {"quota": {k: v["limit"] for k, v in self.cloud.network_quota.items()}}, {}

    def neutron_quota_details(self, headers: Any, pid: str, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        if pid != self.cloud.project_id:
            return _error(403, "Not authorized.")
        return 200, {"quota": {k: dict(v) for k, v in self.cloud.network_quota.items()}}, {}

    # Cinder -----------------------------------------------------------------------
    def cinder_versions(self, **_: Any) -> Reply:
        doc = {
            "id": "v3.0",
            "status": "CURRENT",
            "version": "3.71",
            "min_version": "3.0",
            "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.base}/volume/v3/"}],
        }
        return 300, {"versions": [doc]}, {}

    def cinder_v3(self, **_: Any) -> Reply:
        # GET /v3/ answers the v3 version document (block-storage api-ref "API versions").
        _, body, headers = self.cinder_versions()
        return 200, body, headers

    def cinder_limits(self, headers: Any, pid: str, **_: Any) -> Reply:
        if err := self._need_project(headers):
            return err
        if pid != self.cloud.project_id:
            return _error(403, "Policy doesn't allow this project's limits.")
        absolute = {
            "maxTotalSnapshots": 10,
            "totalSnapshotsUsed": 0,
            "maxTotalBackups": 10,
            "totalBackupsUsed": 0,
            "maxTotalBackupGigabytes": 1000,
            "totalBackupGigabytesUsed": 0,
            **self.cloud.volume,
        }
        return 200, {"limits": {"rate": [], "absolute": absolute}}, {}

    # cloud-info --------------------------------------------------------------------
    def _site_or_404(self, site: str) -> Reply | None:
        if site != self.cloud.site:
            return 404, {"detail": f"Site {site} not found"}, {}
        return None

    def ci_site(self, site: str, **_: Any) -> Reply:
        if err := self._site_or_404(site):
            return err
        body = {
            "id": "13373G0",
            "name": site,
            "url": self._endpoint("identity", "/identity/v3/"),
            "state": "",
            "hostname": "127.0.0.1",
        }
        return 200, body, {}

    def ci_projects(self, site: str, **_: Any) -> Reply:
        if err := self._site_or_404(site):
            return err
        return 200, [{"id": self.cloud.project_id, "name": self.cloud.vo}], {}

    def ci_project(self, site: str, vo: str, **_: Any) -> Reply:
        if err := self._site_or_404(site):
            return err
        if vo != self.cloud.vo or not self.cloud.cloudinfo_knows_project:
            return 404, {"detail": f"VO {vo} not supported by Site {site}"}, {}
        return 200, {"id": self.cloud.project_id, "name": vo}, {}

    def ci_images(self, site: str, vo: str, **_: Any) -> Reply:
        if err := self._site_or_404(site):
            return err
        if vo != self.cloud.vo:
            return 404, {"detail": f"VO {vo} not supported by Site {site}"}, {}
        out = [
            {
                "egi_id": egi_id,
                "id": image_id,
                "endpoint": f"{self.base}/identity/v3/",
                "mpuri": f"https://appdb.egi.eu/store/vo/image/{image_id}/",
                "name": egi_id,
                "version": "2026.11.01",
                "vo": vo,
            }
            for egi_id, image_id in self.cloud.egi_images.items()
        ]
        return 200, out, {}

    # ------------------------------------------------------------------ HTTP plumbing
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self
        routes = self._routes()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one segment (flushed after each request): unbuffered
            # writes meet Nagle + delayed ACK and cost ~40 ms a request on loopback.
            wbufsize = 1 << 16

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _dispatch(self, method: str) -> None:
                if double.latency:
                    time.sleep(double.latency)
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with double._lock:
                    double.calls.append(Call(method, parts.path, parts.query))
                path_known = False
                for m, pattern, fn in routes:
                    match = pattern.match(parts.path)
                    if not match:
                        continue
                    path_known = True
                    if m != method:
                        continue
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        self._send(*_error(400, "Malformed JSON body"))
                        return
                    with double._lock:
                        reply = fn(
                            headers=self.headers,
                            query=parse_qs(parts.query),
                            body=body,
                            **match.groupdict(),
                        )
                    self._send(*reply)
                    return
                code = 405 if path_known else 404
                with double._lock:
                    double.failures.append(f"{code} {method} {self.path}")
                self._send(*_error(code, f"the API defines no {method} {parts.path}"))

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def do_HEAD(self) -> None:
                self._dispatch("HEAD")

        return Handler


def _microversion(headers: Any, service: str, default: tuple[int, int] = (2, 1)) -> tuple[int, int]:
    value = headers.get("OpenStack-API-Version") or ""
    m = re.match(rf"\s*{service}\s+(\d+)\.(\d+)", value)
    if not m:
        legacy = headers.get("X-OpenStack-Nova-API-Version") if service == "compute" else None
        m = re.match(r"\s*(\d+)\.(\d+)", legacy or "")
    return (int(m.group(1)), int(m.group(2))) if m else default


def _error(code: int, message: str) -> Reply:
    titles = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        406: "Not Acceptable",
    }
    return code, {"error": {"code": code, "title": titles.get(code, ""), "message": message}}, {}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def standard_cloud(flavours: int = 0, images: int = 0) -> Cloud:
    """A site like a small EGI one, optionally padded with many flavours and images."""
    cloud = Cloud()
    cloud.flavors = [
        flavor("m1.small", 1, 2048),
        flavor("m1.medium", 2, 4096),
        flavor("m1.large", 4, 8192, 40),
        flavor("m1.xlarge", 8, 16384, 80),
        flavor("m1.2xlarge", 16, 32768, 160),
        flavor(
            "g1.xlarge-1v100",
            8,
            32768,
            80,
            {"Accelerator:Type": "GPU", "Accelerator:Number": "1", "Accelerator:Vendor": "nvidia"},
        ),
        flavor("m1.retired", 4, 16384, disabled=True),
    ]
    cloud.flavors += [
        flavor(f"x{n}.custom", 2 + n % 30, 1024 * (1 + n % 60)) for n in range(flavours)
    ]
    ubuntu = image("Image for EGI Ubuntu 22.04 [Ubuntu/22.04/VirtualBox]")
    cloud.images = [ubuntu, image("Image for EGI CentOS 7", visibility="community")]
    cloud.images += [image(f"user-image-{n}", visibility="shared") for n in range(images)]
    cloud.egi_images = {"egi_vm_images/ubuntu:22.04": ubuntu["id"]}
    cloud.networks = [
        {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, "public").hex,
            "name": "public",
            "router:external": True,
            "status": "ACTIVE",
            "shared": True,
            "subnets": [],
            "admin_state_up": True,
        },
        {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, "private").hex,
            "name": "vo-private",
            "router:external": False,
            "status": "ACTIVE",
            "shared": False,
            "subnets": [],
            "admin_state_up": True,
        },
    ]
    return cloud


def demo_token(vo: str = "vo.access.egi.eu", seconds: int = 3600) -> str:
    """A made-up Check-in-shaped JWT (not signed: the double only reads `exp`)."""

    def enc(obj: Json) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {
        "exp": int(time.time()) + seconds,
        "eduperson_entitlement": [f"urn:mace:egi.eu:group:{vo}:role=member#aai.egi.eu"],
    }
    return f"{enc({'alg': 'none'})}.{enc(claims)}.demo"


if __name__ == "__main__":  # a double to try the CLI against by hand (see README)
    import os
    import sys

    flavours, images = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else ("0", "0")))
    d = OpenStackDouble(standard_cloud(flavours, images)).start()
    sys.stdout.write(
        f"export OSCAR_IAC_EGI_CLOUDINFO_URL={d.cloudinfo_url}\n"
        f"export EGI_ACCESS_TOKEN={demo_token()}\n"
        "# Ctrl-C stops the double\n"
    )
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        d.stop()
        os._exit(0)
