"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

`kube_cluster` (session scope) builds what is missing (tests/components/build-k8s.sh:
Kubernetes v1.37.2 from the Go module proxy, etcd from Debian; versions in versions.yml
`oscar_iac_test_components`), then starts, in a private temporary folder (0700):

- etcd on two free loopback ports;
- kube-apiserver on a free loopback port: RBAC authorization, service-account tokens
  (TokenRequest works), a generated PKI (CA + serving certificate for 127.0.0.1/localhost/
  kubernetes.default.svc), one static admin token (group system:masters) in a 0600 token file;
- kube-controller-manager (namespaces, garbage collection, jobs, ... everything but the node
  controllers; no kubelet runs, so Pods stay Pending).

Several sessions may run at once: every port is picked free, every file is private.
Everything started is stopped at the end by pid, also when a start fails.

API (what other test areas code against):

    cluster: KubeCluster
    cluster.server            "https://127.0.0.1:<port>"
    cluster.ca_path           Path of the CA certificate (PEM) that signed the server's cert
    cluster.kubeconfig        Path of an admin kubeconfig (0600; holds the admin token)
    cluster.admin_token       the admin bearer token (never printed: repr=False)
    cluster.sa_key_path       the service-account signing key (for a kubelet or TokenRequest checks)
    cluster.workdir           the private folder (logs/ holds each process' log)
    cluster.bin_dir           where kubectl, helm, etcd, ... are (.cache/bin)
    cluster.kubectl(*args, input=None, check=False) -> CompletedProcess[str]
    cluster.apply(yaml_text, *, server_side=False, strict=True, namespace=None, dry_run=False)
        -> CompletedProcess[str]   `kubectl apply -f -` with --validate=strict (an unknown or
           misplaced field fails) unless strict=False; check it with `.returncode`
    cluster.get(kind, name=None, namespace=None) -> dict   `kubectl get -o json` (raises if absent)
    cluster.exists(kind, name, namespace=None) -> bool
    cluster.helm(*args, check=False) -> CompletedProcess[str]  helm v4 with this kubeconfig
    cluster.create_token(namespace, service_account, duration="1h") -> str  (TokenRequest)
    cluster.env() -> dict[str, str]   os.environ + KUBECONFIG for tools run against it
    cluster.log(name) -> str          tail of etcd / kube-apiserver / kube-controller-manager log
    cluster.processes                 name -> Popen of what runs (for a node engineer's add-ons)
    cluster.add_process(name, popen)  register another process: stopped (by pid) with the cluster
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.minio_fixture import free_port

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "components" / "build-k8s.sh"
BIN_DIR = REPO / ".cache" / "bin"
SERVICE_CIDR = "10.96.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kubectl", "kube-controller-manager", "helm")


def build_components(*targets: str) -> None:
    """Build the pinned binaries (each one is kept when its version stamp matches)."""
    subprocess.run(["bash", str(BUILD_SCRIPT), *targets], check=True, cwd=REPO)


def wait_until(
    what: str,
    probe: Callable[[], bool],
    timeout: float,
    *,
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Poll `probe` every 0.2 s until it is true; fail naming `what` after `timeout` seconds.
    `alive` returns a message when a process we wait on has died (then fail at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        if alive is not None and (dead := alive()) is not None:
            raise RuntimeError(f"while waiting for {what}: {dead}")
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not reached after {timeout:.0f} s")


def _write_private(path: Path, data: bytes | str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def generate_pki(folder: Path) -> dict[str, Path]:
    """CA, the API server's serving certificate, and the service-account key pair (PEM, keys 0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oscar-iac-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    srv_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
    ]
    srv = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = ec.generate_private_key(ec.SECP256R1())
    paths = {
        "ca.crt": folder / "ca.crt",
        "ca.key": folder / "ca.key",
        "apiserver.crt": folder / "apiserver.crt",
        "apiserver.key": folder / "apiserver.key",
        "sa.key": folder / "sa.key",
        "sa.pub": folder / "sa.pub",
    }
    _write_private(paths["ca.crt"], ca.public_bytes(serialization.Encoding.PEM))
    _write_private(paths["ca.key"], key_pem(ca_key))
    _write_private(paths["apiserver.crt"], srv.public_bytes(serialization.Encoding.PEM))
    _write_private(paths["apiserver.key"], key_pem(srv_key))
    _write_private(paths["sa.key"], key_pem(sa_key))
    _write_private(
        paths["sa.pub"],
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return paths


@dataclass
class KubeCluster:
    """A running control plane; see the module docstring for the API."""

    server: str
    ca_path: Path
    kubeconfig: Path
    admin_token: str = field(repr=False)
    sa_key_path: Path
    workdir: Path
    bin_dir: Path = BIN_DIR
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ tools
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["HELM_CACHE_HOME"] = str(self.workdir / "helm" / "cache")
        env["HELM_CONFIG_HOME"] = str(self.workdir / "helm" / "config")
        env["HELM_DATA_HOME"] = str(self.workdir / "helm" / "data")
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=300,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def apply(
        self,
        yaml_text: str,
        *,
        server_side: bool = False,
        strict: bool = True,
        namespace: str | None = None,
        dry_run: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        args = ["apply", "-f", "-", f"--validate={'strict' if strict else 'false'}"]
        if server_side:
            args += ["--server-side", "--field-manager=oscar-iac-tests"]
        if namespace:
            args += ["-n", namespace]
        if dry_run:
            args.append("--dry-run=server")
            if server_side:
                # A dry run changes nothing, so another field manager (the chart the real
                # OSCAR fixture installed with helm on this shared control plane) must not
                # turn a schema check into an ownership conflict.
                args.append("--force-conflicts")
        return self.kubectl(*args, input=yaml_text)

    def get(
        self, kind: str, name: str | None = None, namespace: str | None = None
    ) -> dict[str, Any]:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        res = self.kubectl(*args, check=True)
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        args = ["get", kind, name, "-o", "name"] + (["-n", namespace] if namespace else [])
        res = self.kubectl(*args)
        if res.returncode != 0 and "NotFound" not in res.stderr:
            raise RuntimeError(f"kubectl {' '.join(args)}: {res.stderr}")
        return res.returncode == 0

    def helm(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.bin_dir / "helm"), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=300,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"helm {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def create_token(self, namespace: str, service_account: str, duration: str = "2h") -> str:
        res = self.kubectl(
            "-n",
            namespace,
            "create",
            "token",
            service_account,
            f"--duration={duration}",
            check=True,
        )
        return res.stdout.strip()

    def log(self, name: str) -> str:
        try:
            return (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ processes
    def add_process(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self.processes[name] = proc

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `argv` with its output in logs/<name>.log; it is stopped with the cluster."""
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        self.add_process(name, proc)
        return proc

    def dead(self) -> str | None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                return f"{name} exited ({proc.returncode}); log:\n{self.log(name)}"
        return None

    def stop(self) -> None:
        """Stop every process, newest first, by pid: SIGTERM, then SIGKILL after 20 s."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.processes.clear()

    # ------------------------------------------------------------------ readiness
    def ready(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        req = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=3, context=ctx) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def _etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return b'"true"' in r.read()
    except (urllib.error.URLError, OSError):
        return False


def start_cluster(workdir: Path) -> KubeCluster:
    """Start etcd, kube-apiserver and kube-controller-manager in `workdir`; the caller stops it."""
    build_components(*CONTROL_PLANE)
    pki = generate_pki(workdir / "pki")
    token = secrets.token_hex(24)
    tokens = workdir / "pki" / "tokens.csv"
    _write_private(tokens, f'{token},oscar-iac-admin,uid-admin,"system:masters"\n')
    api_port, etcd_port, peer_port, kcm_port = free_port(), free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = workdir / "kubeconfig"
    _write_private(
        kubeconfig,
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {"server": server, "certificate-authority": str(pki["ca.crt"])},
                    }
                ],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                "current-context": "test",
            }
        ),
    )
    cluster = KubeCluster(
        server=server,
        ca_path=pki["ca.crt"],
        kubeconfig=kubeconfig,
        admin_token=token,
        sa_key_path=pki["sa.key"],
        workdir=workdir,
    )
    b = str(BIN_DIR)
    try:
        cluster.start("etcd", [
            f"{b}/etcd", "--name", "test", "--data-dir", str(workdir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"test=http://127.0.0.1:{peer_port}",
        ])  # fmt: skip
        wait_until(
            f"etcd health on 127.0.0.1:{etcd_port}",
            lambda: _etcd_healthy(etcd_port),
            60,
            alive=cluster.dead,
        )
        cluster.start("kube-apiserver", [
            f"{b}/kube-apiserver", f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            f"--tls-cert-file={pki['apiserver.crt']}", f"--tls-private-key-file={pki['apiserver.key']}",
            f"--client-ca-file={pki['ca.crt']}", f"--token-auth-file={tokens}",
            "--authorization-mode=Node,RBAC", "--anonymous-auth=false",
            f"--service-account-issuer={SA_ISSUER}", f"--service-account-key-file={pki['sa.pub']}",
            f"--service-account-signing-key-file={pki['sa.key']}", f"--api-audiences={SA_ISSUER}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=none",
            "--profiling=false", "--v=1",
        ])  # fmt: skip
        wait_until(f"kube-apiserver {server}/readyz = 200", cluster.ready, 240, alive=cluster.dead)
        cluster.start("kube-controller-manager", [
            f"{b}/kube-controller-manager", f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={kcm_port}", "--leader-elect=false",
            f"--service-account-private-key-file={pki['sa.key']}", f"--root-ca-file={pki['ca.crt']}",
            f"--cluster-signing-cert-file={pki['ca.crt']}", f"--cluster-signing-key-file={pki['ca.key']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-node-ipam-controller,-node-lifecycle-controller", "--profiling=false",
        ])  # fmt: skip
        # The namespace controller is what deletes namespaces: wait for its `default` SA,
        # which the service-account controller creates, as the sign kube-controller-manager works.
        wait_until(
            "kube-controller-manager creating ServiceAccount default/default",
            lambda: cluster.exists("serviceaccount", "default", "default"),
            120,
            alive=cluster.dead,
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(prefix: str) -> Iterator[KubeCluster]:
    """A control plane in a fresh temporary folder; stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        cluster = start_cluster(workdir)
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """The real control plane shared by a test session (see the module docstring)."""
    with running_cluster("oscar-iac-kube-") as cluster:
        yield cluster
