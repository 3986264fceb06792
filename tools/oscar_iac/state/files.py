"""Private reads and atomic writes of the files in a state folder.

A write goes to a temporary file made in the folder (opened through the folder's own
descriptor, O_EXCL|O_NOFOLLOW, mode 0600 set explicitly), is fsynced, then renamed
over the target (a rename replaces a symlink there, never follows it) and the folder
is fsynced: a reader sees the old file or the new one, never half of one. A write
that fails (a full disk, a read-only folder) leaves the old file as it was and ends
in one line naming the file. A read opens the file once, never through a symlink,
and only when it is a regular file of bounded size.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from oscar_iac.errors import DeploymentError, Problem, UserError

MAX_STATE_BYTES = 16 * 1024 * 1024  # far above any state file this tool writes


def write_error(path: Path, exc: OSError) -> DeploymentError | UserError:
    """One line naming the file: exit 2 for a folder the user must fix (read-only,
    not writable), exit 1 for the machine (a full disk, an I/O error)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ELOOP, errno.ENOTDIR):
        return UserError(Problem(path, "", f"cannot be written ({reason}); nothing was changed"))
    return DeploymentError(
        f"{path}: cannot be written ({reason}); the previous version is kept",
        hints=["free some space (or fix the disk), then re-run the same command"],
    )


def write_private(path: Path, text: str | bytes) -> None:
    """Replace `path` atomically with `text` (mode 0600; see the module doc)."""
    data = text.encode() if isinstance(text, str) else text
    tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd
        )
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise write_error(path, exc) from exc
    finally:
        os.close(dir_fd)


def read_private(path: Path, limit: int = MAX_STATE_BYTES) -> bytes | None:
    """The bytes of a state file; None when it does not exist. A symlink, a file that
    is not regular, too large or unreadable is exit 2 naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = "is a symlink" if exc.errno == errno.ELOOP else f"cannot be read ({exc.strerror})"
        raise UserError(Problem(path, "", f"{why}; a state file must be a regular file")) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(Problem(path, "", "is not a regular file"))
        if info.st_size > limit:
            raise UserError(Problem(path, "", f"is larger than {limit} bytes"))
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 16):
            total += len(chunk)
            if total > limit:
                raise UserError(Problem(path, "", f"is larger than {limit} bytes"))
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise UserError(Problem(path, "", f"cannot be read ({exc.strerror})")) from exc
    finally:
        os.close(fd)
