"""How commands print: the one place output is produced.

- Messages are never cut at the terminal width: `soft_wrap=True` leaves wrapping to
  the terminal, so piped output and narrow terminals get whole lines.
- When a stream is not a terminal (a pipe, a file), it gets plain text: no ANSI codes,
  no width limit, no "…", and tables (`table`) become plain aligned lines with whole
  values (`--json` is there for programs).
- Text that comes from outside (site values, catalog titles, IM and OSCAR messages,
  log lines) is never parsed as Rich markup: `safe()` makes it a `rich.text.Text`
  (`[/]`, `[bold]` or `ok: [front]` are printed as they are); `line`/`err_line` take
  plain strings and `Styled` parts; a `str` cell of a table is markup written here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

UNLIMITED = 10_000  # columns when the output is not a terminal
GAP = "  "  # between the columns of a piped table

# CSI and OSC escape sequences (colours, cursor moves, titles) and other C0 controls
# except tab and newline: what a container's or a server's output may carry.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def is_terminal(stream: TextIO | None = None) -> bool:
    """True when `stream` (default stdout) is an interactive terminal."""
    s = sys.stdout if stream is None else stream
    try:
        return s.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def console(stderr: bool = False) -> Console:
    """A Rich console for stdout or stderr. Not a terminal: no width limit (nothing is
    folded or cut), no colours or other escape codes, long lines kept whole."""
    from rich.console import Console

    terminal = is_terminal(sys.stderr if stderr else sys.stdout)
    return Console(
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        width=None if terminal else UNLIMITED,
        no_color=not terminal,
        force_terminal=terminal,
    )


@cache
def out() -> Console:
    return console()


@cache
def err() -> Console:
    return console(stderr=True)


def strip_escapes(value: str) -> str:
    """`value` without ANSI escape sequences or control characters (tab, newline kept)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", value))


def safe(value: object, style: str = "") -> Text:
    """Untrusted text (from a site, a catalog, a server) as a Rich `Text`: never markup."""
    from rich.text import Text

    return Text(str(value), style=style)


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
    if not is_terminal():
        print(" ".join(i.value for i in items), flush=False)
        return
    from rich.text import Text

    t = Text(" ").join(Text(i.value, style=i.style) for i in items)
    out().print(t, style=style)


def err_line(message: str, label: str = "", style: str = "") -> None:
    """One line on stderr: an optional styled label, then the message as text."""
    if not is_terminal(sys.stderr):
        print(f"{label}: {message}" if label else message, file=sys.stderr)
        return
    from rich.text import Text

    t = Text()
    if label:
        t.append(f"{label}: ", style=style)
    t.append(message)
    err().print(t)


def plain(cell: RenderableType) -> str:
    """A table cell's text: a `Text` as it is, a `str` cell as the markup it is."""
    from rich.text import Text

    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return str(cell)


def aligned(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Plain aligned lines: each column as wide as its widest value, nothing cut."""
    body = [list(r) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *body]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        lines.append(GAP.join(cells).rstrip())
    return lines


def show(table: Table, stderr: bool = False) -> None:
    """Print a Rich table: as laid out by Rich on a terminal; piped, as its title line
    then plain aligned lines with every value whole (no wrapping, no "…", no ANSI)."""
    stream = sys.stderr if stderr else sys.stdout
    if is_terminal(stream):
        (err() if stderr else out()).print(table)
        return
    headers = [plain(c.header) for c in table.columns]
    columns = [[plain(cell) for cell in c.cells] for c in table.columns]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    title = plain(table.title) if table.title is not None else ""
    # Multi-line cells become one line each: a piped row stays one line.
    rows = [[" ".join(c.split()) if "\n" in c else c for c in r] for r in rows]
    lines = ([title] if title else []) + aligned(headers, rows)
    print("\n".join(lines), file=stream)
