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

import json
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException, S3Error
from minio.notificationconfig import NotificationConfig, QueueConfig

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.events import minio_plan as P
from oscar_iac.events.base import Change
from oscar_iac.events.minio_plan import Desired, target_arn, target_id, target_key
from oscar_iac.events.oscar_service import service_token
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretError, SecretResolver
from oscar_iac.site.model import MinioEventSource

T = TypeVar("T")
__all__ = ["Desired", "apply", "plan", "remove", "target_arn", "target_id", "target_key"]


def _desired(source: MinioEventSource, oscar: OscarConnection) -> Desired:
    token = service_token(oscar, source.service, field=f"events[{source.name}].service")
    return P.desired(oscar.url, source.service, token)


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
        return P.parse_target(text, self.source)

    def set_target(self, desired: Desired) -> None:
        config = P.target_settings(desired)
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
        return P.target_online(
            json.loads(self.call("reading server info", self.admin.info)), self.source
        )

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


def _ours(source: MinioEventSource, q: QueueConfig) -> bool:
    return P.ours(source, q)


def _source(source: object) -> MinioEventSource:
    if not isinstance(source, MinioEventSource):
        raise TypeError(f"not a MinIO event source: {source!r}")
    return source


def plan(source: object, oscar: OscarConnection, secrets: SecretResolver) -> list[Change]:
    src = _source(source)
    desired = _desired(src, oscar)
    m = _Minio(src, secrets)
    m.check_bucket()
    return P.changes(
        src,
        P.target_action(m.get_target(), desired),
        P.queue_action(src, m.get_notification()),
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
    target = P.target_action(m.get_target(), desired)
    queue = P.queue_action(src, m.get_notification())
    _converge(src, m, desired, timeout)
    _verify(src, m)
    return P.changes(src, target, queue, desired)


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
        config: NotificationConfig | None = None
        target = P.target_action(m.get_target(), desired)
        if target == "unchanged":
            config = m.get_notification()
        step = P.converge_step(
            target,
            P.queue_action(src, config) if config is not None else "unchanged",
            None if last_write is None else time.monotonic() - last_write,
            SETTLE,
        )
        if step == "write-target":
            m.set_target(desired)
            m.restart(
                lambda: (
                    P.target_action(m.get_target(), desired) == "unchanged"
                    and m.target_online() is not None
                ),
                f"the new target {target_key(src)}",
                timeout=max(1.0, deadline - time.monotonic()),
            )
            rewrites.append("target")
            last_write = time.monotonic()
            continue
        if step == "write-bucket" and config is not None:
            m.set_notification(P.merged(src, config))
            rewrites.append("bucket notification")
            last_write = time.monotonic()
        elif step == "done":
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
    if P.queue_action(src, m.get_notification()) != "unchanged":
        raise DeploymentError(
            f"bucket '{src.bucket}' on MinIO {m.url} does not hold the notification just set",
            hints,
        )


def remove(source: object, oscar: OscarConnection, secrets: SecretResolver) -> list[Change]:
    """Delete exactly our bucket entry and our target; others stay as they are."""
    src = _source(source)
    m = _Minio(src, secrets)
    exists = m.call("checking the bucket", lambda: m.s3.bucket_exists(src.bucket))
    removed = False
    if exists:
        kept = P.without_ours(src, m.get_notification())
        if kept is not None:
            m.set_notification(kept)
            removed = True
    had_target = m.get_target() is not None
    if had_target:
        m.reset_target()
        m.restart(lambda: m.get_target() is None, f"without target {target_key(src)}")
    return P.removal_changes(src, exists, removed, had_target)
