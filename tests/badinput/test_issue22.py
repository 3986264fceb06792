"""Issue 22, one test (or more) per numbered item this branch fixes, each failing on the
behaviour the issue reproduced: 1 (site text reaching Ansible as code), 2 (secret files
read from anywhere, by path, more than once), 3 (`down` emptying authorized_keys),
8 (credentials in URLs), 9 (unbounded flags)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from helpers.cli import CliResult
from oscar_iac.errors import UserError
from oscar_iac.im.nodes import DROP_KEY, forget_host_keys
from oscar_iac.im.tokens import read_notebooks_token
from oscar_iac.secretfile import MAX_SECRET_BYTES, SecretFileError, read_secret_bytes, redact_url
from oscar_iac.secrets import SecretError, SecretRef, SecretResolver
from oscar_iac.site.model import TokenSource

Cli = Callable[..., CliResult]
LOCAL = """\
name: i22
target:
  kind: im
  endpoint: embedded
  cloud: {kind: local}
cluster: {name: oscar-test, domain: example.org}
"""
HOSTS = """\
name: i22
target:
  kind: hosts
  front: {name: front, address: "FRONT", user: debian}
cluster: {name: oscar, domain: example.org, workers: {count: 0}}
"""


def _site(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.yml").write_text(text)
    return folder


# --------------------------------------------------------------------------- item 1


def test_item1_a_lookup_in_a_host_address_is_refused_and_runs_nothing(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    attack = "{{ lookup('pipe','id > pwned; echo 192.0.2.10') }}"
    folder = _site(tmp_path / "site", HOSTS.replace("FRONT", attack))
    for command in ("validate", "render", "up"):
        args = (command, str(folder)) + (
            ("-o", str(tmp_path / "out")) if command == "render" else ()
        )
        result = cli(*args)
        assert result.code == 2, (command, result.err)
        assert "target.front.address: expected an IP address or a DNS host name" in result.err
        assert "Traceback" not in result.err
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "state").exists() and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- item 2


def test_item2_a_token_file_outside_the_site_folder_is_never_read(tmp_path: Path, cli: Cli) -> None:
    outside = tmp_path / "elsewhere" / "token"
    outside.parent.mkdir()
    outside.write_text("someone-elses-token")
    text = LOCAL.replace(
        "cloud: {kind: local}", f"cloud: {{kind: local}}\n  token: {{notebooks_file: {outside}}}"
    )
    folder = _site(tmp_path / "site", text)
    result = cli("validate", str(folder))
    assert result.code == 2
    assert "target.token.notebooks_file:" in result.err and "outside the site folder" in result.err
    with pytest.raises(UserError, match="outside the site folder"):
        read_notebooks_token(TokenSource(notebooks_file=str(outside)), folder)
    # inside the site folder it is read; absent, the source yields nothing
    (folder / "token").write_text("mine\n")
    assert read_notebooks_token(TokenSource(notebooks_file="token"), folder) == "mine"
    assert read_notebooks_token(TokenSource(notebooks_file="absent"), folder) is None


def test_item2_a_fifo_dev_zero_and_a_huge_file_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    resolver = SecretResolver(site_dir=tmp_path)
    done: list[str] = []

    def read_all() -> None:
        for target in ("fifo", "huge"):
            with pytest.raises(SecretError) as info:
                resolver.resolve(SecretRef(f"file:{target}"), "x")
            done.append(str(info.value))
        with pytest.raises(SecretFileError, match="never read"):
            read_secret_bytes("/dev/zero", allowed=None)
        done.append("dev")

    worker = threading.Thread(target=read_all, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "reading a FIFO hung (waited 30 s for it to be refused)"
    assert len(done) == 3, done
    assert "not a regular file" in done[0]
    assert f"at most {MAX_SECRET_BYTES}" in done[1]


def test_item2_a_symlink_swap_never_yields_the_outside_file(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "real").write_text("inside")
    outside = tmp_path / "outside"
    outside.write_text("OUTSIDE")
    link = site / "pw"
    link.write_text("inside")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            tmp = site / "pw.tmp"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(outside)
            os.replace(tmp, link)
            tmp.write_text("inside")
            os.replace(tmp, link)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    got: set[str] = set()
    try:
        for _ in range(3000):
            try:
                got.add(read_secret_bytes(str(link), allowed=[str(site)]).decode())
            except SecretFileError:
                got.add("refused")
    finally:
        stop.set()
        swapper.join(timeout=10)
    assert "OUTSIDE" not in got
    assert "inside" in got


def test_item2_secret_references_refuse_options_and_control_characters() -> None:
    for bad in ("file:-rf", "file:a\nb", "vault:-x#k", "file:{{ lookup('pipe','id') }}", "env:A B"):
        with pytest.raises(ValueError, match="expected a secret reference"):
            SecretRef(bad)
    assert SecretRef("file:secrets/pw").target == "secrets/pw"


# --------------------------------------------------------------------------- item 3


def _drop(home: Path, key: str, limit_file_size: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = "ulimit -f 0; " if limit_file_size else ""
    return subprocess.run(
        ["sh", "-c", prefix + DROP_KEY],
        input=key + "\n",
        env={"HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )


def test_item3_authorized_keys_survive_a_failed_write_and_lose_only_ims_key(
    tmp_path: Path,
) -> None:
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    keys = ssh / "authorized_keys"
    im_key = "ssh-rsa AAAAIM im@front"
    mine = "ssh-ed25519 AAAAMINE me@laptop"
    keys.write_text(f"{mine}\n{im_key}\n{im_key}2\n")
    # A write that fails (a file-size limit of 0: what a full disk does to grep's output):
    # the file stays whole and the edit exits non-zero (it used to empty the file, exit 0).
    failed = _drop(tmp_path, im_key, limit_file_size=True)
    assert failed.returncode != 0
    assert keys.read_text() == f"{mine}\n{im_key}\n{im_key}2\n"
    assert [p.name for p in ssh.iterdir()] == ["authorized_keys"]
    ok = _drop(tmp_path, im_key)
    assert ok.returncode == 0, ok.stderr
    assert keys.read_text() == f"{mine}\n"
    # the last key gone: grep says 1 and the (empty) result still replaces the file
    ok = _drop(tmp_path, mine)
    assert ok.returncode == 0 and keys.read_text() == ""


def test_item3_pinned_host_keys_of_the_sites_machines_are_forgotten(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host("192.0.2.11")
    known.write_text(
        "192.0.2.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n"
        f"{hashed} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB\n"
        "other.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC\n"
    )
    assert forget_host_keys(known, ["192.0.2.10", "192.0.2.11"]) == 2
    assert known.read_text() == "other.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC\n"
    assert forget_host_keys(tmp_path / "absent", ["192.0.2.10"]) == 0


# --------------------------------------------------------------------------- item 8


def test_item8_userinfo_in_an_endpoint_is_refused_and_never_printed(
    tmp_path: Path, cli: Cli
) -> None:
    folder = _site(
        tmp_path / "site",
        "name: i22\ntarget:\n  kind: oscar\n  endpoint: https://admin:hunter2@oscar.example.org\n"
        "  password: env:OSCAR_PASSWORD\n",
    )
    result = cli("validate", str(folder))
    assert result.code == 2
    assert "target.endpoint: must not carry a user or password" in result.err
    assert "hunter2" not in result.err + result.out
    assert redact_url("https://u:pw@h.example.org:8443/p?q") == "https://***@h.example.org:8443/p?q"


def test_item8_plain_http_to_another_machine_is_said_aloud(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCAR_PASSWORD", "x")
    folder = _site(
        tmp_path / "site",
        "name: i22\ntarget:\n  kind: oscar\n  endpoint: http://oscar.example.org\n"
        "  password: env:OSCAR_PASSWORD\n",
    )
    result = cli("validate", str(folder))
    assert result.code == 0, result.err
    assert "target.endpoint: http://oscar.example.org/ is plain http://" in result.err


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("scale", "{site}", "--workers", "1000000"), "--workers"),
        (("up", "{site}", "--timeout", "-5"), "--timeout"),
        (("up", "{site}", "--timeout", "nan"), "--timeout"),
        (("up", "{site}", "--platform-timeout", "inf"), "--platform-timeout"),
        (("up", "{site}", "--only", ",,,"), "--only"),
        (("up", "{site}", "--only", "models", "--skip", "models"), "--skip"),
    ],
)
def test_item9_flags_out_of_bounds_exit_2_before_anything_is_created(
    args: tuple[str, ...], flag: str, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(state))
    folder = _site(tmp_path / "site", LOCAL)
    result = cli(*(a.format(site=folder) for a in args))
    assert result.code == 2, result.out + result.err
    assert flag in result.err
    assert "Traceback" not in result.err
    assert not state.exists()
