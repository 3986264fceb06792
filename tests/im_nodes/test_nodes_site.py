"""The `nodes` cloud without machines: the site, what is rendered for IM, bad input,
and the entry playbooks' shape as IM runs them (fast; the real runs are in
test_nodes_lifecycle.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers.cli import CliResult
from oscar_iac.im.auth import AuthBuilder
from oscar_iac.im.ctxt_log import failed_tasks, recaps
from oscar_iac.render import render_site
from oscar_iac.render.context import key_refs, template_context
from oscar_iac.site import load_site
from oscar_iac.site.model import ImTarget

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE = REPO / "inventories" / "nodes-example"


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample site with its key pointing at a file that exists."""
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    # The key is outside the site folder (as ~/.ssh keys are): allow its folder.
    monkeypatch.setenv("OSCAR_IAC_SECRET_DIRS", str(tmp_path))
    folder = tmp_path / "nodes-example"
    shutil.copytree(SAMPLE, folder)
    key = tmp_path / "id_test"
    key.write_text("not a real key\n")
    key.chmod(0o600)
    text = (folder / "site.yml").read_text().replace("file:ssh-key.REPLACE-ME", f"file:{key}")
    assert f"file:{key}" in text
    (folder / "site.yml").write_text(text)
    return folder


def _edit(folder: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    data = yaml.safe_load((folder / "site.yml").read_text())
    change(data)
    (folder / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_sample_validates_and_translates(site_dir: Path, cli: Callable[..., CliResult]) -> None:
    result = cli("validate", str(site_dir))
    assert result.code == 0, result.err
    rendered = render_site(load_site(site_dir))
    # IM's own translator made the RADL: one system per machine, at its address, with
    # the login user, and the front also on a public network (IM's master needs one).
    radl = rendered.radl
    for host, address in (
        ("front", "192.0.2.10"),
        ("wn_worker1", "192.0.2.11"),
        ("wn_worker2", "192.0.2.12"),
    ):
        block = radl.split(f"system {host} (")[1].split(")")[0]
        assert f"net_interface.0.ip = '{address}'" in block, block
        assert "disk.0.os.credentials.username = 'debian'" in block, block
        assert "disk.0.image.url = 'dn://oscar-iac'" in block, block
    assert "system wn_worker3" not in radl  # count 2 of the 3 listed
    assert "network nodes_public ( outbound = 'yes' )" in radl, radl
    front = radl.split("system front (")[1].split(")")[0]
    assert "net_interface.1.connection = 'nodes_public'" in front
    # Keys are inputs left empty on disk; `up` fills them in memory.
    tosca = yaml.safe_load(rendered.tosca)
    inputs = tosca["topology_template"]["inputs"]
    assert {k: v["default"] for k, v in inputs.items() if k.startswith("ssh_key_")} == {
        "ssh_key_front": "",
        "ssh_key_wn_worker1": "",
        "ssh_key_wn_worker2": "",
    }
    assert "not a real key" not in rendered.tosca


def test_scaling_renders_the_next_listed_machine(site_dir: Path) -> None:
    loaded = load_site(site_dir)
    ctx = template_context(loaded, workers=3)
    assert [m["address"] for m in ctx["nodes"]] == [
        "192.0.2.10",
        "192.0.2.11",
        "192.0.2.12",
        "192.0.2.13",
    ]
    assert [c["name"] for c in ctx["configure_nodes"]] == [
        "front_conf",
        "wn_worker1_conf",
        "wn_worker2_conf",
        "wn_worker3_conf",
    ]
    assert list(key_refs(loaded.site, 3)) == [
        "ssh_key_front",
        "ssh_key_wn_worker1",
        "ssh_key_wn_worker2",
        "ssh_key_wn_worker3",
    ]


def test_deployed_node_auth_line(site_dir: Path) -> None:
    target = load_site(site_dir).site.target
    assert isinstance(target, ImTarget)
    builder = AuthBuilder(target=target, im_username="u", im_password="p")
    assert builder.lines() == [
        "id = im; type = InfrastructureManager; username = u; password = p",
        "id = nodes; type = DeployedNode",
    ]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["target"]["cloud"].pop("key"), "target.cloud", "has no SSH key"),
        (
            lambda d: d["cluster"]["workers"].update(count=4),
            "cluster.workers.count",
            "lists 3 machines",
        ),
        (
            lambda d: d["target"]["cloud"]["workers"][1].update(address="192.0.2.11"),
            "target.cloud.workers[1].address",
            "already the address",
        ),
        (
            lambda d: d["stack"].update(role_vars={"k3sstate": "configured"}),
            "stack.role_vars.k3sstate",
            "starting with a role's prefix",
        ),
        (
            lambda d: d["target"]["cloud"].update(key="generate"),
            "target.cloud",
            "cannot be 'generate'",
        ),
    ],
)
def test_bad_nodes_site_is_refused(
    site_dir: Path,
    cli: Callable[..., CliResult],
    change: Callable[[dict], None],  # type: ignore[type-arg]
    field: str,
    words: str,
) -> None:
    _edit(site_dir, change)
    result = cli("validate", str(site_dir))
    assert result.code == 2, result
    assert field in result.err and words in result.err, result.err
    assert "site.yml" in result.err


def test_scale_beyond_the_listed_machines_is_refused(
    site_dir: Path, cli: Callable[..., CliResult]
) -> None:
    result = cli("scale", str(site_dir), "--workers", "4", "-q")
    assert result.code == 2, result
    assert "target.cloud.workers" in result.err and "lists 3 machines" in result.err


def _plays(name: str) -> list[dict]:  # type: ignore[type-arg]
    return list(yaml.safe_load((REPO / "playbooks" / "im" / name).read_text()))


@pytest.mark.parametrize("entry", ["front.yml", "worker.yml"])
def test_entry_plays_run_as_im_runs_them(entry: str) -> None:
    play = _plays(entry)[0]
    # IM adds `become: yes` to the play header and merges ours into it
    # (IM/ConfManager.py add_ansible_header, IM/ansible_utils merge_recipes): a play-level
    # `become` of ours became [true, true] and Ansible refused the play.
    assert "become" not in play
    tasks = {t["name"]: t for t in play["tasks"]}
    # 4a: include_vars reads on the controller, IM's agent on the front running as the
    # login user: the file it reads is written there by that user, not as root 0600.
    write = tasks["Write the site's role variables for this play's controller"]
    assert write.get("delegate_to") == "localhost" and write.get("become") is False
    assert write["ansible.builtin.copy"]["content"] == "{{ oscar_iac_role_vars | b64decode }}"
    load = tasks["Load the site's role variables"]["ansible.builtin.include_vars"]["file"]
    assert load == write["ansible.builtin.copy"]["dest"]
    if entry == "worker.yml":
        return  # it fetches nothing: see the test below
    # 4b: unarchive needs an existing dest; the folder is made first, in the same case.
    names = [t["name"] for t in play["tasks"]]
    make = names.index("Create the folder the release tarball is unpacked into")
    assert make < names.index("Fetch the project from a release tarball")
    assert play["tasks"][make]["when"] == tasks["Fetch the project from a release tarball"]["when"]


def _local_play(folder: Path, name: str, variables: dict[str, object], tasks: list[object]) -> Path:
    """A play on this machine, written into `folder` (its playbook_dir), as IM's are."""
    play = [
        {
            "name": name,
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": variables,
            "tasks": tasks,
        }
    ]
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


def _ansible(play: Path, out: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    with out.open("wb") as fh:
        return subprocess.Popen(
            [str(BIN / "ansible-playbook"), "-i", "localhost,", str(play),
             "-e", f"ansible_python_interpreter={sys.executable}"],
            stdout=fh, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def test_workers_wait_for_the_project_the_front_fetches_in_this_run(tmp_path: Path) -> None:
    # Issue #25: front and workers are configured in the same IM step, every play on
    # IM's master (the front), from one folder IM writes general_info.cfg into at the
    # start of each contextualization. The front's play marks the project ready after
    # fetching it and linking its roles; the workers' play fetches nothing and waits
    # for a mark of THIS run (an older one does not count), with a deadline and a
    # message naming what it waited for.
    front = _plays("front.yml")[0]
    names = [t["name"] for t in front["tasks"]]
    mark_at = names.index("Mark the project ready for the workers' plays")
    before = names[:mark_at]
    assert "Make the project's roles visible to this play" in before
    assert [n for n in names if n.startswith("Fetch the project")] == [
        n for n in before if n.startswith("Fetch the project")
    ]
    worker = _plays("worker.yml")[0]
    tasks = worker["tasks"]
    assert not [t for t in tasks if t["name"].startswith("Fetch the project")]
    wait_at = [t["name"] for t in tasks].index(
        "Wait for the front's play to put the project on IM's master"
    )
    assert not [t for t in tasks[: wait_at + 1] if "oscar_iac_checkout" in str(t)]
    assert front["vars"]["oscar_iac_ready_mark"] == worker["vars"]["oscar_iac_ready_mark"]

    # The real tasks, run by Ansible in a folder laid out as IM's.
    folder = tmp_path / "im"
    folder.mkdir()
    mark = folder / worker["vars"]["oscar_iac_ready_mark"]
    mark.write_text("")
    os.utime(mark, (time.time() - 3600, time.time() - 3600))  # an earlier run's
    (folder / "general_info.cfg").write_text("{}")  # this contextualization began
    wait_vars = dict(worker["vars"], oscar_iac_front_wait_timeout=120)
    waiting = _local_play(folder, "worker-wait", wait_vars, tasks[: wait_at + 1])
    log = tmp_path / "worker.log"
    proc = _ansible(waiting, log)
    deadline = time.monotonic() + 120
    while "FAILED - RETRYING" not in log.read_text():
        assert proc.poll() is None, f"the worker went on with an old mark:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"the worker never waited:\n{log.read_text()}"
        time.sleep(0.5)
    marking = _local_play(folder, "front-mark", front["vars"], [front["tasks"][mark_at]])
    assert _ansible(marking, tmp_path / "front.log").wait(timeout=120) == 0, (
        tmp_path / "front.log"
    ).read_text()
    assert proc.wait(timeout=120) == 0, log.read_text()

    # No mark of this run: the deadline, and a message that says what was awaited.
    (folder / "general_info.cfg").write_text("{}")
    os.utime(mark, (time.time() - 60, time.time() - 60))
    short = _local_play(
        folder,
        "worker-gives-up",
        dict(wait_vars, oscar_iac_front_wait_timeout=2),
        tasks[: wait_at + 1],
    )
    gave_up = _ansible(short, tmp_path / "gave-up.log")
    assert gave_up.wait(timeout=120) != 0
    text = " ".join((tmp_path / "gave-up.log").read_text().split())
    assert "waited 2 s for the front's play" in text, text


# Lines as IM 2.0's contextualization log shows them (from a real run).
IM_LOG = """\
2026-12-01 22:30:01.060170: Configure Ansible in the master VM.
Launch task: front_conf_front_conf_front
PLAY [Configure an OSCAR cluster node (front)] *********************************

TASK [Install the base packages] ***********************************************
Tuesday 01 December 2026  22:38:20.592831
fatal: [10.88.77.10_0]: FAILED! => {"changed": false, "msg": "No package matching 'oscar-iac-no-such-package' is available"}

TASK [Disable SELinux in REL systems] ******************************************
An exception occurred during task execution. To see the full traceback, use
-vvv. The error was: ModuleNotFoundError: No module named 'selinux'
fatal: [10.88.77.10_0]: FAILED! => {"changed": false, "msg": "Failed to import
the required Python library (libselinux-python) on imnodes-wn2's Python
/usr/bin/python3."}
...ignoring

PLAY RECAP *********************************************************************
10.88.77.10_0              : ok=3    changed=1    unreachable=0    failed=1
"""


def test_failed_task_and_recap_are_read_from_im_log() -> None:
    found = failed_tasks(IM_LOG)
    assert [(t.task, t.host) for t in found] == [("Install the base packages", "10.88.77.10_0")]
    assert "No package matching 'oscar-iac-no-such-package'" in str(found[0])
    assert [[(r.host, r.changed, r.failed) for r in b] for b in recaps(IM_LOG)] == [
        [("10.88.77.10_0", 1, 1)]
    ]
