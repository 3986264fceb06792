"""Site-file bad input that needs more than a file under tests/foundation/broken/: bytes
that are not UTF-8, symlinks, vault passwords, a corrupt state file, the alias bomb's
early refusal, loud TLS opt-outs, and who decides MinIO TLS verification."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from doubles.oscar_server import OscarTestServer
from helpers.cli import CliResult
from oscar_iac import yamlpos
from oscar_iac.errors import UserError
from oscar_iac.secrets import SecretError, SecretRef, SecretResolver
from oscar_iac.site import load_site

Cli = Callable[..., CliResult]
SITE = """\
name: badin
target:
  kind: im
  endpoint: embedded
  cloud: {kind: local}
cluster:
  name: oscar-test
  domain: example.org
"""


# A remote IM reads no file:// URL of this machine (site rule): sites that name one say
# where the VMs fetch the project from.
ARTIFACTS = """artifacts:
  repo_url: https://example.org/oscar-iac/releases/oscar-iac-0.1.0.tar.gz
  entry_url: https://example.org/oscar-iac/raw/v0.1.0
"""


def _site(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.yml").write_text(SITE + extra)
    return folder


def test_site_file_not_utf8_names_the_line(tmp_path: Path, cli: Cli) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_bytes(SITE.encode() + b"description: caf\xe9\n")
    result = cli("validate", str(folder))
    assert result.code == 2
    assert f"{folder / 'site.yml'}:9: not UTF-8 text (byte 0xe9)" in result.err
    assert "Traceback" not in result.err


def test_symlink_out_of_the_site_folder_is_refused(tmp_path: Path, cli: Cli) -> None:
    outside = tmp_path / "elsewhere" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("not yours")
    folder = _site(tmp_path / "site", "stack:\n  oscar:\n    password: file:pw\n")
    (folder / "pw").symlink_to(outside)
    result = cli("validate", str(folder))
    assert result.code == 2
    assert re.search(
        rf"{re.escape(str(folder / 'site.yml'))}:\d+: stack\.oscar\.password: .*outside the site folder",
        result.err,
    ), result.err


def test_symlink_inside_the_site_folder_and_allowed_folders_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "pw").write_text("inside\n")
    (folder / "pw").symlink_to(folder / "secrets" / "pw")
    resolver = SecretResolver(site_dir=folder)
    assert resolver.resolve(SecretRef("file:pw"), "x") == "inside"
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "pw").write_text("allowed\n")
    with pytest.raises(SecretError, match="outside the site folder"):
        resolver.resolve(SecretRef(f"file:{vault / 'pw'}"), "x")
    monkeypatch.setenv("OSCAR_IAC_SECRET_DIRS", f"{vault}:/proc")
    assert resolver.resolve(SecretRef(f"file:{vault / 'pw'}"), "x") == "allowed"
    # an allowed list never opens /proc, /sys or /dev
    with pytest.raises(SecretError, match="never read"):
        resolver.resolve(SecretRef("file:/proc/self/environ"), "x")


def _vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str) -> Path:
    from ansible.parsing.vault import VaultLib, VaultSecret

    folder = _site(tmp_path / "site", "stack:\n  minio:\n    secret_key: vault:vault.yml#minio\n")
    secret = VaultLib([("default", VaultSecret(b"the-right-password"))])
    (folder / "vault.yml").write_bytes(secret.encrypt(b"minio: from-the-vault\n"))
    pwfile = tmp_path / "vault-pass"
    pwfile.write_text(password)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(pwfile))
    return folder


def test_vault_with_a_wrong_password_fails_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    folder = _vault(tmp_path, monkeypatch, "a-wrong-password")
    result = cli("validate", str(folder))
    assert result.code == 2
    assert re.search(
        rf"{re.escape(str(folder / 'site.yml'))}:11: stack\.minio\.secret_key: .*cannot be decrypted",
        result.err,
    ), result.err
    assert "from-the-vault" not in result.err + result.out


def test_vault_with_the_right_password_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    folder = _vault(tmp_path, monkeypatch, "the-right-password")
    result = cli("validate", str(folder))
    assert result.code == 0, result.err
    assert "from-the-vault" not in result.err + result.out


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"site": "badin"}',
        b'{"site": "x", "im_url": "e", "x": 1}',
    ],
    ids=["invalid-json", "not-utf8", "not-an-object", "missing-fields", "unknown-field"],
)
def test_corrupt_deployment_state_is_exit_2(
    content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    folder = _site(tmp_path / "site")
    state = tmp_path / "state" / "badin" / "deployment.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(content)
    result = cli("status", str(folder))
    assert result.code == 2, result.err
    assert f"{state}: is not a deployment state this tool can read" in result.err
    assert "Traceback" not in result.err


def test_alias_bomb_is_refused_before_anything_is_constructed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused from the composed node graph (linear in the file), never expanded."""
    bomb = Path(__file__).parents[1] / "foundation" / "broken" / "yaml-alias-bomb.yml"

    def never(*args: object, **kw: object) -> object:
        raise AssertionError("the alias bomb reached construction")

    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_document", never)
    with pytest.raises(UserError, match="expands to more than"):
        yamlpos.load_yaml_with_lines(bomb)
    with pytest.raises(UserError, match="expands to more than"):
        yamlpos.load_yaml(bomb)


def test_aliases_within_the_budget_still_work(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text("base: &b {cpus: 2}\nfront: *b\nworkers: *b\n")
    data, lines = yamlpos.load_yaml_with_lines(path)
    assert data["front"] == data["workers"] == {"cpus": 2}
    assert lines[("workers",)] == 3


def test_tls_verification_off_is_loud(tmp_path: Path, cli: Cli) -> None:
    folder = _site(tmp_path / "site")
    text = (
        (folder / "site.yml")
        .read_text()
        .replace(
            "  endpoint: embedded\n  cloud: {kind: local}\n",
            "  endpoint: https://im.example.org\n  cloud: {kind: egi, site: S, vo: v}\n"
            "  verify_tls: false\n",
        )
    )
    (folder / "site.yml").write_text(text + ARTIFACTS)
    loaded_err = cli("validate", str(folder)).err
    assert re.search(
        rf"warning: {re.escape(str(folder / 'site.yml'))}:6: target\.verify_tls: false: .*NOT verified",
        loaded_err,
    ), loaded_err


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("http://127.0.0.1:8800", True),
        ("http://localhost:8800/im", True),
        ("http://[::1]:8800", True),
        ("https://im.egi.eu/im", True),
        ("http://im.egi.eu/im", False),
        ("http://10.0.0.5:8800", False),
    ],
)
def test_plain_http_only_for_a_loopback_im(tmp_path: Path, endpoint: str, ok: bool) -> None:
    folder = _site(tmp_path / "site")
    text = (
        (folder / "site.yml")
        .read_text()
        .replace(
            "  endpoint: embedded\n  cloud: {kind: local}\n",
            f"  endpoint: {endpoint}\n  cloud: {{kind: egi, site: S, vo: v}}\n",
        )
    )
    (folder / "site.yml").write_text(text + ARTIFACTS)
    if ok:
        load_site(folder)
    else:
        with pytest.raises(UserError, match="expected an https:// IM endpoint"):
            load_site(folder)


@pytest.mark.parametrize("client_verifies", [True, False])
def test_the_client_decides_minio_tls_not_oscar(
    oscar_server: OscarTestServer, monkeypatch: pytest.MonkeyPatch, client_verifies: bool
) -> None:
    """OSCAR's /system/config says `verify: false` (or true); the client keeps its own."""
    from oscar_iac.client import Client

    for name in (
        "OSCAR_IAC_MINIO_ENDPOINT",
        "OSCAR_IAC_MINIO_ACCESS_KEY",
        "OSCAR_IAC_MINIO_SECRET_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    oscar_server.minio_provider = {
        "endpoint": "https://minio.example.org",
        "access_key": "ak",
        "secret_key": "sk",
        "verify": not client_verifies,
        "region": "us-east-1",
    }
    client = Client(
        oscar_server.url,
        user=oscar_server.username,
        password=oscar_server.password,
        verify_tls=client_verifies,
    )
    assert client.minio().verify is client_verifies


def test_state_file_error_keeps_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusing a corrupt state file changes nothing on disk."""
    from oscar_iac import state

    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    path = state.state_path("badin")
    path.write_text("{broken")
    before = os.stat(path)
    with pytest.raises(UserError):
        state.load("badin")
    assert path.read_text() == "{broken" and os.stat(path).st_mtime_ns == before.st_mtime_ns
