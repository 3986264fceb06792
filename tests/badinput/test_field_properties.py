"""Property-based tests of the typed boundary (oscar_iac.site.fields), one per field type:
host, user, DNS name, URL, path, secret reference, number. A generated bad value always
gives a UserError (exit 2) whose problem names the field, never another exception; a
generated good value round-trips into the model unchanged. The CLI's numeric flags use
the same bounds."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oscar_iac.cli import bounds
from oscar_iac.errors import UserError
from oscar_iac.site import load_site
from oscar_iac.site.fields import POSIX_USER_RE, TIMEOUT_MAX, WORKERS_MAX

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HOSTS: dict[str, Any] = {
    "name": "props",
    "target": {
        "kind": "hosts",
        "front": {"name": "front", "address": "192.0.2.10", "user": "debian"},
        "workers": [{"name": "worker1", "address": "192.0.2.11", "user": "debian"}],
    },
    "cluster": {"name": "oscar", "domain": "example.org", "workers": {"count": 1}},
}
OSCAR: dict[str, Any] = {
    "name": "props",
    "target": {"kind": "oscar", "endpoint": "https://oscar.example.org", "password": "env:P"},
}


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out: Any = yaml.safe_load(yaml.safe_dump(doc))
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return dict(out)


def _load(doc: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.yml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        return load_site(path, check_secrets=False).site


def _refused(doc: dict[str, Any], field: str) -> None:
    try:
        _load(doc)
    except UserError as exc:
        fields = [p.field for p in exc.problems]
        assert field in fields, (field, [str(p) for p in exc.problems])
        return
    raise AssertionError(f"accepted: {field} in {doc}")


# Text an attacker would use: options, separators, quotes, templates, control characters.
BAD_PIECES = ["-", " ", ";", "'", '"', "\n", "\t", "$(", "`", "{{ x }}", "|", "&", "\\", "\x7f"]
# C1 controls and Unicode line separators: line breaks to YAML (NEL, U+0085), never data.
BAD_PIECES += ["\x85", "\u2028", "\u2029", "\x9b"]
# Printable text (YAML carries it unchanged).
TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_categories=("Cc",)), max_size=20
)


@st.composite
def poisoned(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A good-looking value with a bad piece put in (first for '-')."""
    text = draw(base)
    piece = draw(st.sampled_from(BAD_PIECES))
    if piece == "-":
        return "-" + text
    at = draw(st.integers(min_value=0, max_value=len(text)))
    return text[:at] + piece + text[at:]


LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")
# A top-level label starts with a letter (an all-digit last label reads as an IPv4 part).
TLD = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
DNS_NAME = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=3), TLD
)
HOST = st.one_of(st.ip_addresses().map(str), DNS_NAME)
USER = st.from_regex(POSIX_USER_RE, fullmatch=True)
PATH = st.text(
    st.characters(
        min_codepoint=32, max_codepoint=0x2FF, exclude_characters="{", exclude_categories=("Cc",)
    ),
    min_size=1,
    max_size=40,
).filter(lambda p: not p.startswith("-") and p.strip() == p and p.strip())


# --------------------------------------------------------------------------- host


@SETTINGS
@given(value=poisoned(HOST))
def test_bad_hosts_are_refused_naming_the_field(value: str) -> None:
    _refused(_set(HOSTS, ("target", "front", "address"), value), "target.front.address")


@SETTINGS
@given(value=HOST)
def test_good_hosts_round_trip(value: str) -> None:
    site = _load(_set(HOSTS, ("target", "front", "address"), value))
    assert site.target.front.address == value


# --------------------------------------------------------------------------- user


@SETTINGS
@given(value=st.one_of(poisoned(USER), USER.map(str.upper).filter(lambda u: u != u.lower())))
def test_bad_users_are_refused_naming_the_field(value: str) -> None:
    _refused(_set(HOSTS, ("target", "workers", 0, "user"), value), "target.workers[0].user")


@SETTINGS
@given(value=USER)
def test_good_users_round_trip(value: str) -> None:
    assert (
        _load(_set(HOSTS, ("target", "workers", 0, "user"), value)).target.workers[0].user == value
    )


# --------------------------------------------------------------------------- DNS names


@SETTINGS
@given(
    label=st.one_of(
        poisoned(LABEL), LABEL.map(lambda s: s + "_"), LABEL.map(str.upper).filter(str.isupper)
    )
)
def test_bad_dns_labels_and_domains_are_refused_naming_the_field(label: str) -> None:
    _refused(_set(HOSTS, ("cluster", "name"), label), "cluster.name")
    _refused(_set(HOSTS, ("cluster", "domain"), f"{label}.example.org"), "cluster.domain")


@SETTINGS
@given(label=LABEL, domain=DNS_NAME)
def test_good_dns_names_round_trip(label: str, domain: str) -> None:
    site = _load(_set(_set(HOSTS, ("cluster", "name"), label), ("cluster", "domain"), domain))
    assert (site.cluster.name, site.cluster.domain) == (label, domain)


# --------------------------------------------------------------------------- URL


@SETTINGS
@given(
    user=st.from_regex(r"\A[A-Za-z0-9]{1,8}\Z"),
    password=st.from_regex(r"\A[A-Za-z0-9]{0,8}\Z"),
    host=DNS_NAME,
)
def test_urls_with_userinfo_are_refused_and_never_repeated(
    user: str, password: str, host: str
) -> None:
    secret = f"{user}:{password}" if password else user
    doc = _set(OSCAR, ("target", "endpoint"), f"https://{secret}@{host}/")
    with pytest.raises(UserError) as info:
        _load(doc)
    assert [p.field for p in info.value.problems] == ["target.endpoint"]
    if password:
        assert f"{user}:{password}" not in str(info.value)


@SETTINGS
@given(host=DNS_NAME, path=st.from_regex(r"\A(/[a-z0-9]{1,6}){0,3}\Z"))
def test_good_urls_round_trip(host: str, path: str) -> None:
    site = _load(_set(OSCAR, ("target", "endpoint"), f"https://{host}{path}"))
    assert str(site.target.endpoint).rstrip("/") == f"https://{host}{path}".rstrip("/")


# --------------------------------------------------------------------------- path


@SETTINGS
@given(
    value=st.one_of(
        PATH.map(lambda p: "-" + p),
        PATH.map(lambda p: p + "\n" + p),
        PATH.map(lambda p: "{{ " + p + " }}"),
    )
)
def test_bad_paths_are_refused_naming_the_field(value: str) -> None:
    _refused(_set(OSCAR, ("smoke",), {"input": value}), "smoke.input")


@SETTINGS
@given(value=PATH)
def test_good_paths_round_trip(value: str) -> None:
    assert _load(_set(OSCAR, ("smoke",), {"input": value})).smoke.input == value


# --------------------------------------------------------------------------- secret reference


@SETTINGS
@given(
    value=st.one_of(
        TEXT.filter(lambda t: not t.startswith(("env:", "file:", "vault:")) and t != "generate"),
        poisoned(PATH)
        .map(lambda p: "file:" + p)
        .filter(
            lambda r: "{" in r or "\n" in r or "\t" in r or r.startswith("file:-") or "\x7f" in r
        ),
        st.from_regex(r"\Aenv:[0-9 -][A-Z]{0,5}\Z"),
    )
)
def test_bad_secret_references_are_refused_naming_the_field(value: str) -> None:
    _refused(_set(OSCAR, ("target", "password"), value), "target.password")


@SETTINGS
@given(
    value=st.one_of(
        st.from_regex(r"\Aenv:[A-Z_][A-Z0-9_]{0,20}\Z"),
        PATH.map(lambda p: "file:" + p),
        st.builds(
            lambda p, k: f"vault:{p}#{k}",
            PATH.filter(lambda p: "#" not in p),
            st.from_regex(r"\A[a-z_]{1,10}\Z"),
        ),
    )
)
def test_good_secret_references_round_trip(value: str) -> None:
    assert _load(_set(OSCAR, ("target", "password"), value)).target.password == value


# --------------------------------------------------------------------------- numbers


@SETTINGS
@given(
    count=st.one_of(st.integers(max_value=-1), st.integers(min_value=WORKERS_MAX + 1)),
    timeout=st.one_of(
        st.floats(max_value=0),
        st.floats(min_value=TIMEOUT_MAX, exclude_min=True),
        st.sampled_from([math.nan, math.inf, -math.inf]),
    ),
)
def test_numbers_out_of_bounds_are_refused_in_the_site_and_on_the_command_line(
    count: int, timeout: float
) -> None:
    _refused(_set(HOSTS, ("cluster", "workers", "count"), count), "cluster.workers.count")
    _refused(_set(OSCAR, ("smoke",), {"timeout": timeout}), "smoke.timeout")
    with pytest.raises(typer.BadParameter, match=str(WORKERS_MAX)):
        bounds.workers(count)
    with pytest.raises(typer.BadParameter, match="seconds"):
        bounds.timeout(timeout)


@SETTINGS
@given(
    count=st.integers(min_value=0, max_value=WORKERS_MAX),
    timeout=st.floats(min_value=0, max_value=TIMEOUT_MAX, exclude_min=True),
)
def test_numbers_in_bounds_round_trip(count: int, timeout: float) -> None:
    assert _load(_set(OSCAR, ("smoke",), {"timeout": timeout})).smoke.timeout == timeout
    assert bounds.workers(count) == count and bounds.timeout(timeout) == timeout
