"""How to reach one OSCAR manager. Credentials are held in memory only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.paths import site_state_dir
from oscar_iac.secrets import SecretError, SecretResolver

if TYPE_CHECKING:
    from oscar_iac.site.load import LoadedSite


@dataclass(frozen=True)
class OscarConnection:
    """An OSCAR endpoint and the Basic-auth user for its /system API."""

    url: str
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))


def _state_endpoint(site_name: str) -> str | None:
    """`oscar_endpoint` from the deployment state that `oscar-iac up` writes, if any."""
    from oscar_iac.im import state

    dep = state.load(site_name)
    return str((dep.outputs if dep else {}).get("oscar_endpoint") or "") or None


def connection_for(
    loaded: LoadedSite, endpoint: str | None, user: str | None, command: str
) -> OscarConnection:
    """The site's OSCAR: the flag, else the deployment state; password from
    OSCAR_PASSWORD, else the site's stack.oscar.password reference (never a flag)."""
    site = loaded.site
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
