"""The check `up` runs before it asks IM for anything (for `up`'s phases to call)."""

from __future__ import annotations

from collections.abc import Callable

from oscar_iac.errors import DeploymentError, UserError
from oscar_iac.preflight.report import Report
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import ImTarget, LocalCloud


def gate(loaded: LoadedSite, ignore: bool, warn: Callable[[str], None]) -> Report | None:
    """Preflight for cloud sites (None for others). Not ready: UserError (exit 2) naming
    what is missing, DeploymentError (exit 1) naming what could not be checked, unless
    `ignore`, in which case `warn` is told loudly and the report is returned."""
    tgt = loaded.site.target
    if not isinstance(tgt, ImTarget) or isinstance(tgt.cloud, LocalCloud):
        return None
    from oscar_iac.preflight import openstack as po  # openstacksdk: only when needed

    report = po.run(loaded)
    if report.verdict == "ready":
        warn(f"preflight: ready ({report.requests} API requests)")
        return report
    if ignore:
        warn(
            "WARNING: preflight is not ready and --ignore-preflight was given; going on "
            "anyway. IM may fail half-way:\n" + report.summary()
        )
        return report
    hint = f"see: oscar-iac preflight {loaded.directory}; or run up with --ignore-preflight"
    if report.verdict == "missing":
        raise UserError(f"{loaded.path}: preflight failed:\n{report.summary()}\n{hint}")
    raise DeploymentError(
        f"{loaded.path}: preflight could not check:\n{report.summary()}", hints=[hint]
    )
