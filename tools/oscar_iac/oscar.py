"""How to reach one OSCAR manager. Credentials are held in memory only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OscarConnection:
    """An OSCAR endpoint and the Basic-auth user for its /system API."""

    url: str
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))
