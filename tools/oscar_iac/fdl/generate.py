"""Catalog model (+ the site's overrides) -> OSCAR service definition.

The dict returned by `service_definition` is exactly the body OSCAR's
`POST /system/services` takes (`types.Service` in OSCAR's v4.1.2 REST contract);
`fdl_document` wraps services in the FDL file format (`functions.oscar`).
"""

from __future__ import annotations

from typing import Any

from oscar_iac.catalog.model import CatalogModel
from oscar_iac.naming import service_name
from oscar_iac.render.jinja import environment
from oscar_iac.site.model import DcacheEventSource, ModelSpec, size_to_bytes

# Services this tool created carry this label; nothing else is ever updated or removed.
MANAGED_LABEL = "oscar-iac/managed"
SCRIPT_TEMPLATE = "fdl/deepaas.sh.j2"
DCACHE_PROVIDER = "dcache"


def _memory(model: CatalogModel, spec: ModelSpec | None) -> str:
    if spec and spec.overrides.memory:
        return f"{size_to_bytes(spec.overrides.memory) // 2**20}Mi"
    return f"{model.resources.memory_mb}Mi"


def _cpu(model: CatalogModel, spec: ModelSpec | None) -> str:
    value = spec.overrides.cpu if spec and spec.overrides.cpu else model.resources.cpu
    return f"{value:g}"


def service_definition(
    model: CatalogModel,
    spec: ModelSpec | None = None,
    *,
    dcache: DcacheEventSource | None = None,
    image_tag: str = "latest",
) -> dict[str, Any]:
    """The OSCAR service for one model: MinIO `<svc>/in` -> `<svc>/out`, callable on /run too."""
    name = spec.service if spec and spec.service else service_name(model.module)
    gpu = spec.overrides.gpu if spec and spec.overrides.gpu is not None else model.resources.gpu > 0
    variables = {"DEEPAAS_INPUT_ARG": "files", **(spec.overrides.environment if spec else {})}
    service: dict[str, Any] = {
        "name": name,
        "image": model.image
        if ":" in model.image.rsplit("/", 1)[-1]
        else f"{model.image}:{image_tag}",
        "cpu": _cpu(model, spec),
        "memory": _memory(model, spec),
        "enable_gpu": bool(gpu),
        "script": environment().get_template(SCRIPT_TEMPLATE).render(module=model.module),
        "environment": {"variables": variables},
        "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
        "labels": {MANAGED_LABEL: "true", "oscar-iac/module": service_name(model.module)},
        "annotations": {"oscar-iac/catalog-title": model.title},
        "log_level": "INFO",
    }
    if spec and spec.overrides.replicas is not None:
        service["synchronous"] = {
            "min_scale": spec.overrides.replicas,
            "max_scale": max(1, spec.overrides.replicas) * 4,
        }
    if dcache is not None:
        # OSCAR's supervisor appends each event's file name to this WebDAV path.
        service["input"].append(
            {"storage_provider": f"webdav.{DCACHE_PROVIDER}", "path": dcache.path.lstrip("/")}
        )
        # Credentials are not part of a rendered FDL.
        service["storage_providers"] = {
            "webdav": {DCACHE_PROVIDER: {"hostname": str(dcache.webdav).rstrip("/")}}
        }
    return service


def fdl_document(services: list[dict[str, Any]], cluster_id: str = "oscar") -> dict[str, Any]:
    """The FDL file format (`oscar-cli apply`): functions.oscar[{cluster_id: service}]."""
    return {"functions": {"oscar": [{cluster_id: svc} for svc in services]}}
