"""External MinIO → OSCAR: a webhook target plus a bucket notification, added and removed.

For an event source `name`, this backend owns exactly two things on the MinIO server:
  - the notification target `notify_webhook:oscar-iac-<name>` whose endpoint is
    `<oscar>/job/<service>` and whose auth token is the service's token (MinIO sends it
    as `Authorization: Bearer <token>`), and
  - the queue entry with id `oscar-iac-<name>` in the bucket's notification config
    (`s3:ObjectCreated:*`, prefix/suffix filters) pointing at that target's ARN.
MinIO redacts the token when its config is read back, so the target carries a
`comment` with a fingerprint of endpoint + token: a changed token shows up as `update`.
Notification targets are not a dynamic MinIO sub-system: the server is restarted after
the target changes, as `mc admin config set` would tell you to. MinIO reports its running
config, so a run that died between writing the target and the restart leaves a target the
next run sees as missing: it writes it again and restarts (resumable).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException, S3Error
from minio.notificationconfig import (
    NotificationConfig,
    PrefixFilterRule,
    QueueConfig,
    SuffixFilterRule,
)

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.events.base import Change
from oscar_iac.events.oscar_service import service_token
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretError, SecretResolver
from oscar_iac.site.model import MinioEventSource

EVENTS = ["s3:ObjectCreated:*"]
TAG = "oscar-iac"
T = TypeVar("T")


def target_id(source: MinioEventSource) -> str:
    return f"{TAG}-{source.name}"


def target_key(source: MinioEventSource) -> str:
    return f"notify_webhook:{target_id(source)}"


def target_arn(source: MinioEventSource) -> str:
    return f"arn:minio:sqs::{target_id(source)}:webhook"


@dataclass(frozen=True)
class Desired:
    """What the target and the bucket entry should look like."""

    endpoint: str
    token: str
    fingerprint: str


def _desired(source: MinioEventSource, oscar: OscarConnection) -> Desired:
    token = service_token(oscar, source.service, field=f"events[{source.name}].service")
    endpoint = f"{oscar.url}/job/{source.service}"
    digest = hashlib.sha256(f"{endpoint}\n{token}".encode()).hexdigest()[:16]
    return Desired(endpoint=endpoint, token=token, fingerprint=f"{TAG} {digest}")


class _Minio:
    """The S3 and admin clients of one MinIO server, with errors turned into ours."""

    def __init__(self, source: MinioEventSource, secrets: SecretResolver) -> None:
        self.source = source
        parts = urlsplit(str(source.endpoint))
        secure = parts.scheme == "https"
        host = parts.netloc
        try:
            secret = secrets.resolve(source.secret_key, f"events-{source.name}-secret_key")
        except SecretError as e:
            raise UserError(Problem("site.yml", f"events[{source.name}].secret_key", str(e))) from e
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=30),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[]),
            cert_reqs="CERT_REQUIRED" if source.verify_tls else "CERT_NONE",
        )
        self.s3 = Minio(
            host,
            access_key=source.access_key,
            secret_key=secret,
            secure=secure,
            cert_check=source.verify_tls,
            http_client=http,
        )
        self.admin = MinioAdmin(
            endpoint=host,
            credentials=StaticProvider(source.access_key, secret),
            secure=secure,
            cert_check=source.verify_tls,
            http_client=http,
        )
        self.url = f"{parts.scheme}://{host}"

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except S3Error as e:
            if e.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
                raise self._credentials_problem(e.code) from e
            raise DeploymentError(f"MinIO {self.url}: {what} failed: {e.code}: {e.message}") from e
        except MinioAdminException as e:
            if e._code in ("403", "401"):
                raise self._credentials_problem(e._body[:200]) from e
            raise DeploymentError(
                f"MinIO {self.url}: {what} failed: HTTP {e._code}: {e._body[:300]}"
            ) from e
        except (urllib3.exceptions.HTTPError, OSError, UnboundLocalError) as e:
            # UnboundLocalError: minio-py's MinioAdmin.config_get reads `response` in its
            # `finally` when the request itself failed (server down or restarting).
            raise DeploymentError(
                f"MinIO {self.url} is unreachable ({what}): {e}",
                hints=[f"curl -sf {self.url}/minio/health/live"],
            ) from e

    def _credentials_problem(self, why: str) -> UserError:
        return UserError(
            Problem(
                "site.yml",
                f"events[{self.source.name}].access_key",
                f"MinIO {self.url} rejected the access key/secret key ({why}); "
                "expected credentials of a MinIO user allowed to administer notifications",
                None,
            )
        )

    # --- the target -------------------------------------------------------------------

    def get_target(self) -> dict[str, str] | None:
        """The current config of our notification target, or None when absent."""
        text = self.call(
            "reading the notification config", lambda: self.admin.config_get("notify_webhook")
        )
        key = target_key(self.source)
        for line in text.splitlines():
            fields = shlex.split(line)
            if fields and fields[0] == key:
                return dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        return None

    def set_target(self, desired: Desired) -> None:
        config = {
            "enable": "on",
            "endpoint": desired.endpoint,
            "auth_token": desired.token,
            "comment": json.dumps(desired.fingerprint),  # quoted: it contains a space
        }
        self.call(
            "setting the webhook target",
            lambda: self.admin.config_set(target_key(self.source), config),
        )

    def reset_target(self) -> None:
        self.call(
            "removing the webhook target",
            lambda: self.admin.config_reset("notify_webhook", target_id(self.source)),
        )

    def restart(self, until: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        """Restart MinIO so target changes take effect, and wait until `until()` holds.

        `until` reads what only the restarted server shows: MinIO reports its running
        config, so the old process still shows the old target. Answering again is not
        enough (the old process answers for a while after the restart request)."""
        deadline = time.monotonic() + timeout
        try:
            self.call("restarting MinIO", self.admin.service_restart)
        except DeploymentError:
            # A loaded MinIO may drop the restart call's connection, or be restarting
            # already (an interrupted run asked for it): wait until it serves, ask again.
            while time.monotonic() < deadline:
                try:
                    self.call("reading server info", self.admin.info)
                    break
                except DeploymentError:
                    time.sleep(0.5)
            self.call("restarting MinIO", self.admin.service_restart)
        while time.monotonic() < deadline:
            try:
                if until():
                    return
            except (urllib3.exceptions.HTTPError, OSError, MinioAdminException, DeploymentError):
                pass  # restarting: not answering yet
            time.sleep(0.25)
        raise DeploymentError(
            f"MinIO {self.url} did not come back running {what} within {timeout:.0f} s "
            "after a restart",
            hints=[f"curl -sf {self.url}/minio/health/live", "oscar-iac events apply SITE"],
        )

    def target_online(self) -> bool | None:
        """The target's status as MinIO reports it (None when it does not say)."""
        info = json.loads(self.call("reading server info", self.admin.info))
        for entry in (info.get("services") or {}).get("notifications") or []:
            for targets in entry.values() if isinstance(entry, dict) else []:
                for target in targets or []:
                    status = _find_status(target, target_id(self.source))
                    if status is not None:
                        return status
        return None

    # --- the bucket notification ------------------------------------------------------

    def check_bucket(self) -> None:
        if not self.call("checking the bucket", lambda: self.s3.bucket_exists(self.source.bucket)):
            raise UserError(
                Problem(
                    "site.yml",
                    f"events[{self.source.name}].bucket",
                    f"bucket '{self.source.bucket}' does not exist on MinIO {self.url}; "
                    "expected an existing bucket (create it first, e.g. `mc mb`)",
                    None,
                )
            )

    def get_notification(self) -> NotificationConfig:
        return self.call(
            "reading the bucket notification",
            lambda: self.s3.get_bucket_notification(self.source.bucket),
        )

    def set_notification(self, config: NotificationConfig) -> None:
        self.call(
            "writing the bucket notification",
            lambda: self.s3.set_bucket_notification(self.source.bucket, config),
        )


def _find_status(node: Any, ident: str) -> bool | None:
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key) == ident and isinstance(value, dict) and "status" in value:
                return str(value["status"]).lower() == "online"
            found = _find_status(value, ident)
            if found is not None:
                return found
    return None


def _ours(source: MinioEventSource, q: QueueConfig) -> bool:
    return q.config_id == target_id(source) or q.queue == target_arn(source)


def _desired_queue(source: MinioEventSource) -> QueueConfig:
    return QueueConfig(
        events=list(EVENTS),
        queue=target_arn(source),
        config_id=target_id(source),
        prefix_filter_rule=PrefixFilterRule(source.prefix) if source.prefix else None,
        suffix_filter_rule=SuffixFilterRule(source.suffix) if source.suffix else None,
    )


def _same_queue(a: QueueConfig, b: QueueConfig) -> bool:
    def rule(r: PrefixFilterRule | SuffixFilterRule | None) -> str:
        return r.value if r is not None else ""

    return (
        a.queue == b.queue
        and sorted(a.events) == sorted(b.events)
        and rule(a.prefix_filter_rule) == rule(b.prefix_filter_rule)
        and rule(a.suffix_filter_rule) == rule(b.suffix_filter_rule)
    )


def _with_queues(config: NotificationConfig, queues: list[QueueConfig]) -> NotificationConfig:
    return NotificationConfig(
        cloud_func_config_list=config.cloud_func_config_list,
        queue_config_list=queues,
        topic_config_list=config.topic_config_list,
    )


def _target_action(current: dict[str, str] | None, desired: Desired) -> str:
    if current is None:
        return "create"
    same = (
        current.get("endpoint") == desired.endpoint
        and current.get("comment") == desired.fingerprint
        and current.get("enable", "on") == "on"
    )
    return "unchanged" if same else "update"


def _queue_action(source: MinioEventSource, config: NotificationConfig) -> str:
    mine = [q for q in config.queue_config_list if _ours(source, q)]
    if not mine:
        return "create"
    if len(mine) == 1 and _same_queue(mine[0], _desired_queue(source)):
        return "unchanged"
    return "update"


def _changes(source: MinioEventSource, target: str, queue: str, desired: Desired) -> list[Change]:
    return [
        Change(source.name, "minio", target_key(source), target, f"→ {desired.endpoint}"),  # type: ignore[arg-type]
        Change(
            source.name,
            "minio",
            f"bucket-notification:{source.bucket}",
            queue,  # type: ignore[arg-type]
            f"s3:ObjectCreated:* prefix={source.prefix!r} suffix={source.suffix!r}",
        ),
    ]


def _source(source: object) -> MinioEventSource:
    if not isinstance(source, MinioEventSource):
        raise TypeError(f"not a MinIO event source: {source!r}")
    return source


def plan(source: object, oscar: OscarConnection, secrets: SecretResolver) -> list[Change]:
    src = _source(source)
    desired = _desired(src, oscar)
    m = _Minio(src, secrets)
    m.check_bucket()
    return _changes(
        src,
        _target_action(m.get_target(), desired),
        _queue_action(src, m.get_notification()),
        desired,
    )


# After a restart MinIO loads its bucket metadata asynchronously, and that load can
# overwrite a bucket notification written meanwhile (seen in CI on a loaded machine).
# So `apply` converges: it re-reads the target and the bucket entry, re-applies whichever
# was lost, and returns once both have read back as set for SETTLE seconds since the last
# write (one read suffices when nothing was written), or fails at the deadline naming
# what it waited for.
SETTLE = 2.0
CONVERGE_TIMEOUT = 180.0
POLL = 0.25


def apply(
    source: object,
    oscar: OscarConnection,
    secrets: SecretResolver,
    *,
    timeout: float = CONVERGE_TIMEOUT,
) -> list[Change]:
    src = _source(source)
    desired = _desired(src, oscar)  # the service must exist before MinIO is touched
    m = _Minio(src, secrets)
    m.check_bucket()
    target = _target_action(m.get_target(), desired)
    queue = _queue_action(src, m.get_notification())
    _converge(src, m, desired, timeout)
    _verify(src, m)
    return _changes(src, target, queue, desired)


def _converge(src: MinioEventSource, m: _Minio, desired: Desired, timeout: float) -> None:
    """Write what differs, re-read, re-write what MinIO lost, until both stay as set."""
    deadline = time.monotonic() + timeout
    last_write: float | None = None
    rewrites: list[str] = []
    while True:
        now = time.monotonic()
        if now > deadline:
            raise DeploymentError(
                f"MinIO {m.url}: waited {timeout:.0f} s for target {target_key(src)} and the "
                f"notification of bucket '{src.bucket}' to stay as set for {SETTLE:g} s; "
                f"MinIO kept losing them (re-applied: {', '.join(rewrites) or 'nothing'})",
                [f"oscar-iac events plan SITE  # source {src.name}", "oscar-iac events apply SITE"],
            )
        if _target_action(m.get_target(), desired) != "unchanged":
            m.set_target(desired)
            m.restart(
                lambda: (
                    _target_action(m.get_target(), desired) == "unchanged"
                    and m.target_online() is not None
                ),
                f"the new target {target_key(src)}",
                timeout=max(1.0, deadline - time.monotonic()),
            )
            rewrites.append("target")
            last_write = time.monotonic()
            continue
        config = m.get_notification()
        if _queue_action(src, config) != "unchanged":
            others = [q for q in config.queue_config_list if not _ours(src, q)]
            m.set_notification(_with_queues(config, [*others, _desired_queue(src)]))
            rewrites.append("bucket notification")
            last_write = time.monotonic()
        elif last_write is None or time.monotonic() - last_write >= SETTLE:
            return
        time.sleep(POLL)


def _verify(src: MinioEventSource, m: _Minio) -> None:
    """The target is configured and online, and the bucket entry reads back."""
    hints = [f"oscar-iac events plan SITE  # source {src.name}"]
    if m.get_target() is None:
        raise DeploymentError(f"MinIO {m.url} lost target {target_key(src)} after apply", hints)
    if m.target_online() is False:
        raise DeploymentError(
            f"MinIO {m.url} reports target {target_key(src)} offline: "
            "MinIO cannot reach the OSCAR endpoint",
            hints,
        )
    if _queue_action(src, m.get_notification()) != "unchanged":
        raise DeploymentError(
            f"bucket '{src.bucket}' on MinIO {m.url} does not hold the notification just set",
            hints,
        )


def remove(source: object, oscar: OscarConnection, secrets: SecretResolver) -> list[Change]:
    """Delete exactly our bucket entry and our target; others stay as they are."""
    src = _source(source)
    m = _Minio(src, secrets)
    changes: list[Change] = []
    bucket_obj = f"bucket-notification:{src.bucket}"
    if m.call("checking the bucket", lambda: m.s3.bucket_exists(src.bucket)):
        config = m.get_notification()
        others = [q for q in config.queue_config_list if not _ours(src, q)]
        if len(others) != len(config.queue_config_list):
            m.set_notification(_with_queues(config, others))
            changes.append(Change(src.name, "minio", bucket_obj, "delete"))
        else:
            changes.append(Change(src.name, "minio", bucket_obj, "unchanged", "not present"))
    else:
        changes.append(Change(src.name, "minio", bucket_obj, "unchanged", "bucket absent"))
    if m.get_target() is not None:
        m.reset_target()
        m.restart(lambda: m.get_target() is None, f"without target {target_key(src)}")
        changes.append(Change(src.name, "minio", target_key(src), "delete"))
    else:
        changes.append(Change(src.name, "minio", target_key(src), "unchanged", "not present"))
    return changes
