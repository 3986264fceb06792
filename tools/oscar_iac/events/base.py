"""What every event-source backend (MinIO, dCache/NiFi) offers: plan, apply, remove."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretResolver

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Change:
    """One thing plan/apply would do (or did) to one object of one source."""

    source: str  # event source name from the site file
    kind: str  # 'minio' | 'dcache'
    obj: str  # e.g. 'notify_webhook:oscar-iac-<name>', 'bucket-notification:<bucket>', 'process-group:<name>'
    action: Action
    detail: str = ""


class EventBackend(Protocol):
    """Implemented by oscar_iac.events.minio and oscar_iac.events.dcache.

    Every function gets the site's event source (a model from oscar_iac.site.model),
    the OSCAR connection (to read the target service's token), and a resolver for
    the source's secret references. `apply` and `remove` are idempotent and touch
    only objects this tool created (they are tagged with 'oscar-iac').
    """

    def plan(
        self, source: object, oscar: OscarConnection, secrets: SecretResolver
    ) -> list[Change]: ...

    def apply(
        self, source: object, oscar: OscarConnection, secrets: SecretResolver
    ) -> list[Change]: ...

    def remove(
        self, source: object, oscar: OscarConnection, secrets: SecretResolver
    ) -> list[Change]: ...
