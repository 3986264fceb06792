"""Contextualization through IM vs `ansible-playbook playbooks/site.yml`, side by side.

Two identical sets of fresh podman machines (front + 2 workers, the node image of
tests/im_nodes, the roles' configured-only mode as in Molecule):
  direct  `oscar-iac render` of a hosts site, then `ansible-playbook -i hosts.yml
          playbooks/site.yml` as the login user with sudo (the hosts path);
  IM      `oscar-iac up` of the same cluster as a `nodes` site: the embedded IM
          contextualizes the machines with its own agent and our entry playbooks.
Prints both times, the ratio, and where IM's time goes, read from IM's own
contextualization log (its timestamps): preparing the master (conf-ansible.yml:
the tooling check), IM's basic playbooks on every node (facts, /etc/hosts, keys)
and our entry playbooks.

    .venv/bin/python benchmarks/bench_im_nodes.py
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from im_nodes.podnodes import (  # noqa: E402
    CONFIGURED_ONLY,
    LOGIN_USER,
    NodeSet,
    build_node_image,
    ensure_bridge,
    make_key,
    project_tarball,
    serve_folder,
    write_site,
)

BIN = Path(sys.executable).parent
DIRECT = {"bdir-front": "10.88.78.20", "bdir-wn1": "10.88.78.21", "bdir-wn2": "10.88.78.22"}
VIA_IM = {"bim-front": "10.88.78.10", "bim-wn1": "10.88.78.11", "bim-wn2": "10.88.78.12"}


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.monotonic()
    res = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - t0
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}): {' '.join(args)}\n{res.stdout[-5000:]}")
    return took, res.stdout


def direct_run(work: Path, nodes: NodeSet, key: Path) -> float:
    site = {
        "name": "imnodes-bench-direct",
        "target": {
            "kind": "hosts",
            "front": {"name": "front", "address": nodes["bdir-front"].address, "user": LOGIN_USER},
            "workers": [
                {"name": n, "address": nodes[f"bdir-{n}"].address, "user": LOGIN_USER}
                for n in ("wn1", "wn2")
            ],
        },
        "cluster": {"name": "oscar", "domain": "nodes.test", "workers": {"count": 2}},
        "stack": {
            "ingress": {"tls": {"mode": "self-signed"}},
            "knative": {"enabled": True},
            "role_vars": CONFIGURED_ONLY,
        },
    }
    folder = work / "direct"
    folder.mkdir()
    (folder / "site.yml").write_text(yaml.safe_dump(site, sort_keys=False))
    env = dict(
        os.environ,
        OSCAR_IAC_STATE=str(work / "state"),
        PATH=f"{BIN}:{os.environ['PATH']}",
        ANSIBLE_PRIVATE_KEY_FILE=str(key),
        # The bench's throw-away machines only.
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOLOR="1",
    )
    run([str(BIN / "oscar-iac"), "render", str(folder), "-o", str(work / "out")], env)
    took, _ = run(
        [str(BIN / "ansible-playbook"), "-i", str(work / "out" / "hosts.yml"),
         str(REPO / "playbooks" / "site.yml")],
        env,
    )  # fmt: skip
    return took


_IM_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+): (.*)$")
_TASK_TIME = re.compile(r"^\w+day \d\d \w+ (\d{4})\s+(\d\d:\d\d:\d\d\.\d+)")


# IM's own per-VM tasks (IM/InfrastructureInfo.py Contextualize: wait_all_ssh, basic,
# main_<system>; with ctxt_agent_dist also install_ansible, gen/copy_facts_cache).
_IM_TASKS = {"wait_all_ssh", "basic", "install_ansible", "gen_facts_cache", "copy_facts_cache"}


def _is_im_task(name: str) -> bool:
    return name in _IM_TASKS or name.startswith("main_")


def breakdown(log: str, day: str) -> dict[str, float]:
    """Seconds per phase from IM's log: IM's own steps and each agent task."""
    events: list[tuple[datetime, str]] = []
    current = "IM: start"
    for line in log.splitlines():
        m = _IM_LINE.match(line)
        if m:
            current = "IM: " + m.group(2).strip()[:60]
            events.append((datetime.fromisoformat(m.group(1)), current))
            continue
        lt = re.match(r"Launch task: (\S+)", line)
        if lt:
            name = lt.group(1)
            kind = "IM basic playbook" if _is_im_task(name) else "our entry playbook"
            current = f"{kind}: {name}"
            continue
        t = _TASK_TIME.match(line)
        if t:
            events.append((datetime.fromisoformat(f"{day} {t.group(2)}"), current))
    events.sort()
    phases: dict[str, float] = {}
    for (t0, label), (t1, _) in itertools.pairwise(events):
        group = label
        if "Configure Ansible in the master" in label or "preliminary steps" in label:
            group = "IM: prepare the master (conf-ansible.yml, tooling check)"
        elif "Copy the contextualization agent" in label or "Creating and copying" in label:
            group = "IM: copy the agent and playbooks"
        elif "IM basic playbook" in label:
            group = "IM basic playbooks (facts, /etc/hosts, SSH keys) on every node"
        elif label.startswith("IM: "):
            group = "IM: waits between steps"
        elif "our entry playbook" in label:
            group = "our entry playbooks (front.yml, worker.yml)"
        phases[group] = phases.get(group, 0.0) + (t1 - t0).total_seconds()
    return phases


def main() -> None:
    build_node_image()
    ensure_bridge()
    with tempfile.TemporaryDirectory(prefix="imnodes-bench-") as tmp:
        work = Path(tmp)
        key = make_key(work / "ssh")
        www = work / "www"
        project_tarball(www / "oscar-iac.tar.gz")
        with (
            NodeSet.of(DIRECT, key) as direct_nodes,
            NodeSet.of(VIA_IM, key) as im_nodes,
            serve_folder(www) as url,
        ):
            direct = direct_run(work, direct_nodes, key)
            print(f"direct run done: {direct:.1f} s", flush=True)
            site = write_site(
                work / "im",
                name="imnodes-bench-im",
                front=im_nodes["bim-front"],
                workers=[im_nodes["bim-wn1"], im_nodes["bim-wn2"]],
                count=2,
                key=key,
                repo_url=f"{url}/oscar-iac.tar.gz",
            )
            # The key lives beside the site folder, as ~/.ssh keys do: allow its folder.
            env = dict(
                os.environ,
                OSCAR_IAC_STATE=str(work / "state"),
                OSCAR_IAC_SECRET_DIRS=str(key.parent),
            )
            via_im, _ = run([str(BIN / "oscar-iac"), "up", str(site), "-q"], env)
            _, log = run([str(BIN / "oscar-iac"), "logs", str(site)], env)
            run([str(BIN / "oscar-iac"), "down", str(site), "--yes"], env)
    day = datetime.now().strftime("%Y-%m-%d")
    phases = breakdown(log, day)
    print("contextualization of a front + 2 workers (fresh podman machines, configured-only)")
    print(f"  ansible-playbook playbooks/site.yml (direct) : {direct:7.1f} s")
    print(f"  oscar-iac up through IM (DeployedNode)       : {via_im:7.1f} s")
    print(
        f"  ratio IM / direct                            : {via_im / direct:7.2f}x (target <= 1.3x)"
    )
    print(f"  IM's extra time                              : {via_im - direct:7.1f} s")
    print("where IM's time goes (from IM's contextualization log):")
    for name, secs in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"  {secs:7.1f} s  {name}")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"im_s={via_im:.1f} direct_s={direct:.1f} ratio={via_im / direct:.2f}")


if __name__ == "__main__":
    main()
