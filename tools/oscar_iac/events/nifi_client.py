"""The few NiFi 2.x REST calls the dCache wiring makes, through nipyapi (1.8.1, NiFi 2.x).

Paths (nipyapi's generated APIs; NiFi's ProcessGroupResource, ParameterContextResource):
  POST   /access/token                                 login (single-user), a JWT
  GET    /flow/about                                   refuse NiFi 1.x
  GET    /flow/process-groups/root                     the root group's id
  GET    /process-groups/{root}/process-groups         our groups, found by their comment
  POST   /process-groups/{root}/process-groups/upload  a flow definition -> a new group
  PUT    /flow/process-groups/{id}                     RUNNING / STOPPED
  DELETE /process-groups/{id}?version=&clientId=       remove (with its revision)
  GET    /flow/parameter-contexts, POST /parameter-contexts,
  POST|GET|DELETE /parameter-contexts/{id}/update-requests[/{rid}], DELETE /parameter-contexts/{id}
nipyapi's `set_endpoint` logs its arguments (the password among them) at INFO level, so the
connection is configured here field by field and the login goes through AccessApi directly.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nipyapi
from nipyapi.nifi import (
    AccessApi,
    FlowApi,
    ParameterContextDTO,
    ParameterContextEntity,
    ParameterContextsApi,
    ParameterDTO,
    ParameterEntity,
    ProcessGroupsApi,
    RevisionDTO,
    ScheduleComponentsEntity,
)
from nipyapi.nifi.rest import ApiException

from oscar_iac.errors import DeploymentError

T = TypeVar("T")
CLIENT_ID = f"oscar-iac-{uuid.uuid4()}"


@dataclass(frozen=True)
class NifiConnection:
    url: str  # https://nifi.<fqdn> (without /nifi-api)
    username: str
    password: str = field(repr=False)
    ca_bundle: str | None = None  # PEM file; None: the system's CAs
    verify_tls: bool = True

    @property
    def api(self) -> str:
        return self.url.rstrip("/") + "/nifi-api"


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    comments: str
    version: int
    running: int
    active_threads: int
    queued: int
    context_id: str | None


@dataclass(frozen=True)
class Context:
    id: str
    name: str
    description: str
    version: int
    values: dict[str, str | None]  # sensitive values come back masked
    bound_groups: int


def _err(conn: NifiConnection, what: str, e: ApiException) -> DeploymentError:
    body = (e.body or "").strip() if isinstance(e.body, str) else str(e.body or "")
    if e.status in (401, 403):
        return DeploymentError(
            f"NiFi {conn.url}: {what}: HTTP {e.status} (login '{conn.username}' refused)",
            hints=["check NIFI_PASSWORD or the site's stack.nifi.password"],
        )
    return DeploymentError(f"NiFi {conn.url}: {what}: HTTP {e.status}: {body[:300]}")


class Nifi:
    """A logged-in session with one NiFi (nipyapi keeps its client in module globals)."""

    def __init__(self, conn: NifiConnection) -> None:
        self.conn = conn

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ApiException as e:
            raise _err(self.conn, what, e) from e
        except OSError as e:  # urllib3 connection errors are OSErrors
            raise DeploymentError(
                f"NiFi {self.conn.url} is unreachable: {e}",
                hints=["set OSCAR_IAC_NIFI_URL (and OSCAR_IAC_NIFI_CA for a private CA)"],
            ) from e

    def login(self) -> None:
        cfg = nipyapi.config.nifi_config
        cfg.api_client = None
        cfg.host = self.conn.api
        cfg.verify_ssl = self.conn.verify_tls
        cfg.ssl_ca_cert = self.conn.ca_bundle
        cfg.username = None
        cfg.password = None
        try:
            token = self.call(
                "login",
                lambda: AccessApi().create_access_token(
                    username=self.conn.username, password=self.conn.password
                ),
            )
        except DeploymentError as e:
            # NiFi answers a wrong single-user password with 400 (AccessResource).
            if "HTTP 400" in str(e):
                raise DeploymentError(
                    f"NiFi {self.conn.url}: login '{self.conn.username}' refused (HTTP 400)",
                    hints=["check NIFI_PASSWORD or the site's stack.nifi.password"],
                ) from e
            raise
        nipyapi.security.set_service_auth_token(token=token, service="nifi")
        about = self.call("reading /flow/about", lambda: FlowApi().get_about_info())
        version = str(about.about.version or "")
        if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 2:
            raise DeploymentError(
                f"NiFi {self.conn.url} runs version {version or '?'}; oscar-iac's dCache flow "
                "needs NiFi 2.x (parameter contexts, no variable registry)"
            )

    def logout(self) -> None:
        with contextlib.suppress(ApiException, OSError):  # the token expires anyway
            AccessApi().log_out()
        nipyapi.config.nifi_config.api_client = None

    # ---------------------------------------------------------------- process groups
    def root_id(self) -> str:
        flow = self.call("reading the root group", lambda: FlowApi().get_flow1("root"))
        return str(flow.process_group_flow.id)

    def groups(self, parent: str) -> list[Group]:
        out = self.call(
            "listing process groups", lambda: ProcessGroupsApi().get_process_groups(parent)
        )
        return [self._group(e) for e in (out.process_groups or [])]

    def group(self, group_id: str) -> Group:
        e = self.call(
            f"reading group {group_id}", lambda: ProcessGroupsApi().get_process_group(group_id)
        )
        return self._group(e)

    @staticmethod
    def _group(e: Any) -> Group:
        comp = e.component
        snap = e.status.aggregate_snapshot if e.status and e.status.aggregate_snapshot else None
        ctx = comp.parameter_context.id if comp.parameter_context else None
        return Group(
            id=str(e.id),
            name=str(comp.name),
            comments=str(comp.comments or ""),
            version=int(e.revision.version or 0),
            running=int(e.running_count or 0),
            active_threads=int(snap.active_thread_count or 0) if snap else 0,
            queued=int(snap.flow_files_queued or 0) if snap else 0,
            context_id=ctx,
        )

    def upload(self, parent: str, name: str, snapshot: dict[str, Any]) -> Group:
        data = json.dumps(snapshot).encode()
        e = self.call(
            f"uploading flow {name}",
            lambda: ProcessGroupsApi().upload_process_group(
                parent,
                group_name=name,
                position_x="0.0",
                position_y="0.0",
                client_id=CLIENT_ID,
                file=(f"{name}.json", data, "application/json"),
            ),
        )
        return self._group(e)

    def schedule(self, group_id: str, state: str) -> None:
        body = ScheduleComponentsEntity(id=group_id, state=state)
        self.call(
            f"setting group {group_id} {state}",
            lambda: FlowApi().schedule_components(body=body, id=group_id),
        )

    def wait_stopped(self, group_id: str, timeout: float = 240.0) -> Group:
        """Poll until the group is stopped and its last tasks ended: NiFi refuses to delete
        a processor that is STOPPING or has active threads (StandardProcessorNode.isRunning
        and verifyCanDelete in NiFi 2.6.0), and the listener's current run (at most
        listener-run-seconds, 120 s, plus 30 s to stop) holds one."""
        deadline = time.monotonic() + timeout
        while True:
            g = self.group(group_id)
            if g.running == 0 and g.active_threads == 0:
                return g
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"NiFi: group {g.name} still has {g.running} running processor(s) and "
                    f"{g.active_threads} active thread(s) after {timeout:.0f} s; it is "
                    "stopping: run the command again later"
                )
            time.sleep(0.5)

    def delete_group(self, g: Group) -> None:
        self.call(
            f"removing group {g.name}",
            lambda: ProcessGroupsApi().remove_process_group(
                g.id, version=str(g.version), client_id=CLIENT_ID
            ),
        )

    # ---------------------------------------------------------------- parameter contexts
    def contexts(self) -> list[Context]:
        out = self.call("listing parameter contexts", lambda: FlowApi().get_parameter_contexts())
        return [self._context(e) for e in (out.parameter_contexts or [])]

    @staticmethod
    def _context(e: Any) -> Context:
        comp = e.component
        values = {
            p.parameter.name: p.parameter.value for p in (comp.parameters or []) if p.parameter
        }
        return Context(
            id=str(e.id),
            name=str(comp.name),
            description=str(comp.description or ""),
            version=int(e.revision.version or 0),
            values=values,
            bound_groups=len(comp.bound_process_groups or []),
        )

    @staticmethod
    def _params(values: dict[str, str], sensitive: set[str]) -> list[ParameterEntity]:
        return [
            ParameterEntity(
                parameter=ParameterDTO(name=k, value=v, sensitive=k in sensitive, description="")
            )
            for k, v in sorted(values.items())
        ]

    def create_context(
        self, name: str, description: str, values: dict[str, str], sensitive: set[str]
    ) -> Context:
        body = ParameterContextEntity(
            revision=RevisionDTO(version=0, client_id=CLIENT_ID),
            component=ParameterContextDTO(
                name=name,
                description=description,
                parameters=self._params(values, sensitive),
                inherited_parameter_contexts=[],
            ),
        )
        e = self.call(
            f"creating parameter context {name}",
            lambda: ParameterContextsApi().create_parameter_context(body=body),
        )
        return self._context(e)

    def update_context(
        self, ctx: Context, description: str, values: dict[str, str], sensitive: set[str]
    ) -> None:
        """NiFi applies parameter changes asynchronously (it stops and restarts the
        processors that use them): submit an update request, poll it, delete it."""
        api = ParameterContextsApi()
        body = ParameterContextEntity(
            id=ctx.id,
            revision=RevisionDTO(version=ctx.version, client_id=CLIENT_ID),
            component=ParameterContextDTO(
                id=ctx.id,
                name=ctx.name,
                description=description,
                parameters=self._params(values, sensitive),
                inherited_parameter_contexts=[],
            ),
        )
        req = self.call(
            f"updating parameter context {ctx.name}",
            lambda: api.submit_parameter_context_update(body=body, context_id=ctx.id),
        )
        rid = str(req.request.request_id)
        deadline = time.monotonic() + 300
        try:
            while True:
                state = self.call(
                    f"waiting for the update of {ctx.name}",
                    lambda: api.get_parameter_context_update(ctx.id, rid),
                )
                if state.request.failure_reason:
                    raise DeploymentError(
                        f"NiFi: updating parameter context {ctx.name} failed: "
                        f"{state.request.failure_reason}"
                    )
                if state.request.complete:
                    return
                if time.monotonic() > deadline:
                    raise DeploymentError(
                        f"NiFi: the update of parameter context {ctx.name} did not complete "
                        "within 300 s (NiFi goes on with it; run apply again)"
                    )
                time.sleep(0.5)
        finally:
            with contextlib.suppress(ApiException, OSError):  # NiFi expires them too
                api.delete_update_request(ctx.id, rid)

    def delete_context(self, ctx: Context) -> None:
        self.call(
            f"removing parameter context {ctx.name}",
            lambda: ParameterContextsApi().delete_parameter_context(
                ctx.id, version=str(ctx.version), client_id=CLIENT_ID
            ),
        )


@contextmanager
def session(conn: NifiConnection) -> Iterator[Nifi]:
    nifi = Nifi(conn)
    nifi.login()
    try:
        yield nifi
    finally:
        nifi.logout()
