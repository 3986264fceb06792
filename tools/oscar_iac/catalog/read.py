"""Read `ai4-metadata.yml` (AI4OS, schema 2.x) and legacy DEEP `metadata.json` (v1).

A malformed file is a UserError naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oscar_iac.catalog.model import CatalogModel, Resources
from oscar_iac.errors import Problem, UserError
from oscar_iac.yamlpos import load_yaml

AI4_FILE = "ai4-metadata.yml"
DEEP_FILE = "metadata.json"
INFERENCE_CATEGORY = "AI4 inference"
DEFAULT = Resources()


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
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
                raise UserError(
                    Problem(
                        path, f"resources.inference.{key}", f"expected a number >= 0, got {raw!r}"
                    )
                )
            values[target] = cast(raw)
    return Resources(**{**DEFAULT.__dict__, **values})


def read_ai4(path: Path, module: str) -> CatalogModel:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise UserError(Problem(path, "", "expected a mapping"))
    version = str(_need(data, "metadata_version", path, (str, int, float)))
    if not version.startswith("2."):
        raise UserError(
            Problem(path, "metadata_version", f"expected a 2.x schema version, got {version!r}")
        )
    categories = _need(data, "categories", path, list)
    return CatalogModel(
        module=module,
        title=_need(data, "title", path, str),
        summary=str(data.get("summary", "")),
        image=_need(data, "links.docker_image", path, str),
        inference=INFERENCE_CATEGORY in categories,
        resources=_resources((data.get("resources") or {}).get("inference"), path),
        source=path,
        metadata_format=f"ai4-metadata {version}",
        tags=tuple(str(t) for t in data.get("tags") or ()),
    )


def read_deep(path: Path, module: str) -> CatalogModel:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(Problem(path, "", f"invalid JSON: {exc.msg}", exc.lineno)) from exc
    if not isinstance(data, dict):
        raise UserError(Problem(path, "", "expected an object"))
    keywords = _need(data, "keywords", path, list)
    return CatalogModel(
        module=module,
        title=_need(data, "title", path, str),
        summary=str(data.get("summary", "")),
        image=_need(data, "sources.docker_registry_repo", path, str),
        inference="inference" in keywords,
        resources=DEFAULT,
        source=path,
        metadata_format="DEEP metadata.json v1",
        tags=tuple(str(k) for k in keywords),
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
    for m in models:
        if m.module in seen:
            raise UserError(
                Problem(m.source, "", f"module {m.module!r} is also defined in {seen[m.module]}")
            )
        seen[m.module] = m.source
    return models
