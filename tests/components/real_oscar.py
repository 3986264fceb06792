"""The real OSCAR manager v4.1.2, installed the way our `oscar` role installs it.

`real_oscar` (session scope), on top of `kube_cluster` (components.kube_fixture):

1. starts a real MinIO (components.minio_fixture) in a private mount namespace whose
   /etc/hosts names `oscar.oscar` 127.0.0.1: OSCAR registers every service as a MinIO
   webhook at http://$OSCAR_NAME.$OSCAR_NAMESPACE:$OSCAR_SERVICE_PORT/job/<svc> and MinIO
   dials it when the config is set (../shared/probes/k8s-oscar/RECIPE.md, section 2);
2. renders OUR role (ansible-playbook, roles/oscar with its defaults, `oscar_apply: false`)
   for a test site whose MinIO is that one: namespaces.yaml, rbac.yaml and the HelmChart
   that k3s' Helm controller would be handed; applies the namespaces, then
   `helm install`s the OSCAR chart 4.1.2 (../shared/vendor/oscar-chart-4.1.2.tgz) with
   exactly the HelmChart's `valuesContent`, then the role's extra RBAC;
3. takes a TokenRequest token for the chart's ServiceAccount `oscar/oscar-sa` and runs the
   OSCAR binary (built from source by build-k8s.sh) out of cluster as that ServiceAccount:
   OSCAR only knows `rest.InClusterConfig()` (grycap/oscar v4.1.2 main.go), so it runs in
   `unshare -m` with a tmpfs over /run holding secrets/kubernetes.io/serviceaccount/
   {token,ca.crt,namespace}, KUBERNETES_SERVICE_HOST/PORT pointing at the API server, and
   the environment the chart's Deployment renders from those values (only the listen port
   is changed: a free one, so several sessions can run at once).

No kubelet runs: Pods stay Pending, so jobs never run and sync `/run/<svc>` cannot answer
(that stays with tests/doubles/oscar_server.py).

API:
    oscar: RealOscar
    oscar.endpoint, oscar.username, oscar.password   OSCAR's URL and basic auth
    oscar.minio                                      the MinioServer (endpoint, keys, client())
    oscar.kube                                       the KubeCluster
    oscar.namespace, oscar.services_namespace        "oscar", "oscar-svc" (role defaults)
    oscar.values                                     the chart values the role rendered
    oscar.manifests                                  folder with the role's rendered files
    oscar.request(method, path, body=None, auth=..., token=...) -> (status, parsed body)
    oscar.log()                                      tail of OSCAR's log
    start_real_oscar(kube, workdir, **role_vars) / stop_real_oscar(oscar)  for a second instance
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kube_fixture import KubeCluster, _write_private, build_components, wait_until
from components.minio_fixture import MinioServer, free_port, start_minio, stop_minio

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
TEST_COMPONENTS = yaml.safe_load((REPO / "versions.yml").read_text())["oscar_iac_test_components"]
CHART = SHARED / "vendor" / TEST_COMPONENTS["oscar_manager"]["chart"]
OSCAR_BIN = REPO / ".cache" / "bin" / "oscar"
# Chart 4.1.2 templates/oscar-rbac.yaml: the ServiceAccount the Deployment runs as.
SERVICE_ACCOUNT = "oscar-sa"

# Inside `unshare -m` (root): private /run with the ServiceAccount files where
# rest.InClusterConfig() reads them (k8s.io/client-go rest/config.go: tokenFile and
# rootCAFile under /var/run/secrets/kubernetes.io/serviceaccount; /var/run -> /run here),
# and a private /etc/hosts. $0 = the folder holding sa/ and hosts; $1 = the binary.
IN_CLUSTER = """set -e
W=$0
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
SA=/run/secrets/kubernetes.io/serviceaccount
mkdir -p $SA
cp "$W/sa/token" "$W/sa/ca.crt" "$W/sa/namespace" $SA/
mount --bind "$W/hosts" /etc/hosts
cd "$W"
exec "$1"
"""


@dataclass
class OscarEndpoint:
    """An OSCAR manager's URL and admin credentials, and plain HTTP calls to it (used for
    the real one and, in the contract test, for the double alike)."""

    endpoint: str
    username: str
    password: str = field(repr=False)

    def basic_auth(self, user: str | None = None, password: str | None = None) -> str:
        raw = f"{user or self.username}:{password if password is not None else self.password}"
        return "Basic " + b64encode(raw.encode()).decode()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool | str = True,
        token: str | None = None,
        timeout: float = 120,
    ) -> tuple[int, Any]:
        """One HTTP call; `auth=True` basic auth as the admin, a str = that Authorization
        header, False = none; `token` = a Bearer token. Returns (status, JSON or text)."""
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif auth is True:
            headers["Authorization"] = self.basic_auth()
        elif isinstance(auth, str):
            headers["Authorization"] = auth
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            f"{self.endpoint}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


@dataclass
class RealOscar(OscarEndpoint):
    """The running real OSCAR (see the module docstring)."""

    minio: MinioServer
    kube: KubeCluster
    namespace: str
    services_namespace: str
    values: dict[str, Any] = field(repr=False)
    manifests: Path
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    own_minio: bool = True

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/health", timeout=3) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        try:
            return (self.workdir / "oscar.log").read_text(errors="replace")[-6000:]
        except OSError:
            return ""


def render_role(folder: Path, role_vars: dict[str, Any]) -> Path:
    """Run roles/oscar for real with `oscar_apply: false` (render only, on the controller)
    into `folder`; returns the manifest folder (namespaces.yaml, oscar.yaml, rbac.yaml)."""
    from roles.conftest import run_tool

    manifests = folder / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    book = folder / "render-oscar.yml"
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars_files": [str(REPO / "versions.yml")],
                    "vars": {
                        "oscar_apply": False,
                        "oscar_manifest_dir": str(manifests),
                        **role_vars,
                    },
                    "roles": [{"role": "oscar"}],
                }
            ]
        )
    )
    _write_private(book, book.read_text())  # the vars hold the passwords
    inventory = folder / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    res = run_tool("ansible-playbook", "-i", inventory, book)
    if res.returncode != 0:
        raise RuntimeError(f"roles/oscar did not render:\n{res.stdout[-3000:]}{res.stderr[-2000:]}")
    return manifests


def install_platform_crds(kube: KubeCluster) -> None:
    """The CRDs a cluster of ours has before OSCAR's chart: the ingress role's traefik chart
    39.0.9 installs the Gateway API v1.4.0 standard CRDs and its own traefik.io ones (its
    crds/ folder), and the oscar role's values ask the OSCAR chart for an HTTPRoute and a
    traefik Middleware (httproute.create, roles/oscar/vars/main.yml)."""
    vendor = SHARED / "vendor"
    docs = [(vendor / "gateway-api-v1.4.0-standard-install.yaml").read_text()]
    with tarfile.open(vendor / "chart-sources" / "traefik-39.0.9-source-b138b95.tar.gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = member.name.removeprefix("./")
            if name.startswith("traefik/crds/traefik.io_") and name.endswith(".yaml"):
                handle = tar.extractfile(member)
                assert handle is not None, name
                docs.append(handle.read().decode())
    for text in docs:
        res = kube.apply(text, server_side=True)
        assert res.returncode == 0, res.stdout + res.stderr
    res = kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    assert res.returncode == 0, res.stdout + res.stderr


def chart_env(kube: KubeCluster, values_file: Path, namespace: str) -> dict[str, str]:
    """The OSCAR container's environment as chart 4.1.2's Deployment renders it."""
    res = kube.helm(
        "template", "oscar", str(CHART), "-n", namespace, "-f", str(values_file), check=True
    )
    for doc in yaml.safe_load_all(res.stdout):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "oscar":
            env = doc["spec"]["template"]["spec"]["containers"][0]["env"]
            return {e["name"]: str(e.get("value", "")) for e in env}
    raise RuntimeError("chart 4.1.2 rendered no Deployment oscar")


def start_real_oscar(
    kube: KubeCluster,
    workdir: Path,
    *,
    minio: MinioServer | None = None,
    **role_vars: Any,
) -> RealOscar:
    """MinIO (unless given), the role's render, helm install, OSCAR as oscar-sa. The caller
    stops it with stop_real_oscar (which also uninstalls nothing: the cluster goes away)."""
    build_components("oscar", "helm")
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    namespace = str(role_vars.get("oscar_namespace", "oscar"))
    hosts = workdir / "hosts"
    hosts.write_text(
        Path("/etc/hosts").read_text()
        + f"\n127.0.0.1 oscar.{namespace} oscar.{namespace}.svc.cluster.local\n"
    )
    own_minio = minio is None
    if minio is None:
        minio = start_minio(workdir / "minio", hosts_file=hosts)
    try:
        password = secrets.token_urlsafe(18)
        site = {
            "oscar_password": password,
            "oscar_minio_endpoint": minio.url,
            "oscar_minio_access_key": minio.access_key,
            "oscar_minio_secret_key": minio.secret_key,
            "oscar_hostname": "oscar.real-oscar.test",
            **role_vars,
        }
        manifests = render_role(workdir / "role", site)
        helmchart = yaml.safe_load((manifests / "oscar.yaml").read_text())
        values: dict[str, Any] = yaml.safe_load(helmchart["spec"]["valuesContent"])
        values_file = workdir / "values.yaml"
        _write_private(values_file, helmchart["spec"]["valuesContent"])
        for name in ("namespaces.yaml",):
            res = kube.apply((manifests / name).read_text())
            assert res.returncode == 0, f"{name}: {res.stderr}"
        install_platform_crds(kube)
        kube.helm(
            "install", "oscar", str(CHART), "-n", namespace, "-f", str(values_file), check=True
        )
        if (manifests / "rbac.yaml").is_file():
            res = kube.apply((manifests / "rbac.yaml").read_text())
            assert res.returncode == 0, f"rbac.yaml: {res.stderr}"
        sa = workdir / "sa"
        sa.mkdir(mode=0o700, exist_ok=True)
        _write_private(sa / "token", kube.create_token(namespace, SERVICE_ACCOUNT, "6h"))
        shutil.copy(kube.ca_path, sa / "ca.crt")
        (sa / "namespace").write_text(namespace)
        port = free_port()
        env = chart_env(kube, values_file, namespace)
        env.update(
            {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "OSCAR_SERVICE_PORT": str(port),
                "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": kube.server.rsplit(":", 1)[1],
                "GIN_MODE": "release",
            }
        )
        with (workdir / "oscar.log").open("wb") as log:
            proc = subprocess.Popen(
                ["unshare", "-m", "sh", "-c", IN_CLUSTER, str(workdir), str(OSCAR_BIN)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
            )  # fmt: skip
        oscar = RealOscar(
            endpoint=f"http://127.0.0.1:{port}",
            username=str(values["authUser"]),
            password=password,
            minio=minio,
            kube=kube,
            namespace=namespace,
            services_namespace=str(values["servicesNamespace"]),
            values=values,
            manifests=manifests,
            workdir=workdir,
            process=proc,
            own_minio=own_minio,
        )

        def dead() -> str | None:
            if proc.poll() is not None:
                return f"OSCAR exited ({proc.returncode}); log:\n{oscar.log()}"
            return None

        try:
            wait_until(f"OSCAR {oscar.endpoint}/health = 200", oscar.healthy, 120, alive=dead)
        except BaseException:
            stop_real_oscar(oscar)
            raise
        return oscar
    except BaseException:
        if own_minio:
            stop_minio(minio)
        raise


def stop_real_oscar(oscar: RealOscar) -> None:
    """Stop OSCAR (and the MinIO it started) by pid."""
    proc = oscar.process
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if oscar.own_minio:
        stop_minio(oscar.minio)


@pytest.fixture(scope="session")
def real_oscar(kube_cluster: KubeCluster) -> Iterator[RealOscar]:
    """The real OSCAR manager shared by a test session (see the module docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix="oscar-iac-real-oscar-"))
    try:
        oscar = start_real_oscar(kube_cluster, workdir / "oscar")
        try:
            yield oscar
        finally:
            stop_real_oscar(oscar)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
