"""The one secret-file reader (oscar_iac.dcache.listener.secretfile) on real files: each
refusal says which file and why, in the exact words a user reads; sizes are bounded to the
byte; URLs are printed without userinfo; a credential's origin is (scheme, host, port)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from oscar_iac.dcache.listener.secretfile import (
    SecretFileError,
    origin,
    read_secret_bytes,
    read_secret_text,
    redact_url,
)

HINT = "expected a file inside it (or list its folder in OSCAR_IAC_SECRET_DIRS)"


def _refusal(given: str, **kw: object) -> str:
    with pytest.raises(SecretFileError) as err:
        read_secret_text(given, **kw)  # type: ignore[arg-type]
    return str(err.value)


def test_a_file_outside_the_allowed_folders_is_refused_naming_both(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    outside = tmp_path / "pw"
    outside.write_text("x")
    assert _refusal(str(outside), allowed=[str(site)]) == (
        f"secret file {outside} is {outside}, outside the site folder {site}; {HINT}"
    )
    assert _refusal(str(outside), allowed=[], what="dCache token") == (
        f"dCache token {outside} is {outside}, outside the site folder ; {HINT}"
    )
    # The allowed folder named through a symlink is compared by its real path.
    link = tmp_path / "site-link"
    link.symlink_to(site)
    (site / "pw").write_text(" s3cret\n")
    assert read_secret_text(str(link / "pw"), allowed=[str(link)]) == "s3cret"


def test_folder_names_are_matched_whole(tmp_path: Path) -> None:
    # "secretsX" is not "secrets" + anything; "/" allows every folder but the NEVER ones.
    folder = tmp_path / "secretsX"
    folder.mkdir()
    (folder / "pw").write_text("in")
    assert read_secret_text(str(folder / "pw"), allowed=[str(folder)]) == "in"
    assert read_secret_text(str(folder / "pw"), allowed=["/"]) == "in"
    sibling = tmp_path / "secretsXY"
    sibling.mkdir()
    (sibling / "pw").write_text("no")
    assert "outside the site folder" in _refusal(str(sibling / "pw"), allowed=[str(folder)])


@pytest.mark.parametrize("never", ["/proc", "/dev"])
def test_proc_and_dev_are_never_read(never: str) -> None:
    given = f"{never}/self/status" if never == "/proc" else "/dev/zero"
    assert _refusal(given, allowed=None, what="token") == (
        f"token {given} is under {never}/: never read"
    )


def test_missing_unresolvable_and_unopenable_files_say_so(tmp_path: Path) -> None:
    assert _refusal(str(tmp_path / "nope"), allowed=None) == (
        f"secret file {tmp_path / 'nope'} does not exist"
    )
    assert _refusal("a\0b", allowed=None) == "secret file a\0b cannot be resolved"
    # A UNIX socket exists but cannot be opened (ENXIO, errno 6; not ELOOP, errno 40).
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        assert _refusal(str(path), allowed=[str(tmp_path)]) == (
            f"secret file {path} cannot be opened: {os.strerror(6)}"
        )
    os.mkfifo(tmp_path / "fifo")
    assert _refusal(str(tmp_path / "fifo"), allowed=None) == (
        f"secret file {tmp_path / 'fifo'} is not a regular file"
    )


def test_size_is_bounded_to_the_byte(tmp_path: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(b"k" * 10)
    assert read_secret_bytes(str(exact), allowed=None, max_bytes=10) == b"k" * 10
    assert read_secret_text(str(exact), allowed=None, max_bytes=10) == "k" * 10
    over = tmp_path / "over"
    over.write_bytes(b"k" * 11)
    assert _refusal(str(over), allowed=None, max_bytes=10) == (
        f"secret file {over} is 11 bytes; a secret file is at most 10"
    )
    # The default bound is 64 KiB.
    big = tmp_path / "big"
    big.write_bytes(b"k" * (64 * 1024 + 1))
    assert _refusal(str(big), allowed=None) == (
        f"secret file {big} is 65537 bytes; a secret file is at most 65536"
    )
    big.write_bytes(b"k" * (64 * 1024))
    assert len(read_secret_bytes(str(big), allowed=None)) == 64 * 1024


def test_text_must_be_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1"
    bad.write_bytes("contraseña".encode("latin-1"))
    assert _refusal(str(bad), allowed=None, what="password file") == (
        f"password file {bad} is not UTF-8 text"
    )
    good = tmp_path / "utf8"
    good.write_bytes("\n contraseña \n".encode())
    assert read_secret_text(str(good), allowed=None) == "contraseña"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:pw@dcache.example.org:2880/a?b#c",
            "https://***@dcache.example.org:2880/a?b#c",
        ),
        # Userinfo may itself hold '@' (RFC 3986 forbids it, clients send it): all of it goes.
        ("https://a@b:p@w@host/x", "https://***@host/x"),
        ("https://host/x", "https://host/x"),
        ("http://[::1/x", "<unparsable URL>"),
    ],
)
def test_urls_are_printed_without_userinfo(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("https://DCache.Example.org/api", ("https", "dcache.example.org", 443)),
        ("http://Host", ("http", "host", 80)),
        ("https://host:2880/", ("https", "host", 2880)),
        ("ftp://host/", ("ftp", "host", 0)),
        ("file:///etc/x", ("file", "", 0)),
    ],
)
def test_a_credential_is_bound_to_scheme_host_and_port(
    url: str, want: tuple[str, str, int]
) -> None:
    assert origin(url) == want


def test_the_bytes_reader_names_a_secret_file_by_default(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError) as err:
        read_secret_bytes(str(tmp_path / "nope"), allowed=None)
    assert str(err.value) == f"secret file {tmp_path / 'nope'} does not exist"
