"""A project-scoped openstacksdk connection for a site: EGI (Check-in token through
Keystone's OIDC federation) or plain OpenStack (OIDC token or password).

Upstream facts this relies on:
- fedcloudclient 1.4.7 (PyPI wheel, fedcloudclient/conf.py DEFAULT_SETTINGS and
  endpoint.py): EGI sites take `os_auth_type: v3oidcaccesstoken`,
  `os_identity_provider: egi.eu`, `os_protocol: openid`; the unscoped token comes from
  POST {keystone}/v3/OS-FEDERATION/identity_providers/egi.eu/protocols/openid/auth with
  `Authorization: Bearer <access token>` (`retrieve_unscoped_token`), the projects a user
  may use from GET /v3/auth/projects with it (`get_projects_from_single_site`), and the
  project-scoped token from POST /v3/auth/tokens with the `token` method
  (`get_scoped_token`). IM 2.0 uses the same IdP/protocol (IM/InfrastructureManager.py
  `translate_egi_to_ost`: username 'egi.eu', tenant 'openid').
- IM 2.0 finds an EGI site's Keystone and the VO's project in EGI's cloud-info API
  (IM/FedcloudInfo.py, CLOUDINFO_URL https://is.cloud.egi.eu: GET /site/{site}/ -> `url`,
  the Keystone v3 URL; IM drops its last path part). Routes of that API:
  EGI-Federation/cloud-info-api app/main.py (/site/{site}/{vo}/project, .../images).
- keystoneauth1's OidcAccessToken / v3.Token / v3.Password plugins do those requests.

`OSCAR_IAC_EGI_CLOUDINFO_URL` points the discovery elsewhere (a test double). Tokens and
passwords are sent only over https, or plain http to a loopback address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from oscar_iac.errors import UserError

CLOUDINFO_ENV = "OSCAR_IAC_EGI_CLOUDINFO_URL"
CLOUDINFO_DEFAULT = "https://is.cloud.egi.eu"  # IM 2.0 FedcloudInfo.CLOUDINFO_URL
EGI_IDP = "egi.eu"  # fedcloudclient conf.py os_identity_provider
OIDC_PROTOCOL = "openid"  # fedcloudclient conf.py os_protocol
TIMEOUT = 15.0


class Unreachable(Exception):
    """An API could not be reached or answered nonsense: what and why."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class Refused(Exception):
    """The site answered, and said no (unknown site, token refused, no project...)."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


@dataclass
class Counter:
    """Counts the HTTP requests of one run (a requests response hook)."""

    count: int = 0
    log: list[str] = field(default_factory=list)

    def hook(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.count += 1
        self.log.append(f"{resp.request.method} {urlsplit(resp.url).path} {resp.status_code}")


def check_transport(url: str, where: str) -> None:
    """Credentials travel only over https, or http to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme == "http" and loopback:
        return
    raise UserError(
        f"{where}: {url!r} is not https; oscar-iac sends tokens and passwords only over "
        "https (or plain http to a loopback address, for tests)"
    )


def keystone_base(url: str) -> str:
    """Keystone's root from a site's GLUE endpoint URL (cloud-info-api app/glue.py
    `summary`: Keystone's versioned URL). IM's FedcloudInfo.get_site_url drops the last
    part whatever it is; here only a version part is dropped."""
    url = url.rstrip("/")
    head, _, last = url.rpartition("/")
    return head if re.fullmatch(r"v\d+(\.\d+)?", last) else url


def keystone_v3(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith("/v3") else base + "/v3"


@dataclass
class Http:
    """One requests session for the whole run: counted, TLS verified unless turned off."""

    verify: bool = True
    timeout: float = TIMEOUT
    counter: Counter = field(default_factory=Counter)
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.hooks["response"].append(self.counter.hook)
        self.session.trust_env = True

    def keystone(self, auth: Any) -> ks_session.Session:
        return ks_session.Session(
            auth=auth,
            session=self.session,
            verify=self.verify,
            timeout=self.timeout,
            app_name="oscar-iac",
        )

    def get_json(self, url: str, what: str) -> Any | None:
        """GET a JSON document; None on 404; Unreachable on anything else."""
        try:
            resp = self.session.get(url, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise Unreachable(what, _reason(exc)) from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise Unreachable(what, f"HTTP {resp.status_code} from {url}")
        try:
            return resp.json()
        except ValueError as exc:
            raise Unreachable(what, f"not JSON from {url}") from exc


def _reason(exc: BaseException) -> str:
    """A short reason: the root cause of a connection failure, not urllib3's whole chain."""
    text = str(exc)
    if isinstance(exc, requests.ConnectionError | ks_exc.ConnectFailure):
        cause = text.rsplit("Caused by", 1)[-1].strip(" ()'\"")
        return f"connection failed ({cause[:160]})"
    return text[:200]


# ------------------------------------------------------------------- EGI cloud-info


@dataclass
class CloudInfo:
    http: Http
    base: str

    @classmethod
    def from_env(cls, http: Http) -> CloudInfo:
        base = os.environ.get(CLOUDINFO_ENV) or CLOUDINFO_DEFAULT
        check_transport(base, f"environment variable {CLOUDINFO_ENV}")
        return cls(http, base.rstrip("/"))

    def keystone_url(self, site: str) -> str:
        data = self.http.get_json(f"{self.base}/site/{quote(site)}/", "EGI cloud-info")
        if not isinstance(data, dict) or not data.get("url"):
            raise Refused("site", f"EGI cloud-info ({self.base}) knows no site {site!r}")
        return keystone_base(str(data["url"]))

    def vo_project(self, site: str, vo: str) -> str | None:
        try:
            data = self.http.get_json(
                f"{self.base}/site/{quote(site)}/{quote(vo)}/project", "EGI cloud-info"
            )
        except Unreachable:
            return None
        return str(data["id"]) if isinstance(data, dict) and data.get("id") else None

    def egi_image_id(self, site: str, vo: str, egi_id: str) -> str | None:
        """IM's FedcloudInfo.get_image_id: the newest image of that EGI id for the VO."""
        data = self.http.get_json(
            f"{self.base}/site/{quote(site)}/{quote(vo)}/images", "EGI cloud-info images"
        )
        found = [
            (str(i["id"]), str(i.get("version", "")))
            for i in data or []
            if isinstance(i, dict) and i.get("egi_id") == egi_id and "id" in i
        ]
        if not found:
            return None
        image = sorted(found, key=lambda x: x[1], reverse=True)[0][0]
        return image.split("#")[-1]


# ------------------------------------------------------------------- Keystone


@dataclass
class Scoped:
    """A project-scoped session and how the project was found."""

    session: ks_session.Session
    auth_url: str
    project_id: str
    project_name: str
    found_by: str
    visible: list[dict[str, Any]]


def _unscoped_token(
    http: Http, make_plugin: Callable[[], Any], auth_url: str, refresh: Callable[[], bool] | None
) -> tuple[ks_session.Session, str]:
    for attempt in (1, 2):
        plugin = make_plugin()
        sess = http.keystone(plugin)
        try:
            return sess, str(plugin.get_token(sess))
        except ks_exc.Unauthorized as exc:
            if attempt == 1 and refresh is not None and refresh():
                continue
            raise Refused(
                "credentials", f"Keystone at {auth_url} refused the credentials (401): {exc}"
            ) from exc
        except ks_exc.NotFound as exc:
            raise Refused(
                "credentials",
                f"Keystone at {auth_url} has no such identity provider/protocol (404): {exc}",
            ) from exc
        except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout, ks_exc.SSLError) as exc:
            raise Unreachable(f"Keystone at {auth_url}", _reason(exc)) from exc
        except ks_exc.ClientException as exc:
            raise Unreachable(f"Keystone at {auth_url}", str(exc)[:200]) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def scope(
    http: Http,
    auth_url: str,
    make_plugin: Callable[[], Any],
    choose: Callable[[list[dict[str, Any]]], tuple[dict[str, Any], str]],
    refresh: Callable[[], bool] | None = None,
) -> Scoped:
    """Unscoped token -> visible projects -> `choose` one -> project-scoped session."""
    check_transport(auth_url, "Keystone URL")
    sess, unscoped = _unscoped_token(http, make_plugin, auth_url, refresh)
    try:
        resp = sess.get(f"{auth_url}/auth/projects", raise_exc=True)
        projects = [p for p in resp.json().get("projects", []) if p.get("enabled", True)]
    except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout) as exc:
        raise Unreachable(f"Keystone at {auth_url}", _reason(exc)) from exc
    except (ks_exc.ClientException, ValueError) as exc:
        raise Unreachable(f"Keystone at {auth_url} (/v3/auth/projects)", str(exc)[:200]) from exc
    project, how = choose(projects)
    scoped_plugin = v3.Token(auth_url=auth_url, token=unscoped, project_id=project["id"])
    scoped = http.keystone(scoped_plugin)
    try:
        scoped_plugin.get_access(scoped)
    except ks_exc.Unauthorized as exc:
        raise Refused("project", f"Keystone refused a token for project {project['id']}") from exc
    except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout) as exc:
        raise Unreachable(f"Keystone at {auth_url}", _reason(exc)) from exc
    return Scoped(scoped, auth_url, str(project["id"]), str(project.get("name", "")), how, projects)


def oidc_plugin(auth_url: str, idp: str, token: Callable[[], str]) -> Callable[[], Any]:
    def make() -> Any:
        return v3.OidcAccessToken(
            auth_url=auth_url, identity_provider=idp, protocol=OIDC_PROTOCOL, access_token=token()
        )

    return make


def password_plugin(auth_url: str, user: str, password: str, domain: str) -> Callable[[], Any]:
    def make() -> Any:
        return v3.Password(
            auth_url=auth_url, username=user, password=password, user_domain_name=domain
        )

    return make


def match_vo(
    projects: list[dict[str, Any]], vo: str, hint: str | None, hint_from: str
) -> tuple[dict[str, Any], str]:
    """The VO's project among those the token may use (fedcloudclient matches VO and
    project through the site's configuration; cloud-info gives the same id to IM)."""
    by_id = {str(p["id"]): p for p in projects}
    if hint and hint in by_id:
        return by_id[hint], hint_from
    named = [p for p in projects if str(p.get("name", "")) == vo] or [
        p for p in projects if vo in str(p.get("name", ""))
    ]
    if len(named) == 1:
        return named[0], "the project named after the VO among those the token may use"
    seen = ", ".join(f"{p.get('name')} ({p['id']})" for p in projects) or "none"
    why = f"{hint_from} says {hint}, which the token may not use; " if hint else ""
    if len(named) > 1:
        raise Refused(
            "project", f"{why}several projects match VO {vo}: {seen}; set cloud.project_id"
        )
    raise Refused(
        "project",
        f"{why}no project for VO {vo} among those the token may use ({seen}); "
        "is the VO supported on this site and are you a member?",
    )


def match_project(projects: list[dict[str, Any]], want: str) -> tuple[dict[str, Any], str]:
    for p in projects:
        if str(p["id"]) == want:
            return p, "cloud.project (id)"
    named = [p for p in projects if p.get("name") == want]
    if len(named) == 1:
        return named[0], "cloud.project (name)"
    seen = ", ".join(f"{p.get('name')} ({p['id']})" for p in projects) or "none"
    raise Refused("project", f"project {want!r} is not among those you may use: {seen}")
