"""Property-based tests of the three loaders of user input: the site loader, the catalog
reader and the service-definition loader. Whatever the file holds, the result is a valid
model or a UserError (exit 2) whose every problem names the file; never another exception.

Inputs are (a) valid documents with parts replaced by arbitrary YAML values, which
reaches deep into the validators, and (b) arbitrary text and bytes. Examples are
bounded and `deadline=None` keeps a busy 2-core CI from failing on slowness.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oscar_iac.catalog import read_module
from oscar_iac.errors import UserError
from oscar_iac.runner.service import load_service
from oscar_iac.site import load_site

REPO = Path(__file__).resolve().parents[2]
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        ["", "0 GiB", "8 GiB", "-1", "generate", "file:/etc/hostname", "env:HOME", "a/b", "[/]"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in doc.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(doc)]


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one to three subtrees replaced by arbitrary values."""
    doc = base
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(doc)))
        doc = _replace(doc, path, draw(VALUES))
    return doc


def _dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True).encode()


def documents(base: Any) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated(base).map(_dump),
        VALUES.map(_dump),
        st.text(max_size=200).map(str.encode),
        st.binary(max_size=200),
    )


def _exit_2_or_model(path: Path, load: Callable[[], object]) -> None:
    try:
        load()
    except UserError as exc:
        assert exc.exit_code == 2
        assert exc.problems, str(exc)
        assert all(str(p.file).startswith(str(path.parent)) for p in exc.problems), str(exc)


SITE_BASE = yaml.safe_load((REPO / "inventories" / "egi-example" / "site.yml").read_text())
SITE_BASE["catalog"] = {"source": "api"}


@SETTINGS
@given(documents(SITE_BASE))
def test_site_loader_gives_a_site_or_exit_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="badinput-") as tmp:
        path = Path(tmp) / "site.yml"
        path.write_bytes(data)
        _exit_2_or_model(path, lambda: load_site(path))


AI4_BASE = yaml.safe_load(
    (Path(__file__).parent / "catalog" / "demo-model" / "ai4-metadata.yml").read_text()
)
DEEP_BASE = {
    "title": "Plants",
    "summary": "x",
    "keywords": ["inference", "tensorflow"],
    "sources": {"docker_registry_repo": "deephdc/deep-oc-plants"},
}


@SETTINGS
@given(documents(AI4_BASE))
def test_ai4_metadata_gives_a_model_or_exit_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="badinput-") as tmp:
        path = Path(tmp) / "mod" / "ai4-metadata.yml"
        path.parent.mkdir()
        path.write_bytes(data)
        _exit_2_or_model(path.parent, lambda: read_module(path.parent))


def _json(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


@SETTINGS
@given(
    st.one_of(
        mutated(DEEP_BASE).map(_json),
        VALUES.map(_json),
        st.binary(max_size=200),
    )
)
def test_deep_metadata_gives_a_model_or_exit_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="badinput-") as tmp:
        path = Path(tmp) / "mod" / "metadata.json"
        path.parent.mkdir()
        path.write_bytes(data)
        _exit_2_or_model(path.parent, lambda: read_module(path.parent))


FDL_BASE = {
    "functions": {
        "oscar": [
            {
                "oscar": {
                    "name": "plants",
                    "image": "ai4oshub/plants-classification:latest",
                    "cpu": "1",
                    "memory": "2Gi",
                    "script": "#!/bin/bash\necho hi\n",
                    "environment": {"variables": {"A": "b"}, "secrets": {"T": "s"}},
                    "input": [{"storage_provider": "minio.default", "path": "plants/in"}],
                    "output": [{"storage_provider": "minio.default", "path": "plants/out"}],
                }
            }
        ]
    }
}


@SETTINGS
@given(documents(FDL_BASE))
def test_service_definition_gives_a_service_or_exit_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="badinput-") as tmp:
        path = Path(tmp) / "fdl.yml"
        path.write_bytes(data)
        _exit_2_or_model(path, lambda: load_service(path))
