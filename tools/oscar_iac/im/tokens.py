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
from oscar_iac.site.model import TokenSource

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


def sources(cfg: TokenSource) -> list[tuple[str, Callable[[], str | None]]]:
    """The sources in the documented order, each a (name, fetch) pair."""
    chain: list[tuple[str, Callable[[], str | None]]] = [
        (f"environment variable {cfg.env}", lambda: os.environ.get(cfg.env) or None),
    ]
    if cfg.oidc_agent_account:
        account = cfg.oidc_agent_account
        chain.append((f"oidc-agent account {account}", lambda: _run(["oidc-token", account])))
    if cfg.fedcloud:
        chain.append(("fedcloud token issue", lambda: _run(["fedcloud", "token", "issue"])))

    def notebooks() -> str | None:
        path = Path(cfg.notebooks_file)
        return path.read_text().strip() or None if path.is_file() else None

    chain.append((f"EGI Notebooks token file {cfg.notebooks_file}", notebooks))
    return chain


def first_token(cfg: TokenSource) -> tuple[Token | None, list[str]]:
    """The first token the chain yields, and the sources tried before it."""
    tried: list[str] = []
    for name, fetch in sources(cfg):
        value = fetch()
        if value:
            return Token(value=value, source=name, refresh=fetch), tried
        tried.append(name)
    return None, tried


def find_token(cfg: TokenSource, where: Path) -> Token:
    token, tried = first_token(cfg)
    if token is not None:
        return token
    raise UserError(
        Problem(
            where, "target.token", "no EGI Check-in access token found; tried: " + "; ".join(tried)
        )
    )
