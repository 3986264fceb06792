"""The checkpoint: what a restart needs (channel, last acknowledged event id, watches,
gaps), written atomically (temp file, fsync, rename; mode 0600); and the in-order
acknowledgements that advance it. The checkpoint id only advances past an event once the
sink acknowledged it and every event before it (at-least-once: after a crash some events
may be delivered twice, none lost)."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

MAX_GAPS = 100


@dataclass
class Checkpoint:
    """What a restart needs. `last_event_id` is the newest id acknowledged with all before it."""

    channel: str | None = None
    last_event_id: str | None = None
    watches: dict[str, str] = field(default_factory=dict)  # dCache path -> subscription URL
    endpoint: str = ""
    gaps: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0

    @classmethod
    def load(cls, path: str) -> Checkpoint | None:
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"{path}: checkpoint unreadable ({e}); move it away to start afresh"
            ) from e
        if not isinstance(raw, dict) or raw.get("version") != 1:
            raise ConfigError(f"{path}: not a checkpoint of this listener (version 1)")
        return cls(
            channel=raw.get("channel"),
            last_event_id=raw.get("last_event_id"),
            watches=dict(raw.get("watches") or {}),
            endpoint=raw.get("endpoint", ""),
            gaps=list(raw.get("gaps") or []),
            delivered=int(raw.get("delivered") or 0),
        )

    def save(self, path: str) -> None:
        data = json.dumps(
            {
                "version": 1,
                "endpoint": self.endpoint,
                "channel": self.channel,
                "last_event_id": self.last_event_id,
                "watches": self.watches,
                "gaps": self.gaps[-MAX_GAPS:],
                "delivered": self.delivered,
            },
            indent=1,
            sort_keys=True,
        ).encode()
        write_atomic(path, data)


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` via a hidden temp file in the same folder (0600), fsync, rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Tracker:
    """Event ids in arrival order; the checkpoint id advances over a prefix of done events."""

    def __init__(self, acked: str | None) -> None:
        self.lock = threading.Lock()
        self.order: collections.deque[str] = collections.deque()
        self.done: dict[str, bool] = {}
        self.acked = acked
        self.received = acked
        self.delivered = 0

    def seen(self, eid: str) -> bool:
        with self.lock:
            return eid in self.done

    def add(self, eid: str, done: bool) -> None:
        with self.lock:
            self.order.append(eid)
            self.done[eid] = done
            self.received = eid
            self._advance()

    def ack(self, eid: str, delivered: bool = True) -> None:
        with self.lock:
            if eid in self.done:
                self.done[eid] = True
            if delivered:
                self.delivered += 1
            self._advance()

    def _advance(self) -> None:
        while self.order and self.done.get(self.order[0]):
            self.acked = self.order.popleft()
            del self.done[self.acked]

    def resume_id(self) -> str | None:
        """The id to reconnect with: the acknowledged prefix (in-flight ones are skipped
        when replayed), or, before any acknowledgement, the newest id received."""
        with self.lock:
            return self.acked if self.acked is not None else self.received

    def reset(self) -> None:
        with self.lock:
            self.order.clear()
            self.done.clear()
            self.acked = self.received = None

    def pending(self) -> int:
        with self.lock:
            return len(self.order)
