"""How commands print: whole lines, untrusted text as text.

- Messages are never cut at the terminal width: `soft_wrap=True` leaves wrapping to
  the terminal, so piped output and narrow terminals get whole lines.
- When stdout is not a terminal, tables are laid out without a width limit (no cell
  is folded at 80 columns).
- Text that comes from outside (site values, catalog titles, IM and OSCAR messages,
  log lines) is passed as `rich.text.Text` or printed with `markup=False`, never
  parsed as Rich markup: `[/]` or `ok: [front]` are printed as they are.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

UNLIMITED = 10_000  # columns for tables when the output is not a terminal


@cache
def out() -> Console:
    from rich.console import Console

    wide = None if sys.stdout.isatty() else UNLIMITED
    return Console(highlight=False, soft_wrap=True, width=wide)


@cache
def err() -> Console:
    from rich.console import Console

    wide = None if sys.stderr.isatty() else UNLIMITED
    return Console(stderr=True, highlight=False, soft_wrap=True, width=wide)


@dataclass(frozen=True)
class Styled:
    """A value to print as text, with a Rich style used on terminals only."""

    value: str
    style: str = ""


def text(value: object, style: str = "") -> Styled:
    """An untrusted value, never parsed as markup (styled only on a terminal)."""
    return Styled(str(value), style)


def line(*parts: object, style: str = "") -> None:
    """Print parts joined by a space on stdout, as text. Piped output is written
    without Rich at all (no styles to render, and Rich costs start-up time)."""
    items = [p if isinstance(p, Styled) else Styled(str(p)) for p in parts]
    if not sys.stdout.isatty():
        print(" ".join(i.value for i in items), flush=False)
        return
    from rich.text import Text

    t = Text(" ").join(Text(i.value, style=i.style) for i in items)
    out().print(t, style=style)


def err_line(message: str, label: str = "", style: str = "") -> None:
    """One line on stderr: an optional styled label, then the message as text."""
    if not sys.stderr.isatty():
        print(f"{label}: {message}" if label else message, file=sys.stderr)
        return
    from rich.text import Text

    t = Text()
    if label:
        t.append(f"{label}: ", style=style)
    t.append(message)
    err().print(t)
