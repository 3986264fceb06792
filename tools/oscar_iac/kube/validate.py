"""Validate rendered Kubernetes manifests offline against the pinned Kubernetes version.

Built-in kinds: `kubernetes-validate`'s schemas of that version, strict (unknown
fields are errors). HelmChart / ClusterIssuer: the schemas in `crd_schemas`; a
HelmChart's `valuesContent` must also be a YAML mapping. Any other kind is refused
as unknown, so nothing goes unchecked silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from oscar_iac.errors import Problem
from oscar_iac.kube.crd_schemas import CUSTOM
from oscar_iac.versions import pin


@dataclass(frozen=True)
class Checked:
    """One object that passed: where it came from and what it is."""

    file: Path
    kind: str
    name: str


def kubernetes_version() -> str:
    """The Kubernetes version pinned with k3s in versions.yml (e.g. 1.34.2)."""
    return pin("k3s", "kubernetes")


def _schema_version(version: str) -> str:
    # kubernetes-validate ships schemas per minor release (x.y.0).
    major, minor = version.split(".")[:2]
    return f"{major}.{minor}.0"


def _custom(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(doc)
    ]
    values = doc.get("spec", {}).get("valuesContent") if doc.get("kind") == "HelmChart" else None
    if isinstance(values, str):
        try:
            parsed = yaml.safe_load(values)
        except yaml.YAMLError as exc:
            errors.append(f"spec.valuesContent: not YAML ({exc})")
        else:
            if parsed is not None and not isinstance(parsed, dict):
                errors.append("spec.valuesContent: expected a YAML mapping of chart values")
    return errors


def check_document(doc: Any, version: str) -> list[str]:
    """Errors of one object (empty: valid)."""
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        return ["not a Kubernetes object (needs apiVersion and kind)"]
    key = (str(doc["apiVersion"]), str(doc["kind"]))
    if key in CUSTOM:
        return _custom(doc, CUSTOM[key])
    try:
        kubernetes_validate.validate(doc, _schema_version(version), strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        return [f"{path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"unknown kind {key[1]} of {key[0]} for Kubernetes {version}"]
    return []


def validate_files(
    paths: Iterable[Path], version: str | None = None
) -> tuple[list[Checked], list[Problem]]:
    """Check every object of every file; return the valid ones and the problems."""
    version = version or kubernetes_version()
    checked: list[Checked] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            problems.append(Problem(path, "", f"cannot read as YAML: {exc}"))
            continue
        if not docs:
            problems.append(Problem(path, "", "no Kubernetes object in this file"))
        for i, doc in enumerate(docs):
            name = (
                str((doc.get("metadata") or {}).get("name", "?")) if isinstance(doc, dict) else "?"
            )
            kind = str(doc.get("kind", "?")) if isinstance(doc, dict) else "?"
            errors = check_document(doc, version)
            for err in errors:
                problems.append(Problem(path, f"document {i + 1} ({kind} {name})", err))
            if not errors:
                checked.append(Checked(path, kind, name))
    return checked, problems


def manifest_files(targets: Iterable[Path]) -> list[Path]:
    """The .yaml/.yml files named, or found under the folders named."""
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            files.extend(sorted(p for p in target.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            files.append(target)
    return files
