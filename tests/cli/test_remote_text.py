"""Issue 22 item 10: text from a catalog, a site or a server is printed as text, never
as Rich markup, on a terminal and piped (`[/]`, `[bold]`, `{{ }}` stay as they are)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import yaml
from runcli import OSCAR_IAC, SHARED, env, on_terminal, piped

TITLE = "[bold]Loud[/bold] {{ lookup('env', 'HOME') }} [/]"
LOCATION = "https://catalog.example.org/[bold]v1[/bold]/[/]{{ x }}"


def _catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    shutil.copytree(SHARED / "catalog" / "ai4os" / "ai4os-demo-app", folder / "markup-demo")
    meta = folder / "markup-demo" / "ai4-metadata.yml"
    data = yaml.safe_load(meta.read_text())
    data["title"] = TITLE
    meta.write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def test_models_list_prints_catalog_markup_as_text_on_a_terminal(tmp_path: Path) -> None:
    res = on_terminal(
        [OSCAR_IAC, "models", "list", "--catalog", str(_catalog(tmp_path))], COLUMNS="250"
    )
    assert res.code == 0, res.out
    assert TITLE in res.out, res.out


def test_models_list_prints_catalog_markup_as_text_when_piped(tmp_path: Path) -> None:
    res = piped("models", "list", "--catalog", str(_catalog(tmp_path)))
    assert res.code == 0, res.err
    assert f"  {TITLE}  " in res.out, res.out


def test_catalog_notes_and_warnings_quote_the_location_as_text(tmp_path: Path) -> None:
    """The note names the site's catalog.location; warnings quote the API's answers."""
    code = (
        "from oscar_iac.cli import models\n"
        "from oscar_iac.registry import SiteCatalog\n"
        f"models._note(SiteCatalog({{}}, note='catalog API ' + {LOCATION!r} + ': fetched', "
        f"warnings=[{TITLE!r}]))\n"
    )
    pipe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env(), check=False
    )
    for code_, text in (
        (pipe.returncode, pipe.stderr),
        astuple(on_terminal([sys.executable, "-c", code]))[:2],
    ):
        assert code_ == 0, text
        assert f"catalog API {LOCATION}: fetched" in text, text
        assert f"warning: {TITLE}" in text, text
