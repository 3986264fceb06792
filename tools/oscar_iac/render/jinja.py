"""The one Jinja2 environment for templates/ (strict: an undefined name is an error)."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from oscar_iac.paths import data_path


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_path("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
