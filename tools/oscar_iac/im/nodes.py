"""The `nodes` cloud over SSH: reachability before `up`, IM's leftovers after `down`.

IM's DeployedNode connector destroys nothing, and IM's DELETE removes only its own
record: the folder IM's contextualization wrote on the machines,
`/var/tmp/.im/<infrastructure id>/` (IM/config.py REMOTE_CONF_DIR), stays, with the
login user's private key in files other users can read. `clean_leftovers` removes it.
Keys are loaded in memory (paramiko): never on a command line or in a file of ours.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import paramiko

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.render.context import nodes_cloud
from oscar_iac.secrets import SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.state import site_state_dir

REMOTE_CONF_DIR = "/var/tmp/.im"
CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Login:
    name: str
    address: str
    user: str
    key: str  # the private key's text (in memory only)
    port: int = 22


PLACEHOLDER = "PLACEHOLDER, NOT A KEY"  # inventories/nodes-example/ssh-key.REPLACE-ME


def _pkey(text: str) -> paramiko.PKey:
    if text.startswith(PLACEHOLDER):
        raise DeploymentError(
            "the SSH key is the sample's placeholder (ssh-key.REPLACE-ME), not a key: point "
            "target.cloud.key at your private key (e.g. file:~/.ssh/id_ed25519 with "
            "OSCAR_IAC_SECRET_DIRS=~/.ssh) or put the key in that file"
        )
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise DeploymentError("the SSH key is not an unencrypted Ed25519, ECDSA or RSA private key")


def _client(login: Login) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    # A key the user's known_hosts holds must match (else BadHostKeyException); an
    # unknown machine is accepted as IM itself does (conf-ansible.yml: host_key_checking
    # = False), without writing anything.
    client.load_system_host_keys()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        login.address,
        port=login.port,
        username=login.user,
        pkey=_pkey(login.key),
        timeout=CONNECT_TIMEOUT,
        banner_timeout=CONNECT_TIMEOUT,
        auth_timeout=CONNECT_TIMEOUT,
        allow_agent=False,
        look_for_keys=False,
    )
    return client


def check_reachable(logins: list[Login]) -> None:
    """Fail with one clear message naming every machine IM could not log in to."""
    problems = []
    for login in logins:
        try:
            _client(login).close()
        except OSError as exc:
            # paramiko's NoValidConnectionsError keeps each address' own error.
            errs = getattr(exc, "errors", None) or {}
            reasons = {e.strerror or str(e) for e in errs.values() if isinstance(e, OSError)}
            reason = ", ".join(sorted(reasons)) or exc.strerror or str(exc) or type(exc).__name__
            problems.append(
                f"machine '{login.name}' ({login.user}@{login.address}:{login.port}): "
                f"SSH connection failed: {reason}"
            )
        except paramiko.AuthenticationException:
            problems.append(
                f"machine '{login.name}' ({login.user}@{login.address}:{login.port}): "
                "SSH login refused for this user and key"
            )
        except paramiko.SSHException as exc:
            problems.append(
                f"machine '{login.name}' ({login.user}@{login.address}:{login.port}): SSH: {exc}"
            )
    if problems:
        raise DeploymentError(
            "cannot log in to these machines over SSH (IM could not either):\n  "
            + "\n  ".join(problems),
            hints=[
                "check that sshd runs there and that the site's user and key log in",
                "then run the same command again",
            ],
        )


_SAFE_ID = re.compile(r"^[A-Za-z0-9-]+$")


def _run(client: paramiko.SSHClient, command: str, stdin: str = "") -> tuple[int, str]:
    chan_in, out, err = client.exec_command(command)
    if stdin:
        chan_in.write(stdin)
    chan_in.channel.shutdown_write()
    status = out.channel.recv_exit_status()
    return status, (out.read() + err.read()).decode().strip()


# Drops the key read on stdin from the login user's authorized_keys: IM adds it as is
# and again with "2" appended (contextualization/basic.yml "Add the authorized_key to
# the nodes again", a GCE workaround). The file is replaced atomically: the kept lines go
# to a temporary file in the same folder (mktemp: 0600), which is renamed over it only
# when grep said 0 (lines kept) or 1 (no line kept); any other status (a full disk, a
# read-only folder) leaves authorized_keys as it was and exits non-zero.
DROP_KEY = (
    'k=$(cat); f="$HOME/.ssh/authorized_keys"; [ -n "$k" ] && [ -f "$f" ] || exit 0; '
    't=$(mktemp "$f.oscar-iac.XXXXXX") || exit 3; '
    'grep -vxF -e "$k" -e "${k}2" "$f" > "$t"; s=$?; '
    'if [ "$s" -gt 1 ]; then rm -f "$t"; echo "grep failed ($s): $f left as it was" >&2; exit 4; fi; '
    'mv -f "$t" "$f" || { rm -f "$t"; echo "cannot replace $f: left as it was" >&2; exit 5; }'
)


def clean_leftovers(logins: list[Login], inf_id: str) -> list[str]:
    """Undo what IM's contextualization left on the machines for `inf_id`: its folder
    (`/var/tmp/.im/<id>`, with the login user's key) and the public key IM made for the
    infrastructure (`<folder>/ansible_key.pub`), which IM appends to the login user's
    authorized_keys on every node (contextualization/basic.yml "Add the authorized_key
    to the nodes"). Returns one line per machine."""
    if not _SAFE_ID.match(inf_id):
        raise ValueError(f"unexpected infrastructure id {inf_id!r}")
    path = f"{REMOTE_CONF_DIR}/{inf_id}"
    im_key = ""
    report: list[str] = []
    failed: list[str] = []
    for login in logins:
        try:
            client = _client(login)
        except (OSError, paramiko.SSHException) as exc:
            report.append(f"{login.name}: not reachable ({exc}); remove {path} there yourself")
            continue
        try:
            if not im_key:  # the master (the front, first) holds IM's key pair
                status, text = _run(client, f"cat {path}/ansible_key.pub 2>/dev/null")
                im_key = text.strip() if status == 0 else ""
            dropped = ""
            if im_key:
                status, text = _run(client, DROP_KEY, stdin=im_key + "\n")
                if status != 0:
                    failed.append(
                        f"{login.name}: IM's key is still in authorized_keys "
                        f"(the edit failed, nothing was changed: {text or status})"
                    )
                dropped = " and IM's key from authorized_keys" if status == 0 else ""
            status, text = _run(client, f"sudo -n rm -rf {path}")
            if status == 0:
                report.append(f"{login.name}: removed {path}{dropped}")
            else:
                failed.append(f"{login.name}: could not remove {path}: {text}")
        finally:
            client.close()
    if failed:
        raise DeploymentError(
            "cleaning up after IM failed on these machines:\n  " + "\n  ".join(failed),
            hints=[f"fix the cause there, then remove {path} and IM's key by hand"]
            + [f"done: {line}" for line in report],
        )
    return report


def forget_host_keys(known_hosts: Path, addresses: list[str]) -> int:
    """Drop the lines pinning `addresses` (port 22, plain or hashed names) from a
    known_hosts file of ours, replacing it atomically (temp file in the same folder +
    rename). The number of lines dropped."""
    try:
        lines = known_hosts.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise DeploymentError(f"{known_hosts}: cannot read it: {exc.strerror}") from exc
    names = {a.lower() for a in addresses}
    keep = [ln for ln in lines if not _pins(ln, names)]
    if len(keep) == len(lines):
        return 0
    fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=known_hosts.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(keep)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, known_hosts)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DeploymentError(f"{known_hosts}: cannot rewrite it: {exc.strerror}") from exc
    return len(lines) - len(keep)


def _pins(line: str, names: set[str]) -> bool:
    """True if a known_hosts line names one of `names` (OpenSSH sshd(8) format)."""
    fields = line.split()
    if len(fields) < 3 or line.startswith("#"):
        return False
    for entry in fields[0].split(","):
        if entry.startswith("|1|"):
            if any(str(paramiko.HostKeys.hash_host(n, entry)) == entry for n in names):
                return True
        elif entry.lower() in names:
            return True
    return False


def logins_for(loaded: LoadedSite, workers: int | None = None) -> list[Login]:
    """SSH logins of the front and the first `workers` workers (all listed when None:
    `down` cleans every machine the site lists, so workers a `scale` let go are too)."""
    cloud = nodes_cloud(loaded.site)
    if cloud is None:
        return []
    res = SecretResolver(site_dir=loaded.directory, state_dir=site_state_dir(loaded.site.name))
    out = []
    for m in cloud.machines(workers):
        key = m.key or cloud.key
        assert key is not None  # NodesCloud checks it
        out.append(
            Login(m.name, m.address, m.user or cloud.user, res.resolve(key, f"ssh_key_{m.name}"))
        )
    return out


def check_workers(loaded: LoadedSite, workers: int) -> None:
    """`scale` on the nodes cloud takes machines listed in site.yml, in their order."""
    cloud = nodes_cloud(loaded.site)
    if cloud is not None and workers > len(cloud.workers):
        raise UserError(
            Problem(
                loaded.path,
                "target.cloud.workers",
                f"lists {len(cloud.workers)} machines but {workers} workers were asked for: "
                "add the new machine (name, address) to the list, then scale again",
            )
        )
