"""Entry point of `oscar-iac`. Each area registers its commands from its own module.

Start-up is kept short: the top-level group knows every command's name, area module
and one-line help from `COMMANDS` below, and imports an area's module (and through it
the heavy libraries: IM, oscar-python, MinIO, Ansible) only when one of its commands
runs. `oscar-iac --help` therefore imports no area at all. `app` (the whole Typer
application, every area imported) is still available for tests and documentation;
`tests/foundation/test_cli_help.py` checks that `COMMANDS` matches it.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

# Typer 0.2x carries its own copy of click; the top-level group must be built from it.
import typer._click as click
from typer.core import TyperGroup

from oscar_iac import __version__
from oscar_iac.errors import OscarIacError

if TYPE_CHECKING:
    import typer

HELP = (
    "Turn one site description (inventories/<site>/site.yml) into a working OSCAR "
    "AI-models-as-a-service platform.\n\n"
    "Example: oscar-iac validate inventories/local && oscar-iac up inventories/local"
)

# command -> (area module under oscar_iac.cli, one-line help shown by `oscar-iac --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("site", "Check a site: schema, rules, secret references, rendering."),
    "render": ("site", "Render a site's documents (TOSCA, RADL, summary, hosts inventory)."),
    "preflight": ("preflight", "Check a cloud site before `up`: quotas, flavours, image, network."),
    "discover": ("preflight", "List the flavours and images of a cloud site's project."),
    "up": ("deploy", "Deploy: infrastructure, platform, models, events, smoke test."),
    "status": ("deploy", "Show the site's phases and IM's infrastructure and VM states."),
    "outputs": ("deploy", "Print the cluster's outputs (endpoints; never credentials)."),
    "logs": ("deploy", "Show IM's contextualization log."),
    "scale": ("deploy", "Add or remove worker nodes."),
    "reconfigure": ("deploy", "Run the configure steps (playbooks) again."),
    "down": ("deploy", "Undo `up` in reverse: events, models, infrastructure."),
    "list": ("deploy", "List the infrastructures the site's IM user owns."),
    "models": ("models", "Catalog models as OSCAR services."),
    "services": ("services", "Run OSCAR service definitions locally."),
    "events": ("events", "Storage events to OSCAR services."),
    "manifests": ("manifests", "Validate rendered Kubernetes manifests offline."),
    "airgap": ("airgap", "Air-gap artifacts: list, fetch, verify."),
    "version": ("main", "Print the oscar-iac version."),
}


def _version() -> None:
    """Print the oscar-iac version.

    Example: oscar-iac version
    """
    print(__version__)


def _area_app(area: str) -> typer.Typer:
    """A Typer app with only one area's commands (imports that area)."""
    import typer

    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    if area == "main":
        sub.command("version")(_version)
    else:
        importlib.import_module(f"oscar_iac.cli.{area}").register(sub)
    return sub


class LazyGroup(TyperGroup):
    """The top-level group: lists commands from COMMANDS, imports an area on use.
    Its own --help is click's plain one (Rich's help layout alone costs ~0.3 s)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        import typer.main

        group = typer.main.get_command(_area_app(COMMANDS[cmd_name][0]))
        if isinstance(group, TyperGroup):
            return group.get_command(ctx, cmd_name)
        return group if group.name == cmd_name else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])


cli = LazyGroup(name="oscar-iac", help=HELP, no_args_is_help=True, rich_markup_mode=None)


def full_app() -> typer.Typer:
    """The whole application with every area imported (for tests and docs)."""
    import typer

    whole = typer.Typer(
        name="oscar-iac",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for area in dict.fromkeys(area for area, _ in COMMANDS.values()):
        if area == "main":
            whole.command("version")(_version)
        else:
            importlib.import_module(f"oscar_iac.cli.{area}").register(whole)
    return whole


def __getattr__(name: str) -> Any:
    if name == "app":
        return full_app()
    raise AttributeError(name)


def report(exc: OscarIacError) -> int:
    """Print an error the way every command does; return its exit code.

    The message is printed as text, never as Rich markup: it may quote a site value,
    a catalog title or a server's answer (`[/]` there must not crash or vanish).
    """
    from oscar_iac.cli.ui import err_line
    from oscar_iac.errors import DeploymentError, UserError

    label = "error" if isinstance(exc, UserError) else "failed"
    for line in str(exc).splitlines() or [type(exc).__name__]:
        err_line(line, label=label, style="bold red")
    if isinstance(exc, DeploymentError):
        for hint in exc.hints:
            err_line(f"  next: {hint}")
    return exc.exit_code


def run() -> None:
    """Console entry point: click handles usage errors (exit 2) and Ctrl-C; we handle ours."""
    try:
        cli.main(prog_name="oscar-iac")
    except OscarIacError as exc:
        sys.exit(report(exc))
    except OSError as exc:
        # A file the code did not expect to fail (a full disk, a read-only folder):
        # one line naming it, not a traceback. State writes say so themselves
        # (oscar_iac.state.files); this is the net under every other write.
        sys.exit(report(_os_error(exc)))


def _os_error(exc: OSError) -> OscarIacError:
    from oscar_iac.errors import DeploymentError

    where = f"{exc.filename}: " if exc.filename is not None else ""
    return DeploymentError(f"{where}{exc.strerror or type(exc).__name__}")
