"""Guards around the phases: state tied to its site file, untrusted text printed as text,
the embedded IM reused only when it is verifiably ours, lazy start-up."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from helpers.cli import CliResult
from oscar_iac.im import server

Cli = Callable[..., CliResult]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(root))
    return root


def _copy_local(dst: Path) -> Path:
    shutil.copytree(REPO / "inventories" / "local", dst)
    return dst


def test_phases_state_belongs_to_its_site_file(cli: Cli, tmp_path: Path, state: Path) -> None:
    original = _copy_local(tmp_path / "a" / "local")
    copy = _copy_local(tmp_path / "b" / "local")  # a copied folder keeps `name: local`
    deployment = state / "local" / "deployment.json"
    deployment.parent.mkdir(parents=True)
    deployment.write_text(json.dumps({"site": "local", "im_url": "embedded", "inf_id": "x1"}))
    assert cli("outputs", str(original)).code == 2  # no outputs yet, but it claims the state
    owner = json.loads((state / "local" / "owner.json").read_text())
    assert owner["site_file"] == str((original / "site.yml").resolve())

    for command in (("down", str(copy), "--yes"), ("status", str(copy)), ("up", str(copy))):
        res = cli(*command)
        assert res.code == 2, (command, res.out, res.err)
        text = " ".join(res.err.split())
        assert str(original / "site.yml") in text and "own `name:`" in text
    assert json.loads(deployment.read_text())["inf_id"] == "x1"  # untouched

    # A site folder that was moved (the recorded file is gone) takes its state along.
    shutil.rmtree(original)
    res = cli("outputs", str(copy))
    assert res.code == 2 and "no outputs recorded" in res.err
    owner = json.loads((state / "local" / "owner.json").read_text())
    assert owner["site_file"] == str((copy / "site.yml").resolve())
    history = json.loads(deployment.read_text())["history"]
    assert "site file moved" in history[-1]["event"]


def test_phases_untrusted_text_is_printed_as_text(cli: Cli, tmp_path: Path, state: Path) -> None:
    site = _copy_local(tmp_path / "local")
    doc = yaml.safe_load((site / "site.yml").read_text())
    doc["cluster"]["name"] = "[/]ok: [front]"
    (site / "site.yml").write_text(yaml.safe_dump(doc))
    res = cli("up", str(site))
    assert res.code == 2, res.out + res.err
    assert "[/]ok: [front]" in res.err and "Traceback" not in res.err

    # Outputs with markup-looking values are printed whole and in a stable order.
    doc["cluster"]["name"] = "oscar-local"
    (site / "site.yml").write_text(yaml.safe_dump(doc))
    assert cli("outputs", str(site)).code == 2  # a read-only command: no state folder made
    (state / "local").mkdir(mode=0o700, parents=True)
    dep = {
        "site": "local",
        "im_url": "embedded",
        "inf_id": "x",
        "outputs": {"zeta": "[bold]z[/]", "alpha": "TASK [k3s : install]", "mid": "[/]"},
    }
    (state / "local" / "deployment.json").write_text(json.dumps(dep))
    res = cli("outputs", str(site))
    assert res.code == 0, res.err
    assert res.out.splitlines() == ["alpha: TASK [k3s : install]", "mid: [/]", "zeta: [bold]z[/]"]
    res = cli("outputs", str(site), "--json")
    assert list(json.loads(res.out)) == ["alpha", "mid", "zeta"]


class _Stranger:
    """A process-local TCP server standing in for 'not our IM' on a port; counts accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture
def stranger() -> Iterator[_Stranger]:
    s = _Stranger()
    yield s
    s.sock.close()


@pytest.mark.slow
def test_phases_embedded_im_is_reused_only_when_ours(tmp_path: Path, stranger: _Stranger) -> None:
    folder = tmp_path / "im"
    first = server.ensure_running(folder)
    try:
        assert server.ensure_running(folder) == first  # kept running, reused
        assert server.process_is_ours(first.pid, first.port, folder / "im.cfg")
        # Not ours: this test process listening on a port, a live pid with the wrong port.
        assert not server.process_is_ours(first.pid, stranger.port, folder / "im.cfg")
        assert not server.process_is_ours(os.getpid(), stranger.port, folder / "im.cfg")
        assert not server.process_is_ours(first.pid, first.port, tmp_path / "other" / "im.cfg")
    finally:
        assert server.stop_running(folder)
    # A stale record naming a stranger's pid and port is not trusted: a fresh IM starts,
    # and the stranger never receives a connection (nor the site's IM password).
    (folder / server.RECORD).write_text(json.dumps({"pid": os.getpid(), "port": stranger.port}))
    fresh = server.ensure_running(folder)
    try:
        assert fresh.port != stranger.port and fresh.pid != first.pid
        assert stranger.accepted == 0
    finally:
        assert server.stop_running(folder)
    assert not server.stop_running(folder)  # nothing of ours left to stop


@pytest.mark.slow
def test_phases_embedded_im_stops_itself_when_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(server.IDLE_ENV, "6")
    folder = tmp_path / "im"
    rec = server.ensure_running(folder)
    proc = Path(f"/proc/{rec.pid}")
    deadline = time.monotonic() + 90
    while proc.exists() and (proc / "stat").read_text().split(")")[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the idle IM did not stop in 90 s"
        time.sleep(0.2)
    assert server.running(folder) is None and not (folder / server.RECORD).exists()


def test_phases_help_imports_no_area() -> None:
    """`oscar-iac --help` lists every command without importing IM, oscar-python, MinIO."""
    code = (
        "import sys; from oscar_iac.cli.main import cli\n"
        "try:\n    cli.main(['--help'], prog_name='oscar-iac')\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('IM', 'oscar_python', 'minio', 'pydantic', 'rich', 'requests',"
        " 'oscar_iac.site.model', 'oscar_iac.cli.deploy') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out
    for name in ("up", "down", "models", "events", "status", "outputs"):
        assert f"\n  {name} " in out


def test_phases_command_table_matches_the_areas() -> None:
    """The names and areas `--help` lists without importing match what the areas register."""
    import typer.main

    from oscar_iac.cli.main import COMMANDS, full_app

    whole = typer.main.get_command(full_app())
    assert sorted(whole.commands) == sorted(COMMANDS)  # type: ignore[attr-defined]


def _write(folder: Path, doc: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def test_phases_existing_oscar_target_schema(cli: Cli, tmp_path: Path, state: Path) -> None:
    target = {"kind": "oscar", "endpoint": "https://oscar.example.org", "password": "env:X_PW"}
    site = _write(tmp_path / "ok", {"name": "ext", "target": target})
    res = cli("validate", str(site))
    assert res.code == 2 and "target.password" in res.err and "X_PW" in res.err
    os.environ["X_PW"] = "s3cret"
    try:
        res = cli("validate", str(site))
        assert res.code == 0, res.err
        assert "an existing OSCAR at https://oscar.example.org" in res.out
    finally:
        del os.environ["X_PW"]
    no_pw = _write(tmp_path / "nopw", {"name": "ext", "target": {**target, "password": None}})
    res = cli("validate", str(no_pw))
    assert res.code == 2 and "target" in res.err and "auth 'basic' needs 'password'" in res.err
    # An IM or hosts target still needs its cluster section.
    im = _write(
        tmp_path / "im", {"name": "im", "target": {"kind": "im", "cloud": {"kind": "local"}}}
    )
    res = cli("validate", str(im))
    assert res.code == 2 and "cluster" in res.err and "required" in res.err


STAND_IN = """#!/bin/sh
# A stand-in for ansible-playbook (the real one needs SSH-reachable hosts): it records
# its arguments and prints the shape of ansible-playbook's default output.
echo "$@" > "$STAND_IN_ARGS"
echo "PLAY [front] *******"
echo "TASK [oscar_iac_base : Install packages] *******"
echo "ok: [front]"
echo "PLAY RECAP *********"
echo "front  : ok=3    changed=1    unreachable=0    failed=$STAND_IN_FAIL"
exit $STAND_IN_CODE
"""


@pytest.mark.parametrize("code", [0, 2])
def test_phases_hosts_infrastructure_runs_the_site_playbook(
    cli: Cli, tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "ansible-playbook"
    exe.write_text(STAND_IN)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # `up` prefers the ansible-playbook beside its interpreter (the venv's real one):
    # this test's stand-in takes its place.
    monkeypatch.setattr("oscar_iac.phases.hosts.find_ansible_playbook", lambda: str(exe))
    monkeypatch.setenv("STAND_IN_ARGS", str(tmp_path / "args"))
    monkeypatch.setenv("STAND_IN_CODE", str(code))
    monkeypatch.setenv("STAND_IN_FAIL", "1" if code else "0")
    site = tmp_path / "hosts-example"
    shutil.copytree(REPO / "inventories" / "hosts-example", site)
    # The artifacts recorded on first fetch (Knative's manifests, the traefik chart) were
    # recorded before, as `oscar-iac airgap pin` does: here from a release this test makes
    # (the transport only; no machine here reaches GitHub).
    from oscar_iac.airgap import pins
    from oscar_iac.site import load_site

    names = pins.needed_for(load_site(site).site)
    blobs = {n: f"release file {n}".encode() for n in names}

    def release_at_hand(url: str) -> bytes:
        name = url.rsplit("/", 1)[1]
        if name == "checksums.txt":
            sums = (f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in blobs.items())
            return "".join(sums).encode()
        return blobs[name]

    pins.ensure(state / "hosts-example", names, fetch=release_at_hand)
    res = cli("up", str(site), "--only", "infrastructure")
    assert (tmp_path / "args").exists(), res.out + res.err
    args = (tmp_path / "args").read_text().split()
    inventory = state / "hosts-example" / "hosts.yml"
    assert args == ["-i", str(inventory), str(REPO / "playbooks" / "site.yml")]
    assert oct(inventory.stat().st_mode & 0o777) == "0o600"
    assert "192.0.2.10" in inventory.read_text()
    for secret in (state / "hosts-example" / "secrets").glob("*"):
        assert secret.read_text() not in inventory.read_text()
    recorded = json.loads((state / "hosts-example" / "deployment.json").read_text())
    if code == 0:
        assert res.code == 0, res.out + res.err
        assert "failed=0" in recorded["phases"]["infrastructure"]["detail"]
        assert recorded["outputs"]["oscar_endpoint"] == "https://oscar.lab.example.org"
        assert "platform" not in recorded["phases"]  # --only infrastructure
    else:
        assert res.code == 1
        assert "ansible-playbook ended with code 2" in res.err and "failed=1" in res.err
        assert recorded["phases"]["infrastructure"]["status"] == "failed"
