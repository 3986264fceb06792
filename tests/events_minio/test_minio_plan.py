"""The decisions of MinIO event wiring (oscar_iac.events.minio_plan), in-process.

Expected values are literals with a reason outside the code:
- `notify_webhook:<ID>` and the settings `enable`, `endpoint`, `auth_token`, `comment`:
  MinIO docs, "Webhook Service Notification Settings"
  (https://min.io/docs/minio/linux/reference/minio-server/settings/notifications/webhook-service.html).
- ARN `arn:minio:sqs:<region>:<ID>:webhook`, empty region: minio internal/event/arn.go
  (ARN.String: "arn:minio:sqs:" + region + ":" + TargetID.String(), TargetID.String:
  ID + ":" + Name) and the docs' example `arn:minio:sqs::PRIMARY:webhook`.
- The endpoint `<oscar>/job/<service>`: OSCAR v4.1.2 swagger `/job/{serviceName}`
  (shared/specs/oscar-swagger-v4.1.2.yaml).
- The fingerprint: the first 16 hex digits of SHA-256 over "<endpoint>\\n<token>",
  precomputed once (python3 -c "import hashlib; print(hashlib.sha256(b'...').hexdigest()[:16])").
- Server info: madmin-go InfoMessage `services.notifications` is a list of
  {target type: [{target ID: {"status": "online"|"offline"}}]}.
The I/O around these (admin API, restart, polling) runs against a real MinIO in
test_minio_events.py and test_minio_converge.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from minio.notificationconfig import (
    CloudFuncConfig,
    NotificationConfig,
    PrefixFilterRule,
    QueueConfig,
    SuffixFilterRule,
    TopicConfig,
)

from oscar_iac.events import minio_plan as P
from oscar_iac.events.base import Action, Change
from oscar_iac.secrets import SecretRef
from oscar_iac.site.model import MinioEventSource

OSCAR = "https://oscar.example.org"
FINGERPRINT = "oscar-iac 58fe7989a08d8630"  # sha256(".../job/plants\nt0k3n")[:16]
ARN = "arn:minio:sqs::oscar-iac-edge:webhook"


def source(**over: object) -> MinioEventSource:
    fields: dict[str, object] = {
        "kind": "minio",
        "name": "edge",
        "endpoint": "https://minio.example.org:9000",
        "access_key": "admin",
        "secret_key": SecretRef("env:EDGE_SECRET"),
        "bucket": "inbox",
        "prefix": "in/",
        "suffix": ".txt",
        "service": "plants",
    }
    fields.update(over)
    return MinioEventSource.model_validate(fields)


def q(
    config_id: str | None,
    arn: str,
    prefix: str = "",
    suffix: str = "",
    events: list[str] | None = None,
) -> QueueConfig:
    return QueueConfig(
        events=events or ["s3:ObjectCreated:*"],
        config_id=config_id,
        queue=arn,
        prefix_filter_rule=PrefixFilterRule(prefix) if prefix else None,
        suffix_filter_rule=SuffixFilterRule(suffix) if suffix else None,
    )


def rows(config: NotificationConfig) -> list[tuple[Any, ...]]:
    def rule(r: PrefixFilterRule | SuffixFilterRule | None) -> str | None:
        return None if r is None else r.value

    return [
        (
            x.config_id,
            x.queue,
            list(x.events),
            rule(x.prefix_filter_rule),
            rule(x.suffix_filter_rule),
        )
        for x in config.queue_config_list
    ]


HUMAN = q("1", "arn:minio:sqs::primary:webhook", prefix="raw/")
OTHER_SITE = q("oscar-iac-other", "arn:minio:sqs::oscar-iac-other:webhook", suffix=".jpg")
OURS_ROW = ("oscar-iac-edge", ARN, ["s3:ObjectCreated:*"], "in/", ".txt")


def test_names_follow_minio_key_and_arn_formats() -> None:
    s = source()
    assert P.target_id(s) == "oscar-iac-edge"
    assert P.target_key(s) == "notify_webhook:oscar-iac-edge"
    assert P.target_arn(s) == "arn:minio:sqs::oscar-iac-edge:webhook"
    assert P.bucket_object(s) == "bucket-notification:inbox"


def test_desired_target_points_at_the_job_endpoint_with_a_token_fingerprint() -> None:
    want = P.desired(OSCAR, "plants", "t0k3n")
    assert want == P.Desired(f"{OSCAR}/job/plants", "t0k3n", FINGERPRINT)
    other = P.desired(OSCAR, "plants", "other")
    assert other.fingerprint == "oscar-iac ed47e39330ae323f"  # a new token is an update
    assert P.target_settings(want) == {
        "enable": "on",
        "endpoint": "https://oscar.example.org/job/plants",
        "auth_token": "t0k3n",
        "comment": '"oscar-iac 58fe7989a08d8630"',
    }


CONFIG_TEXT = (
    "notify_webhook enable=off endpoint= auth_token= queue_limit=0\n"
    "notify_webhook:primary enable=on endpoint=http://human.example/hook auth_token=\n"
    'notify_webhook:oscar-iac-edge2 enable=on endpoint=http://x/job/a comment="oscar-iac 0"\n'
    "notify_webhook:oscar-iac-edge enable=on endpoint=https://oscar.example.org/job/plants "
    'auth_token= queue_dir= comment="oscar-iac 58fe7989a08d8630" flag\n'
)


def test_parse_target_reads_only_our_line() -> None:
    assert P.parse_target(CONFIG_TEXT, source()) == {
        "enable": "on",
        "endpoint": "https://oscar.example.org/job/plants",
        "auth_token": "",
        "queue_dir": "",
        "comment": "oscar-iac 58fe7989a08d8630",
    }
    assert P.parse_target(CONFIG_TEXT, source(name="other")) is None
    assert P.parse_target("", source()) is None
    assert P.parse_target("a=b=c\n\nnotify_webhook:oscar-iac-edge x=a=b\n", source()) == {
        "x": "a=b"
    }


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (None, "create"),
        ({"endpoint": f"{OSCAR}/job/plants", "comment": FINGERPRINT, "enable": "on"}, "unchanged"),
        ({"endpoint": f"{OSCAR}/job/plants", "comment": FINGERPRINT}, "unchanged"),
        ({"endpoint": f"{OSCAR}/job/plants", "comment": FINGERPRINT, "enable": "off"}, "update"),
        ({"endpoint": f"{OSCAR}/job/other", "comment": FINGERPRINT, "enable": "on"}, "update"),
        ({"endpoint": f"{OSCAR}/job/plants", "comment": "oscar-iac 0", "enable": "on"}, "update"),
        ({"comment": FINGERPRINT, "enable": "on"}, "update"),
        ({"endpoint": f"{OSCAR}/job/plants", "enable": "on"}, "update"),
        ({}, "update"),
    ],
)
def test_target_action(current: dict[str, str] | None, action: str) -> None:
    assert P.target_action(current, P.desired(OSCAR, "plants", "t0k3n")) == action


def info(*targets: dict[str, Any]) -> dict[str, Any]:
    return {"mode": "online", "services": {"notifications": [{"webhook": list(targets)}]}}


@pytest.mark.parametrize(
    ("doc", "status"),
    [
        (info({"oscar-iac-edge": {"status": "online"}}), True),
        (info({"oscar-iac-edge": {"status": "Online"}}), True),
        (info({"oscar-iac-edge": {"status": "offline"}}), False),
        (
            info(
                {"oscar-iac-other": {"status": "online"}}, {"oscar-iac-edge": {"status": "offline"}}
            ),
            False,
        ),
        (info({"oscar-iac-other": {"status": "online"}}), None),
        (info({"oscar-iac-edge": {"state": "online"}}), None),
        (info({"oscar-iac-edge": "online"}), None),
        (info({"wrap": {"oscar-iac-edge": {"status": "online"}}}), True),
        (
            {
                "services": {
                    "notifications": [
                        {"amqp": None},
                        {"webhook": [{"oscar-iac-edge": {"status": "online"}}]},
                    ]
                }
            },
            True,
        ),
        (
            {
                "services": {
                    "notifications": [
                        "junk",
                        {"webhook": [{"oscar-iac-edge": {"status": "online"}}]},
                    ]
                }
            },
            True,
        ),
        ({"services": {"notifications": None}}, None),
        ({"services": None}, None),
        ({}, None),
        ([], None),
    ],
)
def test_target_online(doc: Any, status: bool | None) -> None:
    assert P.target_online(doc, source()) is status


def test_find_status_looks_through_nested_entries_only_for_the_id() -> None:
    assert P.find_status({"a": {"b": {"x": {"status": "offline"}}}}, "x") is False
    assert P.find_status({"a": {"status": "online"}, "x": {"status": "online"}}, "x") is True
    assert P.find_status({1: {"status": "online"}}, "1") is True
    assert P.find_status(["x"], "x") is None


def test_ours_is_our_id_or_our_arn_never_another_site_or_a_human() -> None:
    s = source()
    assert P.ours(s, q("oscar-iac-edge", "arn:minio:sqs::elsewhere:webhook"))
    assert P.ours(s, q(None, ARN))
    assert P.ours(s, q("renamed-by-hand", ARN))
    assert not P.ours(s, HUMAN)
    assert not P.ours(s, OTHER_SITE)
    assert not P.ours(s, q("oscar-iac-edge2", "arn:minio:sqs::oscar-iac-edge2:webhook"))


def test_desired_queue_fields() -> None:
    assert rows(NotificationConfig(queue_config_list=[P.desired_queue(source())])) == [OURS_ROW]
    bare = P.desired_queue(source(prefix="", suffix=""))
    assert (bare.prefix_filter_rule, bare.suffix_filter_rule) == (None, None)
    assert bare.events == ["s3:ObjectCreated:*"]


@pytest.mark.parametrize(
    ("queues", "action"),
    [
        ([], "create"),
        ([HUMAN, OTHER_SITE], "create"),
        ([HUMAN, q("oscar-iac-edge", ARN, "in/", ".txt"), OTHER_SITE], "unchanged"),
        ([q(None, ARN, "in/", ".txt")], "unchanged"),
        ([q("oscar-iac-edge", ARN, "in/", ".jpg")], "update"),
        ([q("oscar-iac-edge", ARN, "raw/", ".txt")], "update"),
        ([q("oscar-iac-edge", ARN, "", ".txt")], "update"),
        ([q("oscar-iac-edge", ARN, "in/", "")], "update"),
        ([q("oscar-iac-edge", "arn:minio:sqs::x:webhook", "in/", ".txt")], "update"),
        ([q("oscar-iac-edge", ARN, "in/", ".txt", ["s3:ObjectRemoved:*"])], "update"),
        (
            [q("oscar-iac-edge", ARN, "in/", ".txt", ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])],
            "update",
        ),
        ([q("oscar-iac-edge", ARN, "in/", ".txt"), q(None, ARN, "in/", ".txt")], "update"),
    ],
)
def test_queue_action(queues: list[QueueConfig], action: str) -> None:
    assert P.queue_action(source(), NotificationConfig(queue_config_list=queues)) == action


def test_queue_action_ignores_the_order_of_events() -> None:
    two = ["s3:ObjectRemoved:*", "s3:ObjectCreated:*"]
    a, b = q("i", ARN, events=two), q("i", ARN, events=sorted(two))
    assert P.same_queue(a, b)
    assert not P.same_queue(a, q("i", ARN, events=["s3:ObjectRemoved:*"]))


PRIOR = NotificationConfig(
    cloud_func_config_list=[CloudFuncConfig(["s3:ObjectCreated:*"], "f1", cloud_func="arn:lambda")],
    queue_config_list=[HUMAN, OTHER_SITE],
    topic_config_list=[TopicConfig(["s3:ObjectRemoved:*"], "t1", topic="arn:topic")],
)


def test_merge_adds_ours_and_keeps_a_humans_and_another_sites_entries() -> None:
    got = P.merged(source(), PRIOR)
    assert rows(got) == [
        ("1", "arn:minio:sqs::primary:webhook", ["s3:ObjectCreated:*"], "raw/", None),
        (
            "oscar-iac-other",
            "arn:minio:sqs::oscar-iac-other:webhook",
            ["s3:ObjectCreated:*"],
            None,
            ".jpg",
        ),
        OURS_ROW,
    ]
    assert got.cloud_func_config_list == PRIOR.cloud_func_config_list
    assert got.topic_config_list == PRIOR.topic_config_list
    assert rows(PRIOR) == rows(NotificationConfig(queue_config_list=[HUMAN, OTHER_SITE]))


def test_merge_replaces_every_stale_entry_of_ours() -> None:
    stale = NotificationConfig(
        queue_config_list=[q("oscar-iac-edge", ARN, "old/"), HUMAN, q(None, ARN, "in/", ".txt")]
    )
    assert rows(P.merged(source(), stale)) == [
        rows(NotificationConfig(queue_config_list=[HUMAN]))[0],
        OURS_ROW,
    ]


def test_remove_restores_exactly_the_prior_config() -> None:
    s = source()
    applied = P.merged(s, PRIOR)
    restored = P.without_ours(s, applied)
    assert restored is not None
    assert rows(restored) == rows(PRIOR)
    assert restored.cloud_func_config_list == PRIOR.cloud_func_config_list
    assert restored.topic_config_list == PRIOR.topic_config_list
    assert P.without_ours(s, PRIOR) is None  # nothing of ours: nothing to write
    assert P.without_ours(s, NotificationConfig()) is None
    only_ours = P.without_ours(s, NotificationConfig(queue_config_list=[P.desired_queue(s)]))
    assert only_ours is not None and rows(only_ours) == []


@pytest.mark.parametrize(
    ("target", "queue", "since", "step"),
    [
        ("create", "create", None, "write-target"),
        ("update", "unchanged", 5.0, "write-target"),
        ("unchanged", "create", None, "write-bucket"),
        ("unchanged", "update", 0.1, "write-bucket"),
        ("unchanged", "unchanged", None, "done"),
        ("unchanged", "unchanged", 2.0, "done"),
        ("unchanged", "unchanged", 2.5, "done"),
        ("unchanged", "unchanged", 1.99, "wait"),
        ("unchanged", "unchanged", 0.0, "wait"),
    ],
)
def test_converge_step(target: Action, queue: Action, since: float | None, step: str) -> None:
    assert P.converge_step(target, queue, since, 2.0) == step


def test_plan_lines() -> None:
    assert P.changes(source(), "create", "update", P.desired(OSCAR, "plants", "t0k3n")) == [
        Change(
            "edge",
            "minio",
            "notify_webhook:oscar-iac-edge",
            "create",
            "→ https://oscar.example.org/job/plants",
        ),
        Change(
            "edge",
            "minio",
            "bucket-notification:inbox",
            "update",
            "s3:ObjectCreated:* prefix='in/' suffix='.txt'",
        ),
    ]


@pytest.mark.parametrize(
    ("exists", "removed", "had_target", "lines"),
    [
        (True, True, True, [("delete", ""), ("delete", "")]),
        (True, False, True, [("unchanged", "not present"), ("delete", "")]),
        (False, False, True, [("unchanged", "bucket absent"), ("delete", "")]),
        (True, True, False, [("delete", ""), ("unchanged", "not present")]),
        (False, False, False, [("unchanged", "bucket absent"), ("unchanged", "not present")]),
    ],
)
def test_removal_lines(
    exists: bool, removed: bool, had_target: bool, lines: list[tuple[str, str]]
) -> None:
    got = P.removal_changes(source(), exists, removed, had_target)
    objs = ["bucket-notification:inbox", "notify_webhook:oscar-iac-edge"]
    assert got == [Change("edge", "minio", o, a, d) for o, (a, d) in zip(objs, lines, strict=True)]  # type: ignore[arg-type]


def test_an_empty_filter_rule_is_no_filter() -> None:
    """An empty prefix or suffix matches every key (S3 filter rules match by prefix/suffix),
    so an entry read back with an empty rule is the one desired without that rule."""
    s = source(prefix="", suffix="")
    read_back = QueueConfig(
        events=["s3:ObjectCreated:*"],
        config_id="oscar-iac-edge",
        queue=ARN,
        prefix_filter_rule=PrefixFilterRule(""),
        suffix_filter_rule=SuffixFilterRule(""),
    )
    assert P.same_queue(read_back, P.desired_queue(s))
    assert P.queue_action(s, NotificationConfig(queue_config_list=[read_back])) == "unchanged"
