"""Secret references resolve from env, files, ansible-vault and generated state; never leak."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from oscar_iac.secrets import SecretError, SecretRef, SecretResolver


@pytest.mark.parametrize("text", ["env:A_B", "file:x/y", "file:~/t", "vault:v.yml#key", "generate"])
def test_valid_references(text: str) -> None:
    assert SecretRef(text) == text


@pytest.mark.parametrize(
    "text", ["", "hunter2", "env:", "env:1BAD", "vault:file-without-key", "generated"]
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(ValueError, match="secret reference"):
        SecretRef(text)


def test_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSCAR_IAC_T_SECRET", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    r = SecretResolver(site_dir=tmp_path)
    assert r.resolve(SecretRef("env:OSCAR_IAC_T_SECRET"), "x") == "from-env"
    assert r.resolve(SecretRef("file:pw"), "x") == "from-file"
    monkeypatch.delenv("OSCAR_IAC_T_SECRET")
    with pytest.raises(SecretError, match="not set"):
        r.resolve(SecretRef("env:OSCAR_IAC_T_SECRET"), "x")


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    r = SecretResolver(site_dir=tmp_path, state_dir=tmp_path / "state")
    first = r.resolve(SecretRef("generate"), "oscar_password")
    assert len(first) >= 24
    assert r.resolve(SecretRef("generate"), "oscar_password") == first
    path = tmp_path / "state" / "secrets" / "oscar_password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert r.resolve(SecretRef("generate"), "minio_secret_key") != first


def test_vault_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    pwfile = tmp_path / "vault-pass"
    pwfile.write_text("vault-password")
    os.chmod(pwfile, 0o600)
    vault = VaultLib([("default", VaultSecret(b"vault-password"))])
    (tmp_path / "secrets.yml").write_bytes(vault.encrypt(b"minio_secret: from-vault\n"))
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(pwfile))
    r = SecretResolver(site_dir=tmp_path)
    assert r.resolve(SecretRef("vault:secrets.yml#minio_secret"), "x") == "from-vault"
    with pytest.raises(SecretError, match="not found"):
        r.resolve(SecretRef("vault:secrets.yml#other"), "x")
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE")
    with pytest.raises(SecretError, match="ANSIBLE_VAULT_PASSWORD_FILE"):
        r.check(SecretRef("vault:secrets.yml#minio_secret"))
