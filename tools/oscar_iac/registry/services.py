"""Models as OSCAR services: the site's catalog, the services it wants, plan and apply
(concurrently), remove.

Only services this tool created for this site are ever updated or removed: they
carry the labels `oscar-iac/managed: "true"` and `oscar-iac/site: <site>`. A content
hash label makes a second `apply` change nothing.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
from oscar_python.client import Client

from oscar_iac.catalog import CatalogModel, read_folder
from oscar_iac.catalog import api as catalog_api
from oscar_iac.errors import DeploymentError, Problem, UserError, short_reason
from oscar_iac.fdl import MANAGED_LABEL, service_definition, service_name
from oscar_iac.oscar import OscarConnection, unreachable
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import DcacheEventSource

SITE_LABEL = "oscar-iac/site"
HASH_LABEL = "oscar-iac/hash"
Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class ServiceChange:
    service: str
    action: Action
    module: str = ""


def client(conn: OscarConnection) -> Client:
    return Client(conn.client_options())


@dataclass
class SiteCatalog:
    """The site's catalog; `note` says where an API catalog's data came from and its age."""

    models: dict[str, CatalogModel]
    note: str | None = None
    warnings: list[str] = field(default_factory=list)


def load_catalog(
    loaded: LoadedSite,
    *,
    modules: list[str] | None = None,
    refresh: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SiteCatalog:
    """The site's `catalog:`; for the `api` source only `modules` (None: all of them),
    from the site's cache unless `refresh` (see oscar_iac.catalog.api)."""
    cat = loaded.site.catalog
    if cat.source == "api":
        got = catalog_api.load(
            loaded.site.name,
            catalog_api.location_for(cat.location),
            modules,
            refresh=refresh,
            progress=progress,
        )
        if got.missing:
            raise UserError([_missing(loaded, name, got.location) for name in got.missing])
        warnings = [f"left out {name}: {why}" for name, why in sorted(got.rejected.items())]
        note = got.note()
        if got.location != cat.location.rstrip("/"):
            note += f" ({catalog_api.ENV_LOCATION} overrides the site's {cat.location})"
        return SiteCatalog(got.models, note, warnings)
    location = Path(cat.location)
    return SiteCatalog(
        {
            m.module: m
            for m in read_folder(
                location if location.is_absolute() else loaded.directory / location
            )
        }
    )


def _missing(loaded: LoadedSite, name: str, location: str) -> Problem:
    why = (
        f"{name!r} is not in the catalog API {location} (GET {location}/modules/{name}/metadata "
        f"answered 404; the modules are listed at {location}/modules, and tools under "
        f"{location}/tools are not models)"
    )
    for i, spec in enumerate(loaded.site.models):
        if spec.module == name:
            return Problem(
                loaded.path, f"models[{i}].module", why, loaded.line(("models", i, "module"))
            )
    return Problem(location, "", why)


def site_catalog(loaded: LoadedSite) -> dict[str, CatalogModel]:
    return load_catalog(loaded).models


def desired(
    loaded: LoadedSite, catalog: dict[str, CatalogModel] | None = None
) -> dict[str, dict[str, Any]]:
    """Service name -> definition for every model the site lists (from `catalog` if given)."""
    if catalog is None:
        catalog = load_catalog(loaded, modules=[m.module for m in loaded.site.models]).models
    out: dict[str, dict[str, Any]] = {}
    for i, spec in enumerate(loaded.site.models):
        model = catalog.get(spec.module)
        if model is None or not model.inference:
            why = "is not in the catalog" if model is None else "is not an inference model"
            raise UserError(
                Problem(
                    loaded.path,
                    f"models[{i}].module",
                    f"{spec.module!r} {why}",
                    loaded.line(("models", i, "module")),
                )
            )
        name = spec.service or service_name(model.module)
        dcache = next(
            (
                e
                for e in loaded.site.events
                if isinstance(e, DcacheEventSource) and e.service == name
            ),
            None,
        )
        if spec.dcache_input and dcache is None:
            raise UserError(
                Problem(
                    loaded.path,
                    f"models[{i}].dcache_input",
                    f"needs a dcache event source whose service is {name!r}",
                    loaded.line(("models", i, "dcache_input")),
                )
            )
        svc = service_definition(model, spec, dcache=dcache if spec.dcache_input else None)
        svc["labels"][SITE_LABEL] = loaded.site.name
        digest = hashlib.sha256(json.dumps(svc, sort_keys=True).encode()).hexdigest()[:16]
        svc["labels"][HASH_LABEL] = digest
        out[svc["name"]] = svc
    return out


def _managed(cl: Client, loaded: LoadedSite) -> dict[str, dict[str, Any]]:
    site = loaded.site.name
    try:
        answer = cl.list_services()
    except requests.HTTPError as exc:
        raise _http_error(exc, "list services") from exc
    except requests.RequestException as exc:
        url = str(getattr(exc.request, "url", None) or "its endpoint").split("/system/")[0]
        raise unreachable(loaded, url, short_reason(exc)) from exc
    try:
        services = answer.json() or []
    except ValueError as exc:  # requests.JSONDecodeError: e.g. a proxy's HTML page
        url = answer.url.split("/system/")[0]
        raise DeploymentError(
            f"{url} answered GET /system/services with something that is not JSON "
            "(OSCAR answers a JSON list of services): is it OSCAR's endpoint?",
            hints=["--oscar-endpoint URL names another OSCAR"],
        ) from exc
    return {
        s["name"]: s
        for s in services
        if (s.get("labels") or {}).get(MANAGED_LABEL) == "true"
        and (s.get("labels") or {}).get(SITE_LABEL) == site
    }


def _http_error(exc: requests.HTTPError, what: str) -> Exception:
    resp = exc.response
    status = resp.status_code if resp is not None else 0
    text = resp.text[:300] if resp is not None else str(exc)
    if status in (400, 401, 403, 409):
        return UserError(f"OSCAR refused to {what} ({status}): {text}")
    return DeploymentError(f"OSCAR failed to {what} ({status}): {text}")


# OSCAR v4.1.2 restarts its MinIO on every service create, update and delete (to load the
# service's webhook: pkg/handlers/create.go registerMinIOWebhook -> pkg/utils/minio.go
# RestartServer, which then sleeps 6 s), with no lock around it. A request that reaches
# MinIO while another one restarts it fails with 500 (measured on the real OSCAR:
# `error registering the service's webhook: ... connection refused`, or `error
# restarting the MinIO server`), and OSCAR rolls the service back
# (back.DeleteService). Such a 500 is retried, after a jittered pause.
TRANSIENT_MINIO = (
    "connection refused",
    "error restarting the minio server",
    "connection reset",
    "eof",
    "server not initialized",
)
WRITE_ATTEMPTS = 10
# Creates/updates in flight at once. Measured on the real OSCAR v4.1.2 with 50 services
# (benchmarks/bench_models_apply.py): with 16 in flight most lost the restart race and
# some ran out of attempts; OSCAR itself serializes on its MinIO restarts.
WRITE_CONCURRENCY = 2


def _keep_owner(cl: Client, definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with the service's current `owner`. OSCAR v4.1.2 keeps the owner on
    an update only for OIDC users (pkg/handlers/update.go MakeUpdateHandler: `newService.Owner
    = oldService.Owner` sits in the `!isAdminUser` branch): a Basic-auth update without it
    stores an empty owner, and the service's delete then fails with 500 after removing its
    Kubernetes objects ("error removing resource": DeleteMinIOBuckets asks MinIO for the
    policy of owner ""), leaving its buckets. Found against the real OSCAR."""
    current = cl.get_service(definition["name"]).json() or {}
    owner = current.get("owner")
    return {**definition, "owner": owner} if owner and "owner" not in definition else definition


def _transient(exc: requests.HTTPError) -> bool:
    resp = exc.response
    if resp is None or resp.status_code not in (500, 502, 503):
        return False
    text = resp.text.lower()
    return any(t in text for t in TRANSIENT_MINIO)


def plan(
    conn: OscarConnection,
    loaded: LoadedSite,
    *,
    remove_all: bool = False,
    catalog: dict[str, CatalogModel] | None = None,
) -> list[ServiceChange]:
    want = {} if remove_all else desired(loaded, catalog)
    have = _managed(client(conn), loaded)
    changes: list[ServiceChange] = []
    for name, svc in sorted(want.items()):
        module = svc["labels"].get("oscar-iac/module", "")
        if name not in have:
            changes.append(ServiceChange(name, "create", module))
        elif (have[name].get("labels") or {}).get(HASH_LABEL) != svc["labels"][HASH_LABEL]:
            changes.append(ServiceChange(name, "update", module))
        else:
            changes.append(ServiceChange(name, "unchanged", module))
    changes += [ServiceChange(name, "delete") for name in sorted(set(have) - set(want))]
    return changes


def apply(
    conn: OscarConnection,
    loaded: LoadedSite,
    *,
    remove_all: bool = False,
    workers: int = 16,
    catalog: dict[str, CatalogModel] | None = None,
) -> list[ServiceChange]:
    """Make OSCAR match the plan, several services at a time; returns what was done."""
    want = {} if remove_all else desired(loaded, catalog)
    changes = plan(conn, loaded, remove_all=remove_all, catalog=catalog)

    def do(change: ServiceChange) -> ServiceChange:
        cl = client(conn)  # one client per thread
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                if change.action == "create":
                    cl.create_service(want[change.service])
                elif change.action == "update":
                    cl.update_service(change.service, _keep_owner(cl, want[change.service]))
                elif change.action == "delete":
                    cl.remove_service(change.service)
                return change
            except requests.HTTPError as exc:
                resp = exc.response
                gone = resp is not None and resp.status_code == 404
                if change.action == "delete" and attempt > 1 and gone:
                    return change  # an earlier attempt removed it before MinIO failed
                if attempt == WRITE_ATTEMPTS or not _transient(exc):
                    raise _http_error(exc, f"{change.action} service {change.service}") from exc
            time.sleep(random.uniform(1.0, 3.0) * attempt)
        return change

    # Creates and updates run concurrently (a create that lost the MinIO restart race is
    # rolled back by OSCAR and retried). Deletes run one at a time, after them: OSCAR v4.1.2
    # deletes the Kubernetes objects first and the service's buckets last
    # (pkg/handlers/delete.go MakeDeleteHandler), so a delete that fails on a MinIO
    # restarted by another request leaves buckets behind and cannot be retried (404).
    writes = [c for c in changes if c.action in ("create", "update")]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, WRITE_CONCURRENCY))) as pool:
        done = list(pool.map(do, writes))
    done += [do(c) for c in changes if c.action == "delete"]
    return done + [c for c in changes if c.action == "unchanged"]
