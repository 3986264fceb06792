"""The NiFi 2.x flow that carries one dCache event source to its OSCAR service.

One process group per source, named `oscar-iac-<site>-<source>`, bound to a parameter
context of the same name (NiFi 2 has no variables: NIFI-12505 removed the variable
registry; values live in parameters, secrets in sensitive parameters):

    GenerateFlowFile (every 30 s, primary node; content = the listener's config)
      -> ExecuteStreamCommand `sh run-listener.sh`: runs the listener for at most
         #{listener-run-seconds}, its dCache credential in the environment from a
         sensitive dynamic property (ExecuteStreamCommand carries
         @SupportsSensitiveDynamicProperties and passes dynamic properties to the process
         environment; ExecuteProcess has neither in NiFi 2.6.0, so it cannot hold a secret)
      -> GetFile on the listener's spool folder <work-root>/<site>-<source>/spool (one JSON file per complete upload,
         written atomically by the listener as a hidden file then renamed)
      -> InvokeHTTP POST #{oscar-job-url}, header Authorization from a sensitive parameter
            Original/Response: delivered (auto-terminated)
            Retry (5xx) / Failure (no connection): retried in place with penalization
                (NiFi 2 retry on relationships), then looped back: never dropped
            No Retry (4xx): PutFile into <work>/failed, kept for the operator
The listener keeps its checkpoint, so each bounded run resumes where the last one
stopped (Last-Event-ID); a stop of the group waits at most one run.

The definition is the `RegisteredFlowSnapshot` JSON that NiFi's "Download flow definition"
writes and `POST /process-groups/{id}/process-groups/upload` reads (nifi-api's
org.apache.nifi.registry.flow.RegisteredFlowSnapshot, org.apache.nifi.flow.Versioned*).
tests/nifi/flowcheck parses it strictly with those classes and validates and runs the
processors with NiFi's own code (nifi-mock).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

# Where the nifi role puts the listener (a ConfigMap mounted in the NiFi pod) and the
# per-source working folders (on NiFi's persistent volume): roles/nifi/templates/nifi.yaml.j2.
LISTENER_DIR = "/opt/oscar-iac/dcache"
WORK_ROOT = "/opt/oscar-iac/work"
LAUNCHER = f"{LISTENER_DIR}/run-listener.sh"
# Environment variable that carries the dCache credential into the listener (its config
# names it: token_env / password_env), filled from a sensitive parameter.
CREDENTIAL_ENV = "DCACHE_CREDENTIAL"
TAG = "oscar-iac"
STANDARD_BUNDLE = ("org.apache.nifi", "nifi-standard-nar")
PKG = "org.apache.nifi.processors.standard"
SENSITIVE_PARAMETERS = ("oscar-authorization", "dcache-credential")


@dataclass(frozen=True)
class FlowInputs:
    """Everything the flow of one source depends on (no secret values)."""

    site: str
    source: str
    frontend: str
    webdav: str
    path: str
    recursive: bool
    auth: str  # 'oidc' | 'basic' | 'macaroon'
    username: str | None
    verify_tls: bool
    oscar_url: str
    service: str
    nifi_version: str
    # One listener run; stopping the group waits for the current run to end.
    listener_run_seconds: int = 120


def group_name(site: str, source: str) -> str:
    """The name of the process group and of its parameter context."""
    return f"{TAG}-{site}-{source}"


def marker(inputs: FlowInputs, digest: str) -> str:
    """The comment that labels our process groups: which site/source, which flow."""
    return f"{TAG} site={inputs.site} source={inputs.source} flow={digest}"


def parse_marker(comment: str | None) -> dict[str, str]:
    """The key=value pairs of a marker comment ({} for groups that are not ours)."""
    if not comment or not comment.startswith(f"{TAG} "):
        return {}
    pairs = (part.split("=", 1) for part in comment.split()[1:] if "=" in part)
    return {k: v for k, v in pairs}


def work_dir(inputs: FlowInputs) -> str:
    return f"{WORK_ROOT}/{inputs.site}-{inputs.source}"


def listener_config(inputs: FlowInputs) -> dict[str, Any]:
    """The listener's CONFIG.json (tools/oscar_iac/dcache/listener/config.py): no secret in it,
    only the name of the environment variable that holds the credential."""
    work = work_dir(inputs)
    auth: dict[str, Any]
    if inputs.auth == "basic":
        auth = {"kind": "basic", "username": inputs.username, "password_env": CREDENTIAL_ENV}
    else:
        # A dCache macaroon is presented like an OIDC token: `Authorization: Bearer`
        # (dCache User Guide, "macaroons").
        auth = {"kind": "oidc", "token_env": CREDENTIAL_ENV}
    endpoint = inputs.frontend.rstrip("/")
    if not endpoint.endswith("/api/v1"):
        # The frontend's REST base (dCache User Guide, frontend: <frontend>/api/v1/events).
        endpoint += "/api/v1"
    return {
        "endpoint": endpoint,
        "source": inputs.source,
        "client_id": group_name(inputs.site, inputs.source),
        "webdav": inputs.webdav.rstrip("/"),
        # Runs are short and restarted every 30 s; a channel that outlives NiFi being
        # stopped or restarted for up to an hour keeps the events of that time (dCache:
        # channels.lifetimeWhenDisconnected, at most 86400 s).
        "channel_timeout": 3600,
        "paths": [inputs.path],
        "recursive": inputs.recursive,
        "checkpoint": f"{work}/checkpoint.json",
        "auth": auth,
        "verify_tls": inputs.verify_tls,
        "ca_bundle": None,
        "sink": {"kind": "spool", "dir": f"{work}/spool"},
    }


def parameters(inputs: FlowInputs) -> dict[str, str | None]:
    """Name -> value of the group's parameters; sensitive ones are None (set at apply)."""
    return {
        "oscar-job-url": f"{inputs.oscar_url.rstrip('/')}/job/{inputs.service}",
        "oscar-authorization": None,
        "dcache-credential": None,
        "work-root": WORK_ROOT,
        "work-dir": work_dir(inputs),
        "listener-launcher": LAUNCHER,
        "listener-run-seconds": str(inputs.listener_run_seconds),
        "listener-config": json.dumps(listener_config(inputs), sort_keys=True),
    }


class _Ids:
    """Stable identifiers: the same site/source/component always gets the same UUID."""

    def __init__(self, inputs: FlowInputs) -> None:
        self.base = uuid.uuid5(uuid.NAMESPACE_URL, f"oscar-iac:{inputs.site}:{inputs.source}")

    def __call__(self, name: str) -> str:
        return str(uuid.uuid5(self.base, name))


def _descriptor(name: str, *, sensitive: bool = False, dynamic: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "displayName": name,
        "identifiesControllerService": False,
        "sensitive": sensitive,
        "dynamic": dynamic,
    }


def _processor(
    ids: _Ids,
    group: str,
    key: str,
    name: str,
    kind: str,
    nifi_version: str,
    properties: dict[str, str],
    *,
    x: float,
    y: float,
    period: str = "0 sec",
    primary: bool = False,
    auto_terminated: list[str] | None = None,
    dynamic: dict[str, bool] | None = None,
    retried: list[str] | None = None,
    penalty: str = "30 sec",
) -> dict[str, Any]:
    dyn = dynamic or {}
    return {
        "identifier": ids(key),
        "instanceIdentifier": ids(f"{key}-instance"),
        "name": name,
        "comments": "",
        "position": {"x": x, "y": y},
        "type": f"{PKG}.{kind}",
        "bundle": {
            "group": STANDARD_BUNDLE[0],
            "artifact": STANDARD_BUNDLE[1],
            "version": nifi_version,
        },
        "properties": properties,
        "propertyDescriptors": {
            n: _descriptor(n, sensitive=sens, dynamic=True) for n, sens in dyn.items()
        },
        "style": {},
        "schedulingPeriod": period,
        "schedulingStrategy": "TIMER_DRIVEN",
        "executionNode": "PRIMARY" if primary else "ALL",
        "penaltyDuration": penalty,
        "yieldDuration": "1 sec",
        "bulletinLevel": "WARN",
        "runDurationMillis": 0,
        "concurrentlySchedulableTaskCount": 1,
        "autoTerminatedRelationships": sorted(auto_terminated or []),
        "scheduledState": "ENABLED",
        "retryCount": 10 if retried else 0,
        "retriedRelationships": sorted(retried or []),
        "backoffMechanism": "PENALIZE_FLOWFILE",
        "maxBackoffPeriod": "10 mins",
        "componentType": "PROCESSOR",
        "groupIdentifier": group,
    }


def _connection(
    ids: _Ids,
    group: str,
    source: dict[str, Any],
    dest: dict[str, Any],
    relationships: list[str],
    *,
    max_objects: int = 10000,
) -> dict[str, Any]:
    def end(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": p["identifier"],
            "type": "PROCESSOR",
            "groupId": group,
            "name": p["name"],
            "comments": "",
            "instanceIdentifier": p["instanceIdentifier"],
        }

    key = f"conn:{source['name']}:{'+'.join(relationships)}:{dest['name']}"
    return {
        "identifier": ids(key),
        "instanceIdentifier": ids(f"{key}-instance"),
        "name": "",
        "source": end(source),
        "destination": end(dest),
        "labelIndex": 1,
        "zIndex": 0,
        "selectedRelationships": sorted(relationships),
        "backPressureObjectThreshold": max_objects,
        "backPressureDataSizeThreshold": "1 GB",
        "flowFileExpiration": "0 sec",
        "prioritizers": [],
        "bends": [],
        "loadBalanceStrategy": "DO_NOT_LOAD_BALANCE",
        "partitioningAttribute": "",
        "loadBalanceCompression": "DO_NOT_COMPRESS",
        "componentType": "CONNECTION",
        "groupIdentifier": group,
    }


@dataclass(frozen=True)
class _Step:
    """One processor of the flow: what `_processor` needs besides ids, group and version.
    `dynamic` names the properties NiFi holds as dynamic ones (True: sensitive)."""

    key: str
    name: str
    kind: str
    properties: dict[str, str]
    x: float
    y: float
    period: str = "0 sec"
    primary: bool = False
    auto_terminated: tuple[str, ...] = ()
    dynamic: dict[str, bool] = field(default_factory=dict)
    retried: tuple[str, ...] = ()


def _steps(inputs: FlowInputs, name: str) -> list[_Step]:
    """The processors, in the flow's order (the order of the snapshot's list)."""
    return [
        _Step(
            "trigger", "Start dCache listener", "GenerateFlowFile",
            {
                "File Size": "0B",
                "Batch Size": "1",
                "Data Format": "Text",
                "Unique FlowFiles": "false",
                "generate-ff-custom-text": "#{listener-config}",
                "mime-type": "application/json",
            },
            x=0, y=0, period="30 sec", primary=True,
        ),
        _Step(
            "listener", "dCache listener", "ExecuteStreamCommand",
            {
                "Command Path": "/bin/sh",
                "argumentsStrategy": "Command Arguments Property",
                "Command Arguments": "#{listener-launcher}",
                "Argument Delimiter": ";",
                "Ignore STDIN": "false",
                "Working Directory": "/tmp",
                "Max Attribute Length": "256",
                "OSCAR_IAC_WORK_DIR": "#{work-dir}",
                "OSCAR_IAC_LISTENER_SECONDS": "#{listener-run-seconds}",
                CREDENTIAL_ENV: "#{dcache-credential}",
            },
            x=0, y=200, primary=True,
            auto_terminated=("original",),
            dynamic={
                "OSCAR_IAC_WORK_DIR": False,
                "OSCAR_IAC_LISTENER_SECONDS": False,
                CREDENTIAL_ENV: True,
            },
        ),
        _Step(
            "log", "Listener log", "LogAttribute",
            {
                "Log Level": "info",
                "Log Payload": "true",
                "Attributes to Log": "execution.command,execution.status,execution.error",
                "Log prefix": f"{name}: ",
            },
            x=400, y=200, auto_terminated=("success",),
        ),
        _Step(
            "spool", "dCache events spool", "GetFile",
            {
                # GetFile refuses an Input Directory that does not exist yet (its validator
                # is createDirectoryExistsValidator(true, false) in NiFi 2.6.0): watch the
                # work root that the nifi role creates, and only this source's spool below it.
                "Input Directory": "#{work-root}",
                "Recurse Subdirectories": "true",
                "Path Filter": f"{inputs.site}-{inputs.source}/spool",
                "File Filter": r"[^\.].*\.json",
                "Keep Source File": "false",
                "Ignore Hidden Files": "true",
                "Minimum File Age": "0 sec",
                "Polling Interval": "1 sec",
                "Batch Size": "10",
            },
            x=0, y=400, period="1 sec", primary=True,
        ),
        _Step(
            "post", "POST to OSCAR /job", "InvokeHTTP",
            {
                "HTTP Method": "POST",
                "HTTP URL": "#{oscar-job-url}",
                "Request Content-Type": "application/json",
                "Request Body Enabled": "true",
                "Connection Timeout": "5 secs",
                "Socket Read Timeout": "30 secs",
                "Request Failure Penalization Enabled": "true",
                "Response Body Ignored": "true",
                "Response Generation Required": "false",
                "Response Redirects Enabled": "False",
                "Authorization": "#{oscar-authorization}",
            },
            x=0, y=600,
            auto_terminated=("Original", "Response"),
            dynamic={"Authorization": True},
            retried=("Failure", "Retry"),
        ),
        _Step(
            "failed", "Keep undeliverable events", "PutFile",
            {
                "Directory": "#{work-dir}/failed",
                "Conflict Resolution Strategy": "replace",
                "Create Missing Directories": "true",
                "Permissions": "rw-------",
            },
            x=400, y=600, auto_terminated=("success",),
        ),
    ]  # fmt: skip


# (from, to, relationships, back-pressure object threshold)
_LINKS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("trigger", "listener", ("success",), 1),
    ("listener", "log", ("output stream", "nonzero status"), 10000),
    ("spool", "post", ("success",), 10000),
    ("post", "post", ("Failure", "Retry"), 10000),
    ("post", "failed", ("No Retry",), 10000),
    ("failed", "failed", ("failure",), 10000),
)


def build_flow(inputs: FlowInputs) -> dict[str, Any]:
    """The RegisteredFlowSnapshot (JSON-ready dict) of one source's process group."""
    ids = _Ids(inputs)
    group = ids("group")
    name = group_name(inputs.site, inputs.source)
    made = {
        step.key: _processor(
            ids, group, step.key, step.name, step.kind, inputs.nifi_version, step.properties,
            x=step.x, y=step.y, period=step.period, primary=step.primary,
            auto_terminated=list(step.auto_terminated), dynamic=step.dynamic,
            retried=list(step.retried),
        )
        for step in _steps(inputs, name)
    }  # fmt: skip
    processors = list(made.values())
    connections = [
        _connection(ids, group, made[src], made[dst], list(rels), max_objects=most)
        for src, dst, rels, most in _LINKS
    ]
    params = parameters(inputs)
    flow = {
        "identifier": group,
        "instanceIdentifier": ids("group-instance"),
        "name": name,
        "comments": "",
        "position": {"x": 0.0, "y": 0.0},
        "processGroups": [],
        "remoteProcessGroups": [],
        "processors": processors,
        "inputPorts": [],
        "outputPorts": [],
        "connections": connections,
        "labels": [],
        "funnels": [],
        "controllerServices": [],
        "parameterContextName": name,
        "defaultFlowFileExpiration": "0 sec",
        "defaultBackPressureObjectThreshold": 10000,
        "defaultBackPressureDataSizeThreshold": "1 GB",
        "flowFileConcurrency": "UNBOUNDED",
        "flowFileOutboundPolicy": "STREAM_WHEN_AVAILABLE",
        "executionEngine": "STANDARD",
        "scheduledState": "ENABLED",
        "componentType": "PROCESS_GROUP",
    }
    snapshot: dict[str, Any] = {
        "flowContents": flow,
        "externalControllerServices": {},
        "parameterContexts": {
            name: {
                "name": name,
                "description": f"{TAG}: dCache source '{inputs.source}' of site '{inputs.site}'",
                "parameters": [
                    {
                        "name": k,
                        "description": "",
                        "sensitive": k in SENSITIVE_PARAMETERS,
                        "provided": False,
                        **({} if val is None else {"value": val}),
                    }
                    for k, val in sorted(params.items())
                ],
                "inheritedParameterContexts": [],
                "componentType": "PARAMETER_CONTEXT",
            }
        },
        "parameterProviders": {},
        "flowEncodingVersion": "1.0",
        "latest": False,
    }
    flow["comments"] = marker(inputs, flow_digest(snapshot))
    return snapshot


def flow_digest(snapshot: dict[str, Any]) -> str:
    """A short hash of the definition (its comment left out), to spot changed flows."""
    flow = dict(snapshot["flowContents"], comments="")
    body = json.dumps(dict(snapshot, flowContents=flow), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def substitute(snapshot: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """A copy with every `#{name}` replaced from `values` (for checks by processors that
    refuse parameter references, as nifi-mock has no parameter contexts)."""
    text = json.dumps(snapshot)
    for k, val in values.items():
        text = text.replace("#{" + k + "}", json.dumps(val)[1:-1])
    if "#{" in json.dumps(
        [p["properties"] for p in json.loads(text)["flowContents"]["processors"]]
    ):
        raise ValueError("a parameter reference was left unsubstituted")
    out: dict[str, Any] = json.loads(text)
    return out
