"""Issue 23 item 1: piped output (a real pipe, COLUMNS=40) prints whole values; help
reads as written; on a terminal tables are still laid out by Rich."""

from __future__ import annotations

import subprocess
import sys

from runcli import OSCAR_IAC, SHARED, env, on_terminal, piped

from oscar_iac.airgap import artifacts
from oscar_iac.catalog import read_folder
from oscar_iac.phases.run import PHASES


def _no_escapes(text: str) -> None:
    assert "\x1b" not in text, repr(text[:200])
    assert "…" not in text, text


def test_validate_is_one_whole_line() -> None:
    res = piped("validate", "inventories/local")
    assert res.code == 0, res.err
    _no_escapes(res.out)
    lines = res.out.splitlines()
    assert len(lines) == 1, res.out
    assert lines[0].startswith("ok local: im/local, cluster ")
    assert lines[0].endswith("; TOSCA translated by IM to 2 RADL system(s)")


def test_airgap_list_prints_every_sha256_and_url_whole() -> None:
    res = piped("airgap", "list")
    assert res.code == 0, res.err
    _no_escapes(res.out)
    lines = res.out.splitlines()
    assert lines[0].split() == ["component", "artifact", "sha256", "url"]
    arts = artifacts()
    assert len(lines) == 1 + len(arts)
    for art, line in zip(arts, lines[1:], strict=True):
        cells = line.split()
        assert cells[0] == art.component and cells[1] == art.name, line
        assert cells[-1] == art.url, line
        assert (art.sha256 or "not") in cells, line


def test_models_list_prints_whole_titles_and_images() -> None:
    catalog = SHARED / "catalog" / "ai4os"
    res = piped("models", "list", "--catalog", str(catalog))
    assert res.code == 0, res.err
    _no_escapes(res.out)
    for model in read_folder(catalog):
        row = next(line for line in res.out.splitlines() if line.startswith(model.module + " "))
        assert f" {model.title} " in row and f" {model.image} " in row, row


def test_a_table_cell_is_never_folded_when_piped() -> None:
    """The one place tables are printed (ui.show): a long cell stays whole on one line."""
    value = "EGI_ACCESS_TOKEN " * 8 + "https://registry.example.org/" + "x" * 150
    code = (
        "from rich.table import Table\n"
        "from rich.text import Text\n"
        "from oscar_iac.cli import ui\n"
        "t = Table(title='preflight: site')\n"
        "t.add_column('check', no_wrap=True)\n"
        "t.add_column('detail', overflow='fold')\n"
        f"t.add_row('token', Text({value!r}))\n"
        "ui.show(t)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env(), check=True
    )
    _no_escapes(proc.stdout)
    assert proc.stdout.splitlines() == [
        "preflight: site",
        "check  detail",
        f"token  {value.rstrip()}",
    ]


def test_help_reads_as_written_when_piped() -> None:
    res = piped("up", "--help")
    assert res.code == 0, res.err
    _no_escapes(res.out)
    assert "<bool>" not in res.out and "╭" not in res.out
    # A paragraph of the docstring is one line: no break at the source's line ends.
    assert (
        "Phases run depend on the target: a cloud or your hosts get all of them, an existing "
        "OSCAR (target kind `oscar`) starts at `platform`, the embedded default stops after "
        "the infrastructure (its Dummy cloud boots nothing)."
    ) in res.out
    examples = [line.strip() for line in res.out.splitlines() if "Example:" in line]
    assert examples == [
        "Example: oscar-iac up inventories/local",
        "Example: oscar-iac up inventories/mysite --only models,events",
    ]
    # Issue 23 item 6: --only and --skip name the phases, in order.
    only = next(line for line in res.out.splitlines() if line.strip().startswith("--only"))
    assert only.rstrip().endswith(": " + ", ".join(PHASES) + ".")


def test_help_on_a_terminal_shows_no_bool_for_flags() -> None:
    res = on_terminal([OSCAR_IAC, "up", "--help"], COLUMNS="120")
    assert res.code == 0, res.out
    quiet = next(line for line in res.out.splitlines() if "--quiet" in line)
    assert "<bool>" not in quiet and "No live progress view." in quiet
