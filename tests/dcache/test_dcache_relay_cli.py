"""`oscar-iac events relay SITE`: the site's via: relay sources, relayed in the foreground."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dcache.support import Delivery, add_service, job_paths, wait_for
from doubles.dcache_server import DcacheEventsServer
from doubles.oscar_server import OscarTestServer
from helpers.cli import CliResult

REPO = Path(__file__).resolve().parents[2]
Cli = Callable[..., CliResult]


def _site(tmp_path: Path, dcache: DcacheEventsServer, via: str = "relay") -> Path:
    site = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    site["name"] = "relaysite"
    site["events"] = [
        {
            "kind": "dcache",
            "name": "edge-dcache",
            "frontend": dcache.url,
            "webdav": "https://dcache.example.org:2880",
            "path": "/data/in",
            "auth": "oidc",
            "credential": "env:DCACHE_TOKEN",
            "service": "dcache-svc",
            "via": via,
        }
    ]
    folder = tmp_path / "relaysite"
    folder.mkdir()
    (folder / "site.yml").write_text(yaml.safe_dump(site, sort_keys=False))
    return folder


def _relay(
    site: Path, oscar: OscarTestServer, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oscar_iac",
                "events",
                "relay",
                str(site),
                "--oscar-endpoint",
                oscar.url,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_dcache_relay_command_survives_restarts(
    tmp_path: Path, dcache: DcacheEventsServer, oscar_server: OscarTestServer
) -> None:
    add_service(oscar_server)
    site = _site(tmp_path, dcache)
    env = {
        **os.environ,
        "OSCAR_IAC_STATE": str(tmp_path / "state"),
        "OSCAR_PASSWORD": oscar_server.password,
        "DCACHE_TOKEN": dcache.token,
    }
    log = tmp_path / "relay.log"
    names = [f"/data/in/r{i:03d}.csv" for i in range(300)]
    proc = _relay(site, oscar_server, env, log)
    try:
        wait_for(
            "the relay to watch /data/in",
            lambda: "/data/in" in dcache.watched() and dcache.connected() == 1,
        )
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert (
            dcache.token.encode() not in cmdline and oscar_server.password.encode() not in cmdline
        )
        for n in names[:100]:
            dcache.upload(n)
        wait_for("50 jobs", lambda: len(job_paths(oscar_server)) >= 50)
        proc.send_signal(signal.SIGTERM)  # a service restart: stop...
        assert proc.wait(timeout=30) == 0, log.read_text()
        for n in names[100:200]:  # ...uploads while it is down...
            dcache.upload(n)
        proc = _relay(site, oscar_server, env, log)  # ...and start again
        wait_for("the relay to reconnect", lambda: dcache.connected() == 1)
        for n in names[200:]:
            dcache.upload(n)
        wait_for(
            "every upload at /job", lambda: not Delivery(names, job_paths(oscar_server)).lost, 60
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    d = Delivery(names, job_paths(oscar_server))
    print(f"relay restart: uploads={len(names)} lost={len(d.lost)} duplicates={d.duplicates}")
    assert code == 0 and d.lost == [] and d.unexpected == []
    text = log.read_text()
    assert dcache.token not in text and oscar_server.password not in text
    assert oscar_server.token("dcache-svc") not in text
    checkpoint = tmp_path / "state" / "relaysite" / "dcache-relay" / "edge-dcache.checkpoint.json"
    assert checkpoint.is_file() and oct(checkpoint.stat().st_mode & 0o777) == "0o600"
    assert len(dcache.channel_ids()) == 1


def test_dcache_relay_needs_a_relay_source(
    cli: Cli,
    tmp_path: Path,
    dcache: DcacheEventsServer,
    oscar_server: OscarTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("OSCAR_PASSWORD", oscar_server.password)
    monkeypatch.setenv("DCACHE_TOKEN", "x")
    site = _site(tmp_path, dcache, via="nifi")
    data = yaml.safe_load((site / "site.yml").read_text())
    data["stack"]["nifi"] = {"enabled": True}
    (site / "site.yml").write_text(yaml.safe_dump(data))
    r = cli("events", "relay", str(site), "--oscar-endpoint", oscar_server.url)
    assert r.code == 2 and "no dcache event source with via: relay" in r.err
    r = cli(
        "events",
        "relay",
        str(site),
        "--oscar-endpoint",
        oscar_server.url,
        "--source",
        "edge-dcache",
    )
    assert r.code == 2 and "events[0].via" in r.err and "via: nifi" in r.err
    assert dcache.channel_ids() == []  # nothing half-created


def test_dcache_relay_source_needs_no_nifi(
    cli: Cli, tmp_path: Path, dcache: DcacheEventsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCACHE_TOKEN", "x")
    r = cli("validate", str(_site(tmp_path, dcache)))
    assert r.code == 0, r.err
    (tmp_path / "n").mkdir()
    r = cli("validate", str(_site(tmp_path / "n", dcache, via="nifi")))
    assert r.code == 2 and "stack.nifi.enabled: true" in r.err and "events[0].kind" in r.err
