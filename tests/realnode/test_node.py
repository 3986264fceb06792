"""The real node (components.node_fixture): kubelet v1.37.2 on cgroups v1 registers to the
real control plane, and Pods of images built here reach Running and run to completion."""

from __future__ import annotations

import json
import uuid

import pytest

from components import kernel_tunables
from components.kube_fixture import wait_until
from components.node_fixture import RealNode

pytestmark = [pytest.mark.real_node, pytest.mark.slow]


def pod(
    name: str, image: str, command: list[str], restart: str = "Never", pull: str = "Never"
) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": pull,
                            "command": command}],
        },
    })  # fmt: skip


def phase(node: RealNode, name: str) -> str:
    res = node.kube.kubectl("get", "pod", name, "-n", "default", "-o", "json")
    return str(json.loads(res.stdout)["status"].get("phase", "")) if res.returncode == 0 else ""


def test_the_node_registers_ready_on_cgroup_v1(real_node: RealNode) -> None:
    node = real_node.kube.get("node", real_node.name)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.37.2", info
    # containerd reports its module version (2.4.2; "+unknown": no git revision stamped).
    assert info["containerRuntimeVersion"].startswith("containerd://2.4.2"), info
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == real_node.ip
    # cgroups v1 here: kubelet >= 1.35 starts only with failCgroupV1: false, and says so.
    events = real_node.kube.kubectl(
        "get", "events", "-A", "--field-selector", f"involvedObject.name={real_node.name}"
    ).stdout
    assert "cgroup v1" in events or "CgroupV1" in events, events


def test_pods_of_images_built_here_run(real_node: RealNode) -> None:
    sleeper, runner = f"pause-{uuid.uuid4().hex[:6]}", f"runner-{uuid.uuid4().hex[:6]}"
    kube = real_node.kube
    assert kube.apply(pod(sleeper, real_node.images["pause"], ["/pause"])).returncode == 0
    # The DEEPaaS image answers with the demo model's metadata (the real package inside).
    assert kube.apply(pod(runner, real_node.images["runner"], [
        "python", "-c", "import oscar_iac_demo_model, deepaas; print('model-ok', deepaas.__name__)",
    ])).returncode == 0  # fmt: skip
    try:
        wait_until(f"pod {sleeper} Running", lambda: phase(real_node, sleeper) == "Running", 180)
        wait_until(f"pod {runner} Succeeded", lambda: phase(real_node, runner) == "Succeeded", 300)
        logs = kube.kubectl("logs", runner, "-n", "default")
        assert logs.returncode == 0 and "model-ok" in logs.stdout, logs.stdout + logs.stderr
    finally:
        kube.kubectl("delete", "pod", sleeper, runner, "-n", "default", "--wait=false")


def test_a_pull_with_policy_always_comes_from_the_nodes_registry(real_node: RealNode) -> None:
    # OSCAR v4.1.2 job Pods pull with policy Always (pkg/types/service.go ToPodSpec): the
    # kubelet asks containerd to pull, and containerd resolves localhost/... through the
    # hosts.toml of components.registry_fixture to the registry on 127.0.0.1.
    name = f"always-{uuid.uuid4().hex[:6]}"
    kube = real_node.kube
    image = real_node.images["pause"]
    assert kube.apply(pod(name, image, ["/pause"], pull="Always")).returncode == 0
    try:
        wait_until(f"pod {name} Running", lambda: phase(real_node, name) == "Running", 180)
        events = kube.kubectl(
            "get", "events", "-n", "default", "--field-selector", f"involvedObject.name={name}"
        ).stdout
        # kubelet's event for a pull that happened (pkg/kubelet/images/image_manager.go
        # EnsureImageExists: "Successfully pulled image"); with no registry it is ErrImagePull.
        assert f'Successfully pulled image "{image}"' in events, events
    finally:
        kube.kubectl("delete", "pod", name, "-n", "default", "--wait=false")


def test_the_kubelet_sets_the_kernel_settings_the_teardown_puts_back(real_node: RealNode) -> None:
    """kubelet v1.37.2 `setupKernelTunables` (container_manager_linux.go): these six, these
    values. The fixture saved the machine's values before (all six) and writes them back."""
    assert kernel_tunables.save() == kernel_tunables.KUBELET_SETS
    assert set(real_node.kernel) == set(kernel_tunables.KUBELET_SETS)
