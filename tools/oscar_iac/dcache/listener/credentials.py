"""Credentials: secrets read from an environment variable or a file (never from the
config), and the TLS context (CA bundle, verification, the x509 client certificate)."""

from __future__ import annotations

import os
import ssl
import threading

from .config import Auth
from .errors import ConfigError
from .secretfile import SecretFileError, read_secret_text


class Secret:
    """A secret read from an env var or a file (re-read when the file changes)."""

    def __init__(self, what: str, env: str | None, path: str | None) -> None:
        self.what, self.env, self.path = what, env, path
        self._cache: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        if self.env:
            value = os.environ.get(self.env, "")
            if not value:
                raise ConfigError(f"{self.what}: environment variable {self.env} is not set")
            return value.strip()
        assert self.path is not None
        # Re-read when the file changes (a rotated token), always through the one
        # secret-file reader: opened once (O_NOFOLLOW), a regular file, bounded, read
        # from that descriptor (secretfile.py).
        try:
            mtime = os.stat(self.path).st_mtime
            with self._lock:
                if self._cache is None or self._cache[0] != mtime:
                    text = read_secret_text(self.path, allowed=None, what=self.what + " file")
                    self._cache = (mtime, text)
                value = self._cache[1]
        except OSError as e:
            raise ConfigError(
                f"{self.what}: cannot read secret file {self.path}: {e.strerror}"
            ) from e
        except SecretFileError as e:
            raise ConfigError(f"{self.what}: {e}") from e
        if not value:
            raise ConfigError(f"{self.what}: secret file {self.path} is empty")
        return value


# ----------------------------------------------------------------------------- HTTP


def ssl_context(verify: bool, ca_bundle: str | None, auth: Auth | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_bundle)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if auth is not None and auth.kind == "x509" and auth.cert:
        try:
            ctx.load_cert_chain(auth.cert, auth.key or None)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"auth.cert: cannot load certificate/key: {e}") from e
    return ctx
