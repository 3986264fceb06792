"""`oscar-iac up` as phases, end to end, and `down` undoing them.

Existing-cluster target (`target: {kind: oscar}`): the OSCAR contract double executing
/run and /job with the local runner (the real DEEPaaS demo model in podman), the real
MinIO as the cluster's MinIO and as an external event source. Embedded default: the
real IM server (PyPI IM, Dummy cloud), kept running between commands.

Kills are real: `oscar-iac up` runs as its own process, is frozen (SIGSTOP) once the
state file says the chosen phase is running, checked, then SIGKILLed; the next `up`
must resume there and finish, or `down` must leave nothing behind.
Select with: pytest -k "up_all or phases"
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.minio_fixture import MinioServer
from doubles.oscar_server import OscarTestServer
from helpers.cli import CliResult
from oscar_iac.client.envelope import decode_answer
from oscar_iac.fdl import service_name
from oscar_iac.im import server
from runner.fixtures import DEMO_CATALOG, DEMO_MODULE, EXPECTED_SPECIES, IRIS_SAMPLE

pytestmark = pytest.mark.slow
Cli = Callable[..., CliResult]
REPO = Path(__file__).resolve().parents[2]
SERVICE = service_name(DEMO_MODULE)
PASSWORD_ENV = "UPALL_OSCAR_PASSWORD"
MINIO_ENV = "UPALL_MINIO_SECRET"


@dataclass
class Existing:
    site: Path
    oscar: OscarTestServer
    minio: MinioServer
    bucket: str
    env: dict[str, str]
    state: Path

    def webhook_config(self) -> Any:
        return self.minio.admin().config_get("notify_webhook")

    def bucket_queues(self) -> list[Any]:
        return list(self.minio.client().get_bucket_notification(self.bucket).queue_config_list)

    def ours(self) -> list[str]:
        return sorted(
            name
            for name, svc in self.oscar.services.items()
            if (svc.get("labels") or {}).get("oscar-iac/site") == "upall"
        )


def _existing_site(folder: Path, oscar: OscarTestServer, minio: MinioServer, bucket: str) -> Path:
    folder.mkdir(parents=True)
    doc = {
        "name": "upall",
        "description": "an OSCAR that already exists [/] (markup-looking text stays text)",
        "target": {
            "kind": "oscar",
            "endpoint": oscar.url,
            "username": oscar.username,
            "password": f"env:{PASSWORD_ENV}",
        },
        "catalog": {"source": "folder", "location": str(DEMO_CATALOG)},
        "models": [{"module": DEMO_MODULE}],
        "events": [
            {
                "kind": "minio",
                "name": "edge",
                "endpoint": minio.url,
                "access_key": minio.access_key,
                "secret_key": f"env:{MINIO_ENV}",
                "bucket": bucket,
                "prefix": "in/",
                "service": SERVICE,
            }
        ],
        "smoke": {"input": str(IRIS_SAMPLE)},
    }
    (folder / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


@pytest.fixture
def existing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    oscar_runner: OscarTestServer,
    minio_server: MinioServer,
    minio_bucket: str,
) -> Iterator[Existing]:
    state = tmp_path / "state"
    env = {
        "OSCAR_IAC_STATE": str(state),
        PASSWORD_ENV: oscar_runner.password,
        MINIO_ENV: minio_server.secret_key,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    site = _existing_site(tmp_path / "upall", oscar_runner, minio_server, minio_bucket)
    ex = Existing(site, oscar_runner, minio_server, minio_bucket, env, state)
    before = ex.webhook_config()
    yield ex
    # Whatever a failed test left: take our MinIO wiring off the shared server.
    if ex.webhook_config() != before:
        from oscar_iac.events import minio as minio_events
        from oscar_iac.oscar import OscarConnection
        from oscar_iac.secrets import SecretResolver
        from oscar_iac.site import load_site

        loaded = load_site(site)
        resolver = SecretResolver(site, state / "upall")
        for source in loaded.site.events:
            minio_events.remove(source, OscarConnection("http://x.invalid", "", ""), resolver)


def _phases(state: Path, site: str) -> dict[str, dict[str, str]]:
    path = state / site / "deployment.json"
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text()).get("phases") or {})
    except ValueError:  # written atomically, but be tolerant of a reader racing a rename
        return {}


def _run_state(state: Path, site: str) -> dict[str, str]:
    return dict(json.loads((state / site / "deployment.json").read_text()).get("run") or {})


def _kill_up_in(phase: str, site: Path, env: dict[str, str], state: Path, name: str) -> None:
    """Start `oscar-iac up SITE`, freeze it while `phase` runs, check, SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "oscar_iac", "up", str(site), "-q"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"up ended (code {proc.returncode}) before {phase}:\n{out}")
            if _phases(state, name).get(phase, {}).get("status") == "running":
                os.kill(proc.pid, signal.SIGSTOP)
                # Frozen: the state cannot move on. Still in `phase`? Then kill it there.
                if _phases(state, name).get(phase, {}).get("status") == "running":
                    break
                os.kill(proc.pid, signal.SIGCONT)
            assert time.monotonic() < deadline, f"up never reached phase {phase} in 300 s"
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
    assert _phases(state, name)[phase]["status"] == "running"  # killed inside that phase


# --------------------------------------------------------------------------- existing cluster


def test_up_all_existing_cluster_then_down(cli: Cli, existing: Existing) -> None:
    before = existing.webhook_config()
    res = cli("up", str(existing.site))
    assert res.code == 0, res.out + res.err
    # One result line per phase, "ok <phase>", and the state records each as done (a
    # phase name that only appears somewhere in a message does not count).
    lines = [ln.split() for ln in res.out.splitlines()]
    recorded = _phases(existing.state, "upall")
    for phase in ("platform", "models", "events", "smoke", "summary"):
        assert ["ok", phase] in [ln[:2] for ln in lines], (phase, res.out)
        assert recorded[phase]["status"] == "done", (phase, recorded[phase])
    assert "n/a preflight" in " ".join(res.out.split())  # an existing OSCAR has no cloud
    # The smoke test called the real model synchronously and says how long it took.
    smoke = _phases(existing.state, "upall")["smoke"]
    assert smoke["status"] == "done" and "answered (sync)" in smoke["detail"]
    assert "setosa" in smoke["detail"]  # the answer, shortened for the line
    assert "latency" in smoke["detail"]
    # The whole answer the model gave the smoke test's /run call: every row's species.
    (run_call,) = existing.oscar.calls_to("/run/")
    answer = decode_answer(run_call.answer.decode())
    assert [p["species"] for p in answer["predictions"]] == EXPECTED_SPECIES
    assert _run_state(existing.state, "upall")["status"] == "complete"
    assert existing.ours() == [SERVICE]
    assert [c.path for c in existing.oscar.calls_to("/run/")] == [f"/run/{SERVICE}"]
    assert existing.webhook_config() != before and len(existing.bucket_queues()) == 1
    # The summary names the endpoint and where the password comes from, never the password.
    assert existing.oscar.url in res.out and f"env:{PASSWORD_ENV}" in res.out
    assert existing.oscar.password not in res.out + res.err

    # The wiring works: an upload to the event bucket becomes a job of the service.
    data = IRIS_SAMPLE.read_bytes()
    existing.minio.client().put_object(existing.bucket, "in/x.csv", io.BytesIO(data), len(data))
    deadline = time.monotonic() + 120
    while not existing.oscar.jobs.get(SERVICE) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert existing.oscar.jobs.get(SERVICE), "no job arrived from the MinIO event"

    # A second up on the unchanged site changes nothing (and says so).
    again = cli("up", str(existing.site), "-q")
    assert again.code == 0, again.err
    assert "1 unchanged" in again.out and existing.ours() == [SERVICE]

    status = cli("status", str(existing.site))
    assert status.code == 0 and "complete" in status.out and "smoke" in status.out

    other = existing.oscar.services.setdefault(
        "not-ours", {**existing.oscar.services[SERVICE], "name": "not-ours", "labels": {}}
    )
    down = cli("down", str(existing.site), "--yes")
    assert down.code == 0, down.out + down.err
    assert existing.ours() == []
    assert "not-ours" in existing.oscar.services and other["labels"] == {}
    assert existing.webhook_config() == before and existing.bucket_queues() == []


@pytest.mark.parametrize("phase", ["platform", "models", "events", "smoke"])
def test_phases_kill_then_up_resumes(
    cli: Cli, existing: Existing, phase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing.oscar.latency = 0.3  # a networked manager: each phase lasts long enough to hit
    _kill_up_in(phase, existing.site, existing.env, existing.state, "upall")
    existing.oscar.latency = 0.0
    recorded = _phases(existing.state, "upall")
    order = ["platform", "models", "events", "smoke"]
    for earlier in order[: order.index(phase)]:
        assert recorded[earlier]["status"] == "done"

    res = cli("up", str(existing.site))
    assert res.code == 0, res.out + res.err
    flat = " ".join(res.out.split())
    for earlier in order[: order.index(phase)]:
        assert f"{earlier} (done earlier)" in flat  # resumed: not run again
    assert f"ok {phase} " in flat  # the interrupted phase ran to its end
    assert _run_state(existing.state, "upall")["status"] == "complete"
    assert existing.ours() == [SERVICE] and len(existing.bucket_queues()) == 1

    assert cli("down", str(existing.site), "--yes").code == 0
    assert existing.ours() == [] and existing.bucket_queues() == []


@pytest.mark.parametrize("phase", ["models", "events"])
def test_phases_down_after_partial_up_leaves_nothing(
    cli: Cli, existing: Existing, phase: str
) -> None:
    before = existing.webhook_config()
    existing.oscar.latency = 0.3
    _kill_up_in(phase, existing.site, existing.env, existing.state, "upall")
    existing.oscar.latency = 0.0
    res = cli("down", str(existing.site), "--yes")
    assert res.code == 0, res.out + res.err
    assert existing.ours() == []
    assert existing.webhook_config() == before and existing.bucket_queues() == []
    assert _phases(existing.state, "upall") == {}
    again = cli("down", str(existing.site), "--yes")  # nothing left: said, exit 0
    assert again.code == 0 and "nothing to remove" in again.out, again.out + again.err


def test_phases_only_and_skip(cli: Cli, existing: Existing) -> None:
    res = cli("up", str(existing.site), "--only", "platform,models")
    assert res.code == 0, res.out + res.err
    recorded = _phases(existing.state, "upall")
    assert recorded["models"]["status"] == "done" and "events" not in recorded
    assert existing.ours() == [SERVICE] and existing.bucket_queues() == []
    res = cli("up", str(existing.site), "--skip", "events", "--skip", "smoke")
    assert res.code == 0 and "events" in res.out and "skip" in res.out
    assert existing.bucket_queues() == [] and not existing.oscar.calls_to("/run/")
    bad = cli("up", str(existing.site), "--only", "modles")
    assert bad.code == 2 and "modles" in bad.err and "models" in bad.err
    assert cli("down", str(existing.site), "--yes").code == 0
    assert existing.ours() == []


def test_phases_wrong_password_is_exit_2_at_platform(
    cli: Cli, existing: Existing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    res = cli("up", str(existing.site), "-q")
    assert res.code == 2, res.out + res.err
    assert "refused the site's credentials" in res.err and "not-the-password" not in res.err
    assert _phases(existing.state, "upall")["platform"]["status"] == "failed"
    assert existing.ours() == []


# --------------------------------------------------------------------------- embedded default


@pytest.fixture
def local_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    import shutil

    state = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(state))
    site = tmp_path / "local"
    shutil.copytree(REPO / "inventories" / "local", site)
    return site, state


def test_up_all_embedded_default_then_down(cli: Cli, local_copy: tuple[Path, Path]) -> None:
    site, state = local_copy
    res = cli("up", str(site), "-q")
    assert res.code == 0, res.out + res.err
    assert res.out.count("no OSCAR to reach") == 1  # said once, plainly, in the summary
    assert "inventories/egi-example" in res.out and "oscar-iac up" in res.out
    recorded = _phases(state, "local")
    assert recorded["infrastructure"]["status"] == "done"
    for phase in ("platform", "models", "events", "smoke"):
        assert recorded[phase]["status"] == "not-applicable"
    assert _run_state(state, "local")["status"] == "complete"

    # One IM for the site, still running, verifiably ours; later commands reuse it.
    folder = state / "local" / "im"
    first = server.running(folder)
    assert first is not None
    assert cli("status", str(site)).code == 0
    again = cli("up", str(site), "-q")
    assert again.code == 0 and "unchanged" in again.out
    assert server.running(folder) == first

    down = cli("down", str(site), "--yes")
    assert down.code == 0, down.out + down.err
    assert server.running(folder) is None and not Path(f"/proc/{first.pid}").exists()
    assert json.loads((state / "local" / "deployment.json").read_text())["phase"] == "destroyed"


def test_phases_embedded_kill_in_infrastructure_then_up_resumes(
    cli: Cli, local_copy: tuple[Path, Path]
) -> None:
    site, state = local_copy
    _kill_up_in("infrastructure", site, {"OSCAR_IAC_STATE": str(state)}, state, "local")
    res = cli("up", str(site), "-q")
    assert res.code == 0, res.out + res.err
    assert _run_state(state, "local")["status"] == "complete"
    listed = cli("list", str(site))
    assert listed.code == 0 and len(listed.out.split()) == 1  # one infrastructure, not two
    assert cli("down", str(site), "--yes").code == 0
    assert server.running(state / "local" / "im") is None


def test_phases_down_goes_on_past_a_gone_oscar(cli: Cli, existing: Existing) -> None:
    before = existing.webhook_config()
    res = cli("up", str(existing.site), "--skip", "smoke", "-q")
    assert res.code == 0, res.out + res.err
    existing.oscar.stop()  # the cluster is gone; the external MinIO still carries our wiring
    down = cli("down", str(existing.site), "--yes")
    assert down.code == 0, down.out + down.err
    flat = " ".join(down.out.split())
    assert "gone models" in flat and "OSCAR not reachable" in flat  # said so, and went on
    assert existing.webhook_config() == before and existing.bucket_queues() == []
    assert _phases(existing.state, "upall") == {}


def test_up_all_async_smoke_through_minio(cli: Cli, existing: Existing) -> None:
    """smoke.mode async: the sample goes to the service's MinIO input, OSCAR runs a job
    (here: MinIO's webhook, wired by the site's own event source as OSCAR wires its
    services' inputs, calls the double's /job, which runs the real model), and the
    smoke test reads the prediction from the service's output."""
    import secrets as _secrets

    service = f"upall-async-{_secrets.token_hex(3)}"
    existing.minio.client().make_bucket(service)  # OSCAR creates a service's buckets
    doc = yaml.safe_load((existing.site / "site.yml").read_text())
    doc["models"] = [{"module": DEMO_MODULE, "service": service, "mode": "async"}]
    doc["events"][0] |= {"bucket": service, "prefix": "in/", "service": service}
    doc["smoke"] = {"input": str(IRIS_SAMPLE), "mode": "async", "timeout": 300}
    (existing.site / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    existing.bucket = service
    try:
        res = cli("up", str(existing.site))
        assert res.code == 0, res.out + res.err
        smoke = _phases(existing.state, "upall")["smoke"]
        assert "answered (async)" in smoke["detail"] and "setosa" in smoke["detail"]
        # The whole answer, as the job wrote it to the service's output: every species.
        client = existing.minio.client()
        written = b"".join(
            client.get_object(service, o.object_name).read()
            for o in client.list_objects(service, prefix="out/", recursive=True)
            if o.object_name
        )
        assert all(s.encode() in written for s in EXPECTED_SPECIES), written[:300]
        assert not existing.oscar.calls_to("/run/")  # no synchronous call was made
        assert existing.oscar.jobs.get(service)
        assert cli("down", str(existing.site), "--yes").code == 0
        assert existing.ours() == [] and existing.bucket_queues() == []
    finally:
        client = existing.minio.client()
        for obj in client.list_objects(service, recursive=True):
            if obj.object_name:
                client.remove_object(service, obj.object_name)
        client.remove_bucket(service)


def test_phases_embedded_down_after_a_kill_in_infrastructure(
    cli: Cli, local_copy: tuple[Path, Path]
) -> None:
    site, state = local_copy
    _kill_up_in("infrastructure", site, {"OSCAR_IAC_STATE": str(state)}, state, "local")
    down = cli("down", str(site), "--yes")
    assert down.code == 0, down.out + down.err
    assert server.running(state / "local" / "im") is None  # the site's IM stopped too
    listed = cli("list", str(site))  # starts IM again on the same database: nothing left
    assert listed.code == 0 and listed.out.strip() == ""
