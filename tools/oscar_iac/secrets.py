"""Secret references: a site file names where a secret is, never the secret.

Forms:
  env:NAME          the environment variable NAME
  file:PATH         the content of PATH (``~`` expanded; relative to the site folder)
  vault:FILE#KEY    KEY of an ansible-vault encrypted YAML FILE; the vault password
                    comes from ANSIBLE_VAULT_PASSWORD_FILE

A `file:` or `vault:` path must be a regular file inside the site folder once every
symlink is resolved, or inside a folder listed in OSCAR_IAC_SECRET_DIRS (':'-separated,
set by the user, never by a site file). /proc, /sys and /dev are never read. A shared
site file cannot make oscar-iac read (and send to an IM) a file outside those folders.
  generate          a random secret created at first deployment and kept in the
                    site's state folder (mode 0600)
"""

from __future__ import annotations

import os
import re
import secrets as _stdlib_secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from oscar_iac.secretfile import NEVER as _NEVER
from oscar_iac.secretfile import SecretFileError, read_secret_bytes, read_secret_text

_REF_RE = re.compile(
    r"^(?:env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:.+|vault:[^#]+#[A-Za-z0-9_.\-]{1,128}|generate)$"
)
# A path target follows the rules of any path of a site file (site.fields.check_path):
# no leading '-', no control characters or template markers, at most 4096 characters.
_BAD_PATH = re.compile(r"^-|[\x00-\x1f\x7f]|\{\{|\{%|\{#")
PATH_MAX = 4096


class SecretRef(str):
    """A validated reference string (see module doc)."""

    __slots__ = ()

    def __new__(cls, value: str) -> SecretRef:
        path = value.partition(":")[2] if isinstance(value, str) else ""
        if isinstance(value, str) and value.startswith("vault:"):
            path = path.rpartition("#")[0]
        if (
            not isinstance(value, str)
            or not _REF_RE.fullmatch(value)
            or (
                value.startswith(("file:", "vault:"))
                and (_BAD_PATH.search(path) or len(path) > PATH_MAX)
            )
        ):
            raise ValueError(
                "expected a secret reference: 'env:NAME', 'file:PATH', 'vault:FILE#KEY' or "
                "'generate' (secrets are never written in a site file)"
            )
        return super().__new__(cls, value)

    @property
    def scheme(self) -> str:
        return self.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.split(":", 1)[1] if ":" in self else ""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


class SecretError(ValueError):
    """A reference that cannot be resolved (missing variable, unreadable file...)."""


ALLOWED_DIRS_ENV = "OSCAR_IAC_SECRET_DIRS"
NEVER = tuple(Path(p) for p in _NEVER)


def allowed_dirs(site_dir: Path) -> list[Path]:
    """The site folder, then the folders the user listed in OSCAR_IAC_SECRET_DIRS."""
    extra = [d for d in os.environ.get(ALLOWED_DIRS_ENV, "").split(":") if d.strip()]
    return [site_dir.resolve(), *(Path(os.path.expanduser(d)).resolve() for d in extra)]


def read_confined(path: Path, site_dir: Path, what: str = "secret file") -> bytes:
    """The bytes of a secret file a site names: through the one safe reader
    (oscar_iac.secretfile), inside the site folder or an allowed folder only."""
    try:
        return read_secret_bytes(
            str(path), allowed=[str(d) for d in allowed_dirs(site_dir)], what=what
        )
    except SecretFileError as exc:
        raise SecretError(str(exc)) from exc


@dataclass(frozen=True)
class SecretResolver:
    """Resolves references relative to a site folder; `generate` uses `state_dir`."""

    site_dir: Path
    state_dir: Path | None = None

    def _path(self, target: str) -> Path:
        p = Path(os.path.expanduser(target))
        return p if p.is_absolute() else (self.site_dir / p)

    def read(self, target: str, what: str = "secret file") -> bytes:
        """The bytes of a `file:`/`vault:` target, read once from one descriptor."""
        return read_confined(self._path(target), self.site_dir, what)

    def check(self, ref: SecretRef) -> None:
        """Raise SecretError when `ref` could not be resolved now. A vault file is
        decrypted in memory (to prove the password and the key), nothing is kept."""
        if ref.scheme == "env":
            if not os.environ.get(ref.target):
                raise SecretError(f"environment variable {ref.target} is not set or empty")
        elif ref.scheme == "file":
            self._text(self.read(ref.target), ref.target, "secret file")
        elif ref.scheme == "vault":
            self._resolve_vault(ref)

    def resolve(self, ref: SecretRef, name: str) -> str:
        """The secret value. `name` keys generated secrets in the state folder."""
        if ref.scheme == "env":
            self.check(ref)
            return os.environ[ref.target]
        if ref.scheme == "file":
            return self._text(self.read(ref.target), ref.target, "secret file")
        if ref.scheme == "vault":
            return self._resolve_vault(ref)
        return self._generated(name)

    @staticmethod
    def _text(data: bytes, target: str, what: str) -> str:
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise SecretError(f"{what} {target} is not UTF-8 text") from exc

    def _resolve_vault(self, ref: SecretRef) -> str:
        # Ansible is heavy: imported only for a vault: reference (start-up speed).
        import yaml
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import VaultLib, VaultSecret

        file_part, key = ref.target.split("#", 1)
        vault_bytes = self.read(file_part, "vault file")
        pw_file = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
        if not pw_file:
            raise SecretError("vault references need ANSIBLE_VAULT_PASSWORD_FILE to be set")
        try:
            # The user's own setting (never a site's): any folder but /proc, /sys, /dev.
            pw = read_secret_bytes(
                pw_file, allowed=None, what="ANSIBLE_VAULT_PASSWORD_FILE"
            ).strip()
        except SecretFileError as exc:
            raise SecretError(str(exc)) from exc
        try:
            plain = VaultLib([("default", VaultSecret(pw))]).decrypt(vault_bytes)
        except (AnsibleError, ValueError) as exc:
            raise SecretError(
                f"vault file {file_part} cannot be decrypted with the password in "
                f"ANSIBLE_VAULT_PASSWORD_FILE (wrong password, or not an ansible-vault file)"
            ) from exc
        try:
            data = yaml.safe_load(plain)
        except yaml.YAMLError as exc:
            raise SecretError(f"vault file {file_part} does not hold YAML") from exc
        if not isinstance(data, dict) or key not in data:
            raise SecretError(f"key {key!r} not found in vault file {file_part}")
        if isinstance(data[key], dict | list) or data[key] is None:
            raise SecretError(f"key {key!r} of vault file {file_part} is not a single value")
        return str(data[key])

    def _generated(self, name: str) -> str:
        if self.state_dir is None:
            raise SecretError("a generated secret needs the site's state folder")
        folder = self.state_dir / "secrets"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / name
        if path.exists():
            try:
                return read_secret_text(str(path), allowed=[str(folder)], what="generated secret")
            except SecretFileError as exc:
                raise SecretError(str(exc)) from exc
        value = _stdlib_secrets.token_urlsafe(24)
        # O_EXCL + 0600: never world-readable, never overwritten by a racing run.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
