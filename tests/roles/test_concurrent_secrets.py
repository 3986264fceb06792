"""Issue #25: on the IM path the front's and the workers' plays run at once, each an
ansible-playbook of its own on IM's master, and every one asks playbooks/tasks/secrets.yml
for the k3s join token. They must all get the SAME token (the one the server starts with
and the agents join with): Ansible's password lookup creates a missing secret under a
lock file (ansible/plugins/lookup/password.py _get_lock) and the others read it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from roles.conftest import BIN, PLAYBOOKS, tool_env

PLAY = """\
- name: One node's play on IM's master
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Hand over the site's secrets
      ansible.builtin.include_tasks: {secrets}
    - name: Keep a digest of the token this play would give k3s
      ansible.builtin.copy:
        content: "{{{{ k3s_token | hash('sha256') }}}}"
        dest: {out}
        mode: "0600"
"""


def test_plays_started_at_once_share_one_generated_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    procs = []
    for n in range(3):  # the front and two workers
        play = tmp_path / f"play{n}.yml"
        play.write_text(
            PLAY.format(secrets=PLAYBOOKS / "tasks" / "secrets.yml", out=tmp_path / f"digest{n}")
        )
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "ansible-playbook"),
                    "-i",
                    "localhost,",
                    str(play),
                    "-e",
                    f"ansible_python_interpreter={sys.executable}",
                ],
                env=tool_env(HOME=str(home)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    token_file = home / ".oscar-iac" / "secrets" / "k3s_token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    token = token_file.read_text().split()[0]
    digests = {(tmp_path / f"digest{n}").read_text() for n in range(3)}
    assert digests == {hashlib.sha256(token.encode()).hexdigest()}
    assert all(token not in out for out in outs)  # no_log: never in the output
