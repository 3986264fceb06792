"""Server-Sent Events parsing (WHATWG HTML, "Server-sent events")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class SseMessage:
    event: str
    data: str
    id: str | None


def parse_sse(lines: Iterator[bytes]) -> Iterator[SseMessage]:
    """Server-Sent Events (WHATWG HTML, "Server-sent events") from a line iterator."""
    event, eid = "", None
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield SseMessage(event or "message", "\n".join(data), eid)
            event, data, eid = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            eid = value
