"""Running the repo's notebooks in tests: a `python3` kernel that is this virtualenv's
Python, and the text of a notebook's outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def venv_kernel(root: Path) -> Path:
    """Write a `python3` kernel spec under `root` that starts this virtualenv's Python
    (its argv carries only the connection file: settings reach the kernel through the
    environment it inherits); returns the folder to put in JUPYTER_PATH."""
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "oscar-iac venv", "language": "python"})
    )
    return root / "jupyter"


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Every output of every cell (streams, results, errors) as one text."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or json.dumps(o.get("data", {})))
            out.extend([o.get("ename", ""), o.get("evalue", ""), *o.get("traceback", [])])
    return "\n".join(out)
