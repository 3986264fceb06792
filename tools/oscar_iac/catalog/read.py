"""Read `ai4-metadata.yml` (AI4OS, schema 2.x) and legacy DEEP `metadata.json` (v1).

A malformed file is a UserError naming the file and the field.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from oscar_iac.catalog.model import CatalogModel, Resources
from oscar_iac.errors import Problem, UserError
from oscar_iac.naming import service_name
from oscar_iac.yamlpos import load_json, load_yaml_with_lines, with_lines

AI4_FILE = "ai4-metadata.yml"
DEEP_FILE = "metadata.json"
INFERENCE_CATEGORY = "AI4 inference"
DEFAULT = Resources()

# A container image reference without tag or digest (what the catalog names), per the
# grammar of distribution/reference (reference.go, regexp.go):
#   name      := [domain '/'] path-component ['/' path-component]*
#   domain    := host [':' port]     host: DNS labels (letters, digits, '-') joined by '.'
#   path-component := [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)*
# A tag (':' [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) and a digest ('@' algorithm ':' hex{32,})
# are accepted after the name.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?"
IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}})?$"
)
IMAGE_MAX = 255  # distribution/reference's NameTotalLengthMax
# Bounds on what a module may ask for: above them no node of any site could run it.
LIMITS = {"cpu": 512.0, "memory_MB": float(2**24), "gpu": 16.0}


def _image(value: str, path: Path, fld: str) -> str:
    """A container image reference such as 'ai4oshub/ai4os-demo-app' (no spaces, no ';')."""
    first = value.split("/", 1)[0] if "/" in value else ""
    # Docker takes the first component for a registry only when it has '.' or ':'
    # (or is localhost); otherwise it is a lowercase path component.
    host_like = "." in first or ":" in first or first == "localhost"
    if (
        len(value) > IMAGE_MAX
        or not IMAGE_RE.match(value)
        or (first and not host_like and first != first.lower())
    ):
        raise UserError(
            Problem(
                path,
                fld,
                "expected a container image reference such as 'ai4oshub/ai4os-demo-app' "
                f"(lowercase path, optional registry and ':tag'); got {value!r}"[:300],
            )
        )
    return value


def _strings(raw: Any, path: Path, fld: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise UserError(Problem(path, fld, f"expected a list of strings, got {raw!r}"[:200]))
    return tuple(raw)


def _need(data: dict[str, Any], dotted: str, path: Path, kind: type | tuple[type, ...]) -> Any:
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise UserError(Problem(path, dotted, "required field is missing"))
        cur = cur[part]
    if not isinstance(cur, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserError(Problem(path, dotted, f"expected {names}, got {type(cur).__name__}"))
    return cur


def _resources(inference: Any, path: Path) -> Resources:
    if inference is None:
        return DEFAULT
    if not isinstance(inference, dict):
        raise UserError(Problem(path, "resources.inference", "expected a mapping"))
    values: dict[str, Any] = {}
    for key, target, cast in (
        ("cpu", "cpu", float),
        ("memory_MB", "memory_mb", int),
        ("gpu", "gpu", int),
    ):
        if key in inference:
            raw = inference[key]
            fld = f"resources.inference.{key}"
            low = "a number >= 0" if key == "gpu" else "a number > 0"
            if (
                isinstance(raw, bool)
                or not isinstance(raw, int | float)
                or not math.isfinite(raw)
                or raw < 0
                or (raw == 0 and key != "gpu")
                or raw > LIMITS[key]
            ):
                raise UserError(
                    Problem(path, fld, f"expected {low} and <= {LIMITS[key]:g}, got {raw!r}")
                )
            if cast is int and raw != int(raw):
                raise UserError(Problem(path, fld, f"expected a whole number, got {raw!r}"))
            values[target] = cast(raw)
    return Resources(**{**DEFAULT.__dict__, **values})


def _title(data: dict[str, Any], path: Path) -> str:
    title: str = _need(data, "title", path, str)
    if not title.strip():
        raise UserError(Problem(path, "title", "expected a non-empty title"))
    return title


def _summary(data: dict[str, Any], path: Path) -> str:
    summary = data.get("summary", "")
    if summary is None:
        return ""
    if not isinstance(summary, str):
        raise UserError(
            Problem(path, "summary", f"expected a string, got {type(summary).__name__}")
        )
    return summary


def read_ai4(path: Path, module: str) -> CatalogModel:
    data, lines = load_yaml_with_lines(path, unique_keys=False)
    try:
        return _ai4(data, path, module)
    except UserError as exc:
        raise with_lines(exc, path, lines) from exc


def _ai4(data: Any, path: Path, module: str) -> CatalogModel:
    if not isinstance(data, dict):
        raise UserError(Problem(path, "", "expected a mapping"))
    version = str(_need(data, "metadata_version", path, (str, int, float)))
    if not version.startswith("2."):
        raise UserError(
            Problem(path, "metadata_version", f"expected a 2.x schema version, got {version!r}")
        )
    categories = _strings(_need(data, "categories", path, list), path, "categories")
    resources = data.get("resources")
    if resources is not None and not isinstance(resources, dict):
        raise UserError(
            Problem(path, "resources", f"expected a mapping, got {type(resources).__name__}")
        )
    return CatalogModel(
        module=module,
        title=_title(data, path),
        summary=_summary(data, path),
        image=_image(_need(data, "links.docker_image", path, str), path, "links.docker_image"),
        inference=INFERENCE_CATEGORY in categories,
        resources=_resources((resources or {}).get("inference"), path),
        source=path,
        metadata_format=f"ai4-metadata {version}",
        tags=_strings(data.get("tags"), path, "tags"),
    )


def read_deep(path: Path, module: str) -> CatalogModel:
    data = load_json(path)
    if not isinstance(data, dict):
        raise UserError(Problem(path, "", "expected an object"))
    keywords = _strings(_need(data, "keywords", path, list), path, "keywords")
    image = _need(data, "sources.docker_registry_repo", path, str)
    return CatalogModel(
        module=module,
        title=_title(data, path),
        summary=_summary(data, path),
        image=_image(image, path, "sources.docker_registry_repo"),
        inference="inference" in keywords,
        resources=DEFAULT,
        source=path,
        metadata_format="DEEP metadata.json v1",
        tags=keywords,
    )


def read_module(folder: Path) -> CatalogModel:
    """A module folder (a checkout of the module's repository, or its metadata only)."""
    if (folder / AI4_FILE).is_file():
        return read_ai4(folder / AI4_FILE, folder.name)
    if (folder / DEEP_FILE).is_file():
        return read_deep(folder / DEEP_FILE, folder.name)
    raise UserError(Problem(folder, "", f"no {AI4_FILE} or {DEEP_FILE} in this module folder"))


def read_folder(root: Path) -> list[CatalogModel]:
    """Every module found below `root` (one level of module folders, or nested catalogs)."""
    if not root.is_dir():
        raise UserError(Problem(root, "catalog.location", "expected a folder of catalog modules"))
    found = sorted({p.parent for name in (AI4_FILE, DEEP_FILE) for p in root.rglob(name)})
    models = [read_module(folder) for folder in found]
    seen: dict[str, Path] = {}
    services: dict[str, CatalogModel] = {}
    for m in models:
        if m.module in seen:
            raise UserError(
                Problem(m.source, "", f"module {m.module!r} is also defined in {seen[m.module]}")
            )
        seen[m.module] = m.source
        name = service_name(m.module)
        other = services.get(name)
        if other is not None:
            raise UserError(
                Problem(
                    m.source,
                    "",
                    f"module {m.module!r} and module {other.module!r} ({other.source}) both "
                    f"become OSCAR service {name!r}; rename one module folder",
                )
            )
        services[name] = m
    return models
