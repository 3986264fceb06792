"""The listener config the NiFi flow hands to tools/oscar_iac/dcache/listener/ is one
that listener accepts (its own parse_config, the fixed interface between the two)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from oscar_iac.events.nifi_flow import CREDENTIAL_ENV, FlowInputs, listener_config, parameters

LISTENER = Path(__file__).resolve().parents[2] / "tools" / "oscar_iac" / "dcache" / "listener"


def _listener() -> ModuleType:
    init = LISTENER / "__init__.py"
    assert init.is_file(), f"{LISTENER} is missing (the dCache events listener)"
    # Loaded from its folder as the copy NiFi runs is, not as oscar_iac.dcache.listener.
    spec = importlib.util.spec_from_file_location(
        "dcache_listener_under_test", init, submodule_search_locations=[str(LISTENER)]
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("auth", "username", "expected"),
    [
        ("oidc", None, {"kind": "oidc", "token_env": CREDENTIAL_ENV}),
        ("macaroon", None, {"kind": "oidc", "token_env": CREDENTIAL_ENV}),
        ("basic", "alice", {"kind": "basic", "username": "alice", "password_env": CREDENTIAL_ENV}),
    ],
)
def test_nifi_listener_config_is_accepted_by_the_dcache_listener(
    auth: str, username: str | None, expected: dict[str, str]
) -> None:
    inputs = FlowInputs(
        site="demo", source="plants", frontend="https://dcache.example.org:3880",
        webdav="https://dcache.example.org:2880", path="/data/plants", recursive=True,
        auth=auth, username=username, verify_tls=True, oscar_url="https://oscar.example.org",
        service="plants", nifi_version="2.6.0",
    )  # fmt: skip
    config = listener_config(inputs)
    assert config["auth"] == expected
    assert config["endpoint"] == "https://dcache.example.org:3880/api/v1"
    # The parameter carries exactly this config (what GenerateFlowFile hands over).
    assert json.loads(parameters(inputs)["listener-config"] or "") == config
    parsed = _listener().parse_config(config)
    assert parsed.sink.kind == "spool"
    assert list(parsed.paths) == ["/data/plants"] and parsed.recursive is True
