"""Secret resolution (oscar_iac.secrets), each refusal asserted in full: which reference,
which file, and why. Real files, a real ansible-vault file (ansible's VaultLib)."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from oscar_iac.secrets import SecretError, SecretRef, SecretResolver, allowed_dirs

HINT = "expected a file inside it (or list its folder in OSCAR_IAC_SECRET_DIRS)"


class _Holder(pydantic.BaseModel):
    credential: SecretRef


def test_a_site_field_holds_a_checked_reference_and_dumps_plain_text() -> None:
    held = _Holder(credential="env:DCACHE_TOKEN")
    assert type(held.credential) is SecretRef and held.credential.scheme == "env"
    assert held.model_dump_json() == '{"credential":"env:DCACHE_TOKEN"}'
    with pytest.raises(pydantic.ValidationError) as err:
        _Holder(credential=5)
    assert err.value.errors()[0]["type"] == "string_type"
    with pytest.raises(pydantic.ValidationError) as err:
        _Holder(credential="s3cret")
    assert "expected a secret reference: 'env:NAME'" in str(err.value)


def test_allowed_folders_are_the_site_then_the_listed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSCAR_IAC_SECRET_DIRS", raising=False)
    assert allowed_dirs(tmp_path) == [tmp_path.resolve()]
    monkeypatch.setenv("OSCAR_IAC_SECRET_DIRS", f"{tmp_path / 'a'}:: :{tmp_path / 'b'}")
    assert allowed_dirs(tmp_path) == [tmp_path, tmp_path / "a", tmp_path / "b"]


def _refused(resolver: SecretResolver, ref: str) -> str:
    with pytest.raises(SecretError) as err:
        resolver.resolve(SecretRef(ref), "x")
    return str(err.value)


def test_file_references_say_which_file_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSCAR_IAC_SECRET_DIRS", raising=False)
    site = tmp_path / "site"
    site.mkdir()
    outside = tmp_path / "pw"
    outside.write_text("x")
    r = SecretResolver(site_dir=site)
    assert _refused(r, f"file:{outside}") == (
        f"secret file {outside} is {outside}, outside the site folder {site}; {HINT}"
    )
    (site / "latin1").write_bytes("contraseña".encode("latin-1"))
    assert _refused(r, "file:latin1") == "secret file latin1 is not UTF-8 text"
    with pytest.raises(SecretError) as err:
        r.check(SecretRef("file:latin1"))
    assert str(err.value) == "secret file latin1 is not UTF-8 text"
    (site / "pw").write_text(" p4ss \n")
    assert r.resolve(SecretRef(f"file:{site / 'pw'}"), "x") == "p4ss"


@pytest.fixture
def vault_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from ansible.parsing.vault import VaultLib, VaultSecret

    site = tmp_path / "site"
    site.mkdir()
    pwfile = tmp_path / "vault-pass"
    pwfile.write_text("vault-password\n")
    vault = VaultLib([("default", VaultSecret(b"vault-password"))])
    (site / "v.yml").write_bytes(
        vault.encrypt(b"token: t0k\nnothing:\nmap: {a: 1}\nlist: [1]\nport: 5\n")
    )
    (site / "bad.yml").write_bytes(vault.encrypt(b"a: [\n"))
    (tmp_path / "out.yml").write_bytes(vault.encrypt(b"token: t0k\n"))
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(pwfile))
    return site


def test_vault_references_say_which_file_key_and_why(
    vault_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = SecretResolver(site_dir=vault_site)
    assert r.resolve(SecretRef("vault:v.yml#token"), "x") == "t0k"
    assert r.resolve(SecretRef("vault:v.yml#port"), "x") == "5"
    for key in ("nothing", "map", "list"):
        assert _refused(r, f"vault:v.yml#{key}") == (
            f"key {key!r} of vault file v.yml is not a single value"
        )
    assert _refused(r, "vault:bad.yml#a") == "vault file bad.yml does not hold YAML"
    out = vault_site.parent / "out.yml"
    assert _refused(r, f"vault:{out}#token") == (
        f"vault file {out} is {out}, outside the site folder {vault_site}; {HINT}"
    )
    missing = vault_site.parent / "no-pass"
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(missing))
    assert (
        _refused(r, "vault:v.yml#token") == f"ANSIBLE_VAULT_PASSWORD_FILE {missing} does not exist"
    )
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE")
    assert _refused(r, "vault:v.yml#token") == (
        "vault references need ANSIBLE_VAULT_PASSWORD_FILE to be set"
    )


def test_generated_secrets_need_the_state_folder_and_stay_in_it(tmp_path: Path) -> None:
    assert _refused(SecretResolver(site_dir=tmp_path), "generate") == (
        "a generated secret needs the site's state folder"
    )
    r = SecretResolver(site_dir=tmp_path, state_dir=tmp_path / "state")
    # 24 random bytes, URL-safe base64 without padding: 32 characters (Python's
    # secrets.token_urlsafe).
    value = r.resolve(SecretRef("generate"), "oscar_password")
    assert len(value) == 32
    # A generated secret swapped for a symlink to a file elsewhere is not read.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("planted")
    folder = tmp_path / "state" / "secrets"
    (folder / "minio").symlink_to(elsewhere)
    with pytest.raises(SecretError) as err:
        r.resolve(SecretRef("generate"), "minio")
    assert str(err.value) == (
        f"generated secret {folder / 'minio'} is {elsewhere}, outside the site folder "
        f"{folder}; {HINT}"
    )


def test_check_proves_each_reference_and_keeps_nothing(
    vault_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = SecretResolver(site_dir=vault_site)
    monkeypatch.delenv("OSCAR_IAC_T_UNSET", raising=False)
    monkeypatch.setenv("OSCAR_IAC_T_EMPTY", "")
    for name in ("OSCAR_IAC_T_UNSET", "OSCAR_IAC_T_EMPTY"):
        with pytest.raises(SecretError) as err:
            r.check(SecretRef(f"env:{name}"))
        assert str(err.value) == f"environment variable {name} is not set or empty"
    monkeypatch.setenv("OSCAR_IAC_T_SET", "v")
    r.check(SecretRef("env:OSCAR_IAC_T_SET"))
    r.check(SecretRef("vault:v.yml#token"))
    with pytest.raises(SecretError) as err:
        r.check(SecretRef("vault:v.yml#map"))
    assert str(err.value) == "key 'map' of vault file v.yml is not a single value"
    (vault_site / "pw").write_text("p")
    r.check(SecretRef("file:pw"))
    with pytest.raises(SecretError) as err:
        r.check(SecretRef("file:nope"))
    assert str(err.value) == f"secret file {vault_site / 'nope'} does not exist"
    r.check(SecretRef("generate"))  # made at first deployment: nothing to prove
    assert not (vault_site / "secrets").exists()
