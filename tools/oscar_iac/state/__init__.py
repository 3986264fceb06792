"""The site's state: the floor every command stands on.

One folder per site under the state root holds what commands did there: the deployment
record (infrastructure, phases of `up`, outputs), the site file that owns the folder, the
lock of the command changing the site, and what other rooms keep there (secrets, the IM).

    folder      where the state lives; refuses a root or folder another user could change
    files       private reads and atomic writes (0600, fsync, rename, no symlink followed)
    deployment  the deployment record: load (shape checked), save, record a phase
    owner       which site file a folder belongs to (`claim`)
    lock        one command that changes a site at a time (`lock`)
"""

from oscar_iac.state.deployment import (
    Deployment,
    PhaseRecord,
    load,
    now,
    record_phase,
    save,
    state_path,
)
from oscar_iac.state.folder import site_state_dir, state_root
from oscar_iac.state.lock import lock
from oscar_iac.state.owner import claim

__all__ = [
    "Deployment",
    "PhaseRecord",
    "claim",
    "load",
    "lock",
    "now",
    "record_phase",
    "save",
    "site_state_dir",
    "state_path",
    "state_root",
]
