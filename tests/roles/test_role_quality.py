"""Every role: prefixed variables, argument specs that agree with the defaults, a README."""

from __future__ import annotations

import re

import pytest

from roles.conftest import ROLE_NAMES, ROLES, load_yaml

EXPECTED_ROLES = {
    "base", "k3s", "nfs", "ingress", "minio", "knative", "oscar", "nifi", "gpu",
    "kube_apply", "airgap_check", "dcache_relay",
}  # fmt: skip


def test_every_role_of_the_stack_exists() -> None:
    assert set(ROLE_NAMES) == EXPECTED_ROLES


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_argument_specs_match_defaults(role: str) -> None:
    defaults = load_yaml(ROLES / role / "defaults" / "main.yml") or {}
    spec = load_yaml(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]
    options = spec["options"]
    assert set(options) == set(defaults), "options and defaults name different variables"
    for name, option in options.items():
        assert option.get("description"), f"{name}: no description"
        if option.get("required"):
            continue
        assert "default" in option, f"{name}: no default in the spec"
        assert option["default"] == defaults[name], (
            f"{name}: spec default differs from defaults/main.yml"
        )
        if "choices" in option:
            assert defaults[name] in option["choices"] or "{{" in str(defaults[name]), name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_variable_is_prefixed_and_commented(role: str) -> None:
    text = (ROLES / role / "defaults" / "main.yml").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if not m:
            continue
        assert m.group(1).startswith(f"{role}_"), f"{m.group(1)} is not prefixed {role}_"
        # A comment right above, or above a run of related variables sharing one.
        above = [ln for ln in lines[:i] if ln.strip()]
        assert above and (above[-1].startswith("#") or re.match(rf"^{role}_\w+:", above[-1])), (
            f"{m.group(1)} has no comment"
        )
    for path in (ROLES / role / "vars").glob("*.yml"):
        for name in load_yaml(path) or {}:
            assert name.startswith(f"{role}_"), f"vars/{path.name}: {name} is not prefixed"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_has_a_readme_with_the_usual_sections(role: str) -> None:
    readme = (ROLES / role / "README.md").read_text()
    for section in ("Requirements", "Role Variables", "Dependencies", "Example Playbook"):
        assert f"## {section}" in readme, f"{role}/README.md lacks '## {section}'"
    defaults = load_yaml(ROLES / role / "defaults" / "main.yml") or {}
    missing = [name for name in defaults if f"`{name}`" not in readme]
    assert not missing, f"README of {role} does not document {missing}"
