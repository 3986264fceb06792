"""A real Kubernetes node on this machine: containerd, runc, CNI bridge, kubelet, kube-scheduler.

`real_node` (session scope), as root, on `node_cluster`: a control plane of its own
(components.kube_fixture.running_cluster), so that the OSCAR whose jobs run on this node
(tests/realnode/conftest.py) can be helm-installed beside the session's `real_oscar` (chart
4.1.2's ClusterRoles have fixed names), and killing this kubelet disturbs no other test.
On it:

- builds what is missing (tests/components/build-node.sh: containerd v2.4.2, runc v1.5.3,
  CNI plugins v1.10.0, the pause image, the DEEPaaS runner image; build-k8s.sh: kubelet and
  kube-scheduler v1.37.2; pins in versions.yml `oscar_iac_test_components`);
- makes a Linux bridge with a free private /24 whose .1 is the host's side: the node's IP
  (kubelet refuses a loopback node IP: pkg/kubelet/kubelet_node_status.go validateNodeIP)
  and the address at which Pods reach the host (`relay()` exposes a loopback service there);
- starts containerd with its own root, state, socket and runc root under a private temporary
  folder, and imports the images built here (`podman save --format oci-archive` ->
  `ctr -n k8s.io images import`); no public registry is reachable, so a registry of the node's
  own (components.registry_fixture, on 127.0.0.1) serves the same images under their
  `localhost/...` references: OSCAR's job Pods pull with `imagePullPolicy: Always`;
- starts kubelet v1.37.2 registered to the control plane with a client certificate the
  fixture signs with the cluster's CA (CN system:node:<name>, O system:nodes: the Node
  authorizer), the cgroupfs driver (no systemd here) under its own cgroup root, and
  `failCgroupV1: false`: this machine kind has cgroups v1, which kubelet >= 1.35 refuses
  unless told (pkg/kubelet/apis/config/validation/validation_linux.go; the only other
  effect is a warning event, pkg/kubelet/kubelet_linux.go);
- starts kube-scheduler, and a kube-controller-manager running only the node lifecycle
  controller (kube_cluster's leaves it out): a node whose kubelet is gone turns
  NotReady/Unknown after --node-monitor-grace-period (20 s here) and its Pods not Ready.

Everything is stopped by pid at the end; the Pods' containers are killed through containerd,
then its shims, mounts, network namespaces, the bridge and the cgroups are removed.

API:
    node: RealNode
    node.name, node.ip (the bridge's host address), node.pod_cidr
    node.kube                              the KubeCluster
    node.ctr(*args) -> CompletedProcess    ctr -n k8s.io against this containerd
    node.images                            name -> image reference imported here
    node.registry                          the registry that serves them (pulls of localhost/*)
    node.kill_kubelet() / node.start_kubelet()  stop (SIGKILL) and restart the kubelet
    node.relay(port) -> int                a TCP relay on node.ip to 127.0.0.1:<port>
    node.log(name)                         tail of containerd / kubelet / kube-scheduler log
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from components import kernel_tunables
from components.kube_fixture import (
    KubeCluster,
    _write_private,
    build_components,
    running_cluster,
    wait_until,
)
from components.minio_fixture import free_port
from components.registry_fixture import Registry, prepare_registry, push_images

REPO = Path(__file__).resolve().parents[2]
BUILD_NODE = REPO / "tests" / "components" / "build-node.sh"
CACHE = REPO / ".cache"
BIN_DIR = CACHE / "bin"
IMAGES_DIR = CACHE / "images"
TEST_COMPONENTS = yaml.safe_load((REPO / "versions.yml").read_text())["oscar_iac_test_components"]
PAUSE_IMAGE = str(TEST_COMPONENTS["pause_image"]["ref"])
CGROUP_FS = Path("/sys/fs/cgroup")


def build_node(*targets: str) -> None:
    """Build the node's pinned parts (each kept when its version stamp matches)."""
    subprocess.run(["bash", str(BUILD_NODE), *targets], check=True, cwd=REPO)


def _pick_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.200.0.0/13 that no route of this machine overlaps (sessions run at once)."""
    routes = subprocess.run(
        ["ip", "-4", "-j", "route", "show", "table", "all"], capture_output=True, text=True
    )
    taken = []
    for r in json.loads(routes.stdout or "[]"):
        dst = r.get("dst", "")
        if dst and dst not in ("default",):
            try:
                taken.append(ipaddress.ip_network(dst, strict=False))
            except ValueError:
                continue
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{random.randint(200, 207)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return net
    raise RuntimeError("no free /24 in 10.200.0.0/13 for the test node's bridge")


def _node_cert(kube: KubeCluster, name: str, folder: Path) -> tuple[Path, Path]:
    """A kubelet client certificate signed by the cluster's CA (Node authorizer identity)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key = serialization.load_pem_private_key(
        (kube.ca_path.parent / "ca.key").read_bytes(), password=None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(kube.ca_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{name}"),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    crt, pem = folder / "kubelet-client.crt", folder / "kubelet-client.key"
    _write_private(crt, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        pem,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return crt, pem


def _cgroup_v1_controllers() -> list[Path]:
    """The mounted cgroup v1 hierarchies (one per controller, or per controller group)."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split(" - ")
        if len(parts) == 2 and parts[1].startswith("cgroup "):
            out.append(Path(line.split()[4]))
    return out


@dataclass
class RealNode:
    """A running node; see the module docstring for the API."""

    name: str
    ip: str
    pod_cidr: str
    bridge: str
    kube: KubeCluster
    workdir: Path
    cgroup_root: str
    images: dict[str, str] = field(default_factory=dict)
    kernel: dict[str, str] = field(default_factory=dict)  # kernel_tunables.save()
    registry: Registry | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    relays: list[socket.socket] = field(default_factory=list, repr=False)

    @property
    def sock(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    def env(self) -> dict[str, str]:
        return {"PATH": f"{BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

    def ctr(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(BIN_DIR / "ctr"), "-a", str(self.sock), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=600,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def log(self, name: str) -> str:
        try:
            return (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=self.env()
            )
        self.processes[name] = proc
        return proc

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def dead(self) -> str | None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                return f"{name} exited ({proc.returncode}); log:\n{self.log(name)}"
        return None

    # ------------------------------------------------------------------ kubelet
    def kill_kubelet(self) -> None:
        """SIGKILL the kubelet (its Pods' containers keep running under containerd)."""
        self.stop_process("kubelet", signal.SIGKILL)

    def start_kubelet(self) -> None:
        self.start("kubelet", [
            str(BIN_DIR / "kubelet"), f"--config={self.workdir / 'kubelet' / 'config.yaml'}",
            f"--kubeconfig={self.workdir / 'kubelet' / 'kubeconfig'}",
            f"--root-dir={self.workdir / 'kubelet' / 'root'}",
            f"--cert-dir={self.workdir / 'kubelet' / 'pki'}",
            f"--hostname-override={self.name}", f"--node-ip={self.ip}", "--v=1",
        ])  # fmt: skip
        wait_until(
            f"node {self.name} Ready",
            self.ready,
            180,
            alive=self.dead,
        )

    def ready(self) -> bool:
        res = self.kube.kubectl("get", "node", self.name, "-o", "json")
        if res.returncode != 0:
            return False
        conds = json.loads(res.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    # ------------------------------------------------------------------ host access
    def relay(self, port: int) -> int:
        """Listen on node.ip:<free port> and relay each connection to 127.0.0.1:<port>:
        Pods cannot reach the host's loopback, where the test servers listen."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.ip, 0))
        srv.listen(64)
        self.relays.append(srv)

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        def serve() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                try:
                    up = socket.create_connection(("127.0.0.1", port), timeout=10)
                except OSError:
                    conn.close()
                    continue
                up.settimeout(None)
                threading.Thread(target=pipe, args=(conn, up), daemon=True).start()
                threading.Thread(target=pipe, args=(up, conn), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return int(srv.getsockname()[1])


def _write_configs(node: RealNode, kube: KubeCluster) -> None:
    w = node.workdir
    cd = w / "containerd"
    cd.mkdir(mode=0o700)
    (w / "net.d").mkdir()
    # containerd 2.x config (keys: `containerd config default` of the v2.4.2 built here;
    # internal/cri/config/config.go). The runc root and netns mounts stay under our state dir.
    (cd / "config.toml").write_text(f"""version = 3
root = "{cd}/root"
state = "{cd}/state"
imports = []
[grpc]
  address = "{cd}/containerd.sock"
[ttrpc]
  address = "{cd}/containerd.sock.ttrpc"
[debug]
  address = "{cd}/debug.sock"
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{PAUSE_IMAGE}'
    # Pulls of localhost/* go to the node's registry (components.registry_fixture).
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '{node.registry.hosts_dir if node.registry else ""}'
  [plugins.'io.containerd.cri.v1.runtime']
    netns_mounts_under_state_dir = true
    # Root here lacks CAP_SYS_RESOURCE: lowering oom_score_adj fails ("nsexec: failed to
    # update /proc/self/oom_score_adj: Permission denied" for the sandbox's -998), so clamp
    # the Pods' values to containerd's own (internal/cri/config RestrictOOMScoreAdj).
    restrict_oom_score_adj = true
    enable_unprivileged_ports = false
    enable_unprivileged_icmp = false
    cdi_spec_dirs = []
    enable_criu = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '{BIN_DIR / "runc"}'
          Root = '{cd}/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['{BIN_DIR / "cni"}']
      conf_dir = '{w / "net.d"}'
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.internal.v1.opt']
    path = '{cd}/opt'
""")
    net = ipaddress.ip_network(node.pod_cidr)
    # CNI spec 1.0.0; bridge/host-local/portmap options: containernetworking/plugins v1.10.0
    # plugins/main/bridge (NetConf), plugins/ipam/host-local (IPAMConfig.DataDir).
    # No ipMasq: Pods talk only to the host (node.ip), so no iptables rule is added.
    (w / "net.d" / "10-oscar-iac.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0",
        "name": "oscar-iac-node",
        "plugins": [
            {
                "type": "bridge", "bridge": node.bridge, "isGateway": True, "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local", "dataDir": str(w / "cni-ipam"),
                    "ranges": [[{"subnet": str(net), "gateway": node.ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=1))  # fmt: skip
    kd = w / "kubelet"
    kd.mkdir(mode=0o700)
    crt, key = _node_cert(kube, node.name, kd)
    _write_private(kd / "kubeconfig", json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": kube.server, "certificate-authority": str(kube.ca_path)}}],
        "users": [{"name": "node", "user": {
            "client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "node"}}],
        "current-context": "test",
    }))  # fmt: skip
    # KubeletConfiguration v1beta1 (k8s.io/kubelet/config/v1beta1/types.go at v0.37.2).
    (kd / "config.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup_root,
        "containerRuntimeEndpoint": f"unix://{node.sock}",
        "address": node.ip,
        "port": free_port(),
        "readOnlyPort": 0,
        "healthzPort": 0,
        # The API server dials the kubelet for logs (OSCAR's /system/logs) without a client
        # certificate (kube_fixture sets no --kubelet-client-certificate); the kubelet
        # listens only on the node's private bridge address.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "volumePluginDir": str(kd / "volume-plugins"),
        "resolvConf": "/etc/resolv.conf",
        "failSwapOn": False,
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%"},
        "registerNode": True,
        "serializeImagePulls": False,
        "maxPods": 30,
    }))  # fmt: skip


def _setup_host(node: RealNode) -> None:
    node.kernel = kernel_tunables.save()  # the kubelet changes them: put back at teardown
    subprocess.run(["ip", "link", "add", node.bridge, "type", "bridge"], check=True)
    prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
    subprocess.run(["ip", "addr", "add", f"{node.ip}/{prefix}", "dev", node.bridge], check=True)
    subprocess.run(["ip", "link", "set", node.bridge, "up"], check=True)
    # The kubelet's cgroup root must exist in every hierarchy (container_manager_linux.go:
    # "verified user specified cgroup-root exists"); cpuset needs its cpus/mems copied down.
    for h in _cgroup_v1_controllers():
        d = h / node.cgroup_root.lstrip("/")
        d.mkdir(exist_ok=True)
        for f in ("cpuset.cpus", "cpuset.mems"):
            if (h / f).exists():
                (d / f).write_text((h / f).read_text())


def _teardown(node: RealNode) -> None:
    """Everything the node made: by pid, then mounts, netns, bridge, cgroups, files."""
    for s in node.relays:
        s.close()
    node.stop_process("node-lifecycle")
    node.stop_process("kube-scheduler")
    node.stop_process("kubelet")
    for key, err in kernel_tunables.restore(node.kernel).items():
        print(f"node teardown: could not put back /proc/sys/{key}: {err}", file=sys.stderr)
    if "containerd" in node.processes and node.processes["containerd"].poll() is None:
        tasks = node.ctr("tasks", "ls", "-q").stdout.split()
        for t in tasks:
            node.ctr("tasks", "kill", "-s", "SIGKILL", t)
        for t in tasks:
            node.ctr("tasks", "delete", "-f", t)
    node.stop_process("containerd")
    node.stop_process("registry")
    # The shims outlive containerd (they are re-parented): ours name our socket.
    marker = str(node.sock)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = (Path("/proc") / pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and marker.encode() in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    # Whatever still runs in the node's cgroups (a shim killed before its containers).
    for h in _cgroup_v1_controllers():
        for procs in (h / node.cgroup_root.lstrip("/")).rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(node.workdir))
    ]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    subprocess.run(["ip", "link", "del", node.bridge], capture_output=True)
    # veths of the Pods go with their netns; cgroups: children first.
    for h in _cgroup_v1_controllers():
        root = h / node.cgroup_root.lstrip("/")
        if root.is_dir():
            for d in sorted(
                (p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
            ):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()


def import_image(node: RealNode, archive: Path) -> str:
    """`ctr images import` an OCI archive saved by podman; returns the name it carries
    (podman writes the full reference as org.opencontainers.image.ref.name in index.json)."""
    node.ctr("images", "import", str(archive), check=True)
    out = subprocess.run(
        ["tar", "-xOf", str(archive), "index.json"], capture_output=True, check=True
    )
    index = json.loads(out.stdout)
    return str(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])


def start_node(kube: KubeCluster, workdir: Path) -> RealNode:
    """Build, then start containerd, the kubelet and kube-scheduler; the caller tears down."""
    build_node()
    build_components("kubelet", "kube-scheduler", "kube-controller-manager")
    suffix = os.urandom(4).hex()
    net = _pick_subnet()
    ip = str(net.network_address + 1)
    node = RealNode(
        # The node is named by its IP: kube-apiserver dials a kubelet (logs, exec) at its
        # first address of --kubelet-preferred-address-types, Hostname by default, and the
        # kubelet reports its name as Hostname; nothing resolves a made-up host name here.
        name=ip,
        ip=ip,
        pod_cidr=str(net),
        bridge=f"oik{suffix}",
        kube=kube,
        workdir=workdir,
        cgroup_root=f"/oscar-iac-node-{suffix}",
    )
    try:
        _setup_host(node)
        node.registry, registry_args = prepare_registry(workdir / "registry")
        node.start("registry", [str(BIN_DIR / "registry"), *registry_args])
        wait_until(
            f"the registry answering on {node.registry.address}",
            node.registry.answers,
            60,
            alive=node.dead,
        )
        _write_configs(node, kube)
        node.start("containerd", [str(BIN_DIR / "containerd"),
                                  f"--config={workdir / 'containerd' / 'config.toml'}"])  # fmt: skip
        wait_until(
            f"containerd serving {node.sock}",
            lambda: node.ctr("version").returncode == 0,
            60,
            alive=node.dead,
        )
        for archive in sorted(IMAGES_DIR.glob("*.oci.tar")):
            name = import_image(node, archive)
            node.images[archive.name.split(".")[0]] = name
        # OSCAR's job Pods pull with policy Always: the registry serves the imported images.
        push_images(node.registry, list(node.images.values()), node.ctr)
        node.start_kubelet()
        node.start("kube-scheduler", [
            str(BIN_DIR / "kube-scheduler"), f"--kubeconfig={kube.kubeconfig}",
            f"--authentication-kubeconfig={kube.kubeconfig}",
            f"--authorization-kubeconfig={kube.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
        ])  # fmt: skip
        node.start("node-lifecycle", [
            str(BIN_DIR / "kube-controller-manager"), f"--kubeconfig={kube.kubeconfig}",
            f"--authentication-kubeconfig={kube.kubeconfig}",
            f"--authorization-kubeconfig={kube.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            "--controllers=node-lifecycle-controller", "--node-monitor-period=2s",
            "--node-monitor-grace-period=20s",
        ])  # fmt: skip
    except BaseException:
        _teardown(node)
        raise
    return node


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[KubeCluster]:
    """The real node's own control plane (see the module docstring)."""
    with running_cluster("oscar-iac-node-kube-") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def real_node(node_cluster: KubeCluster) -> Iterator[RealNode]:
    """A real node registered to its control plane (see the module docstring)."""
    if os.geteuid() != 0:
        pytest.fail("the real node needs root (containerd, runc, CNI, cgroups)")
    workdir = Path(tempfile.mkdtemp(prefix="oscar-iac-node-"))
    try:
        node = start_node(node_cluster, workdir)
        try:
            yield node
        finally:
            _teardown(node)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
