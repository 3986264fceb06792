"""The smoke test: one registered model called once, with its latency.

Synchronously (OSCAR's /run) when the platform serves it (Knative) and the model is
registered for sync calls; otherwise asynchronously: the input is uploaded to the
service's MinIO input and the output awaited (oscar_iac.client, the Python API users
call from Jupyter).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from oscar_iac.client import Client
from oscar_iac.errors import Problem, UserError
from oscar_iac.naming import service_name
from oscar_iac.oscar import OscarConnection
from oscar_iac.site.load import LoadedSite


@dataclass(frozen=True)
class SmokeResult:
    service: str
    mode: str  # sync | async | none
    latency: float | None
    detail: str


def _target(loaded: LoadedSite) -> tuple[str, str] | None:
    """(service name, mode the site registered it for) of the model to call."""
    site = loaded.site
    if not site.models:
        return None
    wanted = site.smoke.model
    for spec in site.models:
        name = spec.service or service_name(spec.module)
        if wanted is None or wanted in (spec.module, name):
            return name, spec.mode
    raise UserError(
        Problem(
            loaded.path,
            "smoke.model",
            f"{wanted!r} is not one of the site's models",
            loaded.line(("smoke", "model")),
        )
    )


def run(loaded: LoadedSite, conn: OscarConnection, knative: bool) -> SmokeResult:
    found = _target(loaded)
    if found is None:
        return SmokeResult("", "none", None, "the site lists no models: nothing to call")
    service, registered = found
    smoke = loaded.site.smoke
    if conn.token:
        client = Client(conn.url, token=conn.token, verify_tls=conn.verify_tls)
    else:
        client = Client(
            conn.url, user=conn.username, password=conn.password, verify_tls=conn.verify_tls
        )
    client.service(service)  # registered? (UserError naming the service otherwise)
    if smoke.input is None:
        return SmokeResult(
            service,
            "none",
            None,
            f"service {service} is registered; nothing was called "
            "(set smoke.input to a sample file to call it)",
        )
    path = Path(smoke.input)
    path = path if path.is_absolute() else loaded.directory / path
    if not path.is_file():
        raise UserError(
            Problem(
                loaded.path,
                "smoke.input",
                f"no such file: {path}",
                loaded.line(("smoke", "input")),
            )
        )
    mode = smoke.mode
    if mode == "auto":
        mode = "sync" if knative and registered in ("sync", "both") else "async"
    started = time.monotonic()
    if mode == "sync":
        answer = client.predict(service, path, timeout=smoke.timeout)
    else:
        answer = client.submit(service, path).result(timeout=smoke.timeout)
    latency = time.monotonic() - started
    shown = str(answer)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    return SmokeResult(service, mode, latency, f"{service} answered ({mode}): {shown}")
