"""Secret references: a site file names where a secret is, never the secret.

Forms:
  env:NAME          the environment variable NAME
  file:PATH         the content of PATH (``~`` expanded; relative to the site folder)
  vault:FILE#KEY    KEY of an ansible-vault encrypted YAML FILE; the vault password
                    comes from ANSIBLE_VAULT_PASSWORD_FILE
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

_REF_RE = re.compile(
    r"^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:.+|vault:[^#]+#[A-Za-z0-9_.\-]+|generate)$"
)


class SecretRef(str):
    """A validated reference string (see module doc)."""

    __slots__ = ()

    def __new__(cls, value: str) -> SecretRef:
        if not isinstance(value, str) or not _REF_RE.match(value):
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


@dataclass(frozen=True)
class SecretResolver:
    """Resolves references relative to a site folder; `generate` uses `state_dir`."""

    site_dir: Path
    state_dir: Path | None = None

    def _path(self, target: str) -> Path:
        p = Path(os.path.expanduser(target))
        return p if p.is_absolute() else (self.site_dir / p)

    def check(self, ref: SecretRef) -> None:
        """Raise SecretError when `ref` could not be resolved now. Reads no secret value."""
        if ref.scheme == "env":
            if not os.environ.get(ref.target):
                raise SecretError(f"environment variable {ref.target} is not set or empty")
        elif ref.scheme == "file":
            p = self._path(ref.target)
            if not p.is_file():
                raise SecretError(f"secret file {p} does not exist")
            if not os.access(p, os.R_OK):
                raise SecretError(f"secret file {p} is not readable")
        elif ref.scheme == "vault":
            vfile = self._path(ref.target.split("#", 1)[0])
            if not vfile.is_file():
                raise SecretError(f"vault file {vfile} does not exist")
            if not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
                raise SecretError("vault references need ANSIBLE_VAULT_PASSWORD_FILE to be set")

    def resolve(self, ref: SecretRef, name: str) -> str:
        """The secret value. `name` keys generated secrets in the state folder."""
        self.check(ref)
        if ref.scheme == "env":
            return os.environ[ref.target]
        if ref.scheme == "file":
            return self._path(ref.target).read_text().strip()
        if ref.scheme == "vault":
            return self._resolve_vault(ref)
        return self._generated(name)

    def _resolve_vault(self, ref: SecretRef) -> str:
        import yaml
        from ansible.parsing.vault import VaultLib, VaultSecret

        file_part, key = ref.target.split("#", 1)
        pw = Path(os.environ["ANSIBLE_VAULT_PASSWORD_FILE"]).read_bytes().strip()
        plain = VaultLib([("default", VaultSecret(pw))]).decrypt(self._path(file_part).read_bytes())
        data = yaml.safe_load(plain) or {}
        if key not in data:
            raise SecretError(f"key {key!r} not found in vault file {file_part}")
        return str(data[key])

    def _generated(self, name: str) -> str:
        if self.state_dir is None:
            raise SecretError("a generated secret needs the site's state folder")
        folder = self.state_dir / "secrets"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / name
        if path.exists():
            return path.read_text().strip()
        value = _stdlib_secrets.token_urlsafe(24)
        # O_EXCL + 0600: never world-readable, never overwritten by a racing run.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
