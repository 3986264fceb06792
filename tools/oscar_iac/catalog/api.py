"""The `api` catalog source: the AI4OS catalog API, with the last good answer cached.

`load()` answers from the site's cache when it holds what is asked (and says how old
it is), else fetches (always, with `refresh`). Fetched metadata is written into a new
cache snapshot as `modules/<name>/ai4-metadata.yml` and read from there by the very
reader folder catalogs use (`read_module`), so the same checks apply; the snapshot
becomes current only when every answer passed them.

The site's `catalog.location` can be overridden with OSCAR_IAC_CATALOG_API (a mirror,
a test double); the cache is kept per location.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oscar_iac.catalog import api_cache
from oscar_iac.catalog.api_client import (
    BadStatus,
    CatalogApiClient,
    FetchSettings,
    Malformed,
    Unreachable,
)
from oscar_iac.catalog.model import CatalogModel
from oscar_iac.catalog.read import read_module
from oscar_iac.errors import DeploymentError, Problem, UserError

ENV_LOCATION = "OSCAR_IAC_CATALOG_API"
# ai4-papi's `Catalog._get_metadata` (ai4papi/routers/v1/catalog/common.py) serves this
# placeholder, tagged 'invalid metadata', for a module whose metadata it could not fetch
# or validate; its `description` says why.
PLACEHOLDER_TAG = "invalid metadata"


def location_for(configured: str) -> str:
    """The catalog API to use: OSCAR_IAC_CATALOG_API if set, else the site's location."""
    return (os.environ.get(ENV_LOCATION) or configured).rstrip("/")


@dataclass
class ApiCatalog:
    location: str
    models: dict[str, CatalogModel] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # asked for, not in the catalog (404)
    rejected: dict[str, str] = field(default_factory=dict)  # listed, malformed (whole list)
    from_cache: bool = False
    data_at: float | None = None  # when the oldest piece of data used was fetched
    asked: bool = True  # False: nothing was needed (a site with no models), nothing read

    def note(self) -> str:
        """One line for people: where the data came from and how old it is."""
        if not self.asked:
            return f"catalog API {self.location}: the site lists no models, so it was not asked"
        if not self.from_cache:
            return f"catalog API {self.location}: fetched just now (kept for offline use)"
        when = api_cache.age(self.data_at) if self.data_at is not None else "at an unknown time"
        return f"catalog API {self.location}: cached copy fetched {when}; --refresh fetches again"


def _translate(exc: UserError, name: str, url: str) -> UserError:
    """Reader problems about a staged file -> problems naming the module and its URL."""
    return UserError(
        [Problem(url, p.field, f"module {name!r}: {p.message}") for p in exc.problems]
        or [Problem(url, "", f"module {name!r}: {exc}")]
    )


def _check_answer(name: str, url: str, data: dict[str, Any]) -> None:
    """What ai4-papi can send that the folder reader would take for a model."""
    tags = data.get("tags")
    if isinstance(tags, list) and PLACEHOLDER_TAG in tags:
        why = str(data.get("description") or "no reason given")
        raise UserError(
            Problem(
                url,
                "tags",
                f"module {name!r}: the catalog API serves a placeholder "
                f"({PLACEHOLDER_TAG!r}) instead of its metadata: {why}",
            )
        )
    if "id" in data and data["id"] != name:
        raise UserError(
            Problem(url, "id", f"module {name!r}: expected {name!r}, got {data['id']!r}")
        )
    links = data.get("links")
    image = links.get("docker_image") if isinstance(links, dict) else None
    if isinstance(image, str) and not image.strip():
        raise UserError(
            Problem(url, "links.docker_image", f"module {name!r}: empty, no image to serve")
        )


def _offer(snap: api_cache.Snapshot, wanted: list[str] | None, refresh: bool) -> list[str]:
    """What the cache can still do when the API cannot be reached."""
    if snap.root is None:
        return ["no cached copy of this catalog exists yet for this site"]
    if wanted is None:
        have = snap.names is not None and all(
            n in snap.modules or n in snap.rejected for n in snap.names
        )
        held = f"the whole catalog ({len(snap.modules)} modules)"
        lacking: list[str] = [] if have else ["the full module list"]
    else:
        lacking = [n for n in wanted if n not in snap.modules]
        held = ", ".join(wanted)
    at = snap.oldest(list(snap.modules)) if wanted is None else snap.oldest(wanted)
    when = api_cache.age(at) if at is not None else "an unknown time"
    if lacking:
        return [
            f"a cached copy fetched {when} exists, but it lacks: {', '.join(lacking)}",
        ]
    if refresh:
        return [f"a cached copy fetched {when} holds {held}: run the command without --refresh"]
    return [f"a cached copy fetched {when} holds {held}"]


def load(
    site_name: str,
    location: str,
    modules: list[str] | None,
    *,
    refresh: bool = False,
    settings: FetchSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ApiCatalog:
    """`modules`: the names a site needs, or None for the whole catalog; `progress(done,
    total)` is called as module answers arrive (from the fetching threads)."""
    folder = api_cache.cache_dir(site_name, location)
    snap = api_cache.load(folder, location)
    wanted = None if modules is None else list(dict.fromkeys(modules))
    if wanted == []:  # nothing to fetch, nothing to date: say so instead of "just now"
        return ApiCatalog(location, asked=False)
    if not refresh and snap.root is not None:
        if wanted is None and snap.names is not None:
            usable = all(n in snap.modules or n in snap.rejected for n in snap.names)
            names = [n for n in snap.names if n in snap.modules]
        else:
            usable = wanted is not None and all(n in snap.modules for n in wanted)
            names = wanted or []
        if usable:
            return _from_snapshot(snap, names, wanted, from_cache=True)
    return _fetch(folder, snap, location, wanted, refresh, settings, progress)


def _from_snapshot(
    snap: api_cache.Snapshot, names: list[str], wanted: list[str] | None, *, from_cache: bool
) -> ApiCatalog:
    out = ApiCatalog(snap.location, from_cache=from_cache)
    for name in names:
        out.models[name] = read_module(snap.module_folder(name))
    if wanted is None:
        out.rejected = dict(snap.rejected)
        out.data_at = snap.oldest(list(snap.modules))
    else:
        out.data_at = snap.oldest(names)
    return out


def _fetch(
    folder: Path,
    snap: api_cache.Snapshot,
    location: str,
    wanted: list[str] | None,
    refresh: bool,
    settings: FetchSettings | None,
    progress: Callable[[int, int], None] | None = None,
) -> ApiCatalog:
    client = CatalogApiClient(location, settings)
    now = time.time()
    staging = api_cache.Staging(folder, snap)
    rejected: dict[str, str] = {}
    models: dict[str, CatalogModel] = {}
    lock = threading.Lock()

    def each(name: str, data: dict[str, Any]) -> None:
        """Check, stage and read one answer as it arrives (in the fetching thread, so
        the reader's work overlaps the other requests' waits)."""
        url = client.metadata_url(name)
        try:
            _check_answer(name, url, data)
            staged = staging.add(name, data, now)
            try:
                model = read_module(staged)
            except UserError as exc:
                raise _translate(exc, name, url) from exc
        except UserError as exc:
            staging.drop(name)
            if wanted is not None:
                raise  # a model the site needs: nothing is cached from this answer
            with lock:
                rejected[name] = str(exc)
            return
        with lock:
            models[name] = model

    try:
        try:
            names = client.names() if wanted is None else wanted
            fetched = client.fetch(names, each, progress)
        except Unreachable as exc:
            raise DeploymentError(
                f"cannot reach the catalog API: {exc}", hints=_offer(snap, wanted, refresh)
            ) from exc
        except BadStatus as exc:
            raise DeploymentError(
                f"the catalog API failed: {exc}", hints=_offer(snap, wanted, refresh)
            ) from exc
        except Malformed as exc:
            raise UserError(Problem(exc.url, exc.field, f"malformed answer: {exc}")) from exc
        for name in fetched.missing:
            staging.drop(name)
        if wanted is None:
            for name in fetched.missing:
                rejected[name] = f"listed by {client.modules_url()}, but its metadata answered 404"
            staging.set_names(names, now, rejected)
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    # The staged folder is the committed snapshot: the models read from it stay valid.
    out = ApiCatalog(location, from_cache=False, data_at=now)
    out.models = {n: models[n] for n in names if n in models}
    out.missing = list(fetched.missing)
    out.rejected = rejected
    return out
