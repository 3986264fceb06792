"""IM authorization lines, built in memory and never written to disk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oscar_iac.errors import UserError
from oscar_iac.im.tokens import Token
from oscar_iac.site.model import EgiCloud, ImTarget, LocalCloud, NodesCloud, OpenStackCloud


def _line(**fields: str) -> str:
    for key, value in fields.items():
        if any(c in value for c in ";\n\r"):
            raise UserError(f"the IM authorization value of '{key}' contains ';' or a newline")
    return "; ".join(f"{k} = {v}" for k, v in fields.items())


@dataclass
class AuthBuilder:
    """Makes the Authorization header for each request (tokens refreshed as needed)."""

    target: ImTarget
    token: Token | None = None
    im_username: str = ""
    im_password: str = ""
    cloud_password: str = ""  # OpenStack password auth only

    def lines(self) -> list[str]:
        cloud = self.target.cloud
        if isinstance(cloud, LocalCloud):
            return [
                _line(
                    id="im",
                    type="InfrastructureManager",
                    username=self.im_username,
                    password=self.im_password,
                ),
                _line(id="dummy", type="Dummy"),
            ]
        if isinstance(cloud, NodesCloud):
            # IM's DeployedNode connector takes no credentials of its own: the machines'
            # SSH credentials travel in the document (IM/connectors/DeployedNode.py).
            if self.token is None:
                im = _line(
                    id="im",
                    type="InfrastructureManager",
                    username=self.im_username,
                    password=self.im_password,
                )
            else:
                im = _line(id="im", type="InfrastructureManager", token=self.token.fresh())
            return [im, _line(id="nodes", type="DeployedNode")]
        if self.token is None:
            raise UserError("an access token is needed for this target")
        tok = self.token.fresh()
        im = _line(id="im", type="InfrastructureManager", token=tok)
        if self.im_username:  # the embedded IM: its one user (oscar_iac.im.server)
            im = _line(
                id="im",
                type="InfrastructureManager",
                username=self.im_username,
                password=self.im_password,
            )
        if isinstance(cloud, EgiCloud):
            fields = {"id": "egi", "type": "EGI", "host": cloud.site, "vo": cloud.vo, "token": tok}
            return [im, _line(**fields)]
        assert isinstance(cloud, OpenStackCloud)
        fields = {"id": "ost", "type": "OpenStack", "host": str(cloud.auth_url).rstrip("/")}
        if cloud.auth == "oidc":
            fields |= {
                "username": cloud.username,
                "tenant": "openid",
                "password": tok,
                "auth_version": "3.x_oidc_access_token",
                "domain": cloud.project,
            }
        else:
            fields |= {
                "username": cloud.username,
                "password": self.cloud_password,
                "tenant": cloud.project,
                "auth_version": "3.x_password",
                "domain": cloud.domain or "Default",
            }
        if cloud.region:
            fields["service_region"] = cloud.region
        return [im, _line(**fields)]

    def header(self) -> str:
        # IM's REST API takes the lines joined by the two characters backslash + n.
        return "\\n".join(self.lines())

    def as_callable(self) -> Callable[[], str]:
        return self.header
