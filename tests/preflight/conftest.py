"""Fixtures for preflight/discover: the OpenStack + EGI cloud-info double, sites, tokens.

EGI Check-in cannot be reached: access tokens are JWTs made here with the claims Check-in
issues (`exp`, `eduperson_entitlement` in EGI's URN form).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from doubles.openstack_server import OpenStackDouble, standard_cloud

REPO = Path(__file__).resolve().parents[2]
MEMBER = "urn:mace:egi.eu:group:vo.access.egi.eu:role=member#aai.egi.eu"


def jwt(exp: float, entitlements: list[str] | None = None) -> str:
    claims: dict[str, Any] = {"exp": int(exp), "sub": "abc@egi.eu", "iss": "https://aai.egi.eu"}
    claims["eduperson_entitlement"] = [MEMBER] if entitlements is None else entitlements

    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.c2ln"


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[OpenStackDouble]:
    """A fresh double; the EGI site's endpoint discovery points at it."""
    d = OpenStackDouble(standard_cloud()).start()
    monkeypatch.setenv("OSCAR_IAC_EGI_CLOUDINFO_URL", d.cloudinfo_url)
    monkeypatch.setenv("EGI_ACCESS_TOKEN", jwt(time.time() + 3600))
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    # No oidc-agent or fedcloud here unless a test puts a stand-in on PATH.
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path / "bin"), os.environ["PATH"]]))
    (tmp_path / "bin").mkdir()
    yield d
    d.stop()


@pytest.fixture
def egi_site(tmp_path: Path) -> Callable[..., Path]:
    """inventories/egi-example copied, with changes to its cluster / target.cloud."""

    def make(cluster: dict[str, Any] | None = None, cloud: dict[str, Any] | None = None) -> Path:
        data = yaml.safe_load((REPO / "inventories" / "egi-example" / "site.yml").read_text())
        data["cluster"].update(cluster or {})
        data["target"]["cloud"].update(cloud or {})
        folder = tmp_path / "site"
        folder.mkdir(exist_ok=True)
        (folder / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        return folder

    return make


@pytest.fixture
def stand_in(tmp_path: Path) -> Callable[[str, str], Path]:
    """An executable on PATH printing a fixed line (e.g. `oidc-token` with a fresh token)."""

    def make(name: str, output: str) -> Path:
        path = tmp_path / "bin" / name
        path.write_text(f"#!/bin/sh\necho '{output}'\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    return make
