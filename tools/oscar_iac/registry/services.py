"""Models as OSCAR services: the site's catalog, the services it wants, plan and apply
(concurrently), remove.

Only services this tool created for this site are ever updated or removed: they
carry the labels `oscar-iac/managed: "true"` and `oscar-iac/site: <site>`. A content
hash label makes a second `apply` change nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
from oscar_python.client import Client

from oscar_iac.catalog import CatalogModel, read_folder
from oscar_iac.catalog import api as catalog_api
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.fdl import MANAGED_LABEL, service_definition, service_name
from oscar_iac.oscar import OscarConnection
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


def _managed(cl: Client, site: str) -> dict[str, dict[str, Any]]:
    try:
        services = cl.list_services().json() or []
    except requests.HTTPError as exc:
        raise _http_error(exc, "list services") from exc
    except requests.RequestException as exc:
        raise DeploymentError(f"cannot reach OSCAR: {exc}") from exc
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


def plan(
    conn: OscarConnection,
    loaded: LoadedSite,
    *,
    remove_all: bool = False,
    catalog: dict[str, CatalogModel] | None = None,
) -> list[ServiceChange]:
    want = {} if remove_all else desired(loaded, catalog)
    have = _managed(client(conn), loaded.site.name)
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
        try:
            if change.action == "create":
                cl.create_service(want[change.service])
            elif change.action == "update":
                cl.update_service(change.service, want[change.service])
            elif change.action == "delete":
                cl.remove_service(change.service)
        except requests.HTTPError as exc:
            raise _http_error(exc, f"{change.action} service {change.service}") from exc
        return change

    todo = [c for c in changes if c.action != "unchanged"]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = list(pool.map(do, todo))
    return done + [c for c in changes if c.action == "unchanged"]
