"""Both notebooks run top to bottom (nbclient), against the OSCAR double + local runner +
real MinIO, parameterised through their environment variables like a user's session."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from api.conftest import Cluster
from helpers.notebooks import NOTEBOOKS, outputs_text, venv_kernel

pytestmark = pytest.mark.slow


@pytest.fixture
def kernel_env(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `python3` kernel that is this virtualenv's Python, and the notebooks' settings."""
    monkeypatch.setenv("JUPYTER_PATH", str(venv_kernel(tmp_path)))
    monkeypatch.setenv("OSCAR_ENDPOINT", cluster.oscar.url)
    monkeypatch.setenv("OSCAR_USER", cluster.oscar.username)
    monkeypatch.setenv("OSCAR_PASSWORD", cluster.oscar.password)
    monkeypatch.setenv("MODEL", cluster.model)
    monkeypatch.setenv("WAIT_TIMEOUT", "180")
    monkeypatch.delenv("OSCAR_IAC_SITE", raising=False)
    monkeypatch.delenv("INPUT_FILE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    return work


def _execute(name: str, work: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    return nb


def test_sync_notebook_runs_top_to_bottom(kernel_env: Path) -> None:
    nb = _execute("sync-inference.ipynb", kernel_env)
    text = outputs_text(nb)
    assert "setosa" in text and "virginica" in text
    assert (kernel_env / "iris-sample.csv").is_file()  # the notebook wrote its sample there


def test_async_notebook_runs_top_to_bottom(kernel_env: Path, cluster: Cluster) -> None:
    before = len(cluster.oscar.jobs.get(cluster.service, {}))
    nb = _execute("async-inference.ipynb", kernel_env)
    text = outputs_text(nb)
    assert "Succeeded" in text and "predict was called" in text
    assert len(cluster.oscar.jobs.get(cluster.service, {})) - before == 2
