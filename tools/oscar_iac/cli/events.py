"""`oscar-iac events plan|apply|remove|relay SITE`: wire storage events to OSCAR services.

The four commands share one set of arguments and options (`_command`); COMMANDS says
what each does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from oscar_iac.events import Change, run
from oscar_iac.events.orchestrate import Operation
from oscar_iac.oscar import OscarConnection, connection_for
from oscar_iac.site import load_site
from oscar_iac.site.load import LoadedSite
from oscar_iac.state import lock

console = Console(highlight=False)
events_app = typer.Typer(
    help="Storage events → OSCAR services (external MinIO webhooks, dCache via NiFi).\n\n"
    "Example: oscar-iac events plan inventories/egi-example",
    no_args_is_help=True,
)

SITE_ARG = typer.Argument(
    ..., help="Site folder (inventories/<site>) or its site.yml.", show_default=False
)
ENDPOINT_OPT = typer.Option(
    None,
    "--oscar-endpoint",
    help="OSCAR URL; default: `oscar_endpoint` from the site's deployment state.",
)
USER_OPT = typer.Option(
    None, "--oscar-user", help="OSCAR user; default: the site's stack.oscar.username."
)
ONLY_OPT = typer.Option(None, "--source", help="Only the event source with this name.")


def _oscar(loaded: LoadedSite, endpoint: str | None, user: str | None) -> OscarConnection:
    return connection_for(loaded, endpoint, user, "events apply")


def _show(title: str, changes: list[Change]) -> None:
    from rich.text import Text

    from oscar_iac.cli import ui

    # Names, objects and details come from the site and the servers: text, not markup.
    table = Table(title=Text(title))
    for col in ("source", "kind", "object", "action", "detail"):
        table.add_column(col)
    colour = {"create": "green", "update": "yellow", "delete": "red", "unchanged": "dim"}
    for c in changes:
        table.add_row(
            Text(c.source),
            Text(c.kind),
            Text(c.obj),
            Text(c.action, colour[c.action]),
            Text(c.detail),
        )
    ui.out().print(table)
    counts = {a: sum(1 for c in changes if c.action == a) for a in colour}
    ui.line(", ".join(f"{n} {a}" for a, n in counts.items() if n) or "no event sources")


def _do(
    op: Operation, site: Path, endpoint: str | None, user: str | None, only: str | None
) -> None:
    loaded = load_site(site)
    if not loaded.site.events:
        console.print(f"site '{loaded.site.name}' has no event sources")
        return
    with contextlib.ExitStack() as held:
        if op != "plan":  # apply and remove change the site: one command at a time
            held.enter_context(lock(loaded.site.name))
        oscar = _oscar(loaded, endpoint, user)
        with console.status(f"events {op}: {len(loaded.site.events)} source(s)…"):
            changes = run(loaded, oscar, op, only=only)
    _show(f"events {op} — {loaded.site.name}", changes)


def _relay(site: Path, endpoint: str | None, user: str | None, only: str | None) -> None:
    from oscar_iac.dcache import relay as dcache_relay  # start-up speed: only `events relay`

    loaded = load_site(site)
    oscar = _oscar(loaded, endpoint, user)
    names = [r.source.name for r in dcache_relay.relay_sources(loaded, only)]
    console.print(f"relaying dCache events of {', '.join(names) or 'no source'} (Ctrl-C stops)")
    dcache_relay.run(loaded, oscar, only)


Action = Callable[[Path, str | None, str | None, str | None], None]

# name -> (what it does, the help text); every command takes the same site and options.
COMMANDS: dict[str, tuple[Action, str]] = {
    "plan": (
        partial(_do, "plan"),
        """Show what `apply` would change for each event source. Changes nothing.

    Example: OSCAR_PASSWORD=... oscar-iac events plan inventories/egi-example
    """,
    ),
    "apply": (
        partial(_do, "apply"),
        """Wire each event source to its OSCAR service and check it is active. Idempotent.

    Example: oscar-iac events apply inventories/egi-example --oscar-endpoint https://oscar.example.org
    """,
    ),
    "remove": (
        partial(_do, "remove"),
        """Undo exactly what `apply` added (objects tagged oscar-iac-<source>); others stay.

    Example: oscar-iac events remove inventories/egi-example --source edge-minio
    """,
    ),
    "relay": (
        _relay,
        """Relay dCache events (sources with via: relay) to OSCAR's /job, in the foreground.

    Resumes from its checkpoint in the site's state folder; stops on Ctrl-C / SIGTERM.
    The front runs the same as a systemd service (role dcache_relay).

    Example: OSCAR_PASSWORD=... DCACHE_TOKEN=... oscar-iac events relay inventories/egi-example
    """,
    ),
}


def _command(name: str, action: Action, doc: str) -> None:
    """Register `events <name>` with the one set of arguments and options."""

    def command(
        site: Path = SITE_ARG,
        oscar_endpoint: str | None = ENDPOINT_OPT,
        oscar_user: str | None = USER_OPT,
        source: str | None = ONLY_OPT,
    ) -> None:
        action(site, oscar_endpoint, oscar_user, source)

    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    events_app.command(name)(command)


for _name, (_action, _doc) in COMMANDS.items():
    _command(_name, _action, _doc)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(events_app, name="events")
