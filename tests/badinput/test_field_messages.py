"""The site's field types (oscar_iac.site.fields): the bounds to the unit and each
refusal's exact words (what is expected, and the value shown cut at 80 characters)."""

from __future__ import annotations

import pytest

from oscar_iac.site import fields


def _refusal(check: object, *args: object) -> str:
    with pytest.raises(ValueError) as err:
        check(*args)  # type: ignore[operator]
    return str(err.value)


def test_timeouts_are_bounded_and_named() -> None:
    assert fields.check_timeout(86400.0) == 86400.0
    assert _refusal(fields.check_timeout, 0.0) == (
        "expected a number of seconds more than 0 and at most 86400; got 0.0"
    )
    assert _refusal(fields.check_timeout, 86401.0, "--timeout") == (
        "--timeout: expected a number of seconds more than 0 and at most 86400; got 86401.0"
    )


def test_worker_counts_are_bounded_to_the_unit() -> None:
    assert fields.check_workers(0) == 0 and fields.check_workers(1000) == 1000
    assert _refusal(fields.check_workers, 1001) == "workers must be between 0 and 1000; got 1001"
    assert _refusal(fields.check_workers, -1, "--workers") == (
        "--workers must be between 0 and 1000; got -1"
    )


UNSAFE = "expected no spaces, quotes, ';', '$', braces or control characters; got "


def test_a_refused_value_is_shown_cut_at_80_characters() -> None:
    assert fields.check_optional_text("") == ""
    assert _refusal(fields.check_optional_text, "a b") == UNSAFE + "'a b'"
    eighty = "a b" + "c" * 77
    assert _refusal(fields.check_optional_text, eighty) == UNSAFE + repr(eighty)
    assert _refusal(fields.check_optional_text, eighty + "d") == UNSAFE + repr(eighty + "...")


def test_email_addresses() -> None:
    longest = "a" * 64 + "@" + "b" * 185 + ".org"  # 254 characters (RFC 5321's path limit)
    for good in ("Alice.Smith@Example.ORG", "a+b@c.io", longest):
        assert fields.check_email(good) == good
    assert _refusal(fields.check_email, "nope") == "expected an e-mail address; got 'nope'"
    assert _refusal(fields.check_email, "a" + longest) == (
        f"expected an e-mail address; got {('a' + longest)[:80] + '...'!r}"
    )


def test_urls_given_as_text() -> None:
    for good in ("https://example.org/r.git", "ssh://git@example.org/r", "git+ssh://git@h/r"):
        assert fields.check_url_text(good) == good
    assert _refusal(fields.check_url_text, "http://[::1/x") == "expected a URL; got 'http://[::1/x'"
    assert _refusal(fields.check_url_text, "example.org/r") == (
        "expected a URL with a scheme (https://...); got 'example.org/r'"
    )
    assert _refusal(fields.check_url_text, "https://u:p@example.org/r") == (
        "must not carry a user or password (https://***@example.org/r): give credentials "
        "as secret references in their own fields"
    )
