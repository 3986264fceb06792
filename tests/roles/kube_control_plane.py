"""A throwaway Kubernetes control plane for the real-API-server tests: etcd and
kube-apiserver v1.37.2 (the versions the real-OSCAR work builds: ../shared/probes/k8s-oscar),
started by pid and stopped by pid. No controllers and no kubelet: what is judged is what the
API server itself decides (schemas, strict field validation, admission), not what runs.

Binaries: kube-apiserver, kubectl and helm from `OSCAR_IAC_K8S_BIN` or the component cache
`.cache/bin` (tests/components/build-k8s.sh of the real-OSCAR work builds them there); etcd
from the same folder or Debian's `etcd-server` on PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from roles.conftest import REPO

BIN = Path(os.environ.get("OSCAR_IAC_K8S_BIN", REPO / ".cache" / "bin"))


def binary(name: str) -> Path:
    path = BIN / name
    if path.is_file():
        return path
    found = shutil.which(name) if name == "etcd" else None
    if found:
        return Path(found)
    raise AssertionError(
        f"{name} not found in {BIN} (set OSCAR_IAC_K8S_BIN, or build it with "
        "tests/components/build-k8s.sh into .cache/bin)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass
class ControlPlane:
    work: Path
    kubeconfig: Path = field(init=False)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
        )

    def create(self, manifest: str, *, dry_run: bool = True, namespace: str | None = None) -> str:
        """`kubectl create` with strict field validation; on the server only (dry run) unless
        told otherwise. Returns kubectl's combined output; raises with it on failure."""
        args = ["create", "--validate=strict", "-f", "-"]
        if dry_run:
            args.append("--dry-run=server")
        if namespace:
            args += ["-n", namespace]
        res = self.kubectl(*args, stdin=manifest)
        if res.returncode != 0:
            raise AssertionError(res.stdout + res.stderr)
        return res.stdout + res.stderr

    def start(self) -> None:
        pki = self.work / "pki"
        pki.mkdir(parents=True)
        ca, key, crt = pki / "ca.crt", pki / "apiserver.key", pki / "apiserver.crt"
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(pki / "ca.key"),
            "-out",
            str(ca),
            "-days",
            "1",
            "-subj",
            "/CN=oscar-iac-test-ca",
        )
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(pki / "apiserver.csr"),
            "-subj",
            "/CN=kube-apiserver",
        )
        (pki / "ext.cnf").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(pki / "apiserver.csr"),
            "-CA",
            str(ca),
            "-CAkey",
            str(pki / "ca.key"),
            "-CAcreateserial",
            "-out",
            str(crt),
            "-days",
            "1",
            "-extfile",
            str(pki / "ext.cnf"),
        )
        _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
        _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
        token = os.urandom(16).hex()
        tokens = pki / "tokens.csv"
        tokens.write_text(f'{token},oscar-iac-test,uid-admin,"system:masters"\n')
        for p in pki.iterdir():
            p.chmod(0o600)
        client, peer, api = _free_port(), _free_port(), _free_port()
        logs = self.work / "logs"
        logs.mkdir()
        etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            [
                str(binary("etcd")),
                "--name",
                "t",
                "--data-dir",
                str(self.work / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"t=http://127.0.0.1:{peer}",
            ],
            logs / "etcd.log",
        )
        self._wait(f"{etcd_url}/health", None, "etcd /health", logs / "etcd.log")
        self._spawn(
            [
                str(binary("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api}",
                f"--tls-cert-file={crt}",
                f"--tls-private-key-file={key}",
                f"--client-ca-file={ca}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
            logs / "apiserver.log",
        )
        self.kubeconfig = self.work / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f'clusters: [{{name: t, cluster: {{server: "https://127.0.0.1:{api}", '
            f'certificate-authority: "{ca}"}}}}]\n'
            f'users: [{{name: admin, user: {{token: "{token}"}}}}]\n'
            "contexts: [{name: t, context: {cluster: t, user: admin}}]\ncurrent-context: t\n"
        )
        self.kubeconfig.chmod(0o600)
        ctx = ssl.create_default_context(cafile=str(ca))
        self._wait(
            f"https://127.0.0.1:{api}/readyz",
            (ctx, token),
            "kube-apiserver /readyz",
            logs / "apiserver.log",
        )

    def _spawn(self, argv: Sequence[str], log: Path) -> None:
        with log.open("wb") as out:
            self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))

    def _wait(self, url: str, tls: tuple[ssl.SSLContext, str] | None, what: str, log: Path) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            req = urllib.request.Request(url)
            if tls:
                req.add_header("Authorization", f"Bearer {tls[1]}")
            try:
                with urllib.request.urlopen(req, timeout=5, context=tls[0] if tls else None) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.5)
        raise AssertionError(f"{what} not ready within 180 s; log:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def control_plane(work: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(work)
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
