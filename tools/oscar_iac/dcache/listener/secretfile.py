"""Read one secret file safely: the one way every secret file is read (standard library
only, Python 3.9+), and the one way a URL is printed (without its userinfo).

It lives in the listener package because that folder is copied alone to relay hosts and
into NiFi; `oscar_iac.secretfile` re-exports it for `oscar_iac.secrets` (site
references) and the EGI token chain. Every secret file is read here:

- the path is resolved once and must lie inside one of the allowed folders, and never
  under /proc, /sys or /dev;
- that resolved path is opened once, with O_NOFOLLOW (a symlink swapped in after the
  check is refused, ELOOP) and O_NONBLOCK (a FIFO cannot hang the open);
- the opened descriptor is checked: a regular file (fstat), of bounded size, and its
  own path (/proc/self/fd/N, the file actually opened) inside the allowed folders again,
  so a parent folder swapped for a symlink in between is caught too;
- the content is read from that descriptor, at most `max_bytes` + 1 bytes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

# A token, a password or an SSH private key: 64 KiB is far more than any of them.
MAX_SECRET_BYTES = 64 * 1024
NEVER = ("/proc", "/sys", "/dev")


class SecretFileError(ValueError):
    """A secret file that may not or cannot be read; the message says why."""


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _where(path: str, allowed: Sequence[str] | None, what: str, given: str) -> None:
    for bad in NEVER:
        if _inside(path, bad):
            raise SecretFileError(f"{what} {given} is under {bad}/: never read")
    if allowed is not None and not any(_inside(path, a) for a in allowed):
        raise SecretFileError(
            f"{what} {given} is {path}, outside the site folder {allowed[0] if allowed else ''}; "
            "expected a file inside it (or list its folder in OSCAR_IAC_SECRET_DIRS)"
        )


def read_secret_bytes(
    given: str,
    *,
    allowed: Sequence[str] | None,
    max_bytes: int = MAX_SECRET_BYTES,
    what: str = "secret file",
) -> bytes:
    """The bytes of the regular file `given` (see module doc). `allowed`: real paths of
    the folders it may lie in (None: anywhere but /proc, /sys and /dev)."""
    real_allowed = None if allowed is None else [os.path.realpath(a) for a in allowed]
    try:
        real = os.path.realpath(given)
        exists = os.path.exists(real)
    except (OSError, ValueError) as exc:
        raise SecretFileError(f"{what} {given} cannot be resolved") from exc
    if not exists:
        raise SecretFileError(f"{what} {given} does not exist")
    _where(real, real_allowed, what, given)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        reason = "it was replaced by a symlink" if exc.errno == 40 else exc.strerror
        raise SecretFileError(f"{what} {given} cannot be opened: {reason}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretFileError(f"{what} {given} is not a regular file")
        if st.st_size > max_bytes:
            raise SecretFileError(
                f"{what} {given} is {st.st_size} bytes; a secret file is at most {max_bytes}"
            )
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            opened = real  # no /proc: the O_NOFOLLOW open of the checked path stands
        _where(opened, real_allowed, what, given)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise SecretFileError(f"{what} {given} is larger than {max_bytes} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise SecretFileError(f"{what} {given} cannot be read: {exc.strerror}") from exc
    finally:
        os.close(fd)


def read_secret_text(
    given: str,
    *,
    allowed: Sequence[str] | None,
    max_bytes: int = MAX_SECRET_BYTES,
    what: str = "secret file",
) -> str:
    """Like read_secret_bytes, as UTF-8 text without surrounding whitespace."""
    data = read_secret_bytes(given, allowed=allowed, max_bytes=max_bytes, what=what)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise SecretFileError(f"{what} {given} is not UTF-8 text") from exc


def redact_url(url: str) -> str:
    """The URL without its userinfo (user:password@): safe to print or log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port made explicit: what a credential is bound to."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    return (parts.scheme, (parts.hostname or "").lower(), port)
