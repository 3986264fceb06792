"""Which site file a state folder belongs to: `owner.json`.

The state folder is named after the site's `name:`, and it belongs to ONE site file:
`owner.json` records the resolved path of the site.yml that first used it. A copied
folder that keeps `name: local` would otherwise see (and `down` would destroy) the
original's infrastructure; `claim()` refuses that with a message saying what to do.
An `owner.json` that cannot be read or is not this tool's is exit 2 naming it: it
never counts as "no owner".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from oscar_iac.errors import Problem, UserError
from oscar_iac.state.deployment import load, now, save
from oscar_iac.state.files import read_private, write_private
from oscar_iac.state.folder import site_state_dir

OWNER_FILE = "owner.json"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class SiteFile(Protocol):
    """What `claim` needs of a loaded site (oscar_iac.site.load.LoadedSite)."""

    @property
    def path(self) -> Path: ...

    @property
    def site(self) -> _Named: ...

    def line(self, keys: tuple[str | int, ...]) -> int | None: ...


def recorded_owner(folder: Path) -> str | None:
    """The site file recorded in `folder`'s owner.json; None when there is none."""
    path = folder / OWNER_FILE
    raw = read_private(path)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("site_file"), str):
            raise TypeError("no 'site_file' text field")
        return str(data["site_file"])
    except (ValueError, TypeError, RecursionError) as exc:
        raise UserError(
            Problem(
                path,
                "",
                f"is not an owner record this tool can read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); it names the site file this state folder belongs to: "
                "restore it, or move the folder aside if it is not yours",
            )
        ) from exc


def claim(loaded: SiteFile, create: bool = True) -> Path:
    """Tie the site's state folder to this site file; refuse another file's folder.

    A folder first used by another site.yml that still exists belongs to that site:
    exit 2 naming both files. A folder whose recorded site.yml no longer exists is
    taken over (the site was moved or renamed on disk), and the move is noted.
    With `create=False` (read-only commands) a missing folder is not made and nothing
    is written for it; an existing folder still gets its owner recorded (first use,
    or a moved site file), since that record is what keeps copies apart.
    """
    name = loaded.site.name
    folder = site_state_dir(name, create=create)
    if not create and not folder.exists():
        return folder
    mine = str(loaded.path.resolve())
    recorded = recorded_owner(folder)
    if recorded == mine:
        return folder
    if recorded is not None and Path(recorded).is_file():
        raise UserError(
            Problem(
                loaded.path,
                "name",
                f"the state of site '{name}' ({folder}) belongs to {recorded}, "
                "another site file with the same name. Give this site its own `name:` "
                "(a copied folder keeps the original's name), or set OSCAR_IAC_STATE to "
                "another state root",
                loaded.line(("name",)),
            )
        )
    write_private(folder / OWNER_FILE, json.dumps({"site_file": mine, "since": now()}, indent=2))
    if recorded is not None:
        dep = load(name)
        if dep is not None:
            dep.note(f"site file moved: {recorded} -> {mine}")
            save(dep)
    return folder
