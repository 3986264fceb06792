"""EGI Check-in access tokens: found through a chain of sources, kept in memory only,
checked for expiry before long steps and refreshed through the source they came from.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oscar_iac.errors import Problem, UserError
from oscar_iac.secretfile import SecretFileError, read_secret_text
from oscar_iac.secrets import allowed_dirs
from oscar_iac.site.model import NOTEBOOKS_FILE, TokenSource

# Refresh when fewer seconds than this are left (a long step may take that long).
MIN_VALIDITY = 300


def expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: IM and the cloud verify it), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def _run(argv: list[str]) -> str | None:
    """A token from a helper command (its own credentials never pass through us)."""
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    token = out.stdout.strip().splitlines()[-1].strip() if out.stdout.strip() else ""
    return token or None


@dataclass
class Token:
    value: str = field(repr=False)
    source: str
    refresh: Callable[[], str | None] = field(repr=False)

    def seconds_left(self, now: float | None = None) -> float | None:
        exp = expiry(self.value)
        return None if exp is None else exp - (now or time.time())

    def fresh(self, min_validity: float = MIN_VALIDITY) -> str:
        """The token, refreshed through its source when it is about to expire."""
        left = self.seconds_left()
        if left is None or left > min_validity:
            return self.value
        new = self.refresh()
        if new:
            new_left = expiry(new)
            if new_left is None or new_left - time.time() > min_validity:
                self.value = new
                return new
        raise UserError(
            f"the access token from {self.source} expires in {max(left, 0):.0f} s and could not be "
            "refreshed there; get a new one (e.g. `oidc-token <account>` or `fedcloud token issue`) "
            "and run the command again"
        )


def notebooks_allowed(cfg: TokenSource, site_dir: Path | None) -> list[str] | None:
    """Folders the token file may lie in: the site folder and the user's allowed folders,
    plus EGI Notebooks' own folder when the file is that service's fixed path. None (no
    site: a program using the Python client named the file itself): anywhere but /proc,
    /sys and /dev."""
    if site_dir is None:
        return None
    out = [str(d) for d in allowed_dirs(site_dir)]
    if cfg.notebooks_file == NOTEBOOKS_FILE:
        out.append(str(Path(NOTEBOOKS_FILE).parent))
    return out


def read_notebooks_token(cfg: TokenSource, site_dir: Path | None) -> str | None:
    """The token in `notebooks_file`, read by the one secret-file reader; None when the
    file does not exist. A file the site may not name is a UserError naming the field."""
    given = Path(cfg.notebooks_file).expanduser()
    path = given if given.is_absolute() or site_dir is None else site_dir / given
    if not os.path.lexists(path):
        return None
    try:
        text = read_secret_text(
            str(path), allowed=notebooks_allowed(cfg, site_dir), what="token file"
        )
    except SecretFileError as exc:
        where = (site_dir / "site.yml") if site_dir is not None else "token file"
        raise UserError(Problem(where, "target.token.notebooks_file", str(exc))) from exc
    return text or None


def sources(
    cfg: TokenSource, site_dir: Path | None = None
) -> list[tuple[str, Callable[[], str | None]]]:
    """The sources in the documented order, each a (name, fetch) pair. `site_dir`: the
    folder of the site that configured them (its token file must lie there)."""
    chain: list[tuple[str, Callable[[], str | None]]] = [
        (f"environment variable {cfg.env}", lambda: os.environ.get(cfg.env) or None),
    ]
    if cfg.oidc_agent_account:
        account = cfg.oidc_agent_account
        chain.append((f"oidc-agent account {account}", lambda: _run(["oidc-token", account])))
    if cfg.fedcloud:
        chain.append(("fedcloud token issue", lambda: _run(["fedcloud", "token", "issue"])))

    def notebooks() -> str | None:
        return read_notebooks_token(cfg, site_dir)

    chain.append((f"EGI Notebooks token file {cfg.notebooks_file}", notebooks))
    return chain


def first_token(cfg: TokenSource, site_dir: Path | None = None) -> tuple[Token | None, list[str]]:
    """The first token the chain yields, and the sources tried before it."""
    tried: list[str] = []
    for name, fetch in sources(cfg, site_dir):
        value = fetch()
        if value:
            return Token(value=value, source=name, refresh=fetch), tried
        tried.append(name)
    return None, tried


def find_token(cfg: TokenSource, where: Path) -> Token:
    token, tried = first_token(cfg, where.parent)
    if token is not None:
        return token
    raise UserError(
        Problem(
            where, "target.token", "no EGI Check-in access token found; tried: " + "; ".join(tried)
        )
    )
