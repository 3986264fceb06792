"""Where the API's OSCAR credentials come from.

Basic auth when a user and password are given. Otherwise an OIDC access token (EGI
Check-in), from: the `token` argument, the environment variable OSCAR_IAC_TOKEN,
an oidc-agent account (`oidc_agent_account`, or OSCAR_IAC_OIDC_AGENT_ACCOUNT), the EGI
Notebooks token file; tried in that order through the same token chain `oscar-iac up`
uses, so an expiring token is refreshed through the source it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from oscar_iac.errors import UserError
from oscar_iac.im.tokens import Token, first_token
from oscar_iac.site.model import TokenSource

TOKEN_ENV = "OSCAR_IAC_TOKEN"
OIDC_ACCOUNT_ENV = "OSCAR_IAC_OIDC_AGENT_ACCOUNT"
NOTEBOOKS_FILE = TokenSource().notebooks_file


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str = field(repr=False)


def find_token(
    token: str | None = None,
    *,
    oidc_agent_account: str | None = None,
    notebooks_file: str | None = None,
) -> Token:
    if token:
        return Token(value=token, source="the token argument", refresh=lambda: None)
    cfg = TokenSource(
        env=TOKEN_ENV,
        oidc_agent_account=oidc_agent_account or os.environ.get(OIDC_ACCOUNT_ENV) or None,
        fedcloud=False,
        notebooks_file=notebooks_file or NOTEBOOKS_FILE,
    )
    found, tried = first_token(cfg)
    if found is not None:
        return found
    raise UserError(
        "no OSCAR credentials: give user= and password=, or token=; tried for a token: "
        + "; ".join(tried)
    )
