"""Preflight: what it checks from the token offline, and what it says it could not check.

EGI Check-in cannot be reached: tokens are JWTs made here with the claims Check-in
issues (exp, eduperson_entitlement in EGI's URN form).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import CliResult
from oscar_iac.im.tokens import Token
from oscar_iac.preflight import offline as preflight
from oscar_iac.site.model import ImTarget

REPO = Path(__file__).resolve().parents[2]
EGI = ImTarget.model_validate(
    {
        "kind": "im",
        "endpoint": "https://im.example.org",
        "cloud": {"kind": "egi", "site": "IFCA-LCG2", "vo": "vo.access.egi.eu"},
    }
)


def jwt(exp: float, entitlements: list[str] | None) -> str:
    claims: dict[str, object] = {"exp": int(exp), "sub": "abc@egi.eu"}
    if entitlements is not None:
        claims["eduperson_entitlement"] = entitlements

    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.c2ln"


MEMBER = "urn:mace:egi.eu:group:vo.access.egi.eu:role=member#aai.egi.eu"


def _by_name(checks: list[preflight.Check]) -> dict[str, preflight.Check]:
    return {c.name: c for c in checks}


def test_member_with_valid_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no fedcloudclient here
    tok = jwt(time.time() + 3600, [MEMBER])
    checks = _by_name(preflight.run(EGI, Token(tok, "env", lambda: tok)))
    assert checks["token"].outcome == "ok"
    assert checks["VO membership"].outcome == "ok"
    assert checks["project"].outcome == "not checked"
    assert checks["flavours, image, quota"].outcome == "not checked"


def test_not_a_member_fails() -> None:
    tok = jwt(time.time() + 3600, ["urn:mace:egi.eu:group:other.vo:role=member#aai.egi.eu"])
    checks = _by_name(preflight.run(EGI, Token(tok, "env", lambda: tok)))
    assert checks["VO membership"].outcome == "failed"


def test_token_without_entitlements_is_not_checked() -> None:
    tok = jwt(time.time() + 3600, None)
    assert (
        _by_name(preflight.run(EGI, Token(tok, "env", lambda: tok)))["VO membership"].outcome
        == "not checked"
    )


def test_expiring_token_fails() -> None:
    tok = jwt(time.time() + 30, [MEMBER])
    assert _by_name(preflight.run(EGI, Token(tok, "env", lambda: tok)))["token"].outcome == "failed"


def test_cli_preflight_and_up_refuse_a_non_member(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv(
        "EGI_ACCESS_TOKEN", jwt(time.time() + 3600, ["urn:mace:egi.eu:group:x:role=member"])
    )
    site = str(REPO / "inventories" / "egi-example")
    res = cli("preflight", site)
    assert res.code == 1 and "failed" in res.out and "vo.access.egi.eu" in res.out
    up = cli("up", site)
    assert up.code == 2 and "preflight failed" in up.err
    # Nothing created: the state records only the failed preflight phase, no infrastructure.
    recorded = json.loads((tmp_path / "state" / "egi-example" / "deployment.json").read_text())
    assert recorded["inf_id"] is None and recorded["phases"]["preflight"]["status"] == "failed"
    assert "infrastructure" not in recorded["phases"]
