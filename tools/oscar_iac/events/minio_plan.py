"""The decisions of MinIO event wiring, as data in and data out (no I/O).

`events/minio.py` reads MinIO (admin config, server info, bucket notification), hands
what it read to these functions, and writes what they return. Everything here is pure,
so it is tested in-process (tests/events_minio/test_minio_plan.py) and mutation-tested;
the I/O around it is tested against a real MinIO (tests/events_minio/).

MinIO facts used here, checked in its docs and source:
- A webhook target is the config key `notify_webhook:<ID>` with the settings `enable`,
  `endpoint`, `auth_token` and `comment` (MinIO docs, "Webhook Service Notification
  Settings", https://min.io/docs/minio/linux/reference/minio-server/settings/notifications/webhook-service.html).
- Its ARN is `arn:minio:sqs:<region>:<ID>:webhook` (minio internal/event/arn.go ARN.String
  writes "arn:minio:sqs:" + region + ":" + TargetID.String(), and targetid.go writes
  ID + ":" + Name, Name "webhook" for a webhook target); the docs' example ARN with the
  empty region: `arn:minio:sqs::PRIMARY:webhook` ("Publish Events to Webhook").
- The admin API's `config_get("notify_webhook")` answers one line per target, the key
  then `name=value` pairs, a value with a space quoted (what the real MinIO of
  tests/events_minio answers and `parse_target` reads back there).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from typing import Any, Literal

from minio.notificationconfig import (
    NotificationConfig,
    PrefixFilterRule,
    QueueConfig,
    SuffixFilterRule,
)

from oscar_iac.events.base import Action, Change
from oscar_iac.site.model import MinioEventSource

EVENTS = ["s3:ObjectCreated:*"]
TAG = "oscar-iac"


def target_id(source: MinioEventSource) -> str:
    return f"{TAG}-{source.name}"


def target_key(source: MinioEventSource) -> str:
    return f"notify_webhook:{target_id(source)}"


def target_arn(source: MinioEventSource) -> str:
    return f"arn:minio:sqs::{target_id(source)}:webhook"


def bucket_object(source: MinioEventSource) -> str:
    return f"bucket-notification:{source.bucket}"


@dataclass(frozen=True)
class Desired:
    """What the target and the bucket entry should look like."""

    endpoint: str
    token: str
    fingerprint: str


def desired(oscar_url: str, service: str, token: str) -> Desired:
    """The target for OSCAR's /job/<service> with the service's token. MinIO redacts the
    token when its config is read back, so the comment carries a fingerprint of
    endpoint + token: a changed token shows up as a changed comment."""
    endpoint = f"{oscar_url}/job/{service}"
    digest = hashlib.sha256(f"{endpoint}\n{token}".encode()).hexdigest()[:16]
    return Desired(endpoint=endpoint, token=token, fingerprint=f"{TAG} {digest}")


def target_settings(want: Desired) -> dict[str, str]:
    """The settings `config_set(notify_webhook:<ID>, ...)` writes."""
    return {
        "enable": "on",
        "endpoint": want.endpoint,
        "auth_token": want.token,
        "comment": json.dumps(want.fingerprint),  # quoted: it contains a space
    }


def parse_target(text: str, source: MinioEventSource) -> dict[str, str] | None:
    """Our target's settings in the text of `config_get("notify_webhook")`, or None."""
    key = target_key(source)
    for line in text.splitlines():
        fields = shlex.split(line)
        if fields and fields[0] == key:
            return dict(f.split("=", 1) for f in fields[1:] if "=" in f)
    return None


def target_action(current: dict[str, str] | None, want: Desired) -> Action:
    if current is None:
        return "create"
    same = (
        current.get("endpoint") == want.endpoint
        and current.get("comment") == want.fingerprint
        and current.get("enable", "on") == "on"
    )
    return "unchanged" if same else "update"


def find_status(node: Any, ident: str) -> bool | None:
    """Whether the entry named `ident` anywhere in `node` says it is online."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key) == ident and isinstance(value, dict) and "status" in value:
                return str(value["status"]).lower() == "online"
            found = find_status(value, ident)
            if found is not None:
                return found
    return None


def target_online(info: Any, source: MinioEventSource) -> bool | None:
    """Our target's status in the admin info document (None when it does not say)."""
    services = info.get("services") if isinstance(info, dict) else None
    for entry in (services or {}).get("notifications") or []:
        for targets in entry.values() if isinstance(entry, dict) else []:
            for target in targets or []:
                status = find_status(target, target_id(source))
                if status is not None:
                    return status
    return None


def ours(source: MinioEventSource, q: QueueConfig) -> bool:
    """A bucket entry is ours by its id or by our target's ARN; any other (another
    site's, a human's) is left as it is."""
    return q.config_id == target_id(source) or q.queue == target_arn(source)


def desired_queue(source: MinioEventSource) -> QueueConfig:
    return QueueConfig(
        events=list(EVENTS),
        queue=target_arn(source),
        config_id=target_id(source),
        prefix_filter_rule=PrefixFilterRule(source.prefix) if source.prefix else None,
        suffix_filter_rule=SuffixFilterRule(source.suffix) if source.suffix else None,
    )


def same_queue(a: QueueConfig, b: QueueConfig) -> bool:
    def rule(r: PrefixFilterRule | SuffixFilterRule | None) -> str:
        return r.value if r is not None else ""

    return (
        a.queue == b.queue
        and sorted(a.events) == sorted(b.events)
        and rule(a.prefix_filter_rule) == rule(b.prefix_filter_rule)
        and rule(a.suffix_filter_rule) == rule(b.suffix_filter_rule)
    )


def queue_action(source: MinioEventSource, config: NotificationConfig) -> Action:
    mine = [q for q in config.queue_config_list if ours(source, q)]
    if not mine:
        return "create"
    if len(mine) == 1 and same_queue(mine[0], desired_queue(source)):
        return "unchanged"
    return "update"


def _with_queues(config: NotificationConfig, queues: list[QueueConfig]) -> NotificationConfig:
    return NotificationConfig(
        cloud_func_config_list=config.cloud_func_config_list,
        queue_config_list=queues,
        topic_config_list=config.topic_config_list,
    )


def merged(source: MinioEventSource, config: NotificationConfig) -> NotificationConfig:
    """The bucket's config with every entry of ours replaced by the one desired; the
    others (and the lambda and topic entries) kept, in their order."""
    others = [q for q in config.queue_config_list if not ours(source, q)]
    return _with_queues(config, [*others, desired_queue(source)])


def without_ours(source: MinioEventSource, config: NotificationConfig) -> NotificationConfig | None:
    """The bucket's config without our entries, or None when it holds none of ours."""
    others = [q for q in config.queue_config_list if not ours(source, q)]
    if len(others) == len(config.queue_config_list):
        return None
    return _with_queues(config, others)


Step = Literal["write-target", "write-bucket", "done", "wait"]


def converge_step(target: Action, queue: Action, since_write: float | None, settle: float) -> Step:
    """What `apply`'s converge loop does next, given the target's and the bucket entry's
    state just read and the seconds since the last write (None: nothing written yet).
    The target first: the bucket entry's ARN only resolves once the target is loaded."""
    if target != "unchanged":
        return "write-target"
    if queue != "unchanged":
        return "write-bucket"
    if since_write is None or since_write >= settle:
        return "done"
    return "wait"


def changes(source: MinioEventSource, target: Action, queue: Action, want: Desired) -> list[Change]:
    """The plan's (and apply's) lines: the target, then the bucket entry."""
    return [
        Change(source.name, "minio", target_key(source), target, f"→ {want.endpoint}"),
        Change(
            source.name,
            "minio",
            bucket_object(source),
            queue,
            f"s3:ObjectCreated:* prefix={source.prefix!r} suffix={source.suffix!r}",
        ),
    ]


def removal_changes(
    source: MinioEventSource, bucket_exists: bool, entry_removed: bool, had_target: bool
) -> list[Change]:
    """`remove`'s lines: the bucket entry, then the target."""
    bucket = bucket_object(source)
    if not bucket_exists:
        first = Change(source.name, "minio", bucket, "unchanged", "bucket absent")
    elif entry_removed:
        first = Change(source.name, "minio", bucket, "delete")
    else:
        first = Change(source.name, "minio", bucket, "unchanged", "not present")
    key = target_key(source)
    if had_target:
        second = Change(source.name, "minio", key, "delete")
    else:
        second = Change(source.name, "minio", key, "unchanged", "not present")
    return [first, second]
