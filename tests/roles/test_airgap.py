"""Air-gap mode: `oscar-iac airgap fetch|verify` against a local HTTP server, and the
roles' check of the folder (real Ansible) before anything is copied."""

from __future__ import annotations

import hashlib
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

from helpers.cli import CliResult
from oscar_iac.airgap import Status, artifacts
from roles.conftest import REPO, run_tool

PAYLOADS = {"tool": b"#!/bin/sh\necho tool\n", "chart-1.0.0.tgz": b"not really a tarball" * 1000}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server with the artifacts' files (and one 'tampered' file)."""
    root = tmp_path / "www"
    root.mkdir()
    for name, data in PAYLOADS.items():
        (root / name).write_bytes(data)
    (root / "tampered.yaml").write_bytes(b"kind: Evil\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _versions(tmp_path: Path, base: str, *, tampered: bool = False, unpinned: bool = False) -> Path:
    arts = [
        {"name": n, "url": f"{base}/{n}", "sha256": hashlib.sha256(d).hexdigest()}
        for n, d in PAYLOADS.items()
    ]
    if tampered:
        # Pinned to the sha256 of what the manifest should be; the server serves other bytes.
        arts.append({"name": "tampered.yaml", "url": f"{base}/tampered.yaml", "sha256": "0" * 64})
    if unpinned:
        arts.append({"name": "later.yaml", "url": f"{base}/later.yaml", "sha256": ""})
    path = tmp_path / "versions.yml"
    path.write_text(
        yaml.safe_dump({"oscar_iac_versions": {"demo": {"version": "1", "artifacts": arts}}})
    )
    return path


def test_fetch_then_verify(cli, tmp_path: Path, served: str) -> None:  # type: ignore[no-untyped-def]
    versions = _versions(tmp_path, served)
    folder = tmp_path / "airgap"
    res: CliResult = cli("airgap", "fetch", str(folder), "--versions", str(versions))
    assert res.code == 0, res.err
    for name, data in PAYLOADS.items():
        assert (folder / name).read_bytes() == data
    assert cli("airgap", "verify", str(folder), "--versions", str(versions)).code == 0
    # A second fetch downloads nothing and keeps the files.
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert cli("airgap", "fetch", str(folder), "--versions", str(versions)).code == 0
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_download_with_another_sha256_is_thrown_away(cli, tmp_path: Path, served: str) -> None:  # type: ignore[no-untyped-def]
    versions = _versions(tmp_path, served, tampered=True, unpinned=True)
    folder = tmp_path / "airgap"
    res = cli("airgap", "fetch", str(folder), "--versions", str(versions))
    assert res.code == 1
    assert "2 of 4 artifacts are not usable" in res.err
    assert not (folder / "tampered.yaml").exists()
    assert not list(folder.glob("*.part"))
    assert {a.name: a.pinned for a in artifacts(versions)}["later.yaml"] is False


def test_verify_names_a_changed_file(cli, tmp_path: Path, served: str) -> None:  # type: ignore[no-untyped-def]
    versions = _versions(tmp_path, served)
    folder = tmp_path / "airgap"
    assert cli("airgap", "fetch", str(folder), "--versions", str(versions)).code == 0
    (folder / "tool").write_bytes(b"#!/bin/sh\necho changed\n")
    res = cli("airgap", "verify", str(folder), "--versions", str(versions))
    assert res.code == 1
    assert Status.MISMATCH.value in res.out and "tool" in res.out


def test_malformed_versions_entry_is_a_user_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "versions.yml"
    bad.write_text(
        "oscar_iac_versions:\n  demo:\n    artifacts:\n      - {name: x, url: https://e/x}\n"
    )
    res = cli("airgap", "list", "--versions", str(bad))
    assert res.code == 2
    assert "oscar_iac_versions.demo.artifacts[0]" in res.err and "sha256" in res.err


def test_unreadable_or_malformed_versions_file_is_a_user_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("airgap", "list", "--versions", str(tmp_path / "missing.yml"))
    assert res.code == 2 and "missing.yml" in res.err and "cannot read" in res.err
    broken = tmp_path / "broken.yml"
    broken.write_text("oscar_iac_versions: [\n")
    res = cli("airgap", "verify", str(tmp_path), "--versions", str(broken))
    assert res.code == 2 and "broken.yml" in res.err and "invalid YAML" in res.err
    flat = tmp_path / "flat.yml"
    flat.write_text("oscar_iac_versions:\n  k3s: v1.34\n")
    res = cli("airgap", "list", "--versions", str(flat))
    assert res.code == 2 and "oscar_iac_versions: expected a mapping" in res.err


def test_the_project_pins_are_listed(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("airgap", "list", "--json")
    assert res.code == 0
    listed = {a["name"]: a for a in json.loads(res.out)}
    assert {"k3s", "k3s-airgap-images-amd64.tar.zst", "oscar-4.1.2.tgz"} <= set(listed)
    assert len(listed["oscar-4.1.2.tgz"]["sha256"]) == 64


def _check_play(tmp_path: Path, folder: Path, versions: Path) -> tuple[int, str]:
    book = tmp_path / "check.yml"
    book.write_text(
        f"""- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{versions}]
  roles:
    - role: airgap_check
      vars:
        airgap_check_dir: {folder}
        airgap_check_artifacts: "{{{{ oscar_iac_versions.demo.artifacts }}}}"
"""
    )
    res = run_tool(
        "ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", book,
        cwd=REPO,
    )  # fmt: skip
    return res.returncode, res.stdout + res.stderr


def test_the_roles_refuse_a_tampered_artifact_before_copying(
    cli, tmp_path: Path, served: str
) -> None:  # type: ignore[no-untyped-def]
    versions = _versions(tmp_path, served)
    folder = tmp_path / "airgap"
    assert cli("airgap", "fetch", str(folder), "--versions", str(versions)).code == 0
    code, out = _check_play(tmp_path, folder, versions)
    assert code == 0, out
    (folder / "chart-1.0.0.tgz").write_bytes(b"tampered")
    code, out = _check_play(tmp_path, folder, versions)
    assert code != 0
    assert "chart-1.0.0.tgz" in out and "is not the pinned" in out, out
    (folder / "tool").unlink()
    code, out = _check_play(tmp_path, folder, versions)
    assert "tool: missing" in out, out
