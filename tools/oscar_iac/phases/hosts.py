"""Infrastructure for the hosts target: ansible-playbook with the rendered inventory.

The inventory (written to the site's state folder; site values in it are `!unsafe` data,
and it names each secret by an environment variable, never a value or a path) is the one
`oscar-iac render` writes as hosts.yml; `up` resolves each secret once through the one
secret resolver and hands the values to ansible-playbook in its environment; the playbook is
playbooks/site.yml, the same roles IM runs on cloud VMs. Progress is compact: the
current play/task on one line, the recap at the end, the tail of the output on failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.paths import data_path
from oscar_iac.render.ansible_vars import (
    SECRET_ENV_PREFIX,
    dump_inventory,
    relay_secret_refs,
    secret_env,
)
from oscar_iac.render.context import secret_refs
from oscar_iac.secrets import SecretError, SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.state import site_state_dir
from oscar_iac.state.files import write_private


def find_ansible_playbook() -> str | None:
    """The `ansible-playbook` installed beside the running interpreter (the virtualenv's
    bin, so `.venv/bin/oscar-iac` works without activating), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ansible-playbook")


def playbook_secrets(loaded: LoadedSite) -> dict[str, str]:
    """Every secret the hosts inventory names, resolved once (env:, file: and vault:
    through the one resolver; `generate` kept 0600 in the state folder), as the
    environment variables the inventory's lookups read."""
    site = loaded.site
    resolver = SecretResolver(loaded.directory, site_state_dir(site.name))
    out: dict[str, str] = {}
    for name, ref in {**secret_refs(site), **relay_secret_refs(site)}.items():
        try:
            out[secret_env(name)] = resolver.resolve(ref, name)
        except SecretError as exc:
            raise UserError(
                Problem(loaded.path, name, f"unresolvable secret reference {ref!r}: {exc}")
            ) from exc
    return out


def run_site_playbook(loaded: LoadedSite, progress: Callable[[str], None]) -> str:
    """Run playbooks/site.yml on the site's hosts; return the recap line(s)."""
    from oscar_iac.render import render_site

    exe = find_ansible_playbook()
    if exe is None:
        raise DeploymentError(
            f"ansible-playbook is not installed beside {sys.executable} nor on PATH "
            "(the hosts target runs it)",
            hints=[
                f"{Path(sys.executable).parent / 'pip'} install 'oscar-iac[hosts]'   "
                "(Ansible with its bundled collections, about 290 MB)"
            ],
        )
    rendered = render_site(loaded, translate=False)
    secrets = playbook_secrets(loaded)
    inventory = site_state_dir(loaded.site.name) / "hosts.yml"
    write_private(inventory, dump_inventory(rendered.inventory))
    playbook = Path(data_path("playbooks")) / "site.yml"
    root = playbook.parent.parent
    env = {**os.environ, **secrets, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    if (root / "roles").is_dir():
        env.setdefault("ANSIBLE_ROLES_PATH", str(root / "roles"))
    proc = subprocess.Popen(
        [exe, "-i", str(inventory), str(playbook)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=root,
    )
    tail: deque[str] = deque(maxlen=30)
    recap: list[str] = []
    in_recap = False
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip()
        tail.append(line)
        if line.startswith(("PLAY [", "TASK [")):
            progress(line.split(" *", 1)[0])
        elif line.startswith("PLAY RECAP"):
            in_recap = True
        elif in_recap and line.strip():
            recap.append(" ".join(line.split()))
    code = proc.wait()
    if code != 0:
        raise DeploymentError(
            f"ansible-playbook ended with code {code}. Last lines:\n" + "\n".join(tail),
            hints=[
                f"ansible-playbook -i {inventory} {playbook}  (to see the whole run; export "
                f"the {SECRET_ENV_PREFIX}* variables it names first)",
                f"oscar-iac up {loaded.directory} --only infrastructure",
            ],
        )
    return "; ".join(recap)
