"""One catalog module, whatever metadata format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Resources:
    """What the module asks for at inference time (AI4OS `resources.inference`)."""

    cpu: float = 1.0
    memory_mb: int = 2048
    gpu: int = 0


@dataclass(frozen=True)
class CatalogModel:
    module: str  # the catalog id (repository name)
    title: str
    summary: str
    image: str  # Docker image, without tag
    inference: bool  # servable: AI4 'AI4 inference' category / DEEP 'inference' keyword
    resources: Resources
    source: Path  # the metadata file it was read from
    metadata_format: str  # 'ai4-metadata 2.x' | 'DEEP metadata.json v1'
    tags: tuple[str, ...] = field(default_factory=tuple)
