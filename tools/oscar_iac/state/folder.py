"""Where the state lives, and the checks that keep it the user's own.

The state root is `OSCAR_IAC_STATE` when set, else `.oscar-iac/` in a checkout, else
`~/.local/state/oscar-iac`. Folders are made 0700 whatever the umask (each missing
level, not only the last), and a root or site folder that another user owns, or that
group or others may write, is refused: whoever can write there could plant the IM
password the next `up` sends, or a symlink a write would follow.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from oscar_iac.errors import Problem, UserError
from oscar_iac.paths import project_root

ENV = "OSCAR_IAC_STATE"
PATH_MAX = 4096  # Linux PATH_MAX (limits.h); NAME_MAX below is one component's limit
NAME_MAX = 255
# Kernel pseudo-filesystems: nothing of ours can be kept there.
PSEUDO = (Path("/proc"), Path("/sys"), Path("/dev"))


def _refuse(where: str, message: str) -> UserError:
    return UserError(Problem(where, "", message))


def state_root() -> Path:
    """The state root (not created here; see `site_state_dir`)."""
    env = os.environ.get(ENV)
    if not env:
        root = project_root()
        return (root / ".oscar-iac") if root else Path.home() / ".local" / "state" / "oscar-iac"
    where = f"{ENV}={env[:80]}{'...' if len(env) > 80 else ''}"
    # PATH_MAX counts the terminating NUL: a path of PATH_MAX bytes is already too long
    # (the kernel answers ENAMETOOLONG, which Path.exists raises instead of returning).
    if "\0" in env or len(os.fsencode(env)) >= PATH_MAX:
        raise _refuse(where, f"is not a usable folder path ({PATH_MAX} bytes or longer)")
    if any(len(os.fsencode(part)) > NAME_MAX for part in Path(env).parts):
        raise _refuse(where, f"has a path component longer than {NAME_MAX} bytes")
    path = Path(os.path.realpath(env))
    if any(path == p or p in path.parents for p in PSEUDO):
        raise _refuse(where, "is inside a kernel pseudo-filesystem; name a folder of your own")
    if path.exists() and not path.is_dir():
        raise _refuse(where, "is not a folder; name a folder (it is created when missing)")
    return path


def check_private(path: Path) -> None:
    """Refuse a state folder that is a symlink, not a folder, another user's, or
    writable by group or others (exit 2, naming it and what to do)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise _refuse(str(path), f"cannot be read ({exc.strerror})") from exc
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise _refuse(str(path), "is not a folder (a state folder is never a symlink or a file)")
    if st.st_uid != os.getuid():
        raise _refuse(
            str(path),
            f"belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); a state folder "
            f"must be your own: set {ENV} to a folder of yours",
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _refuse(
            str(path),
            f"can be written by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod go-w {path}",
        )


def _make(path: Path) -> None:
    """mkdir -p with 0700 on every level it creates, whatever the umask."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    for level in reversed(missing):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            continue  # made meanwhile by another command: checked by the caller
        except OSError as exc:
            raise _refuse(str(level), f"cannot be created ({exc.strerror})") from exc
        os.chmod(level, 0o700)


def site_state_dir(site_name: str, create: bool = True) -> Path:
    """The site's state folder, checked (and made 0700 when missing and `create`).

    With `create=False` (read-only commands) nothing is made: the path is returned
    as it would be, checked only when it exists."""
    if not site_name or "/" in site_name or site_name in (".", ".."):
        raise _refuse(site_name or "''", "is not a site name a state folder can have")
    root = state_root()
    path = root / site_name
    for folder in (root, path):  # before anything is made in them
        if os.path.lexists(folder):
            check_private(folder)
    if create and not os.path.lexists(path):
        _make(path)
        check_private(path)
    return path
