"""The whole lifecycle against a real IM 2.0 server (PyPI `IM`, Dummy cloud), via the CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests

from helpers.cli import CliResult
from oscar_iac import state as st
from oscar_iac.errors import DeploymentError
from oscar_iac.im import lifecycle
from oscar_iac.site import load_site

pytestmark = pytest.mark.slow


def _status(cli: Callable[..., CliResult], site: Path) -> dict[str, object]:
    res = cli("status", str(site), "--json")
    assert res.code == 0, res.err
    return dict(json.loads(res.out))


def _vm_count(cli: Callable[..., CliResult], site: Path) -> int:
    state = _status(cli, site)["state"]
    assert isinstance(state, dict)
    return len(state["vm_states"])


def test_up_scale_reconfigure_down(
    cli: Callable[..., CliResult],
    local_site: Path,
    state_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    res = cli("up", str(local_site), "-q")
    assert res.code == 0, res.err
    assert "created" in res.out and "oscar_endpoint" in res.out
    assert "simulated" in res.out  # the Dummy cloud says what it did not do
    dep = st.load("local")
    assert dep is not None and dep.phase == "configured" and dep.inf_id
    assert dep.outputs["oscar_endpoint"] == "https://oscar-local.oscar.localhost"
    path = st.state_path("local")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for secret in (state_root / "local" / "secrets").iterdir():
        assert secret.read_text() not in path.read_text()  # no secret in the state file
    assert _vm_count(cli, local_site) == 3  # front + 2 workers

    out = cli("outputs", str(local_site), "--json", "--refresh")
    assert out.code == 0 and json.loads(out.out)["minio_endpoint"].startswith("https://minio.")

    for workers in (4, 1):
        res = cli("scale", str(local_site), "--workers", str(workers), "-q")
        assert res.code == 0, res.err
        assert _vm_count(cli, local_site) == 1 + workers
        assert st.load("local").workers == workers  # type: ignore[union-attr]

    assert cli("reconfigure", str(local_site), "-q").code == 0
    assert "Contextualization disabled" in cli("logs", str(local_site)).out
    followed = cli("logs", str(local_site), "--follow")  # returns once IM is in a final state
    assert followed.code == 0 and "Contextualization disabled" in followed.out

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    refused = cli("down", str(local_site))
    assert refused.code != 0
    assert st.load("local").phase == "configured"  # type: ignore[union-attr]
    assert len(cli("list", str(local_site)).out.split()) == 1

    res = cli("down", str(local_site), "--yes")
    assert res.code == 0, res.err
    assert st.load("local").phase == "destroyed"  # type: ignore[union-attr]
    assert cli("list", str(local_site)).out.strip() == ""
    gone = cli("status", str(local_site))
    assert gone.code == 2 and "no deployment recorded" in gone.err


def test_up_twice_creates_one_infrastructure(
    cli: Callable[..., CliResult], local_site: Path
) -> None:
    assert cli("up", str(local_site), "-q").code == 0
    second = cli("up", str(local_site), "-q")
    assert second.code == 0 and "unchanged" in second.out
    assert len(cli("list", str(local_site)).out.split()) == 1
    # A changed worker count is reconciled on the same infrastructure.
    site_file = local_site / "site.yml"
    site_file.write_text(site_file.read_text().replace("count: 2", "count: 3"))
    third = cli("up", str(local_site), "-q")
    assert third.code == 0 and "reconciled" in third.out
    assert len(cli("list", str(local_site)).out.split()) == 1
    assert _vm_count(cli, local_site) == 4
    assert cli("down", str(local_site), "--yes").code == 0


def _kill_embedded_im(state_root: Path) -> None:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "oscar_iac.im.bootstrap" in cmd and str(state_root) in cmd:
            os.killpg(proc.pid, signal.SIGKILL)
            return
    raise AssertionError("no embedded IM process found")


def _wait_until_configured(state_root: Path) -> None:
    """Ask the embedded IM directly (its port and our user from the state folder)."""
    im_dir = state_root / "local" / "im"
    port = next(
        ln.split("=")[1].strip()
        for ln in (im_dir / "im.cfg").read_text().splitlines()
        if ln.startswith("REST_PORT")
    )
    password = (state_root / "local" / "secrets" / "im_password").read_text().strip()
    auth = (
        f"id = im; type = InfrastructureManager; username = oscar-iac-local; password = {password}"
        "\\nid = dummy; type = Dummy"
    )
    headers = {"Authorization": auth, "Accept": "application/json"}
    base = f"http://127.0.0.1:{port}/infrastructures"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ids = requests.get(base, headers=headers, timeout=5).json()["uri-list"]
        if ids:
            url = ids[0]["uri"] + "/state"
            if (
                requests.get(url, headers=headers, timeout=5).json()["state"]["state"]
                == "configured"
            ):
                return
        time.sleep(0.1)
    raise AssertionError("IM never configured the infrastructure")


def test_im_killed_while_waiting_then_resume(local_site: Path, state_root: Path) -> None:
    """IM dies while `up` polls it (after IM has the VMs): clear error, state kept, resume."""
    loaded = load_site(local_site)

    def kill_when_waiting(message: str) -> None:
        if message.startswith("waiting"):
            _wait_until_configured(state_root)
            _kill_embedded_im(state_root)

    with pytest.raises(DeploymentError) as info:
        lifecycle.up(loaded, quiet=True, on_event=kill_when_waiting)
    assert "cannot connect to IM" in str(info.value)
    assert info.value.hints  # says what to do next
    dep = st.load("local")
    assert dep is not None and dep.inf_id and dep.phase == "created"  # state kept

    again = lifecycle.up(loaded, quiet=True)
    assert again.action == "resumed"
    assert again.deployment.inf_id == dep.inf_id and again.deployment.phase == "configured"
    lifecycle.down(loaded)


def test_im_killed_before_any_vm_then_rerun_replaces_it(local_site: Path, state_root: Path) -> None:
    """IM dies while still launching: it never finishes that one, so `up` replaces it."""
    loaded = load_site(local_site)

    def kill_at_once(message: str) -> None:
        if message.startswith("waiting"):
            _kill_embedded_im(state_root)

    with pytest.raises(DeploymentError):
        lifecycle.up(loaded, quiet=True, on_event=kill_at_once)
    first = st.load("local")
    assert first is not None and first.inf_id
    again = lifecycle.up(loaded, quiet=True)
    assert again.deployment.phase == "configured"
    ids = lifecycle.list_infrastructures(loaded)
    assert ids == [again.deployment.inf_id]  # nothing orphaned
    if again.deployment.inf_id != first.inf_id:
        assert any("replaced stalled" in h["event"] for h in again.deployment.history)
    lifecycle.down(loaded)


def test_interrupted_up_is_cleaned_by_down(local_site: Path) -> None:
    loaded = load_site(local_site)

    def interrupt(message: str) -> None:
        if message.startswith("waiting"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lifecycle.up(loaded, quiet=True, on_event=interrupt)
    assert lifecycle.list_infrastructures(loaded)  # IM has it, and so does the state file
    lifecycle.down(loaded)
    assert lifecycle.list_infrastructures(loaded) == []


def test_lost_create_answer_is_found_again(local_site: Path) -> None:
    """IM created the infrastructure but `up` died before recording its id."""
    loaded = load_site(local_site)
    first = lifecycle.up(loaded, quiet=True)
    dep = first.deployment
    lost_id = dep.inf_id
    dep.inf_id, dep.phase = None, "creating"
    st.save(dep)
    again = lifecycle.up(loaded, quiet=True)
    assert again.action == "resumed" and again.deployment.inf_id == lost_id
    assert len(lifecycle.list_infrastructures(loaded)) == 1
    lifecycle.down(loaded)


def test_hosts_target_is_refused_with_a_hint(
    cli: Callable[..., CliResult], state_root: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    # IM commands refuse the hosts target; `up` runs ansible-playbook for it instead.
    res = cli("scale", str(repo / "inventories" / "hosts-example"), "--workers", "3")
    assert res.code == 2
    assert "ansible-playbook" in res.err
