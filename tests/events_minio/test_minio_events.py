"""External MinIO → OSCAR /job: real MinIO server, OSCAR double recording every /job call."""

from __future__ import annotations

import io
import json
import time
from urllib.parse import unquote

import pytest

from components.minio_fixture import MinioServer
from events_minio.support import JobCall, OscarJobs, make_source
from oscar_iac.errors import DeploymentError, UserError
from oscar_iac.events import minio as backend
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretResolver

pytestmark = pytest.mark.slow


def _snapshot(server: MinioServer, bucket: str) -> tuple[str, list[tuple[str | None, str | None]]]:
    """MinIO's webhook targets and the bucket's queue entries, for before/after checks."""
    targets = server.admin().config_get("notify_webhook")
    queues = server.client().get_bucket_notification(bucket).queue_config_list
    return targets, sorted((q.config_id, q.queue) for q in queues)


def _put(server: MinioServer, bucket: str, key: str, data: bytes = b"x") -> None:
    server.client().put_object(bucket, key, io.BytesIO(data), len(data))


def _wait_jobs(oscar: OscarJobs, service: str, count: int, within: float = 30) -> list[JobCall]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        jobs = oscar.jobs_for(service)
        if len(jobs) >= count:
            return jobs
        time.sleep(0.1)
    return oscar.jobs_for(service)


def _wait_admin(server: MinioServer, within: float = 60) -> None:
    deadline = time.monotonic() + within
    time.sleep(0.5)
    while time.monotonic() < deadline:
        try:
            server.admin().info()
            return
        except Exception:
            time.sleep(0.3)
    raise AssertionError("MinIO did not come back after a restart")


def test_upload_triggers_exactly_one_job_then_remove_restores(
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    token = oscar_jobs.add_service("plants")
    source = make_source(minio_server, minio_bucket, "plants")
    before = _snapshot(minio_server, minio_bucket)

    planned = backend.plan(source, oscar_conn, resolver)
    assert [c.action for c in planned] == ["create", "create"]
    assert _snapshot(minio_server, minio_bucket) == before  # plan changes nothing

    applied = backend.apply(source, oscar_conn, resolver)
    assert [(c.obj, c.action) for c in applied] == [
        (f"notify_webhook:oscar-iac-{source.name}", "create"),
        (f"bucket-notification:{minio_bucket}", "create"),
    ]

    # Filtered out by prefix or suffix: no job. Then one matching upload: one job.
    _put(minio_server, minio_bucket, "other/skip.txt")
    _put(minio_server, minio_bucket, "in/skip.bin")
    _put(minio_server, minio_bucket, "in/leaf.txt", b"leaf")
    # A second matching upload after them marks the end: once its job is there, the
    # filtered uploads (made before it) had their chance, and each key came once.
    _put(minio_server, minio_bucket, "in/marker.txt", b"marker")
    every = _wait_jobs(oscar_jobs, "plants", 2)
    keys = [unquote(json.loads(j.body)["Records"][0]["s3"]["object"]["key"]) for j in every]
    assert sorted(keys) == ["in/leaf.txt", "in/marker.txt"], keys
    jobs = [every[keys.index("in/leaf.txt")]]
    assert jobs[0].authorization == f"Bearer {token}"
    event = json.loads(jobs[0].body)
    record = event["Records"][0]
    assert record["eventName"] == "s3:ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == minio_bucket
    assert unquote(record["s3"]["object"]["key"]) == "in/leaf.txt"  # S3 URL-encodes keys
    assert event["Key"] == f"{minio_bucket}/in/leaf.txt"
    assert oscar_jobs.rejected == []

    again = backend.apply(source, oscar_conn, resolver)
    assert [c.action for c in again] == ["unchanged", "unchanged"]

    removed = backend.remove(source, oscar_conn, resolver)
    assert [c.action for c in removed] == ["delete", "delete"]
    assert _snapshot(minio_server, minio_bucket) == before
    assert [c.action for c in backend.remove(source, oscar_conn, resolver)] == [
        "unchanged",
        "unchanged",
    ]

    # Nothing wired any more: with a probe source on another prefix of the same bucket,
    # an upload to the old prefix and then one to the probe's: the probe's job arrives,
    # the old source's does not.
    oscar_jobs.add_service("probe")
    probe = make_source(minio_server, minio_bucket, "probe", prefix="probe/")
    backend.apply(probe, oscar_conn, resolver)
    try:
        _put(minio_server, minio_bucket, "in/after.txt")
        _put(minio_server, minio_bucket, "probe/mark.txt")
        assert len(_wait_jobs(oscar_jobs, "probe", 1)) == 1, "the probe upload made no job"
        assert len(oscar_jobs.jobs_for("plants")) == 2
    finally:
        backend.remove(probe, oscar_conn, resolver)


def test_new_token_is_an_update_and_others_entries_survive_remove(
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    oscar_jobs.add_service("plants")
    source = make_source(minio_server, minio_bucket, "plants", prefix="", suffix="")
    backend.apply(source, oscar_conn, resolver)
    # Someone else's webhook target and bucket entry, set up by hand next to ours.
    from minio.notificationconfig import PrefixFilterRule, QueueConfig

    admin = minio_server.admin()
    admin.config_set("notify_webhook:someone-else", {"endpoint": f"{oscar_jobs.url}/job/other"})
    admin.service_restart()
    _wait_admin(minio_server)
    config = minio_server.client().get_bucket_notification(minio_bucket)
    theirs = QueueConfig(
        events=["s3:ObjectRemoved:*"],
        queue="arn:minio:sqs::someone-else:webhook",
        config_id="someone-else",
        prefix_filter_rule=PrefixFilterRule("archive/"),
    )
    config.queue_config_list.append(theirs)
    minio_server.client().set_bucket_notification(minio_bucket, config)
    theirs_before = _snapshot(minio_server, minio_bucket)

    token2 = oscar_jobs.add_service("plants")  # OSCAR rotated the service token
    assert [c.action for c in backend.plan(source, oscar_conn, resolver)] == [
        "update",
        "unchanged",
    ]
    assert [c.action for c in backend.apply(source, oscar_conn, resolver)] == [
        "update",
        "unchanged",
    ]
    _put(minio_server, minio_bucket, "x.txt")
    jobs = _wait_jobs(oscar_jobs, "plants", 1)
    assert [j.authorization for j in jobs] == [f"Bearer {token2}"]

    backend.remove(source, oscar_conn, resolver)
    targets, queues = _snapshot(minio_server, minio_bucket)
    assert queues == [("someone-else", "arn:minio:sqs::someone-else:webhook")]
    assert "notify_webhook:someone-else" in targets and source.name not in targets
    assert [line for line in targets.splitlines() if "someone-else" in line] == [
        line for line in theirs_before[0].splitlines() if "someone-else" in line
    ]
    minio_server.client().delete_bucket_notification(minio_bucket)
    admin.config_reset("notify_webhook", "someone-else")
    admin.service_restart()
    _wait_admin(minio_server)


def test_unknown_bucket_is_bad_input_and_nothing_is_created(
    minio_server: MinioServer,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    oscar_jobs.add_service("plants")
    source = make_source(minio_server, "no-such-bucket", "plants")
    targets = minio_server.admin().config_get("notify_webhook")
    with pytest.raises(UserError) as err:
        backend.apply(source, oscar_conn, resolver)
    assert "bucket" in str(err.value) and "no-such-bucket" in str(err.value)
    assert err.value.problems[0].field.endswith(".bucket")
    assert minio_server.admin().config_get("notify_webhook") == targets


def test_missing_service_is_bad_input_and_minio_untouched(
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    source = make_source(minio_server, minio_bucket, "ghost")
    before = _snapshot(minio_server, minio_bucket)
    with pytest.raises(UserError) as err:
        backend.apply(source, oscar_conn, resolver)
    assert "ghost" in str(err.value) and err.value.problems[0].field.endswith(".service")
    assert _snapshot(minio_server, minio_bucket) == before


def test_wrong_credentials_are_bad_input(
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oscar_jobs.add_service("plants")
    monkeypatch.setenv("EDGE_MINIO_SECRET", "not-the-secret")
    source = make_source(minio_server, minio_bucket, "plants")
    with pytest.raises(UserError) as err:
        backend.apply(source, oscar_conn, resolver)
    assert err.value.problems[0].field.endswith(".access_key")
    assert "not-the-secret" not in str(err.value)


def test_unreachable_minio_is_a_deployment_error(
    minio_server: MinioServer,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    from components.minio_fixture import free_port

    oscar_jobs.add_service("plants")
    source = make_source(
        minio_server, "some-bucket", "plants", endpoint=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(DeploymentError) as err:
        backend.apply(source, oscar_conn, resolver)
    assert "unreachable" in str(err.value)


def test_apply_resumes_after_a_run_that_died_before_the_restart(
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    token = oscar_jobs.add_service("plants")
    source = make_source(minio_server, minio_bucket, "plants", prefix="", suffix="")
    before = _snapshot(minio_server, minio_bucket)
    # What an interrupted apply leaves: the target written to MinIO's config, no restart.
    backend._Minio(source, resolver).set_target(backend._desired(source, oscar_conn))

    # MinIO reports its running config, which lacks the target until a restart: the
    # next apply sees it missing, writes it again and restarts.
    changes = backend.apply(source, oscar_conn, resolver)
    assert [c.action for c in changes] == ["create", "create"]
    _put(minio_server, minio_bucket, "resumed.txt")
    jobs = _wait_jobs(oscar_jobs, "plants", 1)
    assert [j.authorization for j in jobs] == [f"Bearer {token}"]

    backend.remove(source, oscar_conn, resolver)
    assert _snapshot(minio_server, minio_bucket) == before


def test_verify_reads_the_targets_online_status_from_minio(
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobs,
    oscar_conn: OscarConnection,
    resolver: SecretResolver,
) -> None:
    oscar_jobs.add_service("plants")
    source = make_source(minio_server, minio_bucket, "plants")
    backend.apply(source, oscar_conn, resolver)
    try:
        assert backend._Minio(source, resolver).target_online() is True
    finally:
        backend.remove(source, oscar_conn, resolver)
    assert backend._Minio(source, resolver).target_online() is None  # gone
