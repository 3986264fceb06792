"""One OSCAR service, as the local runner needs it, read from an FDL file or a definition.

An FDL file is what `oscar-iac models fdl` writes (and `oscar-cli apply` reads):
`functions.oscar: [{<cluster id>: <service>}, ...]`. A file holding one bare service
definition (the body of OSCAR's `POST /system/services`) is accepted too. `script`
is the script's text, or, as in oscar-cli's FDL, a path relative to the FDL file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oscar_iac.errors import Problem, UserError
from oscar_iac.naming import OSCAR_SERVICE_NAME_MAX, SERVICE_NAME_RE
from oscar_iac.yamlpos import load_yaml_with_lines, read_text, with_lines

# OSCAR passes `cpu` and `memory` to Kubernetes' resource.ParseQuantity unchecked
# (grycap/oscar pkg/handlers/create.go `checkValues`: "Kubernetes client throws an error
# if they are not correct"). The quantity grammar of k8s.io/apimachinery
# pkg/api/resource/quantity.go: a decimal number, then a binary-SI (Ki..Ei), decimal-SI
# (n u m k M G T P E) or exponent (e3) suffix. Limits must not be negative, and zero
# would leave the container no CPU or memory, so both must be > 0 here.
QUANTITY_RE = re.compile(
    r"^\+?(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)


@dataclass(frozen=True)
class StoragePath:
    """One `input` or `output` entry: `<provider type>.<id>` and `bucket[/folder]`."""

    provider: str
    path: str
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()

    @property
    def bucket(self) -> str:
        return self.path.strip("/").split("/", 1)[0]

    @property
    def folder(self) -> str:
        parts = self.path.strip("/").split("/", 1)
        return parts[1] if len(parts) > 1 else ""

    def key(self, file_name: str) -> str:
        """The object key a file gets in this path (faas-supervisor's get_file_key)."""
        return f"{self.folder}/{file_name}" if self.folder else file_name

    def accepts(self, file_name: str) -> bool:
        ok_prefix = not self.prefix or any(file_name.startswith(p) for p in self.prefix)
        ok_suffix = not self.suffix or any(file_name.endswith(s) for s in self.suffix)
        return ok_prefix and ok_suffix


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    script: str = field(repr=False)
    variables: dict[str, str] = field(default_factory=dict, repr=False)
    secret_names: tuple[str, ...] = ()
    cpu: str | None = None
    memory: str | None = None
    inputs: tuple[StoragePath, ...] = ()
    outputs: tuple[StoragePath, ...] = ()
    definition: dict[str, Any] = field(default_factory=dict, repr=False)

    def minio_input(self) -> StoragePath | None:
        return next((p for p in self.inputs if p.provider.startswith("minio.")), None)


def _paths(raw: Any, where: Path | str, fld: str) -> tuple[StoragePath, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise UserError(Problem(where, fld, "expected a list of {storage_provider, path}"))
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise UserError(Problem(where, f"{fld}[{i}].path", "expected a string"))
        provider = item.get("storage_provider", "minio.default")
        if not isinstance(provider, str) or "." not in provider:
            raise UserError(
                Problem(where, f"{fld}[{i}].storage_provider", "expected '<type>.<id>'")
            )
        filters = []
        for key in ("prefix", "suffix"):
            raw_filter = item.get(key) or []
            if not isinstance(raw_filter, list) or not all(isinstance(f, str) for f in raw_filter):
                raise UserError(Problem(where, f"{fld}[{i}].{key}", "expected a list of strings"))
            filters.append(tuple(raw_filter))
        out.append(StoragePath(provider, item["path"], filters[0], filters[1]))
    return tuple(out)


def _string_map(raw: Any, where: Path | str, fld: str) -> dict[str, str]:
    """OSCAR's `environment.variables|secrets` are map[string]string (types.Service):
    a number or boolean there is refused by its JSON binding, so it is refused here."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(Problem(where, fld, "expected a mapping of NAME: value"))
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise UserError(Problem(where, f"{fld}.{key}", "expected a variable name (a string)"))
        if not isinstance(value, str):
            shown = repr(value)[:60]
            raise UserError(
                Problem(
                    where,
                    f"{fld}.{key}",
                    f"expected a string, got {type(value).__name__} {shown} "
                    "(OSCAR's environment values are strings: quote it)",
                )
            )
        out[key] = value
    return out


def _name(value: str, where: Path | str, fld: str) -> str:
    """OSCAR names a Kubernetes (and Knative) service after it: a DNS label, <= 39."""
    if len(value) > OSCAR_SERVICE_NAME_MAX or not SERVICE_NAME_RE.fullmatch(value):
        raise UserError(
            Problem(
                where,
                fld,
                f"expected at most {OSCAR_SERVICE_NAME_MAX} lowercase letters, digits and '-', "
                f"starting and ending with a letter or digit; got {value[:80]!r}",
            )
        )
    return value


def _quantity(raw: Any, where: Path | str, fld: str, example: str) -> str | None:
    """A Kubernetes quantity > 0 (a YAML number is taken as its text, as oscar-cli does)."""
    if raw is None:
        return None
    text = str(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else raw
    m = QUANTITY_RE.match(text) if isinstance(text, str) else None
    if m is None or float(m.group("num")) <= 0:
        raise UserError(
            Problem(
                where,
                fld,
                f"expected a Kubernetes quantity > 0 such as {example}; got {raw!r}"[:200],
            )
        )
    return text if isinstance(text, str) else None


def from_definition(
    svc: dict[str, Any], where: Path | str, prefix: str = "", base_dir: Path | None = None
) -> Service:
    """A Service from an OSCAR service definition; errors name `where` and the field.
    With `base_dir` (an FDL file's folder) a one-line `script` is a file's path."""
    for key in ("name", "image", "script"):
        if not isinstance(svc.get(key), str) or not svc[key].strip():
            raise UserError(Problem(where, f"{prefix}{key}", "required: a non-empty string"))
    _name(svc["name"], where, f"{prefix}name")
    if any(c.isspace() for c in svc["image"]) or ";" in svc["image"]:
        raise UserError(
            Problem(
                where,
                f"{prefix}image",
                f"expected a container image reference; got {svc['image']!r}",
            )
        )
    cpu = _quantity(svc.get("cpu"), where, f"{prefix}cpu", "'1' or '500m'")
    memory = _quantity(svc.get("memory"), where, f"{prefix}memory", "'2Gi' or '512Mi'")
    script: str = svc["script"]
    if "\n" not in script and base_dir is not None:
        candidate = base_dir / script
        if not candidate.is_file():
            raise UserError(
                Problem(
                    where,
                    f"{prefix}script",
                    f"neither a script nor a readable file next to the FDL: {candidate}",
                )
            )
        script = read_text(candidate)
    env = svc.get("environment") or {}
    if not isinstance(env, dict):
        raise UserError(Problem(where, f"{prefix}environment", "expected a mapping"))
    variables = _string_map(env.get("variables"), where, f"{prefix}environment.variables")
    secrets = _string_map(env.get("secrets"), where, f"{prefix}environment.secrets")
    return Service(
        name=svc["name"],
        image=svc["image"],
        script=script,
        variables={**variables, **secrets},
        secret_names=tuple(secrets),
        cpu=cpu,
        memory=memory,
        inputs=_paths(svc.get("input"), where, f"{prefix}input"),
        outputs=_paths(svc.get("output"), where, f"{prefix}output"),
        definition=svc,
    )


def _services(doc: Any, where: Path) -> list[tuple[str, dict[str, Any]]]:
    """(field path, definition) for every service in an FDL document or a bare definition."""
    if isinstance(doc, dict) and "functions" in doc:
        clusters = (
            (doc.get("functions") or {}).get("oscar")
            if isinstance(doc["functions"], dict)
            else None
        )
        if not isinstance(clusters, list) or not clusters:
            raise UserError(
                Problem(where, "functions.oscar", "expected a list of {cluster id: service}")
            )
        found = []
        for i, entry in enumerate(clusters):
            if not isinstance(entry, dict) or len(entry) != 1:
                raise UserError(
                    Problem(where, f"functions.oscar[{i}]", "expected {cluster id: service}")
                )
            ((cluster, svc),) = entry.items()
            if not isinstance(svc, dict):
                raise UserError(
                    Problem(where, f"functions.oscar[{i}].{cluster}", "expected a service mapping")
                )
            found.append((f"functions.oscar[{i}].{cluster}.", svc))
        return found
    if isinstance(doc, dict) and "name" in doc:
        return [("", doc)]
    raise UserError(
        Problem(where, "functions.oscar", "not an FDL file (no functions.oscar) nor a service")
    )


def load_service(path: Path, name: str | None = None) -> Service:
    """The service named `name` in the FDL file (the only one when `name` is None).
    Problems name the file, the line and the field."""
    if not path.is_file():
        raise UserError(Problem(path, "", "no such FDL file"))
    doc, lines = load_yaml_with_lines(path, unique_keys=False)
    try:
        return _pick(doc, path, name)
    except UserError as exc:
        raise with_lines(exc, path, lines) from exc


def _pick(doc: Any, path: Path, name: str | None) -> Service:
    services = _services(doc, path)
    if name is None:
        if len(services) > 1:
            names = ", ".join(str(s.get("name")) for _, s in services)
            raise UserError(
                Problem(
                    path, "functions.oscar", f"several services ({names}): pick one with --service"
                )
            )
        prefix, svc = services[0]
        return from_definition(svc, path, prefix, path.parent)
    for prefix, svc in services:
        if svc.get("name") == name:
            return from_definition(svc, path, prefix, path.parent)
    names = ", ".join(str(s.get("name")) for _, s in services)
    raise UserError(
        Problem(path, "functions.oscar", f"no service named {name!r} (there is: {names})")
    )
