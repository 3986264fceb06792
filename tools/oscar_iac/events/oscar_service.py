"""Read an OSCAR service's token (the Bearer token its /job endpoint accepts)."""

from __future__ import annotations

from typing import Any

import requests
from oscar_python.client import Client

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.oscar import OscarConnection


def service_token(oscar: OscarConnection, service: str, field: str) -> str:
    """GET /system/services/<service> (Basic auth) and return its `token`.

    A service missing in OSCAR is bad input (the site names it): UserError on `field`.
    """
    client = Client(oscar.client_options("oscar-iac"))
    try:
        response = client.get_service(service)
    except requests.HTTPError as e:
        status = e.response.status_code if e.response is not None else 0
        if status == 404:
            raise UserError(
                Problem(
                    "site.yml",
                    field,
                    f"OSCAR {oscar.url} has no service '{service}'; expected the name of a "
                    "deployed OSCAR service (see `oscar-iac services list SITE`)",
                )
            ) from e
        if status in (401, 403):
            raise DeploymentError(
                f"OSCAR {oscar.url} refused the credentials of user '{oscar.username}' "
                f"(HTTP {status})",
                hints=["check OSCAR_PASSWORD / the deployment state of this site"],
            ) from e
        raise DeploymentError(f"OSCAR {oscar.url}: reading service '{service}': {e}") from e
    except requests.RequestException as e:
        raise DeploymentError(
            f"OSCAR {oscar.url} is unreachable: {e}", hints=[f"curl -sf {oscar.url}/health"]
        ) from e
    data: Any = response.json()
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise DeploymentError(f"OSCAR {oscar.url}: service '{service}' has no token")
    return token
