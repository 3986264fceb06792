"""Cluster secrets a site asks to `generate` on the IM path: made on the front node, never
given to IM, and fetched over SSH for the user.

IM keeps every infrastructure's TOSCA document, inputs included, in its database and
returns it from `GET /infrastructures/<id>/tosca`; a remote IM is someone else's server.
So `up` leaves the secret inputs of `generate` references empty. The configure step on
the front (playbooks/tasks/secrets.yml) then creates each missing secret with Ansible's
password lookup, which runs on IM's contextualization master, the front VM: files under
`~/.oscar-iac/secrets/` of the login user (0600 in a 0700 folder; Ansible's
lookup/password.py writes them so). Worker steps run from the same master and read the
same files. After `configured`, `up` logs into the front with the credentials IM reports
for it (`GET /infrastructures/<id>/vms/<vm>`, as IM's own SSH does) and copies the secrets
the user needs into the site's state folder (secrets/<name>, 0600), where every other
command already looks for them. The k3s token stays on the front.

The front's host key is trusted on first use and kept in the state folder
(`known_hosts`); a changed key is refused.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oscar_iac.errors import DeploymentError

# What the user needs from the cluster (the k3s join token is the cluster's own).
FETCHED = ("oscar_password", "minio_secret_key", "nifi_password")
REMOTE_DIR = ".oscar-iac/secrets"  # relative to the login user's home on the front


@dataclass(frozen=True)
class Login:
    """How to reach the front over SSH (from IM's VM information)."""

    host: str
    user: str
    port: int = 22
    private_key: str = field(default="", repr=False)
    password: str = field(default="", repr=False)


def login_from_radl(systems: list[dict[str, Any]], host: str, node: str = "front") -> Login:
    """The login of system `node` in IM's JSON RADL (`radlToSimple`) of one VM."""
    for system in systems:
        if system.get("class") == "system" and system.get("id") == node:
            user = str(system.get("disk.0.os.credentials.username") or "")
            key = str(system.get("disk.0.os.credentials.private_key") or "")
            password = str(system.get("disk.0.os.credentials.password") or "")
            if user and (key or password):
                port = int(system.get("net_interface.0.additional_ip_ssh_port") or 22)
                return Login(host, user, port, key, password)
    raise DeploymentError(
        f"IM reports no SSH credentials for the '{node}' VM: cannot fetch the generated secrets"
    )


def _pkey(text: str) -> Any:
    import paramiko

    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue  # another key type
    raise DeploymentError("the private key IM reports for the front cannot be read")


def fetch(
    login: Login, names: list[str], known_hosts: Path, timeout: float = 30.0
) -> dict[str, str]:
    """Read `~/.oscar-iac/secrets/<name>` for each name on the front, over SSH."""
    import paramiko

    client = paramiko.SSHClient()
    known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not known_hosts.exists():
        known_hosts.touch(mode=0o600)
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # first use: recorded
    try:
        client.connect(
            login.host,
            port=login.port,
            username=login.user,
            pkey=_pkey(login.private_key) if login.private_key else None,
            password=login.password or None,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            look_for_keys=False,
            allow_agent=False,
        )
        values: dict[str, str] = {}
        sftp = client.open_sftp()
        try:
            for name in names:
                try:
                    with sftp.open(f"{REMOTE_DIR}/{name}") as fh:
                        values[name] = fh.read().decode().strip()
                except FileNotFoundError:
                    continue  # that component is off (e.g. NiFi)
        finally:
            sftp.close()
        return values
    except paramiko.BadHostKeyException as exc:
        raise DeploymentError(
            f"the front {login.host} presented a different SSH host key than recorded in "
            f"{known_hosts}: refusing to send credentials to it",
            hints=[f"if the front was replaced on purpose: remove its line from {known_hosts}"],
        ) from exc
    except (paramiko.SSHException, OSError) as exc:
        raise DeploymentError(
            f"cannot fetch the generated secrets from the front {login.user}@{login.host}:"
            f"{login.port} over SSH: {exc}",
            hints=["oscar-iac up SITE   # fetches them again"],
        ) from exc
    finally:
        client.close()


def store(state_dir: Path, values: dict[str, str]) -> list[Path]:
    """Write each value to `<state>/secrets/<name>` (0600, atomically, replacing)."""
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for name, value in values.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=folder)
        try:
            os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(folder / name)
    return written
