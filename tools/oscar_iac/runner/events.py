"""What OSCAR's FaaS supervisor makes of an invocation's body (faas-supervisor's events).

- A storage event (`Records[0].eventSource` is `minio:s3`, possibly wrapped in
  `{"event": ...}` as delegated events are): the input is the object it names, which
  the supervisor downloads; STORAGE_OBJECT_KEY, EVENT_TIME and EVENT are set.
- Anything else is an "unknown" event: a JSON body is saved as is, any other body is
  base64-decoded, into `event-file-<uuid>` (what `oscar-python` and `oscar-cli` send).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

MINIO_EVENT = "minio:s3"


@dataclass(frozen=True)
class StorageEvent:
    bucket: str
    key: str
    event_time: str
    raw: dict[str, Any]

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class UnknownEvent:
    data: bytes
    file_name: str


def _storage(event: Any) -> StorageEvent | None:
    if isinstance(event, dict) and isinstance(event.get("event"), dict):
        return _storage(event["event"])  # a delegated event
    try:
        record = event["Records"][0]
        if record["eventSource"] != MINIO_EVENT:
            return None
        return StorageEvent(
            bucket=record["s3"]["bucket"]["name"],
            key=unquote_plus(record["s3"]["object"]["key"]),
            event_time=str(record.get("eventTime", "")),
            raw=event,
        )
    except (KeyError, IndexError, TypeError):
        return None


def parse(body: bytes) -> StorageEvent | UnknownEvent:
    name = f"event-file-{uuid.uuid4()}"
    try:
        event = json.loads(body)
    except ValueError:
        try:
            return UnknownEvent(base64.b64decode(body), name)
        except (binascii.Error, ValueError):
            return UnknownEvent(body, name)
    return _storage(event) or UnknownEvent(body, name)


def minio_event(bucket: str, key: str, size: int, event_time: str) -> dict[str, Any]:
    """A MinIO `s3:ObjectCreated:Put` notification for one object (the fields OSCAR reads)."""
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": MINIO_EVENT,
                "awsRegion": "",
                "eventTime": event_time,
                "eventName": "s3:ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": size},
                },
            }
        ],
    }
