"""One command that changes a site at a time: `site.lock` in its state folder.

`with lock(site):` holds an exclusive `flock(2)` on the lock file for the whole
command (up, down, scale, reconfigure, models apply/remove, events apply/remove).
A second one does not wait: it ends at once with exit 2 naming the holder's pid,
so two `up` never create two infrastructures. The kernel drops the lock when the
holder's process ends, however it ends (no stale lock to clean). The lock is
re-entrant within one process: `up` takes it, and the phases it runs take it again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

from oscar_iac.errors import Problem, UserError
from oscar_iac.state.files import write_error
from oscar_iac.state.folder import site_state_dir

LOCK_FILE = "site.lock"

_held: dict[str, tuple[int, int]] = {}  # lock file path -> (fd, depth) in this process


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii").strip()
        if text.isdigit():
            return f"pid {text}"
    return "pid unknown"


@contextlib.contextmanager
def lock(site: str) -> Iterator[None]:
    """Hold the site's lock; exit 2 at once when another command holds it."""
    path = site_state_dir(site) / LOCK_FILE
    key = str(path)
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise write_error(path, exc) from exc
            raise UserError(
                Problem(
                    path,
                    "",
                    f"another oscar-iac command ({_holder(fd)}) holds the lock on {site}; "
                    "wait for it to end, then run this command again",
                )
            ) from None
        os.fchmod(fd, 0o600)
        with contextlib.suppress(OSError):  # the pid is a courtesy for the message
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = (fd, 1)
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the flock
