"""Read `inventories/<site>/site.yml` into a `Site`, or fail naming file, field and line."""

from __future__ import annotations

import difflib
import os
import re
import sys
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from oscar_iac.catalog import read_folder
from oscar_iac.errors import Problem, UserError
from oscar_iac.secretfile import redact_url
from oscar_iac.secrets import SecretError, SecretRef, SecretResolver, allowed_dirs
from oscar_iac.site import model, rules
from oscar_iac.site.model import (
    NOTEBOOKS_FILE,
    DcacheEventSource,
    ImTarget,
    OscarTarget,
    Site,
    is_loopback,
)
from oscar_iac.yamlpos import Loc, dotted, line_for, load_yaml_with_lines

SITE_FILE = "site.yml"


@dataclass(frozen=True)
class LoadedSite:
    """A validated site and where it came from."""

    site: Site
    path: Path  # the site.yml file
    lines: dict[Loc, int]

    @property
    def directory(self) -> Path:
        return self.path.parent

    def line(self, loc: Loc) -> int | None:
        return line_for(self.lines, loc)


def site_file(arg: Path) -> Path:
    """Accept a site folder or its site.yml."""
    return arg / SITE_FILE if arg.is_dir() else arg


def _known_keys() -> set[str]:
    """Every field name of every model of the site schema (for spelling hints)."""
    names: set[str] = set()
    for obj in vars(model).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            names.update(obj.model_fields)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation refers to (through Optional, unions, lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    origin = typing.get_origin(annotation)
    if origin is not None and origin not in (typing.Union, types.UnionType, list, dict):
        found += _models_in(origin)
    return found


@cache
def _key_homes() -> dict[str, tuple[str, ...]]:
    """Every key of the site schema -> the dotted places where it is allowed
    (list items as `events[]`), for "it belongs under ..." hints."""
    homes: dict[str, list[str]] = {}

    def walk(model: type[BaseModel], prefix: str, seen: frozenset[type]) -> None:
        for name, info in model.model_fields.items():
            key = info.alias or name
            place = f"{prefix}.{key}" if prefix else key
            homes.setdefault(key, []).append(place)
            listed = typing.get_origin(info.annotation) is list or any(
                typing.get_origin(a) is list for a in typing.get_args(info.annotation)
            )
            for sub in _models_in(info.annotation):
                if sub not in seen:
                    walk(sub, place + ("[]" if listed else ""), seen | {sub})

    walk(Site, "", frozenset({Site}))
    return {k: tuple(dict.fromkeys(v)) for k, v in homes.items()}


def _unknown_key_hint(loc: tuple[Any, ...]) -> str:
    """Where a misplaced key belongs, else the closest known spelling."""
    key = str(loc[-1]) if loc else ""
    here = re.sub(r"\[\d+\]", "[]", dotted(loc))
    homes = [h for h in _key_homes().get(key, ()) if h != here]
    if homes:
        return f" ('{key}' is not allowed here; it belongs at {' or '.join(homes[:3])})"
    close = difflib.get_close_matches(key, sorted(_known_keys()), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _friendly(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        hint = _unknown_key_hint(tuple(err.get("loc", ())))
        return f"unknown key{hint}; see inventories/*/site.yml for the known keys"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"'kind' must be one of {ctx.get('expected_tags', '')}; got {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return "needs 'kind' to say which variant this is"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _loc_for_error(err: dict[str, Any]) -> Loc:
    # Discriminated unions add the tag as a path element ('im', 'egi'...): drop it.
    loc: list[str | int] = []
    for part in err.get("loc", ()):
        if part == "oscar" and loc == ["target"]:  # the tag of target kind 'oscar'
            continue
        if isinstance(part, str) and part in {
            "im",
            "hosts",
            "local",
            "egi",
            "openstack",
            "nodes",
            "minio",
            "dcache",
        }:
            continue
        loc.append(part)
    return tuple(loc)


def _secret_refs(obj: Any, loc: Loc = ()) -> list[tuple[Loc, SecretRef]]:
    found: list[tuple[Loc, SecretRef]] = []
    if isinstance(obj, SecretRef):
        found.append((loc, obj))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            found.extend(_secret_refs(item, (*loc, i)))
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            found.extend(_secret_refs(getattr(obj, name), (*loc, name)))
    return found


def load_site(arg: Path, *, check_secrets: bool = True) -> LoadedSite:
    """Parse and validate a site. Raises UserError (exit 2) listing every problem."""
    path = site_file(arg)
    if not path.exists():
        raise UserError(Problem(path, "", f"no site description here (expected {SITE_FILE})"))
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise UserError(
            Problem(path, "", "expected a mapping at the top level (name, target, cluster...)", 1)
        )
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _loc_for_error(dict(err))
            problems.append(
                Problem(
                    path, dotted(loc) or "(top level)", _friendly(dict(err)), line_for(lines, loc)
                )
            )
        raise UserError(problems) from exc
    loaded = LoadedSite(site=site, path=path, lines=lines)
    findings = rules.check(site)
    if findings:
        raise UserError(
            [Problem(path, dotted(loc), msg, loaded.line(loc)) for loc, msg in findings]
        )
    _check_catalog(loaded)
    _check_token_file(loaded)
    _warn_insecure(loaded)
    if check_secrets:
        resolver = SecretResolver(site_dir=path.parent)
        problems = []
        for loc, ref in _secret_refs(site):
            try:
                resolver.check(ref)
            except SecretError as exc:
                problems.append(
                    Problem(
                        path,
                        dotted(loc),
                        f"unresolvable secret reference {ref!r}: {exc}",
                        loaded.line(loc),
                    )
                )
        if problems:
            raise UserError(problems)
    return loaded


def _check_token_file(loaded: LoadedSite) -> None:
    """A token file a site names lies inside the site folder (or a folder the user
    allowed); only EGI Notebooks' own fixed path is read outside it."""
    tgt = loaded.site.target
    if not isinstance(tgt, ImTarget | OscarTarget) or tgt.token.notebooks_file == NOTEBOOKS_FILE:
        return
    given = Path(tgt.token.notebooks_file).expanduser()
    path = given if given.is_absolute() else loaded.directory / given
    real = Path(os.path.realpath(path))
    allowed = allowed_dirs(loaded.directory)
    if not any(real == d or real.is_relative_to(d) for d in allowed):
        loc: Loc = ("target", "token", "notebooks_file")
        raise UserError(
            Problem(
                loaded.path,
                dotted(loc),
                f"{given} is {real}, outside the site folder {allowed[0]}; expected a file "
                "inside it (or list its folder in OSCAR_IAC_SECRET_DIRS)",
                loaded.line(loc),
            )
        )


def _check_catalog(loaded: LoadedSite) -> None:
    """With a folder catalog, every model the site lists must be a servable module of it.
    (The 'git' and 'api' sources are read when models are applied.)"""
    site = loaded.site
    if site.catalog.source != "folder" or not site.models:
        return
    location = Path(site.catalog.location).expanduser()
    root = location if location.is_absolute() else loaded.directory / location
    if not root.is_dir():
        raise UserError(
            Problem(
                loaded.path,
                "catalog.location",
                f"expected a folder of catalog modules; {root} is not one",
                loaded.line(("catalog", "location")),
            )
        )
    catalog = {m.module: m for m in read_folder(root)}
    problems = []
    for i, spec in enumerate(site.models):
        model = catalog.get(spec.module)
        if model is None:
            close = difflib.get_close_matches(spec.module, sorted(catalog), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            why = f"is not in the catalog (folder {root}){hint}"
        elif not model.inference:
            why = "is not an inference model (no 'AI4 inference' category)"
        else:
            continue
        loc: Loc = ("models", i, "module")
        problems.append(
            Problem(loaded.path, dotted(loc), f"{spec.module!r} {why}", loaded.line(loc))
        )
    if problems:
        raise UserError(problems)


def _warn_insecure(loaded: LoadedSite) -> None:
    """TLS verification turned off is allowed, but never silently: say it on stderr."""
    site = loaded.site
    spots: list[tuple[Loc, str]] = []
    if getattr(site.target, "verify_tls", True) is False:
        spots.append((("target", "verify_tls"), "the IM server's certificate"))
    for i, e in enumerate(site.events):
        if not e.verify_tls:
            spots.append((("events", i, "verify_tls"), f"event source {e.name!r}'s certificate"))
    for loc, what in spots:
        _warn(
            loaded,
            loc,
            f"false: {what} is NOT verified; anyone on the path can read the "
            "credentials sent there (see README, 'TLS verification')",
        )
    for loc, url in _plain_http(site):
        _warn(
            loaded,
            loc,
            f"{redact_url(url)} is plain http://: the credentials sent there "
            "travel unencrypted (use https://)",
        )


def _plain_http(site: Site) -> list[tuple[Loc, str]]:
    """URLs a credential is sent to that are plain http:// to another machine."""
    urls: list[tuple[Loc, str]] = []
    if isinstance(site.target, OscarTarget):
        urls.append((("target", "endpoint"), str(site.target.endpoint)))
    if site.catalog.source == "api":
        urls.append((("catalog", "location"), site.catalog.location))
    for i, e in enumerate(site.events):
        if isinstance(e, DcacheEventSource):
            urls += [
                (("events", i, "frontend"), str(e.frontend)),
                (("events", i, "webdav"), str(e.webdav)),
            ]
        else:
            urls.append((("events", i, "endpoint"), str(e.endpoint)))
    return [
        (loc, url)
        for loc, url in urls
        if urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname)
    ]


def _warn(loaded: LoadedSite, loc: Loc, text: str) -> None:
    line = loaded.line(loc)
    where = f"{loaded.path}:{line}" if line else str(loaded.path)
    print(f"warning: {where}: {dotted(loc)}: {text}", file=sys.stderr)
