"""A live view of infrastructure and per-VM states while waiting on IM."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table

STYLE = {
    "configured": "green",
    "running": "cyan",
    "pending": "yellow",
    "failed": "red",
    "unconfigured": "red",
    "unknown": "magenta",
}


def view(inf_id: str, state: dict[str, Any], started: float) -> Group:
    table = Table(box=None, show_header=True, header_style="bold")
    table.add_column("VM")
    table.add_column("state")
    for vm, st in sorted((state.get("vm_states") or {}).items(), key=lambda kv: int(kv[0])):
        # IM's answers are printed as text: escape() keeps a '[' in them literal.
        table.add_row(escape(str(vm)), f"[{STYLE.get(st, 'white')}]{escape(str(st))}[/]")
    inf = state.get("state", "?")
    head = Spinner(
        "dots",
        text=f"infrastructure {escape(inf_id)}: [{STYLE.get(inf, 'white')}]{escape(str(inf))}[/]"
        f"  ({time.monotonic() - started:.0f} s)",
    )
    return Group(head, table)


class Watch:
    """Context manager: `with Watch(inf_id) as w: w.update(state)`."""

    def __init__(self, inf_id: str, console: Console | None = None) -> None:
        self.inf_id = inf_id
        self.started = time.monotonic()
        self.live = Live(
            view(inf_id, {}, self.started),
            console=console or Console(stderr=True),
            refresh_per_second=8,
            transient=True,
        )

    def __enter__(self) -> Watch:
        self.live.__enter__()
        return self

    def update(self, state: dict[str, Any]) -> None:
        self.live.update(view(self.inf_id, state, self.started))

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)
