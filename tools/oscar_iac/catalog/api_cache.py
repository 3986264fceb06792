"""The last good answer of a catalog API, kept in the site's state folder.

Layout, under `<state>/<site>/catalog-api/<sha256(location)[:16]>/` (folders 0700, files 0600):
  current -> snap-<id>              symlink, replaced atomically (os.replace)
  snap-<id>/index.json              location, when the module list and each module were fetched
  snap-<id>/modules/<name>/ai4-metadata.yml   the API's JSON answer, written as YAML
A snapshot is written completely beside the current one, checked, and only then made
current; a run stopped half-way leaves a `snap-*` folder that the next commit removes.
Module files are named like a folder catalog's, so the same reader reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from oscar_iac.catalog.read import AI4_FILE
from oscar_iac.state import site_state_dir

INDEX = "index.json"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: faster
CURRENT = "current"


def cache_dir(site_name: str, location: str) -> Path:
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    return site_state_dir(site_name) / "catalog-api" / key


@dataclass
class Snapshot:
    """What one cache folder holds. Times are POSIX seconds."""

    root: Path | None  # the snapshot folder; None when nothing is cached
    location: str
    names: list[str] | None = None  # the full module list, when it was fetched
    names_at: float | None = None
    modules: dict[str, float] = field(default_factory=dict)  # name -> fetched at
    rejected: dict[str, str] = field(default_factory=dict)  # listed, but malformed: why

    def module_folder(self, name: str) -> Path:
        assert self.root is not None
        return self.root / "modules" / name

    def oldest(self, names: list[str]) -> float | None:
        times = [self.modules[n] for n in names if n in self.modules]
        if self.names_at is not None and self.names is not None and set(names) <= set(self.names):
            times.append(self.names_at)
        return min(times) if times else None


def load(folder: Path, location: str) -> Snapshot:
    """The current snapshot, or an empty one (also when the cache is unreadable)."""
    link = folder / CURRENT
    try:
        root = folder / os.readlink(link)
        index = json.loads((root / INDEX).read_text())
        if index.get("location") != location:
            return Snapshot(None, location)
        return Snapshot(
            root,
            location,
            names=index.get("names"),
            names_at=index.get("names_at"),
            modules={str(k): float(v) for k, v in (index.get("modules") or {}).items()},
            rejected={str(k): str(v) for k, v in (index.get("rejected") or {}).items()},
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return Snapshot(None, location)


def _write(path: Path, text: str) -> None:
    """A new owner-only file. No fsync per file (it cost ~15 ms each here): the snapshot
    only becomes current by the rename in `commit`, and a cache file that a crash left
    short is a reader error naming the file, which `--refresh` mends."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _mkdir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


class Staging:
    """A new snapshot being written: the old one's modules, plus what was just fetched."""

    def __init__(self, folder: Path, base: Snapshot) -> None:
        _mkdir(folder.parent)
        _mkdir(folder)
        self.folder = folder
        self.base = base
        self.name = f"snap-{time.time_ns()}-{secrets.token_hex(4)}"
        self.root = folder / self.name
        _mkdir(self.root)
        _mkdir(self.root / "modules")
        self.snapshot = Snapshot(
            self.root, base.location, base.names, base.names_at, dict(base.modules)
        )
        # Rejections are only known for the listing they were found in.
        self.snapshot.rejected = dict(base.rejected)
        if base.root is not None:
            for name in base.modules:
                if not self._keep(name, base.module_folder(name) / AI4_FILE):
                    self.snapshot.modules.pop(name, None)

    def _keep(self, name: str, src: Path) -> bool:
        """Carry a module over from the current snapshot: a hard link (files are never
        changed in place), else a copy."""
        target = self.root / "modules" / name
        _mkdir(target)
        try:
            os.link(src, target / AI4_FILE)
        except FileNotFoundError:
            return False
        except OSError:
            try:
                self._put(name, src.read_text())
            except OSError:
                return False
        return True

    def _put(self, name: str, text: str) -> None:
        target = self.root / "modules" / name
        _mkdir(target)
        with contextlib.suppress(FileNotFoundError):
            (target / AI4_FILE).unlink()
        _write(target / AI4_FILE, text)

    def add(self, name: str, metadata: dict[str, Any], at: float) -> Path:
        self._put(name, yaml.dump(metadata, Dumper=_DUMPER, sort_keys=False, allow_unicode=True))
        self.snapshot.modules[name] = at
        return self.root / "modules" / name

    def drop(self, name: str) -> None:
        """Forget a module (the API no longer has it, or its answer was malformed)."""
        self.snapshot.modules.pop(name, None)
        shutil.rmtree(self.root / "modules" / name, ignore_errors=True)

    def set_names(self, names: list[str], at: float, rejected: dict[str, str]) -> None:
        self.snapshot.names = list(names)
        self.snapshot.names_at = at
        self.snapshot.rejected = dict(rejected)

    def commit(self) -> Snapshot:
        """Make this snapshot current (atomic), then remove the others."""
        s = self.snapshot
        index: dict[str, object] = {"location": s.location, "names": s.names}
        index |= {"names_at": s.names_at, "modules": s.modules, "rejected": s.rejected}
        _write(self.root / INDEX, json.dumps(index, indent=1))
        tmp_link = self.folder / f".current-{secrets.token_hex(4)}"
        os.symlink(self.name, tmp_link)
        os.replace(tmp_link, self.folder / CURRENT)
        with contextlib.suppress(OSError):  # durability of the rename; it has happened
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for other in self.folder.iterdir():
            if other.name != self.name and other.name.startswith(("snap-", ".current-")):
                if other.is_symlink() or other.is_file():
                    other.unlink(missing_ok=True)
                else:
                    shutil.rmtree(other, ignore_errors=True)
        return s

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def age(at: float, now: float | None = None) -> str:
    """'2026-12-01 22:30 UTC, 3 h 5 min ago'."""
    seconds = max(0, int((now if now is not None else time.time()) - at))
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if seconds < 60:
        ago = f"{seconds} s"
    elif seconds < 3600:
        ago = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        ago = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        ago = f"{seconds // 86400} days"
    return f"{when}, {ago} ago"
