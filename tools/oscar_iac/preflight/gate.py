"""The one preflight: stage 1 offline (offline.py: the token, VO membership), then for
OpenStack and EGI clouds stage 2 through the cloud's API (openstack.py: quotas,
flavours, image, network).

`up` runs both as its first phase (`gate`). Every IM command checks stage 1 when it
connects (`require_offline`, from im.lifecycle.connect); a command runs it once: a
site and token that passed are not checked again by the same process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oscar_iac.errors import DeploymentError, UserError
from oscar_iac.im.tokens import Token, find_token
from oscar_iac.preflight import offline
from oscar_iac.preflight.report import Report
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import EgiCloud, ImTarget, LocalCloud, NodesCloud, OpenStackCloud

# (site file, token digest) that passed stage 1 in this process (= this command).
_PASSED: set[tuple[Path, str]] = set()


@dataclass(frozen=True)
class Outcome:
    checks: list[offline.Check]  # stage 1
    report: Report | None  # stage 2 (None: not a cloud with an API to ask)


def _key(loaded: LoadedSite, token: Token | None) -> tuple[Path, str]:
    value = token.value if token is not None else ""
    return loaded.path.resolve(), hashlib.sha256(value.encode()).hexdigest()


def _stage1(loaded: LoadedSite, tgt: ImTarget, token: Token | None) -> list[offline.Check]:
    """Stage 1; a failure is bad input (exit 2), nothing is created."""
    checks = offline.run(tgt, token)
    failed = [c for c in checks if c.outcome == "failed"]
    if failed:
        raise UserError(
            f"{loaded.path}: preflight failed:\n"
            + offline.summary(failed)
            + f"\nsee: oscar-iac preflight {loaded.directory}"
        )
    _PASSED.add(_key(loaded, token))
    return checks


def require_offline(loaded: LoadedSite, tgt: ImTarget, token: Token) -> None:
    """Stage 1 before an IM command uses `token`, unless this command already passed it."""
    if _key(loaded, token) not in _PASSED:
        _stage1(loaded, tgt, token)


def gate(loaded: LoadedSite, ignore: bool, warn: Callable[[str], None]) -> Outcome:
    """Both stages for an IM site (no checks for others). Stage 1 failing, or stage 2
    finding something missing: UserError (exit 2); stage 2 unable to check:
    DeploymentError (exit 1). With `ignore`, stage 2's verdict is only told to `warn`."""
    tgt = loaded.site.target
    if not isinstance(tgt, ImTarget) or isinstance(tgt.cloud, NodesCloud):
        return Outcome([], None)  # no cloud; the operator's own machines: no token either
    token = None if isinstance(tgt.cloud, LocalCloud) else find_token(tgt.token, loaded.path)
    checks = _stage1(loaded, tgt, token)
    if not isinstance(tgt.cloud, EgiCloud | OpenStackCloud):
        return Outcome(checks, None)
    from oscar_iac.preflight import openstack as po  # openstacksdk: start-up speed

    report = po.run(loaded, token)
    if report.verdict == "ready":
        warn(f"preflight: ready ({report.requests} API requests)")
        return Outcome(checks, report)
    if ignore:
        warn(
            "WARNING: preflight is not ready and --ignore-preflight was given; going on "
            "anyway. IM may fail half-way:\n" + report.summary()
        )
        return Outcome(checks, report)
    hint = f"see: oscar-iac preflight {loaded.directory}; or run up with --ignore-preflight"
    if report.verdict == "missing":
        raise UserError(f"{loaded.path}: preflight failed:\n{report.summary()}\n{hint}")
    raise DeploymentError(
        f"{loaded.path}: preflight could not check:\n{report.summary()}", hints=[hint]
    )
