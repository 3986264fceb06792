"""Errors a user can act on. The CLI prints them and exits with `exit_code`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, which field, what was expected."""

    file: Path | str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        fld = f" {self.field}:" if self.field else ""
        return f"{where}:{fld} {self.message}"


class OscarIacError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class UserError(OscarIacError):
    """Bad input (file, flag, reference): exit code 2, nothing was changed."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            text = problems
        else:
            self.problems = problems if isinstance(problems, list) else [problems]
            text = "\n".join(str(p) for p in self.problems)
        super().__init__(text)


class DeploymentError(OscarIacError):
    """Something failed while acting on real infrastructure: exit code 1."""

    exit_code = 1

    def __init__(self, message: str, hints: list[str] | None = None) -> None:
        super().__init__(message)
        self.hints: list[str] = list(hints or [])


def short_reason(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the noise
    (`HTTPSConnectionPool(...): Max retries exceeded ... (Caused by ...)`): e.g.
    "[Errno -2] Name or service not known"."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    if "Failed to resolve" in text or "Name or service not known" in text:
        return "its host name does not resolve (DNS)"
    if "Connection refused" in text:
        return "the connection was refused"
    return text.split(": ", 1)[-1] if text.startswith("<") else text
