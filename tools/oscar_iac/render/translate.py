"""Check documents with IM's own code: TOSCA -> RADL translator and the RADL parser."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from oscar_iac.errors import Problem, UserError


def _quiet_im() -> None:
    # IM logs the whole template (and its stack traces) at debug/error level.
    logging.getLogger("InfrastructureManager").setLevel(logging.CRITICAL)


def _memory_cache() -> None:
    """IM's translator opens an sqlite HTTP cache ('tosca_cache') in the working
    directory; `validate` must write nothing, so give it an in-memory one."""
    import IM.tosca.Tosca as tosca_module
    import requests_cache

    class _MemoryCachedSession(requests_cache.CachedSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["backend"] = "memory"
            super().__init__(*args, **kwargs)

    tosca_module.requests_cache = SimpleNamespace(CachedSession=_MemoryCachedSession)


def tosca_to_radl(tosca_text: str, origin: Path | str) -> str:
    """Translate with IM.tosca.Tosca(...).to_radl(); reject -> UserError naming the document."""
    _quiet_im()
    _memory_cache()
    from IM.tosca.Tosca import Tosca  # heavy import: only when needed

    try:
        _, radl = Tosca(tosca_text).to_radl()
    except Exception as exc:
        raise UserError(
            Problem(
                origin, "(rendered TOSCA)", f"IM's TOSCA translator rejected the document: {exc}"
            )
        ) from exc
    text = str(radl)
    check_radl(text, origin, what="RADL translated from the TOSCA")
    return text


def check_radl(radl_text: str, origin: Path | str, what: str = "RADL") -> None:
    from radl.radl_parse import parse_radl

    try:
        parse_radl(radl_text).check()
    except Exception as exc:
        line = getattr(exc, "line", None)
        raise UserError(
            Problem(origin, f"({what})", f"the radl package rejected it: {exc}", line)
        ) from exc
