"""The IM path for real: the embedded IM contextualizes podman machines (front + workers)
through its DeployedNode connector, with its own agent running as the login user with
sudo, and runs playbooks/im/front.yml and worker.yml with the project's roles.

One deployment, in the order a user lives it: a refused SSH login is named before
IM is asked anything; a broken role variable fails `up` with the task's name and IM's
log, and the mended site's `up` resumes the same infrastructure to `configured`; the
roles' work is checked on the machines; `reconfigure` changes nothing; `scale` adds a
third worker; `down` ends IM's record, leaves the machines and removes what IM left.
"""

from __future__ import annotations

import json
import re

import pytest

from im_nodes.conftest import Cluster
from im_nodes.podnodes import LOGIN_USER, write_site
from oscar_iac.im.ctxt_log import recaps

pytestmark = pytest.mark.slow

SITE = "imnodes-e2e"
# A package no Debian mirror has: the base role's apt task must fail on it.
BROKEN = {"base_packages": ["oscar-iac-no-such-package"]}


def _site(cluster: Cluster, count: int, role_vars: dict[str, object] | None = None) -> str:
    n = cluster.nodes
    folder = write_site(
        cluster.work / "site",
        name=SITE,
        front=n["front"],
        workers=[n["wn1"], n["wn2"], n["wn3"]],
        count=count,
        key=cluster.key,
        repo_url=cluster.repo_url,
        role_vars=role_vars,
    )
    return str(folder)


def _inf_id(cluster: Cluster) -> str:
    data = json.loads((cluster.state / SITE / "deployment.json").read_text())
    return str(data["inf_id"])


def test_refused_ssh_names_the_machine(cluster: Cluster) -> None:
    wn3 = cluster.nodes["wn3"]
    wn3.sh("systemctl stop ssh.socket ssh.service")
    try:
        run = cluster.oscar_iac("up", _site(cluster, 3), "-q")
        assert run.code == 1, run
        assert "machine 'wn3'" in run.out and "10.88.77.13" in run.out, run
        assert "refused" in run.out.lower(), run
        # Nothing was asked of IM: `up` records its phases, but no infrastructure.
        recorded = cluster.state / SITE / "deployment.json"
        if recorded.exists():
            state = json.loads(recorded.read_text())
            assert state["inf_id"] is None, state
            assert state["phases"]["infrastructure"]["status"] == "failed", state
    finally:
        wn3.sh("systemctl start ssh.service")


def test_broken_role_variable_fails_with_the_task_and_the_log(cluster: Cluster) -> None:
    run = cluster.oscar_iac("up", _site(cluster, 2, BROKEN), "-q")
    assert run.code == 1, run
    # The role's task name, as Ansible prints it ("base : ..."), and the host.
    assert "base : Install the base packages' failed on 10.88.77.10_0" in run.out, run
    assert "oscar-iac-no-such-package" in run.out, run
    assert "Last lines of IM's contextualization log" in run.out, run
    state = json.loads((cluster.state / SITE / "deployment.json").read_text())
    assert state["phase"] == "failed", state


def test_mended_site_resumes_to_configured(cluster: Cluster) -> None:
    failed_id = _inf_id(cluster)
    run = cluster.oscar_iac("up", _site(cluster, 2), "-q")
    assert run.code == 0, run
    assert f"resumed: infrastructure {failed_id}" in run.out, run
    # `up` says what the roles' configured-only mode left undone, and why.
    assert "skipped on purpose" in run.out, run
    assert "k3s: configuration, token and systemd unit written" in run.out, run
    assert "(oscar_apply: false)" in run.out, run


def test_the_roles_ran_as_the_login_user_with_sudo(cluster: Cluster) -> None:
    front = cluster.nodes["front"]
    inf = _inf_id(cluster)
    # IM's agent ran as the login user (its folder is the user's) ...
    owner = front.sh(f"stat -c %U /var/tmp/.im/{inf}").stdout.strip()
    assert owner == LOGIN_USER
    # ... and the roles with become (root-owned files only sudo could write).
    for node in ("front", "wn1", "wn2"):
        out = cluster.nodes[node].sh("stat -c '%U %a' /etc/rancher/k3s/token").stdout.split()
        assert out == ["root", "600"], (node, out)


def test_what_the_roles_made(cluster: Cluster) -> None:
    # The checks of Molecule's verify (molecule/multinode/verify.yml), on IM's machines.
    n = cluster.nodes
    front_ip = n["front"].address
    for name in ("front", "wn1", "wn2"):
        node = n[name]
        files = node.sh(
            "cat /etc/modules-load.d/90-oscar-iac.conf /etc/sysctl.d/90-oscar-iac.conf"
        ).stdout
        assert "br_netfilter" in files and "net.ipv4.ip_forward=1" in files, name
        config = node.sh("cat /etc/rancher/k3s/config.yaml").stdout
        assert "token-file: /etc/rancher/k3s/token" in config, (name, config)
        if name == "front":
            assert "traefik" in config, config
            assert node.sh("test -f /etc/systemd/system/k3s.service", check=False).returncode == 0
        else:
            assert f"server: https://{front_ip}:6443" in config, (name, config)
            unit = "/etc/systemd/system/k3s-agent.service"
            assert node.sh(f"test -f {unit}", check=False).returncode == 0, name
        # k3s_state configured: no binary was fetched.
        assert node.sh("test -e /usr/local/bin/k3s", check=False).returncode != 0, name
        status = node.sh("dpkg-query -W -f='${Status}' nfs-common", check=False).stdout
        assert status == "install ok installed", name
    front = n["front"]
    assert front.sh("systemctl is-active nfs-ganesha", check=False).stdout.strip() == "active"
    manifests = front.sh(
        "find /etc/oscar-iac/manifests -name '*.yaml' -printf '%f %m\\n' | sort"
    ).stdout.split("\n")
    names = {line.split()[0] for line in manifests if line}
    modes = {line.split()[1] for line in manifests if line}
    assert {"oscar.yaml", "minio.yaml", "traefik.yaml", "namespaces.yaml"} <= names
    assert modes == {"600"}, manifests
    # Nothing handed to k3s (*_apply false).
    applied = front.sh("ls /var/lib/rancher/k3s/server/manifests 2>/dev/null | wc -l").stdout
    assert applied.strip() == "0"


def _our_recaps(log: str) -> list[int]:
    """Changed counts of the project's entry plays (front_conf / wn_*_conf) in IM's log."""
    changed = []
    for part in re.split(r"Launch task: ", log)[1:]:
        if re.match(r"(front_conf|wn_\w+_conf)", part):
            changed += [r.changed for block in recaps(part) for r in block]
    return changed


def test_reconfigure_changes_nothing(cluster: Cluster) -> None:
    run = cluster.oscar_iac("reconfigure", str(cluster.work / "site"), "-q")
    assert run.code == 0, run
    logs = cluster.oscar_iac("logs", str(cluster.work / "site"))
    assert logs.code == 0, logs
    changed = _our_recaps(logs.out)
    assert changed, logs.out[-4000:]
    assert set(changed) == {0}, (changed, logs.out[-4000:])


def test_scale_adds_the_named_third_worker(cluster: Cluster) -> None:
    site = _site(cluster, 2)
    wn3 = cluster.nodes["wn3"]
    assert wn3.sh("test -f /etc/rancher/k3s/config.yaml", check=False).returncode != 0
    run = cluster.oscar_iac("scale", site, "--workers", "3", "-q")
    assert run.code == 0, run
    config = wn3.sh("cat /etc/rancher/k3s/config.yaml").stdout
    assert f"server: https://{cluster.nodes['front'].address}:6443" in config, config
    status = cluster.oscar_iac("status", site, "--json")
    assert status.code == 0, status
    assert json.loads(status.out)["state"]["state"] == "configured", status
    # One contextualization of the new worker and the front (its NFS export lists the
    # nodes), not of the workers that were there: IM adds with context=false, then
    # reconfigures with vm_list (the log is this contextualization's only).
    logs = cluster.oscar_iac("logs", site)
    assert logs.code == 0, logs
    launched = set(re.findall(r"Launch task: (front_conf|wn_\w+?_conf)", logs.out))
    assert launched == {"front_conf", "wn_wn3_conf"}, (launched, logs.out[-4000:])
    too_many = cluster.oscar_iac("scale", site, "--workers", "4", "-q")
    assert too_many.code == 2, too_many
    assert "target.cloud.workers" in too_many.out and "lists 3 machines" in too_many.out


def test_down_ends_the_infrastructure_and_leaves_the_machines(cluster: Cluster) -> None:
    inf = _inf_id(cluster)
    front = cluster.nodes["front"]
    im_key = front.sh(f"cat /var/tmp/.im/{inf}/ansible_key.pub").stdout.strip()
    ours = cluster.key.with_suffix(".pub").read_text().strip()
    keys = f"/home/{LOGIN_USER}/.ssh/authorized_keys"
    assert im_key in front.sh(f"cat {keys}").stdout
    run = cluster.oscar_iac("down", str(cluster.work / "site"), "--yes")
    assert run.code == 0, run
    assert "stay as they are and keep running" in run.out, run
    listed = cluster.oscar_iac("list", str(cluster.work / "site"))
    assert inf not in listed.out, listed
    for name in ("front", "wn1", "wn2", "wn3"):
        node = cluster.nodes[name]
        # The machines still run, with what the roles made ...
        assert node.sh("test -f /etc/rancher/k3s/config.yaml", check=False).returncode == 0
        # ... and IM's folder (with the login user's key) is gone, and so is the key IM
        # authorised for itself; the user's own key still logs in.
        assert node.sh(f"test -e /var/tmp/.im/{inf}", check=False).returncode != 0, name
        authorized = node.sh(f"cat {keys}").stdout.splitlines()
        im_body = im_key.split()[1]
        assert not [line for line in authorized if im_body in line], (name, authorized)
        assert ours in authorized, (name, authorized)
