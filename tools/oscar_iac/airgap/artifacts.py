"""What an air-gap folder must hold (every artifact of versions.yml), checked by sha256.

The folder is flat: each artifact under its `name`, as the roles look it up
(`k3s`, `k3s-airgap-images-amd64.tar.zst`, `oscar-4.1.2.tgz`, ...). An artifact whose
sha256 is not pinned yet is never fetched nor accepted: trusting whatever a URL
serves today is what pinning exists to prevent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import requests

from oscar_iac.errors import Problem, UserError
from oscar_iac.versions import VERSIONS_KEY, versions, versions_file

CHUNK = 1 << 20


@dataclass(frozen=True)
class Artifact:
    component: str
    name: str
    url: str
    sha256: str

    @property
    def pinned(self) -> bool:
        return len(self.sha256) == 64


class Status(Enum):
    OK = "ok"
    MISSING = "missing"
    MISMATCH = "sha256 mismatch"
    UNPINNED = "not pinned"


def artifacts(path: Path | None = None) -> list[Artifact]:
    """Every artifact of the versions file, in file order; refuses malformed entries."""
    source = path or versions_file()
    found: list[Artifact] = []
    names: set[str] = set()
    for component, spec in versions(path).items():
        for i, art in enumerate(spec.get("artifacts") or []):
            where = f"{VERSIONS_KEY}.{component}.artifacts[{i}]"
            if not isinstance(art, dict) or not {"name", "url", "sha256"} <= set(art):
                raise UserError(Problem(source, where, "expected {name, url, sha256}"))
            name = str(art["name"])
            if "/" in name or name in names:
                raise UserError(
                    Problem(source, f"{where}.name", f"{name!r}: must be a unique file name")
                )
            names.add(name)
            found.append(Artifact(component, name, str(art["url"]), str(art["sha256"] or "")))
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def status(art: Artifact, folder: Path) -> Status:
    if not art.pinned:
        return Status.UNPINNED
    target = folder / art.name
    if not target.is_file():
        return Status.MISSING
    return Status.OK if sha256_of(target) == art.sha256 else Status.MISMATCH


Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


def fetch(
    art: Artifact,
    folder: Path,
    *,
    session: requests.Session | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> Status:
    """Download one pinned artifact into `folder` unless it is there already.

    The download goes to `<name>.part` and is renamed only once its sha256 is the
    pinned one, so the folder never holds a wrong or half-written artifact.
    """
    if not art.pinned:
        return Status.UNPINNED
    if status(art, folder) is Status.OK:
        return Status.OK
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{art.name}.part"
    digest = hashlib.sha256()
    http = session or requests.Session()
    try:
        with http.get(art.url, stream=True, timeout=timeout) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            with part.open("wb") as out:
                for chunk in resp.iter_content(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        if digest.hexdigest() != art.sha256:
            part.unlink(missing_ok=True)
            return Status.MISMATCH
        os.replace(part, folder / art.name)
        return Status.OK
    except BaseException:
        part.unlink(missing_ok=True)
        raise
