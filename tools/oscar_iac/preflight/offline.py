"""Stage 1 of the preflight (gate.py): what can be checked offline, from the token alone.

The token's expiry, EGI VO membership from its entitlements, the EGI project (through
fedcloudclient when it is installed). What could not be checked is said plainly instead
of passed silently; the cloud's own API is stage 2 (openstack.py).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

from oscar_iac.im.tokens import MIN_VALIDITY, Token
from oscar_iac.site.model import EgiCloud, ImTarget, LocalCloud, OpenStackCloud

Outcome = Literal["ok", "failed", "not checked"]


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def vo_member(token: str, vo: str) -> bool | None:
    """Membership from EGI Check-in's entitlements in the token, None if it carries none."""
    ents = _claims(token).get("eduperson_entitlement")
    if not isinstance(ents, list):
        return None
    return any(f":group:{vo}:" in e or str(e).endswith(f":group:{vo}") for e in ents)


def discover_project(site: str, vo: str) -> str | None:
    """Project id of `vo` on `site` via fedcloudclient's CLI, when it is installed."""
    if not shutil.which("fedcloud"):
        return None
    try:
        out = subprocess.run(
            ["fedcloud", "site", "show-project-id", "--site", site, "--vo", vo],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if "OS_PROJECT_ID" in line and "=" in line:
            return line.split("=", 1)[1].strip().strip('"')
    return None


def run(target: ImTarget, token: Token | None) -> list[Check]:
    cloud = target.cloud
    if isinstance(cloud, LocalCloud):
        return [Check("cloud", "ok", "embedded IM with its Dummy cloud: nothing to check")]
    checks: list[Check] = []
    if token is None:
        return [Check("token", "failed", "no access token")]
    left = token.seconds_left()
    if left is None:
        checks.append(
            Check(
                "token",
                "not checked",
                f"token from {token.source} is not a JWT; its expiry is unknown",
            )
        )
    elif left < MIN_VALIDITY:
        checks.append(
            Check("token", "failed", f"token from {token.source} expires in {max(left, 0):.0f} s")
        )
    else:
        checks.append(
            Check("token", "ok", f"from {token.source}, valid for {left / 60:.0f} more minutes")
        )
    if isinstance(cloud, EgiCloud):
        member = vo_member(token.value, cloud.vo)
        if member is None:
            checks.append(
                Check(
                    "VO membership",
                    "not checked",
                    "the token carries no eduperson_entitlement claim",
                )
            )
        elif member:
            checks.append(Check("VO membership", "ok", f"member of {cloud.vo}"))
        else:
            checks.append(
                Check("VO membership", "failed", f"the token has no entitlement for {cloud.vo}")
            )
        project = cloud.project_id or discover_project(cloud.site, cloud.vo)
        checks.append(
            Check("project", "ok", f"{project} on {cloud.site}")
            if project
            else Check(
                "project",
                "not checked",
                "fedcloudclient is not installed or could not reach the EGI "
                "configuration database; IM's EGI connector resolves the project itself",
            )
        )
    if isinstance(cloud, EgiCloud | OpenStackCloud):
        checks.append(
            Check(
                "flavours, image, quota",
                "not checked",
                "needs the cloud's API (openstacksdk) over the network; IM reports them when it creates VMs",
            )
        )
    return checks


def summary(checks: list[Check]) -> str:
    return "\n".join(f"  {c.outcome:>11}  {c.name}: {c.detail}" for c in checks)
