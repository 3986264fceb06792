"""Generated cluster secrets never reach IM (#11, security 2).

- the real embedded IM keeps the TOSCA it was given: the `generate` inputs in it are empty,
  while an env: secret is there (and documented as stored by IM);
- the real playbooks/tasks/secrets.yml, run by ansible-playbook, generates the empty ones
  on the controller (on the IM path: the front VM) in ~/.oscar-iac/secrets, 0600, stable;
- `front_secrets.fetch` reads them over real SSH (sshd in a podman container) with the
  credentials IM reports, trusting the host key on first use and refusing a changed one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from components.minio_fixture import free_port
from helpers.cli import CliResult
from oscar_iac import state as st
from oscar_iac.errors import DeploymentError
from oscar_iac.im import front_secrets, lifecycle
from oscar_iac.site import load_site

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
IMAGE = "localhost/oscar-iac-debian12:latest"


@pytest.mark.slow
def test_generated_secrets_are_not_in_the_document_im_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("BADINPUT_MINIO_SECRET", "given-by-the-user-0123")
    site = tmp_path / "site"
    shutil.copytree(REPO / "inventories" / "local", site)
    doc = yaml.safe_load((site / "site.yml").read_text())
    doc["name"] = "badinput-im"
    doc["stack"]["minio"] = {"secret_key": "env:BADINPUT_MINIO_SECRET"}
    (site / "site.yml").write_text(yaml.safe_dump(doc))
    assert cli("up", str(site), "-q").code == 0
    try:
        loaded = load_site(site)
        dep = st.load("badinput-im")
        assert dep is not None and dep.inf_id
        with lifecycle.connect(loaded) as conn:
            stored = yaml.safe_load(conn.client.tosca(dep.inf_id))
        inputs = stored["topology_template"]["inputs"]
        for name in ("oscar_password", "k3s_token", "nifi_password"):
            assert inputs[name]["default"] == "", name
        # what the user gave through env:/file:/vault: does pass through IM (README says so)
        assert inputs["minio_secret_key"]["default"] == "given-by-the-user-0123"
        state_secrets = tmp_path / "state" / "badinput-im" / "secrets"
        for path in state_secrets.iterdir():
            assert path.read_text().strip() not in json.dumps(stored), path.name
    finally:
        assert cli("down", str(site), "--yes").code == 0


PLAY = """\
- name: Run the secrets hand-over as IM's configure step would
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    oscar_iac_secret_k3s_token: ""
    oscar_iac_secret_oscar_password: ""
    oscar_iac_secret_nifi_password: ""
    oscar_iac_secret_minio_secret_key: "from-the-site-reference"
  tasks:
    - name: Hand over
      ansible.builtin.include_tasks: {tasks}
    - name: Show what the roles would get
      ansible.builtin.copy:
        content: "{{{{ {{'k3s': k3s_token, 'oscar': oscar_password, 'nifi': nifi_password,
          'minio': minio_secret_key, 'oscar_minio': oscar_minio_secret_key}} | to_json }}}}"
        dest: {out}
        mode: "0600"
"""


def _play(tmp_path: Path, home: Path) -> dict[str, str]:
    out = tmp_path / "seen.json"
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(tasks=REPO / "playbooks" / "tasks" / "secrets.yml", out=out))
    env = {**os.environ, "HOME": str(home), "ANSIBLE_LOCALHOST_WARNING": "False"}
    run = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(play),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "from-the-site-reference" not in run.stdout + run.stderr  # no_log
    return dict(json.loads(out.read_text()))


def test_secrets_play_generates_the_empty_ones_on_the_controller(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    first = _play(tmp_path, home)
    folder = home / ".oscar-iac" / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [
        "k3s_token",
        "nifi_password",
        "oscar_password",
    ]
    for key, name in (("k3s", "k3s_token"), ("oscar", "oscar_password"), ("nifi", "nifi_password")):
        path = folder / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip() == first[key] and len(first[key]) == 32
    assert first["minio"] == first["oscar_minio"] == "from-the-site-reference"
    assert len({first["k3s"], first["oscar"], first["nifi"]}) == 3
    assert _play(tmp_path, home) == first  # the worker's step (and a re-run) read the same


@pytest.fixture
def sshd_front(tmp_path: Path) -> Iterator[tuple[front_secrets.Login, str]]:
    """A real OpenSSH server in a podman container, reached on a loopback port."""
    import paramiko

    if shutil.which("podman") is None:
        pytest.fail("podman is needed (make system-deps)")
    subprocess.run(
        ["bash", str(REPO / "tests" / "images" / "build-base-image.sh"), IMAGE], check=True
    )
    key = paramiko.RSAKey.generate(2048)
    public = f"{key.get_name()} {key.get_base64()}"
    name = f"badinput-sshd-{secrets.token_hex(4)}"
    port = free_port()
    script = (
        "set -e; ssh-keygen -A >/dev/null; mkdir -p /run/sshd /root/.ssh; "
        f"echo '{public}' > /root/.ssh/authorized_keys; chmod 700 /root/.ssh; "
        "chmod 600 /root/.ssh/authorized_keys; mkdir -p /root/.oscar-iac/secrets; "
        "chmod 700 /root/.oscar-iac/secrets; printf 'pw-from-the-front' > "
        "/root/.oscar-iac/secrets/oscar_password; chmod 600 /root/.oscar-iac/secrets/*; "
        "exec /usr/sbin/sshd -D -e -o ListenAddress=0.0.0.0"
    )
    env = {**os.environ, "CONTAINERS_CONF": str(REPO / "tests" / "images" / "containers.conf")}
    subprocess.run(
        [
            "podman",
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:22",
            IMAGE,
            "sh",
            "-c",
            script,
        ],
        check=True,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # until sshd answers with its banner
            try:
                with paramiko.Transport(("127.0.0.1", port)) as transport:
                    transport.start_client(timeout=5)
                break
            except (paramiko.SSHException, OSError):
                if time.monotonic() > deadline:
                    logs = subprocess.run(
                        ["podman", "logs", name], capture_output=True, text=True, env=env
                    )
                    pytest.fail(f"sshd in {name} did not answer within 60 s: {logs.stderr[-2000:]}")
                time.sleep(0.3)
        import io

        pem = io.StringIO()
        key.write_private_key(pem)
        yield front_secrets.Login("127.0.0.1", "root", port, private_key=pem.getvalue()), name
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], env=env, capture_output=True)


@pytest.mark.slow
def test_fetch_over_ssh_with_the_credentials_im_reports(
    tmp_path: Path, sshd_front: tuple[front_secrets.Login, str]
) -> None:
    import paramiko

    login, _ = sshd_front
    radl = [
        {"class": "network", "id": "public"},
        {
            "class": "system",
            "id": "front",
            "disk.0.os.credentials.username": login.user,
            "disk.0.os.credentials.private_key": login.private_key,
        },
    ]
    parsed = front_secrets.login_from_radl(radl, login.host)
    assert (parsed.user, parsed.private_key) == (login.user, login.private_key)
    parsed = front_secrets.Login(login.host, parsed.user, login.port, parsed.private_key)
    known = tmp_path / "state" / "known_hosts"
    got = front_secrets.fetch(parsed, ["oscar_password", "nifi_password"], known)
    assert got == {"oscar_password": "pw-from-the-front"}  # NiFi off: no file, not fetched
    assert "127.0.0.1" in known.read_text()  # host key recorded on first use
    written = front_secrets.store(tmp_path / "state", got)
    assert [stat.S_IMODE(p.stat().st_mode) for p in written] == [0o600]
    assert written[0].read_text() == "pw-from-the-front"
    # the recorded key must match next time: a different host key is refused
    host = known.read_text().split()[0]  # '[127.0.0.1]:PORT'
    forged = paramiko.RSAKey.generate(2048).get_base64()  # sshd also has an RSA host key
    known.write_text(f"{host} ssh-rsa {forged}\n")
    with pytest.raises(DeploymentError, match="different SSH host key"):
        front_secrets.fetch(parsed, ["oscar_password"], known)
