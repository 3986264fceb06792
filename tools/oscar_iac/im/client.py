"""IM 2.0 REST calls, with retries on transient errors and IM's message on refusals.

A create (`POST /infrastructures`) is never retried: IM may have made the
infrastructure before the answer was lost (a 5xx from a proxy, a timeout, a dropped
connection), and a second POST would make a second one. Such an unclear answer is
`CreateUnclear`; the caller looks the site's infrastructure up by name instead
(oscar_iac.im.lifecycle).

im-client 1.8 speaks the same REST API but returns only `(ok, text)`, hiding the
HTTP status this client needs to tell a transient failure (retry) from a refusal
(stop and explain), so the few calls used here go through `requests` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from oscar_iac.errors import DeploymentError, OscarIacError

TRANSIENT_STATUS = {502, 503, 504}
FINAL_STATES = {"configured", "unconfigured", "failed", "stopped", "off", "deleting", "unknown"}


class ImError(OscarIacError):
    """IM refused a request. 400 (document/operation rejected) and 401/403 (credentials)
    are the user's to fix (exit 2); anything else is a deployment failure (exit 1)."""

    def __init__(self, status: int, message: str, what: str) -> None:
        self.status = status
        self.exit_code = 2 if status in (400, 401, 403, 404) else 1
        super().__init__(f"IM answered {status} to {what}: {message}")


class ImUnreachable(DeploymentError):
    pass


class CreateUnclear(ImUnreachable):
    """IM's answer to a create was lost or a 5xx: it may or may not have made it."""


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and "message" in body:
            return str(body["message"])
    except ValueError:
        pass
    return resp.text.strip()[:500] or resp.reason


@dataclass
class ImClient:
    url: str
    auth_header: Callable[[], str]  # called per request: tokens may be refreshed between calls
    verify_tls: bool = True
    retries: int = 4
    backoff: float = 0.5
    timeout: float = 60.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _call(
        self, method: str, path: str, what: str, retry: bool = True, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": self.auth_header(), "Accept": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        delay = self.backoff
        last: str = ""
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                resp = self.session.request(
                    method,
                    f"{self.url.rstrip('/')}{path}",
                    headers=headers,
                    verify=self.verify_tls,
                    timeout=self.timeout,
                    **kwargs,
                )
            except requests.ConnectionError as exc:
                last = f"cannot connect to IM at {self.url} ({type(exc).__name__})"
            except requests.Timeout:
                last = f"IM at {self.url} did not answer within {self.timeout:.0f} s"
            else:
                if resp.status_code < 400:
                    return resp
                if resp.status_code not in TRANSIENT_STATUS and resp.status_code != 500:
                    raise ImError(resp.status_code, _message(resp), what)
                last = f"IM answered {resp.status_code} to {what}: {_message(resp)}"
            if attempt < attempts - 1:
                time.sleep(delay)
                delay *= 2
        if not retry:
            raise CreateUnclear(last, hints=["re-run the same command: it looks IM up first"])
        raise ImUnreachable(last, hints=["check the IM endpoint, then re-run the same command"])

    # --- infrastructures
    def create(self, tosca: str) -> str:
        resp = self._call(
            "POST",
            "/infrastructures",
            "create infrastructure",
            retry=False,  # never twice: see the module doc
            params={"async": "yes"},
            data=tosca.encode(),
            headers={"Content-Type": "text/yaml"},
        )
        inf_id = resp.headers.get("InfID") or resp.json()["uri"].rstrip("/").rsplit("/", 1)[-1]
        return str(inf_id)

    def list_ids(self) -> list[str]:
        body = self._call("GET", "/infrastructures", "list infrastructures").json()
        return [u["uri"].rstrip("/").rsplit("/", 1)[-1] for u in body.get("uri-list", [])]

    def state(self, inf_id: str) -> dict[str, Any]:
        body = self._call("GET", f"/infrastructures/{inf_id}/state", "get state").json()
        return dict(body["state"])

    def outputs(self, inf_id: str) -> dict[str, Any]:
        body = self._call("GET", f"/infrastructures/{inf_id}/outputs", "get outputs").json()
        return dict(body.get("outputs") or {})

    def contmsg(self, inf_id: str, vm_id: str | None = None) -> str:
        path = (
            f"/infrastructures/{inf_id}"
            + (f"/vms/{vm_id}" if vm_id is not None else "")
            + "/contmsg"
        )
        body = self._call("GET", path, "get contextualization log").json()
        return str(body.get("contmsg", ""))

    def tosca(self, inf_id: str) -> str:
        """The TOSCA document IM stored with the infrastructure."""
        body = self._call("GET", f"/infrastructures/{inf_id}/tosca", "get TOSCA").json()
        return str(body.get("tosca", ""))

    def vms(self, inf_id: str) -> list[str]:
        body = self._call("GET", f"/infrastructures/{inf_id}", "list VMs").json()
        return [u["uri"].rstrip("/").rsplit("/", 1)[-1] for u in body.get("uri-list", [])]

    def vm_radl(self, inf_id: str, vm_id: str) -> list[dict[str, Any]]:
        """One VM's RADL as IM's JSON (a list of `class`-tagged dicts; credentials included)."""
        body = self._call("GET", f"/infrastructures/{inf_id}/vms/{vm_id}", "get VM info").json()
        return list(body.get("radl") or [])

    def update(self, inf_id: str, tosca: str, context: bool = True) -> list[str]:
        """POST the TOSCA again: IM adds or removes VMs to match it (scale). The URIs of
        the VMs it added. `context=False`: IM contextualizes nothing (the `context` query
        parameter of IM/rest/routers/infrastructures.py add_resource, passed on to
        InfrastructureManager.AddResource/RemoveResource)."""
        resp = self._call(
            "POST",
            f"/infrastructures/{inf_id}",
            "update infrastructure",
            data=tosca.encode(),
            headers={"Content-Type": "text/yaml"},
            params=None if context else {"context": "false"},
        )
        return [u["uri"] for u in resp.json().get("uri-list", [])]

    def reconfigure(self, inf_id: str, vm_ids: list[str] | None = None) -> None:
        """Contextualize again; with `vm_ids`, IM runs the configure steps on those VMs
        only (the `vm_list` query parameter, comma-separated integers:
        IM/rest/routers/infrastructures.py reconfigure_infrastructure ->
        InfrastructureInfo.Contextualize(auth, vm_list)). IM's own basic steps still run
        on every VM."""
        params = {"vm_list": ",".join(vm_ids)} if vm_ids else None
        self._call("PUT", f"/infrastructures/{inf_id}/reconfigure", "reconfigure", params=params)

    def destroy(self, inf_id: str) -> None:
        self._call(
            "DELETE", f"/infrastructures/{inf_id}", "destroy infrastructure", params={"async": "no"}
        )

    def exists(self, inf_id: str) -> bool:
        try:
            self.state(inf_id)
        except ImError as exc:
            if exc.status == 404:
                return False
            raise
        return True
