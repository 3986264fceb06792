"""The listener's config: every mistake names the field, exits 2, and creates nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dcache.support import LISTENER
from oscar_iac.dcache.listener import ConfigError, parse_config

GOOD: dict[str, Any] = {
    "endpoint": "https://dcache.example.org:3880/api/v1",
    "paths": ["/data/in"],
    "checkpoint": "/tmp/never-written/checkpoint.json",
    "auth": {"kind": "oidc", "token_env": "DCACHE_TOKEN"},
    "sink": {"kind": "spool", "dir": "/tmp/never-written/spool"},
}


def _with(**changes: Any) -> dict[str, Any]:
    cfg = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is None:
            cfg.pop(key)
        else:
            cfg[key] = value
    return cfg


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        (_with(paths=["/data/in/"]), "'paths'"),
        (_with(paths=[]), "'paths'"),
        (_with(endpoint="dcache.example.org"), "'endpoint'"),
        (_with(sink=None), "'sink': is required"),
        (_with(recursive="yes"), "'recursive': expected bool"),
        (_with(password="secret"), "'password': unknown key"),
        (
            _with(auth={"kind": "oidc"}),
            "'auth': expected exactly one of 'token_env' or 'token_file'",
        ),
        (_with(auth={"kind": "basic", "password_env": "P"}), "'auth.username'"),
        (_with(auth={"kind": "basic", "username": "u", "password": "inline"}), "'auth.password'"),
        (_with(auth={"kind": "x509"}), "'auth.cert'"),
        (_with(auth={"kind": "kerberos"}), "'auth.kind'"),
        (
            _with(sink={"kind": "oscar", "url": "https://oscar/run/svc", "token_env": "T"}),
            "'sink.url'",
        ),
        (_with(sink={"kind": "oscar", "url": "https://oscar/job/svc"}), "'sink'"),
        (
            _with(
                sink={
                    "kind": "oscar",
                    "url": "https://oscar/job/svc",
                    "token_env": "T",
                    "concurrency": 0,
                }
            ),
            "'sink.concurrency'",
        ),
        (
            _with(
                sink={"kind": "oscar", "url": "https://oscar/job/svc", "oscar_password_env": "P"}
            ),
            "'sink.oscar_user'",
        ),
        (_with(sink={"kind": "spool"}), "'sink.dir'"),
        (_with(checkpoint_interval=True), "'checkpoint_interval'"),
    ],
)
def test_dcache_config_mistakes_name_the_field(cfg: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(cfg, "relay.json")
    assert str(exc.value).startswith("relay.json: field ") and field in str(exc.value)


def test_dcache_good_config_parses() -> None:
    cfg = parse_config(GOOD)
    assert cfg.client_id == "oscar-iac-dcache" and cfg.verify_tls and not cfg.recursive


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("{not json", {}, "not valid JSON"),
        (json.dumps(_with(paths=["relative"])), {}, "field 'paths'"),
        (json.dumps(GOOD), {}, "environment variable DCACHE_TOKEN is not set"),
    ],
)
def test_dcache_listener_command_exits_2_and_creates_nothing(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    cfg = json.loads(text) if text.startswith('{"') else None
    if cfg is not None:
        cfg["checkpoint"] = str(tmp_path / "state" / "cp.json")
        cfg["sink"]["dir"] = str(tmp_path / "spool")
        text = json.dumps(cfg)
    path = tmp_path / "relay.json"
    path.write_text(text)
    res = subprocess.run(
        [sys.executable, str(LISTENER), "--config", str(path)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relay.json"]
