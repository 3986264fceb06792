"""dCache → NiFi 2.x → OSCAR: one process group per dCache source with `via: nifi`.

For a source `<name>` of site `<site>`, this backend owns exactly two NiFi objects:
  - the process group `oscar-iac-<site>-<name>` directly under NiFi's root group, whose
    comment is `oscar-iac site=<site> source=<name> flow=<digest>` (groups are matched by
    that comment, never by name alone: a group named alike without it is refused), and
  - the parameter context of the same name (its description carries the site, the source
    and a fingerprint of the sensitive values, which NiFi never returns).
The flow (oscar_iac.events.nifi_flow) is uploaded as a flow definition; a changed
definition replaces the group (stopped first; refused while events are queued in it, so
none is dropped). Sources with `via: relay` are carried by the relay service (role
dcache_relay), not by NiFi: nothing to do here.
"""

from __future__ import annotations

import hashlib
import os

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.events.base import Change
from oscar_iac.events.nifi_client import Context, Group, Nifi, NifiConnection, session
from oscar_iac.events.nifi_flow import (
    SENSITIVE_PARAMETERS,
    TAG,
    FlowInputs,
    build_flow,
    flow_digest,
    group_name,
    parameters,
    parse_marker,
)
from oscar_iac.events.oscar_service import service_token
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretError, SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import DcacheEventSource
from oscar_iac.versions import pin

KIND = "dcache"


def _inputs(site: LoadedSite, source: DcacheEventSource, oscar: OscarConnection) -> FlowInputs:
    return FlowInputs(
        site=site.site.name,
        source=source.name,
        frontend=str(source.frontend),
        webdav=str(source.webdav),
        path=source.path,
        recursive=source.recursive,
        auth=source.auth,
        username=source.username,
        verify_tls=source.verify_tls,
        oscar_url=oscar.url,
        service=source.service,
        nifi_version=pin("nifi"),
    )


def nifi_connection(site: LoadedSite, secrets: SecretResolver) -> NifiConnection:
    """NiFi of the site: https://nifi.<fqdn> (the nifi role's Ingress) unless
    OSCAR_IAC_NIFI_URL says otherwise; password from NIFI_PASSWORD or stack.nifi.password."""
    nifi = site.site.stack.nifi
    url = os.environ.get("OSCAR_IAC_NIFI_URL") or f"https://nifi.{site.site.cluster.fqdn}"
    if not url.startswith("https://"):
        raise UserError(
            Problem(
                site.path,
                "OSCAR_IAC_NIFI_URL",
                f"expected an https:// URL (NiFi 2 logs in over HTTPS only); got {url!r}",
            )
        )
    password = os.environ.get("NIFI_PASSWORD")
    if not password:
        try:
            password = secrets.resolve(nifi.password, "nifi_password")
        except SecretError as e:
            raise UserError(
                Problem(site.path, "stack.nifi.password", f"{e}; or set NIFI_PASSWORD")
            ) from e
    return NifiConnection(
        url=url, username=nifi.username, password=password,
        ca_bundle=os.environ.get("OSCAR_IAC_NIFI_CA") or None,
    )  # fmt: skip


def _secrets(
    source: DcacheEventSource, oscar: OscarConnection, secrets: SecretResolver
) -> dict[str, str]:
    token = service_token(oscar, source.service, field=f"events[{source.name}].service")
    try:
        credential = secrets.resolve(source.credential, f"events-{source.name}-credential")
    except SecretError as e:
        raise UserError(Problem("site.yml", f"events[{source.name}].credential", str(e))) from e
    return {"oscar-authorization": f"Bearer {token}", "dcache-credential": credential}


def _fingerprint(values: dict[str, str]) -> str:
    body = "\n".join(f"{k}={values[k]}" for k in sorted(values))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _description(inputs: FlowInputs, fingerprint: str) -> str:
    return f"{TAG} site={inputs.site} source={inputs.source} secrets={fingerprint}"


def _ours(groups: list[Group], inputs: FlowInputs) -> tuple[Group | None, Group | None]:
    """(our group, a foreign group squatting our name)."""
    name = group_name(inputs.site, inputs.source)
    mine = [
        g
        for g in groups
        if parse_marker(g.comments).get("site") == inputs.site
        and parse_marker(g.comments).get("source") == inputs.source
    ]
    if len(mine) > 1:
        raise DeploymentError(
            f"NiFi has {len(mine)} process groups labelled for source '{inputs.source}' of "
            f"site '{inputs.site}'; remove the extra ones by hand"
        )
    foreign = next((g for g in groups if g.name == name and g not in mine), None)
    return (mine[0] if mine else None), foreign


class _Plan:
    def __init__(
        self,
        site: LoadedSite,
        source: DcacheEventSource,
        oscar: OscarConnection,
        secrets: SecretResolver,
    ) -> None:
        self.inputs = _inputs(site, source, oscar)
        self.snapshot = build_flow(self.inputs)
        self.digest = flow_digest(self.snapshot)
        self.name = group_name(self.inputs.site, self.inputs.source)
        self.secret_values = _secrets(source, oscar, secrets)
        plain = {k: v for k, v in parameters(self.inputs).items() if v is not None}
        self.values = {**plain, **self.secret_values}
        self.description = _description(self.inputs, _fingerprint(self.secret_values))
        self.conn = nifi_connection(site, secrets)

    def context_action(self, ctx: Context | None) -> str:
        if ctx is None:
            return "create"
        plain_same = all(
            ctx.values.get(k) == v for k, v in self.values.items() if k not in SENSITIVE_PARAMETERS
        )
        same = plain_same and set(ctx.values) == set(self.values)
        return "unchanged" if same and ctx.description == self.description else "update"

    def group_action(self, g: Group | None) -> str:
        if g is None:
            return "create"
        if parse_marker(g.comments).get("flow") != self.digest:
            return "update"
        return "unchanged" if g.running > 0 else "update"


def _change(source: DcacheEventSource, obj: str, action: str, detail: str = "") -> Change:
    return Change(source.name, KIND, obj, action, detail)  # type: ignore[arg-type]


def _find(nifi: Nifi, p: _Plan) -> tuple[str, Group | None, Context | None]:
    root = nifi.root_id()
    group, foreign = _ours(nifi.groups(root), p.inputs)
    if foreign is not None:
        raise DeploymentError(
            f"NiFi already has a process group named '{p.name}' that oscar-iac did not create "
            "(no oscar-iac label in its comments); rename or remove it first"
        )
    ctx = next((c for c in nifi.contexts() if c.name == p.name), None)
    if ctx is not None and not ctx.description.startswith(
        f"{TAG} site={p.inputs.site} source={p.inputs.source} "
    ):
        raise DeploymentError(
            f"NiFi already has a parameter context named '{p.name}' that oscar-iac did not "
            "create; rename or remove it first"
        )
    return root, group, ctx


def _skip(source: DcacheEventSource) -> list[Change]:
    return [_change(source, "relay", "unchanged", "via relay: carried by the relay service")]


def plan(
    source: DcacheEventSource,
    oscar: OscarConnection,
    secrets: SecretResolver,
    *,
    site: LoadedSite,
) -> list[Change]:
    if source.via != "nifi":
        return _skip(source)
    p = _Plan(site, source, oscar, secrets)
    with session(p.conn) as nifi:
        _, group, ctx = _find(nifi, p)
        return [
            _change(source, f"parameter-context:{p.name}", p.context_action(ctx)),
            _change(source, f"process-group:{p.name}", p.group_action(group), f"flow {p.digest}"),
        ]


def apply(
    source: DcacheEventSource,
    oscar: OscarConnection,
    secrets: SecretResolver,
    *,
    site: LoadedSite,
) -> list[Change]:
    """Context first (the uploaded flow binds to it by name: NiFi uses an existing context
    of that name and only adds missing parameters, StandardVersionedComponentSynchronizer.
    selectParameterContext in NiFi 2.6.0), then the group, started."""
    if source.via != "nifi":
        return _skip(source)
    p = _Plan(site, source, oscar, secrets)
    sensitive = set(SENSITIVE_PARAMETERS)
    changes: list[Change] = []
    with session(p.conn) as nifi:
        root, group, ctx = _find(nifi, p)
        action = p.context_action(ctx)
        if ctx is None:
            nifi.create_context(p.name, p.description, p.values, sensitive)
        elif action == "update":
            nifi.update_context(ctx, p.description, p.values, sensitive)
        changes.append(_change(source, f"parameter-context:{p.name}", action))

        action = p.group_action(group)
        detail = f"flow {p.digest}"
        if group is not None and parse_marker(group.comments).get("flow") != p.digest:
            nifi.schedule(group.id, "STOPPED")
            stopped = nifi.wait_stopped(group.id)
            if stopped.queued:
                raise DeploymentError(
                    f"NiFi group {p.name} holds {stopped.queued} queued event(s); replacing its "
                    "flow would drop them. It is stopped now: start it, let the queues drain "
                    "(or move them by hand), then run apply again"
                )
            nifi.delete_group(stopped)
            group = None
            detail += " (replaced)"
        if group is None:
            group = nifi.upload(root, p.name, p.snapshot)
        if action != "unchanged":
            nifi.schedule(group.id, "RUNNING")
        changes.append(_change(source, f"process-group:{p.name}", action, detail))
    return changes


def remove(
    source: DcacheEventSource,
    oscar: OscarConnection,
    secrets: SecretResolver,
    *,
    site: LoadedSite,
) -> list[Change]:
    """Stop and delete our group, then our context. Refused while events are queued."""
    if source.via != "nifi":
        return _skip(source)
    conn = nifi_connection(site, secrets)
    inputs = _inputs(site, source, oscar)
    name = group_name(inputs.site, inputs.source)
    changes: list[Change] = []
    with session(conn) as nifi:
        group, _ = _ours(nifi.groups(nifi.root_id()), inputs)
        if group is None:
            changes.append(_change(source, f"process-group:{name}", "unchanged", "absent"))
        else:
            nifi.schedule(group.id, "STOPPED")
            stopped = nifi.wait_stopped(group.id)
            if stopped.queued:
                raise DeploymentError(
                    f"NiFi group {name} holds {stopped.queued} queued event(s); removing it "
                    "would drop them. It is stopped now: start it to deliver them, or empty "
                    "its queues by hand, then run remove again"
                )
            nifi.delete_group(stopped)
            changes.append(_change(source, f"process-group:{name}", "delete"))
        prefix = f"{TAG} site={inputs.site} source={inputs.source} "
        ctx = next(
            (c for c in nifi.contexts() if c.name == name and c.description.startswith(prefix)),
            None,
        )
        if ctx is None:
            changes.append(_change(source, f"parameter-context:{name}", "unchanged", "absent"))
        else:
            nifi.delete_context(ctx)
            changes.append(_change(source, f"parameter-context:{name}", "delete"))
    return changes
