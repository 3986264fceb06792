"""The phase runner behind `oscar-iac up` and `oscar-iac down` (see the package doc)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from oscar_iac import state as st
from oscar_iac.errors import DeploymentError, OscarIacError, Problem, UserError
from oscar_iac.site.fields import check_timeout
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import HostsTarget, ImTarget, LocalCloud, NodesCloud, OscarTarget

if TYPE_CHECKING:
    from oscar_iac.oscar import OscarConnection
    from oscar_iac.phases.platform import Platform

PHASES = ("preflight", "infrastructure", "platform", "models", "events", "smoke", "summary")
NOT_APPLICABLE = "not-applicable"

EMBEDDED_NOTE = (
    "The embedded default runs IM's Dummy cloud: no VM boots, so there is no OSCAR to "
    "reach, and platform, models, events and the smoke test do not run here."
)
NEXT_REAL_STEP = [
    "an EGI Federated Cloud site: cp -r inventories/egi-example inventories/mysite, "
    "edit target.cloud (site, vo), then: oscar-iac up inventories/mysite",
    "your own hosts: cp -r inventories/hosts-example inventories/mysite, edit target.front/"
    "workers, then: oscar-iac up inventories/mysite",
    "an OSCAR you already have: a site with target: {kind: oscar, endpoint: URL, "
    "password: env:OSCAR_PASSWORD} (see README), then: oscar-iac up inventories/mysite",
]


class Reporter(Protocol):
    """How the runner tells the user what happens (the CLI prints; tests record)."""

    def start(self, phase: str) -> None: ...

    def progress(self, message: str) -> None: ...  # transient (a live line)

    def info(self, message: str) -> None: ...  # kept

    def end(self, phase: str, status: str, detail: str) -> None: ...


class Quiet:
    def start(self, phase: str) -> None:
        return

    def progress(self, message: str) -> None:
        return

    def info(self, message: str) -> None:
        return

    def end(self, phase: str, status: str, detail: str) -> None:
        return


@dataclass(frozen=True)
class PhaseOutcome:
    phase: str
    status: str  # done | done earlier | skipped | not-applicable | failed
    detail: str = ""


@dataclass
class UpReport:
    outcomes: list[PhaseOutcome]
    summary: list[str]
    embedded: bool


def applicable(loaded: LoadedSite) -> dict[str, str]:
    """Phases that do not apply to this site's target, with the reason."""
    tgt = loaded.site.target
    na: dict[str, str] = {}
    if isinstance(tgt, OscarTarget):
        na["preflight"] = "an existing OSCAR: no cloud to check"
        na["infrastructure"] = "an existing OSCAR: nothing to create"
    elif isinstance(tgt, HostsTarget):
        na["preflight"] = "your own hosts: no cloud to check"
    elif isinstance(tgt, ImTarget) and isinstance(tgt.cloud, LocalCloud):
        na["preflight"] = "the embedded default: no cloud to check"
        for phase in ("platform", "models", "events", "smoke"):
            na[phase] = "embedded default (see the summary)"
    elif isinstance(tgt, ImTarget):
        from oscar_iac.render.ansible_vars import skipped_steps

        if isinstance(tgt.cloud, NodesCloud):
            na["preflight"] = "your own machines (nodes cloud): no cloud quota to check"

        role_vars = loaded.site.stack.role_vars
        if role_vars.get("k3s_state") == "configured" or role_vars.get("oscar_apply") is False:
            # The site keeps Kubernetes or OSCAR unapplied on purpose: no OSCAR will answer.
            why = "the site keeps OSCAR unapplied (stack.role_vars: " + "; ".join(
                step.split(":", 1)[0] for step in skipped_steps(role_vars)
            )
            for phase in ("platform", "models", "events", "smoke"):
                na[phase] = why + ")"
    return na


def site_digest(loaded: LoadedSite) -> str:
    """What the phases were run for: the validated site and its folder catalog's files."""
    h = hashlib.sha256(loaded.site.model_dump_json().encode())
    cat = loaded.site.catalog
    if cat.source in ("folder", "git"):
        root = Path(cat.location)
        root = root if root.is_absolute() else loaded.directory / root
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                if p.is_file() and ".git" not in p.parts:
                    s = p.stat()
                    h.update(f"{p.relative_to(root)}:{s.st_size}:{s.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class Context:
    loaded: LoadedSite
    reporter: Reporter
    timeout: float
    platform_timeout: float
    quiet: bool
    ignore_preflight: bool = False
    conn: OscarConnection | None = None
    platform: Platform | None = None
    simulated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    smoke_line: str = ""

    def oscar(self) -> OscarConnection:
        if self.conn is None:
            from oscar_iac.oscar import connection_for

            self.conn = connection_for(self.loaded, None, None, "up")
        return self.conn


# --------------------------------------------------------------------------- phases


def _preflight(ctx: Context) -> str:
    """Cloud checks before anything is created: the one preflight (preflight/gate.py),
    offline token checks first, then quotas, flavours, image and network through
    openstacksdk (exit 2 when something is missing, unless --ignore-preflight, which
    says so loudly)."""
    from oscar_iac.preflight.gate import gate  # the token chain: start-up speed

    def tell(message: str) -> None:
        # Going on past a failed preflight is said loudly, on stderr, whatever the reporter.
        if message.startswith("WARNING"):
            print(message, file=sys.stderr, flush=True)
        else:
            ctx.reporter.info(message)

    outcome = gate(ctx.loaded, ctx.ignore_preflight, tell)
    report = outcome.report
    counts: dict[str, int] = {}
    for c in outcome.checks:
        counts[c.outcome] = counts.get(c.outcome, 0) + 1
    done = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if report is not None:
        done += f"; cloud preflight {report.verdict} ({report.requests} API requests)"
    return done


def _record_pins(ctx: Context) -> None:
    """Before anything is created: record (once) the sha256 of each `record: first-fetch`
    artifact the site needs (Knative's release manifests), checked against its release's
    checksums.txt. A mismatch is a UserError (exit 2): no VM exists yet. The renderer
    then hands the pins to the roles, which check every download against them."""
    site = ctx.loaded.site
    if site.artifacts.airgap_dir or isinstance(site.target, OscarTarget):
        return  # air-gap: nothing is downloaded (the roles check the folder); OSCAR: no roles
    from oscar_iac.airgap import pins  # imports requests: start-up speed of the CLI
    from oscar_iac.render.context import is_dummy  # IM's TOSCA code: start-up speed

    if is_dummy(site):
        return  # IM's Dummy cloud runs no role: nothing will be downloaded
    names = pins.needed_for(site)
    if names:
        pins.ensure(st.site_state_dir(site.name), names, on_event=ctx.reporter.progress)


def _infrastructure(ctx: Context) -> str:
    tgt = ctx.loaded.site.target
    _record_pins(ctx)
    if isinstance(tgt, HostsTarget):
        from oscar_iac.phases.hosts import run_site_playbook

        recap = run_site_playbook(ctx.loaded, ctx.reporter.progress)
        _record_host_outputs(ctx.loaded)
        return f"ansible-playbook site.yml: {recap}"
    from oscar_iac.im import lifecycle

    result = lifecycle.up(
        ctx.loaded, timeout=ctx.timeout, quiet=ctx.quiet, on_event=ctx.reporter.progress
    )
    ctx.simulated = list(result.rendered.simulated)
    ctx.skipped = list(result.rendered.skipped)
    dep = result.deployment
    where = "the embedded IM" if dep.im_url == lifecycle.EMBEDDED else f"IM {dep.im_url}"
    return f"{result.action}: infrastructure {dep.inf_id} on {where} is configured"


def _record_host_outputs(loaded: LoadedSite) -> None:
    """The hosts target's endpoints (what IM's outputs say for a cloud site), from the site."""
    from oscar_iac.render.context import endpoints

    urls = endpoints(loaded.site)
    dep = st.load(loaded.site.name) or st.Deployment(site=loaded.site.name, im_url="")
    dep.outputs = {
        "oscar_endpoint": urls["oscar"],
        "oscar_dashboard": urls["dashboard"],
        "minio_endpoint": urls["minio"],
        "minio_console": urls["minio_console"],
    }
    dep.note("hosts configured by ansible-playbook")
    st.save(dep)


def _rerun(loaded: LoadedSite) -> str:
    """The command that runs the platform phase again, with the site path as typed."""
    return f"oscar-iac up {loaded.directory} --only platform"


def _platform(ctx: Context) -> str:
    from oscar_iac.phases.platform import wait_ready

    ctx.platform = wait_ready(
        ctx.oscar(), ctx.platform_timeout, ctx.reporter.progress, rerun=_rerun(ctx.loaded)
    )
    backend = ctx.platform.serverless_backend or "none"
    line = f"OSCAR at {ctx.platform.url} answers (serverless backend: {backend})"
    if ctx.platform.cluster_problem:
        line += f"; cluster status: {ctx.platform.cluster_problem}"
    return line


def _counts(actions: list[str]) -> str:
    order = ("create", "update", "delete", "unchanged")
    return ", ".join(f"{actions.count(a)} {a}" for a in order if actions.count(a)) or "nothing"


def _models(ctx: Context) -> str:
    if not ctx.loaded.site.models:
        return "the site lists no models"
    from oscar_iac import registry

    ctx.reporter.progress(f"models: registering {len(ctx.loaded.site.models)} service(s)")
    changes = registry.apply(ctx.oscar(), ctx.loaded)
    return "services: " + _counts([c.action for c in changes])


def _events(ctx: Context) -> str:
    if not ctx.loaded.site.events:
        return "the site has no event sources"
    from oscar_iac.events import run

    ctx.reporter.progress(f"events: wiring {len(ctx.loaded.site.events)} source(s)")
    changes = run(ctx.loaded, ctx.oscar(), "apply")
    return f"{len(ctx.loaded.site.events)} source(s): " + _counts([c.action for c in changes])


def _smoke(ctx: Context) -> str:
    from oscar_iac.phases import smoke
    from oscar_iac.phases.platform import wait_ready

    if ctx.platform is None:  # platform done earlier (resumed) or skipped: ask once more
        ctx.platform = wait_ready(
            ctx.oscar(), ctx.platform_timeout, ctx.reporter.progress, rerun=_rerun(ctx.loaded)
        )
    # swagger v4.1.2 `types.Config.serverless_backend`: "Openfaas | Knative"; empty: async only.
    knative = ctx.platform.serverless_backend.lower() == "knative"
    ctx.reporter.progress("smoke test: calling one model")
    result = smoke.run(ctx.loaded, ctx.oscar(), knative)
    if result.latency is not None:
        ctx.smoke_line = f"{result.service} answered {result.mode} in {result.latency:.2f} s"
        return f"{result.detail} — latency {result.latency:.2f} s"
    ctx.smoke_line = result.detail
    return result.detail


def _summary(ctx: Context) -> str:
    return ""


HANDLERS: dict[str, Callable[[Context], str]] = {
    "preflight": _preflight,
    "infrastructure": _infrastructure,
    "platform": _platform,
    "models": _models,
    "events": _events,
    "smoke": _smoke,
    "summary": _summary,
}


# --------------------------------------------------------------------------- summary


def _credentials(loaded: LoadedSite) -> list[str]:
    site = loaded.site
    tgt = site.target
    secrets = st.site_state_dir(site.name, create=False) / "secrets"

    def where(ref: str, name: str) -> str:
        if ref != "generate":
            return f"from {ref}"
        path = secrets / name
        if path.is_file():  # name only a file that is there
            return f"generated, in {path} (0600)"
        if isinstance(tgt, ImTarget) and isinstance(tgt.cloud, LocalCloud):
            return (
                "not generated: the embedded Dummy cloud boots no front node to make it "
                f"(on a real cluster it appears in {path}, 0600)"
            )
        return f"not generated yet: it appears in {path} (0600) once the front is configured"

    if isinstance(tgt, OscarTarget):
        if tgt.auth == "token":
            return [f"OSCAR: your EGI Check-in token (user {tgt.username})"]
        return [f"OSCAR user {tgt.username}: password {where(str(tgt.password), 'oscar_password')}"]
    lines = [
        f"OSCAR user {site.stack.oscar.username}: password "
        + where(str(site.stack.oscar.password), "oscar_password"),
        f"MinIO user {site.stack.minio.access_key}: secret key "
        + where(str(site.stack.minio.secret_key), "minio_secret_key"),
    ]
    return lines


def summarize(loaded: LoadedSite, ctx: Context | None, outcomes: list[PhaseOutcome]) -> list[str]:
    site = loaded.site
    dep = st.load(site.name)
    lines: list[str] = []
    endpoints: dict[str, str] = {}
    if isinstance(site.target, OscarTarget):
        endpoints["oscar_endpoint"] = str(site.target.endpoint).rstrip("/")
    elif dep is not None:
        endpoints = {k: str(v) for k, v in sorted(dep.outputs.items()) if "endpoint" in k}
    for key, value in sorted(endpoints.items()):
        lines.append(f"{key}: {value}")
    lines += [f"credentials: {c}" for c in _credentials(loaded)]
    if ctx is not None and ctx.smoke_line:
        lines.append(f"smoke test: {ctx.smoke_line}")
    if ctx is not None:
        # Steps the site turned off on purpose (stack.role_vars), and why.
        lines += [f"skipped on purpose: {s}" for s in ctx.skipped]
    embedded = "platform" in applicable(loaded) and isinstance(site.target, ImTarget)
    if embedded:
        sim = ctx.simulated if ctx is not None and ctx.simulated else []
        lines += [f"simulated: {s}" for s in sim]
        lines.append(EMBEDDED_NOTE)
        lines += [f"next, for a real cluster, {step}" for step in NEXT_REAL_STEP]
    else:
        d = loaded.directory
        lines += [
            f"next: oscar-iac status {d}",
            f"next: oscar-iac models list --site {d}  (the catalog); oscar-iac models plan {d}",
            "next: python -c 'from oscar_iac.client import Client; "
            f'c = Client.from_site("{d}"); print(c.predict(MODEL, FILE))\'',
            f"next: oscar-iac down {d}  (undo everything)",
        ]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        lines.append(f"failed: {failed[0].phase}; re-run `oscar-iac up {loaded.directory}`")
    return lines


# --------------------------------------------------------------------------- up


def _check_names(flag: str, names: set[str]) -> None:
    unknown = sorted(names - set(PHASES))
    if unknown:
        raise UserError(
            Problem(
                flag,
                "",
                f"unknown phase(s) {', '.join(unknown)}; the phases are: {', '.join(PHASES)}",
            )
        )


def up(
    loaded: LoadedSite,
    *,
    only: set[str] | None = None,
    skip: set[str] | None = None,
    timeout: float = 3600,
    platform_timeout: float = 900,
    quiet: bool = False,
    reporter: Reporter | None = None,
    ignore_preflight: bool = False,
) -> UpReport:
    only, skip = set(only or ()), set(skip or ())
    _check_names("--only", only)
    _check_names("--skip", skip)
    both = sorted(only & skip)
    if both:
        raise UserError(
            Problem("--skip", "", f"names {', '.join(both)}, which --only asks to run; pick one")
        )
    for flag, value in (("--timeout", timeout), ("--platform-timeout", platform_timeout)):
        try:
            check_timeout(value)
        except ValueError as exc:
            raise UserError(Problem(flag, "", str(exc))) from exc
    rep = reporter or Quiet()
    name = loaded.site.name
    st.claim(loaded)
    with st.lock(name):
        return _up(loaded, only, skip, timeout, platform_timeout, quiet, rep, ignore_preflight)


def _up(
    loaded: LoadedSite,
    only: set[str],
    skip: set[str],
    timeout: float,
    platform_timeout: float,
    quiet: bool,
    rep: Reporter,
    ignore_preflight: bool,
) -> UpReport:
    name = loaded.site.name
    dep = st.load(name) or st.Deployment(site=name, im_url="")
    digest = site_digest(loaded)
    resume = (
        not only
        and dep.run.get("status") in ("running", "failed")
        and dep.run.get("digest") == digest
    )
    dep.run = {"status": "running", "digest": digest, "started": st.now()}
    st.save(dep)
    na = applicable(loaded)
    ctx = Context(loaded, rep, timeout, platform_timeout, quiet, ignore_preflight)
    outcomes: list[PhaseOutcome] = []
    for phase in PHASES:
        if phase in na:
            outcomes.append(PhaseOutcome(phase, NOT_APPLICABLE, na[phase]))
            st.record_phase(name, phase, NOT_APPLICABLE, na[phase], digest)
            rep.end(phase, NOT_APPLICABLE, na[phase])
            continue
        if (only and phase not in only and phase != "summary") or phase in skip:
            why = "not in --only" if only and phase not in only else "--skip"
            outcomes.append(PhaseOutcome(phase, "skipped", why))
            rep.end(phase, "skipped", why)
            continue
        rec = (st.load(name) or dep).phase_record(phase)
        if resume and rec and rec.status == "done" and rec.digest == digest and phase != "summary":
            outcomes.append(PhaseOutcome(phase, "done earlier", rec.detail))
            rep.end(phase, "done earlier", rec.detail)
            continue
        rep.start(phase)
        st.record_phase(name, phase, "running", "", digest)
        try:
            detail = HANDLERS[phase](ctx)
        except OscarIacError as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            st.record_phase(name, phase, "failed", first, digest, run_status="failed")
            outcomes.append(PhaseOutcome(phase, "failed", first))
            rep.end(phase, "failed", first)
            raise
        st.record_phase(name, phase, "done", detail, digest)
        outcomes.append(PhaseOutcome(phase, "done", detail))
        rep.end(phase, "done", detail)
    complete = all(o.status in ("done", "done earlier", NOT_APPLICABLE) for o in outcomes)
    final = st.load(name) or dep
    final.run["status"] = "complete" if complete else "partial"
    final.run["finished"] = st.now()
    st.save(final)
    summary = summarize(loaded, ctx, outcomes)
    return UpReport(outcomes, summary, embedded="platform" in na)


# --------------------------------------------------------------------------- down


@dataclass(frozen=True)
class DownStep:
    phase: str
    status: str  # removed | nothing to remove | gone | kept
    detail: str = ""


def _touched(dep: st.Deployment, phase: str) -> bool:
    rec = dep.phase_record(phase)
    return rec is not None and rec.status in ("running", "done", "failed")


def down(loaded: LoadedSite, reporter: Reporter | None = None) -> list[DownStep]:
    """Undo `up` in reverse: events, models, infrastructure; then stop the embedded IM."""
    st.claim(loaded)
    with st.lock(loaded.site.name):
        return _down(loaded, reporter or Quiet())


def _down(loaded: LoadedSite, rep: Reporter) -> list[DownStep]:
    from oscar_iac.im import lifecycle

    name = loaded.site.name
    site = loaded.site
    dep = st.load(name)
    has_infra = bool(dep and dep.inf_id and dep.phase != "destroyed")
    if dep is None or not (
        has_infra or any(_touched(dep, p) for p in ("infrastructure", "models", "events"))
    ):
        # Nothing to undo is not an error: `down` twice leaves the same state as once.
        rep.info(
            f"nothing to remove: site '{name}' has no deployment recorded "
            f"(already down, or never up; `oscar-iac up {loaded.directory}` deploys it)"
        )
        return []
    steps: list[DownStep] = []

    def oscar_or_none() -> OscarConnection | None:
        from oscar_iac.oscar import connection_for

        try:
            return connection_for(loaded, None, None, "down")
        except DeploymentError:
            return None

    if _touched(dep, "events") and site.events:
        from oscar_iac.events import run
        from oscar_iac.oscar import OscarConnection

        rep.start("events")
        # Removing a MinIO webhook needs MinIO only, not OSCAR (it may be gone already).
        ev_conn = oscar_or_none() or OscarConnection("http://oscar.invalid", "", "")
        try:
            ev_changes = run(loaded, ev_conn, "remove")
            steps.append(DownStep("events", "removed", _counts([c.action for c in ev_changes])))
        except DeploymentError as exc:
            steps.append(DownStep("events", "gone", f"not reachable, treated as gone: {exc}"))
    if _touched(dep, "models") and site.models:
        from oscar_iac import registry

        rep.start("models")
        conn = oscar_or_none()
        if conn is None:
            steps.append(DownStep("models", "gone", "no OSCAR endpoint known"))
        else:
            try:
                changes = registry.apply(conn, loaded, remove_all=True)
                steps.append(DownStep("models", "removed", _counts([c.action for c in changes])))
            except DeploymentError as exc:
                steps.append(DownStep("models", "gone", f"OSCAR not reachable: {exc}"))
    tgt = site.target
    if isinstance(tgt, ImTarget):
        rep.start("infrastructure")
        if has_infra:
            try:
                gone = lifecycle.down(loaded)
                detail = f"destroyed infrastructure {gone.inf_id}"
                if isinstance(tgt.cloud, NodesCloud):
                    from oscar_iac.render.nodes import machines_stay_message

                    detail += "; " + machines_stay_message(loaded)
                    detail += "".join(
                        f"; {e['event'].removeprefix('leftovers: ')}"
                        for e in gone.history
                        if e["event"].startswith("leftovers: ") and e["at"] == gone.updated_at
                    )
                steps.append(DownStep("infrastructure", "removed", detail))
            except DeploymentError as exc:
                # Unlike OSCAR or MinIO, an unreachable IM may still hold running VMs: the
                # state keeps the infrastructure id and `down` ends with exit 1.
                steps.append(DownStep("infrastructure", "unreachable", f"IM not reachable: {exc}"))
        elif _touched(dep, "infrastructure"):
            # Killed between asking IM and recording its answer: find it by site name.
            try:
                lost = lifecycle.destroy_unrecorded(loaded)
            except DeploymentError as exc:
                steps.append(DownStep("infrastructure", "unreachable", f"IM not reachable: {exc}"))
            else:
                detail = f"destroyed unrecorded infrastructure {lost}" if lost else "none found"
                steps.append(DownStep("infrastructure", "removed", detail))
        else:
            steps.append(DownStep("infrastructure", "nothing to remove", "no infrastructure"))
        if tgt.endpoint == "embedded" and lifecycle.stop_embedded(loaded):
            steps.append(DownStep("embedded IM", "stopped", "the site's local IM server"))
    elif isinstance(tgt, HostsTarget):
        steps.append(
            DownStep(
                "infrastructure",
                "kept",
                "your hosts stay as they are; to wipe the cluster from them: ansible-playbook "
                "-i <state>/hosts.yml playbooks/reset.yml -e oscar_iac_reset_confirm=true",
            )
        )
    final = st.load(name) or dep
    final.phases = {}
    final.run = {"status": "down", "finished": st.now()}
    final.note("down: " + "; ".join(f"{s.phase} {s.status}" for s in steps))
    st.save(final)
    for s in steps:
        rep.end(s.phase, s.status, s.detail)
    if any(s.status == "unreachable" for s in steps):
        raise DeploymentError(
            "the infrastructure could not be destroyed: its IM is not reachable; the state "
            "keeps its id",
            hints=[f"oscar-iac down {loaded.directory}  (again, once IM answers)"],
        )
    return steps
