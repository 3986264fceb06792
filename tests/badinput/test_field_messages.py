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


def test_words() -> None:
    assert fields.check_word("a" * 253) == "a" * 253
    assert _refusal(fields.check_word, "") == "expected 1-253 characters; got 0"
    assert _refusal(fields.check_word, "a" * 254) == "expected 1-253 characters; got 254"
    assert _refusal(fields.check_word, "-rf") == "must not start with '-'; got '-rf'"
    for bad in ("a b", "a'b", "a;b", "a$b", "a{b", "a\x85b", "a\u2028b"):
        assert _refusal(fields.check_word, bad) == (
            "expected a single word without spaces, quotes, ';', '$', braces or control "
            f"characters; got {bad!r}"
        )


def test_free_text() -> None:
    assert fields.check_text("A lab cluster; shared (2 GPUs).") == "A lab cluster; shared (2 GPUs)."
    assert fields.check_text("x" * 1000) == "x" * 1000  # TEXT_MAX characters
    assert _refusal(fields.check_text, "x" * (fields.TEXT_MAX + 1)) == (
        f"expected at most {fields.TEXT_MAX} characters; got {fields.TEXT_MAX + 1}"
    )
    assert _refusal(fields.check_text, "one\ntwo") == (
        "expected one line without control characters; got 'one\\ntwo'"
    )
    for marker in ("{{ x }}", "{% if %}", "{# c #}"):
        assert _refusal(fields.check_text, f"a {marker}") == (
            f"must not hold template markers ('{{{{', '{{%'); got {'a ' + marker!r}"
        )


def test_dns_names() -> None:
    label = "expected a DNS label: lowercase letters, digits and '-', 1-63 characters, "
    assert fields.check_dns_label("a" * 63) == "a" * 63
    assert _refusal(fields.check_dns_label, "Oscar") == (
        label + "starting and ending with a letter or digit; got 'Oscar'"
    )
    assert fields.check_dns_domain("lab.example.org") == "lab.example.org"
    assert _refusal(fields.check_dns_domain, "example") == (
        "expected a DNS domain with at least two labels (e.g. 'example.org'); got 'example'"
    )
    assert _refusal(fields.check_dns_domain, "a..org") == (
        "expected a DNS domain of labels made of lowercase letters, digits and '-'; "
        "label '' of 'a..org' is not one"
    )
    too_long = ".".join(["a" * 63] * 3 + ["b" * 62])  # 254 characters, each label fine
    assert _refusal(fields.check_dns_domain, too_long) == (
        "a DNS name is at most 253 characters; got 254"
    )
    long = ".".join(["a" * 63] * 4)  # 255 characters
    assert _refusal(fields.check_dns_domain, long) == (
        "a DNS name is at most 253 characters; got 255"
    )


HOST = (
    "expected an IP address or a DNS host name (letters, digits, '-' and '.', "
    "no leading '-', no spaces, quotes or ';'); got "
)


def test_hosts_and_users() -> None:
    for good in ("192.0.2.1", "2001:db8::1", "Node-1.Example.org", "node.example.org.", "a"):
        assert fields.check_host(good) == good
    for bad in ("", ".", "-node", "node..org", "10.0.0.999", "a b", "a" * 254):
        assert _refusal(fields.check_host, bad) == HOST + repr(
            bad[:80] + ("..." if len(bad) > 80 else "")
        )
    assert fields.check_host("a" * 63 + "." + "b" * 63 + ".") == "a" * 63 + "." + "b" * 63 + "."
    # A DNS name is at most 253 characters (RFC 1035), its root's '.' aside.
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(longest) == 253 and fields.check_host(longest + ".") == longest + "."
    assert _refusal(fields.check_host, longest + "b") == HOST + repr(longest[:80] + "...")
    assert fields.check_host("h.a.") == "h.a."
    assert _refusal(fields.check_host, "a..b.") == HOST + "'a..b.'"
    for good in ("debian", "_svc", "a" * 32, "u.s-e_r1"):
        assert fields.check_user(good) == good
    for bad in ("Root", "1user", "a" * 33, "-u"):
        assert _refusal(fields.check_user, bad) == (
            "expected a POSIX user name: lowercase letters, digits, '_', '.' and '-', "
            f"1-32 characters, starting with a letter or '_'; got {bad!r}"
        )


def test_http_urls_carry_no_userinfo() -> None:
    from pydantic import AnyHttpUrl

    url = AnyHttpUrl("https://example.org/x")
    assert fields.check_no_userinfo(url) is url
    for bad in ("https://user@example.org/x", "https://:pw@example.org/x"):
        assert _refusal(fields.check_no_userinfo, AnyHttpUrl(bad)) == (
            "must not carry a user or password (https://***@example.org/x): give credentials "
            "as secret references in their own fields"
        )


def test_paths() -> None:
    assert fields.check_path("p" * 4096) == "p" * 4096
    assert _refusal(fields.check_path, "") == "expected a path of 1-4096 characters; got 0"
    assert (
        _refusal(fields.check_path, "p" * 4097) == "expected a path of 1-4096 characters; got 4097"
    )
    assert _refusal(fields.check_path, "-x") == "a path must not start with '-'; got '-x'"
    for bad in ("a\tb", "{{ x }}"):
        assert _refusal(fields.check_path, bad) == (
            f"expected a path without control characters or template markers; got {bad!r}"
        )


def test_sizes_in_every_unit_between_1_mib_and_1_pib() -> None:
    for text, size in [
        ("1 MiB", 2**20), ("1024 KiB", 2**20), ("1048576 B", 2**20), ("2 MB", 2 * 10**6),
        ("1.5 GiB", 3 * 2**29), (" 3 GB ", 3 * 10**9), ("1 TB", 10**12), ("1024 TiB", 2**50),
    ]:  # fmt: skip
        assert fields.size_to_bytes(text) == size
        assert fields.check_size(text) == text
    assert _refusal(fields.size_to_bytes, "9" * 81) == (
        f"expected a size such as '8 GiB' or '512 MiB', got {'9' * 80!r}"
    )
    assert _refusal(fields.size_to_bytes, "8 gb") == (
        "expected a size such as '8 GiB' or '512 MiB', got '8 gb'"
    )
    for small_or_huge in ("1000 KB", "1025 TiB"):
        assert _refusal(fields.check_size, small_or_huge) == (
            f"expected a size between 1 MiB and 1 PiB such as '8 GiB', got {small_or_huge!r}"
        )
