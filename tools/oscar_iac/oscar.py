"""How to reach one OSCAR manager. Credentials are held in memory only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oscar_iac import state
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.secrets import SecretError, SecretResolver
from oscar_iac.state import site_state_dir

if TYPE_CHECKING:
    from oscar_iac.site.load import LoadedSite
    from oscar_iac.site.model import OscarTarget


@dataclass(frozen=True)
class OscarConnection:
    """An OSCAR endpoint and the Basic-auth user for its /system API."""

    url: str
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True
    # An OIDC access token (EGI Check-in) used instead of Basic auth when set.
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def client_options(self, cluster_id: str = "oscar") -> dict[str, object]:
        """oscar-python `Client` options for this connection."""
        options: dict[str, object] = {
            "cluster_id": cluster_id,
            "endpoint": self.url,
            "ssl": self.verify_tls,
        }
        if self.token:
            options["oidc_token"] = self.token
        else:
            options |= {"user": self.username, "password": self.password}
        return options

    def auth_header(self) -> str:
        """The Authorization header OSCAR's /system API accepts from this user."""
        if self.token:
            return f"Bearer {self.token}"
        import base64

        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {basic}"


def _state_endpoint(site_name: str) -> str | None:
    """`oscar_endpoint` from the deployment state that `oscar-iac up` writes, if any."""
    dep = state.load(site_name)
    return str((dep.outputs if dep else {}).get("oscar_endpoint") or "") or None


def connection_for(
    loaded: LoadedSite, endpoint: str | None, user: str | None, command: str
) -> OscarConnection:
    """The site's OSCAR: the flag, else the deployment state; password from
    OSCAR_PASSWORD, else the site's stack.oscar.password reference (never a flag)."""
    from oscar_iac.site.model import OscarTarget

    site = loaded.site
    if endpoint is not None:
        from urllib.parse import urlsplit

        from oscar_iac.secretfile import redact_url

        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise UserError(
                Problem(
                    "--oscar-endpoint",
                    "",
                    f"expected an http(s) URL without a user or password; got {redact_url(endpoint)}",
                )
            )
    state.claim(loaded)
    if isinstance(site.target, OscarTarget):
        return _existing_cluster(loaded, site.target, endpoint, user)
    if endpoint is None:
        endpoint = _state_endpoint(site.name)
        if endpoint is None:
            raise DeploymentError(
                f"no OSCAR endpoint known for site '{site.name}' (not deployed yet?)",
                hints=[
                    f"oscar-iac up {loaded.directory}",
                    f"oscar-iac {command} {loaded.directory} --oscar-endpoint URL",
                ],
            )
    password = os.environ.get("OSCAR_PASSWORD")
    if not password:
        resolver = SecretResolver(loaded.directory, site_state_dir(site.name))
        try:
            password = resolver.resolve(site.stack.oscar.password, "oscar_password")
        except SecretError as e:
            raise UserError(
                Problem(
                    loaded.path,
                    "stack.oscar.password",
                    f"{e}; or set OSCAR_PASSWORD in the environment",
                    loaded.line(("stack", "oscar", "password")),
                )
            ) from e
    # TLS verification stays on: a self-signed OSCAR needs its CA in the system store.
    return OscarConnection(endpoint, user or site.stack.oscar.username, password)


def unreachable(loaded: LoadedSite, url: str, reason: str) -> DeploymentError:
    """OSCAR did not answer: what failed and why on one line, then what to do. On the
    embedded default site (IM's Dummy cloud) the reason is that no VM was ever booted."""
    from oscar_iac.site.model import ImTarget, LocalCloud

    tgt = loaded.site.target
    if isinstance(tgt, ImTarget) and isinstance(tgt.cloud, LocalCloud):
        return DeploymentError(
            f"cannot reach OSCAR at {url}: {reason}; site '{loaded.site.name}' runs IM's "
            "Dummy cloud, which boots no VM, so nothing answers at its endpoints",
            hints=[
                "--oscar-endpoint URL names an OSCAR you have",
                "for a real cluster: see README 'Describing a new site'",
            ],
        )
    return DeploymentError(
        f"cannot reach OSCAR at {url}: {reason}",
        hints=[
            f"oscar-iac status {loaded.directory}   (is the cluster up?)",
            "--oscar-endpoint URL names another OSCAR",
        ],
    )


def _existing_cluster(
    loaded: LoadedSite, tgt: OscarTarget, endpoint: str | None, user: str | None
) -> OscarConnection:
    """An OSCAR the site names (target kind `oscar`): Basic auth or a Check-in token."""
    url = endpoint or str(tgt.endpoint)
    if tgt.auth == "token":
        from oscar_iac.im.tokens import find_token

        token = find_token(tgt.token, loaded.path)
        return OscarConnection(url, user or tgt.username, "", tgt.verify_tls, token.fresh())
    assert tgt.password is not None  # the model requires it for basic auth
    password = os.environ.get("OSCAR_PASSWORD")
    if not password:
        resolver = SecretResolver(loaded.directory, site_state_dir(loaded.site.name))
        try:
            password = resolver.resolve(tgt.password, "oscar_password")
        except SecretError as e:
            raise UserError(
                Problem(
                    loaded.path,
                    "target.password",
                    str(e),
                    loaded.line(("target", "password")),
                )
            ) from e
    return OscarConnection(url, user or tgt.username, password, tgt.verify_tls)
