"""`oscar-iac services try`: run a service's script locally, as OSCAR would, in podman."""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

import typer

from oscar_iac.cli import bounds, ui
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.runner import Invocation, RunResult, load_service, run_invocation

services_app = typer.Typer(
    help=(
        "OSCAR services on this machine.\n\n"
        "Example: oscar-iac services try demo.yaml --input leaf.png --output out/"
    ),
    no_args_is_help=True,
)


def _show(result: RunResult, service: str, variables: list[str], secret_names: list[str]) -> None:
    hidden = ", ".join(variables + [f"{n} (secret)" for n in secret_names]) or "none"
    ui.err_line(f"service {service}; its environment variables (values not shown): {hidden}")
    log = result.log.rstrip()
    if not ui.is_terminal(sys.stderr):  # the container's colours stay out of files and pipes
        ui.err_line("--- script output (stdout + stderr) ---")
        for line in ui.strip_escapes(log).splitlines():
            ui.err_line(line)
        ui.err_line("---")
        return
    ui.err().rule("script output (stdout + stderr)", style="dim")
    from rich.text import Text

    ui.err().print(Text.from_ansi(log))  # the container's colours, never markup
    ui.err().rule(style="dim")


def _write_outputs(result: RunResult, output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in result.outputs.items():
        dest = output / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        written.append(dest)
    return written


def _echo(text: str) -> None:
    """Text from the container on stdout; piped, without its escape codes (colours)."""
    typer.echo(text if ui.is_terminal() else ui.strip_escapes(text))


def _print_result(result: RunResult, sync: bool) -> None:
    """The result on stdout: the output files' text (a /run call's decoded answer)."""
    if sync and not result.outputs:
        _echo(result.response().decode("utf-8", errors="replace"))
        return
    for name, data in result.outputs.items():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            ui.err_line(f"{name}: {len(data)} bytes (binary)")
            continue
        _echo(text.rstrip("\n"))


@services_app.command("try")
def try_(
    fdl: Path = typer.Argument(
        ..., help="An FDL file (oscar-iac models fdl ... -o FILE) or one service definition."
    ),
    input_file: Path = typer.Option(
        ..., "--input", "-i", help="The input file, as if uploaded to the service's input."
    ),
    service: str | None = typer.Option(
        None, "--service", help="Which service of the FDL (needed when it has several)."
    ),
    image: str | None = typer.Option(
        None, "--image", help="Run this container image instead of the service's."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Copy the files the script wrote to this folder."
    ),
    sync: bool = typer.Option(
        False,
        "--sync",
        help="Invoke as OSCAR's /run would (the file is the request body) instead of as a bucket upload.",
    ),
    timeout: float = typer.Option(
        900.0, "--timeout", callback=bounds.timeout, help="Seconds before the run is stopped."
    ),
) -> None:
    """Run a service's script in a local podman container, exactly as OSCAR's supervisor would.

    Same image, script (/bin/sh /oscar/config/script.sh), environment variables
    (INPUT_FILE_PATH, TMP_OUTPUT_DIR, STORAGE_OBJECT_KEY, EVENT, and the service's own),
    input file and output folder. The prediction is printed; --output keeps the files.

    Example: oscar-iac services try demo.yaml --input tests/images/runner/iris-sample.csv -o out/
    """
    svc = load_service(fdl, service)
    if not input_file.is_file():
        raise UserError(Problem(input_file, "--input", "no such file"))
    if shutil.which("podman") is None:
        raise DeploymentError(
            "podman is not installed: `services try` runs the service in a podman container",
            hints=["apt-get install -y podman runc   (or: make system-deps)"],
        )
    inv = (
        Invocation(
            svc, body=base64.b64encode(input_file.read_bytes()), image=image, timeout=timeout
        )
        if sync
        else Invocation(svc, input_file=input_file, image=image, timeout=timeout)
    )
    result = run_invocation(inv)
    secret_names = list(svc.secret_names)
    _show(result, svc.name, [v for v in svc.variables if v not in secret_names], secret_names)
    if output is not None:
        for path in _write_outputs(result, output):
            ui.err_line(f"wrote {path}")
    if result.exit_code != 0:
        raise DeploymentError(
            f"the script of service {svc.name} exited with code {result.exit_code} (output above)",
            hints=[f"podman run --rm -it --entrypoint bash {image or svc.image}   # look inside"],
        )
    _print_result(result, sync)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(services_app, name="services")
