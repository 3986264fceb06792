"""The one preflight (preflight/gate.py): stage 1 (the offline token checks) runs once per
command; a token that failed is refused every time; stage 2 gets the same token."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from oscar_iac.errors import UserError
from oscar_iac.im.tokens import Token
from oscar_iac.preflight import gate, offline
from oscar_iac.site import load_site
from oscar_iac.site.model import ImTarget
from preflight.conftest import jwt

REPO = Path(__file__).resolve().parents[2]


def _count_stage1(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the real stage 1's runs (it still runs: this only counts)."""
    calls = [0]
    real = offline.run

    def counted(target: ImTarget, token: Token | None) -> list[offline.Check]:
        calls[0] += 1
        return real(target, token)

    monkeypatch.setattr(offline, "run", counted)
    return calls


def test_stage1_runs_once_per_command_for_a_token_that_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no fedcloudclient here
    monkeypatch.setattr(gate, "_PASSED", set())
    calls = _count_stage1(monkeypatch)
    loaded = load_site(REPO / "inventories" / "egi-example")
    tgt = loaded.site.target
    assert isinstance(tgt, ImTarget)
    value = jwt(time.time() + 3600)
    token = Token(value, "env", lambda: value)
    gate.require_offline(loaded, tgt, token)
    gate.require_offline(loaded, tgt, token)
    assert calls[0] == 1
    # Another token is checked on its own.
    other = jwt(time.time() + 7200)
    gate.require_offline(loaded, tgt, Token(other, "env", lambda: other))
    assert calls[0] == 2


def test_stage1_refuses_a_failing_token_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(gate, "_PASSED", set())
    calls = _count_stage1(monkeypatch)
    loaded = load_site(REPO / "inventories" / "egi-example")
    tgt = loaded.site.target
    assert isinstance(tgt, ImTarget)
    value = jwt(time.time() + 3600, ["urn:mace:egi.eu:group:other.vo:role=member#aai.egi.eu"])
    token = Token(value, "env", lambda: value)
    for _ in range(2):
        with pytest.raises(UserError, match="preflight failed"):
            gate.require_offline(loaded, tgt, token)
    assert calls[0] == 2
